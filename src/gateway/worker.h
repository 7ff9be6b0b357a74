/* worker.h - one worker thread: a reactor, its share of the listening sockets, and its sessions. */
#ifndef FIXGW_GATEWAY_WORKER_H
#define FIXGW_GATEWAY_WORKER_H

#include <pthread.h>
#include <stdint.h>

#include "gateway/endpoints.h"
#include "gateway/gateway.h"
#include "gateway/hold_queue.h"
#include "net/reactor.h"

#define GW_RELAY_CHUNK (64u * 1024u) /* bytes moved per read; also the largest pending buffer */
#define GW_TLS_IDLE_MS 2000u         /* a TLS connection quiet this long gives its record buffers back */

struct session;

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
	struct gateway *gw;
	unsigned index;
	pthread_t thread;
	struct reactor reactor;

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
	uint64_t last_cap_log_ms;
};

int worker_init(struct gw_worker *w, struct gateway *gw, unsigned index);
int worker_start(struct gw_worker *w);
void worker_fini(struct gw_worker *w);

/** Called on the worker's thread (via reactor_post): stop accepting, close held and not-yet-routed
 * connections gracefully, keep relaying ones. */
void worker_begin_drain(void *worker);
/** On the worker's thread: close every session now. */
void worker_close_all(void *worker);
/** On the worker's thread: endpoints changed; try to release held sessions. */
void worker_endpoints_changed(void *worker);

/** Random hex ids for trace correlation. */
void worker_random_hex(struct gw_worker *w, char *out, size_t nbytes);

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
