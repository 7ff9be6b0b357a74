/* pod_addrs.c - the gateway pods' addresses and the endpoint filter (pod_addrs.h). */
#include "gateway/pod_addrs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/grow.h"

/* sa's IP as 16 bytes (IPv4 mapped); false for a family without one. */
static bool key_of(const struct sockaddr *sa, struct pod_addr_key *k)
{
	if (sa->sa_family == AF_INET6) {
		memcpy(k->ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	if (sa->sa_family != AF_INET)
		return false;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	memcpy(k->ip, mapped, sizeof(mapped));
	memcpy(k->ip + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	return true;
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct pod_addr_key));
}

int pod_addrs_add(struct pod_addrs *s, const struct sockaddr *sa)
{
	struct pod_addr_key k;
	if (!key_of(sa, &k))
		return 0;
	if (GROW_ARRAY(s->keys, s->cap, s->count + 1, 16) != 0)
		return FIXGW_ENOMEM;
	s->keys[s->count++] = k;
	return 0;
}

void pod_addrs_seal(struct pod_addrs *s)
{
	if (s->count < 2)
		return;
	qsort(s->keys, s->count, sizeof(*s->keys), cmp_key);
	size_t out = 1;
	for (size_t i = 1; i < s->count; i++)
		if (cmp_key(&s->keys[i], &s->keys[out - 1]) != 0)
			s->keys[out++] = s->keys[i];
	s->count = out;
}

bool pod_addrs_has(const struct pod_addrs *s, const struct sockaddr *sa)
{
	struct pod_addr_key k;
	return s->count && key_of(sa, &k) && bsearch(&k, s->keys, s->count, sizeof(*s->keys), cmp_key);
}

void pod_addrs_free(struct pod_addrs *s)
{
	free(s->keys);
	*s = (struct pod_addrs){0};
}

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

size_t pod_addrs_filter(const struct pod_addrs *s, const char *target, struct gw_endpoint *eps, size_t *n,
                        struct pod_drops *d)
{
	size_t kept = 0, dropped = 0;
	for (size_t i = 0; i < *n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&eps[i].addr.ss;
		if (!pod_addrs_has(s, sa)) {
			eps[kept++] = eps[i];
			continue;
		}
		dropped++;
		char ip[INET6_ADDRSTRLEN] = "?";
		const void *a = sa->sa_family == AF_INET
		                    ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
		                    : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		inet_ntop(sa->sa_family, a, ip, sizeof(ip));
		list_add(d->addresses, sizeof(d->addresses), ip);
		list_add(d->targets, sizeof(d->targets), target);
	}
	*n = kept;
	d->count += dropped;
	return dropped;
}
