/* fix_scan.h - incremental, allocation-free scanner for the first FIX message (the Logon).
 *
 * The scanner never copies and never allocates. The caller owns one contiguous, append-only buffer and
 * calls fix_scan_step() each time bytes were appended; field values are returned as offsets into that
 * buffer (struct fix_field), so the caller may move the buffer between calls as long as the bytes already
 * scanned stay the same.
 *
 * Best effort by design (see docs/internals/fix-scan.md): BodyLength and CheckSum are recorded but never
 * validated; the message ends at the first CheckSum (10=) field. Length-prefixed data fields (RawData 96,
 * SecureData 91, ...) are skipped by their declared length, so a SOH or "49=" inside binary data is never
 * taken as a field. Bytes after the Logon are never consumed.
 */
#ifndef FIXGW_CORE_FIX_SCAN_H
#define FIXGW_CORE_FIX_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FIX_SCAN_DEFAULT_MAX_BYTES  (64u * 1024u)
#define FIX_SCAN_DEFAULT_MAX_FIELDS 512u
#define FIX_TAG_MAX                 999999999u /* nine digits: a tag never overflows uint32_t */

enum fix_scan_status {
	FIX_SCAN_NEED_MORE = 0, /* no verdict yet: append bytes and call again */
	FIX_SCAN_COMPLETE = 1,  /* a whole Logon of scanner.length bytes */
	FIX_SCAN_INVALID = -1,  /* not a FIX Logon; scanner.error says why */
};

enum fix_scan_error {
	FIX_SCAN_OK = 0,
	FIX_SCAN_ERR_NOT_FIX,            /* does not start with 8=FIX...<SOH>9= */
	FIX_SCAN_ERR_NOT_LOGON,          /* third field is not 35=A */
	FIX_SCAN_ERR_BAD_TAG,            /* a tag that is not 1-9 digits followed by '=' */
	FIX_SCAN_ERR_BAD_DATA_LENGTH,    /* a data-length field whose value is not a usable number */
	FIX_SCAN_ERR_TOO_LARGE,          /* more than max_bytes without a complete Logon */
	FIX_SCAN_ERR_TOO_MANY_FIELDS,    /* more fields than the caller's array holds */
	FIX_SCAN_ERR_BAD_CHECKSUM_FIELD, /* 10= whose value is not three digits */
};

/** One field: the tag and a view [value_off, value_off + value_len) into the caller's buffer. */
struct fix_field {
	uint32_t tag;
	uint32_t value_off;
	uint32_t value_len;
};

/** Scanner state. Zero-initialise with fix_scan_init(); no destructor (owns nothing). */
struct fix_scanner {
	/* configuration (set by fix_scan_init, read-only afterwards) */
	size_t max_bytes;
	struct fix_field *fields; /* caller-owned array of field_cap entries */
	size_t field_cap;

	/* results, valid when status is COMPLETE (fields and begin_string also while NEED_MORE, and on
	 * INVALID for the fields completed before the error, such as the 35 of a NOT_LOGON) */
	size_t nfields;
	size_t length;             /* bytes of the Logon including the 10=nnn<SOH> trailer */
	int64_t body_length;       /* value of tag 9, or -1 when not a usable number */
	bool body_length_mismatch; /* tag 9 disagrees with where the trailer really is (or is unusable) */
	enum fix_scan_error error;

	/* private resume state */
	size_t pos_;        /* start of the field being scanned (the next one once its SOH is seen) */
	size_t cur_;        /* next byte to examine: bytes before it are never looked at again */
	size_t value_off_;  /* start of the value being scanned */
	size_t body_start_; /* first byte after 9=...<SOH> */
	uint32_t tag_;      /* tag of the field being scanned (partial while its digits arrive) */
	uint32_t data_tag_; /* tag whose value is length-prefixed, 0 if none pending */
	uint32_t data_len_; /* its declared length; UINT32_MAX when not a usable number */
	int state_;         /* where in a field cur_ is (enum in fix_scan.c) */
	enum fix_scan_status status_;
};

/** Prepare a scanner. fields/field_cap is the caller's array (at least 3 entries); max_bytes bounds the
 * Logon size (0 selects FIX_SCAN_DEFAULT_MAX_BYTES; values above UINT32_MAX are clamped so that every
 * offset fits a struct fix_field). */
void fix_scan_init(struct fix_scanner *sc, struct fix_field *fields, size_t field_cap, size_t max_bytes);

/** Scan buf[0..len). Each call must pass the same bytes as before plus any appended ones. Work done in
 * earlier calls is not repeated: the total cost over a whole Logon is linear in its size whatever the
 * split points. Once COMPLETE or INVALID, further calls return the same verdict. */
enum fix_scan_status fix_scan_step(struct fix_scanner *sc, const char *buf, size_t len);

/** Human-readable reason for an error ("first message is not a Logon (35=D)" style text is built by
 * the caller; this is the short constant form). */
const char *fix_scan_error_str(enum fix_scan_error err);

/* ---- lookups over a completed (or partial) scan ---- */

enum fix_lookup {
	FIX_LOOKUP_ABSENT = 0,
	FIX_LOOKUP_FOUND = 1,
	FIX_LOOKUP_AMBIGUOUS = 2, /* the tag occurs more than once with different values */
};

/** Find tag among the scanned fields. On FOUND/AMBIGUOUS *out is the first occurrence. */
enum fix_lookup fix_scan_find(const struct fix_scanner *sc, const char *buf, uint32_t tag,
                              struct fix_field *out);

/** The BeginString view (field 0) or an empty view before it is scanned. */
struct fix_field fix_scan_begin_string(const struct fix_scanner *sc);

#endif
