/* errors.h - the one error enum of fixgw. Functions return 0 or a negative FIXGW_E* code. */
#ifndef FIXGW_CORE_ERRORS_H
#define FIXGW_CORE_ERRORS_H

enum fixgw_err {
	FIXGW_OK = 0,
	FIXGW_ENOMEM = -1,    /* allocation failed */
	FIXGW_EINVAL = -2,    /* invalid input (details in a diag_list where one was given) */
	FIXGW_ECONFLICT = -3, /* the routes are valid one by one but conflict with each other */
	FIXGW_EIO = -4,       /* a file or socket operation failed (errno kept by the caller) */
	FIXGW_ELIMIT = -5,    /* a configured bound was reached */
	FIXGW_EAGAIN = -6,    /* no progress possible now; retry when ready */
	FIXGW_ECLOSED = -7,   /* the peer closed */
	FIXGW_ETIMEOUT = -8,  /* a deadline passed */
};

/** Short constant text for a FIXGW_E* code. */
const char *fixgw_strerror(int err);

#endif
