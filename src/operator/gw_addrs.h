/* gw_addrs.h - the endpoints of a Service that are gateway pods (ADR-019).
 *
 * A route whose target Service lists a gateway pod's address leads back into the gateways: the gateways
 * never dial it, and the operator says so in the FIXSession's status (TargetResolvable=False, RoutingLoop).
 * The gateway pods' addresses (a net/ip_set.h set, built by conn_counts.c from the gateway Service's
 * EndpointSlices) are compared here with the addresses in the target Service's slices.
 * Pure: no I/O, no locks.
 */
#ifndef FIXGW_OPERATOR_GW_ADDRS_H
#define FIXGW_OPERATOR_GW_ADDRS_H

#include <jansson.h>
#include <stddef.h>

#include "net/ip_set.h"

#define GW_ADDR_MAX 64 /* room for the address a message names (the API allows 45 characters) */

/** The endpoint addresses of one Service's EndpointSlices (a JSON array, borrowed; NULL is none) that are in
 * the sealed set gw: every address of every endpoint, ready or not, whatever the ports. Returns how many
 * distinct ones (should memory run out, an address may count twice), and copies the first found (in slice
 * and endpoint order, as the slice writes it) into first (cap bytes). */
size_t gw_addrs_in_slices(const struct ip_set *gw, json_t *slices, char *first, size_t cap);

#endif
