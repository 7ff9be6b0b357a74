/* redact.h - the one redaction policy every emitter (logs, spans, metrics, CLI, errors) goes through.
 *
 * A tag is SHOWn, REDACTed ("[REDACTED]") or HIDden (absent). Secrets (fix_dict_is_secret) are always
 * redacted. FIXSession matchFields add to the policy: `redact: true` redacts the tag and `log: false` hides
 * it, in every telemetry signal, whichever route the connection ends up on (the strictest setting any
 * route gives a tag wins, so a tag is never shown merely because a different route matched).
 */
#ifndef FIXGW_CORE_REDACT_H
#define FIXGW_CORE_REDACT_H

#include <stddef.h>
#include <stdint.h>

#define REDACTED_TEXT "[REDACTED]"

enum redact_action {
	REDACT_SHOW = 0,
	REDACT_MASK = 1, /* value replaced by [REDACTED] */
	REDACT_HIDE = 2, /* tag and value absent */
};

struct redact_rule {
	uint32_t tag;
	enum redact_action action;
};

/** Immutable policy: a sorted array of rules. Owned by whoever built it (the route table). */
struct redact_policy {
	const struct redact_rule *rules; /* sorted by tag, unique */
	size_t nrules;
};

/** The action for tag; secrets are MASKed even when the policy is NULL or empty. */
enum redact_action redact_action_for(const struct redact_policy *policy, uint32_t tag);

/** Render untrusted bytes for a log line, by the rules of core/text.h: valid UTF-8 is kept (control
 * characters too: every sink escapes them in its own syntax), SOH becomes '|', a backslash "\\", NUL and
 * each byte that is not part of valid UTF-8 \xNN; values of MASKed tags become [REDACTED] and HIDden
 * fields vanish (with their SOH). Works on any input, FIX or not, and errs towards masking: when a secret
 * data field's length cannot be trusted the rest of the input is masked, and "digits=" of a tag that is
 * not shown found inside other text (a '|'-separated line, "58=see 554=pw") masks up to the next SOH.
 * Writes at most cap - 1 bytes plus a NUL and ends with "..." when truncated (never cutting an escape, a
 * UTF-8 sequence or [REDACTED]). Returns the length written (without NUL). */
size_t redact_dump(const struct redact_policy *policy, const char *buf, size_t len, char *out, size_t cap);

/** Render one field value for telemetry: copies the escaped value (as redact_dump does for a value) or
 * [REDACTED]; returns the action applied (HIDE writes an empty string). */
enum redact_action redact_value(const struct redact_policy *policy, uint32_t tag, const char *value,
                                size_t value_len, char *out, size_t cap);

#endif
