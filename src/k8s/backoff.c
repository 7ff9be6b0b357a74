/* backoff.c - jittered exponential backoff (see backoff.h). */
#include "k8s/backoff.h"

void k8s_backoff_init(struct k8s_backoff *b, uint64_t base_ms, uint64_t cap_ms, uint64_t reset_ms,
                      double jitter)
{
	b->base_ms = base_ms ? base_ms : K8S_BACKOFF_BASE_MS;
	b->cap_ms = cap_ms ? cap_ms : K8S_BACKOFF_CAP_MS;
	if (b->cap_ms < b->base_ms)
		b->cap_ms = b->base_ms;
	b->reset_ms = reset_ms ? reset_ms : K8S_BACKOFF_RESET_MS;
	b->jitter = jitter < 0 ? 1.0 : jitter > 1.0 ? 1.0 : jitter;
	b->step_ms = 0;
	b->last_ms = 0;
}

void k8s_backoff_reset(struct k8s_backoff *b)
{
	b->step_ms = 0;
}

uint64_t k8s_backoff_next(struct k8s_backoff *b, uint64_t now_ms, double r)
{
	if (b->step_ms == 0 || now_ms - b->last_ms > b->reset_ms)
		b->step_ms = b->base_ms;
	else
		b->step_ms = b->step_ms > b->cap_ms / 2 ? b->cap_ms : b->step_ms * 2;
	b->last_ms = now_ms;
	if (r < 0 || r >= 1)
		r = 0;
	return b->step_ms + (uint64_t)((double)b->step_ms * b->jitter * r);
}
