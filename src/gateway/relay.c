/* relay.c - the two-way byte pump between a client and its engine. */
#include "gateway/relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

void relay_init(struct relay *r, struct transport *client, struct transport *upstream, char *scratch,
                size_t scratch_cap)
{
	*r = (struct relay){.scratch = scratch, .scratch_cap = scratch_cap};
	r->side[RELAY_CLIENT].t = client;
	r->side[RELAY_UPSTREAM].t = upstream;
}

static void buf_free(struct relay_buf *b)
{
	free(b->buf);
	*b = (struct relay_buf){0};
}

void relay_fini(struct relay *r)
{
	buf_free(&r->side[0].out);
	buf_free(&r->side[1].out);
}

static int fail(struct relay *r, const struct transport *t, const char *fallback)
{
	r->error = t->reason ? t->reason : fallback;
	return -1;
}

/* Deliver dst->out as far as dst takes it. Returns -1 on a write error. */
static int flush(struct relay *r, struct relay_side *dst)
{
	struct relay_buf *b = &dst->out;
	while (b->buf && b->off < b->len) {
		ssize_t w = transport_write(dst->t, b->buf + b->off, b->len - b->off);
		if (w == -EAGAIN)
			return 0;
		if (w < 0)
			return fail(r, dst->t, "write failed");
		b->off += (uint32_t)w;
	}
	buf_free(b);
	return 0;
}

/* Write buf to dst (whose out buffer is empty), keeping what it does not take. */
static int forward(struct relay *r, struct relay_side *dst, const char *buf, size_t len)
{
	ssize_t w = transport_write(dst->t, buf, len);
	if (w == -EAGAIN)
		w = 0;
	if (w < 0)
		return fail(r, dst->t, "write failed");
	if ((size_t)w < len) {
		size_t rest = len - (size_t)w;
		dst->out.buf = malloc(rest);
		if (!dst->out.buf) {
			r->error = "out of memory";
			return -1;
		}
		memcpy(dst->out.buf, buf + w, rest);
		dst->out = (struct relay_buf){dst->out.buf, 0, (uint32_t)rest};
	}
	return 0;
}

/* Move bytes from `from` to the other side until the source is drained, the sink is full, or a fair share
 * was moved; then pass a FIN on once everything before it is delivered. Returns -1 when the session must
 * close. */
static int pump(struct relay *r, enum relay_side_id from)
{
	struct relay_side *src = &r->side[from], *dst = &r->side[!from];
	if (flush(r, dst) < 0)
		return -1;
	for (int turn = 0; turn < RELAY_TURNS && !dst->out.buf && !src->eof; turn++) {
		if (src->t->rx_drained && !transport_pending(src->t))
			break; /* the socket is empty until epoll says otherwise */
		ssize_t n = transport_read(src->t, r->scratch, r->scratch_cap);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return fail(r, src->t, "read failed");
		if (n == 0) {
			src->eof = true;
			break;
		}
		src->bytes_read += (uint64_t)n;
		if (forward(r, dst, r->scratch, (size_t)n) < 0)
			return -1;
	}
	/* Half-close: unless the other direction is finished too (then the close that follows says it all).
	 */
	bool other_done = dst->eof && !src->out.buf;
	if (src->eof && !dst->out.buf && !dst->shut && !other_done) {
		transport_shutdown(dst->t);
		dst->shut = true;
	}
	return 0;
}

static enum relay_status status(const struct relay *r)
{
	const struct relay_side *c = &r->side[RELAY_CLIENT], *u = &r->side[RELAY_UPSTREAM];
	if (c->eof && u->eof && !c->out.buf && !u->out.buf)
		return RELAY_FINISHED;
	return RELAY_OPEN;
}

/* Reads from x are paused: its bytes have nowhere to go until the other side drains. */
static bool paused(const struct relay *r, enum relay_side_id x)
{
	return !r->side[x].eof && r->side[!x].out.buf;
}

enum relay_status relay_start(struct relay *r, char *buf, uint32_t len)
{
	struct relay_side *u = &r->side[RELAY_UPSTREAM];
	if (buf && len)
		u->out = (struct relay_buf){buf, 0, len};
	else
		free(buf);
	/* Deliver the buffered bytes; anything newer is in the kernel, and epoll will say so. Bytes the
	 * client's transport already holds (TLS records read ahead with the Logon) are invisible to epoll:
	 * read them now. */
	if (flush(r, u) < 0)
		return RELAY_RESET;
	if (transport_pending(r->side[RELAY_CLIENT].t) && pump(r, RELAY_CLIENT) < 0)
		return RELAY_RESET;
	return status(r);
}

enum relay_status relay_event(struct relay *r, enum relay_side_id side, uint32_t events)
{
	struct relay_side *x = &r->side[side];
	bool hup = events & (EPOLLHUP | EPOLLERR);
	if (events & (EPOLLIN | EPOLLRDHUP) || hup)
		transport_readable(x->t);
	if (paused(r, side)) {
		/* Not reading x: its close would go unnoticed until the other side drains, maybe never. A
		 * reset (or HUP before we ended our own direction) ends the session; a FIN is remembered. */
		if ((events & EPOLLERR) || (hup && !x->shut)) {
			r->error = "connection reset";
			return RELAY_RESET;
		}
		if (events & EPOLLRDHUP)
			x->fin_seen = true;
	}
	bool in = events & EPOLLIN || hup, out = events & EPOLLOUT || hup;
	/* A TLS read may wait for the socket to be writable and a TLS write for it to be readable. */
	bool from_x = x->t->read_want == TRANSPORT_WANT_WRITE ? out : in;
	bool to_x = x->out.buf && (x->t->write_want == TRANSPORT_WANT_READ ? in : out);
	if (from_x && pump(r, side) < 0)
		return RELAY_RESET;
	if (to_x && pump(r, !side) < 0)
		return RELAY_RESET;
	return status(r);
}

uint32_t relay_interest(const struct relay *r, enum relay_side_id side)
{
	const struct relay_side *x = &r->side[side];
	uint32_t ev = 0;
	if (!x->eof && !paused(r, side))
		ev |= (x->t->read_want == TRANSPORT_WANT_WRITE ? EPOLLOUT : EPOLLIN) | EPOLLRDHUP;
	else if (!x->eof && !x->fin_seen)
		ev |= EPOLLRDHUP; /* paused: still notice the peer leaving (level-triggered: once) */
	if (x->out.buf)
		ev |= x->t->write_want == TRANSPORT_WANT_READ ? EPOLLIN : EPOLLOUT;
	return ev;
}

bool relay_stalled_after_fin(const struct relay *r)
{
	return (r->side[0].fin_seen && !r->side[0].eof) || (r->side[1].fin_seen && !r->side[1].eof);
}
