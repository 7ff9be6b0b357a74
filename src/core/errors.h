/* errors.h - the one error convention of fixgw.
 *
 * Every function that can fail returns 0 (or a count) on success and a negative error on failure: a
 * negative errno value (-ENOMEM, -EINVAL, -EIO, ...) for anything errno has a name for, or one of the
 * project's own codes below, which live in their own range (FIXGW_ERR_PRIVATE_MIN..MAX, far below any
 * errno value) so one integer never means two things, as in libuv. The FIXGW_E* names for errno values
 * are aliases, so code that forwards a -errno from a system call and code that returns FIXGW_EINVAL
 * speak the same language; fixgw_strerror() names both.
 */
#ifndef FIXGW_CORE_ERRORS_H
#define FIXGW_CORE_ERRORS_H

#include <errno.h>

#define FIXGW_ERR_PRIVATE_MAX (-4000) /* the project's own codes: -4000 down to -4099 */
#define FIXGW_ERR_PRIVATE_MIN (-4099)
/* -4050..-4069: the Kubernetes client's codes (k8s/api.h names them with k8s_strerror) */
#define FIXGW_ERR_K8S_BASE (-4050)

enum fixgw_err {
	FIXGW_OK = 0,
	/* errno values */
	FIXGW_ENOMEM = -ENOMEM, /* allocation failed */
	FIXGW_EINVAL = -EINVAL, /* invalid input (details in a diag_list where one was given) */
	FIXGW_EIO = -EIO,       /* an I/O operation failed (a more precise -errno is returned where known) */
	FIXGW_EAGAIN = -EAGAIN, /* no progress possible now; retry when ready */
	FIXGW_ETIMEOUT = -ETIMEDOUT, /* a deadline passed */
	/* the project's own codes */
	FIXGW_ECONFLICT = FIXGW_ERR_PRIVATE_MAX,   /* the routes are valid one by one but conflict */
	FIXGW_ELIMIT = FIXGW_ERR_PRIVATE_MAX - 1,  /* a configured bound was reached */
	FIXGW_ECLOSED = FIXGW_ERR_PRIVATE_MAX - 2, /* the peer closed */
};

/** Constant text for a negative error: the project's own codes by name, errno values as strerror
 * describes them (thread-safe), anything else "unknown error". */
const char *fixgw_strerror(int err);

#endif
