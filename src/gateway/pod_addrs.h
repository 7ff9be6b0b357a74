/* pod_addrs.h - the addresses of the gateway's own pods (the EndpointSlices of kubernetes.gatewayService),
 * ports ignored, and the filter that leaves them out of a Service port's endpoints: a route to a gateway
 * pod would send a Logon from gateway pod to gateway pod until maxConnections (ADR-019).
 *
 * Pure: no I/O, no locks. The owner builds a set, seals it, and filters each target's endpoints with it.
 */
#ifndef FIXGW_GATEWAY_POD_ADDRS_H
#define FIXGW_GATEWAY_POD_ADDRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gateway/config.h"

/** A set of IP addresses. IPv4 is kept as IPv4-mapped IPv6, so both spellings of one address match. */
struct pod_addrs {
	struct pod_addr_key {
		uint8_t ip[16];
	} *keys; /* owned; sorted and unique once sealed */
	size_t count, cap;
};

/** Add sa's IP (AF_INET or AF_INET6; other families are ignored). Returns 0 or FIXGW_ENOMEM. */
int pod_addrs_add(struct pod_addrs *s, const struct sockaddr *sa);
/** Sort and drop duplicates; call after the last add and before pod_addrs_has. */
void pod_addrs_seal(struct pod_addrs *s);
/** Whether sa's IP is in the sealed set, whatever its port. */
bool pod_addrs_has(const struct pod_addrs *s, const struct sockaddr *sa);
void pod_addrs_free(struct pod_addrs *s);

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
size_t pod_addrs_filter(const struct pod_addrs *s, const char *target, struct gw_endpoint *eps, size_t *n,
                        struct pod_drops *d);

#endif
