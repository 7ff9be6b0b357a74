/* reactor.c - epoll + timer heap + deferred queue + cross-thread posts. */
#include "net/reactor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "net/fault.h"
#include "telemetry/log.h"

/* How soon a loop retries writing log lines the sink could not take, when nothing else wakes it. */
#define REACTOR_LOG_RETRY_MS 10

#define REACTOR_MAX_EVENTS 256

uint64_t reactor_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void drain_posts(struct reactor_io *io, uint32_t events);

int reactor_init(struct reactor *r)
{
	memset(r, 0, sizeof(*r));
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		return -errno;
	r->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wakefd < 0) {
		int err = -errno;
		close(r->epfd);
		r->epfd = -1;
		return err;
	}
	pthread_mutex_init(&r->post_lock, NULL);
	r->deferred_tail = &r->deferred_head;
	r->now_ms = reactor_clock_ms();
	r->wake_io = (struct reactor_io){.fd = r->wakefd, .on_event = drain_posts};
	return reactor_add(r, &r->wake_io, EPOLLIN);
}

void reactor_fini(struct reactor *r)
{
	struct reactor_post_msg *m = r->post_head;
	while (m) {
		struct reactor_post_msg *next = m->next;
		free(m);
		m = next;
	}
	free(r->heap);
	close(r->wakefd);
	close(r->epfd);
	pthread_mutex_destroy(&r->post_lock);
}

int reactor_add(struct reactor *r, struct reactor_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	io->registered = true;
	return 0;
}

int reactor_set_events(struct reactor *r, struct reactor_io *io, uint32_t events)
{
	if (!io->registered)
		return reactor_add(r, io, events);
	if (io->events == events)
		return 0;
	struct epoll_event ev = {.events = events, .data.ptr = io};
	if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	return 0;
}

void reactor_del(struct reactor *r, struct reactor_io *io)
{
	if (io->registered)
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->registered = false;
	io->events = 0;
}

/* ---- timers: binary min-heap on deadline; heap_index is 1-based so 0 means "not armed" ---- */

static void heap_swap(struct reactor *r, size_t a, size_t b)
{
	struct reactor_timer *t = r->heap[a];
	r->heap[a] = r->heap[b];
	r->heap[b] = t;
	r->heap[a]->heap_index = a + 1;
	r->heap[b]->heap_index = b + 1;
}

static void heap_up(struct reactor *r, size_t i)
{
	while (i > 0 && r->heap[(i - 1) / 2]->deadline_ms > r->heap[i]->deadline_ms) {
		heap_swap(r, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct reactor *r, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < r->nheap && r->heap[l]->deadline_ms < r->heap[m]->deadline_ms)
			m = l;
		if (l + 1 < r->nheap && r->heap[l + 1]->deadline_ms < r->heap[m]->deadline_ms)
			m = l + 1;
		if (m == i)
			return;
		heap_swap(r, i, m);
		i = m;
	}
}

void reactor_timer_cancel(struct reactor *r, struct reactor_timer *t)
{
	if (!t->heap_index)
		return;
	size_t i = t->heap_index - 1;
	t->heap_index = 0;
	r->nheap--;
	if (i == r->nheap)
		return;
	r->heap[i] = r->heap[r->nheap];
	r->heap[i]->heap_index = i + 1;
	heap_up(r, i);
	heap_down(r, r->heap[i]->heap_index - 1);
}

#ifndef REACTOR_REALLOC
#define REACTOR_REALLOC realloc /* unit tests make it fail (fault injection) */
#endif

static int heap_grow(struct reactor *r, size_t need)
{
	if (need <= r->heap_cap)
		return 0;
	size_t cap = r->heap_cap ? r->heap_cap * 2 : 64;
	while (cap < need)
		cap *= 2;
	long limit;
	if (fault_active("timer_grow", &limit) && cap > (size_t)limit)
		return -ENOMEM; /* test-only: a heap that cannot grow past `limit` timers */
	struct reactor_timer **h = REACTOR_REALLOC(r->heap, cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	r->heap = h;
	r->heap_cap = cap;
	return 0;
}

int reactor_timer_reserve(struct reactor *r, size_t n)
{
	int err = heap_grow(r, r->reserved + n);
	if (err == 0)
		r->reserved += n;
	return err;
}

void reactor_timer_unreserve(struct reactor *r, size_t n)
{
	r->reserved = n < r->reserved ? r->reserved - n : 0;
}

int reactor_timer_arm(struct reactor *r, struct reactor_timer *t, uint64_t after_ms)
{
	reactor_timer_cancel(r, t);
	if (r->nheap == r->heap_cap && heap_grow(r, r->nheap + 1) < 0)
		return -ENOMEM;
	t->deadline_ms = r->now_ms + after_ms;
	r->heap[r->nheap] = t;
	t->heap_index = ++r->nheap;
	heap_up(r, r->nheap - 1);
	return 0;
}

/* Fires the due timers, at most as many as were armed when the pass began: a timer that its callback re-arms
 * due again (0 ms) waits for the next turn instead of spinning here while no fd is served. */
static void run_timers(struct reactor *r)
{
	for (size_t budget = r->nheap; budget && r->nheap && r->heap[0]->deadline_ms <= r->now_ms; budget--) {
		struct reactor_timer *t = r->heap[0];
		reactor_timer_cancel(r, t);
		t->on_timer(t);
	}
}

/* ---- deferred callbacks ---- */

void reactor_defer(struct reactor *r, struct reactor_deferred *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->next = NULL;
	*r->deferred_tail = d;
	r->deferred_tail = &d->next;
}

static void run_deferred(struct reactor *r)
{
	while (r->deferred_head) {
		struct reactor_deferred *d = r->deferred_head;
		r->deferred_head = d->next;
		if (!r->deferred_head)
			r->deferred_tail = &r->deferred_head;
		d->queued = false;
		d->run(d);
	}
}

/* ---- posts from other threads ---- */

int reactor_post(struct reactor *r, void (*fn)(void *arg), void *arg)
{
	struct reactor_post_msg *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	*m = (struct reactor_post_msg){NULL, fn, arg};
	pthread_mutex_lock(&r->post_lock);
	if (r->post_tail)
		r->post_tail->next = m;
	else
		r->post_head = m;
	r->post_tail = m;
	pthread_mutex_unlock(&r->post_lock);
	uint64_t one = 1;
	ssize_t w = write(r->wakefd, &one, sizeof(one));
	(void)w; /* EAGAIN means a wake-up is already pending */
	return 0;
}

static void drain_posts(struct reactor_io *io, uint32_t events)
{
	struct reactor *r = (struct reactor *)((char *)io - offsetof(struct reactor, wake_io));
	uint64_t v;
	ssize_t rd = read(r->wakefd, &v, sizeof(v));
	(void)rd;
	(void)events;
	pthread_mutex_lock(&r->post_lock);
	struct reactor_post_msg *m = r->post_head;
	r->post_head = r->post_tail = NULL;
	pthread_mutex_unlock(&r->post_lock);
	while (m) {
		struct reactor_post_msg *next = m->next;
		m->run(m->arg);
		free(m);
		m = next;
	}
}

void reactor_flush(struct reactor *r)
{
	run_deferred(r);
	drain_posts(&r->wake_io, 0);
	run_deferred(r);
}

void reactor_stop(struct reactor *r)
{
	atomic_store_explicit(&r->stopping, true, memory_order_release);
	uint64_t one = 1;
	ssize_t w = write(r->wakefd, &one, sizeof(one));
	(void)w;
}

void reactor_run(struct reactor *r)
{
	struct epoll_event events[REACTOR_MAX_EVENTS];
	/* The loop's log lines wait in a thread buffer and go out in one write per turn (a turn often closes
	 * several connections); a full log pipe then costs dropped lines, never a stalled loop. */
	log_sink_thread_buffer(true);
	while (!atomic_load_explicit(&r->stopping, memory_order_acquire)) {
		if (r->before_sleep)
			r->before_sleep(r, r->before_sleep_arg);
		int timeout = -1;
		if (r->deferred_head) {
			timeout = 0;
		} else if (r->nheap) {
			uint64_t now = reactor_clock_ms();
			uint64_t d = r->heap[0]->deadline_ms;
			timeout = d <= now ? 0 : (int)(d - now > 60000 ? 60000 : d - now);
		}
		if (log_flush() && (timeout < 0 || timeout > REACTOR_LOG_RETRY_MS))
			timeout = REACTOR_LOG_RETRY_MS;
		int n = epoll_wait(r->epfd, events, REACTOR_MAX_EVENTS, timeout);
		r->now_ms = reactor_clock_ms();
		for (int i = 0; i < n; i++) {
			struct reactor_io *io = events[i].data.ptr;
			io->on_event(io, events[i].events);
		}
		run_deferred(r);
		run_timers(r);
		run_deferred(r);
	}
	log_sink_thread_buffer(false); /* flushes, waiting a bounded time for a full sink */
}
