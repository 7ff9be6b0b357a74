/* grow.h - the one way fixgw grows an array or byte buffer: by doubling, with the size arithmetic
 * checked, so amortised appends cost O(1) and no caller repeats the overflow reasoning.
 */
#ifndef FIXGW_CORE_GROW_H
#define FIXGW_CORE_GROW_H

#include <stddef.h>
#include <stdint.h>

/** Make room for at least `need` elements of `elem_size` bytes in the array whose pointer is at `itemsp`
 * (the address of the caller's `T *`, which is NULL or memory from malloc/realloc) and whose capacity in
 * elements is *cap. The caller keeps owning the array, before and after; it is moved with realloc, so
 * memory that must stay plain malloc'd memory (for example handed to a library that frees it) may
 * grow here too. The new capacity doubles from *cap (or from `initial` when *cap is 0; 1 when `initial`
 * is 0) until `need` fits, never past `max` elements. Elements past the old capacity are uninitialised.
 * Returns 0 (nothing done when need <= *cap); FIXGW_ELIMIT when need > max; FIXGW_ENOMEM when the
 * allocation fails or its size in bytes does not fit in a size_t; FIXGW_EINVAL when elem_size is 0. On
 * error *itemsp and *cap are untouched and the old array is still valid. GROW_ARRAY is the usual call. */
int grow_array(void *itemsp, size_t *cap, size_t need, size_t elem_size, size_t initial, size_t max);

/** grow_array for a typed pointer lvalue `items` (T *) and its size_t capacity lvalue `cap`, without a
 * maximum: the element size is sizeof(*items). */
#define GROW_ARRAY(items, cap, need, initial)                                                                \
	grow_array(&(items), &(cap), (need), sizeof(*(items)), (initial), SIZE_MAX)

#endif
