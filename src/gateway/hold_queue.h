/* hold_queue.h - one worker's held connections: waiting for a ready endpoint, released oldest first.
 *
 * Held entries are grouped by FIXSession (the `key`: one bucket per FIXSession with held connections), each
 * group an intrusive FIFO list: adding and removing are O(1), and a release pass asks "is the target ready?"
 * once per group, then releases from the group's head until its pacing says wait. A pass costs
 * O(groups + released), never a scan of every held connection, and takes no lock of its own (one worker
 * owns the queue; readiness and pacing are the caller's).
 *
 *	hold_queue_init(&q);
 *	hold_queue_add(&q, &s->hold, route_key, "ns/svc:port");  // embed a struct hold_entry in the owner
 *	hold_queue_release(&q, &ops, ctx);                       // on endpoint changes and pacing ticks
 *	hold_queue_del(&q, &s->hold);                            // on release, timeout, close
 */
#ifndef FIXGW_GATEWAY_HOLD_QUEUE_H
#define FIXGW_GATEWAY_HOLD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

struct hold_bucket;

/** Embedded in the held object; all NULL when not queued. */
struct hold_entry {
	struct hold_entry *next, *prev;
	struct hold_bucket *bucket;
};

struct hold_bucket {
	struct hold_bucket *next, *prev; /* the queue's buckets */
	const void *key;                 /* the FIXSession (pacing unit): compared by address */
	char *target;                    /* owned copy: the entry that brought it may leave first */
	struct hold_entry *head, *tail;
	size_t count;
};

struct hold_queue {
	struct hold_bucket *buckets;
	size_t count, nbuckets;
};

/** What a release pass asks its caller. */
struct hold_release_ops {
	/** Does target have a ready endpoint? Asked once per bucket and pass. */
	bool (*ready)(void *ctx, const char *target);
	/** Try to release e (its bucket's oldest): true when released (the callee removed e from the queue),
	 * false when pacing says wait (the rest of that bucket waits too). */
	bool (*release)(void *ctx, struct hold_entry *e);
};

/** Result of a release pass. */
struct hold_pass {
	size_t released;
	size_t waiting_ready; /* still held although their target is ready (paced) */
};

void hold_queue_init(struct hold_queue *q);
/** Append e (not queued) to key's bucket. A new bucket keeps its own copy of `target` (the caller's
 * string may go with its entry while others wait). Returns 0, or -ENOMEM when a new bucket cannot be
 * allocated (e is then not queued). */
int hold_queue_add(struct hold_queue *q, struct hold_entry *e, const void *key, const char *target);
/** Remove e if queued (no-op otherwise). Frees its bucket when it was the last one. */
void hold_queue_del(struct hold_queue *q, struct hold_entry *e);
/** The oldest entry of some bucket, or NULL when empty (for draining the whole queue). */
struct hold_entry *hold_queue_any(const struct hold_queue *q);
static inline bool hold_entry_queued(const struct hold_entry *e)
{
	return e->bucket != NULL;
}
/** One release pass over every bucket whose target is ready. */
struct hold_pass hold_queue_release(struct hold_queue *q, const struct hold_release_ops *ops, void *ctx);
/** Free the buckets (entries are the owners' business; call when they are gone). */
void hold_queue_fini(struct hold_queue *q);

#endif
