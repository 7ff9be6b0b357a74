/* errors.c - text for the FIXGW_E* codes. */
#include "errors.h"

const char *fixgw_strerror(int err)
{
	switch (err) {
	case FIXGW_OK:
		return "success";
	case FIXGW_ENOMEM:
		return "out of memory";
	case FIXGW_EINVAL:
		return "invalid input";
	case FIXGW_ECONFLICT:
		return "conflicting routes";
	case FIXGW_EIO:
		return "I/O error";
	case FIXGW_ELIMIT:
		return "limit reached";
	case FIXGW_EAGAIN:
		return "try again";
	case FIXGW_ECLOSED:
		return "peer closed";
	case FIXGW_ETIMEOUT:
		return "timed out";
	}
	return "unknown error";
}
