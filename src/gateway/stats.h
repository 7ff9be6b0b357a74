/* stats.h - counters kept per worker and summed when read.
 *
 * Each worker writes only its own counters, with relaxed loads and stores (no read-modify-write, no
 * shared cache line on the per-message path, as HAProxy's per-thread counters); a reader on any thread
 * (the admin view, an exporter) sums them with relaxed loads. A sum is a consistent-enough view for
 * monitoring, not a transaction: two counters read a moment apart may disagree by the messages in
 * between.
 */
#ifndef FIXGW_GATEWAY_STATS_H
#define FIXGW_GATEWAY_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/tls.h"

enum gw_reject_reason {
	GW_REJECT_NO_MATCH = 0,
	GW_REJECT_PARSE_FAILURE,
	GW_REJECT_TARGET_UNREACHABLE,
	GW_REJECT_HOLD_TIMEOUT,
	GW_REJECT_HOLD_CAP_REACHED,
	GW_REJECT__COUNT,
};

/** "no_match", "parse_failure", ... (the keys of /routes counters.rejections). */
const char *gw_reject_reason_name(enum gw_reject_reason r);

#define GW_EVAL_BUCKETS 12 /* eval latency histogram: < 250ns, < 500ns, ... doubling */

/** Add n to a counter only its owning thread writes (a plain add, not a locked one). */
static inline void gw_count(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

/** Add d (may be negative) to a gauge only its owning thread writes. */
static inline void gw_gauge(atomic_int_fast64_t *g, int64_t d)
{
	atomic_store_explicit(g, atomic_load_explicit(g, memory_order_relaxed) + d, memory_order_relaxed);
}

static inline void gw_stamp(atomic_int_fast64_t *g, int64_t v)
{
	atomic_store_explicit(g, v, memory_order_relaxed);
}

/** One worker's process-level counters (written by that worker only). */
struct gw_worker_stats {
	atomic_uint_fast64_t accepted;
	atomic_int_fast64_t active_connections; /* accepted here and not yet closed */
	atomic_uint_fast64_t rejections[GW_REJECT__COUNT];
	atomic_uint_fast64_t reject_engine_connections;
	atomic_uint_fast64_t default_routed;
	atomic_uint_fast64_t tls_failures;
	atomic_uint_fast64_t tls_failures_by[TLS_FAIL__COUNT]; /* by enum tls_failure */
	atomic_uint_fast64_t loops_refused; /* accepted connections that were our own upstream sockets */
	atomic_uint_fast64_t bytes_from_clients, bytes_to_clients;
	atomic_uint_fast64_t eval_latency[GW_EVAL_BUCKETS];
	atomic_uint_fast64_t eval_count, eval_ns_total;
};

/** One worker's share of one FIXSession's counters (written by that worker only). One cache line. */
struct route_counters {
	atomic_int_fast64_t active; /* connections relaying to the target */
	atomic_uint_fast64_t routed_total;
	atomic_uint_fast64_t hold_timeouts;
	atomic_uint_fast64_t bytes_from_client, bytes_to_client;
	atomic_int_fast64_t last_routing_unix_ms;    /* last Logon routed here */
	atomic_int_fast64_t last_connection_unix_ms; /* last upstream connection established */
	uint64_t pad_;
} __attribute__((aligned(64)));

/** The process counters, summed over the workers (gw_stats_read). */
struct gw_stats {
	uint64_t accepted;
	int64_t active_connections;
	int64_t held_connections;
	uint64_t rejections[GW_REJECT__COUNT];
	uint64_t reject_engine_connections;
	uint64_t default_routed;
	uint64_t tls_failures;
	uint64_t tls_failures_by[TLS_FAIL__COUNT];
	uint64_t loops_refused;
	uint64_t bytes_from_clients, bytes_to_clients;
	uint64_t eval_latency[GW_EVAL_BUCKETS];
	uint64_t eval_count, eval_ns_total;
	uint64_t admin_refused;        /* admin connections refused or evicted (connection flood) */
	uint64_t log_lines_dropped;    /* log lines the sink could not take (telemetry/log.h) */
	uint64_t snapshot_generation;  /* of the snapshot in use */
	uint64_t publish_count;        /* snapshots published */
	uint64_t publish_failures;     /* source builds refused (the last-known-good stayed) */
	uint64_t last_publish_unix_ms; /* 0 before the first */
	uint64_t route_conflicts;      /* conflicts the last FIXSession build found (0: none) */
	uint64_t loop_endpoints;       /* endpoints the last build left out as gateway pods (ADR-019) */
	uint64_t max_held;             /* maxHeldConnectionsPerPod of the snapshot in use */
	unsigned workers;
};

/** One FIXSession's counters, summed over the workers (gw_route_stats_foreach). */
struct gw_route_stats {
	const char *key; /* "namespace/name" (borrowed for the callback's duration) */
	bool present;    /* in the current table */
	int64_t active;
	int64_t held;
	int64_t orphaned; /* active while not present */
	uint64_t routed_total;
	uint64_t hold_timeouts;
	uint64_t bytes_from_client, bytes_to_client;
	int64_t last_routing_unix_ms, last_connection_unix_ms;
};

#endif
