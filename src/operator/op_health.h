/* op_health.h - what the operator's /healthz and /readyz report (operator/op_admin.h): when its main loop
 * last made progress, whether its caches have synced, whether it is stopping.
 *
 * The main loop writes (relaxed atomics), the admin thread reads. "Progress" is one turn of the main loop
 * (at least every 100 ms while idle) or one FIXSession looked at in a reconcile pass, so a long pass that
 * writes thousands of statuses at the client's rate limit still counts as alive. All helpers accept NULL.
 */
#ifndef FIXGW_OPERATOR_OP_HEALTH_H
#define FIXGW_OPERATOR_OP_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/reactor.h"

#define OP_STALL_MS 60000u /* default: no progress this long fails /healthz (longer than any API request) */

struct op_health {
	uint32_t stall_ms;                /* set before the admin listener starts */
	atomic_uint_fast64_t progress_ms; /* reactor_clock_ms() of the last progress; 0 = not started */
	atomic_bool synced;               /* informers and the publisher have their first complete lists */
	atomic_bool stopping;             /* a stop signal arrived */
};

/** The main loop made progress now. */
static inline void op_health_beat(struct op_health *h)
{
	if (h)
		atomic_store_explicit(&h->progress_ms, reactor_clock_ms(), memory_order_relaxed);
}

#endif
