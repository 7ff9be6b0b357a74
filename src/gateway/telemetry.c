/* telemetry.c - the gateway's metrics for OTLP and /metrics, from the per-worker counters (stats.h). */
#include "gateway/telemetry.h"

#include <time.h>

#include "core/errors.h"
#include "gateway/gateway.h"
#include "net/tls.h"

static const struct otlp_metric_desc m_accepted = {"fixgw.connections.accepted", "Connections accepted",
                                                   "{connection}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_active = {"fixgw.connections.active",
                                                 "Connections relaying to a FIXSession's target, by route",
                                                 "{connection}", OTLP_METRIC_UPDOWN};
static const struct otlp_metric_desc m_held = {"fixgw.connections.held",
                                               "Connections held waiting for a ready endpoint, by route",
                                               "{connection}", OTLP_METRIC_UPDOWN};
static const struct otlp_metric_desc m_orphaned = {
    "fixgw.connections.orphaned", "Connections whose FIXSession is no longer in the routing table",
    "{connection}", OTLP_METRIC_UPDOWN};
static const struct otlp_metric_desc m_routed = {"fixgw.connections.routed", "Connections routed, by route",
                                                 "{connection}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_hold_timeouts = {
    "fixgw.hold.timeouts", "Held connections closed at the hold timeout, by route", "{connection}",
    OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_reject_engine = {"fixgw.reject_engine.connections",
                                                        "Connections forwarded to the reject engine",
                                                        "{connection}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_default_routed = {"fixgw.connections.default_routed",
                                                         "Connections routed by a default route",
                                                         "{connection}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_rejections = {"fixgw.rejections", "Connections rejected, by reason",
                                                     "{connection}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_eval = {"fixgw.routing.eval.duration", "Routing rule evaluation time",
                                               "s", OTLP_METRIC_HISTOGRAM};
static const struct otlp_metric_desc m_tls_failures = {"fixgw.tls.handshake.failures",
                                                       "TLS handshakes that failed, by reason", "{handshake}",
                                                       OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_cert_expiry = {
    "fixgw.tls.certificate.expiry",
    "Seconds until the notAfter of the listener's first certificate to expire (negative: expired)", "s",
    OTLP_METRIC_GAUGE};
static const struct otlp_metric_desc m_bytes = {
    "fixgw.proxied.bytes", "Bytes relayed, by route and direction", "By", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_log_dropped = {
    "fixgw.log.lines.dropped", "Log lines the log sink could not take", "{line}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_held_total = {"fixgw.connections.held.process",
                                                     "Connections held in this process (the hold cap counts "
                                                     "these)",
                                                     "{connection}", OTLP_METRIC_UPDOWN};
static const struct otlp_metric_desc m_held_limit = {
    "fixgw.connections.held.limit",
    "The hold cap of this process (maxHeldConnectionsPerPod): connections held beyond it are closed",
    "{connection}", OTLP_METRIC_GAUGE};
static const struct otlp_metric_desc m_conflicts = {
    "fixgw.routing.conflicts",
    "FIXSession conflicts the last routing table build found (the last-known-good version stays in use); 0 "
    "when there are none",
    "{conflict}", OTLP_METRIC_GAUGE};
static const struct otlp_metric_desc m_loop_endpoints = {
    "fixgw.routing.loop_endpoints",
    "Endpoints the last endpoint map left out because their address is a gateway pod's "
    "(kubernetes.gatewayService, ADR-019); 0 when there are none",
    "{endpoint}", OTLP_METRIC_GAUGE};

/* One FIXSession's series. Runs under the registry lock: only adds points. */
static void route_points(const struct gw_route_stats *st, void *arg)
{
	struct otlp_metric_set *set = arg;
	struct otlp_attr a[2] = {OTLP_STR("fixgw.route", st->key)};
	otlp_metric_int(set, &m_active, a, 1, st->active);
	otlp_metric_int(set, &m_held, a, 1, st->held);
	otlp_metric_int(set, &m_orphaned, a, 1, st->orphaned);
	otlp_metric_int(set, &m_routed, a, 1, (int64_t)st->routed_total);
	otlp_metric_int(set, &m_hold_timeouts, a, 1, (int64_t)st->hold_timeouts);
	a[1] = OTLP_STR("direction", "from_client");
	otlp_metric_int(set, &m_bytes, a, 2, (int64_t)st->bytes_from_client);
	a[1] = OTLP_STR("direction", "to_client");
	otlp_metric_int(set, &m_bytes, a, 2, (int64_t)st->bytes_to_client);
}

/* Seconds until not_after, against the wall clock now (sub-second, so the gauge is exact). */
static void expiry_point(const char *listener, time_t not_after, void *arg)
{
	struct otlp_metric_set *set = arg;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct otlp_attr a = OTLP_STR("fixgw.listener", listener);
	otlp_metric_double(set, &m_cert_expiry, &a, 1,
	                   (double)(not_after - now.tv_sec) - (double)now.tv_nsec / 1e9);
}

void gw_telemetry_collect(void *arg, struct otlp_metric_set *set)
{
	struct gateway *gw = arg;
	struct gw_stats s;
	gw_stats_read(gw, &s);
	otlp_metric_int(set, &m_accepted, NULL, 0, (int64_t)s.accepted);
	otlp_metric_int(set, &m_reject_engine, NULL, 0, (int64_t)s.reject_engine_connections);
	otlp_metric_int(set, &m_default_routed, NULL, 0, (int64_t)s.default_routed);
	otlp_metric_int(set, &m_held_total, NULL, 0, s.held_connections);
	otlp_metric_int(set, &m_held_limit, NULL, 0, (int64_t)s.max_held);
	otlp_metric_int(set, &m_conflicts, NULL, 0, (int64_t)s.route_conflicts);
	otlp_metric_int(set, &m_loop_endpoints, NULL, 0, (int64_t)s.loop_endpoints);
	for (int r = 0; r < GW_REJECT__COUNT; r++) {
		struct otlp_attr a = OTLP_STR("reason", gw_reject_reason_name((enum gw_reject_reason)r));
		otlp_metric_int(set, &m_rejections, &a, 1, (int64_t)s.rejections[r]);
	}
	for (int f = 0; f < TLS_FAIL__COUNT; f++) {
		struct otlp_attr a = OTLP_STR("reason", tls_failure_name((enum tls_failure)f));
		otlp_metric_int(set, &m_tls_failures, &a, 1, (int64_t)s.tls_failures_by[f]);
	}
	gw_cert_expiry_foreach(gw, expiry_point, set);
	otlp_metric_int(set, &m_log_dropped, NULL, 0, (int64_t)s.log_lines_dropped);

	/* stats.h: bucket i counts evaluations under 250 ns * 2^i; the last one is the overflow */
	double bounds[GW_EVAL_BUCKETS - 1];
	for (int i = 0; i < GW_EVAL_BUCKETS - 1; i++)
		bounds[i] = 250e-9 * (double)(1u << i);
	struct otlp_histogram h = {.bounds = bounds,
	                           .nbounds = GW_EVAL_BUCKETS - 1,
	                           .counts = s.eval_latency,
	                           .sum = (double)s.eval_ns_total / 1e9};
	otlp_metric_histogram(set, &m_eval, NULL, 0, &h);

	gw_route_stats_foreach(gw, route_points, set);
}
