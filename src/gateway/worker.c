/* worker.c - a worker thread: accepts on its listening sockets, runs its sessions, releases held ones. */
#include "gateway/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/gateway_impl.h"
#include "gateway/placement.h"
#include "net/fault.h"
#include "net/sock.h"
#include "telemetry/log.h"
#include "telemetry/otlp.h"

#define ACCEPT_BACKOFF_MS 100 /* pause after EMFILE/ENFILE or at the connection cap */
#define ACCEPT_BATCH      64  /* connections taken per readiness event, for fairness */

static const struct log_ctx worker_log = {.component = "gateway"};

static struct placement placement_;

static void discover_placement(void)
{
	placement_discover(&placement_, "/sys");
}

void worker_random_id(struct gw_worker *w, uint8_t *out, size_t n)
{
	otlp_random_id(w->rng, out, n);
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

/* ---- loops: an endpoint that leads back into our own listener ---- */

static uint16_t sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

/* An upstream socket's slot: [63:48] how many of this worker's upstream sockets use the local port, [47:0]
 * the remote address of the latest of them (addr_key). In a loop the connection that arrives is the one
 * just opened, so the latest is the one to compare. */
#define SLOT_COUNT_SHIFT 48
#define SLOT_KEY_MASK    ((1ull << SLOT_COUNT_SHIFT) - 1)
#define SLOT_COUNT_MAX   0xffffu

/* 48 bits naming an address and port: IPv4 (and v4-mapped IPv6) exactly, other IPv6 by a hash of the
 * address. 0 for anything else, or for len too short for its family. */
static uint64_t addr_key(const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (uint64_t)ntohl(in->sin_addr.s_addr) << 16 | ntohs(in->sin_port);
	}
	if (sa->sa_family != AF_INET6 || len < sizeof(struct sockaddr_in6))
		return 0;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	const uint8_t *a = in6->sin6_addr.s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return (uint64_t)((uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 |
		                  a[15])
		           << 16 |
		       ntohs(in6->sin6_port);
	uint32_t h = 2166136261u; /* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	return (uint64_t)h << 16 | ntohs(in6->sin6_port);
}

uint16_t worker_upstream_opened(struct gw_worker *w, int fd, const struct sockaddr *remote,
                                socklen_t remote_len)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		return 0;
	uint16_t port = sockaddr_port(&local);
	uint64_t v = atomic_load_explicit(&w->upstream_ports[port], memory_order_relaxed);
	uint64_t n = v >> SLOT_COUNT_SHIFT;
	if (port && n < SLOT_COUNT_MAX)
		atomic_store_explicit(&w->upstream_ports[port],
		                      (n + 1) << SLOT_COUNT_SHIFT | addr_key(remote, remote_len),
		                      memory_order_release);
	return port;
}

void worker_upstream_closed(struct gw_worker *w, uint16_t port)
{
	uint64_t v = atomic_load_explicit(&w->upstream_ports[port], memory_order_relaxed);
	uint64_t n = v >> SLOT_COUNT_SHIFT;
	/* A saturated count stays: a false "maybe ours" only costs the exact comparison. */
	if (port && n > 0 && n < SLOT_COUNT_MAX)
		atomic_store_explicit(&w->upstream_ports[port], v - (1ull << SLOT_COUNT_SHIFT),
		                      memory_order_relaxed);
}

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		               &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
	return false;
}

/* Netfilter's socket option for the destination a connection had before DNAT (a protocol constant of
 * <linux/netfilter_ipv4.h>, whose header clashes with <netinet/in.h>; the IPv6 one has the same value). */
#define NF_SO_ORIGINAL_DST 80

/* The address the peer dialled: where a local DNAT rule (a Service address, a REDIRECT) sent it to our
 * listener, the address before the rule; otherwise none (0). */
static uint64_t original_dst_key(int fd, int family)
{
	struct sockaddr_storage dst = {0};
	socklen_t len = sizeof(dst);
	int level = family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
	if (getsockopt(fd, level, NF_SO_ORIGINAL_DST, &dst, &len) < 0)
		return 0;
	return addr_key((const struct sockaddr *)&dst, len);
}

/* Is the connection just accepted on fd one of our own upstream connections, that is, does an endpoint
 * (an address, a NAT or Service address) lead back into this gateway, which relaying would turn into a
 * connection per hop until maxConnections? It is when one of our upstream sockets has the peer's port
 * as its local port, the peer's IP is ours, and that upstream socket dialled the address this
 * connection arrived at (or the one it dialled before a local DNAT). All three, because a client on
 * this host may well use the same local port as one of our upstream sockets towards another address.
 * Cheap when it is not ours: one table lookup per worker; the syscalls only when the port matches. */
static uint64_t upstream_slot(const struct gateway *gw, unsigned worker, uint16_t port)
{
	const struct gw_worker *o = &gw->workers[worker];
	return o->upstream_ports ? atomic_load_explicit(&o->upstream_ports[port], memory_order_acquire) : 0;
}

static bool is_own_upstream(struct gw_worker *w, int fd, const struct sockaddr_storage *peer)
{
	struct gateway *gw = w->gw;
	uint16_t port = sockaddr_port(peer);
	bool maybe = false;
	for (unsigned i = 0; i < gw->nworkers && !maybe; i++)
		maybe = upstream_slot(gw, i, port) >> SLOT_COUNT_SHIFT;
	if (!maybe)
		return false;
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0 || !same_ip(&local, peer))
		return false;
	uint64_t dialled = addr_key((const struct sockaddr *)&local, len), before_nat = 0;
	bool nat_asked = false;
	for (unsigned i = 0; i < gw->nworkers; i++) {
		uint64_t v = upstream_slot(gw, i, port);
		if (!(v >> SLOT_COUNT_SHIFT))
			continue;
		if ((v & SLOT_KEY_MASK) == dialled)
			return true;
		if (!nat_asked) {
			before_nat = original_dst_key(fd, local.ss_family);
			nat_asked = true;
		}
		if (before_nat && (v & SLOT_KEY_MASK) == before_nat)
			return true;
	}
	return false;
}

static void refuse_loop(struct gw_worker *w, struct gw_listener *l, int fd,
                        const struct sockaddr_storage *peer, socklen_t peer_len)
{
	gw_count(&w->stats.loops_refused, 1);
	close(fd);
	uint64_t now = reactor_now(&w->reactor);
	if (now - w->last_loop_log_ms < 1000)
		return;
	w->last_loop_log_ms = now;
	char text[64];
	net_addr_format((const struct sockaddr *)peer, peer_len, text, sizeof(text));
	struct log_line ll;
	log_begin(&ll, LOG_ERROR, "routing_loop", &worker_log);
	log_str(&ll, "listener", l->cfg->name);
	log_str(&ll, "peer", text);
	log_end(&ll,
	        "refused a connection from this gateway's own upstream socket %s: an endpoint leads back "
	        "into listener %s (check the endpoints and Services the FIXSessions target)",
	        text, l->cfg->name);
}

static void on_listener(struct reactor_io *io, uint32_t events)
{
	struct gw_worker_listener *wl = (struct gw_worker_listener *)io;
	struct gw_worker *w = wl->w;
	struct gateway *gw = w->gw;
	(void)events;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (gw_active_connections(gw) >= (int64_t)w->snap->limits.max_connections) {
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
		if (is_own_upstream(w, fd, &peer)) {
			refuse_loop(w, wl->l, fd, &peer, peer_len);
			continue;
		}
		long stall_ms;
		if (fault_active("stall_worker_ms", &stall_ms) && stall_ms > 0) {
			/* test-only: a worker stuck in a handler (what /healthz must notice) */
			struct timespec ts = {stall_ms / 1000, (stall_ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
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
		unsigned rate = w->snap->limits.hold_release_per_sec;
		reactor_timer_arm(&w->reactor, &w->release_tick, rate ? 1000u / rate : 50u);
	}
}

/* The last reference to a snapshot may free a large table: let the control thread do that. */
static void unref_snapshot(void *snap)
{
	gw_snapshot_unref(snap);
}

void worker_snapshot_changed(void *worker)
{
	struct gw_worker *w = worker;
	struct gw_snapshot *old = w->snap;
	w->snap = gw_snapshot_current(w->gw);
	if (!w->snap) {
		w->snap = old;
		return;
	}
	if (reactor_post(&w->gw->control, unref_snapshot, old) < 0)
		gw_snapshot_unref(old);
	worker_endpoints_changed(w);
}

void worker_endpoints_changed(struct gw_worker *w)
{
	if (w->held.count && !reactor_timer_armed(&w->release_tick))
		reactor_timer_arm(&w->reactor, &w->release_tick, 0);
}

void worker_ping(void *worker)
{
	struct gw_worker *w = worker;
	atomic_store_explicit(&w->pong_ms, atomic_load_explicit(&w->ping_ms, memory_order_relaxed),
	                      memory_order_relaxed);
}

bool worker_hold_claim(struct gw_worker *w, int cap)
{
	atomic_int *held = &w->gw->held_connections;
	int v = atomic_load(held);
	while (v < cap)
		if (atomic_compare_exchange_weak(held, &v, v + 1))
			return true;
	return false;
}

void worker_hold_release(struct gw_worker *w)
{
	atomic_fetch_sub(&w->gw->held_connections, 1);
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
	w->rr = index; /* workers start their rotations at different endpoints */
	for (size_t i = 0; i < GW_MAX_LISTENERS; i++)
		w->listeners[i].io.fd = -1;
	long bad;
	if (fault_active("worker_init", &bad) && bad == (long)index)
		return -ENOMEM; /* test-only */
	int err = reactor_init(&w->reactor);
	if (err < 0)
		return err;
	w->snap = gw_snapshot_current(gw);
	w->scratch = malloc(GW_RELAY_CHUNK);
	w->upstream_ports = calloc(65536, sizeof(*w->upstream_ports));
	if (!w->scratch || !w->upstream_ports || !w->snap)
		return -ENOMEM;
	otlp_random_seed(w->rng);
	w->rng[0] ^= (uint64_t)index << 32; /* distinct even when two seeds come from the clock */
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
	long bad;
	if (fault_active("thread_start", &bad) && bad == (long)w->index)
		return -EAGAIN; /* test-only: as pthread_create does when out of threads */
	int err = pthread_create(&w->thread, NULL, worker_thread, w);
	return err ? -err : 0;
}

static void stop_loop(void *worker)
{
	struct gw_worker *w = worker;
	while (w->sessions.head)
		session_abort(w->sessions.head, "gateway stopping");
	reactor_stop(&w->reactor);
}

void worker_stop(struct gw_worker *w)
{
	if (reactor_post(&w->reactor, stop_loop, w) < 0)
		reactor_stop(&w->reactor);
	pthread_join(w->thread, NULL);
}

/* Safe on a worker whose init failed at any point (memset first, fds -1 until opened). */
void worker_fini(struct gw_worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++)
		if (w->listeners[i].owns_fd && w->listeners[i].io.fd >= 0)
			close(w->listeners[i].io.fd);
	free(w->scratch);
	hold_queue_fini(&w->held);
	tls_pool_fini(&w->tls_pool);
	free(w->upstream_ports);
	gw_snapshot_unref(w->snap);
	if (w->reactor.epfd > 0)
		reactor_fini(&w->reactor);
	memset(w, 0, sizeof(*w));
}
