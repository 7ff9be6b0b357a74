/* fixecho.c - the benchmark's stand-in for a FIX engine: an epoll echo server.
 *
 * Every byte a connection sends comes back unchanged, the Logon included, so a client sees its Logon
 * "answered" and every later message returned. One thread per --threads, each with its own SO_REUSEPORT
 * listening socket and epoll set (level-triggered). A connection that cannot take its echo stops being
 * read until the backlog drains (one pending buffer per connection at most), so a slow reader cannot
 * make the server buffer without bound. Idle connections hold no buffer.
 *
 * usage: fixecho --listen 127.0.0.1:PORT [--threads N]
 * Runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchaddr.h"

#define ECHO_CHUNK  (64 * 1024)
#define MAX_EVENTS  256
#define MAX_THREADS 16

/* One client connection. */
struct conn {
	int fd;
	char *pend; /* bytes read but not yet echoed (NULL when none) */
	size_t off, len;
};

struct worker {
	pthread_t thread;
	int lfd, epfd;
	char *buf;
};

static volatile sig_atomic_t stopping;
static struct sockaddr_in listen_addr;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void conn_close(struct worker *w, struct conn *c)
{
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->pend);
	free(c);
}

static void set_interest(struct worker *w, struct conn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};
	epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e);
}

/* Write what is pending. Returns 1 when all is written, 0 when the socket is full, -1 on error. */
static int flush_pending(struct conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->pend + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->off += (size_t)n;
	}
	free(c->pend);
	c->pend = NULL;
	c->off = c->len = 0;
	return 1;
}

static void on_readable(struct worker *w, struct conn *c)
{
	for (int turn = 0; turn < 16; turn++) {
		ssize_t r = recv(c->fd, w->buf, ECHO_CHUNK, 0);
		if (r == 0) {
			conn_close(w, c);
			return;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_close(w, c);
			return;
		}
		ssize_t s = send(c->fd, w->buf, (size_t)r, MSG_NOSIGNAL);
		if (s < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(w, c);
			return;
		}
		if (s < 0)
			s = 0;
		if (s < r) {
			c->len = (size_t)(r - s);
			c->off = 0;
			c->pend = malloc(c->len);
			if (!c->pend) {
				conn_close(w, c);
				return;
			}
			memcpy(c->pend, w->buf + s, c->len);
			set_interest(w, c, EPOLLOUT);
			return;
		}
		if (r < ECHO_CHUNK)
			return;
	}
}

static void on_accept(struct worker *w)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
			close(fd);
			free(c);
		}
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	while (!stopping) {
		int n = epoll_wait(w->epfd, evs, MAX_EVENTS, 200);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				on_accept(w);
				continue;
			}
			struct conn *c = evs[i].data.ptr;
			if (c->pend) {
				int rc = flush_pending(c);
				if (rc < 0)
					conn_close(w, c);
				else if (rc > 0)
					set_interest(w, c, EPOLLIN);
				continue;
			}
			on_readable(w, c);
		}
	}
	return NULL;
}

static int worker_init(struct worker *w)
{
	int one = 1;
	w->buf = malloc(ECHO_CHUNK);
	w->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!w->buf || w->lfd < 0 || w->epfd < 0)
		return -1;
	setsockopt(w->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(w->lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(w->lfd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) < 0 ||
	    listen(w->lfd, 4096) < 0)
		return -1;
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->lfd, &e);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: fixecho --listen 127.0.0.1:PORT [--threads N]\n"
	             "Echo every byte back on every connection (a FIX engine stand-in for benchmarks).\n");
}

int main(int argc, char **argv)
{
	const char *listen_text = NULL;
	int nthreads = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			listen_text = argv[++i];
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			nthreads = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!listen_text || parse_addr(listen_text, &listen_addr) < 0 || nthreads < 1 ||
	    nthreads > MAX_THREADS) {
		usage(stderr);
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	static struct worker workers[MAX_THREADS];
	for (int i = 0; i < nthreads; i++) {
		if (worker_init(&workers[i]) < 0) {
			fprintf(stderr, "fixecho: cannot listen on %s: %s\n", listen_text, strerror(errno));
			return 1;
		}
	}
	for (int i = 1; i < nthreads; i++)
		if (pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]) != 0) {
			fprintf(stderr, "fixecho: cannot start thread %d\n", i);
			return 1;
		}
	fprintf(stderr, "fixecho: listening on %s with %d thread(s)\n", listen_text, nthreads);
	worker_run(&workers[0]);
	for (int i = 1; i < nthreads; i++)
		pthread_join(workers[i].thread, NULL);
	return 0;
}
