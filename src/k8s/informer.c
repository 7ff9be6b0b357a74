/* informer.c - list/watch reflector and cache (see informer.h).
 *
 * The thread is one state machine: LIST -> WATCH -> (WATCH | LIST | WAIT) ..., one step function per
 * state; WAIT sleeps the backoff delay (woken early by stop) and then goes where the failed step said.
 */
#include "k8s/informer.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/errors.h"
#include "core/grow.h"
#include "k8s/backoff.h"
#include "k8s/watch_split.h"
#include "telemetry/log.h"

#define QUERY_MAX      4096
#define SHORT_WATCH_MS 1000u /* a watch that ends this fast with no event is an error (client-go) */

enum inf_state { INF_LIST, INF_WATCH, INF_WAIT, INF_DONE };

struct item_vec {
	struct k8s_store_item *v;
	size_t n, cap;
};

struct k8s_informer {
	struct k8s_client *c;
	const struct k8s_resource *res;
	struct k8s_informer_opts o; /* strings below are owned copies */
	struct k8s_informer_handlers h;
	struct k8s_store store;
	struct k8s_store_ops ops;
	pthread_mutex_t lock; /* recursive: store, stats, rv */
	pthread_mutex_t wake_lock;
	pthread_cond_t wake; /* stop and synced */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_bool synced;
	struct log_ctx log;
	char base[1024]; /* the collection path */

	/* thread state */
	enum inf_state after_wait;
	uint64_t wait_ms;
	struct k8s_backoff backoff;
	uint64_t rng;
	uint32_t page_size;
	struct k8s_split split;
	bool relist;           /* the current watch must end in a list */
	bool relist_now;       /* ...without a backoff (410 Gone) */
	uint64_t watch_events; /* events and bookmarks of the current watch */
	struct k8s_informer_stats stats;
};

/* ---- helpers ---- */

static double rnd(struct k8s_informer *inf)
{
	uint64_t x = inf->rng; /* xorshift64 */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	inf->rng = x;
	return (double)(x >> 11) / 9007199254740992.0;
}

static void logf_(struct k8s_informer *inf, enum log_level lvl, const char *event, const char *extra_key,
                  const char *extra, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void logf_(struct k8s_informer *inf, enum log_level lvl, const char *event, const char *extra_key,
                  const char *extra, const char *fmt, ...)
{
	struct log_line l;
	log_begin(&l, lvl, event, &inf->log);
	if (!l.enabled)
		return;
	log_str(&l, "resource", inf->res->plural);
	if (inf->o.namespace_)
		log_str(&l, "namespace", inf->o.namespace_);
	if (extra_key)
		log_str(&l, extra_key, extra);
	va_list ap;
	va_start(ap, fmt);
	log_endv(&l, fmt, ap);
	va_end(ap);
}

static void set_rv(struct k8s_informer *inf, const char *rv)
{
	if (!rv || !*rv)
		return;
	pthread_mutex_lock(&inf->lock);
	snprintf(inf->stats.resource_version, sizeof(inf->stats.resource_version), "%s", rv);
	pthread_mutex_unlock(&inf->lock);
}

/* Sleep-state entry: wait the next backoff delay (at least retry_after_ms) then go to `next`. */
static enum inf_state backoff_to(struct k8s_informer *inf, enum inf_state next, uint64_t retry_after_ms)
{
	uint64_t d = k8s_backoff_next(&inf->backoff, k8s_now_ms(), rnd(inf));
	inf->wait_ms = d > retry_after_ms ? d : retry_after_ms;
	inf->after_wait = next;
	pthread_mutex_lock(&inf->lock);
	inf->stats.errors++;
	pthread_mutex_unlock(&inf->lock);
	return INF_WAIT;
}

/* "?a=b&c=d..." for the collection with the selectors; first is the leading parameter(s). */
static int query(struct k8s_informer *inf, char *out, size_t cap, const char *first)
{
	int n = snprintf(out, cap, "%s?%s", inf->base, first);
	const char *keys[2] = {"labelSelector", "fieldSelector"};
	const char *vals[2] = {inf->o.label_selector, inf->o.field_selector};
	for (int i = 0; i < 2 && n >= 0 && (size_t)n < cap; i++) {
		if (!vals[i])
			continue;
		char *esc = curl_easy_escape(NULL, vals[i], 0);
		if (!esc)
			return FIXGW_ENOMEM;
		n += snprintf(out + n, cap - (size_t)n, "&%s=%s", keys[i], esc);
		curl_free(esc);
	}
	return n < 0 || (size_t)n >= cap ? FIXGW_ELIMIT : 0;
}

static void *decode(struct k8s_informer *inf, const char *key, json_t *obj)
{
	if (inf->h.decode)
		return inf->h.decode(inf->h.arg, key, obj);
	return json_incref(obj);
}

/* ---- store callbacks ---- */

static void ops_add(void *arg, const char *key, void *obj)
{
	struct k8s_informer *inf = arg;
	if (inf->h.on_add)
		inf->h.on_add(inf->h.arg, key, obj);
}

static void ops_update(void *arg, const char *key, void *old_obj, void *new_obj)
{
	struct k8s_informer *inf = arg;
	if (inf->h.on_update)
		inf->h.on_update(inf->h.arg, key, old_obj, new_obj);
}

static void ops_del(void *arg, const char *key, void *obj)
{
	struct k8s_informer *inf = arg;
	if (inf->h.on_delete)
		inf->h.on_delete(inf->h.arg, key, obj);
}

static void ops_free(void *arg, void *obj)
{
	struct k8s_informer *inf = arg;
	if (inf->h.free_obj)
		inf->h.free_obj(inf->h.arg, obj);
	else if (!inf->h.decode)
		json_decref(obj);
}

/* ---- LIST ---- */

static void items_free(struct k8s_informer *inf, struct item_vec *iv)
{
	for (size_t i = 0; i < iv->n; i++) {
		free(iv->v[i].key);
		free(iv->v[i].rv);
		ops_free(inf, iv->v[i].obj);
	}
	free(iv->v);
	memset(iv, 0, sizeof(*iv));
}

/* Decode one page's items into iv. Returns 0 or FIXGW_ENOMEM. */
static int take_items(struct k8s_informer *inf, json_t *items, struct item_vec *iv)
{
	size_t i;
	json_t *obj;
	json_array_foreach(items, i, obj)
	{
		char key[600];
		const char *rv = k8s_object_rv(obj);
		if (k8s_object_key(obj, key, sizeof(key)) < 0 || !rv) {
			logf_(inf, LOG_WARN, "k8s_object_invalid", NULL, NULL,
			      "list item %zu has no metadata.name or resourceVersion; left out", i);
			continue;
		}
		void *d = decode(inf, key, obj);
		if (!d)
			continue;
		if (GROW_ARRAY(iv->v, iv->cap, iv->n + 1, 64) != 0) {
			ops_free(inf, d);
			return FIXGW_ENOMEM;
		}
		struct k8s_store_item *it = &iv->v[iv->n];
		it->key = strdup(key);
		it->rv = strdup(rv);
		it->obj = d;
		iv->n++;
		if (!it->key || !it->rv)
			return FIXGW_ENOMEM;
	}
	return 0;
}

static enum inf_state step_list(struct k8s_informer *inf)
{
	struct item_vec iv = {0};
	char *cont = NULL;
	char list_rv[64] = "";
	uint32_t limit = inf->page_size;
	bool expired_once = false;
	uint64_t pages = 0;
	char path[QUERY_MAX + 1024], msg[512];
	for (;;) {
		char first[QUERY_MAX];
		char *esc = cont ? curl_easy_escape(NULL, cont, 0) : NULL;
		if (cont && !esc)
			goto nomem;
		int n = limit ? snprintf(first, sizeof(first), "limit=%u%s%s", limit, esc ? "&continue=" : "",
		                         esc ? esc : "")
		              : snprintf(first, sizeof(first), "resourceVersion=");
		curl_free(esc);
		if (n < 0 || (size_t)n >= sizeof(first) || query(inf, path, sizeof(path), first) != 0) {
			logf_(inf, LOG_ERROR, "k8s_list_failed", NULL, NULL, "list query too long");
			goto fail;
		}
		struct k8s_response resp;
		int rc = k8s_request(inf->c, "GET", path, NULL, NULL, 0, &resp, &inf->stop);
		if (atomic_load(&inf->stop)) {
			k8s_response_free(&resp);
			goto stopped;
		}
		if (rc == FIXGW_ELIMIT && limit != 1) {
			limit = limit ? (limit + 1) / 2 : K8S_DEFAULT_PAGE_SIZE;
			inf->page_size = limit;
			logf_(
			    inf, LOG_WARN, "k8s_list_page_too_large", NULL, NULL,
			    "a list page exceeded the response bound; lists now ask for %u objects per page",
			    limit);
		}
		if (rc != 0) {
			logf_(inf, LOG_ERROR, "k8s_list_failed", "error", resp.error,
			      "list failed; retrying with backoff");
			k8s_response_free(&resp);
			goto fail;
		}
		if (resp.status == 410 && cont) {
			logf_(
			    inf, LOG_WARN, "k8s_list_expired", NULL, NULL,
			    "the list's continue token expired (410 Gone) after %llu pages; listing again%s",
			    (unsigned long long)pages, expired_once ? " without pagination" : "");
			k8s_response_free(&resp);
			items_free(inf, &iv);
			free(cont);
			cont = NULL;
			pages = 0;
			if (expired_once)
				limit = 0;
			expired_once = true;
			continue;
		}
		if (resp.status != 200) {
			uint64_t ra = resp.retry_after_ms;
			pthread_mutex_lock(&inf->lock);
			inf->stats.list_status = resp.status;
			pthread_mutex_unlock(&inf->lock);
			logf_(inf, resp.status == 429 ? LOG_WARN : LOG_ERROR, "k8s_list_failed", "error",
			      k8s_response_message(&resp, msg, sizeof(msg)),
			      "list answered HTTP %ld; retrying with backoff", resp.status);
			k8s_response_free(&resp);
			items_free(inf, &iv);
			free(cont);
			return backoff_to(inf, INF_LIST, ra);
		}
		json_error_t jerr;
		json_t *list = json_loadb(resp.body ? resp.body : "", resp.len, 0, &jerr);
		k8s_response_free(&resp);
		json_t *items = json_object_get(list, "items");
		json_t *md = json_object_get(list, "metadata");
		const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
		if (!list || !rv || (items && !json_is_array(items))) {
			logf_(inf, LOG_ERROR, "k8s_list_invalid", NULL, NULL,
			      "the list answer is not a Kubernetes list (%s); retrying with backoff",
			      list ? "no metadata.resourceVersion or items" : jerr.text);
			json_decref(list);
			goto fail;
		}
		snprintf(list_rv, sizeof(list_rv), "%s", rv);
		rc = items ? take_items(inf, items, &iv) : 0;
		const char *next = json_string_value(json_object_get(md, "continue"));
		free(cont);
		cont = next && *next ? strdup(next) : NULL;
		bool more = next && *next;
		json_decref(list);
		if (rc != 0 || (more && !cont))
			goto nomem;
		pages++;
		pthread_mutex_lock(&inf->lock);
		inf->stats.pages++;
		pthread_mutex_unlock(&inf->lock);
		if (log_min_level() <= LOG_DEBUG)
			logf_(inf, LOG_DEBUG, "k8s_list_page", NULL, NULL,
			      "list page %llu: %zu objects so far%s", (unsigned long long)pages, iv.n,
			      more ? ", more to come" : "");
		if (!more)
			break;
	}
	pthread_mutex_lock(&inf->lock);
	size_t before = inf->store.count;
	int rc = k8s_store_replace(&inf->store, iv.v, iv.n, &inf->ops);
	size_t n_items = iv.n;
	free(iv.v);
	iv = (struct item_vec){0};
	if (rc != 0) {
		pthread_mutex_unlock(&inf->lock);
		goto nomem;
	}
	snprintf(inf->stats.resource_version, sizeof(inf->stats.resource_version), "%s", list_rv);
	inf->stats.lists++;
	inf->stats.list_status = 0;
	if (inf->stats.lists > 1)
		inf->stats.relists++;
	bool first = !atomic_load(&inf->synced);
	atomic_store(&inf->synced, true);
	if (inf->h.on_synced)
		inf->h.on_synced(inf->h.arg);
	size_t after = inf->store.count;
	pthread_mutex_unlock(&inf->lock);
	pthread_mutex_lock(&inf->wake_lock);
	pthread_cond_broadcast(&inf->wake);
	pthread_mutex_unlock(&inf->wake_lock);
	logf_(inf, LOG_INFO, first ? "k8s_synced" : "k8s_relisted", "resource_version", list_rv,
	      "%s: %zu objects in %llu pages (cache %zu -> %zu)",
	      first ? "initial list complete" : "relist complete", n_items, (unsigned long long)pages, before,
	      after);
	return INF_WATCH;
nomem:
	logf_(inf, LOG_ERROR, "k8s_list_failed", NULL, NULL,
	      "out of memory while listing; retrying with backoff");
fail:
	items_free(inf, &iv);
	free(cont);
	return backoff_to(inf, INF_LIST, 0);
stopped:
	items_free(inf, &iv);
	free(cont);
	return INF_DONE;
}

/* ---- WATCH ---- */

/* Apply one watch event; false ends the stream (inf->relist says why). */
static bool apply_event(struct k8s_informer *inf, const char *data, size_t len)
{
	json_error_t jerr;
	json_t *ev = json_loadb(data, len, 0, &jerr);
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");
	if (!ev || !type || !json_is_object(obj)) {
		logf_(inf, LOG_ERROR, "k8s_event_invalid", NULL, NULL,
		      "a watch event of %zu bytes is not a valid event (%s); relisting", len,
		      ev ? "no type or object" : jerr.text);
		json_decref(ev);
		inf->relist = true;
		return false;
	}
	inf->watch_events++;
	if (strcmp(type, "ERROR") == 0) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		const char *m = json_string_value(json_object_get(obj, "message"));
		inf->relist = true;
		inf->relist_now = code == 410;
		logf_(inf, code == 410 ? LOG_INFO : LOG_ERROR, "k8s_watch_error", "error", m ? m : "",
		      "watch ERROR event with code %lld; relisting", (long long)code);
		json_decref(ev);
		return false;
	}
	const char *rv = k8s_object_rv(obj);
	if (strcmp(type, "BOOKMARK") == 0) {
		set_rv(inf, rv);
		pthread_mutex_lock(&inf->lock);
		inf->stats.bookmarks++;
		pthread_mutex_unlock(&inf->lock);
		json_decref(ev);
		return true;
	}
	char key[600];
	bool deleted = strcmp(type, "DELETED") == 0;
	if (!deleted && strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0) {
		logf_(inf, LOG_WARN, "k8s_event_unknown", "type", type, "unknown watch event type; ignored");
		json_decref(ev);
		return true;
	}
	if (k8s_object_key(obj, key, sizeof(key)) < 0 || !rv) {
		logf_(inf, LOG_ERROR, "k8s_event_invalid", "type", type,
		      "a watch event's object has no name or resourceVersion; relisting");
		json_decref(ev);
		inf->relist = true;
		return false;
	}
	void *d = deleted ? NULL : decode(inf, key, obj);
	pthread_mutex_lock(&inf->lock);
	int rc = d ? k8s_store_put(&inf->store, key, rv, d, &inf->ops) : 0;
	if (!d)
		k8s_store_remove(&inf->store, key, &inf->ops);
	snprintf(inf->stats.resource_version, sizeof(inf->stats.resource_version), "%s", rv);
	inf->stats.events++;
	pthread_mutex_unlock(&inf->lock);
	json_decref(ev);
	if (rc != 0) {
		logf_(inf, LOG_ERROR, "k8s_event_dropped", "key", key,
		      "out of memory applying an event; relisting");
		inf->relist = true;
		return false;
	}
	return true;
}

static bool on_watch_bytes(void *arg, const char *data, size_t len)
{
	struct k8s_informer *inf = arg;
	while (len > 0) {
		size_t used;
		struct k8s_split_event ev;
		enum k8s_split_status st = k8s_split_feed(&inf->split, data, len, &used, &ev);
		data += used;
		len -= used;
		switch (st) {
		case K8S_SPLIT_NEED_MORE:
			break;
		case K8S_SPLIT_EVENT:
			if (!apply_event(inf, ev.data, ev.len))
				return false;
			break;
		case K8S_SPLIT_OVERSIZED:
		case K8S_SPLIT_ENOMEM:
			logf_(inf, LOG_ERROR, "k8s_event_too_large", NULL, NULL,
			      "a watch event of %llu bytes exceeds the %zu-byte bound%s; skipped, relisting",
			      (unsigned long long)inf->split.last_size, inf->split.max,
			      st == K8S_SPLIT_ENOMEM ? " (out of memory)" : "");
			inf->relist = true;
			return false;
		case K8S_SPLIT_INVALID:
			logf_(inf, LOG_ERROR, "k8s_event_invalid", NULL, NULL,
			      "the watch stream has byte 0x%02x where an event should start; relisting",
			      inf->split.bad);
			inf->relist = true;
			return false;
		}
	}
	return true;
}

static enum inf_state step_watch(struct k8s_informer *inf)
{
	char first[256], path[QUERY_MAX + 1024], rv[64], msg[512];
	pthread_mutex_lock(&inf->lock);
	snprintf(rv, sizeof(rv), "%s", inf->stats.resource_version);
	inf->stats.watches++;
	pthread_mutex_unlock(&inf->lock);
	uint32_t timeout_s = inf->o.watch_timeout_s + (uint32_t)(inf->o.watch_timeout_s * rnd(inf));
	char *esc = curl_easy_escape(NULL, rv, 0);
	int n = esc ? snprintf(first, sizeof(first),
	                       "watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u", esc,
	                       timeout_s)
	            : -1;
	curl_free(esc);
	if (n < 0 || (size_t)n >= sizeof(first) || query(inf, path, sizeof(path), first) != 0)
		return backoff_to(inf, INF_LIST, 0);
	k8s_split_reset(&inf->split);
	inf->relist = inf->relist_now = false;
	inf->watch_events = 0;
	uint64_t start = k8s_now_ms();
	struct k8s_response resp;
	int rc = k8s_stream(inf->c, path, timeout_s * 1000u + inf->o.stall_slack_ms, on_watch_bytes, inf,
	                    &resp, &inf->stop);
	uint64_t took = k8s_now_ms() - start;
	if (atomic_load(&inf->stop)) {
		k8s_response_free(&resp);
		return INF_DONE;
	}
	enum inf_state next;
	if (inf->relist) {
		next = inf->relist_now ? INF_LIST : backoff_to(inf, INF_LIST, 0);
	} else if (rc != 0) {
		logf_(inf, LOG_WARN, "k8s_watch_failed", "error", resp.error,
		      "watch from resourceVersion %s ended after %llu ms; resuming from the last "
		      "resourceVersion after "
		      "a backoff",
		      rv, (unsigned long long)took);
		next = backoff_to(inf, INF_WATCH, 0);
	} else if (resp.status == 410) {
		logf_(inf, LOG_INFO, "k8s_watch_gone", "error", k8s_response_message(&resp, msg, sizeof(msg)),
		      "resourceVersion %s is too old (410 Gone); relisting", rv);
		next = INF_LIST;
	} else if (resp.status < 200 || resp.status >= 300) {
		logf_(inf, resp.status == 429 ? LOG_WARN : LOG_ERROR, "k8s_watch_failed", "error",
		      k8s_response_message(&resp, msg, sizeof(msg)),
		      "watch answered HTTP %ld; retrying with backoff", resp.status);
		next = backoff_to(inf, INF_WATCH, resp.retry_after_ms);
	} else if (k8s_split_pending(&inf->split)) {
		logf_(inf, LOG_WARN, "k8s_watch_truncated", NULL, NULL,
		      "the watch stream ended inside an event (%llu bytes); resuming from resourceVersion %s "
		      "after a "
		      "backoff",
		      (unsigned long long)k8s_split_pending(&inf->split), inf->stats.resource_version);
		next = backoff_to(inf, INF_WATCH, 0);
	} else if (inf->watch_events == 0 && took < SHORT_WATCH_MS) {
		logf_(inf, LOG_WARN, "k8s_watch_short", NULL, NULL,
		      "the watch ended after %llu ms with no event; retrying with backoff",
		      (unsigned long long)took);
		next = backoff_to(inf, INF_WATCH, 0);
	} else {
		logf_(inf, LOG_DEBUG, "k8s_watch_end", NULL, NULL,
		      "watch ended after %llu ms and %llu events; re-watching", (unsigned long long)took,
		      (unsigned long long)inf->watch_events);
		next = INF_WATCH;
	}
	k8s_response_free(&resp);
	return next;
}

/* ---- WAIT and the thread ---- */

static enum inf_state step_wait(struct k8s_informer *inf)
{
	logf_(inf, LOG_DEBUG, "k8s_backoff", NULL, NULL, "waiting %llu ms before the next %s",
	      (unsigned long long)inf->wait_ms, inf->after_wait == INF_LIST ? "list" : "watch");
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(inf->wait_ms / 1000);
	until.tv_nsec += (long)(inf->wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&inf->wake_lock);
	while (!atomic_load(&inf->stop))
		if (pthread_cond_timedwait(&inf->wake, &inf->wake_lock, &until) != 0)
			break;
	pthread_mutex_unlock(&inf->wake_lock);
	return atomic_load(&inf->stop) ? INF_DONE : inf->after_wait;
}

static void *informer_main(void *arg)
{
	struct k8s_informer *inf = arg;
	enum inf_state st = INF_LIST;
	while (st != INF_DONE && !atomic_load(&inf->stop)) {
		switch (st) {
		case INF_LIST:
			st = step_list(inf);
			break;
		case INF_WATCH:
			st = step_watch(inf);
			break;
		case INF_WAIT:
			st = step_wait(inf);
			break;
		case INF_DONE:
			break;
		}
	}
	return NULL;
}

/* ---- public ---- */

static char *dup_opt(const char *s, bool *fail)
{
	if (!s || !*s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

int k8s_informer_new(struct k8s_client *c, const struct k8s_resource *res,
                     const struct k8s_informer_opts *opts, const struct k8s_informer_handlers *h,
                     struct k8s_informer **out)
{
	struct k8s_informer *inf = calloc(1, sizeof(*inf));
	if (!inf)
		return FIXGW_ENOMEM;
	if (opts)
		inf->o = *opts;
	if (h)
		inf->h = *h;
	bool fail = false;
	inf->o.namespace_ = dup_opt(inf->o.namespace_, &fail);
	inf->o.label_selector = dup_opt(inf->o.label_selector, &fail);
	inf->o.field_selector = dup_opt(inf->o.field_selector, &fail);
	if (!inf->o.page_size)
		inf->o.page_size = K8S_DEFAULT_PAGE_SIZE;
	if (!inf->o.watch_timeout_s)
		inf->o.watch_timeout_s = K8S_DEFAULT_WATCH_TIMEOUT_S;
	if (!inf->o.stall_slack_ms)
		inf->o.stall_slack_ms = K8S_DEFAULT_STALL_SLACK_MS;
	inf->c = c;
	inf->res = res;
	inf->page_size = inf->o.page_size;
	inf->log.component = "k8s";
	inf->rng = (uint64_t)k8s_now_ms() * 2654435761u ^ (uint64_t)(uintptr_t)inf;
	if (!inf->rng)
		inf->rng = 1;
	inf->ops = (struct k8s_store_ops){
	    .arg = inf, .add = ops_add, .update = ops_update, .del = ops_del, .free_obj = ops_free};
	k8s_backoff_init(&inf->backoff, inf->o.backoff_base_ms, inf->o.backoff_cap_ms, 0, 1.0);
	k8s_split_init(&inf->split, inf->o.max_event_bytes);
	if (fail || k8s_path(inf->base, sizeof(inf->base), res, inf->o.namespace_, NULL, NULL) < 0 ||
	    k8s_store_init(&inf->store) != 0) {
		free((char *)inf->o.namespace_);
		free((char *)inf->o.label_selector);
		free((char *)inf->o.field_selector);
		if (inf->store.buckets)
			k8s_store_free(&inf->store, NULL);
		free(inf);
		return fail ? FIXGW_ENOMEM : FIXGW_EINVAL;
	}
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&inf->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_mutex_init(&inf->wake_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&inf->wake, &ca);
	pthread_condattr_destroy(&ca);
	*out = inf;
	return 0;
}

int k8s_informer_start(struct k8s_informer *inf)
{
	if (inf->started)
		return 0;
	atomic_store(&inf->stop, false);
	if (pthread_create(&inf->thread, NULL, informer_main, inf) != 0)
		return FIXGW_EIO;
	inf->started = true;
	return 0;
}

void k8s_informer_stop(struct k8s_informer *inf)
{
	if (!inf->started)
		return;
	pthread_mutex_lock(&inf->wake_lock);
	atomic_store(&inf->stop, true);
	pthread_cond_broadcast(&inf->wake);
	pthread_mutex_unlock(&inf->wake_lock);
	pthread_join(inf->thread, NULL);
	inf->started = false;
}

void k8s_informer_free(struct k8s_informer *inf)
{
	if (!inf)
		return;
	k8s_informer_stop(inf);
	k8s_store_free(&inf->store, &inf->ops);
	k8s_split_free(&inf->split);
	free((char *)inf->o.namespace_);
	free((char *)inf->o.label_selector);
	free((char *)inf->o.field_selector);
	pthread_mutex_destroy(&inf->lock);
	pthread_mutex_destroy(&inf->wake_lock);
	pthread_cond_destroy(&inf->wake);
	free(inf);
}

bool k8s_informer_synced(const struct k8s_informer *inf)
{
	return atomic_load(&inf->synced);
}

bool k8s_informer_wait_synced(struct k8s_informer *inf, uint32_t timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(timeout_ms / 1000);
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&inf->wake_lock);
	while (!atomic_load(&inf->synced) && !atomic_load(&inf->stop))
		if (pthread_cond_timedwait(&inf->wake, &inf->wake_lock, &until) != 0)
			break;
	pthread_mutex_unlock(&inf->wake_lock);
	return atomic_load(&inf->synced);
}

void k8s_informer_get(struct k8s_informer *inf, const char *key, void (*fn)(void *arg, const void *obj),
                      void *arg)
{
	pthread_mutex_lock(&inf->lock);
	struct k8s_store_entry *e = k8s_store_get(&inf->store, key);
	fn(arg, e ? e->obj : NULL);
	pthread_mutex_unlock(&inf->lock);
}

void k8s_informer_foreach(struct k8s_informer *inf, bool (*fn)(void *arg, const struct k8s_store_entry *e),
                          void *arg)
{
	pthread_mutex_lock(&inf->lock);
	k8s_store_foreach(&inf->store, fn, arg);
	pthread_mutex_unlock(&inf->lock);
}

size_t k8s_informer_count(struct k8s_informer *inf)
{
	pthread_mutex_lock(&inf->lock);
	size_t n = inf->store.count;
	pthread_mutex_unlock(&inf->lock);
	return n;
}

void k8s_informer_stats(struct k8s_informer *inf, struct k8s_informer_stats *out)
{
	pthread_mutex_lock(&inf->lock);
	*out = inf->stats;
	pthread_mutex_unlock(&inf->lock);
}
