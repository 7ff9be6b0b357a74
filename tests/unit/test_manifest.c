/* test_manifest.c - the FIXSession loader: what loads, what is refused and how it is reported. */
#include "core/manifest.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "io/diag_print.h"
#include "yaml_compare.h"

#define DATA FIXGW_SOURCE_DIR "/tests/unit/data/manifests"

#define HEAD      "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: r1, namespace: trading}\n"
#define TARGET    "  target: {service: {name: svc, port: {number: 9880}}}\n"
#define ONE_FIELD "  matchFields:\n    SenderCompID49: {value: \"BROKER_A\"}\n"

struct res {
	struct route_set set;
	struct diag_list dl;
	int rc;
};

static void load(struct res *r, const char *text)
{
	route_set_init(&r->set);
	diag_list_init(&r->dl);
	r->rc = manifest_load_buffer("t.yaml", text, strlen(text), &r->set, &r->dl);
	/* every input of these tests also loads the same with the YAML fast path off (ADR-017) */
	char why[2200];
	const char *diff = yaml_compare_loads(text, strlen(text), why, sizeof(why));
	if (diff) {
		fprintf(stderr, "%s: fast path and libyaml differ: %s\n", test_name_, diff);
		test_failures_++;
	}
}

static void res_free(struct res *r)
{
	route_set_free(&r->set);
	diag_list_free(&r->dl);
}

static void dump(const struct res *r)
{
	diag_print(&r->dl, stderr);
}

/* The first diagnostic whose message contains needle (and whose path is path, when given). */
static const struct diag *find(const struct res *r, const char *path, const char *needle)
{
	for (size_t i = 0; i < r->dl.count; i++) {
		const struct diag *d = &r->dl.items[i];
		if (strstr(d->message, needle) && (!path || (d->path && strcmp(d->path, path) == 0)))
			return d;
	}
	return NULL;
}

/* text must be refused with an error at path whose message contains needle, and load no route. */
static void expect_error_at(int line, const char *text, const char *path, const char *needle)
{
	struct res r;
	load(&r, text);
	const struct diag *d = find(&r, path, needle);
	if (r.rc != FIXGW_EINVAL || r.set.count != 0 || !d || d->severity != DIAG_ERROR) {
		fprintf(stderr,
		        "%s:%d: expected error at %s containing \"%s\" (rc %d, %zu routes) for:\n%s\n"
		        "got:\n",
		        __FILE__, line, path ? path : "(none)", needle, r.rc, r.set.count, text);
		dump(&r);
		test_failures_++;
	}
	res_free(&r);
}
#define EXPECT_ERROR(text, path, needle) expect_error_at(__LINE__, text, path, needle)

/* text must load exactly one route with no error. */
static void expect_ok_at(int line, const char *text, struct res *r)
{
	load(r, text);
	if (r->rc != 0 || r->set.count != 1 || r->dl.nerrors != 0) {
		fprintf(stderr, "%s:%d: expected one valid route (rc %d, %zu routes) for:\n%s\ngot:\n",
		        __FILE__, line, r->rc, r->set.count, text);
		dump(r);
		test_failures_++;
	}
}
#define EXPECT_OK(text, r) expect_ok_at(__LINE__, text, r)

/* ---- what loads ---- */

TEST(minimal_route_gets_defaults)
{
	struct res r;
	EXPECT_OK("apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata:\n  name: broker-a\n"
	          "spec:\n" ONE_FIELD TARGET,
	          &r);
	if (r.set.count == 1) {
		const struct route *rt = &r.set.items[0];
		CHECK_EQ_STR(rt->name, "broker-a");
		CHECK_EQ_STR(rt->ns, "default");
		CHECK_EQ_STR(rt->source, "t.yaml:1");
		CHECK_EQ_INT(rt->nfields, 1);
		CHECK_EQ_INT(rt->fields[0].tag, 49);
		CHECK_EQ_STR(rt->fields[0].name, "SenderCompID");
		CHECK_EQ_STR(rt->fields[0].value, "BROKER_A");
		CHECK_EQ_INT(rt->fields[0].value_len, 8);
		CHECK(!rt->fields[0].is_pattern);
		CHECK(rt->fields[0].log);
		CHECK(!rt->fields[0].redact);
		CHECK(!rt->has_priority);
		CHECK_EQ_STR(rt->target.service, "svc");
		CHECK_EQ_INT(rt->target.port, 9880);
		CHECK(rt->target.port_name == NULL);
		CHECK_EQ_INT(rt->nlisteners, 0);
		CHECK_EQ_INT(rt->max_held, ROUTE_DEFAULT_MAX_HELD);
		CHECK_EQ_INT(rt->hold_timeout_ms, ROUTE_DEFAULT_HOLD_TIMEOUT_MS);
		CHECK_EQ_INT(route_kind_of(rt), ROUTE_KIND_EXACT);
	}
	CHECK_EQ_INT(r.dl.count, 0);
	res_free(&r);
}

TEST(full_route_every_field)
{
	struct res r;
	EXPECT_OK(HEAD "spec:\n"
	               "  matchFields:\n"
	               "    AlgoStrategy20001: {value: \"VW?P\", redact: true}\n"
	               "    SenderCompID49: {value: 'BRK_*', log: true}\n"
	               "    ComplianceID9001:\n"
	               "      value: RESTRICTED\n"
	               "      log: false\n"
	               "  priority: -250\n"
	               "  target:\n"
	               "    service:\n"
	               "      name: equities-engine-svc\n"
	               "      port: {name: fix}\n"
	               "  listeners: [fix-tls, fix-plain]\n"
	               "  maxHeldConnections: 0\n"
	               "  holdTimeout: 1m30s\n",
	          &r);
	if (r.set.count == 1) {
		const struct route *rt = &r.set.items[0];
		CHECK_EQ_STR(rt->ns, "trading");
		CHECK_EQ_INT(rt->nfields, 3);
		/* sorted by tag */
		CHECK_EQ_INT(rt->fields[0].tag, 49);
		CHECK_EQ_INT(rt->fields[1].tag, 9001);
		CHECK_EQ_INT(rt->fields[2].tag, 20001);
		CHECK(rt->fields[0].is_pattern && rt->fields[2].is_pattern && !rt->fields[1].is_pattern);
		CHECK(!rt->fields[1].log && !rt->fields[1].redact);
		CHECK(rt->fields[2].redact && rt->fields[2].log);
		CHECK_EQ_STR(rt->fields[1].name, "ComplianceID");
		CHECK_EQ_STR(rt->fields[2].name, "AlgoStrategy");
		CHECK(rt->has_priority);
		CHECK_EQ_INT(rt->priority, -250);
		CHECK_EQ_STR(rt->target.service, "equities-engine-svc");
		CHECK_EQ_INT(rt->target.port, 0);
		CHECK_EQ_STR(rt->target.port_name, "fix");
		CHECK_EQ_INT(rt->nlisteners, 2);
		CHECK_EQ_STR(rt->listeners[0], "fix-tls");
		CHECK_EQ_STR(rt->listeners[1], "fix-plain");
		CHECK_EQ_INT(rt->max_held, 0);
		CHECK_EQ_INT(rt->hold_timeout_ms, 90000);
		CHECK_EQ_INT(route_kind_of(rt), ROUTE_KIND_WILDCARD);
	}
	res_free(&r);
}

TEST(default_route_with_priority)
{
	struct res r;
	EXPECT_OK(HEAD "spec:\n  priority: 5\n" TARGET, &r);
	if (r.set.count == 1) {
		CHECK_EQ_INT(route_kind_of(&r.set.items[0]), ROUTE_KIND_DEFAULT);
		CHECK_EQ_INT(r.set.items[0].priority, 5);
	}
	res_free(&r);
	EXPECT_OK(HEAD "spec:\n  matchFields: {}\n  priority: 1000000\n" TARGET, &r);
	res_free(&r);
	EXPECT_OK(HEAD "spec:\n  matchFields:\n  priority: -1000000\n" TARGET, &r);
	res_free(&r);
}

TEST(escaped_wildcard_is_exact)
{
	struct res r;
	EXPECT_OK(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: 'A\\*B\\?'}\n" TARGET, &r);
	if (r.set.count == 1) {
		CHECK(!r.set.items[0].fields[0].is_pattern);
		CHECK_EQ_STR(r.set.items[0].fields[0].value, "A\\*B\\?");
		CHECK_EQ_INT(route_kind_of(&r.set.items[0]), ROUTE_KIND_EXACT);
	}
	res_free(&r);
}

TEST(json_object_loads)
{
	struct res r;
	EXPECT_OK("{\"apiVersion\":\"fixgw.io/v1alpha1\",\"kind\":\"FIXSession\","
	          "\"metadata\":{\"name\":\"j\",\"namespace\":\"trading\",\"uid\":\"x\",\"generation\":2,"
	          "\"managedFields\":[{\"manager\":\"kubectl\",\"fieldsV1\":{\"f:spec\":{}}}]},"
	          "\"spec\":{\"matchFields\":{\"SenderCompID49\":{\"value\":\"A\\/B\",\"log\":false}},"
	          "\"priority\":null,\"maxHeldConnections\":3,\"holdTimeout\":\"250ms\","
	          "\"target\":{\"service\":{\"name\":\"svc\",\"port\":{\"number\":9880}}}},"
	          "\"status\":{\"activeConnections\":1,\"anything\":{\"goes\":[1,2]}}}",
	          &r);
	if (r.set.count == 1) {
		const struct route *rt = &r.set.items[0];
		CHECK_EQ_STR(rt->fields[0].value, "A/B");
		CHECK(!rt->fields[0].log);
		CHECK(!rt->has_priority);
		CHECK_EQ_INT(rt->max_held, 3);
		CHECK_EQ_INT(rt->hold_timeout_ms, 250);
		CHECK_EQ_STR(rt->source, "t.yaml:1");
	}
	res_free(&r);
}

TEST(json_numbers_and_booleans_are_typed)
{
	EXPECT_ERROR(
	    "{\"apiVersion\":\"fixgw.io/v1alpha1\",\"kind\":\"FIXSession\",\"metadata\":{\"name\":\"j\"},"
	    "\"spec\":{\"matchFields\":{\"SenderCompID49\":{\"value\":123}},"
	    "\"target\":{\"service\":{\"name\":\"svc\",\"port\":{\"number\":\"9880\"}}}}}",
	    "spec.matchFields.SenderCompID49.value", "quote it");
	EXPECT_ERROR(
	    "{\"apiVersion\":\"fixgw.io/v1alpha1\",\"kind\":\"FIXSession\",\"metadata\":{\"name\":\"j\"},"
	    "\"spec\":{\"target\":{\"service\":{\"name\":\"svc\",\"port\":{\"number\":\"9880\"}}}}}",
	    "spec.target.service.port.number", "expected an integer, found the quoted string");
}

TEST(multi_document_and_other_kinds)
{
	struct res r;
	load(&r,
	     "---\n"
	     "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {ports: [{port: 9880}], weird: x}\n"
	     "---\n"
	     "---\n"
	     "# only a comment\n"
	     "...\n"
	     "---\n" HEAD "spec:\n" ONE_FIELD TARGET "---\n"
	     "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: r2, namespace: trading}\n"
	     "spec:\n  matchFields:\n    SenderCompID49: {value: B}\n" TARGET "---\n"
	     "just a scalar\n"
	     "---\n"
	     "- a list\n"
	     "---\n"
	     "apiVersion: other.io/v1\nkind: FIXSession\nmetadata: {name: foreign}\n"
	     "---\n"
	     "kind: ConfigMap\n");
	CHECK_EQ_INT(r.rc, 0);
	CHECK_EQ_INT(r.set.count, 2);
	CHECK_EQ_INT(r.dl.count, 0);
	if (r.set.count == 2) {
		CHECK_EQ_STR(r.set.items[0].name, "r1");
		CHECK_EQ_STR(r.set.items[1].name, "r2");
		CHECK_EQ_STR(r.set.items[0].source, "t.yaml:11");
	}
	res_free(&r);
}

/* A document that can only be a mistaken FIXSession is an error, never a quiet "0 valid". */
TEST(wrong_or_unknown_kinds_are_errors)
{
	struct res r;
	load(&r, "apiVersion: fixgw.io/v1alpha1\nkind: FixSession\nmetadata: {name: r1}\n");
	CHECK_EQ_INT(r.rc, FIXGW_EINVAL);
	const struct diag *d = find(&r, "kind",
	                            "unknown kind \"FixSession\": kinds are case-sensitive; "
	                            "expected \"FIXSession\"");
	CHECK(d && d->line == 2 && d->col == 7 && strcmp(d->file, "t.yaml") == 0);
	res_free(&r);

	load(&r, "apiVersion: v1\nkind: fixsessionlist\nitems: []\n");
	CHECK(r.rc == FIXGW_EINVAL && find(&r, "kind", "expected \"FIXSessionList\"") != NULL);
	res_free(&r);

	load(&r, "apiVersion: fixgw.io/v1alpha1\nkind: Route\n");
	CHECK(r.rc == FIXGW_EINVAL && find(&r, "kind",
	                                   "unknown kind \"Route\" in API group fixgw.io; "
	                                   "expected FIXSession") != NULL);
	res_free(&r);

	load(&r, "apiVersion: fixgw.io/v1alpha1\nmetadata: {name: r1}\n");
	CHECK(r.rc == FIXGW_EINVAL && find(&r, "kind", "kind is missing; expected kind: FIXSession") != NULL);
	res_free(&r);

	load(&r, "metadata: {name: r1}\nspec: {}\n");
	CHECK(r.rc == FIXGW_EINVAL && find(&r, "kind", "without apiVersion and kind") != NULL);
	res_free(&r);

	load(&r, "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service}\n"
	         "- {apiVersion: fixgw.io/v1alpha1, kind: FIXsession}\n");
	d = find(&r, "items[1].kind", "expected \"FIXSession\"");
	CHECK(r.rc == FIXGW_EINVAL && d && d->line == 5);
	res_free(&r);
}

TEST(other_version_of_ours_warns)
{
	struct res r;
	load(&r, "apiVersion: fixgw.io/v1beta1\nkind: FIXSession\nmetadata: {name: x}\n---\n"
	         "kind: FIXSession\nmetadata: {name: y}\n");
	CHECK_EQ_INT(r.rc, 0);
	CHECK_EQ_INT(r.set.count, 0);
	CHECK_EQ_INT(r.dl.nwarnings, 2);
	const struct diag *d = find(&r, NULL, "\"fixgw.io/v1beta1\" skipped");
	CHECK(d && d->line == 1 && d->col == 13);
	CHECK(find(&r, NULL, "apiVersion (none) skipped") != NULL);
	res_free(&r);
}

TEST(list_kinds_contribute_items)
{
	struct res r;
	load(&r,
	     "apiVersion: v1\nkind: List\nitems:\n"
	     "- apiVersion: fixgw.io/v1alpha1\n  kind: FIXSession\n  metadata: {name: a}\n"
	     "  spec: {target: {service: {name: svc, port: {number: 1}}}}\n"
	     "- apiVersion: v1\n  kind: Service\n  metadata: {name: svc}\n"
	     "- apiVersion: fixgw.io/v1alpha1\n  kind: FIXSession\n  metadata: {name: b}\n"
	     "  spec: {target: {service: {name: svc}}}\n"
	     "- apiVersion: v1\n  kind: List\n  items: [{apiVersion: fixgw.io/v1alpha1, kind: FIXSession}]\n"
	     "---\n"
	     "apiVersion: fixgw.io/v1alpha1\nkind: FIXSessionList\nmetadata: {resourceVersion: "
	     "\"9\"}\nitems:\n"
	     "- metadata: {name: c}\n  spec: {target: {service: {name: svc, port: {name: fix}}}}\n");
	CHECK_EQ_INT(r.rc, FIXGW_EINVAL);
	CHECK_EQ_INT(r.set.count, 2);
	if (r.set.count == 2) {
		CHECK_EQ_STR(r.set.items[0].name, "a");
		CHECK_EQ_STR(r.set.items[0].source, "t.yaml:4");
		CHECK_EQ_STR(r.set.items[1].name, "c");
	}
	/* b lacks its port: reported with the item's index */
	const struct diag *d = find(&r, "items[2].spec.target.service.port", "required field is missing");
	CHECK(d && d->line == 14 && d->col == 28);
	CHECK_EQ_INT(r.dl.nerrors, 1);
	res_free(&r);
}

/* ---- strictness ---- */

TEST(unknown_fields_are_errors)
{
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  prioirty: 5\n", "spec", "unknown field \"prioirty\"");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  matchfields: {}\n", "spec",
	             "unknown field \"matchfields\"; did you mean \"matchFields\"?");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "specs: {}\n", NULL, "unknown field \"specs\"");
	EXPECT_ERROR(
	    "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: a, tenant: x}\nspec:\n" TARGET,
	    "metadata", "unknown field \"tenant\"");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: A, regex: true}\n" TARGET,
	             "spec.matchFields.SenderCompID49", "unknown field \"regex\"");
	EXPECT_ERROR(HEAD "spec:\n  target: {service: {name: svc, port: {number: 1}}, weight: 2}\n",
	             "spec.target", "unknown field \"weight\"");
	EXPECT_ERROR(HEAD "spec:\n  target: {service: {name: svc, namespace: x, port: {number: 1}}}\n",
	             "spec.target.service", "unknown field \"namespace\"");
	EXPECT_ERROR(HEAD "spec:\n  target: {service: {name: svc, port: {number: 1, protocol: TCP}}}\n",
	             "spec.target.service.port", "unknown field \"protocol\"");
	EXPECT_ERROR(
	    HEAD "base: &b {name: svc, port: {number: 1}}\nspec:\n  target:\n    service:\n      <<: *b\n",
	    NULL, "unknown field \"base\"");
	EXPECT_ERROR(HEAD "spec:\n  target:\n    service:\n      <<: {name: svc, port: {number: 1}}\n",
	             "spec.target.service", "merge keys (<<) are not supported");
}

TEST(standard_metadata_and_status_are_accepted)
{
	struct res r;
	EXPECT_OK(
	    "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata:\n  name: a\n  namespace: trading\n"
	    "  labels: {app: x, tier: y}\n  annotations: {note: \"a: b\"}\n  uid: 1234\n"
	    "  resourceVersion: \"77\"\n  generation: 4\n  creationTimestamp: 2024-01-01T00:00:00Z\n"
	    "  finalizers: [fixgw.io/cleanup]\n  ownerReferences: []\n  generateName: a-\n"
	    "  managedFields: [{manager: m, fieldsV1: {f:spec: {f:x: {}}}}]\n"
	    "spec:\n" TARGET "status:\n  unknown: [whatever, {nested: true}]\n  conditions: 7\n",
	    &r);
	res_free(&r);
}

TEST(duplicate_keys_are_errors)
{
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  priority: 1\n  priority: 2\n", "spec",
	             "duplicate key \"priority\"");
	EXPECT_ERROR(
	    HEAD
	    "spec:\n  matchFields:\n    SenderCompID49: {value: A}\n    SenderCompID49: {value: B}\n" TARGET,
	    "spec.matchFields.SenderCompID49", "duplicate key");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: A, value: B}\n" TARGET,
	             "spec.matchFields.SenderCompID49", "duplicate key \"value\"");
	EXPECT_ERROR("apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata:\n  name: a\n"
	             "  labels: {x: 1, y: 2, x: 3}\nspec:\n" TARGET,
	             "metadata.labels", "duplicate key \"x\"");
	EXPECT_ERROR(HEAD "metadata: {name: b}\nspec:\n" TARGET, NULL, "duplicate key \"metadata\"");
}

/* ---- matchFields keys ---- */

TEST(match_field_key_syntax)
{
	static const char *const bad[] = {
	    "senderCompID49",         /* lowercase start */
	    "SenderCompID",           /* no tag */
	    "SenderCompID049",        /* leading zero */
	    "SenderCompID0",          /* tag 0 */
	    "S49",                    /* name too short */
	    "Sender_CompID49",        /* underscore */
	    "SenderCompID1234567890", /* ten digits */
	    "\"49\"",                 /* digits only */
	    "\"Sender CompID49\"",
	    "Abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd1", /* 65 characters */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char doc[512];
		snprintf(doc, sizeof(doc), HEAD "spec:\n  matchFields:\n    %s: {value: A}\n" TARGET, bad[i]);
		EXPECT_ERROR(doc, "spec.matchFields", "invalid field name");
	}
	struct res r;
	EXPECT_OK(HEAD
	          "spec:\n  matchFields:\n    Ab999999999: {value: A}\n    X9Y7: {value: B}\n"
	          "    Abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc1: {value: C}\n" TARGET,
	          &r);
	if (r.set.count == 1) {
		CHECK_EQ_INT(r.set.items[0].fields[0].tag, 1);
		CHECK_EQ_INT(r.set.items[0].fields[1].tag, 7);
		CHECK_EQ_STR(r.set.items[0].fields[1].name, "X9Y");
		CHECK_EQ_INT(r.set.items[0].fields[2].tag, 999999999);
	}
	res_free(&r);
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    [a]: {value: A}\n" TARGET, "spec.matchFields",
	             "keys must be strings");
}

TEST(same_tag_twice_is_an_error)
{
	EXPECT_ERROR(
	    HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: A}\n    Sender49: {value: A}\n" TARGET,
	    "spec.matchFields.Sender49", "tag 49 is already matched by SenderCompID49");
}

TEST(unroutable_tags)
{
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    Password554: {value: A}\n" TARGET,
	             "spec.matchFields.Password554",
	             "tag 554 (Password) is a secret and cannot be a routing key");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    NewPassword925: {value: A}\n" TARGET,
	             "spec.matchFields.NewPassword925", "is a secret");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    RawData96: {value: A}\n" TARGET,
	             "spec.matchFields.RawData96", "is a secret");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    EncryptedPassword1402: {value: A}\n" TARGET,
	             "spec.matchFields.EncryptedPassword1402", "is a secret");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    MsgType35: {value: A}\n" TARGET,
	             "spec.matchFields.MsgType35",
	             "tag 35 (MsgType) frames the message and cannot be a routing key");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    BodyLength9: {value: A}\n" TARGET,
	             "spec.matchFields.BodyLength9", "cannot be a routing key");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    CheckSum10: {value: A}\n" TARGET,
	             "spec.matchFields.CheckSum10", "cannot be a routing key");
}

TEST(renamed_standard_tag_warns)
{
	struct res r;
	EXPECT_OK(HEAD
	          "spec:\n  matchFields:\n    SenderCompID56: {value: A}\n    Firm49: {value: B}\n" TARGET,
	          &r);
	CHECK_EQ_INT(r.dl.nwarnings, 2);
	const struct diag *d =
	    find(&r, "spec.matchFields.SenderCompID56", "tag 56 is TargetCompID in standard FIX");
	CHECK(d && d->severity == DIAG_WARNING && d->line == 6 && d->col == 5);
	CHECK(find(&r, "spec.matchFields.Firm49", "Firm49: tag 49 is SenderCompID") != NULL);
	res_free(&r);
	/* a custom tag has no standard name to disagree with */
	EXPECT_OK(HEAD "spec:\n  matchFields:\n    AlgoStrategy20001: {value: A}\n" TARGET, &r);
	CHECK_EQ_INT(r.dl.count, 0);
	res_free(&r);
}

TEST(too_many_match_fields)
{
	char doc[4096];
	int n = snprintf(doc, sizeof(doc), HEAD "spec:\n  matchFields:\n");
	for (int i = 1; i <= ROUTE_MAX_FIELDS + 1; i++)
		n += snprintf(doc + n, sizeof(doc) - (size_t)n, "    Custom%d: {value: v}\n", 5000 + i);
	snprintf(doc + n, sizeof(doc) - (size_t)n, TARGET);
	EXPECT_ERROR(doc, "spec.matchFields", "has 17 entries; at most 16 are allowed");
}

/* ---- matchFields values ---- */

TEST(value_must_be_a_string)
{
	static const char *const bad[] = {"123",  "1.5",   "-7",  "0x1F", "1_000", ".5", "1e3",  ".inf",
	                                  "true", "False", "yes", "off",  "null",  "~",  "0o17", "+12"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char doc[512];
		snprintf(doc, sizeof(doc),
		         HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: %s}\n" TARGET, bad[i]);
		EXPECT_ERROR(doc, "spec.matchFields.SenderCompID49.value", "quote it");
	}
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49:\n      value:\n" TARGET,
	             "spec.matchFields.SenderCompID49.value",
	             "YAML reads this unquoted value as null; quote it");
	static const char *const good[] = {"\"123\"", "'true'",     "abc123",    "12:30",
	                                   "1.2.3",   "2024-01-01", "-x",        "1e",
	                                   "0x",      "_1x",        "\"\\x41\"", "|-\n        literal"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char doc[512];
		struct res r;
		snprintf(doc, sizeof(doc),
		         HEAD "spec:\n  matchFields:\n    SenderCompID49:\n      value: %s\n" TARGET,
		         good[i]);
		EXPECT_OK(doc, &r);
		res_free(&r);
	}
}

TEST(value_shape)
{
	EXPECT_ERROR(
	    HEAD "spec:\n  matchFields:\n    SenderCompID49: BROKER_A\n" TARGET,
	    "spec.matchFields.SenderCompID49",
	    "expected a mapping, found a string; put the value inside: SenderCompID49: {value: \"...\"}");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: [A]\n" TARGET,
	             "spec.matchFields.SenderCompID49", "expected a mapping");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {log: true}\n" TARGET,
	             "spec.matchFields.SenderCompID49.value", "required field is missing");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: [A]}\n" TARGET,
	             "spec.matchFields.SenderCompID49.value", "must be a string");
	EXPECT_ERROR(HEAD "spec:\n  matchFields: [SenderCompID49]\n" TARGET, "spec.matchFields",
	             "expected a mapping");
}

TEST(value_content)
{
	char doc[1024], big[ROUTE_MAX_VALUE_LEN + 2];
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: \"\"}\n" TARGET,
	             "spec.matchFields.SenderCompID49.value", "must be 1 to 256 bytes long (it has 0)");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(doc, sizeof(doc), HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: \"%s\"}\n" TARGET,
	         big);
	EXPECT_ERROR(doc, "spec.matchFields.SenderCompID49.value", "(it has 257)");
	big[sizeof(big) - 2] = '\0';
	struct res r;
	snprintf(doc, sizeof(doc), HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: \"%s\"}\n" TARGET,
	         big);
	EXPECT_OK(doc, &r);
	res_free(&r);
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: \"A\\tB\"}\n" TARGET,
	             "spec.matchFields.SenderCompID49.value", "control character (byte 0x09 at offset 1)");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: \"A\\x01\"}\n" TARGET,
	             "spec.matchFields.SenderCompID49.value", "control character (byte 0x01 at offset 1)");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: \"A\\x7f\"}\n" TARGET,
	             "spec.matchFields.SenderCompID49.value", "control character (byte 0x7f");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: \"A\\0B\"}\n" TARGET,
	             "spec.matchFields.SenderCompID49.value", "control character (byte 0x00 at offset 1)");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: 'AB\\'}\n" TARGET,
	             "spec.matchFields.SenderCompID49.value", "is not a valid pattern");
	/* non-ASCII bytes are fine */
	EXPECT_OK(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: \"Zürich*\"}\n" TARGET, &r);
	res_free(&r);
}

TEST(values_never_reach_diagnostics)
{
	/* every error a value can raise, with a recognisable secret in it */
	struct res r;
	load(&r, HEAD "spec:\n  matchFields:\n"
	              "    Custom5001: {value: \"hunter2\\x01\", redact: true}\n"
	              "    Custom5002: {value: 'hunter2\\', log: false}\n"
	              "    Custom5003: hunter2\n"
	              "    Custom5004: {value: [hunter2]}\n" TARGET);
	CHECK_EQ_INT(r.dl.nerrors, 4);
	for (size_t i = 0; i < r.dl.count; i++)
		CHECK(strstr(r.dl.items[i].message, "hunter2") == NULL);
	res_free(&r);
}

TEST(log_and_redact_flags)
{
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: A, log: \"false\"}\n" TARGET,
	             "spec.matchFields.SenderCompID49.log",
	             "expected true or false, found the quoted string \"false\"; remove the quotes");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: A, redact: yes}\n" TARGET,
	             "spec.matchFields.SenderCompID49.redact", "expected true or false, found");
	EXPECT_ERROR(HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: A, redact: 1}\n" TARGET,
	             "spec.matchFields.SenderCompID49.redact", "expected true or false, found");
	struct res r;
	EXPECT_OK(HEAD
	          "spec:\n  matchFields:\n    SenderCompID49: {value: A, log: false, redact: true}\n" TARGET,
	          &r);
	const struct diag *d =
	    find(&r, "spec.matchFields.SenderCompID49.redact", "redact: true adds nothing");
	CHECK(d && d->severity == DIAG_WARNING);
	if (r.set.count == 1)
		CHECK(!r.set.items[0].fields[0].log && r.set.items[0].fields[0].redact);
	res_free(&r);
	EXPECT_OK(HEAD
	          "spec:\n  matchFields:\n    SenderCompID49: {value: A, log: TRUE, redact: False}\n" TARGET,
	          &r);
	CHECK_EQ_INT(r.dl.count, 0);
	res_free(&r);
}

/* ---- priority ---- */

TEST(priority_only_on_wildcard_and_default_routes)
{
	EXPECT_ERROR(
	    HEAD "spec:\n" ONE_FIELD "  priority: 100\n" TARGET, "spec.priority",
	    "priority applies only to wildcard and default routes; exact routes are ordered by specificity");
	struct res r;
	EXPECT_OK(HEAD
	          "spec:\n  matchFields:\n    SenderCompID49: {value: A}\n    SenderSubID50: {value: 'D?'}\n"
	          "  priority: 100\n" TARGET,
	          &r);
	res_free(&r);
	EXPECT_ERROR(HEAD
	             "spec:\n  matchFields:\n    SenderCompID49: {value: 'A*'}\n  priority: 1000001\n" TARGET,
	             "spec.priority", "must be between -1000000 and 1000000");
	EXPECT_ERROR(HEAD "spec:\n  priority: 99999999999999999999999\n" TARGET, "spec.priority",
	             "must be between");
	EXPECT_ERROR(HEAD "spec:\n  priority: \"5\"\n" TARGET, "spec.priority",
	             "expected an integer, found the quoted string");
	EXPECT_ERROR(HEAD "spec:\n  priority: 1.5\n" TARGET, "spec.priority", "expected a whole number");
	EXPECT_ERROR(HEAD "spec:\n  priority: 010\n" TARGET, "spec.priority",
	             "no fraction, sign, leading zero or underscore");
	EXPECT_ERROR(HEAD "spec:\n  priority: [1]\n" TARGET, "spec.priority",
	             "expected an integer, found a list");
}

TEST(priority_check_waits_for_valid_fields)
{
	/* the route kind is unknown when a field is broken: report the field only */
	struct res r;
	load(&r, HEAD "spec:\n  matchFields:\n    SenderCompID49: {value: ''}\n  priority: 3\n" TARGET);
	CHECK_EQ_INT(r.dl.nerrors, 1);
	CHECK(find(&r, "spec.priority", "priority applies") == NULL);
	res_free(&r);
}

/* ---- target ---- */

TEST(target_rules)
{
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD, "spec.target", "required field is missing");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD "  target: {}\n", "spec.target.service",
	             "required field is missing");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD "  target: {service: {port: {number: 1}}}\n",
	             "spec.target.service.name", "required field is missing");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD "  target: {service: {name: svc}}\n",
	             "spec.target.service.port", "required field is missing");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD "  target: {service: {name: svc, port: 9880}}\n",
	             "spec.target.service.port",
	             "expected a mapping, found a number; write {number: 9880} or {name: fix}");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD "  target: {service: {name: svc, port: {}}}\n",
	             "spec.target.service.port", "give the Service port as number or name");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD
	                  "  target: {service: {name: svc, port: {number: 1, name: fix}}}\n",
	             "spec.target.service.port", "not both");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD "  target: {service: {name: svc, port: {number: 0}}}\n",
	             "spec.target.service.port.number", "must be between 1 and 65535");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD "  target: {service: {name: svc, port: {number: 65536}}}\n",
	             "spec.target.service.port.number", "must be between 1 and 65535");
	static const char *const bad_port_names[] = {
	    "fix-gateway-port1", "1234", "-fix", "fix-", "fi--x", "FIX", "f_x"};
	for (size_t i = 0; i < sizeof(bad_port_names) / sizeof(bad_port_names[0]); i++) {
		char doc[512];
		snprintf(doc, sizeof(doc),
		         HEAD "spec:\n" ONE_FIELD "  target: {service: {name: svc, port: {name: '%s'}}}\n",
		         bad_port_names[i]);
		EXPECT_ERROR(doc, "spec.target.service.port.name", "is not a valid port name");
	}
	static const char *const bad_services[] = {
	    "1svc",  "Svc", "svc-",
	    "svc.x", "s_v", "a23456789012345678901234567890123456789012345678901234567890123x"};
	for (size_t i = 0; i < sizeof(bad_services) / sizeof(bad_services[0]); i++) {
		char doc[512];
		snprintf(doc, sizeof(doc),
		         HEAD "spec:\n" ONE_FIELD "  target: {service: {name: '%s', port: {number: 1}}}\n",
		         bad_services[i]);
		EXPECT_ERROR(doc, "spec.target.service.name", "is not a valid Service name");
	}
	struct res r;
	EXPECT_OK(HEAD "spec:\n" ONE_FIELD "  target: {service: {name: a-1, port: {name: f1-2x}}}\n", &r);
	res_free(&r);
	EXPECT_OK(HEAD "spec:\n" ONE_FIELD "  target: {service: {name: a, port: {number: 65535}}}\n", &r);
	res_free(&r);
}

/* ---- listeners, holds ---- */

TEST(listener_rules)
{
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  listeners: [fix-tls, fix-tls]\n", "spec.listeners[1]",
	             "listener \"fix-tls\" is listed twice");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  listeners: [Fix]\n", "spec.listeners[0]",
	             "is not a valid listener name");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  listeners: []\n", "spec.listeners",
	             "must name 1 to 16 listeners");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  listeners: fix-tls\n", "spec.listeners",
	             "expected a list");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  listeners: [a, 123]\n", "spec.listeners[1]",
	             "must be a string");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET
	                  "  listeners: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q]\n",
	             "spec.listeners", "must name 1 to 16 listeners");
}

TEST(hold_rules)
{
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  maxHeldConnections: 10001\n",
	             "spec.maxHeldConnections", "must be between 0 and 10000");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  maxHeldConnections: -1\n", "spec.maxHeldConnections",
	             "must be between 0 and 10000");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  holdTimeout: 30\n", "spec.holdTimeout",
	             "has no unit; durations need a unit");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  holdTimeout: 0s\n", "spec.holdTimeout",
	             "is out of range; must be between 1ms and 1h");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  holdTimeout: 1h1ms\n", "spec.holdTimeout",
	             "is out of range; must be between 1ms and 1h");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  holdTimeout: 30sec\n", "spec.holdTimeout",
	             "use a number with a unit (ms, s, m, h)");
	EXPECT_ERROR(HEAD "spec:\n" ONE_FIELD TARGET "  holdTimeout: true\n", "spec.holdTimeout",
	             "invalid duration \"true\"");
	struct res r;
	EXPECT_OK(HEAD "spec:\n" ONE_FIELD TARGET "  holdTimeout: 1h\n  maxHeldConnections: 10000\n", &r);
	if (r.set.count == 1) {
		CHECK_EQ_INT(r.set.items[0].hold_timeout_ms, ROUTE_MAX_HOLD_TIMEOUT_MS);
		CHECK_EQ_INT(r.set.items[0].max_held, 10000);
	}
	res_free(&r);
	EXPECT_OK(HEAD "spec:\n" ONE_FIELD TARGET "  holdTimeout: \"0.5ms\"\n", &r);
	if (r.set.count == 1)
		CHECK_EQ_INT(r.set.items[0].hold_timeout_ms, 1);
	res_free(&r);
}

TEST(duration_parser)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
	    {"30s", 30000},
	    {"1m30s", 90000},
	    {"250ms", 250},
	    {"1h", 3600000},
	    {"1.5s", 1500},
	    {"0.25m", 15000},
	    {"1h0m0s", 3600000},
	    {"2m1ms", 120001},
	    {"0s", 0},
	    {"1.0001ms", 2},
	    {"0.5h", 1800000},
	    {"10ms10ms", 20},
	    {"1.123456789123s", 1124},
	    {"00001s", 1000},
	};
	static const char *const bad[] = {"",
	                                  "s",
	                                  "30",
	                                  "-1s",
	                                  "+1s",
	                                  "1.s",
	                                  ".5s",
	                                  "1x",
	                                  "1 s",
	                                  "1S",
	                                  "1us",
	                                  "1ns",
	                                  "1d",
	                                  "1m-",
	                                  "s30",
	                                  "1.5",
	                                  "99999999999999999999h",
	                                  "1e3s"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t ms = 12345;
		int rc = manifest_parse_duration_ms(good[i].s, strlen(good[i].s), &ms);
		if (rc != 0 || ms != good[i].ms) {
			fprintf(stderr, "duration %s: rc %d ms %llu, expected %llu\n", good[i].s, rc,
			        (unsigned long long)ms, (unsigned long long)good[i].ms);
			test_failures_++;
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms = 12345;
		if (manifest_parse_duration_ms(bad[i], strlen(bad[i]), &ms) != FIXGW_EINVAL || ms != 12345) {
			fprintf(stderr, "duration %s: accepted\n", bad[i]);
			test_failures_++;
		}
	}
	uint64_t ms;
	CHECK_EQ_INT(manifest_parse_duration_ms(NULL, 0, &ms), FIXGW_EINVAL);
	CHECK_EQ_INT(manifest_parse_duration_ms("5s9", 2, &ms), 0); /* explicit length */
	CHECK_EQ_INT(ms, 5000);
	CHECK_EQ_INT(manifest_parse_duration_ms("1000000h", 8, &ms), 0); /* parses; the caller bounds it */
	CHECK_EQ_INT(ms, 3600000000000ull);
	CHECK_EQ_INT(manifest_parse_duration_ms("3000000h", 8, &ms), FIXGW_EINVAL);
	CHECK_EQ_INT(manifest_parse_duration_ms("2562047h47m16.854775808s", 24, &ms), FIXGW_EINVAL);
	CHECK_EQ_INT(manifest_parse_duration_ms("2562047h47m16.854775807s", 24, &ms), 0); /* Go's maximum */
}

/* ---- metadata ---- */

TEST(metadata_rules)
{
	EXPECT_ERROR("apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nspec:\n" TARGET, "metadata.name",
	             "required field is missing");
	EXPECT_ERROR(
	    "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {namespace: x}\nspec:\n" TARGET,
	    "metadata.name", "required field is missing");
	static const char *const bad_names[] = {"Broker-A", "-a", "a-", "a..b", "a_b", ".a", "a.-b"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		char doc[512];
		snprintf(doc, sizeof(doc),
		         "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: '%s'}\n"
		         "spec:\n" TARGET,
		         bad_names[i]);
		EXPECT_ERROR(doc, "metadata.name", "is not a valid name");
	}
	EXPECT_ERROR("apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: 42}\nspec:\n" TARGET,
	             "metadata.name", "must be a string");
	EXPECT_ERROR("apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: a, namespace: "
	             "a.b}\nspec:\n" TARGET,
	             "metadata.namespace", "is not a valid namespace");
	EXPECT_ERROR("apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: [a]\nspec:\n" TARGET,
	             "metadata", "expected a mapping");
	EXPECT_ERROR(HEAD, "spec", "required field is missing");
	EXPECT_ERROR(HEAD "spec: [1]\n", "spec", "expected a mapping");
	struct res r;
	EXPECT_OK("apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: a.b-1.c, namespace: "
	          "~}\nspec:\n" TARGET,
	          &r);
	if (r.set.count == 1)
		CHECK_EQ_STR(r.set.items[0].ns, "default");
	res_free(&r);
}

TEST(duplicate_names_across_the_load)
{
	struct res r;
	load(&r,
	     HEAD "spec:\n" TARGET "---\n" HEAD "spec:\n" ONE_FIELD TARGET "---\n"
	          "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: r1, namespace: other}\n"
	          "spec:\n" TARGET);
	CHECK_EQ_INT(r.rc, FIXGW_EINVAL);
	CHECK_EQ_INT(r.set.count, 2);
	const struct diag *d = find(&r, "metadata.name", "FIXSession trading/r1 is also defined at t.yaml:1");
	CHECK(d && d->line == 7 && d->col == 1);
	res_free(&r);

	/* also against routes the caller already holds (the operator loads objects one by one) */
	struct route_set set;
	struct diag_list dl;
	const char *doc = HEAD "spec:\n" TARGET;
	route_set_init(&set);
	diag_list_init(&dl);
	CHECK_EQ_INT(manifest_load_buffer("obj-1", doc, strlen(doc), &set, &dl), 0);
	CHECK_EQ_INT(manifest_load_buffer("obj-2", doc, strlen(doc), &set, &dl), FIXGW_EINVAL);
	CHECK_EQ_INT(set.count, 1);
	CHECK(dl.count == 1 && strstr(dl.items[0].message, "also defined at obj-1:1"));
	route_set_free(&set);
	diag_list_free(&dl);
}

/* The name index must catch every duplicate among many objects and across buffers, and only those:
 * 3,000 objects in three buffers, where every 97th repeats an earlier name (in its own buffer or an
 * earlier one) and the index grows several times on the way. */
TEST(duplicate_names_among_many_objects)
{
	enum { PER_BUFFER = 1000, NBUFFERS = 3, EVERY = 97 };
	struct route_set set;
	struct diag_list dl;
	struct manifest_loader *ld;
	size_t cap = (size_t)PER_BUFFER * 200, expected_dups = 0, n;
	char *buf = malloc(cap), origin[16];
	route_set_init(&set);
	diag_list_init(&dl);
	CHECK_EQ_INT(manifest_loader_new(&set, &dl, &ld), 0);
	for (int b = 0; b < NBUFFERS; b++) {
		n = 0;
		for (int i = 0; i < PER_BUFFER; i++) {
			int id = b * PER_BUFFER + i;
			bool dup = id > 0 && id % EVERY == 0;
			int name = dup ? id - EVERY / 2 : id; /* a name loaded before, itself no duplicate */
			expected_dups += dup;
			n += (size_t)snprintf(buf + n, cap - n,
			                      "---\napiVersion: fixgw.io/v1alpha1\nkind: FIXSession\n"
			                      "metadata: {name: s%d, namespace: ns%d}\n"
			                      "spec: {target: {service: {name: svc, port: {number: 1}}}}\n",
			                      name, name % 7);
		}
		snprintf(origin, sizeof(origin), "buf%d", b);
		manifest_loader_add(ld, origin, buf, n);
	}
	manifest_loader_free(ld);
	CHECK_EQ_INT(dl.nerrors, expected_dups);
	CHECK_EQ_INT(set.count, NBUFFERS * PER_BUFFER - expected_dups);
	for (size_t i = 0; i < dl.count; i++)
		CHECK(strstr(dl.items[i].message, "is also defined at buf") != NULL);
	/* same name, other namespace: not a duplicate */
	const char *other = HEAD "spec:\n" TARGET;
	CHECK_EQ_INT(manifest_load_buffer("other", other, strlen(other), &set, &dl), 0);
	free(buf);
	route_set_free(&set);
	diag_list_free(&dl);
}

/* ---- reporting ---- */

TEST(every_problem_is_reported)
{
	struct res r;
	load(&r,
	     HEAD "spec:\n"
	          "  matchFields:\n"
	          "    SenderCompID49: {value: 12}\n"                          /* line 6 */
	          "    Password554: {value: x}\n"                              /* line 7 */
	          "  target: {service: {name: Bad_Name, port: {number: 0}}}\n" /* line 8 */
	          "  listeners: [x, x]\n"                                      /* line 9 */
	          "  holdTimeout: forever\n"                                   /* line 10 */
	          "  extra: 1\n"                                               /* line 11 */
	          "---\n"
	          "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: good}\nspec:\n" TARGET);
	CHECK_EQ_INT(r.rc, FIXGW_EINVAL);
	CHECK_EQ_INT(r.dl.nerrors, 7);
	CHECK_EQ_INT(r.set.count, 1);
	if (r.set.count == 1)
		CHECK_EQ_STR(r.set.items[0].name, "good");
	const struct diag *d = find(&r, "spec.matchFields.SenderCompID49.value", "quote it");
	CHECK(d && d->line == 6 && d->col == 29 && strcmp(d->file, "t.yaml") == 0);
	d = find(&r, "spec.matchFields.Password554", "secret");
	CHECK(d && d->line == 7 && d->col == 5);
	d = find(&r, "spec.target.service.name", "\"Bad_Name\"");
	CHECK(d && d->line == 8 && d->col == 28);
	d = find(&r, "spec.target.service.port.number", "between");
	CHECK(d && d->line == 8 && d->col == 53);
	d = find(&r, "spec.listeners[1]", "twice");
	CHECK(d && d->line == 9 && d->col == 18);
	CHECK(find(&r, "spec.holdTimeout", "duration") != NULL);
	d = find(&r, "spec", "unknown field \"extra\"");
	CHECK(d && d->line == 11 && d->col == 3);
	res_free(&r);
}

TEST(syntax_errors_are_placed)
{
	struct res r;
	load(&r, HEAD "spec:\n" TARGET "---\n"
	              "apiVersion: x\n  bad: indent\n");
	CHECK_EQ_INT(r.rc, FIXGW_EINVAL);
	CHECK_EQ_INT(r.set.count, 1); /* the document before the error */
	CHECK_EQ_INT(r.dl.nerrors, 1);
	if (r.dl.count == 1) {
		CHECK(strstr(r.dl.items[0].message, "invalid YAML: mapping values are not allowed") != NULL);
		CHECK_EQ_INT(r.dl.items[0].line, 8);
		CHECK_EQ_INT(r.dl.items[0].col, 6);
	}
	res_free(&r);

	/* bad encoding is placed by byte offset */
	load(&r, "a: b\nc: \xff\n");
	CHECK_EQ_INT(r.dl.nerrors, 1);
	if (r.dl.count == 1) {
		CHECK(strstr(r.dl.items[0].message, "invalid YAML") != NULL);
		CHECK_EQ_INT(r.dl.items[0].line, 2);
		CHECK_EQ_INT(r.dl.items[0].col, 4);
	}
	res_free(&r);

	load(&r, "a: *nowhere\n");
	CHECK(r.dl.nerrors == 1 && strstr(r.dl.items[0].message, "undefined alias"));
	res_free(&r);
}

TEST(aliases_and_cycles_terminate)
{
	struct res r;
	load(&r, HEAD "spec: &s\n  target: *s\n");
	CHECK_EQ_INT(r.rc, FIXGW_EINVAL);
	CHECK(find(&r, "spec.target", "unknown field \"target\"") != NULL);
	res_free(&r);
	load(&r, "&a [*a, {apiVersion: v1, kind: List, items: *a}]\n");
	CHECK_EQ_INT(r.rc, 0);
	res_free(&r);
	load(&r, "&m {apiVersion: v1, kind: List, items: [*m, *m]}\n");
	CHECK_EQ_INT(r.rc, 0);
	res_free(&r);
	/* aliases to valid parts are fine */
	EXPECT_OK(HEAD "status: {x: &t {service: {name: svc, port: {number: 1}}}}\n"
	               "spec: {target: *t}\n",
	          &r);
	res_free(&r);
}

TEST(limits_on_depth_nodes_and_size)
{
	struct res r;
	char *deep = malloc(2 * 1024 + 64);
	size_t n = 0;
	n += (size_t)sprintf(deep + n, HEAD "spec:\n" TARGET "---\n");
	for (int i = 0; i < MANIFEST_MAX_DEPTH + 1; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	load(&r, deep);
	CHECK_EQ_INT(r.set.count, 1);
	CHECK(find(&r, NULL, "nests deeper than 64 levels") != NULL);
	res_free(&r);
	free(deep);

	size_t cap = 2 * (MANIFEST_MAX_NODES + 8) + 16;
	char *wide = malloc(cap);
	n = 0;
	wide[n++] = '[';
	for (unsigned i = 0; i < MANIFEST_MAX_NODES + 1; i++) {
		wide[n++] = '1';
		wide[n++] = ',';
	}
	wide[n++] = ']';
	wide[n] = '\0';
	load(&r, wide);
	CHECK(find(&r, NULL, "has more than 262144 nodes") != NULL);
	res_free(&r);
	free(wide);

	route_set_init(&r.set);
	diag_list_init(&r.dl);
	CHECK_EQ_INT(manifest_load_buffer("big", "", MANIFEST_MAX_FILE_BYTES + 1u, &r.set, &r.dl),
	             FIXGW_EINVAL);
	CHECK(find(&r, NULL, "the limit is 16777216") != NULL);
	res_free(&r);
}

TEST(empty_inputs)
{
	struct res r;
	static const char *const empties[] = {"",           "\n",  "# nothing\n", "---\n",
	                                      "---\n...\n", "~\n", "{}\n",        "[]\n"};
	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		load(&r, empties[i]);
		CHECK_EQ_INT(r.rc, 0);
		CHECK_EQ_INT(r.set.count, 0);
		CHECK_EQ_INT(r.dl.count, 0);
		res_free(&r);
	}
}

/* The fast path loads the documents it reads; at the first it cannot, libyaml reads the input again and
 * the documents already loaded are skipped, not loaded twice (that would be a duplicate-name error). */
TEST(yaml_fast_path_falls_back_per_input)
{
	static const char text[] =
	    "---\n" HEAD "spec:\n" ONE_FIELD TARGET "---\napiVersion: fixgw.io/v1alpha1\nkind: FIXSession\n"
	    "metadata: {name: &n r2, namespace: trading}\nspec:\n"
	    "  matchFields:\n    SenderCompID49: {value: \"BROKER_B\"}\n" TARGET
	    "---\nkind: FIXSession\napiVersion: fixgw.io/v1alpha1\n"
	    "metadata: {name: r3, namespace: trading}\nspec: {matchFields: 7}\n";
	struct yaml_fast f;
	yaml_document_t doc;
	yaml_fast_init(&f, text, sizeof(text) - 1, &doc_limits);
	CHECK_EQ_INT(yaml_fast_next(&f, &doc), YAML_FAST_OK);
	CHECK_EQ_INT(yaml_fast_next(&f, &doc), YAML_FAST_UNSUPPORTED); /* the anchor */
	yaml_fast_free(&f);

	struct res r;
	load(&r, text);
	CHECK_EQ_INT(r.rc, FIXGW_EINVAL);
	CHECK_EQ_INT(r.set.count, 2);
	CHECK_EQ_INT(r.dl.nerrors, 2); /* r3's matchFields and target, at line 21 */
	if (r.set.count == 2) {
		CHECK_EQ_STR(r.set.items[0].name, "r1");
		CHECK_EQ_STR(r.set.items[0].source, "t.yaml:2");
		CHECK_EQ_STR(r.set.items[1].name, "r2");
		CHECK_EQ_STR(r.set.items[1].source, "t.yaml:10");
	}
	if (r.dl.count == 2)
		CHECK_EQ_INT(r.dl.items[0].line, 21);
	res_free(&r);
}

TEST(scalar_classification)
{
	static const struct {
		const char *s;
		enum schema_scalar t;
	} cases[] = {
	    {"abc", SCHEMA_STRING},   {"", SCHEMA_NULL},        {"~", SCHEMA_NULL},
	    {"NULL", SCHEMA_NULL},    {"nULL", SCHEMA_STRING},  {"Y", SCHEMA_BOOL},
	    {"oN", SCHEMA_STRING},    {"0", SCHEMA_NUMBER},     {"-0.5e-3", SCHEMA_NUMBER},
	    {"1.", SCHEMA_NUMBER},    {".", SCHEMA_STRING},     {"+", SCHEMA_STRING},
	    {"0b101", SCHEMA_NUMBER}, {"0b2", SCHEMA_STRING},   {"12ab", SCHEMA_STRING},
	    {"1__2", SCHEMA_NUMBER},  {"-.INF", SCHEMA_NUMBER}, {".NaN", SCHEMA_NUMBER},
	    {"1e+", SCHEMA_STRING},   {"1.2.3", SCHEMA_STRING},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		yaml_node_t n;
		memset(&n, 0, sizeof(n));
		n.type = YAML_SCALAR_NODE;
		n.data.scalar.value = (yaml_char_t *)(uintptr_t)cases[i].s;
		n.data.scalar.length = strlen(cases[i].s);
		n.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
		if (schema_scalar_type(&n) != cases[i].t) {
			fprintf(stderr, "scalar %s: type %d, expected %d\n", cases[i].s,
			        schema_scalar_type(&n), cases[i].t);
			test_failures_++;
		}
		n.data.scalar.style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
		CHECK(schema_scalar_type(&n) == SCHEMA_STRING);
	}
}

TEST_MAIN(TEST_ENTRY(minimal_route_gets_defaults), TEST_ENTRY(yaml_fast_path_falls_back_per_input),
          TEST_ENTRY(full_route_every_field), TEST_ENTRY(default_route_with_priority),
          TEST_ENTRY(escaped_wildcard_is_exact), TEST_ENTRY(json_object_loads),
          TEST_ENTRY(json_numbers_and_booleans_are_typed), TEST_ENTRY(multi_document_and_other_kinds),
          TEST_ENTRY(other_version_of_ours_warns), TEST_ENTRY(wrong_or_unknown_kinds_are_errors),
          TEST_ENTRY(list_kinds_contribute_items), TEST_ENTRY(unknown_fields_are_errors),
          TEST_ENTRY(standard_metadata_and_status_are_accepted), TEST_ENTRY(duplicate_keys_are_errors),
          TEST_ENTRY(match_field_key_syntax), TEST_ENTRY(same_tag_twice_is_an_error),
          TEST_ENTRY(unroutable_tags), TEST_ENTRY(renamed_standard_tag_warns),
          TEST_ENTRY(too_many_match_fields), TEST_ENTRY(value_must_be_a_string), TEST_ENTRY(value_shape),
          TEST_ENTRY(value_content), TEST_ENTRY(values_never_reach_diagnostics),
          TEST_ENTRY(log_and_redact_flags), TEST_ENTRY(priority_only_on_wildcard_and_default_routes),
          TEST_ENTRY(priority_check_waits_for_valid_fields), TEST_ENTRY(target_rules),
          TEST_ENTRY(listener_rules), TEST_ENTRY(hold_rules), TEST_ENTRY(duration_parser),
          TEST_ENTRY(metadata_rules), TEST_ENTRY(duplicate_names_across_the_load),
          TEST_ENTRY(duplicate_names_among_many_objects), TEST_ENTRY(every_problem_is_reported),
          TEST_ENTRY(syntax_errors_are_placed), TEST_ENTRY(aliases_and_cycles_terminate),
          TEST_ENTRY(limits_on_depth_nodes_and_size), TEST_ENTRY(empty_inputs),
          TEST_ENTRY(scalar_classification))
