/* test_diag.c - diagnostics: storage, counting, printing and quoting of untrusted values. */
#include "core/diag.c"

#include <stdlib.h>

#include "test.h"
#include "io/diag_print.h"

/* diag_print into a string (caller frees). */
static char *print_all(const struct diag_list *dl)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	diag_print(dl, f);
	fclose(f);
	return text;
}

TEST(add_and_print)
{
	struct diag_list dl;
	diag_list_init(&dl);
	CHECK_EQ_INT(
	    diag_add(&dl, DIAG_ERROR, "a.yaml", 3, 7, "spec.target", "required field is %s", "missing"), 0);
	CHECK_EQ_INT(diag_add(&dl, DIAG_WARNING, "a.yaml", 4, 1, NULL, "just a warning"), 0);
	CHECK_EQ_INT(diag_add(&dl, DIAG_ERROR, "b.yaml", 0, 0, NULL, "cannot open: %s", "No such file"), 0);
	CHECK_EQ_INT(diag_add(&dl, DIAG_ERROR, NULL, 0, 0, "", "no place at all"), 0);
	CHECK_EQ_INT(dl.count, 4);
	CHECK_EQ_INT(dl.nerrors, 3);
	CHECK_EQ_INT(dl.nwarnings, 1);
	CHECK_EQ_STR(dl.items[0].path, "spec.target");
	CHECK(dl.items[1].path == NULL);
	char *text = print_all(&dl);
	CHECK_EQ_STR(text, "a.yaml:3:7: error: spec.target: required field is missing\n"
	                   "a.yaml:4:1: warning: just a warning\n"
	                   "b.yaml: error: cannot open: No such file\n"
	                   "error: no place at all\n");
	free(text);
	diag_list_free(&dl);
	CHECK_EQ_INT(dl.count, 0);
	CHECK(dl.items == NULL);
	diag_list_free(&dl); /* twice is harmless */
}

TEST(storage_is_bounded)
{
	struct diag_list dl;
	diag_list_init(&dl);
	dl.max_items = 3;
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(
		    diag_add(&dl, i % 2 ? DIAG_WARNING : DIAG_ERROR, "f", (unsigned)i + 1, 1, NULL, "n%d", i),
		    0);
	CHECK_EQ_INT(dl.count, 3);
	CHECK_EQ_INT(dl.dropped, 7);
	CHECK_EQ_INT(dl.nerrors, 5);
	CHECK_EQ_INT(dl.nwarnings, 5);
	char *text = print_all(&dl);
	CHECK(text && strstr(text, "f:3:1: error: n2\nnote: 7 more diagnostics were not stored\n"));
	free(text);
	diag_list_free(&dl);

	diag_list_init(&dl); /* default bound: 1000 */
	for (int i = 0; i < 1005; i++)
		diag_add(&dl, DIAG_ERROR, NULL, 0, 0, NULL, "x");
	CHECK_EQ_INT(dl.count, 1000);
	CHECK_EQ_INT(dl.dropped, 5);
	CHECK_EQ_INT(dl.nerrors, 1005);
	diag_list_free(&dl);
}

TEST(long_messages_are_kept_whole)
{
	struct diag_list dl;
	char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	diag_list_init(&dl);
	diag_add(&dl, DIAG_ERROR, NULL, 0, 0, NULL, "%s!", big);
	CHECK(dl.count == 1 && strlen(dl.items[0].message) == sizeof(big));
	diag_list_free(&dl);
}

TEST(quote_escapes)
{
	char out[DIAG_QUOTE_CAP];
	CHECK_EQ_STR(diag_quote("abc", 3, out, sizeof(out)), "\"abc\"");
	CHECK_EQ_STR(diag_quote("", 0, out, sizeof(out)), "\"\"");
	CHECK_EQ_STR(diag_quote("a\"b\\c", 5, out, sizeof(out)), "\"a\\\"b\\\\c\"");
	CHECK_EQ_STR(diag_quote("a\nb\x01\x7f\xff", 6, out, sizeof(out)), "\"a\\x0ab\\x01\\x7f\\xff\"");
	CHECK_EQ_STR(diag_quote("a\0b", 3, out, sizeof(out)), "\"a\\x00b\"");
	/* valid UTF-8 is shown as itself, C1 controls and overlong forms byte by byte */
	CHECK_EQ_STR(diag_quote("caf\xc3\xa9", 5, out, sizeof(out)), "\"caf\xc3\xa9\"");
	CHECK_EQ_STR(diag_quote("\xc2\x9b\xc0\xaf", 4, out, sizeof(out)), "\"\\xc2\\x9b\\xc0\\xaf\"");
	CHECK_EQ_STR(diag_quote(NULL, 5, out, sizeof(out)), "\"(null)\"");
	CHECK(diag_quote("abc", 3, out, sizeof(out)) == out);
}

TEST(quote_truncates)
{
	char in[200], out[DIAG_QUOTE_CAP], want[80];
	memset(in, 'a', sizeof(in));
	snprintf(want, sizeof(want), "\"%.64s\"...", in);
	CHECK_EQ_STR(diag_quote(in, sizeof(in), out, sizeof(out)), want);
	CHECK_EQ_INT(strlen(diag_quote(in, 64, out, sizeof(out))), 66);
	CHECK_EQ_INT(strlen(diag_quote(in, 65, out, sizeof(out))), 69);

	/* the worst case fits DIAG_QUOTE_CAP exactly */
	memset(in, 0x01, sizeof(in));
	diag_quote(in, sizeof(in), out, sizeof(out));
	CHECK_EQ_INT(strlen(out), 2 + 64 * 4 + 3);
	CHECK(strlen(out) < DIAG_QUOTE_CAP);

	/* a small buffer keeps whole escapes, the closing quote and the dots */
	char small[12];
	CHECK_EQ_STR(diag_quote("\x01\x02\x03", 3, small, sizeof(small)), "\"\\x01\"...");
	CHECK_EQ_STR(diag_quote("abcdefghij", 10, small, sizeof(small)), "\"abcdef\"...");
	char tiny[5];
	CHECK_EQ_STR(diag_quote("abc", 3, tiny, sizeof(tiny)), "");
	CHECK_EQ_STR(diag_quote("abc", 3, tiny, 0), "");
}

TEST_MAIN(TEST_ENTRY(add_and_print), TEST_ENTRY(storage_is_bounded), TEST_ENTRY(long_messages_are_kept_whole),
          TEST_ENTRY(quote_escapes), TEST_ENTRY(quote_truncates))
