/* route_shards.c - serialize the validated FIXSession set into shards and an index, and read them back
 * (route_shards.h). */
#include "k8s/route_shards.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/text.h"

#define INDEX_HEADER "fixgw-routing-table v1"

void rs_sha256_hex(const void *p, size_t n, char out[RS_HASH_HEX + 1])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != sizeof(md))
		memset(md, 0, sizeof(md)); /* cannot happen with the default provider; never matches a name */
	text_hex(md, sizeof(md), out);
}

unsigned rs_bucket(const char *key, size_t key_len, unsigned buckets)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: stable across versions and platforms */
	for (size_t i = 0; i < key_len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	return (unsigned)(h & (buckets - 1));
}

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : (alen > blen) - (alen < blen);
}

static int cmp_entry(const void *x, const void *y)
{
	const struct rs_entry *a = *(const struct rs_entry *const *)x,
	                      *b = *(const struct rs_entry *const *)y;
	return key_cmp(a->key, a->key_len, b->key, b->key_len);
}

static size_t line_bytes(const struct rs_entry *e)
{
	return e->key_len + 1 + e->len + 1;
}

static bool entry_ok(const struct rs_entry *e)
{
	if (!e->key_len || !e->len || memchr(e->key, '\n', e->key_len) || memchr(e->key, '\t', e->key_len) ||
	    memchr(e->text, '\n', e->len))
		return false;
	const char *slash = memchr(e->key, '/', e->key_len);
	return slash && slash != e->key && slash != e->key + e->key_len - 1;
}

void rs_table_free(struct rs_table *t)
{
	for (size_t i = 0; t->shards && i < t->nshards; i++)
		free(t->shards[i].text);
	free(t->shards);
	free(t->index);
	*t = (struct rs_table){0};
}

/* Per-bucket byte totals for `buckets`; true when every bucket fits a shard. */
static bool fits(const struct rs_entry *const *v, size_t n, unsigned buckets, size_t *bytes)
{
	memset(bytes, 0, buckets * sizeof(*bytes));
	for (size_t i = 0; i < n; i++) {
		size_t *b = &bytes[rs_bucket(v[i]->key, v[i]->key_len, buckets)];
		*b += line_bytes(v[i]);
		if (*b > RS_MAX_SHARD_BYTES)
			return false;
	}
	return true;
}

static int build_index(struct rs_table *t)
{
	size_t cap = 128 + t->nshards * (RS_NAME_MAX + 40);
	t->index = malloc(cap);
	if (!t->index)
		return FIXGW_ENOMEM;
	size_t used = (size_t)snprintf(t->index, cap, INDEX_HEADER "\nbuckets %u\nfixsessions %zu\n",
	                               t->buckets, t->count);
	for (size_t i = 0; i < t->nshards; i++)
		used += (size_t)snprintf(t->index + used, cap - used, "shard %u %zu %s\n",
		                         t->shards[i].bucket, t->shards[i].count, t->shards[i].name);
	t->index_len = used;
	rs_sha256_hex(t->index, used, t->digest);
	return 0;
}

int rs_build(const struct rs_entry *e, size_t n, struct rs_table *out)
{
	*out = (struct rs_table){0};
	if (n > RS_MAX_FIXSESSIONS)
		return FIXGW_ELIMIT;
	const struct rs_entry **v = malloc((n ? n : 1) * sizeof(*v));
	size_t *bytes = NULL;
	int rc = v ? 0 : FIXGW_ENOMEM;
	size_t total = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		v[i] = &e[i];
		if (!entry_ok(&e[i]))
			rc = FIXGW_EINVAL;
		else if (line_bytes(&e[i]) > RS_MAX_SHARD_BYTES)
			rc = FIXGW_ELIMIT;
		total += line_bytes(&e[i]);
	}
	if (rc)
		goto out;
	qsort(v, n, sizeof(*v), cmp_entry);
	for (size_t i = 1; i < n; i++)
		if (!cmp_entry(&v[i - 1], &v[i])) {
			rc = FIXGW_EINVAL;
			goto out;
		}
	/* Aim at half a shard each, so a skewed bucket rarely forces a doubling. */
	unsigned buckets = 1;
	while (buckets < RS_MAX_BUCKETS && (size_t)buckets * (RS_MAX_SHARD_BYTES / 2) < total)
		buckets *= 2;
	bytes = malloc(RS_MAX_BUCKETS * sizeof(*bytes));
	if (!bytes) {
		rc = FIXGW_ENOMEM;
		goto out;
	}
	while (!fits(v, n, buckets, bytes)) {
		if (buckets == RS_MAX_BUCKETS) {
			rc = FIXGW_ELIMIT;
			goto out;
		}
		buckets *= 2;
	}
	out->buckets = buckets;
	out->count = n;
	size_t nonempty = 0;
	for (unsigned b = 0; b < buckets; b++)
		nonempty += bytes[b] != 0;
	out->shards = calloc(nonempty ? nonempty : 1, sizeof(*out->shards));
	if (!out->shards) {
		rc = FIXGW_ENOMEM;
		goto out;
	}
	size_t *slot = calloc(buckets, sizeof(*slot)); /* bucket -> shard index + 1 */
	if (!slot) {
		rc = FIXGW_ENOMEM;
		goto out;
	}
	for (unsigned b = 0; b < buckets; b++) {
		if (!bytes[b])
			continue;
		struct rs_shard *s = &out->shards[out->nshards];
		s->bucket = b;
		if (!(s->text = malloc(bytes[b] + 1))) {
			free(slot);
			rc = FIXGW_ENOMEM;
			goto out;
		}
		slot[b] = ++out->nshards;
	}
	for (size_t i = 0; i < n; i++) { /* in key order, so each shard's lines ascend */
		struct rs_shard *s = &out->shards[slot[rs_bucket(v[i]->key, v[i]->key_len, buckets)] - 1];
		memcpy(s->text + s->len, v[i]->key, v[i]->key_len);
		s->len += v[i]->key_len;
		s->text[s->len++] = '\t';
		memcpy(s->text + s->len, v[i]->text, v[i]->len);
		s->len += v[i]->len;
		s->text[s->len++] = '\n';
		s->count++;
	}
	free(slot);
	for (size_t i = 0; i < out->nshards; i++) {
		struct rs_shard *s = &out->shards[i];
		char hex[RS_HASH_HEX + 1];
		s->text[s->len] = '\0';
		rs_sha256_hex(s->text, s->len, hex);
		snprintf(s->name, sizeof(s->name), RS_SHARD_PREFIX "%s", hex);
	}
	rc = build_index(out);
out:
	if (rc)
		rs_table_free(out);
	free(bytes);
	free(v);
	return rc;
}

/* ---- reading back ---- */

static int fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return FIXGW_EINVAL;
}

/* The line at *pos (without its '\n'); false at the end or when the text does not end with '\n'. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *line_len)
{
	if (*pos >= len)
		return false;
	const char *nl = memchr(text + *pos, '\n', len - *pos);
	if (!nl)
		return false;
	*line = text + *pos;
	*line_len = (size_t)(nl - *line);
	*pos = (size_t)(nl - text) + 1;
	return true;
}

/* A decimal without sign or leading zero, at most max; advances *p past it. */
static bool parse_num(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (s == end || *s < '0' || *s > '9' || (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9'))
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	*p = s;
	*out = v;
	return true;
}

/* "WORD <number>" exactly. */
static bool field_line(const char *line, size_t n, const char *word, uint64_t max, uint64_t *out)
{
	size_t w = strlen(word);
	if (n <= w + 1 || memcmp(line, word, w) || line[w] != ' ')
		return false;
	const char *p = line + w + 1, *end = line + n;
	return parse_num(&p, end, max, out) && p == end;
}

static bool is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static int shard_line(const char *line, size_t n, unsigned buckets, struct rs_index_shard *out, char *why,
                      size_t cap)
{
	const char *p = line, *end = line + n;
	uint64_t bucket, count;
	if (n < 6 || memcmp(p, "shard ", 6))
		return fail(why, cap, "index: a line that is not 'shard BUCKET COUNT NAME'");
	p += 6;
	if (!parse_num(&p, end, buckets - 1, &bucket) || p == end || *p++ != ' ' ||
	    !parse_num(&p, end, RS_MAX_FIXSESSIONS, &count) || !count || p == end || *p++ != ' ')
		return fail(why, cap, "index: a shard line with a bad bucket or count");
	size_t plen = sizeof(RS_SHARD_PREFIX) - 1;
	if ((size_t)(end - p) != RS_NAME_MAX || memcmp(p, RS_SHARD_PREFIX, plen) ||
	    !is_hex(p + plen, RS_HASH_HEX))
		return fail(why, cap, "index: a shard name that is not " RS_SHARD_PREFIX "<sha256>");
	*out = (struct rs_index_shard){(unsigned)bucket, (size_t)count, p};
	return 0;
}

int rs_index_parse(const char *text, size_t len, const char *digest, struct rs_index *out, char *why,
                   size_t why_cap)
{
	*out = (struct rs_index){0};
	if (!text)
		return fail(why, why_cap, "index: no '" RS_INDEX_KEY "' text");
	if (digest) {
		char hex[RS_HASH_HEX + 1];
		rs_sha256_hex(text, len, hex);
		if (strlen(digest) != RS_HASH_HEX || strcmp(hex, digest))
			return fail(why, why_cap,
			            "index: its text does not match its sha256 (torn or edited)");
	}
	size_t pos = 0, n;
	const char *line;
	uint64_t buckets, count;
	if (!next_line(text, len, &pos, &line, &n) || n != sizeof(INDEX_HEADER) - 1 ||
	    memcmp(line, INDEX_HEADER, n))
		return fail(why, why_cap, "index: not a '" INDEX_HEADER "' table");
	if (!next_line(text, len, &pos, &line, &n) ||
	    !field_line(line, n, "buckets", RS_MAX_BUCKETS, &buckets) || !buckets ||
	    (buckets & (buckets - 1)))
		return fail(why, why_cap, "index: no 'buckets N' line with a power of two up to %u",
		            RS_MAX_BUCKETS);
	if (!next_line(text, len, &pos, &line, &n) ||
	    !field_line(line, n, "fixsessions", RS_MAX_FIXSESSIONS, &count))
		return fail(why, why_cap, "index: no 'fixsessions N' line");
	out->buckets = (unsigned)buckets;
	out->text = text;
	out->len = len;
	size_t shards_at = pos, sum = 0;
	long prev = -1;
	while (pos < len) {
		if (!next_line(text, len, &pos, &line, &n) || n > RS_MAX_LINE)
			return fail(why, why_cap, "index: a line too long or without its newline");
		struct rs_index_shard s;
		int rc = shard_line(line, n, out->buckets, &s, why, why_cap);
		if (rc)
			return rc;
		if ((long)s.bucket <= prev)
			return fail(why, why_cap, "index: shard buckets not ascending");
		prev = (long)s.bucket;
		sum += s.count;
		out->nshards++;
	}
	if (sum != count)
		return fail(why, why_cap, "index: shard counts add up to %zu, not %llu", sum,
		            (unsigned long long)count);
	out->count = (size_t)count;
	out->shards_off = shards_at;
	return 0;
}

int rs_index_next(const struct rs_index *ix, size_t *pos, struct rs_index_shard *out)
{
	const char *line;
	size_t n;
	char why[8];
	if (*pos < ix->shards_off)
		*pos = ix->shards_off;
	if (!next_line(ix->text, ix->len, pos, &line, &n))
		return 0;
	return shard_line(line, n, ix->buckets, out, why, sizeof(why)) ? FIXGW_EINVAL : 1;
}

int rs_shard_open(struct rs_cursor *c, const struct rs_index *ix, const struct rs_index_shard *s,
                  const char *text, size_t len, char *why, size_t why_cap)
{
	*c = (struct rs_cursor){0};
	if (!text)
		return fail(why, why_cap, "shard %.*s: no '" RS_DATA_KEY "' text", (int)RS_NAME_MAX, s->name);
	char hex[RS_HASH_HEX + 1];
	rs_sha256_hex(text, len, hex);
	if (memcmp(hex, s->name + sizeof(RS_SHARD_PREFIX) - 1, RS_HASH_HEX))
		return fail(why, why_cap, "shard %.*s: its text does not match its sha256 (torn or edited)",
		            (int)RS_NAME_MAX, s->name);
	*c = (struct rs_cursor){.text = text,
	                        .len = len,
	                        .bucket = s->bucket,
	                        .buckets = ix->buckets,
	                        .expect = s->count,
	                        .name = s->name};
	return 0;
}

static bool key_ok(const char *k, size_t n)
{
	const char *slash = memchr(k, '/', n);
	if (!slash || slash == k || slash == k + n - 1 || memchr(slash + 1, '/', (size_t)(k + n - slash - 1)))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] <= ' ' || (unsigned char)k[i] >= 0x7f)
			return false;
	return true;
}

int rs_shard_next(struct rs_cursor *c, struct rs_entry *out, char *why, size_t why_cap)
{
	const char *line;
	size_t n;
	int nl = (int)RS_NAME_MAX;
	if (c->pos >= c->len) {
		if (c->seen != c->expect)
			return fail(why, why_cap, "shard %.*s: %zu FIXSessions, the index says %zu", nl,
			            c->name, c->seen, c->expect);
		return 0;
	}
	if (!next_line(c->text, c->len, &c->pos, &line, &n))
		return fail(why, why_cap, "shard %.*s: the last line has no newline (truncated)", nl,
		            c->name);
	const char *tab = memchr(line, '\t', n);
	if (!tab || tab + 1 == line + n || tab[1] != '{')
		return fail(why, why_cap, "shard %.*s: line %zu is not 'namespace/name<TAB>{...}'", nl,
		            c->name, c->seen + 1);
	size_t klen = (size_t)(tab - line);
	if (!key_ok(line, klen))
		return fail(why, why_cap, "shard %.*s: line %zu has no namespace/name key", nl, c->name,
		            c->seen + 1);
	if (c->prev_key && key_cmp(c->prev_key, c->prev_len, line, klen) >= 0)
		return fail(why, why_cap, "shard %.*s: line %zu is out of order or repeated", nl, c->name,
		            c->seen + 1);
	if (rs_bucket(line, klen, c->buckets) != c->bucket)
		return fail(why, why_cap, "shard %.*s: line %zu belongs to another bucket", nl, c->name,
		            c->seen + 1);
	if (++c->seen > c->expect)
		return fail(why, why_cap, "shard %.*s: more FIXSessions than the index says (%zu)", nl,
		            c->name, c->expect);
	c->prev_key = line;
	c->prev_len = klen;
	*out = (struct rs_entry){line, klen, tab + 1, (size_t)(line + n - tab - 1)};
	return 1;
}
