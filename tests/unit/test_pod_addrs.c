/* Unit tests for the endpoint filter (src/gateway/pod_addrs.c): any port of a gateway pod's IP is left out,
 * ready or not; other endpoints keep their order; the log lists stay bounded. The set itself:
 * test_ip_set.c. */
#include "gateway/pod_addrs.c"

#include "test.h"

static struct net_addr addr(const char *text)
{
	struct net_addr a = {0};
	if (net_addr_parse(text, &a) != 0)
		fprintf(stderr, "cannot parse %s\n", text);
	return a;
}

static void add(struct ip_set *s, const char *text)
{
	struct net_addr a = addr(text);
	CHECK_EQ_INT(ip_set_add_sockaddr(s, (const struct sockaddr *)&a.ss), 0);
}

TEST(filter_keeps_real_endpoints_in_order)
{
	struct ip_set s = {0};
	add(&s, "10.0.0.5:8080");
	ip_set_seal(&s);
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

	struct ip_set empty = {0};
	struct gw_endpoint one[1] = {{addr("10.0.0.5:9880"), true}};
	n = 1;
	CHECK_EQ_INT(pod_addrs_filter(&empty, "ns/x:1", one, &n, &d), 0);
	CHECK_EQ_INT(n, 1);
	ip_set_free(&s);
}

TEST(drop_lists_are_bounded)
{
	struct ip_set s = {0};
	struct gw_endpoint eps[200];
	for (int i = 0; i < 200; i++) {
		char text[40];
		snprintf(text, sizeof(text), "10.1.%d.%d:9880", i / 100, i % 100);
		eps[i] = (struct gw_endpoint){addr(text), true};
		add(&s, text);
	}
	ip_set_seal(&s);
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
	ip_set_free(&s);
}

TEST_MAIN(TEST_ENTRY(filter_keeps_real_endpoints_in_order), TEST_ENTRY(drop_lists_are_bounded))
