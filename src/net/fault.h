/* fault.h - test-only fault injection for error paths that are hard to reach from outside (a worker that
 * cannot initialise, a thread that cannot start, a timer heap that cannot grow, a stuck worker).
 *
 * Off unless the environment variable FIXGW_TEST_FAULTS is set, e.g.
 *   FIXGW_TEST_FAULTS="worker_init=1,timer_grow=64"
 * Read once, on first use. Only cold paths ask (startup, heap growth, accept of a stall target): the
 * per-message path never does.
 */
#ifndef FIXGW_NET_FAULT_H
#define FIXGW_NET_FAULT_H

#include <stdbool.h>

/** True when fault `name` is set; its value (0 when given without one) goes to *value if not NULL. */
bool fault_active(const char *name, long *value);

#endif
