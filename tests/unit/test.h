/* test.h - a minimal unit-test harness: TEST(name) functions, CHECK macros that record and continue,
 * and a main() that runs the tests listed in TEST_LIST and prints "N passed, N failed". */
#ifndef FIXGW_TEST_H
#define FIXGW_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failures_; /* failed checks in the current test */
static const char *test_name_;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, test_name_,     \
			        #cond);                                                                      \
			test_failures_++;                                                                    \
		}                                                                                            \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                                   \
	do {                                                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);                                          \
		if (a_ != b_) {                                                                              \
			fprintf(stderr, "%s:%d: %s: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__,  \
			        test_name_, #a, a_, #b, b_);                                                 \
			test_failures_++;                                                                    \
		}                                                                                            \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                                   \
	do {                                                                                                 \
		const char *a_ = (a), *b_ = (b);                                                             \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                     \
			fprintf(stderr, "%s:%d: %s: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__,    \
			        test_name_, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                     \
			test_failures_++;                                                                    \
		}                                                                                            \
	} while (0)

#define CHECK_MEM(ptr, len, lit) CHECK((len) == sizeof(lit) - 1 && memcmp((ptr), (lit), (len)) == 0)

struct test_case {
	const char *name;
	void (*fn)(void);
};

#define TEST_ENTRY(fn) {#fn, fn}

static inline int test_run_all(const struct test_case *cases, size_t n)
{
	int passed = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		test_name_ = cases[i].name;
		test_failures_ = 0;
		cases[i].fn();
		if (test_failures_) {
			failed++;
			fprintf(stderr, "FAIL %s\n", cases[i].name);
		} else {
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define TEST_MAIN(...)                                                                                       \
	int main(void)                                                                                       \
	{                                                                                                    \
		static const struct test_case cases_[] = {__VA_ARGS__};                                      \
		return test_run_all(cases_, sizeof(cases_) / sizeof(cases_[0]));                             \
	}

#endif
