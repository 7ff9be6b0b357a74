/* test_schema.c - the shared YAML vocabulary: the same value gets the same verdict and the same words
 * in the gateway config and in FIXSession manifests, because both ask schema.c. */
#include "gateway/config.c" /* the gateway library is not linked into unit tests */

#include <stdlib.h>

#include "core/manifest.h"
#include "core/schema.h"
#include "test.h"

/* A plain or double-quoted scalar node over text. */
static yaml_node_t scalar(const char *text, bool quoted)
{
	yaml_node_t n;
	memset(&n, 0, sizeof(n));
	n.type = YAML_SCALAR_NODE;
	n.data.scalar.value = (yaml_char_t *)(uintptr_t)text;
	n.data.scalar.length = strlen(text);
	n.data.scalar.style = quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE;
	return n;
}

TEST(booleans)
{
	char msg[SCHEMA_MSG_CAP];
	bool v = false;
	static const char *const good[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
	for (size_t i = 0; i < 6; i++) {
		yaml_node_t n = scalar(good[i], false);
		CHECK(schema_bool(&n, &v, msg, sizeof(msg)) && v == (i < 3));
	}
	yaml_node_t n = scalar("yes", false);
	CHECK(!schema_bool(&n, &v, msg, sizeof(msg)));
	CHECK_EQ_STR(msg, "expected true or false, found \"yes\"");
	n = scalar("true", true);
	CHECK(!schema_bool(&n, &v, msg, sizeof(msg)));
	CHECK_EQ_STR(msg, "expected true or false, found the quoted string \"true\"; remove the quotes");
	n = scalar("", false);
	CHECK(!schema_bool(&n, &v, msg, sizeof(msg)));
	CHECK_EQ_STR(msg, "expected true or false, found nothing");
}

TEST(integers)
{
	char msg[SCHEMA_MSG_CAP];
	long long v;
	yaml_node_t n = scalar("-5", false);
	CHECK(schema_int(&n, -10, 10, &v, msg, sizeof(msg)) && v == -5);
	CHECK(!schema_int(&n, 0, 10, &v, msg, sizeof(msg))); /* no sign where none can be right */
	n = scalar("010", false);
	CHECK(!schema_int(&n, 0, 100, &v, msg, sizeof(msg)) && strstr(msg, "leading zero"));
	n = scalar("1_000", false);
	CHECK(!schema_int(&n, 0, 10000, &v, msg, sizeof(msg)) && strstr(msg, "underscore"));
	n = scalar("65536", false);
	CHECK(!schema_int(&n, 1, 65535, &v, msg, sizeof(msg)));
	CHECK_EQ_STR(msg, "\"65536\" is out of range; must be between 1 and 65535");
	n = scalar("-1000001", false);
	CHECK(!schema_int(&n, -1000000, 1000000, &v, msg, sizeof(msg)) && strstr(msg, "out of range"));
	n = scalar("9223372036854775808", false);
	CHECK(!schema_int(&n, -1000000, 1000000, &v, msg, sizeof(msg)) && strstr(msg, "out of range"));
	n = scalar("7", true);
	CHECK(!schema_int(&n, 0, 10, &v, msg, sizeof(msg)) && strstr(msg, "remove the quotes"));
}

TEST(durations)
{
	char msg[SCHEMA_MSG_CAP];
	uint64_t ms;
	yaml_node_t n = scalar("1m30s", false);
	CHECK(schema_duration_ms(&n, 1, 3600000, false, &ms, msg, sizeof(msg)) && ms == 90000);
	n = scalar("250ms", true); /* JSON writes durations as strings */
	CHECK(schema_duration_ms(&n, 1, 3600000, false, &ms, msg, sizeof(msg)) && ms == 250);
	n = scalar("0", false);
	CHECK(schema_duration_ms(&n, 1000, 3600000, true, &ms, msg, sizeof(msg)) && ms == 0);
	CHECK(!schema_duration_ms(&n, 1000, 3600000, false, &ms, msg, sizeof(msg)));
	CHECK_EQ_STR(msg, "\"0\" is out of range; must be between 1s and 1h");
	n = scalar("30", false);
	CHECK(!schema_duration_ms(&n, 1, 3600000, false, &ms, msg, sizeof(msg)));
	CHECK_EQ_STR(msg, "\"30\" has no unit; durations need a unit, e.g. 10s");
	n = scalar("10d", false);
	CHECK(!schema_duration_ms(&n, 1, 3600000, false, &ms, msg, sizeof(msg)) &&
	      strstr(msg, "invalid duration"));
}

TEST(key_problems)
{
	static const char *const names[] = {"logonTimeout", "matchFields"};
	char msg[SCHEMA_MSG_CAP];
	schema_unknown_key("matchfields", 11, names, 2, msg, sizeof(msg));
	CHECK_EQ_STR(msg, "unknown field \"matchfields\"; did you mean \"matchFields\"?");
	schema_unknown_key("bogus", 5, names, 2, msg, sizeof(msg));
	CHECK_EQ_STR(msg, "unknown field \"bogus\"");
	schema_unknown_key("<<", 2, names, 2, msg, sizeof(msg));
	CHECK(strstr(msg, "merge keys") != NULL);
	yaml_node_t first = scalar("x", false);
	first.start_mark.line = 4;
	schema_duplicate_key("x", 1, &first, msg, sizeof(msg));
	CHECK_EQ_STR(msg, "duplicate key \"x\" (first given at line 5)");
}

/* The message of the first error of a load. */
static const char *first_error(struct diag_list *dl)
{
	return dl->count ? dl->items[0].message : "(none)";
}

/* The same mistakes in both files: the same words. */
TEST(config_and_manifest_agree)
{
	static const struct {
		const char *config;   /* a line added to a minimal config */
		const char *manifest; /* a spec line added to a minimal FIXSession */
	} cases[] = {
	    {"tuning: {tcpNoDelay: yes}\n", "  matchFields: {SenderCompID49: {value: A, log: yes}}\n"},
	    {"tuning: {tcpNoDelay: \"true\"}\n",
	     "  matchFields: {SenderCompID49: {value: A, log: \"true\"}}\n"},
	    {"holdTimeout: 30\n", "  holdTimeout: 30\n"},
	    {"holdTimeout: 30sec\n", "  holdTimeout: 30sec\n"},
	    {"maxConnections: 010\n", "  maxHeldConnections: 010\n"},
	    {"maxConnections: \"5\"\n", "  maxHeldConnections: \"5\"\n"},
	    {"holdtimeout: 5s\n", "  holdtimeout: 5s\n"},
	    {"admin: [1]\n", "  matchFields: [1]\n"},
	};
	char dir[] = "/tmp/fixgw-schema-XXXXXX", path[128];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diag_list cdl, mdl;
		struct gw_config *c;
		struct route_set set;
		char text[1024];
		FILE *f = fopen(path, "w");
		fprintf(f, "listeners:\n  - {name: fix, address: 127.0.0.1:9877}\n%s", cases[i].config);
		fclose(f);
		diag_list_init(&cdl);
		diag_list_init(&mdl);
		route_set_init(&set);
		CHECK(gw_config_load(path, &c, &cdl) == FIXGW_EINVAL);
		snprintf(text, sizeof(text),
		         "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: r}\nspec:\n"
		         "  target: {service: {name: s, port: {number: 1}}}\n%s",
		         cases[i].manifest);
		CHECK(manifest_load_buffer("m.yaml", text, strlen(text), &set, &mdl) == FIXGW_EINVAL);
		/* the bound differs by field; the words before it do not */
		const char *a = first_error(&cdl), *b = first_error(&mdl);
		size_t n = strcspn(a, ";"), m = strcspn(b, ";");
		if (strstr(a, "out of range") || n != m || strncmp(a, b, n) != 0) {
			fprintf(stderr, "case %zu:\n  config:   %s\n  manifest: %s\n", i, a, b);
			test_failures_++;
		}
		diag_list_free(&cdl);
		diag_list_free(&mdl);
		route_set_free(&set);
	}
	unlink(path);
	rmdir(dir);
}

TEST_MAIN(TEST_ENTRY(booleans), TEST_ENTRY(integers), TEST_ENTRY(durations), TEST_ENTRY(key_problems),
          TEST_ENTRY(config_and_manifest_agree))
