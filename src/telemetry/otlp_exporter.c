/* otlp_exporter.c - the exporter thread: batches from the queues, metric collection, export with retries.
 *
 * One thread serves the three signals, so one libcurl handle (and one kept-alive connection) does all the
 * network work and nothing else in the process ever waits on it. The data path only touches the queues
 * (otlp_queue.c). While the collector is slow or down, this thread sits in a timeout or a backoff and the
 * queues fill up and drop: the cost of an outage is counted records, never latency or memory. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/text.h"
#include "telemetry/otlp_internal.h"

#define MAX_COLLECTORS 8

typedef void (*otlp_send_fn)(struct otlp_exporter *e, enum otlp_signal s, const uint8_t *body, size_t len,
                             uint32_t timeout_ms, struct otlp_result *res);

struct otlp_exporter {
	bool on[OTLP_NSIGNALS];
	struct otlp_queue q[OTLP_NSIGNALS]; /* traces and logs; the metrics slot is unused */
	uint32_t batch_size[OTLP_NSIGNALS];
	uint32_t interval_ms[OTLP_NSIGNALS];
	uint32_t timeout_ms[OTLP_NSIGNALS];
	uint32_t retry_initial_ms, retry_max_ms, retry_max_attempts;
	enum otlp_temporality temporality;
	uint64_t sample_threshold; /* trace ids whose low 56 bits are below this are traced */
	struct otlp_rec *batch;    /* the thread's copy of one batch */
	size_t batch_cap;

	struct otlp_transport *tp;
	struct otlp_resource *res;
	otlp_send_fn send; /* otlp_transport_send; unit tests put a fake here */
	bool (*sleep)(struct otlp_exporter *e, uint32_t ms); /* backoff_sleep; a fake in unit tests */

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;              /* under mu */
	uint64_t stop_deadline; /* monotonic ms, under mu */
	uint64_t flush_req, flush_done;
	struct {
		otlp_collect_fn fn;
		void *arg;
	} collectors[MAX_COLLECTORS];
	size_t ncollectors;          /* under mu */
	pthread_mutex_t collect_mu;  /* one collection at a time (exporter thread and /metrics) */
	struct otlp_metric_set prev; /* last cumulative collection, for delta temporality */
	bool have_prev;

	uint64_t start_ns;
	uint64_t rng;
	bool failing[OTLP_NSIGNALS]; /* log a failure once, and the recovery */

	_Atomic uint64_t sent[OTLP_NSIGNALS], failed[OTLP_NSIGNALS], dropped[OTLP_NSIGNALS];
	_Atomic uint64_t requests[OTLP_NSIGNALS], retries[OTLP_NSIGNALS];
};

/* ---- time and randomness ---- */

uint64_t otlp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

static uint64_t next_random(struct otlp_exporter *e)
{
	/* xorshift64*: jitter needs spread, not secrecy */
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return e->rng * 0x2545F4914F6CDD1Dull;
}

void otlp_random_seed(uint64_t s[2])
{
	if (getrandom(s, 2 * sizeof(uint64_t), 0) != (ssize_t)(2 * sizeof(uint64_t)) || (s[0] | s[1]) == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s[0] = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)getpid();
		s[1] = (uint64_t)ts.tv_sec + 1;
	}
}

static uint64_t xorshift128p(uint64_t s[2])
{
	uint64_t x = s[0], y = s[1];
	s[0] = y;
	x ^= x << 23;
	s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
	return s[1] + y;
}

void otlp_random_id(uint64_t s[2], uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = xorshift128p(s);
		for (size_t k = 0; k < 8 && i + k < n; k++, v >>= 8)
			out[i + k] = (uint8_t)v;
	}
}

/* ---- the data path ---- */

static void wake_if_batch_full(struct otlp_exporter *e, enum otlp_signal s)
{
	/* Signalled without the mutex: a wake-up lost to a race only delays the batch to the interval. */
	if (otlp_queue_depth(&e->q[s]) == e->batch_size[s])
		pthread_cond_signal(&e->cv);
}

bool otlp_span_emit(struct otlp_exporter *e, const struct otlp_span *s)
{
	if (!e || !e->on[OTLP_TRACES])
		return false;
	if (!otlp_queue_push_span(&e->q[OTLP_TRACES], s))
		return false;
	wake_if_batch_full(e, OTLP_TRACES);
	return true;
}

bool otlp_log_emit(struct otlp_exporter *e, const struct otlp_log *l)
{
	if (!e || !e->on[OTLP_LOGS])
		return false;
	if (!otlp_queue_push_log(&e->q[OTLP_LOGS], l))
		return false;
	wake_if_batch_full(e, OTLP_LOGS);
	return true;
}

bool otlp_exporter_signal_on(const struct otlp_exporter *e, enum otlp_signal s)
{
	return e && (unsigned)s < OTLP_NSIGNALS && e->on[s];
}

bool otlp_trace_sampled(const struct otlp_exporter *e, const uint8_t trace_id[16])
{
	if (!e)
		return false;
	uint64_t v = 0;
	for (int i = 9; i < 16; i++)
		v = v << 8 | trace_id[i];
	return v < e->sample_threshold;
}

/* ---- statistics ---- */

void otlp_exporter_stats(const struct otlp_exporter *e, struct otlp_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		struct otlp_signal_stats *st = &out->sig[s];
		st->sent = atomic_load(&e->sent[s]);
		st->failed = atomic_load(&e->failed[s]);
		st->dropped = atomic_load(&e->dropped[s]);
		st->requests = atomic_load(&e->requests[s]);
		st->retries = atomic_load(&e->retries[s]);
		if (s != OTLP_METRICS && e->on[s]) {
			st->dropped += atomic_load(&((struct otlp_queue *)&e->q[s])->dropped);
			st->queued = otlp_queue_depth(&e->q[s]);
		}
	}
}

/* ---- sending with retries ---- */

/* Wait on cv (e->mu held) until woken or the monotonic time until_ms. */
static void wait_until(struct otlp_exporter *e, uint64_t until_ms)
{
	struct timespec ts = {.tv_sec = (time_t)(until_ms / 1000),
	                      .tv_nsec = (long)(until_ms % 1000) * 1000000L};
	pthread_cond_timedwait(&e->cv, &e->mu, &ts);
}

/* Wait ms, or less when stopping and the deadline comes first. False when the deadline cuts it short. */
static bool backoff_sleep(struct otlp_exporter *e, uint32_t ms)
{
	uint64_t until = mono_ms() + ms;
	bool ok = true;
	pthread_mutex_lock(&e->mu);
	for (;;) {
		uint64_t now = mono_ms();
		if (e->stop && until > e->stop_deadline) {
			ok = false;
			break;
		}
		if (now >= until)
			break;
		wait_until(e, until);
	}
	pthread_mutex_unlock(&e->mu);
	return ok;
}

static void transport_send(struct otlp_exporter *e, enum otlp_signal s, const uint8_t *body, size_t len,
                           uint32_t timeout_ms, struct otlp_result *res)
{
	otlp_transport_send(e->tp, s, body, len, timeout_ms, res);
}

static void note_outcome(struct otlp_exporter *e, enum otlp_signal s, const struct otlp_result *r, bool ok)
{
	if (ok && e->failing[s]) {
		e->failing[s] = false;
		log_msg(LOG_INFO, "otlp_export_recovered", NULL, "%s export works again",
		        otlp_signal_name(s));
	} else if (!ok && !e->failing[s]) {
		e->failing[s] = true;
		struct log_line l;
		log_begin(&l, LOG_WARN, "otlp_export_failed", NULL);
		log_str(&l, "signal", otlp_signal_name(s));
		log_int(&l, "http_status", r->http_status);
		log_int(&l, "grpc_status", r->grpc_status);
		log_str(&l, "error", r->error);
		log_end(&l, "%s export failed; records are counted as failed or dropped until it works again",
		        otlp_signal_name(s));
	}
}

/* Send body (n records) with the retry policy; returns the final result (outcome SENT, FAILED or
 * TOO_LARGE). Counts requests and retries, not records. */
static void send_with_retry(struct otlp_exporter *e, enum otlp_signal s, const uint8_t *body, size_t len,
                            struct otlp_result *r)
{
	for (uint32_t attempt = 1;; attempt++) {
		uint32_t timeout = e->timeout_ms[s];
		pthread_mutex_lock(&e->mu);
		if (e->stop) {
			uint64_t now = mono_ms();
			uint64_t left = e->stop_deadline > now ? e->stop_deadline - now : 0;
			if (left < timeout)
				timeout = (uint32_t)(left ? left : 1);
		}
		pthread_mutex_unlock(&e->mu);
		atomic_fetch_add(&e->requests[s], 1);
		e->send(e, s, body, len, timeout, r);
		if (r->outcome != OTLP_RETRYABLE)
			return;
		if (attempt >= e->retry_max_attempts)
			break;
		uint32_t delay =
		    otlp_backoff_ms(attempt, e->retry_initial_ms, e->retry_max_ms, next_random(e));
		if (r->retry_after_ms > delay)
			delay = r->retry_after_ms < e->retry_max_ms ? r->retry_after_ms : e->retry_max_ms;
		atomic_fetch_add(&e->retries[s], 1);
		if (!e->sleep(e, delay))
			break;
	}
	r->outcome = OTLP_FAILED;
}

static void account(struct otlp_exporter *e, enum otlp_signal s, const struct otlp_result *r, size_t n)
{
	if (r->outcome == OTLP_SENT) {
		uint64_t rej = r->rejected > 0 ? (uint64_t)r->rejected : 0;
		if (rej > n)
			rej = n;
		atomic_fetch_add(&e->sent[s], n - rej);
		atomic_fetch_add(&e->failed[s], rej);
	} else {
		atomic_fetch_add(&e->failed[s], n);
	}
	note_outcome(e, s, r, r->outcome == OTLP_SENT);
}

/* Export recs[0..n); on "too large" export each half on its own (depth log2(n)). */
static void export_records(struct otlp_exporter *e, enum otlp_signal s, const struct otlp_rec *recs, size_t n)
{
	uint8_t *body;
	size_t len;
	struct otlp_result r;
	if (n == 0)
		return;
	int rc = s == OTLP_TRACES ? otlp_encode_spans(e->res, recs, n, &body, &len)
	                          : otlp_encode_logs(e->res, recs, n, &body, &len);
	if (rc < 0) {
		atomic_fetch_add(&e->dropped[s], n);
		return;
	}
	send_with_retry(e, s, body, len, &r);
	free(body);
	if (r.outcome == OTLP_TOO_LARGE && n > 1) {
		export_records(e, s, recs, n / 2);
		export_records(e, s, recs + n / 2, n - n / 2);
		return;
	}
	account(e, s, &r, n);
}

static void export_points(struct otlp_exporter *e, const struct otlp_metric_set *set, size_t first, size_t n)
{
	uint8_t *body;
	size_t len;
	struct otlp_result r;
	if (n == 0)
		return;
	if (otlp_encode_metrics(e->res, set, first, n, e->temporality, &body, &len) < 0) {
		atomic_fetch_add(&e->dropped[OTLP_METRICS], n);
		return;
	}
	send_with_retry(e, OTLP_METRICS, body, len, &r);
	free(body);
	if (r.outcome == OTLP_TOO_LARGE && n > 1) {
		export_points(e, set, first, n / 2);
		export_points(e, set, first + n / 2, n - n / 2);
		return;
	}
	account(e, OTLP_METRICS, &r, n);
}

/* ---- metrics ---- */

static void add_self_metrics(struct otlp_exporter *e, struct otlp_metric_set *set)
{
	static const struct otlp_metric_desc records = {
	    "fixgw.otlp.records",
	    "Telemetry records by signal and outcome: sent, dropped (queue full or shutdown), "
	    "failed (refused by the collector or retries exhausted)",
	    "{record}", OTLP_METRIC_COUNTER};
	static const struct otlp_metric_desc queued = {
	    "fixgw.otlp.queue.size", "Telemetry records waiting to be sent", "{record}", OTLP_METRIC_UPDOWN};
	struct otlp_stats st;
	otlp_exporter_stats(e, &st);
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		if (!e->on[s])
			continue;
		const char *sig = otlp_signal_name((enum otlp_signal)s);
		struct otlp_attr a[2] = {OTLP_STR("signal", sig), OTLP_STR("outcome", "sent")};
		otlp_metric_int(set, &records, a, 2, (int64_t)st.sig[s].sent);
		a[1].v.s = "dropped";
		otlp_metric_int(set, &records, a, 2, (int64_t)st.sig[s].dropped);
		a[1].v.s = "failed";
		otlp_metric_int(set, &records, a, 2, (int64_t)st.sig[s].failed);
		if (s != OTLP_METRICS)
			otlp_metric_int(set, &queued, a, 1, (int64_t)st.sig[s].queued);
	}
}

void otlp_exporter_collect(struct otlp_exporter *e, struct otlp_metric_set *set)
{
	set->time_ns = otlp_now_ns();
	pthread_mutex_lock(&e->mu);
	size_t n = e->ncollectors;
	pthread_mutex_unlock(&e->mu);
	for (size_t i = 0; i < n; i++)
		e->collectors[i].fn(e->collectors[i].arg, set);
	add_self_metrics(e, set);
	for (size_t m = 0; m < set->nmetrics; m++)
		for (size_t i = 0; i < set->metrics[m].npoints; i++)
			set->metrics[m].points[i].start_ns = e->start_ns;
}

int otlp_exporter_add_collector(struct otlp_exporter *e, otlp_collect_fn fn, void *arg)
{
	int rc = 0;
	pthread_mutex_lock(&e->mu);
	if (e->ncollectors == MAX_COLLECTORS) {
		rc = FIXGW_ELIMIT;
	} else {
		e->collectors[e->ncollectors].fn = fn;
		e->collectors[e->ncollectors].arg = arg;
		e->ncollectors++;
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

static void export_metrics(struct otlp_exporter *e)
{
	struct otlp_metric_set set;
	otlp_metric_set_init(&set);
	pthread_mutex_lock(&e->collect_mu);
	otlp_exporter_collect(e, &set);
	atomic_fetch_add(&e->dropped[OTLP_METRICS], set.dropped);
	if (e->temporality == OTLP_DELTA) {
		struct otlp_metric_set cumulative;
		if (otlp_metric_set_copy(&cumulative, &set) == 0) {
			otlp_metric_set_delta(&set, e->have_prev ? &e->prev : NULL);
			otlp_metric_set_free(&e->prev);
			e->prev = cumulative;
			e->have_prev = true;
		}
	}
	pthread_mutex_unlock(&e->collect_mu);
	for (size_t first = 0; first < set.npoints; first += e->batch_size[OTLP_METRICS]) {
		size_t n = set.npoints - first;
		export_points(e, &set, first,
		              n < e->batch_size[OTLP_METRICS] ? n : e->batch_size[OTLP_METRICS]);
	}
	otlp_metric_set_free(&set);
}

/* ---- the thread ---- */

static void drain(struct otlp_exporter *e, enum otlp_signal s, bool all)
{
	for (;;) {
		size_t n = otlp_queue_pop(&e->q[s], e->batch, e->batch_size[s]);
		if (n == 0)
			return;
		bool late = false;
		pthread_mutex_lock(&e->mu);
		late = e->stop && mono_ms() >= e->stop_deadline;
		pthread_mutex_unlock(&e->mu);
		if (late)
			atomic_fetch_add(&e->dropped[s], n);
		else
			export_records(e, s, e->batch, n);
		if (!all && n < e->batch_size[s])
			return;
	}
}

static void *exporter_main(void *arg)
{
	struct otlp_exporter *e = arg;
	uint64_t next[OTLP_NSIGNALS];
	uint64_t now = mono_ms();
	for (int s = 0; s < OTLP_NSIGNALS; s++)
		next[s] = now + e->interval_ms[s];
	for (;;) {
		pthread_mutex_lock(&e->mu);
		for (;;) {
			now = mono_ms();
			uint64_t wake = UINT64_MAX;
			bool due = e->stop || e->flush_req != e->flush_done;
			for (int s = 0; s < OTLP_NSIGNALS && !due; s++) {
				if (!e->on[s])
					continue;
				due |= now >= next[s];
				due |= s != OTLP_METRICS && otlp_queue_depth(&e->q[s]) >= e->batch_size[s];
				if (next[s] < wake)
					wake = next[s];
			}
			if (due)
				break;
			wait_until(e, wake);
		}
		bool stopping = e->stop;
		uint64_t flush = e->flush_req;
		bool flushing = flush != e->flush_done;
		pthread_mutex_unlock(&e->mu);

		now = mono_ms();
		for (int s = 0; s < OTLP_NSIGNALS; s++) {
			if (!e->on[s] || s == OTLP_METRICS)
				continue;
			bool full = otlp_queue_depth(&e->q[s]) >= e->batch_size[s];
			if (stopping || flushing || full || now >= next[s]) {
				drain(e, (enum otlp_signal)s, stopping || flushing);
				if (now >= next[s] || stopping || flushing)
					next[s] = mono_ms() + e->interval_ms[s];
			}
		}
		if (e->on[OTLP_METRICS] && (stopping || flushing || mono_ms() >= next[OTLP_METRICS])) {
			export_metrics(e);
			next[OTLP_METRICS] = mono_ms() + e->interval_ms[OTLP_METRICS];
		}
		pthread_mutex_lock(&e->mu);
		if (flushing) {
			e->flush_done = flush;
			pthread_cond_broadcast(&e->cv);
		}
		pthread_mutex_unlock(&e->mu);
		if (stopping)
			break;
	}
	/* Whatever is still queued after the deadline is dropped. */
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		size_t n;
		if (e->on[s] && s != OTLP_METRICS)
			while ((n = otlp_queue_pop(&e->q[s], e->batch, e->batch_size[s])) > 0)
				atomic_fetch_add(&e->dropped[s], n);
	}
	return NULL;
}

/* ---- life cycle ---- */

static const char *env_get(const char *name)
{
	return getenv(name);
}

/* Everything but the thread; also what the unit tests use to drive the exporter synchronously. */
static int exporter_new(const struct otlp_config *cfg, struct otlp_exporter **out)
{
	if (!otlp_config_enabled(cfg))
		return FIXGW_EINVAL;
	struct otlp_exporter *e = calloc(1, sizeof(*e));
	if (!e)
		return FIXGW_ENOMEM;
	e->start_ns = otlp_now_ns();
	if (getrandom(&e->rng, sizeof(e->rng), 0) != (ssize_t)sizeof(e->rng) || e->rng == 0)
		e->rng = e->start_ns | 1;
	e->retry_initial_ms = cfg->retry_initial_ms ? cfg->retry_initial_ms : 1000;
	e->retry_max_ms = cfg->retry_max_ms ? cfg->retry_max_ms : 30000;
	e->retry_max_attempts = cfg->retry_max_attempts ? cfg->retry_max_attempts : 5;
	e->temporality = cfg->temporality;
	e->sample_threshold = cfg->trace_ratio >= 1.0   ? UINT64_MAX
	                      : cfg->trace_ratio <= 0.0 ? 0
	                                                : (uint64_t)(cfg->trace_ratio * (double)(1ull << 56));
	e->send = transport_send;
	e->sleep = backoff_sleep;
	pthread_mutex_init(&e->mu, NULL);
	pthread_mutex_init(&e->collect_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_condattr_destroy(&ca);
	otlp_metric_set_init(&e->prev);
	int rc = FIXGW_ENOMEM;
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		const struct otlp_signal_config *sc = &cfg->sig[s];
		char url[512];
		e->on[s] = otlp_config_url(cfg, (enum otlp_signal)s, url, sizeof(url)) == 0;
		e->batch_size[s] = sc->batch_size ? sc->batch_size : 512;
		e->interval_ms[s] = sc->interval_ms ? sc->interval_ms : 5000;
		e->timeout_ms[s] = sc->timeout_ms    ? sc->timeout_ms
		                   : cfg->timeout_ms ? cfg->timeout_ms
		                                     : 10000;
		if (e->on[s] && s != OTLP_METRICS) {
			if (e->batch_size[s] > sc->queue_size)
				e->batch_size[s] = sc->queue_size ? sc->queue_size : 1;
			if (otlp_queue_init(&e->q[s], sc->queue_size ? sc->queue_size : 2048) < 0)
				goto fail;
			if (e->batch_size[s] > e->batch_cap)
				e->batch_cap = e->batch_size[s];
		}
	}
	if (e->batch_cap && !(e->batch = malloc(e->batch_cap * sizeof(*e->batch))))
		goto fail;
	if (!(e->res = otlp_resource_new(cfg, env_get)))
		goto fail;
	if ((rc = otlp_transport_new(cfg, &e->tp)) < 0)
		goto fail;
	*out = e;
	return 0;
fail:
	otlp_exporter_destroy(e, 0);
	return rc;
}

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int otlp_exporter_create(const struct otlp_config *cfg, struct otlp_exporter **out)
{
	static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
	pthread_once(&curl_once, curl_init_once);
	struct otlp_exporter *e;
	int rc = exporter_new(cfg, &e);
	if (rc < 0)
		return rc;
	if (pthread_create(&e->thread, NULL, exporter_main, e) != 0) {
		otlp_exporter_destroy(e, 0);
		return FIXGW_ENOMEM;
	}
	e->thread_started = true;
	*out = e;
	return 0;
}

int otlp_exporter_flush(struct otlp_exporter *e, uint32_t deadline_ms)
{
	int rc = 0;
	uint64_t until = mono_ms() + deadline_ms;
	pthread_mutex_lock(&e->mu);
	uint64_t want = ++e->flush_req;
	pthread_cond_broadcast(&e->cv);
	while (e->flush_done < want) {
		uint64_t now = mono_ms();
		if (now >= until || !e->thread_started) {
			rc = FIXGW_ETIMEOUT;
			break;
		}
		wait_until(e, until);
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

void otlp_exporter_destroy(struct otlp_exporter *e, uint32_t deadline_ms)
{
	if (!e)
		return;
	if (e->thread_started) {
		pthread_mutex_lock(&e->mu);
		e->stop = true;
		e->stop_deadline = mono_ms() + deadline_ms;
		if (e->tp)
			otlp_transport_abort_at(e->tp, e->stop_deadline);
		pthread_cond_broadcast(&e->cv);
		pthread_mutex_unlock(&e->mu);
		pthread_join(e->thread, NULL);
	}
	for (int s = 0; s < OTLP_NSIGNALS; s++)
		if (s != OTLP_METRICS)
			otlp_queue_free(&e->q[s]);
	free(e->batch);
	otlp_transport_free(e->tp);
	otlp_resource_free(e->res);
	otlp_metric_set_free(&e->prev);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	pthread_mutex_destroy(&e->collect_mu);
	free(e);
}
