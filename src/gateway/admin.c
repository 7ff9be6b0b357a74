/* admin.c - admin HTTP listener on the control thread's reactor. */
#include "gateway/admin.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_impl.h"
#include "gateway/telemetry.h"

static json_t *route_stats_json(const struct gw_route_stats *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "active", json_integer(st->active));
	json_object_set_new(o, "held", json_integer(st->held));
	json_object_set_new(o, "orphaned", json_integer(st->orphaned));
	json_object_set_new(o, "routed_total", json_integer((json_int_t)st->routed_total));
	json_object_set_new(o, "hold_timeouts", json_integer((json_int_t)st->hold_timeouts));
	json_object_set_new(o, "bytes_from_client", json_integer((json_int_t)st->bytes_from_client));
	json_object_set_new(o, "bytes_to_client", json_integer((json_int_t)st->bytes_to_client));
	json_object_set_new(o, "last_routing_unix_ms", json_integer(st->last_routing_unix_ms));
	json_object_set_new(o, "last_connection_unix_ms", json_integer(st->last_connection_unix_ms));
	return o;
}

struct stats_pass {
	json_t *by_key;  /* "namespace/name" -> counters */
	json_t *orphans; /* records with orphaned connections */
};

static void collect_route_stats(const struct gw_route_stats *st, void *arg)
{
	struct stats_pass *p = arg;
	json_object_set_new(p->by_key, st->key, route_stats_json(st));
	if (st->orphaned > 0) {
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(st->key));
		json_object_set_new(o, "orphaned", json_integer(st->orphaned));
		json_array_append_new(p->orphans, o);
	}
}

static json_t *route_json(const struct gw_snapshot *snap, const struct route *r, json_t *by_key)
{
	char key[512], target[512];
	snprintf(key, sizeof(key), "%s/%s", r->ns, r->name);
	endpoint_key_for_target(r->ns, r->target.service, r->target.port, r->target.port_name, target,
	                        sizeof(target));
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(key));
	enum route_kind k = route_kind_of(r);
	json_object_set_new(o, "kind",
	                    json_string(k == ROUTE_KIND_EXACT      ? "exact"
	                                : k == ROUTE_KIND_WILDCARD ? "wildcard"
	                                                           : "default"));
	json_object_set_new(o, "priority", r->has_priority ? json_integer(r->priority) : json_null());
	json_object_set_new(o, "target", json_string(target));
	json_t *ls = json_array();
	for (size_t i = 0; i < r->nlisteners; i++)
		json_array_append_new(ls, json_string(r->listeners[i]));
	json_object_set_new(o, "listeners", ls);
	json_object_set_new(o, "max_held_connections", json_integer(r->max_held));
	json_object_set_new(o, "hold_timeout_ms", json_integer(r->hold_timeout_ms));
	const struct endpoint_set *set = endpoint_map_find(snap->endpoints, target);
	json_object_set_new(o, "target_resolvable", json_boolean(set && set->ntotal > 0));
	json_object_set_new(o, "ready_endpoints", json_integer(set ? (json_int_t)set->nready : 0));
	json_t *st = json_object_get(by_key, key);
	if (st)
		json_object_update(o, st);
	return o;
}

char *admin_routes_json(struct gateway *gw)
{
	json_t *doc = json_object();
	struct stats_pass pass = {json_object(), json_array()};
	gw_route_stats_foreach(gw, collect_route_stats, &pass);
	struct gw_snapshot *snap = gw_snapshot_current(gw);
	json_t *routes = json_array();
	for (size_t i = 0; snap && i < route_table_count(snap->table); i++)
		json_array_append_new(routes,
		                      route_json(snap, route_table_route(snap->table, i), pass.by_key));
	json_object_set_new(doc, "routes", routes);
	json_object_set_new(doc, "orphans", pass.orphans);
	json_decref(pass.by_key);

	struct gw_stats c;
	gw_stats_read(gw, &c);
	json_t *cj = json_object();
	json_object_set_new(cj, "accepted", json_integer((json_int_t)c.accepted));
	json_object_set_new(cj, "active_connections", json_integer(c.active_connections));
	json_object_set_new(cj, "held_connections", json_integer(c.held_connections));
	json_object_set_new(cj, "reject_engine_connections",
	                    json_integer((json_int_t)c.reject_engine_connections));
	json_object_set_new(cj, "default_routed", json_integer((json_int_t)c.default_routed));
	json_object_set_new(cj, "tls_failures", json_integer((json_int_t)c.tls_failures));
	json_object_set_new(cj, "loops_refused", json_integer((json_int_t)c.loops_refused));
	json_object_set_new(cj, "admin_refused", json_integer((json_int_t)c.admin_refused));
	json_object_set_new(cj, "log_lines_dropped", json_integer((json_int_t)c.log_lines_dropped));
	json_object_set_new(cj, "bytes_from_clients", json_integer((json_int_t)c.bytes_from_clients));
	json_object_set_new(cj, "bytes_to_clients", json_integer((json_int_t)c.bytes_to_clients));
	json_t *rej = json_object();
	for (int i = 0; i < GW_REJECT__COUNT; i++)
		json_object_set_new(rej, gw_reject_reason_name((enum gw_reject_reason)i),
		                    json_integer((json_int_t)c.rejections[i]));
	json_object_set_new(cj, "rejections", rej);
	json_object_set_new(doc, "counters", cj);
	json_t *sj = json_object();
	json_object_set_new(sj, "generation", json_integer((json_int_t)c.snapshot_generation));
	json_object_set_new(sj, "origin", json_string(snap ? snap->origin : ""));
	json_object_set_new(sj, "published", json_integer((json_int_t)c.publish_count));
	json_object_set_new(sj, "refused", json_integer((json_int_t)c.publish_failures));
	json_object_set_new(sj, "last_publish_unix_ms", json_integer((json_int_t)c.last_publish_unix_ms));
	json_object_set_new(sj, "loop_endpoints", json_integer((json_int_t)c.loop_endpoints));
	json_object_set_new(doc, "snapshot", sj);
	gw_snapshot_unref(snap);
	char err[512];
	gw_last_reload_error(gw, err, sizeof(err));
	json_object_set_new(doc, "last_reload_error", err[0] ? json_string(err) : json_null());
	json_object_set_new(doc, "draining", json_boolean(atomic_load(&gw->draining)));
	char *text = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	return text;
}

struct compact_pass {
	json_t *by_key;
	bool nomem;
};

/* One FIXSession of /route-stats: connections of a record that left the table are orphaned, not active. */
static void collect_compact(const struct gw_route_stats *st, void *arg)
{
	struct compact_pass *p = arg;
	json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I}", "active", (json_int_t)(st->active - st->orphaned),
	                      "held", (json_int_t)st->held, "orphaned", (json_int_t)st->orphaned,
	                      "last_connection_unix_ms", (json_int_t)st->last_connection_unix_ms,
	                      "last_routing_unix_ms", (json_int_t)st->last_routing_unix_ms);
	if (!o || json_object_set_new(p->by_key, st->key, o))
		p->nomem = true;
}

char *admin_route_stats_json(struct gateway *gw)
{
	struct compact_pass p = {json_object(), false};
	if (!p.by_key)
		return NULL;
	gw_route_stats_foreach(gw, collect_compact, &p);
	json_t *doc = p.nomem ? NULL : json_pack("{s:O}", "fixsessions", p.by_key);
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	json_decref(p.by_key);
	return text; /* a partial document would read as fewer connections: none instead */
}

static void reply_json(struct admin_reply *r, char *body)
{
	if (body) {
		r->status = 200;
		r->ctype = "application/json";
		r->body = body;
	} else {
		admin_reply_text(r, 500, "out of memory\n");
	}
}

static void handle_request(void *arg, const char *path, struct admin_reply *r)
{
	struct gateway *gw = arg;
	if (strcmp(path, "/healthz") == 0) {
		char why[160];
		if (gw_workers_stuck(gw, why, sizeof(why)))
			admin_reply_line(r, 503, why);
		else
			admin_reply_text(r, 200, "ok\n");
	} else if (strcmp(path, "/readyz") == 0) {
		bool ready = atomic_load(&gw->ready) && !atomic_load(&gw->draining);
		admin_reply_text(r, ready ? 200 : 503,
		                 ready ? "ready\n"
		                       : (atomic_load(&gw->draining) ? "draining\n" : "starting\n"));
	} else if (strcmp(path, "/routes") == 0) {
		reply_json(r, admin_routes_json(gw));
	} else if (strcmp(path, "/route-stats") == 0) {
		reply_json(r, admin_route_stats_json(gw));
	} else if (strcmp(path, "/metrics") == 0) {
		admin_reply_metrics(r, gw->otlp, gw_telemetry_collect, gw);
	}
}

int admin_start(struct gateway *gw, struct reactor *r, const struct net_addr *addr, struct admin_http **out)
{
	struct admin_http_opts o = {
	    .addr = addr,
	    .handle = handle_request,
	    .arg = gw,
	    .not_found = "not found: try /healthz, /readyz, /routes, /route-stats, /metrics\n",
	    .refused = &gw->admin_refused,
	};
	return admin_http_start(r, &o, out);
}
