/* pod_addrs.c - the filter that leaves gateway pods out of a target's endpoints (pod_addrs.h). */
#include "gateway/pod_addrs.h"

#include <arpa/inet.h>
#include <string.h>

#include "net/sock.h"

/* Append ", item" (or item) to a bounded list unless it is there already; "..." once it no longer fits. */
static void list_add(char *list, size_t cap, const char *item)
{
	size_t len = strlen(list), n = strlen(item);
	if (len >= 3 && !strcmp(list + len - 3, "..."))
		return;
	for (const char *p = list; (p = strstr(p, item)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return;
	const char *sep = len ? ", " : "";
	if (len + strlen(sep) + n + sizeof(", ...") <= cap) {
		memcpy(list + len, sep, strlen(sep));
		memcpy(list + len + strlen(sep), item, n + 1);
	} else if (len + sizeof(", ...") <= cap) {
		memcpy(list + len, len ? ", ..." : "...", (len ? sizeof(", ...") : sizeof("...")));
	}
}

size_t pod_addrs_filter(const struct ip_set *s, const char *target, struct gw_endpoint *eps, size_t *n,
                        struct pod_drops *d)
{
	size_t kept = 0, dropped = 0;
	for (size_t i = 0; i < *n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&eps[i].addr.ss;
		if (!ip_set_has_sockaddr(s, sa)) {
			eps[kept++] = eps[i];
			continue;
		}
		dropped++;
		char ip[INET6_ADDRSTRLEN];
		net_addr_host(sa, eps[i].addr.len, ip, sizeof(ip));
		list_add(d->addresses, sizeof(d->addresses), ip);
		list_add(d->targets, sizeof(d->targets), target);
	}
	*n = kept;
	d->count += dropped;
	return dropped;
}
