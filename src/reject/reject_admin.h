/* reject_admin.h - the reject engine's admin endpoints, served by the shared bounded listener
 * (net/admin_http.h) on a thread of its own, so that it can report a stuck engine loop:
 *   GET /healthz  200 "ok" while the engine's loop answers the listener's once-a-second ping; 503 with
 *                 the reason when a ping has waited more than REJECT_STALL_MS
 *   GET /readyz   200 "ready" while the engine listens and is not draining; 503 "starting" / "draining"
 *   GET /metrics  fixgw.reject_engine.* (and, with OTLP export on, the exporter's own counters and dropped
 *                 log lines) in Prometheus text: the same instruments the engine exports over OTLP
 */
#ifndef FIXGW_REJECT_REJECT_ADMIN_H
#define FIXGW_REJECT_REJECT_ADMIN_H

#include "net/admin_http.h"
#include "reject/reject_engine.h"

/** Listen on addr and serve e's endpoints (e and otlp, which may be NULL, are borrowed and must outlive
 * the listener). Stop with admin_http_stop before destroying e. Returns 0 or as admin_http_spawn. */
int reject_admin_start(struct reject_engine *e, struct otlp_exporter *otlp, const struct net_addr *addr,
                       struct admin_http **out);

#endif
