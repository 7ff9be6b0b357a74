/* reactor.h - a small single-threaded event loop: epoll (level-triggered) for fds, a binary min-heap of
 * timers, deferred callbacks that run after the current batch of events (safe closes from inside a
 * handler), and a thread-safe post queue woken by an eventfd (how other threads talk to a worker).
 *
 * One reactor per thread; nothing here is shared except reactor_post() and reactor_stop().
 */
#ifndef FIXGW_NET_REACTOR_H
#define FIXGW_NET_REACTOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct reactor;

/** An fd registration. Embed it in the owner; on_event gets the epoll event bits. */
struct reactor_io {
	int fd;
	uint32_t events; /* current interest (EPOLLIN / EPOLLOUT / EPOLLRDHUP) */
	bool registered;
	void (*on_event)(struct reactor_io *io, uint32_t events);
};

/** A one-shot timer. Embed it; re-arm from on_timer to repeat. */
struct reactor_timer {
	uint64_t deadline_ms; /* on the reactor's monotonic clock */
	size_t heap_index;    /* position in the heap + 1; 0 when not armed */
	void (*on_timer)(struct reactor_timer *t);
};

/** A callback to run once, after the current batch of events. Embed it. */
struct reactor_deferred {
	struct reactor_deferred *next;
	bool queued;
	void (*run)(struct reactor_deferred *d);
};

struct reactor_post_msg {
	struct reactor_post_msg *next;
	void (*run)(void *arg);
	void *arg;
};

struct reactor {
	int epfd;
	int wakefd; /* eventfd for posts and stop */
	struct reactor_io wake_io;
	atomic_bool stopping; /* reactor_stop() may come from another thread */
	uint64_t now_ms;

	struct reactor_timer **heap;
	size_t nheap, heap_cap;
	size_t reserved; /* heap slots promised to timers (reactor_timer_reserve) */

	struct reactor_deferred *deferred_head, **deferred_tail;

	pthread_mutex_t post_lock;
	struct reactor_post_msg *post_head, *post_tail;

	void (*before_sleep)(struct reactor *r, void *arg); /* optional hook, once per loop turn */
	void *before_sleep_arg;
};

int reactor_init(struct reactor *r);
void reactor_fini(struct reactor *r);

/** Monotonic milliseconds, refreshed once per loop turn (cheap to read often). */
static inline uint64_t reactor_now(const struct reactor *r)
{
	return r->now_ms;
}
uint64_t reactor_clock_ms(void);

/** Register, change interest, unregister. Return 0 or -errno. */
int reactor_add(struct reactor *r, struct reactor_io *io, uint32_t events);
int reactor_set_events(struct reactor *r, struct reactor_io *io, uint32_t events);
void reactor_del(struct reactor *r, struct reactor_io *io);
/** Mark io unregistered without a syscall, for an fd about to be closed: close() removes it from epoll
 * as long as the fd was never duplicated (fixgw never duplicates sockets). */
static inline void reactor_forget(struct reactor_io *io)
{
	io->registered = false;
	io->events = 0;
}

/** Promise heap room to n more timers, so that arming them later cannot fail (a connection's deadline
 * must never be lost to ENOMEM): grows the heap now. Returns 0 or -ENOMEM (nothing reserved). Give the
 * room back with reactor_timer_unreserve when those timers are gone. */
int reactor_timer_reserve(struct reactor *r, size_t n);
void reactor_timer_unreserve(struct reactor *r, size_t n);
/** Arm (or re-arm) a timer for `after_ms` from now; cancel is a no-op when not armed. Timers fire in deadline
 * order; one pass fires at most as many as were armed when it began, so a timer re-armed due from its own
 * callback fires again on the next loop turn, after the fds. Returns 0, or -ENOMEM when the heap cannot grow
 * (never for timers within the reserved room). */
int reactor_timer_arm(struct reactor *r, struct reactor_timer *t, uint64_t after_ms);
void reactor_timer_cancel(struct reactor *r, struct reactor_timer *t);
static inline bool reactor_timer_armed(const struct reactor_timer *t)
{
	return t->heap_index != 0;
}

/** Queue a deferred callback (no-op if already queued). */
void reactor_defer(struct reactor *r, struct reactor_deferred *d);

/** From any thread: run fn(arg) on the reactor's thread. The message is copied; returns 0 or -ENOMEM. */
int reactor_post(struct reactor *r, void (*fn)(void *arg), void *arg);

/** Run the deferred and posted callbacks now, on the reactor's thread or after its loop stopped (at
 * shutdown, so what they carry is freed, not lost). */
void reactor_flush(struct reactor *r);

/** Run until reactor_stop(). */
void reactor_run(struct reactor *r);
/** From any thread. */
void reactor_stop(struct reactor *r);

#endif
