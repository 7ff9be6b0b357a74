/* test_op_admission.c - the admission webhook's decision: malformed reviews, conflicts refused with
 * the operator's own words, metadata-only updates admitted, the response's shape. */
#include "../../src/operator/admission.c"

#include <stdio.h>

#include "test.h"

/* A FIXSession API object routing SenderCompID49=sender in namespace ns. */
static json_t *fs_obj(const char *ns, const char *name, const char *sender)
{
	return json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:{s:{s:{s:s}},s:{s:{s:s,s:{s:i}}}}}", "apiVersion",
	                 "fixgw.io/v1alpha1", "kind", "FIXSession", "metadata", "name", name, "namespace", ns,
	                 "labels", "app", "x", "spec", "matchFields", "SenderCompID49", "value", sender,
	                 "target", "service", "name", "engine", "port", "number", 9880);
}

/* An AdmissionReview body for op on obj (and old, for UPDATE); both are stolen. */
static char *review_body(const char *op, json_t *obj, json_t *old)
{
	json_t *req =
	    json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s,s:o}", "uid", "705ab4f5-6393-11e8-b7cc-42010a800002",
	              "kind", "group", "fixgw.io", "version", "v1alpha1", "kind", "FIXSession", "operation",
	              op, "namespace", "t", "object", obj);
	if (old)
		json_object_set_new(req, "oldObject", old);
	json_t *doc = json_pack("{s:s,s:s,s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
	                        "AdmissionReview", "request", req);
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

static void set_add(struct fs_vec *s, const char *key, json_t *obj)
{
	s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = (struct fs_item){strdup(key), obj};
}

/* Decide on body against set. */
static int decide(const char *body, const struct fs_vec *set, struct admission_verdict *v)
{
	struct admission_request rq;
	char err[256];
	int rc = admission_parse(body, strlen(body), &rq, err, sizeof(err));
	CHECK_EQ_INT(rc, 0);
	if (rc)
		return rc;
	struct admission_cache *c;
	CHECK_EQ_INT(admission_cache_new(&c), 0);
	CHECK_EQ_INT(admission_cache_sync(c, set), 0);
	rc = admission_decide(&rq, c, v);
	admission_cache_free(c);
	admission_request_free(&rq);
	return rc;
}

TEST(malformed_reviews_are_refused_with_a_reason)
{
	static const struct {
		const char *body, *why;
	} cases[] = {
	    {"", "not valid JSON"},
	    {"{\"apiVersion\":", "not valid JSON"},
	    {"[1,2]", "not an AdmissionReview"},
	    {"{\"a\":1,\"a\":2}", "not valid JSON"},
	    {"{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\"}",
	     "not an AdmissionReview"},
	    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}", "no request"},
	    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}", "uid"},
	    {"{\"apiVersion\":\"admission.k8s.io/"
	     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\"}}",
	     "operation"},
	    {"{\"apiVersion\":\"admission.k8s.io/"
	     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\","
	     "\"operation\":\"CREATE\",\"kind\":{\"group\":\"\",\"kind\":\"Pod\"}}}",
	     "FIXSessions only"},
	    {"{\"apiVersion\":\"admission.k8s.io/"
	     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\","
	     "\"operation\":\"CREATE\",\"kind\":{\"group\":\"fixgw.io\",\"kind\":\"FIXSession\"}}}",
	     "without request.object"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct admission_request rq;
		char err[256] = "";
		CHECK_EQ_INT(admission_parse(cases[i].body, strlen(cases[i].body), &rq, err, sizeof(err)),
		             FIXGW_EINVAL);
		if (!strstr(err, cases[i].why))
			fprintf(stderr, "case %zu: %s\n", i, err);
		CHECK(strstr(err, cases[i].why));
		CHECK(rq.doc == NULL);
	}
}

/* The message the operator's round would log CRITICAL for the same set (operator.c: route_lkg_compile
 * over the sorted set, route_diag_text of the refused object). */
static void operator_message(json_t *const *objs, const char *const *keys, size_t n, size_t who, char *out,
                             size_t cap)
{
	struct route_candidate c[8];
	char *texts[8], origins[8][64];
	enum route_verdict v[8];
	struct diag_list dl;
	struct route_table *t = NULL;
	diag_list_init(&dl);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		texts[i] = k8s_fixsession_text(objs[i], &len);
		snprintf(origins[i], sizeof(origins[i]), "fixsession %s", keys[i]);
		c[i] = (struct route_candidate){origins[i], texts[i], len, NULL, 0};
	}
	CHECK_EQ_INT(route_lkg_compile(c, n, &dl, v, &t), 0);
	bool any;
	out[0] = '\0';
	route_diag_text(&dl, origins[who], true, out, cap, &any);
	CHECK(any);
	route_table_unref(t);
	diag_list_free(&dl);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
}

TEST(conflict_refused_with_the_operators_message_other_admitted)
{
	struct fs_vec set = {0};
	set_add(&set, "a/first", fs_obj("a", "first", "BROKER_A"));
	set_add(&set, "t/other", fs_obj("t", "other", "BROKER_O"));
	struct admission_verdict v;
	char *body = review_body("CREATE", fs_obj("t", "second", "BROKER_A"), NULL);
	CHECK_EQ_INT(decide(body, &set, &v), 0);
	CHECK(!v.allowed);
	CHECK_EQ_INT(v.code, 403);
	CHECK(strstr(v.message, "conflict: FIXSession a/first"));
	CHECK(strstr(v.message, "t/second"));
	CHECK(strstr(v.message, "SenderCompID49=\"BROKER_A\""));
	/* word for word what the operator says about the same set */
	json_t *objs[] = {set.v[0].obj, set.v[1].obj, fs_obj("t", "second", "BROKER_A")};
	const char *keys[] = {"a/first", "t/other", "t/second"};
	char want[ADMISSION_MAX_MESSAGE];
	operator_message(objs, keys, 3, 2, want, sizeof(want));
	CHECK_EQ_STR(v.message, want);
	json_decref(objs[2]);
	free(body);

	body = review_body("CREATE", fs_obj("t", "third", "BROKER_T"), NULL);
	CHECK_EQ_INT(decide(body, &set, &v), 0);
	CHECK(v.allowed);
	CHECK_EQ_STR(v.message, "");
	free(body);
	fs_vec_free(&set);
}

TEST(listeners_and_patterns_survive_the_cache)
{
	/* wildcard routes limited to listeners: the cached copies keep fields, patterns and listeners */
	json_t *a = fs_obj("t", "a", "BRK*"), *b = fs_obj("t", "b", "BRK_?");
	json_object_set_new(json_object_get(a, "spec"), "listeners",
	                    json_pack("[s,s]", "fix-tls", "fix-plain"));
	json_object_set_new(json_object_get(b, "spec"), "listeners", json_pack("[s]", "fix-tls"));
	struct fs_vec set = {0};
	set_add(&set, "t/a", json_incref(a));
	struct admission_verdict v;
	char *body = review_body("CREATE", json_incref(b), NULL);
	CHECK_EQ_INT(decide(body, &set, &v), 0);
	CHECK(!v.allowed);
	CHECK(strstr(v.message, "fix-tls"));
	json_t *objs[] = {a, b};
	const char *keys[] = {"t/a", "t/b"};
	char want[ADMISSION_MAX_MESSAGE];
	operator_message(objs, keys, 2, 1, want, sizeof(want));
	CHECK_EQ_STR(v.message, want);
	free(body);
	/* on another listener only: no conflict */
	json_object_set_new(json_object_get(b, "spec"), "listeners", json_pack("[s]", "fix-other"));
	body = review_body("CREATE", json_incref(b), NULL);
	CHECK_EQ_INT(decide(body, &set, &v), 0);
	CHECK(v.allowed);
	free(body);
	json_decref(a);
	json_decref(b);
	fs_vec_free(&set);
}

TEST(update_replaces_the_cached_version_and_metadata_only_updates_pass)
{
	struct fs_vec set = {0};
	set_add(&set, "t/a", fs_obj("t", "a", "A"));
	set_add(&set, "t/b", fs_obj("t", "b", "B"));
	struct admission_verdict v;
	/* b's own cached version does not conflict with its new one */
	char *body = review_body("UPDATE", fs_obj("t", "b", "B2"), fs_obj("t", "b", "B"));
	CHECK_EQ_INT(decide(body, &set, &v), 0);
	CHECK(v.allowed);
	free(body);
	body = review_body("UPDATE", fs_obj("t", "b", "A"), fs_obj("t", "b", "B"));
	CHECK_EQ_INT(decide(body, &set, &v), 0);
	CHECK(!v.allowed);
	CHECK(strstr(v.message, "t/a") && strstr(v.message, "t/b"));
	free(body);
	/* c conflicts with a already (it got in while the webhook was down): a label change still passes */
	set_add(&set, "t/c", fs_obj("t", "c", "A"));
	json_t *relabelled = fs_obj("t", "c", "A");
	json_object_set_new(json_object_get(json_object_get(relabelled, "metadata"), "labels"), "new",
	                    json_string("yes"));
	body = review_body("UPDATE", relabelled, fs_obj("t", "c", "A"));
	CHECK_EQ_INT(decide(body, &set, &v), 0);
	CHECK(v.allowed);
	free(body);
	body = review_body("DELETE", fs_obj("t", "c", "A"), NULL);
	CHECK_EQ_INT(decide(body, &set, &v), 0);
	CHECK(v.allowed);
	free(body);
	fs_vec_free(&set);
}

TEST(namespace_from_the_request_and_invalid_spec_refused)
{
	struct fs_vec set = {0};
	set_add(&set, "t/a", fs_obj("t", "a", "A"));
	struct admission_verdict v;
	json_t *obj = fs_obj("t", "b", "A");
	json_object_del(json_object_get(obj, "metadata"), "namespace"); /* filled in from request.namespace */
	char *body = review_body("CREATE", obj, NULL);
	CHECK_EQ_INT(decide(body, &set, &v), 0);
	CHECK(!v.allowed && strstr(v.message, "t/b"));
	free(body);
	obj = fs_obj("t", "bad", "X");
	json_object_set_new(json_object_get(obj, "spec"), "unknownKey", json_true());
	body = review_body("CREATE", obj, NULL);
	CHECK_EQ_INT(decide(body, &set, &v), 0);
	CHECK(!v.allowed);
	CHECK(strstr(v.message, "unknownKey"));
	free(body);
	fs_vec_free(&set);
}

/* a FIXSession object at a resourceVersion */
static json_t *at_rv(json_t *obj, const char *rv)
{
	json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion", json_string(rv));
	return obj;
}

TEST(cache_parses_each_resource_version_once_and_forgets_deleted_objects)
{
	struct admission_cache *c;
	CHECK_EQ_INT(admission_cache_new(&c), 0);
	struct fs_vec set = {0};
	set_add(&set, "t/b", at_rv(fs_obj("t", "b", "B"), "10"));
	set_add(&set, "t/a", at_rv(fs_obj("t", "a", "A"), "11"));
	CHECK_EQ_INT(admission_cache_sync(c, &set), 0);
	CHECK_EQ_INT(admission_cache_count(c), 2);
	struct admission_request rq;
	char err[256];
	char *body = review_body("CREATE", fs_obj("t", "new", "A2"), NULL);
	CHECK_EQ_INT(admission_parse(body, strlen(body), &rq, err, sizeof(err)), 0);
	struct admission_verdict v;
	CHECK_EQ_INT(admission_decide(&rq, c, &v), 0);
	CHECK(v.allowed);
	/* a's spec changes to A2 under the same resourceVersion: the cached parse is kept (not re-read) */
	json_decref(set.v[1].obj);
	set.v[1].obj = at_rv(fs_obj("t", "a", "A2"), "11");
	CHECK_EQ_INT(admission_cache_sync(c, &set), 0);
	CHECK_EQ_INT(admission_decide(&rq, c, &v), 0);
	CHECK(v.allowed);
	/* a new resourceVersion is parsed again: now the new object conflicts with a */
	json_object_set_new(json_object_get(set.v[1].obj, "metadata"), "resourceVersion", json_string("12"));
	CHECK_EQ_INT(admission_cache_sync(c, &set), 0);
	CHECK_EQ_INT(admission_decide(&rq, c, &v), 0);
	CHECK(!v.allowed && strstr(v.message, "t/a") && strstr(v.message, "t/new"));
	/* a deleted: forgotten, and the new object is admitted again */
	json_decref(set.v[1].obj);
	free(set.v[1].key);
	set.n = 1;
	CHECK_EQ_INT(admission_cache_sync(c, &set), 0);
	CHECK_EQ_INT(admission_cache_count(c), 1);
	CHECK_EQ_INT(admission_decide(&rq, c, &v), 0);
	CHECK(v.allowed);
	admission_request_free(&rq);
	free(body);
	fs_vec_free(&set);
	admission_cache_free(c);
}

TEST(response_shape)
{
	struct admission_verdict v = {.allowed = false, .code = 403, .message = "conflict: x"};
	size_t len;
	char *text = admission_response("u-1", &v, &len);
	json_t *doc = json_loads(text, 0, NULL);
	CHECK(doc != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(doc, "apiVersion")), "admission.k8s.io/v1");
	json_t *r = json_object_get(doc, "response");
	CHECK_EQ_STR(json_string_value(json_object_get(r, "uid")), "u-1");
	CHECK(json_is_false(json_object_get(r, "allowed")));
	CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(r, "status"), "code")), 403);
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(r, "status"), "message")),
	             "conflict: x");
	json_decref(doc);
	free(text);
	v = (struct admission_verdict){.allowed = true, .code = 200};
	text = admission_response("u-2", &v, &len);
	CHECK_EQ_STR(text, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	                   "\"response\":{\"uid\":\"u-2\",\"allowed\":true}}");
	free(text);
}

TEST_MAIN(TEST_ENTRY(malformed_reviews_are_refused_with_a_reason),
          TEST_ENTRY(conflict_refused_with_the_operators_message_other_admitted),
          TEST_ENTRY(update_replaces_the_cached_version_and_metadata_only_updates_pass),
          TEST_ENTRY(namespace_from_the_request_and_invalid_spec_refused),
          TEST_ENTRY(listeners_and_patterns_survive_the_cache),
          TEST_ENTRY(cache_parses_each_resource_version_once_and_forgets_deleted_objects),
          TEST_ENTRY(response_shape))
