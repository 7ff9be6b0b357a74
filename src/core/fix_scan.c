/* fix_scan.c - the Logon scanner: one state per place inside a field, resumed at the byte it stopped at.
 *
 * Every byte is examined once (cur_ only moves forward), so feeding a message in any number of pieces
 * costs the same as feeding it whole and gives the same verdict: a decision is always taken at the byte
 * that makes it certain, never later because the bytes happened to arrive in one piece.
 */
#include "fix_scan.h"

#include <string.h>

#include "fix_dict.h"

enum scan_state {
	ST_TAG = 0,  /* tag digits, up to '=' */
	ST_BEGIN,    /* the "FIX" that must open the BeginString value */
	ST_VALUE,    /* an ordinary value, up to SOH */
	ST_DATA,     /* a length-prefixed value: skip data_len_ bytes whatever they are */
	ST_DATA_END, /* the SOH that must follow it */
	ST_CHECKSUM, /* three digits, then SOH: the end of the message */
};

#define FIX_TAG_MAX_DIGITS 9
#define CHECKSUM_DIGITS    3
/* "10=nnn<SOH>": the shortest possible trailer, used to reject a data length that can never fit. */
#define TRAILER_MIN 7u

/* The header is fixed: tags 8, 9 and 35, in that order. */
static const char *const header_tags[] = {"8", "9", "35"};
#define HEADER_FIELDS (sizeof(header_tags) / sizeof(header_tags[0]))

void fix_scan_init(struct fix_scanner *sc, struct fix_field *fields, size_t field_cap, size_t max_bytes)
{
	memset(sc, 0, sizeof(*sc));
	if (max_bytes == 0)
		max_bytes = FIX_SCAN_DEFAULT_MAX_BYTES;
	if ((uint64_t)max_bytes > UINT32_MAX)
		max_bytes = UINT32_MAX;
	sc->max_bytes = max_bytes;
	sc->fields = fields;
	sc->field_cap = fields ? field_cap : 0;
	sc->body_length = -1;
	sc->error = FIX_SCAN_OK;
	sc->state_ = ST_TAG;
	sc->status_ = FIX_SCAN_NEED_MORE;
}

static void fail(struct fix_scanner *sc, enum fix_scan_error err)
{
	sc->error = err;
	sc->status_ = FIX_SCAN_INVALID;
}

/* 1-9 ASCII digits, nothing else; -1 otherwise. Nine digits never overflow. */
static int64_t parse_count(const char *p, size_t n)
{
	int64_t v = 0;

	if (n == 0 || n > FIX_TAG_MAX_DIGITS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* Is c acceptable at index idx of header field n's "tag=" text? */
static bool header_byte_ok(size_t n, size_t idx, char c)
{
	const char *t = header_tags[n];
	size_t tl = strlen(t);

	return idx < tl ? c == t[idx] : c == '=';
}

/* The '=' was just consumed: choose how to read the value. */
static void start_value(struct fix_scanner *sc)
{
	uint32_t pending = sc->data_tag_;

	sc->value_off_ = sc->cur_;
	sc->data_tag_ = 0; /* a length applies only to the field right after it */
	if (pending && sc->tag_ == pending) {
		if (sc->data_len_ == UINT32_MAX) {
			fail(sc, FIX_SCAN_ERR_BAD_DATA_LENGTH);
			return;
		}
		/* Decide now rather than wait for bytes that can only end in TOO_LARGE. */
		if ((uint64_t)sc->value_off_ + sc->data_len_ + 1 + TRAILER_MIN > sc->max_bytes) {
			fail(sc, FIX_SCAN_ERR_TOO_LARGE);
			return;
		}
		sc->state_ = ST_DATA;
	} else if (sc->nfields == 0) {
		sc->state_ = ST_BEGIN;
	} else if (sc->tag_ == FIX_TAG_CHECKSUM) {
		sc->state_ = ST_CHECKSUM;
	} else {
		sc->state_ = ST_VALUE;
	}
}

/* cur_ is at the SOH that ends the current field: record it and prepare for the next one. */
static void end_field(struct fix_scanner *sc, const char *buf)
{
	struct fix_field *f = &sc->fields[sc->nfields++];
	const char *v = buf + sc->value_off_;

	f->tag = sc->tag_;
	f->value_off = (uint32_t)sc->value_off_;
	f->value_len = (uint32_t)(sc->cur_ - sc->value_off_);
	sc->cur_++;

	if (sc->nfields == 2) {
		sc->body_length = parse_count(v, f->value_len);
		sc->body_start_ = sc->cur_;
	} else if (sc->nfields == 3 && !(f->value_len == 1 && v[0] == 'A')) {
		fail(sc, FIX_SCAN_ERR_NOT_LOGON);
		return;
	} else if (f->tag == FIX_TAG_CHECKSUM) {
		/* BodyLength counts the bytes from after 9=...<SOH> up to where 10= starts. */
		sc->body_length_mismatch =
		    sc->body_length < 0 || (uint64_t)sc->body_start_ + (uint64_t)sc->body_length != sc->pos_;
		sc->length = sc->cur_;
		sc->status_ = FIX_SCAN_COMPLETE;
		return;
	}

	sc->data_tag_ = fix_dict_data_tag_for_length(f->tag);
	if (sc->data_tag_) {
		int64_t n = parse_count(v, f->value_len);

		sc->data_len_ = n < 0 ? UINT32_MAX : (uint32_t)n;
	}
	sc->pos_ = sc->cur_;
	sc->tag_ = 0;
	sc->state_ = ST_TAG;
}

static void scan_tag(struct fix_scanner *sc, const char *buf, size_t end)
{
	for (; sc->cur_ < end; sc->cur_++) {
		char c = buf[sc->cur_];
		size_t idx = sc->cur_ - sc->pos_;

		if (sc->nfields < HEADER_FIELDS && !header_byte_ok(sc->nfields, idx, c)) {
			fail(sc, sc->nfields < 2 ? FIX_SCAN_ERR_NOT_FIX : FIX_SCAN_ERR_NOT_LOGON);
			return;
		}
		if (idx == 0 && sc->nfields >= sc->field_cap) {
			fail(sc, FIX_SCAN_ERR_TOO_MANY_FIELDS);
			return;
		}
		if (c == '=' && idx > 0) {
			sc->cur_++;
			start_value(sc);
			return;
		}
		if (c < '0' || c > '9' || (idx == 0 && c == '0') || idx == FIX_TAG_MAX_DIGITS) {
			fail(sc, FIX_SCAN_ERR_BAD_TAG);
			return;
		}
		sc->tag_ = sc->tag_ * 10 + (uint32_t)(c - '0');
	}
}

static void scan_begin(struct fix_scanner *sc, const char *buf, size_t end)
{
	static const char fix[] = "FIX";

	for (; sc->cur_ < end; sc->cur_++) {
		size_t idx = sc->cur_ - sc->value_off_;

		if (idx == sizeof(fix) - 1) {
			sc->state_ = ST_VALUE;
			return;
		}
		if (buf[sc->cur_] != fix[idx]) {
			fail(sc, FIX_SCAN_ERR_NOT_FIX);
			return;
		}
	}
}

static void scan_value(struct fix_scanner *sc, const char *buf, size_t end)
{
	const char *soh = memchr(buf + sc->cur_, FIX_SOH, end - sc->cur_);

	if (!soh) {
		sc->cur_ = end;
		return;
	}
	sc->cur_ = (size_t)(soh - buf);
	end_field(sc, buf);
}

static void scan_data(struct fix_scanner *sc, size_t end)
{
	size_t stop = sc->value_off_ + sc->data_len_; /* cannot wrap: checked against max_bytes */

	if (end < stop) {
		sc->cur_ = end;
		return;
	}
	sc->cur_ = stop;
	sc->state_ = ST_DATA_END;
}

static void scan_checksum(struct fix_scanner *sc, const char *buf, size_t end)
{
	for (; sc->cur_ < end; sc->cur_++) {
		char c = buf[sc->cur_];
		size_t idx = sc->cur_ - sc->value_off_;

		if (idx == CHECKSUM_DIGITS && c == FIX_SOH) {
			end_field(sc, buf);
			return;
		}
		if (idx == CHECKSUM_DIGITS || c < '0' || c > '9') {
			fail(sc, FIX_SCAN_ERR_BAD_CHECKSUM_FIELD);
			return;
		}
	}
}

/* Advance through buf[cur_, end): each handler consumes bytes, changes state or gives a verdict. */
static void scan_some(struct fix_scanner *sc, const char *buf, size_t end)
{
	switch (sc->state_) {
	case ST_TAG:
		scan_tag(sc, buf, end);
		break;
	case ST_BEGIN:
		scan_begin(sc, buf, end);
		break;
	case ST_VALUE:
		scan_value(sc, buf, end);
		break;
	case ST_DATA:
		scan_data(sc, end);
		break;
	case ST_DATA_END:
		if (buf[sc->cur_] == FIX_SOH)
			end_field(sc, buf);
		else
			fail(sc, FIX_SCAN_ERR_BAD_DATA_LENGTH);
		break;
	case ST_CHECKSUM:
		scan_checksum(sc, buf, end);
		break;
	}
}

enum fix_scan_status fix_scan_step(struct fix_scanner *sc, const char *buf, size_t len)
{
	size_t end = len < sc->max_bytes ? len : sc->max_bytes;

	while (sc->status_ == FIX_SCAN_NEED_MORE && sc->cur_ < end)
		scan_some(sc, buf, end);
	/* All of the first max_bytes were seen without a verdict, and there is more. */
	if (sc->status_ == FIX_SCAN_NEED_MORE && len > sc->max_bytes)
		fail(sc, FIX_SCAN_ERR_TOO_LARGE);
	return sc->status_;
}

const char *fix_scan_error_str(enum fix_scan_error err)
{
	switch (err) {
	case FIX_SCAN_OK:
		return "ok";
	case FIX_SCAN_ERR_NOT_FIX:
		return "not FIX";
	case FIX_SCAN_ERR_NOT_LOGON:
		return "first message is not a Logon";
	case FIX_SCAN_ERR_BAD_TAG:
		return "malformed tag";
	case FIX_SCAN_ERR_BAD_DATA_LENGTH:
		return "malformed data length";
	case FIX_SCAN_ERR_TOO_LARGE:
		return "Logon too large";
	case FIX_SCAN_ERR_TOO_MANY_FIELDS:
		return "too many fields";
	case FIX_SCAN_ERR_BAD_CHECKSUM_FIELD:
		return "malformed CheckSum field";
	}
	return "unknown scan error";
}

enum fix_lookup fix_scan_find(const struct fix_scanner *sc, const char *buf, uint32_t tag,
                              struct fix_field *out)
{
	const struct fix_field *first = NULL;

	for (size_t i = 0; i < sc->nfields; i++) {
		const struct fix_field *f = &sc->fields[i];

		if (f->tag != tag)
			continue;
		if (!first) {
			first = f;
			if (out)
				*out = *f;
			continue;
		}
		if (f->value_len != first->value_len ||
		    memcmp(buf + f->value_off, buf + first->value_off, f->value_len) != 0)
			return FIX_LOOKUP_AMBIGUOUS;
	}
	return first ? FIX_LOOKUP_FOUND : FIX_LOOKUP_ABSENT;
}

struct fix_field fix_scan_begin_string(const struct fix_scanner *sc)
{
	struct fix_field none = {0};

	return sc->nfields ? sc->fields[0] : none;
}
