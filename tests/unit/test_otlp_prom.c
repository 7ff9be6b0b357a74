/* test_otlp_prom.c - the metric set in the Prometheus text format: names, types, label escaping,
 * histograms, number spellings. */
#include "telemetry/otlp_prom.c"

#include <stdlib.h>

#include "telemetry/otlp.h"
#include "test.h"

static char *render(const struct otlp_metric_set *set)
{
	char *out = NULL;
	size_t len = 0;
	CHECK_EQ_INT(otlp_prom_render(set, &out, &len), 0);
	CHECK(out && strlen(out) == len);
	return out;
}

TEST(label_values_are_escaped)
{
	static const struct otlp_metric_desc d = {"fixgw.connections.routed",
	                                          "Routed \\ connections\nper route", "{connection}",
	                                          OTLP_METRIC_COUNTER};
	struct otlp_metric_set set;
	otlp_metric_set_init(&set);
	struct otlp_attr a[] = {OTLP_STR("route", "ns/a\"b\\c\nd"), OTLP_STR("weird.key-name", "x")};
	otlp_metric_int(&set, &d, a, 2, 5);
	char *out = render(&set);
	CHECK_EQ_STR(out,
	             "# HELP fixgw_connections_routed_total Routed \\\\ connections\\nper route\n"
	             "# TYPE fixgw_connections_routed_total counter\n"
	             "fixgw_connections_routed_total{route=\"ns/a\\\"b\\\\c\\nd\",weird_key_name=\"x\"} 5\n");
	free(out);
	otlp_metric_set_free(&set);
}

TEST(types_and_numbers)
{
	static const struct otlp_metric_desc g = {"fixgw.held", "Held", "{connection}", OTLP_METRIC_GAUGE};
	static const struct otlp_metric_desc u = {"fixgw.active", "Active", "{connection}",
	                                          OTLP_METRIC_UPDOWN};
	static const struct otlp_metric_desc c = {"bytes_total", "Bytes", "By", OTLP_METRIC_COUNTER};
	static const struct otlp_metric_desc h = {"9lives", "Eval", "s", OTLP_METRIC_HISTOGRAM};
	struct otlp_metric_set set;
	otlp_metric_set_init(&set);
	otlp_metric_double(&set, &g, NULL, 0, 0.1);
	otlp_metric_double(&set, &g, (struct otlp_attr[]){OTLP_BOOL("tls", true)}, 1, 1.0 / 0.0);
	otlp_metric_int(&set, &u, (struct otlp_attr[]){OTLP_INT("worker", 3)}, 1, -2);
	otlp_metric_int(&set, &c, NULL, 0, 1234567890123);
	double bounds[] = {0.00025, 0.001, 1};
	uint64_t counts[] = {3, 0, 2, 1};
	otlp_metric_histogram(&set, &h, (struct otlp_attr[]){OTLP_STR("route", "r")}, 1,
	                      &(struct otlp_histogram){bounds, 3, counts, 1.5});
	char *out = render(&set);
	CHECK_EQ_STR(out, "# HELP fixgw_held Held\n"
	                  "# TYPE fixgw_held gauge\n"
	                  "fixgw_held 0.1\n"
	                  "fixgw_held{tls=\"true\"} +Inf\n"
	                  "# HELP fixgw_active Active\n"
	                  "# TYPE fixgw_active gauge\n"
	                  "fixgw_active{worker=\"3\"} -2\n"
	                  "# HELP bytes_total Bytes\n"
	                  "# TYPE bytes_total counter\n"
	                  "bytes_total 1234567890123\n"
	                  "# HELP _9lives Eval\n"
	                  "# TYPE _9lives histogram\n"
	                  "_9lives_bucket{route=\"r\",le=\"0.00025\"} 3\n"
	                  "_9lives_bucket{route=\"r\",le=\"0.001\"} 3\n"
	                  "_9lives_bucket{route=\"r\",le=\"1\"} 5\n"
	                  "_9lives_bucket{route=\"r\",le=\"+Inf\"} 6\n"
	                  "_9lives_sum{route=\"r\"} 1.5\n"
	                  "_9lives_count{route=\"r\"} 6\n");
	free(out);
	otlp_metric_set_free(&set);

	/* an empty set renders as an empty document */
	otlp_metric_set_init(&set);
	out = render(&set);
	CHECK_EQ_STR(out, "");
	free(out);
	otlp_metric_set_free(&set);
}

TEST_MAIN(TEST_ENTRY(label_values_are_escaped), TEST_ENTRY(types_and_numbers))
