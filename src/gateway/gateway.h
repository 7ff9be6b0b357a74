/* gateway.h - the gateway's shared state and its parts: workers (one thread, one reactor each), sessions
 * (one per counterparty connection), and the control thread (signals, reloads, admin HTTP).
 *
 * Threading: workers never share sessions. What they share lives in struct gateway and is either
 * immutable and reference-counted (routing table, endpoint snapshot: swapped under `lock`), atomic
 * (limits, counters) or behind its own lock (route_registry).
 */
#ifndef FIXGW_GATEWAY_GATEWAY_H
#define FIXGW_GATEWAY_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/route_table.h"
#include "gateway/config.h"
#include "gateway/endpoints.h"
#include "gateway/route_stats.h"
#include "net/reactor.h"
#include "net/tls.h"

enum gw_reject_reason {
	GW_REJECT_NO_MATCH = 0,
	GW_REJECT_PARSE_FAILURE,
	GW_REJECT_TARGET_UNREACHABLE,
	GW_REJECT_HOLD_TIMEOUT,
	GW_REJECT_HOLD_CAP_REACHED,
	GW_REJECT__COUNT,
};

const char *gw_reject_reason_name(enum gw_reject_reason r);

#define GW_EVAL_BUCKETS 12 /* eval latency histogram: < 250ns, < 500ns, ... doubling */

/** Process-wide counters (read by the admin view and the telemetry exporter). */
struct gw_counters {
	atomic_uint_fast64_t accepted;
	atomic_int active_connections; /* every accepted connection not yet closed */
	atomic_int held_connections;
	atomic_uint_fast64_t rejections[GW_REJECT__COUNT];
	atomic_uint_fast64_t reject_engine_connections;
	atomic_uint_fast64_t default_routed;
	atomic_uint_fast64_t tls_failures;
	atomic_uint_fast64_t bytes_from_clients, bytes_to_clients;
	atomic_uint_fast64_t eval_latency[GW_EVAL_BUCKETS];
	atomic_uint_fast64_t eval_count, eval_ns_total;
};

/** Limits the workers read on every connection; replaced on reload. */
struct gw_limits {
	atomic_uint logon_timeout_ms, max_logon_bytes, connect_timeout_ms, idle_timeout_ms;
	atomic_uint hold_timeout_ms, max_held_per_process, hold_release_per_sec, max_connections;
	atomic_bool tcp_nodelay;
	atomic_uint busy_poll_us;
};

/** A listener as the workers see it: its config (fixed for the process lifetime) and TLS contexts. */
struct gw_listener {
	const struct gw_listener_config *cfg;
	struct tls_server *tls; /* NULL for plaintext */
	int shared_fd;          /* the one socket when SO_REUSEPORT is off; -1 otherwise */
};

struct gw_worker;

struct gateway {
	struct gw_config *boot_cfg; /* the config the process started with: listeners, workers (owned) */
	struct gw_config *cfg;      /* the current config (owned; may equal boot_cfg) */

	pthread_mutex_t lock; /* guards table, endpoints, reject target, cfg */
	struct route_table *table;
	struct endpoint_map *endpoints;
	bool reject_enabled;
	struct net_addr reject_addr;
	uint64_t endpoints_generation;

	struct route_registry routes;
	struct gw_counters counters;
	struct gw_limits limits;

	struct gw_listener listeners[GW_MAX_LISTENERS];
	size_t nlisteners;

	struct gw_worker *workers;
	unsigned nworkers;

	struct reactor control;
	atomic_bool draining;
	bool ready; /* listeners bound and a table loaded */
	uint64_t last_reload_unix_ms;
	char last_reload_error[512];
};

/** The current routing table and endpoint snapshot, referenced (drop with route_table_unref /
 * endpoint_map_unref). */
struct route_table *gateway_table(struct gateway *gw);
struct endpoint_map *gateway_endpoints(struct gateway *gw);
/** Copy of the reject engine address; false when the reject engine is disabled. */
bool gateway_reject_target(struct gateway *gw, struct net_addr *out);

/** Run the gateway with the given config file until SIGTERM/SIGINT and the drain that follows.
 * Returns a process exit code. */
int gateway_main(const char *config_path);

#endif
