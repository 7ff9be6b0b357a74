/* ratelimit.h - a token bucket for client-side request rate limiting, as client-go's
 * flowcontrol.NewTokenBucketRateLimiter(qps, burst) (defaults 5 QPS, burst 10).
 *
 * Pure: the caller passes monotonic nanoseconds. k8s_bucket_reserve takes a token now and says how long
 * to wait before using it, so concurrent callers queue in order instead of racing for the next token.
 */
#ifndef FIXGW_K8S_RATELIMIT_H
#define FIXGW_K8S_RATELIMIT_H

#include <stdint.h>

#define K8S_DEFAULT_QPS   5.0
#define K8S_DEFAULT_BURST 10u

struct k8s_bucket {
	double qps;    /* <= 0: unlimited */
	double burst;  /* bucket size in tokens (at least 1) */
	double tokens; /* may go negative: reservations waiting for tokens */
	uint64_t last_ns;
};

void k8s_bucket_init(struct k8s_bucket *b, double qps, unsigned burst, uint64_t now_ns);
/** Take one token; returns the nanoseconds to wait before the request may start (0 = now). */
uint64_t k8s_bucket_reserve(struct k8s_bucket *b, uint64_t now_ns);
/** Take up to `want` tokens that are there now, never waiting and never going negative; returns how many
 * were taken (a budget of writes that may be skipped, rather than a queue of requests). */
unsigned k8s_bucket_take(struct k8s_bucket *b, unsigned want, uint64_t now_ns);

#endif
