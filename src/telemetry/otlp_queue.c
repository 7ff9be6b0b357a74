/* otlp_queue.c - records copied out of the caller's memory, and the bounded queue they wait in.
 *
 * The queue is Dmitry Vyukov's bounded array queue: every cell carries a sequence number that says whether
 * it is free for the producer at position pos (seq == pos) or holds the record for the consumer
 * (seq == pos + 1). Producers claim a position with one compare-and-swap on head, fill the cell, and
 * publish it with a release store; a full queue is seen without waiting and the record is dropped and
 * counted. Nothing allocates after init. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/text.h"
#include "telemetry/otlp_internal.h"

/* ---- UTF-8: protobuf strings must be valid UTF-8 (a collector refuses the whole request otherwise) ---- */

size_t otlp_utf8_copy(char *dst, size_t cap, const char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;
	for (size_t i = 0; i < n && s[i];) {
		uint32_t cp;
		size_t l = utf8_decode(s + i, n - i, &cp);
		if (l == 0) { /* as core/text.h renders it: \xNN */
			if (o + 4 > cap)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[s[i] >> 4];
			dst[o++] = hex[s[i] & 15];
			i++;
			continue;
		}
		if (o + l > cap)
			break; /* never cut a character in half */
		memcpy(dst + o, s + i, l);
		o += l;
		i += l;
	}
	return o;
}

/* ---- records ---- */

/* Copy s[0, slen) into r->text NUL-terminated, cut to fit (keeping room for reserve more bytes). Sets
 * *off / *len; returns false when not even an empty string fits. */
static bool text_putn(struct otlp_rec *r, const char *s, size_t slen, size_t reserve, uint16_t *off,
                      uint16_t *len)
{
	size_t room = sizeof(r->text) - r->text_len;
	if (room < 1 + reserve)
		return false;
	size_t n = s ? otlp_utf8_copy(r->text + r->text_len, room - 1 - reserve, s, slen) : 0;
	r->text[r->text_len + n] = '\0';
	*off = r->text_len;
	*len = (uint16_t)n;
	r->text_len = (uint16_t)(r->text_len + n + 1);
	return true;
}

static bool text_put(struct otlp_rec *r, const char *s, size_t reserve, uint16_t *off, uint16_t *len)
{
	return text_putn(r, s, s ? strlen(s) : 0, reserve, off, len);
}

static void put_attrs(struct otlp_rec *r, const struct otlp_attr *attrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct otlp_attr *a = &attrs[i];
		struct otlp_rec_attr *ra = &r->attrs[r->nattrs];
		size_t klen = a->key ? strlen(a->key) : 0;
		uint16_t before = r->text_len;
		/* A key is never cut; a string value may be. */
		if (r->nattrs == OTLP_REC_MAX_ATTRS || klen == 0 || klen + 2 > sizeof(r->text) - r->text_len)
			goto drop;
		text_put(r, a->key, 1, &ra->key_off, &ra->key_len);
		if (ra->key_len != klen)
			goto undo;
		ra->type = (uint8_t)a->type;
		switch (a->type) {
		case OTLP_ATTR_STRING:
			text_put(r, a->v.s ? a->v.s : "", 0, &ra->v.s.off, &ra->v.s.len);
			break;
		case OTLP_ATTR_STRN:
			ra->type = OTLP_ATTR_STRING;
			text_putn(r, a->v.sn.p ? a->v.sn.p : "", a->v.sn.p ? a->v.sn.n : 0, 0, &ra->v.s.off,
			          &ra->v.s.len);
			break;
		case OTLP_ATTR_INT:
			ra->v.i = a->v.i;
			break;
		case OTLP_ATTR_DOUBLE:
			ra->v.d = a->v.d;
			break;
		case OTLP_ATTR_BOOL:
			ra->v.b = a->v.b;
			break;
		default:
			goto undo;
		}
		r->nattrs++;
		continue;
	undo:
		r->text_len = before;
	drop:
		r->dropped_attrs++;
	}
}

static void rec_clear(struct otlp_rec *r)
{
	/* Only the header: text and attrs are written before they are read. */
	memset(r, 0, offsetof(struct otlp_rec, attrs));
}

void otlp_rec_from_span(struct otlp_rec *r, const struct otlp_span *s)
{
	rec_clear(r);
	memcpy(r->trace_id, s->trace_id, 16);
	memcpy(r->span_id, s->span_id, 8);
	memcpy(r->parent_span_id, s->parent_span_id, 8);
	r->start_ns = s->start_ns;
	r->end_ns = s->end_ns < s->start_ns ? s->start_ns : s->end_ns;
	r->kind = (uint8_t)s->kind;
	r->status = (uint8_t)s->status;
	text_put(r, s->name ? s->name : "span", 0, &r->name_off, &r->name_len);
	if (s->status_message && *s->status_message)
		text_put(r, s->status_message, 0, &r->msg_off, &r->msg_len);
	put_attrs(r, s->attrs, s->nattrs);
}

void otlp_rec_from_log(struct otlp_rec *r, const struct otlp_log *l)
{
	rec_clear(r);
	memcpy(r->trace_id, l->trace_id, 16);
	memcpy(r->span_id, l->span_id, 8);
	r->end_ns = otlp_now_ns(); /* observed */
	r->start_ns = l->time_ns ? l->time_ns : r->end_ns;
	r->kind = (uint8_t)l->level;
	if (l->event && *l->event)
		text_put(r, l->event, 0, &r->name_off, &r->name_len);
	if (l->body && *l->body)
		text_put(r, l->body, 0, &r->msg_off, &r->msg_len);
	put_attrs(r, l->attrs, l->nattrs);
}

/* ---- the queue ---- */

int otlp_queue_init(struct otlp_queue *q, size_t capacity)
{
	size_t cap = 2;
	while (cap < capacity)
		cap *= 2;
	memset(q, 0, sizeof(*q));
	q->cells = aligned_alloc(64, ((cap * sizeof(struct otlp_cell)) + 63) & ~(size_t)63);
	if (!q->cells)
		return FIXGW_ENOMEM;
	for (size_t i = 0; i < cap; i++)
		atomic_init(&q->cells[i].seq, i);
	q->mask = cap - 1;
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	atomic_init(&q->dropped, 0);
	return 0;
}

void otlp_queue_free(struct otlp_queue *q)
{
	free(q->cells);
	q->cells = NULL;
}

/* Claim the next free cell, or NULL (and a counted drop) when the queue is full. */
static struct otlp_cell *claim(struct otlp_queue *q, size_t *pos_out)
{
	size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
	for (;;) {
		struct otlp_cell *c = &q->cells[pos & q->mask];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(
			        &q->head, &pos, pos + 1, memory_order_relaxed, memory_order_relaxed)) {
				*pos_out = pos;
				return c;
			}
		} else if (dif < 0) {
			atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
			return NULL;
		} else {
			pos = atomic_load_explicit(&q->head, memory_order_relaxed);
		}
	}
}

bool otlp_queue_push_span(struct otlp_queue *q, const struct otlp_span *s)
{
	size_t pos;
	struct otlp_cell *c = claim(q, &pos);
	if (!c)
		return false;
	otlp_rec_from_span(&c->rec, s);
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
	return true;
}

bool otlp_queue_push_log(struct otlp_queue *q, const struct otlp_log *l)
{
	size_t pos;
	struct otlp_cell *c = claim(q, &pos);
	if (!c)
		return false;
	otlp_rec_from_log(&c->rec, l);
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
	return true;
}

size_t otlp_queue_pop(struct otlp_queue *q, struct otlp_rec *out, size_t max)
{
	size_t n = 0;
	size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
	while (n < max) {
		struct otlp_cell *c = &q->cells[pos & q->mask];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		if (seq != pos + 1)
			break; /* empty, or the producer of this cell has not published yet */
		memcpy(&out[n++], &c->rec, offsetof(struct otlp_rec, text) + c->rec.text_len);
		atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
		pos++;
	}
	atomic_store_explicit(&q->tail, pos, memory_order_relaxed);
	return n;
}

size_t otlp_queue_depth(const struct otlp_queue *q)
{
	size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
	size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
	return h > t ? h - t : 0;
}
