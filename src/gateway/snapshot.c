/* snapshot.c - building, sharing and freeing gateway snapshots. */
#include "gateway/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/route_stats.h"

struct gw_snapshot *gw_snapshot_new(const char *origin)
{
	struct gw_snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	snprintf(s->origin, sizeof(s->origin), "%s", origin ? origin : "");
	s->log_level = LOG_INFO;
	return s;
}

struct gw_snapshot *gw_snapshot_derive(const struct gw_snapshot *base)
{
	struct gw_snapshot *s = gw_snapshot_new(base->origin);
	if (!s)
		return NULL;
	s->table = route_table_ref(base->table);
	s->endpoints = base->endpoints ? endpoint_map_ref(base->endpoints) : NULL;
	s->reject_enabled = base->reject_enabled;
	s->reject_addr = base->reject_addr;
	s->limits = base->limits;
	s->log_level = base->log_level;
	return s;
}

struct gw_snapshot *gw_snapshot_ref(struct gw_snapshot *s)
{
	if (s)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void gw_snapshot_unref(struct gw_snapshot *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (s->stats) {
		for (size_t i = 0; i < route_table_count(s->table); i++)
			route_stats_unref(s->stats[i]);
		free(s->stats);
	}
	for (size_t i = 0; i < GW_MAX_LISTENERS; i++)
		SSL_CTX_free(s->tls[i]);
	route_table_unref(s->table);
	endpoint_map_unref(s->endpoints);
	free(s);
}

void gw_snapshot_set_config(struct gw_snapshot *s, const struct gw_config *c)
{
	s->limits = (struct gw_limits){
	    .logon_timeout_ms = c->logon_timeout_ms,
	    .max_logon_bytes = c->max_logon_bytes,
	    .connect_timeout_ms = c->connect_timeout_ms,
	    .idle_timeout_ms = c->idle_timeout_ms,
	    .hold_timeout_ms = c->hold_timeout_ms,
	    .max_held_per_process = c->max_held_per_process,
	    .hold_release_per_sec = c->hold_release_per_sec,
	    .max_connections = c->max_connections,
	    .shutdown_grace_ms = c->shutdown_grace_ms,
	    .tcp_nodelay = c->tuning.tcp_nodelay,
	    .busy_poll_us = c->tuning.busy_poll_us,
	};
	s->reject_enabled = c->reject_enabled;
	s->reject_addr = c->reject_addr;
	s->log_level = LOG_INFO;
	if (c->log_level)
		log_level_parse(c->log_level, &s->log_level);
}

void gw_snapshot_set_table(struct gw_snapshot *s, struct route_table *t)
{
	route_table_unref(s->table);
	s->table = t;
}

void gw_snapshot_set_endpoints(struct gw_snapshot *s, struct endpoint_map *m)
{
	endpoint_map_unref(s->endpoints);
	s->endpoints = m;
}

struct route_stats *gw_snapshot_route_stats(const struct gw_snapshot *s, const struct route *r)
{
	const struct route *first = route_table_route(s->table, 0);
	if (!s->stats || !first || r < first)
		return NULL;
	size_t i = (size_t)(r - first);
	return i < route_table_count(s->table) ? s->stats[i] : NULL;
}
