/* Unit tests for src/operator/gw_addrs.c: the set of gateway pod addresses (canonical forms, duplicates,
 * equality) and the endpoints of a Service's EndpointSlices that are in it (every address, ready or not,
 * counted once, the first one named). */
#include "operator/gw_addrs.c"

#include "test.h"

static void set_of(struct gw_addrs *a, const char *const *addrs, size_t n)
{
	*a = (struct gw_addrs){0};
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(gw_addrs_add(a, addrs[i]), 0);
	gw_addrs_finish(a);
}

TEST(test_set_is_canonical_sorted_and_unique)
{
	const char *in[] = {"10.0.0.9", "fd00:0:0::1", "10.0.0.1", "10.0.0.9", "FD00::1", "not-an-ip"};
	struct gw_addrs a;
	set_of(&a, in, 6);
	CHECK_EQ_INT(a.n, 4);
	CHECK(gw_addrs_has(&a, "10.0.0.1") && gw_addrs_has(&a, "10.0.0.9"));
	CHECK(gw_addrs_has(&a, "fd00::1") && gw_addrs_has(&a, "fd00:0000::0001")); /* one address, any form */
	CHECK(gw_addrs_has(&a, "::ffff:10.0.0.9")); /* IPv4-mapped is the IPv4 address */
	CHECK(gw_addrs_has(&a, "not-an-ip"));
	CHECK(!gw_addrs_has(&a, "10.0.0.2") && !gw_addrs_has(&a, "fd00::2") && !gw_addrs_has(&a, ""));

	const char *same[] = {"fd00::1", "not-an-ip", "10.0.0.1", "10.0.0.9"}, *other[] = {"10.0.0.1"};
	struct gw_addrs b, c, empty = {0};
	set_of(&b, same, 4);
	set_of(&c, other, 1);
	CHECK(gw_addrs_equal(&a, &b) && !gw_addrs_equal(&a, &c) && !gw_addrs_equal(&c, &empty));
	CHECK(!gw_addrs_has(&empty, "10.0.0.1"));
	char long_addr[GW_ADDR_MAX + 8];
	memset(long_addr, '1', sizeof(long_addr) - 1);
	long_addr[sizeof(long_addr) - 1] = '\0';
	CHECK_EQ_INT(gw_addrs_add(&c, long_addr), 0); /* skipped, not an error */
	gw_addrs_finish(&c);
	CHECK_EQ_INT(c.n, 1);
	gw_addrs_free(&a);
	gw_addrs_free(&b);
	gw_addrs_free(&c);
	CHECK(a.n == 0 && a.v == NULL);
}

TEST(test_endpoints_in_slices)
{
	const char *gw_in[] = {"10.1.0.8", "10.1.0.9", "10.1.0.20", "fd00::5"};
	struct gw_addrs gw;
	set_of(&gw, gw_in, 4);
	/* two slices of one Service: a not-ready endpoint counts as much as a ready one; an endpoint with
	 * two addresses, the second a gateway's; 10.1.0.9 listed in both slices counts once */
	json_error_t err;
	json_t *slices = json_loads(
	    "[{\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"fix\",\"port\":9880}],\"endpoints\":["
	    "{\"addresses\":[\"10.1.0.7\"],\"conditions\":{\"ready\":true}},"
	    "{\"addresses\":[\"10.1.0.8\"],\"conditions\":{\"ready\":false}},"
	    "{\"addresses\":[\"10.1.0.9\"]}]},"
	    " {\"addressType\":\"IPv6\",\"endpoints\":["
	    "{\"addresses\":[\"fd00::4\",\"fd00:0::5\"]},{\"addresses\":[\"10.1.0.9\"]},{\"addresses\":[7]}]}"
	    "]",
	    0, &err);
	CHECK(slices != NULL);
	char first[GW_ADDR_MAX];
	CHECK_EQ_INT(gw_addrs_in_slices(&gw, slices, first, sizeof(first)), 3);
	CHECK_EQ_STR(first, "10.1.0.8");

	json_t *clean = json_loads("[{\"endpoints\":[{\"addresses\":[\"10.1.0.7\"]}]}]", 0, &err);
	CHECK_EQ_INT(gw_addrs_in_slices(&gw, clean, first, sizeof(first)), 0);
	CHECK_EQ_STR(first, "");
	CHECK_EQ_INT(gw_addrs_in_slices(&gw, NULL, first, sizeof(first)), 0);
	struct gw_addrs none = {0};
	CHECK_EQ_INT(gw_addrs_in_slices(&none, slices, first, sizeof(first)), 0);
	json_decref(slices);
	json_decref(clean);
	gw_addrs_free(&gw);
}

TEST_MAIN(TEST_ENTRY(test_set_is_canonical_sorted_and_unique), TEST_ENTRY(test_endpoints_in_slices))
