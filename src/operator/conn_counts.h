/* conn_counts.h - FIXSession connection counts in status: scrape every gateway pod's admin endpoint, sum,
 * and write the sums at a bounded rate.
 *
 * The gateway pods are the endpoints of the gateway Service's EndpointSlices (an informer of its own on
 * that namespace, labelled kubernetes.io/service-name=NAME), at the slice port named (or numbered) as
 * configured, ready or not: a draining gateway still carries connections. A scraper thread fetches
 * GET /route-stats from all of them at once every scrape_ms (libcurl multi; connect and total timeout
 * timeout_ms each, a response bound), sums the answers (conn_agg.h) and hands the sum to the writer. A pod
 * that does not answer keeps its last counts for expiry_ms after its last good answer, then they drop out
 * of the sums (one WARN line when it starts failing, one when its counts expire, INFO when it answers
 * again); a pod gone from the slices drops out at once.
 *
 * The writer runs on the operator's main thread, only on the leader, between rounds: it compares the sums
 * with every cached FIXSession's status and writes those that differ (status subresource, resourceVersion
 * precondition, RetryOnConflict, the leader fencing check before every attempt) within a budget of its own
 * (a token bucket of write_qps / write_burst): 10,000 FIXSessions whose counts all change are written at
 * write_qps, round-robin from where the last step stopped, and unchanged ones cost nothing. FIXSessions some
 * gateway reports go first; zeros for those no gateway reports are filled in with the budget left over. It
 * writes nothing before the first scrape pass, so a new leader never writes zeros it has not measured.
 *
 * The same slices, read by the same walker, give the gateway pods' addresses (cc_gateway_addrs) that the
 * operator's RoutingLoop condition compares targets with (ADR-019).
 */
#ifndef FIXGW_OPERATOR_CONN_COUNTS_H
#define FIXGW_OPERATOR_CONN_COUNTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "k8s/http.h"
#include "k8s/informer.h"
#include "k8s/leader.h"
#include "net/ip_set.h"

#define CC_DEFAULT_ADMIN_PORT  "admin"
#define CC_DEFAULT_SCRAPE_MS   5000u
#define CC_DEFAULT_TIMEOUT_MS  2000u
#define CC_DEFAULT_EXPIRY_MS   30000u
#define CC_DEFAULT_WRITE_QPS   10.0
#define CC_DEFAULT_WRITE_BURST 20u

/** Configuration; zero fields take the defaults. Strings are copied by cc_new. */
struct cc_opts {
	const char *gateway_namespace, *gateway_service; /* NULL: no counts (cc_new is not called) */
	const char *admin_port_name; /* the slice port's name; NULL: admin_port or "admin" */
	uint16_t admin_port;         /* the slice port's number instead of a name */
	uint32_t scrape_ms, timeout_ms, expiry_ms;
	double write_qps;
	unsigned write_burst;
};

struct conn_counts;

/** Start the EndpointSlice informer and the scraper thread. The client is borrowed (the operator's: the
 * informer and the status writes share its token bucket). Returns 0 or a negative code. */
int cc_new(struct k8s_client *c, const struct cc_opts *o, struct conn_counts **out);

/** Stop the thread and the informer, free everything. NULL is fine. */
void cc_free(struct conn_counts *cc);

/** On the leader's main thread: write the FIXSessions (from the informer fs, borrowed) whose counts
 * changed, within the budget. Returns 0, FIXGW_EAGAIN when fenced (no longer the leader), or the first
 * write error (logged; the next step tries again). NULL cc does nothing. */
int cc_write_step(struct conn_counts *cc, struct k8s_informer *fs, struct k8s_leader *le);

/** The gateway pods' addresses: every address of every endpoint in the gateway Service's EndpointSlices
 * (IPv4 and IPv6 slices, ready or not, any port), as a new finished set in *out that the caller owns
 * (ip_set_free). Any thread: it reads the informer's cache under its lock, and the slices are read by the
 * same code that finds the pods to scrape. Returns 0 or FIXGW_ENOMEM (*out empty). */
int cc_gateway_addrs(struct conn_counts *cc, struct ip_set *out);

/** A counter that moves on every change of the gateway Service's EndpointSlices (and every complete list):
 * read it before cc_gateway_addrs, and call that again when it has moved. Any thread. */
uint64_t cc_gateway_changes(const struct conn_counts *cc);

/** True once the gateway Service's EndpointSlices have been listed (the addresses are known). */
bool cc_synced(const struct conn_counts *cc);

/** Status writes made, for the operator's last log line. */
uint64_t cc_writes(const struct conn_counts *cc);

#endif
