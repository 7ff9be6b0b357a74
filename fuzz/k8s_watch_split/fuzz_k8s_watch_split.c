/* fuzz_k8s_watch_split.c - libFuzzer target for the watch-stream splitter, and for the informer's event
 * decoding path (jansson on every complete event).
 *
 * Properties checked on every input:
 *  - the sequence of outcomes (events with their bytes, oversized drops with their sizes, invalid bytes)
 *    is the same whether the stream comes in one piece, in three pieces (split points from the input) or
 *    one byte at a time;
 *  - every event view starts with '{', ends with '}' or ']', and is within the bound;
 *  - the buffer never grows past the bound.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/watch_split.h"

#define MAX_EVENT 512
#define MAX_LOG   (1u << 16)

struct outcome {
	unsigned char log[MAX_LOG]; /* a digest of what came out, in order */
	size_t len;
};

static void add(struct outcome *o, const void *p, size_t n)
{
	if (o->len + n > MAX_LOG)
		n = MAX_LOG - o->len;
	memcpy(o->log + o->len, p, n);
	o->len += n;
}

static void run(const uint8_t *data, size_t size, size_t c1, size_t c2, bool bytewise, struct outcome *o)
{
	struct k8s_split sp;
	k8s_split_init(&sp, MAX_EVENT);
	o->len = 0;
	size_t cuts[3] = {c1, c2, size}, start = 0;
	for (int c = 0; c < 3; c++) {
		size_t end = cuts[c];
		while (start < end) {
			size_t n = bytewise ? 1 : end - start, used;
			struct k8s_split_event ev;
			enum k8s_split_status st =
			    k8s_split_feed(&sp, (const char *)data + start, n, &used, &ev);
			if (used == 0 || used > n)
				abort();
			start += used;
			if (sp.cap > MAX_EVENT)
				abort();
			unsigned char tag = (unsigned char)st;
			if (st != K8S_SPLIT_NEED_MORE) /* how often "need more" comes depends on the pieces */
				add(o, &tag, 1);
			if (st == K8S_SPLIT_EVENT) {
				if (ev.len < 2 || ev.len > MAX_EVENT || ev.data[0] != '{' ||
				    (ev.data[ev.len - 1] != '}' && ev.data[ev.len - 1] != ']'))
					abort();
				add(o, &ev.len, sizeof(ev.len));
				add(o, ev.data, ev.len);
				json_t *j = json_loadb(ev.data, ev.len, 0, NULL);
				json_decref(j);
			} else if (st == K8S_SPLIT_OVERSIZED) {
				add(o, &sp.last_size, sizeof(sp.last_size));
			}
		}
	}
	uint64_t pending = k8s_split_pending(&sp);
	add(o, &pending, sizeof(pending));
	k8s_split_free(&sp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome whole, pieces, bytes;
	if (size < 2)
		return 0;
	size_t c1 = data[0] % size, c2 = c1 + data[1] % (size - c1 + 1);
	run(data, size, size, size, false, &whole);
	run(data, size, c1, c2, false, &pieces);
	if (whole.len != pieces.len || memcmp(whole.log, pieces.log, whole.len) != 0)
		abort();
	if (size <= 4096) {
		run(data, size, size, size, true, &bytes);
		if (whole.len != bytes.len || memcmp(whole.log, bytes.log, whole.len) != 0)
			abort();
	}
	return 0;
}
