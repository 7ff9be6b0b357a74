/* ip_set.h - a set of IP addresses, ports ignored: the gateway pods' addresses, which the gateway leaves
 * out of every route's endpoints and the operator reports in FIXSession status (ADR-019).
 *
 * Addresses are kept as 16 bytes, IPv4 as IPv4-mapped IPv6, so 10.0.0.1 and ::ffff:10.0.0.1 are one
 * address, and so are the spellings of one IPv6 address. Pure: no I/O, no locks; a set belongs to one
 * thread at a time. Zero-initialised is the empty set.
 */
#ifndef FIXGW_NET_IP_SET_H
#define FIXGW_NET_IP_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ip_set {
	struct ip_set_key {
		uint8_t ip[16];
	} *keys; /* owned; sorted and unique once sealed */
	size_t count, cap;
};

/** Add sa's IP (AF_INET or AF_INET6; another family is ignored). Returns 0 or FIXGW_ENOMEM. */
int ip_set_add_sockaddr(struct ip_set *s, const struct sockaddr *sa);
/** Add an IP address in text ("10.0.0.1", "fd00::1"). Returns 0, FIXGW_EINVAL (not an IP address: nothing
 * added) or FIXGW_ENOMEM. */
int ip_set_add_text(struct ip_set *s, const char *text);
/** Sort and drop duplicates: call after the last add and before any lookup or comparison. */
void ip_set_seal(struct ip_set *s);
/** Whether sa's IP is in the sealed set, whatever its port. */
bool ip_set_has_sockaddr(const struct ip_set *s, const struct sockaddr *sa);
/** Whether the IP address in text is in the sealed set (false for text that is not an IP address). */
bool ip_set_has_text(const struct ip_set *s, const char *text);
/** Whether two sealed sets hold the same addresses. */
bool ip_set_equal(const struct ip_set *a, const struct ip_set *b);
/** Free the addresses; the set is empty again. */
void ip_set_free(struct ip_set *s);

#endif
