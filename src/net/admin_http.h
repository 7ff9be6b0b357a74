/* admin_http.h - the bounded admin HTTP listener that the gateway, the reject engine and the operator share
 * for /healthz, /readyz and /metrics (and the gateway's /routes, /route-stats).
 *
 * GET only, one request per connection (answered with Connection: close), the head parsed by
 * core/http_head.h into a 4 KiB buffer (more: 431), 5 s from accept to the last byte of the answer, at most
 * 64 connections: at the cap the oldest connection still sending its request is closed to make room, so a
 * flood of idle connections never locks a probe out (a probe sends its request at once and is answered in
 * the same loop turn). Refusals and evictions are counted and logged at most once a second.
 *
 * The listener runs on a reactor the caller owns (admin_http_start: the gateway's control thread), or on a
 * reactor and thread of its own (admin_http_spawn: the reject engine and the operator), so that it can say
 * "stuck" (503) about a loop that no longer turns instead of timing out with it.
 *
 *	static void handle(void *arg, const char *path, struct admin_reply *r) { ... admin_reply_text(...) }
 *	struct admin_http_opts o = {.addr = &addr, .handle = handle, .arg = me, .refused = &me->refused};
 *	struct admin_http *a;
 *	if (admin_http_spawn(&o, &a) == 0) { ...; admin_http_stop(a); }
 */
#ifndef FIXGW_NET_ADMIN_HTTP_H
#define FIXGW_NET_ADMIN_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/reactor.h"
#include "net/sock.h"
#include "telemetry/otlp.h"

#define ADMIN_HTTP_REQ_MAX     4096 /* bytes of a request head */
#define ADMIN_HTTP_TIMEOUT_MS  5000 /* from accept to the answer's last byte */
#define ADMIN_HTTP_MAX_CLIENTS 64

/** An answer, filled by the handler: a status and either a static text or a malloc'd body that the
 * listener takes over (and frees). ctype NULL means text/plain. */
struct admin_reply {
	int status;
	const char *ctype;
	const char *text; /* static (or buf), NUL-terminated */
	char *body;       /* owned once set; wins over text */
	char buf[192];    /* for admin_reply_line */
};

/** Set a static plain-text answer. */
static inline void admin_reply_text(struct admin_reply *r, int status, const char *text)
{
	r->status = status;
	r->ctype = NULL;
	r->text = text;
}

/** Answer with one line of text (cut to fit), e.g. why a probe fails. */
void admin_reply_line(struct admin_reply *r, int status, const char *line);

/** Answer a GET of path (the request target without its query). Runs on the listener's thread; the
 * reply starts as 404 "not found". */
typedef void (*admin_http_handler)(void *arg, const char *path, struct admin_reply *r);

struct admin_http_opts {
	const struct net_addr *addr; /* copied at start */
	admin_http_handler handle;
	void *arg;
	const char *not_found;         /* the 404 body: which paths exist (static); NULL = a generic one */
	atomic_uint_fast64_t *refused; /* connections refused or evicted (flood), or NULL */
	/* admin_http_spawn only: called on the listener's thread every tick_ms (0 = never), e.g. to ping the
	 * loop whose health /healthz reports */
	void (*tick)(void *arg);
	uint32_t tick_ms;
};

struct admin_http;

/** Listen on o->addr and serve on r (the caller's thread runs r). Returns 0, or -errno when the address
 * cannot be bound (logged CRITICAL as listen_failed), or FIXGW_ENOMEM. */
int admin_http_start(struct reactor *r, const struct admin_http_opts *o, struct admin_http **out);

/** As admin_http_start, on a reactor and thread of its own (started here, joined by admin_http_stop). */
int admin_http_spawn(const struct admin_http_opts *o, struct admin_http **out);

/** Close every connection and the listener (and stop and join the thread of admin_http_spawn). From the
 * thread that started it (admin_http_start: the reactor's thread, or after its loop stopped). a may be
 * NULL. */
void admin_http_stop(struct admin_http *a);

/** Render metrics in Prometheus text for /metrics: through the exporter e (every registered collector
 * plus the exporter's own counters) when export is on, else straight from collect(arg). Fills r with a
 * 200 and the text, or a 500 when out of memory. */
void admin_reply_metrics(struct admin_reply *r, struct otlp_exporter *e, otlp_collect_fn collect, void *arg);

#endif
