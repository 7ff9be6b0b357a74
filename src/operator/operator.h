/* operator.h - `fixgw operator`: one leader among the replicas validates the whole FIXSession set and
 * tells the story in each FIXSession's status.
 *
 * Every replica runs three informers (FIXSessions in all namespaces, Services, EndpointSlices) and a
 * candidate for the Lease (k8s/leader.h). Only the holder reconciles: it compiles the set with
 * route_lkg_compile (an invalid or conflicting new version keeps its last-known-good version, every other
 * FIXSession still updates), logs each conflict CRITICAL (naming both FIXSessions and the overlapping
 * fields, redacted), emits a Warning Event on each FIXSession that enters conflict, and writes the
 * conditions Accepted, Conflict, TargetResolvable, EndpointsReady and Ready through the status subresource
 * (resourceVersion precondition, re-read and re-applied on 409). A status is written only when a condition
 * or the observedGeneration changed, and every request goes through the client's token bucket (qps/burst),
 * so a large set is written at a bounded rate. The fencing check k8s_leader_is_leader() is asked right
 * before every write: a leader paused past its renew deadline writes nothing when it wakes up.
 *
 * With a gateway Service (op_opts.counts), a target Service that lists a gateway pod's address is
 * TargetResolvable=False, reason RoutingLoop (ADR-019); the route stays in the table. A change of the
 * gateway Service's slices re-evaluates the statuses from the last round's verdicts (a status pass) and
 * starts no round.
 *
 * Every replica, leader or not, can also serve the validating admission webhook (webhook.h) from its
 * FIXSession cache.
 *
 * The last-known-good versions live in the leader's memory: a new leader starts without them (a version
 * that conflicts at its first round is refused, not kept).
 */
#ifndef FIXGW_OPERATOR_OPERATOR_H
#define FIXGW_OPERATOR_OPERATOR_H

#include <signal.h>
#include <stdint.h>

#include "k8s/http.h"
#include "operator/settle.h"
#include "operator/conn_counts.h"
#include "operator/webhook.h"
#include "operator/op_health.h"
#include "operator/op_metrics.h"

#define OP_DEFAULT_LEASE_NAME "fixgw-operator"
#define OP_DEFAULT_QPS        20.0 /* every request of the operator: reads, status writes, Events */
#define OP_DEFAULT_BURST      40u
#define OP_CONTROLLER         "fixgw.io/operator"

/** What the operator runs as. Strings are borrowed for the call of op_run. */
struct op_opts {
	const char *lease_namespace;
	const char *lease_name;
	const char *identity;
	uint32_t lease_ms, renew_deadline_ms, retry_ms; /* 0 = client-go's defaults (k8s/leader.h) */
	uint32_t sync_timeout_ms;                       /* first complete lists; 0 = 60 s */
	enum op_batch batch;                            /* when passes run (settle.h, ADR-014) */
	uint32_t debounce_ms, max_wait_ms;              /* 0 = OP_DEFAULT_DEBOUNCE_MS / _MAX_WAIT_MS */
	struct cc_opts counts; /* connection counts in status (conn_counts.h); off without gateway_service */
	struct webhook_opts webhook; /* the admission webhook (webhook.h); webhook.listen NULL: none */
	struct op_metrics *metrics;  /* counters for telemetry (operator/op_metrics.h), or NULL */
	struct op_health *health;    /* progress and readiness for /healthz, /readyz (op_health.h), or NULL */
	/* the published routing table (publish.h): its namespace (NULL: lease_namespace), the index's name
	 * (NULL: RS_DEFAULT_INDEX), the grace before unreferenced shards are deleted (0: 60 s) */
	const char
	    *watch_namespace; /* FIXSessions, Services and EndpointSlices of this namespace only; NULL: all */
	const char *publish_namespace;
	const char *publish_name;
	uint32_t publish_gc_ms;
};

/** Run until one of the signals in `stop` arrives (they must be blocked in every thread: the caller blocks
 * them before calling). Both clients are borrowed: c for the informers, status writes and Events,
 * lease_client for the election only, with its own token bucket, so a burst of status writes never delays
 * a renewal past the renew deadline (at 1 request/s, 5 status writes did: leadership was lost). Returns 0
 * after a clean stop (the Lease released), or a negative code when the informers or the election could not
 * start. */
int op_run(struct k8s_client *c, struct k8s_client *lease_client, const struct op_opts *o,
           const sigset_t *stop);

#endif
