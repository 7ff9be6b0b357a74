/* Unit tests for the slice reading of src/operator/conn_counts.c: one walker over the gateway Service's
 * EndpointSlices gives both the pods to scrape (the first address of each endpoint, on the slice's admin
 * port) and the gateway pod addresses (every address of every endpoint, any port: ADR-019). */
#include "operator/conn_counts.c"

#include "test.h"

static const char *slices_json =
    "[{\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"admin\",\"port\":9090},{\"name\":\"fix\",\"port\":"
    "9880}],"
    "  \"endpoints\":[{\"addresses\":[\"10.2.0.1\"],\"targetRef\":{\"name\":\"gw-0\"}},"
    "                 {\"addresses\":[\"10.2.0.2\",\"10.2.0.3\"],\"conditions\":{\"ready\":false}}]},"
    " {\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"fix\",\"port\":9880}],"
    "  \"endpoints\":[{\"addresses\":[\"10.2.0.4\"]}]},"
    " {\"addressType\":\"IPv6\",\"ports\":[{\"name\":\"admin\",\"port\":9090}],"
    "  \"endpoints\":[{\"addresses\":[\"fd00::7\"]}]},"
    " {\"addressType\":\"FQDN\",\"ports\":[{\"name\":\"admin\",\"port\":9090}],"
    "  \"endpoints\":[{\"addresses\":[\"gw.example\"]}]}]";

TEST(test_one_walker_gives_pods_and_addresses)
{
	json_error_t err;
	json_t *slices = json_loads(slices_json, 0, &err);
	CHECK(slices != NULL);
	struct conn_counts cc = {.port_name = "admin"};
	struct targets t = {&cc, 0};
	struct ip_set a = {0};
	struct addr_walk w = {&cc, &a, 0};
	size_t i;
	json_t *s;
	json_array_foreach(slices, i, s)
	{
		CHECK(each_endpoint(&cc, s, take_pod, &t));
		CHECK(each_endpoint(&cc, s, take_addrs, &w));
	}
	CHECK_EQ_INT(w.rc, 0);
	ip_set_seal(&a);
	/* scraped: the first address of each endpoint of a slice with the admin port; FQDN never */
	CHECK_EQ_INT(cc.npods, 3);
	CHECK_EQ_STR(cc.pods[0].url, "http://10.2.0.1:9090/route-stats");
	CHECK_EQ_STR(cc.pods[0].id, "gw-0 (10.2.0.1:9090)");
	CHECK_EQ_STR(cc.pods[1].url, "http://10.2.0.2:9090/route-stats");
	CHECK_EQ_STR(cc.pods[2].url, "http://[fd00::7]:9090/route-stats");
	/* gateway addresses: every address, ready or not, with or without the admin port; FQDN never */
	CHECK_EQ_INT(a.count, 5);
	const char *want[] = {"10.2.0.1", "10.2.0.2", "10.2.0.3", "10.2.0.4", "fd00::7"};
	for (i = 0; i < 5; i++)
		CHECK(ip_set_has_text(&a, want[i]));
	CHECK(!ip_set_has_text(&a, "gw.example"));
	ip_set_free(&a);
	free(cc.pods);
	json_decref(slices);
}

TEST_MAIN(TEST_ENTRY(test_one_walker_gives_pods_and_addresses))
