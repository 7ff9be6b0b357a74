/* endpoints.c - ready-endpoint snapshots. */
#include "gateway/endpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_set(const void *a, const void *b)
{
	return strcmp(((const struct endpoint_set *)a)->key, ((const struct endpoint_set *)b)->key);
}

static void map_free(struct endpoint_map *m)
{
	for (size_t i = 0; i < m->count; i++) {
		free(m->sets[i].key);
		free(m->sets[i].ready);
	}
	free(m->sets);
	free(m);
}

struct endpoint_map *endpoint_map_from_config(const struct gw_config *cfg, uint64_t generation)
{
	return endpoint_map_from_services(cfg->services, cfg->nservices, generation);
}

struct endpoint_map *endpoint_map_from_services(const struct gw_service_endpoints *services, size_t n,
                                                uint64_t generation)
{
	struct endpoint_map *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	atomic_init(&m->refs, 1);
	m->generation = generation;
	m->sets = calloc(n ? n : 1, sizeof(*m->sets));
	if (!m->sets)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct gw_service_endpoints *svc = &services[i];
		struct endpoint_set *set = &m->sets[m->count++];
		set->key = strdup(svc->key);
		set->ready = calloc(svc->count ? svc->count : 1, sizeof(*set->ready));
		if (!set->key || !set->ready)
			goto fail;
		set->ntotal = svc->count;
		for (size_t k = 0; k < svc->count; k++)
			if (svc->items[k].ready)
				set->ready[set->nready++] = svc->items[k].addr;
	}
	qsort(m->sets, m->count, sizeof(*m->sets), cmp_set);
	return m;
fail:
	map_free(m);
	return NULL;
}

struct endpoint_map *endpoint_map_ref(struct endpoint_map *m)
{
	if (m)
		atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

void endpoint_map_unref(struct endpoint_map *m)
{
	if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		map_free(m);
}

const struct endpoint_set *endpoint_map_find(const struct endpoint_map *m, const char *key)
{
	if (!m)
		return NULL;
	struct endpoint_set probe = {.key = (char *)key};
	return bsearch(&probe, m->sets, m->count, sizeof(*m->sets), cmp_set);
}

void endpoint_key_for_target(const char *ns, const char *service, unsigned port, const char *port_name,
                             char *out, size_t cap)
{
	if (port_name)
		snprintf(out, cap, "%s/%s:%s", ns, service, port_name);
	else
		snprintf(out, cap, "%s/%s:%u", ns, service, port);
}

/* ---- choosing an endpoint ---- */

static bool same_addr(const struct sockaddr_storage *ss, socklen_t len, const struct sockaddr *sa,
                      socklen_t salen)
{
	return len == salen && memcmp(ss, sa, len) == 0;
}

void endpoint_health_failed(struct endpoint_health *h, const struct sockaddr *sa, socklen_t len,
                            uint64_t now_ms)
{
	size_t victim = 0;
	if (len > sizeof(h->slot[0].ss))
		return;
	for (size_t i = 0; i < ENDPOINT_HEALTH_SLOTS; i++) {
		if (same_addr(&h->slot[i].ss, h->slot[i].len, sa, len)) {
			victim = i;
			break;
		}
		if (h->slot[i].down_until_ms < h->slot[victim].down_until_ms)
			victim = i; /* the oldest mark (or a free slot) makes room */
	}
	memcpy(&h->slot[victim].ss, sa, len);
	h->slot[victim].len = len;
	h->slot[victim].down_until_ms = now_ms + ENDPOINT_DOWN_MS;
}

void endpoint_health_ok(struct endpoint_health *h, const struct sockaddr *sa, socklen_t len)
{
	for (size_t i = 0; i < ENDPOINT_HEALTH_SLOTS; i++)
		if (h->slot[i].down_until_ms && same_addr(&h->slot[i].ss, h->slot[i].len, sa, len))
			h->slot[i].down_until_ms = 0;
}

bool endpoint_health_down(const struct endpoint_health *h, const struct sockaddr *sa, socklen_t len,
                          uint64_t now_ms)
{
	for (size_t i = 0; i < ENDPOINT_HEALTH_SLOTS; i++)
		if (h->slot[i].down_until_ms > now_ms && same_addr(&h->slot[i].ss, h->slot[i].len, sa, len))
			return true;
	return false;
}

long endpoint_pick(const struct endpoint_set *set, uint64_t start, uint64_t *tried,
                   const struct endpoint_health *h, uint64_t now_ms)
{
	size_t n = set ? set->nready : 0;
	size_t limit = n < ENDPOINT_MAX_TRIES ? n : ENDPOINT_MAX_TRIES;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < limit; i++) {
			if (*tried & (UINT64_C(1) << i))
				continue;
			size_t k = (size_t)((start + i) % n);
			const struct net_addr *a = &set->ready[k];
			if (pass == 0 && h &&
			    endpoint_health_down(h, (const struct sockaddr *)&a->ss, a->len, now_ms))
				continue;
			*tried |= UINT64_C(1) << i;
			return (long)k;
		}
	}
	return -1;
}
