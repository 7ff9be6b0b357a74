/* Unit tests for src/core/glob.c: matching, escapes, and the exact overlap test. */
#include "core/glob.c"

#include "test.h"

#define M(p, s) glob_match(p, strlen(p), s, strlen(s))
#define O(p, q) glob_overlap(p, strlen(p), q, strlen(q))

TEST(test_match_basics)
{
	CHECK(M("BRK_A*", "BRK_A"));
	CHECK(M("BRK_A*", "BRK_A123"));
	CHECK(!M("BRK_A*", "BRK_B1"));
	CHECK(M("?RK", "BRK"));
	CHECK(!M("?RK", "RK"));
	CHECK(M("*", ""));
	CHECK(M("a*b*c", "aXXbYYc"));
	CHECK(!M("a*b*c", "aXXbYY"));
	CHECK(M("*A*", "xxAxx"));
	CHECK(M("", ""));
	CHECK(!M("", "a"));
	CHECK(M("a**b", "ab"));
}

TEST(test_escapes)
{
	CHECK(M("A\\*", "A*"));
	CHECK(!M("A\\*", "AB"));
	CHECK(!glob_is_pattern("A\\*\\?", 5));
	CHECK(glob_is_pattern("A\\**", 4));
	CHECK(!glob_is_valid("A\\", 2));
	char out[8];
	CHECK_EQ_INT(glob_unescape("A\\*B", 4, out, sizeof(out)), 3);
	CHECK_EQ_STR(out, "A*B");
}

TEST(test_overlap_exact)
{
	CHECK(!O("BRK_A*", "BRK_B*"));
	CHECK(O("BRK_*", "BRK_B*"));
	CHECK(O("*_A", "BRK*"));
	CHECK(!O("*_A", "*_B"));
	CHECK(O("a?c", "*c"));
	CHECK(!O("a?c", "a??c"));
	CHECK(O("*", "x"));
	CHECK(!O("x", "y"));
	CHECK(O("A*B*C", "*BC"));
	CHECK(!O("A*", "B\\*X"));
	CHECK(O("A*", "*B\\*"));
	CHECK(O("", "*"));
	CHECK(!O("", "?"));
}

/* Cross-check overlap against brute force over every string of length <= 4 over {a, b}. */
TEST(test_overlap_matches_brute_force)
{
	static const char *pats[] = {"a*", "*b", "?a", "a?b", "*", "ab", "b*a", "*a*", "??", "a*b*", "", "b"};
	size_t np = sizeof(pats) / sizeof(pats[0]);
	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < np; j++) {
			bool brute = false;
			char s[5];
			for (size_t len = 0; len <= 4 && !brute; len++)
				for (unsigned bits = 0; bits < (1u << len) && !brute; bits++) {
					for (size_t k = 0; k < len; k++)
						s[k] = (bits >> k) & 1 ? 'b' : 'a';
					brute = glob_match(pats[i], strlen(pats[i]), s, len) &&
					        glob_match(pats[j], strlen(pats[j]), s, len);
				}
			if (O(pats[i], pats[j]) != brute)
				fprintf(stderr, "overlap(%s, %s) != %d\n", pats[i], pats[j], brute);
			CHECK(O(pats[i], pats[j]) == brute);
		}
}

TEST_MAIN(TEST_ENTRY(test_match_basics), TEST_ENTRY(test_escapes), TEST_ENTRY(test_overlap_exact),
          TEST_ENTRY(test_overlap_matches_brute_force))
