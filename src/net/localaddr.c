/* localaddr.c - see localaddr.h. */
#include "net/localaddr.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>

/* An address reduced to what matters here: family (v4-mapped v6 becomes v4), the IP bytes, the port. */
struct ip {
	int family;
	unsigned char bytes[16];
	unsigned port;
};

static void to_ip(const struct sockaddr *sa, struct ip *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		out->family = AF_INET;
		memcpy(out->bytes, &in->sin_addr, 4);
		out->port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		out->port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			out->family = AF_INET;
			memcpy(out->bytes, &in6->sin6_addr.s6_addr[12], 4);
		} else {
			out->family = AF_INET6;
			memcpy(out->bytes, &in6->sin6_addr, 16);
		}
	}
}

static bool is_unspecified(const struct ip *a)
{
	static const unsigned char zero[16];
	return !memcmp(a->bytes, zero, a->family == AF_INET ? 4 : 16);
}

static bool is_loopback(const struct ip *a)
{
	static const unsigned char one6[16] = {[15] = 1};
	return a->family == AF_INET ? a->bytes[0] == 127 : !memcmp(a->bytes, one6, 16);
}

static bool same_ip(const struct ip *a, const struct ip *b)
{
	return a->family == b->family && !memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16);
}

static bool is_interface_address(const struct ip *a)
{
	struct ifaddrs *list;
	bool found = false;
	if (getifaddrs(&list) < 0)
		return false;
	for (struct ifaddrs *i = list; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		struct ip ia;
		to_ip(i->ifa_addr, &ia);
		found = same_ip(&ia, a);
	}
	freeifaddrs(list);
	return found;
}

bool net_addr_is_self(const struct net_addr *to, const struct net_addr *listener)
{
	struct ip t, l;
	if (!to->len || !listener->len)
		return false;
	to_ip((const struct sockaddr *)&to->ss, &t);
	to_ip((const struct sockaddr *)&listener->ss, &l);
	if (!t.family || !l.family || t.port != l.port)
		return false;
	bool l_any = is_unspecified(&l);
	/* A wildcard IPv6 listener takes IPv4 too; a wildcard IPv4 one takes no IPv6. */
	if (t.family != l.family && !(l_any && l.family == AF_INET6))
		return false;
	if (!l_any) /* connecting to 0.0.0.0 or :: reaches the loopback address */
		return same_ip(&t, &l) || (is_unspecified(&t) && is_loopback(&l));
	return is_unspecified(&t) || is_loopback(&t) || is_interface_address(&t);
}
