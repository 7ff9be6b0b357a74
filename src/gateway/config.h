/* config.h - the gateway's standalone configuration: one YAML file with listeners, limits, TLS, the
 * FIXSession manifest paths and, in place of Kubernetes, a static map from Service ports to endpoint
 * addresses with a ready flag. The Kubernetes mode (later) fills the same structures from the API server.
 *
 * Loading reports every problem with file:line:col (core/diag.h) and never half-applies: a config either
 * loads whole or not at all, so a bad reload keeps the running config.
 */
#ifndef FIXGW_GATEWAY_CONFIG_H
#define FIXGW_GATEWAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/diag.h"
#include "net/sock.h"
#include "net/tls.h"
#include "telemetry/otlp.h"

#define GW_MAX_LISTENERS   16
#define GW_MAX_ROUTE_PATHS 64

struct gw_listener_config {
	char *name; /* DNS label, as FIXSession listeners name it */
	struct net_addr addr;
	struct tls_config tls;
};

/** One endpoint of a Service port. */
struct gw_endpoint {
	struct net_addr addr;
	bool ready;
};

/** The endpoints of one "namespace/service:port" (port is a number or a port name). */
struct gw_service_endpoints {
	char *key; /* "namespace/service:port" */
	struct gw_endpoint *items;
	size_t count;
};

struct gw_tuning {
	bool tcp_nodelay;      /* default true */
	bool reuse_port;       /* default true: one listening socket per worker */
	unsigned busy_poll_us; /* SO_BUSY_POLL on accepted sockets, 0 = off */
	bool pin_workers;      /* pin worker i to CPU i % ncpu */
};

/** Where Kubernetes mode takes its routes from (ADR-010). */
enum gw_k8s_routes {
	GW_K8S_ROUTES_PUBLISHED, /* the operator's validated table: an index ConfigMap and its shards
	                            (default) */
	GW_K8S_ROUTES_DIRECT,    /* FIXSession objects, compiled by the gateway itself */
};

/** The published table's index ConfigMap (routes: published). */
struct gw_routing_table {
	char *namespace_; /* NULL: the client's namespace (in a pod: its own), else "default" */
	char *name;       /* NULL: "fixgw-routing-table" */
};

/** Kubernetes mode: FIXSessions and endpoints come from the API server instead of this file. */
struct gw_kubernetes {
	bool enabled; /* a `kubernetes` section, or --kubeconfig on the command line */
	enum gw_k8s_routes routes;
	struct gw_routing_table table;
	bool in_cluster;  /* inCluster: the pod's service account (default when no kubeconfig) */
	char *kubeconfig; /* kubeconfig file: the --kubeconfig flag, else kubernetes.kubeconfig */
	char *namespace_; /* watch this namespace only (published: route only its FIXSessions); NULL: all */
	uint32_t sync_timeout_ms; /* syncTimeout, default 60 s: the first complete lists, or no start */
	/* gatewayService "NAMESPACE/NAME" (validated): the Service whose EndpointSlices list this gateway's
	 * pods; no route is given an endpoint at one of their addresses (ADR-019). NULL: none. */
	char *gateway_service;
};

/** What the command line adds to the file. */
#define GW_MAX_OTLP_FLAGS 16

struct gw_config_opts {
	const char *kubeconfig; /* --kubeconfig: Kubernetes mode with this file (NULL: as the file says) */
	/* --otlp-endpoint URL and --otlp KEY=VALUE, applied after the file and the OTEL_* environment
	 * (gw_telemetry_config); borrowed from argv */
	const char *otlp_endpoint;
	const char *otlp_set[GW_MAX_OTLP_FLAGS];
	size_t notlp_set;
};

struct gw_config {
	char *path; /* the file it came from (owned) */

	unsigned workers; /* default: number of CPUs */
	struct gw_listener_config listeners[GW_MAX_LISTENERS];
	size_t nlisteners;
	struct net_addr admin_addr; /* admin HTTP; len 0 = disabled */

	uint32_t logon_timeout_ms;     /* default 10000: absolute deadline for TLS + Logon */
	uint32_t max_logon_bytes;      /* default 65536 */
	uint32_t connect_timeout_ms;   /* default 2000 per endpoint attempt */
	uint32_t idle_timeout_ms;      /* default 0 = none (FIX heartbeats are the engines' business) */
	uint32_t hold_timeout_ms;      /* default 30000; a FIXSession's holdTimeout overrides */
	uint32_t max_held_per_process; /* default 500 (maxHeldConnectionsPerPod) */
	uint32_t hold_release_per_sec; /* default 20 per route: pacing after endpoints recover */
	uint32_t max_connections;      /* default 10000, process-wide safety bound */
	uint32_t shutdown_grace_ms;    /* default 30000 */
	char *log_level;               /* default "info" */
	struct gw_tuning tuning;

	bool reject_enabled; /* forward unmatched connections to the reject engine */
	struct net_addr reject_addr;

	char *route_paths[GW_MAX_ROUTE_PATHS]; /* FIXSession manifests (files or directories), relative
	                                        * paths resolved against the config file's directory */
	size_t nroute_paths;

	struct gw_service_endpoints *services; /* static endpoints (standalone mode), sorted by key */
	size_t nservices;

	struct gw_kubernetes kubernetes;

	/* The `telemetry` section: OTLP export options as otlp_config_set names them (export off without an
	 * endpoint). The environment and flags are applied on top by gw_telemetry_config. */
	struct otlp_config telemetry;
};

/** Load a config file. Returns 0 and a new config in *out (the caller frees it with gw_config_free), or
 * FIXGW_EINVAL, FIXGW_ENOMEM or the -errno of reading the file, with every problem in dl and *out NULL.
 * Relative file paths in the file are joined to the config file's directory, made absolute. The format,
 * defaults and bounds are in docs/reference/gateway-config.md. */
int gw_config_load(const char *path, struct gw_config **out, struct diag_list *dl);
/** gw_config_load with what the command line adds (opts may be NULL). In Kubernetes mode the file's
 * `routes` and `endpoints` keys are errors: those come from the API server. */
int gw_config_load_opts(const char *path, const struct gw_config_opts *opts, struct gw_config **out,
                        struct diag_list *dl);
void gw_config_free(struct gw_config *c);

/** The endpoints for "namespace/service:port", or NULL (binary search over the sorted services). */
const struct gw_service_endpoints *gw_config_service(const struct gw_config *c, const char *key);

#endif
