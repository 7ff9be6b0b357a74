/* pod_addrs.h - the filter that leaves the gateway's own pods (the addresses of kubernetes.gatewayService's
 * EndpointSlices, net/ip_set.h) out of a Service port's endpoints: a route to a gateway pod would send a
 * Logon from gateway pod to gateway pod until maxConnections (ADR-019).
 *
 * Pure: no I/O, no locks. The owner builds and seals the set, and filters each target's endpoints with it.
 */
#ifndef FIXGW_GATEWAY_POD_ADDRS_H
#define FIXGW_GATEWAY_POD_ADDRS_H

#include <stddef.h>

#include "gateway/config.h"
#include "net/ip_set.h"

#define POD_DROPS_TEXT 240 /* bytes of target and address lists a log line carries at most */

/** What the filter left out during one build, for one log line: bounded lists, "..." when cut. */
struct pod_drops {
	size_t count;                   /* endpoints left out */
	char targets[POD_DROPS_TEXT];   /* "ns/svc:port, ..." */
	char addresses[POD_DROPS_TEXT]; /* "10.0.0.5, fd00::5, ..." (IPs without ports, each once) */
};

/** Remove from eps[0..*n) every endpoint whose IP is in s (ready or not, any port), keeping the order of
 * the others; *n becomes the count left. Each removal is noted in d under target. Returns how many
 * were removed. */
size_t pod_addrs_filter(const struct ip_set *s, const char *target, struct gw_endpoint *eps, size_t *n,
                        struct pod_drops *d);

#endif
