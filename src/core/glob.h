/* glob.h - the wildcard patterns of FIXSession match values: '*' any run of bytes, '?' one byte,
 * '\' makes the next byte literal. Patterns and subjects are byte strings with explicit lengths. */
#ifndef FIXGW_CORE_GLOB_H
#define FIXGW_CORE_GLOB_H

#include <stdbool.h>
#include <stddef.h>

#define GLOB_MAX_LEN 256 /* bound on pattern length; keeps glob_overlap's table small */

/** True when the pattern has an unescaped '*' or '?'. */
bool glob_is_pattern(const char *p, size_t n);

/** True when the pattern is well formed (no trailing lone backslash, at most GLOB_MAX_LEN bytes). */
bool glob_is_valid(const char *p, size_t n);

/** Copy the literal meaning of a pattern without wildcards (escapes removed) into out (cap >= n + 1);
 * returns the length written. */
size_t glob_unescape(const char *p, size_t n, char *out, size_t cap);

/** True when s matches the pattern. Linear in n * sn at worst, no recursion, no allocation. */
bool glob_match(const char *p, size_t n, const char *s, size_t sn);

/** True when some byte string matches both patterns (exact: "BRK_A*" and "BRK_B*" do not overlap).
 * Runs in O(n * m) time and O(n * m) bits of stack. Both patterns must be valid. */
bool glob_overlap(const char *p, size_t n, const char *q, size_t m);

#endif
