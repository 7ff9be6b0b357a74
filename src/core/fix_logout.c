/* fix_logout.c - the reject engine's FIX Logout (see fix_logout.h for the message layout). */
#include "core/fix_logout.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/errors.h"

#define SOH '\x01'

/* A byte run borrowed from the Logon buffer or the caller's reason; never owned. */
struct lo_view {
	const char *p;
	size_t len;
};

/* The Logout fields that come from the Logon, in output order. */
struct lo_ident {
	const char *tag;    /* tag as text, with '=' */
	uint32_t logon_tag; /* where its value comes from in the Logon */
	bool after_header;  /* written after 34/52 (SubIDs and LocationIDs) */
};

static const struct lo_ident lo_idents[] = {
    {"49=", 56, false}, {"56=", 49, false},  {"50=", 57, true},
    {"57=", 50, true},  {"142=", 143, true}, {"143=", 142, true},
};

#define LO_NIDENT (sizeof(lo_idents) / sizeof(lo_idents[0]))

/* Bounded appender: counts every byte, stores those that fit. Counting with cap 0 sizes a message
 * without writing it. */
struct lo_writer {
	char *p;
	size_t cap;
	size_t len;
	unsigned sum; /* running byte sum for the CheckSum */
};

static void lo_put(struct lo_writer *w, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (w->len + i < w->cap)
			w->p[w->len + i] = s[i];
		w->sum += (unsigned char)s[i];
	}
	w->len += n;
}

static void lo_puts(struct lo_writer *w, const char *s)
{
	lo_put(w, s, strlen(s));
}

static void lo_field(struct lo_writer *w, const char *tag_eq, struct lo_view v)
{
	static const char soh = SOH;
	lo_puts(w, tag_eq);
	lo_put(w, v.p, v.len);
	lo_put(w, &soh, 1);
}

/* Decimal text of v (no leading zeros) into buf, which holds at least 21 bytes; returns the length. */
static size_t lo_utoa(char *buf, size_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

/* A value we are willing to write: 1..max bytes, each printable ASCII (so never SOH, never a byte that
 * could be read as a field separator or break a log line). */
static bool lo_printable(const char *p, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c > 0x7e)
			return false;
	}
	return true;
}

/* "YYYYMMDD-HH:MM:SS.sss" (21 bytes, then NUL) from a UTC wall-clock time; milliseconds truncate. */
static int lo_sending_time(const struct timespec *now, char out[32])
{
	struct tm tm;
	time_t secs = now->tv_sec;

	if (now->tv_nsec < 0 || now->tv_nsec >= 1000000000L)
		return FIXGW_EINVAL;
	if (!gmtime_r(&secs, &tm))
		return FIXGW_EINVAL;
	if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		return FIXGW_EINVAL;
	int n = snprintf(out, 32, "%04d%02d%02d-%02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
	                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now->tv_nsec / 1000000L));
	return n == 21 ? 0 : FIXGW_EINVAL;
}

/* Everything from 35= up to and including the SOH before 10=. */
static void lo_body(struct lo_writer *w, const struct lo_view ident[LO_NIDENT], struct lo_view sending_time,
                    struct lo_view reason)
{
	lo_puts(w, "35=5\x01");
	for (size_t i = 0; i < LO_NIDENT; i++)
		if (!lo_idents[i].after_header && ident[i].len)
			lo_field(w, lo_idents[i].tag, ident[i]);
	lo_puts(w, "34=1\x01");
	lo_field(w, "52=", sending_time);
	for (size_t i = 0; i < LO_NIDENT; i++)
		if (lo_idents[i].after_header && ident[i].len)
			lo_field(w, lo_idents[i].tag, ident[i]);
	if (reason.len)
		lo_field(w, "58=", reason);
}

int fix_logout_build(const struct fix_scanner *sc, const char *logon_buf, const char *reason,
                     const struct timespec *now, char *out, size_t cap, size_t *out_len)
{
	struct lo_view ident[LO_NIDENT];
	struct lo_view reason_v = {reason, reason ? strlen(reason) : 0};
	char ts[32];
	int rc;

	if (out_len)
		*out_len = 0;
	if (!sc || !logon_buf || !now || !out_len || (!out && cap))
		return FIXGW_EINVAL;

	struct fix_field bs = fix_scan_begin_string(sc);
	if (!lo_printable(logon_buf + bs.value_off, bs.value_len, FIX_LOGOUT_VALUE_MAX))
		return FIXGW_EINVAL;
	struct lo_view begin = {logon_buf + bs.value_off, bs.value_len};

	for (size_t i = 0; i < LO_NIDENT; i++) {
		struct fix_field f;
		ident[i] = (struct lo_view){NULL, 0};
		if (fix_scan_find(sc, logon_buf, lo_idents[i].logon_tag, &f) == FIX_LOOKUP_ABSENT ||
		    f.value_len == 0)
			continue;
		if (!lo_printable(logon_buf + f.value_off, f.value_len, FIX_LOGOUT_VALUE_MAX))
			return FIXGW_EINVAL;
		ident[i] = (struct lo_view){logon_buf + f.value_off, f.value_len};
	}
	if (reason_v.len && !lo_printable(reason_v.p, reason_v.len, FIX_LOGOUT_REASON_MAX))
		return FIXGW_EINVAL;

	rc = lo_sending_time(now, ts);
	if (rc)
		return rc;
	struct lo_view ts_v = {ts, 21};

	/* Size the body first, so that 9= can be written before it. */
	struct lo_writer count = {NULL, 0, 0, 0};
	lo_body(&count, ident, ts_v, reason_v);
	char digits[24];
	struct lo_view body_len = {digits, lo_utoa(digits, count.len)};

	struct lo_writer w = {out, cap, 0, 0};
	lo_field(&w, "8=", begin);
	lo_field(&w, "9=", body_len);
	lo_body(&w, ident, ts_v, reason_v);

	unsigned cs = w.sum % 256;
	char sum[3] = {(char)('0' + cs / 100), (char)('0' + cs / 10 % 10), (char)('0' + cs % 10)};
	lo_field(&w, "10=", (struct lo_view){sum, sizeof(sum)});

	if (w.len > cap)
		return FIXGW_ELIMIT;
	*out_len = w.len;
	return 0;
}
