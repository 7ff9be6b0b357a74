/* Unit tests for choosing an endpoint (src/gateway/endpoints.c): new sessions rotate evenly, a failover does
 * not move where the next session starts, endpoints that failed recently are tried last, and every endpoint
 * is tried once at most. */
#include "gateway/endpoints.c"

#include "test.h"

static struct net_addr addrs[3];
static struct endpoint_set set = {.key = "ns/svc:1", .ready = addrs, .nready = 3, .ntotal = 3};

static void setup(void)
{
	net_addr_parse("127.0.0.1:1001", &addrs[0]);
	net_addr_parse("127.0.0.1:1002", &addrs[1]);
	net_addr_parse("127.0.0.1:1003", &addrs[2]);
}

static const struct sockaddr *sa(int i)
{
	return (const struct sockaddr *)&addrs[i].ss;
}

TEST(rotation_spreads_new_sessions)
{
	setup();
	struct endpoint_health h = {0};
	int count[3] = {0};
	for (uint64_t start = 0; start < 9; start++) {
		uint64_t tried = 0;
		count[endpoint_pick(&set, start, &tried, &h, 1000)]++;
	}
	CHECK_EQ_INT(count[0], 3);
	CHECK_EQ_INT(count[1], 3);
	CHECK_EQ_INT(count[2], 3);
}

TEST(each_endpoint_once_then_none)
{
	setup();
	uint64_t tried = 0;
	CHECK_EQ_INT(endpoint_pick(&set, 1, &tried, NULL, 0), 1);
	CHECK_EQ_INT(endpoint_pick(&set, 1, &tried, NULL, 0), 2);
	CHECK_EQ_INT(endpoint_pick(&set, 1, &tried, NULL, 0), 0);
	CHECK_EQ_INT(endpoint_pick(&set, 1, &tried, NULL, 0), -1);
}

TEST(recent_failures_are_tried_last_and_forgotten)
{
	setup();
	struct endpoint_health h = {0};
	endpoint_health_failed(&h, sa(0), addrs[0].len, 1000);
	CHECK(endpoint_health_down(&h, sa(0), addrs[0].len, 1000));
	CHECK(!endpoint_health_down(&h, sa(1), addrs[1].len, 1000));
	/* every new session that would start at the failed one starts elsewhere */
	for (uint64_t start = 0; start < 6; start++) {
		uint64_t tried = 0;
		CHECK(endpoint_pick(&set, start, &tried, &h, 2000) != 0);
	}
	/* but it is still tried when the others fail */
	uint64_t tried = 0;
	CHECK_EQ_INT(endpoint_pick(&set, 0, &tried, &h, 2000), 1);
	CHECK_EQ_INT(endpoint_pick(&set, 0, &tried, &h, 2000), 2);
	CHECK_EQ_INT(endpoint_pick(&set, 0, &tried, &h, 2000), 0);
	/* the mark expires, and a success clears it at once */
	CHECK(!endpoint_health_down(&h, sa(0), addrs[0].len, 1000 + ENDPOINT_DOWN_MS));
	endpoint_health_failed(&h, sa(2), addrs[2].len, 5000);
	endpoint_health_ok(&h, sa(2), addrs[2].len);
	CHECK(!endpoint_health_down(&h, sa(2), addrs[2].len, 5001));
}

TEST(memory_is_bounded)
{
	setup();
	struct endpoint_health h = {0};
	struct net_addr a;
	char text[32];
	for (int i = 0; i < ENDPOINT_HEALTH_SLOTS * 3; i++) {
		snprintf(text, sizeof(text), "10.0.%d.%d:80", i / 250, i % 250 + 1);
		net_addr_parse(text, &a);
		endpoint_health_failed(&h, (const struct sockaddr *)&a.ss, a.len, (uint64_t)i);
	}
	/* the newest marks are kept, the oldest made room */
	CHECK(endpoint_health_down(&h, (const struct sockaddr *)&a.ss, a.len, 100));
	net_addr_parse("10.0.0.1:80", &a);
	CHECK(!endpoint_health_down(&h, (const struct sockaddr *)&a.ss, a.len, 100));
}

TEST_MAIN(TEST_ENTRY(rotation_spreads_new_sessions), TEST_ENTRY(each_endpoint_once_then_none),
          TEST_ENTRY(recent_failures_are_tried_last_and_forgotten), TEST_ENTRY(memory_is_bounded))
