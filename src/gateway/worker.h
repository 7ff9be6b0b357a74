/* worker.h - one worker thread: a reactor, its share of the listening sockets, its sessions, its snapshot
 * and its counters. This header is all a session sees of the gateway (struct gateway is opaque here).
 */
#ifndef FIXGW_GATEWAY_WORKER_H
#define FIXGW_GATEWAY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gateway/config.h"
#include "gateway/endpoints.h"
#include "gateway/hold_queue.h"
#include "gateway/route_stats.h"
#include "gateway/snapshot.h"
#include "gateway/stats.h"
#include "net/reactor.h"
#include "net/tls.h"
#include "telemetry/otlp.h"

#define GW_RELAY_CHUNK (64u * 1024u) /* bytes moved per read; also the largest pending buffer */
#define GW_TLS_IDLE_MS 2000u         /* a TLS connection quiet this long gives its record buffers back */

struct gateway;
struct session;

/** A listener as the workers see it: its config and TLS server, fixed for the process lifetime. The
 * TLS contexts new handshakes use come from the worker's snapshot: snap->tls[index]. */
struct gw_listener {
	const struct gw_listener_config *cfg;
	struct tls_server *tls; /* NULL for plaintext; certificates are re-read into it on reload */
	int shared_fd;          /* the one socket when SO_REUSEPORT is off; -1 otherwise */
	unsigned index;
};

struct gw_worker_listener {
	struct reactor_io io;
	struct gw_worker *w;
	struct gw_listener *l;
	bool owns_fd; /* SO_REUSEPORT: this worker's own socket */
	bool paused;  /* accepting suspended (EMFILE, connection cap, drain) */
};

struct session_list {
	struct session *head;
	size_t count;
};

struct gw_worker {
	struct gateway *gw; /* opaque to sessions: pass it on, never look inside */
	unsigned index;
	pthread_t thread;
	struct reactor reactor;

	/* The snapshot this worker reads (one reference; replaced on this thread when a new one is
	 * published). Valid for the whole of an event handler; keep a reference to use it later. */
	struct gw_snapshot *snap;
	struct otlp_exporter *otlp;   /* the process's exporter (borrowed), NULL when export is off */
	struct gw_worker_stats stats; /* written by this worker only (stats.h) */

	struct gw_worker_listener listeners[GW_MAX_LISTENERS];
	size_t nlisteners;
	struct reactor_timer accept_resume; /* re-enables accepting after EMFILE or the connection cap */

	struct session_list sessions; /* every live session of this worker */
	struct hold_queue held;       /* the subset waiting for endpoints, by FIXSession, oldest first */
	struct reactor_timer release_tick;
	struct reactor_timer trim_tick; /* gives freed Logon buffers back to the kernel (malloc_trim) */
	uint64_t freed_logon_bytes;     /* large Logon buffers freed since the last trim */
	struct endpoint_health health;  /* this worker's memory of endpoints that failed to connect */
	struct tls_pool tls_pool;       /* TLS record buffers: kept while busy, released when quiet */

	char *scratch; /* GW_RELAY_CHUNK bytes: relay reads land here and are written straight out */
	uint64_t rng[2];
	uint64_t next_conn_id;
	uint64_t rr; /* round-robin position over endpoints: advanced once per session */
	uint64_t last_cap_log_ms, last_loop_log_ms;

	/* Liveness: the control thread stamps ping_ms and posts a ping; the worker answers by copying it to
	 * pong_ms. A ping unanswered for long means the loop is stuck (/healthz says so). */
	atomic_uint_fast64_t ping_ms, pong_ms;

	/* Per local port: how many of this worker's upstream sockets use it and the address the latest of
	 * them dialled, to recognise one of them arriving at our own listener (an endpoint that loops back
	 * into the gateway). 65,536 slots, written by this worker only, read by every accepting worker. */
	_Atomic uint64_t *upstream_ports;
};

int worker_init(struct gw_worker *w, struct gateway *gw, unsigned index);
int worker_start(struct gw_worker *w);
/** Stop a started worker's loop and wait for its thread (from another thread). */
void worker_stop(struct gw_worker *w);
void worker_fini(struct gw_worker *w);

/** Called on the worker's thread (via reactor_post): stop accepting, close held and not-yet-routed
 * connections gracefully, keep relaying ones. */
void worker_begin_drain(void *worker);
/** On the worker's thread: close every session now. */
void worker_close_all(void *worker);
/** On the worker's thread: a new snapshot was published; take it and try to release held sessions. */
void worker_snapshot_changed(void *worker);
/** On the worker's thread: endpoints may have become ready (a new snapshot, a hold deadline that found
 * its endpoint ready); start a release pass. */
void worker_endpoints_changed(struct gw_worker *w);
/** On the worker's thread: answer the control thread's liveness ping. */
void worker_ping(void *worker);

/** n random bytes from the worker's own generator: trace (16) and span (8) ids. */
void worker_random_id(struct gw_worker *w, uint8_t *out, size_t n);

/** The snapshot in use on this worker (borrowed: valid until the handler returns). */
static inline const struct gw_snapshot *worker_snapshot(const struct gw_worker *w)
{
	return w->snap;
}

/** Take one of the process-wide held-connection slots (maxHeldConnectionsPerPod, shared by all
 * workers); false when cap are taken. worker_hold_release gives one back. */
bool worker_hold_claim(struct gw_worker *w, int cap);
void worker_hold_release(struct gw_worker *w);

/** Note an upstream socket this worker opened towards remote (its local port, returned for
 * worker_upstream_closed), and its closing. Lets an accepting worker refuse a connection that is one of
 * our own. */
uint16_t worker_upstream_opened(struct gw_worker *w, int fd, const struct sockaddr *remote,
                                socklen_t remote_len);
void worker_upstream_closed(struct gw_worker *w, uint16_t port);

/* ---- sessions (session.c) ---- */

/** Take over an accepted client socket. */
void session_start(struct gw_worker *w, struct gw_listener *l, int fd, const struct sockaddr_storage *peer,
                   socklen_t peer_len);
/** One release pass over the worker's held sessions: every FIXSession whose target has a ready endpoint
 * releases from its oldest as its pacing allows. */
struct hold_pass session_release_held(struct gw_worker *w);
/** A Logon buffer of `cap` bytes was freed: schedule giving memory back to the kernel once enough was. */
void worker_note_freed(struct gw_worker *w, size_t cap);
/** Close a session from outside its handlers (drain, shutdown). `why` is logged. */
void session_abort(struct session *s, const char *why);
/** True when the session is not yet relaying (still in TLS, Logon, hold or connect). */
bool session_is_pre_relay(const struct session *s);
/** Close every held session (drain). */
void session_abort_held(struct gw_worker *w, const char *why);
struct session *session_next(const struct session *s);

#endif
