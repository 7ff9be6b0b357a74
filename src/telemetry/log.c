/* log.c - JSON log lines: formatting here, writing in log_sink.c. */
#include "telemetry/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/text.h"

/* Read by every thread on every line, changed by a reload: relaxed is enough, a line filtered by the old
 * level just before the change is as right as one after it. */
static _Atomic int min_level_ = LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "CRITICAL"};

/* Read once per line (log_begin), set at start and stop: acquire/release so the hook's fields are seen. */
static _Atomic(const struct log_record_hook *) record_hook_;

void log_set_record_hook(const struct log_record_hook *hook)
{
	atomic_store_explicit(&record_hook_, hook, memory_order_release);
}

void log_configure(enum log_level min_level, int fd)
{
	log_set_level(min_level);
	log_sink_open(fd);
}

void log_set_level(enum log_level min_level)
{
	atomic_store_explicit(&min_level_, (int)min_level, memory_order_relaxed);
}

enum log_level log_min_level(void)
{
	return (enum log_level)atomic_load_explicit(&min_level_, memory_order_relaxed);
}

uint64_t log_dropped_total(void)
{
	return log_sink_dropped_total();
}

const char *log_level_name(enum log_level lvl)
{
	return lvl <= LOG_CRITICAL ? level_names[lvl] : "?";
}

bool log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i <= LOG_CRITICAL; i++)
		if (strcasecmp(s, level_names[i]) == 0 || (i == LOG_WARN && strcasecmp(s, "warning") == 0)) {
			*out = (enum log_level)i;
			return true;
		}
	return false;
}

size_t log_json_escape(char *out, size_t cap, const char *s, size_t len)
{
	return text_json_quote(out, cap, s, len); /* the escaping rules live in core/text.h */
}

static void append(struct log_line *l, const char *s, size_t len)
{
	if (l->len + len >= LOG_LINE_MAX - 2) {
		l->truncated = true;
		len = LOG_LINE_MAX - 2 - l->len;
	}
	memcpy(l->buf + l->len, s, len);
	l->len += len;
}

/* Keys are literals from the code (letters, digits, '_'): written as they are, no escaping pass. */
static void key(struct log_line *l, const char *k)
{
	size_t n = strlen(k);
	if (l->len + n + 4 >= LOG_LINE_MAX - 2) {
		l->truncated = true;
		return;
	}
	char *p = l->buf + l->len;
	*p++ = ',';
	*p++ = '"';
	memcpy(p, k, n);
	p += n;
	*p++ = '"';
	*p++ = ':';
	l->len = (size_t)(p - l->buf);
}

/* Decimal digits of v at the end of a 20-byte buffer; returns the first digit. */
static char *utoa_end(char *end, uint64_t v)
{
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

/* Length of the leading run of printable ASCII other than '"' and '\\': bytes that every JSON escaping
 * writes as they are. Most values (names, addresses, ids) are nothing else. Eight bytes at a time: a
 * word is plain when no byte is below 0x20, above 0x7e, '"' or '\\' (the usual has-zero-byte tricks). */
static size_t plain_run(const char *s, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t x;
		memcpy(&x, s + i, 8);
		uint64_t below_space = (x - ones * 0x20) & ~x;
		uint64_t above_tilde = (x + ones * (0x80 - 0x7f)) | x; /* high bit set: byte >= 0x7f */
		uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
		uint64_t quote = (q - ones) & ~q, backslash = (b - ones) & ~b;
		if ((below_space | above_tilde | quote | backslash) & highs)
			break;
	}
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			break;
	}
	return i;
}

/* Remember the value written at buf[off, end) for the record hook. */
static void note_field(struct log_line *l, const char *k, size_t off, size_t end, enum log_field_type type,
                       bool escaped, int64_t i)
{
	if (l->nfields == LOG_RECORD_MAX_FIELDS || end < off)
		return;
	l->fields[l->nfields++] = (struct log_field_pos){.key = k,
	                                                 .off = (uint16_t)off,
	                                                 .len = (uint16_t)(end - off),
	                                                 .type = (uint8_t)type,
	                                                 .escaped = escaped,
	                                                 .i = i};
}

void log_strn(struct log_line *l, const char *k, const char *value, size_t len)
{
	if (!l->enabled || !value)
		return;
	key(l, k);
	size_t off = l->len;
	if (plain_run(value, len) == len && l->len + len + 2 < LOG_LINE_MAX - 2) {
		char *p = l->buf + l->len;
		*p++ = '"';
		memcpy(p, value, len);
		p[len] = '"';
		l->len += len + 2;
		if (l->record) /* the value is the text between the quotes */
			note_field(l, k, off + 1, l->len - 1, LOG_FIELD_STR, false, 0);
		return;
	}
	l->len += log_json_escape(l->buf + l->len, LOG_LINE_MAX - 2 - l->len, value, len);
	if (l->record && l->len - off >= 2)
		note_field(l, k, off + 1, l->len - 1, LOG_FIELD_STR, true, 0);
}

void log_str(struct log_line *l, const char *k, const char *value)
{
	if (value)
		log_strn(l, k, value, strlen(value));
}

void log_int(struct log_line *l, const char *k, int64_t value)
{
	if (!l->enabled)
		return;
	char num[24], *end = num + sizeof(num);
	char *p = utoa_end(end, value < 0 ? 0 - (uint64_t)value : (uint64_t)value);
	if (value < 0)
		*--p = '-';
	key(l, k);
	append(l, p, (size_t)(end - p));
	if (l->record)
		note_field(l, k, l->len, l->len, LOG_FIELD_INT, false, value);
}

void log_uint(struct log_line *l, const char *k, uint64_t value)
{
	if (!l->enabled)
		return;
	char num[24], *end = num + sizeof(num);
	char *p = utoa_end(end, value);
	key(l, k);
	append(l, p, (size_t)(end - p));
	if (l->record)
		note_field(l, k, l->len, l->len, LOG_FIELD_INT, false,
		           value > INT64_MAX ? INT64_MAX : (int64_t)value);
}

void log_bool(struct log_line *l, const char *k, bool value)
{
	if (!l->enabled)
		return;
	key(l, k);
	append(l, value ? "true" : "false", value ? 4 : 5);
	if (l->record)
		note_field(l, k, l->len, l->len, LOG_FIELD_BOOL, false, value);
}

void log_raw(struct log_line *l, const char *k, const char *json)
{
	if (!l->enabled)
		return;
	key(l, k);
	size_t off = l->len;
	append(l, json, strlen(json));
	if (l->record)
		note_field(l, k, off, l->len, LOG_FIELD_JSON, false, 0);
}

/* The line head up to the seconds, rendered once per second per thread: gmtime_r and snprintf cost more
 * than the rest of a short line. */
struct ts_cache {
	time_t sec;
	size_t len;
	char text[48];
};
static _Thread_local struct ts_cache ts_cache_ = {.sec = -1};

static void begin_head(struct log_line *l, enum log_level lvl)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	l->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	struct ts_cache *c = &ts_cache_;
	if (ts.tv_sec != c->sec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		int n =
		    snprintf(c->text, sizeof(c->text), "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.",
		             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		c->len = n > 0 && (size_t)n < sizeof(c->text) ? (size_t)n : 0;
		c->sec = ts.tv_sec;
	}
	char *p = l->buf;
	memcpy(p, c->text, c->len);
	p += c->len;
	long us = ts.tv_nsec / 1000;
	for (int i = 5; i >= 0; i--, us /= 10)
		p[i] = (char)('0' + us % 10);
	p += 6;
	static const char mid[] = "Z\",\"level\":\"";
	memcpy(p, mid, sizeof(mid) - 1);
	p += sizeof(mid) - 1;
	size_t n = strlen(level_names[lvl]);
	memcpy(p, level_names[lvl], n);
	p += n;
	*p++ = '"';
	l->len = (size_t)(p - l->buf);
}

void log_begin(struct log_line *l, enum log_level lvl, const char *event, const struct log_ctx *ctx)
{
	l->enabled = lvl >= log_min_level() && lvl <= LOG_CRITICAL;
	l->len = 0;
	l->truncated = false;
	l->record = false;
	if (!l->enabled)
		return;
	begin_head(l, lvl);
	log_str(l, "event", event);
	l->record = atomic_load_explicit(&record_hook_, memory_order_relaxed) != NULL;
	l->level = (uint8_t)lvl;
	l->event = event;
	l->nfields = 0;
	l->trace_field = l->span_field = -1;
	l->trace_bytes = l->span_bytes = NULL;
	if (!ctx)
		return;
	log_str(l, "component", ctx->component);
	if (ctx->conn_id)
		log_uint(l, "conn_id", ctx->conn_id);
	log_str(l, "listener", ctx->listener);
	log_str(l, "peer", ctx->peer);
	log_str(l, "route", ctx->route);
	char trace_hex[33], span_hex[17];
	const char *trace_id = NULL, *span_id = NULL;
	if (ctx->trace_bytes) {
		text_hex(ctx->trace_bytes, 16, trace_hex);
		trace_id = trace_hex;
	}
	if (ctx->span_bytes) {
		text_hex(ctx->span_bytes, 8, span_hex);
		span_id = span_hex;
	}
	uint8_t n = l->nfields;
	log_str(l, "trace_id", trace_id);
	if (l->nfields > n)
		l->trace_field = (int8_t)n;
	n = l->nfields;
	log_str(l, "span_id", span_id);
	if (l->nfields > n)
		l->span_field = (int8_t)n;
	l->trace_bytes = ctx->trace_bytes;
	l->span_bytes = ctx->span_bytes;
}

/* Hand the finished line to the record hook: the values are views into the line (decoded into scratch
 * when they hold escapes), so nothing is formatted twice. */
static void emit_record(const struct log_line *l, const char *msg)
{
	const struct log_record_hook *h = atomic_load_explicit(&record_hook_, memory_order_acquire);
	if (!h)
		return;
	struct log_field f[LOG_RECORD_MAX_FIELDS];
	char scratch[2048];
	size_t used = 0, n = 0;
	struct log_record r = {.time_ns = l->time_ns,
	                       .level = (enum log_level)l->level,
	                       .event = l->event,
	                       .msg = msg,
	                       .trace_bytes = l->trace_bytes,
	                       .span_bytes = l->span_bytes,
	                       .fields = f};
	for (uint8_t i = 0; i < l->nfields; i++) {
		const struct log_field_pos *p = &l->fields[i];
		const char *v = l->buf + p->off;
		if (i == l->trace_field || i == l->span_field)
			continue; /* the record carries them as bytes */
		f[n] = (struct log_field){
		    .key = p->key, .type = (enum log_field_type)p->type, .s = v, .len = p->len, .i = p->i};
		if (p->escaped) {
			size_t k = text_json_unescape(scratch + used, sizeof(scratch) - used, v, p->len);
			f[n].s = scratch + used;
			f[n].len = k;
			used += k;
		}
		n++;
	}
	r.nfields = n;
	h->fn(h->arg, &r);
}

/* Once lines go through again, say how many did not: the report bypasses the level filter, since a
 * gap in the log must never pass silently. */
static void report_drops(void)
{
	uint64_t n = log_sink_take_unreported();
	if (!n)
		return;
	struct log_line l = {.enabled = true};
	begin_head(&l, LOG_WARN);
	log_str(&l, "event", "log_lines_dropped");
	log_str(&l, "component", "log");
	log_uint(&l, "dropped", n);
	log_uint(&l, "dropped_total", log_sink_dropped_total());
	log_str(&l, "msg", "the log sink was full: lines were dropped instead of stalling the workers");
	l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	log_sink_write(l.buf, l.len);
}

bool log_flush(void)
{
	int rc = log_sink_flush();
	if (rc != 0)
		return rc > 0; /* a failed sink takes no report either */
	report_drops();
	return log_sink_flush() > 0;
}

void log_end(struct log_line *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_endv(l, fmt, ap);
	va_end(ap);
}

/* Whether fmt has no conversion but %s (and %%): the hot lines ("%s -> %s", "connection closed: %s"). */
static bool only_strings(const char *fmt)
{
	for (const char *p = fmt; (p = strchr(p, '%')) != NULL; p += 2)
		if (p[1] != 's' && p[1] != '%')
			return false;
	return true;
}

/* Append len bytes of s at out + n, never past cap - 1; returns the new length. */
static size_t put(char *out, size_t cap, size_t n, const char *s, size_t len)
{
	size_t take = len < cap - 1 - n ? len : cap - 1 - n;
	memcpy(out + n, s, take);
	return n + take;
}

/* The message text of a line into out (at most cap - 1 bytes); returns its length. Formats made of
 * literal text and %s are copied by hand, as vsnprintf would write them; others go to vsnprintf. */
__attribute__((format(printf, 3, 0))) static size_t format_msg(char *out, size_t cap, const char *fmt,
                                                               va_list ap)
{
	if (!only_strings(fmt)) {
		int n = vsnprintf(out, cap, fmt, ap);
		return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
	}
	size_t n = 0;
	for (const char *p = fmt;;) {
		const char *pct = strchr(p, '%');
		n = put(out, cap, n, p, pct ? (size_t)(pct - p) : strlen(p));
		if (!pct)
			break;
		if (pct[1] == '%') {
			n = put(out, cap, n, "%", 1);
		} else {
			const char *v = va_arg(ap, const char *);
			v = v ? v : "(null)";
			n = put(out, cap, n, v, strlen(v));
		}
		p = pct + 2;
	}
	out[n] = '\0';
	return n;
}

void log_endv(struct log_line *l, const char *fmt, va_list ap)
{
	if (!l->enabled)
		return;
	char msg[1024];
	size_t n = format_msg(msg, sizeof(msg), fmt, ap);
	bool record = l->record;
	l->record = false; /* msg is the record's body, not an attribute */
	log_strn(l, "msg", msg, n);
	if (l->truncated)
		log_bool(l, "truncated", true);
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	if (log_sink_write(l->buf, l->len) && !log_sink_thread_buffering())
		report_drops(); /* a buffering thread reports from log_flush(), once its buffer went out */
	if (record)
		emit_record(l, msg);
}

void log_msg(enum log_level lvl, const char *event, const struct log_ctx *ctx, const char *fmt, ...)
{
	struct log_line l;
	log_begin(&l, lvl, event, ctx);
	va_list ap;
	va_start(ap, fmt);
	log_endv(&l, fmt, ap);
	va_end(ap);
}
