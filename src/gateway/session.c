/* session.c - one counterparty connection, from accept to close.
 *
 * State machine (one enum, one handler per state; read top to bottom it is the connection's life):
 *
 *   HANDSHAKE -> LOGON -> (route) -> CONNECTING -> RELAY -> CLOSED
 *                            \-> HOLD --(endpoint ready, release slot)--> CONNECTING
 *
 * The client is a transport (net/transport.h: plaintext or TLS, chosen once at accept), so no state asks
 * which one it holds. The Logon buffer is the only per-connection buffer before relaying; once the upstream
 * connects it becomes the first bytes towards the engine, forwarded unchanged without a copy. Relaying
 * itself is relay.c; the held sessions wait in the worker's hold queue (hold_queue.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/fix_dict.h"
#include "core/fix_scan.h"
#include "core/grow.h"
#include "core/redact.h"
#include "gateway/relay.h"
#include "gateway/worker.h"
#include "net/sock.h"
#include "net/transport.h"
#include "telemetry/log.h"

#define LOGON_BUF_INITIAL 2048u
#define DUMP_MAX          4096u
/* Routing fields on a connection span; the rest of its 24 attributes are the span's own. */
#define SPAN_MAX_FIELDS 8
/* A peer closed while its bytes could not be delivered (the other side is not reading): how long the
 * session may then go without progress before it ends. Keeps a departed client of a stuck engine (or the
 * reverse) from living forever when idleTimeout is 0. */
#define FIN_STALL_MS 5000u

enum session_state {
	SS_HANDSHAKE,
	SS_LOGON,
	SS_HOLD,
	SS_CONNECTING,
	SS_RELAY,
	SS_CLOSED,
};

/* Where a routed connection goes. */
enum target_kind { TARGET_ROUTE, TARGET_REJECT_ENGINE };

struct session {
	enum session_state state;
	struct gw_worker *w;
	struct gw_listener *listener;
	struct session *next, *prev; /* worker->sessions */
	struct hold_entry hold;      /* worker->held while in HOLD */

	struct reactor_io cio, uio;        /* client and upstream sockets */
	struct transport client, upstream; /* the byte streams over them */
	struct reactor_timer timer;        /* the deadline of the current state */
	struct reactor_deferred reaper;

	uint64_t id;
	uint64_t accepted_ms, state_since_ms, last_activity_ms;
	/* Span material, recorded from what the state machine has anyway (reactor_now is the loop's cached
	 * clock): when each state was first entered, when the Logon completed, how long evaluation took. */
	uint64_t entered_ms[SS_CLOSED + 1];
	uint64_t logon_done_ms, eval_ns;
	const char *decision; /* ROUTE, DEFAULT_ROUTE, NO_MATCH, PARSE_FAILURE, REJECT_ENGINE; NULL before */
	bool traced;       /* the span goes out whatever the sampling ratio (not a plain ROUTE, an error) */
	char *span_fields; /* routing fields after redaction, "key\0value\0" pairs (owned; spans only) */
	uint8_t nspan_fields;
	uint8_t tls_failure; /* enum tls_failure once a handshake failed */
	char peer[48];       /* "ip:port" for the log lines */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer_addr; /* the client's address as accepted: the span takes its address and port apart */
	uint8_t trace_bytes[16], span_bytes[8]; /* the connection's trace and root span (log lines: as hex) */
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
	uint16_t upstream_port; /* local port of the upstream socket (worker_upstream_opened) */
	bool client_fin; /* the client ended its stream before the relay: its bytes and FIN wait in the kernel
	                  */
	unsigned attempts; /* upstream connection attempts so far */
	uint64_t rr_start; /* the worker's round-robin cursor when this session first connected */
	uint64_t tried;    /* endpoint rotation positions tried (endpoint_pick) */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} up_addr; /* the endpoint being connected to (its failures are remembered per worker) */
	socklen_t up_len;
	uint64_t hold_started_ms;

	/* RELAY */
	struct relay relay;
	uint32_t logon_len; /* bytes of the Logon buffer handed to the relay */
	uint64_t bytes_from_client, bytes_to_client;
};

static void on_client(struct reactor_io *io, uint32_t events);
static void on_upstream(struct reactor_io *io, uint32_t events);
static void on_timer(struct reactor_timer *t);
static void reap(struct reactor_deferred *d);
static void session_close(struct session *s, enum log_level lvl, const char *event, const char *why);
static void begin_connect(struct session *s);
static void step_handshake(struct session *s);
static void step_logon(struct session *s);
static void enter_hold(struct session *s, const char *why);
static void relay_done(struct session *s, enum relay_status st);
static void count_bytes(struct session *s, bool from_client, uint64_t n);
static void leave_hold(struct session *s);

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* What this session reads of the gateway: the worker's snapshot (valid for the current handler) and the
 * worker's own counters. */
static const struct gw_snapshot *snap_of(const struct session *s)
{
	return worker_snapshot(s->w);
}

static struct gw_worker_stats *stats_of(const struct session *s)
{
	return &s->w->stats;
}

/* This worker's share of the session's FIXSession counters (s->rs must be set). */
static struct route_counters *route_ctr(const struct session *s)
{
	return route_stats_worker(s->rs, s->w->index);
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
	if (!s->entered_ms[st])
		s->entered_ms[st] = s->state_since_ms;
}

/* Every session has a reserved heap slot (session_start), so arming its one timer cannot fail. */
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

struct session *session_next(const struct session *s)
{
	return s->next;
}

bool session_is_pre_relay(const struct session *s)
{
	return s->state != SS_RELAY && s->state != SS_CLOSED;
}

/* ---- accept ---- */

void session_start(struct gw_worker *w, struct gw_listener *l, int fd, const struct sockaddr_storage *peer,
                   socklen_t peer_len)
{
	const struct gw_snapshot *snap = worker_snapshot(w);
	struct session *s = calloc(1, sizeof(*s));
	/* The session's one timer gets its heap slot now, so arming it later cannot fail: no session ever
	 * lives without a deadline. */
	if (!s || reactor_timer_reserve(&w->reactor, 1) < 0) {
		log_msg(LOG_ERROR, "internal_error", NULL,
		        "out of memory for a connection and its deadline: closing it at once");
		free(s);
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
	memcpy(&s->peer_addr, peer, peer_len < sizeof(s->peer_addr) ? peer_len : sizeof(s->peer_addr));
	net_addr_format(&s->peer_addr.sa, peer_len, s->peer, sizeof(s->peer));
	worker_random_id(w, s->trace_bytes, 16);
	worker_random_id(w, s->span_bytes, 8);
	s->log = (struct log_ctx){.component = "gateway",
	                          .listener = l->cfg->name,
	                          .peer = s->peer,
	                          .trace_bytes = s->trace_bytes,
	                          .span_bytes = s->span_bytes,
	                          .conn_id = s->id};
	list_add(&w->sessions, s);
	gw_count(&w->stats.accepted, 1);
	gw_gauge(&w->stats.active_connections, 1);

	if (snap->limits.tcp_nodelay)
		net_set_nodelay(fd, true);
	net_set_busy_poll(fd, snap->limits.busy_poll_us);
	log_msg(LOG_DEBUG, "connection_accepted", &s->log, "accepted connection from %s", s->peer);

	transport_plain_init(&s->upstream, -1);
	/* The one place that knows plaintext from TLS: everything after speaks to the transport. */
	if (l->tls && tls_transport_init_ctx(&s->client, snap->tls[l->index], fd, &w->tls_pool) < 0) {
		session_close(s, LOG_ERROR, "tls_failure", "cannot create a TLS session");
		return;
	}
	if (!l->tls)
		transport_plain_init(&s->client, fd);
	/* Just accepted: nothing to read before epoll says so (saves a TLS handshake attempt's EAGAIN). */
	s->client.rx_drained = true;
	/* One absolute deadline covers the handshake and the Logon: trickling bytes never extend it. */
	arm(s, snap->limits.logon_timeout_ms);
	set_state(s, SS_HANDSHAKE);
	if (reactor_add(&w->reactor, &s->cio, EPOLLIN | EPOLLRDHUP) < 0) {
		session_close(s, LOG_ERROR, "internal_error", "epoll_ctl failed");
		return;
	}
	step_handshake(s); /* plaintext is done at once; TLS waits for the ClientHello */
}

/* ---- handshake ---- */

/* A failed handshake: counted by class (the metric's reason label), which the tls_failure line repeats. */
static void count_tls_failure(struct session *s, enum tls_failure f)
{
	s->tls_failure = f;
	gw_count(&stats_of(s)->tls_failures, 1);
	gw_count(&stats_of(s)->tls_failures_by[f < TLS_FAIL__COUNT ? f : TLS_FAIL_OTHER], 1);
}

/* TLS details for the log (plaintext has none to give). */
static void log_handshake(struct session *s, enum log_level lvl, const char *event, const char *reason)
{
	SSL *ssl = tls_transport_ssl(&s->client);
	if (!ssl)
		return;
	struct log_line l;
	log_begin(&l, lvl, event, &s->log);
	if (reason) {
		log_str(&l, "reason", reason);
		log_str(&l, "failure", tls_failure_name(s->tls_failure));
	} else {
		log_str(&l, "tls_version", tls_version_name(ssl));
		log_str(&l, "tls_cipher", tls_cipher_name(ssl));
	}
	log_str(&l, "tls_sni", tls_sni_name(ssl)); /* escaped by the log writer */
	log_end(&l, reason ? "TLS handshake failed" : "TLS established");
}

static uint32_t want_events(uint8_t want)
{
	return want == TRANSPORT_WANT_WRITE ? EPOLLOUT : EPOLLIN;
}

static void step_handshake(struct session *s)
{
	int rc = transport_handshake(&s->client);
	if (rc == -EAGAIN) {
		want(s, &s->cio, want_events(s->client.handshake_want) | EPOLLRDHUP);
		return;
	}
	if (rc < 0) {
		count_tls_failure(s, (enum tls_failure)s->client.failure);
		log_handshake(s, LOG_WARN, "tls_failure",
		              s->client.reason ? s->client.reason : "peer closed during the handshake");
		session_close(s, LOG_DEBUG, "connection_closed", "TLS handshake failed");
		return;
	}
	log_handshake(s, LOG_DEBUG, "tls_established", NULL);
	set_state(s, SS_LOGON);
	want(s, &s->cio, EPOLLIN | EPOLLRDHUP);
	/* TLS may already hold Logon bytes that came with the handshake's last flight. */
	if (transport_pending(&s->client))
		step_logon(s);
}

/* ---- Logon ---- */

/* WARN line with the received bytes, secrets and hidden tags removed. */
static void fields_json(const struct route_table *t, const struct fix_scanner *sc, const char *buf, char *out,
                        size_t cap);

/* The routing fields for the connection's span, rendered now (the scanner is freed after routing) and
 * only when a span will go out: the same redaction as the decision line (redact: true -> [REDACTED],
 * log: false -> absent). */
static void capture_span_fields(struct session *s, const struct route_table *t)
{
	if (!s->w->otlp || s->span_fields || !s->scan ||
	    !(s->traced || otlp_trace_sampled(s->w->otlp, s->trace_bytes)))
		return;
	char buf[2048];
	size_t n = 0, ntags;
	uint8_t count = 0;
	const uint32_t *tags = route_table_tags(t, &ntags);
	for (size_t i = 0; i < ntags && count < SPAN_MAX_FIELDS; i++) {
		struct fix_field f;
		char val[256], key[80];
		if (fix_scan_find(s->scan, s->inbuf, tags[i], &f) == FIX_LOOKUP_ABSENT)
			continue;
		if (redact_value(route_table_policy(t), tags[i], s->inbuf + f.value_off, f.value_len, val,
		                 sizeof(val)) == REDACT_HIDE)
			continue;
		const char *name = route_table_tag_name(t, tags[i]);
		int kl = snprintf(key, sizeof(key), "fixgw.field.%s%u", name ? name : "Tag", tags[i]);
		size_t vl = strlen(val);
		if (kl < 0 || n + (size_t)kl + vl + 2 > sizeof(buf))
			break;
		memcpy(buf + n, key, (size_t)kl + 1);
		n += (size_t)kl + 1;
		memcpy(buf + n, val, vl + 1);
		n += vl + 1;
		count++;
	}
	if (!count || !(s->span_fields = malloc(n)))
		return;
	memcpy(s->span_fields, buf, n);
	s->nspan_fields = count;
}

/* The decision line for a connection no FIXSession takes: the extracted routing fields when the Logon
 * was complete, and the received bytes, both after redaction. `rejected_as` is NO_MATCH or
 * PARSE_FAILURE when the decision is REJECT_ENGINE. */
static void log_with_bytes(struct session *s, const char *decision, const char *rejected_as, const char *why)
{
	const struct route_table *t = snap_of(s)->table;
	const struct redact_policy *policy = route_table_policy(t);
	struct log_line l;
	s->decision = decision;
	s->traced = true;
	if (s->scan && s->scan->length)
		capture_span_fields(s, t);
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
}

static void reject_or_close(struct session *s, enum gw_reject_reason reason, const char *decision,
                            const char *why)
{
	gw_count(&stats_of(s)->rejections[reason], 1);
	if (snap_of(s)->reject_enabled) {
		log_with_bytes(s, "REJECT_ENGINE", decision, why);
		s->target_kind = TARGET_REJECT_ENGINE;
		s->target_key = "reject-engine";
		s->route_name = "REJECT_ENGINE";
		s->log.route = s->route_name;
		gw_count(&stats_of(s)->reject_engine_connections, 1);
		begin_connect(s);
		return;
	}
	log_with_bytes(s, decision, NULL, why);
	session_close(s, LOG_DEBUG, "connection_closed", why);
}

/* The connection used its whole Logon budget without completing a Logon: it is closed here, never handed
 * to the reject engine, which would give it a second budget (ADR-007). */
static void refuse(struct session *s, enum gw_reject_reason reason, const char *decision, const char *why)
{
	gw_count(&stats_of(s)->rejections[reason], 1);
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
	s->decision = decision;
	if (strcmp(decision, "ROUTE") != 0)
		s->traced = true;
	capture_span_fields(s, t);
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

static void record_eval_latency(struct gw_worker_stats *st, uint64_t ns)
{
	unsigned b = 0;
	for (uint64_t limit = 250; b < GW_EVAL_BUCKETS - 1 && ns >= limit; limit *= 2)
		b++;
	gw_count(&st->eval_latency[b], 1);
	gw_count(&st->eval_count, 1);
	gw_count(&st->eval_ns_total, ns);
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
	const struct gw_snapshot *snap = snap_of(s);
	const struct route_table *t = snap->table;
	struct route_eval ev;
	uint64_t t0 = mono_ns();
	route_table_eval(t, s->scan, s->inbuf, route_table_listener_bit(t, s->listener->cfg->name), &ev);
	uint64_t eval_ns = mono_ns() - t0;
	record_eval_latency(stats_of(s), eval_ns);
	s->logon_done_ms = reactor_now(&s->w->reactor);
	s->eval_ns = eval_ns;
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
		reject_or_close(s, GW_REJECT_PARSE_FAILURE, "PARSE_FAILURE", why);
		/* after the decision line, which shows the fields; s lives until the batch ends */
		free_scan(s);
		return;
	}
	if (ev.decision == ROUTE_DECISION_NO_MATCH) {
		reject_or_close(s, GW_REJECT_NO_MATCH, "NO_MATCH",
		                "no FIXSession matched and no default route applies");
		free_scan(s);
		return;
	}
	const struct route *r = ev.route;
	if (set_names(s, r) < 0) {
		free_scan(s);
		session_close(s, LOG_ERROR, "internal_error", "out of memory");
		return;
	}
	s->log.route = s->route_name;
	s->target_kind = TARGET_ROUTE;
	s->hold_timeout_ms = r->hold_timeout_ms ? r->hold_timeout_ms : snap->limits.hold_timeout_ms;
	s->max_held = r->max_held;
	s->rs = route_stats_ref(gw_snapshot_route_stats(snap, r));
	if (s->rs) {
		gw_count(&route_ctr(s)->routed_total, 1);
		gw_stamp(&route_ctr(s)->last_routing_unix_ms, (int64_t)unix_ms());
	}
	if (ev.decision == ROUTE_DECISION_DEFAULT)
		gw_count(&stats_of(s)->default_routed, 1);
	log_decision(s, t, ev.decision == ROUTE_DECISION_DEFAULT ? "DEFAULT_ROUTE" : "ROUTE", eval_ns);
	free_scan(s);
	begin_connect(s);
}

static void step_logon(struct session *s)
{
	uint32_t max = snap_of(s)->limits.max_logon_bytes;
	for (;;) {
		if (s->inlen == s->incap) {
			/* Grow up to the Logon limit plus one chunk, so "too large" is decided by the scanner
			 * and bytes pipelined behind a Logon near the limit still fit. */
			size_t cap = s->incap;
			int err = grow_array(&s->inbuf, &cap, (size_t)s->inlen + 1, 1, LOGON_BUF_INITIAL,
			                     (size_t)max + 4096);
			if (err == FIXGW_ELIMIT) {
				reject_or_close(s, GW_REJECT_PARSE_FAILURE, "PARSE_FAILURE",
				                "Logon larger than the limit");
				return;
			}
			if (err) {
				session_close(s, LOG_ERROR, "internal_error",
				              "out of memory for the Logon buffer");
				return;
			}
			s->incap = (uint32_t)cap; /* at most max_logon_bytes + 4096 */
		}
		ssize_t r = transport_read(&s->client, s->inbuf + s->inlen, s->incap - s->inlen);
		if (r == -EAGAIN)
			break;
		if (r <= 0) {
			if (s->inlen == 0) /* an L4 health check or a port scan: not worth a warning */
				session_close(s, LOG_DEBUG, "connection_closed",
				              "closed before sending anything");
			else
				reject_or_close(s, GW_REJECT_PARSE_FAILURE, "PARSE_FAILURE",
				                r == 0 ? "client closed before completing the Logon"
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
		if (s->client.rx_drained && !transport_pending(&s->client))
			break; /* the socket is drained */
	}
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
	int per_process = (int)snap_of(s)->limits.max_held_per_process;
	bool route_ok = s->rs && take_slot(&s->rs->held, (int)s->max_held);
	bool process_ok = route_ok && worker_hold_claim(s->w, per_process);
	if (!process_ok) {
		if (route_ok)
			atomic_fetch_sub(&s->rs->held, 1);
		gw_count(&stats_of(s)->rejections[GW_REJECT_HOLD_CAP_REACHED], 1);
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
	/* Queued by FIXSession: the record is the pacing unit and outlives the session's names. */
	if (hold_queue_add(&s->w->held, &s->hold, s->rs, s->target_key) < 0) {
		session_close(s, LOG_ERROR, "internal_error", "out of memory for the hold queue");
		return;
	}
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
	hold_queue_del(&s->w->held, &s->hold);
	if (s->counted_held) {
		s->counted_held = false;
		atomic_fetch_sub(&s->rs->held, 1);
		worker_hold_release(s->w);
	}
}

/* Per-FIXSession pacing shared by every worker: a release claims the route's next slot with a
 * compare-and-swap, so N workers together release at most holdReleaseRate connections per second. */
static bool claim_release_slot(struct session *s)
{
	unsigned rate = snap_of(s)->limits.hold_release_per_sec;
	int64_t now = (int64_t)reactor_clock_ms();
	int64_t next = atomic_load(&s->rs->next_release_ms);
	int64_t interval = rate ? 1000 / (int64_t)rate : 0;
	while (now >= next)
		if (atomic_compare_exchange_weak(&s->rs->next_release_ms, &next, now + interval))
			return true;
	return false;
}

static bool target_ready(const struct endpoint_map *m, const char *target)
{
	const struct endpoint_set *set = endpoint_map_find(m, target);
	return set && set->nready > 0;
}

struct release_ctx {
	struct gw_worker *w;
	const struct endpoint_map *m; /* the worker's snapshot's, for the whole pass */
};

static bool pass_ready(void *ctx, const char *target)
{
	struct release_ctx *c = ctx;
	return target_ready(c->m, target);
}

static bool pass_release(void *ctx, struct hold_entry *e)
{
	(void)ctx;
	struct session *s = CONTAINER(e, struct session, hold);
	if (!claim_release_slot(s))
		return false;
	reactor_timer_cancel(&s->w->reactor, &s->timer);
	leave_hold(s);
	s->attempts = 0;
	begin_connect(s);
	return true;
}

struct hold_pass session_release_held(struct gw_worker *w)
{
	static const struct hold_release_ops ops = {.ready = pass_ready, .release = pass_release};
	struct release_ctx c = {.w = w, .m = worker_snapshot(w)->endpoints};
	return hold_queue_release(&w->held, &ops, &c);
}

void session_abort_held(struct gw_worker *w, const char *why)
{
	struct hold_entry *e;
	while ((e = hold_queue_any(&w->held)))
		session_abort(CONTAINER(e, struct session, hold), why);
}

/* ---- connect ---- */

/* Pick the address for the next attempt: the reject engine, or the next ready endpoint (endpoint_pick:
 * rotation from where this session started, endpoints that failed recently last). */
static bool next_address(struct session *s, struct net_addr *out, unsigned *nready)
{
	const struct gw_snapshot *snap = snap_of(s);
	if (s->target_kind == TARGET_REJECT_ENGINE) {
		*nready = 1;
		if (s->attempts != 0 || !snap->reject_enabled)
			return false;
		*out = snap->reject_addr;
		return true;
	}
	if (s->attempts == 0) {
		s->rr_start =
		    s->w->rr++; /* once per session: failovers do not move the next session's start */
		s->tried = 0;
	}
	const struct endpoint_set *set = endpoint_map_find(snap->endpoints, s->target_key);
	*nready = set ? (unsigned)set->nready : 0;
	long k = set && set->nready
	             ? endpoint_pick(set, s->rr_start, &s->tried, &s->w->health, reactor_now(&s->w->reactor))
	             : -1;
	if (k >= 0)
		*out = set->ready[k];
	return k >= 0;
}

static void close_upstream(struct session *s)
{
	if (s->uio.fd >= 0) {
		reactor_forget(&s->uio); /* close() removes it from epoll: the fd is never duplicated */
		close(s->uio.fd);
		s->uio.fd = -1;
		worker_upstream_closed(s->w, s->upstream_port);
		s->upstream_port = 0;
	}
	transport_plain_init(&s->upstream, -1);
}

/* A connect to the current endpoint failed: log it, remember it (new sessions avoid it for a while), and
 * try the next one. */
static void connect_failed(struct session *s, const char *why)
{
	char addr[64];
	net_addr_format(&s->up_addr.sa, s->up_len, addr, sizeof(addr));
	log_msg(LOG_WARN, "upstream_connect_failed", &s->log, "connect to %s (%s) %s", addr, s->target_key,
	        why);
	endpoint_health_failed(&s->w->health, &s->up_addr.sa, s->up_len, reactor_now(&s->w->reactor));
	close_upstream(s);
	begin_connect(s);
}

static void begin_connect(struct session *s)
{
	struct net_addr addr;
	unsigned nready;
	for (;;) {
		if (!next_address(s, &addr, &nready)) {
			if (nready == 0 && s->attempts == 0 && s->target_kind == TARGET_ROUTE) {
				enter_hold(s, "no ready endpoints");
				return;
			}
			gw_count(&stats_of(s)->rejections[GW_REJECT_TARGET_UNREACHABLE], 1);
			struct log_line l;
			log_begin(&l, LOG_ERROR, "target_unreachable", &s->log);
			log_str(&l, "target", s->target_key);
			log_uint(&l, "attempts", s->attempts);
			log_end(&l, "could not connect to any endpoint of %s; closing", s->target_key);
			session_close(s, LOG_DEBUG, "connection_closed", "target unreachable");
			return;
		}
		s->attempts++;
		s->up_len = addr.len <= sizeof(s->up_addr) ? addr.len : 0;
		memcpy(&s->up_addr, &addr.ss, s->up_len);
		int fd = net_connect_start(&addr);
		if (fd < 0) {
			log_msg(LOG_WARN, "upstream_connect_failed", &s->log, "connect to %s (%s) failed: %s",
			        addr.text, s->target_key, strerror(-fd));
			endpoint_health_failed(&s->w->health, &s->up_addr.sa, s->up_len,
			                       reactor_now(&s->w->reactor));
			continue;
		}
		s->uio.fd = fd;
		s->upstream_port = worker_upstream_opened(s->w, fd, &s->up_addr.sa, s->up_len);
		transport_plain_init(&s->upstream, fd);
		set_state(s, SS_CONNECTING);
		if (reactor_add(&s->w->reactor, &s->uio, EPOLLOUT) < 0) {
			session_close(s, LOG_ERROR, "internal_error", "epoll_ctl failed");
			return;
		}
		arm(s, snap_of(s)->limits.connect_timeout_ms);
		return;
	}
}

/* Bytes the relay moved since the last look, counted for the session, the process and the FIXSession. */
static void sync_bytes(struct session *s)
{
	uint64_t from = s->relay.side[RELAY_CLIENT].bytes_read + s->logon_len;
	uint64_t to = s->relay.side[RELAY_UPSTREAM].bytes_read;
	if (from == s->bytes_from_client && to == s->bytes_to_client)
		return;
	s->last_activity_ms = reactor_now(&s->w->reactor);
	count_bytes(s, true, from - s->bytes_from_client);
	count_bytes(s, false, to - s->bytes_to_client);
}

static void start_relay(struct session *s)
{
	const struct gw_snapshot *snap = snap_of(s);
	if (snap->limits.tcp_nodelay)
		net_set_nodelay(s->uio.fd, true);
	reactor_timer_cancel(&s->w->reactor, &s->timer);
	endpoint_health_ok(&s->w->health, &s->up_addr.sa, s->up_len);
	if (s->rs) {
		gw_gauge(&route_ctr(s)->active, 1);
		gw_stamp(&route_ctr(s)->last_connection_unix_ms, (int64_t)unix_ms());
		s->counted_active = true;
	}
	if (s->hold_started_ms) {
		struct log_line l;
		log_begin(&l, LOG_INFO, "hold_released", &s->log);
		log_str(&l, "target", s->target_key);
		log_uint(&l, "hold_duration_ms", reactor_now(&s->w->reactor) - s->hold_started_ms);
		log_end(&l, "endpoint ready: connected to %s after holding the connection", s->target_key);
	}
	set_state(s, SS_RELAY);
	uint32_t idle = snap->limits.idle_timeout_ms;
	if (idle)
		arm(s, idle);
	/* The Logon buffer becomes the first bytes towards the engine, unchanged. A FIN the client sent
	 * meanwhile waits in the kernel behind its bytes: the relay reads both, in order. */
	relay_init(&s->relay, &s->client, &s->upstream, s->w->scratch, GW_RELAY_CHUNK);
	s->logon_len = s->inlen;
	char *logon = s->inbuf;
	s->inbuf = NULL;
	s->inlen = s->incap = 0;
	if (s->client_fin)
		transport_readable(&s->client);
	relay_done(s, relay_start(&s->relay, logon, s->logon_len));
}

static void step_connecting(struct session *s, uint32_t events)
{
	int err = net_connect_result(s->uio.fd, events);
	if (err == 0 && !(events & (EPOLLERR | EPOLLHUP))) {
		start_relay(s);
		return;
	}
	char why[128];
	snprintf(why, sizeof(why), "failed: %s", strerror(err ? -err : ECONNREFUSED));
	connect_failed(s, why);
}

/* ---- relay ---- */

/* Bytes moved one way, counted for the session, the process and the FIXSession (admin view, metrics). */
static void count_bytes(struct session *s, bool from_client, uint64_t n)
{
	struct gw_worker_stats *st = stats_of(s);
	if (!n)
		return;
	if (from_client) {
		s->bytes_from_client += n;
		gw_count(&st->bytes_from_clients, n);
		if (s->rs)
			gw_count(&route_ctr(s)->bytes_from_client, n);
	} else {
		s->bytes_to_client += n;
		gw_count(&st->bytes_to_clients, n);
		if (s->rs)
			gw_count(&route_ctr(s)->bytes_to_client, n);
	}
}

/* How long a quiet relaying session may live: idleTimeout (0: forever), and FIN_STALL_MS once a peer left
 * while its bytes could not be delivered. 0 means no deadline. */
static uint32_t relay_quiet_limit(struct session *s)
{
	uint32_t limit = snap_of(s)->limits.idle_timeout_ms;
	if (relay_stalled_after_fin(&s->relay) && (!limit || limit > FIN_STALL_MS))
		limit = FIN_STALL_MS;
	return limit;
}

/* After the relay moved bytes: account, close when it is over, else set interest from its buffers. */
static void relay_done(struct session *s, enum relay_status st)
{
	sync_bytes(s);
	if (st == RELAY_RESET) {
		session_close(s, LOG_INFO, "connection_closed", "connection reset");
		return;
	}
	if (st == RELAY_FINISHED) {
		session_close(s, LOG_INFO, "connection_closed", "both sides closed");
		return;
	}
	want(s, &s->cio, relay_interest(&s->relay, RELAY_CLIENT));
	if (s->state != SS_CLOSED)
		want(s, &s->uio, relay_interest(&s->relay, RELAY_UPSTREAM));
	/* A stalled half-close needs a deadline even without idleTimeout: arm it when there is none yet or
	 * the one armed is later (the idle timer otherwise re-arms lazily when it fires). */
	uint32_t limit = s->state == SS_RELAY ? relay_quiet_limit(s) : 0;
	if (limit) {
		uint64_t now = reactor_now(&s->w->reactor), due = s->last_activity_ms + limit;
		if (!reactor_timer_armed(&s->timer) || s->timer.deadline_ms > due)
			arm(s, due > now ? due - now : 0);
	}
}

/* ---- events ---- */

static void on_client(struct reactor_io *io, uint32_t events)
{
	struct session *s = CONTAINER(io, struct session, cio);
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		transport_readable(&s->client);
	switch (s->state) {
	case SS_HANDSHAKE:
		step_handshake(s);
		break;
	case SS_LOGON:
		step_logon(s);
		break;
	case SS_HOLD:
		/* A held counterparty that goes away frees its slot now; its bytes are not read while held.
		 */
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			session_close(s, LOG_INFO, "connection_closed", "client closed while held");
		else
			want(s, &s->cio, EPOLLRDHUP);
		break;
	case SS_CONNECTING:
		/* A reset ends it. A FIN after the Logon (half-close) does not: the bytes and the FIN wait in
		 * the kernel and the relay carries both through once the upstream is up. Stop watching
		 * meanwhile (level-triggered: RDHUP would fire until then); connectTimeout bounds the wait.
		 */
		if (events & (EPOLLHUP | EPOLLERR)) {
			session_close(s, LOG_INFO, "connection_closed", "client closed while connecting");
		} else if (events & EPOLLRDHUP) {
			s->client_fin = true;
			want(s, &s->cio, 0);
		} else {
			want(s, &s->cio, EPOLLRDHUP);
		}
		break;
	case SS_RELAY:
		relay_done(s, relay_event(&s->relay, RELAY_CLIENT, events));
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
		relay_done(s, relay_event(&s->relay, RELAY_UPSTREAM, events));
}

static void on_timer(struct reactor_timer *t)
{
	struct session *s = CONTAINER(t, struct session, timer);
	switch (s->state) {
	case SS_HANDSHAKE:
		count_tls_failure(s, TLS_FAIL_TIMEOUT);
		log_handshake(s, LOG_WARN, "tls_failure", "handshake not finished within the Logon deadline");
		session_close(s, LOG_DEBUG, "connection_closed", "TLS handshake timeout");
		break;
	case SS_LOGON:
		free_scan(s);
		if (s->inlen == 0)
			session_close(s, LOG_INFO, "connection_closed", "no Logon within the deadline");
		else
			refuse(s, GW_REJECT_PARSE_FAILURE, "PARSE_FAILURE",
			       "Logon incomplete at the deadline");
		break;
	case SS_HOLD: {
		bool ready = target_ready(snap_of(s)->endpoints, s->target_key);
		if (ready) {
			/* The endpoint is back and this session only waits for its release slot: the hold
			 * timeout measures time without a ready endpoint, not pacing. The release tick will
			 * take it; the deadline moves on by one more holdTimeout (it applies again if the
			 * endpoint goes). */
			arm(s, s->hold_timeout_ms);
			worker_endpoints_changed(s->w);
			break;
		}
		gw_count(&stats_of(s)->rejections[GW_REJECT_HOLD_TIMEOUT], 1);
		if (s->rs)
			gw_count(&route_ctr(s)->hold_timeouts, 1);
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
		connect_failed(s, "timed out");
		break;
	case SS_RELAY: {
		uint32_t limit = relay_quiet_limit(s);
		uint64_t quiet = reactor_now(&s->w->reactor) - s->last_activity_ms;
		if (!limit)
			break;
		if (quiet < limit)
			arm(s, limit - quiet);
		else if (relay_stalled_after_fin(&s->relay) && limit == FIN_STALL_MS)
			session_close(s, LOG_INFO, "connection_closed",
			              s->relay.side[RELAY_CLIENT].fin_seen
			                  ? "client closed while the engine was not reading"
			                  : "engine closed while the client was not reading");
		else
			session_close(s, LOG_INFO, "connection_closed", "idle timeout");
		break;
	}
	case SS_CLOSED:
		break;
	}
}

/* ---- close ---- */

/* ---- spans ---- */

/* The connection's spans, built at close from the session's own timestamps: a SERVER root from accept to
 * close and a child for each phase that happened. Emitting copies into the exporter's queue and never
 * blocks; a full queue drops (the exporter counts it). Sampling: anything but a plain ROUTE, and every
 * error, always; other sessions by the configured ratio (decided from the trace id, as every component
 * decides). */
struct span_clock {
	uint64_t now_unix_ns, now_ms;
	uint64_t end_ns; /* the root's end: children (some timed in ns, the rest in loop ms) end by then */
};

/* A loop timestamp (reactor_now ms) as Unix epoch ns: spans need wall-clock times, the state machine
 * records loop milliseconds, so each is placed by its distance back from the same "now". */
static uint64_t span_time(const struct span_clock *c, uint64_t ms)
{
	uint64_t back = c->now_ms > ms ? (c->now_ms - ms) * 1000000u : 0;
	return c->now_unix_ns > back ? c->now_unix_ns - back : 0;
}

static void emit_child(struct session *s, const struct span_clock *c, const char *name,
                       enum otlp_span_kind kind, uint64_t start_ns, uint64_t end_ns, bool failed,
                       const struct otlp_attr *attrs, size_t nattrs)
{
	if (end_ns > c->end_ns)
		end_ns = c->end_ns;
	if (start_ns > end_ns)
		start_ns = end_ns;
	struct otlp_span sp = {.name = name,
	                       .kind = kind,
	                       .start_ns = start_ns,
	                       .end_ns = end_ns,
	                       .status = failed ? OTLP_STATUS_ERROR : OTLP_STATUS_UNSET,
	                       .attrs = attrs,
	                       .nattrs = nattrs};
	memcpy(sp.trace_id, s->trace_bytes, 16);
	memcpy(sp.parent_span_id, s->span_bytes, 8);
	worker_random_id(s->w, sp.span_id, 8);
	otlp_span_emit(s->w->otlp, &sp);
}

static void emit_spans(struct session *s, enum log_level lvl, const char *event, const char *why)
{
	const uint64_t *at = s->entered_ms;
	bool tls = s->listener->tls != NULL;
	bool tls_failed = tls && !at[SS_LOGON];
	bool relayed = at[SS_RELAY] != 0;
	bool connect_failed = at[SS_CONNECTING] && !relayed;
	bool failed = tls_failed || connect_failed || (at[SS_HOLD] && !relayed) || lvl >= LOG_WARN ||
	              strcmp(event, "connection_closed") != 0;
	if (!(s->traced || failed || otlp_trace_sampled(s->w->otlp, s->trace_bytes)))
		return;
	struct span_clock c = {.now_unix_ns = otlp_now_ns(), .now_ms = reactor_now(&s->w->reactor)};
	uint64_t end_ms = at[SS_CLOSED];
	c.end_ns = span_time(&c, end_ms);
	if (s->logon_done_ms && span_time(&c, s->logon_done_ms) + s->eval_ns > c.end_ns)
		c.end_ns = span_time(&c, s->logon_done_ms) + s->eval_ns; /* all in one loop millisecond */

	if (tls)
		emit_child(s, &c, "fixgw.tls.handshake", OTLP_SPAN_INTERNAL, span_time(&c, s->accepted_ms),
		           span_time(&c, at[SS_LOGON] ? at[SS_LOGON] : end_ms), tls_failed, NULL, 0);
	if (at[SS_LOGON]) {
		struct otlp_attr a[] = {
		    OTLP_INT("fixgw.logon.bytes", s->logon_len ? s->logon_len : s->inlen)};
		bool bad = s->decision && !strcmp(s->decision, "PARSE_FAILURE");
		emit_child(s, &c, "fixgw.logon.parse", OTLP_SPAN_INTERNAL, span_time(&c, at[SS_LOGON]),
		           span_time(&c, s->logon_done_ms ? s->logon_done_ms : end_ms), bad, a, 1);
	}
	if (s->logon_done_ms) {
		uint64_t t0 = span_time(&c, s->logon_done_ms);
		struct otlp_attr a[] = {OTLP_STR("fixgw.decision", s->decision ? s->decision : "")};
		emit_child(s, &c, "fixgw.route.eval", OTLP_SPAN_INTERNAL, t0, t0 + s->eval_ns, false, a, 1);
	}
	if (at[SS_HOLD]) {
		uint64_t until = at[SS_CONNECTING] > at[SS_HOLD] ? at[SS_CONNECTING] : end_ms;
		struct otlp_attr a[] = {OTLP_STR("fixgw.target", s->target_key),
		                        OTLP_BOOL("fixgw.hold.released", at[SS_CONNECTING] > at[SS_HOLD])};
		emit_child(s, &c, "fixgw.endpoint.hold", OTLP_SPAN_INTERNAL, span_time(&c, at[SS_HOLD]),
		           span_time(&c, until), !at[SS_CONNECTING], a, 2);
	}
	if (at[SS_CONNECTING]) {
		char host[INET6_ADDRSTRLEN] = "";
		if (s->up_len)
			net_addr_host(&s->up_addr.sa, s->up_len, host, sizeof(host));
		int64_t port = s->up_len ? net_addr_port(&s->up_addr.sa) : 0;
		struct otlp_attr a[] = {OTLP_STR("server.address", host), OTLP_INT("server.port", port),
		                        OTLP_STR("fixgw.target", s->target_key),
		                        OTLP_INT("fixgw.connect.attempts", s->attempts)};
		emit_child(s, &c, "fixgw.upstream.connect", OTLP_SPAN_CLIENT,
		           span_time(&c, at[SS_CONNECTING]), span_time(&c, relayed ? at[SS_RELAY] : end_ms),
		           connect_failed, a, 4);
	}

	struct otlp_attr a[OTLP_REC_MAX_ATTRS];
	size_t n = 0;
	char peer[INET6_ADDRSTRLEN];
	net_addr_host(&s->peer_addr.sa, sizeof(s->peer_addr), peer, sizeof(peer));
	a[n++] = OTLP_STR("network.peer.address", peer);
	a[n++] = OTLP_INT("network.peer.port", net_addr_port(&s->peer_addr.sa));
	a[n++] = OTLP_INT("server.port", net_addr_port((const struct sockaddr *)&s->listener->cfg->addr.ss));
	a[n++] = OTLP_STR("network.transport", "tcp");
	a[n++] = OTLP_STR("fixgw.listener", s->listener->cfg->name);
	a[n++] = OTLP_STR("fixgw.decision", s->decision ? s->decision : "NONE");
	if (s->route_name[0])
		a[n++] = OTLP_STR("fixgw.route", s->route_name);
	SSL *ssl = tls ? tls_transport_ssl(&s->client) : NULL;
	if (ssl && !tls_failed) {
		const char *v = tls_version_name(ssl); /* "TLSv1.3": the convention's value is "1.3" */
		a[n++] = OTLP_STR("tls.protocol.name", "tls");
		a[n++] = OTLP_STR("tls.protocol.version", strncmp(v, "TLSv", 4) == 0 ? v + 4 : v);
		a[n++] = OTLP_STR("tls.cipher", tls_cipher_name(ssl));
	}
	a[n++] = OTLP_INT("fixgw.bytes.from_client", (int64_t)s->bytes_from_client);
	a[n++] = OTLP_INT("fixgw.bytes.to_client", (int64_t)s->bytes_to_client);
	a[n++] = OTLP_STR("fixgw.close.reason", why);
	const char *f = s->span_fields;
	for (uint8_t i = 0; f && i < s->nspan_fields && n < OTLP_REC_MAX_ATTRS; i++) {
		const char *v = f + strlen(f) + 1;
		a[n++] = OTLP_STR(f, v);
		f = v + strlen(v) + 1;
	}
	bool rejected = s->decision && strcmp(s->decision, "ROUTE") && strcmp(s->decision, "DEFAULT_ROUTE");
	struct otlp_span root = {.name = "fixgw.connection",
	                         .kind = OTLP_SPAN_SERVER,
	                         .start_ns = span_time(&c, s->accepted_ms),
	                         .end_ns = c.end_ns,
	                         .status = failed || rejected ? OTLP_STATUS_ERROR : OTLP_STATUS_UNSET,
	                         .status_message = failed || rejected ? why : NULL,
	                         .attrs = a,
	                         .nattrs = n};
	memcpy(root.trace_id, s->trace_bytes, 16);
	memcpy(root.span_id, s->span_bytes, 8);
	otlp_span_emit(s->w->otlp, &root);
}

static void session_close(struct session *s, enum log_level lvl, const char *event, const char *why)
{
	if (s->state == SS_CLOSED)
		return;
	struct gw_worker *w = s->w;
	bool was_relay = s->state == SS_RELAY;
	set_state(s, SS_CLOSED);
	reactor_timer_cancel(&w->reactor, &s->timer);
	leave_hold(s);
	if (s->counted_active) {
		s->counted_active = false;
		gw_gauge(&route_ctr(s)->active, -1);
	}
	if (w->otlp)
		emit_spans(s, lvl, event, why);
	struct log_line l;
	log_begin(&l, was_relay ? lvl : (lvl > LOG_DEBUG ? lvl : LOG_DEBUG), event, &s->log);
	log_str(&l, "reason", why);
	log_uint(&l, "bytes_from_client", s->bytes_from_client);
	log_uint(&l, "bytes_to_client", s->bytes_to_client);
	log_uint(&l, "duration_ms", reactor_now(&w->reactor) - s->accepted_ms);
	log_end(&l, "connection closed: %s", why);

	reactor_forget(&s->cio);
	if (!s->relay.side[RELAY_CLIENT].shut && s->client.ops)
		transport_close_notify(&s->client); /* TLS: close_notify; the close() sends the FIN */
	close(s->cio.fd);
	s->cio.fd = -1;
	close_upstream(s);
	list_del(&w->sessions, s);
	gw_gauge(&w->stats.active_connections, -1);
	/* Events for this session may still be queued in the current epoll batch: free it afterwards. */
	reactor_defer(&w->reactor, &s->reaper);
}

static void reap(struct reactor_deferred *d)
{
	struct session *s = CONTAINER(d, struct session, reaper);
	struct gw_worker *w = s->w;
	transport_fini(&s->client);
	free_scan(s);
	if (s->incap > LOGON_BUF_INITIAL)
		worker_note_freed(w, s->incap);
	free(s->inbuf);
	relay_fini(&s->relay);
	route_stats_unref(s->rs);
	free(s->names);
	free(s->span_fields);
	free(s);
	reactor_timer_unreserve(&w->reactor, 1);
}

void session_abort(struct session *s, const char *why)
{
	session_close(s, LOG_INFO, "connection_closed", why);
}
