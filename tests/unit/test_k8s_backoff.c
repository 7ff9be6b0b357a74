/* Unit tests for src/k8s/backoff.c and src/k8s/ratelimit.c: client-go's reflector backoff and token
 * bucket, with the clock and the random numbers given by the test. */
#include "k8s/backoff.c"
#include "k8s/ratelimit.c"

#include "test.h"

TEST(test_backoff_doubles_to_the_cap)
{
	struct k8s_backoff b;
	k8s_backoff_init(&b, 0, 0, 0, -1); /* client-go: 800 ms, 30 s, reset 2 min, jitter 1.0 */
	uint64_t t = 1000;
	const uint64_t want[] = {800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_EQ_INT(k8s_backoff_next(&b, t, 0.0), want[i]);
		t += 1000;
	}
}

TEST(test_backoff_jitter_bounds)
{
	struct k8s_backoff b;
	k8s_backoff_init(&b, 800, 30000, 120000, 1.0);
	CHECK_EQ_INT(k8s_backoff_next(&b, 10, 0.5), 1200); /* 800 * (1 + 0.5) */
	CHECK_EQ_INT(k8s_backoff_next(&b, 20, 0.999), 1600 + 1598);
	CHECK_EQ_INT(k8s_backoff_next(&b, 30, 7.0), 3200); /* r outside [0, 1) counts as 0 */
}

TEST(test_backoff_resets_after_quiet_period)
{
	struct k8s_backoff b;
	k8s_backoff_init(&b, 800, 30000, 120000, 0);
	k8s_backoff_next(&b, 0, 0);
	k8s_backoff_next(&b, 1000, 0);
	CHECK_EQ_INT(k8s_backoff_next(&b, 2000, 0), 3200);
	CHECK_EQ_INT(k8s_backoff_next(&b, 2000 + 120001, 0), 800); /* more than 2 min since the last one */
	CHECK_EQ_INT(k8s_backoff_next(&b, 2000 + 120002, 0), 1600);
	k8s_backoff_reset(&b);
	CHECK_EQ_INT(k8s_backoff_next(&b, 2000 + 120003, 0), 800);
}

TEST(test_bucket_burst_then_rate)
{
	struct k8s_bucket b;
	const uint64_t s = 1000000000ull;
	k8s_bucket_init(&b, 5.0, 10, 0);
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(k8s_bucket_reserve(&b, 0), 0); /* the burst */
	CHECK_EQ_INT(k8s_bucket_reserve(&b, 0), s / 5);     /* 11th waits one token: 200 ms */
	CHECK_EQ_INT(k8s_bucket_reserve(&b, 0), 2 * s / 5); /* 12th queues behind it */
	/* one second later five tokens came back, two of which were already promised */
	CHECK_EQ_INT(k8s_bucket_reserve(&b, s), 0);
	CHECK_EQ_INT(k8s_bucket_reserve(&b, s), 0);
	CHECK_EQ_INT(k8s_bucket_reserve(&b, s), 0);
	CHECK_EQ_INT(k8s_bucket_reserve(&b, s), s / 5);
}

TEST(test_bucket_never_exceeds_burst)
{
	struct k8s_bucket b;
	k8s_bucket_init(&b, 5.0, 10, 0);
	uint64_t later = 3600ull * 1000000000ull;
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(k8s_bucket_reserve(&b, later), 0);
	CHECK(k8s_bucket_reserve(&b, later) > 0);
}

TEST(test_bucket_unlimited)
{
	struct k8s_bucket b;
	k8s_bucket_init(&b, -1, 1, 0);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(k8s_bucket_reserve(&b, 0), 0);
}

TEST_MAIN(TEST_ENTRY(test_backoff_doubles_to_the_cap), TEST_ENTRY(test_backoff_jitter_bounds),
          TEST_ENTRY(test_backoff_resets_after_quiet_period), TEST_ENTRY(test_bucket_burst_then_rate),
          TEST_ENTRY(test_bucket_never_exceeds_burst), TEST_ENTRY(test_bucket_unlimited))
