/* gateway_impl.h - struct gateway, for the gateway's own modules (gateway.c, worker.c, admin.c) only.
 * Sessions include worker.h, sources source.h; neither sees this.
 */
#ifndef FIXGW_GATEWAY_GATEWAY_IMPL_H
#define FIXGW_GATEWAY_GATEWAY_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/route_stats.h"
#include "gateway/snapshot.h"
#include "gateway/source.h"
#include "gateway/worker.h"
#include "net/reactor.h"

struct gateway {
	struct gw_config *boot_cfg; /* the config the process started with: listeners, workers (owned) */

	pthread_mutex_t lock;     /* guards snap and last_reload_error: held only to read or swap them */
	struct gw_snapshot *snap; /* the snapshot in use (one reference owned here) */
	char last_reload_error[512];
	pthread_mutex_t publish_lock; /* serialises gw_publish */
	uint64_t generation;

	struct route_registry routes;
	atomic_int held_connections; /* shared by every worker: maxHeldConnectionsPerPod is one cap */
	atomic_uint_fast64_t admin_refused;
	atomic_uint_fast64_t publish_count, publish_failures;
	atomic_uint_fast64_t last_publish_unix_ms;
	atomic_uint_fast64_t route_conflicts; /* gw_set_route_conflicts */
	atomic_uint_fast64_t loop_endpoints;  /* gw_set_loop_endpoints */

	struct gw_listener listeners[GW_MAX_LISTENERS];
	size_t nlisteners;

	struct gw_worker *workers;
	unsigned nworkers;
	unsigned nworkers_running; /* started threads, joined at exit */

	struct gw_source *source;
	struct otlp_exporter *otlp; /* NULL when export is off (no endpoint); workers emit spans into it */
	struct reactor control;
	atomic_bool draining;
	atomic_bool ready; /* listeners bound, workers running, a snapshot published */
};

/** Sum of the workers' active connections (the maxConnections cap and the drain read it). */
int64_t gw_active_connections(struct gateway *gw);

/* A worker that has not answered a liveness ping for this long is stuck: /healthz fails. Pings go out
 * every second, so detection takes up to a second more. */
#define GW_WORKER_STALL_MS 5000

/** True when a running worker is stuck (then why says which and for how long). Any thread. */
bool gw_workers_stuck(struct gateway *gw, char *why, size_t cap);

/** Copy of the last reload error ("" when the last build was good). Any thread. */
void gw_last_reload_error(struct gateway *gw, char *out, size_t cap);

#endif
