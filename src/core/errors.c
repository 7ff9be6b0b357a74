/* errors.c - text for negative errors (errors.h). */
#include "errors.h"

#include <string.h>

const char *fixgw_strerror(int err)
{
	switch (err) {
	case FIXGW_OK:
		return "success";
	case FIXGW_ECONFLICT:
		return "conflicting routes";
	case FIXGW_ELIMIT:
		return "limit reached";
	case FIXGW_ECLOSED:
		return "peer closed";
	default:
		break;
	}
	if (err < 0 && err > FIXGW_ERR_PRIVATE_MAX) {
		/* strerrordesc_np returns constant text (strerror may format into a shared buffer). */
		const char *s = strerrordesc_np(-err);
		if (s)
			return s;
	}
	return "unknown error";
}
