/* test_errors.c - one error convention: negative errno values, the project's codes in their own range. */
#include "core/errors.c"

#include <stdlib.h>

#include "test.h"

static const int all_codes[] = {FIXGW_ENOMEM,   FIXGW_EINVAL,    FIXGW_EIO,    FIXGW_EAGAIN,
                                FIXGW_ETIMEOUT, FIXGW_ECONFLICT, FIXGW_ELIMIT, FIXGW_ECLOSED};
#define NCODES (sizeof(all_codes) / sizeof(all_codes[0]))

TEST(codes_are_distinct_and_named)
{
	for (size_t i = 0; i < NCODES; i++) {
		CHECK(all_codes[i] < 0);
		CHECK(strcmp(fixgw_strerror(all_codes[i]), "unknown error") != 0);
		for (size_t j = 0; j < i; j++) {
			CHECK(all_codes[i] != all_codes[j]);
			CHECK(strcmp(fixgw_strerror(all_codes[i]), fixgw_strerror(all_codes[j])) != 0);
		}
	}
}

/* The collision this convention removes: FIXGW_EINVAL used to be -2, which is -ENOENT. */
TEST(errno_names_are_errno_values)
{
	CHECK_EQ_INT(FIXGW_EINVAL, -EINVAL);
	CHECK_EQ_INT(FIXGW_ENOMEM, -ENOMEM);
	CHECK_EQ_INT(FIXGW_EIO, -EIO);
	CHECK_EQ_INT(FIXGW_EAGAIN, -EAGAIN);
	CHECK_EQ_INT(FIXGW_ETIMEOUT, -ETIMEDOUT);
	CHECK(FIXGW_EINVAL != -ENOENT);
	CHECK_EQ_STR(fixgw_strerror(-ENOENT), strerrordesc_np(ENOENT));
	CHECK_EQ_STR(fixgw_strerror(FIXGW_ENOMEM), strerrordesc_np(ENOMEM));
}

/* Private codes sit in their own range, where no errno value is. */
TEST(private_codes_are_not_errno_values)
{
	static const int priv[] = {FIXGW_ECONFLICT, FIXGW_ELIMIT, FIXGW_ECLOSED};
	for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
		CHECK(priv[i] <= FIXGW_ERR_PRIVATE_MAX && priv[i] >= FIXGW_ERR_PRIVATE_MIN);
		CHECK(strerrordesc_np(-priv[i]) == NULL);
	}
	CHECK_EQ_STR(fixgw_strerror(FIXGW_ECONFLICT), "conflicting routes");
	CHECK_EQ_STR(fixgw_strerror(-3999), "unknown error");
	CHECK_EQ_STR(fixgw_strerror(FIXGW_ERR_PRIVATE_MIN), "unknown error");
	CHECK_EQ_STR(fixgw_strerror(5), "unknown error");
	CHECK_EQ_STR(fixgw_strerror(0), "success");
}

TEST_MAIN(TEST_ENTRY(codes_are_distinct_and_named), TEST_ENTRY(errno_names_are_errno_values),
          TEST_ENTRY(private_codes_are_not_errno_values))
