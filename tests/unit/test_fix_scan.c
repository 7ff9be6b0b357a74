/* test_fix_scan.c - the Logon scanner, the tag dictionary and the error strings.
 *
 * Every case goes through scan_all_ways(), which also feeds the bytes one at a time and split in two at
 * every point and requires the same verdict, fields and offsets as one shot.
 */
#include "core/fix_scan.c"
#include "core/fix_dict.c"
#include "core/errors.c"

#include <stdlib.h>

#include "test.h"

#define CAP 64
#define BUF 4096

struct result {
	enum fix_scan_status status;
	enum fix_scan_error error;
	size_t length;
	size_t nfields;
	int64_t body_length;
	bool mismatch;
	struct fix_field fields[CAP];
};

/* Copy s with '|' turned into SOH; returns the length. */
static size_t soh(char *dst, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		dst[i] = s[i] == '|' ? FIX_SOH : s[i];
	return n;
}

/* A well-formed message: BodyLength and CheckSum computed for body ("35=A|...|"). */
static size_t build(char *dst, const char *begin, const char *body)
{
	char b[BUF];
	size_t blen = soh(b, body), n;
	unsigned sum = 0;

	n = (size_t)sprintf(dst,
	                    "8=%s\x01"
	                    "9=%zu\x01",
	                    begin, blen);
	memcpy(dst + n, b, blen);
	n += blen;
	for (size_t i = 0; i < n; i++)
		sum += (unsigned char)dst[i];
	n += (size_t)sprintf(dst + n, "10=%03u\x01", sum % 256);
	return n;
}

static void capture(struct result *r, const struct fix_scanner *sc, enum fix_scan_status st)
{
	memset(r, 0, sizeof(*r));
	r->status = st;
	r->error = sc->error;
	r->nfields = sc->nfields;
	memcpy(r->fields, sc->fields, sc->nfields * sizeof(sc->fields[0]));
	if (st == FIX_SCAN_COMPLETE) {
		r->length = sc->length;
		r->body_length = sc->body_length;
		r->mismatch = sc->body_length_mismatch;
	}
}

static bool same(const struct result *a, const struct result *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Scan buf in pieces ending at cut[0] < cut[1] < ... < len; each step sees a longer prefix. */
static void scan_cuts(struct result *r, const char *buf, size_t len, const size_t *cut, size_t ncut,
                      size_t cap, size_t max)
{
	struct fix_field fields[CAP];
	struct fix_scanner sc;
	enum fix_scan_status st = FIX_SCAN_NEED_MORE;

	fix_scan_init(&sc, fields, cap, max);
	for (size_t i = 0; i < ncut; i++)
		st = fix_scan_step(&sc, buf, cut[i]);
	st = fix_scan_step(&sc, buf, len);
	capture(r, &sc, st);
}

/* One shot, then byte by byte, then every two-piece split: all must agree. */
static struct result scan_all_ways_cap(const char *buf, size_t len, size_t cap, size_t max)
{
	struct result one, other;
	struct fix_field fields[CAP];
	struct fix_scanner sc;
	enum fix_scan_status st = FIX_SCAN_NEED_MORE;

	scan_cuts(&one, buf, len, NULL, 0, cap, max);

	fix_scan_init(&sc, fields, cap, max);
	for (size_t k = 0; k <= len; k++) {
		st = fix_scan_step(&sc, buf, k);
		/* Resumption: while undecided, every byte seen so far has been examined exactly once. */
		if (st == FIX_SCAN_NEED_MORE)
			CHECK_EQ_INT(sc.cur_, k < sc.max_bytes ? k : sc.max_bytes);
	}
	capture(&other, &sc, st);
	if (!same(&one, &other)) {
		fprintf(stderr, "  byte-by-byte disagrees with one shot (len %zu)\n", len);
		test_failures_++;
	}

	for (size_t k = 0; k <= len; k++) {
		scan_cuts(&other, buf, len, &k, 1, cap, max);
		if (!same(&one, &other)) {
			fprintf(stderr, "  split at %zu disagrees with one shot (len %zu)\n", k, len);
			test_failures_++;
			break;
		}
	}
	return one;
}

static struct result scan_all_ways(const char *buf, size_t len)
{
	return scan_all_ways_cap(buf, len, CAP, 0);
}

/* Scan a '|'-written text. */
static struct result scan_text(const char *text)
{
	char buf[BUF];
	size_t n = soh(buf, text);

	return scan_all_ways(buf, n);
}

static bool value_is(const char *buf, const struct fix_field *f, const char *lit)
{
	return f->value_len == strlen(lit) && memcmp(buf + f->value_off, lit, f->value_len) == 0;
}

/* ---- valid Logons ---- */

TEST(test_logon_every_version)
{
	static const char *const versions[] = {"FIX.4.0", "FIX.4.1",  "FIX.4.2",    "FIX.4.3",
	                                       "FIX.4.4", "FIXT.1.1", "FIX.5.0SP2", "FIXT.9.9"};
	char buf[BUF];

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		size_t n = build(buf, versions[i],
		                 "35=A|34=1|49=CLIENT|52=20240101-12:00:00|56=GW|98=0|"
		                 "108=30|");
		struct result r = scan_all_ways(buf, n);

		CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
		CHECK_EQ_INT(r.length, n);
		CHECK_EQ_INT(r.nfields, 10);
		CHECK(!r.mismatch);
		CHECK(r.body_length > 0);
		CHECK_EQ_INT(r.fields[0].tag, 8);
		CHECK(value_is(buf, &r.fields[0], versions[i]));
		CHECK_EQ_INT(r.fields[1].tag, 9);
		CHECK_EQ_INT(r.fields[2].tag, 35);
		CHECK(value_is(buf, &r.fields[2], "A"));
		CHECK_EQ_INT(r.fields[4].tag, 49);
		CHECK(value_is(buf, &r.fields[4], "CLIENT"));
		CHECK_EQ_INT(r.fields[9].tag, 10);
		CHECK_EQ_INT(r.fields[9].value_len, 3);
	}
}

TEST(test_every_prefix_needs_more)
{
	char buf[BUF];
	size_t n = build(buf, "FIX.4.4", "35=A|49=A|56=B|95=7|96=a|49=X||554=pw|");
	struct fix_field fields[CAP];

	for (size_t k = 0; k < n; k++) {
		struct fix_scanner sc;

		fix_scan_init(&sc, fields, CAP, 0);
		CHECK_EQ_INT(fix_scan_step(&sc, buf, k), FIX_SCAN_NEED_MORE);
	}
}

TEST(test_verdict_is_sticky)
{
	char buf[BUF];
	size_t n = build(buf, "FIX.4.2", "35=A|49=A|56=B|");
	struct fix_field fields[CAP];
	struct fix_scanner sc;

	n += soh(buf + n, "8=FIX.4.2|9=5|35=D|");
	fix_scan_init(&sc, fields, CAP, 0);
	CHECK_EQ_INT(fix_scan_step(&sc, buf, n), FIX_SCAN_COMPLETE);
	size_t len = sc.length, nf = sc.nfields;
	CHECK_EQ_INT(fix_scan_step(&sc, buf, n), FIX_SCAN_COMPLETE);
	CHECK_EQ_INT(sc.length, len);
	CHECK_EQ_INT(sc.nfields, nf);

	fix_scan_init(&sc, fields, CAP, 0);
	CHECK_EQ_INT(fix_scan_step(&sc, "GET", 3), FIX_SCAN_INVALID);
	CHECK_EQ_INT(fix_scan_step(&sc, "8=FIX", 5), FIX_SCAN_INVALID);
	CHECK_EQ_INT(sc.error, FIX_SCAN_ERR_NOT_FIX);
}

/* Bytes after the Logon belong to the next message: never consumed, never looked at. */
TEST(test_pipelined_bytes_untouched)
{
	char buf[BUF];
	size_t n = build(buf, "FIX.4.4", "35=A|49=A|56=B|"), m;
	struct result r;

	m = n + soh(buf + n, "8=FIX.4.4|9=5|35=D|garbage\xff");
	r = scan_all_ways(buf, m);
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	CHECK_EQ_INT(r.length, n);
	CHECK_EQ_INT(r.nfields, 6);

	/* Even bytes that would be invalid, and even beyond max_bytes. */
	memset(buf + n, 0, 100);
	r = scan_all_ways_cap(buf, n + 100, CAP, n);
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	CHECK_EQ_INT(r.length, n);
}

/* ---- not FIX at all ---- */

static void expect_verdict(const char *buf, size_t len, enum fix_scan_status st, enum fix_scan_error err)
{
	struct result r = scan_all_ways(buf, len);

	CHECK_EQ_INT(r.status, st);
	CHECK_EQ_INT(r.error, err);
}

TEST(test_not_fix_at_once)
{
	static const char tls[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (char)0xfc, 0x03, 0x03};
	struct result r;

	expect_verdict("G", 1, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict(tls, 1, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict(tls, sizeof(tls), FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict("", 0, FIX_SCAN_NEED_MORE, FIX_SCAN_OK);
	expect_verdict("8", 1, FIX_SCAN_NEED_MORE, FIX_SCAN_OK);
	expect_verdict("8=", 2, FIX_SCAN_NEED_MORE, FIX_SCAN_OK);
	expect_verdict("8=FI", 4, FIX_SCAN_NEED_MORE, FIX_SCAN_OK);
	expect_verdict("8=FIY", 5, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict("8=fix", 5, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict("88=", 3, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict("8:", 2, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict("8=FI\x01", 5, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict("8=\x01", 3, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict("9=5\x01", 4, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);
	expect_verdict("\x01", 1, FIX_SCAN_INVALID, FIX_SCAN_ERR_NOT_FIX);

	r = scan_text("8=FIX.4.4|");
	CHECK_EQ_INT(r.status, FIX_SCAN_NEED_MORE);
	CHECK_EQ_INT(r.nfields, 1);
	r = scan_text("8=FIX|9");
	CHECK_EQ_INT(r.status, FIX_SCAN_NEED_MORE);
	r = scan_text("8=FIX.4.4|35=A|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_NOT_FIX);
	r = scan_text("8=FIX.4.4|99=");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_NOT_FIX);
	r = scan_text("8=FIX.4.4||");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_NOT_FIX);
}

TEST(test_random_binary_invalid_quickly)
{
	char buf[256];
	struct fix_field fields[CAP];

	srand(7);
	for (int round = 0; round < 2000; round++) {
		struct fix_scanner sc;
		size_t n = 1 + (size_t)rand() % sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = (char)(rand() & 0xff);
		if (buf[0] == '8')
			buf[0] = 'x';
		fix_scan_init(&sc, fields, CAP, 0);
		CHECK_EQ_INT(fix_scan_step(&sc, buf, 1), FIX_SCAN_INVALID);
		CHECK_EQ_INT(sc.error, FIX_SCAN_ERR_NOT_FIX);
	}
}

/* ---- MsgType ---- */

TEST(test_not_logon)
{
	char buf[BUF];
	size_t n = soh(buf, "8=FIX.4.4|9=5|35=D|");
	struct result r = scan_all_ways(buf, n);
	struct fix_scanner sc = {.fields = r.fields, .nfields = r.nfields};
	struct fix_field f = {0};

	CHECK_EQ_INT(r.status, FIX_SCAN_INVALID);
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_NOT_LOGON);
	/* The field is recorded so that the caller can say "35=D". */
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 35, &f), FIX_LOOKUP_FOUND);
	CHECK(value_is(buf, &f, "D"));

	/* Decided when the field is complete, not before. */
	r = scan_text("8=FIX.4.4|9=5|35=D");
	CHECK_EQ_INT(r.status, FIX_SCAN_NEED_MORE);
	r = scan_text("8=FIX.4.4|9=5|35=AB|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_NOT_LOGON);
	r = scan_text("8=FIX.4.4|9=5|35=|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_NOT_LOGON);
	r = scan_text("8=FIX.4.4|9=5|35=a|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_NOT_LOGON);
	/* A third field that is not 35 at all. */
	r = scan_text("8=FIX.4.4|9=5|34=1|35=A|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_NOT_LOGON);
	r = scan_text("8=FIX.4.4|9=5|3");
	CHECK_EQ_INT(r.status, FIX_SCAN_NEED_MORE);
	r = scan_text("8=FIX.4.4|9=5|355=A|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_NOT_LOGON);
	r = scan_text("8=FIX.4.4|9=5|35=A|");
	CHECK_EQ_INT(r.status, FIX_SCAN_NEED_MORE);
}

/* ---- BodyLength: recorded, never enforced ---- */

TEST(test_body_length_best_effort)
{
	static const struct {
		const char *text;
		int64_t body_length;
		bool mismatch;
	} cases[] = {
	    {"8=FIX.4.4|9=5|35=A|10=000|", 5, false},
	    {"8=FIX.4.4|9=6|35=A|10=000|", 6, true},
	    {"8=FIX.4.4|9=0|35=A|10=000|", 0, true},
	    {"8=FIX.4.4|9=000000005|35=A|10=000|", 5, false},
	    {"8=FIX.4.4|9=999999999|35=A|10=000|", 999999999, true},
	    {"8=FIX.4.4|9=1000000000|35=A|10=000|", -1, true},
	    {"8=FIX.4.4|9=|35=A|10=000|", -1, true},
	    {"8=FIX.4.4|9=-5|35=A|10=000|", -1, true},
	    {"8=FIX.4.4|9=+5|35=A|10=000|", -1, true},
	    {"8=FIX.4.4|9=5x|35=A|10=000|", -1, true},
	    {"8=FIX.4.4|9=11|35=A|49=AB|10=000|", 11, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r = scan_text(cases[i].text);

		CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
		CHECK_EQ_INT(r.body_length, cases[i].body_length);
		CHECK_EQ_INT(r.mismatch, cases[i].mismatch);
	}
}

/* ---- CheckSum: three digits end the message; the sum itself is not checked ---- */

TEST(test_checksum_field)
{
	struct result r;

	r = scan_text("8=FIX.4.4|9=5|35=A|10=999|");
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	r = scan_text("8=FIX.4.4|9=5|35=A|10=12|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_CHECKSUM_FIELD);
	r = scan_text("8=FIX.4.4|9=5|35=A|10=1234|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_CHECKSUM_FIELD);
	r = scan_text("8=FIX.4.4|9=5|35=A|10=1234");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_CHECKSUM_FIELD);
	r = scan_text("8=FIX.4.4|9=5|35=A|10=12a");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_CHECKSUM_FIELD);
	r = scan_text("8=FIX.4.4|9=5|35=A|10=|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_CHECKSUM_FIELD);
	r = scan_text("8=FIX.4.4|9=5|35=A|10=-12|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_CHECKSUM_FIELD);
	r = scan_text("8=FIX.4.4|9=5|35=A|10=123");
	CHECK_EQ_INT(r.status, FIX_SCAN_NEED_MORE);
	/* 100 and 010 are other tags, not CheckSum. */
	r = scan_text("8=FIX.4.4|9=5|35=A|100=x|");
	CHECK_EQ_INT(r.status, FIX_SCAN_NEED_MORE);
	r = scan_text("8=FIX.4.4|9=5|35=A|010=123|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_TAG);
	/* The first 10= ends the message, wherever BodyLength says it is. */
	r = scan_text("8=FIX.4.4|9=50|35=A|10=000|49=A|10=000|");
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	CHECK_EQ_INT(r.length, 27);
	CHECK(r.mismatch);
}

/* ---- tags and values ---- */

TEST(test_tags)
{
	struct result r;
	char buf[BUF];
	size_t n;

	r = scan_text("8=FIX.4.4|9=5|35=A|0=x|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_TAG);
	r = scan_text("8=FIX.4.4|9=5|35=A|0");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_TAG);
	r = scan_text("8=FIX.4.4|9=5|35=A|049=x|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_TAG);
	r = scan_text("8=FIX.4.4|9=5|35=A|=x|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_TAG);
	r = scan_text("8=FIX.4.4|9=5|35=A||");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_TAG);
	r = scan_text("8=FIX.4.4|9=5|35=A|4a=x|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_TAG);
	r = scan_text("8=FIX.4.4|9=5|35=A|-1=x|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_TAG);
	r = scan_text("8=FIX.4.4|9=5|35=A| 49=x|");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_TAG);
	/* Ten digits fail on the tenth, before any '='. */
	r = scan_text("8=FIX.4.4|9=5|35=A|1234567890");
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_TAG);
	r = scan_text("8=FIX.4.4|9=5|35=A|123456789");
	CHECK_EQ_INT(r.status, FIX_SCAN_NEED_MORE);

	n = soh(buf, "8=FIX.4.4|9=5|35=A|999999999=big|58=|49=a=b|10=000|");
	r = scan_all_ways(buf, n);
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	CHECK_EQ_INT(r.fields[3].tag, FIX_TAG_MAX);
	CHECK(value_is(buf, &r.fields[3], "big"));
	CHECK_EQ_INT(r.fields[4].tag, 58);
	CHECK_EQ_INT(r.fields[4].value_len, 0); /* empty values are allowed */
	CHECK(value_is(buf, &r.fields[5], "a=b"));
}

/* ---- length-prefixed data ---- */

TEST(test_raw_data_is_skipped)
{
	char buf[BUF];
	size_t n = build(buf, "FIX.4.4", "35=A|95=11|96=x|49=EVIL|y|553=u|");
	struct result r = scan_all_ways(buf, n);
	struct fix_scanner sc = {.fields = r.fields, .nfields = r.nfields};
	struct fix_field f = {0};

	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	CHECK(!r.mismatch);
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 49, &f), FIX_LOOKUP_ABSENT);
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 96, &f), FIX_LOOKUP_FOUND);
	CHECK_EQ_INT(f.value_len, 11);
	CHECK(memcmp(buf + f.value_off,
	             "x\x01"
	             "49=EVIL\x01y",
	             11) == 0);
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 553, &f), FIX_LOOKUP_FOUND);

	/* A data field may even hold "10=000<SOH>". */
	n = build(buf, "FIX.4.4", "35=A|95=7|96=10=000||49=A|");
	r = scan_all_ways(buf, n);
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	CHECK_EQ_INT(r.length, n);

	/* Empty data, leading zeros in the length. */
	r = scan_text("8=FIX.4.4|9=5|35=A|95=0|96=|95=003|96=||||10=000|");
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	CHECK_EQ_INT(r.fields[4].value_len, 0);
	CHECK_EQ_INT(r.fields[6].value_len, 3);
}

TEST(test_every_data_pair)
{
	for (size_t i = 0; i < COUNT(data_by_length); i++) {
		char text[256], buf[BUF];
		size_t n;
		struct result r;

		snprintf(text, sizeof(text), "35=A|%u=6|%u=|10=1||49=X|", data_by_length[i].key,
		         data_by_length[i].val);
		n = build(buf, "FIXT.1.1", text);
		r = scan_all_ways(buf, n);
		CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
		CHECK_EQ_INT(r.length, n);
		CHECK_EQ_INT(r.nfields, 7);
		CHECK_EQ_INT(r.fields[4].tag, data_by_length[i].val);
		CHECK_EQ_INT(r.fields[4].value_len, 6);
	}
}

TEST(test_bad_data_length)
{
	static const char *const bad[] = {
	    "8=FIX.4.4|9=5|35=A|95=-1|96=x|",
	    "8=FIX.4.4|9=5|35=A|95=+1|96=x|",
	    "8=FIX.4.4|9=5|35=A|95=abc|96=x|",
	    "8=FIX.4.4|9=5|35=A|95=|96=x|",
	    "8=FIX.4.4|9=5|35=A|95=1x|96=x|",
	    "8=FIX.4.4|9=5|35=A|95=1234567890|96=x|",
	    "8=FIX.4.4|9=5|35=A|95=99999999999999999999|96=x|",
	    /* the data is not followed by SOH where the length says */
	    "8=FIX.4.4|9=5|35=A|95=2|96=abc|",
	    "8=FIX.4.4|9=5|35=A|95=0|96=a|",
	    "8=FIX.4.4|9=5|35=A|90=1|91=ab|",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct result r = scan_text(bad[i]);

		CHECK_EQ_INT(r.status, FIX_SCAN_INVALID);
		CHECK_EQ_INT(r.error, FIX_SCAN_ERR_BAD_DATA_LENGTH);
	}
}

TEST(test_data_tag_not_adjacent)
{
	struct result r;
	char buf[BUF];
	size_t n;

	/* 96 not right after 95: an ordinary field ending at the first SOH. */
	n = soh(buf, "8=FIX.4.4|9=5|35=A|95=3|58=x|96=a|49=B|10=000|");
	r = scan_all_ways(buf, n);
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	CHECK_EQ_INT(r.fields[6].tag, 49);
	/* 96 alone, and a length field with an unusable value but no data after it. */
	r = scan_text("8=FIX.4.4|9=5|35=A|96=a|95=x|49=B|10=000|");
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	/* The wrong data tag for the length. */
	r = scan_text("8=FIX.4.4|9=5|35=A|95=30|91=a|10=000|");
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
}

TEST(test_data_length_too_large_at_once)
{
	struct result r;
	char buf[BUF];
	size_t n;

	n = soh(buf, "8=FIX.4.4|9=5|35=A|95=999999999|96=");
	r = scan_all_ways(buf, n);
	CHECK_EQ_INT(r.status, FIX_SCAN_INVALID);
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_TOO_LARGE);

	/* The bound: data, its SOH and "10=nnn<SOH>" must fit in max_bytes. */
	n = soh(buf, "8=FIX.4.4|9=5|35=A|95=5|96=abcde|10=000|");
	r = scan_all_ways_cap(buf, n, CAP, n);
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	r = scan_all_ways_cap(buf, n, CAP, n - 1);
	CHECK_EQ_INT(r.status, FIX_SCAN_INVALID);
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_TOO_LARGE);
	r = scan_all_ways_cap(buf, 27, CAP, n - 1); /* up to "96=": already decided */
	CHECK_EQ_INT(r.status, FIX_SCAN_INVALID);
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_TOO_LARGE);
}

/* ---- bounds ---- */

TEST(test_too_large)
{
	char buf[BUF];
	size_t n = build(buf, "FIX.4.4", "35=A|49=SENDER|56=TARGET|58=some text|");
	struct result r;

	r = scan_all_ways_cap(buf, n, CAP, n);
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	r = scan_all_ways_cap(buf, n - 1, CAP, n - 1);
	CHECK_EQ_INT(r.status, FIX_SCAN_NEED_MORE);
	r = scan_all_ways_cap(buf, n, CAP, n - 1);
	CHECK_EQ_INT(r.status, FIX_SCAN_INVALID);
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_TOO_LARGE);

	/* A value that never ends. */
	memset(buf, 'x', sizeof(buf));
	n = soh(buf, "8=FIX.4.4|9=5|35=A|58=");
	r = scan_all_ways_cap(buf, 1000, CAP, 999);
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_TOO_LARGE);
	r = scan_all_ways_cap(buf, 999, CAP, 999);
	CHECK_EQ_INT(r.status, FIX_SCAN_NEED_MORE);
}

TEST(test_default_max_bytes)
{
	static char buf[FIX_SCAN_DEFAULT_MAX_BYTES + 2];
	struct fix_field fields[CAP];
	struct fix_scanner sc;
	size_t n = soh(buf, "8=FIX.4.4|9=5|35=A|58=");

	memset(buf + n, 'x', sizeof(buf) - n);
	fix_scan_init(&sc, fields, CAP, 0);
	CHECK_EQ_INT(sc.max_bytes, FIX_SCAN_DEFAULT_MAX_BYTES);
	/* One byte at a time: linear, so this takes no time at all. */
	for (size_t k = 0; k <= FIX_SCAN_DEFAULT_MAX_BYTES; k++)
		CHECK_EQ_INT(fix_scan_step(&sc, buf, k), FIX_SCAN_NEED_MORE);
	CHECK_EQ_INT(fix_scan_step(&sc, buf, sizeof(buf)), FIX_SCAN_INVALID);
	CHECK_EQ_INT(sc.error, FIX_SCAN_ERR_TOO_LARGE);
}

TEST(test_too_many_fields)
{
	char buf[BUF];
	size_t n = build(buf, "FIX.4.4", "35=A|49=A|56=B|");
	struct result r;

	r = scan_all_ways_cap(buf, n, 6, 0);
	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	r = scan_all_ways_cap(buf, n, 5, 0);
	CHECK_EQ_INT(r.status, FIX_SCAN_INVALID);
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_TOO_MANY_FIELDS);
	CHECK_EQ_INT(r.nfields, 5);
	/* Decided when the extra field starts. */
	r = scan_all_ways_cap(buf, 30, 3, 0);
	CHECK_EQ_INT(r.status, FIX_SCAN_INVALID);
	CHECK_EQ_INT(r.error, FIX_SCAN_ERR_TOO_MANY_FIELDS);
}

/* ---- lookups ---- */

TEST(test_find)
{
	char buf[BUF];
	size_t n = soh(buf, "8=FIX.4.4|9=5|35=A|49=A|56=B|49=A|57=X|57=Y|57=X|10=000|");
	struct result r = scan_all_ways(buf, n);
	struct fix_scanner sc = {.fields = r.fields, .nfields = r.nfields};
	struct fix_field f = {0};

	CHECK_EQ_INT(r.status, FIX_SCAN_COMPLETE);
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 49, &f), FIX_LOOKUP_FOUND);
	CHECK_EQ_INT(f.value_off, 22);
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 56, &f), FIX_LOOKUP_FOUND);
	CHECK(value_is(buf, &f, "B"));
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 57, &f), FIX_LOOKUP_AMBIGUOUS);
	CHECK(value_is(buf, &f, "X"));
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 50, &f), FIX_LOOKUP_ABSENT);
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 50, NULL), FIX_LOOKUP_ABSENT);
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 10, NULL), FIX_LOOKUP_FOUND);

	/* "A" vs "AB": same prefix, different values. */
	n = soh(buf, "8=FIX.4.4|9=5|35=A|49=A|49=AB|");
	r = scan_all_ways(buf, n);
	sc.fields = r.fields;
	sc.nfields = r.nfields;
	CHECK_EQ_INT(fix_scan_find(&sc, buf, 49, &f), FIX_LOOKUP_AMBIGUOUS);
	CHECK(value_is(buf, &f, "A"));
}

TEST(test_begin_string)
{
	struct fix_field fields[CAP];
	struct fix_scanner sc;
	struct fix_field bs;
	const char *text = "8=FIXT.1.1\x01"
	                   "9";

	fix_scan_init(&sc, fields, CAP, 0);
	bs = fix_scan_begin_string(&sc);
	CHECK_EQ_INT(bs.value_len, 0);
	fix_scan_step(&sc, text, 6);
	CHECK_EQ_INT(fix_scan_begin_string(&sc).value_len, 0);
	CHECK_EQ_INT(fix_scan_step(&sc, text, strlen(text)), FIX_SCAN_NEED_MORE);
	bs = fix_scan_begin_string(&sc);
	CHECK_EQ_INT(bs.tag, 8);
	CHECK(value_is(text, &bs, "FIXT.1.1"));
}

TEST(test_init_clamps)
{
	struct fix_scanner sc;

	fix_scan_init(&sc, NULL, 10, 0);
	CHECK_EQ_INT(sc.field_cap, 0);
	CHECK_EQ_INT(fix_scan_step(&sc, "8=FIX.4.4\x01", 10), FIX_SCAN_INVALID);
	CHECK_EQ_INT(sc.error, FIX_SCAN_ERR_TOO_MANY_FIELDS);
	if (sizeof(size_t) > 4) {
		fix_scan_init(&sc, NULL, 0, (size_t)UINT32_MAX + 5);
		CHECK_EQ_INT(sc.max_bytes, UINT32_MAX);
	}
}

/* ---- fix_dict ---- */

TEST(test_dict_tables_sorted)
{
	for (size_t i = 1; i < COUNT(data_by_length); i++)
		CHECK(data_by_length[i - 1].key < data_by_length[i].key);
	for (size_t i = 1; i < COUNT(length_by_data); i++)
		CHECK(length_by_data[i - 1].key < length_by_data[i].key);
	for (size_t i = 1; i < COUNT(secret_tags); i++)
		CHECK(secret_tags[i - 1] < secret_tags[i]);
	for (size_t i = 1; i < COUNT(tag_names); i++)
		CHECK(tag_names[i - 1].tag < tag_names[i].tag);
	CHECK_EQ_INT(COUNT(data_by_length), COUNT(length_by_data));
	for (size_t i = 0; i < COUNT(data_by_length); i++) {
		uint32_t d = fix_dict_data_tag_for_length(data_by_length[i].key);

		CHECK_EQ_INT(fix_dict_length_tag_for_data(d), data_by_length[i].key);
	}
}

TEST(test_dict_data_tags)
{
	static const uint32_t pairs[][2] = {
	    {90, 91},     {93, 89},     {95, 96},     {212, 213},   {348, 349},   {350, 351},
	    {352, 353},   {354, 355},   {356, 357},   {358, 359},   {360, 361},   {362, 363},
	    {364, 365},   {445, 446},   {618, 619},   {621, 622},   {1184, 1185}, {1277, 1278},
	    {1280, 1281}, {1282, 1283}, {1397, 1398}, {1401, 1402}, {1403, 1404}, {1468, 1469},
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		CHECK_EQ_INT(fix_dict_data_tag_for_length(pairs[i][0]), pairs[i][1]);
		CHECK_EQ_INT(fix_dict_length_tag_for_data(pairs[i][1]), pairs[i][0]);
	}
	CHECK_EQ_INT(fix_dict_data_tag_for_length(96), 0);
	CHECK_EQ_INT(fix_dict_data_tag_for_length(0), 0);
	CHECK_EQ_INT(fix_dict_data_tag_for_length(UINT32_MAX), 0);
	CHECK_EQ_INT(fix_dict_length_tag_for_data(95), 0);
	CHECK_EQ_INT(fix_dict_length_tag_for_data(49), 0);
}

TEST(test_dict_secrets)
{
	static const uint32_t secrets[] = {554, 925, 95, 96, 90, 91, 1400, 1401, 1402, 1403, 1404};
	static const uint32_t plain[] = {0, 8, 49, 56, 89, 93, 553, 1399, 1405, UINT32_MAX};

	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		CHECK(fix_dict_is_secret(secrets[i]));
		CHECK(fix_dict_is_unroutable(secrets[i]));
	}
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		CHECK(!fix_dict_is_secret(plain[i]));
	CHECK(fix_dict_is_unroutable(9));
	CHECK(fix_dict_is_unroutable(10));
	CHECK(fix_dict_is_unroutable(35));
	CHECK(!fix_dict_is_unroutable(8));
	CHECK(!fix_dict_is_unroutable(49));
	CHECK(!fix_dict_is_unroutable(56));
	CHECK(!fix_dict_is_unroutable(553));
}

TEST(test_dict_names)
{
	static const struct tag_name want[] = {
	    {8, "BeginString"},
	    {9, "BodyLength"},
	    {10, "CheckSum"},
	    {34, "MsgSeqNum"},
	    {35, "MsgType"},
	    {49, "SenderCompID"},
	    {50, "SenderSubID"},
	    {52, "SendingTime"},
	    {56, "TargetCompID"},
	    {57, "TargetSubID"},
	    {58, "Text"},
	    {98, "EncryptMethod"},
	    {108, "HeartBtInt"},
	    {115, "OnBehalfOfCompID"},
	    {116, "OnBehalfOfSubID"},
	    {128, "DeliverToCompID"},
	    {129, "DeliverToSubID"},
	    {141, "ResetSeqNumFlag"},
	    {142, "SenderLocationID"},
	    {143, "TargetLocationID"},
	    {144, "OnBehalfOfLocationID"},
	    {145, "DeliverToLocationID"},
	    {347, "MessageEncoding"},
	    {383, "MaxMessageSize"},
	    {384, "NoMsgTypes"},
	    {553, "Username"},
	    {554, "Password"},
	    {789, "NextExpectedMsgSeqNum"},
	    {925, "NewPassword"},
	    {1128, "ApplVerID"},
	    {1129, "CstmApplVerID"},
	    {1137, "DefaultApplVerID"},
	    {1400, "EncryptedPasswordMethod"},
	    {1401, "EncryptedPasswordLen"},
	    {1402, "EncryptedPassword"},
	    {1403, "EncryptedNewPasswordLen"},
	    {1404, "EncryptedNewPassword"},
	    {1407, "DefaultApplExtID"},
	    {1408, "DefaultCstmApplVerID"},
	    {1409, "SessionStatus"},
	};
	static const uint32_t named[] = {43, 89, 90, 91, 93, 95, 96, 97, 369};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK_EQ_STR(fix_dict_name(want[i].tag), want[i].name);
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		CHECK(fix_dict_name(named[i]) != NULL);
	CHECK(fix_dict_name(0) == NULL);
	CHECK(fix_dict_name(7) == NULL);
	CHECK(fix_dict_name(99999) == NULL);
}

/* ---- error strings ---- */

TEST(test_error_strings)
{
	for (int e = FIX_SCAN_OK; e <= FIX_SCAN_ERR_BAD_CHECKSUM_FIELD; e++) {
		CHECK(fix_scan_error_str((enum fix_scan_error)e) != NULL);
		for (int f = FIX_SCAN_OK; f < e; f++)
			CHECK(strcmp(fix_scan_error_str((enum fix_scan_error)e),
			             fix_scan_error_str((enum fix_scan_error)f)) != 0);
	}
}

TEST_MAIN(TEST_ENTRY(test_logon_every_version), TEST_ENTRY(test_every_prefix_needs_more),
          TEST_ENTRY(test_verdict_is_sticky), TEST_ENTRY(test_pipelined_bytes_untouched),
          TEST_ENTRY(test_not_fix_at_once), TEST_ENTRY(test_random_binary_invalid_quickly),
          TEST_ENTRY(test_not_logon), TEST_ENTRY(test_body_length_best_effort),
          TEST_ENTRY(test_checksum_field), TEST_ENTRY(test_tags), TEST_ENTRY(test_raw_data_is_skipped),
          TEST_ENTRY(test_every_data_pair), TEST_ENTRY(test_bad_data_length),
          TEST_ENTRY(test_data_tag_not_adjacent), TEST_ENTRY(test_data_length_too_large_at_once),
          TEST_ENTRY(test_too_large), TEST_ENTRY(test_default_max_bytes), TEST_ENTRY(test_too_many_fields),
          TEST_ENTRY(test_find), TEST_ENTRY(test_begin_string), TEST_ENTRY(test_init_clamps),
          TEST_ENTRY(test_dict_tables_sorted), TEST_ENTRY(test_dict_data_tags), TEST_ENTRY(test_dict_secrets),
          TEST_ENTRY(test_dict_names), TEST_ENTRY(test_error_strings))
