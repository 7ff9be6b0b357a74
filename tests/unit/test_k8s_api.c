/* Unit tests for the pure parts of src/k8s/api.c: resource paths (core and group APIs, namespaced and
 * cluster-wide, escaping, bounds), object keys and the error texts. Requests run against the real API
 * server in tests/k8s. */
#include "k8s/api.c"

#include "test.h"

TEST(test_paths)
{
	char p[256];
	CHECK(k8s_path(p, sizeof(p), &k8s_res_fixsessions, NULL, NULL, NULL) > 0);
	CHECK_EQ_STR(p, "/apis/fixgw.io/v1alpha1/fixsessions");
	k8s_path(p, sizeof(p), &k8s_res_fixsessions, "trading", "broker-a", "status");
	CHECK_EQ_STR(p, "/apis/fixgw.io/v1alpha1/namespaces/trading/fixsessions/broker-a/status");
	k8s_path(p, sizeof(p), &k8s_res_services, "ns", "svc", NULL);
	CHECK_EQ_STR(p, "/api/v1/namespaces/ns/services/svc");
	k8s_path(p, sizeof(p), &k8s_res_leases, "", NULL, NULL);
	CHECK_EQ_STR(p, "/apis/coordination.k8s.io/v1/leases");
	k8s_path(p, sizeof(p), &k8s_res_events, "ns", "a b/c?d", NULL);
	CHECK_EQ_STR(p, "/apis/events.k8s.io/v1/namespaces/ns/events/a%20b%2Fc%3Fd");
	CHECK_EQ_INT(k8s_path(p, 20, &k8s_res_fixsessions, "trading", "x", NULL), FIXGW_ELIMIT);
}

TEST(test_resource_by_name)
{
	CHECK(k8s_resource_by_name("endpointslices") == &k8s_res_endpointslices);
	CHECK(k8s_resource_by_name("FIXSessions") == NULL);
}

TEST(test_object_key_and_rv)
{
	char k[64];
	json_t *o = json_loads(
	    "{\"metadata\":{\"namespace\":\"n\",\"name\":\"a\",\"resourceVersion\":\"7\"}}", 0, NULL);
	CHECK_EQ_INT(k8s_object_key(o, k, sizeof(k)), 3);
	CHECK_EQ_STR(k, "n/a");
	CHECK_EQ_STR(k8s_object_rv(o), "7");
	CHECK_EQ_INT(k8s_object_key(o, k, 3), -1); /* does not fit */
	json_decref(o);
	o = json_loads("{\"metadata\":{\"name\":\"node-1\"}}", 0, NULL);
	CHECK_EQ_INT(k8s_object_key(o, k, sizeof(k)), 6); /* cluster-scoped: the name alone */
	CHECK(k8s_object_rv(o) == NULL);
	json_decref(o);
	o = json_loads("{\"metadata\":{}}", 0, NULL);
	CHECK_EQ_INT(k8s_object_key(o, k, sizeof(k)), -1);
	json_decref(o);
}

TEST(test_errors_in_their_range)
{
	CHECK(K8S_EDECODE >= FIXGW_ERR_PRIVATE_MIN && K8S_ENOTFOUND <= FIXGW_ERR_PRIVATE_MAX);
	CHECK_EQ_STR(k8s_strerror(K8S_ECONFLICT), "conflict: the object changed since it was read");
	CHECK_EQ_STR(k8s_strerror(FIXGW_ENOMEM), fixgw_strerror(FIXGW_ENOMEM));
}

TEST(test_response_message)
{
	char buf[64];
	struct k8s_response r = {.status = 409};
	r.body = strdup(
	    "{\"kind\":\"Status\",\"message\":\"the object has been modified\",\"reason\":\"Conflict\"}");
	r.len = strlen(r.body);
	CHECK_EQ_STR(k8s_response_message(&r, buf, sizeof(buf)), "the object has been modified");
	struct k8s_result res;
	fill_result(&res, &r);
	CHECK_EQ_STR(res.reason, "Conflict");
	CHECK_EQ_INT(res.status, 409);
	k8s_response_free(&r);
	r.body = strdup("<html>bad gateway</html>");
	r.len = strlen(r.body);
	r.status = 502;
	CHECK_EQ_STR(k8s_response_message(&r, buf, sizeof(buf)), "HTTP 502 (24 bytes of body)");
	k8s_response_free(&r);
}

TEST_MAIN(TEST_ENTRY(test_paths), TEST_ENTRY(test_resource_by_name), TEST_ENTRY(test_object_key_and_rv),
          TEST_ENTRY(test_errors_in_their_range), TEST_ENTRY(test_response_message))
