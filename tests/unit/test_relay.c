/* Unit tests for src/gateway/relay.c with a fake transport: partial writes, EAGAIN, backpressure, half-close
 * both ways, read and write errors, peer close while paused, one read per readable event, and a transport
 * whose reads wait for writability (as TLS can). */
#include "gateway/relay.c"

#include <stdint.h>
#include <stdlib.h>

#include "test.h"

#define SCRATCH 4096

/* A scripted byte stream: `in` is what the peer sent, `out` what it received. */
struct fake {
	struct transport t;
	const char *in;
	size_t in_len, in_off;
	size_t read_limit; /* bytes per read at most (0: as many as fit) */
	bool in_eof;       /* after `in`, the peer's end of stream */
	int read_err, write_err;
	char out[1 << 18];
	size_t out_len;
	size_t write_room; /* bytes accepted before EAGAIN */
	bool shut;
	int reads, writes;
};

static ssize_t fake_read(struct transport *t, void *buf, size_t cap)
{
	struct fake *f = (struct fake *)t;
	f->reads++;
	if (f->read_err) {
		t->reason = "read boom";
		return -f->read_err;
	}
	size_t avail = f->in_len - f->in_off;
	if (avail) {
		size_t n = avail < cap ? avail : cap;
		if (f->read_limit && n > f->read_limit)
			n = f->read_limit;
		memcpy(buf, f->in + f->in_off, n);
		f->in_off += n;
		t->rx_drained = n < cap;
		return (ssize_t)n;
	}
	if (f->in_eof)
		return 0;
	t->rx_drained = true;
	return -EAGAIN;
}

static ssize_t fake_write(struct transport *t, const void *buf, size_t len)
{
	struct fake *f = (struct fake *)t;
	f->writes++;
	if (f->write_err) {
		t->reason = "write boom";
		return -f->write_err;
	}
	if (!f->write_room)
		return -EAGAIN;
	size_t n = len < f->write_room ? len : f->write_room;
	if (f->out_len + n > sizeof(f->out))
		n = sizeof(f->out) - f->out_len;
	memcpy(f->out + f->out_len, buf, n);
	f->out_len += n;
	f->write_room -= n;
	return (ssize_t)n;
}

static void fake_shutdown(struct transport *t)
{
	((struct fake *)t)->shut = true;
}

static bool fake_pending(const struct transport *t)
{
	(void)t;
	return false;
}

static void fake_nothing(struct transport *t)
{
	(void)t;
}

static int fake_handshake(struct transport *t)
{
	(void)t;
	return 0;
}

static const struct transport_ops fake_ops = {.name = "fake",
                                              .handshake = fake_handshake,
                                              .read = fake_read,
                                              .write = fake_write,
                                              .shutdown = fake_shutdown,
                                              .close_notify = fake_nothing,
                                              .pending = fake_pending,
                                              .fini = fake_nothing};

static struct fake *fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	f->t = (struct transport){
	    .ops = &fake_ops, .fd = -1, .read_want = TRANSPORT_WANT_READ, .write_want = TRANSPORT_WANT_WRITE};
	f->write_room = SIZE_MAX;
	return f;
}

struct rig {
	struct fake *c, *u;
	struct relay r;
	char scratch[SCRATCH];
};

static struct rig *rig_new(void)
{
	struct rig *g = calloc(1, sizeof(*g));
	g->c = fake_new();
	g->u = fake_new();
	relay_init(&g->r, &g->c->t, &g->u->t, g->scratch, sizeof(g->scratch));
	return g;
}

static void rig_free(struct rig *g)
{
	relay_fini(&g->r);
	free(g->c);
	free(g->u);
	free(g);
}

static char *dup_bytes(const char *s, size_t n)
{
	char *p = malloc(n);
	memcpy(p, s, n);
	return p;
}

/* An event on a side: epoll said so, so its transport may read the socket again. */
static enum relay_status ev(struct rig *g, enum relay_side_id side, uint32_t events)
{
	return relay_event(&g->r, side, events);
}

TEST(start_delivers_the_logon_and_reads_both_sides)
{
	struct rig *g = rig_new();
	CHECK_EQ_INT(relay_start(&g->r, dup_bytes("LOGON", 5), 5), RELAY_OPEN);
	CHECK_MEM(g->u->out, g->u->out_len, "LOGON");
	CHECK_EQ_INT(g->c->reads, 0); /* epoll will say when the client has more */
	CHECK_EQ_INT(relay_interest(&g->r, RELAY_CLIENT), EPOLLIN | EPOLLRDHUP);
	CHECK_EQ_INT(relay_interest(&g->r, RELAY_UPSTREAM), EPOLLIN | EPOLLRDHUP);
	rig_free(g);
}

TEST(partial_write_keeps_the_rest_and_pauses_the_source)
{
	struct rig *g = rig_new();
	g->u->write_room = 3;
	CHECK_EQ_INT(relay_start(&g->r, dup_bytes("0123456789", 10), 10), RELAY_OPEN);
	CHECK_MEM(g->u->out, g->u->out_len, "012");
	CHECK(g->r.side[RELAY_UPSTREAM].out.buf != NULL);
	/* the client is not read while its bytes have nowhere to go, but its close is still watched */
	CHECK_EQ_INT(relay_interest(&g->r, RELAY_CLIENT), EPOLLRDHUP);
	CHECK_EQ_INT(relay_interest(&g->r, RELAY_UPSTREAM), EPOLLIN | EPOLLRDHUP | EPOLLOUT);
	g->c->in = "more";
	g->c->in_len = 4;
	g->u->write_room = SIZE_MAX;
	CHECK_EQ_INT(ev(g, RELAY_UPSTREAM, EPOLLOUT), RELAY_OPEN);
	/* the rest went out, and the client was read at once (its reads had been paused) */
	CHECK_MEM(g->u->out, g->u->out_len, "0123456789more");
	CHECK(g->r.side[RELAY_UPSTREAM].out.buf == NULL);
	CHECK_EQ_INT(relay_interest(&g->r, RELAY_CLIENT), EPOLLIN | EPOLLRDHUP);
	CHECK_EQ_INT(relay_interest(&g->r, RELAY_UPSTREAM), EPOLLIN | EPOLLRDHUP);
	rig_free(g);
}

TEST(eagain_is_not_an_error_and_moves_nothing)
{
	struct rig *g = rig_new();
	relay_start(&g->r, NULL, 0);
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN), RELAY_OPEN);
	CHECK_EQ_INT(g->c->reads, 1);
	CHECK_EQ_INT(g->u->out_len, 0);
	g->u->write_room = 0;
	g->c->in = "abc";
	g->c->in_len = 3;
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN), RELAY_OPEN); /* upstream says EAGAIN: kept */
	CHECK_EQ_INT(g->r.side[RELAY_UPSTREAM].out.len, 3);
	rig_free(g);
}

TEST(backpressure_reads_one_chunk_then_waits)
{
	static char big[SCRATCH * 8];
	memset(big, 'x', sizeof(big));
	struct rig *g = rig_new();
	relay_start(&g->r, NULL, 0);
	g->c->in = big;
	g->c->in_len = sizeof(big);
	g->u->write_room = 100;
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN), RELAY_OPEN);
	CHECK_EQ_INT(g->c->reads, 1); /* one chunk read; the rest stays with the peer */
	CHECK_EQ_INT(g->u->out_len, 100);
	CHECK_EQ_INT(g->r.side[RELAY_UPSTREAM].out.len - g->r.side[RELAY_UPSTREAM].out.off, SCRATCH - 100);
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN), RELAY_OPEN); /* a stray readable event reads nothing */
	CHECK_EQ_INT(g->c->reads, 1);
	/* drain: everything arrives, in order */
	g->u->write_room = SIZE_MAX;
	for (int i = 0; i < 64 && g->u->out_len < sizeof(big); i++) {
		ev(g, RELAY_UPSTREAM, EPOLLOUT);
		ev(g, RELAY_CLIENT, EPOLLIN);
	}
	CHECK_EQ_INT(g->u->out_len, sizeof(big));
	CHECK_EQ_INT(g->r.side[RELAY_CLIENT].bytes_read, sizeof(big));
	rig_free(g);
}

TEST(one_read_per_readable_event_once_drained)
{
	struct rig *g = rig_new();
	relay_start(&g->r, NULL, 0);
	g->c->in = "short";
	g->c->in_len = 5;
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN), RELAY_OPEN);
	CHECK_EQ_INT(g->c->reads, 1); /* a short read means drained: no read to hear EAGAIN */
	CHECK_MEM(g->u->out, g->u->out_len, "short");
	/* a full chunk may be followed by more: read again, up to RELAY_TURNS */
	static char big[SCRATCH * 2 + 1];
	memset(big, 'y', sizeof(big));
	g->c->in = big;
	g->c->in_len = sizeof(big);
	g->c->in_off = 0;
	g->c->t.rx_drained = false;
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN), RELAY_OPEN);
	CHECK_EQ_INT(g->c->reads, 4);
	rig_free(g);
}

TEST(client_half_close_passes_the_fin_after_the_bytes)
{
	struct rig *g = rig_new();
	g->u->write_room = 2;
	relay_start(&g->r, dup_bytes("LOGON", 5), 5);
	g->c->in_eof = true;
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN | EPOLLRDHUP), RELAY_OPEN);
	CHECK(!g->u->shut); /* bytes are still pending: the FIN waits behind them */
	g->u->write_room = SIZE_MAX;
	CHECK_EQ_INT(ev(g, RELAY_UPSTREAM, EPOLLOUT), RELAY_OPEN);
	CHECK_MEM(g->u->out, g->u->out_len, "LOGON");
	CHECK(g->u->shut);
	/* the engine can still answer a half-closed client */
	g->u->in = "reply";
	g->u->in_len = 5;
	CHECK_EQ_INT(ev(g, RELAY_UPSTREAM, EPOLLIN), RELAY_OPEN);
	CHECK_MEM(g->c->out, g->c->out_len, "reply");
	CHECK_EQ_INT(relay_interest(&g->r, RELAY_CLIENT), 0); /* nothing to read or write there */
	g->u->in_eof = true;
	CHECK_EQ_INT(ev(g, RELAY_UPSTREAM, EPOLLIN), RELAY_FINISHED);
	CHECK(!g->c->shut); /* both ended: the close says it */
	rig_free(g);
}

TEST(upstream_half_close_passes_the_fin_to_the_client)
{
	struct rig *g = rig_new();
	relay_start(&g->r, NULL, 0);
	g->u->in = "bye";
	g->u->in_len = 3;
	g->u->in_eof = true;
	g->u->read_limit = 3;
	CHECK_EQ_INT(ev(g, RELAY_UPSTREAM, EPOLLIN), RELAY_OPEN);
	g->u->t.rx_drained = false;
	CHECK_EQ_INT(ev(g, RELAY_UPSTREAM, EPOLLIN | EPOLLRDHUP), RELAY_OPEN);
	CHECK_MEM(g->c->out, g->c->out_len, "bye");
	CHECK(g->c->shut);
	g->c->in = "late";
	g->c->in_len = 4;
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN), RELAY_OPEN);
	CHECK_MEM(g->u->out, g->u->out_len, "late");
	g->c->in_eof = true;
	g->c->t.rx_drained = false;
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN), RELAY_FINISHED);
	rig_free(g);
}

TEST(read_and_write_errors_reset)
{
	struct rig *g = rig_new();
	relay_start(&g->r, NULL, 0);
	g->c->read_err = ECONNRESET;
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN), RELAY_RESET);
	CHECK_EQ_STR(g->r.error, "read boom");
	rig_free(g);

	g = rig_new();
	g->u->write_err = EPIPE;
	CHECK_EQ_INT(relay_start(&g->r, dup_bytes("x", 1), 1), RELAY_RESET);
	CHECK_EQ_STR(g->r.error, "write boom");
	rig_free(g);
}

TEST(peer_close_is_noticed_while_paused)
{
	struct rig *g = rig_new();
	g->u->write_room = 0; /* the engine takes nothing */
	relay_start(&g->r, dup_bytes("LOGON", 5), 5);
	CHECK_EQ_INT(relay_interest(&g->r, RELAY_CLIENT), EPOLLRDHUP);
	CHECK(!relay_stalled_after_fin(&g->r));
	/* the client's FIN: remembered (its bytes still wait in the kernel), and no longer watched */
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLRDHUP), RELAY_OPEN);
	CHECK(relay_stalled_after_fin(&g->r));
	CHECK_EQ_INT(relay_interest(&g->r, RELAY_CLIENT), 0);
	CHECK_EQ_INT(g->c->reads, 0);
	rig_free(g);

	g = rig_new();
	g->u->write_room = 0;
	relay_start(&g->r, dup_bytes("LOGON", 5), 5);
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLRDHUP | EPOLLHUP | EPOLLERR), RELAY_RESET); /* a reset */
	rig_free(g);
}

TEST(tls_like_read_that_waits_for_writability)
{
	struct rig *g = rig_new();
	relay_start(&g->r, NULL, 0);
	g->c->t.read_want = TRANSPORT_WANT_WRITE; /* e.g. a key update to answer first */
	CHECK_EQ_INT(relay_interest(&g->r, RELAY_CLIENT), EPOLLOUT | EPOLLRDHUP);
	g->c->in = "abc";
	g->c->in_len = 3;
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLIN), RELAY_OPEN); /* not what the read waits for */
	CHECK_EQ_INT(g->c->reads, 0);
	CHECK_EQ_INT(ev(g, RELAY_CLIENT, EPOLLOUT), RELAY_OPEN);
	CHECK_MEM(g->u->out, g->u->out_len, "abc");
	/* an upstream event does not read the client, and a client event does not read the upstream */
	CHECK_EQ_INT(g->u->reads, 0);
	rig_free(g);
}

TEST_MAIN(TEST_ENTRY(start_delivers_the_logon_and_reads_both_sides),
          TEST_ENTRY(partial_write_keeps_the_rest_and_pauses_the_source),
          TEST_ENTRY(eagain_is_not_an_error_and_moves_nothing),
          TEST_ENTRY(backpressure_reads_one_chunk_then_waits),
          TEST_ENTRY(one_read_per_readable_event_once_drained),
          TEST_ENTRY(client_half_close_passes_the_fin_after_the_bytes),
          TEST_ENTRY(upstream_half_close_passes_the_fin_to_the_client),
          TEST_ENTRY(read_and_write_errors_reset), TEST_ENTRY(peer_close_is_noticed_while_paused),
          TEST_ENTRY(tls_like_read_that_waits_for_writability))
