/* gw_addrs.c - the gateway pods' addresses, and a Service's endpoints among them (gw_addrs.h). */
#include "operator/gw_addrs.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/grow.h"

/* The canonical text of addr into out (GW_ADDR_MAX bytes); false when it is too long to be an address. */
static bool canonical(const char *addr, char out[GW_ADDR_MAX])
{
	unsigned char bin[16];
	if (strlen(addr) >= GW_ADDR_MAX)
		return false;
	if (inet_pton(AF_INET, addr, bin) == 1)
		return inet_ntop(AF_INET, bin, out, GW_ADDR_MAX) != NULL;
	if (inet_pton(AF_INET6, addr, bin) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (!memcmp(bin, mapped,
		            sizeof(mapped))) /* ::ffff:a.b.c.d is a.b.c.d, as the gateway sees it */
			return inet_ntop(AF_INET, bin + 12, out, GW_ADDR_MAX) != NULL;
		return inet_ntop(AF_INET6, bin, out, GW_ADDR_MAX) != NULL;
	}
	snprintf(out, GW_ADDR_MAX, "%s", addr);
	return true;
}

int gw_addrs_add(struct gw_addrs *a, const char *addr)
{
	char c[GW_ADDR_MAX];
	if (!canonical(addr, c))
		return 0;
	if (GROW_ARRAY(a->v, a->cap, a->n + 1, 16))
		return FIXGW_ENOMEM;
	memcpy(a->v[a->n++], c, GW_ADDR_MAX);
	a->sorted = false;
	return 0;
}

static int cmp_addr(const void *x, const void *y)
{
	return strcmp(x, y);
}

void gw_addrs_finish(struct gw_addrs *a)
{
	if (a->n)
		qsort(a->v, a->n, sizeof(*a->v), cmp_addr);
	size_t out = 0;
	for (size_t i = 0; i < a->n; i++)
		if (!out || strcmp(a->v[out - 1], a->v[i]))
			memmove(a->v[out++], a->v[i], GW_ADDR_MAX);
	a->n = out;
	a->sorted = true;
}

/* The index of addr (canonical already) in the finished set, or -1. */
static long find(const struct gw_addrs *a, const char *c)
{
	if (!a->n || !a->sorted)
		return -1;
	const char(*p)[GW_ADDR_MAX] = bsearch(c, a->v, a->n, sizeof(*a->v), cmp_addr);
	return p ? (long)(p - a->v) : -1;
}

bool gw_addrs_has(const struct gw_addrs *a, const char *addr)
{
	char c[GW_ADDR_MAX];
	return canonical(addr, c) && find(a, c) >= 0;
}

bool gw_addrs_equal(const struct gw_addrs *a, const struct gw_addrs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

void gw_addrs_free(struct gw_addrs *a)
{
	free(a->v);
	*a = (struct gw_addrs){0};
}

size_t gw_addrs_in_slices(const struct gw_addrs *gw, json_t *slices, char *first, size_t cap)
{
	if (cap)
		first[0] = '\0';
	if (!gw->n)
		return 0;
	bool *seen = calloc(gw->n, sizeof(*seen)); /* NULL: every hit counts, duplicates too */
	size_t hits = 0, i, k, j;
	json_t *s, *ep, *addr;
	json_array_foreach(slices, i, s)
	{
		json_array_foreach(json_object_get(s, "endpoints"), k, ep)
		{
			json_array_foreach(json_object_get(ep, "addresses"), j, addr)
			{
				char c[GW_ADDR_MAX];
				const char *text = json_string_value(addr);
				long at = text && canonical(text, c) ? find(gw, c) : -1;
				if (at < 0 || (seen && seen[at]))
					continue;
				if (seen)
					seen[at] = true;
				if (!hits++ && cap)
					snprintf(first, cap, "%s", c);
			}
		}
	}
	free(seen);
	return hits;
}
