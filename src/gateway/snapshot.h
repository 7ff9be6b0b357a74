/* snapshot.h - everything the workers read that can change at run time, as one immutable,
 * reference-counted object: the routing table, the endpoints, the reject target, the limits, the TLS
 * contexts and the log level.
 *
 * A source (source.h) builds a snapshot off the serving threads and publishes it with gw_publish(); the
 * gateway swaps one pointer and tells every worker, which takes a reference on its own thread. From then
 * on a worker reads its snapshot without locks. A session that needs something past one event handler
 * (its route's counters, say) takes its own reference. Nothing in a published snapshot changes; a new
 * state is a new snapshot (gw_snapshot_derive() copies the references of an old one). See
 * docs/internals/snapshot.md.
 */
#ifndef FIXGW_GATEWAY_SNAPSHOT_H
#define FIXGW_GATEWAY_SNAPSHOT_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/route_table.h"
#include "gateway/config.h"
#include "gateway/endpoints.h"
#include "net/sock.h"
#include "telemetry/log.h"

struct route_stats;

/** Limits the workers read on every connection. Plain values: a snapshot never changes. */
struct gw_limits {
	uint32_t logon_timeout_ms, max_logon_bytes, connect_timeout_ms, idle_timeout_ms;
	uint32_t hold_timeout_ms, max_held_per_process, hold_release_per_sec, max_connections;
	uint32_t shutdown_grace_ms;
	bool tcp_nodelay;
	uint32_t busy_poll_us;
};

struct gw_snapshot {
	atomic_uint refs;
	uint64_t generation; /* set by gw_publish: 1 for the first published snapshot, +1 each time */
	char origin[32];     /* the source that built it ("file", "kubernetes"), for /routes and logs */

	struct route_table *table;      /* referenced; never NULL once published */
	struct route_stats **stats;     /* stats[i] counts route_table_route(table, i) (referenced records;
	                                 * filled by gw_publish) */
	struct endpoint_map *endpoints; /* referenced; never NULL once published */
	bool reject_enabled;
	struct net_addr reject_addr;
	struct gw_limits limits;
	enum log_level log_level;
	SSL_CTX *tls[GW_MAX_LISTENERS]; /* per listener index, referenced; NULL for plaintext (filled by
	                                 * gw_publish from the listeners' current certificates) */
};

/** A new empty snapshot with one reference (the caller's), or NULL on ENOMEM. */
struct gw_snapshot *gw_snapshot_new(const char *origin);
/** A new snapshot with the same contents as base (references taken), generation 0, stats and TLS
 * contexts not copied (gw_publish fills them). NULL on ENOMEM. */
struct gw_snapshot *gw_snapshot_derive(const struct gw_snapshot *base);
struct gw_snapshot *gw_snapshot_ref(struct gw_snapshot *s);
/** Drop a reference; the last one frees the snapshot and drops what it references. NULL is fine. */
void gw_snapshot_unref(struct gw_snapshot *s);

/** Fill limits, reject target and log level from a loaded config (what every source reads from the
 * gateway's config file). */
void gw_snapshot_set_config(struct gw_snapshot *s, const struct gw_config *c);
/** Replace the table / endpoints, taking over the caller's reference (the old one is dropped). */
void gw_snapshot_set_table(struct gw_snapshot *s, struct route_table *t);
void gw_snapshot_set_endpoints(struct gw_snapshot *s, struct endpoint_map *m);

/** The counters of route r of the snapshot's table (r from route_table_eval or route_table_route), or
 * NULL when they could not be allocated. Borrowed: valid while the snapshot is. */
struct route_stats *gw_snapshot_route_stats(const struct gw_snapshot *s, const struct route *r);

#endif
