/* Fault injection into the session's error paths (src/gateway/session.c, compiled into this test with
 * hooks that exist only here): a struct session that cannot be allocated, a timer heap that cannot grow,
 * and closes from every side. Whatever fails, no live session is without its deadline, and no fd is closed
 * twice. The sessions run on a real worker and reactor, over socketpairs. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- hooks: allocation and close, counted and failed on demand ---- */

static int fail_calloc, fail_realloc;
static int closes[4096];

static void *test_calloc(size_t n, size_t sz)
{
	return fail_calloc ? NULL : calloc(n, sz);
}

static void *test_realloc(void *p, size_t n)
{
	return fail_realloc ? NULL : realloc(p, n);
}

static int test_close(int fd)
{
	if (fd >= 0 && fd < 4096)
		closes[fd]++;
	return close(fd);
}

#define REACTOR_REALLOC test_realloc
#include "net/reactor.c"

#define calloc test_calloc
#define close  test_close
#include "gateway/session.c"
#undef calloc
#undef close

#include <fcntl.h>
#include <sys/socket.h>

#include "gateway/gateway_impl.h"
#include "test.h"

static struct gateway gw;
static struct gw_worker w;
static struct gw_listener_config lcfg = {.name = "fix-plain"};
static struct gw_listener listener = {.cfg = &lcfg, .shared_fd = -1};

TEST(setup)
{
	pthread_mutex_init(&gw.lock, NULL);
	route_registry_init(&gw.routes, 1);
	/* The snapshot the worker reads: only limits matter here (no Logon is routed). */
	gw.snap = gw_snapshot_new("test");
	CHECK(gw.snap != NULL);
	gw.snap->limits.logon_timeout_ms = 10000;
	gw.snap->limits.max_logon_bytes = 4096;
	gw.snap->limits.connect_timeout_ms = 1000;
	CHECK_EQ_INT(worker_init(&w, &gw, 0), 0);
}

/* Accept a "client": returns the gateway's end; *peer is the client's, *closed how often session.c closed
 * the gateway's end during the accept (1 when it refused it, else 0). */
static int accept_one(int *peer, int *closed)
{
	int sv[2];
	CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	*peer = sv[1];
	struct sockaddr_storage ss = {.ss_family = AF_UNIX};
	int before = closes[sv[0]];
	session_start(&w, &listener, sv[0], &ss, sizeof(sa_family_t));
	if (closed)
		*closed = closes[sv[0]] - before;
	return sv[0];
}

static bool every_live_session_has_a_deadline(void)
{
	for (struct session *s = w.sessions.head; s; s = s->next)
		if (!reactor_timer_armed(&s->timer))
			return false;
	return true;
}

TEST(session_allocation_failure_closes_the_socket_once)
{
	int peer, closed;
	fail_calloc = 1;
	accept_one(&peer, &closed);
	fail_calloc = 0;
	CHECK_EQ_INT(closed, 1);
	CHECK(w.sessions.head == NULL);
	CHECK_EQ_INT(atomic_load(&w.stats.active_connections), 0);
	char c;
	CHECK_EQ_INT(read(peer, &c, 1), 0); /* the client sees a clean close */
	close(peer);
}

TEST(timer_heap_that_cannot_grow_leaves_no_session_without_a_deadline)
{
	enum { N = 600 };
	static int peers[N], fds[N];
	int refused = 0, bad = 0;
	/* take memory away while accepting: once the heap's room is used up, accepts fail, each cleanly */
	fail_realloc = 1;
	for (int i = 0; i < N; i++) {
		int closed;
		fds[i] = accept_one(&peers[i], &closed);
		refused += closed == 1;
		bad += closed > 1;
	}
	fail_realloc = 0;
	size_t live = w.sessions.count;
	CHECK(live > 0 && refused > 0);
	CHECK_EQ_INT(live + (size_t)refused, N);
	CHECK_EQ_INT(bad, 0);
	CHECK(every_live_session_has_a_deadline());
	CHECK_EQ_INT(atomic_load(&w.stats.active_connections), (long long)live);
	/* still without memory, the live sessions end (clients gone): each fd closed once, every reserved
	 * heap slot given back */
	fail_realloc = 1;
	int before[N];
	for (int i = 0; i < N; i++) {
		before[i] = closes[fds[i]];
		close(peers[i]);
	}
	for (struct session *s = w.sessions.head, *next; s; s = next) {
		next = s->next;
		on_client(&s->cio, EPOLLIN | EPOLLRDHUP);
	}
	fail_realloc = 0;
	CHECK(w.sessions.head == NULL);
	run_deferred(&w.reactor);
	int closed_once = 0;
	for (int i = 0; i < N; i++)
		closed_once += closes[fds[i]] - before[i] == 1;
	CHECK_EQ_INT(closed_once, (long long)live);
	CHECK_EQ_INT(w.reactor.reserved, 4); /* the worker's 3 timers and the TLS pool's */
	CHECK_EQ_INT(atomic_load(&w.stats.active_connections), 0);
}

TEST(double_close_closes_once_and_reaps_once)
{
	int peer;
	int fd = accept_one(&peer, NULL);
	struct session *s = w.sessions.head;
	CHECK(s != NULL);
	int before = closes[fd];
	session_abort(s, "first");
	session_abort(s, "second");  /* from another path in the same batch: a no-op */
	on_client(&s->cio, EPOLLIN); /* a stale event queued before the close: ignored */
	on_timer(&s->timer);
	CHECK_EQ_INT(closes[fd] - before, 1);
	/* the fd number is reused before the deferred reap runs: the reap must not touch it */
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	run_deferred(&w.reactor);
	CHECK(fcntl(sv[0], F_GETFD) >= 0 && fcntl(sv[1], F_GETFD) >= 0);
	close(sv[0]);
	close(sv[1]);
	close(peer);
	CHECK_EQ_INT(atomic_load(&w.stats.active_connections), 0);
}

TEST(teardown)
{
	worker_fini(&w);
	gw_snapshot_unref(gw.snap);
	route_registry_fini(&gw.routes);
	pthread_mutex_destroy(&gw.lock);
}

TEST_MAIN(TEST_ENTRY(setup), TEST_ENTRY(session_allocation_failure_closes_the_socket_once),
          TEST_ENTRY(timer_heap_that_cannot_grow_leaves_no_session_without_a_deadline),
          TEST_ENTRY(double_close_closes_once_and_reaps_once), TEST_ENTRY(teardown))
