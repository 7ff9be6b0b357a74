/* watch_split.h - split a Kubernetes watch stream into its events.
 *
 * A watch response body is a sequence of JSON objects ({"type":"ADDED","object":{...}}), usually one per
 * line, but chunk boundaries fall anywhere: inside a string, between a backslash and what it escapes, in
 * the middle of a multi-byte character. The splitter is a pure incremental scanner: bytes in, complete
 * event views out. It only tracks object/array depth and string state, so it never decodes anything; the
 * caller parses each complete event (jansson) on its own.
 *
 * Memory is bounded: an event longer than max_event_bytes is not kept; its bytes are scanned (so the
 * stream stays in step) and dropped, and K8S_SPLIT_OVERSIZED reports it once it ends. The buffer grows
 * on demand up to max_event_bytes.
 *
 *   struct k8s_split sp;
 *   k8s_split_init(&sp, 8 << 20);
 *   while (n > 0) {
 *           size_t used; struct k8s_split_event ev;
 *           enum k8s_split_status st = k8s_split_feed(&sp, data, n, &used, &ev);
 *           data += used, n -= used;
 *           if (st == K8S_SPLIT_EVENT) handle(ev.data, ev.len);   // valid until the next feed
 *   }
 */
#ifndef FIXGW_K8S_WATCH_SPLIT_H
#define FIXGW_K8S_WATCH_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define K8S_SPLIT_DEFAULT_MAX_EVENT (8u << 20) /* bytes; etcd's own object limit is 1.5 MiB */

enum k8s_split_status {
	K8S_SPLIT_NEED_MORE = 0, /* every byte given was consumed; no event completed */
	K8S_SPLIT_EVENT,         /* one complete event: see the view */
	K8S_SPLIT_OVERSIZED,     /* one event ended that was longer than the maximum; it was dropped */
	K8S_SPLIT_INVALID,       /* a byte that cannot start an event (not '{' or whitespace) */
	K8S_SPLIT_ENOMEM,        /* growing the buffer failed; the event is dropped like an oversized one */
};

/** A view into the splitter's buffer: valid until the next k8s_split_feed or k8s_split_free. */
struct k8s_split_event {
	const char *data;
	size_t len;
};

/** Scanner state. The buffer is owned by the splitter. */
struct k8s_split {
	char *buf;
	size_t len; /* bytes of the event being read */
	size_t cap;
	size_t max;         /* max_event_bytes */
	uint64_t depth;     /* open objects and arrays */
	uint64_t skipped;   /* bytes of the event being dropped (oversized) */
	uint64_t last_size; /* size of the last oversized event, for the caller's log line */
	bool in_event;
	bool in_str;
	bool esc;
	bool dropping; /* the current event is being dropped */
	bool nomem;    /* ...because the buffer could not grow */
	bool ready;    /* the last call returned an event: discard it on the next call */
	uint8_t bad;   /* the byte that made K8S_SPLIT_INVALID */
};

/** Initialise with a maximum event size in bytes (0 = K8S_SPLIT_DEFAULT_MAX_EVENT). Allocates nothing. */
void k8s_split_init(struct k8s_split *s, size_t max_event_bytes);
/** Forget any partial event, keeping the buffer (a new stream starts). */
void k8s_split_reset(struct k8s_split *s);
/** Free the buffer. */
void k8s_split_free(struct k8s_split *s);

/** Scan up to n bytes. *consumed says how many were used: scanning stops right after an event ends (or
 * after the invalid byte), so the caller calls again with the rest. ev is filled for K8S_SPLIT_EVENT. */
enum k8s_split_status k8s_split_feed(struct k8s_split *s, const char *data, size_t n, size_t *consumed,
                                     struct k8s_split_event *ev);

/** Bytes of an unfinished event (a stream that ends while this is non-zero was truncated). */
static inline uint64_t k8s_split_pending(const struct k8s_split *s)
{
	return s->in_event ? (s->dropping ? s->skipped : s->len) : 0;
}

#endif
