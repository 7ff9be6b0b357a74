/* fuzz_http_head.c - libFuzzer target for the HTTP/1.x request head parser (admin ports, the webhook).
 *
 * Properties checked on every input:
 *  - a complete head stays inside the input, its views inside the head, and a head that sent both
 *    Content-Length and Transfer-Encoding is never complete (refused: a smuggling vector);
 *  - the verdict does not depend on what follows the head: the head alone parses to the same fields;
 *  - the verdict is incremental: every prefix shorter than a complete head asks for more or is refused,
 *    and a prefix that is refused means the whole input is refused too (a server reading in pieces
 *    decides as one reading it whole);
 *  - a reason is given with every refusal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http_head.h"

#define REQUIRE(c)                                                                                           \
	do {                                                                                                 \
		if (!(c))                                                                                    \
			abort();                                                                             \
	} while (0)

static void require_view_inside(struct http_view v, const char *head, size_t head_len)
{
	if (!v.len)
		return;
	REQUIRE(v.p >= head && v.p + v.len <= head + head_len);
}

static void require_same(const struct http_head *a, const struct http_head *b, const char *buf)
{
	REQUIRE(a->head_len == b->head_len && a->minor_version == b->minor_version);
	REQUIRE(a->has_length == b->has_length && a->content_length == b->content_length);
	REQUIRE(a->has_transfer_encoding == b->has_transfer_encoding);
	REQUIRE(a->expect_continue == b->expect_continue);
	const struct http_view va[] = {a->method, a->target, a->content_type};
	const struct http_view vb[] = {b->method, b->target, b->content_type};
	for (size_t i = 0; i < sizeof(va) / sizeof(va[0]); i++)
		REQUIRE(va[i].len == vb[i].len && (!va[i].len || va[i].p - buf == vb[i].p - buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy without slack, so that any read past the input is an ASan report. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct http_head whole;
	const char *reason = NULL;
	enum http_head_status st = http_head_parse(buf, size, &whole, &reason);
	REQUIRE(st == HTTP_HEAD_DONE || st == HTTP_HEAD_NEED_MORE || st == HTTP_HEAD_INVALID);
	if (st == HTTP_HEAD_INVALID)
		REQUIRE(reason && reason[0]);
	if (st == HTTP_HEAD_DONE) {
		REQUIRE(whole.head_len > 0 && whole.head_len <= size);
		REQUIRE(!(whole.has_length && whole.has_transfer_encoding));
		REQUIRE(whole.method.len > 0 && whole.target.len > 0);
		require_view_inside(whole.method, buf, whole.head_len);
		require_view_inside(whole.target, buf, whole.head_len);
		require_view_inside(whole.content_type, buf, whole.head_len);
		struct http_head alone;
		REQUIRE(http_head_parse(buf, whole.head_len, &alone, &reason) == HTTP_HEAD_DONE);
		require_same(&whole, &alone, buf);
	}
	/* Prefixes: at most 64 cut points spread over the input keep each run fast. */
	size_t limit = st == HTTP_HEAD_DONE ? whole.head_len : size;
	size_t step = limit / 64 + 1;
	for (size_t k = 0; k < limit; k += step) {
		struct http_head part;
		const char *why = NULL;
		enum http_head_status ps = http_head_parse(buf, k, &part, &why);
		REQUIRE(ps != HTTP_HEAD_DONE);
		if (ps == HTTP_HEAD_INVALID)
			REQUIRE(st == HTTP_HEAD_INVALID);
	}
	free(buf);
	return 0;
}
