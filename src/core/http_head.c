/* http_head.c - parse an HTTP/1.x request head (http_head.h). */
#include "http_head.h"

#include <string.h>

#define MAX_LENGTH_DIGITS 18 /* below 2^63: no overflow, and far beyond any body a server here takes */

bool http_view_eq_ci(struct http_view v, const char *s)
{
	size_t n = strlen(s);
	if (v.len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char a = v.p[i], b = s[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

/* RFC 9110 tchar: what a method and a field name may contain. */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the line starting at p (before CR LF or LF), or NULL when no LF follows within end. */
static const char *line_end(const char *p, const char *end, const char **next)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	if (!lf)
		return NULL;
	*next = lf + 1;
	return lf > p && lf[-1] == '\r' ? lf - 1 : lf;
}

static struct http_view trim(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return (struct http_view){p, (size_t)(e - p)};
}

static enum http_head_status bad(const char **reason, const char *why)
{
	if (reason)
		*reason = why;
	return HTTP_HEAD_INVALID;
}

static enum http_head_status request_line(const char *p, const char *e, struct http_head *out,
                                          const char **reason)
{
	const char *s = p;
	while (p < e && is_tchar(*p))
		p++;
	if (p == s || p == e || *p != ' ')
		return bad(reason, "malformed request line (want METHOD SP TARGET SP HTTP/1.x)");
	out->method = (struct http_view){s, (size_t)(p - s)};
	s = ++p;
	while (p < e && *p != ' ' && (unsigned char)*p > 0x20 && *p != 0x7f)
		p++;
	if (p == s || p == e || *p != ' ')
		return bad(reason, "malformed request line (want METHOD SP TARGET SP HTTP/1.x)");
	out->target = (struct http_view){s, (size_t)(p - s)};
	p++;
	if (e - p != 8 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9')
		return bad(reason, "unsupported protocol version (want HTTP/1.x)");
	out->minor_version = p[7] - '0';
	return HTTP_HEAD_DONE;
}

static enum http_head_status header_field(const char *p, const char *e, struct http_head *out,
                                          const char **reason)
{
	if (*p == ' ' || *p == '\t')
		return bad(reason, "obsolete line folding in a header field");
	const char *s = p;
	while (p < e && is_tchar(*p))
		p++;
	if (p == s || p == e || *p != ':')
		return bad(reason, "malformed header field (want NAME: VALUE)");
	struct http_view name = {s, (size_t)(p - s)}, value = trim(p + 1, e);
	for (size_t i = 0; i < value.len; i++)
		if ((value.p[i] < 0x20 && value.p[i] != '\t') || value.p[i] == 0x7f)
			return bad(reason, "control character in a header field value");
	if (http_view_eq_ci(name, "content-length")) {
		uint64_t n = 0;
		if (value.len == 0 || value.len > MAX_LENGTH_DIGITS)
			return bad(reason, "Content-Length is not a number");
		for (size_t i = 0; i < value.len; i++) {
			if (value.p[i] < '0' || value.p[i] > '9')
				return bad(reason, "Content-Length is not a number");
			n = n * 10 + (uint64_t)(value.p[i] - '0');
		}
		if (out->has_length && out->content_length != n)
			return bad(reason, "two different Content-Length values");
		out->has_length = true;
		out->content_length = n;
	} else if (http_view_eq_ci(name, "transfer-encoding")) {
		out->has_transfer_encoding = true;
	} else if (http_view_eq_ci(name, "content-type")) {
		out->content_type = value;
	} else if (http_view_eq_ci(name, "expect")) {
		out->expect_continue = http_view_eq_ci(value, "100-continue");
	}
	return HTTP_HEAD_DONE;
}

enum http_head_status http_head_parse(const char *buf, size_t len, struct http_head *out, const char **reason)
{
	memset(out, 0, sizeof(*out));
	const char *p = buf, *end = buf + len, *next;
	/* RFC 9112 2.2: a server should ignore at least one empty line before the request line */
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	const char *e = line_end(p, end, &next);
	if (!e)
		return HTTP_HEAD_NEED_MORE;
	enum http_head_status st = request_line(p, e, out, reason);
	if (st != HTTP_HEAD_DONE)
		return st;
	for (p = next;; p = next) {
		e = line_end(p, end, &next);
		if (!e)
			return HTTP_HEAD_NEED_MORE;
		if (e == p)
			break; /* the blank line */
		st = header_field(p, e, out, reason);
		if (st != HTTP_HEAD_DONE)
			return st;
	}
	if (out->has_length && out->has_transfer_encoding)
		return bad(reason, "both Content-Length and Transfer-Encoding");
	out->head_len = (size_t)(next - buf);
	return HTTP_HEAD_DONE;
}
