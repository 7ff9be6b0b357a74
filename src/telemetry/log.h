/* log.h - structured JSON log lines, one per event, each carrying its connection context.
 *
 * A line is built into a fixed per-call buffer and handed whole to the sink (log_sink.h), which never
 * blocks the caller: an event loop thread buffers its lines and writes them once per loop turn
 * (log_flush()), and lines the sink cannot take are dropped and counted (log_dropped_total()), then
 * reported in a "log_lines_dropped" line once writing resumes. Keys are literals from the code and are
 * written as they are. Values are escaped for JSON; values that come from counterparties must already
 * have gone through the redaction policy (core/redact.h) before they reach a log line.
 *
 *   struct log_line l;
 *   log_begin(&l, LOG_ERROR, "hold_start", &conn->log_ctx);
 *   log_str(&l, "target", "trading/equities-engine-svc:9880");
 *   log_end(&l, "no ready endpoints; holding the connection for up to %u ms", timeout_ms);
 */
#ifndef FIXGW_TELEMETRY_LOG_H
#define FIXGW_TELEMETRY_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/log_sink.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_CRITICAL };

#define LOG_LINE_MAX 8192

/** What every line about one connection repeats. Borrowed strings; any may be NULL. */
struct log_ctx {
	const char *component; /* "gateway", "reject-engine", "operator" */
	const char *listener;
	const char *peer;  /* "ip:port" of the counterparty */
	const char *route; /* "namespace/name" once routed */
	/* The trace and span ids as their 16 and 8 bytes, or NULL: the line renders them as hex, the record
	 * hook takes the bytes as they are. */
	const uint8_t *trace_bytes, *span_bytes;
	uint64_t conn_id; /* 0 when not about a connection */
};

/** At most this many attributes of a line reach a record hook (the OTLP record's own limit). */
#define LOG_RECORD_MAX_FIELDS 24

enum log_field_type { LOG_FIELD_STR = 0, LOG_FIELD_INT, LOG_FIELD_BOOL, LOG_FIELD_JSON };

/** Where one attribute's value sits in the line being built (log_line.buf), kept only while a record
 * hook is installed, so the hook reads the values the line already rendered instead of formatting them
 * again. */
struct log_field_pos {
	const char *key;   /* the literal the caller passed */
	uint16_t off, len; /* the value's JSON text in buf: a string without its quotes, or the raw JSON */
	uint8_t type;      /* enum log_field_type */
	bool escaped;      /* a string whose JSON text holds escapes (decoded before the hook sees it) */
	int64_t i;         /* LOG_FIELD_INT (a uint64 above INT64_MAX is INT64_MAX), LOG_FIELD_BOOL */
};

struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
	bool enabled; /* false when the level is filtered out: every call is then a no-op */
	bool truncated;
	bool record;   /* a record hook was installed at log_begin: remember where the values are */
	uint8_t level; /* enum log_level */
	uint8_t nfields;
	int8_t trace_field, span_field;          /* indexes of the context's ids in fields, or -1 */
	const uint8_t *trace_bytes, *span_bytes; /* the context's, for the record hook */
	const char *event;
	uint64_t time_ns; /* the line's timestamp, Unix epoch nanoseconds */
	struct log_field_pos fields[LOG_RECORD_MAX_FIELDS];
};

/** One attribute as a record hook receives it: strings and JSON are views (not NUL-terminated) valid for
 * the duration of the hook call; escapes are already decoded. */
struct log_field {
	const char *key;
	enum log_field_type type;
	const char *s;
	size_t len;
	int64_t i;
};

/** A finished line as a structured record (for the OTLP log bridge, telemetry/otlp_log_bridge.h). All
 * borrowed for the duration of the call. */
struct log_record {
	uint64_t time_ns;
	enum log_level level;
	const char *event;
	const char *msg;            /* NUL-terminated */
	const uint8_t *trace_bytes; /* the line's trace and span ids (16 and 8 bytes), or NULL */
	const uint8_t *span_bytes;
	const struct log_field *fields; /* the line's attributes in order, the ids excepted */
	size_t nfields;
};

/** Who receives every line that passes the level filter, as a record, right after the line went to the
 * sink. Called on the logging thread: must not block (the OTLP bridge copies it into a lock-free queue).
 */
struct log_record_hook {
	void (*fn)(void *arg, const struct log_record *rec);
	void *arg;
};

/** Process-wide settings. fd defaults to 2 (stderr); the first call opens the sink on it (see
 * log_sink_open()), later calls with the same fd only change the level, so a reload may call it while
 * other threads log. */
void log_configure(enum log_level min_level, int fd);
/** Install (hook) or remove (NULL) the record hook. hook is borrowed and must outlive its installation;
 * a line begun before the call may still reach the previous hook, so remove it only when no other
 * thread logs any more (or the hook's target outlives them). */
void log_set_record_hook(const struct log_record_hook *hook);
/** Change the minimum level from any thread; every thread's next line sees it. */
void log_set_level(enum log_level min_level);
enum log_level log_min_level(void);
/** Lines dropped because the sink was full, summed over all threads since start (for the admin view
 * and the exporter). */
uint64_t log_dropped_total(void);
/** Write the calling thread's buffered lines without blocking, and report drops once they went out.
 * An event loop calls it once per turn; returns true when lines remain (the sink is full): call again
 * within a few milliseconds even if nothing else happens. */
bool log_flush(void);
bool log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);

void log_begin(struct log_line *l, enum log_level lvl, const char *event, const struct log_ctx *ctx);
void log_str(struct log_line *l, const char *key, const char *value);
void log_strn(struct log_line *l, const char *key, const char *value, size_t len);
void log_int(struct log_line *l, const char *key, int64_t value);
void log_uint(struct log_line *l, const char *key, uint64_t value);
void log_bool(struct log_line *l, const char *key, bool value);
/** Add a pre-rendered JSON value (an object or array built by the caller). */
void log_raw(struct log_line *l, const char *key, const char *json);
/** Finish with the human message and write the line. */
void log_end(struct log_line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** log_end with a va_list, for wrappers that add their own attributes first. */
void log_endv(struct log_line *l, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/** One-call form for lines without extra attributes. */
void log_msg(enum log_level lvl, const char *event, const struct log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Append s as a JSON string literal (with quotes) to out by the rules of core/text.h (text_json_quote):
 * valid UTF-8 kept, controls as JSON escapes, invalid bytes as \\xNN. Returns bytes written, never past
 * cap. */
size_t log_json_escape(char *out, size_t cap, const char *s, size_t len);

#endif
