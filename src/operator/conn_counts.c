/* conn_counts.c - scrape the gateways' /route-stats, sum, write FIXSession status counts (conn_counts.h). */
#include "operator/conn_counts.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "k8s/api.h"
#include "k8s/ratelimit.h"
#include "operator/conn_agg.h"
#include "telemetry/log.h"

#define CC_MAX_BODY     (64u << 20) /* one gateway's /route-stats: ~100 bytes per FIXSession */
#define CC_MAX_PARALLEL 64L         /* fetches in flight at once */
#define CC_RESCAN_MS    1000u       /* without news, FIXSessions are compared with the sums this often */
#define CC_POLL_MS      200         /* the stop flag is looked at this often during a pass */

static const struct log_ctx cc_log = {.component = "operator"};

struct cc_pod {
	char url[192];
	char id[160]; /* the pod's name when the slice names it, else address:port */
	json_t *doc;  /* the last good answer (cc_parse), owned; NULL before one or once expired */
	uint64_t ok_ms;
	bool failing, seen;
	/* the fetch of the current pass */
	CURL *h;
	char *buf;
	size_t len, cap;
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
};

struct conn_counts {
	struct k8s_client *c;
	char *ns, *svc, *port_name;
	struct cc_opts o;
	struct k8s_informer *slices;
	pthread_t thr;
	bool started;
	atomic_bool stop;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	json_t *pub; /* the newest sum, handed from the scraper to the writer (under lock; owned by cc) */
	/* scraper thread only */
	struct cc_pod *pods;
	size_t npods;
	/* writer (main thread) only */
	json_t *sum;
	struct k8s_bucket bucket;
	char *
	    cursor[2]; /* the last FIXSession written of each diff_pass list: the next step starts after it */
	uint64_t next_scan_ms;
	bool pending;
	atomic_uint_fast64_t writes;
	atomic_uint_fast64_t slice_changes; /* events of the slice informer (cc_gateway_changes) */
};

/* ---- targets: the gateway Service's EndpointSlice endpoints ---- */

struct targets {
	struct conn_counts *cc;
	uint64_t now_ms;
};

static struct cc_pod *pod_for(struct conn_counts *cc, const char *url, const char *id)
{
	for (size_t i = 0; i < cc->npods; i++)
		if (!strcmp(cc->pods[i].url, url)) {
			cc->pods[i].seen = true;
			return &cc->pods[i];
		}
	struct cc_pod *p = realloc(cc->pods, (cc->npods + 1) * sizeof(*p));
	if (!p)
		return NULL;
	cc->pods = p;
	p = &cc->pods[cc->npods++];
	memset(p, 0, sizeof(*p));
	snprintf(p->url, sizeof(p->url), "%s", url);
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->seen = true;
	return p;
}

/* The one reader of the gateway Service's slices: fn(arg, endpoint, v6, the slice's admin port or 0) for
 * every endpoint of an IPv4 or IPv6 slice (FQDN slices name no address). False from fn stops. */
static bool each_endpoint(struct conn_counts *cc, json_t *s,
                          bool (*fn)(void *arg, json_t *ep, bool v6, json_int_t port), void *arg)
{
	const char *type = json_string_value(json_object_get(s, "addressType"));
	bool v6 = type && !strcmp(type, "IPv6");
	if (!type || (!v6 && strcmp(type, "IPv4")))
		return true;
	json_t *ports = json_object_get(s, "ports"), *p, *eps = json_object_get(s, "endpoints"), *ep;
	json_int_t port = 0;
	size_t i;
	json_array_foreach(ports, i, p)
	{
		const char *pn = json_string_value(json_object_get(p, "name"));
		json_int_t num = json_integer_value(json_object_get(p, "port"));
		if (cc->port_name ? pn && !strcmp(pn, cc->port_name) : num == cc->o.admin_port)
			port = num;
	}
	if (port < 0 || port > 65535)
		port = 0;
	json_array_foreach(eps, i, ep)
	{
		if (!fn(arg, ep, v6, port))
			return false;
	}
	return true;
}

static bool take_pod(void *arg, json_t *ep, bool v6, json_int_t port)
{
	struct targets *t = arg;
	/* an endpoint's addresses are one pod's: the first is the one to use (the API's rule) */
	const char *addr = json_string_value(json_array_get(json_object_get(ep, "addresses"), 0));
	json_t *ref = json_object_get(ep, "targetRef");
	const char *pod = json_string_value(json_object_get(ref, "name"));
	char url[192], id[160];
	if (!port || !addr || strlen(addr) > 64)
		return true;
	snprintf(url, sizeof(url), v6 ? "http://[%s]:%lld/route-stats" : "http://%s:%lld/route-stats", addr,
	         (long long)port);
	if (pod)
		snprintf(id, sizeof(id), "%.100s (%s:%lld)", pod, addr, (long long)port);
	else
		snprintf(id, sizeof(id), v6 ? "[%s]:%lld" : "%s:%lld", addr, (long long)port);
	return pod_for(t->cc, url, id) != NULL;
}

static bool take_slice(void *arg, const struct k8s_store_entry *e)
{
	struct targets *t = arg;
	return each_endpoint(t->cc, e->obj, take_pod, t);
}

/* ---- the gateway pods' addresses, for the operator's RoutingLoop condition (any thread) ---- */

struct addr_walk {
	struct conn_counts *cc;
	struct ip_set *out;
	int rc;
};

static bool take_addrs(void *arg, json_t *ep, bool v6, json_int_t port)
{
	struct addr_walk *w = arg;
	(void)v6;
	(void)port; /* every address of a gateway pod, whatever its ports (ADR-019) */
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(ep, "addresses"), i, a)
	{
		const char *text = json_string_value(a);
		/* text that is not an IP address (an FQDN slice) cannot be a pod */
		if (text && ip_set_add_text(w->out, text) == FIXGW_ENOMEM) {
			w->rc = FIXGW_ENOMEM;
			return false;
		}
	}
	return true;
}

static bool take_slice_addrs(void *arg, const struct k8s_store_entry *e)
{
	struct addr_walk *w = arg;
	return each_endpoint(w->cc, e->obj, take_addrs, w);
}

int cc_gateway_addrs(struct conn_counts *cc, struct ip_set *out)
{
	*out = (struct ip_set){0};
	struct addr_walk w = {cc, out, 0};
	k8s_informer_foreach(cc->slices, take_slice_addrs, &w);
	if (w.rc) {
		ip_set_free(out);
		return w.rc;
	}
	ip_set_seal(out);
	return 0;
}

uint64_t cc_gateway_changes(const struct conn_counts *cc)
{
	return atomic_load(&cc->slice_changes);
}

bool cc_synced(const struct conn_counts *cc)
{
	return k8s_informer_synced(cc->slices);
}

/* Informer callbacks (its thread, its lock): only count, the readers take the set when it moved. */
static void slices_changed(void *arg)
{
	atomic_fetch_add(&((struct conn_counts *)arg)->slice_changes, 1);
}
static void slice_event(void *arg, const char *key, void *obj)
{
	(void)key;
	(void)obj;
	slices_changed(arg);
}
static void slice_update(void *arg, const char *key, void *old_obj, void *new_obj)
{
	(void)old_obj;
	slice_event(arg, key, new_obj);
}

static void pod_reset_fetch(struct cc_pod *p)
{
	if (p->h)
		curl_easy_cleanup(p->h);
	free(p->buf);
	p->h = NULL;
	p->buf = NULL;
	p->len = p->cap = 0;
	p->too_big = false;
	p->errbuf[0] = '\0';
}

/* Pods no longer in the slices leave the sums at once (the pod is gone, and its connections with it). */
static void sync_pods(struct conn_counts *cc)
{
	for (size_t i = 0; i < cc->npods; i++)
		cc->pods[i].seen = false;
	struct targets t = {cc, 0};
	k8s_informer_foreach(cc->slices, take_slice, &t);
	size_t out = 0;
	for (size_t i = 0; i < cc->npods; i++) {
		struct cc_pod *p = &cc->pods[i];
		if (p->seen) {
			cc->pods[out++] = *p;
			continue;
		}
		if (p->doc)
			log_msg(LOG_INFO, "gateway_gone", &cc_log,
			        "gateway %s left the EndpointSlices of %s/%s: its counts leave the sums",
			        p->id, cc->ns, cc->svc);
		json_decref(p->doc);
		pod_reset_fetch(p);
	}
	cc->npods = out;
}

/* ---- one pass: fetch every pod at once ---- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct cc_pod *p = arg;
	size_t len = size * n;
	if (p->len + len > CC_MAX_BODY) {
		p->too_big = true;
		return 0; /* ends the transfer with CURLE_WRITE_ERROR */
	}
	if (p->len + len + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 16384;
		while (cap < p->len + len + 1)
			cap *= 2;
		char *b = realloc(p->buf, cap);
		if (!b)
			return 0;
		p->buf = b;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, len);
	p->len += len;
	p->buf[p->len] = '\0';
	return len;
}

static int add_fetch(struct conn_counts *cc, CURLM *m, struct cc_pod *p)
{
	pod_reset_fetch(p);
	p->h = curl_easy_init();
	if (!p->h)
		return FIXGW_ENOMEM;
	curl_easy_setopt(p->h, CURLOPT_URL, p->url);
	curl_easy_setopt(p->h, CURLOPT_PROXY, ""); /* pod addresses: never through an environment proxy */
	curl_easy_setopt(p->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->h, CURLOPT_CONNECTTIMEOUT_MS, (long)cc->o.timeout_ms);
	curl_easy_setopt(p->h, CURLOPT_TIMEOUT_MS, (long)cc->o.timeout_ms);
	curl_easy_setopt(p->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(p->h, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(p->h, CURLOPT_ERRORBUFFER, p->errbuf);
	curl_easy_setopt(p->h, CURLOPT_PRIVATE, p);
	return curl_multi_add_handle(m, p->h) == CURLM_OK ? 0 : FIXGW_ENOMEM;
}

/* What became of one pod's fetch: new counts, or a failure that may expire its old ones. */
static void settle(struct conn_counts *cc, struct cc_pod *p, CURLcode res, uint64_t now_ms)
{
	char why[300] = "";
	long status = 0;
	json_t *doc = NULL;
	if (p->h)
		curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &status);
	if (res != CURLE_OK)
		snprintf(why, sizeof(why), "%s",
		         p->too_big     ? "response over 64 MiB"
		         : p->errbuf[0] ? p->errbuf
		                        : curl_easy_strerror(res));
	else if (status != 200)
		snprintf(why, sizeof(why), "HTTP %ld", status);
	else
		doc = cc_parse(p->buf ? p->buf : "", p->len, why, sizeof(why));
	if (doc) {
		json_decref(p->doc);
		p->doc = doc;
		p->ok_ms = now_ms;
		if (p->failing)
			log_msg(LOG_INFO, "gateway_scrape_recovered", &cc_log, "gateway %s answers again",
			        p->id);
		p->failing = false;
		return;
	}
	if (!p->failing) {
		struct log_line l;
		log_begin(&l, LOG_WARN, "gateway_scrape_failed", &cc_log);
		log_str(&l, "gateway", p->id);
		log_end(&l,
		        "cannot read the connection counts of gateway %s: %s; its last counts stay for %u ms",
		        p->id, why, cc->o.expiry_ms);
		p->failing = true;
	}
	struct cc_pod_doc d = {p->doc, p->ok_ms};
	if (p->doc && cc_expired(&d, now_ms, cc->o.expiry_ms)) {
		log_msg(LOG_WARN, "gateway_counts_expired", &cc_log,
		        "gateway %s has not answered for %llu ms: its counts leave the sums", p->id,
		        (unsigned long long)(now_ms - p->ok_ms));
		json_decref(p->doc);
		p->doc = NULL;
	}
}

static void fetch_all(struct conn_counts *cc)
{
	CURLM *m = curl_multi_init();
	if (!m)
		return;
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, CC_MAX_PARALLEL);
	for (size_t i = 0; i < cc->npods; i++)
		if (add_fetch(cc, m, &cc->pods[i]))
			pod_reset_fetch(&cc->pods[i]); /* settled below as a failure */
	int running = 0;
	curl_multi_perform(m, &running);
	while (running && !atomic_load(&cc->stop)) {
		curl_multi_poll(m, NULL, 0, CC_POLL_MS, NULL);
		curl_multi_perform(m, &running);
	}
	bool *done = calloc(cc->npods ? cc->npods : 1, sizeof(*done));
	uint64_t now = k8s_now_ms();
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE) {
			struct cc_pod *p = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
			if (p && done)
				done[p - cc->pods] = true;
			if (p)
				settle(cc, p, msg->data.result, now);
		}
	for (size_t i = 0; i < cc->npods; i++) {
		struct cc_pod *p = &cc->pods[i];
		if (!done || !done[i])
			settle(cc, p, CURLE_OPERATION_TIMEDOUT, now); /* not started, or stopped: no answer */
		if (p->h)
			curl_multi_remove_handle(m, p->h);
		pod_reset_fetch(p);
	}
	free(done);
	curl_multi_cleanup(m);
}

static void pass(struct conn_counts *cc)
{
	sync_pods(cc);
	fetch_all(cc);
	if (atomic_load(&cc->stop))
		return;
	struct cc_pod_doc *docs = calloc(cc->npods ? cc->npods : 1, sizeof(*docs));
	if (!docs)
		return;
	for (size_t i = 0; i < cc->npods; i++)
		docs[i] = (struct cc_pod_doc){cc->pods[i].doc, cc->pods[i].ok_ms};
	json_t *sum = cc_sum(docs, cc->npods, k8s_now_ms(), cc->o.expiry_ms);
	free(docs);
	if (!sum)
		return;
	/* ownership moves whole: the writer never shares a reference with this thread (jansson's counts
	 * are not atomic) */
	pthread_mutex_lock(&cc->lock);
	json_decref(cc->pub);
	cc->pub = sum;
	pthread_mutex_unlock(&cc->lock);
}

static void *scraper(void *arg)
{
	struct conn_counts *cc = arg;
	while (!atomic_load(&cc->stop)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t at = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec +
		              (uint64_t)cc->o.scrape_ms * 1000000ull;
		ts = (struct timespec){.tv_sec = (time_t)(at / 1000000000ull),
		                       .tv_nsec = (long)(at % 1000000000ull)};
		if (k8s_informer_synced(cc->slices))
			pass(cc);
		/* cc_free signals under the lock after setting stop: no wake-up is missed */
		pthread_mutex_lock(&cc->lock);
		while (!atomic_load(&cc->stop) &&
		       pthread_cond_timedwait(&cc->wake, &cc->lock, &ts) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&cc->lock);
	}
	return NULL;
}

/* ---- lifecycle ---- */

int cc_new(struct k8s_client *c, const struct cc_opts *o, struct conn_counts **out)
{
	struct conn_counts *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return FIXGW_ENOMEM;
	cc->c = c;
	cc->o = *o;
	if (!cc->o.scrape_ms)
		cc->o.scrape_ms = CC_DEFAULT_SCRAPE_MS;
	if (!cc->o.timeout_ms)
		cc->o.timeout_ms = CC_DEFAULT_TIMEOUT_MS;
	if (!cc->o.expiry_ms)
		cc->o.expiry_ms = CC_DEFAULT_EXPIRY_MS;
	if (!cc->o.write_qps)
		cc->o.write_qps = CC_DEFAULT_WRITE_QPS;
	if (!cc->o.write_burst)
		cc->o.write_burst = CC_DEFAULT_WRITE_BURST;
	const char *pn = o->admin_port_name ? o->admin_port_name
	                 : o->admin_port    ? NULL
	                                    : CC_DEFAULT_ADMIN_PORT;
	cc->ns = strdup(o->gateway_namespace);
	cc->svc = strdup(o->gateway_service);
	cc->port_name = pn ? strdup(pn) : NULL;
	pthread_mutex_init(&cc->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cc->wake, &ca);
	pthread_condattr_destroy(&ca);
	k8s_bucket_init(&cc->bucket, cc->o.write_qps, cc->o.write_burst, k8s_now_ms() * 1000000ull);
	char selector[320];
	int rc = FIXGW_ENOMEM;
	if (!cc->ns || !cc->svc || (pn && !cc->port_name))
		goto fail;
	snprintf(selector, sizeof(selector), "kubernetes.io/service-name=%s", cc->svc);
	struct k8s_informer_opts io = {.namespace_ = cc->ns, .label_selector = selector};
	struct k8s_informer_handlers h = {.arg = cc,
	                                  .on_add = slice_event,
	                                  .on_update = slice_update,
	                                  .on_delete = slice_event,
	                                  .on_synced = slices_changed};
	rc = k8s_informer_new(c, &k8s_res_endpointslices, &io, &h, &cc->slices);
	if (!rc)
		rc = k8s_informer_start(cc->slices);
	if (rc)
		goto fail;
	if (pthread_create(&cc->thr, NULL, scraper, cc)) {
		rc = FIXGW_EIO;
		goto fail;
	}
	cc->started = true;
	char port[64];
	if (cc->port_name)
		snprintf(port, sizeof(port), "'%s'", cc->port_name);
	else
		snprintf(port, sizeof(port), "%u", (unsigned)o->admin_port);
	log_msg(LOG_INFO, "counts_started", &cc_log,
	        "connection counts from the gateways behind %s/%s, port %s, every %u ms (timeout %u ms, "
	        "counts expire %u ms after a gateway's last answer); status writes at most %.1f/s (burst %u)",
	        cc->ns, cc->svc, port, cc->o.scrape_ms, cc->o.timeout_ms, cc->o.expiry_ms, cc->o.write_qps,
	        cc->o.write_burst);
	*out = cc;
	return 0;
fail:
	cc_free(cc);
	return rc;
}

void cc_free(struct conn_counts *cc)
{
	if (!cc)
		return;
	if (cc->started) {
		pthread_mutex_lock(&cc->lock);
		atomic_store(&cc->stop, true);
		pthread_cond_signal(&cc->wake);
		pthread_mutex_unlock(&cc->lock);
		pthread_join(cc->thr, NULL);
	}
	k8s_informer_free(cc->slices);
	for (size_t i = 0; i < cc->npods; i++) {
		json_decref(cc->pods[i].doc);
		pod_reset_fetch(&cc->pods[i]);
	}
	free(cc->pods);
	json_decref(cc->pub);
	json_decref(cc->sum);
	pthread_cond_destroy(&cc->wake);
	pthread_mutex_destroy(&cc->lock);
	free(cc->cursor[0]);
	free(cc->cursor[1]);
	free(cc->ns);
	free(cc->svc);
	free(cc->port_name);
	free(cc);
}

uint64_t cc_writes(const struct conn_counts *cc)
{
	return cc ? atomic_load(&cc->writes) : 0;
}

/* ---- the writer ---- */

struct key_list {
	char **v;
	size_t n, cap;
};

/* The FIXSessions whose status differs from the sums: l[0] those some gateway reports, written first;
 * l[1] those no gateway reports (zeros to fill in), written with what budget is left. */
struct diff_pass {
	json_t *sum;
	struct key_list l[2];
	bool nomem;
};

static bool collect_diff(void *arg, const struct k8s_store_entry *e)
{
	struct diff_pass *d = arg;
	struct cc_counts want;
	cc_counts_of(d->sum, e->key, &want);
	if (cc_status_matches(json_object_get(e->obj, "status"), &want))
		return true;
	struct key_list *l = &d->l[json_object_get(d->sum, e->key) ? 0 : 1];
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **k = realloc(l->v, cap * sizeof(*k));
		if (!k)
			goto nomem;
		l->v = k;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(e->key)))
		goto nomem;
	l->n++;
	return true;
nomem:
	d->nomem = true;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void take_copy(void *arg, const void *obj)
{
	*(json_t **)arg = obj ? json_deep_copy(obj) : NULL;
}

struct write_ctx {
	struct k8s_leader *le;
	struct cc_counts want;
	bool fenced;
};

/* The RetryOnConflict mutation: applied again to the live object after a 409. */
static int apply_counts(void *arg, json_t *obj)
{
	struct write_ctx *w = arg;
	if (!k8s_leader_is_leader(w->le)) {
		w->fenced = true;
		return FIXGW_EAGAIN;
	}
	json_t *st = json_object_get(obj, "status");
	if (!json_is_object(st) && json_object_set_new(obj, "status", st = json_object()))
		return FIXGW_ENOMEM;
	return cc_status_apply(st, &w->want) ? FIXGW_ENOMEM : 0;
}

static int write_one(struct conn_counts *cc, struct k8s_informer *fs, struct k8s_leader *le, const char *key)
{
	json_t *obj = NULL;
	k8s_informer_get(fs, key, take_copy, &obj);
	if (!obj)
		return 0; /* deleted meanwhile */
	struct write_ctx w = {.le = le};
	cc_counts_of(cc->sum, key, &w.want);
	const char *slash = strchr(key, '/');
	char ns[256];
	snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - key) : 0, key);
	struct k8s_result res = {0};
	int rc = k8s_retry_on_conflict(cc->c, &k8s_res_fixsessions, ns, slash ? slash + 1 : key, true, obj,
	                               apply_counts, &w, 0, NULL, &res);
	json_decref(obj);
	if (w.fenced)
		return FIXGW_EAGAIN;
	if (rc == K8S_ENOTFOUND)
		return 0;
	if (rc) {
		struct log_line l;
		log_begin(&l, LOG_ERROR, "counts_write_failed", &cc_log);
		log_str(&l, "fixsession", key);
		log_int(&l, "status", res.status);
		log_end(&l, "cannot write the connection counts: %s: %s", k8s_strerror(rc), res.message);
		return rc;
	}
	atomic_fetch_add(&cc->writes, 1);
	return 0;
}

/* Write up to *budget of l, round-robin: starting after *cursor, the last key of l written. */
static int write_list(struct conn_counts *cc, struct k8s_informer *fs, struct k8s_leader *le,
                      struct key_list *l, char **cursor, unsigned *budget)
{
	if (!l->n || !*budget)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), cmp_str);
	size_t start = 0;
	while (*cursor && start < l->n && strcmp(l->v[start], *cursor) <= 0)
		start++;
	size_t n = *budget < l->n ? *budget : l->n;
	for (size_t i = 0; i < n; i++) {
		const char *key = l->v[(start + i) % l->n];
		if (!k8s_leader_is_leader(le))
			return FIXGW_EAGAIN;
		(*budget)--;
		int rc = write_one(cc, fs, le, key);
		free(*cursor);
		*cursor = strdup(key);
		if (rc)
			return rc;
	}
	return 0;
}

int cc_write_step(struct conn_counts *cc, struct k8s_informer *fs, struct k8s_leader *le)
{
	if (!cc)
		return 0;
	bool fresh = false;
	pthread_mutex_lock(&cc->lock);
	if (cc->pub) {
		json_decref(cc->sum);
		cc->sum = cc->pub;
		cc->pub = NULL;
		fresh = true;
	}
	pthread_mutex_unlock(&cc->lock);
	uint64_t now = k8s_now_ms();
	if (!cc->sum || (!fresh && !cc->pending && now < cc->next_scan_ms))
		return 0; /* no pass yet (a new leader writes no zeros it has not measured), or nothing new */
	cc->next_scan_ms = now + CC_RESCAN_MS;
	struct diff_pass d = {.sum = cc->sum};
	k8s_informer_foreach(fs, collect_diff, &d);
	size_t total = d.l[0].n + d.l[1].n;
	unsigned budget =
	    total ? k8s_bucket_take(&cc->bucket, total > 100000 ? 100000u : (unsigned)total, now * 1000000ull)
	          : 0;
	cc->pending = budget < total;
	int rc = d.nomem ? FIXGW_ENOMEM : 0;
	if (!rc)
		rc = write_list(cc, fs, le, &d.l[0], &cc->cursor[0], &budget);
	if (!rc)
		rc = write_list(cc, fs, le, &d.l[1], &cc->cursor[1], &budget);
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < d.l[k].n; i++)
			free(d.l[k].v[i]);
		free(d.l[k].v);
	}
	return rc;
}
