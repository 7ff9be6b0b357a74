/* routes_k8s.c - FIXSessions, Services and EndpointSlices from the API server (routes_k8s.h). */
#include "gateway/routes_k8s.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/grow.h"
#include "core/manifest.h"
#include "core/route_lkg.h"
#include "gateway/pod_addrs.h"
#include "gateway/source.h"
#include "k8s/api.h"
#include "k8s/config.h"
#include "k8s/http.h"
#include "k8s/informer.h"
#include "k8s/route_shards.h"
#include "telemetry/log.h"

#define MAX_SERVICE_PORTS   64   /* ports kept per Service (the API allows more; FIX needs a few) */
#define MAX_SLICE_PORTS     16   /* ports kept per EndpointSlice */
#define MAX_SLICE_ENDPOINTS 1000 /* the API's own limit per EndpointSlice */
#define GATEWAY_QPS         50.0 /* reads only: lists and watches of three or four resources */
#define GATEWAY_BURST       100
#define TABLE_IN_USE        (-EALREADY) /* the published table is the one in use: nothing to rebuild */

static const struct log_ctx k8s_log = {.component = "gateway"};

/* ---- decoded objects: only what routing needs, so the caches stay small ---- */

/* A FIXSession as the text the manifest loader reads: apiVersion, kind, metadata.name/namespace and spec.
 * Status, managedFields and annotations are left out (the loader refuses unknown keys, and they are
 * large). */
struct fs_obj {
	char *text;
	size_t len;
};

struct svc_port {
	char name[64]; /* "" when unnamed */
	uint16_t port;
};

struct svc_obj {
	bool external_name;
	size_t nports;
	struct svc_port ports[];
};

struct slice_endpoint {
	struct net_addr addr; /* port 0 until resolved */
	bool ready;
};

struct slice_obj {
	char service[254]; /* kubernetes.io/service-name */
	char ns[64];
	int family; /* AF_INET or AF_INET6; slices of FQDN addresses are left out */
	size_t nports;
	struct svc_port ports[MAX_SLICE_PORTS]; /* port 0: the slice names no number */
	size_t neps;
	struct slice_endpoint eps[];
};

static void *decode_fixsession(void *arg, const char *key, json_t *obj)
{
	(void)arg;
	(void)key;
	struct fs_obj *o = calloc(1, sizeof(*o));
	if (o && !(o->text = k8s_fixsession_text(obj, &o->len))) {
		free(o);
		o = NULL;
	}
	return o;
}

static void free_fixsession(void *arg, void *p)
{
	(void)arg;
	struct fs_obj *o = p;
	if (o)
		free(o->text);
	free(o);
}

static void copy_name(char *dst, size_t cap, json_t *s)
{
	const char *v = json_string_value(s);
	snprintf(dst, cap, "%s", v && strlen(v) < cap ? v : "");
}

static void *decode_service(void *arg, const char *key, json_t *obj)
{
	(void)arg;
	(void)key;
	json_t *spec = json_object_get(obj, "spec");
	json_t *ports = json_object_get(spec, "ports");
	size_t n = json_is_array(ports) ? json_array_size(ports) : 0;
	if (n > MAX_SERVICE_PORTS)
		n = MAX_SERVICE_PORTS;
	struct svc_obj *s = calloc(1, sizeof(*s) + n * sizeof(s->ports[0]));
	if (!s)
		return NULL;
	const char *type = json_string_value(json_object_get(spec, "type"));
	s->external_name = type && !strcmp(type, "ExternalName");
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(ports, i);
		json_int_t port = json_integer_value(json_object_get(p, "port"));
		if (port < 1 || port > 65535)
			continue;
		struct svc_port *sp = &s->ports[s->nports++];
		copy_name(sp->name, sizeof(sp->name), json_object_get(p, "name"));
		sp->port = (uint16_t)port;
	}
	return s;
}

/* An EndpointSlice: with all_addresses, one entry per address of each endpoint (the gateway's pods, where
 * any address counts), else one per endpoint, its first address (a target's backends). */
static struct slice_obj *slice_from_json(json_t *obj, bool all_addresses)
{
	const char *type = json_string_value(json_object_get(obj, "addressType"));
	int family = type && !strcmp(type, "IPv4") ? AF_INET : type && !strcmp(type, "IPv6") ? AF_INET6 : 0;
	json_t *meta = json_object_get(obj, "metadata");
	json_t *svc_label = json_object_get(json_object_get(meta, "labels"), "kubernetes.io/service-name");
	const char *svc = json_string_value(svc_label);
	json_t *eps = json_object_get(obj, "endpoints");
	size_t neps = family && svc && json_is_array(eps) ? json_array_size(eps) : 0, n = 0;
	for (size_t i = 0; i < neps; i++)
		n +=
		    all_addresses ? json_array_size(json_object_get(json_array_get(eps, i), "addresses")) : 1;
	if (n > MAX_SLICE_ENDPOINTS)
		n = MAX_SLICE_ENDPOINTS;
	struct slice_obj *s = calloc(1, sizeof(*s) + n * sizeof(s->eps[0]));
	if (!s)
		return NULL;
	s->family = family;
	copy_name(s->service, sizeof(s->service), svc_label);
	copy_name(s->ns, sizeof(s->ns), json_object_get(meta, "namespace"));
	json_t *ports = json_object_get(obj, "ports");
	for (size_t i = 0; json_is_array(ports) && i < json_array_size(ports) && s->nports < MAX_SLICE_PORTS;
	     i++) {
		json_t *p = json_array_get(ports, i);
		json_int_t port = json_integer_value(json_object_get(p, "port"));
		struct svc_port *sp = &s->ports[s->nports++];
		copy_name(sp->name, sizeof(sp->name), json_object_get(p, "name"));
		sp->port = port >= 1 && port <= 65535 ? (uint16_t)port : 0;
	}
	for (size_t i = 0; i < neps && s->neps < n; i++) {
		json_t *e = json_array_get(eps, i);
		json_t *addrs = json_object_get(e, "addresses");
		json_t *ready = json_object_get(json_object_get(e, "conditions"), "ready");
		/* kube-proxy uses the first address of an endpoint; the others are the same backend */
		size_t na = all_addresses ? json_array_size(addrs) : 1;
		for (size_t a = 0; a < na && s->neps < n; a++) {
			const char *ip = json_string_value(json_array_get(addrs, a));
			struct slice_endpoint *se = &s->eps[s->neps];
			char text[80];
			snprintf(text, sizeof(text), family == AF_INET6 ? "[%s]:1" : "%s:1", ip ? ip : "");
			if (!ip || net_addr_parse(text, &se->addr) != 0)
				continue; /* validated by the API server; left out if we cannot parse it */
			/* unset means ready (discovery.k8s.io/v1) */
			se->ready = !ready || json_is_true(ready);
			s->neps++;
		}
	}
	return s;
}

static void *decode_slice(void *arg, const char *key, json_t *obj)
{
	(void)arg;
	(void)key;
	return slice_from_json(obj, false);
}

static void *decode_pod_slice(void *arg, const char *key, json_t *obj)
{
	(void)arg;
	(void)key;
	return slice_from_json(obj, true);
}

/* A ConfigMap of the published table: the index's text, digest and generation, or a shard's text. */
struct cm_obj {
	uint64_t generation;
	char digest[RS_HASH_HEX + 1];
	char *text; /* NULL when the ConfigMap lacks the key */
	size_t len;
};

static void *decode_configmap(void *arg, const char *key, json_t *obj)
{
	(void)arg;
	(void)key;
	json_t *data = json_object_get(obj, "data");
	json_t *shard = json_object_get(data, RS_DATA_KEY), *index = json_object_get(data, RS_INDEX_KEY);
	json_t *t = json_is_string(index) ? index : shard;
	struct cm_obj *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	if (json_is_string(t)) {
		o->len = json_string_length(t);
		if (!(o->text = malloc(o->len + 1))) {
			free(o);
			return NULL;
		}
		memcpy(o->text, json_string_value(t), o->len + 1);
	}
	copy_name(o->digest, sizeof(o->digest), json_object_get(data, RS_DIGEST_KEY));
	const char *g = json_string_value(json_object_get(data, RS_GENERATION_KEY));
	o->generation = g ? strtoull(g, NULL, 10) : 0;
	return o;
}

static void free_configmap(void *arg, void *p)
{
	(void)arg;
	struct cm_obj *o = p;
	if (o)
		free(o->text);
	free(o);
}

/* ---- the provider ---- */

struct k8s_routes {
	struct k8s_client *client;
	struct k8s_informer *fixsessions, *services, *slices;
	/* routes: published: ConfigMaps labelled RS_LABEL=<index> in the table's namespace (instead of the
	 * FIXSession informer) */
	struct k8s_informer *tables;
	/* kubernetes.gatewayService: the EndpointSlices of the gateway's own Service (ADR-019), whose
	 * addresses no route may lead to; NULL when not configured */
	struct k8s_informer *gateway_pods;
	char gw_service[320], gw_ns[64], gw_selector[300];
	atomic_size_t loop_endpoints; /* endpoints the last endpoint map build left out as gateway pods */
	/* what the last routing_loop_endpoints line said (the build thread's) */
	struct pod_drops loop_logged;
	char table_ns[64], table_name[254], table_key[320], table_selector[300];
	char only_ns[64]; /* kubernetes.namespace ("" = all): watched; published: its FIXSessions only */
	char in_use[RS_HASH_HEX + 1]; /* the digest of the published table in use ("" before the first) */
	uint64_t in_use_generation;
	char *last_error;    /* the reason logged last: logged again only when it changes */
	atomic_bool pending; /* the published table could not be read: try again */
	void (*changed)(void *arg);
	void *changed_arg;
	atomic_bool fixsessions_changed;
	atomic_size_t conflicts; /* found by the last build_table */
	json_t *lkg;             /* namespace/name -> the text last accepted (JSON string) */
	char origin[256];
	uint32_t sync_timeout_ms;
};

static void on_fixsession(void *arg)
{
	struct k8s_routes *kr = arg;
	atomic_store(&kr->fixsessions_changed, true);
	kr->changed(kr->changed_arg);
}

static void on_fs_add(void *arg, const char *key, void *obj)
{
	(void)key;
	(void)obj;
	on_fixsession(arg);
}
static void on_fs_update(void *arg, const char *key, void *o, void *n)
{
	(void)key;
	struct k8s_routes *kr = arg;
	struct fs_obj *a = o, *b = n;
	if (kr->tables || a->len != b->len ||
	    memcmp(a->text, b->text, a->len) != 0) /* status-only writes change nothing */
		on_fixsession(arg);
}
static void on_other(void *arg)
{
	struct k8s_routes *kr = arg;
	kr->changed(kr->changed_arg);
}
static void on_other_add(void *arg, const char *key, void *obj)
{
	(void)key;
	(void)obj;
	on_other(arg);
}
static void on_other_update(void *arg, const char *key, void *o, void *n)
{
	(void)key;
	(void)o;
	(void)n;
	on_other(arg);
}

static int new_informer(struct k8s_routes *kr, const struct k8s_resource *res, const char *ns,
                        const char *label_selector, void *(*decode)(void *, const char *, json_t *),
                        void (*free_obj)(void *, void *), bool routes, struct k8s_informer **out)
{
	struct k8s_informer_opts o = {.namespace_ = ns, .label_selector = label_selector};
	struct k8s_informer_handlers h = {
	    .arg = kr,
	    .decode = decode,
	    .free_obj = free_obj,
	    .on_add = routes ? on_fs_add : on_other_add,
	    .on_update = routes ? on_fs_update : on_other_update,
	    .on_delete = routes ? on_fs_add : on_other_add,
	};
	return k8s_informer_new(kr->client, res, &o, &h, out);
}

static void free_plain(void *arg, void *obj)
{
	(void)arg;
	free(obj);
}

int k8s_routes_new(const struct gw_config *c, void (*changed)(void *arg), void *arg, struct k8s_routes **out,
                   char *why, size_t why_cap)
{
	*out = NULL;
	struct k8s_routes *kr = calloc(1, sizeof(*kr));
	if (!kr || !(kr->lkg = json_object())) {
		free(kr);
		snprintf(why, why_cap, "out of memory");
		return FIXGW_ENOMEM;
	}
	kr->changed = changed;
	kr->changed_arg = arg;
	kr->sync_timeout_ms = c->kubernetes.sync_timeout_ms ? c->kubernetes.sync_timeout_ms : 60000;

	struct k8s_config kc;
	struct diag_list dl;
	diag_list_init(&dl);
	int rc = c->kubernetes.in_cluster && !c->kubernetes.kubeconfig
	             ? k8s_config_load_incluster(NULL, &kc, &dl)
	             : k8s_config_load_default(c->kubernetes.kubeconfig, &kc, &dl);
	if (rc) {
		char line[400] = "";
		if (dl.count)
			diag_format(&dl.items[0], line, sizeof(line));
		snprintf(why, why_cap, "Kubernetes configuration: %s", line[0] ? line : fixgw_strerror(rc));
		diag_list_free(&dl);
		k8s_routes_free(kr);
		return rc;
	}
	diag_list_free(&dl);
	char err[256] = "";
	struct k8s_client_opts co = {.qps = GATEWAY_QPS, .burst = GATEWAY_BURST};
	rc = k8s_client_new(&kc, &co, &kr->client, err, sizeof(err));
	if (rc) {
		k8s_config_free(&kc);
		snprintf(why, why_cap, "Kubernetes client: %s", rc == FIXGW_ENOMEM ? "out of memory" : err);
		k8s_routes_free(kr);
		return rc;
	}
	snprintf(kr->origin, sizeof(kr->origin), "%s", k8s_client_origin(kr->client));
	const char *ns = c->kubernetes.namespace_;
	snprintf(kr->only_ns, sizeof(kr->only_ns), "%s", ns ? ns : "");
	if (c->kubernetes.routes == GW_K8S_ROUTES_PUBLISHED) {
		const char *tns = c->kubernetes.table.namespace_ ? c->kubernetes.table.namespace_
		                                                 : k8s_client_namespace(kr->client);
		snprintf(kr->table_ns, sizeof(kr->table_ns), "%s", tns && tns[0] ? tns : "default");
		snprintf(kr->table_name, sizeof(kr->table_name), "%s",
		         c->kubernetes.table.name ? c->kubernetes.table.name : RS_DEFAULT_INDEX);
		snprintf(kr->table_key, sizeof(kr->table_key), "%s/%s", kr->table_ns, kr->table_name);
		snprintf(kr->table_selector, sizeof(kr->table_selector), RS_LABEL "=%s", kr->table_name);
		rc = new_informer(kr, &k8s_res_configmaps, kr->table_ns, kr->table_selector, decode_configmap,
		                  free_configmap, true, &kr->tables);
		atomic_store(&kr->pending, true);
	} else {
		rc = new_informer(kr, &k8s_res_fixsessions, ns, NULL, decode_fixsession, free_fixsession,
		                  true, &kr->fixsessions);
	}
	if (!rc)
		rc = new_informer(kr, &k8s_res_services, ns, NULL, decode_service, free_plain, false,
		                  &kr->services);
	if (!rc)
		rc = new_informer(kr, &k8s_res_endpointslices, ns, "kubernetes.io/service-name", decode_slice,
		                  free_plain, false, &kr->slices);
	const char *gws = c->kubernetes.gateway_service;
	if (!rc && gws) {
		const char *slash = strchr(gws, '/'); /* the loader checked NAMESPACE/NAME */
		snprintf(kr->gw_service, sizeof(kr->gw_service), "%s", gws);
		snprintf(kr->gw_ns, sizeof(kr->gw_ns), "%.*s", (int)(slash - gws), gws);
		snprintf(kr->gw_selector, sizeof(kr->gw_selector), "kubernetes.io/service-name=%s",
		         slash + 1);
		rc = new_informer(kr, &k8s_res_endpointslices, kr->gw_ns, kr->gw_selector, decode_pod_slice,
		                  free_plain, false, &kr->gateway_pods);
	}
	if (rc) {
		snprintf(why, why_cap, "Kubernetes informers: %s", fixgw_strerror(rc));
		k8s_routes_free(kr);
		return rc;
	}
	atomic_store(&kr->fixsessions_changed, true);
	*out = kr;
	return 0;
}

static bool table_ready(struct k8s_routes *kr, char *why, size_t why_cap);

/* What one informer needs from RBAC, for the start-up error. */
struct informer_need {
	struct k8s_informer *inf;
	const char *what;     /* for the log: "FIXSessions" */
	const char *resource; /* for RBAC: "fixsessions.fixgw.io" */
	const char *ns;       /* "" = all namespaces */
};

/* The start-up error of an informer that has no complete list: RBAC's refusal when the API server's
 * last answer was 403, else what may be missing. */
static void unsynced_reason(const struct k8s_routes *kr, const struct informer_need *n, char *why,
                            size_t why_cap)
{
	struct k8s_informer_stats st;
	k8s_informer_stats(n->inf, &st);
	char where[100];
	snprintf(where, sizeof(where), n->ns[0] ? "in namespace %s" : "in all namespaces", n->ns);
	if (st.list_status == 403)
		snprintf(why, why_cap,
		         "the API server (%s) refuses to list %s %s (HTTP 403): this service account needs "
		         "get, list and watch on %s %s",
		         kr->origin, n->what, where, n->resource, where);
	else
		snprintf(why, why_cap,
		         "no complete list of %s %s from %s within %u ms (is the API server reachable, is "
		         "the FIXSession CRD installed, and may this service account list %s?)",
		         n->what, where, kr->origin, kr->sync_timeout_ms, n->resource);
}

int k8s_routes_start(struct k8s_routes *kr, char *why, size_t why_cap)
{
	char gw_what[400];
	snprintf(gw_what, sizeof(gw_what), "the EndpointSlices of the gateway Service %s", kr->gw_service);
	const struct informer_need all[] = {
	    {kr->tables ? kr->tables : kr->fixsessions,
	     kr->tables ? "routing-table ConfigMaps" : "FIXSessions",
	     kr->tables ? "configmaps" : "fixsessions.fixgw.io", kr->tables ? kr->table_ns : kr->only_ns},
	    {kr->services, "Services", "services", kr->only_ns},
	    {kr->slices, "EndpointSlices", "endpointslices.discovery.k8s.io", kr->only_ns},
	    {kr->gateway_pods, gw_what, "endpointslices.discovery.k8s.io", kr->gw_ns},
	};
	size_t n = kr->gateway_pods ? 4 : 3;
	for (size_t i = 0; i < n; i++) {
		int rc = k8s_informer_start(all[i].inf);
		if (rc) {
			snprintf(why, why_cap, "cannot start the %s informer: %s", all[i].what,
			         fixgw_strerror(rc));
			return rc;
		}
	}
	log_msg(LOG_INFO, "kubernetes_sync", &k8s_log,
	        "waiting up to %u ms for the first complete lists of %s, Services and EndpointSlices%s%s "
	        "from %s",
	        kr->sync_timeout_ms, all[0].what,
	        kr->gateway_pods ? " and those of the gateway Service " : "",
	        kr->gateway_pods ? kr->gw_service : "", kr->origin);
	uint64_t deadline = k8s_now_ms() + kr->sync_timeout_ms;
	for (size_t i = 0; i < n; i++) {
		uint64_t now = k8s_now_ms();
		if (!k8s_informer_wait_synced(all[i].inf, now < deadline ? (uint32_t)(deadline - now) : 0)) {
			unsynced_reason(kr, &all[i], why, why_cap);
			return FIXGW_ETIMEOUT;
		}
	}
	if (!kr->tables)
		return 0;
	/* Nothing is served before the first complete published table. */
	char reason[400] = "";
	while (!table_ready(kr, reason, sizeof(reason))) {
		if (k8s_now_ms() >= deadline) {
			snprintf(
			    why, why_cap,
			    "no complete routing table %s within %u ms: %s (is the operator running, and may "
			    "this service account read ConfigMaps in %s?)",
			    kr->table_key, kr->sync_timeout_ms, reason, kr->table_ns);
			return FIXGW_ETIMEOUT;
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return 0;
}

size_t k8s_routes_conflicts(struct k8s_routes *kr)
{
	return atomic_load(&kr->conflicts);
}

size_t k8s_routes_loop_endpoints(struct k8s_routes *kr)
{
	return atomic_load(&kr->loop_endpoints);
}

bool k8s_routes_pending(struct k8s_routes *kr)
{
	return atomic_load(&kr->pending);
}

const char *k8s_routes_origin(const struct k8s_routes *kr)
{
	return kr->origin;
}

/* ---- building the table ---- */

struct fs_copy {
	char *key;
	char *text;
	size_t len;
};

struct fs_list {
	struct fs_copy *items;
	size_t count, cap;
	bool nomem;
};

/* Copies, because the informer may free its objects as soon as its lock is released. */
static bool collect_fixsession(void *arg, const struct k8s_store_entry *e)
{
	struct fs_list *l = arg;
	const struct fs_obj *o = e->obj;
	if (GROW_ARRAY(l->items, l->cap, l->count + 1, 256) != 0) {
		l->nomem = true;
		return false;
	}
	struct fs_copy *c = &l->items[l->count];
	c->key = strdup(e->key);
	c->text = malloc(o->len + 1);
	if (!c->key || !c->text) {
		free(c->key);
		free(c->text);
		l->nomem = true;
		return false;
	}
	memcpy(c->text, o->text, o->len + 1);
	c->len = o->len;
	l->count++;
	return true;
}

static void fs_list_free(struct fs_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].key);
		free(l->items[i].text);
	}
	free(l->items);
}

static int cmp_fs_copy(const void *a, const void *b)
{
	return strcmp(((const struct fs_copy *)a)->key, ((const struct fs_copy *)b)->key);
}

static void log_verdicts(const struct fs_list *l, const enum route_verdict *v)
{
	for (size_t i = 0; i < l->count; i++) {
		if (v[i] == ROUTE_ACCEPTED)
			continue;
		struct log_line line;
		log_begin(&line, LOG_CRITICAL, "route_blocked", &k8s_log);
		log_str(&line, "fixsession", l->items[i].key);
		log_str(&line, "verdict", route_verdict_str(v[i]));
		log_end(
		    &line, "%s",
		    v[i] == ROUTE_KEPT_LKG
		        ? "the new version of this FIXSession is invalid or conflicts; its last-known-good "
		          "version stays in use"
		        : "this FIXSession is invalid or conflicts and has no last-known-good version: it "
		          "is not routed");
	}
}

/* ---- the published table (routes: published) ---- */

static bool fs_list_add(struct fs_list *l, const char *key, size_t key_len, const char *text, size_t len)
{
	if (GROW_ARRAY(l->items, l->cap, l->count + 1, 256) != 0)
		return false;
	struct fs_copy *c = &l->items[l->count];
	c->key = strndup(key, key_len);
	c->text = strndup(text, len);
	if (!c->key || !c->text) {
		free(c->key);
		free(c->text);
		return false;
	}
	c->len = len;
	l->count++;
	return true;
}

struct pub_read {
	struct k8s_routes *kr;
	struct fs_list *l; /* NULL: only check */
	const struct rs_index *ix;
	struct rs_index_shard s;
	char digest[RS_HASH_HEX + 1];
	uint64_t generation;
	char *why;
	size_t why_cap;
	int rc;
};

static void read_shard(void *arg, const void *obj)
{
	struct pub_read *r = arg;
	const struct cm_obj *o = obj;
	struct rs_cursor c;
	if (!o) {
		snprintf(r->why, r->why_cap, "shard %.*s is missing", (int)RS_NAME_MAX, r->s.name);
		r->rc = FIXGW_EAGAIN;
		return;
	}
	if ((r->rc = rs_shard_open(&c, r->ix, &r->s, o->text, o->len, r->why, r->why_cap)) != 0)
		return;
	struct rs_entry e;
	size_t nslen = strlen(r->kr->only_ns);
	while ((r->rc = rs_shard_next(&c, &e, r->why, r->why_cap)) == 1) {
		if (!r->l || (nslen && (e.key_len <= nslen || memcmp(e.key, r->kr->only_ns, nslen) ||
		                        e.key[nslen] != '/')))
			continue;
		if (!fs_list_add(r->l, e.key, e.key_len, e.text, e.len)) {
			r->rc = FIXGW_ENOMEM;
			return;
		}
	}
}

/* Under the ConfigMap informer's lock: the index, then each shard it names (nested gets: the lock is
 * recursive). */
static void read_index(void *arg, const void *obj)
{
	struct pub_read *r = arg;
	const struct cm_obj *o = obj;
	if (!o) {
		snprintf(r->why, r->why_cap, "the index ConfigMap %s does not exist (yet)", r->kr->table_key);
		r->rc = FIXGW_EAGAIN;
		return;
	}
	struct rs_index ix;
	if ((r->rc = rs_index_parse(o->text, o->len, o->digest, &ix, r->why, r->why_cap)) != 0)
		return;
	memcpy(r->digest, o->digest, sizeof(r->digest));
	r->generation = o->generation;
	r->ix = &ix;
	size_t pos = 0;
	char key[400];
	while (!r->rc && rs_index_next(&ix, &pos, &r->s) == 1) {
		snprintf(key, sizeof(key), "%s/%.*s", r->kr->table_ns, (int)RS_NAME_MAX, r->s.name);
		k8s_informer_get(r->kr->tables, key, read_shard, r);
	}
	r->ix = NULL;
}

/* Read (l non-NULL) or only check the published table. 0, FIXGW_EAGAIN (incomplete: no index yet, a
 * shard missing), FIXGW_EINVAL (malformed or hash mismatch) or FIXGW_ENOMEM; a reason in why. */
static int read_published(struct k8s_routes *kr, struct fs_list *l, char digest[RS_HASH_HEX + 1],
                          uint64_t *generation, char *why, size_t why_cap)
{
	struct pub_read r = {.kr = kr, .l = l, .why = why, .why_cap = why_cap};
	k8s_informer_get(kr->tables, kr->table_key, read_index, &r);
	if (!r.rc) {
		memcpy(digest, r.digest, sizeof(r.digest));
		*generation = r.generation;
	}
	return r.rc;
}

static bool table_ready(struct k8s_routes *kr, char *why, size_t why_cap)
{
	char digest[RS_HASH_HEX + 1];
	uint64_t gen;
	return read_published(kr, NULL, digest, &gen, why, why_cap) == 0;
}

static void published_failed(struct k8s_routes *kr, const char *why)
{
	atomic_store(&kr->pending, true);
	if (kr->last_error && !strcmp(kr->last_error, why))
		return;
	free(kr->last_error);
	kr->last_error = strdup(why);
	struct log_line l;
	log_begin(&l, LOG_ERROR, "routing_table_unusable", &k8s_log);
	log_str(&l, "index", kr->table_key);
	log_end(&l, "%s; keeping the %s and retrying", why,
	        kr->in_use[0] ? "routing table in use" : "gateway unready (no table yet)");
}

static int build_table(struct k8s_routes *kr, struct route_table **out)
{
	struct fs_list l = {0};
	char digest[RS_HASH_HEX + 1] = "";
	uint64_t generation = 0;
	if (kr->tables) {
		char why[400] = "";
		atomic_store(&kr->pending, false);
		int rc = read_published(kr, &l, digest, &generation, why, sizeof(why));
		if (!rc && !strcmp(digest, kr->in_use)) {
			fs_list_free(&l); /* the table in use: nothing to rebuild */
			if (kr->last_error) {
				free(kr->last_error);
				kr->last_error = NULL;
				log_msg(LOG_INFO, "routing_table_intact", &k8s_log,
				        "the published table %s is complete again (generation %llu)",
				        kr->table_key, (unsigned long long)generation);
			}
			return TABLE_IN_USE;
		}
		if (rc) {
			fs_list_free(&l);
			if (rc == FIXGW_ENOMEM)
				return rc;
			published_failed(kr, why);
			return FIXGW_EINVAL;
		}
	} else {
		k8s_informer_foreach(kr->fixsessions, collect_fixsession, &l);
	}
	if (l.nomem) {
		fs_list_free(&l);
		return FIXGW_ENOMEM;
	}
	/* A fixed order, so the same set always compiles the same way whatever the watch order. */
	if (l.count)
		qsort(l.items, l.count, sizeof(*l.items), cmp_fs_copy);
	struct route_candidate *cand = calloc(l.count ? l.count : 1, sizeof(*cand));
	enum route_verdict *verdicts = calloc(l.count ? l.count : 1, sizeof(*verdicts));
	char **origins = calloc(l.count ? l.count : 1, sizeof(*origins));
	json_t *next_lkg = json_object();
	int rc = cand && verdicts && origins && next_lkg ? 0 : FIXGW_ENOMEM;
	for (size_t i = 0; !rc && i < l.count; i++) {
		json_t *prev = json_object_get(kr->lkg, l.items[i].key);
		size_t olen = strlen(l.items[i].key) + sizeof("fixsession ");
		origins[i] = malloc(olen);
		if (!origins[i]) {
			rc = FIXGW_ENOMEM;
			break;
		}
		snprintf(origins[i], olen, "fixsession %s", l.items[i].key);
		cand[i] = (struct route_candidate){origins[i], l.items[i].text, l.items[i].len,
		                                   json_string_value(prev), json_string_length(prev)};
	}
	struct diag_list dl;
	diag_list_init(&dl);
	if (!rc)
		rc = route_lkg_compile(cand, l.count, &dl, verdicts, out);
	if (!rc) {
		atomic_store(&kr->conflicts, route_table_conflicts_in(&dl));
		if (dl.nerrors) {
			gw_log_diags(LOG_CRITICAL, "route_conflict", &dl);
			log_verdicts(&l, verdicts);
		} else {
			gw_log_diags(LOG_WARN, "route_warning", &dl);
		}
		for (size_t i = 0; i < l.count && !rc; i++) {
			const char *text = verdicts[i] == ROUTE_ACCEPTED   ? cand[i].text
			                   : verdicts[i] == ROUTE_KEPT_LKG ? cand[i].lkg_text
			                                                   : NULL;
			size_t len = verdicts[i] == ROUTE_ACCEPTED ? cand[i].len : cand[i].lkg_len;
			if (text && json_object_set_new(next_lkg, l.items[i].key, json_stringn(text, len)))
				rc = FIXGW_ENOMEM;
		}
		if (rc) {
			route_table_unref(*out);
			*out = NULL;
		}
	} else if (rc != FIXGW_ENOMEM) {
		gw_log_diags(LOG_CRITICAL, "route_invalid", &dl);
	}
	diag_list_free(&dl);
	if (!rc) {
		json_decref(kr->lkg);
		kr->lkg = next_lkg;
		next_lkg = NULL;
	}
	if (!rc && kr->tables) {
		memcpy(kr->in_use, digest, sizeof(kr->in_use));
		kr->in_use_generation = generation;
		free(kr->last_error);
		kr->last_error = NULL;
		struct log_line line;
		log_begin(&line, LOG_INFO, "routing_table_loaded", &k8s_log);
		log_str(&line, "index", kr->table_key);
		log_uint(&line, "generation", generation);
		log_uint(&line, "fixsessions", l.count);
		log_end(&line, "published routing table generation %llu: %zu FIXSessions%s%s",
		        (unsigned long long)generation, l.count, kr->only_ns[0] ? " of namespace " : "",
		        kr->only_ns);
	}
	json_decref(next_lkg);
	for (size_t i = 0; origins && i < l.count; i++)
		free(origins[i]);
	free(origins);
	free(verdicts);
	free(cand);
	fs_list_free(&l);
	return rc;
}

/* ---- building the endpoint map ---- */

struct slice_list {
	const struct slice_obj **items; /* borrowed from the informer: used under its lock only */
	size_t count, cap;
	bool nomem;
};

static bool collect_slice(void *arg, const struct k8s_store_entry *e)
{
	struct slice_list *l = arg;
	const struct slice_obj *s = e->obj;
	if (!s->family || !s->neps)
		return true;
	if (GROW_ARRAY(l->items, l->cap, l->count + 1, 64) != 0) {
		l->nomem = true;
		return false;
	}
	l->items[l->count++] = s;
	return true;
}

static int cmp_slice(const void *a, const void *b)
{
	const struct slice_obj *x = *(const struct slice_obj *const *)a,
	                       *y = *(const struct slice_obj *const *)b;
	int c = strcmp(x->ns, y->ns);
	return c ? c : strcmp(x->service, y->service);
}

/* The Service port a FIXSession target names (by number or by name), or NULL. */
static const struct svc_port *find_service_port(const struct svc_obj *svc, const struct route_target *t)
{
	for (size_t i = 0; svc && i < svc->nports; i++) {
		const struct svc_port *p = &svc->ports[i];
		if (t->port_name ? !strcmp(p->name, t->port_name) : p->port == t->port)
			return p;
	}
	return NULL;
}

struct resolve_ctx {
	const struct route *route;
	const struct slice_list *slices;
	const struct ip_set *pods; /* gateway pods: left out (ADR-019) */
	struct pod_drops *drops;
	struct gw_service_endpoints *out;
	bool nomem;
};

/* Fill out->items with the endpoints of one target, as kube-proxy resolves them. */
static void resolve_target(void *arg, const void *obj)
{
	struct resolve_ctx *rc = arg;
	const struct svc_obj *svc = obj;
	const struct route *r = rc->route;
	const struct svc_port *sp = svc && !svc->external_name ? find_service_port(svc, &r->target) : NULL;
	if (!sp)
		return; /* unknown Service or port: no endpoints, the route holds */
	struct slice_obj probe = {0}, *pp = &probe;
	snprintf(probe.ns, sizeof(probe.ns), "%s", r->ns);
	snprintf(probe.service, sizeof(probe.service), "%s", r->target.service);
	if (!rc->slices->count)
		return;
	const struct slice_obj **first =
	    bsearch(&pp, rc->slices->items, rc->slices->count, sizeof(*rc->slices->items), cmp_slice);
	if (!first)
		return;
	while (first > rc->slices->items && cmp_slice(first - 1, &pp) == 0)
		first--;
	size_t total = 0;
	const struct slice_obj **end = rc->slices->items + rc->slices->count;
	for (const struct slice_obj **it = first; it < end && cmp_slice(it, &pp) == 0; it++)
		total += (*it)->neps;
	rc->out->items = calloc(total ? total : 1, sizeof(*rc->out->items));
	if (!rc->out->items) {
		rc->nomem = true;
		return;
	}
	for (const struct slice_obj **it = first; it < end && cmp_slice(it, &pp) == 0; it++) {
		const struct slice_obj *s = *it;
		uint16_t port = 0;
		for (size_t k = 0; k < s->nports && !port; k++)
			if (!strcmp(s->ports[k].name, sp->name))
				port = s->ports[k].port;
		if (!port)
			continue; /* this slice does not serve the Service port's name */
		for (size_t k = 0; k < s->neps; k++) {
			struct gw_endpoint *e = &rc->out->items[rc->out->count++];
			e->addr = s->eps[k].addr;
			e->ready = s->eps[k].ready;
			struct sockaddr_storage *ss = &e->addr.ss;
			if (ss->ss_family == AF_INET)
				((struct sockaddr_in *)ss)->sin_port = htons(port);
			else
				((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
			net_addr_format((struct sockaddr *)ss, e->addr.len, e->addr.text,
			                sizeof(e->addr.text));
		}
	}
	pod_addrs_filter(rc->pods, rc->out->key, rc->out->items, &rc->out->count, rc->drops);
}

struct endpoints_ctx {
	struct k8s_routes *kr;
	const struct route_table *table;
	struct ip_set pods; /* the gateway pods' addresses, read before the slices' lock is taken */
	struct pod_drops drops;
	struct gw_service_endpoints *svcs;
	size_t nsvcs;
	bool nomem;
};

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const struct gw_service_endpoints *)a)->key,
	              ((const struct gw_service_endpoints *)b)->key);
}

struct target_ref {
	char *key; /* "namespace/service:port" */
	const struct route *route;
};

static int cmp_target(const void *a, const void *b)
{
	return strcmp(((const struct target_ref *)a)->key, ((const struct target_ref *)b)->key);
}

/* Runs under the slices informer's lock: slice objects are borrowed for its duration. One entry per
 * distinct target of the table (routes sharing a target share its endpoints). */
static void build_endpoints_locked(struct endpoints_ctx *ec)
{
	struct slice_list sl = {0};
	size_t n = route_table_count(ec->table);
	struct target_ref *refs = calloc(n ? n : 1, sizeof(*refs));
	ec->svcs = calloc(n ? n : 1, sizeof(*ec->svcs));
	if (!refs || !ec->svcs)
		goto nomem;
	k8s_informer_foreach(ec->kr->slices, collect_slice, &sl);
	if (sl.nomem)
		goto nomem;
	if (sl.count)
		qsort(sl.items, sl.count, sizeof(*sl.items), cmp_slice);
	for (size_t i = 0; i < n; i++) {
		const struct route *r = route_table_route(ec->table, i);
		char key[512];
		endpoint_key_for_target(r->ns, r->target.service, r->target.port, r->target.port_name, key,
		                        sizeof(key));
		if (!(refs[i].key = strdup(key)))
			goto nomem;
		refs[i].route = r;
	}
	qsort(refs, n, sizeof(*refs), cmp_target);
	for (size_t i = 0; i < n; i++) {
		if (ec->nsvcs && !strcmp(refs[i].key, ec->svcs[ec->nsvcs - 1].key))
			continue; /* refs are sorted: the same target as the one just resolved */
		struct gw_service_endpoints *out = &ec->svcs[ec->nsvcs++];
		out->key = refs[i].key;
		refs[i].key = NULL; /* moved */
		char svc_key[320];
		snprintf(svc_key, sizeof(svc_key), "%s/%s", refs[i].route->ns, refs[i].route->target.service);
		struct resolve_ctx rc = {refs[i].route, &sl, &ec->pods, &ec->drops, out, false};
		k8s_informer_get(ec->kr->services, svc_key, resolve_target, &rc);
		if (rc.nomem)
			goto nomem;
	}
	goto out;
nomem:
	ec->nomem = true;
out:
	for (size_t i = 0; refs && i < n; i++)
		free(refs[i].key);
	free(refs);
	free(sl.items);
}

/* Under the gateway pods informer's lock: every address of every endpoint, ready or not. */
static bool collect_pod(void *arg, const struct k8s_store_entry *e)
{
	struct endpoints_ctx *ec = arg;
	const struct slice_obj *s = e->obj;
	for (size_t i = 0; i < s->neps && !ec->nomem; i++)
		ec->nomem = ip_set_add_sockaddr(&ec->pods, (const struct sockaddr *)&s->eps[i].addr.ss) != 0;
	return !ec->nomem;
}

/* One line when what the builds leave out changes (builds follow every Service and EndpointSlice change in
 * the watched namespaces, so a line per build would repeat itself): which targets, which addresses, why. */
static void log_loop_drops(struct k8s_routes *kr, const struct pod_drops *d)
{
	struct pod_drops *last = &kr->loop_logged;
	if (d->count == last->count && !strcmp(d->targets, last->targets) &&
	    !strcmp(d->addresses, last->addresses))
		return;
	*last = *d;
	struct log_line l;
	if (!d->count) {
		log_begin(&l, LOG_INFO, "routing_loop_endpoints", &k8s_log);
		log_uint(&l, "endpoints", 0);
		log_str(&l, "gateway_service", kr->gw_service);
		log_end(&l, "no endpoint is left out as a pod of the gateway Service %s any more",
		        kr->gw_service);
		return;
	}
	log_begin(&l, LOG_WARN, "routing_loop_endpoints", &k8s_log);
	log_uint(&l, "endpoints", d->count);
	log_str(&l, "targets", d->targets);
	log_str(&l, "addresses", d->addresses);
	log_str(&l, "gateway_service", kr->gw_service);
	log_end(&l,
	        "left out %zu endpoint(s) of %s: %s %s pods of the gateway Service %s, and a route there "
	        "would loop from gateway pod to gateway pod (ADR-019)",
	        d->count, d->targets, d->addresses, strchr(d->addresses, ',') ? "are" : "is one of the",
	        kr->gw_service);
}

static void build_endpoints_cb(void *arg, const void *unused)
{
	(void)unused;
	build_endpoints_locked(arg);
}

int k8s_routes_build(struct k8s_routes *kr, const struct route_table *current, struct route_table **table,
                     struct endpoint_map **endpoints, uint64_t endpoints_generation)
{
	*table = NULL;
	*endpoints = NULL;
	bool rebuilt = atomic_exchange(&kr->fixsessions_changed, false) || atomic_load(&kr->pending);
	if (rebuilt) {
		int rc = build_table(kr, table);
		if (rc == FIXGW_ENOMEM)
			atomic_store(&kr->fixsessions_changed, true); /* try again at the next change */
		if (rc && !current)
			return rc == TABLE_IN_USE ? FIXGW_EINVAL : rc;
	}
	const struct route_table *t = *table ? *table : current;
	if (!t)
		return FIXGW_EINVAL;
	struct endpoints_ctx ec = {.kr = kr, .table = t};
	if (kr->gateway_pods) {
		k8s_informer_foreach(kr->gateway_pods, collect_pod, &ec);
		ip_set_seal(&ec.pods);
	}
	/* Hold the slices informer's lock while its objects are borrowed (its lock is recursive). */
	if (!ec.nomem)
		k8s_informer_get(kr->slices, "", build_endpoints_cb, &ec);
	ip_set_free(&ec.pods);
	if (!ec.nomem) {
		atomic_store(&kr->loop_endpoints, ec.drops.count);
		log_loop_drops(kr, &ec.drops);
		qsort(ec.svcs, ec.nsvcs, sizeof(*ec.svcs), cmp_key);
		*endpoints = endpoint_map_from_services(ec.svcs, ec.nsvcs, endpoints_generation);
	}
	for (size_t i = 0; i < ec.nsvcs; i++) {
		free(ec.svcs[i].key);
		free(ec.svcs[i].items);
	}
	free(ec.svcs);
	if (!*endpoints) {
		if (*table)
			atomic_store(&kr->fixsessions_changed, true);
		route_table_unref(*table);
		*table = NULL;
		return FIXGW_ENOMEM;
	}
	return 0;
}

void k8s_routes_free(struct k8s_routes *kr)
{
	if (!kr)
		return;
	k8s_informer_free(kr->fixsessions);
	k8s_informer_free(kr->tables);
	free(kr->last_error);
	k8s_informer_free(kr->services);
	k8s_informer_free(kr->slices);
	k8s_informer_free(kr->gateway_pods);
	k8s_client_free(kr->client);
	json_decref(kr->lkg);
	free(kr);
}
