/* telemetry.h - the gateway's OpenTelemetry wiring: its metrics read from the per-worker counters (one
 * collect callback, for the OTLP exporter and the admin /metrics page alike) and its connection spans.
 *
 * The metric names, types and sources are the table in docs/internals/otlp-exporter.md. Route labels are
 * FIXSession names ("namespace/name") only: no routing value extracted from a Logon ever becomes a label.
 */
#ifndef FIXGW_GATEWAY_TELEMETRY_H
#define FIXGW_GATEWAY_TELEMETRY_H

#include "telemetry/otlp.h"
#include "telemetry/otlp_metrics.h"

struct gateway;

/** The collect callback (otlp_collect_fn): arg is the struct gateway. Reads gw_stats_read and
 * gw_route_stats_foreach, adds one point per series to set. Any thread; only reads. */
void gw_telemetry_collect(void *arg, struct otlp_metric_set *set);

#endif
