/* test_http_head.c - the HTTP/1.x request head parser: complete, partial and refused heads. */
#include "../../src/core/http_head.c"

#include "test.h"

static enum http_head_status parse(const char *s, struct http_head *h, const char **why)
{
	*why = NULL;
	return http_head_parse(s, strlen(s), h, why);
}

TEST(complete_head_with_body_length)
{
	const char *req = "POST /validate-fixsessions?timeout=10s HTTP/1.1\r\nHost: x\r\n"
	                  "Content-Type: application/json\r\ncontent-length: 12\r\n\r\n{\"a\":1}";
	struct http_head h;
	const char *why;
	CHECK_EQ_INT(parse(req, &h, &why), HTTP_HEAD_DONE);
	CHECK_MEM(h.method.p, h.method.len, "POST");
	CHECK_MEM(h.target.p, h.target.len, "/validate-fixsessions?timeout=10s");
	CHECK_MEM(h.content_type.p, h.content_type.len, "application/json");
	CHECK(h.has_length);
	CHECK_EQ_INT(h.content_length, 12);
	CHECK_EQ_INT(h.minor_version, 1);
	CHECK_EQ_STR(req + h.head_len, "{\"a\":1}");
}

TEST(bare_lf_and_leading_empty_lines)
{
	struct http_head h;
	const char *why;
	CHECK_EQ_INT(parse("\r\nGET /healthz HTTP/1.0\nX: y\n\n", &h, &why), HTTP_HEAD_DONE);
	CHECK_MEM(h.target.p, h.target.len, "/healthz");
	CHECK(!h.has_length);
}

TEST(every_prefix_needs_more)
{
	const char *req = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
	struct http_head h;
	const char *why = NULL;
	for (size_t n = 0; n < strlen(req); n++)
		CHECK_EQ_INT(http_head_parse(req, n, &h, &why), HTTP_HEAD_NEED_MORE);
	CHECK_EQ_INT(http_head_parse(req, strlen(req), &h, &why), HTTP_HEAD_DONE);
	CHECK_EQ_INT(h.head_len, strlen(req));
}

TEST(refused_heads_say_why)
{
	static const struct {
		const char *req, *why;
	} cases[] = {
	    {"POST /x HTTP/2.0\r\n\r\n", "unsupported protocol version"},
	    {"POST  /x HTTP/1.1\r\n\r\n", "malformed request line"},
	    {"PO(ST /x HTTP/1.1\r\n\r\n", "malformed request line"},
	    {"POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "Content-Length is not a number"},
	    {"POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", "not a number"},
	    {"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "two different"},
	    {"POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "both"},
	    {"POST /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "obsolete line folding"},
	    {"POST /x HTTP/1.1\r\nNo colon\r\n\r\n", "malformed header field"},
	    {"POST /x HTTP/1.1\r\nA: b\x01\r\n\r\n", "control character"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_head h;
		const char *why;
		CHECK_EQ_INT(parse(cases[i].req, &h, &why), HTTP_HEAD_INVALID);
		CHECK(why && strstr(why, cases[i].why));
	}
}

TEST(same_content_length_twice_is_fine_and_expect_is_seen)
{
	struct http_head h;
	const char *why;
	CHECK_EQ_INT(parse("POST /x HTTP/1.1\r\nContent-Length: 5\r\ncontent-length:5\r\n"
	                   "Expect: 100-Continue\r\n\r\n",
	                   &h, &why),
	             HTTP_HEAD_DONE);
	CHECK_EQ_INT(h.content_length, 5);
	CHECK(h.expect_continue);
	CHECK(http_view_eq_ci(h.method, "post"));
}

TEST_MAIN(TEST_ENTRY(complete_head_with_body_length), TEST_ENTRY(bare_lf_and_leading_empty_lines),
          TEST_ENTRY(every_prefix_needs_more), TEST_ENTRY(refused_heads_say_why),
          TEST_ENTRY(same_content_length_twice_is_fine_and_expect_is_seen))
