/* webhook.h - the operator's validating admission webhook over HTTPS (admission.h decides).
 *
 * One thread with its own reactor (net/reactor.h) serves every connection: TLS through net/tls.h's
 * transport, one request per connection ("Connection: close"), every connection bounded in bytes (head
 * WEBHOOK_MAX_HEAD, body max_body) and in time (client_timeout_ms from accept to the last byte of the
 * answer), and at most WEBHOOK_MAX_CLIENTS at once (at the cap, the oldest one still sending its request
 * makes room). Every replica serves it, leader or not: it reads the FIXSession informer's cache and
 * writes nothing.
 *
 *   POST /validate-fixsessions  an AdmissionReview: 200 with the AdmissionReview response; 400 when the
 *                               body is not one (malformed JSON included); 503 until the cache is synced
 *   GET  /healthz               200 "ok"
 *
 * The certificate and key are files (a Secret's volume): they are checked every reload_check_ms and,
 * when either changed, read again; new connections get the new certificate, a pair that does not load
 * keeps the old one (logged). The FIXSessions are kept parsed between reviews (admission.h's cache),
 * filled on the first such tick after the informer has synced and brought up to date by each review.
 * See docs/internals/operator.md and ADR-013 (failurePolicy).
 */
#ifndef FIXGW_OPERATOR_WEBHOOK_H
#define FIXGW_OPERATOR_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "k8s/informer.h"

#define WEBHOOK_PATH              "/validate-fixsessions"
#define WEBHOOK_MAX_HEAD          16384u     /* request line and header fields */
#define WEBHOOK_MAX_BODY          (1u << 20) /* an AdmissionReview carries the object twice at most */
#define WEBHOOK_MAX_CLIENTS       64
#define WEBHOOK_CLIENT_TIMEOUT_MS 10000u /* the API server's default webhook timeout is 10 s */
#define WEBHOOK_RELOAD_CHECK_MS   1000u

/** What to serve. Strings are copied by webhook_start. */
struct webhook_opts {
	const char *listen;         /* "host:port", "[v6]:port" or ":port" (all IPv4 interfaces) */
	const char *cert_file;      /* PEM chain */
	const char *key_file;       /* PEM key */
	uint32_t client_timeout_ms; /* 0 = WEBHOOK_CLIENT_TIMEOUT_MS */
	uint32_t reload_check_ms;   /* 0 = WEBHOOK_RELOAD_CHECK_MS */
	size_t max_body;            /* 0 = WEBHOOK_MAX_BODY */
};

struct webhook;

/** Load the certificate, listen and start the thread. fs (the FIXSession informer) is borrowed and must
 * outlive the webhook. Returns 0, FIXGW_EINVAL (a bad address, certificate or key: logged), a negative
 * errno from listening, or FIXGW_ENOMEM. */
int webhook_start(const struct webhook_opts *o, struct k8s_informer *fs, struct webhook **out);
/** Stop the thread, close every connection and free w (NULL is fine). */
void webhook_stop(struct webhook *w);

#endif
