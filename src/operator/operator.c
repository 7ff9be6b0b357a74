/* operator.c - the leader-elected FIXSession reconciler (operator.h). */
#include "operator/operator.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/diag.h"
#include "core/errors.h"
#include "core/route_lkg.h"
#include "k8s/api.h"
#include "k8s/informer.h"
#include "k8s/leader.h"
#include "net/fault.h"
#include "operator/fs_set.h"
#include "operator/settle.h"
#include "operator/conn_counts.h"
#include "operator/gw_addrs.h"
#include "operator/publish.h"
#include "telemetry/log.h"

#define TICK_MS       100u  /* how often the main loop looks for work and for the stop signal */
#define RETRY_MS      1000u /* a failed round (API error, out of memory) is tried again after this */
#define MAX_COND_MSG  1024u /* a condition message is cut here (the CRD allows 32 KiB; Events 1 KiB) */
#define NCONDS        5
#define STATUS_GAP_MS 1000u /* status passes for the gateway pods' addresses: at most one a second */

static const struct log_ctx op_log = {.component = "operator"};

struct op {
	struct k8s_client *c;
	const struct op_opts *o;
	struct k8s_leader *le;
	struct k8s_informer *fs, *svc, *slices;
	struct webhook *wh;      /* the admission webhook, or NULL */
	struct op_settle settle; /* when a pass is due: the batch strategy (settle.h, ADR-014) */
	json_t *lkg;             /* "ns/name" -> the text last accepted (the leader's memory only) */
	char *last_diags;        /* the diagnostics logged last round: logged again only when they change */
	json_t *written; /* "ns/name" -> [resourceVersion a status write was based on, conds_hash of it] */
	uint64_t status_writes, events, passes, table_generation;
	struct conn_counts *cc; /* connection counts in status; NULL without --gateway-service */
	struct op_publish *pub; /* the validated table, published for the gateways (publish.h) */
	const sigset_t *stop;   /* the signals that stop the operator (blocked; the main loop takes them) */
	/* RoutingLoop (ADR-019), main thread only */
	struct ip_set gw;    /* the gateway pods' addresses the statuses are computed with (owned) */
	uint64_t gw_changes; /* cc_gateway_changes() when gw was taken */
	/* status passes: main thread only unless marked */
	atomic_uint_fast64_t status_events; /* Service and EndpointSlice events (informer threads) */
	uint64_t status_seen;               /* status_events when last looked at */
	bool status_due; /* a Service, EndpointSlice or the gateway pods changed since the last statuses */
	uint64_t status_not_before; /* ms: STATUS_GAP_MS after the last status pass */
	json_t *verdicts; /* "ns/name" -> [generation, verdict] of this term's last round; NULL: none */
	struct diag_list last_dl; /* that round's diagnostics (owned) */
};

/* ---- informer callbacks: they only tell the batch strategy or count; the main loop does the work ---- */

static json_int_t generation_of(const void *obj)
{
	return json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
}
static void fs_add(void *arg, const char *key, void *obj)
{
	op_settle_fixsession(&((struct op *)arg)->settle, key, obj, true, k8s_now_ms());
}
static void fs_update(void *arg, const char *key, void *old_obj, void *new_obj)
{
	/* the status subresource: a spec change, and only a spec change, bumps metadata.generation */
	op_settle_fixsession(&((struct op *)arg)->settle, key, new_obj,
	                     generation_of(old_obj) != generation_of(new_obj), k8s_now_ms());
}
static void fs_delete(void *arg, const char *key, void *obj)
{
	(void)obj;
	op_settle_fixsession(&((struct op *)arg)->settle, key, NULL, true, k8s_now_ms());
}
/* A Service or EndpointSlice changed: the target conditions of the statuses may have (a status pass), the
 * validated table cannot (it depends on the FIXSession specs alone, so no round). */
static void status_event(void *arg, const char *key, void *obj)
{
	(void)key;
	(void)obj;
	atomic_fetch_add(&((struct op *)arg)->status_events, 1);
}
static void status_event_update(void *arg, const char *key, void *old_obj, void *new_obj)
{
	(void)old_obj;
	status_event(arg, key, new_obj);
}
static void mark_synced(void *arg)
{
	op_settle_all(&((struct op *)arg)->settle, k8s_now_ms());
}

static void on_started(void *arg)
{
	struct op *op = arg;
	op_settle_all(&op->settle, k8s_now_ms());
	op_metrics_leader(op->o->metrics, true);
	log_msg(LOG_INFO, "leader_started", &op_log, "%s holds the Lease %s/%s: reconciling", op->o->identity,
	        op->o->lease_namespace, op->o->lease_name);
}
static void on_stopped(void *arg)
{
	struct op *op = arg;
	op_metrics_leader(op->o->metrics, false);
	log_msg(LOG_WARN, "leader_stopped", &op_log, "%s no longer holds the Lease %s/%s: writing nothing",
	        op->o->identity, op->o->lease_namespace, op->o->lease_name);
}
static void on_new_leader(void *arg, const char *who)
{
	struct op *op = arg;
	struct log_line l;
	log_begin(&l, LOG_INFO, "new_leader", &op_log);
	log_str(&l, "holder", who);
	log_end(&l, "%s is on standby", op->o->identity);
}

/* ---- snapshots of the caches (deep copies: see fs_set.h) ---- */

static bool take_view(void *arg, const char *key, json_t *obj)
{
	struct k8s_store_entry e = {.key = (char *)key, .obj = obj};
	return fs_vec_take(arg, &e);
}

/* The set a pass validates: the informer's cache (debounce), or the view as of the event the pass is for
 * (per-object). */
static void snapshot_fixsessions(struct op *op, struct fs_vec *f)
{
	if (op_settle_uses_view(&op->settle))
		op_settle_foreach_view(&op->settle, take_view, f);
	else
		k8s_informer_foreach(op->fs, fs_vec_take, f);
}

/* EndpointSlices grouped by "namespace/service". */
struct slice_groups {
	json_t *by_svc;
	bool nomem;
};

static bool take_slice(void *arg, const struct k8s_store_entry *e)
{
	struct slice_groups *g = arg;
	json_t *meta = json_object_get(e->obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *svc =
	    json_string_value(json_object_get(json_object_get(meta, "labels"), "kubernetes.io/service-name"));
	char key[320];
	if (!ns || !svc || snprintf(key, sizeof(key), "%s/%s", ns, svc) >= (int)sizeof(key))
		return true;
	json_t *arr = json_object_get(g->by_svc, key);
	if (!arr && (!(arr = json_array()) || json_object_set_new(g->by_svc, key, arr)))
		g->nomem = true;
	else if (json_array_append_new(arr, json_deep_copy(e->obj)))
		g->nomem = true;
	return !g->nomem;
}

static void take_obj(void *arg, const void *obj)
{
	*(json_t **)arg = obj ? json_deep_copy(obj) : NULL;
}

/* ---- conditions ---- */

struct cond {
	const char *type;
	bool status;
	char reason[64];
	char message[MAX_COND_MSG];
};

static void set_cond(struct cond *c, const char *type, bool status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void set_cond(struct cond *c, const char *type, bool status, const char *reason, const char *fmt, ...)
{
	c->type = type;
	c->status = status;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
}

/* The Service port a target names, or NULL; *names lists the Service's ports for the message. */
static json_t *find_port(json_t *svc, json_int_t number, const char *name, char *names, size_t cap)
{
	json_t *ports = json_object_get(json_object_get(svc, "spec"), "ports"), *p, *found = NULL;
	size_t i, used = 0;
	names[0] = '\0';
	json_array_foreach(ports, i, p)
	{
		const char *pn = json_string_value(json_object_get(p, "name"));
		json_int_t pnum = json_integer_value(json_object_get(p, "port"));
		if (used < cap)
			used += (size_t)snprintf(names + used, cap - used, "%s%s%s%lld", used ? ", " : "",
			                         pn ? pn : "", pn ? "=" : "", (long long)pnum);
		if (!found && (name ? pn && !strcmp(pn, name) : pnum == number))
			found = p;
	}
	return found;
}

/* Ready endpoints of the Service's port (by the port's name, as kube-proxy matches slices). */
static size_t ready_endpoints(json_t *slices, const char *port_name)
{
	size_t i, n = 0;
	json_t *s;
	json_array_foreach(slices, i, s)
	{
		json_t *ports = json_object_get(s, "ports"), *p, *eps = json_object_get(s, "endpoints"), *e;
		size_t k;
		bool serves = false;
		json_array_foreach(ports, k, p)
		{
			const char *pn = json_string_value(json_object_get(p, "name"));
			if (!strcmp(pn ? pn : "", port_name ? port_name : ""))
				serves = true;
		}
		if (!serves)
			continue;
		json_array_foreach(eps, k, e)
		{
			json_t *ready = json_object_get(json_object_get(e, "conditions"), "ready");
			if (!json_is_false(ready)) /* unset means ready (the API's own rule) */
				n++;
		}
	}
	return n;
}

/* What the leader wants the status of one FIXSession to say. */
static void desired_conditions(struct op *op, json_t *slices_by_svc, json_t *obj, const char *key,
                               enum route_verdict v, const struct diag_list *dl, struct cond out[NCONDS])
{
	char origin[400];
	snprintf(origin, sizeof(origin), "fixsession %s", key);
	json_int_t gen = json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
	char why[MAX_COND_MSG] = "";
	bool any = false, conflict = false;
	route_diag_text(dl, origin, true, why, sizeof(why), &conflict);
	if (v != ROUTE_ACCEPTED && !conflict)
		route_diag_text(dl, origin, false, why, sizeof(why), &any);
	const char *reason = conflict ? "Conflict" : "Invalid";
	if (v == ROUTE_ACCEPTED)
		set_cond(&out[0], "Accepted", true, "Accepted",
		         "generation %lld is in the validated routing table", (long long)gen);
	else if (v == ROUTE_KEPT_LKG)
		set_cond(
		    &out[0], "Accepted", false, reason,
		    "generation %lld is refused; the last-known-good version stays in the routing table: %s",
		    (long long)gen, why[0] ? why : "see the operator's log");
	else
		set_cond(&out[0], "Accepted", false, reason,
		         "generation %lld is refused and there is no last-known-good version: not routed: %s",
		         (long long)gen, why[0] ? why : "see the operator's log");
	if (conflict)
		set_cond(&out[1], "Conflict", true, "RouteConflict", "%s", why);
	else
		set_cond(&out[1], "Conflict", false, "NoConflict",
		         "no other FIXSession can match the same Logon");

	json_t *target = json_object_get(json_object_get(json_object_get(obj, "spec"), "target"), "service");
	const char *svc_name = json_string_value(json_object_get(target, "name"));
	json_t *port = json_object_get(target, "port");
	const char *port_name = json_string_value(json_object_get(port, "name"));
	json_int_t port_number = json_integer_value(json_object_get(port, "number"));
	const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
	char svc_key[320];
	snprintf(svc_key, sizeof(svc_key), "%s/%s", ns ? ns : "", svc_name ? svc_name : "");
	json_t *svc = NULL;
	if (svc_name)
		k8s_informer_get(op->svc, svc_key, take_obj, &svc);
	const char *type = json_string_value(json_object_get(json_object_get(svc, "spec"), "type"));
	char names[512], want[96];
	if (port_name)
		snprintf(want, sizeof(want), "no port named '%s'", port_name);
	else
		snprintf(want, sizeof(want), "no port %lld", (long long)port_number);
	json_t *sp = svc ? find_port(svc, port_number, port_name, names, sizeof(names)) : NULL;
	char loop_addr[GW_ADDR_MAX], more[48] = "";
	size_t loops = svc && op->cc ? gw_addrs_in_slices(&op->gw, json_object_get(slices_by_svc, svc_key),
	                                                  loop_addr, sizeof(loop_addr))
	                             : 0;
	if (loops > 1)
		snprintf(more, sizeof(more), " and %zu more", loops - 1);
	bool resolvable = false;
	if (!svc)
		set_cond(
		    &out[2], "TargetResolvable", false, "ServiceNotFound",
		    "Service %s does not exist; the route stays registered and holds connections until it "
		    "appears",
		    svc_key);
	else if (type && !strcmp(type, "ExternalName"))
		set_cond(&out[2], "TargetResolvable", false, "ExternalNameService",
		         "Service %s is of type ExternalName: it has no endpoints to proxy to", svc_key);
	else if (loops) /* before the port: no port of a gateway pod is a target (ADR-019) */
		set_cond(
		    &out[2], "TargetResolvable", false, "RoutingLoop",
		    "Service %s has an endpoint at a gateway pod's address, %s%s (in the EndpointSlices of "
		    "Service %s/%s): the gateways do not route there, since the connection would come back "
		    "to them (ADR-019)",
		    svc_key, loop_addr, more, op->o->counts.gateway_namespace, op->o->counts.gateway_service);
	else if (!sp)
		set_cond(&out[2], "TargetResolvable", false, port_name ? "PortNameNotFound" : "PortNotFound",
		         "Service %s has %s (its ports: %s)", svc_key, want, names[0] ? names : "none");
	else {
		resolvable = true;
		set_cond(&out[2], "TargetResolvable", true, "ServiceFound", "Service %s has the target port",
		         svc_key);
	}
	size_t ready = 0;
	if (resolvable) {
		const char *spn = json_string_value(json_object_get(sp, "name"));
		ready = ready_endpoints(json_object_get(slices_by_svc, svc_key), spn);
	}
	if (!resolvable)
		set_cond(&out[3], "EndpointsReady", false, "TargetUnresolvable", "%s", out[2].message);
	else if (ready)
		set_cond(&out[3], "EndpointsReady", true, "EndpointsReady",
		         "Service %s has ready endpoints for the target port", svc_key);
	else
		set_cond(&out[3], "EndpointsReady", false, "NoReadyEndpoints",
		         "Service %s has no ready endpoint for the target port: connections are held",
		         svc_key);
	const struct cond *first_false = NULL;
	for (int i = 0; i < 4 && !first_false; i++)
		if (i != 1 && !out[i].status)
			first_false = &out[i];
	if (first_false)
		set_cond(&out[4], "Ready", false, first_false->reason, "%s", first_false->message);
	else
		set_cond(&out[4], "Ready", true, "Ready", "routed to ready endpoints of Service %s", svc_key);
	json_decref(svc);
}

static void now_rfc3339(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *find_cond(json_t *conds, const char *type)
{
	size_t i;
	json_t *c;
	json_array_foreach(conds, i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));
		if (t && !strcmp(t, type))
			return c;
	}
	return NULL;
}

static bool cond_is(json_t *c, bool status)
{
	const char *s = json_string_value(json_object_get(c, "status"));
	return s && !strcmp(s, status ? "True" : "False");
}

/* The status obj should have: its own fields kept, our conditions replaced (lastTransitionTime kept
 * when the status did not flip), other writers' conditions kept. A new reference, or NULL. */
static json_t *merged_status(json_t *obj, const struct cond d[NCONDS], json_int_t gen, const char *now)
{
	json_t *old = json_object_get(obj, "status");
	json_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
	json_t *old_conds = json_object_get(old, "conditions");
	json_t *conds = json_array();
	if (!st || !conds)
		goto nomem;
	for (int i = 0; i < NCONDS; i++) {
		json_t *prev = find_cond(old_conds, d[i].type);
		const char *ltt = prev && cond_is(prev, d[i].status)
		                      ? json_string_value(json_object_get(prev, "lastTransitionTime"))
		                      : NULL;
		json_t *c =
		    json_pack("{s:s,s:s,s:I,s:s,s:s,s:s}", "type", d[i].type, "status",
		              d[i].status ? "True" : "False", "observedGeneration", gen, "lastTransitionTime",
		              ltt ? ltt : now, "reason", d[i].reason, "message", d[i].message);
		if (!c || json_array_append_new(conds, c))
			goto nomem;
	}
	size_t i;
	json_t *c;
	json_array_foreach(old_conds, i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));
		bool ours = false;
		for (int k = 0; k < NCONDS && t; k++)
			ours |= !strcmp(t, d[k].type);
		if (!ours && json_array_append(conds, c))
			goto nomem;
	}
	if (json_object_set_new(st, "conditions", conds) ||
	    json_object_set_new(st, "observedGeneration", json_integer(gen)))
		goto nomem_st;
	return st;
nomem:
	json_decref(conds);
nomem_st:
	json_decref(st);
	return NULL;
}

struct write_ctx {
	struct op *op;
	const struct cond *d;
	json_int_t gen;
	const char *now;
	bool fenced;
};

/* The RetryOnConflict mutation: re-merged on every attempt, on the live object just read. */
static int apply_status(void *arg, json_t *obj)
{
	struct write_ctx *w = arg;
	if (!k8s_leader_is_leader(w->op->le)) {
		w->fenced = true;
		return FIXGW_EAGAIN;
	}
	json_t *st = merged_status(obj, w->d, w->gen, w->now);
	if (!st)
		return FIXGW_ENOMEM;
	if (json_equal(st, json_object_get(obj, "status"))) {
		/* re-read after a 409: the live status already says it (an earlier write of ours, seen late)
		 */
		json_decref(st);
		return -EALREADY;
	}
	return json_object_set_new(obj, "status", st) ? FIXGW_ENOMEM : 0;
}

static void emit_event(struct op *op, json_t *obj, const char *type, const char *reason, const char *note)
{
	json_t *md = json_object_get(obj, "metadata");
	struct k8s_event ev = {.regarding_api_version = json_string_value(json_object_get(obj, "apiVersion")),
	                       .regarding_kind = "FIXSession",
	                       .regarding_namespace = json_string_value(json_object_get(md, "namespace")),
	                       .regarding_name = json_string_value(json_object_get(md, "name")),
	                       .regarding_uid = json_string_value(json_object_get(md, "uid")),
	                       .type = type,
	                       .reason = reason,
	                       .action = "Validate",
	                       .note = note,
	                       .reporting_controller = OP_CONTROLLER,
	                       .reporting_instance = op->o->identity};
	struct k8s_result res = {0};
	int rc = k8s_event_create(op->c, &ev, &res);
	if (rc) {
		log_msg(LOG_WARN, "event_failed", &op_log,
		        "cannot create the %s Event about %s/%s: %s (%ld %s)", reason, ev.regarding_namespace,
		        ev.regarding_name, k8s_strerror(rc), res.status, res.message);
		return;
	}
	op->events++;
	OP_COUNT(op->o->metrics, events);
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (h ^ 0xffu) * 1099511628211ull; /* a separator: "ab","c" and "a","bc" differ */
}

/* What the conditions say (not since when): equal for two passes that want the same status. */
static json_int_t conds_hash(const struct cond d[NCONDS], json_int_t gen)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)gen;
	for (int i = 0; i < NCONDS; i++) {
		h = fnv1a(h, d[i].type);
		h = fnv1a(h, d[i].status ? "True" : "False");
		h = fnv1a(h, d[i].reason);
		h = fnv1a(h, d[i].message);
	}
	return (json_int_t)h;
}

/* Write one FIXSession's status when it would change. Returns 0, FIXGW_EAGAIN when fenced (no longer the
 * leader: the round stops), or another negative code (the round is retried later). */
static int sync_status(struct op *op, json_t *obj, const char *key, const struct cond d[NCONDS])
{
	json_int_t gen = json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
	char now[40];
	now_rfc3339(now, sizeof(now));
	json_t *want = merged_status(obj, d, gen, now);
	if (!want)
		return FIXGW_ENOMEM;
	bool same = json_equal(want, json_object_get(obj, "status"));
	json_decref(want);
	if (same)
		return 0;
	/* The same conditions written already from this very version: the cache has not seen that write yet
	 * (a pass soon after the last one, or per-object passes over a view that lags). */
	const char *rv =
	    json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	json_int_t hash = conds_hash(d, gen);
	json_t *memo = json_object_get(op->written, key);
	const char *memo_rv = json_string_value(json_array_get(memo, 0));
	if (rv && memo_rv && !strcmp(memo_rv, rv) && json_integer_value(json_array_get(memo, 1)) == hash)
		return 0;
	json_t *old_conds = json_object_get(json_object_get(obj, "status"), "conditions");
	json_t *old_conflict = find_cond(old_conds, "Conflict"),
	       *old_res = find_cond(old_conds, "TargetResolvable");
	bool new_conflict = d[1].status && !cond_is(old_conflict, true);
	const char *old_reason = json_string_value(json_object_get(old_res, "reason"));
	bool lost_target =
	    !d[2].status && (!cond_is(old_res, false) || !old_reason || strcmp(old_reason, d[2].reason));
	bool got_target = d[2].status && old_res && !cond_is(old_res, true);
	if (!k8s_leader_is_leader(op->le))
		return FIXGW_EAGAIN;
	if (lost_target) {
		struct log_line l;
		log_begin(&l, LOG_WARN, "target_unresolvable", &op_log);
		log_str(&l, "fixsession", key);
		log_str(&l, "reason", d[2].reason);
		log_end(&l, "%s", d[2].message);
	} else if (got_target) {
		struct log_line l;
		log_begin(&l, LOG_INFO, "target_resolvable", &op_log);
		log_str(&l, "fixsession", key);
		log_end(&l, "%s", d[2].message);
	}
	const char *slash = strchr(key, '/');
	char ns[64];
	snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - key) : 0, key);
	struct write_ctx w = {op, d, gen, now, false};
	struct k8s_result res = {0};
	int rc = k8s_retry_on_conflict(op->c, &k8s_res_fixsessions, ns, slash ? slash + 1 : key, true, obj,
	                               apply_status, &w, 0, NULL, &res);
	if (w.fenced)
		return FIXGW_EAGAIN;
	if (rc == K8S_ENOTFOUND || rc == -EALREADY)
		return 0; /* deleted meanwhile (the informer will tell), or already current: nothing written
		           */
	if (rc) {
		struct log_line l;
		log_begin(&l, LOG_ERROR, "status_write_failed", &op_log);
		log_str(&l, "fixsession", key);
		log_int(&l, "status", res.status);
		log_end(&l, "cannot write the status: %s: %s", k8s_strerror(rc), res.message);
		OP_COUNT(op->o->metrics, status_write_failures);
		return rc;
	}
	op->status_writes++;
	if (rv)
		json_object_set_new(op->written, key, json_pack("[s,I]", rv, hash)); /* best effort */
	OP_COUNT(op->o->metrics, status_writes);
	if (new_conflict && k8s_leader_is_leader(op->le))
		emit_event(op, obj, "Warning", "RouteConflict", d[1].message);
	return 0;
}

/* ---- one round ---- */

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const struct fs_item *)a)->key, ((const struct fs_item *)b)->key);
}

/* Drop the write memos of FIXSessions that are gone (f is sorted by key: fs_vec_sort). */
static void forget_deleted(struct op *op, const struct fs_vec *f)
{
	const char *key;
	json_t *v;
	void *tmp;
	if (json_object_size(op->written) <= f->n)
		return;
	json_object_foreach_safe(op->written, tmp, key, v)
	{
		struct fs_item probe = {.key = (char *)key};
		if (!f->n || !bsearch(&probe, f->v, f->n, sizeof(*f->v), cmp_key))
			json_object_del(op->written, key);
	}
}

static void log_diags_once(struct op *op, const struct diag_list *dl)
{
	size_t cap = 1, used = 0;
	for (size_t i = 0; i < dl->count; i++)
		cap += strlen(dl->items[i].message) + (dl->items[i].file ? strlen(dl->items[i].file) : 0) + 2;
	char *all = malloc(cap);
	if (!all)
		return;
	all[0] = '\0';
	for (size_t i = 0; i < dl->count; i++)
		used += (size_t)snprintf(all + used, cap - used, "%s\n%s\n",
		                         dl->items[i].file ? dl->items[i].file : "", dl->items[i].message);
	if (op->last_diags && !strcmp(op->last_diags, all)) {
		free(all);
		return;
	}
	free(op->last_diags);
	op->last_diags = all;
	for (size_t i = 0; i < dl->count; i++) {
		const struct diag *d = &dl->items[i];
		bool conflict = !strncmp(d->message, "conflict:", 9);
		struct log_line l;
		log_begin(&l, d->severity == DIAG_ERROR ? LOG_CRITICAL : LOG_WARN,
		          conflict                    ? "route_conflict"
		          : d->severity == DIAG_ERROR ? "route_invalid"
		                                      : "route_warning",
		          &op_log);
		log_str(&l, "file", d->file);
		log_str(&l, "field", d->path);
		log_end(&l, "%s", d->message);
	}
}

/* The validated table changed: INFO with the counts, DEBUG per FIXSession whose validated version changed
 * (its generation, 0 when it left the table), so a test can replay every table the leader validated. */
static void log_validated(struct op *op, const struct fs_vec *f, json_t *next_lkg)
{
	size_t changed = 0;
	const char *key;
	json_t *text;
	uint64_t table = op->table_generation + 1;
	for (size_t i = 0; i < f->n; i++) {
		json_t *now = json_object_get(next_lkg, f->v[i].key);
		if (!now || json_equal(now, json_object_get(op->lkg, f->v[i].key)))
			continue;
		changed++;
		struct log_line l;
		log_begin(&l, LOG_DEBUG, "route_validated", &op_log);
		log_str(&l, "fixsession", f->v[i].key);
		log_int(&l, "generation", (long long)generation_of(f->v[i].obj));
		log_int(&l, "table", (long long)table);
		log_end(&l, "the validated table has this version");
	}
	json_object_foreach(op->lkg, key, text)
	{
		if (json_object_get(next_lkg, key))
			continue;
		changed++;
		struct log_line l;
		log_begin(&l, LOG_DEBUG, "route_validated", &op_log);
		log_str(&l, "fixsession", key);
		log_int(&l, "generation", 0);
		log_int(&l, "table", (long long)table);
		log_end(&l, "left the validated table");
	}
	if (!changed)
		return;
	op->table_generation = table;
	struct log_line l;
	log_begin(&l, LOG_INFO, "routes_validated", &op_log);
	log_int(&l, "table", (long long)table);
	log_int(&l, "fixsessions", (long long)json_object_size(next_lkg));
	log_int(&l, "changed", (long long)changed);
	log_int(&l, "pass", (long long)op->passes);
	log_end(&l, "validated routing table %llu: %zu FIXSessions changed", (unsigned long long)table,
	        changed);
}

/* A stop signal is waiting for the main loop: a long pass (thousands of status writes at the client's rate)
 * ends early rather than outlive the pod's termination grace period; the next leader writes the rest. */
static bool stop_requested(const struct op *op)
{
	sigset_t pending;
	if (sigpending(&pending) != 0)
		return false;
	sigandset(&pending, &pending, op->stop);
	return !sigisemptyset(&pending);
}

/* The verdicts and diagnostics of the round that just validated f: what status passes between rounds
 * compute the Accepted and Conflict conditions from. Takes the diagnostics (dl is empty after). */
static int remember_verdicts(struct op *op, const struct fs_vec *f, const enum route_verdict *verdicts,
                             struct diag_list *dl)
{
	json_t *v = json_object();
	if (!v)
		return FIXGW_ENOMEM;
	for (size_t i = 0; i < f->n; i++)
		if (json_object_set_new(v, f->v[i].key,
		                        json_pack("[I,i]", generation_of(f->v[i].obj), (int)verdicts[i]))) {
			json_decref(v);
			return FIXGW_ENOMEM;
		}
	json_decref(op->verdicts);
	op->verdicts = v;
	diag_list_free(&op->last_dl);
	op->last_dl = *dl;
	diag_list_init(dl);
	return 0;
}

/* Leadership lost: the next term starts with a round of its own (another leader may have validated since). */
static void forget_verdicts(struct op *op)
{
	if (!op->verdicts)
		return;
	json_decref(op->verdicts);
	op->verdicts = NULL;
	diag_list_free(&op->last_dl);
	diag_list_init(&op->last_dl);
}

/* Compute and write the statuses of f (sorted) from the last round's verdicts and diagnostics and the
 * current target Services, slices and gateway addresses. A FIXSession whose generation that round did not
 * validate is left to the round that will. Returns the last write's result (FIXGW_EAGAIN: fenced, it
 * stopped there); *conflicts counts Conflict=True. */
static int write_statuses(struct op *op, const struct fs_vec *f, json_t *slices, int64_t *conflicts)
{
	int rc = 0;
	op->status_due = false; /* computed with op->gw as it is now */
	for (size_t i = 0; i < f->n; i++) {
		json_t *v = json_object_get(op->verdicts, f->v[i].key);
		if (!v || json_integer_value(json_array_get(v, 0)) != generation_of(f->v[i].obj))
			continue;
		struct cond d[NCONDS];
		desired_conditions(op, slices, f->v[i].obj, f->v[i].key,
		                   (enum route_verdict)json_integer_value(json_array_get(v, 1)), &op->last_dl,
		                   d);
		*conflicts += d[1].status; /* Conflict */
		rc = sync_status(op, f->v[i].obj, f->v[i].key, d);
		op_health_beat(op->o->health);
		if (rc == FIXGW_EAGAIN)
			break; /* fenced: not one more write */
		/* a pass of 10,000 writes takes minutes at --qps 20: the counts keep being written meanwhile
		 */
		cc_write_step(op->cc, op->fs, op->le);
		if (stop_requested(op)) {
			log_msg(LOG_INFO, "pass_interrupted", &op_log,
			        "stopping: %zu of %zu statuses looked at in this pass", i + 1, f->n);
			break;
		}
	}
	return rc;
}

static int reconcile(struct op *op)
{
	struct fs_vec f = {0};
	json_t *slices = json_object();
	struct route_candidate *cand = NULL;
	enum route_verdict *verdicts = NULL;
	char **texts = NULL, **origins = NULL;
	struct route_table *table = NULL;
	json_t *next_lkg = json_object();
	struct diag_list dl;
	diag_list_init(&dl);
	int rc = FIXGW_ENOMEM;
	if (!slices || !next_lkg)
		goto out;
	snapshot_fixsessions(op, &f);
	struct slice_groups sg = {slices, false};
	k8s_informer_foreach(op->slices, take_slice, &sg);
	if (f.nomem || sg.nomem)
		goto out;
	fs_vec_sort(&f); /* the same set always compiles the same way whatever the watch order */
	size_t n1 = f.n ? f.n : 1;
	cand = calloc(n1, sizeof(*cand));
	verdicts = calloc(n1, sizeof(*verdicts));
	texts = calloc(n1, sizeof(*texts));
	origins = calloc(n1, sizeof(*origins));
	if (!cand || !verdicts || !texts || !origins)
		goto out;
	op_publish_seed(op->pub, op->lkg); /* a new leader starts from the published last-known-good */
	for (size_t i = 0; i < f.n; i++) {
		size_t len = 0, olen = strlen(f.v[i].key) + sizeof("fixsession ");
		texts[i] = k8s_fixsession_text(f.v[i].obj, &len);
		origins[i] = malloc(olen);
		if (!texts[i] || !origins[i])
			goto out;
		snprintf(origins[i], olen, "fixsession %s", f.v[i].key);
		json_t *prev = json_object_get(op->lkg, f.v[i].key);
		cand[i] = (struct route_candidate){origins[i], texts[i], len, json_string_value(prev),
		                                   json_string_length(prev)};
	}
	rc = route_lkg_compile(cand, f.n, &dl, verdicts, &table);
	if (rc) {
		if (rc != FIXGW_ENOMEM)
			log_diags_once(op, &dl);
		log_msg(LOG_CRITICAL, "route_set_refused", &op_log,
		        "the FIXSession set cannot be compiled (%s): statuses left as they are",
		        fixgw_strerror(rc));
		goto out;
	}
	route_table_unref(table);
	log_diags_once(op, &dl);
	for (size_t i = 0; i < f.n; i++) {
		const char *text = verdicts[i] == ROUTE_ACCEPTED   ? cand[i].text
		                   : verdicts[i] == ROUTE_KEPT_LKG ? cand[i].lkg_text
		                                                   : NULL;
		size_t len = verdicts[i] == ROUTE_ACCEPTED ? cand[i].len : cand[i].lkg_len;
		if (text && json_object_set_new(next_lkg, f.v[i].key, json_stringn(text, len)))
			goto out;
	}
	log_validated(op, &f, next_lkg);
	json_decref(op->lkg);
	op->lkg = next_lkg;
	next_lkg = NULL;
	/* routing first, statuses after: a failed publication is retried by op_publish_tick */
	if (op_publish_table(op->pub, op->lkg, op->le) == FIXGW_EAGAIN) {
		rc = FIXGW_EAGAIN;
		goto out;
	}
	rc = remember_verdicts(op, &f, verdicts, &dl);
	if (rc)
		goto out;
	int64_t conflicts = 0;
	rc = write_statuses(op, &f, slices, &conflicts);
	forget_deleted(op, &f);
	op_metrics_set(op->o->metrics, (int64_t)f.n, conflicts);
out:
	diag_list_free(&dl);
	for (size_t i = 0; i < f.n && texts; i++) {
		free(texts[i]);
		free(origins[i]);
	}
	free(texts);
	free(origins);
	free(cand);
	free(verdicts);
	json_decref(next_lkg);
	json_decref(slices);
	fs_vec_free(&f);
	return rc;
}

/* A Service, an EndpointSlice or the gateway pods changed: the statuses again, from the last round's
 * verdicts, with no validation and no publication (the table depends on the FIXSession specs alone: ADR-014,
 * ADR-019). The writes are sync_status's: only what changed, through the client's token bucket, fenced.
 * Logged like a round. */
static int status_pass(struct op *op)
{
	if (!op->verdicts) {
		op->status_due = false; /* no round yet in this term: the first one computes them */
		return 0;
	}
	uint64_t t0 = k8s_now_ms(), writes = op->status_writes;
	struct fs_vec f = {0};
	json_t *slices = json_object();
	int64_t conflicts = 0;
	int rc = FIXGW_ENOMEM;
	if (!slices)
		goto out;
	/* the cache, not the per-object view: write_statuses skips what the last round did not validate */
	k8s_informer_foreach(op->fs, fs_vec_take, &f);
	struct slice_groups sg = {slices, false};
	k8s_informer_foreach(op->slices, take_slice, &sg);
	if (f.nomem || sg.nomem)
		goto out;
	fs_vec_sort(&f);
	rc = write_statuses(op, &f, slices, &conflicts);
out:
	if (rc && rc != FIXGW_EAGAIN)
		op->status_due = true; /* tried again after STATUS_GAP_MS */
	struct log_line l;
	log_begin(&l, op->status_writes != writes ? LOG_INFO : LOG_DEBUG, "status_pass_done", &op_log);
	log_int(&l, "status_writes", (long long)(op->status_writes - writes));
	log_int(&l, "gateway_addresses", (long long)op->gw.count);
	log_int(&l, "ms", (long long)(k8s_now_ms() - t0));
	log_end(&l, "statuses re-evaluated for changed Services, EndpointSlices or gateway pods: %s",
	        rc ? fixgw_strerror(rc) : "done");
	json_decref(slices);
	fs_vec_free(&f);
	return rc;
}

/* On the leader's main thread, every turn: a Service or EndpointSlice event makes a status pass due. */
static void watch_status_events(struct op *op)
{
	uint64_t ev = atomic_load(&op->status_events);
	if (ev != op->status_seen) {
		op->status_seen = ev;
		op->status_due = true;
	}
}

/* On the leader's main thread, every turn: have the gateway Service's slices changed? A new address set is
 * taken from conn_counts (its informer); a different set makes a status pass due. */
static void watch_gateways(struct op *op)
{
	if (!op->cc)
		return;
	uint64_t changes = cc_gateway_changes(op->cc); /* before the set: a later change moves it again */
	if (changes == op->gw_changes)
		return;
	struct ip_set a;
	if (cc_gateway_addrs(op->cc, &a))
		return; /* out of memory: the next turn tries again */
	op->gw_changes = changes;
	if (ip_set_equal(&a, &op->gw)) {
		ip_set_free(&a);
		return;
	}
	ip_set_free(&op->gw);
	op->gw = a;
	op->status_due = true;
	struct log_line l;
	log_begin(&l, LOG_INFO, "gateway_addresses", &op_log);
	log_int(&l, "addresses", (long long)a.count);
	log_end(&l, "the EndpointSlices of %s/%s list %zu gateway pod addresses: no route leads there",
	        op->o->counts.gateway_namespace, op->o->counts.gateway_service, a.count);
}

/* One reconcile pass, logged: INFO when it wrote a status or changed the validated table, else DEBUG. */
static int run_pass(struct op *op)
{
	uint64_t t0 = k8s_now_ms(), writes = op->status_writes, table = op->table_generation;
	op->passes++;
	int rc = reconcile(op);
	bool worked = op->status_writes != writes || op->table_generation != table;
	struct log_line l;
	log_begin(&l, worked ? LOG_INFO : LOG_DEBUG, "pass_done", &op_log);
	log_int(&l, "pass", (long long)op->passes);
	log_int(&l, "status_writes", (long long)(op->status_writes - writes));
	log_int(&l, "table", (long long)op->table_generation);
	log_int(&l, "ms", (long long)(k8s_now_ms() - t0));
	log_end(&l, "%s pass %llu: %s", op_batch_str(op->settle.batch), (unsigned long long)op->passes,
	        rc ? fixgw_strerror(rc) : "done");
	return rc;
}

/* ---- lifecycle ---- */

static bool reload_add(void *arg, const struct k8s_store_entry *e)
{
	return op_settle_reload_add(&((struct op *)arg)->settle, e->key, e->obj) == 0;
}

/* Per-object mode after a failed copy: rebuild the view from the cache. Called by k8s_informer_get under the
 * informer's lock (obj is NULL: no object has the key ""), so no event comes in between. */
static void reload_view(void *arg, const void *obj)
{
	struct op *op = arg;
	(void)obj;
	op_settle_reload_begin(&op->settle);
	k8s_informer_foreach(op->fs, reload_add, op);
}

/* handlers NULL: any change asks for a status pass (Services, EndpointSlices). */
static int start_informer(struct op *op, const struct k8s_resource *r, const char *label_selector,
                          const struct k8s_informer_handlers *handlers, struct k8s_informer **out)
{
	struct k8s_informer_handlers h = {.arg = op,
	                                  .on_add = status_event,
	                                  .on_update = status_event_update,
	                                  .on_delete = status_event,
	                                  .on_synced = mark_synced};
	struct k8s_informer_opts io = {.namespace_ = op->o->watch_namespace,
	                               .label_selector = label_selector};
	int rc = k8s_informer_new(op->c, r, &io, handlers ? handlers : &h, out);
	return rc ? rc : k8s_informer_start(*out);
}

int op_run(struct k8s_client *c, struct k8s_client *lease_client, const struct op_opts *o,
           const sigset_t *stop)
{
	struct op op = {.c = c, .o = o, .lkg = json_object(), .written = json_object(), .stop = stop};
	diag_list_init(&op.last_dl);
	if (!op.lkg || !op.written) {
		json_decref(op.lkg);
		json_decref(op.written);
		return FIXGW_ENOMEM;
	}
	int rc = op_settle_init(&op.settle, o->batch, o->debounce_ms, o->max_wait_ms);
	if (rc) {
		json_decref(op.lkg);
		json_decref(op.written);
		return rc;
	}
	struct k8s_informer_handlers fh = {.arg = &op,
	                                   .on_add = fs_add,
	                                   .on_update = fs_update,
	                                   .on_delete = fs_delete,
	                                   .on_synced = mark_synced};
	rc = start_informer(&op, &k8s_res_fixsessions, NULL, &fh, &op.fs);
	if (!rc)
		rc = start_informer(&op, &k8s_res_services, NULL, NULL, &op.svc);
	if (!rc)
		rc = start_informer(&op, &k8s_res_endpointslices, "kubernetes.io/service-name", NULL,
		                    &op.slices);
	if (!rc && o->webhook.listen)
		rc = webhook_start(&o->webhook, op.fs, &op.wh);
	struct k8s_leader_opts lo = {.namespace_ = o->lease_namespace,
	                             .name = o->lease_name,
	                             .identity = o->identity,
	                             .lease_ms = o->lease_ms,
	                             .renew_deadline_ms = o->renew_deadline_ms,
	                             .retry_ms = o->retry_ms,
	                             .arg = &op,
	                             .on_started_leading = on_started,
	                             .on_stopped_leading = on_stopped,
	                             .on_new_leader = on_new_leader};
	if (!rc && o->counts.gateway_service)
		rc = cc_new(c, &o->counts, &op.cc);
	struct op_publish_opts po = {.namespace_ =
	                                 o->publish_namespace ? o->publish_namespace : o->lease_namespace,
	                             .name = o->publish_name,
	                             .gc_grace_ms = o->publish_gc_ms};
	if (!rc && !(rc = op_publish_new(c, &po, &op.pub)))
		rc = op_publish_start(op.pub);
	if (!rc)
		rc = k8s_leader_new(lease_client, &lo, &op.le);
	if (!rc)
		rc = k8s_leader_start(op.le);
	if (rc) {
		log_msg(LOG_ERROR, "operator_start_failed", &op_log, "cannot start: %s", k8s_strerror(rc));
		goto out;
	}
	log_msg(LOG_INFO, "started", &op_log,
	        "operator %s: watching FIXSessions, Services and EndpointSlices in %s%s; Lease %s/%s",
	        o->identity, o->watch_namespace ? "namespace " : "all namespaces",
	        o->watch_namespace ? o->watch_namespace : "", o->lease_namespace, o->lease_name);
	bool synced = false;
	uint64_t retry_at = 0;
	uint32_t wait_ms = TICK_MS;
	for (;;) {
		op_health_beat(o->health);
		const struct timespec tick = {.tv_sec = wait_ms / 1000,
		                              .tv_nsec = (long)(wait_ms % 1000) * 1000000L};
		if (sigtimedwait(stop, NULL, &tick) >= 0)
			break;
		wait_ms = TICK_MS;
		if (!synced) {
			synced = k8s_informer_synced(op.fs) && k8s_informer_synced(op.svc) &&
			         k8s_informer_synced(op.slices) && op_publish_synced(op.pub) &&
			         (!op.cc || cc_synced(op.cc)); /* the gateway pods known before any status */
			if (!synced)
				continue;
			if (o->health)
				atomic_store(&o->health->synced, true);
			long stall_ms;
			if (fault_active("stall_operator_ms", &stall_ms) && stall_ms > 0) {
				/* test-only: a main loop stuck once (what /healthz must notice) */
				struct timespec ts = {stall_ms / 1000, (stall_ms % 1000) * 1000000};
				nanosleep(&ts, NULL);
			}
			log_msg(LOG_INFO, "synced", &op_log,
			        "%zu FIXSessions, %zu Services, %zu EndpointSlices",
			        k8s_informer_count(op.fs), k8s_informer_count(op.svc),
			        k8s_informer_count(op.slices));
		}
		if (!k8s_leader_is_leader(op.le)) {
			op_settle_standby(&op.settle);
			forget_verdicts(&op);
			continue;
		}
		op_publish_tick(op.pub, op.le); /* retries, repairs, garbage collection of shards */
		uint64_t now = k8s_now_ms();
		uint32_t wait;
		if (now < retry_at)
			continue;
		cc_write_step(op.cc, op.fs, op.le);
		watch_status_events(&op);
		watch_gateways(&op);
		if (op_settle_needs_reload(&op.settle))
			k8s_informer_get(op.fs, "", reload_view, &op);
		if (!op_settle_due(&op.settle, now, &wait)) {
			/* not while a round is pending: it computes every status anyway, and a namespace
			 * being deleted (its Services, slices and FIXSessions going together) is then one
			 * round on the settled set instead of status writes to objects about to go */
			if (op.status_due && wait == UINT32_MAX && now >= op.status_not_before) {
				status_pass(&op);
				op.status_not_before = k8s_now_ms() + STATUS_GAP_MS;
			}
			wait_ms = wait < wait_ms ? wait : wait_ms;
			continue;
		}
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int r = run_pass(&op);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		op_metrics_round(
		    o->metrics,
		    (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec)),
		    !r || r == FIXGW_EAGAIN);
		if (r && r != FIXGW_EAGAIN) {
			op_settle_failed(&op.settle, now);
			retry_at = now + RETRY_MS;
		} else {
			wait_ms = 0; /* the next pass may be due at once (per-object: the next event) */
		}
	}
	if (o->health)
		atomic_store(&o->health->stopping, true);
	struct log_line l;
	log_begin(&l, LOG_INFO, "stopping", &op_log);
	log_int(&l, "passes", (long long)op.passes);
	log_int(&l, "status_writes", (long long)op.status_writes);
	log_int(&l, "events", (long long)op.events);
	log_int(&l, "count_writes", (long long)cc_writes(op.cc));
	log_end(&l, "%llu passes, %llu status writes, %llu Events, %llu connection-count writes",
	        (unsigned long long)op.passes, (unsigned long long)op.status_writes,
	        (unsigned long long)op.events, (unsigned long long)cc_writes(op.cc));
out:
	webhook_stop(op.wh);
	k8s_leader_stop(op.le);
	k8s_leader_free(op.le);
	cc_free(op.cc);
	k8s_informer_free(op.fs);
	k8s_informer_free(op.svc);
	k8s_informer_free(op.slices);
	op_publish_free(op.pub);
	json_decref(op.lkg);
	json_decref(op.written);
	json_decref(op.verdicts);
	diag_list_free(&op.last_dl);
	ip_set_free(&op.gw);
	free(op.last_diags);
	op_settle_free(&op.settle);
	return rc;
}
