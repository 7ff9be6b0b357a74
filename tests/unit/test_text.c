/* test_text.c - the escaping rules (core/text.h) and the whole path of a counterparty's value to JSON:
 * redact_value renders it, text_json_quote writes it. */
#include "core/text.c"

#include <stdio.h>
#include <stdlib.h>

#include "core/redact.h"
#include "test.h"

/* The JSON literal of s[0..len) as a C string. */
static const char *json_of(const char *s, size_t len)
{
	static char out[512];
	size_t n = text_json_quote(out, sizeof(out), s, len);
	out[n] = '\0';
	return out;
}

/* What `logon parse --json` writes for a field value: rendered, then quoted. */
static const char *field_json(const char *v, size_t len)
{
	char rendered[256];
	redact_value(NULL, 58, v, len, rendered, sizeof(rendered));
	return json_of(rendered, strlen(rendered));
}

#define JSON(lit)  json_of((lit), sizeof(lit) - 1)
#define FIELD(lit) field_json((lit), sizeof(lit) - 1)

TEST(utf8_decoder)
{
	static const struct {
		const char *s;
		size_t n, len;
		uint32_t cp;
	} cases[] = {
	    {"A", 1, 1, 0x41},
	    {"\xc3\xa9", 2, 2, 0xe9},
	    {"\xe2\x82\xac", 3, 3, 0x20ac},
	    {"\xf0\x9f\x98\x80", 4, 4, 0x1f600},
	    {"\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff},
	    {"\xc0\xaf", 2, 0, 0},         /* overlong '/' */
	    {"\xc1\xbf", 2, 0, 0},         /* overlong */
	    {"\xe0\x80\xaf", 3, 0, 0},     /* overlong '/' in three bytes */
	    {"\xf0\x80\x80\xaf", 4, 0, 0}, /* overlong in four */
	    {"\xed\xa0\x80", 3, 0, 0},     /* a surrogate, U+D800 */
	    {"\xf4\x90\x80\x80", 4, 0, 0}, /* U+110000 */
	    {"\xf5\x80\x80\x80", 4, 0, 0}, /* F5 never leads */
	    {"\x80", 1, 0, 0},             /* stray continuation */
	    {"\xc3", 1, 0, 0},             /* truncated */
	    {"\xe2\x82", 2, 0, 0},         /* truncated */
	    {"\xe2\x82\x41", 3, 0, 0},     /* broken by ASCII */
	    {"\xf0\x9f\x98", 3, 0, 0},     /* truncated four */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cp = 0;
		size_t len = utf8_decode((const unsigned char *)cases[i].s, cases[i].n, &cp);
		if (len != cases[i].len || (len && cp != cases[i].cp)) {
			fprintf(stderr, "case %zu: len %zu cp %x\n", i, len, cp);
			test_failures_++;
		}
	}
}

TEST(json_controls_quotes_and_backslashes)
{
	CHECK_EQ_STR(JSON("plain"), "\"plain\"");
	CHECK_EQ_STR(JSON("a\"b\\c"), "\"a\\\"b\\\\c\"");
	CHECK_EQ_STR(JSON("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
	CHECK_EQ_STR(JSON("\x1b[31m"), "\"\\u001b[31m\"");
	CHECK_EQ_STR(JSON("\x01"), "\"\\u0001\"");
	CHECK_EQ_STR(JSON("\x7f"), "\"\\u007f\""); /* DEL */
	CHECK_EQ_STR(JSON("\xc2\x9b"
	                  "2J"),
	             "\"\\u009b2J\""); /* C1 CSI */
	CHECK_EQ_STR(JSON("a\xe2\x80\xa8"
	                  "b"),
	             "\"a\\u2028b\""); /* LINE SEPARATOR */
	CHECK_EQ_STR(JSON("\x00"), "\"\\u0000\"");
	CHECK_EQ_STR(JSON("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
	             "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(json_invalid_utf8_is_escaped_bytes)
{
	CHECK_EQ_STR(JSON("\xff"), "\"\\\\xff\"");
	CHECK_EQ_STR(JSON("\xc0\xaf"), "\"\\\\xc0\\\\xaf\"");            /* overlong: two bytes */
	CHECK_EQ_STR(JSON("\xed\xa0\x80"), "\"\\\\xed\\\\xa0\\\\x80\""); /* surrogate */
	CHECK_EQ_STR(JSON("ab\xe2\x82"), "\"ab\\\\xe2\\\\x82\"");        /* truncated at the end */
	CHECK_EQ_STR(JSON("\xe2\x82"
	                  "A"),
	             "\"\\\\xe2\\\\x82A\""); /* broken by ASCII */
}

TEST(json_cut_between_characters)
{
	char out[8];
	size_t n = text_json_quote(out, sizeof(out), "ab\xc3\xa9xyz", 7);
	out[n] = '\0';
	CHECK_EQ_STR(out, "\"ab\xc3\xa9"
	                  "x\""); /* 7 bytes: "y" would leave no room for the quote */
	n = text_json_quote(out, sizeof(out), "\n\n\n\n", 4);
	out[n] = '\0';
	CHECK_EQ_STR(out, "\"\\n\\n\""); /* a third \\n would leave no room for the quote */
	CHECK_EQ_INT(text_json_quote(out, 2, "x", 1), 0);
}

/* The path a value takes to `logon parse --json` and to log lines: faithful for UTF-8 and controls,
 * unambiguous for everything else (a literal backslash is \\, a bad byte \xNN). */
TEST(rendered_values_in_json)
{
	CHECK_EQ_STR(FIELD("BROKER_A"), "\"BROKER_A\"");
	CHECK_EQ_STR(FIELD("Z\xc3\xbcrich"), "\"Z\xc3\xbcrich\"");
	CHECK_EQ_STR(FIELD("line\nbreak"), "\"line\\nbreak\"");
	CHECK_EQ_STR(FIELD("\x1b]0;pwned\x07"), "\"\\u001b]0;pwned\\u0007\"");
	CHECK_EQ_STR(FIELD("q\"uote"), "\"q\\\"uote\"");
	CHECK_EQ_STR(FIELD("C:\\dir"), "\"C:\\\\\\\\dir\""); /* decodes to C:\\dir */
	CHECK_EQ_STR(FIELD("\\xff"), "\"\\\\\\\\xff\"");     /* the text \xff: decodes to \\xff */
	CHECK_EQ_STR(FIELD("\xff"), "\"\\\\xff\"");          /* the byte FF: decodes to \xff */
	CHECK_EQ_STR(FIELD("a\x00"
	                   "b"),
	             "\"a\\\\x00b\"");                             /* NUL */
	CHECK_EQ_STR(FIELD("\x7f"), "\"\\u007f\"");                /* DEL */
	CHECK_EQ_STR(FIELD("\xc0\x80"), "\"\\\\xc0\\\\x80\"");     /* overlong NUL */
	CHECK_EQ_STR(FIELD("ok\xf0\x9f"), "\"ok\\\\xf0\\\\x9f\""); /* truncated sequence */
}

TEST(harden_rewrites_what_generators_leave_raw)
{
	char *h = text_json_harden("{\"a\":\"x\x7fy\xc2\x85z\xe2\x80\xa9\xc3\xa9\",\"b\":1}");
	CHECK_EQ_STR(h, "{\"a\":\"x\\u007fy\\u0085z\\u2029\xc3\xa9\",\"b\":1}");
	free(h);
}

TEST(terminal_text_escapes_controls)
{
	char out[64];
	text_escape_controls(out, sizeof(out), "a\tb\x1b[0m\xc3\xa9\xff\xc2\x9b\\", 13);
	CHECK_EQ_STR(out, "a\\x09b\\x1b[0m\xc3\xa9\\xff\\xc2\\x9b\\");
	char small[6];
	text_escape_controls(small, sizeof(small), "ab\ncd", 5);
	CHECK_EQ_STR(small, "ab"); /* \x0a does not fit whole: cut before it */
}

TEST(hex_is_lowercase_two_digits_a_byte)
{
	static const uint8_t b[] = {0x00, 0x0f, 0xa0, 0xff, 0x4b};
	char out[11];
	memset(out, 'x', sizeof(out));
	text_hex(b, sizeof(b), out);
	CHECK_EQ_STR(out, "000fa0ff4b");
	text_hex(b, 0, out);
	CHECK_EQ_STR(out, "");
}

/* JSON string text decoded (the log record hook's escaped values, YAML double-quoted scalars): every escape,
 * \u as UTF-8, UTF-8 text kept, and a character that does not fit is left out whole. */
TEST(json_unescape_decodes_and_stops_before_a_cut_character)
{
	/* a \\ \" \/ \b \f \n \r \t \u001b \u00e9 \u20ac \u00e9 e-acute-as-UTF-8 z, then a lone backslash */
	static const char in[] = "a\\\\\\\"\\/\\b\\f\\n\\r\\t\\u001b\\u00e9\\u20ac\\u00e9\xc3\xa9z\\";
	char out[32];
	size_t n = text_json_unescape(out, sizeof(out), in, sizeof(in) - 1);
	CHECK_EQ_INT(n, 21);
	CHECK(!memcmp(out, "a\\\"/\b\f\n\r\t\x1b\xc3\xa9\xe2\x82\xac\xc3\xa9\xc3\xa9z\\", n));
	n = text_json_unescape(out, 2, "a\\u00e9", 7); /* the two bytes of e-acute do not fit after "a" */
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(text_json_unescape(out, 0, "a", 1), 0);
}

TEST_MAIN(TEST_ENTRY(utf8_decoder), TEST_ENTRY(json_controls_quotes_and_backslashes),
          TEST_ENTRY(json_invalid_utf8_is_escaped_bytes), TEST_ENTRY(json_cut_between_characters),
          TEST_ENTRY(rendered_values_in_json), TEST_ENTRY(harden_rewrites_what_generators_leave_raw),
          TEST_ENTRY(terminal_text_escapes_controls), TEST_ENTRY(hex_is_lowercase_two_digits_a_byte),
          TEST_ENTRY(json_unescape_decodes_and_stops_before_a_cut_character))
