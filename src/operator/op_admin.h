/* op_admin.h - the operator's admin endpoints, served by the shared bounded listener (net/admin_http.h)
 * on a thread of its own (the main loop blocks in sigtimedwait and API requests, so it cannot serve):
 *   GET /healthz  200 "ok" while the main loop makes progress (op_health.h); 503 with the reason when it
 *                 has made none for health->stall_ms (--admin-stall-ms, default OP_STALL_MS)
 *   GET /readyz   200 "ready" once the informers (FIXSessions, Services, EndpointSlices) and the publisher
 *                 have synced, on every replica: a standby serves the webhook from the same cache and is
 *                 ready to lead, so leadership is not a condition; 503 "starting" before, "stopping" after
 *                 a stop signal
 *   GET /metrics  fixgw.operator.* (op_metrics.h; with OTLP export on, also the exporter's own counters and
 *                 dropped log lines) in Prometheus text: the same instruments it exports over OTLP
 */
#ifndef FIXGW_OPERATOR_OP_ADMIN_H
#define FIXGW_OPERATOR_OP_ADMIN_H

#include "net/admin_http.h"
#include "operator/op_health.h"
#include "operator/op_metrics.h"

/** Listen on addr and serve. health, metrics and otlp (NULL: export off) are borrowed and must outlive
 * the listener; stop it with admin_http_stop. Returns 0 or as admin_http_spawn. */
int op_admin_start(struct op_health *health, struct op_metrics *metrics, struct otlp_exporter *otlp,
                   const struct net_addr *addr, struct admin_http **out);

#endif
