/* endpoints.h - an immutable snapshot of the ready endpoints of every target, swapped atomically.
 *
 * A target key is "namespace/service:port" (port number or port name, as the FIXSession names it). The
 * standalone mode builds snapshots from the config file; the Kubernetes mode will build them from
 * EndpointSlices. Readers take a reference (endpoint_map_get) and drop it when done.
 */
#ifndef FIXGW_GATEWAY_ENDPOINTS_H
#define FIXGW_GATEWAY_ENDPOINTS_H

#include <stdatomic.h>
#include <stddef.h>

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
struct endpoint_map *endpoint_map_ref(struct endpoint_map *m);
void endpoint_map_unref(struct endpoint_map *m);

/** The set for a key, or NULL when the target is unknown. */
const struct endpoint_set *endpoint_map_find(const struct endpoint_map *m, const char *key);

/** "namespace/service:port" for a route's target, into out. */
void endpoint_key_for_target(const char *ns, const char *service, unsigned port, const char *port_name,
                             char *out, size_t cap);

#endif
