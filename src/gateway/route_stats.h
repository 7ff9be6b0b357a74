/* route_stats.h - per-FIXSession runtime counters that outlive routing-table reloads.
 *
 * Keyed by "namespace/name", so a connection keeps counting against its FIXSession across reloads, and a
 * FIXSession deleted and re-applied finds its live ("orphaned") connections again. Connections hold a
 * reference; the registry holds one while the FIXSession is in the current table. Counts are tracked for
 * observability only, never enforced (the engine decides about concurrent sessions).
 */
#ifndef FIXGW_GATEWAY_ROUTE_STATS_H
#define FIXGW_GATEWAY_ROUTE_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/route_table.h"

struct route_stats {
	char *key; /* "namespace/name" (owned) */
	atomic_uint refs;
	atomic_int active; /* connections relaying to the target */
	atomic_int held;   /* connections waiting for a ready endpoint */
	atomic_uint_fast64_t routed_total;
	atomic_uint_fast64_t hold_timeouts;
	atomic_uint_fast64_t bytes_from_client, bytes_to_client;
	atomic_int_fast64_t last_routing_unix_ms;    /* last Logon routed here */
	atomic_int_fast64_t last_connection_unix_ms; /* last upstream connection established */
	atomic_int_fast64_t next_release_ms;         /* monotonic time of the next held release allowed */
	bool present;                                /* in the current table; guarded by the registry lock */
	int orphans_logged; /* active count reported when it became an orphan; guarded by the lock */
};

struct route_registry {
	pthread_mutex_t lock;
	struct route_stats **items; /* sorted by key */
	size_t count, cap;
};

void route_registry_init(struct route_registry *reg);
void route_registry_fini(struct route_registry *reg);

/** A referenced record for key (created, not present, when unknown). NULL on ENOMEM. */
struct route_stats *route_registry_get(struct route_registry *reg, const char *key);
void route_stats_unref(struct route_stats *st);

/** Bring the registry in line with a new table: FIXSessions that left the table while connections are
 * live become orphans (ERROR line with the count), ones that came back clear it (INFO line), records
 * nobody uses are dropped. Call after the table swap, from one thread at a time. */
void route_registry_sync(struct route_registry *reg, const struct route_table *t);

/** Orphaned connections of a record: its active count while it is absent from the table. */
int route_stats_orphaned(const struct route_stats *st);

/** Visit every record under the lock (for the admin view and metrics). */
void route_registry_foreach(struct route_registry *reg, void (*fn)(const struct route_stats *st, void *arg),
                            void *arg);

#endif
