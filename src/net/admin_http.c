/* admin_http.c - the bounded admin HTTP listener (see admin_http.h). */
#include "net/admin_http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/http_head.h"
#include "telemetry/log.h"
#include "telemetry/otlp_metrics.h"

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define FLOOD_LOG_INTERVAL_MS        1000u
#define PATH_MAX_LEN                 128u

struct admin_client {
	struct admin_client *prev, *next; /* srv->clients, oldest first */
	struct reactor_io io;
	struct reactor_timer timer;
	struct reactor_deferred reaper;
	struct admin_http *srv;
	char req[ADMIN_HTTP_REQ_MAX];
	size_t reqlen;
	char *resp;
	size_t resplen, respoff;
	bool closed;
};

struct admin_http {
	struct admin_http_opts o;
	struct net_addr addr;
	struct reactor *r;
	struct reactor_io io;
	int nclients;
	struct admin_client *head, *tail; /* open clients, oldest first */
	uint64_t last_flood_log_ms;
	uint64_t flood_unlogged; /* evictions since the last log line */
	/* admin_http_spawn only */
	struct reactor own;
	struct reactor_timer tick;
	pthread_t thread;
	bool spawned;
};

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
	struct admin_http *a = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		a->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		a->tail = c->prev;
	reactor_timer_cancel(a->r, &c->timer);
	reactor_del(a->r, &c->io);
	close(c->io.fd);
	a->nclients--;
	reactor_defer(a->r, &c->reaper);
}

static void on_client_timeout(struct reactor_timer *t)
{
	client_close(CONTAINER(t, struct admin_client, timer));
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

/* Queue the answer and switch the connection to writing; the reply's body is freed here. */
static void respond(struct admin_client *c, struct admin_reply *rp)
{
	const char *body = rp->body ? rp->body : rp->text ? rp->text : "";
	size_t blen = strlen(body);
	size_t cap = blen + 256;
	c->resp = malloc(cap);
	if (!c->resp) {
		free(rp->body);
		client_close(c);
		return;
	}
	c->resplen = (size_t)snprintf(c->resp, cap,
	                              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                              "Connection: close\r\nCache-Control: no-store\r\n\r\n",
	                              rp->status, reason_phrase(rp->status),
	                              rp->ctype ? rp->ctype : "text/plain", blen);
	memcpy(c->resp + c->resplen, body, blen);
	c->resplen += blen;
	free(rp->body);
	reactor_set_events(c->srv->r, &c->io, EPOLLOUT);
}

static void handle_request(struct admin_client *c, const struct http_head *h)
{
	struct admin_http *a = c->srv;
	struct admin_reply rp = {404, NULL, a->o.not_found ? a->o.not_found : "not found\n", NULL, ""};
	const char *q = memchr(h->target.p, '?', h->target.len);
	size_t plen = q ? (size_t)(q - h->target.p) : h->target.len;
	char path[PATH_MAX_LEN];
	if (!http_view_eq_ci(h->method, "GET")) {
		admin_reply_text(&rp, 405, "only GET\n");
	} else if (plen < sizeof(path)) {
		memcpy(path, h->target.p, plen);
		path[plen] = '\0';
		a->o.handle(a->o.arg, path, &rp);
	}
	respond(c, &rp);
}

static void on_admin_client(struct reactor_io *io, uint32_t events)
{
	struct admin_client *c = CONTAINER(io, struct admin_client, io);
	(void)events;
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
	ssize_t r = recv(io->fd, c->req + c->reqlen, sizeof(c->req) - c->reqlen, 0);
	if (r <= 0) {
		if (r == 0 || errno != EAGAIN)
			client_close(c);
		return;
	}
	c->reqlen += (size_t)r;
	struct http_head h;
	const char *why;
	switch (http_head_parse(c->req, c->reqlen, &h, &why)) {
	case HTTP_HEAD_DONE:
		handle_request(c, &h);
		break;
	case HTTP_HEAD_INVALID: {
		struct admin_reply rp = {.status = 400, .text = "bad request\n"};
		respond(c, &rp);
		break;
	}
	case HTTP_HEAD_NEED_MORE:
		if (c->reqlen == sizeof(c->req)) {
			struct admin_reply rp = {.status = 431, .text = "request too large\n"};
			respond(c, &rp);
		}
		break;
	}
}

/* Refusals and evictions are counted, and logged at most once a second with how many there were. */
static void note_flood(struct admin_http *a, const char *what)
{
	if (a->o.refused)
		atomic_fetch_add(a->o.refused, 1);
	a->flood_unlogged++;
	uint64_t now = reactor_now(a->r);
	if (a->last_flood_log_ms && now - a->last_flood_log_ms < FLOOD_LOG_INTERVAL_MS)
		return;
	a->last_flood_log_ms = now;
	log_msg(LOG_WARN, "admin_flood", NULL,
	        "admin port: %s (%llu connection%s since the last line); probes are still answered", what,
	        (unsigned long long)a->flood_unlogged, a->flood_unlogged == 1 ? "" : "s");
	a->flood_unlogged = 0;
}

/* At the cap, the oldest client that has not finished its request makes room: a probe sends its request
 * at once and is answered in the same turn, so idle connections can never lock probes out. */
static bool make_room(struct admin_http *a)
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
	struct admin_http *a = CONTAINER(io, struct admin_http, io);
	(void)events;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len;
		int fd = net_accept(io->fd, &peer, &len);
		if (fd < 0)
			return;
		struct admin_client *c = NULL;
		if (a->nclients < ADMIN_HTTP_MAX_CLIENTS || make_room(a))
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
		    reactor_timer_arm(a->r, &c->timer, ADMIN_HTTP_TIMEOUT_MS) < 0) {
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

static int listen_on(struct admin_http *a)
{
	int fd = net_listen(&a->addr, false, 256);
	if (fd < 0) {
		log_msg(LOG_CRITICAL, "listen_failed", NULL, "cannot listen on admin address %s: %s",
		        a->addr.text, strerror(-fd));
		return fd;
	}
	a->io = (struct reactor_io){.fd = fd, .on_event = on_admin_accept};
	int err = reactor_add(a->r, &a->io, EPOLLIN);
	if (err < 0)
		close(fd);
	return err;
}

static struct admin_http *server_new(const struct admin_http_opts *o)
{
	struct admin_http *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->o = *o;
	a->addr = *o->addr;
	a->o.addr = &a->addr;
	return a;
}

int admin_http_start(struct reactor *r, const struct admin_http_opts *o, struct admin_http **out)
{
	struct admin_http *a = server_new(o);
	if (!a)
		return FIXGW_ENOMEM;
	a->r = r;
	int err = listen_on(a);
	if (err < 0) {
		free(a);
		return err;
	}
	*out = a;
	return 0;
}

static void on_tick(struct reactor_timer *t)
{
	struct admin_http *a = CONTAINER(t, struct admin_http, tick);
	a->o.tick(a->o.arg);
	(void)reactor_timer_arm(a->r, t, a->o.tick_ms); /* no memory: the heap never shrinks, so this holds */
}

static void *admin_thread(void *arg)
{
	struct admin_http *a = arg;
	reactor_run(a->r);
	return NULL;
}

int admin_http_spawn(const struct admin_http_opts *o, struct admin_http **out)
{
	struct admin_http *a = server_new(o);
	if (!a)
		return FIXGW_ENOMEM;
	int err = reactor_init(&a->own);
	if (err < 0)
		goto free_server;
	a->r = &a->own;
	if ((err = listen_on(a)) < 0)
		goto fini_reactor;
	a->tick.on_timer = on_tick;
	if (a->o.tick && a->o.tick_ms && (err = reactor_timer_arm(a->r, &a->tick, 0)) < 0)
		goto close_listener;
	if ((err = -pthread_create(&a->thread, NULL, admin_thread, a)) < 0)
		goto close_listener;
	a->spawned = true;
	*out = a;
	return 0;
close_listener:
	reactor_del(a->r, &a->io);
	close(a->io.fd);
fini_reactor:
	reactor_fini(&a->own);
free_server:
	free(a);
	return err;
}

void admin_http_stop(struct admin_http *a)
{
	if (!a)
		return;
	if (a->spawned) {
		reactor_stop(a->r);
		pthread_join(a->thread, NULL);
	}
	while (a->head)
		client_close(a->head);
	reactor_flush(a->r);
	reactor_del(a->r, &a->io);
	close(a->io.fd);
	if (a->spawned)
		reactor_fini(&a->own);
	free(a);
}

void admin_reply_line(struct admin_reply *r, int status, const char *line)
{
	snprintf(r->buf, sizeof(r->buf), "%.*s\n", (int)sizeof(r->buf) - 2, line);
	admin_reply_text(r, status, r->buf);
}

void admin_reply_metrics(struct admin_reply *r, struct otlp_exporter *e, otlp_collect_fn collect, void *arg)
{
	struct otlp_metric_set set;
	otlp_metric_set_init(&set);
	set.time_ns = otlp_now_ns();
	if (e)
		otlp_exporter_collect(e, &set);
	else if (collect)
		collect(arg, &set);
	size_t len;
	char *text = NULL;
	if (otlp_prom_render(&set, &text, &len) == 0) {
		r->status = 200;
		r->ctype = OTLP_PROM_CONTENT_TYPE;
		r->body = text;
	} else {
		admin_reply_text(r, 500, "out of memory\n");
	}
	otlp_metric_set_free(&set);
}
