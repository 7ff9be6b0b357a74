/* test_log_sink.c - the log sink never blocks: full pipes and sockets drop and count lines, buffered lines
 * go out whole once the reader catches up, and the drop is reported. */
#include "telemetry/log_sink.c"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "telemetry/log.h"
#include "test.h"

/* Fill the pipe or socket behind wfd until it takes no more, leaving wfd in blocking mode. */
static void fill(int wfd)
{
	int fl = fcntl(wfd, F_GETFL);
	fcntl(wfd, F_SETFL, fl | O_NONBLOCK);
	char junk[4096];
	memset(junk, 'x', sizeof(junk));
	junk[sizeof(junk) - 1] = '\n';
	while (write(wfd, junk, sizeof(junk)) > 0 || write(wfd, junk, 1) > 0)
		;
	fcntl(wfd, F_SETFL, fl);
}

/* Read everything waiting in rfd (non-blocking) into out; returns the bytes read. */
static size_t drain(int rfd, char *out, size_t cap)
{
	int fl = fcntl(rfd, F_GETFL);
	fcntl(rfd, F_SETFL, fl | O_NONBLOCK);
	size_t n = 0;
	char tmp[65536];
	ssize_t r;
	while ((r = read(rfd, tmp, sizeof(tmp))) > 0) {
		size_t take = (size_t)r < cap - n ? (size_t)r : cap - n;
		memcpy(out + n, tmp, take);
		n += take;
	}
	fcntl(rfd, F_SETFL, fl);
	return n;
}

static int open_pipe(int p[2])
{
	if (pipe(p) != 0)
		return -1;
	log_configure(LOG_INFO, p[1]);
	return 0;
}

static void close_pipe(int p[2])
{
	log_configure(LOG_INFO, 2);
	close(p[0]);
	close(p[1]);
}

TEST(unbuffered_full_pipe_drops_and_counts)
{
	int p[2];
	CHECK_EQ_INT(open_pipe(p), 0);
	fill(p[1]);
	uint64_t before = log_dropped_total();
	log_sink_take_unreported();
	for (int i = 0; i < 10; i++)
		log_msg(LOG_INFO, "test_line", NULL, "line %d",
		        i); /* would block forever with a blocking write */
	CHECK_EQ_INT(log_dropped_total() - before, 10);
	/* The shared fd keeps its blocking mode: the sink writes through its own reopened description. */
	CHECK((fcntl(p[1], F_GETFL) & O_NONBLOCK) == 0);
	/* Once the reader caught up, the next line goes out, followed by the report of the ten. */
	static char out[1 << 20];
	drain(p[0], out, sizeof(out));
	log_msg(LOG_INFO, "test_line", NULL, "after");
	size_t n = drain(p[0], out, sizeof(out) - 1);
	out[n] = '\0';
	CHECK(strstr(out, "\"msg\":\"after\"") != NULL);
	CHECK(strstr(out, "\"event\":\"log_lines_dropped\"") != NULL);
	CHECK(strstr(out, "\"dropped\":10,") != NULL);
	close_pipe(p);
}

TEST(buffered_lines_wait_then_go_out_whole)
{
	int p[2];
	CHECK_EQ_INT(open_pipe(p), 0);
	CHECK_EQ_INT(log_sink_thread_buffer(true), 0);
	fill(p[1]);
	static char out[1 << 21];
	drain(p[0], out, sizeof(out)); /* empty again, but the lines below wait for log_flush() */
	fill(p[1]);
	uint64_t before = log_dropped_total();
	log_sink_take_unreported();
	/* ~300 bytes each: the first LOG_SINK_BUFFER_CAP bytes wait in the buffer, the rest are dropped. */
	int total = 2000, kept = 0;
	for (int i = 0; i < total; i++) {
		struct log_line l;
		log_begin(&l, LOG_INFO, "test_line", NULL);
		log_int(&l, "i", i);
		log_str(&l, "pad",
		        "................................................................"
		        "................................................................"
		        "................................................................");
		log_end(&l, "line %d", i);
	}
	CHECK(log_flush()); /* still full: lines remain */
	uint64_t dropped = log_dropped_total() - before;
	CHECK(dropped > 0 && dropped < (uint64_t)total);
	/* The reader catches up: everything buffered goes out, then the drop report. */
	size_t n = drain(p[0], out, sizeof(out) - 1);
	int guard = 0;
	while (log_flush() && guard++ < 1000)
		n += drain(p[0], out + n, sizeof(out) - 1 - n);
	n += drain(p[0], out + n, sizeof(out) - 1 - n);
	out[n] = '\0';
	/* Skip the filler, then every line must be whole JSON-looking text. */
	char *s = strstr(out, "{\"ts\"");
	CHECK(s != NULL);
	for (char *line = s; line && *line; kept++) {
		char *nl = strchr(line, '\n');
		CHECK(nl != NULL);
		if (!nl)
			break;
		CHECK(line[0] == '{' && nl[-1] == '}');
		line = nl + 1;
	}
	CHECK_EQ_INT((uint64_t)kept, (uint64_t)total - dropped + 1); /* + the report */
	char want[64];
	snprintf(want, sizeof(want), "\"dropped\":%llu,", (unsigned long long)dropped);
	CHECK(strstr(out, want) != NULL);
	CHECK_EQ_INT(log_sink_thread_buffer(false), 0);
	close_pipe(p);
}

TEST(socket_sink_never_blocks)
{
	int sv[2];
	CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	log_configure(LOG_INFO, sv[1]);
	fill(sv[1]);
	uint64_t before = log_dropped_total();
	log_msg(LOG_WARN, "test_line", NULL, "to a full socket");
	CHECK_EQ_INT(log_dropped_total() - before, 1);
	log_sink_take_unreported();
	log_configure(LOG_INFO, 2);
	close(sv[0]);
	close(sv[1]);
}

TEST(broken_sink_drops_buffered_lines)
{
	int p[2];
	CHECK_EQ_INT(open_pipe(p), 0);
	CHECK_EQ_INT(log_sink_thread_buffer(true), 0);
	log_msg(LOG_INFO, "test_line", NULL, "one");
	log_msg(LOG_INFO, "test_line", NULL, "two");
	close(p[0]); /* the reader is gone: EPIPE (SIGPIPE is ignored, as in the gateway) */
	uint64_t before = log_dropped_total();
	CHECK(!log_flush());
	CHECK_EQ_INT(log_dropped_total() - before, 2);
	CHECK_EQ_INT(log_sink_thread_buffer(false), 0);
	log_sink_take_unreported();
	log_configure(LOG_INFO, 2);
	close(p[1]);
}

TEST(chunks_are_whole_lines_up_to_pipe_buf)
{
	static char buf[3 * PIPE_BUF];
	memset(buf, 'a', sizeof(buf));
	buf[99] = '\n';
	buf[PIPE_BUF + 10] = '\n';
	buf[sizeof(buf) - 1] = '\n';
	CHECK_EQ_INT(next_chunk(buf, 50), 50);
	CHECK_EQ_INT(next_chunk(buf, sizeof(buf)), 100);                       /* last '\n' within PIPE_BUF */
	CHECK_EQ_INT(next_chunk(buf + 100, sizeof(buf) - 100), PIPE_BUF - 89); /* one long line alone */
	CHECK_EQ_INT(count_lines(buf, sizeof(buf)), 3);
}

/* log_str's fast path for plain values must write exactly what log_json_escape writes, whatever byte
 * sits wherever in the value (the word-at-a-time scan must see every byte). */
TEST(plain_fast_path_matches_the_escaper)
{
	char value[24], want[256];
	int bad = 0;
	for (int c = 0; c < 256; c++)
		for (size_t pos = 0; pos < sizeof(value); pos++) {
			memset(value, 'a', sizeof(value));
			value[pos] = (char)c;
			struct log_line l;
			log_set_level(LOG_INFO);
			log_begin(&l, LOG_INFO, "x", NULL);
			size_t head = l.len;
			log_strn(&l, "v", value, sizeof(value));
			size_t n = log_json_escape(want, sizeof(want), value, sizeof(value));
			const char *got = l.buf + head + strlen(",\"v\":");
			if (l.len - head - strlen(",\"v\":") != n || memcmp(got, want, n) != 0)
				bad++;
		}
	CHECK_EQ_INT(bad, 0);
}

/* Formats of only %s are rendered by hand: the text must be what vsnprintf writes, truncation included. */
static void check_msg(const char *want, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check_msg(const char *want, const char *fmt, ...)
{
	struct log_line l;
	log_begin(&l, LOG_ERROR, "x", NULL);
	va_list ap;
	va_start(ap, fmt);
	log_endv(&l, fmt, ap);
	va_end(ap);
	l.buf[l.len] = '\0';
	static char quoted[2048];
	snprintf(quoted, sizeof(quoted), "\"msg\":\"%s\"}", want);
	if (!strstr(l.buf, quoted))
		fprintf(stderr, "line %s lacks %s\n", l.buf, quoted);
	CHECK(strstr(l.buf, quoted) != NULL);
}

TEST(message_formats)
{
	int fd = open("/dev/null", O_WRONLY);
	log_configure(LOG_INFO, fd);
	check_msg("ROUTE -> trading/svc:9880", "%s -> %s", "ROUTE", "trading/svc:9880");
	check_msg("connection closed: both sides closed", "connection closed: %s", "both sides closed");
	check_msg("100% of x", "100%% of %s", "x");
	check_msg("plain", "plain");
	check_msg("", "%s", "");
	check_msg("a7b", "a%ub", 7u); /* other conversions: vsnprintf */
	static char big[1500], want[1024];
	memset(big, 'z', sizeof(big) - 1);
	memcpy(want, "> ", 2);
	memset(want + 2, 'z', sizeof(want) - 3); /* 1,023 bytes: the message buffer's limit */
	check_msg(want, "> %s", big);
	log_configure(LOG_INFO, 2);
	close(fd);
}

static atomic_bool stop_;

static void *toggle_level(void *arg)
{
	while (!atomic_load(&stop_)) {
		log_set_level(LOG_DEBUG);
		log_set_level(LOG_ERROR);
	}
	return NULL;
}

/* A reload changes the level while workers log (run under ThreadSanitizer by scripts/test.sh). */
TEST(level_changes_while_other_threads_log)
{
	int fd = open("/dev/null", O_WRONLY);
	log_configure(LOG_INFO, fd);
	pthread_t t;
	atomic_store(&stop_, false);
	CHECK_EQ_INT(pthread_create(&t, NULL, toggle_level, NULL), 0);
	for (int i = 0; i < 20000; i++)
		log_msg(LOG_INFO, "test_line", NULL, "line %d", i);
	atomic_store(&stop_, true);
	pthread_join(t, NULL);
	log_configure(LOG_INFO, 2);
	close(fd);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	static const struct test_case cases[] = {TEST_ENTRY(unbuffered_full_pipe_drops_and_counts),
	                                         TEST_ENTRY(buffered_lines_wait_then_go_out_whole),
	                                         TEST_ENTRY(socket_sink_never_blocks),
	                                         TEST_ENTRY(broken_sink_drops_buffered_lines),
	                                         TEST_ENTRY(chunks_are_whole_lines_up_to_pipe_buf),
	                                         TEST_ENTRY(level_changes_while_other_threads_log),
	                                         TEST_ENTRY(plain_fast_path_matches_the_escaper),
	                                         TEST_ENTRY(message_formats)};
	return test_run_all(cases, sizeof(cases) / sizeof(cases[0]));
}
