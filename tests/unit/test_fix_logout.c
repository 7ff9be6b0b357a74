/* test_fix_logout.c - the reject engine's Logout: exact bytes, framing recomputed here, hostile input. */
#include "core/fix_logout.c"

#include <stdlib.h>

#include "test.h"

#define REASON "No matching session configuration"

/* 2024-01-02T03:04:05.678Z */
static const struct timespec t_2024 = {1704164645, 678000000L};

/* One scanned Logon: the buffer the scanner's views point into, and the scanner. */
struct logon {
	char buf[4096];
	size_t len;
	struct fix_field fields[64];
	struct fix_scanner sc;
	enum fix_scan_status status;
};

static unsigned sum_bytes(const char *p, size_t n)
{
	unsigned s = 0;
	for (size_t i = 0; i < n; i++)
		s += (unsigned char)p[i];
	return s % 256;
}

/* Build "8=<bs>|9=<n>|<body>10=<sum>|" with '|' read as SOH in both arguments, then scan it with the
 * real scanner. The Logon's own 9 and 10 are correct too, although the scanner never checks them. */
static void logon_scan(struct logon *l, const char *bs, const char *body)
{
	char b[2048];
	size_t n = strlen(body);
	memcpy(b, body, n + 1);
	for (size_t i = 0; i < n; i++)
		if (b[i] == '|')
			b[i] = '\x01';
	int k = snprintf(l->buf, sizeof(l->buf),
	                 "8=%s\x01"
	                 "9=%zu\x01%s",
	                 bs, n, b);
	l->len = (size_t)k;
	k = snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "10=%03u\x01", sum_bytes(l->buf, l->len));
	l->len += (size_t)k;
	fix_scan_init(&l->sc, l->fields, sizeof(l->fields) / sizeof(l->fields[0]), 0);
	l->status = fix_scan_step(&l->sc, l->buf, l->len);
}

/* '|' -> SOH, for readable expected messages. */
static size_t soh(char *out, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++)
		out[i] = s[i] == '|' ? '\x01' : s[i];
	out[n] = '\0';
	return n;
}

/* Recompute BodyLength and CheckSum of a built message without the code under test: the message must
 * be 8=..|9=N|<N bytes>10=ddd| with ddd the byte sum of everything before 10= modulo 256. */
static int framing_ok(const char *m, size_t len)
{
	if (len < 7 || memcmp(m, "8=", 2) != 0 || m[len - 1] != '\x01')
		return 0;
	const char *soh1 = memchr(m, '\x01', len);
	if (!soh1 || (size_t)(soh1 - m) + 3 > len || memcmp(soh1 + 1, "9=", 2) != 0)
		return 0;
	char *end;
	unsigned long body = strtoul(soh1 + 3, &end, 10);
	if (*end != '\x01')
		return 0;
	size_t body_start = (size_t)(end + 1 - m);
	size_t trailer = len - 7;
	if (body_start + body != trailer || memcmp(m + trailer, "10=", 3) != 0)
		return 0;
	unsigned want = sum_bytes(m, trailer);
	unsigned got = (unsigned)(m[trailer + 3] - '0') * 100 + (unsigned)(m[trailer + 4] - '0') * 10 +
	               (unsigned)(m[trailer + 5] - '0');
	return want == got;
}

static int contains(const char *m, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(m + i, needle, n) == 0)
			return 1;
	return 0;
}

TEST(fix42_exact_bytes)
{
	struct logon l;
	logon_scan(&l, "FIX.4.2",
	           "35=A|34=1|49=BROKER_A|52=20240102-03:04:04.000|56=GATEWAY|50=DESK1|57=ALGO|98=0|108=30|"
	           "553=alice|554=s3cret|20001=VWAP|");
	CHECK_EQ_INT(l.status, FIX_SCAN_COMPLETE);

	char out[FIX_LOGOUT_MAX_BYTES], want[512];
	size_t len = 99;
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, REASON, &t_2024, out, sizeof(out), &len), 0);
	size_t wlen = soh(want, "8=FIX.4.2|9=112|35=5|49=GATEWAY|56=BROKER_A|34=1|52=20240102-03:04:05.678|"
	                        "50=ALGO|57=DESK1|58=" REASON "|10=205|");
	CHECK_EQ_INT(len, wlen);
	CHECK(len == wlen && memcmp(out, want, len) == 0);
	CHECK(framing_ok(out, len));
	/* nothing else from the Logon is echoed */
	CHECK(!contains(out, len, "alice"));
	CHECK(!contains(out, len, "s3cret"));
	CHECK(!contains(out, len, "VWAP"));
	CHECK(!contains(out, len, "108="));
}

TEST(fixt11_exact_bytes_no_applverid)
{
	struct logon l;
	logon_scan(&l, "FIXT.1.1",
	           "35=A|34=1|49=BROKER_B|56=GATEWAY|142=NY|143=LDN|52=20240102-03:04:04.000|98=0|108=30|"
	           "1137=9|141=Y|");
	CHECK_EQ_INT(l.status, FIX_SCAN_COMPLETE);

	char out[FIX_LOGOUT_MAX_BYTES], want[512];
	size_t len = 0;
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, REASON, &t_2024, out, sizeof(out), &len), 0);
	size_t wlen = soh(want, "8=FIXT.1.1|9=110|35=5|49=GATEWAY|56=BROKER_B|34=1|52=20240102-03:04:05.678|"
	                        "142=LDN|143=NY|58=" REASON "|10=132|");
	CHECK_EQ_INT(len, wlen);
	CHECK(len == wlen && memcmp(out, want, len) == 0);
	CHECK(framing_ok(out, len));
	CHECK(!contains(out, len, "1128="));
	CHECK(!contains(out, len, "1137="));
	CHECK(!contains(out, len, "141="));
}

TEST(missing_target_and_no_reason)
{
	/* no 56 in the Logon: the Logout has no 49; no reason: no 58 */
	struct logon l;
	logon_scan(&l, "FIX.4.4", "35=A|34=1|49=BROKER_C|52=20240102-03:04:04.000|98=0|108=30|");
	CHECK_EQ_INT(l.status, FIX_SCAN_COMPLETE);

	char out[FIX_LOGOUT_MAX_BYTES], want[256];
	size_t len = 0;
	struct timespec epoch = {0, 0};
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, NULL, &epoch, out, sizeof(out), &len), 0);
	size_t wlen = soh(want, "8=FIX.4.4|9=47|35=5|56=BROKER_C|34=1|52=19700101-00:00:00.000|10=123|");
	CHECK(len == wlen && memcmp(out, want, len) == 0);
	CHECK(framing_ok(out, len));

	/* "" is the same as NULL */
	size_t len2 = 0;
	char out2[FIX_LOGOUT_MAX_BYTES];
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, "", &epoch, out2, sizeof(out2), &len2), 0);
	CHECK(len2 == len && memcmp(out2, out, len) == 0);
}

TEST(missing_both_compids)
{
	struct logon l;
	logon_scan(&l, "FIX.4.4", "35=A|34=1|52=20240102-03:04:04.000|98=0|108=30|");
	char out[FIX_LOGOUT_MAX_BYTES];
	size_t len = 0;
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, "x", &t_2024, out, sizeof(out), &len), 0);
	CHECK(framing_ok(out, len));
	CHECK(!contains(out, len,
	                "\x01"
	                "49="));
	CHECK(!contains(out, len,
	                "\x01"
	                "56="));
	CHECK(contains(out, len,
	               "\x01"
	               "58=x\x01"));
}

TEST(empty_value_is_omitted)
{
	struct logon l;
	logon_scan(&l, "FIX.4.4", "35=A|34=1|49=BROKER_D|56=|52=20240102-03:04:04.000|98=0|108=30|");
	char out[FIX_LOGOUT_MAX_BYTES];
	size_t len = 0;
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, REASON, &t_2024, out, sizeof(out), &len), 0);
	CHECK(framing_ok(out, len));
	CHECK(!contains(out, len,
	                "\x01"
	                "49="));
	CHECK(contains(out, len,
	               "\x01"
	               "56=BROKER_D\x01"));
}

TEST(sending_time_format)
{
	struct logon l;
	logon_scan(&l, "FIX.4.4", "35=A|34=1|49=A|56=B|98=0|108=30|");
	char out[FIX_LOGOUT_MAX_BYTES];
	size_t len = 0;

	struct timespec t = {1704164645, 999999999L}; /* milliseconds truncate, never round up */
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, NULL, &t, out, sizeof(out), &len), 0);
	CHECK(contains(out, len,
	               "\x01"
	               "52=20240102-03:04:05.999\x01"));

	t = (struct timespec){951782400 + 86399, 1000000L}; /* leap day 2000 */
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, NULL, &t, out, sizeof(out), &len), 0);
	CHECK(contains(out, len,
	               "\x01"
	               "52=20000229-23:59:59.001\x01"));

	t = (struct timespec){0, 1000000000L};
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, NULL, &t, out, sizeof(out), &len), FIXGW_EINVAL);
	CHECK_EQ_INT(len, 0);
	t = (struct timespec){0, -1};
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, NULL, &t, out, sizeof(out), &len), FIXGW_EINVAL);
	t = (struct timespec){253402300800LL, 0}; /* 10000-01-01 */
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, NULL, &t, out, sizeof(out), &len), FIXGW_EINVAL);
	t = (struct timespec){253402300799LL, 0}; /* 9999-12-31T23:59:59 */
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, NULL, &t, out, sizeof(out), &len), 0);
	CHECK(contains(out, len,
	               "\x01"
	               "52=99991231-23:59:59.000\x01"));
}

/* Each identity tag with each hostile value is refused; the same Logon with a clean value is not. */
TEST(hostile_values_rejected)
{
	static const char *const tags[] = {"49", "56", "50", "57", "142", "143"};
	static const char *const bad[] = {
	    "A\177B",    "A\200B",
	    "A\377B",    "A\tB",
	    "A\rB",      "A\nB",
	    "A\033[2JB", "0123456789012345678901234567890123456789012345678901234567890123X", /* 65 bytes */
	};
	char body[512], out[FIX_LOGOUT_MAX_BYTES];
	size_t len;
	struct logon l;

	for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			snprintf(body, sizeof(body), "35=A|34=1|%s=%s|98=0|108=30|", tags[t], bad[b]);
			logon_scan(&l, "FIX.4.4", body);
			len = 7;
			int rc = fix_logout_build(&l.sc, l.buf, REASON, &t_2024, out, sizeof(out), &len);
			if (rc != FIXGW_EINVAL)
				fprintf(stderr, "tag %s bad value #%zu: rc %d\n", tags[t], b, rc);
			CHECK_EQ_INT(rc, FIXGW_EINVAL);
			CHECK_EQ_INT(len, 0);
		}
		/* 64 bytes and every printable byte (including '=' and space) are fine */
		snprintf(
		    body, sizeof(body),
		    "35=A|34=1|%s=0123456789012345678901234567890123456789012345678901234567890123|98=0|",
		    tags[t]);
		logon_scan(&l, "FIX.4.4", body);
		CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, REASON, &t_2024, out, sizeof(out), &len), 0);
		snprintf(body, sizeof(body), "35=A|34=1|%s= !\"#$%%&'()*+,-./:;<=>?@[\\]^_`{}~|98=0|",
		         tags[t]);
		logon_scan(&l, "FIX.4.4", body);
		CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, REASON, &t_2024, out, sizeof(out), &len), 0);
		CHECK(framing_ok(out, len));
	}
}

TEST(hostile_reason_rejected)
{
	struct logon l;
	logon_scan(&l, "FIX.4.4", "35=A|34=1|49=A|56=B|98=0|108=30|");
	char out[FIX_LOGOUT_MAX_BYTES];
	size_t len;
	static const char *const bad[] = {"no\00110=000", "line\nbreak", "tab\there", "del\x7f",
	                                  "hi\xc3\xa9"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = 1;
		CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, bad[i], &t_2024, out, sizeof(out), &len),
		             FIXGW_EINVAL);
		CHECK_EQ_INT(len, 0);
	}
	char reason[FIX_LOGOUT_REASON_MAX + 2];
	memset(reason, 'r', sizeof(reason) - 1);
	reason[FIX_LOGOUT_REASON_MAX + 1] = '\0';
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, reason, &t_2024, out, sizeof(out), &len), FIXGW_EINVAL);
	reason[FIX_LOGOUT_REASON_MAX] = '\0';
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, reason, &t_2024, out, sizeof(out), &len), 0);
	CHECK(framing_ok(out, len));
}

TEST(bad_arguments)
{
	struct logon l;
	logon_scan(&l, "FIX.4.4", "35=A|34=1|49=A|56=B|98=0|108=30|");
	char out[FIX_LOGOUT_MAX_BYTES];
	size_t len;
	CHECK_EQ_INT(fix_logout_build(NULL, l.buf, REASON, &t_2024, out, sizeof(out), &len), FIXGW_EINVAL);
	CHECK_EQ_INT(fix_logout_build(&l.sc, NULL, REASON, &t_2024, out, sizeof(out), &len), FIXGW_EINVAL);
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, REASON, NULL, out, sizeof(out), &len), FIXGW_EINVAL);
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, REASON, &t_2024, NULL, sizeof(out), &len), FIXGW_EINVAL);
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, REASON, &t_2024, out, sizeof(out), NULL), FIXGW_EINVAL);

	/* a scanner that has seen nothing has no BeginString */
	struct fix_scanner empty;
	struct fix_field f[4];
	fix_scan_init(&empty, f, 4, 0);
	CHECK_EQ_INT(fix_logout_build(&empty, "", REASON, &t_2024, out, sizeof(out), &len), FIXGW_EINVAL);
}

TEST(small_cap)
{
	struct logon l;
	logon_scan(&l, "FIX.4.2", "35=A|34=1|49=BROKER_A|56=GATEWAY|50=DESK1|57=ALGO|98=0|108=30|");
	char full[FIX_LOGOUT_MAX_BYTES];
	size_t need = 0;
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, REASON, &t_2024, full, sizeof(full), &need), 0);
	CHECK(need > 0);

	/* every cap below the size fails without writing past cap; the exact size succeeds */
	char out[FIX_LOGOUT_MAX_BYTES + 1];
	for (size_t cap = 0; cap <= need; cap++) {
		memset(out, '#', sizeof(out));
		size_t len = 5;
		int rc = fix_logout_build(&l.sc, l.buf, REASON, &t_2024, cap ? out : NULL, cap, &len);
		if (cap < need) {
			CHECK_EQ_INT(rc, FIXGW_ELIMIT);
			CHECK_EQ_INT(len, 0);
		} else {
			CHECK_EQ_INT(rc, 0);
			CHECK(len == need && memcmp(out, full, need) == 0);
		}
		CHECK(out[cap] == '#');
	}
}

TEST(largest_message_fits)
{
	/* every copied value at 64 bytes, the longest reason: the bound in fix_logout.h */
	const char *v64 = "0123456789012345678901234567890123456789012345678901234567890123";
	char body[1024];
	snprintf(body, sizeof(body), "35=A|34=1|49=%s|56=%s|50=%s|57=%s|142=%s|143=%s|98=0|108=30|", v64, v64,
	         v64, v64, v64, v64);
	char bs[FIX_LOGOUT_VALUE_MAX + 2];
	memset(bs, 'X', sizeof(bs) - 1);
	memcpy(bs, "FIX.4.4", 7);
	bs[FIX_LOGOUT_VALUE_MAX] = '\0';
	struct logon l;
	logon_scan(&l, bs, body);
	CHECK_EQ_INT(l.status, FIX_SCAN_COMPLETE);
	char reason[FIX_LOGOUT_REASON_MAX + 1];
	memset(reason, 'r', FIX_LOGOUT_REASON_MAX);
	reason[FIX_LOGOUT_REASON_MAX] = '\0';

	char out[FIX_LOGOUT_MAX_BYTES];
	size_t len = 0;
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, reason, &t_2024, out, sizeof(out), &len), 0);
	CHECK_EQ_INT(len, 785);
	CHECK(framing_ok(out, len));

	/* a 65-byte BeginString is refused */
	bs[FIX_LOGOUT_VALUE_MAX] = 'X';
	bs[FIX_LOGOUT_VALUE_MAX + 1] = '\0';
	logon_scan(&l, bs, body);
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, reason, &t_2024, out, sizeof(out), &len), FIXGW_EINVAL);
}

TEST(first_occurrence_wins)
{
	struct logon l;
	logon_scan(&l, "FIX.4.4", "35=A|34=1|49=FIRST|56=GW|49=SECOND|98=0|108=30|");
	char out[FIX_LOGOUT_MAX_BYTES];
	size_t len = 0;
	CHECK_EQ_INT(fix_logout_build(&l.sc, l.buf, REASON, &t_2024, out, sizeof(out), &len), 0);
	CHECK(contains(out, len,
	               "\x01"
	               "56=FIRST\x01"));
	CHECK(!contains(out, len, "SECOND"));
}

TEST_MAIN(TEST_ENTRY(fix42_exact_bytes), TEST_ENTRY(fixt11_exact_bytes_no_applverid),
          TEST_ENTRY(missing_target_and_no_reason), TEST_ENTRY(missing_both_compids),
          TEST_ENTRY(empty_value_is_omitted), TEST_ENTRY(sending_time_format),
          TEST_ENTRY(hostile_values_rejected), TEST_ENTRY(hostile_reason_rejected), TEST_ENTRY(bad_arguments),
          TEST_ENTRY(small_cap), TEST_ENTRY(largest_message_fits), TEST_ENTRY(first_occurrence_wins))
