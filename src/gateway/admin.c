/* admin.c - admin HTTP listener on the control thread's reactor. */
#include "gateway/admin.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/gateway_impl.h"
#include "gateway/telemetry.h"
#include "telemetry/log.h"

#define ADMIN_REQ_MAX     4096
#define ADMIN_TIMEOUT_MS  5000
#define ADMIN_MAX_CLIENTS 64 /* at the cap, a new connection evicts the oldest one still not asking */

struct admin_client {
	struct admin_client *prev, *next; /* srv->clients, oldest first */
	struct reactor_io io;
	struct reactor_timer timer;
	struct reactor_deferred reaper;
	struct admin_server *srv;
	char req[ADMIN_REQ_MAX];
	size_t reqlen;
	char *resp;
	size_t resplen, respoff;
	bool closed;
};

struct admin_server {
	struct gateway *gw;
	struct reactor *r;
	struct reactor_io io;
	int nclients;
	struct admin_client *head, *tail; /* open clients, oldest first */
	uint64_t last_flood_log_ms;
	uint64_t flood_unlogged; /* evictions since the last log line */
};

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static void client_reap(struct reactor_deferred *d)
{
	struct admin_client *c = CONTAINER(d, struct admin_client, reaper);
	free(c->resp);
	free(c);
}

static void client_close(struct admin_client *c)
{
	if (c->closed)
		return;
	c->closed = true;
	struct admin_server *a = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		a->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		a->tail = c->prev;
	reactor_timer_cancel(c->srv->r, &c->timer);
	reactor_del(c->srv->r, &c->io);
	close(c->io.fd);
	c->srv->nclients--;
	reactor_defer(c->srv->r, &c->reaper);
}

static void on_client_timeout(struct reactor_timer *t)
{
	client_close(CONTAINER(t, struct admin_client, timer));
}

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

static void respond(struct admin_client *c, int status, const char *reason, const char *ctype,
                    const char *body)
{
	size_t blen = strlen(body);
	size_t cap = blen + 256;
	c->resp = malloc(cap);
	if (!c->resp) {
		client_close(c);
		return;
	}
	c->resplen = (size_t)snprintf(c->resp, cap,
	                              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                              "Connection: close\r\nCache-Control: no-store\r\n\r\n",
	                              status, reason, ctype, blen);
	memcpy(c->resp + c->resplen, body, blen);
	c->resplen += blen;
	reactor_set_events(c->srv->r, &c->io, EPOLLOUT);
}

static void handle_request(struct admin_client *c)
{
	struct gateway *gw = c->srv->gw;
	char method[8], path[128];
	if (sscanf(c->req, "%7s %127s", method, path) != 2) {
		respond(c, 400, "Bad Request", "text/plain", "bad request\n");
		return;
	}
	if (strcmp(method, "GET") != 0) {
		respond(c, 405, "Method Not Allowed", "text/plain", "only GET\n");
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		char why[160];
		if (gw_workers_stuck(gw, why, sizeof(why) - 1)) {
			strcat(why, "\n");
			respond(c, 503, "Service Unavailable", "text/plain", why);
		} else {
			respond(c, 200, "OK", "text/plain", "ok\n");
		}
	} else if (strcmp(path, "/readyz") == 0) {
		bool ready = atomic_load(&gw->ready) && !atomic_load(&gw->draining);
		respond(c, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", "text/plain",
		        ready ? "ready\n" : (atomic_load(&gw->draining) ? "draining\n" : "starting\n"));
	} else if (strcmp(path, "/routes") == 0) {
		char *body = admin_routes_json(gw);
		if (body) {
			respond(c, 200, "OK", "application/json", body);
			free(body);
		} else {
			respond(c, 500, "Internal Server Error", "text/plain", "out of memory\n");
		}
	} else if (strcmp(path, "/route-stats") == 0) {
		char *body = admin_route_stats_json(gw);
		if (body) {
			respond(c, 200, "OK", "application/json", body);
			free(body);
		} else {
			respond(c, 500, "Internal Server Error", "text/plain", "out of memory\n");
		}
	} else if (strcmp(path, "/metrics") == 0) {
		char *body = NULL;
		size_t len = 0;
		if (gw_telemetry_prom(gw, gw->otlp, &body, &len) == 0) {
			respond(c, 200, "OK", OTLP_PROM_CONTENT_TYPE, body);
			free(body);
		} else {
			respond(c, 500, "Internal Server Error", "text/plain", "out of memory\n");
		}
	} else {
		respond(c, 404, "Not Found", "text/plain",
		        "not found: try /healthz, /readyz, /routes, /route-stats, /metrics\n");
	}
}

static void on_admin_client(struct reactor_io *io, uint32_t events)
{
	struct admin_client *c = CONTAINER(io, struct admin_client, io);
	if (c->closed)
		return;
	if (c->resp) {
		ssize_t w = send(io->fd, c->resp + c->respoff, c->resplen - c->respoff, MSG_NOSIGNAL);
		if (w > 0)
			c->respoff += (size_t)w;
		if ((w < 0 && errno != EAGAIN) || c->respoff == c->resplen)
			client_close(c);
		return;
	}
	ssize_t r = recv(io->fd, c->req + c->reqlen, sizeof(c->req) - 1 - c->reqlen, 0);
	if (r <= 0) {
		if (r == 0 || errno != EAGAIN)
			client_close(c);
		return;
	}
	c->reqlen += (size_t)r;
	c->req[c->reqlen] = '\0';
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
		handle_request(c);
	else if (c->reqlen == sizeof(c->req) - 1)
		respond(c, 431, "Request Header Fields Too Large", "text/plain", "request too large\n");
	(void)events;
}

/* Refusals and evictions are counted, and logged at most once a second with how many there were. */
static void note_flood(struct admin_server *a, const char *what)
{
	atomic_fetch_add(&a->gw->admin_refused, 1);
	a->flood_unlogged++;
	uint64_t now = reactor_now(a->r);
	if (now - a->last_flood_log_ms < 1000)
		return;
	a->last_flood_log_ms = now;
	log_msg(LOG_WARN, "admin_flood", NULL,
	        "admin port: %s (%llu connection%s since the last line); probes are still answered", what,
	        (unsigned long long)a->flood_unlogged, a->flood_unlogged == 1 ? "" : "s");
	a->flood_unlogged = 0;
}

/* At the cap, the oldest client that has not finished its request makes room: a probe sends its request
 * at once and is answered in the same turn, so idle connections can never lock probes out. */
static bool make_room(struct admin_server *a)
{
	for (struct admin_client *c = a->head; c; c = c->next)
		if (!c->resp) {
			client_close(c);
			note_flood(a, "at the connection cap, closed the oldest idle connection");
			return true;
		}
	return false;
}

static void on_admin_accept(struct reactor_io *io, uint32_t events)
{
	struct admin_server *a = CONTAINER(io, struct admin_server, io);
	(void)events;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len;
		int fd = net_accept(io->fd, &peer, &len);
		if (fd < 0)
			return;
		struct admin_client *c = NULL;
		if (a->nclients < ADMIN_MAX_CLIENTS || make_room(a))
			c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			note_flood(a, "refused a connection");
			continue;
		}
		c->srv = a;
		c->io = (struct reactor_io){.fd = fd, .on_event = on_admin_client};
		c->timer.on_timer = on_client_timeout;
		c->reaper.run = client_reap;
		if (reactor_add(a->r, &c->io, EPOLLIN) < 0 ||
		    reactor_timer_arm(a->r, &c->timer, ADMIN_TIMEOUT_MS) < 0) {
			reactor_del(a->r, &c->io);
			close(fd);
			free(c);
			continue;
		}
		a->nclients++;
		c->prev = a->tail;
		if (a->tail)
			a->tail->next = c;
		else
			a->head = c;
		a->tail = c;
	}
}

int admin_start(struct gateway *gw, struct reactor *r, const struct net_addr *addr, struct admin_server **out)
{
	struct admin_server *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->gw = gw;
	a->r = r;
	int fd = net_listen(addr, false, 256);
	if (fd < 0) {
		log_msg(LOG_CRITICAL, "listen_failed", NULL, "cannot listen on admin address %s: %s",
		        addr->text, strerror(-fd));
		free(a);
		return fd;
	}
	a->io = (struct reactor_io){.fd = fd, .on_event = on_admin_accept};
	int err = reactor_add(r, &a->io, EPOLLIN);
	if (err < 0) {
		close(fd);
		free(a);
		return err;
	}
	*out = a;
	return 0;
}

void admin_stop(struct admin_server *a)
{
	if (!a)
		return;
	while (a->head)
		client_close(a->head);
	reactor_flush(a->r);
	reactor_del(a->r, &a->io);
	close(a->io.fd);
	free(a);
}
