/* hold_queue.c - held connections grouped by FIXSession, FIFO within a group. */
#include "gateway/hold_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef HOLD_QUEUE_TEST_HOOKS
/* Unit tests only: make the next bucket allocation fail. */
static int hold_queue_fail_alloc;
#define BUCKET_ALLOC()                                                                                       \
	(hold_queue_fail_alloc ? (hold_queue_fail_alloc--, NULL) : calloc(1, sizeof(struct hold_bucket)))
#else
#define BUCKET_ALLOC() calloc(1, sizeof(struct hold_bucket))
#endif

void hold_queue_init(struct hold_queue *q)
{
	*q = (struct hold_queue){0};
}

static struct hold_bucket *find(const struct hold_queue *q, const void *key)
{
	for (struct hold_bucket *b = q->buckets; b; b = b->next)
		if (b->key == key)
			return b;
	return NULL;
}

int hold_queue_add(struct hold_queue *q, struct hold_entry *e, const void *key, const char *target)
{
	struct hold_bucket *b = find(q, key);
	if (!b) {
		b = BUCKET_ALLOC();
		if (!b)
			return -ENOMEM;
		b->target = strdup(target);
		if (!b->target) {
			free(b);
			return -ENOMEM;
		}
		b->key = key;
		b->next = q->buckets;
		if (q->buckets)
			q->buckets->prev = b;
		q->buckets = b;
		q->nbuckets++;
	}
	e->bucket = b;
	e->next = NULL;
	e->prev = b->tail;
	if (b->tail)
		b->tail->next = e;
	else
		b->head = e;
	b->tail = e;
	b->count++;
	q->count++;
	return 0;
}

void hold_queue_del(struct hold_queue *q, struct hold_entry *e)
{
	struct hold_bucket *b = e->bucket;
	if (!b)
		return;
	if (e->prev)
		e->prev->next = e->next;
	else
		b->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		b->tail = e->prev;
	*e = (struct hold_entry){0};
	b->count--;
	q->count--;
	if (b->count)
		return;
	if (b->prev)
		b->prev->next = b->next;
	else
		q->buckets = b->next;
	if (b->next)
		b->next->prev = b->prev;
	q->nbuckets--;
	free(b->target);
	free(b);
}

struct hold_entry *hold_queue_any(const struct hold_queue *q)
{
	return q->buckets ? q->buckets->head : NULL;
}

struct hold_pass hold_queue_release(struct hold_queue *q, const struct hold_release_ops *ops, void *ctx)
{
	struct hold_pass pass = {0};
	for (struct hold_bucket *b = q->buckets, *next; b; b = next) {
		next = b->next; /* b is freed when its last entry goes */
		if (!ops->ready(ctx, b->target))
			continue;
		/* Release from the head; once the last one goes, b is freed: only `left` is looked at. */
		for (size_t left = b->count; left; left--) {
			if (!ops->release(ctx, b->head)) {
				pass.waiting_ready += left;
				break;
			}
			pass.released++;
		}
	}
	return pass;
}

void hold_queue_fini(struct hold_queue *q)
{
	while (q->buckets) {
		struct hold_bucket *b = q->buckets;
		q->buckets = b->next;
		free(b->target);
		free(b);
	}
	*q = (struct hold_queue){0};
}
