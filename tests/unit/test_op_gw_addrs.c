/* Unit tests for src/operator/gw_addrs.c: the endpoints of a Service's EndpointSlices that are gateway pods
 * (every address, ready or not, in any spelling, counted once, the first one named as the slice writes
 * it). The address set itself: test_ip_set.c. */
#include "operator/gw_addrs.c"

#include "test.h"

static void set_of(struct ip_set *a, const char *const *addrs, size_t n)
{
	*a = (struct ip_set){0};
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(ip_set_add_text(a, addrs[i]), 0);
	ip_set_seal(a);
}

TEST(test_endpoints_in_slices)
{
	const char *gw_in[] = {"10.1.0.8", "10.1.0.9", "10.1.0.20", "fd00::5"};
	struct ip_set gw;
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
	struct ip_set none = {0};
	CHECK_EQ_INT(gw_addrs_in_slices(&none, slices, first, sizeof(first)), 0);
	json_decref(slices);
	json_decref(clean);
	ip_set_free(&gw);
}

TEST_MAIN(TEST_ENTRY(test_endpoints_in_slices))
