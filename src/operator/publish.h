/* publish.h - the operator's publication of the validated routing table (ADR-010): content-addressed
 * ConfigMap shards plus one index ConfigMap carrying a generation, which the gateways follow.
 *
 * The leader hands the last-known-good set of its round (namespace/name -> the FIXSession text it
 * accepted) to op_publish_table. The table is serialized with k8s/route_shards.h; what is already
 * published is read from an informer on ConfigMaps labelled RS_LABEL=<index> in the publish namespace.
 * Writing converges the API server on the wanted table, in this order, so a gateway never sees an index
 * naming a shard that does not exist yet:
 *   1. every shard the table names that is missing is created (immutable; AlreadyExists is fine: same
 *      name, same content); one whose content no longer matches its name is deleted and created again;
 *   2. the index is written last (created, or updated under its resourceVersion, re-read on 409), with
 *      generation = the previous generation + 1; an index that already carries the table's digest is left
 *      alone, so a restart republishes nothing and bumps no generation;
 *   3. shards that the index no longer names are deleted once they have been unreferenced for the grace
 *      period (a gateway still reading the previous index finds them).
 * Every write is preceded by the fencing check (k8s_leader_is_leader); every request goes through the
 * client's token bucket. A failed write is retried about a second later by op_publish_tick.
 *
 * The published table is also the last-known-good memory that survives the operator: op_publish_seed
 * gives a new leader the versions the previous one published.
 */
#ifndef FIXGW_OPERATOR_PUBLISH_H
#define FIXGW_OPERATOR_PUBLISH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "k8s/http.h"
#include "k8s/leader.h"

#define OP_DEFAULT_PUBLISH_GC_MS 60000u

struct op_publish;

/** Where and how to publish. Strings are copied. */
struct op_publish_opts {
	const char *namespace_; /* the published objects' namespace */
	const char *name;       /* the index ConfigMap (RS_DEFAULT_INDEX when NULL) */
	uint32_t
	    gc_grace_ms; /* unreferenced shards are deleted after this (OP_DEFAULT_PUBLISH_GC_MS when 0) */
};

/** Create the publisher and its ConfigMap informer (not started). The client is borrowed and must
 * outlive it. Returns 0, FIXGW_EINVAL or FIXGW_ENOMEM. */
int op_publish_new(struct k8s_client *c, const struct op_publish_opts *o, struct op_publish **out);
/** Start the informer. */
int op_publish_start(struct op_publish *p);
/** True once the informer has its first complete list (nothing is published or seeded before). */
bool op_publish_synced(struct op_publish *p);

/** When lkg (namespace/name -> JSON string) is empty and this was not done before, fill it from the
 * published table (verified as a gateway verifies it). Returns the number of FIXSessions taken (0 when
 * nothing valid is published). */
size_t op_publish_seed(struct op_publish *p, json_t *lkg);

/** The leader's round: make lkg (borrowed) the wanted table and write it now. Returns 0, FIXGW_EAGAIN
 * when fenced (stop writing), or another negative code (logged; op_publish_tick retries). */
int op_publish_table(struct op_publish *p, json_t *lkg, struct k8s_leader *le);

/** Every tick of the leader: retry a failed publication, repair what the informer saw change (a deleted
 * index or shard), and delete shards unreferenced past the grace period. Returns like op_publish_table. */
int op_publish_tick(struct op_publish *p, struct k8s_leader *le);

/** The generation of the index last written or seen (0: none). */
uint64_t op_publish_generation(struct op_publish *p);

/** Stop the informer and free everything. NULL is fine. */
void op_publish_free(struct op_publish *p);

#endif
