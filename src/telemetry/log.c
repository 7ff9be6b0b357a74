/* log.c - JSON log lines. */
#include "telemetry/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level_ = LOG_INFO;
static int log_fd_ = 2;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "CRITICAL"};

void log_configure(enum log_level min_level, int fd)
{
	min_level_ = min_level;
	log_fd_ = fd;
}

enum log_level log_min_level(void)
{
	return min_level_;
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
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	if (cap < 3)
		return 0;
	out[n++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t elen = 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c, elen = 2;
		} else if (c == '\n') {
			esc[0] = '\\', esc[1] = 'n', elen = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			/* bytes, not code points: keep the line valid JSON whatever the input */
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4], esc[5] = hex[c & 15], elen = 6;
		} else {
			esc[0] = (char)c;
		}
		if (n + elen + 1 >= cap)
			break;
		memcpy(out + n, esc, elen);
		n += elen;
	}
	out[n++] = '"';
	return n;
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

static void key(struct log_line *l, const char *k)
{
	append(l, ",", 1);
	l->len += log_json_escape(l->buf + l->len, LOG_LINE_MAX - 2 - l->len, k, strlen(k));
	append(l, ":", 1);
}

void log_strn(struct log_line *l, const char *k, const char *value, size_t len)
{
	if (!l->enabled || !value)
		return;
	key(l, k);
	l->len += log_json_escape(l->buf + l->len, LOG_LINE_MAX - 2 - l->len, value, len);
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
	char num[32];
	key(l, k);
	append(l, num, (size_t)snprintf(num, sizeof(num), "%lld", (long long)value));
}

void log_uint(struct log_line *l, const char *k, uint64_t value)
{
	if (!l->enabled)
		return;
	char num[32];
	key(l, k);
	append(l, num, (size_t)snprintf(num, sizeof(num), "%llu", (unsigned long long)value));
}

void log_bool(struct log_line *l, const char *k, bool value)
{
	if (!l->enabled)
		return;
	key(l, k);
	append(l, value ? "true" : "false", value ? 4 : 5);
}

void log_raw(struct log_line *l, const char *k, const char *json)
{
	if (!l->enabled)
		return;
	key(l, k);
	append(l, json, strlen(json));
}

void log_begin(struct log_line *l, enum log_level lvl, const char *event, const struct log_ctx *ctx)
{
	l->enabled = lvl >= min_level_;
	l->len = 0;
	l->truncated = false;
	if (!l->enabled)
		return;
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char head[96];
	int n =
	    snprintf(head, sizeof(head), "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\",\"level\":\"%s\"",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	             ts.tv_nsec / 1000, level_names[lvl]);
	append(l, head, (size_t)n);
	log_str(l, "event", event);
	if (!ctx)
		return;
	log_str(l, "component", ctx->component);
	if (ctx->conn_id)
		log_uint(l, "conn_id", ctx->conn_id);
	log_str(l, "listener", ctx->listener);
	log_str(l, "peer", ctx->peer);
	log_str(l, "route", ctx->route);
	log_str(l, "trace_id", ctx->trace_id);
	log_str(l, "span_id", ctx->span_id);
}

void log_end(struct log_line *l, const char *fmt, ...)
{
	if (!l->enabled)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	log_strn(l, "msg", msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	if (l->truncated)
		log_bool(l, "truncated", true);
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	for (size_t off = 0; off < l->len;) {
		ssize_t w = write(log_fd_, l->buf + off, l->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* nowhere to report a failing log sink */
		off += (size_t)w;
	}
}

void log_msg(enum log_level lvl, const char *event, const struct log_ctx *ctx, const char *fmt, ...)
{
	struct log_line l;
	log_begin(&l, lvl, event, ctx);
	if (!l.enabled)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_end(&l, "%s", msg);
}
