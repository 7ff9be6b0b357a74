/* Unit tests for src/net/reactor.c: fd events and interest changes on real pipes, the timer heap (ordering,
 * cancel, re-arm; a randomised check against a sorted list), deferred callbacks (after the batch, once, and
 * the close-from-a-handler pattern they exist for), and posts from other threads. Nothing here asserts a
 * duration: the loop runs until the condition under test has happened. */
#include "net/reactor.c"

#include <fcntl.h>
#include <pthread.h>

#include "test.h"

#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Ends reactor_run if the condition under test never comes, so a bug fails the test instead of hanging it. */
struct watchdog {
	struct reactor_timer t;
	struct reactor *r;
	bool fired;
};

static void watchdog_fired(struct reactor_timer *t)
{
	struct watchdog *w = CONTAINER_OF(t, struct watchdog, t);
	w->fired = true;
	reactor_stop(w->r);
}

static void watchdog_arm(struct watchdog *w, struct reactor *r, uint64_t ms)
{
	*w = (struct watchdog){.t = {.on_timer = watchdog_fired}, .r = r};
	CHECK_EQ_INT(reactor_timer_arm(r, &w->t, ms), 0);
}

#define WATCHDOG_MS 30000

/* ---- file events ---- */

struct pipe_io {
	struct reactor_io io;
	struct reactor *r;
	int wfd;
	int reads, writes;
	uint32_t last;
};

static void pipe_read_event(struct reactor_io *io, uint32_t events)
{
	struct pipe_io *p = CONTAINER_OF(io, struct pipe_io, io);
	char buf[16];
	p->last = events;
	if (events & EPOLLIN) {
		ssize_t n = read(io->fd, buf, sizeof(buf));
		CHECK(n > 0);
		if (++p->reads == 3)
			reactor_stop(p->r);
		else
			CHECK_EQ_INT(write(p->wfd, "x", 1), 1); /* level-triggered: next turn sees it again */
	}
}

TEST(file_event_reports_readable_fd_each_time_it_has_data)
{
	struct reactor r;
	struct watchdog wd;
	int fds[2];
	CHECK_EQ_INT(reactor_init(&r), 0);
	CHECK_EQ_INT(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	struct pipe_io p = {.io = {.fd = fds[0], .on_event = pipe_read_event}, .r = &r, .wfd = fds[1]};
	CHECK_EQ_INT(reactor_add(&r, &p.io, EPOLLIN), 0);
	CHECK(p.io.registered);
	CHECK_EQ_INT(p.io.events, EPOLLIN);
	CHECK_EQ_INT(write(fds[1], "x", 1), 1);
	watchdog_arm(&wd, &r, WATCHDOG_MS);
	reactor_run(&r);
	CHECK(!wd.fired);
	CHECK_EQ_INT(p.reads, 3);
	CHECK(p.last & EPOLLIN);
	reactor_del(&r, &p.io);
	CHECK(!p.io.registered);
	CHECK_EQ_INT(p.io.events, 0);
	close(fds[0]);
	close(fds[1]);
	reactor_fini(&r);
}

static void pipe_write_event(struct reactor_io *io, uint32_t events)
{
	struct pipe_io *p = CONTAINER_OF(io, struct pipe_io, io);
	p->last = events;
	if (events & EPOLLOUT) {
		p->writes++;
		/* writable once is enough: drop EPOLLOUT interest, then wait for data instead */
		CHECK_EQ_INT(reactor_set_events(p->r, io, 0), 0);
		reactor_stop(p->r);
	}
}

TEST(set_events_switches_interest_and_is_a_no_op_when_unchanged)
{
	struct reactor r;
	struct watchdog wd;
	int fds[2];
	CHECK_EQ_INT(reactor_init(&r), 0);
	CHECK_EQ_INT(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	/* the write end of an empty pipe is writable at once */
	struct pipe_io p = {.io = {.fd = fds[1], .on_event = pipe_write_event}, .r = &r};
	CHECK_EQ_INT(reactor_set_events(&r, &p.io, EPOLLOUT), 0); /* not registered yet: adds it */
	CHECK(p.io.registered);
	CHECK_EQ_INT(reactor_set_events(&r, &p.io, EPOLLOUT), 0);
	watchdog_arm(&wd, &r, WATCHDOG_MS);
	reactor_run(&r);
	CHECK(!wd.fired);
	CHECK_EQ_INT(p.writes, 1);
	CHECK_EQ_INT(p.io.events, 0);
	/* with no interest the fd stays quiet: only the (short) watchdog ends the next run */
	atomic_store(&r.stopping, false);
	reactor_timer_cancel(&r, &wd.t);
	watchdog_arm(&wd, &r, 1);
	reactor_run(&r);
	CHECK(wd.fired);
	CHECK_EQ_INT(p.writes, 1);
	reactor_del(&r, &p.io);
	close(fds[0]);
	close(fds[1]);
	reactor_fini(&r);
}

TEST(add_and_set_events_return_negative_errno)
{
	struct reactor r;
	CHECK_EQ_INT(reactor_init(&r), 0);
	struct reactor_io bad = {.fd = -1, .on_event = pipe_read_event};
	CHECK_EQ_INT(reactor_add(&r, &bad, EPOLLIN), -EBADF);
	CHECK(!bad.registered);
	CHECK_EQ_INT(reactor_set_events(&r, &bad, EPOLLIN), -EBADF);
	reactor_del(&r, &bad); /* never registered: nothing to do, no crash */
	int fds[2];
	CHECK_EQ_INT(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	struct reactor_io twice = {.fd = fds[0], .on_event = pipe_read_event};
	CHECK_EQ_INT(reactor_add(&r, &twice, EPOLLIN), 0);
	CHECK_EQ_INT(reactor_add(&r, &twice, EPOLLIN), -EEXIST);
	/* forget: close() removes the fd from epoll, the registration forgets it without a syscall */
	reactor_forget(&twice);
	CHECK(!twice.registered);
	close(fds[0]);
	close(fds[1]);
	reactor_fini(&r);
}

/* ---- timers ---- */

struct tick {
	struct reactor_timer t;
	struct reactor *r;
	int id;
	int *order, *n;
	struct reactor_timer *cancel; /* cancelled from this timer's callback, if set */
	int rearm;                    /* times to re-arm itself */
};

static void tick_fired(struct reactor_timer *t)
{
	struct tick *k = CONTAINER_OF(t, struct tick, t);
	k->order[(*k->n)++] = k->id;
	if (k->cancel)
		reactor_timer_cancel(k->r, k->cancel);
	if (k->rearm > 0) {
		k->rearm--;
		CHECK_EQ_INT(reactor_timer_arm(k->r, t, 0), 0);
	}
}

/* Fires every timer due at r->now_ms, as the loop does after epoll_wait. */
static void fire_due(struct reactor *r, uint64_t now)
{
	r->now_ms = now;
	run_timers(r);
}

TEST(timers_fire_in_deadline_order_not_arming_order)
{
	struct reactor r;
	int order[8], n = 0;
	CHECK_EQ_INT(reactor_init(&r), 0);
	uint64_t t0 = r.now_ms;
	struct tick k[5];
	const uint64_t after[5] = {30, 10, 50, 20, 40};
	for (int i = 0; i < 5; i++) {
		k[i] =
		    (struct tick){.t = {.on_timer = tick_fired}, .r = &r, .id = i, .order = order, .n = &n};
		CHECK(!reactor_timer_armed(&k[i].t));
		CHECK_EQ_INT(reactor_timer_arm(&r, &k[i].t, after[i]), 0);
		CHECK(reactor_timer_armed(&k[i].t));
	}
	fire_due(&r, t0 + 9);
	CHECK_EQ_INT(n, 0);
	fire_due(&r, t0 + 20); /* 10 and 20 are due */
	CHECK_EQ_INT(n, 2);
	fire_due(&r, t0 + 100);
	CHECK_EQ_INT(n, 5);
	const int want[5] = {1, 3, 0, 4, 2};
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(order[i], want[i]);
	for (int i = 0; i < 5; i++)
		CHECK(!reactor_timer_armed(&k[i].t));
	CHECK_EQ_INT(r.nheap, 0);
	reactor_fini(&r);
}

TEST(cancelled_and_rearmed_timers)
{
	struct reactor r;
	int order[8], n = 0;
	CHECK_EQ_INT(reactor_init(&r), 0);
	uint64_t t0 = r.now_ms;
	struct tick k[4];
	for (int i = 0; i < 4; i++)
		k[i] =
		    (struct tick){.t = {.on_timer = tick_fired}, .r = &r, .id = i, .order = order, .n = &n};
	CHECK_EQ_INT(reactor_timer_arm(&r, &k[0].t, 10), 0);
	CHECK_EQ_INT(reactor_timer_arm(&r, &k[1].t, 20), 0);
	CHECK_EQ_INT(reactor_timer_arm(&r, &k[2].t, 30), 0);
	CHECK_EQ_INT(reactor_timer_arm(&r, &k[3].t, 40), 0);
	reactor_timer_cancel(&r, &k[1].t); /* from the middle of the heap */
	CHECK(!reactor_timer_armed(&k[1].t));
	reactor_timer_cancel(&r, &k[1].t); /* twice: a no-op */
	CHECK_EQ_INT(r.nheap, 3);
	CHECK_EQ_INT(reactor_timer_arm(&r, &k[0].t, 35), 0); /* re-arming moves it, never duplicates it */
	CHECK_EQ_INT(r.nheap, 3);
	k[2].cancel = &k[3].t; /* the 30 ms timer cancels the 40 ms one from its callback */
	fire_due(&r, t0 + 1000);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(order[0], 2);
	CHECK_EQ_INT(order[1], 0);
	CHECK_EQ_INT(r.nheap, 0);
	reactor_fini(&r);
}

TEST(timer_rearmed_due_from_its_callback_waits_for_the_next_turn)
{
	/* A timer that re-arms itself with 0 ms is due again at once: firing it again in the same pass would
	 * spin there for as long as it keeps re-arming, and no fd would be served meanwhile. */
	struct reactor r;
	int order[8], n = 0;
	CHECK_EQ_INT(reactor_init(&r), 0);
	struct tick k = {
	    .t = {.on_timer = tick_fired}, .r = &r, .id = 7, .order = order, .n = &n, .rearm = 2};
	CHECK_EQ_INT(reactor_timer_arm(&r, &k.t, 0), 0);
	fire_due(&r, r.now_ms);
	CHECK_EQ_INT(n, 1);
	CHECK(reactor_timer_armed(&k.t));
	fire_due(&r, r.now_ms);
	CHECK_EQ_INT(n, 2);
	fire_due(&r, r.now_ms);
	CHECK_EQ_INT(n, 3);
	CHECK(!reactor_timer_armed(&k.t));
	reactor_fini(&r);
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

struct rtick {
	struct reactor_timer t;
	uint64_t deadline;
	bool cancelled;
	int fired;
};

static uint64_t last_fired;
static int fired_total;

static void rtick_fired(struct reactor_timer *t)
{
	struct rtick *k = CONTAINER_OF(t, struct rtick, t);
	k->fired++;
	CHECK(!k->cancelled);
	CHECK(k->deadline >= last_fired); /* never out of order */
	last_fired = k->deadline;
	fired_total++;
}

TEST(timer_heap_matches_a_sorted_list_under_random_arm_and_cancel)
{
	enum { N = 2000 };
	static struct rtick k[N];
	struct reactor r;
	CHECK_EQ_INT(reactor_init(&r), 0);
	uint64_t t0 = r.now_ms;
	for (int i = 0; i < N; i++) {
		k[i] = (struct rtick){.t = {.on_timer = rtick_fired}};
		uint64_t after = rnd() % 500;
		CHECK_EQ_INT(reactor_timer_arm(&r, &k[i].t, after), 0);
		k[i].deadline = t0 + after;
	}
	int live = N;
	for (int round = 0; round < 3 * N; round++) { /* cancel some, re-arm others */
		struct rtick *x = &k[rnd() % N];
		if (rnd() % 3 == 0) {
			if (!x->cancelled)
				live--;
			reactor_timer_cancel(&r, &x->t);
			x->cancelled = true;
		} else {
			uint64_t after = rnd() % 500;
			if (x->cancelled)
				live++;
			CHECK_EQ_INT(reactor_timer_arm(&r, &x->t, after), 0);
			x->deadline = t0 + after;
			x->cancelled = false;
		}
	}
	CHECK_EQ_INT(r.nheap, live);
	for (size_t i = 0; i < r.nheap; i++) { /* heap property and back-pointers */
		CHECK_EQ_INT(r.heap[i]->heap_index, i + 1);
		if (i)
			CHECK(r.heap[(i - 1) / 2]->deadline_ms <= r.heap[i]->deadline_ms);
	}
	last_fired = 0;
	fired_total = 0;
	for (uint64_t now = t0; now < t0 + 500; now += 7) /* in steps, as turns of the loop would */
		fire_due(&r, now);
	fire_due(&r, t0 + 500);
	CHECK_EQ_INT(fired_total, live);
	for (int i = 0; i < N; i++)
		CHECK_EQ_INT(k[i].fired, k[i].cancelled ? 0 : 1);
	CHECK_EQ_INT(r.nheap, 0);
	reactor_fini(&r);
}

struct timed_stop {
	struct reactor_timer t;
	struct reactor *r;
	int fired;
};

static void timed_stop_fired(struct reactor_timer *t)
{
	struct timed_stop *s = CONTAINER_OF(t, struct timed_stop, t);
	s->fired++;
	reactor_stop(s->r);
}

TEST(run_sleeps_until_the_first_timer_and_fires_it)
{
	struct reactor r;
	CHECK_EQ_INT(reactor_init(&r), 0);
	struct timed_stop s = {.t = {.on_timer = timed_stop_fired}, .r = &r};
	CHECK_EQ_INT(reactor_timer_arm(&r, &s.t, 5), 0);
	uint64_t deadline = s.t.deadline_ms;
	reactor_run(&r); /* nothing else is registered: only the timer can end this */
	CHECK_EQ_INT(s.fired, 1);
	CHECK(reactor_now(&r) >= deadline); /* never early */
	reactor_fini(&r);
}

/* ---- deferred callbacks ---- */

struct closer {
	struct reactor_io io;
	struct reactor_deferred close_later;
	struct reactor *r;
	int *log, *n;
	int id;
	bool closed;
};

static void closer_closed(struct reactor_deferred *d)
{
	struct closer *c = CONTAINER_OF(d, struct closer, close_later);
	c->log[(*c->n)++] = 100 + c->id;
	reactor_del(c->r, &c->io);
	c->closed = true;
}

static void closer_event(struct reactor_io *io, uint32_t events)
{
	struct closer *c = CONTAINER_OF(io, struct closer, io);
	(void)events;
	CHECK(!c->closed); /* a deferred close never runs while the batch may still reach this object */
	c->log[(*c->n)++] = c->id;
	reactor_defer(c->r, &c->close_later);
	reactor_defer(c->r, &c->close_later); /* queued once */
}

static void stop_deferred(struct reactor_deferred *d);

struct stopper {
	struct reactor_deferred d;
	struct reactor *r;
};

static void stop_deferred(struct reactor_deferred *d)
{
	reactor_stop(CONTAINER_OF(d, struct stopper, d)->r);
}

TEST(deferred_close_runs_after_the_whole_batch_and_once)
{
	struct reactor r;
	struct watchdog wd;
	int log[16], n = 0;
	int a[2], b[2];
	CHECK_EQ_INT(reactor_init(&r), 0);
	CHECK_EQ_INT(pipe2(a, O_NONBLOCK | O_CLOEXEC), 0);
	CHECK_EQ_INT(pipe2(b, O_NONBLOCK | O_CLOEXEC), 0);
	struct closer c1 = {.io = {.fd = a[0], .on_event = closer_event},
	                    .close_later = {.run = closer_closed},
	                    .r = &r,
	                    .log = log,
	                    .n = &n,
	                    .id = 1};
	struct closer c2 = c1;
	c2.io.fd = b[0];
	c2.id = 2;
	CHECK_EQ_INT(reactor_add(&r, &c1.io, EPOLLIN), 0);
	CHECK_EQ_INT(reactor_add(&r, &c2.io, EPOLLIN), 0);
	/* both readable before the loop starts: one epoll_wait returns both in one batch */
	CHECK_EQ_INT(write(a[1], "x", 1), 1);
	CHECK_EQ_INT(write(b[1], "x", 1), 1);
	struct stopper st = {.d = {.run = stop_deferred}, .r = &r};
	reactor_defer(&r,
	              &st.d); /* runs after the first turn's events, like every deferred callback: stops */
	watchdog_arm(&wd, &r, WATCHDOG_MS);
	reactor_run(&r);
	CHECK(!wd.fired);
	CHECK_EQ_INT(n, 4);
	/* both handlers first (either order), then both closes in the order they were deferred */
	CHECK((log[0] == 1 && log[1] == 2) || (log[0] == 2 && log[1] == 1));
	CHECK_EQ_INT(log[2], 100 + log[0]);
	CHECK_EQ_INT(log[3], 100 + log[1]);
	CHECK(c1.closed && c2.closed);
	CHECK(!c1.close_later.queued && !c2.close_later.queued);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	reactor_fini(&r);
}

struct chain {
	struct reactor_deferred d;
	struct reactor *r;
	int left, ran;
};

static void chain_run(struct reactor_deferred *d)
{
	struct chain *c = CONTAINER_OF(d, struct chain, d);
	c->ran++;
	if (--c->left > 0)
		reactor_defer(c->r, d); /* re-queued from its own run: allowed, runs again */
	else
		reactor_stop(c->r);
}

TEST(deferred_callback_may_requeue_itself)
{
	struct reactor r;
	struct watchdog wd;
	CHECK_EQ_INT(reactor_init(&r), 0);
	struct chain c = {.d = {.run = chain_run}, .r = &r, .left = 5};
	reactor_defer(&r, &c.d);
	CHECK(c.d.queued);
	watchdog_arm(&wd, &r, WATCHDOG_MS);
	reactor_run(&r);
	CHECK(!wd.fired);
	CHECK_EQ_INT(c.ran, 5);
	CHECK(!c.d.queued);
	reactor_fini(&r);
}

/* ---- posts from other threads ---- */

enum { POSTERS = 4, POSTS_EACH = 500 };

struct post_state {
	struct reactor r;
	pthread_t loop_thread;
	int received[POSTERS]; /* touched only on the reactor's thread */
	int next[POSTERS];     /* per poster: the sequence number expected next (posts keep their order) */
	int total;
	int wrong_thread, out_of_order;
};

struct post_arg {
	struct post_state *s;
	int poster, seq;
};

static struct post_arg post_args[POSTERS][POSTS_EACH];

static void on_post(void *arg)
{
	struct post_arg *a = arg;
	struct post_state *s = a->s;
	if (!pthread_equal(pthread_self(), s->loop_thread))
		s->wrong_thread++;
	if (a->seq != s->next[a->poster])
		s->out_of_order++;
	s->next[a->poster] = a->seq + 1;
	s->received[a->poster]++;
	if (++s->total == POSTERS * POSTS_EACH)
		reactor_stop(&s->r);
}

static void *poster(void *arg)
{
	struct post_arg *mine = arg;
	for (int i = 0; i < POSTS_EACH; i++)
		if (reactor_post(&mine[i].s->r, on_post, &mine[i]) != 0)
			return (void *)1;
	return NULL;
}

static void *run_loop(void *arg)
{
	struct post_state *s = arg;
	reactor_run(&s->r);
	return NULL;
}

TEST(posts_from_other_threads_all_run_on_the_reactor_thread_in_order)
{
	static struct post_state s;
	struct watchdog wd;
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(reactor_init(&s.r), 0);
	watchdog_arm(&wd, &s.r, WATCHDOG_MS);
	CHECK_EQ_INT(pthread_create(&s.loop_thread, NULL, run_loop, &s), 0);
	pthread_t th[POSTERS];
	for (int p = 0; p < POSTERS; p++) {
		for (int i = 0; i < POSTS_EACH; i++)
			post_args[p][i] = (struct post_arg){&s, p, i};
		CHECK_EQ_INT(pthread_create(&th[p], NULL, poster, post_args[p]), 0);
	}
	for (int p = 0; p < POSTERS; p++) {
		void *rv;
		pthread_join(th[p], &rv);
		CHECK(rv == NULL);
	}
	pthread_join(s.loop_thread, NULL);
	CHECK(!wd.fired);
	CHECK_EQ_INT(s.total, POSTERS * POSTS_EACH);
	for (int p = 0; p < POSTERS; p++)
		CHECK_EQ_INT(s.received[p], POSTS_EACH);
	CHECK_EQ_INT(s.wrong_thread, 0);
	CHECK_EQ_INT(s.out_of_order, 0);
	reactor_fini(&s.r);
}

static int unrun_posts;

static void count_post(void *arg)
{
	(void)arg;
	unrun_posts++;
}

TEST(stop_from_another_thread_and_fini_frees_posts_that_never_ran)
{
	static struct post_state s;
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(reactor_init(&s.r), 0);
	CHECK_EQ_INT(pthread_create(&s.loop_thread, NULL, run_loop, &s), 0);
	reactor_stop(&s.r); /* wakes the loop sleeping in epoll_wait with nothing to do */
	pthread_join(s.loop_thread, NULL);
	/* posted after the loop ended: never run, freed by fini (LeakSanitizer checks under asan-ubsan) */
	CHECK_EQ_INT(reactor_post(&s.r, count_post, NULL), 0);
	CHECK_EQ_INT(reactor_post(&s.r, count_post, NULL), 0);
	reactor_fini(&s.r);
	CHECK_EQ_INT(unrun_posts, 0);
}

TEST_MAIN(TEST_ENTRY(file_event_reports_readable_fd_each_time_it_has_data),
          TEST_ENTRY(set_events_switches_interest_and_is_a_no_op_when_unchanged),
          TEST_ENTRY(add_and_set_events_return_negative_errno),
          TEST_ENTRY(timers_fire_in_deadline_order_not_arming_order),
          TEST_ENTRY(cancelled_and_rearmed_timers),
          TEST_ENTRY(timer_rearmed_due_from_its_callback_waits_for_the_next_turn),
          TEST_ENTRY(timer_heap_matches_a_sorted_list_under_random_arm_and_cancel),
          TEST_ENTRY(run_sleeps_until_the_first_timer_and_fires_it),
          TEST_ENTRY(deferred_close_runs_after_the_whole_batch_and_once),
          TEST_ENTRY(deferred_callback_may_requeue_itself),
          TEST_ENTRY(posts_from_other_threads_all_run_on_the_reactor_thread_in_order),
          TEST_ENTRY(stop_from_another_thread_and_fini_frees_posts_that_never_ran))
