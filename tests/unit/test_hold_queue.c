/* Unit tests for src/gateway/hold_queue.c: O(1) FIFO per FIXSession, a release pass that asks readiness once
 * per group (never per held entry), pacing that stops a group, removal from anywhere, and a bucket allocation
 * that fails (fault injection through the test-only hook). */
#define HOLD_QUEUE_TEST_HOOKS
#include "gateway/hold_queue.c"

#include <stdlib.h>

#include "test.h"

struct item {
	struct hold_entry e;
	int id;
};

struct ctx {
	struct hold_queue *q;
	bool ready_a, ready_b;
	int ready_calls, release_calls;
	int budget; /* releases allowed this pass (pacing); -1: unlimited */
	int order[64], n;
};

static const char TARGET_A[] = "ns/a:1", TARGET_B[] = "ns/b:1";
static const int KEY_A = 1, KEY_B = 2;

static bool ready(void *c_, const char *target)
{
	struct ctx *c = c_;
	c->ready_calls++;
	return strcmp(target, TARGET_A) == 0 ? c->ready_a : c->ready_b;
}

static bool release(void *c_, struct hold_entry *e)
{
	struct ctx *c = c_;
	c->release_calls++;
	if (c->budget == 0)
		return false;
	if (c->budget > 0)
		c->budget--;
	c->order[c->n++] = ((struct item *)e)->id;
	hold_queue_del(c->q, e);
	return true;
}

static const struct hold_release_ops ops = {.ready = ready, .release = release};

TEST(fifo_per_group_and_readiness_asked_once_per_group)
{
	struct hold_queue q;
	hold_queue_init(&q);
	static struct item items[1000];
	for (int i = 0; i < 1000; i++) {
		items[i].id = i;
		CHECK_EQ_INT(
		    hold_queue_add(&q, &items[i].e, i < 3 ? &KEY_A : &KEY_B, i < 3 ? TARGET_A : TARGET_B), 0);
	}
	CHECK_EQ_INT(q.count, 1000);
	CHECK_EQ_INT(q.nbuckets, 2);
	struct ctx c = {.q = &q, .ready_a = true, .ready_b = false, .budget = -1};
	struct hold_pass p = hold_queue_release(&q, &ops, &c);
	CHECK_EQ_INT(p.released, 3);
	CHECK_EQ_INT(p.waiting_ready, 0);
	CHECK_EQ_INT(c.ready_calls, 2);   /* one per group, not one per held entry */
	CHECK_EQ_INT(c.release_calls, 3); /* nobody of the group that is not ready is looked at */
	CHECK_EQ_INT(c.order[0], 0);
	CHECK_EQ_INT(c.order[1], 1);
	CHECK_EQ_INT(c.order[2], 2);
	CHECK_EQ_INT(q.nbuckets, 1); /* the emptied group is gone */
	CHECK_EQ_INT(q.count, 997);
	hold_queue_fini(&q);
}

TEST(pacing_stops_a_group_and_counts_who_waits)
{
	struct hold_queue q;
	hold_queue_init(&q);
	struct item items[5];
	for (int i = 0; i < 5; i++) {
		items[i].id = i;
		hold_queue_add(&q, &items[i].e, &KEY_A, TARGET_A);
	}
	struct ctx c = {.q = &q, .ready_a = true, .budget = 2};
	struct hold_pass p = hold_queue_release(&q, &ops, &c);
	CHECK_EQ_INT(p.released, 2);
	CHECK_EQ_INT(p.waiting_ready, 3);
	CHECK_EQ_INT(c.release_calls, 3); /* the third was refused: the rest of the group waits */
	c.budget = -1;
	p = hold_queue_release(&q, &ops, &c);
	CHECK_EQ_INT(p.released, 3);
	CHECK_EQ_INT(c.order[2], 2);
	CHECK_EQ_INT(c.order[4], 4);
	CHECK(hold_queue_any(&q) == NULL);
	CHECK(q.buckets == NULL);
	hold_queue_fini(&q);
}

TEST(remove_from_anywhere)
{
	struct hold_queue q;
	hold_queue_init(&q);
	struct item items[4];
	for (int i = 0; i < 4; i++) {
		items[i].id = i;
		hold_queue_add(&q, &items[i].e, &KEY_A, TARGET_A);
	}
	hold_queue_del(&q, &items[2].e); /* middle */
	hold_queue_del(&q, &items[0].e); /* head */
	hold_queue_del(&q, &items[3].e); /* tail */
	hold_queue_del(&q, &items[3].e); /* twice: no-op */
	CHECK(!hold_entry_queued(&items[0].e));
	CHECK(hold_entry_queued(&items[1].e));
	CHECK_EQ_INT(q.count, 1);
	CHECK(hold_queue_any(&q) == &items[1].e);
	hold_queue_add(&q, &items[0].e, &KEY_A, TARGET_A); /* appended behind 1 */
	struct ctx c = {.q = &q, .ready_a = true, .budget = -1};
	hold_queue_release(&q, &ops, &c);
	CHECK_EQ_INT(c.n, 2);
	CHECK_EQ_INT(c.order[0], 1);
	CHECK_EQ_INT(c.order[1], 0);
	hold_queue_fini(&q);
}

TEST(bucket_allocation_failure_leaves_the_queue_consistent)
{
	struct hold_queue q;
	hold_queue_init(&q);
	struct item a = {.id = 1}, b = {.id = 2};
	hold_queue_fail_alloc = 1;
	CHECK_EQ_INT(hold_queue_add(&q, &a.e, &KEY_A, TARGET_A), -ENOMEM);
	CHECK(!hold_entry_queued(&a.e));
	CHECK_EQ_INT(q.count, 0);
	hold_queue_del(&q, &a.e); /* the caller's cleanup path: harmless */
	CHECK_EQ_INT(hold_queue_add(&q, &b.e, &KEY_A, TARGET_A), 0);
	CHECK_EQ_INT(q.count, 1);
	hold_queue_del(&q, &b.e);
	CHECK(q.buckets == NULL);
	hold_queue_fini(&q);
}

TEST_MAIN(TEST_ENTRY(fifo_per_group_and_readiness_asked_once_per_group),
          TEST_ENTRY(pacing_stops_a_group_and_counts_who_waits), TEST_ENTRY(remove_from_anywhere),
          TEST_ENTRY(bucket_allocation_failure_leaves_the_queue_consistent))
