/* text.h - the escaping rules for untrusted text, shared by every output (docs/reference/escaping.md).
 *
 * Values taken from counterparties are first *rendered* (core/redact.h) into a string that is always
 * valid UTF-8: valid UTF-8 stays, a backslash becomes \\ and a byte that is not part of valid UTF-8
 * (or NUL) becomes \xNN, so `\` only ever starts one of those two escapes and the original bytes can be
 * recovered exactly. Each sink then escapes what it must: JSON writes control characters as JSON
 * escapes (text_json_quote), terminals and diagnostics get \xNN for them (text_escape_controls).
 */
#ifndef FIXGW_CORE_TEXT_H
#define FIXGW_CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The length (1..4) of the valid UTF-8 sequence at s[0..n), with its code point in *cp, or 0 when s[0]
 * does not start one: a stray continuation byte, an overlong form (C0 80, E0 80 80, ...), a surrogate
 * (ED A0 80..ED BF BF), a code point past U+10FFFF, or a sequence cut short by n. n must be > 0. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/** Characters a sink must never emit raw: C0 controls, DEL, C1 controls (U+0080..U+009F, terminals
 * may read U+009B as CSI) and U+2028/U+2029 (line breaks to JavaScript and some log viewers). */
bool text_is_control(uint32_t cp);

/** Write s[0..len) as a JSON string literal, quotes included, into out: valid UTF-8 is kept as UTF-8;
 * '"' and '\' are escaped; \b \f \n \r \t as such, other controls (text_is_control) as \uXXXX; a byte
 * that is not valid UTF-8 as \\xNN (a literal backslash, x and two hex digits in the decoded string).
 * Never writes past cap; when the value does not fit it is cut between two characters and the
 * closing quote still written. Returns the bytes written (no NUL); 0 when cap < 3. */
size_t text_json_quote(char *out, size_t cap, const char *s, size_t len);

/** Rewrite JSON text made by a generator that leaves DEL, C1 controls and U+2028/U+2029 raw inside
 * strings (jansson does): each becomes \uXXXX. Those characters can only occur inside strings, so the
 * result is the same JSON value. Returns a new malloc'd string, or NULL when out of memory. */
char *text_json_harden(const char *json);

/** Copy s[0..len) for a terminal or a text line: valid UTF-8 is kept, each byte of a control character
 * (text_is_control) or of invalid UTF-8 becomes \xNN. Backslashes are kept (rendered values already
 * carry \\). Always NUL-terminates (cap > 0); cuts between characters. Returns the length written. */
size_t text_escape_controls(char *out, size_t cap, const char *s, size_t len);

/** Decode JSON string text s[0..len) (without its quotes) into out[0..cap): \" \\ \/ \b \f \n \r \t and
 * \uXXXX (a BMP code point, written as UTF-8). For text the caller wrote or validated (a log line's values,
 * YAML double-quoted scalars checked by yaml_fast): nothing is refused. Stops before a character that
 * would not fit; no NUL. Returns the bytes written, never more than len. */
size_t text_json_unescape(char *out, size_t cap, const char *s, size_t len);

/** Write the n bytes at in as 2*n lowercase hex digits and a NUL into out (2*n + 1 bytes): trace and span
 * ids as log lines carry them, digests as names. */
void text_hex(const uint8_t *in, size_t n, char *out);

#endif
