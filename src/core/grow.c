#include "core/grow.h"

#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

int grow_array(void *itemsp, size_t *cap, size_t need, size_t elem_size, size_t initial, size_t max)
{
	if (elem_size == 0)
		return FIXGW_EINVAL;
	if (need <= *cap)
		return 0;
	if (need > max)
		return FIXGW_ELIMIT;
	size_t ncap = *cap ? *cap : initial ? initial : 1;
	if (ncap > max)
		ncap = max;
	while (ncap < need)
		ncap = ncap > max / 2 ? max : ncap * 2;
	if (ncap > SIZE_MAX / elem_size)
		return FIXGW_ENOMEM;
	/* memcpy, not a cast to void **: itemsp points at a T *, and reading it as a void * through an
	 * lvalue of another type would break the aliasing rules. */
	void *items;
	memcpy(&items, itemsp, sizeof(items));
	void *grown = realloc(items, ncap * elem_size);
	if (!grown)
		return FIXGW_ENOMEM;
	memcpy(itemsp, &grown, sizeof(grown));
	*cap = ncap;
	return 0;
}
