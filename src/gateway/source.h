/* source.h - where snapshots come from, and how a source hands one to the gateway.
 *
 * A source turns its inputs (files, the Kubernetes API) into gateway snapshots (snapshot.h) on its own
 * thread and publishes them with gw_publish(). The workers and sessions never know which source built
 * what they read. The file watcher (source_file.c) is the first source; the Kubernetes reflector becomes
 * the second by implementing these operations, nothing else:
 *
 *   initial()  build and publish the first snapshot synchronously (the gateway is not ready until one
 *              is published); on failure fill `why` and return a negative code: the process does not
 *              start
 *   start()    start the source's own thread, which from then on publishes whenever its inputs change
 *   trigger()  rebuild soon (SIGHUP); from any thread, never blocks
 *   destroy()  stop the thread (joined) and free the source
 *
 * Rules for a source: build everything off the serving threads; validate before publishing; on invalid
 * input publish nothing (or a snapshot derived from gw_snapshot_current() with only the valid parts
 * replaced) and call gw_publish_refused(): the last-known-good snapshot stays in use. See
 * docs/internals/snapshot.md.
 */
#ifndef FIXGW_GATEWAY_SOURCE_H
#define FIXGW_GATEWAY_SOURCE_H

#include <stddef.h>

#include "gateway/config.h"
#include "gateway/snapshot.h"

struct gateway;
struct gw_source;

struct gw_source_ops {
	const char *name; /* "file", "kubernetes": a snapshot's origin */
	int (*initial)(struct gw_source *src, char *why, size_t why_cap);
	int (*start)(struct gw_source *src);
	void (*trigger)(struct gw_source *src);
	void (*destroy)(struct gw_source *src);
};

/** Embed as the first member of a source's own state. */
struct gw_source {
	const struct gw_source_ops *ops;
	struct gateway *gw;
};

/* ---- what the gateway offers a source (any thread; publishes are serialised) ---- */

/** Publish snap (taking over the caller's reference): fills its route counters, TLS contexts and
 * generation, applies its log level, swaps it in and tells every worker. The previous snapshot lives on
 * while a worker or session uses it. Returns 0, or -ENOMEM (nothing changed; the reference is dropped). */
int gw_publish(struct gateway *gw, struct gw_snapshot *snap);

/** Record that a build was refused (invalid input; the last-known-good snapshot stays, in part or
 * whole): counted, logged as reload_blocked, shown in /routes as last_reload_error until a good build
 * calls gw_publish_clear_error(). */
void gw_publish_refused(struct gateway *gw, const char *why);
void gw_publish_clear_error(struct gateway *gw);
/** Record how many FIXSession conflicts the source's last build found (0 once they are resolved): the
 * fixgw.routing.conflicts gauge. Any thread. */
void gw_set_route_conflicts(struct gateway *gw, size_t n);
/** Record how many endpoints the source's last endpoint map left out as gateway pods (ADR-019): the
 * fixgw.routing.loop_endpoints gauge and loop_endpoints in /routes. Any thread. */
void gw_set_loop_endpoints(struct gateway *gw, size_t n);

/** Log each diagnostic as one line (event, file, line, field); errors at lvl, warnings at WARN. */
void gw_log_diags(enum log_level lvl, const char *event, const struct diag_list *dl);

/** The snapshot in use, referenced (drop with gw_snapshot_unref); NULL before the first publish. */
struct gw_snapshot *gw_snapshot_current(struct gateway *gw);

/** The config the process booted with: listeners, workers and admin address are fixed for its life. */
const struct gw_config *gw_boot_config(const struct gateway *gw);

/** Re-read the listeners' certificates (those of c, or the same files when c is NULL); problems are
 * logged and keep the certificates in use. The next gw_publish hands the new contexts to the workers. */
void gw_reload_certificates(struct gateway *gw, const struct gw_config *c);

/* ---- sources ---- */

/** The file source: the gateway config at `path` (whose first load is `boot`, borrowed until the
 * source loads its own), its FIXSession paths and certificate files, watched every second and reloaded
 * on trigger (SIGHUP). */
int source_file_new(struct gateway *gw, const char *path, const struct gw_config *boot,
                    struct gw_source **out);

#endif
