/* test_grow.c - grow_array (core/grow.h): doubling from the initial capacity, the maximum, zero sizes,
 * and size arithmetic that would overflow. realloc is replaced by a hook that records the size asked for
 * and refuses anything over 1 MiB, so huge requests are checked without being made. */
#include <stdlib.h>

static size_t last_request;

static void *test_realloc(void *p, size_t n)
{
	last_request = n;
	return n > (1u << 20) ? NULL : realloc(p, n);
}

#define realloc test_realloc
#include "core/grow.c"
#undef realloc

#include "core/errors.h"
#include "test.h"

TEST(doubles_from_initial_and_keeps_contents)
{
	int *v = NULL;
	size_t cap = 0;
	CHECK_EQ_INT(GROW_ARRAY(v, cap, 1, 4), 0);
	CHECK_EQ_INT(cap, 4);
	CHECK_EQ_INT(last_request, 4 * sizeof(int));
	for (int i = 0; i < 4; i++)
		v[i] = i;
	last_request = 0;
	CHECK_EQ_INT(GROW_ARRAY(v, cap, 4, 4), 0); /* fits: nothing done */
	CHECK_EQ_INT(cap, 4);
	CHECK_EQ_INT(last_request, 0);
	CHECK_EQ_INT(GROW_ARRAY(v, cap, 5, 4), 0);
	CHECK_EQ_INT(cap, 8);
	CHECK_EQ_INT(GROW_ARRAY(v, cap, 17, 4), 0); /* 8 -> 16 -> 32: doubles until it fits */
	CHECK_EQ_INT(cap, 32);
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(v[i], i);
	free(v);
}

TEST(zero_sizes)
{
	int *v = NULL;
	size_t cap = 0;
	CHECK_EQ_INT(GROW_ARRAY(v, cap, 0, 4), 0); /* nothing needed: nothing allocated */
	CHECK(v == NULL);
	CHECK_EQ_INT(cap, 0);
	CHECK_EQ_INT(GROW_ARRAY(v, cap, 1, 0), 0); /* no initial capacity: starts at one element */
	CHECK_EQ_INT(cap, 1);
	CHECK_EQ_INT(GROW_ARRAY(v, cap, 3, 0), 0);
	CHECK_EQ_INT(cap, 4);
	CHECK_EQ_INT(grow_array(&v, &cap, 9, 0, 4, SIZE_MAX), FIXGW_EINVAL); /* zero-sized elements */
	CHECK_EQ_INT(cap, 4);
	free(v);
}

TEST(maximum_caps_growth)
{
	char *b = NULL;
	size_t cap = 0;
	CHECK_EQ_INT(grow_array(&b, &cap, 3, 1, 16, 10), 0); /* the initial capacity is past the maximum */
	CHECK_EQ_INT(cap, 10);
	CHECK_EQ_INT(grow_array(&b, &cap, 11, 1, 16, 10), FIXGW_ELIMIT);
	CHECK_EQ_INT(cap, 10);
	free(b);
	b = NULL;
	cap = 0;
	CHECK_EQ_INT(grow_array(&b, &cap, 5, 1, 3, 10), 0); /* 3 -> 6 */
	CHECK_EQ_INT(cap, 6);
	CHECK_EQ_INT(grow_array(&b, &cap, 7, 1, 3, 10), 0); /* 12 would pass the maximum: 10 */
	CHECK_EQ_INT(cap, 10);
	free(b);
}

TEST(overflowing_sizes_fail_without_touching_the_array)
{
	struct big {
		char c[64];
	} *v = NULL;
	size_t cap = 0;
	CHECK_EQ_INT(GROW_ARRAY(v, cap, 2, 2), 0);
	struct big *before = v;
	last_request = 0;
	/* elements * size does not fit in a size_t: refused before realloc is asked */
	CHECK_EQ_INT(GROW_ARRAY(v, cap, SIZE_MAX / 64 + 1, 2), FIXGW_ENOMEM);
	CHECK_EQ_INT(last_request, 0);
	CHECK(v == before);
	CHECK_EQ_INT(cap, 2);

	/* the doubled capacity would wrap around: it stops at the maximum instead */
	char *b = NULL;
	size_t bcap = 0;
	CHECK_EQ_INT(GROW_ARRAY(b, bcap, 1, 1), 0);
	size_t fake = SIZE_MAX / 2 + 1; /* pretend b is that large: realloc is refused before it reads it */
	CHECK_EQ_INT(GROW_ARRAY(b, fake, fake + 1, 1), FIXGW_ENOMEM);
	CHECK_EQ_INT(last_request, SIZE_MAX);
	CHECK_EQ_INT(fake, SIZE_MAX / 2 + 1);
	free(b);
	free(v);
}

TEST(failed_allocation_keeps_the_old_array)
{
	int *v = NULL;
	size_t cap = 0;
	CHECK_EQ_INT(GROW_ARRAY(v, cap, 1, 1), 0);
	v[0] = 42;
	CHECK_EQ_INT(GROW_ARRAY(v, cap, (1u << 20) / sizeof(int) + 1, 1), FIXGW_ENOMEM);
	CHECK_EQ_INT(cap, 1);
	CHECK_EQ_INT(v[0], 42);
	free(v);
}

TEST_MAIN(TEST_ENTRY(doubles_from_initial_and_keeps_contents), TEST_ENTRY(zero_sizes),
          TEST_ENTRY(maximum_caps_growth), TEST_ENTRY(overflowing_sizes_fail_without_touching_the_array),
          TEST_ENTRY(failed_allocation_keeps_the_old_array))
