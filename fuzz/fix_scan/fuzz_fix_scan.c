/* fuzz_fix_scan.c - libFuzzer target for the Logon scanner and the dump renderer.
 *
 * Properties checked on every input:
 *  - the verdict, fields and offsets are the same whether the bytes come in one piece, in three pieces
 *    (split points taken from the input) or one byte at a time;
 *  - results stay inside the input, max_bytes and the field array;
 *  - redact_dump() terminates, NUL-terminates and stays within cap;
 *  - for every field the scanner completed (whatever the verdict), bytes of secret (and policy-masked)
 *    values never reach the dump: they are rewritten to a letter found nowhere else, and that letter must
 *    not appear in the output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/fix_dict.h"
#include "core/fix_scan.h"
#include "core/redact.h"

#define FIELDS 64

struct outcome {
	enum fix_scan_status status;
	enum fix_scan_error error;
	size_t nfields;
	size_t length;
	int64_t body_length;
	bool mismatch;
	struct fix_field fields[FIELDS];
};

#define REQUIRE(c)                                                                                           \
	do {                                                                                                 \
		if (!(c))                                                                                    \
			abort();                                                                             \
	} while (0)

static void record(struct outcome *o, const struct fix_scanner *sc, enum fix_scan_status st)
{
	memset(o, 0, sizeof(*o));
	o->status = st;
	o->error = sc->error;
	o->nfields = sc->nfields;
	memcpy(o->fields, sc->fields, sc->nfields * sizeof(sc->fields[0]));
	if (st == FIX_SCAN_COMPLETE) {
		o->length = sc->length;
		o->body_length = sc->body_length;
		o->mismatch = sc->body_length_mismatch;
	}
}

/* Feed buf in pieces ending at cuts[0..ncuts) and finally at len. */
static void scan(struct outcome *o, const char *buf, size_t len, const size_t *cuts, size_t ncuts, size_t cap,
                 size_t max)
{
	struct fix_field fields[FIELDS];
	struct fix_scanner sc;

	fix_scan_init(&sc, fields, cap, max);
	for (size_t i = 0; i < ncuts; i++)
		fix_scan_step(&sc, buf, cuts[i]);
	record(o, &sc, fix_scan_step(&sc, buf, len));
}

static void check_invariants(const struct outcome *o, const char *buf, size_t len, size_t cap, size_t max)
{
	size_t limit = o->status == FIX_SCAN_COMPLETE ? o->length : len;

	REQUIRE(o->nfields <= cap);
	REQUIRE((o->status == FIX_SCAN_INVALID) == (o->error != FIX_SCAN_OK));
	if (o->status == FIX_SCAN_NEED_MORE)
		REQUIRE(len <= max);
	if (o->status == FIX_SCAN_COMPLETE) {
		REQUIRE(o->length <= len && o->length <= max);
		REQUIRE(o->nfields >= 4);
		REQUIRE(o->fields[o->nfields - 1].tag == FIX_TAG_CHECKSUM);
		REQUIRE(buf[o->length - 1] == FIX_SOH);
		REQUIRE(memcmp(buf + o->fields[0].value_off, "FIX", 3) == 0);
		REQUIRE(o->body_length >= -1);
	}
	if (o->nfields >= 3) {
		REQUIRE(o->fields[0].tag == 8 && o->fields[1].tag == 9 && o->fields[2].tag == 35);
	}
	for (size_t i = 0; i < o->nfields; i++) {
		const struct fix_field *f = &o->fields[i];

		REQUIRE(f->tag > 0 && f->tag <= FIX_TAG_MAX);
		REQUIRE((size_t)f->value_off + f->value_len < limit); /* a SOH follows every value */
		REQUIRE(buf[f->value_off + f->value_len] == FIX_SOH);
		REQUIRE(buf[f->value_off - 1] == '=');
	}
}

static void check_lookups(const struct outcome *o, const char *buf)
{
	struct fix_scanner sc;

	memset(&sc, 0, sizeof(sc));
	sc.fields = (struct fix_field *)o->fields;
	sc.nfields = o->nfields;
	for (size_t i = 0; i < o->nfields; i++) {
		struct fix_field f;
		enum fix_lookup r = fix_scan_find(&sc, buf, o->fields[i].tag, &f);

		REQUIRE(r == FIX_LOOKUP_FOUND || r == FIX_LOOKUP_AMBIGUOUS);
		REQUIRE(f.value_off <= o->fields[i].value_off);
	}
}

static const struct redact_rule rules[] = {
    {49, REDACT_MASK}, {50, REDACT_HIDE}, {95, REDACT_HIDE}, {553, REDACT_MASK}, {925, REDACT_HIDE},
};
static const struct redact_policy policy = {rules, sizeof(rules) / sizeof(rules[0])};

static void check_dump(const struct redact_policy *p, const char *buf, size_t len)
{
	static const size_t caps[] = {0, 1, 2, 4, 16, 100};
	char small[128];

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		size_t n;

		memset(small, 0x5a, sizeof(small));
		n = redact_dump(p, buf, len, small, caps[i]);
		if (caps[i] == 0) {
			REQUIRE(n == 0 && (unsigned char)small[0] == 0x5a);
			continue;
		}
		REQUIRE(n < caps[i] && small[n] == '\0' && strlen(small) == n);
		REQUIRE((unsigned char)small[caps[i]] == 0x5a);
	}
}

/* A letter absent from buf and from "[REDACTED]" and "\xNN" escapes, or 0. */
static char absent_letter(const char *buf, size_t len)
{
	static const char candidates[] = "BFGHIJKLMNOPQSUVWXYZ";

	for (const char *c = candidates; *c; c++)
		if (!memchr(buf, *c, len))
			return *c;
	return 0;
}

/* Rewrite every value the policy does not show (but not data lengths, which the renderer reads) and
 * require the dump to contain none of it. */
static void check_secret_oracle(const struct redact_policy *p, const struct outcome *o, const char *buf,
                                size_t len)
{
	char mark = absent_letter(buf, len);
	size_t cap = 4 * len + 16;
	char *copy, *out;
	size_t n;

	if (!mark)
		return;
	copy = malloc(len);
	out = malloc(cap);
	REQUIRE(copy && out);
	memcpy(copy, buf, len);
	for (size_t i = 0; i < o->nfields; i++) {
		const struct fix_field *f = &o->fields[i];

		if (redact_action_for(p, f->tag) == REDACT_SHOW || fix_dict_data_tag_for_length(f->tag))
			continue;
		memset(copy + f->value_off, mark, f->value_len);
	}
	n = redact_dump(p, copy, len, out, cap);
	REQUIRE(n < cap);
	REQUIRE(!memchr(out, mark, n));
	free(copy);
	free(out);
}

static void run(const char *buf, size_t len, size_t cap, size_t max)
{
	struct outcome one, other;
	uint32_t h = 2166136261u;
	size_t cuts[2];

	scan(&one, buf, len, NULL, 0, cap, max);
	check_invariants(&one, buf, len, cap, max ? max : FIX_SCAN_DEFAULT_MAX_BYTES);
	check_lookups(&one, buf);

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)buf[i]) * 16777619u;
	cuts[0] = len ? h % (len + 1) : 0;
	cuts[1] = cuts[0] + ((h >> 16) % (len - cuts[0] + 1));
	scan(&other, buf, len, cuts, 2, cap, max);
	REQUIRE(memcmp(&one, &other, sizeof(one)) == 0);

	cuts[0] = len / 2;
	scan(&other, buf, len, cuts, 1, cap, max);
	REQUIRE(memcmp(&one, &other, sizeof(one)) == 0);

	if (len <= 512) {
		struct fix_field fields[FIELDS];
		struct fix_scanner sc;
		enum fix_scan_status st = FIX_SCAN_NEED_MORE;

		fix_scan_init(&sc, fields, cap, max);
		for (size_t k = 0; k <= len; k++)
			st = fix_scan_step(&sc, buf, k);
		record(&other, &sc, st);
		REQUIRE(memcmp(&one, &other, sizeof(one)) == 0);
	}

	/* Fields completed before any verdict are real fields too (the bytes after them may be anything). */
	check_secret_oracle(NULL, &one, buf, len);
	check_secret_oracle(&policy, &one, buf, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;

	run(buf, size, FIELDS, 0);
	run(buf, size, 8, 200); /* small bounds, so that TOO_LARGE and TOO_MANY_FIELDS happen */
	check_dump(NULL, buf, size);
	check_dump(&policy, buf, size);
	return 0;
}
