/* op_metrics.c - the operator's metrics (op_metrics.h). */
#include "operator/op_metrics.h"

#include "telemetry/otlp.h"

void op_metrics_round(struct op_metrics *m, uint64_t ns, bool ok)
{
	if (!m)
		return;
	atomic_fetch_add_explicit(ok ? &m->rounds_ok : &m->rounds_failed, 1, memory_order_relaxed);
	int b = 0;
	while (b < OP_ROUND_BUCKETS - 1 && ns >= 1000000ull << b)
		b++;
	atomic_fetch_add_explicit(&m->round_buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->round_ns_total, ns, memory_order_relaxed);
}

void op_metrics_set(struct op_metrics *m, int64_t n, int64_t conflicts)
{
	if (!m)
		return;
	atomic_store_explicit(&m->fixsessions, n, memory_order_relaxed);
	atomic_store_explicit(&m->conflicts, conflicts, memory_order_relaxed);
}

void op_metrics_leader(struct op_metrics *m, bool leading)
{
	if (m)
		atomic_store_explicit(&m->leader, leading, memory_order_relaxed);
}

static const struct otlp_metric_desc m_rounds = {"fixgw.operator.reconciles",
                                                 "Reconcile rounds, by result (failed: retried later)",
                                                 "{round}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_duration = {
    "fixgw.operator.reconcile.duration", "Duration of a reconcile round", "s", OTLP_METRIC_HISTOGRAM};
static const struct otlp_metric_desc m_writes = {
    "fixgw.operator.status.writes", "FIXSession status writes, by result", "{write}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_events = {"fixgw.operator.events", "Kubernetes Events emitted",
                                                 "{event}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_fixsessions = {"fixgw.operator.fixsessions",
                                                      "FIXSessions in the last reconcile round",
                                                      "{fixsession}", OTLP_METRIC_GAUGE};
static const struct otlp_metric_desc m_conflicts = {
    "fixgw.operator.conflicts", "FIXSessions in conflict at the last reconcile round (Conflict=True)",
    "{fixsession}", OTLP_METRIC_GAUGE};
static const struct otlp_metric_desc m_leader = {
    "fixgw.operator.leader", "1 while this replica holds the Lease, else 0", "1", OTLP_METRIC_GAUGE};

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void op_metrics_collect(void *arg, struct otlp_metric_set *set)
{
	struct op_metrics *m = arg;
	struct otlp_attr a = OTLP_STR("result", "ok");
	otlp_metric_int(set, &m_rounds, &a, 1, (int64_t)LOAD(m->rounds_ok));
	otlp_metric_int(set, &m_writes, &a, 1, (int64_t)LOAD(m->status_writes));
	a = OTLP_STR("result", "failed");
	otlp_metric_int(set, &m_rounds, &a, 1, (int64_t)LOAD(m->rounds_failed));
	otlp_metric_int(set, &m_writes, &a, 1, (int64_t)LOAD(m->status_write_failures));
	otlp_metric_int(set, &m_events, NULL, 0, (int64_t)LOAD(m->events));
	otlp_metric_int(set, &m_fixsessions, NULL, 0, LOAD(m->fixsessions));
	otlp_metric_int(set, &m_conflicts, NULL, 0, LOAD(m->conflicts));
	otlp_metric_int(set, &m_leader, NULL, 0, LOAD(m->leader) ? 1 : 0);

	double bounds[OP_ROUND_BUCKETS - 1];
	uint64_t counts[OP_ROUND_BUCKETS];
	for (int i = 0; i < OP_ROUND_BUCKETS; i++) {
		counts[i] = LOAD(m->round_buckets[i]);
		if (i < OP_ROUND_BUCKETS - 1)
			bounds[i] = 1e-3 * (double)(1u << i);
	}
	struct otlp_histogram h = {.bounds = bounds,
	                           .nbounds = OP_ROUND_BUCKETS - 1,
	                           .counts = counts,
	                           .sum = (double)LOAD(m->round_ns_total) / 1e9};
	otlp_metric_histogram(set, &m_duration, NULL, 0, &h);
}
