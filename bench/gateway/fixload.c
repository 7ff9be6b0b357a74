/* fixload.c - load generator for the gateway benchmarks (bench/run.sh): one process, one thread, epoll.
 *
 * Modes (each prints one JSON line on stdout and stops by itself within its time limit):
 *
 *   latency         N sessions: connect, Logon (SenderCompID from --senders, round robin), read the echoed
 *                   Logon, then ping-pong --size byte FIX messages (correct BodyLength and CheckSum, a new
 *                   MsgSeqNum each) and time each round trip with CLOCK_MONOTONIC. --rate 0: closed loop,
 *                   every session keeps one message in flight; --rate R: R messages/s in total, spread
 *                   evenly over the sessions (a send that falls due while its session still waits for the
 *                   previous echo goes out when that echo arrives and is counted as "late").
 *                   Reports p50/p90/p99/p99.9/max/mean in ns and the count.
 *   throughput      N sessions each keep --window messages in flight; reports messages/s received back.
 *   logons          --concurrency C loops of: connect, send a Logon, wait for the first echoed byte (then
 *                   drain the echoed Logon so the close is a FIN, not a reset), close. Reports Logons/s and
 *                   the connect-to-first-byte latency percentiles.
 *   tls-handshakes  C loops of: connect, TLS handshake (OpenSSL, no session resumption: no tickets, no
 *                   client cache), close. --tls 1.2 or 1.3 pins the version. Reports handshakes/s.
 *   idle            open N sessions with a Logon each, print a JSON line with "ready":true, keep them open
 *                   until SIGTERM/SIGINT or --seconds pass, then close them.
 *
 * Warm-up (--warmup-ms) runs the same load without recording. Errors (refused connects, resets, timeouts)
 * are counted and reported, never fatal once the run has started.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchaddr.h"

#define MAX_SENDERS      64
#define MAX_EVENTS       512
#define MSG_MAX          65536
#define LOGON_MAX        512
#define MAX_SAMPLES      (64u * 1024u * 1024u) /* latency samples kept at most (512 MiB) */
#define CONN_TIMEOUT_NS  (5ull * 1000000000ull)
#define SETUP_TIMEOUT_MS 5000

enum mode { M_LATENCY, M_THROUGHPUT, M_LOGONS, M_TLS, M_IDLE };

struct options {
	enum mode mode;
	const char *mode_name;
	const char *label;
	struct sockaddr_in target;
	const char *target_text;
	unsigned sessions;
	unsigned concurrency;
	unsigned window;
	unsigned size;
	double rate;
	double seconds;
	unsigned warmup_ms;
	uint64_t rounds; /* latency: stop after this many recorded round trips per session (0 = time only) */
	int tls_version; /* 0 = library default range */
	char *senders[MAX_SENDERS];
	unsigned nsenders;
};

static struct options opt = {
    .label = "",
    .sessions = 1,
    .concurrency = 16,
    .window = 16,
    .size = 256,
    .seconds = 5,
    .warmup_ms = 500,
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fixload: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* ---- FIX messages ---- */

static unsigned checksum(const char *p, size_t n)
{
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (unsigned char)p[i];
	return sum % 256;
}

/* Frame a body (from 35= on, SOH-terminated) as a message: 8, 9 (its exact length) and 10. */
static size_t fix_frame(char *out, size_t cap, const char *body, size_t body_len)
{
	int h = snprintf(out, cap, "8=FIX.4.4\0019=%zu\001", body_len);
	if (h < 0 || (size_t)h + body_len + 8 > cap)
		return 0;
	memcpy(out + h, body, body_len);
	size_t n = (size_t)h + body_len;
	n += (size_t)snprintf(out + n, cap - n, "10=%03u\001", checksum(out, n));
	return n;
}

static size_t build_logon(char *out, size_t cap, const char *sender)
{
	char body[LOGON_MAX];
	int n = snprintf(
	    body, sizeof(body),
	    "35=A\00149=%s\00156=ENGINE\00134=1\00152=20261127-12:00:00.000\00198=0\001108=30\001", sender);
	if (n < 0 || (size_t)n >= sizeof(body))
		die("SenderCompID too long: %s", sender);
	return fix_frame(out, cap, body, (size_t)n);
}

#define SEQ_DIGITS 9

/* A Heartbeat-like message (35=0) of exactly `size` bytes: TestReqID (112) pads the body. The MsgSeqNum
 * field has fixed width so that set_seq() can rewrite it in place. *seq_off receives its offset. */
static void build_message(char *out, unsigned size, const char *sender, size_t *seq_off)
{
	char body[MSG_MAX];
	int fixed =
	    snprintf(body, sizeof(body),
	             "35=0\00149=%s\00156=ENGINE\00134=%0*u\00152=20261127-12:00:00.000\001112=", sender,
	             SEQ_DIGITS, 1u);
	for (size_t digits = 1; digits <= 6; digits++) {
		/* size = "8=FIX.4.4|9=" (12) + digits + 1 + body + "10=nnn|" (7) */
		long body_len = (long)size - 12 - (long)digits - 1 - 7;
		if (body_len <= 0 || (long)snprintf(NULL, 0, "%ld", body_len) != (long)digits)
			continue;
		long pad = body_len - fixed - 1;
		if (pad < 1)
			break;
		memset(body + fixed, 'X', (size_t)pad);
		body[fixed + pad] = '\001';
		size_t n = fix_frame(out, MSG_MAX, body, (size_t)body_len);
		if (n != size)
			break;
		const char *p = strstr(out, "\00134=");
		*seq_off = (size_t)(p - out) + 4;
		return;
	}
	fprintf(stderr, "fixload: cannot build a %u-byte message (sender %s)\n", size, sender);
	exit(2);
}

/* Rewrite MsgSeqNum and the CheckSum of a message built by build_message. */
static void set_seq(char *msg, unsigned size, size_t seq_off, uint32_t seq)
{
	char digits[SEQ_DIGITS + 1];
	snprintf(digits, sizeof(digits), "%0*u", SEQ_DIGITS, seq % 1000000000u);
	memcpy(msg + seq_off, digits, SEQ_DIGITS);
	char cks[4];
	snprintf(cks, sizeof(cks), "%03u", checksum(msg, size - 7));
	memcpy(msg + size - 4, cks, 3);
}

/* ---- sockets ---- */

/* A non-blocking socket with a connect in progress (or done). Returns the fd or -errno. */
static int connect_start(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&opt.target, sizeof(opt.target)) < 0 &&
	    errno != EINPROGRESS) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int socket_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* Wait for fd to become ready for events, at most until deadline. */
static bool wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ns();
		if (now >= deadline || stop_requested)
			return false;
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, (int)((deadline - now) / 1000000ull) + 1);
		if (r > 0)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
	}
}

static bool send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!wait_fd(fd, POLLOUT, deadline))
				return false;
		} else {
			return false;
		}
	}
	return true;
}

static bool recv_exact(int fd, size_t len, uint64_t deadline)
{
	char buf[4096];
	while (len > 0) {
		ssize_t n = recv(fd, buf, len < sizeof(buf) ? len : sizeof(buf), 0);
		if (n > 0) {
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!wait_fd(fd, POLLIN, deadline))
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* Connect, send a Logon for sender, read its echo. Returns the (non-blocking) fd or -1. */
static int open_session(const char *sender)
{
	char logon[LOGON_MAX];
	size_t n = build_logon(logon, sizeof(logon), sender);
	uint64_t deadline = now_ns() + (uint64_t)SETUP_TIMEOUT_MS * 1000000ull;
	int fd = connect_start();
	if (fd < 0)
		return -1;
	if (!wait_fd(fd, POLLOUT, deadline) || socket_error(fd) != 0 || !send_all(fd, logon, n, deadline) ||
	    !recv_exact(fd, n, deadline)) {
		close(fd);
		return -1;
	}
	return fd;
}

static const char *sender_for(uint64_t i)
{
	return opt.senders[i % opt.nsenders];
}

static int epoll_add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event e = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static void epoll_mod(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event e = {.events = events, .data.u64 = data};
	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

/* ---- results ---- */

struct samples {
	uint64_t *v;
	size_t n, cap;
	uint64_t dropped;
};

static void sample_add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 65536;
		uint64_t *v = cap <= MAX_SAMPLES ? realloc(s->v, cap * sizeof(*v)) : NULL;
		if (!v) {
			s->dropped++;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The q-quantile by the nearest-rank method (samples must be sorted). */
static uint64_t quantile(const struct samples *s, double q)
{
	if (!s->n)
		return 0;
	size_t rank = (size_t)ceil(q * (double)s->n);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

/* Print the common head of a result line: {"mode":...,"label":...,"target":... (no closing brace). */
static void print_head(void)
{
	printf("{\"mode\":\"%s\",\"label\":\"%s\",\"target\":\"%s\"", opt.mode_name, opt.label,
	       opt.target_text);
}

static void print_latency_fields(struct samples *s)
{
	qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
	long double sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += (long double)s->v[i];
	printf(
	    ",\"count\":%zu,\"p50_ns\":%llu,\"p90_ns\":%llu,\"p99_ns\":%llu,\"p999_ns\":%llu,\"max_ns\":%llu,"
	    "\"mean_ns\":%.0Lf",
	    s->n, (unsigned long long)quantile(s, 0.50), (unsigned long long)quantile(s, 0.90),
	    (unsigned long long)quantile(s, 0.99), (unsigned long long)quantile(s, 0.999),
	    (unsigned long long)(s->n ? s->v[s->n - 1] : 0), s->n ? sum / (long double)s->n : 0.0L);
}

/* ---- latency ---- */

struct lat_session {
	int fd;
	bool busy;
	uint32_t owed; /* paced sends that fell due while busy */
	uint32_t seq;
	size_t got;
	uint64_t sent_ns;
	uint64_t recorded;
	char *msg;
	size_t seq_off;
};

static bool lat_send(struct lat_session *s, uint64_t now)
{
	set_seq(s->msg, opt.size, s->seq_off, ++s->seq);
	s->sent_ns = now;
	s->busy = true;
	s->got = 0;
	/* The socket buffer is empty (one message in flight at most), so a short write means trouble; finish
	 * it blocking rather than complicate the loop. */
	return send_all(s->fd, s->msg, opt.size, now + CONN_TIMEOUT_NS);
}

static int run_latency(void)
{
	unsigned n = opt.sessions;
	struct lat_session *ss = calloc(n, sizeof(*ss));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!ss || ep < 0)
		die("%s", "out of memory");
	for (unsigned i = 0; i < n; i++) {
		ss[i].fd = open_session(sender_for(i));
		if (ss[i].fd < 0)
			die("cannot open a session to %s", opt.target_text);
		ss[i].msg = malloc(MSG_MAX);
		if (!ss[i].msg)
			die("%s", "out of memory");
		build_message(ss[i].msg, opt.size, sender_for(i), &ss[i].seq_off);
		ss[i].seq = 1;
		epoll_add(ep, ss[i].fd, EPOLLIN, i);
	}

	struct samples smp = {0};
	uint64_t errors = 0, late = 0, sent = 0;
	uint64_t t0 = now_ns();
	uint64_t record_from = t0 + (uint64_t)opt.warmup_ms * 1000000ull;
	uint64_t stop_at = record_from + (uint64_t)(opt.seconds * 1e9);
	uint64_t drain_until = stop_at + 1000000000ull;
	bool paced = opt.rate > 0;
	double period = paced ? 1e9 / opt.rate : 0;
	uint64_t next_due_idx = 0; /* paced: index of the next scheduled send */
	unsigned active = n;       /* sessions still going */
	char buf[MSG_MAX];

	if (!paced)
		for (unsigned i = 0; i < n; i++)
			if (!lat_send(&ss[i], now_ns()))
				errors++;

	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		uint64_t now = now_ns();
		bool sending = now < stop_at && !stop_requested && active > 0;
		if (!sending) {
			bool any_busy = false;
			for (unsigned i = 0; i < n; i++)
				any_busy |= ss[i].fd >= 0 && ss[i].busy;
			if (!any_busy || now >= drain_until || stop_requested)
				break;
		}
		/* paced: fire every send that is due */
		struct timespec timeout = {0, 100000000};
		if (paced && sending) {
			for (;;) {
				uint64_t due = t0 + (uint64_t)((double)next_due_idx * period);
				if (due > now) {
					uint64_t wait = due - now;
					timeout = (struct timespec){(time_t)(wait / 1000000000ull),
					                            (long)(wait % 1000000000ull)};
					break;
				}
				struct lat_session *s = &ss[next_due_idx % n];
				next_due_idx++;
				if (s->fd < 0)
					continue;
				if (s->busy) {
					s->owed++;
					late += now >= record_from;
				} else if (!lat_send(s, now)) {
					errors++;
				} else {
					sent++;
				}
			}
		}
		int k = epoll_pwait2(ep, evs, MAX_EVENTS, &timeout, NULL);
		if (k < 0 && errno != EINTR)
			break;
		for (int e = 0; e < k; e++) {
			struct lat_session *s = &ss[evs[e].data.u64];
			if (s->fd < 0)
				continue;
			ssize_t r = recv(s->fd, buf, sizeof(buf), 0);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			uint64_t t = now_ns();
			if (r <= 0 || !s->busy) {
				errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
				close(s->fd);
				s->fd = -1;
				active--;
				continue;
			}
			s->got += (size_t)r;
			if (s->got < opt.size)
				continue;
			s->busy = false;
			if (s->sent_ns >= record_from && t <= stop_at + (uint64_t)CONN_TIMEOUT_NS) {
				sample_add(&smp, t - s->sent_ns);
				s->recorded++;
			}
			if (opt.rounds && s->recorded >= opt.rounds) {
				active--;
				s->owed = 0;
				continue;
			}
			if (t >= stop_at || stop_requested)
				continue;
			if (!paced || s->owed) {
				if (s->owed)
					s->owed--;
				if (!lat_send(s, t))
					errors++;
				sent++;
			}
		}
	}
	print_head();
	printf(",\"sessions\":%u,\"size\":%u,\"rate\":%.0f,\"seconds\":%.3f", n, opt.size, opt.rate,
	       opt.seconds);
	print_latency_fields(&smp);
	printf(",\"sent\":%llu,\"late\":%llu,\"errors\":%llu,\"dropped_samples\":%llu}\n",
	       (unsigned long long)sent, (unsigned long long)late, (unsigned long long)errors,
	       (unsigned long long)smp.dropped);
	for (unsigned i = 0; i < n; i++) {
		if (ss[i].fd >= 0)
			close(ss[i].fd);
		free(ss[i].msg);
	}
	free(ss);
	free(smp.v);
	close(ep);
	return errors ? 1 : 0;
}

/* ---- throughput ---- */

#define TP_RECV_CHUNK (256 * 1024)

struct tp_session {
	int fd;
	uint64_t sent_bytes, recv_bytes;
	bool want_out;
};

/* What every session of a throughput run shares. */
struct tp_shared {
	int ep;
	const char *block; /* window + 1 copies of the message, back to back */
	size_t size;
	uint64_t window_bytes;
};

/* Send until the session has a full window in flight or its socket is full. Returns 1 on a write error. */
static int tp_top_up(const struct tp_shared *tp, struct tp_session *s, unsigned idx)
{
	while (s->sent_bytes < s->recv_bytes + tp->window_bytes) {
		uint64_t want = s->recv_bytes + tp->window_bytes - s->sent_bytes;
		size_t off = (size_t)(s->sent_bytes % tp->size); /* resume a message cut by a short write */
		ssize_t w = send(s->fd, tp->block + off, (size_t)want, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!s->want_out)
				epoll_mod(tp->ep, s->fd, EPOLLIN | EPOLLOUT, idx);
			s->want_out = true;
			return 0;
		}
		if (w < 0)
			return 1;
		s->sent_bytes += (uint64_t)w;
	}
	if (s->want_out) {
		epoll_mod(tp->ep, s->fd, EPOLLIN, idx);
		s->want_out = false;
	}
	return 0;
}

static int run_throughput(void)
{
	unsigned n = opt.sessions;
	size_t size = opt.size;
	struct tp_session *ss = calloc(n, sizeof(*ss));
	char *block = malloc((size_t)(opt.window + 1) * size);
	char *rbuf = malloc(TP_RECV_CHUNK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!ss || !block || !rbuf || ep < 0)
		die("%s", "out of memory");
	size_t seq_off;
	build_message(block, opt.size, sender_for(0), &seq_off);
	for (unsigned w = 1; w <= opt.window; w++)
		memcpy(block + w * size, block, size);
	for (unsigned i = 0; i < n; i++) {
		ss[i].fd = open_session(sender_for(i));
		if (ss[i].fd < 0)
			die("cannot open a session to %s", opt.target_text);
		epoll_add(ep, ss[i].fd, EPOLLIN, i);
	}
	const struct tp_shared tp = {
	    .ep = ep, .block = block, .size = size, .window_bytes = (uint64_t)opt.window * size};
	uint64_t errors = 0, total_msgs = 0, msgs_at_start = 0, t_start = 0;
	uint64_t t0 = now_ns();
	uint64_t record_from = t0 + (uint64_t)opt.warmup_ms * 1000000ull;
	uint64_t stop_at = record_from + (uint64_t)(opt.seconds * 1e9);
	bool started = false;
	unsigned active = n;
	struct epoll_event evs[MAX_EVENTS];

	for (unsigned i = 0; i < n; i++)
		errors += (uint64_t)tp_top_up(&tp, &ss[i], i);
	while (active > 0 && !stop_requested) {
		uint64_t now = now_ns();
		if (!started && now >= record_from) {
			started = true;
			t_start = now;
			msgs_at_start = total_msgs;
		}
		if (now >= stop_at)
			break;
		int k = epoll_wait(ep, evs, MAX_EVENTS, 100);
		if (k < 0 && errno != EINTR)
			break;
		for (int e = 0; e < k; e++) {
			unsigned idx = (unsigned)evs[e].data.u64;
			struct tp_session *s = &ss[idx];
			if (s->fd < 0)
				continue;
			if (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				ssize_t r = recv(s->fd, rbuf, TP_RECV_CHUNK, 0);
				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
					errors++;
					epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
					close(s->fd);
					s->fd = -1;
					active--;
					continue;
				}
				if (r > 0) {
					uint64_t before = s->recv_bytes / size;
					s->recv_bytes += (uint64_t)r;
					total_msgs += s->recv_bytes / size - before;
				}
			}
			errors += (uint64_t)tp_top_up(&tp, s, idx);
		}
	}
	uint64_t t_end = now_ns();
	double secs = started ? (double)(t_end - t_start) / 1e9 : 0;
	uint64_t msgs = total_msgs - msgs_at_start;
	print_head();
	printf(",\"sessions\":%u,\"window\":%u,\"size\":%u,\"seconds\":%.3f,\"messages\":%llu,\"msgs_per_s\":"
	       "%.0f,"
	       "\"mbytes_per_s\":%.2f,\"errors\":%llu}\n",
	       n, opt.window, opt.size, secs, (unsigned long long)msgs, secs > 0 ? (double)msgs / secs : 0.0,
	       secs > 0 ? (double)msgs * (double)size / secs / 1e6 : 0.0, (unsigned long long)errors);
	for (unsigned i = 0; i < n; i++)
		if (ss[i].fd >= 0)
			close(ss[i].fd);
	free(ss);
	free(block);
	free(rbuf);
	close(ep);
	return errors ? 1 : 0;
}

/* ---- logons and TLS handshakes: C concurrent connect/close loops ---- */

enum slot_state { SLOT_IDLE, SLOT_CONNECTING, SLOT_WAIT_ECHO, SLOT_TLS };

struct slot {
	int fd;
	enum slot_state state;
	uint64_t started_ns; /* connect() called */
	bool answered;       /* logons: the first echoed byte arrived (and was counted) */
	size_t to_drain;     /* logons: echoed Logon bytes still to read before closing */
	SSL *ssl;
};

struct churn {
	int ep;
	struct slot *slots;
	unsigned nslots;
	SSL_CTX *ctx;
	char logon[MAX_SENDERS][LOGON_MAX];
	size_t logon_len[MAX_SENDERS];
	uint64_t next_sender;
	uint64_t done, done_recorded, errors, connect_errors, timeouts;
	uint64_t record_from, stop_at;
	struct samples smp;
	char version[32], cipher[64];
};

static void slot_end(struct churn *c, struct slot *sl)
{
	if (sl->ssl) {
		SSL_free(sl->ssl);
		sl->ssl = NULL;
	}
	if (sl->fd >= 0) {
		epoll_ctl(c->ep, EPOLL_CTL_DEL, sl->fd, NULL);
		close(sl->fd);
	}
	sl->fd = -1;
	sl->state = SLOT_IDLE;
}

static void slot_fail(struct churn *c, struct slot *sl)
{
	c->errors++;
	slot_end(c, sl);
}

/* Count a completed Logon or handshake, and time it when it started and ended inside the window. */
static void slot_count(struct churn *c, struct slot *sl, uint64_t now)
{
	c->done++;
	if (sl->started_ns >= c->record_from && now <= c->stop_at) {
		c->done_recorded++;
		sample_add(&c->smp, now - sl->started_ns);
	}
}

static void slot_start(struct churn *c, unsigned idx)
{
	struct slot *sl = &c->slots[idx];
	sl->started_ns = now_ns();
	sl->answered = false;
	sl->to_drain = 0;
	int fd = connect_start();
	if (fd < 0) {
		c->connect_errors++;
		c->errors++;
		sl->fd = -1;
		sl->state = SLOT_IDLE;
		return;
	}
	sl->fd = fd;
	sl->state = SLOT_CONNECTING;
	if (epoll_add(c->ep, fd, EPOLLOUT, idx) < 0)
		slot_fail(c, sl);
}

/* Drive the TLS handshake one step. */
static void tls_step(struct churn *c, struct slot *sl, unsigned idx)
{
	int r = SSL_connect(sl->ssl);
	if (r == 1) {
		if (!c->version[0]) {
			snprintf(c->version, sizeof(c->version), "%s", SSL_get_version(sl->ssl));
			snprintf(c->cipher, sizeof(c->cipher), "%s", SSL_get_cipher_name(sl->ssl));
		}
		slot_count(c, sl, now_ns());
		SSL_shutdown(sl->ssl); /* send close_notify once; do not wait for the peer's */
		slot_end(c, sl);
		return;
	}
	switch (SSL_get_error(sl->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		epoll_mod(c->ep, sl->fd, EPOLLIN, idx);
		return;
	case SSL_ERROR_WANT_WRITE:
		epoll_mod(c->ep, sl->fd, EPOLLOUT, idx);
		return;
	default:
		ERR_clear_error();
		slot_fail(c, sl);
		return;
	}
}

static void churn_event(struct churn *c, unsigned idx, uint32_t events)
{
	struct slot *sl = &c->slots[idx];
	if (sl->fd < 0)
		return;
	if (sl->state == SLOT_CONNECTING) {
		if (socket_error(sl->fd) != 0) {
			c->connect_errors++;
			slot_fail(c, sl);
			return;
		}
		if (opt.mode == M_TLS) {
			sl->ssl = SSL_new(c->ctx);
			if (!sl->ssl || !SSL_set_fd(sl->ssl, sl->fd)) {
				slot_fail(c, sl);
				return;
			}
			sl->state = SLOT_TLS;
			tls_step(c, sl, idx);
			return;
		}
		unsigned k = (unsigned)(c->next_sender++ % opt.nsenders);
		ssize_t w = send(sl->fd, c->logon[k], c->logon_len[k], MSG_NOSIGNAL);
		if (w != (ssize_t)c->logon_len[k]) { /* ~100 bytes into an empty socket buffer */
			slot_fail(c, sl);
			return;
		}
		sl->to_drain = c->logon_len[k];
		sl->state = SLOT_WAIT_ECHO;
		epoll_mod(c->ep, sl->fd, EPOLLIN, idx);
		return;
	}
	if (sl->state == SLOT_TLS) {
		tls_step(c, sl, idx);
		return;
	}
	/* SLOT_WAIT_ECHO: the first byte marks the Logon as routed and answered. Drain the echoed Logon
	 * before closing so that close() sends a FIN rather than a reset. */
	char buf[LOGON_MAX];
	ssize_t r = recv(sl->fd, buf, sizeof(buf), 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		slot_fail(c, sl);
		return;
	}
	if (!sl->answered) {
		sl->answered = true;
		slot_count(c, sl, now_ns());
	}
	sl->to_drain = (size_t)r >= sl->to_drain ? 0 : sl->to_drain - (size_t)r;
	if (sl->to_drain == 0)
		slot_end(c, sl);
	(void)events;
}

static int run_churn(void)
{
	struct churn c = {0};
	c.nslots = opt.concurrency;
	c.slots = calloc(c.nslots, sizeof(*c.slots));
	c.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!c.slots || c.ep < 0)
		die("%s", "out of memory");
	for (unsigned i = 0; i < opt.nsenders; i++)
		c.logon_len[i] = build_logon(c.logon[i], LOGON_MAX, opt.senders[i]);
	if (opt.mode == M_TLS) {
		c.ctx = SSL_CTX_new(TLS_client_method());
		if (!c.ctx)
			die("%s", "SSL_CTX_new failed");
		SSL_CTX_set_verify(c.ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_session_cache_mode(c.ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(c.ctx, SSL_OP_NO_TICKET);
		if (opt.tls_version) {
			SSL_CTX_set_min_proto_version(c.ctx, opt.tls_version);
			SSL_CTX_set_max_proto_version(c.ctx, opt.tls_version);
		}
	}
	uint64_t t0 = now_ns();
	c.record_from = t0 + (uint64_t)opt.warmup_ms * 1000000ull;
	c.stop_at = c.record_from + (uint64_t)(opt.seconds * 1e9);
	for (unsigned i = 0; i < c.nslots; i++) {
		c.slots[i].fd = -1;
		slot_start(&c, i);
	}
	struct epoll_event evs[MAX_EVENTS];
	uint64_t last_sweep = t0;
	for (;;) {
		uint64_t now = now_ns();
		if (now >= c.stop_at || stop_requested)
			break;
		int k = epoll_wait(c.ep, evs, MAX_EVENTS, 50);
		if (k < 0 && errno != EINTR)
			break;
		for (int e = 0; e < k; e++)
			churn_event(&c, (unsigned)evs[e].data.u64, evs[e].events);
		now = now_ns();
		if (now - last_sweep > 100000000ull) {
			last_sweep = now;
			for (unsigned i = 0; i < c.nslots; i++)
				if (c.slots[i].fd >= 0 && now - c.slots[i].started_ns > CONN_TIMEOUT_NS) {
					c.timeouts++;
					slot_fail(&c, &c.slots[i]);
				}
		}
		/* Refill idle slots (a slot whose connect failed outright waits for the next turn). */
		if (now < c.stop_at)
			for (unsigned i = 0; i < c.nslots; i++)
				if (c.slots[i].state == SLOT_IDLE)
					slot_start(&c, i);
	}
	double secs = opt.seconds;
	print_head();
	printf(",\"concurrency\":%u,\"seconds\":%.3f,\"completed\":%llu,\"per_s\":%.0f", c.nslots, secs,
	       (unsigned long long)c.done_recorded, (double)c.done_recorded / secs);
	if (opt.mode == M_TLS)
		printf(",\"tls_version\":\"%s\",\"cipher\":\"%s\"", c.version, c.cipher);
	print_latency_fields(&c.smp);
	printf(",\"errors\":%llu,\"connect_errors\":%llu,\"timeouts\":%llu}\n", (unsigned long long)c.errors,
	       (unsigned long long)c.connect_errors, (unsigned long long)c.timeouts);
	for (unsigned i = 0; i < c.nslots; i++)
		slot_end(&c, &c.slots[i]);
	free(c.slots);
	free(c.smp.v);
	if (c.ctx)
		SSL_CTX_free(c.ctx);
	close(c.ep);
	return 0;
}

/* ---- idle ---- */

static int run_idle(void)
{
	unsigned n = opt.sessions;
	int *fds = malloc(n * sizeof(*fds));
	if (!fds)
		die("%s", "out of memory");
	unsigned opened = 0, errors = 0;
	uint64_t t0 = now_ns();
	uint64_t give_up = t0 + (uint64_t)(opt.seconds * 1e9);
	for (unsigned i = 0; i < n && !stop_requested && now_ns() < give_up; i++) {
		int fd = open_session(sender_for(i));
		if (fd < 0) {
			errors++;
			if (errors > 100)
				break;
			continue;
		}
		fds[opened++] = fd;
	}
	double open_secs = (double)(now_ns() - t0) / 1e9;
	print_head();
	printf(",\"sessions\":%u,\"opened\":%u,\"errors\":%u,\"open_seconds\":%.3f,\"ready\":true}\n", n,
	       opened, errors, open_secs);
	fflush(stdout);
	while (!stop_requested && now_ns() < give_up)
		usleep(50000);
	for (unsigned i = 0; i < opened; i++)
		close(fds[i]);
	free(fds);
	return opened == n ? 0 : 1;
}

/* ---- main ---- */

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: fixload MODE --target HOST:PORT [options]\n"
	    "modes: latency | throughput | logons | tls-handshakes | idle\n"
	    "  --label TEXT        copied into the JSON result (e.g. direct, fixgw, haproxy)\n"
	    "  --senders A,B,...   SenderCompIDs for the Logons, round robin (default BROKER_A)\n"
	    "  --sessions N        latency, throughput, idle (default 1)\n"
	    "  --size BYTES        message size for latency and throughput (default 256)\n"
	    "  --rate R            latency: total messages/s, 0 = closed loop (default 0)\n"
	    "  --rounds K          latency: stop after K recorded round trips per session (default: time)\n"
	    "  --window W          throughput: messages in flight per session (default 16)\n"
	    "  --concurrency C     logons, tls-handshakes: connections in progress (default 16)\n"
	    "  --tls 1.2|1.3       tls-handshakes: protocol version (default: negotiate)\n"
	    "  --seconds T         measured duration; idle: how long to hold at most (default 5)\n"
	    "  --warmup-ms MS      unrecorded warm-up before measuring (default 500)\n");
}

static void parse_senders(char *list)
{
	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (opt.nsenders == MAX_SENDERS)
			die("%s", "too many senders (at most 64)");
		opt.senders[opt.nsenders++] = tok;
	}
}

static unsigned parse_uint(const char *s, const char *what)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || v > 100000000ul)
		die("invalid %s", what);
	return (unsigned)v;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	static const struct {
		const char *name;
		enum mode mode;
	} modes[] = {{"latency", M_LATENCY},
	             {"throughput", M_THROUGHPUT},
	             {"logons", M_LOGONS},
	             {"tls-handshakes", M_TLS},
	             {"idle", M_IDLE}};
	size_t m = 0;
	while (m < sizeof(modes) / sizeof(modes[0]) && strcmp(argv[1], modes[m].name) != 0)
		m++;
	if (m == sizeof(modes) / sizeof(modes[0])) {
		usage(stderr);
		return 2;
	}
	opt.mode = modes[m].mode;
	opt.mode_name = modes[m].name;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--target")) {
			opt.target_text = v;
			if (parse_addr(v, &opt.target) < 0)
				die("invalid --target %s", v);
		} else if (!strcmp(a, "--label")) {
			opt.label = v;
		} else if (!strcmp(a, "--senders")) {
			parse_senders(argv[i]); /* argv[i] is v, writable */
		} else if (!strcmp(a, "--sessions")) {
			opt.sessions = parse_uint(v, "--sessions");
		} else if (!strcmp(a, "--size")) {
			opt.size = parse_uint(v, "--size");
		} else if (!strcmp(a, "--rate")) {
			opt.rate = atof(v);
		} else if (!strcmp(a, "--rounds")) {
			opt.rounds = parse_uint(v, "--rounds");
		} else if (!strcmp(a, "--window")) {
			opt.window = parse_uint(v, "--window");
		} else if (!strcmp(a, "--concurrency")) {
			opt.concurrency = parse_uint(v, "--concurrency");
		} else if (!strcmp(a, "--tls")) {
			if (!strcmp(v, "1.2"))
				opt.tls_version = TLS1_2_VERSION;
			else if (!strcmp(v, "1.3"))
				opt.tls_version = TLS1_3_VERSION;
			else
				die("invalid --tls %s (1.2 or 1.3)", v);
		} else if (!strcmp(a, "--seconds")) {
			opt.seconds = atof(v);
		} else if (!strcmp(a, "--warmup-ms")) {
			opt.warmup_ms = parse_uint(v, "--warmup-ms");
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!opt.target_text)
		die("%s", "--target is required");
	if (opt.seconds <= 0 || opt.seconds > 3600)
		die("%s", "--seconds must be in (0, 3600]");
	if (opt.size < 96 || opt.size > MSG_MAX / 2)
		die("%s", "--size must be 96..32768");
	if (!opt.sessions || !opt.concurrency || !opt.window || opt.rate < 0)
		die("%s", "--sessions, --concurrency and --window must be positive, --rate not negative");
	if (!opt.nsenders) {
		static char deflt[] = "BROKER_A";
		opt.senders[opt.nsenders++] = deflt;
	}
	raise_nofile();
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	switch (opt.mode) {
	case M_LATENCY:
		return run_latency();
	case M_THROUGHPUT:
		return run_throughput();
	case M_LOGONS:
	case M_TLS:
		return run_churn();
	case M_IDLE:
		return run_idle();
	}
	return 2;
}
