/* test_redact.c - the redaction policy, the dump renderer and the one property that matters most:
 * a secret value never reaches the output, whatever the input looks like. */
#include "core/redact.c"

#include <stdlib.h>

#include "test.h"

#define MARK "S3CRET"
#define OUT  4096

/* Copy s with '|' turned into SOH; returns the length. */
static size_t soh(char *dst, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		dst[i] = s[i] == '|' ? FIX_SOH : s[i];
	return n;
}

static const char *dump_text(const struct redact_policy *p, const char *text, char *out)
{
	char buf[OUT];
	size_t n = soh(buf, text);

	redact_dump(p, buf, n, out, OUT);
	return out;
}

static const struct redact_rule rules[] = {
    {49, REDACT_MASK}, {50, REDACT_HIDE}, {95, REDACT_HIDE}, {554, REDACT_SHOW}, {925, REDACT_HIDE},
};
static const struct redact_policy policy = {rules, sizeof(rules) / sizeof(rules[0])};

/* ---- policy ---- */

TEST(test_action_for)
{
	static const struct redact_policy empty = {NULL, 0};

	CHECK_EQ_INT(redact_action_for(NULL, 49), REDACT_SHOW);
	CHECK_EQ_INT(redact_action_for(NULL, 554), REDACT_MASK);
	CHECK_EQ_INT(redact_action_for(&empty, 96), REDACT_MASK);
	CHECK_EQ_INT(redact_action_for(&empty, 0), REDACT_SHOW);
	CHECK_EQ_INT(redact_action_for(&policy, 49), REDACT_MASK);
	CHECK_EQ_INT(redact_action_for(&policy, 50), REDACT_HIDE);
	CHECK_EQ_INT(redact_action_for(&policy, 56), REDACT_SHOW);
	CHECK_EQ_INT(redact_action_for(&policy, 1), REDACT_SHOW);
	CHECK_EQ_INT(redact_action_for(&policy, UINT32_MAX), REDACT_SHOW);
	/* A policy can make a secret stricter, never weaker. */
	CHECK_EQ_INT(redact_action_for(&policy, 554), REDACT_MASK);
	CHECK_EQ_INT(redact_action_for(&policy, 925), REDACT_HIDE);
	CHECK_EQ_INT(redact_action_for(&policy, 95), REDACT_HIDE);
	for (size_t i = 0; i < policy.nrules; i++)
		CHECK(redact_action_for(&policy, rules[i].tag) >= rules[i].action);
}

/* ---- rendering ---- */

TEST(test_dump_logon)
{
	char out[OUT];

	CHECK_EQ_STR(dump_text(NULL, "8=FIX.4.4|9=40|35=A|49=CLI|56=GW|553=bob|554=pw|925=new|10=123|", out),
	             "8=FIX.4.4|9=40|35=A|49=CLI|56=GW|553=bob|554=[REDACTED]|925=[REDACTED]|10=123|");
	CHECK_EQ_STR(dump_text(&policy, "8=FIX.4.4|49=CLI|50=desk|56=GW|554=pw|925=new|10=123|", out),
	             "8=FIX.4.4|49=[REDACTED]|56=GW|554=[REDACTED]|10=123|");
	/* The last field hidden: nothing left of it. */
	CHECK_EQ_STR(dump_text(&policy, "56=GW|50=desk", out), "56=GW|");
	CHECK_EQ_STR(dump_text(&policy, "50=desk|", out), "");
	/* Empty and odd values. */
	CHECK_EQ_STR(dump_text(NULL, "554=|58=|554=", out), "554=[REDACTED]|58=|554=[REDACTED]");
	CHECK_EQ_STR(dump_text(NULL, "||=|x|", out), "||=|x|");
}

TEST(test_dump_escapes)
{
	/* Controls stay raw (each sink escapes them), valid UTF-8 stays, a backslash is doubled, NUL and
	 * bytes that are not UTF-8 become \xNN: the rules of core/text.h. */
	static const char in[] = "a\\b\x01\t\r\n\x7f\x80\xff\x00|z caf\xc3\xa9 \xe2\x82";
	char out[OUT];
	size_t n = redact_dump(NULL, in, sizeof(in) - 1, out, sizeof(out));

	CHECK_EQ_STR(out, "a\\\\b|\t\r\n\x7f\\x80\\xff\\x00|z caf\xc3\xa9 \\xe2\\x82");
	CHECK_EQ_INT(n, strlen(out));

	/* Neither HTTP nor TLS hurts. */
	redact_dump(NULL, "GET / HTTP/1.1\r\n", 16, out, sizeof(out));
	CHECK_EQ_STR(out, "GET / HTTP/1.1\r\n");
	redact_dump(NULL, "\x16\x03\x01\x02\x00", 5, out, sizeof(out));
	CHECK_EQ_STR(out, "\x16\x03|\x02\\x00");

	/* Truncation never splits a UTF-8 sequence: "é" is one unit. */
	char small[8];
	redact_dump(NULL, "abcd\xc3\xa9xyz", 9, small, sizeof(small));
	CHECK_EQ_STR(small, "abcd...");
	CHECK_EQ_INT(redact_dump(NULL, "", 0, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(redact_dump(NULL, NULL, 0, out, sizeof(out)), 0);
}

TEST(test_dump_data_fields)
{
	char out[OUT];

	/* Trusted length: the data (with its SOH and fake field) is one masked value. */
	CHECK_EQ_STR(dump_text(NULL, "35=A|95=7|96=a|49=X||49=Y|", out),
	             "35=A|95=[REDACTED]|96=[REDACTED]|49=Y|");
	CHECK_EQ_STR(dump_text(NULL, "90=2|91=|||56=B", out), "90=[REDACTED]|91=[REDACTED]|56=B");
	CHECK_EQ_STR(dump_text(NULL, "1401=1|1402=x|1403=0|1404=|10=000|", out),
	             "1401=[REDACTED]|1402=[REDACTED]|1403=[REDACTED]|1404=[REDACTED]|10=000|");
	/* Data up to the end of the input is fine too. */
	CHECK_EQ_STR(dump_text(NULL, "95=3|96=a|b", out), "95=[REDACTED]|96=[REDACTED]");
	/* Untrusted length: everything after is masked. */
	CHECK_EQ_STR(dump_text(NULL, "95=2|96=abc|49=X|", out), "95=[REDACTED]|96=[REDACTED]");
	CHECK_EQ_STR(dump_text(NULL, "95=9|96=abc|49=X|", out), "95=[REDACTED]|96=[REDACTED]");
	CHECK_EQ_STR(dump_text(NULL, "96=abc|49=X|", out), "96=[REDACTED]");
	CHECK_EQ_STR(dump_text(NULL, "95=3|58=x|96=abc|49=X|", out), "95=[REDACTED]|58=x|96=[REDACTED]");
	CHECK_EQ_STR(dump_text(NULL, "95=-1|96=abc|49=X|", out), "95=[REDACTED]|96=[REDACTED]");
	/* Hidden length fields still tell how long the data is. */
	CHECK_EQ_STR(dump_text(&policy, "95=3|96=a|b|49=X|", out), "96=[REDACTED]|49=[REDACTED]|");
	/* Data fields that are not secret are shown like any field. */
	CHECK_EQ_STR(dump_text(NULL, "212=3|213=<a>|", out), "212=3|213=<a>|");
}

TEST(test_dump_embedded_fields)
{
	char out[OUT];

	CHECK_EQ_STR(dump_text(NULL, "58=my 554=pw|49=X|", out), "58=my 554=[REDACTED]|49=X|");
	CHECK_EQ_STR(dump_text(NULL, "58=554=pw|49=X|", out), "58=554=[REDACTED]|49=X|");
	/* Digits before a secret tag: "\x01554=" is how some tools print SOH before 554. */
	CHECK_EQ_STR(dump_text(NULL, "58=1554=x|", out), "58=1554=[REDACTED]|");
	CHECK_EQ_STR(dump_text(NULL, "8=FIX.4.4\\x01554=pw|49=X|", out),
	             "8=FIX.4.4\\\\x01554=[REDACTED]|49=X|");
	CHECK_EQ_STR(dump_text(NULL, "8=FIX.4.4\\u000196=pw|49=X|", out), "8=FIX.4.4\\\\u000196=[REDACTED]");
	/* ...but a field's own tag is taken as it is. */
	CHECK_EQ_STR(dump_text(NULL, "1554=x|196=y|", out), "1554=x|196=y|");
	CHECK_EQ_STR(dump_text(NULL, "0554=pw|", out), "0554=[REDACTED]|");
	/* A '|'-separated line (literal pipes, no SOH) is masked from the secret to the end of the line. */
	{
		static const char in[] = "8=FIX.4.4|35=A|49=X|554=pw|56=Y|";
		char o[OUT];

		redact_dump(NULL, in, sizeof(in) - 1, o, sizeof(o));
		CHECK_EQ_STR(o, "8=FIX.4.4|35=A|49=X|554=[REDACTED]");
	}
	/* Embedded data fields swallow the rest of the input, even past SOH. */
	CHECK_EQ_STR(dump_text(NULL, "58=x 96=a|b|49=X|", out), "58=x 96=[REDACTED]");
	/* A masked value that holds a data tag is extended to the end. */
	CHECK_EQ_STR(dump_text(NULL, "554=a 96=b|c|", out), "554=[REDACTED]");
	/* Policy tags count too; embedded hidden tags are masked (cannot vanish from mid-value). */
	CHECK_EQ_STR(dump_text(&policy, "58=x;49=A|56=B|", out), "58=x;49=[REDACTED]|56=B|");
	CHECK_EQ_STR(dump_text(&policy, "58=x;50=A|56=B|", out), "58=x;50=[REDACTED]|56=B|");
}

/* ---- truncation ---- */

TEST(test_dump_truncation)
{
	static const char in[] = "8=FIX.4.4\x01"
	                         "554=secret\x01"
	                         "58=\xff\xfe\x01";
	char full[OUT];
	size_t full_len = redact_dump(NULL, in, sizeof(in) - 1, full, sizeof(full));

	CHECK_EQ_STR(full, "8=FIX.4.4|554=[REDACTED]|58=\\xff\\xfe|");
	for (size_t cap = 0; cap <= full_len + 2; cap++) {
		char out[OUT];
		size_t n;

		memset(out, 0x5a, sizeof(out));
		n = redact_dump(NULL, in, sizeof(in) - 1, out, cap);
		/* Never past cap. */
		for (size_t i = cap; i < sizeof(out); i++)
			if (out[i] != 0x5a) {
				CHECK(!"wrote past cap");
				break;
			}
		if (cap == 0) {
			CHECK_EQ_INT(n, 0);
			continue;
		}
		CHECK(n < cap);
		CHECK_EQ_INT(strlen(out), n);
		if (cap > full_len) {
			CHECK_EQ_STR(out, full);
			continue;
		}
		/* Truncated: a prefix of whole units, then as much of "..." as fits. */
		size_t dots = cap - 1 < 3 ? cap - 1 : 3;
		CHECK(n >= dots);
		CHECK(memcmp(out + n - dots, "...", dots) == 0);
		CHECK(memcmp(out, full, n - dots) == 0);
		CHECK(cap - 1 - n < sizeof(REDACTED_TEXT) - 1); /* cut back by less than the longest unit */
		/* No escape cut in half: "\x" only ever appears followed by two hex digits. */
		for (size_t i = 0; i + 1 < n - dots; i++)
			if (out[i] == '\\' && out[i + 1] == 'x')
				CHECK(i + 3 < n - dots);
	}
	/* Exactly enough room: no "...". */
	{
		char out[4];

		CHECK_EQ_INT(redact_dump(NULL, "abc", 3, out, sizeof(out)), 3);
		CHECK_EQ_STR(out, "abc");
		CHECK_EQ_INT(redact_dump(NULL, "abcd", 4, out, sizeof(out)), 3);
		CHECK_EQ_STR(out, "...");
		CHECK_EQ_INT(redact_dump(NULL, "abc", 3, NULL, 0), 0);
	}
}

/* ---- redact_value ---- */

TEST(test_value)
{
	char out[64];

	CHECK_EQ_INT(redact_value(NULL, 49, "CLI\x01\xff", 5, out, sizeof(out)), REDACT_SHOW);
	CHECK_EQ_STR(out, "CLI|\\xff");
	CHECK_EQ_INT(redact_value(NULL, 554, "pw", 2, out, sizeof(out)), REDACT_MASK);
	CHECK_EQ_STR(out, REDACTED_TEXT);
	CHECK_EQ_INT(redact_value(NULL, 96,
	                          "a\x01"
	                          "b",
	                          3, out, sizeof(out)),
	             REDACT_MASK);
	CHECK_EQ_STR(out, REDACTED_TEXT);
	CHECK_EQ_INT(redact_value(&policy, 49, "CLI", 3, out, sizeof(out)), REDACT_MASK);
	CHECK_EQ_STR(out, REDACTED_TEXT);
	strcpy(out, "junk");
	CHECK_EQ_INT(redact_value(&policy, 50, "desk", 4, out, sizeof(out)), REDACT_HIDE);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(redact_value(NULL, 58, "see 554=pw", 10, out, sizeof(out)), REDACT_SHOW);
	CHECK_EQ_STR(out, "see 554=[REDACTED]");
	CHECK_EQ_INT(redact_value(NULL, 58, "", 0, out, sizeof(out)), REDACT_SHOW);
	CHECK_EQ_STR(out, "");
	/* Truncation. */
	CHECK_EQ_INT(redact_value(NULL, 58, "abcdefghij", 10, out, 8), REDACT_SHOW);
	CHECK_EQ_STR(out, "abcd...");
	CHECK_EQ_INT(redact_value(NULL, 554, "pw", 2, out, 8), REDACT_MASK);
	CHECK_EQ_STR(out, "..."); /* "[REDACTED]" is one unit: never cut */
	CHECK_EQ_INT(redact_value(NULL, 554, "pw", 2, NULL, 0), REDACT_MASK);
}

/* ---- the property: no input makes a secret value appear ---- */

static void check_no_marker(const struct redact_policy *p, const char *in, size_t len, const char *what)
{
	char out[OUT * 2];
	size_t caps[] = {sizeof(out), 64, 17, 11, 5};

	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		redact_dump(p, in, len, out, caps[c]);
		if (strstr(out, MARK) || strstr(out, "S3C|RET")) {
			fprintf(stderr, "  leak in %s: \"%s\"\n", what, out);
			test_failures_++;
			return;
		}
	}
}

/* Every prefix too: a capture cut anywhere must not show a secret either. */
static void check_text_all_prefixes(const char *text, bool pipes_are_soh)
{
	static const struct redact_policy *const policies[] = {NULL, &policy};
	char buf[OUT];
	size_t n = pipes_are_soh ? soh(buf, text) : strlen(text);

	if (!pipes_are_soh)
		memcpy(buf, text, n);
	for (size_t p = 0; p < 2; p++)
		for (size_t k = 0; k <= n; k++)
			check_no_marker(policies[p], buf, k, text);
}

TEST(test_hostile_inputs_never_leak)
{
	/* MARK only ever sits where a FIX engine would see a secret value. */
	static const char *const cases[] = {
	    "8=FIX.4.4|9=5|35=A|554=" MARK "|10=000|",
	    "554=" MARK,
	    "8=FIX.4.4|554=",
	    "8=FIX.4.4|554=" MARK "554=" MARK,
	    "554==" MARK "|",
	    "0554=" MARK "|",
	    "00000000554=" MARK "|",
	    "925=" MARK "|554=" MARK "|",
	    "1400=" MARK "|",
	    "|||554=" MARK "|||",
	    "95=6|96=" MARK "|",
	    "95=6|96=" MARK,
	    "95=13|96=" MARK "|" MARK "|49=X|",
	    "95=13|96=" MARK "|" MARK,
	    "95=3|96=" MARK "|49=X|",
	    "95=5|96=" MARK "|" MARK "|",
	    "95=100|96=" MARK "|",
	    "95=-1|96=" MARK "|" MARK "|",
	    "95=|96=" MARK "|" MARK "|",
	    "95=abc|96=" MARK "|" MARK "|",
	    "95=99999999999|96=" MARK "|" MARK "|",
	    "95=0|96=" MARK "|" MARK "|",
	    "96=" MARK "|" MARK "|",
	    "96=" MARK,
	    "95=6|58=x|96=" MARK "|" MARK "|",
	    "95=6|95=6|96=" MARK "|",
	    "90=6|91=" MARK "|",
	    "90=2|91=" MARK "|" MARK "|",
	    "1401=6|1402=" MARK "|1403=13|1404=" MARK "|" MARK "|",
	    "1401=2|1402=" MARK "|" MARK "|",
	    "1403=x|1404=" MARK "|" MARK "|",
	    "58=x 554=" MARK "|",
	    "58=554=" MARK "|",
	    "58=x 96=" MARK "|" MARK "|",
	    "58=x 95=6 96=" MARK "|" MARK "|",
	    "554=x 96=" MARK "|" MARK "|",
	    "49=a;554=" MARK,
	    "8=FIX.4.4\\x01554=" MARK,
	    "8=FIX.4.4\\u0001554=" MARK,
	    "8=FIX.4.4\\001554=" MARK,
	    "8=FIX.4.4\\x0195=6\\x0196=" MARK "|" MARK,
	    "1234567890554=" MARK,
	    "8=FIX.4.4^A554=" MARK "^A10=000^A",
	    "x554=" MARK,
	    "\xff\xfe"
	    "554=" MARK,
	    "95=6|96=" MARK "|95=6|96=" MARK "|554=" MARK "|",
	    "212=6|213=ab|cd|554=" MARK "|",
	};
	/* The same with literal '|' instead of SOH: a log line pasted back in. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_text_all_prefixes(cases[i], true);
		check_text_all_prefixes(cases[i], false);
	}
}

/* Random messages from fragments: secrets (with SOH inside data), fake tags, wrong lengths, joined by
 * SOH, '|' or other non-digits. A non-digit separator keeps MARK a secret's value in any FIX reading. */
TEST(test_random_hostile_never_leak)
{
	static const char *const frags[] = {
	    "8=FIX.4.4",
	    "9=12",
	    "35=A",
	    "49=A",
	    "56=B",
	    "58=x",
	    "58=",
	    "=",
	    "554=",
	    "96=",
	    "95=",
	    "554=" MARK,
	    "925=" MARK,
	    "1400=" MARK,
	    "95=6",
	    "95=7",
	    "95=3",
	    "95=x",
	    "96=" MARK,
	    "96=S3C\x01RET",
	    "91=" MARK,
	    "90=6",
	    "90=13",
	    "1401=6",
	    "1402=" MARK,
	    "1403=13",
	    "1404=S3C\x01RET",
	    "10=000",
	    "58=a 554=" MARK,
	    "58=96=" MARK,
	    "\xff",
	    "212=3",
	    "213=",
	    "0554=" MARK,
	    "50=desk",
	    "95=0",
	};
	static const char *const seps[] = {"\x01", "\x01", "\x01", "|", " ", ";", "^A", "\x01\x01", "x"};
	static const struct redact_policy *const policies[] = {NULL, &policy};
	char buf[OUT];

	srand(12345);
	for (int round = 0; round < 20000; round++) {
		size_t n = 0, nfrag = 1 + (size_t)rand() % 12;

		for (size_t i = 0; i < nfrag; i++) {
			const char *f = frags[(size_t)rand() % (sizeof(frags) / sizeof(frags[0]))];
			const char *s = seps[(size_t)rand() % (sizeof(seps) / sizeof(seps[0]))];

			memcpy(buf + n, f, strlen(f));
			n += strlen(f);
			memcpy(buf + n, s, strlen(s));
			n += strlen(s);
		}
		for (size_t p = 0; p < 2; p++) {
			size_t cut = (size_t)rand() % (n + 1);

			check_no_marker(policies[p], buf, n, "random");
			check_no_marker(policies[p], buf, cut, "random prefix");
		}
		if (test_failures_)
			break;
	}
}

TEST_MAIN(TEST_ENTRY(test_action_for), TEST_ENTRY(test_dump_logon), TEST_ENTRY(test_dump_escapes),
          TEST_ENTRY(test_dump_data_fields), TEST_ENTRY(test_dump_embedded_fields),
          TEST_ENTRY(test_dump_truncation), TEST_ENTRY(test_value),
          TEST_ENTRY(test_hostile_inputs_never_leak), TEST_ENTRY(test_random_hostile_never_leak))
