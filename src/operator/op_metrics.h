/* op_metrics.h - the operator's counters for OpenTelemetry: reconcile rounds and their duration, status
 * writes, Events, FIXSessions in conflict, and whether this replica leads.
 *
 * The operator's threads (the main loop, the election's callbacks) update them with relaxed atomics; the
 * exporter thread reads them through op_metrics_collect. All helpers accept NULL (no telemetry). The
 * metric names are the table in docs/internals/otlp-exporter.md ("Operator").
 */
#ifndef FIXGW_OPERATOR_OP_METRICS_H
#define FIXGW_OPERATOR_OP_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "telemetry/otlp_metrics.h"

#define OP_ROUND_BUCKETS 12 /* round duration: under 1 ms * 2^i, the last one the overflow */

struct op_metrics {
	atomic_uint_fast64_t rounds_ok, rounds_failed; /* reconcile rounds (failed: retried later) */
	atomic_uint_fast64_t round_buckets[OP_ROUND_BUCKETS];
	atomic_uint_fast64_t round_ns_total;
	atomic_uint_fast64_t status_writes, status_write_failures, events;
	atomic_int_fast64_t fixsessions, conflicts; /* at the last round */
	atomic_bool leader;
};

/** One reconcile round that took ns nanoseconds; ok false when it will be retried. */
void op_metrics_round(struct op_metrics *m, uint64_t ns, bool ok);
/** The last round saw n FIXSessions, of which conflicts are in conflict. */
void op_metrics_set(struct op_metrics *m, int64_t n, int64_t conflicts);
void op_metrics_leader(struct op_metrics *m, bool leading);
/** Count one status write, failed status write or Event: OP_COUNT(m, status_writes). */
#define OP_COUNT(m, field)                                                                                   \
	do {                                                                                                 \
		if (m)                                                                                       \
			atomic_fetch_add_explicit(&(m)->field, 1, memory_order_relaxed);                     \
	} while (0)

/** The collect callback (otlp_collect_fn): arg is the struct op_metrics. Only reads. */
void op_metrics_collect(void *arg, struct otlp_metric_set *set);

#endif
