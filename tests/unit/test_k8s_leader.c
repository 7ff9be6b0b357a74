/* Unit tests for the pure rule of src/k8s/leader.c (k8s_lease_decide) and its option checks; the election
 * itself runs against the real API server in tests/k8s. */
#include "k8s/leader.c"

#include "test.h"

TEST(test_decide)
{
	/* free Lease: take it */
	CHECK_EQ_INT(k8s_lease_decide(NULL, "me", 0, 15, 100), K8S_LEASE_TAKE);
	CHECK_EQ_INT(k8s_lease_decide("", "me", 0, 15, 100), K8S_LEASE_TAKE);
	/* ours: renew, however old */
	CHECK_EQ_INT(k8s_lease_decide("me", "me", 0, 15, 1000000), K8S_LEASE_RENEW);
	/* another holder: held until its record has not changed for the whole duration, on our clock */
	CHECK_EQ_INT(k8s_lease_decide("other", "me", 1000, 15, 1000 + 15000), K8S_LEASE_HELD);
	CHECK_EQ_INT(k8s_lease_decide("other", "me", 1000, 15, 1000 + 15001), K8S_LEASE_TAKE);
	/* a released Lease (duration 1 s) is taken at once when free, or after 1 s with a stale holder */
	CHECK_EQ_INT(k8s_lease_decide("other", "me", 5000, 1, 6001), K8S_LEASE_TAKE);
}

TEST(test_timings_checked_as_client_go)
{
	struct k8s_leader *le = NULL;
	struct k8s_leader_opts o = {.namespace_ = "ns", .name = "l", .identity = "a"};
	CHECK_EQ_INT(k8s_leader_new(NULL, &o, &le), 0);
	CHECK_EQ_INT(le->lease_ms, 15000);
	CHECK_EQ_INT(le->renew_ms, 10000);
	CHECK_EQ_INT(le->retry_ms, 2000);
	CHECK(!k8s_leader_is_leader(le));
	k8s_leader_free(le);
	o.renew_deadline_ms = 15000; /* must be shorter than the lease */
	CHECK_EQ_INT(k8s_leader_new(NULL, &o, &le), FIXGW_EINVAL);
	o.renew_deadline_ms = 2000; /* must be longer than the retry period */
	CHECK_EQ_INT(k8s_leader_new(NULL, &o, &le), FIXGW_EINVAL);
	o.identity = "";
	CHECK_EQ_INT(k8s_leader_new(NULL, &o, &le), FIXGW_EINVAL);
}

TEST(test_fencing_by_the_clock)
{
	struct k8s_leader *le = NULL;
	struct k8s_leader_opts o = {.namespace_ = "ns", .name = "l", .identity = "a"};
	CHECK_EQ_INT(k8s_leader_new(NULL, &o, &le), 0);
	atomic_store(&le->leading, true);
	atomic_store(&le->last_renew_ms, k8s_now_ms());
	CHECK(k8s_leader_is_leader(le));
	/* a renewal that started more than the renew deadline ago no longer makes a leader, whatever the
	 * election thread believes (it may be paused) */
	atomic_store(&le->last_renew_ms, k8s_now_ms() - 10001);
	CHECK(!k8s_leader_is_leader(le));
	atomic_store(&le->leading, false);
	k8s_leader_free(le);
}

TEST_MAIN(TEST_ENTRY(test_decide), TEST_ENTRY(test_timings_checked_as_client_go),
          TEST_ENTRY(test_fencing_by_the_clock))
