/* Unit tests for the gateway pods' address set and the endpoint filter (src/gateway/pod_addrs.c): any port
 * of a listed IP is left out, ready or not; other endpoints keep their order; IPv4 matches its IPv4-mapped
 * IPv6 spelling; the log lists stay bounded. */
#include "gateway/pod_addrs.c"

#include "test.h"

static struct net_addr addr(const char *text)
{
	struct net_addr a = {0};
	if (net_addr_parse(text, &a) != 0)
		fprintf(stderr, "cannot parse %s\n", text);
	return a;
}

static void add(struct pod_addrs *s, const char *text)
{
	struct net_addr a = addr(text);
	CHECK_EQ_INT(pod_addrs_add(s, (const struct sockaddr *)&a.ss), 0);
}

static bool has(const struct pod_addrs *s, const char *text)
{
	struct net_addr a = addr(text);
	return pod_addrs_has(s, (const struct sockaddr *)&a.ss);
}

TEST(set_ignores_ports_and_duplicates)
{
	struct pod_addrs s = {0};
	CHECK(!has(&s, "10.0.0.5:1"));
	add(&s, "10.0.0.5:8080");
	add(&s, "10.0.0.7:8080");
	add(&s, "10.0.0.5:9880");
	add(&s, "[fd00::5]:1");
	pod_addrs_seal(&s);
	CHECK_EQ_INT(s.count, 3);
	CHECK(has(&s, "10.0.0.5:9880"));
	CHECK(has(&s, "10.0.0.5:1"));
	CHECK(has(&s, "10.0.0.7:65535"));
	CHECK(has(&s, "[::ffff:10.0.0.7]:9880")); /* the IPv4-mapped spelling is the same address */
	CHECK(has(&s, "[fd00::5]:9880"));
	CHECK(!has(&s, "10.0.0.6:8080"));
	CHECK(!has(&s, "[fd00::6]:1"));
	struct sockaddr unix_sa = {.sa_family = AF_UNIX};
	CHECK(!pod_addrs_has(&s, &unix_sa));
	CHECK_EQ_INT(pod_addrs_add(&s, &unix_sa), 0); /* ignored */
	pod_addrs_free(&s);
	CHECK(s.keys == NULL && s.count == 0);
}

TEST(filter_keeps_real_endpoints_in_order)
{
	struct pod_addrs s = {0};
	add(&s, "10.0.0.5:8080");
	pod_addrs_seal(&s);
	struct gw_endpoint eps[4] = {{addr("10.0.0.9:9880"), true},
	                             {addr("10.0.0.5:9880"), true},
	                             {addr("10.0.0.8:9880"), false},
	                             {addr("10.0.0.5:9881"), false}};
	size_t n = 4;
	struct pod_drops d = {0};
	CHECK_EQ_INT(pod_addrs_filter(&s, "ns/mixed:9880", eps, &n, &d), 2);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_STR(eps[0].addr.text, "10.0.0.9:9880");
	CHECK(eps[0].ready);
	CHECK_EQ_STR(eps[1].addr.text, "10.0.0.8:9880");
	CHECK(!eps[1].ready);
	CHECK_EQ_INT(d.count, 2);
	CHECK_EQ_STR(d.addresses, "10.0.0.5"); /* once, without its ports */
	CHECK_EQ_STR(d.targets, "ns/mixed:9880");

	struct gw_endpoint only[1] = {{addr("10.0.0.5:9880"), true}};
	n = 1;
	CHECK_EQ_INT(pod_addrs_filter(&s, "ns/loop:9880", only, &n, &d), 1);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(d.count, 3);
	CHECK_EQ_STR(d.targets, "ns/mixed:9880, ns/loop:9880");

	struct pod_addrs empty = {0};
	struct gw_endpoint one[1] = {{addr("10.0.0.5:9880"), true}};
	n = 1;
	CHECK_EQ_INT(pod_addrs_filter(&empty, "ns/x:1", one, &n, &d), 0);
	CHECK_EQ_INT(n, 1);
	pod_addrs_free(&s);
}

TEST(drop_lists_are_bounded)
{
	struct pod_addrs s = {0};
	struct gw_endpoint eps[200];
	for (int i = 0; i < 200; i++) {
		char text[40];
		snprintf(text, sizeof(text), "10.1.%d.%d:9880", i / 100, i % 100);
		eps[i] = (struct gw_endpoint){addr(text), true};
		add(&s, text);
	}
	pod_addrs_seal(&s);
	struct pod_drops d = {0};
	for (int i = 0; i < 200; i++) {
		char target[64];
		size_t n = 1;
		snprintf(target, sizeof(target), "namespace-%d/service-%d:9880", i, i);
		CHECK_EQ_INT(pod_addrs_filter(&s, target, &eps[i], &n, &d), 1);
	}
	CHECK_EQ_INT(d.count, 200);
	size_t al = strlen(d.addresses), tl = strlen(d.targets);
	CHECK(al < sizeof(d.addresses) && tl < sizeof(d.targets));
	CHECK(al >= 5 && !strcmp(d.addresses + al - 5, ", ..."));
	CHECK(tl >= 5 && !strcmp(d.targets + tl - 5, ", ..."));
	CHECK(!strncmp(d.addresses, "10.1.0.0, 10.1.0.1, ", 20));
	pod_addrs_free(&s);
}

TEST_MAIN(TEST_ENTRY(set_ignores_ports_and_duplicates), TEST_ENTRY(filter_keeps_real_endpoints_in_order),
          TEST_ENTRY(drop_lists_are_bounded))
