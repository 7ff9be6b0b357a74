/* log_sink.c - the non-blocking log writer: per-thread bounded buffers, whole-line writes of at most
 * PIPE_BUF bytes, and a count of what could not be written. */
#include "telemetry/log_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long a thread that ends its loop waits for a full sink before dropping its last lines: bounded so
 * that a stuck reader cannot hold up shutdown, long enough for a live reader to catch up. */
#define LOG_SINK_EXIT_WAIT_MS 500

enum sink_kind { SINK_WRITE, SINK_SEND };

/* The configured fd (what log_sink_open was given), the fd written to (a private reopen, or the same),
 * and how to write it. Set before threads start; a second open of the same fd changes nothing. */
static _Atomic int user_fd_ = -1; /* -1 until log_sink_open(): lines then go to 2 as they are */
static _Atomic int out_fd_ = 2;
static _Atomic int kind_ = SINK_WRITE;
static _Atomic uint64_t dropped_total_;

struct thread_buf {
	char *data; /* NULL when the thread writes directly */
	size_t len;
	uint64_t unreported; /* lines dropped since the last report */
};
static _Thread_local struct thread_buf tb_;

int log_sink_open(int fd)
{
	int old_user = atomic_load(&user_fd_), old_out = atomic_load(&out_fd_);
	if (fd == old_user)
		return 0;
	struct stat st;
	int out = fd, kind = SINK_WRITE, err = 0;
	if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		kind = SINK_SEND;
	} else if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
		/* O_NONBLOCK on fd itself would change the open file description the parent shell or
		 * container runtime shares with us; a reopen through /proc gives this process its own. */
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		out = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (out < 0) {
			err = -errno;
			out = fd;
			int fl = fcntl(fd, F_GETFL);
			if (fl >= 0)
				fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		}
	}
	atomic_store(&kind_, kind);
	atomic_store(&out_fd_, out);
	atomic_store(&user_fd_, fd);
	if (old_out != old_user && old_user >= 0)
		close(old_out); /* our private reopen of the previous fd */
	return err;
}

static ssize_t write_some(const char *p, size_t n)
{
	int fd = atomic_load_explicit(&out_fd_, memory_order_relaxed);
	for (;;) {
		ssize_t w = atomic_load_explicit(&kind_, memory_order_relaxed) == SINK_SEND
		                ? send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL)
		                : write(fd, p, n);
		if (w >= 0 || errno != EINTR)
			return w;
	}
}

static size_t count_lines(const char *p, size_t n)
{
	size_t lines = 0;
	for (const char *q = p; (q = memchr(q, '\n', n - (size_t)(q - p))) != NULL; q++)
		lines++;
	return lines;
}

static void drop(uint64_t lines)
{
	if (!lines)
		return;
	tb_.unreported += lines;
	atomic_fetch_add_explicit(&dropped_total_, lines, memory_order_relaxed);
}

/* The next write: whole lines up to PIPE_BUF bytes (atomic in a pipe: all or nothing), or one longer
 * line alone. */
static size_t next_chunk(const char *p, size_t n)
{
	if (n <= PIPE_BUF)
		return n;
	const char *nl = memrchr(p, '\n', PIPE_BUF);
	if (nl)
		return (size_t)(nl - p) + 1;
	nl = memchr(p + PIPE_BUF, '\n', n - PIPE_BUF);
	return nl ? (size_t)(nl - p) + 1 : n;
}

/* Write from p as far as the sink takes it; returns the bytes written, or SIZE_MAX when the sink is
 * broken (EPIPE, EBADF...; errno tells): the caller drops the rest. */
static size_t write_lines(const char *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		size_t chunk = next_chunk(p + off, n - off);
		ssize_t w = write_some(p + off, chunk);
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? off : SIZE_MAX;
		off += (size_t)w;
		if ((size_t)w < chunk)
			break; /* full (or a long line went in part): the rest next time */
	}
	return off;
}

int log_sink_flush(void)
{
	if (!tb_.len)
		return 0;
	size_t w = write_lines(tb_.data, tb_.len);
	if (w == SIZE_MAX) {
		int err = -errno;
		drop(count_lines(tb_.data, tb_.len));
		tb_.len = 0;
		return err;
	}
	if (w) {
		memmove(tb_.data, tb_.data + w, tb_.len - w);
		tb_.len -= w;
	}
	return tb_.len != 0;
}

bool log_sink_write(const char *line, size_t len)
{
	if (!tb_.data) {
		size_t w = write_lines(line, len);
		if (w == len)
			return true;
		/* A line that went in part cannot be finished later without a buffer: its tail is lost. */
		drop(1);
		return false;
	}
	if (tb_.len + len > LOG_SINK_BUFFER_CAP)
		log_sink_flush();
	if (tb_.len + len > LOG_SINK_BUFFER_CAP) {
		drop(1);
		return false;
	}
	memcpy(tb_.data + tb_.len, line, len);
	tb_.len += len;
	return true;
}

int log_sink_thread_buffer(bool on)
{
	if (on) {
		if (tb_.data)
			return 0;
		tb_.data = malloc(LOG_SINK_BUFFER_CAP);
		tb_.len = 0;
		return tb_.data ? 0 : -ENOMEM;
	}
	if (!tb_.data)
		return 0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (log_sink_flush() > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long waited = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		struct pollfd pfd = {.fd = atomic_load(&out_fd_), .events = POLLOUT};
		if (waited >= LOG_SINK_EXIT_WAIT_MS ||
		    poll(&pfd, 1, (int)(LOG_SINK_EXIT_WAIT_MS - waited)) <= 0 ||
		    (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))) {
			drop(count_lines(tb_.data, tb_.len));
			break;
		}
	}
	free(tb_.data);
	tb_.data = NULL;
	tb_.len = 0;
	return 0;
}

bool log_sink_thread_buffering(void)
{
	return tb_.data != NULL;
}

uint64_t log_sink_take_unreported(void)
{
	uint64_t n = tb_.unreported;
	tb_.unreported = 0;
	return n;
}

uint64_t log_sink_dropped_total(void)
{
	return atomic_load_explicit(&dropped_total_, memory_order_relaxed);
}
