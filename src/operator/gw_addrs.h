/* gw_addrs.h - the gateway pods' addresses, and the endpoints of a Service that are among them (ADR-019).
 *
 * A route whose target Service lists a gateway pod's address leads back into the gateways: the gateways
 * never dial it, and the operator says so in the FIXSession's status (TargetResolvable=False, RoutingLoop).
 * The set is built from the gateway Service's EndpointSlices (conn_counts.c reads them) and compared with
 * the target Service's. Addresses are compared in their canonical text (inet_ntop of inet_pton), so
 * "fd00::1" and "fd00:0::1" are one address, and so are "::ffff:10.0.0.1" and "10.0.0.1" (the gateway's
 * own set, gateway/pod_addrs.h, maps IPv4 the same way); text that is not an IP address is compared as
 * it is.
 * Pure: no I/O, no locks; a set belongs to one thread at a time.
 */
#ifndef FIXGW_OPERATOR_GW_ADDRS_H
#define FIXGW_OPERATOR_GW_ADDRS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define GW_ADDR_MAX 64 /* longer endpoint addresses are not addresses (the API allows 45 characters) */

/** A sorted set of canonical addresses. Zero-initialised is the empty set; owned by whoever holds it. */
struct gw_addrs {
	char (*v)[GW_ADDR_MAX];
	size_t n, cap;
	bool sorted;
};

/** Add one address (copied, canonicalised); one longer than GW_ADDR_MAX - 1 is skipped. Returns 0 or
 * FIXGW_ENOMEM. */
int gw_addrs_add(struct gw_addrs *a, const char *addr);
/** Sort and drop duplicates: call after the last gw_addrs_add, before any lookup. */
void gw_addrs_finish(struct gw_addrs *a);
/** True when addr (any form) is in the finished set. */
bool gw_addrs_has(const struct gw_addrs *a, const char *addr);
/** True when two finished sets hold the same addresses. */
bool gw_addrs_equal(const struct gw_addrs *a, const struct gw_addrs *b);
/** Free the addresses; the set is empty again. */
void gw_addrs_free(struct gw_addrs *a);

/** The endpoint addresses of one Service's EndpointSlices (a JSON array, borrowed; NULL is none) that are in
 * gw: every address of every endpoint, ready or not, whatever the ports. Returns how many distinct ones,
 * and copies the first found (in slice and endpoint order, canonical) into first (cap bytes). */
size_t gw_addrs_in_slices(const struct gw_addrs *gw, json_t *slices, char *first, size_t cap);

#endif
