/* worker.c - a worker thread: accepts on its listening sockets, runs its sessions, releases held ones. */
#include "gateway/worker.h"

#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "gateway/placement.h"
#include "net/sock.h"
#include "telemetry/log.h"

#define ACCEPT_BACKOFF_MS 100 /* pause after EMFILE/ENFILE or at the connection cap */
#define ACCEPT_BATCH      64  /* connections taken per readiness event, for fairness */

static const struct log_ctx worker_log = {.component = "gateway"};

static struct placement placement_;

static void discover_placement(void)
{
	placement_discover(&placement_, "/sys");
}

static uint64_t xorshift(uint64_t s[2])
{
	uint64_t x = s[0], y = s[1];
	s[0] = y;
	x ^= x << 23;
	s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
	return s[1] + y;
}

void worker_random_hex(struct gw_worker *w, char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < nbytes; i += 8) {
		uint64_t v = xorshift(w->rng);
		for (size_t k = 0; k < 8 && i + k < nbytes; k++, v >>= 8) {
			out[2 * (i + k)] = hex[(v >> 4) & 15];
			out[2 * (i + k) + 1] = hex[v & 15];
		}
	}
	out[2 * nbytes] = '\0';
}

/* ---- accepting ---- */

static void pause_accepting(struct gw_worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		if (!w->listeners[i].paused) {
			reactor_del(&w->reactor, &w->listeners[i].io);
			w->listeners[i].paused = true;
		}
	}
	if (!atomic_load(&w->gw->draining))
		reactor_timer_arm(&w->reactor, &w->accept_resume, ACCEPT_BACKOFF_MS);
}

static void resume_accepting(struct reactor_timer *t)
{
	struct gw_worker *w = (struct gw_worker *)((char *)t - offsetof(struct gw_worker, accept_resume));
	if (atomic_load(&w->gw->draining))
		return;
	for (size_t i = 0; i < w->nlisteners; i++) {
		struct gw_worker_listener *wl = &w->listeners[i];
		if (wl->paused) {
			uint32_t ev = EPOLLIN | (wl->owns_fd ? 0 : EPOLLEXCLUSIVE);
			if (reactor_add(&w->reactor, &wl->io, ev) == 0)
				wl->paused = false;
		}
	}
}

static void rate_limited_warn(struct gw_worker *w, const char *event, const char *msg)
{
	uint64_t now = reactor_now(&w->reactor);
	if (now - w->last_cap_log_ms < 1000)
		return;
	w->last_cap_log_ms = now;
	log_msg(LOG_WARN, event, &worker_log, "%s", msg);
}

static void on_listener(struct reactor_io *io, uint32_t events)
{
	struct gw_worker_listener *wl = (struct gw_worker_listener *)io;
	struct gw_worker *w = wl->w;
	struct gateway *gw = w->gw;
	(void)events;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (atomic_load(&gw->counters.active_connections) >=
		    (int)atomic_load(&gw->limits.max_connections)) {
			rate_limited_warn(
			    w, "connection_cap",
			    "maxConnections reached: not accepting for now (the kernel backlog holds new "
			    "connections)");
			pause_accepting(w);
			return;
		}
		struct sockaddr_storage peer;
		socklen_t peer_len;
		int fd = net_accept(io->fd, &peer, &peer_len);
		if (fd == -EAGAIN || fd == -EINTR || fd == -ECONNABORTED)
			return;
		if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
			rate_limited_warn(w, "accept_backoff",
			                  "out of file descriptors or memory: pausing accept");
			pause_accepting(w);
			return;
		}
		if (fd < 0)
			return;
		session_start(w, wl->l, fd, &peer, peer_len);
	}
}

/* ---- held sessions ---- */

static void release_tick(struct reactor_timer *t)
{
	struct gw_worker *w = (struct gw_worker *)((char *)t - offsetof(struct gw_worker, release_tick));
	struct hold_pass pass = session_release_held(w);
	/* Someone was released or is ready but paced: come back after one pacing interval, so a recovered
	 * engine sees a trickle of Logons, not a storm. */
	if (pass.released || pass.waiting_ready) {
		unsigned rate = atomic_load(&w->gw->limits.hold_release_per_sec);
		reactor_timer_arm(&w->reactor, &w->release_tick, rate ? 1000u / rate : 50u);
	}
}

void worker_endpoints_changed(void *worker)
{
	struct gw_worker *w = worker;
	if (w->held.count && !reactor_timer_armed(&w->release_tick))
		reactor_timer_arm(&w->reactor, &w->release_tick, 0);
}

/* ---- memory ---- */

#define TRIM_AFTER_BYTES (1u << 20) /* freed Logon buffers worth a malloc_trim */
#define TRIM_DELAY_MS    1000       /* one trim per second at most, after a burst of closes */

/* glibc keeps freed heap memory for reuse; after a flood of large partial Logons that is tens of MB that
 * nothing will reuse soon. malloc_trim returns the free pages of every arena to the kernel. */
static void trim_tick(struct reactor_timer *t)
{
	struct gw_worker *w = (struct gw_worker *)((char *)t - offsetof(struct gw_worker, trim_tick));
	w->freed_logon_bytes = 0;
	malloc_trim(0);
}

void worker_note_freed(struct gw_worker *w, size_t cap)
{
	w->freed_logon_bytes += cap;
	if (w->freed_logon_bytes >= TRIM_AFTER_BYTES && !reactor_timer_armed(&w->trim_tick))
		reactor_timer_arm(&w->reactor, &w->trim_tick, TRIM_DELAY_MS);
}

/* ---- drain and shutdown ---- */

void worker_begin_drain(void *worker)
{
	struct gw_worker *w = worker;
	reactor_timer_cancel(&w->reactor, &w->accept_resume);
	for (size_t i = 0; i < w->nlisteners; i++) {
		struct gw_worker_listener *wl = &w->listeners[i];
		if (!wl->paused)
			reactor_del(&w->reactor, &wl->io);
		wl->paused = true;
		if (wl->owns_fd && wl->io.fd >= 0) {
			close(wl->io.fd);
			wl->io.fd = -1;
		}
	}
	/* Held connections would wait for endpoints that may never come during a shutdown. */
	session_abort_held(w, "gateway shutting down");
}

void worker_close_all(void *worker)
{
	struct gw_worker *w = worker;
	while (w->sessions.head)
		session_abort(w->sessions.head, "gateway shutdown grace period over");
	reactor_stop(&w->reactor);
}

/* ---- lifecycle ---- */

int worker_init(struct gw_worker *w, struct gateway *gw, unsigned index)
{
	memset(w, 0, sizeof(*w));
	w->gw = gw;
	w->index = index;
	int err = reactor_init(&w->reactor);
	if (err < 0)
		return err;
	w->scratch = malloc(GW_RELAY_CHUNK);
	if (!w->scratch)
		return -ENOMEM;
	if (getrandom(w->rng, sizeof(w->rng), 0) != sizeof(w->rng)) {
		w->rng[0] = (uint64_t)reactor_clock_ms() ^ ((uint64_t)index << 32);
		w->rng[1] = (uint64_t)getpid() * 2654435761u + 1;
	}
	w->accept_resume.on_timer = resume_accepting;
	w->release_tick.on_timer = release_tick;
	w->trim_tick.on_timer = trim_tick;
	hold_queue_init(&w->held);
	/* The worker's own timers (accept_resume, release_tick, trim_tick) never fail to arm either. */
	if ((err = reactor_timer_reserve(&w->reactor, 3)) < 0)
		return err;
	if ((err = tls_pool_init(&w->tls_pool, &w->reactor, GW_TLS_IDLE_MS)) < 0)
		return err;
	const struct gw_config *cfg = gw->boot_cfg;
	for (size_t i = 0; i < gw->nlisteners; i++) {
		struct gw_worker_listener *wl = &w->listeners[w->nlisteners++];
		wl->w = w;
		wl->l = &gw->listeners[i];
		wl->io.on_event = on_listener;
		if (cfg->tuning.reuse_port) {
			int fd = net_listen(&gw->listeners[i].cfg->addr, true, 1024);
			if (fd < 0) {
				log_msg(LOG_CRITICAL, "listen_failed", &worker_log,
				        "cannot listen on %s (%s): %s", gw->listeners[i].cfg->addr.text,
				        gw->listeners[i].cfg->name, strerror(-fd));
				return fd;
			}
			wl->io.fd = fd;
			wl->owns_fd = true;
		} else {
			wl->io.fd = gw->listeners[i].shared_fd;
		}
		err = reactor_add(&w->reactor, &wl->io, EPOLLIN | (wl->owns_fd ? 0 : EPOLLEXCLUSIVE));
		if (err < 0)
			return err;
	}
	return 0;
}

/* Pin this worker to its CPU: the allowed CPUs in NUMA-node order, round robin (placement.h). */
static void pin(struct gw_worker *w)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, discover_placement);
	if (!placement_.count) {
		log_msg(LOG_WARN, "pin_failed", &worker_log,
		        "cannot read this process's CPU affinity: not pinning");
		return;
	}
	size_t i = w->index % placement_.count;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(placement_.cpu[i], &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		log_msg(LOG_WARN, "pin_failed", &worker_log, "could not pin worker %u to CPU %d", w->index,
		        placement_.cpu[i]);
		return;
	}
	log_msg(LOG_INFO, "worker_pinned", &worker_log, "worker %u pinned to CPU %d (NUMA node %d)", w->index,
	        placement_.cpu[i], placement_.node[i]);
}

static void *worker_thread(void *arg)
{
	struct gw_worker *w = arg;
	if (w->gw->boot_cfg->tuning.pin_workers)
		pin(w);
	char name[16];
	snprintf(name, sizeof(name), "fixgw-w%u", w->index);
	pthread_setname_np(pthread_self(), name);
	reactor_run(&w->reactor);
	return NULL;
}

int worker_start(struct gw_worker *w)
{
	int err = pthread_create(&w->thread, NULL, worker_thread, w);
	return err ? -err : 0;
}

void worker_fini(struct gw_worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++)
		if (w->listeners[i].owns_fd && w->listeners[i].io.fd >= 0)
			close(w->listeners[i].io.fd);
	free(w->scratch);
	hold_queue_fini(&w->held);
	tls_pool_fini(&w->tls_pool);
	reactor_fini(&w->reactor);
}
