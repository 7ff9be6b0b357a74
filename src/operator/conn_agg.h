/* conn_agg.h - the pure half of the FIXSession connection counts (conn_counts.h does the fetching and the
 * writing): read one gateway pod's /route-stats document, sum the documents of the pods that answered
 * recently, and compare or apply one FIXSession's sums to its status.
 *
 * No threads, no I/O, no clock: the caller passes monotonic milliseconds. Documents and sums are jansson
 * objects owned by whoever the function says; nothing here keeps a reference.
 */
#ifndef FIXGW_OPERATOR_CONN_AGG_H
#define FIXGW_OPERATOR_CONN_AGG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One FIXSession's connections, summed over gateway pods. Times are unix milliseconds, 0 = never. */
struct cc_counts {
	int64_t active;   /* proxied on the FIXSession in the gateways' current table */
	int64_t held;     /* waiting for a ready endpoint */
	int64_t orphaned; /* still proxied for an earlier incarnation that left the table */
	int64_t last_connection_ms, last_routing_ms;
};

/** Parse a /route-stats body ({"fixsessions": {"ns/name": {active, held, orphaned,
 * last_connection_unix_ms, last_routing_unix_ms}}}). Every entry is checked (non-negative integers), so a
 * sum never meets a wrong type. Returns the "fixsessions" object (a new reference the caller owns), or NULL
 * with a reason in err. */
json_t *cc_parse(const char *body, size_t len, char *err, size_t err_cap);

/** One gateway pod's last good answer. */
struct cc_pod_doc {
	json_t *doc;    /* cc_parse's object (borrowed), NULL when the pod never answered */
	uint64_t ok_ms; /* monotonic time of that answer */
};

/** True when a pod's counts no longer count: it never answered, or its last answer is older than
 * expiry_ms. */
bool cc_expired(const struct cc_pod_doc *p, uint64_t now_ms, uint64_t expiry_ms);

/** Sum the documents of the pods that have not expired: counts add up, times take the latest. Returns a
 * new object "ns/name" -> [active, held, orphaned, last_connection_ms, last_routing_ms] the caller owns,
 * or NULL when out of memory. */
json_t *cc_sum(const struct cc_pod_doc *pods, size_t n, uint64_t now_ms, uint64_t expiry_ms);

/** A FIXSession's entry of a sum (all zero when the sum does not name it). */
void cc_counts_of(json_t *sum, const char *key, struct cc_counts *out);

/** True when status (borrowed, may be NULL) already says what c says. The timestamps (RFC 3339, whole
 * seconds) only move forward: a time that is not later than the status's one is no change, so a pod's
 * counts expiring never takes a timestamp back. */
bool cc_status_matches(json_t *status, const struct cc_counts *c);

/** Write c into status (an object, borrowed): activeConnections, heldConnections, orphanedConnections,
 * and lastConnectionTime / lastRoutingTime where they move forward. Returns 0 or -ENOMEM. */
int cc_status_apply(json_t *status, const struct cc_counts *c);

#endif
