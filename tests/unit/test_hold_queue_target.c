/* test_hold_queue_target.c - a hold bucket's target outlives the entry that brought it (regression: the
 * bucket borrowed the first session's target string, and a release pass read it after that session was
 * freed while others still waited; ThreadSanitizer saw it as a heap-use-after-free). */
#include "gateway/hold_queue.c"

#include "test.h"

static int ready_calls_;
static int key; /* a FIXSession stand-in: buckets compare it by address */
static char seen_[64];

static bool ready(void *ctx, const char *target)
{
	ready_calls_++;
	snprintf(seen_, sizeof(seen_), "%s", target);
	return true;
}

static bool release(void *ctx, struct hold_entry *e)
{
	hold_queue_del(ctx, e);
	return true;
}

TEST(target_survives_its_first_entry)
{
	struct hold_queue q;
	hold_queue_init(&q);
	struct hold_entry a = {0}, b = {0};
	char *first = strdup("trading/engine-svc:9880");
	CHECK_EQ_INT(hold_queue_add(&q, &a, &key, first), 0);
	CHECK_EQ_INT(hold_queue_add(&q, &b, &key, "trading/engine-svc:9880"), 0);
	/* the first held session closes: its entry leaves and its strings are freed */
	hold_queue_del(&q, &a);
	memset(first, 'x', strlen(first));
	free(first);
	const struct hold_release_ops ops = {.ready = ready, .release = release};
	struct hold_pass pass = hold_queue_release(&q, &ops, &q);
	CHECK_EQ_INT(pass.released, 1);
	CHECK_EQ_INT(ready_calls_, 1);
	CHECK_EQ_STR(seen_, "trading/engine-svc:9880");
	CHECK_EQ_INT(q.count, 0);
	CHECK_EQ_INT(q.nbuckets, 0);
	hold_queue_fini(&q);
}

TEST(fini_frees_buckets_with_entries)
{
	struct hold_queue q;
	hold_queue_init(&q);
	struct hold_entry a = {0};
	CHECK_EQ_INT(hold_queue_add(&q, &a, &key, "t"), 0);
	hold_queue_fini(&q); /* LeakSanitizer checks the copy went too */
	CHECK_EQ_INT(q.nbuckets, 0);
}

TEST_MAIN(TEST_ENTRY(target_survives_its_first_entry), TEST_ENTRY(fini_frees_buckets_with_entries))
