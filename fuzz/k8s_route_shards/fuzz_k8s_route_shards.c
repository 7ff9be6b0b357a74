/* fuzz_k8s_route_shards.c - libFuzzer target for the published routing table's parsers (k8s/route_shards.h),
 * which read ConfigMaps from the API server.
 *
 * The input is split at NUL bytes: the first part is parsed as an index (with and without its digest); each
 * later part is parsed as a shard under an index line made for it (its real SHA-256, so the hash check
 * passes and the line parser is reached; buckets, bucket and count from the part's first three bytes).
 *
 * Properties checked on every input:
 *  - no crash, no read outside the input (ASan), no allocation by the parsers;
 *  - every entry is a view inside its shard, with a key holding exactly one '/' and a text starting '{';
 *  - keys come out strictly ascending and in the shard's bucket;
 *  - a shard that parses to the end yields exactly the count its index line says;
 *  - what parsed serializes again (rs_build) and reads back to the same entries.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/route_shards.h"

#define MAX_ENTRIES 256

static void check_index(const char *p, size_t n)
{
	struct rs_index ix;
	char why[256];
	char hex[RS_HASH_HEX + 1];
	rs_sha256_hex(p, n, hex);
	if (rs_index_parse(p, n, NULL, &ix, why, sizeof(why)) == 0) {
		size_t pos = 0, lines = 0, sum = 0;
		struct rs_index_shard s;
		while (rs_index_next(&ix, &pos, &s) == 1) {
			if (s.name < p || s.name + RS_NAME_MAX > p + n || s.bucket >= ix.buckets)
				abort();
			lines++;
			sum += s.count;
		}
		if (lines != ix.nshards || sum != ix.count)
			abort();
		if (rs_index_parse(p, n, hex, &ix, why, sizeof(why)) != 0)
			abort(); /* its own digest always matches */
	}
}

/* part: three parameter bytes (buckets, bucket, count), then the shard's text. */
static void check_shard(const char *part, size_t size)
{
	if (size < 3)
		return;
	unsigned buckets = 1u << ((unsigned char)part[0] % 4); /* 1..8 */
	unsigned bucket = (unsigned char)part[1] % buckets;
	size_t count = 1 + (unsigned char)part[2] % 8;
	const char *p = part + 3;
	size_t n = size - 3;
	char hex[RS_HASH_HEX + 1], index[256], why[256];
	rs_sha256_hex(p, n, hex);
	snprintf(index, sizeof(index),
	         "fixgw-routing-table v1\nbuckets %u\nfixsessions %zu\nshard %u %zu " RS_SHARD_PREFIX "%s\n",
	         buckets, count, bucket, count, hex);
	struct rs_index ix;
	if (rs_index_parse(index, strlen(index), NULL, &ix, why, sizeof(why)))
		abort();
	size_t pos = 0;
	struct rs_index_shard s;
	if (rs_index_next(&ix, &pos, &s) != 1)
		abort();
	struct rs_cursor c;
	if (rs_shard_open(&c, &ix, &s, p, n, why, sizeof(why)))
		abort();
	static struct rs_entry got[MAX_ENTRIES];
	size_t k = 0;
	struct rs_entry e;
	int rc;
	while ((rc = rs_shard_next(&c, &e, why, sizeof(why))) == 1) {
		if (e.key < p || e.text + e.len > p + n || !e.len || e.text[0] != '{')
			abort();
		const char *slash = memchr(e.key, '/', e.key_len);
		if (!slash || memchr(slash + 1, '/', (size_t)(e.key + e.key_len - slash - 1)))
			abort();
		if (rs_bucket(e.key, e.key_len, buckets) != bucket)
			abort();
		if (k) {
			size_t m = got[k - 1].key_len < e.key_len ? got[k - 1].key_len : e.key_len;
			int cmp = memcmp(got[k - 1].key, e.key, m);
			if (cmp > 0 || (cmp == 0 && got[k - 1].key_len >= e.key_len))
				abort();
		}
		if (k < MAX_ENTRIES)
			got[k++] = e;
	}
	if (rc == 0 && k != count)
		abort();
	if (rc == 0) {
		struct rs_table t;
		if (rs_build(got, k, &t) == 0) {
			size_t total = 0;
			for (size_t i = 0; i < t.nshards; i++)
				total += t.shards[i].count;
			if (total != k)
				abort();
			rs_table_free(&t);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	const char *nul = memchr(p, '\0', size);
	check_index(p, nul ? (size_t)(nul - p) : size);
	while (nul && nul < end) {
		const char *start = nul + 1;
		nul = memchr(start, '\0', (size_t)(end - start));
		check_shard(start, (size_t)((nul ? nul : end) - start));
		if (!nul)
			break;
	}
	return 0;
}
