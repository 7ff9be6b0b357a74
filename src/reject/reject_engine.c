/* reject_engine.c - accept, read one Logon, answer one Logout, close (see reject_engine.h and
 * docs/internals/reject-engine.md).
 *
 * Reading guide: the per-connection state machine is conn_step() with one handler per state
 * (st_read_logon, st_write_logout, st_linger) and one entry action per state (conn_enter). Everything
 * that ends a connection goes through conn_enter(RJ_CLOSED), which closes the fd at once but frees the
 * memory from a deferred callback: later events of the same epoll batch may still point at it, and a
 * CLOSED connection ignores them.
 */
#include "reject/reject_engine.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/fix_dict.h"
#include "core/fix_logout.h"
#include "core/fix_scan.h"
#include "core/redact.h"
#include "net/fault.h"
#include "net/reactor.h"
#include "telemetry/log.h"
#include "telemetry/otlp.h"

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define RJ_COMPONENT         "reject-engine"
#define RJ_MAX_FIELDS        FIX_SCAN_DEFAULT_MAX_FIELDS /* same bound as the gateway's scanner */
#define RJ_INITIAL_BUF       512u                        /* most Logons are 100-300 bytes */
#define RJ_ACCEPT_BATCH      64                          /* accepts per readiness event: stay fair to reads */
#define RJ_ACCEPT_BACKOFF_MS 100u
#define RJ_WARN_INTERVAL_MS  1000u /* rate-limited warnings: at most one line per second */
#define RJ_DUMP_MAX          2560u /* rendered received bytes per log line (fits LOG_LINE_MAX escaped) */
#define RJ_VALUE_MAX         300u  /* a rendered CompID/BeginString (copied ones are <= 64 bytes) */
#define RJ_SPAN_VALUE        80u   /* the same for a span attribute (cut beyond) */
#define RJ_LINGER_SCRATCH    4096u
#define RJ_WRITE_TIMEOUT_MS  5000u /* a Logout (< 1 KiB) only waits on a peer that stopped reading */

enum rj_state {
	RJ_READ_LOGON,   /* accumulating the Logon, logon deadline armed */
	RJ_WRITE_LOGOUT, /* the Logout is built; waiting for the socket to take it */
	RJ_LINGER,       /* Logout written and FIN sent; draining input until the peer closes */
	RJ_CLOSED,       /* fd closed; memory freed by a deferred callback */
};

enum rj_event {
	RJ_EV_IO,       /* the fd is ready (or in error: the next read/write reports it) */
	RJ_EV_TIMER,    /* the state's deadline passed */
	RJ_EV_SHUTDOWN, /* the drain timeout passed: close whatever the state */
};

struct rj_conn {
	struct reject_engine *eng;
	struct rj_conn *prev, *next; /* the engine's open connections (drain walks them) */
	struct reactor_io io;
	struct reactor_timer timer; /* logon deadline, then write and linger deadlines */
	struct reactor_deferred release;
	enum rj_state state;
	enum reject_outcome outcome; /* valid once CLOSED, or LOGOUT_SENT from LINGER on */
	const char *why;             /* detail for the close line: a constant string */
	int sys_err;                 /* errno behind IO_ERROR, 0 if none */
	uint64_t accepted_ms;
	uint64_t accepted_ns; /* wall clock, for the span */
	char peer[64];
	uint8_t trace_id[16], span_id[8]; /* the connection's span, on every line about it */
	size_t logon_len;                 /* of the answered Logon (the buffer is gone by the close) */
	bool span_fields;                 /* the three below are rendered (redacted) for the span */
	char span_begin[RJ_SPAN_VALUE], span_sender[RJ_SPAN_VALUE], span_target[RJ_SPAN_VALUE];
	struct log_ctx log;

	/* The Logon: an append-only buffer of at most max_logon_bytes + 1 bytes (one more than the limit so
	 * that the scanner can tell "too large" from "exactly at the limit"). Freed once the Logout is out.
	 */
	char *buf;
	size_t len, cap;
	struct fix_scanner sc;
	struct fix_field fields[RJ_MAX_FIELDS];

	char out[FIX_LOGOUT_MAX_BYTES];
	size_t out_len, out_off;
};

/* A warning that may fire thousands of times a second (capacity, accept errors): one line per interval
 * carrying how many times it happened, and a timer so the last burst is reported too. */
struct rj_warn_limiter {
	struct reactor_timer timer;
	struct reject_engine *eng;
	const char *event;
	uint64_t last_ms; /* when the last line was written; 0 = never */
	uint64_t pending; /* occurrences not reported yet */
	int last_err;     /* errno of the last occurrence, 0 when not an error */
};

struct reject_engine {
	struct reject_config cfg;
	const char *reason;
	struct reactor reactor;
	bool reactor_ready;
	struct reactor_io listen_io; /* fd -1 once closed */
	char address[64];
	struct log_ctx log;

	struct reactor_timer accept_resume; /* back-off after EMFILE & co. */
	struct reactor_timer drain_deadline;
	struct rj_warn_limiter over_capacity, accept_error;

	struct rj_conn *conns;
	uint64_t next_conn_id;
	uint64_t rng[2]; /* trace and span ids */
	volatile sig_atomic_t stop_requested;
	bool draining;

	struct reject_counters ctr; /* updated with relaxed atomics: telemetry reads from other threads */

	/* Health, read by the admin thread: ping_ms is when the last ping was posted, pong_ms the ping the
	 * loop answered last (equal: answered); phase is enum rj_phase. */
	atomic_uint_fast64_t ping_ms, pong_ms;
	atomic_int phase;
};

enum rj_phase {
	RJ_PHASE_STARTING = 0, /* created, reject_engine_run not yet listening */
	RJ_PHASE_LISTENING,
	RJ_PHASE_DRAINING, /* stop requested: no longer accepting */
};

static const char *const outcome_names[REJECT_OUT_COUNT] = {
    [REJECT_OUT_LOGOUT_SENT] = "logout_sent",
    [REJECT_OUT_INVALID] = "invalid",
    [REJECT_OUT_TOO_LARGE] = "too_large",
    [REJECT_OUT_TIMEOUT] = "timeout",
    [REJECT_OUT_EOF] = "eof",
    [REJECT_OUT_EMPTY] = "empty",
    [REJECT_OUT_UNANSWERABLE] = "unanswerable",
    [REJECT_OUT_IO_ERROR] = "io_error",
    [REJECT_OUT_OVER_CAPACITY] = "over_capacity",
    [REJECT_OUT_SHUTDOWN] = "shutdown",
};

const char *reject_outcome_name(enum reject_outcome o)
{
	return (unsigned)o < REJECT_OUT_COUNT ? outcome_names[o] : "?";
}

void reject_config_defaults(struct reject_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->reason = REJECT_DEFAULT_REASON;
	cfg->max_logon_bytes = REJECT_DEFAULT_MAX_LOGON_BYTES;
	cfg->logon_timeout_ms = REJECT_DEFAULT_LOGON_TIMEOUT_MS;
	cfg->max_connections = REJECT_DEFAULT_MAX_CONNECTIONS;
	cfg->linger_ms = REJECT_DEFAULT_LINGER_MS;
	cfg->drain_timeout_ms = REJECT_DEFAULT_DRAIN_TIMEOUT_MS;
}

/* ---- counters ---- */

static void ctr_inc(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static void ctr_dec(uint64_t *c)
{
	__atomic_fetch_sub(c, 1, __ATOMIC_RELAXED);
}

static uint64_t ctr_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void reject_engine_counters(const struct reject_engine *e, struct reject_counters *out)
{
	out->accepted = ctr_get(&e->ctr.accepted);
	out->active = ctr_get(&e->ctr.active);
	out->accept_backoffs = ctr_get(&e->ctr.accept_backoffs);
	for (size_t i = 0; i < REJECT_OUT_COUNT; i++)
		out->outcomes[i] = ctr_get(&e->ctr.outcomes[i]);
}

/* ---- rate-limited warnings ---- */

static void limiter_flush(struct rj_warn_limiter *l)
{
	struct reject_engine *e = l->eng;
	struct log_line line;

	if (!l->pending)
		return;
	log_begin(&line, LOG_WARN, l->event, &e->log);
	log_uint(&line, "count", l->pending);
	if (l->last_err)
		log_str(&line, "error", strerror(l->last_err));
	if (l == &e->over_capacity)
		log_end(&line, "max_connections (%u) reached: %llu connection(s) closed at accept",
		        e->cfg.max_connections, (unsigned long long)l->pending);
	else
		log_end(&line, "accept failed %llu time(s); accepting paused for %u ms each time",
		        (unsigned long long)l->pending, RJ_ACCEPT_BACKOFF_MS);
	l->pending = 0;
	l->last_ms = reactor_now(&e->reactor);
}

static void limiter_on_timer(struct reactor_timer *t)
{
	limiter_flush(container_of(t, struct rj_warn_limiter, timer));
}

static void limiter_init(struct rj_warn_limiter *l, struct reject_engine *e, const char *event)
{
	memset(l, 0, sizeof(*l));
	l->eng = e;
	l->event = event;
	l->timer.on_timer = limiter_on_timer;
}

/* Count one occurrence; write now if the last line is at least an interval old, else make sure the
 * timer will write the count when the interval ends. */
static void limiter_note(struct rj_warn_limiter *l, int err)
{
	struct reactor *r = &l->eng->reactor;
	uint64_t now = reactor_now(r);

	l->pending++;
	l->last_err = err;
	if (l->last_ms == 0 || now >= l->last_ms + RJ_WARN_INTERVAL_MS) {
		reactor_timer_cancel(r, &l->timer);
		limiter_flush(l);
	} else if (!reactor_timer_armed(&l->timer)) {
		/* If arming fails (no memory for the heap) the count goes out with the next occurrence. */
		(void)reactor_timer_arm(r, &l->timer, l->last_ms + RJ_WARN_INTERVAL_MS - now);
	}
}

/* ---- connection: logging ---- */

/* Render a Logon field's value for a log line (escaped; secrets masked). False when absent. */
static bool render_field(const struct rj_conn *c, uint32_t tag, char *out, size_t cap)
{
	struct fix_field f;

	if (tag == FIX_TAG_BEGIN_STRING) {
		f = fix_scan_begin_string(&c->sc);
		if (!c->sc.nfields)
			return false;
	} else if (fix_scan_find(&c->sc, c->buf, tag, &f) == FIX_LOOKUP_ABSENT) {
		return false;
	}
	return redact_value(c->eng->cfg.policy, tag, c->buf + f.value_off, f.value_len, out, cap) !=
	       REDACT_HIDE;
}

static void log_field(struct log_line *l, const struct rj_conn *c, const char *key, uint32_t tag)
{
	char v[RJ_VALUE_MAX];

	if (render_field(c, tag, v, sizeof(v)))
		log_str(l, key, v);
}

/* The one INFO line per rejection. Written once the Logout is in the kernel, while the Logon is still
 * at hand for the CompIDs. */
static void log_rejection(const struct rj_conn *c)
{
	struct log_line l;

	log_begin(&l, LOG_INFO, "reject", &c->log);
	log_field(&l, c, "begin_string", FIX_TAG_BEGIN_STRING);
	log_field(&l, c, "sender_comp_id", FIX_TAG_SENDER_COMP_ID);
	log_field(&l, c, "target_comp_id", FIX_TAG_TARGET_COMP_ID);
	log_str(&l, "reason", c->eng->reason);
	log_uint(&l, "logon_bytes", c->sc.length);
	log_end(&l, "answered the Logon with a Logout");
}

/* The line for a connection closed without a Logout: why, and what it sent (rendered by redact_dump, so
 * secrets are masked and nothing is echoed raw). A peer that closes without sending anything is most
 * likely a TCP health check: DEBUG, not WARN, or probes would drown real problems. */
static void log_unanswered(const struct rj_conn *c)
{
	enum log_level lvl = c->outcome == REJECT_OUT_EMPTY ? LOG_DEBUG : LOG_WARN;
	struct log_line l;
	char dump[RJ_DUMP_MAX];

	log_begin(&l, lvl, "reject_unanswered", &c->log);
	if (!l.enabled)
		return;
	log_str(&l, "outcome", reject_outcome_name(c->outcome));
	log_str(&l, "detail", c->why);
	if (c->sys_err)
		log_str(&l, "error", strerror(c->sys_err));
	log_field(&l, c, "begin_string", FIX_TAG_BEGIN_STRING);
	log_uint(&l, "received_bytes", c->len);
	if (c->len) {
		redact_dump(c->eng->cfg.policy, c->buf, c->len, dump, sizeof(dump));
		log_str(&l, "received", dump);
	}
	log_uint(&l, "duration_ms", reactor_now(&c->eng->reactor) - c->accepted_ms);
	log_end(&l, "closed without a Logout: %s", c->why ? c->why : reject_outcome_name(c->outcome));
}

/* ---- connection: its span ---- */

/* Render the Logon's identities for the span while the Logon is still at hand (an empty string when
 * absent or hidden). */
static void capture_span_fields(struct rj_conn *c)
{
	if (!c->eng->cfg.otlp || c->span_fields || !c->buf || !c->sc.nfields)
		return;
	c->span_fields = true;
	if (!render_field(c, FIX_TAG_BEGIN_STRING, c->span_begin, sizeof(c->span_begin)))
		c->span_begin[0] = '\0';
	if (!render_field(c, FIX_TAG_SENDER_COMP_ID, c->span_sender, sizeof(c->span_sender)))
		c->span_sender[0] = '\0';
	if (!render_field(c, FIX_TAG_TARGET_COMP_ID, c->span_target, sizeof(c->span_target)))
		c->span_target[0] = '\0';
}

/* One SERVER span per connection, from accept to close: every connection here is a routing decision
 * other than ROUTE, so all are traced (no sampling). The Logout reason (Text 58) is an attribute; the
 * CompIDs go through the same redaction as the log lines. */
static void emit_span(struct rj_conn *c)
{
	struct reject_engine *e = c->eng;
	struct otlp_attr a[12];
	size_t n = 0;
	char host[64];
	const char *colon = strrchr(c->peer, ':');
	size_t hl = colon ? (size_t)(colon - c->peer) : strlen(c->peer);
	if (hl >= 2 && c->peer[0] == '[' && c->peer[hl - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), c->peer + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)hl, c->peer);
	const char *lport = strrchr(e->address, ':');
	a[n++] = OTLP_STR("network.peer.address", host);
	a[n++] = OTLP_INT("network.peer.port", colon ? strtol(colon + 1, NULL, 10) : 0);
	a[n++] = OTLP_INT("server.port", lport ? strtol(lport + 1, NULL, 10) : 0);
	a[n++] = OTLP_STR("network.transport", "tcp");
	a[n++] = OTLP_STR("fixgw.decision", "REJECT_ENGINE");
	a[n++] = OTLP_STR("fixgw.reject.outcome", reject_outcome_name(c->outcome));
	if (c->outcome == REJECT_OUT_LOGOUT_SENT)
		a[n++] = OTLP_STR("fixgw.logout.reason", e->reason);
	else if (c->why)
		a[n++] = OTLP_STR("fixgw.close.reason", c->why);
	a[n++] = OTLP_INT("fixgw.logon.bytes",
	                  (int64_t)(c->outcome == REJECT_OUT_LOGOUT_SENT ? c->logon_len : c->len));
	if (c->span_begin[0])
		a[n++] = OTLP_STR("fixgw.field.BeginString8", c->span_begin);
	if (c->span_sender[0])
		a[n++] = OTLP_STR("fixgw.field.SenderCompID49", c->span_sender);
	if (c->span_target[0])
		a[n++] = OTLP_STR("fixgw.field.TargetCompID56", c->span_target);
	bool ok = c->outcome == REJECT_OUT_LOGOUT_SENT;
	struct otlp_span sp = {.name = "fixgw.reject_engine.connection",
	                       .kind = OTLP_SPAN_SERVER,
	                       .start_ns = c->accepted_ns,
	                       .end_ns = otlp_now_ns(),
	                       .status = ok ? OTLP_STATUS_UNSET : OTLP_STATUS_ERROR,
	                       .status_message = ok ? NULL : reject_outcome_name(c->outcome),
	                       .attrs = a,
	                       .nattrs = n};
	memcpy(sp.trace_id, c->trace_id, sizeof(sp.trace_id));
	memcpy(sp.span_id, c->span_id, sizeof(sp.span_id));
	otlp_span_emit(e->cfg.otlp, &sp);
}

/* ---- connection: lifecycle ---- */

static void conn_release(struct reactor_deferred *d)
{
	struct rj_conn *c = container_of(d, struct rj_conn, release);

	free(c->buf);
	free(c);
}

static void conn_unlink(struct rj_conn *c)
{
	struct reject_engine *e = c->eng;

	if (c->prev)
		c->prev->next = c->next;
	else
		e->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* Record why the connection ends; the caller returns the RJ_CLOSED this gives back. */
static enum rj_state conn_fail(struct rj_conn *c, enum reject_outcome o, const char *why, int sys_err)
{
	c->outcome = o;
	c->why = why;
	c->sys_err = sys_err;
	return RJ_CLOSED;
}

/* Entry action of CLOSED: the only place a connection's fd is closed and its counters settle. */
static void conn_close(struct rj_conn *c)
{
	struct reject_engine *e = c->eng;

	if (c->outcome != REJECT_OUT_LOGOUT_SENT)
		log_unanswered(c);
	else
		log_msg(LOG_DEBUG, "closed", &c->log, "connection closed after the Logout (%s)",
		        c->why ? c->why : "peer closed");
	if (e->cfg.otlp) {
		capture_span_fields(c);
		emit_span(c);
	}
	reactor_timer_cancel(&e->reactor, &c->timer);
	reactor_del(&e->reactor, &c->io);
	close(c->io.fd);
	c->io.fd = -1;
	conn_unlink(c);
	ctr_inc(&e->ctr.outcomes[c->outcome]);
	ctr_dec(&e->ctr.active);
	reactor_defer(&e->reactor, &c->release);
	if (e->draining && !e->conns) {
		reactor_timer_cancel(&e->reactor, &e->drain_deadline);
		reactor_stop(&e->reactor);
	}
}

/* ---- state READ_LOGON ---- */

/* Make room for more bytes, up to max_logon_bytes + 1. False only when out of memory. */
static bool logon_buf_reserve(struct rj_conn *c)
{
	size_t limit = (size_t)c->eng->cfg.max_logon_bytes + 1;

	if (c->len < c->cap || c->cap >= limit)
		return true;
	size_t ncap = c->cap ? c->cap * 2 : RJ_INITIAL_BUF;
	if (ncap > limit)
		ncap = limit;
	char *nbuf = realloc(c->buf, ncap);
	if (!nbuf)
		return false;
	c->buf = nbuf;
	c->cap = ncap;
	return true;
}

static enum rj_state st_read_logon(struct rj_conn *c, enum rj_event ev)
{
	if (ev == RJ_EV_TIMER)
		return conn_fail(c, REJECT_OUT_TIMEOUT, "no complete Logon before the logon timeout", 0);
	if (ev == RJ_EV_SHUTDOWN)
		return conn_fail(c, REJECT_OUT_SHUTDOWN, "shutting down", 0);
	if (!logon_buf_reserve(c))
		return conn_fail(c, REJECT_OUT_IO_ERROR, "out of memory for the Logon buffer", ENOMEM);
	if (c->len == c->cap) /* cannot happen: the scanner says TOO_LARGE first; stay bounded anyway */
		return conn_fail(c, REJECT_OUT_TOO_LARGE, fix_scan_error_str(FIX_SCAN_ERR_TOO_LARGE), 0);

	ssize_t n = recv(c->io.fd, c->buf + c->len, c->cap - c->len, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return RJ_READ_LOGON;
		return conn_fail(c, REJECT_OUT_IO_ERROR, "read failed", errno);
	}
	if (n == 0)
		return c->len ? conn_fail(c, REJECT_OUT_EOF, "peer closed before the Logon was complete", 0)
		              : conn_fail(c, REJECT_OUT_EMPTY, "peer closed without sending anything", 0);
	c->len += (size_t)n;

	switch (fix_scan_step(&c->sc, c->buf, c->len)) {
	case FIX_SCAN_NEED_MORE:
		return RJ_READ_LOGON;
	case FIX_SCAN_COMPLETE:
		return RJ_WRITE_LOGOUT;
	case FIX_SCAN_INVALID:
	default:
		return conn_fail(
		    c, c->sc.error == FIX_SCAN_ERR_TOO_LARGE ? REJECT_OUT_TOO_LARGE : REJECT_OUT_INVALID,
		    fix_scan_error_str(c->sc.error), 0);
	}
}

/* ---- state WRITE_LOGOUT ---- */

/* Hand the rest of the Logout to the kernel. MSG_NOSIGNAL: a peer that reset must not kill us. */
static enum rj_state logout_write(struct rj_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return RJ_WRITE_LOGOUT;
			return conn_fail(c, REJECT_OUT_IO_ERROR, "writing the Logout failed", errno);
		}
		c->out_off += (size_t)n;
	}
	return RJ_LINGER;
}

/* Entry action: build the Logout (fix_logout_build decides what may be echoed), then try to write it. */
static enum rj_state logout_start(struct rj_conn *c)
{
	struct reject_engine *e = c->eng;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (fix_logout_build(&c->sc, c->buf, e->reason, &now, c->out, sizeof(c->out), &c->out_len) != 0)
		return conn_fail(
		    c, REJECT_OUT_UNANSWERABLE,
		    "cannot answer this Logon: a value to echo (BeginString, CompID, SubID, LocationID) is "
		    "longer than 64 bytes or not printable ASCII",
		    0);
	c->out_off = 0;
	/* Stop reading: input after the Logon is never looked at, and EPOLLIN would spin while we write. */
	int rc = reactor_set_events(&e->reactor, &c->io, EPOLLOUT);
	if (rc == 0)
		rc = reactor_timer_arm(&e->reactor, &c->timer, RJ_WRITE_TIMEOUT_MS);
	if (rc < 0)
		return conn_fail(c, REJECT_OUT_IO_ERROR, "cannot wait for the socket", -rc);
	return logout_write(c);
}

static enum rj_state st_write_logout(struct rj_conn *c, enum rj_event ev)
{
	if (ev == RJ_EV_TIMER)
		return conn_fail(c, REJECT_OUT_IO_ERROR, "peer did not take the Logout in time", ETIMEDOUT);
	if (ev == RJ_EV_SHUTDOWN)
		return conn_fail(c, REJECT_OUT_SHUTDOWN, "shutting down while writing the Logout", 0);
	return logout_write(c);
}

/* ---- state LINGER ---- */

/* Entry action: the Logout is out. Log the rejection, drop the Logon, send FIN and wait for the peer to
 * close: closing now with unread input would make the kernel send a RST, and a RST can make the peer
 * discard the Logout before its application reads it. */
static enum rj_state linger_start(struct rj_conn *c)
{
	struct reject_engine *e = c->eng;

	c->outcome = REJECT_OUT_LOGOUT_SENT;
	log_rejection(c);
	capture_span_fields(c);
	c->logon_len = c->sc.length;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
	c->sc.nfields = 0; /* the views pointed into the freed buffer */
	shutdown(c->io.fd, SHUT_WR);
	if (e->cfg.linger_ms == 0) {
		c->why = "no linger configured";
		return RJ_CLOSED;
	}
	if (reactor_set_events(&e->reactor, &c->io, EPOLLIN | EPOLLRDHUP) < 0 ||
	    reactor_timer_arm(&e->reactor, &c->timer, e->cfg.linger_ms) < 0) {
		c->why = "cannot wait for the peer to close";
		return RJ_CLOSED;
	}
	return RJ_LINGER;
}

static enum rj_state st_linger(struct rj_conn *c, enum rj_event ev)
{
	char scratch[RJ_LINGER_SCRATCH];

	if (ev == RJ_EV_TIMER) {
		c->why = "linger time over";
		return RJ_CLOSED;
	}
	if (ev == RJ_EV_SHUTDOWN) {
		c->why = "shutting down";
		return RJ_CLOSED;
	}
	/* Whatever the peer still sends is read and dropped unseen: only to keep the receive queue empty. */
	ssize_t n = recv(c->io.fd, scratch, sizeof(scratch), 0);
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
		return RJ_LINGER;
	c->why = n == 0 ? "peer closed" : "peer reset";
	return RJ_CLOSED;
}

/* ---- the state machine ---- */

/* Entry actions; each may move on at once (a Logout written in one go goes straight to LINGER). */
static enum rj_state conn_enter(struct rj_conn *c, enum rj_state s)
{
	switch (s) {
	case RJ_WRITE_LOGOUT:
		return logout_start(c);
	case RJ_LINGER:
		return linger_start(c);
	case RJ_CLOSED:
		conn_close(c);
		return RJ_CLOSED;
	case RJ_READ_LOGON:
	default:
		return s;
	}
}

static void conn_step(struct rj_conn *c, enum rj_event ev)
{
	enum rj_state next;

	switch (c->state) {
	case RJ_READ_LOGON:
		next = st_read_logon(c, ev);
		break;
	case RJ_WRITE_LOGOUT:
		next = st_write_logout(c, ev);
		break;
	case RJ_LINGER:
		next = st_linger(c, ev);
		break;
	case RJ_CLOSED:
	default:
		return; /* a later event of the batch for a connection closed earlier in it */
	}
	while (next != c->state) {
		c->state = next;
		next = conn_enter(c, next);
	}
}

static void conn_on_io(struct reactor_io *io, uint32_t events)
{
	(void)events; /* errors and hang-ups surface through the next recv/send */
	conn_step(container_of(io, struct rj_conn, io), RJ_EV_IO);
}

static void conn_on_timer(struct reactor_timer *t)
{
	conn_step(container_of(t, struct rj_conn, timer), RJ_EV_TIMER);
}

/* ---- accepting ---- */

static void listener_on_event(struct reactor_io *io, uint32_t events);

/* Take a freshly accepted fd into the state machine. On failure the fd is closed and counted. */
static void conn_open(struct reject_engine *e, int fd, const struct sockaddr_storage *peer,
                      socklen_t peer_len)
{
	struct rj_conn *c = calloc(1, sizeof(*c));
	int rc;

	ctr_inc(&e->ctr.accepted);
	if (!c) {
		close(fd);
		ctr_inc(&e->ctr.outcomes[REJECT_OUT_IO_ERROR]);
		log_msg(LOG_WARN, "reject_unanswered", &e->log,
		        "out of memory for a new connection; closed it");
		return;
	}
	c->eng = e;
	c->io = (struct reactor_io){.fd = fd, .on_event = conn_on_io};
	c->timer.on_timer = conn_on_timer;
	c->release.run = conn_release;
	c->state = RJ_READ_LOGON;
	c->accepted_ms = reactor_now(&e->reactor);
	net_addr_format((const struct sockaddr *)peer, peer_len, c->peer, sizeof(c->peer));
	c->accepted_ns = otlp_now_ns();
	otlp_random_id(e->rng, c->trace_id, sizeof(c->trace_id));
	otlp_random_id(e->rng, c->span_id, sizeof(c->span_id));
	c->log = e->log;
	c->log.peer = c->peer;
	c->log.conn_id = ++e->next_conn_id;
	c->log.trace_bytes = c->trace_id;
	c->log.span_bytes = c->span_id;
	fix_scan_init(&c->sc, c->fields, RJ_MAX_FIELDS, e->cfg.max_logon_bytes);

	c->next = e->conns;
	if (e->conns)
		e->conns->prev = c;
	e->conns = c;
	ctr_inc(&e->ctr.active);

	rc = reactor_add(&e->reactor, &c->io, EPOLLIN);
	if (rc == 0)
		rc = reactor_timer_arm(&e->reactor, &c->timer, e->cfg.logon_timeout_ms);
	if (rc < 0) {
		c->state = RJ_CLOSED;
		conn_fail(c, REJECT_OUT_IO_ERROR, "cannot watch the new connection", -rc);
		conn_close(c);
		return;
	}
	log_msg(LOG_DEBUG, "accepted", &c->log, "connection accepted");
}

static void accept_resume(struct reactor_timer *t)
{
	struct reject_engine *e = container_of(t, struct reject_engine, accept_resume);

	if (e->draining || e->listen_io.fd < 0)
		return;
	if (reactor_add(&e->reactor, &e->listen_io, EPOLLIN) < 0)
		(void)reactor_timer_arm(&e->reactor, t, RJ_ACCEPT_BACKOFF_MS); /* try again later */
}

/* Out of fds or kernel memory: the listening socket stays readable, so keep it out of epoll for a while
 * rather than spin on a level-triggered event we cannot consume. */
static void accept_backoff(struct reject_engine *e, int err)
{
	reactor_del(&e->reactor, &e->listen_io);
	if (reactor_timer_arm(&e->reactor, &e->accept_resume, RJ_ACCEPT_BACKOFF_MS) < 0)
		(void)reactor_add(&e->reactor, &e->listen_io, EPOLLIN); /* better busy than deaf */
	ctr_inc(&e->ctr.accept_backoffs);
	limiter_note(&e->accept_error, err);
}

static void listener_on_event(struct reactor_io *io, uint32_t events)
{
	struct reject_engine *e = container_of(io, struct reject_engine, listen_io);

	(void)events;
	for (int i = 0; i < RJ_ACCEPT_BATCH && !e->draining; i++) {
		struct sockaddr_storage peer;
		socklen_t peer_len;
		int fd = net_accept(io->fd, &peer, &peer_len);

		if (fd == -EAGAIN || fd == -EWOULDBLOCK)
			return;
		if (fd == -EINTR || fd == -ECONNABORTED || fd == -EPROTO || fd == -EPERM)
			continue; /* that one connection is gone; the next may be fine */
		if (fd < 0) {
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM, or something unexpected: never spin on it. */
			accept_backoff(e, -fd);
			return;
		}
		if (ctr_get(&e->ctr.active) >= e->cfg.max_connections) {
			close(fd);
			ctr_inc(&e->ctr.accepted);
			ctr_inc(&e->ctr.outcomes[REJECT_OUT_OVER_CAPACITY]);
			limiter_note(&e->over_capacity, 0);
			continue;
		}
		long stall_ms;
		if (fault_active("stall_reject_ms", &stall_ms) && stall_ms > 0) {
			/* test-only: an engine stuck in a handler (what /healthz must notice) */
			struct timespec ts = {stall_ms / 1000, (stall_ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
		conn_open(e, fd, &peer, peer_len);
	}
}

/* ---- stopping ---- */

static void drain_deadline(struct reactor_timer *t)
{
	struct reject_engine *e = container_of(t, struct reject_engine, drain_deadline);

	log_msg(LOG_WARN, "drain_timeout", &e->log, "drain timeout (%u ms) over: closing %llu connection(s)",
	        e->cfg.drain_timeout_ms, (unsigned long long)ctr_get(&e->ctr.active));
	struct rj_conn *next;
	for (struct rj_conn *c = e->conns; c; c = next) {
		next = c->next; /* c unlinks itself; next stays valid (frees are deferred) */
		conn_step(c, RJ_EV_SHUTDOWN);
	}
}

static void drain_begin(struct reject_engine *e)
{
	e->draining = true;
	atomic_store(&e->phase, RJ_PHASE_DRAINING);
	reactor_timer_cancel(&e->reactor, &e->accept_resume);
	if (e->listen_io.fd >= 0) {
		reactor_del(&e->reactor, &e->listen_io);
		close(e->listen_io.fd);
		e->listen_io.fd = -1;
	}
	log_msg(LOG_INFO, "draining", &e->log,
	        "stop requested: no longer accepting; %llu connection(s) in flight",
	        (unsigned long long)ctr_get(&e->ctr.active));
	if (!e->conns) {
		reactor_stop(&e->reactor);
		return;
	}
	if (reactor_timer_arm(&e->reactor, &e->drain_deadline, e->cfg.drain_timeout_ms) < 0)
		drain_deadline(&e->drain_deadline);
}

/* Runs once per loop turn: the signal handler only sets a flag and wakes epoll_wait. */
static void before_sleep(struct reactor *r, void *arg)
{
	struct reject_engine *e = arg;

	(void)r;
	if (e->stop_requested && !e->draining)
		drain_begin(e);
}

void reject_engine_stop(struct reject_engine *e)
{
	int saved = errno; /* called from signal handlers */
	uint64_t one = 1;

	e->stop_requested = 1;
	/* The reactor's own wake-up eventfd: reactor_post would allocate and lock, which a signal handler
	 * must not do. */
	ssize_t w = write(e->reactor.wakefd, &one, sizeof(one));
	(void)w;
	errno = saved;
}

/* ---- health (the admin thread asks) ---- */

static void on_ping(void *arg)
{
	struct reject_engine *e = arg;
	atomic_store_explicit(&e->pong_ms, atomic_load(&e->ping_ms), memory_order_relaxed);
}

void reject_engine_ping(struct reject_engine *e)
{
	/* A loop that has not answered the last ping gets no more: its queue would only grow. */
	if (atomic_load(&e->ping_ms) != atomic_load(&e->pong_ms))
		return;
	atomic_store(&e->ping_ms, reactor_clock_ms());
	if (reactor_post(&e->reactor, on_ping, e) < 0)
		atomic_store(&e->ping_ms, atomic_load(&e->pong_ms)); /* no memory: ask again next time */
}

bool reject_engine_stuck(const struct reject_engine *e, char *why, size_t cap)
{
	uint64_t now = reactor_clock_ms();
	uint64_t ping = atomic_load_explicit(&e->ping_ms, memory_order_relaxed);
	uint64_t pong = atomic_load_explicit(&e->pong_ms, memory_order_relaxed);
	if (ping == pong || now <= ping || now - ping <= REJECT_STALL_MS)
		return false;
	snprintf(why, cap, "the reject engine has not turned its event loop for %llu ms",
	         (unsigned long long)(now - ping));
	return true;
}

const char *reject_engine_unready(const struct reject_engine *e)
{
	switch (atomic_load(&e->phase)) {
	case RJ_PHASE_LISTENING:
		return NULL;
	case RJ_PHASE_DRAINING:
		return "draining";
	default:
		return "starting";
	}
}

/* ---- create / run / destroy ---- */

bool reject_reason_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > REJECT_REASON_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static int config_check(const struct reject_config *cfg)
{
	const char *reason = cfg->reason ? cfg->reason : REJECT_DEFAULT_REASON;

	if (!cfg->listen.len || !reject_reason_valid(reason) || cfg->max_logon_bytes == 0 ||
	    cfg->logon_timeout_ms == 0 || cfg->max_connections == 0)
		return FIXGW_EINVAL;
	return 0;
}

static void bound_address(struct reject_engine *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(e->listen_io.fd, (struct sockaddr *)&ss, &len) == 0)
		net_addr_format((struct sockaddr *)&ss, len, e->address, sizeof(e->address));
	else
		snprintf(e->address, sizeof(e->address), "%s", e->cfg.listen.text);
}

int reject_engine_create(const struct reject_config *cfg, struct reject_engine **out)
{
	struct reject_engine *e;
	int rc, fd;

	*out = NULL;
	if ((rc = config_check(cfg)) < 0)
		return rc;
	e = calloc(1, sizeof(*e));
	if (!e)
		return FIXGW_ENOMEM;
	e->cfg = *cfg;
	e->reason = cfg->reason ? cfg->reason : REJECT_DEFAULT_REASON;
	e->listen_io = (struct reactor_io){.fd = -1, .on_event = listener_on_event};
	if ((rc = reactor_init(&e->reactor)) < 0)
		goto free_engine; /* a -errno value */
	e->reactor_ready = true;
	e->reactor.before_sleep = before_sleep;
	e->reactor.before_sleep_arg = e;
	e->accept_resume.on_timer = accept_resume;
	e->drain_deadline.on_timer = drain_deadline;
	limiter_init(&e->over_capacity, e, "over_capacity");
	limiter_init(&e->accept_error, e, "accept_backoff");

	fd = net_listen(&cfg->listen, false, SOMAXCONN);
	if (fd < 0) {
		rc = fd; /* a -errno value: EADDRINUSE says more than EIO */
		goto fini_reactor;
	}
	e->listen_io.fd = fd;
	bound_address(e);
	e->log = (struct log_ctx){.component = RJ_COMPONENT, .listener = e->address};
	otlp_random_seed(e->rng);
	*out = e;
	return 0;

fini_reactor:
	reactor_fini(&e->reactor);
free_engine:
	free(e);
	return rc;
}

const char *reject_engine_address(const struct reject_engine *e)
{
	return e->address;
}

/* {"logout_sent":N,...} for the final log line. */
static const char *outcomes_json(const struct reject_counters *c, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < REJECT_OUT_COUNT && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%llu", i ? "," : "{",
		                      reject_outcome_name((enum reject_outcome)i),
		                      (unsigned long long)c->outcomes[i]);
	if (n + 2 > cap)
		return "{}";
	out[n++] = '}';
	out[n] = '\0';
	return out;
}

int reject_engine_run(struct reject_engine *e)
{
	struct reject_counters c;
	struct log_line l;
	char json[512];
	int rc;

	if (e->listen_io.fd < 0)
		return FIXGW_EINVAL;
	if ((rc = reactor_add(&e->reactor, &e->listen_io, EPOLLIN)) < 0)
		return rc;
	log_begin(&l, LOG_INFO, "listening", &e->log);
	log_str(&l, "address", e->address);
	log_str(&l, "reason", e->reason);
	log_uint(&l, "max_logon_bytes", e->cfg.max_logon_bytes);
	log_uint(&l, "logon_timeout_ms", e->cfg.logon_timeout_ms);
	log_uint(&l, "max_connections", e->cfg.max_connections);
	log_uint(&l, "linger_ms", e->cfg.linger_ms);
	atomic_store(&e->phase, RJ_PHASE_LISTENING); /* before the line: whoever reads it may probe */
	log_end(&l, "reject engine listening on %s", e->address);

	reactor_run(&e->reactor);

	limiter_flush(&e->over_capacity);
	limiter_flush(&e->accept_error);
	reject_engine_counters(e, &c);
	log_begin(&l, LOG_INFO, "stopped", &e->log);
	log_uint(&l, "accepted", c.accepted);
	log_raw(&l, "outcomes", outcomes_json(&c, json, sizeof(json)));
	log_end(&l, "reject engine stopped");
	return 0;
}

static const struct otlp_metric_desc m_connections = {"fixgw.reject_engine.connections",
                                                      "Connections the reject engine accepted",
                                                      "{connection}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_active = {"fixgw.reject_engine.connections.active",
                                                 "Connections the reject engine is serving now",
                                                 "{connection}", OTLP_METRIC_UPDOWN};
static const struct otlp_metric_desc m_rejections = {
    "fixgw.reject_engine.rejections",
    "Connections the reject engine finished, by outcome (logout_sent: answered with the Logout)",
    "{connection}", OTLP_METRIC_COUNTER};

void reject_engine_collect(void *arg, struct otlp_metric_set *set)
{
	struct reject_counters c;
	reject_engine_counters(arg, &c);
	otlp_metric_int(set, &m_connections, NULL, 0, (int64_t)c.accepted);
	otlp_metric_int(set, &m_active, NULL, 0, (int64_t)c.active);
	for (int i = 0; i < REJECT_OUT_COUNT; i++) {
		struct otlp_attr a = OTLP_STR("reason", reject_outcome_name((enum reject_outcome)i));
		otlp_metric_int(set, &m_rejections, &a, 1, (int64_t)c.outcomes[i]);
	}
}

void reject_engine_destroy(struct reject_engine *e)
{
	if (!e)
		return;
	while (e->conns) {
		struct rj_conn *c = e->conns;
		conn_unlink(c);
		if (c->io.fd >= 0)
			close(c->io.fd);
		free(c->buf);
		free(c);
	}
	if (e->listen_io.fd >= 0)
		close(e->listen_io.fd);
	if (e->reactor_ready)
		reactor_fini(&e->reactor);
	free(e);
}
