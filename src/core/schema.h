/* schema.h - the one vocabulary of fixgw's YAML schemas: how a value's type is read (YAML 1.1, as
 * Kubernetes' decoder reads it) and how every loader words the same problem.
 *
 * The gateway config (gateway/config.c) and FIXSession manifests (manifest.c) walk their own tables of
 * known keys, but every typed value and every key problem goes through these functions, so both accept
 * the same booleans, integers and durations and report unknown, duplicate and missing keys in the same
 * words. Each check returns true with the value, or false with a one-sentence problem in msg (cap bytes,
 * always NUL-terminated) for the caller to report with its file:line:col and key path. Values quoted in
 * a problem go through diag_quote, so a message never carries raw input.
 */
#ifndef FIXGW_CORE_SCHEMA_H
#define FIXGW_CORE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#define SCHEMA_MSG_CAP 512 /* a msg buffer this big holds every problem whole */

enum schema_scalar { SCHEMA_STRING, SCHEMA_NULL, SCHEMA_BOOL, SCHEMA_NUMBER };

/** How YAML (and so kubectl and the API server) types a scalar: quoted scalars are strings; plain ones
 * may be null (~, null, nothing), booleans (true/false and YAML 1.1's yes/no/on/off/y/n in their three
 * cases) or numbers (decimal, 0x/0o/0b, .inf/.nan, with underscores). Non-scalars are SCHEMA_STRING. */
enum schema_scalar schema_scalar_type(const yaml_node_t *n);

/** "a string", "null", "a boolean", "a number": what schema_scalar_type found, for messages. */
const char *schema_scalar_type_name(enum schema_scalar st);

/** Absent (NULL) or null: both mean "not set" (the API server drops nulls of non-nullable fields). */
bool schema_is_absent(const yaml_node_t *n);

/** true or false, plain, in any of the cases Kubernetes accepts (true, True, TRUE). yes/no/on/off are
 * refused: only spellings nobody misreads. */
bool schema_bool(const yaml_node_t *n, bool *out, char *msg, size_t cap);

/** A plain decimal integer in [min, max]: no quotes, fraction, exponent, underscore, 0x prefix or
 * leading zero (YAML 1.1 would read 010 as 8); a sign only when min < 0. */
bool schema_int(const yaml_node_t *n, long long min, long long max, long long *out, char *msg, size_t cap);

/** A duration with a unit ("30s", "1m30s", "250ms", Go's syntax; units ms, s, m, h), or a bare 0, within
 * [min_ms, max_ms] ms, or exactly 0 when zero_ok ("off"). Quoted and plain are both fine (JSON writes
 * durations as strings). */
bool schema_duration_ms(const yaml_node_t *n, uint64_t min_ms, uint64_t max_ms, bool zero_ok, uint64_t *out,
                        char *msg, size_t cap);

/** The problem for a value of the wrong shape: `expected a mapping, found a list`, then `; <hint>` when
 * hint is given. Scalars are described by their YAML type ("a string", "a number", "nothing"), never by
 * their text: the value may be a secret. */
void schema_type_problem(const yaml_node_t *n, yaml_node_type_t want, const char *hint, char *msg,
                         size_t cap);

/** The problem for an unknown key: `unknown field "x"`, with `; did you mean "y"?` when it matches one
 * of names[0..n) but for case, and the merge-key note for "<<". */
void schema_unknown_key(const char *key, size_t len, const char *const *names, size_t n, char *msg,
                        size_t cap);

/** The problem for a key given twice: `duplicate key "x" (first given at line N)`. */
void schema_duplicate_key(const char *key, size_t len, const yaml_node_t *first, char *msg, size_t cap);

/** The problem for a required key that is absent, reported at the key's own path. */
#define SCHEMA_MISSING "required field is missing"

/** "5m", "30s", "100ms": a bound in milliseconds as a user would write it. */
const char *schema_fmt_ms(uint64_t ms, char *out, size_t cap);

/** Go's time.ParseDuration restricted to units ms, s, m, h and no sign, in milliseconds (sub-ms
 * remainders round up, so "0.5ms" stays > 0). Returns 0 or FIXGW_EINVAL. */
int schema_parse_duration_ms(const char *s, size_t len, uint64_t *out_ms);

#endif
