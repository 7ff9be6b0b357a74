/* Unit tests for the event side of src/k8s/informer.c: watch bytes (split anywhere) -> cache -> callbacks,
 * bookmarks moving the resourceVersion, decode leaving objects out, and what makes a watch end in a relist
 * (ERROR 410 at once; oversized or invalid events after a backoff). The list/watch requests themselves
 * run against the real API server in tests/k8s. */
#include "k8s/informer.c"

#include "test.h"

struct rec {
	char log[2048];
	size_t len;
};

static void note(void *arg, const char *what, const char *key, json_t *obj)
{
	struct rec *r = arg;
	const char *rv = k8s_object_rv(obj);
	r->len +=
	    (size_t)snprintf(r->log + r->len, sizeof(r->log) - r->len, "%s %s@%s;", what, key, rv ? rv : "?");
}
static void on_add(void *arg, const char *key, void *obj)
{
	note(arg, "add", key, obj);
}
static void on_update(void *arg, const char *key, void *o, void *n)
{
	note(arg, "upd", key, n);
}
static void on_delete(void *arg, const char *key, void *obj)
{
	note(arg, "del", key, obj);
}

/* Objects labelled skip=yes are left out by decode. */
static void *decode_skip(void *arg, const char *key, json_t *obj)
{
	json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
	if (json_is_string(json_object_get(labels, "skip")))
		return NULL;
	return json_incref(obj);
}
static void free_json(void *arg, void *obj)
{
	json_decref(obj);
}

static struct k8s_informer *make(struct rec *r, size_t max_event)
{
	struct k8s_informer_handlers h = {.arg = r,
	                                  .decode = decode_skip,
	                                  .free_obj = free_json,
	                                  .on_add = on_add,
	                                  .on_update = on_update,
	                                  .on_delete = on_delete};
	struct k8s_informer_opts o = {.max_event_bytes = max_event};
	struct k8s_informer *inf = NULL;
	CHECK_EQ_INT(k8s_informer_new(NULL, &k8s_res_fixsessions, &o, &h, &inf), 0);
	return inf;
}

#define OBJ(name, rv)                                                                                        \
	"{\"metadata\":{\"namespace\":\"ns\",\"name\":\"" name "\",\"resourceVersion\":\"" rv "\"}}"

static const char stream[] = "{\"type\":\"ADDED\",\"object\":" OBJ(
    "a", "1") "}\n"
              "{\"type\":\"MODIFIED\",\"object\":" OBJ(
                  "a", "2") "}\n"
                            "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"7\"}}}\n"
                            "{\"type\":\"ADDED\",\"object\":" OBJ(
                                "b",
                                "8") "}\n"
                                     "{\"type\":\"DELETED\",\"object\":" OBJ(
                                         "a",
                                         "9") "}\n"
                                              "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{"
                                              "\"namespace\":\"ns\",\"name\":\"b\","
                                              "\"resourceVersion\":\"10\",\"labels\":{\"skip\":\"yes\"}}}}\n"
                                              "{\"type\":\"ADDED\",\"object\":" OBJ("c", "11") "}\n";

static const char expected[] = "add ns/a@1;upd ns/a@2;add ns/b@8;del ns/a@2;del ns/b@8;add ns/c@11;";

TEST(test_events_at_every_split_point)
{
	size_t len = sizeof(stream) - 1;
	for (size_t cut = 0; cut <= len; cut++) {
		struct rec r = {0};
		struct k8s_informer *inf = make(&r, 0);
		if (!inf)
			return;
		CHECK(on_watch_bytes(inf, stream, cut));
		CHECK(on_watch_bytes(inf, stream + cut, len - cut));
		CHECK_EQ_STR(r.log, expected);
		CHECK(!inf->relist);
		CHECK_EQ_STR(inf->stats.resource_version, "11");
		CHECK_EQ_INT(inf->stats.bookmarks, 1);
		CHECK_EQ_INT(inf->store.count, 1);
		k8s_informer_free(inf);
	}
}

TEST(test_bookmark_moves_resource_version)
{
	struct rec r = {0};
	struct k8s_informer *inf = make(&r, 0);
	const char *b = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"FIXSession\",\"metadata\":{"
	                "\"resourceVersion\":\"42\"}}}";
	CHECK(on_watch_bytes(inf, b, strlen(b)));
	CHECK_EQ_STR(inf->stats.resource_version, "42");
	CHECK_EQ_STR(r.log, "");
	k8s_informer_free(inf);
}

TEST(test_error_410_relists_at_once)
{
	struct rec r = {0};
	struct k8s_informer *inf = make(&r, 0);
	const char *s = "{\"type\":\"ADDED\",\"object\":" OBJ(
	    "a",
	    "1") "}\n"
	         "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
	         "\"message\":\"too old resource version: 1 (5)\"}}\n"
	         "{\"type\":\"ADDED\",\"object\":" OBJ("z", "6") "}\n";
	CHECK(!on_watch_bytes(inf, s, strlen(s)));
	CHECK(inf->relist && inf->relist_now);
	CHECK_EQ_STR(r.log, "add ns/a@1;"); /* nothing after the ERROR is applied */
	k8s_informer_free(inf);
}

TEST(test_other_error_relists_after_backoff)
{
	struct rec r = {0};
	struct k8s_informer *inf = make(&r, 0);
	const char *s =
	    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,\"message\":\"etcd\"}}";
	CHECK(!on_watch_bytes(inf, s, strlen(s)));
	CHECK(inf->relist && !inf->relist_now);
	k8s_informer_free(inf);
}

TEST(test_oversized_event_relists)
{
	struct rec r = {0};
	struct k8s_informer *inf = make(&r, 128);
	char s[600];
	snprintf(s, sizeof(s),
	         "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"big\",\"pad\":\"%0300d\"}}}", 0);
	CHECK(!on_watch_bytes(inf, s, strlen(s)));
	CHECK(inf->relist && !inf->relist_now);
	CHECK_EQ_INT(inf->store.count, 0);
	CHECK(inf->split.cap <= 128);
	k8s_informer_free(inf);
}

TEST(test_invalid_events_relist)
{
	const char *bad[] = {
	    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}",   /* truncated: waits, no verdict
	                                                                        */
	    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}", /* no resourceVersion */
	    "{\"type\":\"ADDED\",\"object\":[1,2]}",                           /* object not an object */
	    "{\"type\":\"ADDED\",\"object\":{\"a\":1,}}",                      /* not JSON */
	    "<html>",                                                          /* not an event at all */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rec r = {0};
		struct k8s_informer *inf = make(&r, 0);
		bool cont = on_watch_bytes(inf, bad[i], strlen(bad[i]));
		if (i == 0) {
			CHECK(cont && k8s_split_pending(&inf->split) > 0);
		} else {
			CHECK(!cont && inf->relist && !inf->relist_now);
		}
		CHECK_EQ_INT(inf->store.count, 0);
		k8s_informer_free(inf);
	}
}

TEST(test_unknown_type_ignored)
{
	struct rec r = {0};
	struct k8s_informer *inf = make(&r, 0);
	const char *s =
	    "{\"type\":\"SOMETHING\",\"object\":{}}{\"type\":\"ADDED\",\"object\":" OBJ("a", "1") "}";
	CHECK(on_watch_bytes(inf, s, strlen(s)));
	CHECK_EQ_STR(r.log, "add ns/a@1;");
	k8s_informer_free(inf);
}

TEST(test_list_items_decoded_and_diffed)
{
	struct rec r = {0};
	struct k8s_informer *inf = make(&r, 0);
	json_t *items = json_loads(
	    "[" OBJ("a", "1") "," OBJ(
	        "b", "2") ",{\"metadata\":{\"name\":\"noRV\"}},"
	                  "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s\",\"resourceVersion\":\"3\","
	                  "\"labels\":{\"skip\":\"y\"}}}]",
	    0, NULL);
	struct item_vec iv = {0};
	CHECK_EQ_INT(take_items(inf, items, &iv), 0);
	CHECK_EQ_INT(iv.n, 2); /* the one without resourceVersion and the skipped one are left out */
	CHECK_EQ_INT(k8s_store_replace(&inf->store, iv.v, iv.n, &inf->ops), 0);
	free(iv.v);
	CHECK_EQ_STR(r.log, "add ns/a@1;add ns/b@2;");
	json_decref(items);
	k8s_informer_free(inf);
}

TEST_MAIN(TEST_ENTRY(test_events_at_every_split_point), TEST_ENTRY(test_bookmark_moves_resource_version),
          TEST_ENTRY(test_error_410_relists_at_once), TEST_ENTRY(test_other_error_relists_after_backoff),
          TEST_ENTRY(test_oversized_event_relists), TEST_ENTRY(test_invalid_events_relist),
          TEST_ENTRY(test_unknown_type_ignored), TEST_ENTRY(test_list_items_decoded_and_diffed))
