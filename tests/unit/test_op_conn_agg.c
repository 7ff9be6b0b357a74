/* Unit tests for src/operator/conn_agg.c: a gateway's /route-stats document read and checked, the sums
 * over gateway pods (counts add, times take the latest, expired pods leave), the status comparison and
 * write (timestamps only move forward), and the write budget's k8s_bucket_take. */
#include "operator/conn_agg.c"

#include "k8s/ratelimit.h"
#include "test.h"

static json_t *doc(const char *text)
{
	char err[256] = "";
	json_t *d = cc_parse(text, strlen(text), err, sizeof(err));
	if (!d)
		fprintf(stderr, "cc_parse: %s\n", err);
	return d;
}

#define ENTRY(a, h, o, lc, lr)                                                                               \
	"{\"active\":" #a ",\"held\":" #h ",\"orphaned\":" #o ",\"last_connection_unix_ms\":" #lc            \
	",\"last_routing_unix_ms\":" #lr "}"

TEST(test_parse_checks_every_entry)
{
	json_t *d = doc("{\"fixsessions\":{\"ns/a\":" ENTRY(2, 1, 0, 1000, 2000) "}}");
	CHECK(d && json_object_size(d) == 1);
	json_decref(d);
	char err[256];
	const char *bad[] = {
	    "not json",
	    "{\"routes\":[]}",
	    "{\"fixsessions\":[]}",
	    "{\"fixsessions\":{\"ns/a\":{\"active\":1}}}",
	    "{\"fixsessions\":{\"ns/a\":" ENTRY(-1, 0, 0, 0, 0) "}}",
	    "{\"fixsessions\":{\"ns/a\":" ENTRY("1", 0, 0, 0, 0) "}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(cc_parse(bad[i], strlen(bad[i]), err, sizeof(err)) == NULL);
		CHECK(err[0] != '\0');
	}
	/* the field named in the message */
	cc_parse(bad[4], strlen(bad[4]), err, sizeof(err));
	CHECK(strstr(err, "ns/a") && strstr(err, "active"));
}

TEST(test_sum_adds_counts_and_takes_latest_times)
{
	json_t *a = doc(
	    "{\"fixsessions\":{\"ns/x\":" ENTRY(2, 1, 0, 5000, 9000) ",\"ns/y\":" ENTRY(0, 0, 3, 0, 0) "}}");
	json_t *b = doc("{\"fixsessions\":{\"ns/x\":" ENTRY(1, 2, 1, 7000, 8000) "}}");
	struct cc_pod_doc pods[] = {{a, 100}, {b, 100}, {NULL, 0}};
	json_t *sum = cc_sum(pods, 3, 150, 1000);
	struct cc_counts c;
	cc_counts_of(sum, "ns/x", &c);
	CHECK_EQ_INT(c.active, 3);
	CHECK_EQ_INT(c.held, 3);
	CHECK_EQ_INT(c.orphaned, 1);
	CHECK_EQ_INT(c.last_connection_ms, 7000);
	CHECK_EQ_INT(c.last_routing_ms, 9000);
	cc_counts_of(sum, "ns/y", &c);
	CHECK_EQ_INT(c.orphaned, 3);
	cc_counts_of(sum, "ns/absent", &c);
	CHECK(c.active == 0 && c.held == 0 && c.orphaned == 0 && c.last_connection_ms == 0);
	json_decref(sum);
	json_decref(a);
	json_decref(b);
}

TEST(test_expired_pods_leave_the_sum)
{
	json_t *a = doc("{\"fixsessions\":{\"ns/x\":" ENTRY(2, 0, 0, 0, 0) "}}");
	json_t *b = doc("{\"fixsessions\":{\"ns/x\":" ENTRY(5, 1, 0, 0, 0) "}}");
	struct cc_pod_doc pods[] = {{a, 10000}, {b, 2000}};
	CHECK(!cc_expired(&pods[1], 3000, 1000)); /* exactly at the bound: still counts */
	CHECK(cc_expired(&pods[1], 3001, 1000));
	CHECK(cc_expired(&(struct cc_pod_doc){NULL, 5}, 5, 1000)); /* never answered */
	json_t *sum = cc_sum(pods, 2, 10500, 1000);
	struct cc_counts c;
	cc_counts_of(sum, "ns/x", &c);
	CHECK_EQ_INT(c.active, 2); /* b's answer is 8.5 s old: gone */
	CHECK_EQ_INT(c.held, 0);
	json_decref(sum);
	json_decref(a);
	json_decref(b);
}

TEST(test_status_matches_and_apply)
{
	json_t *st = json_object();
	struct cc_counts zero = {0};
	CHECK(!cc_status_matches(st, &zero)); /* no counts written yet: write zeros */
	CHECK(!cc_status_matches(NULL, &zero));
	CHECK_EQ_INT(cc_status_apply(st, &zero), 0);
	CHECK(cc_status_matches(st, &zero));
	CHECK(json_object_get(st, "lastConnectionTime") == NULL); /* never: no timestamp */

	struct cc_counts c = {
	    .active = 4, .held = 1, .last_connection_ms = 1764610236000, .last_routing_ms = 1764610236999};
	CHECK(!cc_status_matches(st, &c));
	CHECK_EQ_INT(cc_status_apply(st, &c), 0);
	CHECK(cc_status_matches(st, &c));
	CHECK_EQ_INT(json_integer_value(json_object_get(st, "activeConnections")), 4);
	CHECK_EQ_INT(json_integer_value(json_object_get(st, "heldConnections")), 1);
	CHECK_EQ_STR(json_string_value(json_object_get(st, "lastConnectionTime")), "2025-12-01T17:30:36Z");
	CHECK_EQ_STR(json_string_value(json_object_get(st, "lastRoutingTime")), "2025-12-01T17:30:36Z");

	/* a pod expiring takes counts down but never a timestamp back */
	struct cc_counts older = {.active = 1, .last_connection_ms = 1764610000000};
	CHECK(!cc_status_matches(st, &older));
	cc_status_apply(st, &older);
	CHECK_EQ_STR(json_string_value(json_object_get(st, "lastConnectionTime")), "2025-12-01T17:30:36Z");
	older.active = 1;
	CHECK(cc_status_matches(st, &older));
	/* a later time within the same second is no change; the next second is */
	struct cc_counts later = older;
	later.last_connection_ms = 1764610236500;
	CHECK(cc_status_matches(st, &later));
	later.last_connection_ms = 1764610237000;
	CHECK(!cc_status_matches(st, &later));
	json_decref(st);
}

TEST(test_bucket_take_never_goes_into_debt)
{
	struct k8s_bucket b;
	k8s_bucket_init(&b, 10.0, 20, 0);
	CHECK_EQ_INT(k8s_bucket_take(&b, 50, 0), 20);           /* the burst */
	CHECK_EQ_INT(k8s_bucket_take(&b, 50, 0), 0);            /* nothing left, and no debt */
	CHECK_EQ_INT(k8s_bucket_take(&b, 50, 500000000ull), 5); /* 0.5 s at 10/s */
	CHECK_EQ_INT(k8s_bucket_take(&b, 3, 60000000000ull), 3);
	CHECK_EQ_INT(k8s_bucket_take(&b, 50, 60000000000ull), 17); /* refilled to the burst, not beyond */
}

TEST_MAIN(TEST_ENTRY(test_parse_checks_every_entry), TEST_ENTRY(test_sum_adds_counts_and_takes_latest_times),
          TEST_ENTRY(test_expired_pods_leave_the_sum), TEST_ENTRY(test_status_matches_and_apply),
          TEST_ENTRY(test_bucket_take_never_goes_into_debt))
