/* ip_set.c - a set of IP addresses, ports ignored (ip_set.h). */
#include "net/ip_set.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/grow.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void key_of_v4(const void *in_addr, struct ip_set_key *k)
{
	memcpy(k->ip, v4_mapped_prefix, sizeof(v4_mapped_prefix));
	memcpy(k->ip + 12, in_addr, 4);
}

/* sa's IP as a key; false for a family without one. */
static bool key_of_sockaddr(const struct sockaddr *sa, struct ip_set_key *k)
{
	if (sa->sa_family == AF_INET6) {
		memcpy(k->ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	if (sa->sa_family != AF_INET)
		return false;
	key_of_v4(&((const struct sockaddr_in *)sa)->sin_addr, k);
	return true;
}

/* text's IP as a key; false when text is not an IP address. */
static bool key_of_text(const char *text, struct ip_set_key *k)
{
	struct in_addr v4;
	if (inet_pton(AF_INET, text, &v4) == 1) {
		key_of_v4(&v4, k);
		return true;
	}
	return inet_pton(AF_INET6, text, k->ip) == 1;
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct ip_set_key));
}

static int add_key(struct ip_set *s, const struct ip_set_key *k)
{
	if (GROW_ARRAY(s->keys, s->cap, s->count + 1, 16) != 0)
		return FIXGW_ENOMEM;
	s->keys[s->count++] = *k;
	return 0;
}

int ip_set_add_sockaddr(struct ip_set *s, const struct sockaddr *sa)
{
	struct ip_set_key k;
	return key_of_sockaddr(sa, &k) ? add_key(s, &k) : 0;
}

int ip_set_add_text(struct ip_set *s, const char *text)
{
	struct ip_set_key k;
	return key_of_text(text, &k) ? add_key(s, &k) : FIXGW_EINVAL;
}

void ip_set_seal(struct ip_set *s)
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

static bool has_key(const struct ip_set *s, const struct ip_set_key *k)
{
	return s->count && bsearch(k, s->keys, s->count, sizeof(*s->keys), cmp_key);
}

bool ip_set_has_sockaddr(const struct ip_set *s, const struct sockaddr *sa)
{
	struct ip_set_key k;
	return key_of_sockaddr(sa, &k) && has_key(s, &k);
}

bool ip_set_has_text(const struct ip_set *s, const char *text)
{
	struct ip_set_key k;
	return key_of_text(text, &k) && has_key(s, &k);
}

bool ip_set_equal(const struct ip_set *a, const struct ip_set *b)
{
	return a->count == b->count &&
	       (a->count == 0 || memcmp(a->keys, b->keys, a->count * sizeof(*a->keys)) == 0);
}

void ip_set_free(struct ip_set *s)
{
	free(s->keys);
	*s = (struct ip_set){0};
}
