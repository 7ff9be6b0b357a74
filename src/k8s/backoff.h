/* backoff.h - jittered exponential backoff, as client-go's reflector uses between failed list/watch
 * attempts (wait.NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0)).
 *
 * Pure: the caller passes the monotonic time and a uniform random number, so tests need no clock. The
 * step doubles from base to cap; each delay is step * (1 + jitter * r), so with jitter 1.0 a delay lies
 * between step and 2 * step. When reset_ms have passed since the last delay, the step starts again at
 * base (a long healthy period forgets old failures).
 */
#ifndef FIXGW_K8S_BACKOFF_H
#define FIXGW_K8S_BACKOFF_H

#include <stdint.h>

#define K8S_BACKOFF_BASE_MS  800u
#define K8S_BACKOFF_CAP_MS   30000u
#define K8S_BACKOFF_RESET_MS 120000u

struct k8s_backoff {
	uint64_t base_ms, cap_ms, reset_ms;
	double jitter;    /* 0..1 */
	uint64_t step_ms; /* 0 until the first delay */
	uint64_t last_ms; /* when the last delay was handed out */
};

/** Defaults are used for zero arguments; jitter < 0 means 1.0. */
void k8s_backoff_init(struct k8s_backoff *b, uint64_t base_ms, uint64_t cap_ms, uint64_t reset_ms,
                      double jitter);
/** The next delay in ms. now_ms is monotonic, r is uniform in [0, 1). */
uint64_t k8s_backoff_next(struct k8s_backoff *b, uint64_t now_ms, double r);
/** Forget failures now (a list succeeded). */
void k8s_backoff_reset(struct k8s_backoff *b);

#endif
