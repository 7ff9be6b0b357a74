/* redact.c - the redaction policy and the safe renderer of untrusted bytes.
 *
 * redact_dump() must be safe on anything: a Logon, half a Logon, a Logon with '|' instead of SOH, HTTP,
 * random binary. A FIX engine is the judge of what a secret is, so the renderer errs towards masking:
 *
 *  - at the start of the input and after each SOH, "digits=value" is a field and its tag's action applies;
 *  - inside any other text, "digits=" whose digits end with a tag that is not SHOWn starts a masked run
 *    too (a '|'-separated log line, "Text=... 554=pw", "\x01554=" pasted from another tool's log);
 *  - a masked value ends at the next SOH, unless it is a data field (its value may hold SOH): then it is
 *    skipped by the length field right before it when that length is a usable number that lands on a SOH
 *    or the end, and otherwise everything to the end of the input is masked;
 *  - a masked run that contains a masked data tag ("96=") is extended to the end of the input, since that
 *    data may run past the SOH that seemed to end the run.
 *
 * Output is built from units (one escaped byte, or "[REDACTED]") so truncation never splits one.
 */
#include "redact.h"

#include <stdbool.h>
#include <string.h>

#include "fix_dict.h"
#include "text.h"

#define ELLIPSIS       "..."
#define ELLIPSIS_LEN   (sizeof(ELLIPSIS) - 1)
#define TAG_MAX_DIGITS 9

enum redact_action redact_action_for(const struct redact_policy *policy, uint32_t tag)
{
	enum redact_action act = REDACT_SHOW;

	if (policy && policy->rules) {
		size_t lo = 0, hi = policy->nrules;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (policy->rules[mid].tag == tag) {
				act = policy->rules[mid].action;
				break;
			}
			if (policy->rules[mid].tag < tag)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	/* The strictest wins: a policy may hide a secret, never show it. */
	if (fix_dict_is_secret(tag) && act == REDACT_SHOW)
		act = REDACT_MASK;
	return act;
}

/* ---- output ---- */

struct out {
	char *buf;
	size_t cap;
	size_t n;
	size_t mark; /* last unit boundary that still leaves room for "..." */
	bool full;
};

static void out_init(struct out *o, char *buf, size_t cap)
{
	o->buf = buf;
	o->cap = cap;
	o->n = 0;
	o->mark = 0;
	o->full = false;
}

/* Append one unit whole, or cut back to the last boundary that fits "..." and stop. */
static void out_unit(struct out *o, const char *s, size_t k)
{
	size_t room = o->cap ? o->cap - 1 : 0;

	if (o->full)
		return;
	if (k > room - o->n) {
		size_t dots = room - o->mark < ELLIPSIS_LEN ? room - o->mark : ELLIPSIS_LEN;

		if (dots)
			memcpy(o->buf + o->mark, ELLIPSIS, dots);
		o->n = o->mark + dots;
		o->full = true;
		return;
	}
	memcpy(o->buf + o->n, s, k);
	o->n += k;
	if (room - o->n >= ELLIPSIS_LEN)
		o->mark = o->n;
}

static size_t out_finish(struct out *o)
{
	if (o->cap)
		o->buf[o->n] = '\0';
	return o->n;
}

/* One byte of ASCII, or a byte that is not part of valid UTF-8: the rendering rules of text.h. Control
 * characters stay raw here; every sink escapes them in its own syntax (JSON, terminal). */
static void out_byte(struct out *o, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char esc[4];

	if (c == (unsigned char)FIX_SOH) {
		out_unit(o, "|", 1);
	} else if (c == '\\') {
		out_unit(o, "\\\\", 2);
	} else if (c != 0 && c < 0x80) {
		esc[0] = (char)c;
		out_unit(o, esc, 1);
	} else {
		/* NUL too: the C strings that carry rendered values cannot hold it */
		esc[0] = '\\';
		esc[1] = 'x';
		esc[2] = hex[c >> 4];
		esc[3] = hex[c & 0xf];
		out_unit(o, esc, 4);
	}
}

/* One character at s (n > 0 bytes available): a valid UTF-8 sequence is kept whole (never split by
 * truncation), anything else goes byte by byte. Returns the bytes consumed. */
static size_t out_char(struct out *o, const char *s, size_t n)
{
	uint32_t cp;
	size_t k = (unsigned char)s[0] < 0x80 ? 0 : utf8_decode((const unsigned char *)s, n, &cp);

	if (k > 1) {
		out_unit(o, s, k);
		return k;
	}
	out_byte(o, (unsigned char)s[0]);
	return 1;
}

static void out_bytes(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n && !o->full; i++)
		out_byte(o, (unsigned char)s[i]);
}

/* ---- input ---- */

struct dump {
	const struct redact_policy *policy;
	const char *buf;
	size_t len;
	struct out *o;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* End of the digit run starting at p. */
static size_t digits_end(const char *buf, size_t p, size_t end)
{
	while (p < end && is_digit(buf[p]))
		p++;
	return p;
}

/* "digits=" at p (leading zeros allowed: an engine may read 0554 as 554)? Sets *tag and *eq. */
static bool parse_tag(const char *buf, size_t p, size_t end, uint32_t *tag, size_t *eq)
{
	size_t q = digits_end(buf, p, end);
	size_t sig = p;
	uint32_t t = 0;

	if (q == p || q >= end || buf[q] != '=')
		return false;
	while (sig < q && buf[sig] == '0')
		sig++;
	if (q - sig > TAG_MAX_DIGITS)
		return false;
	for (size_t i = sig; i < q; i++)
		t = t * 10 + (uint32_t)(buf[i] - '0');
	*tag = t;
	*eq = q;
	return true;
}

enum embedded { EMB_NONE = 0, EMB_MASKED, EMB_DATA };

/* Classify "digits=" found inside text, the digit run being [p, q). Any suffix of up to nine digits that
 * names a tag not shown counts, so "\x01554=" or "\u0001554=" (an escaped SOH pasted into a log line)
 * is caught as 554. EMB_DATA: a masked data field, whose value may run past any SOH. */
static enum embedded embedded_kind(const struct dump *d, size_t p, size_t q)
{
	enum embedded kind = EMB_NONE;
	uint32_t tag = 0, scale = 1;

	if (q >= d->len || d->buf[q] != '=')
		return EMB_NONE;
	for (size_t i = q; i > p && q - i < TAG_MAX_DIGITS; i--) {
		tag += (uint32_t)(d->buf[i - 1] - '0') * scale;
		scale *= 10;
		if (redact_action_for(d->policy, tag) == REDACT_SHOW)
			continue;
		if (fix_dict_length_tag_for_data(tag))
			return EMB_DATA;
		kind = EMB_MASKED;
	}
	return kind;
}

/* Does [p, end) hold "digits=" for a masked data tag? */
static bool has_masked_data_tag(const struct dump *d, size_t p, size_t end)
{
	while (p < end) {
		size_t q;

		if (!is_digit(d->buf[p])) {
			p++;
			continue;
		}
		q = digits_end(d->buf, p, end);
		if (q < end && embedded_kind(d, p, q) == EMB_DATA)
			return true;
		p = q;
	}
	return false;
}

/* Where a masked value starting at v, in a token ending at end, stops: end, or the input's end. */
static size_t masked_value_end(const struct dump *d, size_t v, size_t end)
{
	return has_masked_data_tag(d, v, end) ? d->len : end;
}

/* Render [p, end) byte by byte; a "digits=" of a tag that is not shown starts a masked run. Returns
 * where rendering stopped: end, or the input's end when the run had to swallow the rest. */
static size_t render_text(const struct dump *d, size_t p, size_t end)
{
	while (p < end && !d->o->full) {
		enum embedded kind;
		size_t q;

		if (!is_digit(d->buf[p])) {
			p += out_char(d->o, d->buf + p, end - p);
			continue;
		}
		q = digits_end(d->buf, p, end);
		kind = q < end ? embedded_kind(d, p, q) : EMB_NONE;
		if (kind == EMB_NONE) {
			out_bytes(d->o, d->buf + p, q - p);
			p = q;
			continue;
		}
		out_bytes(d->o, d->buf + p, q + 1 - p);
		out_unit(d->o, REDACTED_TEXT, sizeof(REDACTED_TEXT) - 1);
		return kind == EMB_DATA ? d->len : masked_value_end(d, q + 1, end);
	}
	return end;
}

/* The field before the current one, for the length of a data field. */
struct prev_field {
	uint32_t tag;
	size_t value_off;
	size_t value_len;
};

/* Parse 1-9 digits exactly, as the scanner does; -1 otherwise. */
static int64_t parse_length(const char *p, size_t n)
{
	int64_t v = 0;

	if (n == 0 || n > TAG_MAX_DIGITS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* End of the data value of tag starting at v: trusted only when the field right before is its length,
 * a usable number, and the data ends at a SOH or at the end of the input. Else the input's end. */
static size_t data_value_end(const struct dump *d, uint32_t tag, size_t v, const struct prev_field *prev)
{
	int64_t n;

	if (!prev->tag || fix_dict_length_tag_for_data(tag) != prev->tag)
		return d->len;
	n = parse_length(d->buf + prev->value_off, prev->value_len);
	if (n < 0 || (uint64_t)n > d->len - v)
		return d->len;
	if (v + (size_t)n < d->len && d->buf[v + (size_t)n] != FIX_SOH)
		return d->len;
	return v + (size_t)n;
}

/* Render the field "tag=" at p whose value starts at v, in a token ending at end. Sets *vend to where
 * the value ends and returns false when the field is hidden (nothing was written). */
static bool dump_field(const struct dump *d, size_t p, size_t v, uint32_t tag, size_t end,
                       struct prev_field *prev, size_t *vend)
{
	enum redact_action act = redact_action_for(d->policy, tag);

	if (act == REDACT_SHOW) {
		out_bytes(d->o, d->buf + p, v - p);
		*vend = render_text(d, v, end);
	} else if (fix_dict_length_tag_for_data(tag)) {
		*vend = data_value_end(d, tag, v, prev);
	} else {
		*vend = masked_value_end(d, v, end);
	}
	prev->tag = tag;
	prev->value_off = v;
	prev->value_len = *vend - v;
	if (act == REDACT_HIDE)
		return false;
	if (act == REDACT_MASK) {
		out_bytes(d->o, d->buf + p, v - p);
		out_unit(d->o, REDACTED_TEXT, sizeof(REDACTED_TEXT) - 1);
	}
	return true;
}

/* Render the token at p (the input's start or just after a SOH); returns where the next one starts. */
static size_t dump_token(const struct dump *d, size_t p, struct prev_field *prev)
{
	const char *soh = memchr(d->buf + p, FIX_SOH, d->len - p);
	size_t end = soh ? (size_t)(soh - d->buf) : d->len;
	uint32_t tag;
	size_t eq, vend;

	if (!parse_tag(d->buf, p, end, &tag, &eq)) {
		prev->tag = 0;
		vend = render_text(d, p, end);
	} else if (!dump_field(d, p, eq + 1, tag, end, prev, &vend)) {
		return vend < d->len ? vend + 1 : d->len; /* the field and its separator vanish */
	}
	if (vend >= d->len)
		return d->len;
	out_byte(d->o, (unsigned char)d->buf[vend]); /* the SOH */
	return vend + 1;
}

size_t redact_dump(const struct redact_policy *policy, const char *buf, size_t len, char *out, size_t cap)
{
	struct out o;
	struct dump d = {policy, buf, len, &o};
	struct prev_field prev = {0};
	size_t p = 0;

	out_init(&o, out, cap);
	while (p < len && !o.full)
		p = dump_token(&d, p, &prev);
	return out_finish(&o);
}

enum redact_action redact_value(const struct redact_policy *policy, uint32_t tag, const char *value,
                                size_t value_len, char *out, size_t cap)
{
	enum redact_action act = redact_action_for(policy, tag);
	struct out o;
	struct dump d = {policy, value, value_len, &o};

	out_init(&o, out, cap);
	if (act == REDACT_MASK)
		out_unit(&o, REDACTED_TEXT, sizeof(REDACTED_TEXT) - 1);
	else if (act == REDACT_SHOW)
		render_text(&d, 0, value_len);
	out_finish(&o);
	return act;
}
