/* test_k8s_route_shards.c - the published routing table: deterministic shards, the index, and parsers
 * that refuse torn, edited or inconsistent API data. */
#include "../../src/k8s/route_shards.c"

#include <stdio.h>

#include "test.h"

#define BIG 10000

static char keys[BIG][64], texts[BIG][320];

/* n entries shaped as the operator makes them (a FIXSession's compact JSON). */
static void make(struct rs_entry *e, size_t n, const char *sender_suffix)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "ns-%zu/fs-%zu", i % 7, i);
		snprintf(
		    texts[i], sizeof(texts[i]),
		    "{\"apiVersion\":\"fixgw.io/v1alpha1\",\"kind\":\"FIXSession\",\"metadata\":{\"name\":"
		    "\"fs-%zu\",\"namespace\":\"ns-%zu\"},\"spec\":{\"matchFields\":{\"SenderCompID49\":{"
		    "\"value\":\"S%zu%s\"}},\"target\":{\"service\":{\"name\":\"engine\",\"port\":{"
		    "\"number\":9880}}}}}",
		    i, i % 7, i, sender_suffix);
		e[i] = (struct rs_entry){keys[i], strlen(keys[i]), texts[i], strlen(texts[i])};
	}
}

static struct rs_entry ents[BIG];

/* Parse t back through the untrusted-input path; returns the FIXSessions read, or -1. */
static long read_back(const struct rs_table *t, char *why, size_t cap)
{
	struct rs_index ix;
	if (rs_index_parse(t->index, t->index_len, t->digest, &ix, why, cap))
		return -1;
	size_t pos = 0, n = 0;
	struct rs_index_shard s;
	for (size_t i = 0; rs_index_next(&ix, &pos, &s) == 1; i++) {
		if (memcmp(s.name, t->shards[i].name, RS_NAME_MAX))
			return -1;
		struct rs_cursor c;
		if (rs_shard_open(&c, &ix, &s, t->shards[i].text, t->shards[i].len, why, cap))
			return -1;
		struct rs_entry e;
		int rc;
		while ((rc = rs_shard_next(&c, &e, why, cap)) == 1)
			n++;
		if (rc)
			return -1;
	}
	return (long)n;
}

TEST(same_set_any_order_same_names)
{
	make(ents, 50, "");
	struct rs_table a, b;
	CHECK_EQ_INT(rs_build(ents, 50, &a), 0);
	struct rs_entry rev[50];
	for (size_t i = 0; i < 50; i++)
		rev[i] = ents[49 - i];
	CHECK_EQ_INT(rs_build(rev, 50, &b), 0);
	CHECK_EQ_STR(a.digest, b.digest);
	CHECK_EQ_INT(a.nshards, 1);
	CHECK_EQ_INT(a.count, 50);
	CHECK_EQ_STR(a.shards[0].name, b.shards[0].name);
	CHECK(!strncmp(a.shards[0].name, "fixgw-routes-", 13) && strlen(a.shards[0].name) == 13 + 64);
	char why[256] = "";
	CHECK_EQ_INT(read_back(&a, why, sizeof(why)), 50);
	/* lines ascend by key, so "ns-0/fs-0" comes first */
	CHECK(!strncmp(a.shards[0].text, "ns-0/fs-0\t{", 11));
	rs_table_free(&a);
	rs_table_free(&b);
}

TEST(ten_thousand_in_shards_below_the_cap_one_change_one_shard)
{
	make(ents, BIG, "");
	struct rs_table a, b;
	CHECK_EQ_INT(rs_build(ents, BIG, &a), 0);
	CHECK(a.nshards > 1);
	size_t total = 0;
	for (size_t i = 0; i < a.nshards; i++) {
		CHECK(a.shards[i].len <= RS_MAX_SHARD_BYTES);
		total += a.shards[i].count;
	}
	CHECK_EQ_INT(total, BIG);
	char why[256] = "";
	CHECK_EQ_INT(read_back(&a, why, sizeof(why)), BIG);
	snprintf(texts[1234] + strlen(texts[1234]) - 5, 6, "1}}}}"); /* port 9881 */
	ents[1234].len = strlen(texts[1234]);
	CHECK_EQ_INT(rs_build(ents, BIG, &b), 0);
	CHECK_EQ_INT(b.nshards, a.nshards);
	size_t changed = 0;
	for (size_t i = 0; i < a.nshards && i < b.nshards; i++)
		changed += strcmp(a.shards[i].name, b.shards[i].name) != 0;
	CHECK_EQ_INT(changed, 1);
	CHECK(strcmp(a.digest, b.digest) != 0);
	rs_table_free(&a);
	rs_table_free(&b);
}

TEST(empty_set_is_a_valid_table)
{
	struct rs_table t;
	CHECK_EQ_INT(rs_build(NULL, 0, &t), 0);
	CHECK_EQ_INT(t.nshards, 0);
	char why[256] = "";
	CHECK_EQ_INT(read_back(&t, why, sizeof(why)), 0);
	rs_table_free(&t);
}

TEST(bad_entries_refused)
{
	struct rs_table t;
	struct rs_entry dup[2] = {{"a/b", 3, "{}", 2}, {"a/b", 3, "{}", 2}};
	CHECK_EQ_INT(rs_build(dup, 2, &t), FIXGW_EINVAL);
	struct rs_entry nl = {"a/b", 3, "{\n}", 3};
	CHECK_EQ_INT(rs_build(&nl, 1, &t), FIXGW_EINVAL);
	struct rs_entry noslash = {"ab", 2, "{}", 2};
	CHECK_EQ_INT(rs_build(&noslash, 1, &t), FIXGW_EINVAL);
	struct rs_entry tab = {"a/\tb", 4, "{}", 2};
	CHECK_EQ_INT(rs_build(&tab, 1, &t), FIXGW_EINVAL);
}

static int parse_index(const char *text, bool with_digest, char *why)
{
	char hex[RS_HASH_HEX + 1];
	rs_sha256_hex(text, strlen(text), hex);
	struct rs_index ix;
	return rs_index_parse(text, strlen(text), with_digest ? hex : NULL, &ix, why, 256);
}

TEST(index_parser_refuses_malformed)
{
	char why[256];
	const char *name = "fixgw-routes-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char ok[512];
	snprintf(ok, sizeof(ok),
	         "fixgw-routing-table v1\nbuckets 2\nfixsessions 3\nshard 0 1 %s\nshard 1 2 %s\n", name,
	         name);
	CHECK_EQ_INT(parse_index(ok, true, why), 0);
	struct rs_index ix;
	CHECK_EQ_INT(rs_index_parse(ok, strlen(ok), "00", &ix, why, sizeof(why)), FIXGW_EINVAL);
	CHECK(strstr(why, "sha256") != NULL);
	const char *bad[] = {
	    "",
	    "fixgw-routing-table v2\nbuckets 1\nfixsessions 0\n",
	    "fixgw-routing-table v1\nbuckets 3\nfixsessions 0\n",
	    "fixgw-routing-table v1\nbuckets 8192\nfixsessions 0\n",
	    "fixgw-routing-table v1\nbuckets 01\nfixsessions 0\n",
	    "fixgw-routing-table v1\nbuckets 1\nfixsessions 1\n",
	    "fixgw-routing-table v1\nbuckets 1\nfixsessions 0", /* no final newline */
	    "fixgw-routing-table v1\nbuckets 1\nfixsessions 99999999999999999999999\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		CHECK_EQ_INT(parse_index(bad[i], true, why), FIXGW_EINVAL);
		CHECK(why[0] != '\0');
	}
	char t[512];
	snprintf(t, sizeof(t),
	         "fixgw-routing-table v1\nbuckets 2\nfixsessions 2\nshard 1 1 %s\nshard 0 1 %s\n", name,
	         name); /* buckets out of order */
	CHECK_EQ_INT(parse_index(t, true, why), FIXGW_EINVAL);
	snprintf(t, sizeof(t), "fixgw-routing-table v1\nbuckets 2\nfixsessions 1\nshard 2 1 %s\n", name);
	CHECK_EQ_INT(parse_index(t, true, why), FIXGW_EINVAL); /* bucket >= buckets */
	snprintf(t, sizeof(t), "fixgw-routing-table v1\nbuckets 1\nfixsessions 1\nshard 0 1 %.70s\n", name);
	CHECK_EQ_INT(parse_index(t, true, why), FIXGW_EINVAL); /* short name */
	snprintf(t, sizeof(t), "fixgw-routing-table v1\nbuckets 1\nfixsessions 0\nshard 0 0 %s\n", name);
	CHECK_EQ_INT(parse_index(t, true, why), FIXGW_EINVAL); /* empty shard */
}

/* One shard of one bucket holding text, checked through its index line. */
static int shard_of(const char *text, size_t count, char *why)
{
	char hex[RS_HASH_HEX + 1], index[512];
	rs_sha256_hex(text, strlen(text), hex);
	snprintf(index, sizeof(index),
	         "fixgw-routing-table v1\nbuckets 1\nfixsessions %zu\nshard 0 %zu " RS_SHARD_PREFIX "%s\n",
	         count, count, hex);
	struct rs_index ix;
	if (rs_index_parse(index, strlen(index), NULL, &ix, why, 256))
		return -100;
	size_t pos = 0;
	struct rs_index_shard s;
	if (rs_index_next(&ix, &pos, &s) != 1)
		return -101;
	struct rs_cursor c;
	int rc = rs_shard_open(&c, &ix, &s, text, strlen(text), why, 256);
	struct rs_entry e;
	while (!rc && (rc = rs_shard_next(&c, &e, why, 256)) == 1)
		rc = 0;
	return rc;
}

TEST(shard_parser_refuses_malformed)
{
	char why[256];
	CHECK_EQ_INT(shard_of("a/b\t{}\na/c\t{}\n", 2, why), 0);
	CHECK_EQ_INT(shard_of("a/c\t{}\na/b\t{}\n", 2, why), FIXGW_EINVAL); /* out of order */
	CHECK(strstr(why, "order") != NULL);
	CHECK_EQ_INT(shard_of("a/b\t{}\na/b\t{}\n", 2, why), FIXGW_EINVAL); /* repeated */
	CHECK_EQ_INT(shard_of("a/b\t{}\na/c\t{}", 2, why), FIXGW_EINVAL);   /* truncated */
	CHECK(strstr(why, "truncated") != NULL);
	CHECK_EQ_INT(shard_of("a/b\t{}\n", 2, why), FIXGW_EINVAL); /* fewer than the index says */
	CHECK_EQ_INT(shard_of("a/b\t{}\na/c\t{}\n", 1, why), FIXGW_EINVAL);
	CHECK_EQ_INT(shard_of("ab\t{}\n", 1, why), FIXGW_EINVAL);
	CHECK_EQ_INT(shard_of("a/b {}\n", 1, why), FIXGW_EINVAL);
	CHECK_EQ_INT(shard_of("a/b\tx\n", 1, why), FIXGW_EINVAL);
	CHECK_EQ_INT(shard_of("a/b/c\t{}\n", 1, why), FIXGW_EINVAL);
}

TEST(edited_shard_or_wrong_bucket_refused)
{
	make(ents, 3000, "");
	struct rs_table t;
	CHECK_EQ_INT(rs_build(ents, 3000, &t), 0);
	CHECK(t.nshards > 1);
	char why[256] = "";
	struct rs_index ix;
	CHECK_EQ_INT(rs_index_parse(t.index, t.index_len, t.digest, &ix, why, sizeof(why)), 0);
	size_t pos = 0;
	struct rs_index_shard s0, s1;
	CHECK_EQ_INT(rs_index_next(&ix, &pos, &s0), 1);
	CHECK_EQ_INT(rs_index_next(&ix, &pos, &s1), 1);
	struct rs_cursor c;
	/* one byte changed: the hash no longer matches the name */
	t.shards[0].text[20] ^= 1;
	CHECK_EQ_INT(rs_shard_open(&c, &ix, &s0, t.shards[0].text, t.shards[0].len, why, sizeof(why)),
	             FIXGW_EINVAL);
	CHECK(strstr(why, "sha256") != NULL);
	t.shards[0].text[20] ^= 1;
	/* shard 0's text presented under shard 1's line: the hash differs */
	CHECK_EQ_INT(rs_shard_open(&c, &ix, &s1, t.shards[0].text, t.shards[0].len, why, sizeof(why)),
	             FIXGW_EINVAL);
	/* a cursor that believes it reads bucket 1 refuses shard 0's keys */
	CHECK_EQ_INT(rs_shard_open(&c, &ix, &s0, t.shards[0].text, t.shards[0].len, why, sizeof(why)), 0);
	c.bucket = s1.bucket;
	struct rs_entry e;
	CHECK_EQ_INT(rs_shard_next(&c, &e, why, sizeof(why)), FIXGW_EINVAL);
	CHECK(strstr(why, "bucket") != NULL);
	rs_table_free(&t);
}

int main(void)
{
	static const struct test_case cases[] = {
	    TEST_ENTRY(same_set_any_order_same_names),
	    TEST_ENTRY(ten_thousand_in_shards_below_the_cap_one_change_one_shard),
	    TEST_ENTRY(empty_set_is_a_valid_table),
	    TEST_ENTRY(bad_entries_refused),
	    TEST_ENTRY(index_parser_refuses_malformed),
	    TEST_ENTRY(shard_parser_refuses_malformed),
	    TEST_ENTRY(edited_shard_or_wrong_bucket_refused),
	};
	return test_run_all(cases, sizeof(cases) / sizeof(cases[0]));
}
