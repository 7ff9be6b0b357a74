/* Unit tests for src/k8s/store.c: watch puts and removes, and the relist diff (adds, updates only for a
 * changed resourceVersion, deletes for keys gone, never an empty cache in between). */
#include "k8s/store.c"

#include <stdio.h>
#include <stdlib.h>

#include "test.h"

struct rec {
	char log[4096];
	size_t len;
	int live; /* objects allocated and not yet freed */
	struct k8s_store *s;
	size_t min_count_seen; /* smallest store size seen from inside a callback */
};

static void note(struct rec *r, const char *what, const char *key, const char *a, const char *b)
{
	r->len += (size_t)snprintf(r->log + r->len, sizeof(r->log) - r->len, "%s %s%s%s%s%s;", what, key,
	                           a ? " " : "", a ? a : "", b ? "->" : "", b ? b : "");
	if (r->s && r->s->count < r->min_count_seen)
		r->min_count_seen = r->s->count;
}

static void on_add(void *arg, const char *key, void *obj)
{
	note(arg, "add", key, obj, NULL);
}
static void on_update(void *arg, const char *key, void *o, void *n)
{
	note(arg, "upd", key, o, n);
}
static void on_del(void *arg, const char *key, void *obj)
{
	note(arg, "del", key, obj, NULL);
}
static void on_free(void *arg, void *obj)
{
	((struct rec *)arg)->live--;
	free(obj);
}

static void *obj(struct rec *r, const char *text)
{
	r->live++;
	return strdup(text);
}

static struct k8s_store_item item(struct rec *r, const char *key, const char *rv, const char *text)
{
	return (struct k8s_store_item){strdup(key), strdup(rv), obj(r, text)};
}

TEST(test_put_update_remove)
{
	struct rec r = {0};
	struct k8s_store s;
	struct k8s_store_ops ops = {&r, on_add, on_update, on_del, on_free};
	CHECK_EQ_INT(k8s_store_init(&s), 0);
	CHECK_EQ_INT(k8s_store_put(&s, "ns/a", "1", obj(&r, "a1"), &ops), 0);
	CHECK_EQ_INT(k8s_store_put(&s, "ns/a", "2", obj(&r, "a2"), &ops), 0);
	CHECK_EQ_INT(k8s_store_put(&s, "ns/b", "3", obj(&r, "b3"), &ops), 0);
	k8s_store_remove(&s, "ns/a", &ops);
	k8s_store_remove(&s, "ns/zz", &ops);
	CHECK_EQ_STR(r.log, "add ns/a a1;upd ns/a a1->a2;add ns/b b3;del ns/a a2;");
	CHECK_EQ_INT(s.count, 1);
	CHECK_EQ_STR(k8s_store_get(&s, "ns/b")->rv, "3");
	CHECK(k8s_store_get(&s, "ns/a") == NULL);
	k8s_store_free(&s, &ops);
	CHECK_EQ_INT(r.live, 0);
}

TEST(test_relist_diff)
{
	struct rec r = {0};
	struct k8s_store s;
	struct k8s_store_ops ops = {&r, on_add, on_update, on_del, on_free};
	k8s_store_init(&s);
	struct k8s_store_item first[] = {item(&r, "ns/a", "1", "a1"), item(&r, "ns/b", "2", "b2"),
	                                 item(&r, "ns/c", "3", "c3")};
	CHECK_EQ_INT(k8s_store_replace(&s, first, 3, &ops), 0);
	CHECK_EQ_STR(r.log, "add ns/a a1;add ns/b b2;add ns/c c3;");
	r.len = 0;
	r.log[0] = '\0';
	/* b unchanged (same resourceVersion: no callback), c changed, a gone, d new */
	r.s = &s;
	r.min_count_seen = 1000;
	struct k8s_store_item second[] = {item(&r, "ns/b", "2", "b2-again"), item(&r, "ns/c", "5", "c5"),
	                                  item(&r, "ns/d", "6", "d6")};
	CHECK_EQ_INT(k8s_store_replace(&s, second, 3, &ops), 0);
	CHECK_EQ_STR(r.log, "upd ns/c c3->c5;add ns/d d6;del ns/a a1;");
	CHECK_EQ_INT(s.count, 3);
	CHECK(r.min_count_seen >= 3); /* never emptier than the smaller of the two sets */
	CHECK_EQ_STR((char *)k8s_store_get(&s, "ns/b")->obj, "b2"); /* the cached object was kept */
	/* an empty list is a real answer: everything goes */
	r.len = 0;
	CHECK_EQ_INT(k8s_store_replace(&s, NULL, 0, &ops), 0);
	CHECK_EQ_INT(s.count, 0);
	CHECK(strstr(r.log, "del ns/b b2;") && strstr(r.log, "del ns/c c5;") &&
	      strstr(r.log, "del ns/d d6;"));
	k8s_store_free(&s, &ops);
	CHECK_EQ_INT(r.live, 0);
}

TEST(test_watch_puts_survive_relist_when_listed)
{
	struct rec r = {0};
	struct k8s_store s;
	struct k8s_store_ops ops = {&r, on_add, on_update, on_del, on_free};
	k8s_store_init(&s);
	k8s_store_put(&s, "ns/w", "7", obj(&r, "w7"), &ops);
	struct k8s_store_item l[] = {item(&r, "ns/w", "7", "w7")};
	r.len = 0;
	r.log[0] = '\0';
	CHECK_EQ_INT(k8s_store_replace(&s, l, 1, &ops), 0);
	CHECK_EQ_STR(r.log, "");
	CHECK_EQ_INT(s.count, 1);
	k8s_store_free(&s, &ops);
	CHECK_EQ_INT(r.live, 0);
}

static bool count_fn(void *arg, const struct k8s_store_entry *e)
{
	(*(size_t *)arg)++;
	return true;
}

TEST(test_many_keys_grow_and_foreach)
{
	struct rec r = {0};
	struct k8s_store s;
	struct k8s_store_ops ops = {&r, NULL, NULL, NULL, on_free};
	k8s_store_init(&s);
	char key[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "ns%d/obj-%d", i % 7, i);
		CHECK_EQ_INT(k8s_store_put(&s, key, "1", obj(&r, "x"), &ops), 0);
	}
	CHECK_EQ_INT(s.count, 10000);
	CHECK(s.nbuckets >= 8192);
	size_t n = 0;
	k8s_store_foreach(&s, count_fn, &n);
	CHECK_EQ_INT(n, 10000);
	CHECK(k8s_store_get(&s, "ns2/obj-9999") == NULL);
	CHECK(k8s_store_get(&s, "ns3/obj-9999") != NULL);
	k8s_store_free(&s, &ops);
	CHECK_EQ_INT(r.live, 0);
}

TEST_MAIN(TEST_ENTRY(test_put_update_remove), TEST_ENTRY(test_relist_diff),
          TEST_ENTRY(test_watch_puts_survive_relist_when_listed), TEST_ENTRY(test_many_keys_grow_and_foreach))
