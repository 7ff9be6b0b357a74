/* admin.c - admin HTTP listener on the control thread's reactor. */
#include "gateway/admin.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "telemetry/log.h"

#define ADMIN_REQ_MAX     4096
#define ADMIN_TIMEOUT_MS  5000
#define ADMIN_MAX_CLIENTS 32

struct admin_client {
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
};

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

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

static json_t *route_json(struct gateway *gw, const struct route *r)
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
	struct endpoint_map *m = gateway_endpoints(gw);
	const struct endpoint_set *set = endpoint_map_find(m, target);
	json_object_set_new(o, "target_resolvable", json_boolean(set && set->ntotal > 0));
	json_object_set_new(o, "ready_endpoints", json_integer(set ? (json_int_t)set->nready : 0));
	endpoint_map_unref(m);
	struct route_stats *st = route_registry_get(&gw->routes, key);
	if (st) {
		json_object_set_new(o, "active", json_integer(atomic_load(&st->active)));
		json_object_set_new(o, "held", json_integer(atomic_load(&st->held)));
		json_object_set_new(o, "routed_total",
		                    json_integer((json_int_t)atomic_load(&st->routed_total)));
		json_object_set_new(o, "hold_timeouts",
		                    json_integer((json_int_t)atomic_load(&st->hold_timeouts)));
		json_object_set_new(o, "last_routing_unix_ms",
		                    json_integer((json_int_t)atomic_load(&st->last_routing_unix_ms)));
		json_object_set_new(o, "last_connection_unix_ms",
		                    json_integer((json_int_t)atomic_load(&st->last_connection_unix_ms)));
		route_stats_unref(st);
	}
	return o;
}

static void add_orphan(const struct route_stats *st, void *arg)
{
	int n = route_stats_orphaned(st);
	if (n <= 0)
		return;
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(st->key));
	json_object_set_new(o, "orphaned", json_integer(n));
	json_array_append_new(arg, o);
}

char *admin_routes_json(struct gateway *gw)
{
	json_t *doc = json_object();
	struct route_table *t = gateway_table(gw);
	json_t *routes = json_array();
	for (size_t i = 0; i < route_table_count(t); i++)
		json_array_append_new(routes, route_json(gw, route_table_route(t, i)));
	route_table_unref(t);
	json_object_set_new(doc, "routes", routes);
	json_t *orphans = json_array();
	route_registry_foreach(&gw->routes, add_orphan, orphans);
	json_object_set_new(doc, "orphans", orphans);

	struct gw_counters *c = &gw->counters;
	json_t *cj = json_object();
	json_object_set_new(cj, "accepted", json_integer((json_int_t)atomic_load(&c->accepted)));
	json_object_set_new(cj, "active_connections", json_integer(atomic_load(&c->active_connections)));
	json_object_set_new(cj, "held_connections", json_integer(atomic_load(&c->held_connections)));
	json_object_set_new(cj, "reject_engine_connections",
	                    json_integer((json_int_t)atomic_load(&c->reject_engine_connections)));
	json_object_set_new(cj, "tls_failures", json_integer((json_int_t)atomic_load(&c->tls_failures)));
	json_object_set_new(cj, "bytes_from_clients",
	                    json_integer((json_int_t)atomic_load(&c->bytes_from_clients)));
	json_object_set_new(cj, "bytes_to_clients",
	                    json_integer((json_int_t)atomic_load(&c->bytes_to_clients)));
	json_t *rej = json_object();
	for (int i = 0; i < GW_REJECT__COUNT; i++)
		json_object_set_new(rej, gw_reject_reason_name((enum gw_reject_reason)i),
		                    json_integer((json_int_t)atomic_load(&c->rejections[i])));
	json_object_set_new(cj, "rejections", rej);
	json_object_set_new(doc, "counters", cj);
	json_object_set_new(doc, "last_reload_error",
	                    gw->last_reload_error[0] ? json_string(gw->last_reload_error) : json_null());
	json_object_set_new(doc, "draining", json_boolean(atomic_load(&gw->draining)));
	char *text = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	return text;
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
		respond(c, 200, "OK", "text/plain", "ok\n");
	} else if (strcmp(path, "/readyz") == 0) {
		bool ready = gw->ready && !atomic_load(&gw->draining);
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
	} else {
		respond(c, 404, "Not Found", "text/plain", "not found: try /healthz, /readyz, /routes\n");
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
		struct admin_client *c = a->nclients < ADMIN_MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			close(fd);
			continue;
		}
		c->srv = a;
		c->io = (struct reactor_io){.fd = fd, .on_event = on_admin_client};
		c->timer.on_timer = on_client_timeout;
		c->reaper.run = client_reap;
		a->nclients++;
		if (reactor_add(a->r, &c->io, EPOLLIN) < 0) {
			close(fd);
			free(c);
			a->nclients--;
			continue;
		}
		reactor_timer_arm(a->r, &c->timer, ADMIN_TIMEOUT_MS);
	}
}

int admin_start(struct gateway *gw, struct reactor *r, const struct net_addr *addr, struct admin_server **out)
{
	struct admin_server *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->gw = gw;
	a->r = r;
	int fd = net_listen(addr, false, 64);
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
	reactor_del(a->r, &a->io);
	close(a->io.fd);
	free(a);
}
