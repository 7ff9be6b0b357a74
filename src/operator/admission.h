/* admission.h - the admission webhook's decision: an admission.k8s.io/v1 AdmissionReview in, a verdict
 * and the AdmissionReview response out. Pure: no I/O, no threads (webhook.h serves it over HTTPS).
 *
 * A FIXSession CREATE or UPDATE is refused when the new version would be refused by the operator's
 * validation of the current set (the informer cache given by the caller, every namespace the operator
 * watches): it conflicts with another FIXSession (ADR-002), or the routing compiler finds it invalid.
 * The refusal's message is the operator's own text (route_diag_text over the same compiler's
 * diagnostics, for the same sorted set), so `kubectl apply` shows what the operator's CRITICAL
 * route_conflict line would say. An UPDATE that leaves what routing reads unchanged (labels, annotations,
 * finalizers) is always admitted, so a conflicting object that got in while the webhook was down can
 * still be relabelled or deleted.
 */
#ifndef FIXGW_OPERATOR_ADMISSION_H
#define FIXGW_OPERATOR_ADMISSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "operator/fs_set.h"

#define ADMISSION_MAX_UID     128  /* request.uid is a UUID; longer is refused as malformed */
#define ADMISSION_MAX_MESSAGE 4096 /* a refusal's message is cut here */

/** A decoded AdmissionReview request. doc owns everything; the other pointers are borrowed from it. */
struct admission_request {
	json_t *doc;
	const char *uid;
	const char *operation;       /* "CREATE", "UPDATE", "DELETE" or "CONNECT" */
	const char *namespace_;      /* request.namespace, or NULL */
	json_t *object, *old_object; /* request.object / request.oldObject (JSON objects), or NULL */
};

/** Decode body[0..len) (the caller bounds len). Checks apiVersion admission.k8s.io/v1, kind
 * AdmissionReview, request.uid (1..ADMISSION_MAX_UID bytes), request.operation, request.kind
 * fixgw.io/FIXSession, and that CREATE and UPDATE carry an object. Returns 0 with *rq filled (free with
 * admission_request_free), FIXGW_EINVAL with the reason in err (the HTTP 400 body), or FIXGW_ENOMEM. */
int admission_parse(const char *body, size_t len, struct admission_request *rq, char *err, size_t cap);
void admission_request_free(struct admission_request *rq);

struct admission_verdict {
	bool allowed;
	int code;                            /* 200, or 403 when refused */
	char message[ADMISSION_MAX_MESSAGE]; /* why it was refused ("" when allowed) */
};

/** The FIXSessions a review compiles against, parsed once per resourceVersion and kept between reviews
 * (parsing is most of a compile's cost: 0.2 ms per FIXSession here). Owned by one thread. */
struct admission_cache;

int admission_cache_new(struct admission_cache **out);
void admission_cache_free(struct admission_cache *c);

/** Bring the cache up to date with the current set, in three steps: begin; fresh() for every object of
 * the set (true: its cached parse is of this resourceVersion, and it is kept; false: the caller passes a
 * copy of it to end); end() with those copies (parsed now) drops what was not seen since begin. A NULL
 * rv is never fresh. */
void admission_cache_begin(struct admission_cache *c);
bool admission_cache_fresh(struct admission_cache *c, const char *key, const char *rv);
/** changed holds each key at most once. Returns 0 or FIXGW_ENOMEM (the cache is then emptied, so the
 * next sync parses everything again). */
int admission_cache_end(struct admission_cache *c, const struct fs_vec *changed);
/** begin + fresh + end over a whole set (tests, fuzzing). */
int admission_cache_sync(struct admission_cache *c, const struct fs_vec *set);
/** Objects in the cache. */
size_t admission_cache_count(const struct admission_cache *c);

/** Decide on rq against the cached set (the version of the object under review that it may hold is
 * replaced by the new one). The set is compiled as the operator's round compiles it (the same texts,
 * origins and sorted order), so the refusal names the same pairs with the same words. Returns 0 with *v
 * set, or FIXGW_ENOMEM. */
int admission_decide(const struct admission_request *rq, const struct admission_cache *c,
                     struct admission_verdict *v);

/** The AdmissionReview response for uid as compact JSON (malloc'd, length in *len), or NULL when out of
 * memory. */
char *admission_response(const char *uid, const struct admission_verdict *v, size_t *len);

#endif
