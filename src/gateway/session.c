/* session.c - one counterparty connection, from accept to close.
 *
 * State machine (one enum, one handler per state; read top to bottom it is the connection's life):
 *
 *   TLS_HANDSHAKE -> LOGON -> (route) -> CONNECTING -> RELAY -> CLOSED
 *                               \-> HOLD --(endpoint ready)--> CONNECTING
 *
 * The Logon buffer is the only per-connection buffer before relaying; once the upstream connects it
 * becomes the first "pending" buffer towards the engine, so the buffered bytes (Logon and anything
 * pipelined after it) are forwarded unchanged without a copy. While relaying, reads land in the worker's
 * scratch buffer and are written straight out; a buffer is allocated only for the part a peer could not
 * take yet, and reading from the other side stops until it drains (backpressure). An idle session holds
 * no buffers at all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/fix_dict.h"
#include "core/fix_scan.h"
#include "core/redact.h"
#include "gateway/worker.h"
#include "net/sock.h"
#include "telemetry/log.h"

#define LOGON_BUF_INITIAL 2048u
#define DUMP_MAX          4096u

enum session_state {
	SS_TLS_HANDSHAKE,
	SS_LOGON,
	SS_HOLD,
	SS_CONNECTING,
	SS_RELAY,
	SS_CLOSED,
};

/* Bytes one side has accepted from us only in part. */
struct pending {
	char *buf;
	uint32_t off, len;
};

/* Where a routed connection goes. */
enum target_kind { TARGET_ROUTE, TARGET_REJECT_ENGINE };

struct session {
	enum session_state state;
	struct gw_worker *w;
	struct gw_listener *listener;
	struct session *next, *prev;           /* worker->sessions */
	struct session *held_next, *held_prev; /* worker->held */
	bool in_held_list;

	struct reactor_io cio, uio; /* client and upstream sockets */
	SSL *ssl;                   /* client-side TLS, or NULL */
	struct reactor_timer timer; /* the deadline of the current state */
	struct reactor_deferred reaper;

	uint64_t id;
	uint64_t accepted_ms, state_since_ms, last_activity_ms;
	char peer[48];
	char trace_id[33], span_id[17];
	struct log_ctx log;

	/* LOGON: the buffered bytes and the scanner over them (freed once routed) */
	char *inbuf;
	uint32_t inlen, incap;
	struct fix_scanner *scan;

	/* routing result */
	enum target_kind target_kind;
	struct route_stats *rs; /* referenced; NULL for the reject engine */
	const char *route_name; /* "namespace/name", or "REJECT_ENGINE" ("" before routing) */
	const char *target_key; /* "namespace/service:port", or "reject-engine" */
	char *names;            /* owned storage of both when routed to a FIXSession (exact size: an idle
	                         * session's memory is mostly this struct) */
	uint32_t hold_timeout_ms;
	uint32_t max_held;
	bool counted_held, counted_active;
	unsigned attempts; /* upstream connection attempts so far */
	uint64_t hold_started_ms;

	/* RELAY */
	struct pending to_upstream, to_client;
	bool client_eof, upstream_eof;   /* read side saw EOF */
	bool upstream_shut, client_shut; /* we sent FIN (or close_notify) */
	uint64_t bytes_from_client, bytes_to_client;
};

static void on_client(struct reactor_io *io, uint32_t events);
static void on_upstream(struct reactor_io *io, uint32_t events);
static void on_timer(struct reactor_timer *t);
static void reap(struct reactor_deferred *d);
static void session_close(struct session *s, enum log_level lvl, const char *event, const char *why);
static void begin_connect(struct session *s);
static void relay_pump(struct session *s, bool to_upstream, bool to_client);
static int flush(struct session *s, struct pending *p, bool to_client);
static void count_bytes(struct session *s, bool from_client, uint64_t n);

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static struct gateway *gw_of(const struct session *s)
{
	return s->w->gw;
}

static uint64_t unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void set_state(struct session *s, enum session_state st)
{
	s->state = st;
	s->state_since_ms = reactor_now(&s->w->reactor);
}

static void arm(struct session *s, uint64_t ms)
{
	reactor_timer_arm(&s->w->reactor, &s->timer, ms);
}

/* Set a socket's interest. No interest means unregistered: epoll reports HUP and ERR even to an empty
 * interest set, which would spin a level-triggered loop on a side we no longer care about. */
static void want(struct session *s, struct reactor_io *io, uint32_t events)
{
	if (io->fd < 0)
		return;
	if (!events) {
		reactor_del(&s->w->reactor, io);
		return;
	}
	if (reactor_set_events(&s->w->reactor, io, events) < 0)
		session_close(s, LOG_ERROR, "internal_error", "epoll_ctl failed");
}

/* ---- lists ---- */

static void list_add(struct session_list *l, struct session *s)
{
	s->prev = NULL;
	s->next = l->head;
	if (l->head)
		l->head->prev = s;
	l->head = s;
	l->count++;
}

static void list_del(struct session_list *l, struct session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	l->count--;
}

/* Held sessions are released oldest first: append at the tail. */
static void held_add(struct gw_worker *w, struct session *s)
{
	s->held_next = NULL;
	s->held_prev = NULL;
	if (!w->held.head) {
		w->held.head = s;
	} else {
		struct session *t = w->held.head;
		while (t->held_next)
			t = t->held_next;
		t->held_next = s;
		s->held_prev = t;
	}
	w->held.count++;
	s->in_held_list = true;
}

static void held_del(struct gw_worker *w, struct session *s)
{
	if (!s->in_held_list)
		return;
	if (s->held_prev)
		s->held_prev->held_next = s->held_next;
	else
		w->held.head = s->held_next;
	if (s->held_next)
		s->held_next->held_prev = s->held_prev;
	w->held.count--;
	s->in_held_list = false;
}

struct session *session_next(const struct session *s)
{
	return s->next;
}

struct session *session_next_held(const struct session *s)
{
	return s->held_next;
}

bool session_is_pre_relay(const struct session *s)
{
	return s->state != SS_RELAY && s->state != SS_CLOSED;
}

/* ---- accept ---- */

void session_start(struct gw_worker *w, struct gw_listener *l, int fd, const struct sockaddr_storage *peer,
                   socklen_t peer_len)
{
	struct gateway *gw = w->gw;
	struct session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return;
	}
	s->w = w;
	s->listener = l;
	s->id = ++w->next_conn_id * 64 + w->index;
	s->cio = (struct reactor_io){.fd = fd, .on_event = on_client};
	s->uio = (struct reactor_io){.fd = -1, .on_event = on_upstream};
	s->route_name = s->target_key = "";
	s->timer.on_timer = on_timer;
	s->reaper.run = reap;
	s->accepted_ms = s->last_activity_ms = reactor_now(&w->reactor);
	net_addr_format((const struct sockaddr *)peer, peer_len, s->peer, sizeof(s->peer));
	worker_random_hex(w, s->trace_id, 16);
	worker_random_hex(w, s->span_id, 8);
	s->log = (struct log_ctx){.component = "gateway",
	                          .listener = l->cfg->name,
	                          .peer = s->peer,
	                          .trace_id = s->trace_id,
	                          .span_id = s->span_id,
	                          .conn_id = s->id};
	list_add(&w->sessions, s);
	atomic_fetch_add(&gw->counters.accepted, 1);
	atomic_fetch_add(&gw->counters.active_connections, 1);

	if (atomic_load(&gw->limits.tcp_nodelay))
		net_set_nodelay(fd, true);
	net_set_busy_poll(fd, atomic_load(&gw->limits.busy_poll_us));
	log_msg(LOG_DEBUG, "connection_accepted", &s->log, "accepted connection from %s", s->peer);

	if (reactor_add(&w->reactor, &s->cio, EPOLLIN | EPOLLRDHUP) < 0) {
		session_close(s, LOG_ERROR, "internal_error", "epoll_ctl failed");
		return;
	}
	/* One absolute deadline covers the TLS handshake and the Logon: trickling bytes never extend it. */
	arm(s, atomic_load(&gw->limits.logon_timeout_ms));
	if (l->tls) {
		s->ssl = tls_server_new_ssl(l->tls, fd);
		if (!s->ssl) {
			session_close(s, LOG_ERROR, "tls_failure", "cannot create a TLS session");
			return;
		}
		set_state(s, SS_TLS_HANDSHAKE);
	} else {
		set_state(s, SS_LOGON);
	}
}

/* ---- TLS handshake ---- */

static void step_tls_handshake(struct session *s)
{
	const char *reason = NULL;
	switch (tls_handshake(s->ssl, &reason)) {
	case TLS_IO_DONE: {
		struct log_line l;
		log_begin(&l, LOG_DEBUG, "tls_established", &s->log);
		log_str(&l, "tls_version", tls_version_name(s->ssl));
		log_str(&l, "tls_cipher", tls_cipher_name(s->ssl));
		log_str(&l, "tls_sni", tls_sni_name(s->ssl));
		log_end(&l, "TLS established");
		set_state(s, SS_LOGON);
		want(s, &s->cio, EPOLLIN | EPOLLRDHUP);
		return;
	}
	case TLS_IO_WANT_READ:
		want(s, &s->cio, EPOLLIN | EPOLLRDHUP);
		return;
	case TLS_IO_WANT_WRITE:
		want(s, &s->cio, EPOLLOUT | EPOLLRDHUP);
		return;
	case TLS_IO_CLOSED:
	case TLS_IO_ERROR:
		atomic_fetch_add(&gw_of(s)->counters.tls_failures, 1);
		{
			struct log_line l;
			log_begin(&l, LOG_WARN, "tls_failure", &s->log);
			log_str(&l, "reason", reason ? reason : "peer closed during the handshake");
			log_str(&l, "tls_sni", tls_sni_name(s->ssl)); /* escaped by the log writer */
			log_end(&l, "TLS handshake failed");
		}
		session_close(s, LOG_DEBUG, "connection_closed", "TLS handshake failed");
		return;
	}
}

/* ---- Logon ---- */

/* Read what is available into the Logon buffer. Returns bytes read, 0 on EOF, -1 on error/none. */
static ssize_t read_client(struct session *s, char *buf, size_t cap, bool *eof, const char **err)
{
	*eof = false;
	*err = NULL;
	if (s->ssl) {
		size_t n = 0;
		switch (tls_read(s->ssl, buf, cap, &n, err)) {
		case TLS_IO_DONE:
			return (ssize_t)n;
		case TLS_IO_WANT_READ:
		case TLS_IO_WANT_WRITE:
			return -1;
		case TLS_IO_CLOSED:
			*eof = true;
			return 0;
		case TLS_IO_ERROR:
			return -2;
		}
		return -2;
	}
	ssize_t r = recv(s->cio.fd, buf, cap, 0);
	if (r == 0)
		*eof = true;
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return -1;
		*err = strerror(errno);
		return -2;
	}
	return r;
}

static const struct redact_policy *current_policy(struct session *s, struct route_table **ref)
{
	*ref = gateway_table(gw_of(s));
	return route_table_policy(*ref);
}

/* WARN line with the received bytes, secrets and hidden tags removed. */
static void fields_json(const struct route_table *t, const struct fix_scanner *sc, const char *buf, char *out,
                        size_t cap);

/* The decision line for a connection no FIXSession takes: the extracted routing fields when the Logon
 * was complete, and the received bytes, both after redaction. `rejected_as` is NO_MATCH or
 * PARSE_FAILURE when the decision is REJECT_ENGINE. */
static void log_with_bytes(struct session *s, const char *decision, const char *rejected_as, const char *why)
{
	struct route_table *t;
	const struct redact_policy *policy = current_policy(s, &t);
	struct log_line l;
	log_begin(&l, LOG_WARN, "routing_decision", &s->log);
	if (l.enabled) {
		char dump[DUMP_MAX], fields[2048];
		redact_dump(policy, s->inbuf ? s->inbuf : "", s->inlen, dump, sizeof(dump));
		log_str(&l, "decision", decision);
		if (rejected_as)
			log_str(&l, "rejected_as", rejected_as);
		log_str(&l, "reason", why);
		if (s->scan && s->scan->length) { /* a complete Logon: what routing looked at */
			fields_json(t, s->scan, s->inbuf, fields, sizeof(fields));
			log_raw(&l, "fields", fields);
		}
		log_uint(&l, "received_bytes", s->inlen);
		log_str(&l, "bytes", dump);
		log_end(&l, "%s: %s", decision, why);
	}
	route_table_unref(t);
}

static void reject_or_close(struct session *s, enum gw_reject_reason reason, const char *decision,
                            const char *why)
{
	struct gateway *gw = gw_of(s);
	atomic_fetch_add(&gw->counters.rejections[reason], 1);
	struct net_addr reject;
	if (gateway_reject_target(gw, &reject)) {
		log_with_bytes(s, "REJECT_ENGINE", decision, why);
		s->target_kind = TARGET_REJECT_ENGINE;
		s->target_key = "reject-engine";
		s->route_name = "REJECT_ENGINE";
		s->log.route = s->route_name;
		atomic_fetch_add(&gw->counters.reject_engine_connections, 1);
		begin_connect(s);
		return;
	}
	log_with_bytes(s, decision, NULL, why);
	session_close(s, LOG_DEBUG, "connection_closed", why);
}

/* The routing tags of the Logon as a JSON object, per the table's redaction policy. */
static void fields_json(const struct route_table *t, const struct fix_scanner *sc, const char *buf, char *out,
                        size_t cap)
{
	size_t n = 0, ntags;
	const uint32_t *tags = route_table_tags(t, &ntags);
	out[n++] = '{';
	for (size_t i = 0; i < ntags && n + 64 < cap; i++) {
		struct fix_field f;
		if (fix_scan_find(sc, buf, tags[i], &f) == FIX_LOOKUP_ABSENT)
			continue;
		char val[512], key[64];
		if (redact_value(route_table_policy(t), tags[i], buf + f.value_off, f.value_len, val,
		                 sizeof(val)) == REDACT_HIDE)
			continue;
		/* "AlgoStrategy20001": the FIXSessions' own label, so logs read like the manifests */
		const char *name = route_table_tag_name(t, tags[i]);
		snprintf(key, sizeof(key), "%s%u", name ? name : "Tag", tags[i]);
		if (n > 1)
			out[n++] = ',';
		n += log_json_escape(out + n, cap - n - 2, key, strlen(key));
		out[n++] = ':';
		n += log_json_escape(out + n, cap - n - 2, val, strlen(val));
	}
	out[n++] = '}';
	out[n] = '\0';
}

static void log_decision(struct session *s, const struct route_table *t, const char *decision,
                         uint64_t eval_ns)
{
	struct log_line l;
	log_begin(&l, LOG_INFO, "routing_decision", &s->log);
	if (!l.enabled)
		return; /* the fields cost more to render than the rest of the line */
	char fields[2048];
	fields_json(t, s->scan, s->inbuf, fields, sizeof(fields));
	log_str(&l, "decision", decision);
	log_str(&l, "fixsession", s->route_name);
	log_str(&l, "target", s->target_key);
	log_raw(&l, "fields", fields);
	log_uint(&l, "eval_ns", eval_ns);
	log_end(&l, "%s -> %s", decision, s->target_key);
}

static void record_eval_latency(struct gateway *gw, uint64_t ns)
{
	unsigned b = 0;
	for (uint64_t limit = 250; b < GW_EVAL_BUCKETS - 1 && ns >= limit; limit *= 2)
		b++;
	atomic_fetch_add(&gw->counters.eval_latency[b], 1);
	atomic_fetch_add(&gw->counters.eval_count, 1);
	atomic_fetch_add(&gw->counters.eval_ns_total, ns);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void free_scan(struct session *s)
{
	if (s->scan) {
		free(s->scan->fields);
		free(s->scan);
		s->scan = NULL;
	}
}

/* Keep the route's and target's names for the session's life, in one exact-size allocation. */
static int set_names(struct session *s, const struct route *r)
{
	char route[512], target[512];
	int a = snprintf(route, sizeof(route), "%s/%s", r->ns, r->name) + 1;
	endpoint_key_for_target(r->ns, r->target.service, r->target.port, r->target.port_name, target,
	                        sizeof(target));
	size_t b = strlen(target) + 1;
	char *buf = malloc((size_t)a + b);
	if (!buf)
		return -1;
	memcpy(buf, route, (size_t)a);
	memcpy(buf + a, target, b);
	s->names = buf;
	s->route_name = buf;
	s->target_key = buf + a;
	return 0;
}

/* The Logon is complete: evaluate the routes and act on the decision. */
static void route_logon(struct session *s)
{
	struct gateway *gw = gw_of(s);
	struct route_table *t = gateway_table(gw);
	struct route_eval ev;
	uint64_t t0 = mono_ns();
	route_table_eval(t, s->scan, s->inbuf, route_table_listener_bit(t, s->listener->cfg->name), &ev);
	uint64_t eval_ns = mono_ns() - t0;
	record_eval_latency(gw, eval_ns);
	reactor_timer_cancel(&s->w->reactor, &s->timer);
	/* Further client bytes wait in the kernel until the upstream is up. Reading stops lazily: most
	 * counterparties send nothing until the Logon is answered, so the interest usually stays as it is
	 * (see on_client in CONNECTING), saving two epoll_ctl calls per connection. */

	if (ev.decision == ROUTE_DECISION_AMBIGUOUS) {
		char why[128];
		const char *name = fix_dict_name(ev.ambiguous_tag);
		snprintf(why, sizeof(why),
		         "tag %u%s%s%s occurs twice with different values; refusing to route",
		         ev.ambiguous_tag, name ? " (" : "", name ? name : "", name ? ")" : "");
		route_table_unref(t);
		reject_or_close(s, GW_REJECT_PARSE_FAILURE, "PARSE_FAILURE", why);
		/* after the decision line, which shows the fields; s lives until the batch ends */
		free_scan(s);
		return;
	}
	if (ev.decision == ROUTE_DECISION_NO_MATCH) {
		route_table_unref(t);
		reject_or_close(s, GW_REJECT_NO_MATCH, "NO_MATCH",
		                "no FIXSession matched and no default route applies");
		free_scan(s);
		return;
	}
	const struct route *r = ev.route;
	if (set_names(s, r) < 0) {
		route_table_unref(t);
		free_scan(s);
		session_close(s, LOG_ERROR, "internal_error", "out of memory");
		return;
	}
	s->log.route = s->route_name;
	s->target_kind = TARGET_ROUTE;
	s->hold_timeout_ms =
	    r->hold_timeout_ms ? r->hold_timeout_ms : atomic_load(&gw->limits.hold_timeout_ms);
	s->max_held = r->max_held;
	s->rs = route_registry_get(&gw->routes, s->route_name);
	if (s->rs) {
		atomic_fetch_add(&s->rs->routed_total, 1);
		atomic_store(&s->rs->last_routing_unix_ms, (int64_t)unix_ms());
	}
	if (ev.decision == ROUTE_DECISION_DEFAULT)
		atomic_fetch_add(&gw->counters.default_routed, 1);
	log_decision(s, t, ev.decision == ROUTE_DECISION_DEFAULT ? "DEFAULT_ROUTE" : "ROUTE", eval_ns);
	route_table_unref(t);
	free_scan(s);
	begin_connect(s);
}

static void step_logon(struct session *s, uint32_t events)
{
	struct gateway *gw = gw_of(s);
	uint32_t max = atomic_load(&gw->limits.max_logon_bytes);
	for (;;) {
		if (s->inlen == s->incap) {
			/* Grow up to the Logon limit plus one chunk, so "too large" is decided by the scanner
			 * and bytes pipelined behind a Logon near the limit still fit. */
			uint32_t cap = s->incap ? s->incap * 2 : LOGON_BUF_INITIAL;
			if (cap > max + 4096u)
				cap = max + 4096u;
			if (cap <= s->inlen) {
				reject_or_close(s, GW_REJECT_PARSE_FAILURE, "PARSE_FAILURE",
				                "Logon larger than the limit");
				return;
			}
			char *nb = realloc(s->inbuf, cap);
			if (!nb) {
				session_close(s, LOG_ERROR, "internal_error",
				              "out of memory for the Logon buffer");
				return;
			}
			s->inbuf = nb;
			s->incap = cap;
		}
		bool eof;
		const char *err;
		ssize_t r = read_client(s, s->inbuf + s->inlen, s->incap - s->inlen, &eof, &err);
		if (r == -1)
			break;
		if (r == -2 || eof) {
			if (s->inlen == 0) /* an L4 health check or a port scan: not worth a warning */
				session_close(s, LOG_DEBUG, "connection_closed",
				              "closed before sending anything");
			else
				reject_or_close(s, GW_REJECT_PARSE_FAILURE, "PARSE_FAILURE",
				                eof ? "client closed before completing the Logon"
				                    : "read error before completing the Logon");
			return;
		}
		s->inlen += (uint32_t)r;
		s->last_activity_ms = reactor_now(&s->w->reactor);
		if (!s->scan) {
			s->scan = calloc(1, sizeof(*s->scan));
			/* not zeroed: the scanner writes fields[i] before anything reads it (8 KiB of memset
			 * per Logon otherwise) */
			struct fix_field *fields = malloc(FIX_SCAN_DEFAULT_MAX_FIELDS * sizeof(*fields));
			if (!s->scan || !fields) {
				free(fields);
				session_close(s, LOG_ERROR, "internal_error",
				              "out of memory for the scanner");
				return;
			}
			fix_scan_init(s->scan, fields, FIX_SCAN_DEFAULT_MAX_FIELDS, max);
		}
		enum fix_scan_status st = fix_scan_step(s->scan, s->inbuf, s->inlen);
		if (st == FIX_SCAN_COMPLETE) {
			route_logon(s);
			return;
		}
		if (st == FIX_SCAN_INVALID) {
			const char *why = fix_scan_error_str(s->scan->error);
			free_scan(s);
			reject_or_close(s, GW_REJECT_PARSE_FAILURE, "PARSE_FAILURE", why);
			return;
		}
		if (!s->ssl && (size_t)r < s->incap - (s->inlen - (uint32_t)r))
			break; /* a short read: the socket is drained */
	}
	(void)events;
}

/* ---- hold ---- */

/* Increment *counter unless it already reached cap. */
static bool take_slot(atomic_int *counter, int cap)
{
	int v = atomic_load(counter);
	while (v < cap)
		if (atomic_compare_exchange_weak(counter, &v, v + 1))
			return true;
	return false;
}

static void enter_hold(struct session *s, const char *why)
{
	struct gateway *gw = gw_of(s);
	int per_process = (int)atomic_load(&gw->limits.max_held_per_process);
	bool route_ok = s->rs && take_slot(&s->rs->held, (int)s->max_held);
	bool process_ok = route_ok && take_slot(&gw->counters.held_connections, per_process);
	if (!process_ok) {
		if (route_ok)
			atomic_fetch_sub(&s->rs->held, 1);
		atomic_fetch_add(&gw->counters.rejections[GW_REJECT_HOLD_CAP_REACHED], 1);
		struct log_line l;
		log_begin(&l, LOG_CRITICAL, "hold_cap_reached", &s->log);
		log_str(&l, "target", s->target_key);
		log_uint(&l, "max_held_connections", route_ok ? (uint64_t)per_process : s->max_held);
		log_str(&l, "cap", route_ok ? "maxHeldConnectionsPerPod" : "maxHeldConnections");
		log_end(&l, "no ready endpoint for %s and the %s cap (%u) is reached: closing the connection",
		        s->target_key, route_ok ? "per-pod" : "FIXSession",
		        route_ok ? (unsigned)per_process : s->max_held);
		session_close(s, LOG_DEBUG, "connection_closed", "hold cap reached");
		return;
	}
	s->counted_held = true;
	s->hold_started_ms = reactor_now(&s->w->reactor);
	set_state(s, SS_HOLD);
	held_add(s->w, s);
	arm(s, s->hold_timeout_ms);
	want(s, &s->cio, EPOLLRDHUP);
	struct log_line l;
	log_begin(&l, LOG_ERROR, "hold_start", &s->log);
	log_str(&l, "target", s->target_key);
	log_uint(&l, "hold_timeout_ms", s->hold_timeout_ms);
	log_str(&l, "reason", why);
	log_end(&l, "%s for %s; holding the connection for up to %u ms", why, s->target_key,
	        s->hold_timeout_ms);
}

static void leave_hold(struct session *s)
{
	held_del(s->w, s);
	if (s->counted_held) {
		s->counted_held = false;
		atomic_fetch_sub(&s->rs->held, 1);
		atomic_fetch_sub(&gw_of(s)->counters.held_connections, 1);
	}
}

/* Per-FIXSession pacing shared by every worker: a release claims the route's next slot with a
 * compare-and-swap, so N workers together release at most holdReleaseRate connections per second. */
static bool claim_release_slot(struct session *s)
{
	unsigned rate = atomic_load(&gw_of(s)->limits.hold_release_per_sec);
	int64_t now = (int64_t)reactor_clock_ms();
	int64_t next = atomic_load(&s->rs->next_release_ms);
	int64_t interval = rate ? 1000 / (int64_t)rate : 0;
	while (now >= next)
		if (atomic_compare_exchange_weak(&s->rs->next_release_ms, &next, now + interval))
			return true;
	return false;
}

enum release_result session_try_release(struct session *s)
{
	struct endpoint_map *m = gateway_endpoints(gw_of(s));
	const struct endpoint_set *set = endpoint_map_find(m, s->target_key);
	bool ready = set && set->nready > 0;
	endpoint_map_unref(m);
	if (!ready)
		return RELEASE_NOT_READY;
	if (!claim_release_slot(s))
		return RELEASE_PACED;
	reactor_timer_cancel(&s->w->reactor, &s->timer);
	leave_hold(s);
	s->attempts = 0;
	begin_connect(s);
	return RELEASE_DONE;
}

/* ---- connect ---- */

/* Pick the address for the next attempt: the reject engine, or the next ready endpoint. */
static bool next_address(struct session *s, struct net_addr *out, unsigned *nready)
{
	struct gateway *gw = gw_of(s);
	if (s->target_kind == TARGET_REJECT_ENGINE) {
		*nready = 1;
		return s->attempts == 0 && gateway_reject_target(gw, out);
	}
	struct endpoint_map *m = gateway_endpoints(gw);
	const struct endpoint_set *set = endpoint_map_find(m, s->target_key);
	*nready = set ? (unsigned)set->nready : 0;
	bool ok = set && set->nready && s->attempts < set->nready;
	if (ok)
		*out = set->ready[(s->w->rr++) % set->nready];
	endpoint_map_unref(m);
	return ok;
}

static void close_upstream(struct session *s)
{
	if (s->uio.fd >= 0) {
		reactor_forget(&s->uio); /* close() removes it from epoll: the fd is never duplicated */
		close(s->uio.fd);
		s->uio.fd = -1;
	}
}

static void begin_connect(struct session *s)
{
	struct gateway *gw = gw_of(s);
	struct net_addr addr;
	unsigned nready;
	for (;;) {
		if (!next_address(s, &addr, &nready)) {
			if (nready == 0 && s->attempts == 0 && s->target_kind == TARGET_ROUTE) {
				enter_hold(s, "no ready endpoints");
				return;
			}
			atomic_fetch_add(&gw->counters.rejections[GW_REJECT_TARGET_UNREACHABLE], 1);
			struct log_line l;
			log_begin(&l, LOG_ERROR, "target_unreachable", &s->log);
			log_str(&l, "target", s->target_key);
			log_uint(&l, "attempts", s->attempts);
			log_end(&l, "could not connect to any endpoint of %s; closing", s->target_key);
			session_close(s, LOG_DEBUG, "connection_closed", "target unreachable");
			return;
		}
		s->attempts++;
		int fd = net_connect_start(&addr);
		if (fd < 0) {
			log_msg(LOG_WARN, "upstream_connect_failed", &s->log, "connect to %s failed: %s",
			        addr.text, strerror(-fd));
			continue;
		}
		s->uio.fd = fd;
		set_state(s, SS_CONNECTING);
		if (reactor_add(&s->w->reactor, &s->uio, EPOLLOUT) < 0) {
			session_close(s, LOG_ERROR, "internal_error", "epoll_ctl failed");
			return;
		}
		arm(s, atomic_load(&gw->limits.connect_timeout_ms));
		return;
	}
}

static void start_relay(struct session *s)
{
	struct gateway *gw = gw_of(s);
	if (atomic_load(&gw->limits.tcp_nodelay))
		net_set_nodelay(s->uio.fd, true);
	reactor_timer_cancel(&s->w->reactor, &s->timer);
	if (s->rs) {
		atomic_fetch_add(&s->rs->active, 1);
		atomic_store(&s->rs->last_connection_unix_ms, (int64_t)unix_ms());
		s->counted_active = true;
	}
	if (s->hold_started_ms) {
		struct log_line l;
		log_begin(&l, LOG_INFO, "hold_released", &s->log);
		log_str(&l, "target", s->target_key);
		log_uint(&l, "hold_duration_ms", reactor_now(&s->w->reactor) - s->hold_started_ms);
		log_end(&l, "endpoint ready: connected to %s after holding the connection", s->target_key);
	}
	/* The Logon buffer becomes the first bytes towards the engine, unchanged. */
	s->to_upstream = (struct pending){s->inbuf, 0, s->inlen};
	count_bytes(s, true, s->inlen);
	s->inbuf = NULL;
	s->inlen = s->incap = 0;
	set_state(s, SS_RELAY);
	uint32_t idle = atomic_load(&gw->limits.idle_timeout_ms);
	if (idle)
		arm(s, idle);
	if (s->ssl) {
		/* OpenSSL may hold client bytes already read from the socket, which epoll cannot report. */
		relay_pump(s, true, true);
		return;
	}
	/* Plaintext: send the buffered bytes; anything newer is in the kernel and epoll will say so. */
	if (flush(s, &s->to_upstream, false) < 0) {
		session_close(s, LOG_INFO, "connection_closed", "connection reset");
		return;
	}
	relay_pump(s, false, false);
}

static void step_connecting(struct session *s, uint32_t events)
{
	int err = net_connect_result(s->uio.fd);
	if (err == 0 && !(events & (EPOLLERR | EPOLLHUP))) {
		start_relay(s);
		return;
	}
	log_msg(LOG_WARN, "upstream_connect_failed", &s->log, "connect to %s failed: %s", s->target_key,
	        strerror(err ? -err : ECONNREFUSED));
	close_upstream(s);
	begin_connect(s);
}

/* ---- relay ---- */

static ssize_t write_client(struct session *s, const char *buf, size_t len)
{
	if (s->ssl) {
		size_t n = 0;
		const char *reason;
		switch (tls_write(s->ssl, buf, len, &n, &reason)) {
		case TLS_IO_DONE:
			return (ssize_t)n;
		case TLS_IO_WANT_READ:
		case TLS_IO_WANT_WRITE:
			return 0;
		default:
			return -1;
		}
	}
	ssize_t w = send(s->cio.fd, buf, len, MSG_NOSIGNAL);
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	return w;
}

static ssize_t write_upstream(struct session *s, const char *buf, size_t len)
{
	ssize_t w = send(s->uio.fd, buf, len, MSG_NOSIGNAL);
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	return w;
}

/* Write buf, keeping what does not fit in p (p must be empty). Returns -1 on a write error. */
static int forward(struct session *s, struct pending *p, bool to_client, const char *buf, size_t len)
{
	ssize_t w = to_client ? write_client(s, buf, len) : write_upstream(s, buf, len);
	if (w < 0)
		return -1;
	if ((size_t)w < len) {
		p->buf = malloc(len - (size_t)w);
		if (!p->buf)
			return -1;
		memcpy(p->buf, buf + w, len - (size_t)w);
		p->off = 0;
		p->len = (uint32_t)(len - (size_t)w);
	}
	return 0;
}

/* Flush a pending buffer. Returns -1 on a write error. */
static int flush(struct session *s, struct pending *p, bool to_client)
{
	while (p->buf && p->off < p->len) {
		ssize_t w = to_client ? write_client(s, p->buf + p->off, p->len - p->off)
		                      : write_upstream(s, p->buf + p->off, p->len - p->off);
		if (w < 0)
			return -1;
		if (w == 0)
			return 0;
		p->off += (uint32_t)w;
	}
	free(p->buf);
	*p = (struct pending){0};
	return 0;
}

static ssize_t read_upstream(struct session *s, char *buf, size_t cap, bool *eof)
{
	ssize_t r = recv(s->uio.fd, buf, cap, 0);
	*eof = r == 0;
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? -1 : -2;
	return r;
}

/* Bytes moved one way, counted for the session, the process and the FIXSession (admin view, metrics). */
static void count_bytes(struct session *s, bool from_client, uint64_t n)
{
	struct gateway *gw = gw_of(s);
	if (from_client) {
		s->bytes_from_client += n;
		atomic_fetch_add(&gw->counters.bytes_from_clients, n);
		if (s->rs)
			atomic_fetch_add(&s->rs->bytes_from_client, n);
	} else {
		s->bytes_to_client += n;
		atomic_fetch_add(&gw->counters.bytes_to_clients, n);
		if (s->rs)
			atomic_fetch_add(&s->rs->bytes_to_client, n);
	}
}

/* Move bytes one way until the source is drained, the sink is full, or a fair share was moved.
 * Returns -1 when the session must close. */
static int pump_direction(struct session *s, bool from_client)
{
	struct pending *p = from_client ? &s->to_upstream : &s->to_client;
	bool *eof = from_client ? &s->client_eof : &s->upstream_eof;
	if (flush(s, p, !from_client) < 0)
		return -1;
	for (int turn = 0; turn < 16 && !p->buf && !*eof; turn++) {
		bool saw_eof = false;
		const char *err;
		ssize_t r = from_client ? read_client(s, s->w->scratch, GW_RELAY_CHUNK, &saw_eof, &err)
		                        : read_upstream(s, s->w->scratch, GW_RELAY_CHUNK, &saw_eof);
		if (r == -1)
			break;
		if (r == -2)
			return -1;
		if (saw_eof) {
			*eof = true;
			break;
		}
		s->last_activity_ms = reactor_now(&s->w->reactor);
		count_bytes(s, from_client, (uint64_t)r);
		if (forward(s, p, !from_client, s->w->scratch, (size_t)r) < 0)
			return -1;
		if (!(s->ssl && from_client && tls_has_pending(s->ssl)) && (size_t)r < GW_RELAY_CHUNK)
			break; /* drained */
	}
	/* Half-close: once everything read from a side is delivered, pass its FIN on (unless the other side
	 * is finished too: then the close that follows says it all). */
	bool other_done =
	    from_client ? s->upstream_eof && !s->to_client.buf : s->client_eof && !s->to_upstream.buf;
	if (*eof && !p->buf && !other_done) {
		if (from_client && !s->upstream_shut) {
			shutdown(s->uio.fd, SHUT_WR);
			s->upstream_shut = true;
		} else if (!from_client && !s->client_shut) {
			if (s->ssl)
				tls_shutdown(s->ssl);
			shutdown(s->cio.fd, SHUT_WR);
			s->client_shut = true;
		}
	}
	return 0;
}

/* Move bytes in the directions an event made possible (each costs a syscall when there is nothing to
 * move, which on the per-message path is worth avoiding), then set interest from the buffers. */
static void relay_pump(struct session *s, bool to_upstream, bool to_client)
{
	if ((to_upstream && pump_direction(s, true) < 0) || (to_client && pump_direction(s, false) < 0)) {
		session_close(s, LOG_INFO, "connection_closed", "connection reset");
		return;
	}
	if (s->client_eof && s->upstream_eof && !s->to_upstream.buf && !s->to_client.buf) {
		session_close(s, LOG_INFO, "connection_closed", "both sides closed");
		return;
	}
	/* Interest follows the buffers: read a side only while its bytes have somewhere to go. */
	uint32_t cev = (s->to_upstream.buf || s->client_eof ? 0 : EPOLLIN | EPOLLRDHUP) |
	               (s->to_client.buf ? EPOLLOUT : 0);
	uint32_t uev =
	    (s->to_client.buf || s->upstream_eof ? 0 : EPOLLIN) | (s->to_upstream.buf ? EPOLLOUT : 0);
	want(s, &s->cio, cev);
	if (s->state != SS_CLOSED)
		want(s, &s->uio, uev);
}

/* ---- events ---- */

static void on_client(struct reactor_io *io, uint32_t events)
{
	struct session *s = CONTAINER(io, struct session, cio);
	switch (s->state) {
	case SS_TLS_HANDSHAKE:
		step_tls_handshake(s);
		break;
	case SS_LOGON:
		step_logon(s, events);
		break;
	case SS_HOLD:
	case SS_CONNECTING:
		/* The counterparty gave up while we waited; or it sent more bytes, which stay in the kernel:
		 * stop asking for EPOLLIN (level-triggered, it would fire until the upstream is up). */
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			session_close(s, LOG_INFO, "connection_closed",
			              s->state == SS_HOLD ? "client closed while held"
			                                  : "client closed while connecting");
		else
			want(s, &s->cio, EPOLLRDHUP);
		break;
	case SS_RELAY:
		/* TLS may need the socket in either direction for either stream (records, key updates). */
		relay_pump(s, s->ssl || (events & (EPOLLIN | EPOLLHUP | EPOLLERR)),
		           s->ssl || (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)));
		break;
	case SS_CLOSED:
		break;
	}
}

static void on_upstream(struct reactor_io *io, uint32_t events)
{
	struct session *s = CONTAINER(io, struct session, uio);
	if (s->state == SS_CONNECTING)
		step_connecting(s, events);
	else if (s->state == SS_RELAY)
		relay_pump(s, events & (EPOLLOUT | EPOLLHUP | EPOLLERR),
		           events & (EPOLLIN | EPOLLHUP | EPOLLERR));
}

static void on_timer(struct reactor_timer *t)
{
	struct session *s = CONTAINER(t, struct session, timer);
	struct gateway *gw = gw_of(s);
	switch (s->state) {
	case SS_TLS_HANDSHAKE:
		atomic_fetch_add(&gw->counters.tls_failures, 1);
		{
			struct log_line l;
			log_begin(&l, LOG_WARN, "tls_failure", &s->log);
			log_str(&l, "reason", "handshake not finished within the Logon deadline");
			log_str(&l, "tls_sni", tls_sni_name(s->ssl));
			log_end(&l, "TLS handshake failed");
		}
		session_close(s, LOG_DEBUG, "connection_closed", "TLS handshake timeout");
		break;
	case SS_LOGON:
		free_scan(s);
		if (s->inlen == 0)
			session_close(s, LOG_INFO, "connection_closed", "no Logon within the deadline");
		else
			reject_or_close(s, GW_REJECT_PARSE_FAILURE, "PARSE_FAILURE",
			                "Logon incomplete at the deadline");
		break;
	case SS_HOLD: {
		atomic_fetch_add(&gw->counters.rejections[GW_REJECT_HOLD_TIMEOUT], 1);
		if (s->rs)
			atomic_fetch_add(&s->rs->hold_timeouts, 1);
		struct log_line l;
		log_begin(&l, LOG_CRITICAL, "hold_timeout", &s->log);
		log_str(&l, "target", s->target_key);
		log_uint(&l, "hold_duration_ms", reactor_now(&s->w->reactor) - s->hold_started_ms);
		log_end(
		    &l,
		    "no ready endpoint for %s within %u ms: closing the held connection (needs attention)",
		    s->target_key, s->hold_timeout_ms);
		session_close(s, LOG_DEBUG, "connection_closed", "hold timeout");
		break;
	}
	case SS_CONNECTING:
		log_msg(LOG_WARN, "upstream_connect_failed", &s->log, "connect to %s timed out",
		        s->target_key);
		close_upstream(s);
		begin_connect(s);
		break;
	case SS_RELAY: {
		uint32_t idle = atomic_load(&gw->limits.idle_timeout_ms);
		uint64_t quiet = reactor_now(&s->w->reactor) - s->last_activity_ms;
		if (!idle)
			break;
		if (quiet >= idle)
			session_close(s, LOG_INFO, "connection_closed", "idle timeout");
		else
			arm(s, idle - quiet);
		break;
	}
	case SS_CLOSED:
		break;
	}
}

/* ---- close ---- */

static void session_close(struct session *s, enum log_level lvl, const char *event, const char *why)
{
	if (s->state == SS_CLOSED)
		return;
	struct gw_worker *w = s->w;
	struct gateway *gw = w->gw;
	bool was_relay = s->state == SS_RELAY;
	set_state(s, SS_CLOSED);
	reactor_timer_cancel(&w->reactor, &s->timer);
	leave_hold(s);
	if (s->counted_active) {
		s->counted_active = false;
		atomic_fetch_sub(&s->rs->active, 1);
	}
	struct log_line l;
	log_begin(&l, was_relay ? lvl : (lvl > LOG_DEBUG ? lvl : LOG_DEBUG), event, &s->log);
	log_str(&l, "reason", why);
	log_uint(&l, "bytes_from_client", s->bytes_from_client);
	log_uint(&l, "bytes_to_client", s->bytes_to_client);
	log_uint(&l, "duration_ms", reactor_now(&w->reactor) - s->accepted_ms);
	log_end(&l, "connection closed: %s", why);

	reactor_forget(&s->cio);
	if (s->ssl && !s->client_shut)
		tls_shutdown(s->ssl);
	close(s->cio.fd);
	s->cio.fd = -1;
	close_upstream(s);
	list_del(&w->sessions, s);
	atomic_fetch_sub(&gw->counters.active_connections, 1);
	/* Events for this session may still be queued in the current epoll batch: free it afterwards. */
	reactor_defer(&w->reactor, &s->reaper);
}

static void reap(struct reactor_deferred *d)
{
	struct session *s = CONTAINER(d, struct session, reaper);
	if (s->ssl)
		SSL_free(s->ssl);
	free_scan(s);
	free(s->inbuf);
	free(s->to_upstream.buf);
	free(s->to_client.buf);
	route_stats_unref(s->rs);
	free(s->names);
	free(s);
}

void session_abort(struct session *s, const char *why)
{
	session_close(s, LOG_INFO, "connection_closed", why);
}
