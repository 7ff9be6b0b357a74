/* routes_k8s.h - the Kubernetes route input: FIXSessions, Services and EndpointSlices from the API server,
 * turned into what a snapshot needs (a routing table and an endpoint map).
 *
 * Three informers (k8s/informer.h) keep caches of FIXSessions, Services and EndpointSlices (in one
 * namespace or all). Any change calls the owner's `changed` callback (from an informer thread); the
 * owner (the source, source.h) then calls k8s_routes_build on its own thread, which:
 *   - when FIXSessions changed, compiles them with route_lkg (core/route_lkg.h): an invalid or conflicting
 *     new version of a FIXSession keeps its last-known-good version (CRITICAL), every other one updates;
 *   - resolves each route's target as kube-proxy does: the Service port by number or name, its name, the
 *     EndpointSlice ports of that name (kubernetes.io/service-name label), the first address of every
 *     endpoint; ready endpoints (ready unset counts as ready) take new connections, serving-but-
 *     terminating ones only keep the sessions they have (the gateway never closes those).
 * With kubernetes.gatewayService (ADR-019) a fourth informer keeps the EndpointSlices of the gateway's own
 * Service: an endpoint at any of their addresses (any port, ready or not) is left out of every target,
 * logged (routing_loop_endpoints, WARN, once per build) and counted (k8s_routes_loop_endpoints), so no
 * Logon is relayed from one gateway pod to another.
 * Nothing is built before all informers have synced their first complete list, and a relist never
 * empties a cache (k8s/store.h), so a partial list or a reconnect never yields an empty or truncated
 * table. See docs/decisions/adr-010-route-publication-in-kubernetes.md.
 */
#ifndef FIXGW_GATEWAY_ROUTES_K8S_H
#define FIXGW_GATEWAY_ROUTES_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/route_table.h"
#include "gateway/config.h"
#include "gateway/endpoints.h"

struct k8s_routes;

/** Connect (kubeconfig or in-cluster, as c->kubernetes says) and create the informers; nothing runs yet.
 * changed(arg) is called from informer threads on every change. Returns 0, or a negative code with a
 * reason in why. */
int k8s_routes_new(const struct gw_config *c, void (*changed)(void *arg), void *arg, struct k8s_routes **out,
                   char *why, size_t why_cap);

/** Start the informers and wait up to c->kubernetes.sync_timeout_ms for their first complete lists.
 * Returns 0, or FIXGW_ETIMEOUT / another negative code with a reason in why. */
int k8s_routes_start(struct k8s_routes *kr, char *why, size_t why_cap);

/** Build from the caches. *table: a new table when FIXSessions changed since the last call (or on the
 * first call), else NULL (keep the one in use); it is never empty unless the API server says there are no
 * FIXSessions. *endpoints: a new endpoint map for the targets of the table in use (the new one, or
 * `current` when *table is NULL). Returns 0, FIXGW_ENOMEM, or FIXGW_EINVAL when no table could be built
 * (logged; the caller keeps its table). */
int k8s_routes_build(struct k8s_routes *kr, const struct route_table *current, struct route_table **table,
                     struct endpoint_map **endpoints, uint64_t endpoints_generation);

/** True while the published table could not be read (a shard missing, torn or edited): the owner calls
 * k8s_routes_build again after a while even without an informer event. Always false in direct mode. */
bool k8s_routes_pending(struct k8s_routes *kr);

/** "kubeconfig PATH (context X)" or "in-cluster", for log lines. */
const char *k8s_routes_origin(const struct k8s_routes *kr);
/** FIXSession conflicts the last table build found (0 when none, or before the first build). */
size_t k8s_routes_conflicts(struct k8s_routes *kr);
/** Endpoints the last endpoint map build left out because their address is a gateway pod's (0 without
 * kubernetes.gatewayService). */
size_t k8s_routes_loop_endpoints(struct k8s_routes *kr);

/** Stop the informers and free everything. NULL is fine. */
void k8s_routes_free(struct k8s_routes *kr);

#endif
