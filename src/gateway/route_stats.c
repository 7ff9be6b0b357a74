/* route_stats.c - the per-FIXSession counter registry. */
#include "gateway/route_stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "telemetry/log.h"

void route_registry_init(struct route_registry *reg, unsigned nworkers)
{
	memset(reg, 0, sizeof(*reg));
	pthread_mutex_init(&reg->lock, NULL);
	reg->nworkers = nworkers ? nworkers : 1;
}

static void stats_free(struct route_stats *st)
{
	free(st->per_worker);
	free(st->key);
	free(st);
}

void route_registry_fini(struct route_registry *reg)
{
	for (size_t i = 0; i < reg->count; i++)
		route_stats_unref(reg->items[i]);
	free(reg->items);
	pthread_mutex_destroy(&reg->lock);
}

/* Index of key, or the insertion point as -(index + 1). */
static ssize_t find(const struct route_registry *reg, const char *key)
{
	size_t lo = 0, hi = reg->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(reg->items[mid]->key, key);
		if (!d)
			return (ssize_t)mid;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(ssize_t)lo - 1;
}

static struct route_stats *insert_locked(struct route_registry *reg, const char *key, size_t at)
{
	if (GROW_ARRAY(reg->items, reg->cap, reg->count + 1, 64) != 0)
		return NULL;
	struct route_stats *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->nworkers = reg->nworkers;
	st->key = strdup(key);
	st->per_worker = aligned_alloc(64, sizeof(*st->per_worker) * st->nworkers);
	if (!st->key || !st->per_worker) {
		stats_free(st);
		return NULL;
	}
	memset(st->per_worker, 0, sizeof(*st->per_worker) * st->nworkers);
	atomic_init(&st->refs, 1); /* the registry's own reference */
	memmove(&reg->items[at + 1], &reg->items[at], (reg->count - at) * sizeof(*reg->items));
	reg->items[at] = st;
	reg->count++;
	return st;
}

struct route_stats *route_registry_get(struct route_registry *reg, const char *key)
{
	pthread_mutex_lock(&reg->lock);
	ssize_t i = find(reg, key);
	struct route_stats *st = i >= 0 ? reg->items[i] : insert_locked(reg, key, (size_t)(-i - 1));
	if (st)
		atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&reg->lock);
	return st;
}

struct route_stats *route_stats_ref(struct route_stats *st)
{
	if (st)
		atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
	return st;
}

void route_stats_unref(struct route_stats *st)
{
	if (st && atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1)
		stats_free(st);
}

static int64_t active_of(const struct route_stats *st)
{
	int64_t n = 0;
	for (unsigned i = 0; i < st->nworkers; i++)
		n += atomic_load_explicit(&st->per_worker[i].active, memory_order_relaxed);
	return n;
}

void route_stats_sum(const struct route_stats *st, struct gw_route_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->key = st->key;
	out->present = st->present;
	out->held = atomic_load(&st->held);
	for (unsigned i = 0; i < st->nworkers; i++) {
		const struct route_counters *c = &st->per_worker[i];
		out->active += atomic_load_explicit(&c->active, memory_order_relaxed);
		out->routed_total += atomic_load_explicit(&c->routed_total, memory_order_relaxed);
		out->hold_timeouts += atomic_load_explicit(&c->hold_timeouts, memory_order_relaxed);
		out->bytes_from_client += atomic_load_explicit(&c->bytes_from_client, memory_order_relaxed);
		out->bytes_to_client += atomic_load_explicit(&c->bytes_to_client, memory_order_relaxed);
		int64_t lr = atomic_load_explicit(&c->last_routing_unix_ms, memory_order_relaxed);
		int64_t lc = atomic_load_explicit(&c->last_connection_unix_ms, memory_order_relaxed);
		if (lr > out->last_routing_unix_ms)
			out->last_routing_unix_ms = lr;
		if (lc > out->last_connection_unix_ms)
			out->last_connection_unix_ms = lc;
	}
	out->orphaned = out->present ? 0 : out->active;
}

static const struct log_ctx registry_log = {.component = "gateway"};

static void note_presence(struct route_stats *st, bool present)
{
	int active = (int)active_of(st);
	if (st->present && !present && active > 0) {
		struct log_line l;
		log_begin(&l, LOG_ERROR, "orphan_sessions", &registry_log);
		log_str(&l, "fixsession", st->key);
		log_int(&l, "orphaned_connections", active);
		log_end(&l,
		        "FIXSession %s was deleted with %d live connection%s; they continue until a side "
		        "disconnects (re-apply the FIXSession to re-associate them)",
		        st->key, active, active == 1 ? "" : "s");
		st->orphans_logged = active;
	} else if (!st->present && present && st->orphans_logged) {
		struct log_line l;
		log_begin(&l, LOG_INFO, "orphans_reassociated", &registry_log);
		log_str(&l, "fixsession", st->key);
		log_int(&l, "connections", active);
		log_end(&l, "FIXSession %s is back; %d live connection%s re-associated", st->key, active,
		        active == 1 ? "" : "s");
		st->orphans_logged = 0;
	}
	st->present = present;
}

int route_registry_sync(struct route_registry *reg, const struct route_table *t, struct route_stats **stats)
{
	char key[512];
	int rc = 0;
	pthread_mutex_lock(&reg->lock);
	/* Mark: every route of the new table gets (or keeps) a record. */
	for (size_t r = 0; r < route_table_count(t); r++) {
		const struct route *rt = route_table_route(t, r);
		snprintf(key, sizeof(key), "%s/%s", rt->ns, rt->name);
		ssize_t i = find(reg, key);
		struct route_stats *st = i >= 0 ? reg->items[i] : insert_locked(reg, key, (size_t)(-i - 1));
		if (!st)
			rc = -ENOMEM;
		if (st && !st->present)
			note_presence(st, true);
		if (stats)
			stats[r] = route_stats_ref(st);
	}
	/* Sweep: records absent from the table lose presence; unused ones go. */
	size_t out = 0;
	for (size_t i = 0; i < reg->count; i++) {
		struct route_stats *st = reg->items[i];
		snprintf(key, sizeof(key), "%s", st->key);
		char *slash = strchr(key, '/');
		bool present = false;
		if (slash) {
			*slash = '\0';
			present = route_table_find(t, key, slash + 1) != NULL;
		}
		if (!present)
			note_presence(st, false);
		if (!present && atomic_load(&st->refs) == 1 && active_of(st) == 0 &&
		    atomic_load(&st->held) == 0) {
			route_stats_unref(st);
			continue;
		}
		reg->items[out++] = st;
	}
	reg->count = out;
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

void route_registry_foreach(struct route_registry *reg,
                            void (*fn)(const struct gw_route_stats *st, void *arg), void *arg)
{
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->count; i++) {
		struct gw_route_stats sum;
		route_stats_sum(reg->items[i], &sum);
		fn(&sum, arg);
	}
	pthread_mutex_unlock(&reg->lock);
}
