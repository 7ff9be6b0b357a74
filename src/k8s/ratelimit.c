/* ratelimit.c - token bucket (see ratelimit.h). */
#include "k8s/ratelimit.h"

void k8s_bucket_init(struct k8s_bucket *b, double qps, unsigned burst, uint64_t now_ns)
{
	b->qps = qps;
	b->burst = burst ? (double)burst : 1.0;
	b->tokens = b->burst;
	b->last_ns = now_ns;
}

static void refill(struct k8s_bucket *b, uint64_t now_ns)
{
	if (now_ns > b->last_ns) {
		b->tokens += (double)(now_ns - b->last_ns) * b->qps / 1e9;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last_ns = now_ns;
	}
}

uint64_t k8s_bucket_reserve(struct k8s_bucket *b, uint64_t now_ns)
{
	if (b->qps <= 0)
		return 0;
	refill(b, now_ns);
	b->tokens -= 1.0;
	if (b->tokens >= 0)
		return 0;
	return (uint64_t)(-b->tokens / b->qps * 1e9);
}

unsigned k8s_bucket_take(struct k8s_bucket *b, unsigned want, uint64_t now_ns)
{
	if (b->qps <= 0)
		return want;
	refill(b, now_ns);
	unsigned n = 0;
	while (n < want && b->tokens >= 1.0) {
		b->tokens -= 1.0;
		n++;
	}
	return n;
}
