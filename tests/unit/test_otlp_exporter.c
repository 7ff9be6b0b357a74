/* test_otlp_exporter.c - the exporter without a network: queue bounds and drop counting (also with
 * several producer threads), retry classification, backoff, Retry-After, the retry loop, batch splitting
 * on "too large", gRPC framing, flush and shutdown. The transport is replaced by a fake that decodes each
 * request, so what the exporter would have sent is checked too. */
#include "telemetry/otlp_exporter.c"

#include <stdlib.h>

#include "otlp.pb-c.h"
#include "telemetry/log.h"
#include "test.h"

/* ---- a fake transport ---- */

static struct {
	enum otlp_outcome script[16]; /* outcome of request i; past the end: OTLP_SENT */
	uint32_t retry_after[16];
	size_t nscript;
	size_t max_items; /* answer TOO_LARGE above this many spans (0 = no limit) */
	size_t requests;
	size_t items_sent;
	size_t batch_sizes[64];
	uint32_t sleeps[16];
	size_t nsleeps;
	bool fail_sleep;
} fk;

static size_t count_items(enum otlp_signal s, const uint8_t *body, size_t len)
{
	size_t n = 0;
	if (s == OTLP_TRACES) {
		Otlp__ExportTraceServiceRequest *r =
		    otlp__export_trace_service_request__unpack(NULL, len, body);
		if (r) {
			n = r->resource_spans[0]->scope_spans[0]->n_spans;
			otlp__export_trace_service_request__free_unpacked(r, NULL);
		}
	} else if (s == OTLP_LOGS) {
		Otlp__ExportLogsServiceRequest *r =
		    otlp__export_logs_service_request__unpack(NULL, len, body);
		if (r) {
			n = r->resource_logs[0]->scope_logs[0]->n_log_records;
			otlp__export_logs_service_request__free_unpacked(r, NULL);
		}
	} else {
		Otlp__ExportMetricsServiceRequest *r =
		    otlp__export_metrics_service_request__unpack(NULL, len, body);
		if (r) {
			Otlp__ScopeMetrics *sm = r->resource_metrics[0]->scope_metrics[0];
			for (size_t i = 0; i < sm->n_metrics; i++)
				n += sm->metrics[i]->data_case == OTLP__METRIC__DATA_SUM
				         ? sm->metrics[i]->sum->n_data_points
				     : sm->metrics[i]->data_case == OTLP__METRIC__DATA_GAUGE
				         ? sm->metrics[i]->gauge->n_data_points
				         : sm->metrics[i]->histogram->n_data_points;
			otlp__export_metrics_service_request__free_unpacked(r, NULL);
		}
	}
	return n;
}

static void fake_send(struct otlp_exporter *e, enum otlp_signal s, const uint8_t *body, size_t len,
                      uint32_t timeout_ms, struct otlp_result *res)
{
	(void)e;
	(void)timeout_ms;
	memset(res, 0, sizeof(*res));
	size_t n = count_items(s, body, len);
	size_t i = fk.requests++;
	if (i < 64)
		fk.batch_sizes[i] = n;
	if (fk.max_items && n > fk.max_items) {
		res->outcome = OTLP_TOO_LARGE;
		res->http_status = 413;
		return;
	}
	res->outcome = i < fk.nscript ? fk.script[i] : OTLP_SENT;
	res->retry_after_ms = i < fk.nscript ? fk.retry_after[i] : 0;
	if (res->outcome == OTLP_SENT)
		fk.items_sent += n;
}

static bool fake_sleep(struct otlp_exporter *e, uint32_t ms)
{
	(void)e;
	if (fk.nsleeps < 16)
		fk.sleeps[fk.nsleeps++] = ms;
	return !fk.fail_sleep;
}

/* An exporter without its thread (driven by the test) and with the fakes in place. */
static struct otlp_exporter *make(uint32_t queue, uint32_t batch)
{
	struct otlp_config c;
	char err[160], num[16];
	otlp_config_init(&c);
	otlp_config_set(&c, "endpoint", "http://127.0.0.1:9", err, sizeof(err));
	snprintf(num, sizeof(num), "%u", queue);
	otlp_config_set(&c, "traces.queueSize", num, err, sizeof(err));
	otlp_config_set(&c, "logs.queueSize", num, err, sizeof(err));
	snprintf(num, sizeof(num), "%u", batch);
	otlp_config_set(&c, "traces.batchSize", num, err, sizeof(err));
	otlp_config_set(&c, "logs.batchSize", num, err, sizeof(err));
	otlp_config_set(&c, "metrics.batchSize", num, err, sizeof(err));
	otlp_config_set(&c, "retryInitial", "100", err, sizeof(err));
	otlp_config_set(&c, "retryMax", "1000", err, sizeof(err));
	struct otlp_exporter *e = NULL;
	CHECK_EQ_INT(exporter_new(&c, &e), 0);
	otlp_config_free(&c);
	if (e) {
		e->send = fake_send;
		e->sleep = fake_sleep;
	}
	memset(&fk, 0, sizeof(fk));
	return e;
}

static struct otlp_span span_n(int i)
{
	static _Thread_local struct otlp_attr a[1];
	a[0] = OTLP_INT("i", i);
	struct otlp_span s = {.name = "fixgw.connection", .kind = OTLP_SPAN_SERVER, .attrs = a, .nattrs = 1};
	s.trace_id[0] = 1;
	s.span_id[7] = (uint8_t)(i + 1);
	s.start_ns = 1000;
	s.end_ns = 2000;
	return s;
}

TEST(queue_bounds_and_drops)
{
	struct otlp_exporter *e = make(8, 4);
	if (!e)
		return;
	size_t ok = 0;
	for (int i = 0; i < 20; i++) {
		struct otlp_span s = span_n(i);
		ok += otlp_span_emit(e, &s);
	}
	struct otlp_log l = {.level = LOG_INFO, .event = "x"};
	for (int i = 0; i < 3; i++)
		otlp_log_emit(e, &l);
	CHECK_EQ_INT(ok, 8);
	struct otlp_stats st;
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].dropped, 12);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].queued, 8);
	CHECK_EQ_INT(st.sig[OTLP_LOGS].queued, 3);
	/* the batch is at most batch_size records, oldest first */
	struct otlp_rec out[8];
	CHECK_EQ_INT(otlp_queue_pop(&e->q[OTLP_TRACES], out, 4), 4);
	CHECK_EQ_INT(out[0].span_id[7], 1);
	CHECK_EQ_INT(out[3].span_id[7], 4);
	/* room again after the consumer took some */
	struct otlp_span s = span_n(99);
	CHECK(otlp_span_emit(e, &s));
	drain(e, OTLP_TRACES, true);
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].queued, 0);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].sent, 5);
	CHECK_EQ_INT(fk.requests, 2); /* 4 + 1 */
	/* a NULL exporter (export off) accepts nothing and does not crash */
	CHECK(!otlp_span_emit(NULL, &s));
	CHECK(!otlp_log_emit(NULL, &l));
	otlp_exporter_destroy(e, 0);
}

struct producer {
	struct otlp_exporter *e;
	int accepted;
};

static _Atomic int producers_done;

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (int i = 0; i < 5000; i++) {
		struct otlp_span s = span_n(i);
		p->accepted += otlp_span_emit(p->e, &s);
	}
	atomic_fetch_add(&producers_done, 1);
	return NULL;
}

TEST(concurrent_producers_never_lose_count)
{
	struct otlp_exporter *e = make(1024, 256);
	if (!e)
		return;
	pthread_t t[4];
	struct producer p[4];
	atomic_store(&producers_done, 0);
	for (int i = 0; i < 4; i++) {
		p[i] = (struct producer){e, 0};
		pthread_create(&t[i], NULL, produce, &p[i]);
	}
	/* the consumer drains while they produce, until they are done and the queue is empty */
	size_t popped = 0;
	static struct otlp_rec out[256];
	for (;;) {
		bool done = atomic_load(&producers_done) == 4;
		size_t n = otlp_queue_pop(&e->q[OTLP_TRACES], out, 256);
		for (size_t k = 0; k < n; k++)
			CHECK(out[k].trace_id[0] == 1 &&
			      !strcmp(out[k].text + out[k].name_off, "fixgw.connection"));
		popped += n;
		if (done && n == 0)
			break;
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	struct otlp_stats st;
	otlp_exporter_stats(e, &st);
	int accepted = p[0].accepted + p[1].accepted + p[2].accepted + p[3].accepted;
	CHECK_EQ_INT(popped, accepted);
	CHECK_EQ_INT((uint64_t)accepted + st.sig[OTLP_TRACES].dropped, 20000);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].queued, 0);
	otlp_exporter_destroy(e, 0);
}

TEST(classification)
{
	CHECK_EQ_INT(otlp_classify_http(200), OTLP_SENT);
	CHECK_EQ_INT(otlp_classify_http(202), OTLP_SENT);
	static const int retry[] = {429, 502, 503, 504};
	for (size_t i = 0; i < 4; i++)
		CHECK_EQ_INT(otlp_classify_http(retry[i]), OTLP_RETRYABLE);
	static const int fatal[] = {400, 401, 403, 404, 405, 415, 500, 501};
	for (size_t i = 0; i < 8; i++)
		CHECK_EQ_INT(otlp_classify_http(fatal[i]), OTLP_FAILED);
	CHECK_EQ_INT(otlp_classify_http(413), OTLP_TOO_LARGE);

	CHECK_EQ_INT(otlp_classify_grpc(0, false), OTLP_SENT);
	static const int gretry[] = {1, 4, 10, 11, 14, 15};
	for (size_t i = 0; i < 6; i++)
		CHECK_EQ_INT(otlp_classify_grpc(gretry[i], false), OTLP_RETRYABLE);
	static const int gfatal[] = {2, 3, 5, 6, 7, 9, 12, 13, 16};
	for (size_t i = 0; i < 9; i++)
		CHECK_EQ_INT(otlp_classify_grpc(gfatal[i], false), OTLP_FAILED);
	CHECK_EQ_INT(otlp_classify_grpc(8, true), OTLP_RETRYABLE);
	CHECK_EQ_INT(otlp_classify_grpc(8, false), OTLP_TOO_LARGE);
}

TEST(retry_after_and_backoff)
{
	CHECK_EQ_INT(otlp_parse_retry_after("3", 1, 0), 3000);
	CHECK_EQ_INT(otlp_parse_retry_after(" 120 \r\n", 7, 0), 120000);
	CHECK_EQ_INT(otlp_parse_retry_after("0", 1, 0), 1);
	CHECK_EQ_INT(otlp_parse_retry_after("99999999", 8, 0), 86400000);
	CHECK_EQ_INT(otlp_parse_retry_after("soon", 4, 0), 0);
	CHECK_EQ_INT(otlp_parse_retry_after("-1", 2, 0), 0);
	CHECK_EQ_INT(otlp_parse_retry_after("", 0, 0), 0);
	/* HTTP-date: Sun, 06 Nov 1994 08:49:37 GMT is 784111777 */
	const char *date = "Sun, 06 Nov 1994 08:49:37 GMT";
	CHECK_EQ_INT(otlp_parse_retry_after(date, strlen(date), 784111777 - 5), 5000);
	CHECK_EQ_INT(otlp_parse_retry_after(date, strlen(date), 784111777 + 5), 1);

	/* exponential, capped, jittered into [d/2, d] */
	for (uint64_t r = 0; r < 2000; r += 7) {
		uint32_t d1 = otlp_backoff_ms(1, 1000, 30000, r * 0x9E3779B97F4A7C15ull);
		uint32_t d3 = otlp_backoff_ms(3, 1000, 30000, r * 0x9E3779B97F4A7C15ull);
		uint32_t d9 = otlp_backoff_ms(9, 1000, 30000, r * 0x9E3779B97F4A7C15ull);
		CHECK(d1 >= 500 && d1 <= 1000);
		CHECK(d3 >= 2000 && d3 <= 4000);
		CHECK(d9 >= 15000 && d9 <= 30000);
	}
	CHECK(otlp_backoff_ms(1, 1000, 30000, 0) != otlp_backoff_ms(1, 1000, 30000, 250));
	CHECK_EQ_INT(otlp_backoff_ms(40, 1000, 30000, 0), 15000); /* no overflow far out */
}

TEST(retry_loop)
{
	struct otlp_exporter *e = make(64, 64);
	if (!e)
		return;
	struct otlp_span s = span_n(1);

	/* 503, 429 with Retry-After 5 s, then accepted: 3 requests, 2 sleeps, the second one the server's */
	fk.script[0] = OTLP_RETRYABLE;
	fk.script[1] = OTLP_RETRYABLE;
	fk.retry_after[1] = 5000;
	fk.nscript = 2;
	otlp_span_emit(e, &s);
	drain(e, OTLP_TRACES, true);
	CHECK_EQ_INT(fk.requests, 3);
	CHECK_EQ_INT(fk.nsleeps, 2);
	CHECK(fk.sleeps[0] >= 50 && fk.sleeps[0] <= 100);
	CHECK_EQ_INT(fk.sleeps[1], 1000); /* Retry-After beyond retryMax is capped at retryMax */
	struct otlp_stats st;
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].sent, 1);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].retries, 2);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].requests, 3);

	/* Retry-After within the cap is honoured as given */
	memset(&fk, 0, sizeof(fk));
	fk.script[0] = OTLP_RETRYABLE;
	fk.retry_after[0] = 700;
	fk.nscript = 1;
	otlp_span_emit(e, &s);
	drain(e, OTLP_TRACES, true);
	CHECK_EQ_INT(fk.nsleeps, 1);
	CHECK_EQ_INT(fk.sleeps[0], 700);

	/* 400: no retry, counted as failed */
	memset(&fk, 0, sizeof(fk));
	fk.script[0] = OTLP_FAILED;
	fk.nscript = 1;
	otlp_span_emit(e, &s);
	otlp_span_emit(e, &s);
	drain(e, OTLP_TRACES, true);
	CHECK_EQ_INT(fk.requests, 1);
	CHECK_EQ_INT(fk.nsleeps, 0);
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].failed, 2);

	/* always unavailable: retryMaxAttempts (5) requests, then failed */
	memset(&fk, 0, sizeof(fk));
	for (int i = 0; i < 16; i++)
		fk.script[i] = OTLP_RETRYABLE;
	fk.nscript = 16;
	otlp_span_emit(e, &s);
	drain(e, OTLP_TRACES, true);
	CHECK_EQ_INT(fk.requests, 5);
	CHECK_EQ_INT(fk.nsleeps, 4);
	for (size_t i = 1; i < 4; i++)
		CHECK(fk.sleeps[i] <= 1000);
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].failed, 3);

	/* shutdown cutting a backoff short: the batch fails at once */
	memset(&fk, 0, sizeof(fk));
	fk.script[0] = OTLP_RETRYABLE;
	fk.nscript = 1;
	fk.fail_sleep = true;
	otlp_span_emit(e, &s);
	drain(e, OTLP_TRACES, true);
	CHECK_EQ_INT(fk.requests, 1);
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].failed, 4);
	otlp_exporter_destroy(e, 0);
}

TEST(too_large_splits_the_batch)
{
	struct otlp_exporter *e = make(64, 64);
	if (!e)
		return;
	fk.max_items = 10;
	for (int i = 0; i < 37; i++) {
		struct otlp_span s = span_n(i);
		otlp_span_emit(e, &s);
	}
	drain(e, OTLP_TRACES, true);
	/* 37 -> 18 + 19 -> 9 + 9 + 9 + 10: every span sent, in requests of at most 10 */
	CHECK_EQ_INT(fk.items_sent, 37);
	struct otlp_stats st;
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].sent, 37);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].failed, 0);
	CHECK_EQ_INT(fk.requests, 7);
	CHECK_EQ_INT(fk.batch_sizes[0], 37);

	/* one record that is too large alone is failed, not retried forever */
	memset(&fk, 0, sizeof(fk));
	fk.max_items = 0;
	fk.script[0] = OTLP_TOO_LARGE;
	fk.nscript = 1;
	struct otlp_span s = span_n(0);
	otlp_span_emit(e, &s);
	drain(e, OTLP_TRACES, true);
	CHECK_EQ_INT(fk.requests, 1);
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].failed, 1);
	otlp_exporter_destroy(e, 0);
}

static const struct otlp_metric_desc HITS = {"test.hits", "Hits", "1", OTLP_METRIC_COUNTER};

static void collect_hits(void *arg, struct otlp_metric_set *set)
{
	int *n = arg;
	for (int i = 0; i < *n; i++) {
		struct otlp_attr a[] = {OTLP_INT("i", i)};
		otlp_metric_int(set, &HITS, a, 1, 100 + i);
	}
}

TEST(metrics_collect_split_and_self_counters)
{
	struct otlp_exporter *e = make(64, 5);
	if (!e)
		return;
	int n = 12;
	CHECK_EQ_INT(otlp_exporter_add_collector(e, collect_hits, &n), 0);
	export_metrics(e);
	/* 12 points plus the exporter's own (3 signals x 3 outcomes + 2 queue sizes) = 23, in batches of 5 */
	CHECK_EQ_INT(fk.requests, 5);
	CHECK_EQ_INT(fk.items_sent, 23);
	struct otlp_stats st;
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_METRICS].sent, 23);

	/* the same set for /metrics, with the self counters now showing the metrics just sent */
	struct otlp_metric_set set;
	otlp_metric_set_init(&set);
	otlp_exporter_collect(e, &set);
	const struct otlp_metric *m = otlp_metric_find(&set, "fixgw.otlp.records");
	CHECK(m != NULL);
	bool found = false;
	for (size_t i = 0; m && i < m->npoints; i++)
		if (!strcmp(m->points[i].vals[0], "metrics") && !strcmp(m->points[i].vals[1], "sent"))
			found = m->points[i].v.i == 23;
	CHECK(found);
	otlp_metric_set_free(&set);
	for (int i = 0; i < 8; i++)
		otlp_exporter_add_collector(e, collect_hits, &n);
	CHECK_EQ_INT(otlp_exporter_add_collector(e, collect_hits, &n), FIXGW_ELIMIT);
	otlp_exporter_destroy(e, 0);
}

TEST(grpc_framing)
{
	uint8_t p[5];
	otlp_grpc_frame(p, 0x01020304);
	CHECK(p[0] == 0 && p[1] == 1 && p[2] == 2 && p[3] == 3 && p[4] == 4);
	const uint8_t *msg;
	size_t len = 0;
	static const uint8_t ok[] = {0, 0, 0, 0, 2, 0x0a, 0x00};
	CHECK_EQ_INT(otlp_grpc_unframe(ok, sizeof(ok), &msg, &len), 0);
	CHECK(len == 2 && msg == ok + 5);
	CHECK_EQ_INT(otlp_grpc_unframe(ok, 0, &msg, &len), 0);
	CHECK_EQ_INT(len, 0);
	static const uint8_t compressed[] = {1, 0, 0, 0, 0};
	CHECK_EQ_INT(otlp_grpc_unframe(compressed, 5, &msg, &len), FIXGW_EINVAL);
	CHECK_EQ_INT(otlp_grpc_unframe(ok, 6, &msg, &len), FIXGW_EINVAL); /* truncated */
	static const uint8_t extra[] = {0, 0, 0, 0, 0, 9};
	CHECK_EQ_INT(otlp_grpc_unframe(extra, 6, &msg, &len), FIXGW_EINVAL); /* trailing bytes */
	CHECK_EQ_INT(otlp_grpc_unframe(ok, 3, &msg, &len), FIXGW_EINVAL);    /* short prefix */
}

TEST(ids_and_sampling)
{
	struct otlp_exporter *e = make(8, 4);
	if (!e)
		return;
	uint8_t t[16] = {0};
	CHECK(otlp_trace_sampled(e, t));
	memset(t, 0xff, 16);
	CHECK(otlp_trace_sampled(e, t)); /* ratio 1: everything */
	e->sample_threshold = (uint64_t)(0.25 * (double)(1ull << 56));
	int sampled = 0;
	for (int i = 0; i < 4096; i++) {
		for (int k = 9; k < 16; k++)
			t[k] = (uint8_t)((i * 2654435761u) >> ((k - 9) * 3));
		sampled += otlp_trace_sampled(e, t);
	}
	CHECK(sampled > 600 && sampled < 1450);
	e->sample_threshold = 0;
	CHECK(!otlp_trace_sampled(e, t));
	otlp_exporter_destroy(e, 0);
}

/* The real thread: flush exports what is queued; destroy with a deadline drops what it cannot send. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool release;
	int entered;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

static void gated_send(struct otlp_exporter *e, enum otlp_signal s, const uint8_t *body, size_t len,
                       uint32_t timeout_ms, struct otlp_result *res)
{
	pthread_mutex_lock(&gate.mu);
	gate.entered++;
	pthread_cond_broadcast(&gate.cv);
	while (!gate.release)
		pthread_cond_wait(&gate.cv, &gate.mu);
	pthread_mutex_unlock(&gate.mu);
	fake_send(e, s, body, len, timeout_ms, res);
}

TEST(thread_flush_and_shutdown)
{
	struct otlp_exporter *e = make(16, 4);
	if (!e)
		return;
	e->send = gated_send;
	CHECK_EQ_INT(pthread_create(&e->thread, NULL, exporter_main, e), 0);
	e->thread_started = true;

	/* The exporter thread is stuck in a send (a blackholed collector): emits still return at once,
	 * the queue fills, the rest is dropped and counted. */
	struct otlp_span s = span_n(0);
	for (int i = 0; i < 4; i++)
		CHECK(otlp_span_emit(e, &s)); /* a full batch wakes the thread */
	pthread_mutex_lock(&gate.mu);
	while (gate.entered == 0)
		pthread_cond_wait(&gate.cv, &gate.mu);
	pthread_mutex_unlock(&gate.mu);
	int accepted = 0;
	for (int i = 0; i < 40; i++)
		accepted += otlp_span_emit(e, &s);
	CHECK_EQ_INT(accepted, 16);
	struct otlp_stats st;
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].dropped, 24);

	/* The collector comes back: a flush sends everything queued. */
	pthread_mutex_lock(&gate.mu);
	gate.release = true;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
	CHECK_EQ_INT(otlp_exporter_flush(e, 60000), 0);
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].sent, 20);
	CHECK_EQ_INT(st.sig[OTLP_TRACES].queued, 0);
	for (int i = 0; i < 3; i++)
		otlp_span_emit(e, &s);
	otlp_exporter_destroy(e, 60000); /* drains the last 3 */
	CHECK_EQ_INT(fk.items_sent >= 23, 1);
}

TEST(header_too_long_is_refused_not_cut)
{
	struct otlp_config c;
	char err[160];
	static char v[6000];
	otlp_config_init(&c);
	otlp_config_set(&c, "endpoint", "http://127.0.0.1:9", err, sizeof(err));
	memcpy(v, "authorization=", 14);
	memset(v + 14, 'a', sizeof(v) - 15);
	CHECK_EQ_INT(otlp_config_set(&c, "headers", v, err, sizeof(err)), 0);
	struct otlp_exporter *e = NULL;
	CHECK_EQ_INT(exporter_new(&c, &e), FIXGW_ELIMIT);
	CHECK(e == NULL);
	otlp_config_free(&c);
}

/* Ids are made as bytes and rendered as text from them: the text is lowercase hex, byte for byte, and a
 * trace and a span id drawn from one state are the ids the hex-drawing code before them drew (the same
 * ids in the same format in the log lines). */
TEST(ids_are_bytes_rendered_as_hex)
{
	static const uint8_t id[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
	char hex[33];
	text_hex(id, 8, hex);
	CHECK_EQ_STR(hex, "00f067aa0ba902b7");

	uint64_t s[2] = {1, 2};
	uint8_t trace[16], span[8];
	otlp_random_id(s, trace, 16);
	otlp_random_id(s, span, 8);
	text_hex(trace, 16, hex);
	CHECK_EQ_STR(hex, "45008000000000000401000200000000");
	text_hex(span, 8, hex);
	CHECK_EQ_STR(hex, "c310000200400000");
}

/* The log bridge copies a context's id bytes into the record; a line about no span has all-zero ids. */
TEST(log_records_carry_the_context_ids)
{
	static const uint8_t tb[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
	                               0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
	static const uint8_t sb[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
	const struct log_ctx with_bytes = {.component = "gateway", .trace_bytes = tb, .span_bytes = sb};
	struct otlp_exporter *e = make(8, 4);
	if (!e)
		return;
	log_configure(LOG_INFO, 2);
	otlp_log_bridge_start(e);
	log_msg(LOG_INFO, "with_bytes", &with_bytes, "ids as bytes");
	log_msg(LOG_INFO, "no_ids", NULL, "no ids");
	otlp_log_bridge_stop();
	static struct otlp_rec out[4];
	CHECK_EQ_INT(otlp_queue_pop(&e->q[OTLP_LOGS], out, 4), 2);
	CHECK(memcmp(out[0].trace_id, tb, 16) == 0);
	CHECK(memcmp(out[0].span_id, sb, 8) == 0);
	static const uint8_t zero[16];
	CHECK(memcmp(out[1].trace_id, zero, 16) == 0 && memcmp(out[1].span_id, zero, 8) == 0);
	otlp_exporter_destroy(e, 0);
}

TEST_MAIN(TEST_ENTRY(queue_bounds_and_drops), TEST_ENTRY(header_too_long_is_refused_not_cut),
          TEST_ENTRY(concurrent_producers_never_lose_count), TEST_ENTRY(classification),
          TEST_ENTRY(retry_after_and_backoff), TEST_ENTRY(retry_loop), TEST_ENTRY(too_large_splits_the_batch),
          TEST_ENTRY(metrics_collect_split_and_self_counters), TEST_ENTRY(grpc_framing),
          TEST_ENTRY(ids_and_sampling), TEST_ENTRY(ids_are_bytes_rendered_as_hex),
          TEST_ENTRY(log_records_carry_the_context_ids), TEST_ENTRY(thread_flush_and_shutdown))
