/* admin.h - the gateway's admin HTTP listener (separate port, loopback or cluster-internal):
 *   GET /healthz  200 while the process runs
 *   GET /readyz   200 when listeners are bound, a routing table is loaded and no drain is under way
 *   GET /routes   JSON: every FIXSession with its target and per-route counters (active, held, orphaned,
 *                 routed), orphaned records, process counters, last reload result
 *   GET /route-stats  compact JSON for the operator: {"fixsessions": {"ns/name": {active, held, orphaned,
 *                 last_connection_unix_ms, last_routing_unix_ms}}}, every record of the registry, summed
 *                 over the workers; active counts only connections of a FIXSession in the current table
 *   GET /metrics  the gateway's metrics in Prometheus text (gateway/telemetry.h), export on or off
 * Served by the shared bounded listener (net/admin_http.h): one request per connection, bounded request
 * size, time and connections. */
#ifndef FIXGW_GATEWAY_ADMIN_H
#define FIXGW_GATEWAY_ADMIN_H

#include "gateway/gateway.h"
#include "net/admin_http.h"

/** Serve the gateway's admin endpoints on r (the control thread). Stop with admin_http_stop. Returns 0 or
 * as admin_http_start. */
int admin_start(struct gateway *gw, struct reactor *r, const struct net_addr *addr, struct admin_http **out);

/** The /routes document (malloc'd JSON text), also used by tests. */
char *admin_routes_json(struct gateway *gw);
/** The /route-stats document (malloc'd compact JSON text), or NULL when out of memory. */
char *admin_route_stats_json(struct gateway *gw);

#endif
