/* test_route_lkg.c - last-known-good compilation: invalid and conflicting new versions fall back. */
#include "core/errors.h"
#include "core/manifest.h"

static int fail_loader_add; /* a hook: loading any text fails as out of memory */

static int test_loader_add(struct manifest_loader *ld, const char *origin, const char *buf, size_t len)
{
	return fail_loader_add ? FIXGW_ENOMEM : manifest_loader_add(ld, origin, buf, len);
}

#define manifest_loader_add test_loader_add
#include "../../src/core/route_lkg.c"
#undef manifest_loader_add

#include <stdio.h>

#include "test.h"

/* A FIXSession as an API object would carry it (JSON), routing SenderCompID49=sender. */
static char *fs(const char *name, const char *sender, const char *service)
{
	char *out = malloc(512);
	snprintf(out, 512,
	         "{\"apiVersion\":\"fixgw.io/v1alpha1\",\"kind\":\"FIXSession\","
	         "\"metadata\":{\"name\":\"%s\",\"namespace\":\"t\"},"
	         "\"spec\":{\"matchFields\":{\"SenderCompID49\":{\"value\":\"%s\"}},"
	         "\"target\":{\"service\":{\"name\":\"%s\",\"port\":{\"number\":9880}}}}}",
	         name, sender, service);
	return out;
}

static struct route_candidate cand(const char *text, const char *lkg)
{
	return (struct route_candidate){"test", text, text ? strlen(text) : 0, lkg, lkg ? strlen(lkg) : 0};
}

static const char *target_of(const struct route_table *t, const char *name)
{
	const struct route *r = route_table_find(t, "t", name);
	return r ? r->target.service : NULL;
}

TEST(all_valid_accepted_in_one_round)
{
	char *a = fs("a", "A", "svc-a"), *b = fs("b", "B", "svc-b");
	struct route_candidate c[] = {cand(a, NULL), cand(b, NULL)};
	enum route_verdict v[2];
	struct diag_list dl;
	struct route_table *t;
	diag_list_init(&dl);
	CHECK_EQ_INT(route_lkg_compile(c, 2, &dl, v, &t), 0);
	CHECK_EQ_INT(v[0], ROUTE_ACCEPTED);
	CHECK_EQ_INT(v[1], ROUTE_ACCEPTED);
	CHECK_EQ_INT((int)route_table_count(t), 2);
	CHECK_EQ_INT((int)dl.nerrors, 0);
	route_table_unref(t);
	diag_list_free(&dl);
	free(a);
	free(b);
}

TEST(conflicting_update_keeps_its_lkg_and_others_update)
{
	/* b changes its sender to A (conflicts with a); c changes its service (fine). */
	char *a = fs("a", "A", "svc-a"), *b_old = fs("b", "B", "svc-b"), *b_new = fs("b", "A", "svc-b");
	char *c_old = fs("c", "C", "svc-c"), *c_new = fs("c", "C", "svc-c2");
	struct route_candidate c[] = {cand(a, a), cand(b_new, b_old), cand(c_new, c_old)};
	enum route_verdict v[3];
	struct diag_list dl;
	struct route_table *t;
	diag_list_init(&dl);
	CHECK_EQ_INT(route_lkg_compile(c, 3, &dl, v, &t), 0);
	CHECK_EQ_INT(v[0], ROUTE_ACCEPTED);
	CHECK_EQ_INT(v[1], ROUTE_KEPT_LKG);
	CHECK_EQ_INT(v[2], ROUTE_ACCEPTED);
	CHECK_EQ_STR(target_of(t, "c"), "svc-c2");
	CHECK(dl.nerrors >= 1); /* the conflict is described */
	bool named = false;
	for (size_t i = 0; i < dl.count; i++)
		named |= strstr(dl.items[i].message, "t/a") && strstr(dl.items[i].message, "t/b");
	CHECK(named);
	route_table_unref(t);
	diag_list_free(&dl);
	free(a);
	free(b_old);
	free(b_new);
	free(c_old);
	free(c_new);
}

TEST(new_conflicting_pair_without_lkg_is_refused_both_ways)
{
	char *a = fs("a", "A", "svc-a"), *b = fs("b", "A", "svc-b"), *d = fs("d", "D", "svc-d");
	struct route_candidate c[] = {cand(a, NULL), cand(b, NULL), cand(d, NULL)};
	enum route_verdict v[3];
	struct diag_list dl;
	struct route_table *t;
	diag_list_init(&dl);
	CHECK_EQ_INT(route_lkg_compile(c, 3, &dl, v, &t), 0);
	CHECK_EQ_INT(v[0], ROUTE_REFUSED);
	CHECK_EQ_INT(v[1], ROUTE_REFUSED);
	CHECK_EQ_INT(v[2], ROUTE_ACCEPTED);
	CHECK_EQ_INT((int)route_table_count(t), 1);
	route_table_unref(t);
	diag_list_free(&dl);
	free(a);
	free(b);
	free(d);
}

TEST(invalid_update_keeps_lkg_invalid_new_object_refused)
{
	char *a_old = fs("a", "A", "svc-a");
	const char *a_bad = "{\"apiVersion\":\"fixgw.io/v1alpha1\",\"kind\":\"FIXSession\","
	                    "\"metadata\":{\"name\":\"a\",\"namespace\":\"t\"},\"spec\":{\"bogus\":1}}";
	const char *n_bad = "{\"apiVersion\":\"fixgw.io/v1alpha1\",\"kind\":\"FIXSession\","
	                    "\"metadata\":{\"name\":\"n\",\"namespace\":\"t\"},\"spec\":{}}";
	struct route_candidate c[] = {cand(a_bad, a_old), cand(n_bad, NULL)};
	enum route_verdict v[2];
	struct diag_list dl;
	struct route_table *t;
	diag_list_init(&dl);
	CHECK_EQ_INT(route_lkg_compile(c, 2, &dl, v, &t), 0);
	CHECK_EQ_INT(v[0], ROUTE_KEPT_LKG);
	CHECK_EQ_INT(v[1], ROUTE_REFUSED);
	CHECK_EQ_STR(target_of(t, "a"), "svc-a");
	CHECK(dl.nerrors >= 2);
	route_table_unref(t);
	diag_list_free(&dl);
	free(a_old);
}

TEST(many_changes_one_conflict)
{
	/* 200 new objects, one of which conflicts with an unchanged one: only it falls back. */
	enum { N = 200 };
	char *texts[N + 1];
	struct route_candidate c[N + 1];
	enum route_verdict v[N + 1];
	texts[0] = fs("base", "S7", "svc");
	c[0] = cand(texts[0], texts[0]);
	for (int i = 1; i <= N; i++) {
		char name[16], sender[16];
		snprintf(name, sizeof(name), "r%d", i);
		snprintf(sender, sizeof(sender), "S%d", i == 150 ? 7 : 1000 + i);
		texts[i] = fs(name, sender, "svc");
		c[i] = cand(texts[i], NULL);
	}
	struct diag_list dl;
	struct route_table *t;
	diag_list_init(&dl);
	CHECK_EQ_INT(route_lkg_compile(c, N + 1, &dl, v, &t), 0);
	int refused = 0;
	for (int i = 0; i <= N; i++)
		refused += v[i] != ROUTE_ACCEPTED;
	CHECK_EQ_INT(refused, 1);
	CHECK_EQ_INT(v[150], ROUTE_REFUSED);
	CHECK_EQ_INT((int)route_table_count(t), N);
	route_table_unref(t);
	diag_list_free(&dl);
	for (int i = 0; i <= N; i++)
		free(texts[i]);
}

/* Out of memory while loading the first candidate: no route was loaded, so none has an owner to note
 * (this once wrote owner[-1]). */
TEST(out_of_memory_while_loading_is_returned)
{
	char *a = fs("a", "A", "svc-a");
	struct route_candidate c[] = {cand(a, NULL)};
	enum route_verdict v[1];
	struct diag_list dl;
	struct route_table *t;
	diag_list_init(&dl);
	fail_loader_add = 1;
	CHECK_EQ_INT(route_lkg_compile(c, 1, &dl, v, &t), FIXGW_ENOMEM);
	fail_loader_add = 0;
	CHECK(t == NULL);
	diag_list_free(&dl);
	free(a);
}

TEST_MAIN(TEST_ENTRY(all_valid_accepted_in_one_round),
          TEST_ENTRY(conflicting_update_keeps_its_lkg_and_others_update),
          TEST_ENTRY(new_conflicting_pair_without_lkg_is_refused_both_ways),
          TEST_ENTRY(invalid_update_keeps_lkg_invalid_new_object_refused),
          TEST_ENTRY(many_changes_one_conflict), TEST_ENTRY(out_of_memory_while_loading_is_returned))
