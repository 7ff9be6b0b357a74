/* route_shards.h - the published routing table of ADR-010: the validated FIXSession set as content-
 * addressed shards plus one index, and the parsers a gateway reads them back with.
 *
 * A shard is the text of a ConfigMap's data key RS_DATA_KEY: one line per FIXSession,
 * "<namespace>/<name>\t<FIXSession text>\n", keys strictly ascending. The FIXSession text is what the
 * manifest loader reads (k8s_fixsession_text: compact JSON, so it has no newline). Each FIXSession goes
 * to bucket fnv1a64(key) % buckets, so a change to one FIXSession rewrites one shard; buckets is the
 * smallest power of two that keeps every shard under RS_MAX_SHARD_BYTES (aiming at half of it). A shard
 * is named RS_SHARD_PREFIX + the SHA-256 (hex) of its text, so the same content always has the same name
 * (a restart republishes nothing new) and a torn or edited shard no longer matches its name.
 *
 * The index is the text of the index ConfigMap's data key RS_INDEX_KEY (its SHA-256 in RS_DIGEST_KEY,
 * the publication's generation in RS_GENERATION_KEY, outside the text so an unchanged table keeps its
 * digest):
 *
 *   fixgw-routing-table v1
 *   buckets 16
 *   fixsessions 10000
 *   shard 0 625 fixgw-routes-<sha256>
 *   ...                                  (one line per non-empty bucket, ascending)
 *
 * Pure: no I/O, no allocation in the parsers (views into the caller's text), SHA-256 from libcrypto.
 * The parsers take API data, so they are bounded and refuse anything malformed with a reason
 * (fuzz/k8s_route_shards).
 */
#ifndef FIXGW_K8S_ROUTE_SHARDS_H
#define FIXGW_K8S_ROUTE_SHARDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_MAX_SHARD_BYTES (512u * 1024u) /* ConfigMaps hold at most 1 MiB; etcd objects 1.5 MiB */
#define RS_MAX_BUCKETS     4096u
#define RS_MAX_LINE        1024u /* an index line */
#define RS_MAX_FIXSESSIONS 1000000u
#define RS_HASH_HEX        64u
#define RS_SHARD_PREFIX    "fixgw-routes-"
#define RS_NAME_MAX        (sizeof(RS_SHARD_PREFIX) - 1 + RS_HASH_HEX)
#define RS_DATA_KEY        "fixsessions"
#define RS_INDEX_KEY       "table"
#define RS_DIGEST_KEY      "sha256"
#define RS_GENERATION_KEY  "generation"
#define RS_LABEL           "fixgw.io/routing-table" /* on the index and its shards: the index's name */
#define RS_DEFAULT_INDEX   "fixgw-routing-table"

/** One FIXSession: views, borrowed. key is "namespace/name"; neither key nor text may hold '\n', key
 * no '\t'. */
struct rs_entry {
	const char *key;
	size_t key_len;
	const char *text;
	size_t len;
};

/** One shard, owned by its rs_table. */
struct rs_shard {
	char name[RS_NAME_MAX + 1];
	unsigned bucket;
	size_t count;
	char *text; /* malloc'd, NUL-terminated */
	size_t len;
};

/** A serialized table. Owns its shards and index text. */
struct rs_table {
	unsigned buckets;
	size_t count; /* FIXSessions */
	struct rs_shard *shards;
	size_t nshards;
	char *index; /* the index text (RS_INDEX_KEY), malloc'd */
	size_t index_len;
	char digest[RS_HASH_HEX + 1]; /* SHA-256 of index */
};

/** SHA-256 of p[0..n) as lower-case hex into out (RS_HASH_HEX + 1 bytes). */
void rs_sha256_hex(const void *p, size_t n, char out[RS_HASH_HEX + 1]);

/** The bucket of a key among `buckets` (a power of two). */
unsigned rs_bucket(const char *key, size_t key_len, unsigned buckets);

/** Serialize n entries (any order; the result depends only on the set) into *out. Returns 0,
 * FIXGW_ENOMEM, FIXGW_EINVAL (a key or text with a forbidden byte, a duplicate key) or FIXGW_ELIMIT (an
 * entry larger than a shard, more than RS_MAX_FIXSESSIONS, or more than RS_MAX_BUCKETS needed). */
int rs_build(const struct rs_entry *e, size_t n, struct rs_table *out);

/** Free what rs_build made (the struct itself is the caller's). NULL-safe fields. */
void rs_table_free(struct rs_table *t);

/* ---- reading back (untrusted input) ---- */

/** One shard line of an index: views into the index text. */
struct rs_index_shard {
	unsigned bucket;
	size_t count;
	const char *name; /* RS_NAME_MAX bytes, not NUL-terminated */
};

/** A parsed index. */
struct rs_index {
	unsigned buckets;
	size_t count;   /* FIXSessions, the sum of the shards' counts */
	size_t nshards; /* shard lines */
	const char *text;
	size_t len;
	size_t shards_off; /* where the shard lines start */
};

/** Parse and check an index text against its digest (hex; NULL skips the check): the header, buckets a
 * power of two up to RS_MAX_BUCKETS, shard lines with ascending buckets below it, names of the right
 * form, counts adding up. Returns 0 or FIXGW_EINVAL with a reason in why. */
int rs_index_parse(const char *text, size_t len, const char *digest, struct rs_index *out, char *why,
                   size_t why_cap);

/** The shard line at *pos of a parsed index (start with *pos = 0), advancing *pos: 1, or 0 after the
 * last one. */
int rs_index_next(const struct rs_index *ix, size_t *pos, struct rs_index_shard *out);

/** A cursor over one shard's lines. */
struct rs_cursor {
	const char *text;
	size_t len, pos;
	unsigned bucket, buckets;
	size_t seen, expect;
	const char *name; /* the shard's name (RS_NAME_MAX bytes), for reasons */
	const char *prev_key;
	size_t prev_len;
};

/** Check a shard's text against its index line (SHA-256 equals the name's hash) and start a cursor.
 * Returns 0 or FIXGW_EINVAL with a reason in why. */
int rs_shard_open(struct rs_cursor *c, const struct rs_index *ix, const struct rs_index_shard *s,
                  const char *text, size_t len, char *why, size_t why_cap);

/** The next FIXSession of the shard (views into its text): 1, 0 at the end (when the count matched), or
 * FIXGW_EINVAL with a reason in why (a malformed line, a key out of order or in the wrong bucket, a
 * count that does not match the index). */
int rs_shard_next(struct rs_cursor *c, struct rs_entry *out, char *why, size_t why_cap);

#endif
