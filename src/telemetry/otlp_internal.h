/* otlp_internal.h - the exporter's parts, shared by its .c files and their unit tests only: queued records,
 * the lock-free queue, the encoder, the transport and the retry policy. Not for other modules. */
#ifndef FIXGW_TELEMETRY_OTLP_INTERNAL_H
#define FIXGW_TELEMETRY_OTLP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/otlp.h"

/** Copy at most cap bytes of [src, src + n) (stopping at a NUL) as valid UTF-8: a byte that starts no
 * valid sequence becomes \xNN as core/text.h renders it, and a character (or escape) that does not fit
 * whole is left out. Returns bytes written (no NUL added). */
size_t otlp_utf8_copy(char *dst, size_t cap, const char *src, size_t n);

/* ---- queued records: fixed size, so a queue is one preallocated array ---- */

struct otlp_rec_attr {
	uint16_t key_off, key_len; /* into rec.text, NUL-terminated there */
	uint8_t type;              /* enum otlp_attr_type */
	union {
		struct {
			uint16_t off, len;
		} s;
		int64_t i;
		double d;
		bool b;
	} v;
};

/** A span or a log record copied out of the caller's memory. Strings live NUL-terminated in text. */
struct otlp_rec {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8];
	uint64_t start_ns; /* span start, or log time */
	uint64_t end_ns;   /* span end, or log observed time */
	uint8_t kind;      /* span kind; for a log the enum log_level */
	uint8_t status;
	uint16_t name_off, name_len; /* span name, or log event name */
	uint16_t msg_off, msg_len;   /* status message, or log body; len 0 = none */
	uint16_t nattrs;
	uint16_t dropped_attrs;
	uint16_t text_len;
	struct otlp_rec_attr attrs[OTLP_REC_MAX_ATTRS];
	char text[OTLP_REC_TEXT];
};

void otlp_rec_from_span(struct otlp_rec *r, const struct otlp_span *s);
void otlp_rec_from_log(struct otlp_rec *r, const struct otlp_log *l);

/* ---- bounded multi-producer queue (Vyukov's array queue); one consumer: the exporter thread ---- */

struct otlp_cell {
	_Atomic size_t seq;
	struct otlp_rec rec;
};

struct otlp_queue {
	struct otlp_cell *cells;
	size_t mask;
	_Alignas(64) _Atomic size_t head; /* next to write (producers) */
	_Alignas(64) _Atomic size_t tail; /* next to read (the consumer) */
	_Alignas(64) _Atomic uint64_t dropped;
};

/** capacity is rounded up to a power of two (at least 2). Returns 0 or FIXGW_ENOMEM. */
int otlp_queue_init(struct otlp_queue *q, size_t capacity);
void otlp_queue_free(struct otlp_queue *q);
/** Claim a cell, let fill() copy the record in, publish it. False (and dropped counted) when full. */
bool otlp_queue_push_span(struct otlp_queue *q, const struct otlp_span *s);
bool otlp_queue_push_log(struct otlp_queue *q, const struct otlp_log *l);
/** Move up to max records into out (consumer only). Returns how many. */
size_t otlp_queue_pop(struct otlp_queue *q, struct otlp_rec *out, size_t max);
/** Records waiting (approximate while producers run). */
size_t otlp_queue_depth(const struct otlp_queue *q);

/* ---- encoding (otlp_encode.c) ---- */

struct otlp_resource; /* the encoded-once Resource and scope, owned by the exporter */

/** Build the Resource from cfg and the environment (host name, K8S_POD_NAME / POD_NAME, K8S_NAMESPACE_NAME
 * / POD_NAMESPACE, K8S_NODE_NAME / NODE_NAME) read through get. Returns NULL on ENOMEM. */
struct otlp_resource *otlp_resource_new(const struct otlp_config *cfg, const char *(*get)(const char *));
void otlp_resource_free(struct otlp_resource *r);

/** Encode n spans / log records as an Export<Signal>ServiceRequest into a new malloc'd buffer.
 * Returns 0 or FIXGW_ENOMEM. */
int otlp_encode_spans(const struct otlp_resource *res, const struct otlp_rec *recs, size_t n, uint8_t **out,
                      size_t *len);
int otlp_encode_logs(const struct otlp_resource *res, const struct otlp_rec *recs, size_t n, uint8_t **out,
                     size_t *len);
/** Encode points [first, first + n) of set (counted across metrics in order) as an
 * ExportMetricsServiceRequest; temporality applies to counters and histograms. */
int otlp_encode_metrics(const struct otlp_resource *res, const struct otlp_metric_set *set, size_t first,
                        size_t n, enum otlp_temporality temporality, uint8_t **out, size_t *len);

/** The records a response refused (partial_success), or 0; -1 when the body does not parse. */
int64_t otlp_decode_partial(enum otlp_signal s, const uint8_t *body, size_t len);

/* ---- transport (otlp_transport.c) ---- */

enum otlp_outcome {
	OTLP_SENT = 0,  /* accepted (maybe partly: see rejected) */
	OTLP_RETRYABLE, /* try again after a backoff (or retry_after_ms when set) */
	OTLP_FAILED,    /* do not retry */
	OTLP_TOO_LARGE, /* HTTP 413 / gRPC RESOURCE_EXHAUSTED without RetryInfo: split the batch */
};

struct otlp_result {
	enum otlp_outcome outcome;
	int http_status;         /* 0 when no HTTP answer */
	int grpc_status;         /* -1 when none */
	uint32_t retry_after_ms; /* 0 = none given */
	int64_t rejected;        /* partial success */
	char error[160];         /* for the exporter's own log line: never a header value */
};

/** The gRPC message prefix: compressed flag 0 and the big-endian length. */
void otlp_grpc_frame(uint8_t prefix[5], size_t len);
/** Find the one uncompressed message in a gRPC response body. Returns 0 with *msg / *msg_len, or
 * FIXGW_EINVAL (compressed, truncated, or trailing bytes). An empty body is 0 with *msg_len 0. */
int otlp_grpc_unframe(const uint8_t *body, size_t len, const uint8_t **msg, size_t *msg_len);

/** How OTLP/HTTP says to go on after status (specification: 429, 502, 503, 504 are retryable). */
enum otlp_outcome otlp_classify_http(int status);
/** How OTLP/gRPC says to go on after a grpc-status: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
 * UNAVAILABLE, DATA_LOSS are retryable; RESOURCE_EXHAUSTED only with RetryInfo (else the message was too
 * large); the rest are not. */
enum otlp_outcome otlp_classify_grpc(int grpc_status, bool has_retry_info);
/** Retry-After: delta-seconds or an HTTP-date (relative to now_unix). Returns milliseconds, 0 if invalid. */
uint32_t otlp_parse_retry_after(const char *v, size_t len, int64_t now_unix);
/** The RetryInfo delay inside a google.rpc.Status (protobuf bytes). Returns ms, or -1 when there is none. */
int64_t otlp_status_retry_delay(const uint8_t *status, size_t len);
/** Backoff before attempt number `attempt` (1 = the first retry): initial * 2^(attempt-1) capped at max,
 * then jittered into [d/2, d] with r (any 64-bit random number). */
uint32_t otlp_backoff_ms(uint32_t attempt, uint32_t initial_ms, uint32_t max_ms, uint64_t r);

struct otlp_transport;

/** One libcurl handle (connections kept alive between exports) for the signals of cfg. */
int otlp_transport_new(const struct otlp_config *cfg, struct otlp_transport **out);
void otlp_transport_free(struct otlp_transport *t);
/** Make a request in flight give up once the monotonic clock passes abort_at_ms (0 = never): how a
 * shutdown deadline cuts short a request to a blackholed collector. Any thread. */
void otlp_transport_abort_at(struct otlp_transport *t, uint64_t abort_at_ms);
/** POST one encoded request for signal s; blocks for at most timeout_ms. */
void otlp_transport_send(struct otlp_transport *t, enum otlp_signal s, const uint8_t *body, size_t len,
                         uint32_t timeout_ms, struct otlp_result *res);

#endif
