/* source_file.c - the file source: the gateway config, its FIXSession manifests and certificates.
 *
 * Its thread ("fixgw-source") wakes every second to compare a signature of (path, inode, size, mtime)
 * over every file it read, and at once on trigger (SIGHUP). A rebuild loads the config, compiles the
 * FIXSessions, builds the endpoint map and re-reads certificates, all on this thread, then publishes
 * one snapshot. An invalid config keeps everything in use; invalid FIXSessions keep the table in use
 * while limits and endpoints from a valid config still apply.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/errors.h"
#include "io/manifest_paths.h"
#include "gateway/routes_k8s.h"
#include "gateway/source.h"
#include "net/fault.h"

#define WATCH_INTERVAL_MS 1000
#define K8S_DEBOUNCE_MS   20 /* a burst of API events (a batch apply) becomes one snapshot */

static const struct log_ctx src_log = {.component = "gateway"};

struct file_source {
	struct gw_source base;
	char *path;
	const struct gw_config *cur; /* the config of the last good build: boot's, or owned */
	struct gw_config *owned;
	uint64_t signature;
	uint64_t endpoints_generation;

	/* Kubernetes mode: routes and endpoints come from the API server, the rest from the file. */
	struct k8s_routes *k8s;

	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* guards triggered, routes_changed, stopping */
	pthread_cond_t cond;
	bool triggered, routes_changed, stopping;
};

void gw_log_diags(enum log_level lvl, const char *event, const struct diag_list *dl)
{
	for (size_t i = 0; i < dl->count; i++) {
		const struct diag *d = &dl->items[i];
		struct log_line l;
		log_begin(&l, d->severity == DIAG_ERROR ? lvl : LOG_WARN, event, &src_log);
		log_str(&l, "file", d->file);
		if (d->line)
			log_uint(&l, "line", d->line);
		log_str(&l, "field", d->path);
		log_end(&l, "%s", d->message);
	}
}

/* Load and compile the FIXSessions of c. On failure *why says what went wrong; `lkg` says whether a
 * last-known-good table exists to keep (not at the first boot). The conflicts found go to gw's gauge. */
static int load_table(struct gateway *gw, const struct gw_config *c, struct route_table **out, bool lkg,
                      char *why, size_t why_cap)
{
	struct route_set set;
	struct diag_list dl;
	route_set_init(&set);
	diag_list_init(&dl);
	*out = NULL;
	const char *keep = lkg ? "; keeping the last-known-good table" : "";
	int err = manifest_paths_load((const char *const *)c->route_paths, c->nroute_paths, &set, &dl);
	if (!err)
		err = route_table_compile(&set, &dl, out);
	gw_set_route_conflicts(gw, route_table_conflicts_in(&dl));
	if (err == FIXGW_ECONFLICT) {
		gw_log_diags(LOG_CRITICAL, "route_conflict", &dl);
		snprintf(why, why_cap, "FIXSession conflicts (%zu)%s", dl.nerrors, keep);
	} else if (err) {
		gw_log_diags(LOG_ERROR, "route_invalid", &dl);
		snprintf(why, why_cap, "invalid FIXSession manifests (%zu errors)%s", dl.nerrors, keep);
	} else {
		gw_log_diags(LOG_WARN, "route_warning", &dl);
	}
	diag_list_free(&dl);
	route_set_free(&set);
	return err;
}

/* ---- the watch signature ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
	return h;
}

static uint64_t sig_path(uint64_t h, const char *path, int depth)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return mix(h, 0xdead);
	h = mix(h, (uint64_t)st.st_ino);
	h = mix(h, (uint64_t)st.st_size);
	h = mix(h, (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
	if (!S_ISDIR(st.st_mode) || depth > 8)
		return h;
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			char child[4096];
			snprintf(child, sizeof(child), "%s/%s", path, names[i]->d_name);
			h = sig_path(h, child, depth + 1);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return h;
}

static uint64_t watch_signature(const struct file_source *fs)
{
	const struct gw_config *c = fs->cur;
	uint64_t h = sig_path(0, fs->path, 0);
	for (size_t i = 0; i < c->nroute_paths; i++)
		h = sig_path(h, c->route_paths[i], 0);
	for (size_t i = 0; i < c->nlisteners; i++)
		for (size_t k = 0; k < c->listeners[i].tls.ncerts; k++) {
			h = sig_path(h, c->listeners[i].tls.certs[k].cert_file, 0);
			h = sig_path(h, c->listeners[i].tls.certs[k].key_file, 0);
		}
	return h;
}

/* ---- building ---- */

static bool same_listeners(const struct gw_config *a, const struct gw_config *b)
{
	if (a->nlisteners != b->nlisteners)
		return false;
	for (size_t i = 0; i < a->nlisteners; i++)
		if (strcmp(a->listeners[i].name, b->listeners[i].name) != 0 ||
		    strcmp(a->listeners[i].addr.text, b->listeners[i].addr.text) != 0 ||
		    a->listeners[i].tls.enabled != b->listeners[i].tls.enabled)
			return false;
	return true;
}

/* A snapshot of c with table t (NULL: keep the current one) and endpoint map m (NULL: a fresh one from
 * the config file; taken over). */
static struct gw_snapshot *build(struct file_source *fs, const struct gw_config *c, struct route_table *t,
                                 struct endpoint_map *m)
{
	struct gw_snapshot *cur = gw_snapshot_current(fs->base.gw);
	struct gw_snapshot *s =
	    cur ? gw_snapshot_derive(cur) : gw_snapshot_new(fs->k8s ? "kubernetes" : "file");
	gw_snapshot_unref(cur);
	if (!m)
		m = endpoint_map_from_config(c, ++fs->endpoints_generation);
	if (!s || !m || (!t && !s->table)) {
		endpoint_map_unref(m);
		gw_snapshot_unref(s);
		return NULL;
	}
	gw_snapshot_set_config(s, c);
	gw_snapshot_set_endpoints(s, m);
	if (t)
		gw_snapshot_set_table(s, route_table_ref(t));
	return s;
}

static void k8s_changed(void *arg)
{
	struct file_source *fs = arg;
	pthread_mutex_lock(&fs->lock);
	fs->routes_changed = true;
	pthread_cond_signal(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

/* Kubernetes mode: connect, wait for the first complete lists, build the first table and endpoints. */
static int k8s_initial(struct file_source *fs, struct route_table **t, struct endpoint_map **m, char *why,
                       size_t why_cap)
{
	int rc = k8s_routes_new(fs->cur, k8s_changed, fs, &fs->k8s, why, why_cap);
	if (!rc)
		rc = k8s_routes_start(fs->k8s, why, why_cap);
	if (!rc && (rc = k8s_routes_build(fs->k8s, NULL, t, m, ++fs->endpoints_generation)) != 0)
		snprintf(why, why_cap, "cannot build the first routing table from the API server: %s",
		         fixgw_strerror(rc));
	if (fs->k8s) {
		gw_set_route_conflicts(fs->base.gw, k8s_routes_conflicts(fs->k8s));
		gw_set_loop_endpoints(fs->base.gw, k8s_routes_loop_endpoints(fs->k8s));
	}
	if (!rc)
		log_msg(LOG_INFO, "kubernetes_synced", &src_log, "%zu FIXSessions from %s",
		        route_table_count(*t), k8s_routes_origin(fs->k8s));
	return rc;
}

static int file_initial(struct gw_source *src, char *why, size_t why_cap)
{
	struct file_source *fs = (struct file_source *)src;
	struct route_table *t = NULL;
	struct endpoint_map *m = NULL;
	fs->signature = watch_signature(fs);
	if (fs->cur->kubernetes.enabled) {
		int rc = k8s_initial(fs, &t, &m, why, why_cap);
		if (rc)
			return rc;
	} else if (load_table(src->gw, fs->cur, &t, false, why, why_cap) != 0) {
		return FIXGW_EINVAL;
	}
	struct gw_snapshot *s = build(fs, fs->cur, t, m);
	route_table_unref(t);
	if (!s || gw_publish(src->gw, s) < 0) {
		snprintf(why, why_cap, "out of memory building the first snapshot");
		return FIXGW_ENOMEM;
	}
	return 0;
}

/* SIGHUP or a changed file: reload config, certificates, FIXSessions, endpoints. Anything invalid keeps
 * what runs now; live, held and orphaned connections are never touched. */
static void rebuild(struct file_source *fs, const char *cause)
{
	struct gateway *gw = fs->base.gw;
	struct gw_config *c = NULL;
	struct diag_list dl;
	char why[512];
	long delay_ms;
	if (fault_active("source_build_ms", &delay_ms) && delay_ms > 0) {
		/* test-only: a slow build (a huge FIXSession set), which must not hold up probes */
		struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	diag_list_init(&dl);
	/* Kubernetes mode stays on whether it came from the file or from --kubeconfig. */
	const struct gw_config_opts opts = {.kubeconfig =
	                                        fs->k8s ? gw_boot_config(gw)->kubernetes.kubeconfig : NULL};
	int err = gw_config_load_opts(fs->path, &opts, &c, &dl);
	if (err) {
		gw_log_diags(LOG_ERROR, "config_invalid", &dl);
		snprintf(why, sizeof(why), "config %s invalid (%zu errors); keeping the running config",
		         fs->path, dl.nerrors);
		diag_list_free(&dl);
		log_msg(LOG_ERROR, "reload_failed", &src_log, "%s", why);
		gw_publish_refused(gw, why);
		return;
	}
	gw_log_diags(LOG_WARN, "config_warning", &dl);
	diag_list_free(&dl);
	if (!same_listeners(gw_boot_config(gw), c))
		log_msg(
		    LOG_WARN, "listeners_changed", &src_log,
		    "listener names, addresses or TLS on/off changed: those take effect at the next restart");

	struct route_table *t = NULL;
	bool table_ok = fs->k8s || load_table(gw, c, &t, true, why, sizeof(why)) == 0;
	gw_reload_certificates(gw, c);
	struct gw_snapshot *s = NULL;
	if (fs->k8s) {
		struct gw_snapshot *cur = gw_snapshot_current(gw);
		struct endpoint_map *m = cur ? endpoint_map_ref(cur->endpoints) : NULL;
		gw_snapshot_unref(cur);
		if (m)
			s = build(fs, c, NULL, m);
	} else {
		s = build(fs, c, table_ok ? t : NULL, NULL);
	}
	route_table_unref(t);
	if (!s || gw_publish(gw, s) < 0) {
		gw_config_free(c);
		log_msg(LOG_ERROR, "reload_failed", &src_log, "out of memory building the snapshot");
		gw_publish_refused(gw, "out of memory building the snapshot; keeping the running config");
		return;
	}
	gw_config_free(fs->owned);
	fs->owned = c;
	fs->cur = c;
	if (fs->k8s) {
		log_msg(
		    LOG_INFO, "reloaded", &src_log,
		    "reloaded (%s): config and certificates; FIXSessions and endpoints follow the API server",
		    cause);
	} else if (table_ok) {
		gw_publish_clear_error(gw);
		log_msg(LOG_INFO, "reloaded", &src_log, "reloaded (%s): %zu FIXSessions", cause,
		        route_table_count(s->table));
	} else {
		log_msg(LOG_CRITICAL, "reload_blocked", &src_log, "reload (%s): %s", cause, why);
		gw_publish_refused(gw, why);
	}
}

/* Kubernetes mode: FIXSessions, Services or EndpointSlices changed. */
static void rebuild_routes(struct file_source *fs)
{
	struct gateway *gw = fs->base.gw;
	struct gw_snapshot *cur = gw_snapshot_current(gw);
	struct route_table *t = NULL;
	struct endpoint_map *m = NULL;
	int rc = k8s_routes_build(fs->k8s, cur ? cur->table : NULL, &t, &m, ++fs->endpoints_generation);
	gw_snapshot_unref(cur);
	gw_set_route_conflicts(gw, k8s_routes_conflicts(fs->k8s));
	gw_set_loop_endpoints(gw, k8s_routes_loop_endpoints(fs->k8s));
	if (rc) {
		log_msg(LOG_ERROR, "reload_failed", &src_log, "cannot rebuild from the API server: %s",
		        fixgw_strerror(rc));
		return;
	}
	struct gw_snapshot *s = build(fs, fs->cur, t, m);
	route_table_unref(t);
	if (!s || gw_publish(gw, s) < 0) {
		log_msg(LOG_ERROR, "reload_failed", &src_log, "out of memory building the snapshot");
		return;
	}
	if (t)
		log_msg(LOG_INFO, "routes_updated", &src_log, "%zu FIXSessions from %s", route_table_count(t),
		        k8s_routes_origin(fs->k8s));
}

static void *file_thread(void *arg)
{
	struct file_source *fs = arg;
	pthread_setname_np(pthread_self(), "fixgw-source");
	pthread_mutex_lock(&fs->lock);
	while (!fs->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += WATCH_INTERVAL_MS / 1000;
		while (!fs->stopping && !fs->triggered && !fs->routes_changed)
			if (pthread_cond_timedwait(&fs->cond, &fs->lock, &until) == ETIMEDOUT)
				break;
		if (fs->stopping)
			break;
		if (fs->routes_changed) {
			/* Let a burst settle (bounded: events arriving during the wait join this build). */
			struct timespec settle;
			clock_gettime(CLOCK_MONOTONIC, &settle);
			settle.tv_nsec += K8S_DEBOUNCE_MS * 1000000L;
			if (settle.tv_nsec >= 1000000000L) {
				settle.tv_sec++;
				settle.tv_nsec -= 1000000000L;
			}
			while (!fs->stopping &&
			       pthread_cond_timedwait(&fs->cond, &fs->lock, &settle) != ETIMEDOUT)
				;
		}
		if (fs->k8s && k8s_routes_pending(fs->k8s))
			fs->routes_changed = true; /* the published table was incomplete: look again */
		bool triggered = fs->triggered, routes_changed = fs->routes_changed;
		fs->triggered = false;
		fs->routes_changed = false;
		pthread_mutex_unlock(&fs->lock);
		if (routes_changed && fs->k8s)
			rebuild_routes(fs);
		uint64_t sig = watch_signature(fs);
		if (triggered || sig != fs->signature) {
			rebuild(fs, triggered ? "SIGHUP" : "file change");
			fs->signature = watch_signature(fs);
		}
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

static int file_start(struct gw_source *src)
{
	struct file_source *fs = (struct file_source *)src;
	int err = pthread_create(&fs->thread, NULL, file_thread, fs);
	if (err)
		return -err;
	fs->started = true;
	return 0;
}

static void file_trigger(struct gw_source *src)
{
	struct file_source *fs = (struct file_source *)src;
	pthread_mutex_lock(&fs->lock);
	fs->triggered = true;
	pthread_cond_signal(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

static void file_destroy(struct gw_source *src)
{
	struct file_source *fs = (struct file_source *)src;
	if (!fs)
		return;
	if (fs->started) {
		pthread_mutex_lock(&fs->lock);
		fs->stopping = true;
		pthread_cond_signal(&fs->cond);
		pthread_mutex_unlock(&fs->lock);
		pthread_join(fs->thread, NULL);
	}
	k8s_routes_free(fs->k8s);
	pthread_cond_destroy(&fs->cond);
	pthread_mutex_destroy(&fs->lock);
	gw_config_free(fs->owned);
	free(fs->path);
	free(fs);
}

static const struct gw_source_ops file_ops = {
    .name = "file",
    .initial = file_initial,
    .start = file_start,
    .trigger = file_trigger,
    .destroy = file_destroy,
};

int source_file_new(struct gateway *gw, const char *path, const struct gw_config *boot,
                    struct gw_source **out)
{
	struct file_source *fs = calloc(1, sizeof(*fs));
	if (!fs || !(fs->path = strdup(boot->path ? boot->path : path))) {
		free(fs);
		return -ENOMEM;
	}
	fs->base = (struct gw_source){.ops = &file_ops, .gw = gw};
	fs->cur = boot;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = &fs->base;
	return 0;
}
