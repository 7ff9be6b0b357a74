/* bench_relay.c - which relay technique for plaintext TCP -> TCP: read/write through a user buffer, or
 * splice(2) through a pipe? Measured on loopback with the gateway's shape: a client, a relay thread
 * (epoll, level-triggered, one connection pair) and an echo engine thread.
 *
 *   ping-pong: 256-byte messages, one in flight (FIX order flow): round-trip p50/p99/p99.9
 *   stream:    64 KiB writes as fast as the echo returns them: MB/s
 *
 * The numbers back docs/decisions/adr-006-relay-technique.md. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PINGS        20000
#define STREAM_BYTES (128u * 1024u * 1024u)
#define CHUNK        65536

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int listen_any(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0)
		exit(1);
	getsockname(fd, (struct sockaddr *)&a, &len);
	*port = ntohs(a.sin_port);
	return fd;
}

static int connect_to(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		exit(1);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void *echo_thread(void *arg)
{
	int lfd = *(int *)arg, one = 1;
	int fd = accept(lfd, NULL, NULL);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	char *buf = malloc(CHUNK);
	ssize_t n;
	while ((n = read(fd, buf, CHUNK)) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w <= 0)
				goto out;
			off += w;
		}
out:
	free(buf);
	close(fd);
	return NULL;
}

struct relay {
	int lfd;
	uint16_t engine_port;
	bool use_splice;
};

/* One direction, read/write: what src/gateway/session.c does (a user buffer, written straight out). */
static int move_rw(int from, int to, char *buf)
{
	ssize_t n = read(from, buf, CHUNK);
	if (n <= 0)
		return n == 0 || errno != EAGAIN ? -1 : 0;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EAGAIN)
			continue; /* benchmark simplification: spin on a full socket */
		if (w <= 0)
			return -1;
		off += w;
	}
	return 0;
}

/* One direction, splice: socket -> pipe -> socket, no user-space copy. */
static int move_splice(int from, int to, int pipefd[2])
{
	ssize_t n = splice(from, NULL, pipefd[1], NULL, CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n <= 0)
		return n == 0 || errno != EAGAIN ? -1 : 0;
	while (n > 0) {
		ssize_t w = splice(pipefd[0], NULL, to, NULL, (size_t)n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (w < 0 && errno == EAGAIN)
			continue;
		if (w <= 0)
			return -1;
		n -= w;
	}
	return 0;
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	int one = 1;
	int c = accept(r->lfd, NULL, NULL);
	int u = connect_to(r->engine_port);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c, F_SETFL, O_NONBLOCK);
	fcntl(u, F_SETFL, O_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = c};
	epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
	ev.data.fd = u;
	epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev);
	char *buf = malloc(CHUNK);
	int p1[2], p2[2];
	if (pipe2(p1, O_NONBLOCK) < 0 || pipe2(p2, O_NONBLOCK) < 0)
		exit(1);
	fcntl(p1[1], F_SETPIPE_SZ, CHUNK);
	fcntl(p2[1], F_SETPIPE_SZ, CHUNK);
	for (;;) {
		struct epoll_event evs[2];
		int n = epoll_wait(ep, evs, 2, -1);
		for (int i = 0; i < n; i++) {
			int from = evs[i].data.fd, to = from == c ? u : c;
			int rc = r->use_splice ? move_splice(from, to, from == c ? p1 : p2)
			                       : move_rw(from, to, buf);
			if (rc < 0)
				goto out;
		}
	}
out:
	free(buf);
	close(c);
	close(u);
	close(ep);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

struct result {
	double p50, p99, p999, mbps;
};

static struct result run(bool use_splice, bool direct)
{
	uint16_t eport, rport;
	int elfd = listen_any(&eport), rlfd = listen_any(&rport);
	pthread_t et, rt;
	struct relay r = {rlfd, eport, use_splice};
	pthread_create(&et, NULL, echo_thread, &elfd);
	if (!direct)
		pthread_create(&rt, NULL, relay_thread, &r);
	int fd = connect_to(direct ? eport : rport);

	char msg[256], back[CHUNK];
	memset(msg, 'x', sizeof(msg));
	uint64_t *lat = malloc(PINGS * sizeof(*lat));
	for (int i = 0; i < PINGS; i++) {
		uint64_t t0 = now_ns();
		if (write(fd, msg, sizeof(msg)) != sizeof(msg))
			exit(1);
		for (size_t got = 0; got < sizeof(msg);) {
			ssize_t n = read(fd, back, sizeof(msg) - got);
			if (n <= 0)
				exit(1);
			got += (size_t)n;
		}
		lat[i] = now_ns() - t0;
	}
	qsort(lat, PINGS, sizeof(*lat), cmp_u64);

	/* stream: a writer thread would be fairer; alternate write/read of one chunk keeps it simple */
	char *chunk = calloc(1, CHUNK);
	uint64_t t0 = now_ns();
	for (size_t sent = 0; sent < STREAM_BYTES; sent += CHUNK) {
		for (size_t off = 0; off < CHUNK;) {
			ssize_t w = write(fd, chunk + off, CHUNK - off);
			if (w <= 0)
				exit(1);
			off += (size_t)w;
		}
		for (size_t got = 0; got < CHUNK;) {
			ssize_t n = read(fd, back, CHUNK - got);
			if (n <= 0)
				exit(1);
			got += (size_t)n;
		}
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	struct result res = {lat[PINGS / 2] / 1e3, lat[PINGS * 99 / 100] / 1e3, lat[PINGS * 999 / 1000] / 1e3,
	                     STREAM_BYTES / secs / 1e6};
	close(fd);
	pthread_join(et, NULL);
	if (!direct)
		pthread_join(rt, NULL);
	close(elfd);
	close(rlfd);
	free(lat);
	free(chunk);
	return res;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

#define ROUNDS 7

/* Median over rounds of each column: on 2 cores the client, relay and engine threads contend, so single
 * runs swing widely; rounds interleave the three setups so drift hits them alike. */
static double median(double *v)
{
	qsort(v, ROUNDS, sizeof(*v), cmp_double);
	return v[ROUNDS / 2];
}

int main(void)
{
	static const char *const names[] = {"direct (no relay)", "read/write", "splice"};
	double col[3][4][ROUNDS];
	for (int round = 0; round < ROUNDS; round++)
		for (int k = 0; k < 3; k++) {
			struct result r = run(k == 2, k == 0);
			col[k][0][round] = r.p50, col[k][1][round] = r.p99;
			col[k][2][round] = r.p999, col[k][3][round] = r.mbps;
		}
	printf("| relay (median of %d rounds) | RTT p50 (µs) | RTT p99 (µs) | RTT p99.9 (µs) | stream (MB/s, "
	       "echoed) |\n"
	       "|---|---|---|---|---|\n",
	       ROUNDS);
	for (int k = 0; k < 3; k++)
		printf("| %s | %.1f | %.1f | %.1f | %.0f |\n", names[k], median(col[k][0]), median(col[k][1]),
		       median(col[k][2]), median(col[k][3]));
	return 0;
}
