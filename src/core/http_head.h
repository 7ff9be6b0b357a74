/* http_head.h - the head of one HTTP/1.x request (request line and header fields): a pure parser.
 *
 * Buffer in, views out, nothing allocated. Call it again with more bytes until it stops asking for more
 * (the head is re-scanned from the start each time: heads are small and bounded by the caller's buffer).
 * Only what a small server needs is interpreted: the method, the target, Content-Length (duplicates
 * must agree), whether Transfer-Encoding was sent, Content-Type and Expect. Everything else is skipped.
 * Lines end in CRLF (a bare LF is accepted, as RFC 9112 allows); obsolete line folding, a Content-Length
 * that is not a number, and Content-Length together with Transfer-Encoding (a smuggling vector) are
 * refused.
 */
#ifndef FIXGW_CORE_HTTP_HEAD_H
#define FIXGW_CORE_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** A view into the caller's buffer (not NUL-terminated). */
struct http_view {
	const char *p;
	size_t len;
};

struct http_head {
	struct http_view method, target, content_type;
	int minor_version;          /* HTTP/1.<minor_version> */
	bool has_length;            /* Content-Length was given */
	uint64_t content_length;    /* its value */
	bool has_transfer_encoding; /* Transfer-Encoding was given (this parser reads no chunked body) */
	bool expect_continue;       /* Expect: 100-continue */
	size_t head_len;            /* bytes of the head, the blank line included */
};

enum http_head_status {
	HTTP_HEAD_DONE = 0,      /* *out is filled; the body starts at buf + out->head_len */
	HTTP_HEAD_NEED_MORE = 1, /* no blank line yet: read more (the caller bounds the head's size) */
	HTTP_HEAD_INVALID = 2,   /* *reason says why (static text) */
};

/** Parse buf[0..len). Views in *out point into buf. */
enum http_head_status http_head_parse(const char *buf, size_t len, struct http_head *out,
                                      const char **reason);

/** True when v equals the NUL-terminated s, ignoring ASCII case. */
bool http_view_eq_ci(struct http_view v, const char *s);

#endif
