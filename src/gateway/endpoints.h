/* endpoints.h - an immutable snapshot of the ready endpoints of every target, swapped atomically.
 *
 * A target key is "namespace/service:port" (port number or port name, as the FIXSession names it). The
 * standalone mode builds snapshots from the config file; the Kubernetes mode will build them from
 * EndpointSlices. Readers take a reference (endpoint_map_get) and drop it when done.
 */
#ifndef FIXGW_GATEWAY_ENDPOINTS_H
#define FIXGW_GATEWAY_ENDPOINTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/config.h"
#include "net/sock.h"

struct endpoint_set {
	char *key;              /* "namespace/service:port" */
	struct net_addr *ready; /* ready endpoints only */
	size_t nready;
	size_t ntotal; /* ready + not ready: 0 means the Service is unknown */
};

struct endpoint_map {
	atomic_uint refs;
	struct endpoint_set *sets; /* sorted by key */
	size_t count;
	uint64_t generation; /* increases with every new snapshot */
};

/** Build a snapshot from the standalone config's endpoints. NULL on ENOMEM. */
struct endpoint_map *endpoint_map_from_config(const struct gw_config *cfg, uint64_t generation);
/** Build a snapshot from n Service ports (keys unique; the Kubernetes mode builds them from
 * EndpointSlices). NULL on ENOMEM. */
struct endpoint_map *endpoint_map_from_services(const struct gw_service_endpoints *services, size_t n,
                                                uint64_t generation);
struct endpoint_map *endpoint_map_ref(struct endpoint_map *m);
void endpoint_map_unref(struct endpoint_map *m);

/** The set for a key, or NULL when the target is unknown. */
const struct endpoint_set *endpoint_map_find(const struct endpoint_map *m, const char *key);

/* ---- choosing an endpoint (one worker's view) ---- */

#define ENDPOINT_HEALTH_SLOTS 64    /* endpoints whose recent failure a worker remembers */
#define ENDPOINT_DOWN_MS      10000 /* how long a failed connect steers new sessions elsewhere */
#define ENDPOINT_MAX_TRIES    64    /* endpoints one session tries at most */

/** Recent connect failures, per worker (no sharing, no locks): as HAProxy's observe/on-error, a failed
 * connect marks the address down for ENDPOINT_DOWN_MS, and new sessions try the other ready endpoints
 * first. A success clears the mark. Zero-initialised means "nothing failed". */
struct endpoint_health {
	struct {
		struct sockaddr_storage ss;
		socklen_t len;
		uint64_t down_until_ms;
	} slot[ENDPOINT_HEALTH_SLOTS];
};

void endpoint_health_failed(struct endpoint_health *h, const struct sockaddr *sa, socklen_t len,
                            uint64_t now_ms);
void endpoint_health_ok(struct endpoint_health *h, const struct sockaddr *sa, socklen_t len);
bool endpoint_health_down(const struct endpoint_health *h, const struct sockaddr *sa, socklen_t len,
                          uint64_t now_ms);

/** The next endpoint of set for a session: positions are taken in rotation from `start` (the worker's
 * round-robin cursor when the session began, so new sessions spread evenly), endpoints not marked down
 * first, then the ones marked down (they may have recovered: better than nothing). *tried has one bit per
 * rotation position already used by this session; the chosen one is added. Returns an index into
 * set->ready, or -1 when every endpoint (up to ENDPOINT_MAX_TRIES) was tried. */
long endpoint_pick(const struct endpoint_set *set, uint64_t start, uint64_t *tried,
                   const struct endpoint_health *h, uint64_t now_ms);

/** "namespace/service:port" for a route's target, into out. */
void endpoint_key_for_target(const char *ns, const char *service, unsigned port, const char *port_name,
                             char *out, size_t cap);

#endif
