/* reject_engine.h - the reject engine: a tiny FIX acceptor for connections that no route claims.
 *
 * It reads the counterparty's Logon, answers one FIX Logout (35=5) carrying the configured reason in
 * Text (58) and closes. It is the only place fixgw speaks FIX (spec: "Gateway never sends FIX responses
 * except via optional reject engine"); the Logout itself is built by fix_logout_build (core/fix_logout.h),
 * which copies nothing but the BeginString and the swapped routing identities.
 *
 * Single-threaded: one reactor, one listening socket, one small state machine per connection
 * (READ_LOGON -> WRITE_LOGOUT -> LINGER -> CLOSED). Behaviour, limits and log lines are described in
 * docs/internals/reject-engine.md.
 *
 *	struct reject_config cfg;
 *	reject_config_defaults(&cfg);
 *	net_addr_parse("127.0.0.1:9881", &cfg.listen);
 *	struct reject_engine *e;
 *	if (reject_engine_create(&cfg, &e) == 0) {
 *		reject_engine_run(e);      // until reject_engine_stop() and the drain are done
 *		reject_engine_destroy(e);
 *	}
 */
#ifndef FIXGW_REJECT_REJECT_ENGINE_H
#define FIXGW_REJECT_REJECT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/redact.h"
#include "net/sock.h"

#define REJECT_DEFAULT_REASON           "No matching session configuration"
#define REJECT_REASON_MAX               200u /* bytes of Text (58); printable ASCII only */
#define REJECT_DEFAULT_MAX_LOGON_BYTES  65536u
#define REJECT_DEFAULT_LOGON_TIMEOUT_MS 10000u
#define REJECT_DEFAULT_MAX_CONNECTIONS  1024u
#define REJECT_DEFAULT_LINGER_MS        1000u
#define REJECT_DEFAULT_DRAIN_TIMEOUT_MS 5000u
#define REJECT_STALL_MS                 5000u /* a ping unanswered this long: /healthz fails */

struct reject_config {
	struct net_addr listen;
	const char *reason;        /* Text (58); borrowed, must outlive the engine; NULL = the default */
	uint32_t max_logon_bytes;  /* a Logon larger than this is closed unanswered */
	uint32_t logon_timeout_ms; /* from accept to a complete Logon */
	uint32_t max_connections;  /* beyond this, accept and close at once */
	uint32_t linger_ms;        /* after the Logout, wait this long for the peer's FIN before closing, so
	                            * that our close does not turn into a RST that destroys the Logout */
	uint32_t drain_timeout_ms; /* after stop: how long in-flight connections may finish */
	const struct redact_policy *policy; /* per-tag redaction for log lines, as FIXSessions set it
	                                     * (borrowed, must outlive the engine); NULL = secrets only */
	struct otlp_exporter *otlp;         /* one span per connection goes here (borrowed, must outlive the
	                                     * engine); NULL = no spans */
};

/** How a connection ended. Every accepted connection ends in exactly one outcome, so the sum over
 * outcomes is the number of connections the engine has finished. */
enum reject_outcome {
	REJECT_OUT_LOGOUT_SENT = 0, /* a complete Logon was answered with the Logout */
	REJECT_OUT_INVALID,         /* the bytes are not a FIX Logon */
	REJECT_OUT_TOO_LARGE,       /* no complete Logon within max_logon_bytes */
	REJECT_OUT_TIMEOUT,         /* no complete Logon within logon_timeout_ms */
	REJECT_OUT_EOF,             /* the peer closed in the middle of its Logon */
	REJECT_OUT_EMPTY,           /* the peer closed without sending a byte (TCP probes) */
	REJECT_OUT_UNANSWERABLE,    /* a complete Logon fix_logout_build refused (hostile CompID bytes) */
	REJECT_OUT_IO_ERROR,        /* read or write failed before the Logout was out (reset, ...) */
	REJECT_OUT_OVER_CAPACITY,   /* max_connections reached: accepted and closed at once */
	REJECT_OUT_SHUTDOWN,        /* still reading its Logon when the drain timeout ended the process */
	REJECT_OUT_COUNT
};

/** Counters for telemetry. Written by the reactor thread only; read them from any thread with
 * reject_engine_counters(), which takes a consistent-per-field snapshot. */
struct reject_counters {
	uint64_t accepted;        /* connections accepted, including the ones closed for capacity */
	uint64_t active;          /* gauge: connections in the state machine now */
	uint64_t accept_backoffs; /* times accepting paused for 100 ms on EMFILE/ENFILE/ENOBUFS/ENOMEM */
	uint64_t outcomes[REJECT_OUT_COUNT];
};

struct reject_engine; /* opaque */
struct otlp_exporter;
struct otlp_metric_set;

/** Fill cfg with the defaults above (listen is left unset). */
void reject_config_defaults(struct reject_config *cfg);

/** Short stable name of an outcome ("logout_sent", "timeout", ...), for logs and metric attributes. */
const char *reject_outcome_name(enum reject_outcome o);

/** Create the engine and bind its listening socket (so an address in use is reported here, before
 * anything runs). cfg is copied; cfg->reason is borrowed. Returns 0, FIXGW_EINVAL for a bad config
 * (reason not printable ASCII or longer than REJECT_REASON_MAX, zero limits), the -errno value of the
 * failing call when the socket cannot be bound (-EADDRINUSE, ...), FIXGW_ENOMEM. */
int reject_engine_create(const struct reject_config *cfg, struct reject_engine **out);

/** The address actually bound (the configured one, normalised). */
const char *reject_engine_address(const struct reject_engine *e);

/** Log "listening", then serve until reject_engine_stop(): stop accepting, let in-flight connections
 * finish for up to drain_timeout_ms, close the rest. Returns 0, or a negative FIXGW_E* code when the
 * engine could not run at all. Call once, on the thread that will own the engine. */
int reject_engine_run(struct reject_engine *e);

/** Ask a running engine to drain and return from reject_engine_run(). Async-signal-safe and callable from
 * any thread (it sets a flag and wakes the reactor with one write(2)); repeated calls are harmless. */
void reject_engine_stop(struct reject_engine *e);

/** Snapshot the counters into *out. Safe from any thread. */
void reject_engine_counters(const struct reject_engine *e, struct reject_counters *out);

/** The engine's metrics (an otlp_collect_fn; arg is the engine): fixgw.reject_engine.connections,
 * .connections.active, .rejections{reason = outcome name}. Any thread; only reads. */
void reject_engine_collect(void *arg, struct otlp_metric_set *set);

/** From another thread (the admin listener's, about once a second): post a ping to the engine's loop,
 * unless the last one is still unanswered. */
void reject_engine_ping(struct reject_engine *e);

/** True when a ping has waited more than REJECT_STALL_MS for the loop (a handler that never returns);
 * why gets one line saying how long. Any thread. */
bool reject_engine_stuck(const struct reject_engine *e, char *why, size_t cap);

/** NULL while the engine listens and is not draining, else why it is not ready ("starting",
 * "draining"; static text). Any thread. */
const char *reject_engine_unready(const struct reject_engine *e);

/** Close everything and free. e may be NULL. Not while reject_engine_run() is running. */
void reject_engine_destroy(struct reject_engine *e);

/** True for a usable reason text: 1..REJECT_REASON_MAX printable ASCII bytes (it becomes tag 58). */
bool reject_reason_valid(const char *s);

#endif
