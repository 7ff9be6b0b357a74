/* Unit tests for src/k8s/watch_split.c: events split at every byte, strings with braces and escapes,
 * oversized events dropped with bounded memory, invalid bytes, truncated streams. */
#include "k8s/watch_split.c"

#include <stdlib.h>

#include "test.h"

#define MAX_EVENTS 16

struct collected {
	char ev[MAX_EVENTS][512];
	size_t n;
	unsigned oversized, invalid;
};

/* Feed data in pieces cut at the given points (sorted offsets, at most 2). */
static void feed_cuts(struct k8s_split *sp, const char *data, size_t len, const size_t *cuts, size_t ncuts,
                      struct collected *out)
{
	size_t start = 0;
	for (size_t c = 0; c <= ncuts; c++) {
		size_t end = c < ncuts ? cuts[c] : len;
		const char *p = data + start;
		size_t n = end - start;
		while (n > 0) {
			size_t used = 0;
			struct k8s_split_event ev;
			enum k8s_split_status st = k8s_split_feed(sp, p, n, &used, &ev);
			CHECK(used > 0 && used <= n);
			p += used, n -= used;
			if (st == K8S_SPLIT_EVENT && out->n < MAX_EVENTS) {
				CHECK(ev.len < sizeof(out->ev[0]));
				memcpy(out->ev[out->n], ev.data, ev.len);
				out->ev[out->n++][ev.len] = '\0';
			} else if (st == K8S_SPLIT_OVERSIZED) {
				out->oversized++;
			} else if (st == K8S_SPLIT_INVALID) {
				out->invalid++;
			}
		}
		start = end;
	}
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a}\\\"{\",\"resourceVersion\":\"1\"}}}\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"2\"},\"x\":[1,{\"y\":\"]\"}]}}"
    "\r\n"
    "  {\"type\":\"DELETED\",\"object\":{\"s\":\"\\\\\",\"t\":\"\xc3\xa9\\u00e9\"}}";

static const char *const expected[] = {
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a}\\\"{\",\"resourceVersion\":\"1\"}}}",
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"2\"},\"x\":[1,{\"y\":\"]\"}]}}",
    "{\"type\":\"DELETED\",\"object\":{\"s\":\"\\\\\",\"t\":\"\xc3\xa9\\u00e9\"}}",
};

static void check_expected(const struct collected *c)
{
	CHECK_EQ_INT(c->n, 3);
	for (size_t i = 0; i < 3 && i < c->n; i++)
		CHECK_EQ_STR(c->ev[i], expected[i]);
	CHECK_EQ_INT(c->oversized, 0);
	CHECK_EQ_INT(c->invalid, 0);
}

TEST(test_whole_stream)
{
	struct k8s_split sp;
	k8s_split_init(&sp, 0);
	struct collected c = {0};
	feed_cuts(&sp, stream, sizeof(stream) - 1, NULL, 0, &c);
	check_expected(&c);
	CHECK_EQ_INT(k8s_split_pending(&sp), 0);
	k8s_split_free(&sp);
}

TEST(test_every_split_point)
{
	size_t len = sizeof(stream) - 1;
	for (size_t i = 0; i <= len; i++) {
		struct k8s_split sp;
		k8s_split_init(&sp, 0);
		struct collected c = {0};
		size_t cut[1] = {i};
		feed_cuts(&sp, stream, len, cut, 1, &c);
		check_expected(&c);
		k8s_split_free(&sp);
	}
}

TEST(test_every_pair_of_split_points)
{
	size_t len = sizeof(stream) - 1;
	for (size_t i = 0; i <= len; i += 3)
		for (size_t j = i; j <= len; j++) {
			struct k8s_split sp;
			k8s_split_init(&sp, 0);
			struct collected c = {0};
			size_t cuts[2] = {i, j};
			feed_cuts(&sp, stream, len, cuts, 2, &c);
			check_expected(&c);
			k8s_split_free(&sp);
		}
}

TEST(test_one_byte_at_a_time)
{
	size_t len = sizeof(stream) - 1;
	struct k8s_split sp;
	k8s_split_init(&sp, 0);
	struct collected c = {0};
	for (size_t i = 0; i < len; i++)
		feed_cuts(&sp, stream + i, 1, NULL, 0, &c);
	check_expected(&c);
	k8s_split_free(&sp);
}

TEST(test_oversized_event_dropped_and_stream_resyncs)
{
	/* a 200-byte event with a bound of 64: dropped, the next small one still comes out */
	char big[400];
	int n = snprintf(big, sizeof(big),
	                 "{\"type\":\"ADDED\",\"object\":{\"pad\":\"%0180d\"}}\n{\"type\":\"X\"}", 0);
	for (size_t cut = 0; cut <= (size_t)n; cut += 7) {
		struct k8s_split sp;
		k8s_split_init(&sp, 64);
		struct collected c = {0};
		size_t cuts[1] = {cut};
		feed_cuts(&sp, big, (size_t)n, cuts, 1, &c);
		CHECK_EQ_INT(c.oversized, 1);
		CHECK_EQ_INT(c.n, 1);
		CHECK_EQ_STR(c.ev[0], "{\"type\":\"X\"}");
		CHECK(sp.cap <= 64); /* never grew past the bound */
		CHECK_EQ_INT(sp.last_size, strchr(big, '\n') - big);
		k8s_split_free(&sp);
	}
}

TEST(test_event_exactly_at_the_bound)
{
	const char *ev = "{\"a\":\"bcdef\"}"; /* 13 bytes */
	struct k8s_split sp;
	k8s_split_init(&sp, 13);
	struct collected c = {0};
	feed_cuts(&sp, ev, strlen(ev), NULL, 0, &c);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_INT(c.oversized, 0);
	k8s_split_free(&sp);
	k8s_split_init(&sp, 12);
	memset(&c, 0, sizeof(c));
	feed_cuts(&sp, ev, strlen(ev), NULL, 0, &c);
	CHECK_EQ_INT(c.n, 0);
	CHECK_EQ_INT(c.oversized, 1);
	k8s_split_free(&sp);
}

TEST(test_invalid_byte_between_events)
{
	const char *s = "{\"a\":1}\nx{\"b\":2}";
	struct k8s_split sp;
	k8s_split_init(&sp, 0);
	struct collected c = {0};
	feed_cuts(&sp, s, strlen(s), NULL, 0, &c);
	CHECK_EQ_INT(c.invalid, 1);
	CHECK_EQ_INT(sp.bad, 'x');
	CHECK_EQ_INT(c.n, 2); /* the caller decides what an invalid byte means; the splitter goes on */
	k8s_split_free(&sp);
}

TEST(test_truncated_stream_is_pending)
{
	const char *s = "{\"type\":\"ADDED\",\"object\":{\"a\":\"}";
	struct k8s_split sp;
	k8s_split_init(&sp, 0);
	struct collected c = {0};
	feed_cuts(&sp, s, strlen(s), NULL, 0, &c);
	CHECK_EQ_INT(c.n, 0);
	CHECK_EQ_INT(k8s_split_pending(&sp), strlen(s));
	k8s_split_reset(&sp); /* a new stream starts clean */
	CHECK_EQ_INT(k8s_split_pending(&sp), 0);
	feed_cuts(&sp, "{}", 2, NULL, 0, &c);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_STR(c.ev[0], "{}");
	k8s_split_free(&sp);
}

TEST(test_large_event_buffer_released)
{
	/* an event bigger than the kept capacity is delivered whole, and the buffer is freed after it */
	size_t len = (2u << 20) + 16;
	char *big = malloc(len + 1);
	CHECK(big != NULL);
	if (!big)
		return;
	memcpy(big, "{\"p\":\"", 6);
	memset(big + 6, 'a', len - 8);
	memcpy(big + len - 2, "\"}", 2);
	struct k8s_split sp;
	k8s_split_init(&sp, 4u << 20);
	size_t used;
	struct k8s_split_event ev = {0}; /* -O3 cannot see the feed sets it */
	CHECK_EQ_INT(k8s_split_feed(&sp, big, len, &used, &ev), K8S_SPLIT_EVENT);
	CHECK_EQ_INT(ev.len, len);
	CHECK_EQ_INT(k8s_split_feed(&sp, "\n", 1, &used, &ev), K8S_SPLIT_NEED_MORE);
	CHECK(sp.buf == NULL);
	k8s_split_free(&sp);
	free(big);
}

TEST_MAIN(TEST_ENTRY(test_whole_stream), TEST_ENTRY(test_every_split_point),
          TEST_ENTRY(test_every_pair_of_split_points), TEST_ENTRY(test_one_byte_at_a_time),
          TEST_ENTRY(test_oversized_event_dropped_and_stream_resyncs),
          TEST_ENTRY(test_event_exactly_at_the_bound), TEST_ENTRY(test_invalid_byte_between_events),
          TEST_ENTRY(test_truncated_stream_is_pending), TEST_ENTRY(test_large_event_buffer_released))
