/* Unit tests for the reactor's timer heap under allocation failure (fault injection: the heap's realloc is
 * replaced in this test only): room reserved in advance is never lost to ENOMEM, an unreserved arm that
 * cannot grow fails cleanly, and the heap stays ordered through it all. */
#include <stdlib.h>

static int fail_realloc; /* the next realloc calls fail while set */
static void *test_realloc(void *p, size_t n)
{
	return fail_realloc ? NULL : realloc(p, n);
}
#define REACTOR_REALLOC test_realloc
#include "net/reactor.c"

#include "test.h"

static int fired[256], nfired;
static void on_timer(struct reactor_timer *t)
{
	fired[nfired++] = (int)t->deadline_ms;
}

TEST(reserved_room_survives_allocation_failure)
{
	struct reactor r;
	CHECK_EQ_INT(reactor_init(&r), 0);
	static struct reactor_timer t[200];
	for (int i = 0; i < 200; i++)
		t[i].on_timer = on_timer;
	CHECK_EQ_INT(reactor_timer_reserve(&r, 100), 0);
	size_t cap = r.heap_cap;
	CHECK(cap >= 100);
	fail_realloc = 1;
	for (int i = 0; i < 100; i++) /* within the reservation: no allocation needed, none fails */
		CHECK_EQ_INT(reactor_timer_arm(&r, &t[i], (uint64_t)(100 - i)), 0);
	/* beyond the heap's capacity with no memory: refused, and the timer is not half-armed */
	int refused = 0;
	for (int i = 100; i < 200; i++) {
		int rc = reactor_timer_arm(&r, &t[i], 1);
		if (rc == -ENOMEM) {
			refused++;
			CHECK(!reactor_timer_armed(&t[i]));
		}
	}
	CHECK(refused > 0);
	CHECK_EQ_INT(reactor_timer_reserve(&r, cap), -ENOMEM); /* a reservation that cannot grow fails */
	fail_realloc = 0;
	/* every armed timer still fires in deadline order */
	r.now_ms += 1000;
	nfired = 0;
	run_timers(&r);
	CHECK(nfired >= 100);
	for (int i = 1; i < nfired; i++)
		CHECK(fired[i - 1] <= fired[i]);
	reactor_timer_unreserve(&r, 100);
	CHECK_EQ_INT(r.reserved, 0);
	reactor_fini(&r);
}

TEST_MAIN(TEST_ENTRY(reserved_room_survives_allocation_failure))
