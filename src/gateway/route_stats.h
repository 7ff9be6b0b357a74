/* route_stats.h - per-FIXSession runtime counters that outlive routing-table reloads.
 *
 * Keyed by "namespace/name", so a connection keeps counting against its FIXSession across reloads, and a
 * FIXSession deleted and re-applied finds its live ("orphaned") connections again. Each record has one
 * struct route_counters per worker (stats.h), written by that worker only and summed when read; only the
 * hold cap and the release pacing, which every worker must agree on at once, are shared atomics (touched
 * per held connection, never per message). Published snapshots reference the records of their routes;
 * connections hold a reference; the registry holds one while the record exists. Counts are for
 * observability only, never enforced (the engine decides about concurrent sessions).
 */
#ifndef FIXGW_GATEWAY_ROUTE_STATS_H
#define FIXGW_GATEWAY_ROUTE_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/route_table.h"
#include "gateway/stats.h"

struct route_stats {
	char *key; /* "namespace/name" (owned) */
	atomic_uint refs;
	atomic_int held;                     /* connections waiting for a ready endpoint (shared: a cap) */
	atomic_int_fast64_t next_release_ms; /* monotonic time of the next held release allowed */
	bool present;                        /* in the current table; guarded by the registry lock */
	int orphans_logged; /* active count reported when it became an orphan; guarded by the lock */
	unsigned nworkers;
	struct route_counters *per_worker; /* nworkers entries (owned) */
};

struct route_registry {
	pthread_mutex_t lock;
	struct route_stats **items; /* sorted by key */
	size_t count, cap;
	unsigned nworkers;
};

void route_registry_init(struct route_registry *reg, unsigned nworkers);
void route_registry_fini(struct route_registry *reg);

/** A referenced record for key (created, not present, when unknown). NULL on ENOMEM. */
struct route_stats *route_registry_get(struct route_registry *reg, const char *key);
struct route_stats *route_stats_ref(struct route_stats *st);
void route_stats_unref(struct route_stats *st);

/** Worker `index`'s counters of a record (written only by that worker). */
static inline struct route_counters *route_stats_worker(struct route_stats *st, unsigned index)
{
	return &st->per_worker[index];
}

/** Bring the registry in line with a new table: FIXSessions that left the table while connections are
 * live become orphans (ERROR line with the count), ones that came back clear it (INFO line), records
 * nobody uses are dropped. Fills stats[i] with a referenced record for route i of t (stats may be NULL).
 * Call at publish, from one thread at a time. Returns 0 or -ENOMEM (stats partly filled). */
int route_registry_sync(struct route_registry *reg, const struct route_table *t, struct route_stats **stats);

/** Sum a record's per-worker counters into out (key and present too). Call under the registry lock or
 * with a reference. */
void route_stats_sum(const struct route_stats *st, struct gw_route_stats *out);

/** Visit every record, summed, under the lock (for the admin view and metrics). */
void route_registry_foreach(struct route_registry *reg,
                            void (*fn)(const struct gw_route_stats *st, void *arg), void *arg);

#endif
