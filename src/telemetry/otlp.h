/* otlp.h - fixgw's OpenTelemetry exporter: spans, logs and metrics sent over OTLP/HTTP (protobuf) or
 * OTLP/gRPC to a collector, from a thread of its own so the data path never waits on the network.
 *
 * The data path calls otlp_span_emit / otlp_log_emit: each copies the record into a preallocated slot of a
 * bounded lock-free queue (one per signal) and returns at once; a full queue drops the record and counts it.
 * The exporter thread batches (size and interval), encodes (protobuf-c, proto/otlp.proto), sends with a
 * timeout and retries only what the OTLP specification calls retryable, with jittered exponential backoff
 * and the server's Retry-After / RetryInfo honoured. Metrics are pulled: every interval the exporter thread
 * calls the registered collect callbacks, which read the components' own cumulative counters into an
 * otlp_metric_set (telemetry/otlp_metrics.h), so the data path only bumps its own per-worker counters.
 *
 *   struct otlp_config cfg;
 *   otlp_config_init(&cfg);
 *   otlp_config_set(&cfg, "endpoint", "http://collector:4318", err, sizeof(err));   // config file, flags
 *   otlp_config_from_env(&cfg, getenv, err, sizeof(err));                           // OTEL_* variables
 *   if (otlp_config_enabled(&cfg)) {
 *       otlp_exporter_create(&cfg, &exp);
 *       otlp_exporter_add_collector(exp, gateway_collect, gw);
 *   }
 *   otlp_config_free(&cfg);                      // the exporter keeps its own copy
 *   ...
 *   otlp_span_emit(exp, &span);                  // any thread, never blocks
 *   ...
 *   otlp_exporter_destroy(exp, 5000);            // flushes for at most 5 s
 *
 * Configuration keys, env variables and defaults: docs/internals/otlp-exporter.md.
 */
#ifndef FIXGW_TELEMETRY_OTLP_H
#define FIXGW_TELEMETRY_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/log.h"
#include "telemetry/otlp_metrics.h"

enum otlp_signal { OTLP_TRACES = 0, OTLP_METRICS = 1, OTLP_LOGS = 2, OTLP_NSIGNALS = 3 };

enum otlp_protocol { OTLP_HTTP_PROTOBUF = 0, OTLP_GRPC = 1 };

#define OTLP_MAX_HEADERS        16
#define OTLP_MAX_RESOURCE_ATTRS 32

/** A key and a value, both owned (malloc'd) by the structure holding the pair. */
struct otlp_kv {
	char *key;
	char *value;
};

/** What may differ per signal (OTEL_EXPORTER_OTLP_<SIGNAL>_*). NULL/0 fields inherit the general value. */
struct otlp_signal_config {
	bool disabled;   /* OTEL_<SIGNAL>_EXPORTER=none, or "<signal>.enabled: false" */
	char *endpoint;  /* used as is (no /v1/<signal> appended); NULL = derive from the general endpoint */
	int protocol;    /* -1 = inherit, else enum otlp_protocol */
	int insecure;    /* -1 = inherit, 0/1 */
	char *ca_file;   /* PEM bundle to verify the collector; NULL = inherit */
	char *cert_file; /* client certificate (mTLS); NULL = inherit */
	char *key_file;  /* client key; NULL = inherit */
	struct otlp_kv headers[OTLP_MAX_HEADERS]; /* added to (and override) the general headers */
	size_t nheaders;
	uint32_t timeout_ms;  /* per export attempt; 0 = inherit */
	uint32_t queue_size;  /* records the queue holds (rounded up to a power of two) */
	uint32_t batch_size;  /* records per export request */
	uint32_t interval_ms; /* export at least this often when there is something to send */
};

enum otlp_temporality { OTLP_CUMULATIVE = 0, OTLP_DELTA = 1 };

/** Everything the exporter needs. Filled by otlp_config_init (defaults), then otlp_config_set (config file,
 * flags) and otlp_config_from_env, in the order the caller chooses (later calls win). Owns its strings;
 * free with otlp_config_free. */
struct otlp_config {
	char *endpoint; /* OTEL_EXPORTER_OTLP_ENDPOINT: base URL ("http://host:4318") or gRPC "host:4317";
	                 * NULL (and no per-signal endpoint) = export off */
	enum otlp_protocol protocol; /* default http/protobuf, as the OTLP exporter specification says */
	bool insecure;               /* gRPC endpoint without scheme: h2c instead of TLS */
	char *ca_file;
	char *cert_file;
	char *key_file;
	struct otlp_kv headers[OTLP_MAX_HEADERS]; /* values may be secrets: never logged */
	size_t nheaders;
	uint32_t timeout_ms; /* default 10000 */
	struct otlp_signal_config sig[OTLP_NSIGNALS];

	char *service_name; /* default "fixgw"; OTEL_SERVICE_NAME wins over service.name in the attributes */
	char *service_version;                            /* default FIXGW_VERSION */
	char *instance_id;                                /* default: a random UUID per process */
	struct otlp_kv resource[OTLP_MAX_RESOURCE_ATTRS]; /* OTEL_RESOURCE_ATTRIBUTES and "resource.<key>" */
	size_t nresource;

	enum otlp_temporality temporality; /* for monotonic counters and histograms; default cumulative */
	double trace_ratio;          /* share of normal sessions traced (otlp_trace_sampled); default 1 */
	uint32_t retry_initial_ms;   /* first backoff, default 1000 */
	uint32_t retry_max_ms;       /* largest backoff and largest Retry-After honoured, default 30000 */
	uint32_t retry_max_attempts; /* attempts per batch including the first, default 5 */
};

/** Defaults: export off, http/protobuf, timeout 10 s, traces and logs queue 2048 / batch 512 / 5 s,
 * metrics every 60 s, cumulative. */
void otlp_config_init(struct otlp_config *c);
void otlp_config_free(struct otlp_config *c);

/** Set one option by name, the way the config file's `telemetry:` section and the command line name them:
 * endpoint, protocol (grpc | http/protobuf | http), insecure, caFile, certFile, keyFile, headers
 * ("k=v,k2=v2", percent-encoded values), timeout (ms, or 500ms/10s), serviceName, serviceVersion,
 * instanceId, resourceAttributes ("k=v,..."), temporality (cumulative | delta), traceRatio (0..1),
 * retryInitial, retryMax, retryMaxAttempts; and per signal "<traces|metrics|logs>.<endpoint | protocol |
 * insecure | caFile | headers | timeout | queueSize | batchSize | interval | enabled>".
 * Returns 0, or FIXGW_EINVAL with a message in err that names the key but never echoes a header value. */
int otlp_config_set(struct otlp_config *c, const char *key, const char *value, char *err, size_t errlen);

/** Apply the standard environment variables (OTEL_SDK_DISABLED, OTEL_EXPORTER_OTLP_[<SIGNAL>_]ENDPOINT /
 * PROTOCOL / HEADERS / CERTIFICATE / CLIENT_CERTIFICATE / CLIENT_KEY / TIMEOUT / INSECURE,
 * OTEL_<SIGNAL>_EXPORTER=none, OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME, OTEL_BSP_* / OTEL_BLRP_*,
 * OTEL_METRIC_EXPORT_INTERVAL / _TIMEOUT, OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
 * OTEL_TRACES_SAMPLER_ARG) read through get (getenv, or a test's table). Returns 0 or FIXGW_EINVAL. */
int otlp_config_from_env(struct otlp_config *c, const char *(*get)(const char *name), char *err,
                         size_t errlen);

/** True when at least one signal has an endpoint and is not disabled. */
bool otlp_config_enabled(const struct otlp_config *c);

/** The URL a signal is sent to ("http://h:4318/v1/traces", "https://h:4317/opentelemetry.proto.collector
 * .trace.v1.TraceService/Export"), written to out. Returns 0, FIXGW_EINVAL (signal off) or FIXGW_ELIMIT. */
int otlp_config_url(const struct otlp_config *c, enum otlp_signal s, char *out, size_t cap);

/* ---- records ---- */

/* OTLP_ATTR_STRN is a string given as pointer and length (a view, not NUL-terminated); it is sent as a
 * string. */
enum otlp_attr_type { OTLP_ATTR_STRING = 0, OTLP_ATTR_INT, OTLP_ATTR_DOUBLE, OTLP_ATTR_BOOL, OTLP_ATTR_STRN };

/** One attribute. Borrowed: the emit call copies key and string value. */
struct otlp_attr {
	const char *key;
	enum otlp_attr_type type;
	union {
		const char *s;
		int64_t i;
		double d;
		bool b;
		struct {
			const char *p;
			size_t n;
		} sn;
	} v;
};

#define OTLP_STR(k, val)  ((struct otlp_attr){.key = (k), .type = OTLP_ATTR_STRING, .v.s = (val)})
#define OTLP_INT(k, val)  ((struct otlp_attr){.key = (k), .type = OTLP_ATTR_INT, .v.i = (val)})
#define OTLP_DBL(k, val)  ((struct otlp_attr){.key = (k), .type = OTLP_ATTR_DOUBLE, .v.d = (val)})
#define OTLP_BOOL(k, val) ((struct otlp_attr){.key = (k), .type = OTLP_ATTR_BOOL, .v.b = (val)})
#define OTLP_STRN(k, ptr, len)                                                                               \
	((struct otlp_attr){.key = (k), .type = OTLP_ATTR_STRN, .v.sn = {(ptr), (len)}})

enum otlp_span_kind { OTLP_SPAN_INTERNAL = 1, OTLP_SPAN_SERVER = 2, OTLP_SPAN_CLIENT = 3 };
enum otlp_status { OTLP_STATUS_UNSET = 0, OTLP_STATUS_OK = 1, OTLP_STATUS_ERROR = 2 };

/** A finished span. Everything is borrowed for the duration of otlp_span_emit. An all-zero parent_span_id
 * makes a root span. Ids are the bytes behind the hex ids of the JSON log lines (text_hex renders them). */
struct otlp_span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8];
	const char *name;
	enum otlp_span_kind kind;
	uint64_t start_ns; /* Unix epoch nanoseconds (otlp_now_ns) */
	uint64_t end_ns;
	enum otlp_status status;
	const char *status_message; /* may be NULL */
	const struct otlp_attr *attrs;
	size_t nattrs;
};

/** A log record. Severity from the project's level: DEBUG 5, INFO 9, WARN 13, ERROR 17; CRITICAL keeps
 * its name in severity_text with severity_number 21 (FATAL). Borrowed for the duration of the call. */
struct otlp_log {
	uint64_t time_ns;
	enum log_level level;
	const char *event;    /* the JSON line's "event" ("hold_start"): the record's event_name */
	const char *body;     /* the human message; may be NULL */
	uint8_t trace_id[16]; /* all zero = not about a trace */
	uint8_t span_id[8];
	const struct otlp_attr *attrs;
	size_t nattrs;
};

/* Limits of one queued record: longer text is cut, further attributes are dropped (and counted in the
 * record's dropped_attributes_count). */
#define OTLP_REC_MAX_ATTRS 24
#define OTLP_REC_TEXT      1024

/* ---- the exporter ---- */

struct otlp_exporter;

/** Per-signal counters; all cumulative since create. */
struct otlp_signal_stats {
	uint64_t sent;    /* records (spans, log records, metric data points) the collector accepted */
	uint64_t dropped; /* records never sent: queue full, or still queued when destroy's deadline passed */
	uint64_t
	    failed; /* records sent but refused: non-retryable answer, retries exhausted, partial success */
	uint64_t queued;   /* records waiting now */
	uint64_t requests; /* export requests made (attempts, retries included) */
	uint64_t retries;
};

struct otlp_stats {
	struct otlp_signal_stats sig[OTLP_NSIGNALS];
};

/** Start an exporter for cfg (copied; the caller keeps and frees its own). Allocates every queue up front.
 * Returns 0 and *out, FIXGW_EINVAL (no endpoint, bad URL) or FIXGW_ENOMEM. */
int otlp_exporter_create(const struct otlp_config *cfg, struct otlp_exporter **out);

/** Stop: export what is queued until deadline_ms has passed, count the rest as dropped, join the thread,
 * free everything. Collect callbacks are called one last time. NULL is a no-op. */
void otlp_exporter_destroy(struct otlp_exporter *e, uint32_t deadline_ms);

/** Queue a finished span. Any thread, lock-free, never blocks, no allocation. Returns false when the span
 * was dropped (queue full, traces off, e NULL). */
bool otlp_span_emit(struct otlp_exporter *e, const struct otlp_span *s);

/** Queue a log record; as otlp_span_emit. */
bool otlp_log_emit(struct otlp_exporter *e, const struct otlp_log *l);

/** Read the components' metrics: called from the exporter thread every metrics interval and from
 * otlp_exporter_collect (the admin thread), possibly both at once, so it must only read (relaxed atomic
 * loads of per-worker counters) and never block. It adds points to set with otlp_metric_int & co. */
typedef void (*otlp_collect_fn)(void *arg, struct otlp_metric_set *set);

/** Register a collect callback (at most 8). Call from the owner of e; safe while the thread runs.
 * Returns 0 or FIXGW_ELIMIT. */
int otlp_exporter_add_collector(struct otlp_exporter *e, otlp_collect_fn fn, void *arg);

/** Run every collect callback into set, then add the exporter's own counters (fixgw.otlp.records with
 * signal and outcome attributes). For the admin /metrics endpoint; any thread. */
void otlp_exporter_collect(struct otlp_exporter *e, struct otlp_metric_set *set);

/** Export everything queued now, and the metrics, and wait until done or deadline_ms passed.
 * Returns 0, or FIXGW_ETIMEOUT. */
int otlp_exporter_flush(struct otlp_exporter *e, uint32_t deadline_ms);

/** Whether signal s is exported (it has an endpoint and is not disabled). */
bool otlp_exporter_signal_on(const struct otlp_exporter *e, enum otlp_signal s);

/** A consistent-enough copy of the counters (each is read atomically). */
void otlp_exporter_stats(const struct otlp_exporter *e, struct otlp_stats *out);

/** Whether a normal (non-error) session with this trace id is traced, by the configured ratio:
 * deterministic in the trace id, so every component decides the same. Errors and non-ROUTE decisions are
 * traced regardless (the caller's rule). */
bool otlp_trace_sampled(const struct otlp_exporter *e, const uint8_t trace_id[16]);

/* ---- helpers ---- */

/** Seed s (a per-thread xorshift128+ state for otlp_random_id) from getrandom, or the clock when that
 * fails. */
void otlp_random_seed(uint64_t s[2]);

/** n random bytes from s into out: trace ids (16 bytes) and span ids (8). Not for secrets; one state per
 * thread. */
void otlp_random_id(uint64_t s[2], uint8_t *out, size_t n);

/** Wall-clock time in Unix epoch nanoseconds. */
uint64_t otlp_now_ns(void);

/* ---- the log bridge (otlp_log_bridge.c) ---- */

/** From now on every log line that passes the level filter (telemetry/log.h) is also queued in e as an
 * OTLP log record: the line's event, message, trace and span ids, and its attributes (the values the
 * line rendered, so redaction is the line's). No-op when e is NULL or its logs signal is off. One bridge
 * per process. */
void otlp_log_bridge_start(struct otlp_exporter *e);

/** Stop bridging. Call before otlp_exporter_destroy, once the threads that log (other than the
 * exporter's own) have stopped. */
void otlp_log_bridge_stop(void);

/** The OTLP severity number for a project log level (CRITICAL -> 21, FATAL). */
int otlp_severity_number(enum log_level lvl);

const char *otlp_signal_name(enum otlp_signal s);

#endif
