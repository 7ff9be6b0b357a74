/* gateway.h - the gateway process, as the rest of the program sees it: run it, check a config, read its
 * statistics. struct gateway is opaque here; sessions see only worker.h, sources only source.h.
 *
 * Threads: the control thread (signals, admin HTTP, drain), one thread per worker (worker.h), and the
 * source's thread (source.h) that builds snapshots. See docs/internals/gateway.md.
 */
#ifndef FIXGW_GATEWAY_GATEWAY_H
#define FIXGW_GATEWAY_GATEWAY_H

#include <stdio.h>

#include "gateway/config.h"
#include "gateway/stats.h"

struct gateway;

/** Run the gateway with the given config file (and what the command line adds: opts, may be NULL)
 * until SIGTERM/SIGINT and the drain that follows.
 * Returns a process exit code. */
int gateway_main(const char *config_path, const struct gw_config_opts *opts);

/** `fixgw gateway --config F --check`: load the config, compile the FIXSessions, load the certificates
 * and bind every listener and the admin address once (then release them), without serving. Prints a
 * summary (or every problem) to out; returns 0 when the gateway would start, 2 otherwise. */
int gateway_check(const char *config_path, const struct gw_config_opts *opts, FILE *out);

/** The process counters summed over the workers. From any thread; never blocks a worker. */
void gw_stats_read(struct gateway *gw, struct gw_stats *out);

/** Visit every FIXSession's counters (summed over the workers), including records of FIXSessions no
 * longer in the table that still have connections (orphaned). From any thread; fn runs under the
 * registry lock, so it must not call back into the gateway. */
void gw_route_stats_foreach(struct gateway *gw, void (*fn)(const struct gw_route_stats *st, void *arg),
                            void *arg);

/** Visit every TLS listener with the earliest notAfter of the certificates it serves now (reloads
 * included). From any thread; takes each listener's certificate lock briefly. */
void gw_cert_expiry_foreach(struct gateway *gw, void (*fn)(const char *listener, time_t not_after, void *arg),
                            void *arg);

#endif
