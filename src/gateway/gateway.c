/* gateway.c - the gateway process: boot, hot reload (SIGHUP or a changed file), graceful shutdown.
 *
 * The main thread is the control thread: it owns the config, loads and compiles FIXSessions, swaps the
 * routing table and endpoint snapshot, serves the admin HTTP listener and handles signals. Workers only
 * ever see immutable, reference-counted snapshots.
 */
#include "gateway/gateway.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/errors.h"
#include "io/manifest_paths.h"
#include "gateway/admin.h"
#include "gateway/worker.h"
#include "telemetry/log.h"

#define WATCH_INTERVAL_MS 1000
#define DRAIN_POLL_MS     100

static const struct log_ctx ctl_log = {.component = "gateway"};

const char *gw_reject_reason_name(enum gw_reject_reason r)
{
	static const char *const names[] = {"no_match", "parse_failure", "target_unreachable", "hold_timeout",
	                                    "hold_cap_reached"};
	return r < GW_REJECT__COUNT ? names[r] : "?";
}

/* ---- snapshots for the workers ---- */

struct route_table *gateway_table(struct gateway *gw)
{
	pthread_mutex_lock(&gw->lock);
	struct route_table *t = route_table_ref(gw->table);
	pthread_mutex_unlock(&gw->lock);
	return t;
}

struct endpoint_map *gateway_endpoints(struct gateway *gw)
{
	pthread_mutex_lock(&gw->lock);
	struct endpoint_map *m = endpoint_map_ref(gw->endpoints);
	pthread_mutex_unlock(&gw->lock);
	return m;
}

bool gateway_reject_target(struct gateway *gw, struct net_addr *out)
{
	pthread_mutex_lock(&gw->lock);
	bool on = gw->reject_enabled;
	if (on)
		*out = gw->reject_addr;
	pthread_mutex_unlock(&gw->lock);
	return on;
}

/* ---- loading ---- */

static void apply_limits(struct gateway *gw, const struct gw_config *c)
{
	struct gw_limits *l = &gw->limits;
	atomic_store(&l->logon_timeout_ms, c->logon_timeout_ms);
	atomic_store(&l->max_logon_bytes, c->max_logon_bytes);
	atomic_store(&l->connect_timeout_ms, c->connect_timeout_ms);
	atomic_store(&l->idle_timeout_ms, c->idle_timeout_ms);
	atomic_store(&l->hold_timeout_ms, c->hold_timeout_ms);
	atomic_store(&l->max_held_per_process, c->max_held_per_process);
	atomic_store(&l->hold_release_per_sec, c->hold_release_per_sec);
	atomic_store(&l->max_connections, c->max_connections);
	atomic_store(&l->tcp_nodelay, c->tuning.tcp_nodelay);
	atomic_store(&l->busy_poll_us, c->tuning.busy_poll_us);
	enum log_level lvl = LOG_INFO;
	if (c->log_level)
		log_level_parse(c->log_level, &lvl);
	log_configure(lvl, 2);
}

/* Print diagnostics as log lines (one per problem). */
static void log_diags(enum log_level lvl, const char *event, const struct diag_list *dl)
{
	for (size_t i = 0; i < dl->count; i++) {
		const struct diag *d = &dl->items[i];
		struct log_line l;
		log_begin(&l, d->severity == DIAG_ERROR ? lvl : LOG_WARN, event, &ctl_log);
		log_str(&l, "file", d->file);
		if (d->line)
			log_uint(&l, "line", d->line);
		log_str(&l, "field", d->path);
		log_end(&l, "%s", d->message);
	}
}

/* Load and compile the FIXSessions of c. On failure nothing changes and *why says what went wrong. */
static int load_table(const struct gw_config *c, struct route_table **out, char *why, size_t why_cap)
{
	struct route_set set;
	struct diag_list dl;
	route_set_init(&set);
	diag_list_init(&dl);
	*out = NULL;
	int err = manifest_paths_load((const char *const *)c->route_paths, c->nroute_paths, &set, &dl);
	if (!err)
		err = route_table_compile(&set, &dl, out);
	if (err == FIXGW_ECONFLICT) {
		log_diags(LOG_CRITICAL, "route_conflict", &dl);
		snprintf(why, why_cap, "FIXSession conflicts (%zu); keeping the last-known-good table",
		         dl.nerrors);
	} else if (err) {
		log_diags(LOG_ERROR, "route_invalid", &dl);
		snprintf(why, why_cap,
		         "invalid FIXSession manifests (%zu errors); keeping the last-known-good table",
		         dl.nerrors);
	} else {
		log_diags(LOG_WARN, "route_warning", &dl);
	}
	diag_list_free(&dl);
	route_set_free(&set);
	return err;
}

static void notify_workers(struct gateway *gw, void (*fn)(void *))
{
	for (unsigned i = 0; i < gw->nworkers; i++)
		reactor_post(&gw->workers[i].reactor, fn, &gw->workers[i]);
}

/* Swap in a new table and endpoints; the old ones go when the last connection using them lets go. */
static void install(struct gateway *gw, struct route_table *t, struct endpoint_map *m,
                    const struct gw_config *c)
{
	pthread_mutex_lock(&gw->lock);
	struct route_table *old_t = gw->table;
	struct endpoint_map *old_m = gw->endpoints;
	if (t)
		gw->table = t;
	gw->endpoints = m;
	gw->reject_enabled = c->reject_enabled;
	gw->reject_addr = c->reject_addr;
	pthread_mutex_unlock(&gw->lock);
	if (t) {
		route_registry_sync(&gw->routes, t);
		route_table_unref(old_t);
	}
	endpoint_map_unref(old_m);
}

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

/* Certificate expiry is an outage waiting to happen: say so at boot and on every reload, loudly when
 * close. Levels: ERROR when expired, WARN within 30 days, INFO otherwise. */
static void log_cert_expiry(struct gateway *gw)
{
	time_t now = time(NULL);
	for (size_t i = 0; i < gw->nlisteners; i++) {
		if (!gw->listeners[i].tls)
			continue;
		time_t not_after[TLS_MAX_CERTS];
		size_t n = tls_server_cert_expiry(gw->listeners[i].tls, not_after, TLS_MAX_CERTS);
		for (size_t k = 0; k < n && k < TLS_MAX_CERTS; k++) {
			double days = difftime(not_after[k], now) / 86400.0;
			const struct tls_cert_config *cc = &gw->listeners[i].cfg->tls.certs[k];
			struct log_line l;
			log_begin(&l,
			          days < 0    ? LOG_ERROR
			          : days < 30 ? LOG_WARN
			                      : LOG_INFO,
			          "tls_cert_expiry", &ctl_log);
			log_str(&l, "listener", gw->listeners[i].cfg->name);
			log_str(&l, "cert_file", cc->cert_file);
			log_str(&l, "server_name", cc->server_name);
			log_int(&l, "not_after_unix", (int64_t)not_after[k]);
			log_int(&l, "days_left", (int64_t)days);
			log_end(&l, days < 0 ? "certificate has expired" : "certificate expires in %d days",
			        (int)days);
		}
	}
}

static void reload_tls(struct gateway *gw, const struct gw_config *c)
{
	for (size_t i = 0; i < gw->nlisteners && i < c->nlisteners; i++) {
		if (!gw->listeners[i].tls)
			continue;
		struct diag_list dl;
		diag_list_init(&dl);
		if (tls_server_reload(gw->listeners[i].tls, &c->listeners[i].tls, &dl) < 0)
			log_diags(LOG_ERROR, "tls_reload_failed", &dl);
		diag_list_free(&dl);
	}
	log_cert_expiry(gw);
}

/* SIGHUP or a changed file: reload config, certificates, FIXSessions, endpoints. Anything invalid keeps
 * what runs now; live, held and orphaned connections are never touched. */
static void reload(struct gateway *gw, const char *cause)
{
	struct gw_config *c = NULL;
	struct diag_list dl;
	diag_list_init(&dl);
	int err = gw_config_load(gw->boot_cfg->path, &c, &dl);
	if (err) {
		log_diags(LOG_ERROR, "config_invalid", &dl);
		snprintf(gw->last_reload_error, sizeof(gw->last_reload_error),
		         "config %s invalid (%zu errors); keeping the running config", gw->boot_cfg->path,
		         dl.nerrors);
		log_msg(LOG_ERROR, "reload_failed", &ctl_log, "%s", gw->last_reload_error);
		diag_list_free(&dl);
		return;
	}
	log_diags(LOG_WARN, "config_warning", &dl);
	diag_list_free(&dl);
	if (!same_listeners(gw->boot_cfg, c))
		log_msg(
		    LOG_WARN, "listeners_changed", &ctl_log,
		    "listener names, addresses or TLS on/off changed: those take effect at the next restart");

	char why[256] = "";
	struct route_table *t = NULL;
	bool table_ok = load_table(c, &t, why, sizeof(why)) == 0;
	struct endpoint_map *m = endpoint_map_from_config(c, ++gw->endpoints_generation);
	if (!m) {
		route_table_unref(t);
		gw_config_free(c);
		log_msg(LOG_ERROR, "reload_failed", &ctl_log, "out of memory building the endpoint snapshot");
		return;
	}
	apply_limits(gw, c);
	reload_tls(gw, c);
	install(gw, table_ok ? t : NULL, m, c);
	if (gw->cfg != gw->boot_cfg)
		gw_config_free(gw->cfg);
	gw->cfg = c;
	gw->last_reload_unix_ms = (uint64_t)time(NULL) * 1000u;
	snprintf(gw->last_reload_error, sizeof(gw->last_reload_error), "%s", table_ok ? "" : why);
	if (table_ok)
		log_msg(LOG_INFO, "reloaded", &ctl_log, "reloaded (%s): %zu FIXSessions", cause,
		        route_table_count(t));
	else
		log_msg(LOG_CRITICAL, "reload_blocked", &ctl_log, "reload (%s): %s", cause, why);
	notify_workers(gw, worker_endpoints_changed);
}

/* ---- file watching: a signature of (path, inode, size, mtime) over the config and route files ---- */

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

static uint64_t watch_signature(const struct gateway *gw)
{
	uint64_t h = sig_path(0, gw->boot_cfg->path, 0);
	for (size_t i = 0; i < gw->cfg->nroute_paths; i++)
		h = sig_path(h, gw->cfg->route_paths[i], 0);
	for (size_t i = 0; i < gw->cfg->nlisteners; i++)
		for (size_t k = 0; k < gw->cfg->listeners[i].tls.ncerts; k++) {
			h = sig_path(h, gw->cfg->listeners[i].tls.certs[k].cert_file, 0);
			h = sig_path(h, gw->cfg->listeners[i].tls.certs[k].key_file, 0);
		}
	return h;
}

struct control {
	struct gateway *gw;
	struct reactor_io sigio;
	struct reactor_timer watch, drain;
	uint64_t signature;
	uint64_t drain_deadline_ms;
	int exit_code;
	bool draining;
};

static void on_watch(struct reactor_timer *t)
{
	struct control *ctl = (struct control *)((char *)t - offsetof(struct control, watch));
	uint64_t sig = watch_signature(ctl->gw);
	if (sig != ctl->signature) {
		reload(ctl->gw, "file change");
		ctl->signature = watch_signature(ctl->gw);
	}
	if (!ctl->draining)
		reactor_timer_arm(&ctl->gw->control, &ctl->watch, WATCH_INTERVAL_MS);
}

static void on_drain_tick(struct reactor_timer *t)
{
	struct control *ctl = (struct control *)((char *)t - offsetof(struct control, drain));
	struct gateway *gw = ctl->gw;
	int active = atomic_load(&gw->counters.active_connections);
	if (active == 0 || reactor_now(&gw->control) >= ctl->drain_deadline_ms) {
		if (active)
			log_msg(LOG_WARN, "drain_timeout", &ctl_log,
			        "grace period over: closing %d remaining connection%s", active,
			        active == 1 ? "" : "s");
		notify_workers(gw, worker_close_all);
		reactor_stop(&gw->control);
		return;
	}
	reactor_timer_arm(&gw->control, &ctl->drain, DRAIN_POLL_MS);
}

static void begin_shutdown(struct control *ctl, const char *sig)
{
	struct gateway *gw = ctl->gw;
	if (ctl->draining) {
		log_msg(LOG_WARN, "shutdown_now", &ctl_log, "second %s: closing every connection now", sig);
		ctl->drain_deadline_ms = 0;
		on_drain_tick(&ctl->drain);
		return;
	}
	ctl->draining = true;
	atomic_store(&gw->draining, true);
	reactor_timer_cancel(&gw->control, &ctl->watch);
	uint32_t grace = gw->cfg->shutdown_grace_ms;
	log_msg(LOG_INFO, "draining", &ctl_log,
	        "%s: no longer accepting; letting %d connection%s drain for up to %u ms", sig,
	        atomic_load(&gw->counters.active_connections),
	        atomic_load(&gw->counters.active_connections) == 1 ? "" : "s", grace);
	notify_workers(gw, worker_begin_drain);
	ctl->drain_deadline_ms = reactor_now(&gw->control) + grace;
	reactor_timer_arm(&gw->control, &ctl->drain, 0);
}

static void on_signal(struct reactor_io *io, uint32_t events)
{
	struct control *ctl = (struct control *)((char *)io - offsetof(struct control, sigio));
	struct signalfd_siginfo si;
	(void)events;
	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload(ctl->gw, "SIGHUP");
		else
			begin_shutdown(ctl, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	}
}

/* ---- boot ---- */

static int boot_listeners(struct gateway *gw)
{
	const struct gw_config *c = gw->boot_cfg;
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct gw_listener *l = &gw->listeners[gw->nlisteners++];
		l->cfg = &c->listeners[i];
		l->shared_fd = -1;
		if (c->listeners[i].tls.enabled) {
			struct diag_list dl;
			diag_list_init(&dl);
			int err = tls_server_new(c->listeners[i].name, &c->listeners[i].tls, &l->tls, &dl);
			log_diags(LOG_CRITICAL, "tls_config_invalid", &dl);
			diag_list_free(&dl);
			if (err)
				return err;
		}
		/* SO_REUSEPORT would let a second gateway on the same port silently take half the traffic:
		 * make sure the address is free first, with a plain bind. */
		int probe = net_listen(&c->listeners[i].addr, false, 1);
		if (probe < 0) {
			log_msg(LOG_CRITICAL, "listen_failed", &ctl_log, "cannot listen on %s (%s): %s",
			        c->listeners[i].addr.text, c->listeners[i].name, strerror(-probe));
			return probe;
		}
		close(probe);
		if (!c->tuning.reuse_port) {
			l->shared_fd = net_listen(&c->listeners[i].addr, false, 1024);
			if (l->shared_fd < 0) {
				log_msg(LOG_CRITICAL, "listen_failed", &ctl_log,
				        "cannot listen on %s (%s): %s", c->listeners[i].addr.text,
				        c->listeners[i].name, strerror(-l->shared_fd));
				return l->shared_fd;
			}
		}
	}
	return 0;
}

static void free_gateway(struct gateway *gw)
{
	for (size_t i = 0; i < gw->nlisteners; i++) {
		tls_server_free(gw->listeners[i].tls);
		if (gw->listeners[i].shared_fd >= 0)
			close(gw->listeners[i].shared_fd);
	}
	route_table_unref(gw->table);
	endpoint_map_unref(gw->endpoints);
	route_registry_fini(&gw->routes);
	if (gw->cfg != gw->boot_cfg)
		gw_config_free(gw->cfg);
	gw_config_free(gw->boot_cfg);
	pthread_mutex_destroy(&gw->lock);
}

int gateway_main(const char *config_path)
{
	static struct gateway gw_storage; /* one per process; static keeps it off the stack */
	struct gateway *gw = &gw_storage;
	struct control ctl = {.gw = gw, .exit_code = 0};
	struct diag_list dl;
	int rc = 2;

	pthread_mutex_init(&gw->lock, NULL);
	route_registry_init(&gw->routes);
	diag_list_init(&dl);
	if (gw_config_load(config_path, &gw->boot_cfg, &dl) != 0) {
		diag_print(&dl, stderr);
		diag_list_free(&dl);
		fprintf(stderr, "fixgw gateway: %s is not a valid configuration\n", config_path);
		route_registry_fini(&gw->routes);
		return 2;
	}
	diag_print(&dl, stderr); /* warnings */
	diag_list_free(&dl);
	gw->cfg = gw->boot_cfg;
	apply_limits(gw, gw->cfg);

	char why[256];
	struct route_table *t;
	if (load_table(gw->cfg, &t, why, sizeof(why)) != 0) {
		log_msg(LOG_CRITICAL, "boot_failed", &ctl_log, "cannot start: %s", why);
		free_gateway(gw);
		return 2;
	}
	struct endpoint_map *m = endpoint_map_from_config(gw->cfg, ++gw->endpoints_generation);
	if (!m) {
		route_table_unref(t);
		free_gateway(gw);
		return 2;
	}
	install(gw, t, m, gw->cfg);

	/* Signals are read from a signalfd on the control thread; block them everywhere first. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (reactor_init(&gw->control) < 0 || boot_listeners(gw) < 0)
		goto out;
	gw->nworkers = gw->cfg->workers;
	gw->workers = calloc(gw->nworkers, sizeof(*gw->workers));
	if (!gw->workers)
		goto out;
	for (unsigned i = 0; i < gw->nworkers; i++)
		if (worker_init(&gw->workers[i], gw, i) < 0)
			goto out_workers;
	struct admin_server *admin = NULL;
	if (gw->cfg->admin_addr.len && admin_start(gw, &gw->control, &gw->cfg->admin_addr, &admin) < 0)
		goto out_workers;

	ctl.sigio =
	    (struct reactor_io){.fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC), .on_event = on_signal};
	ctl.watch.on_timer = on_watch;
	ctl.drain.on_timer = on_drain_tick;
	ctl.signature = watch_signature(gw);
	if (ctl.sigio.fd < 0 || reactor_add(&gw->control, &ctl.sigio, EPOLLIN) < 0)
		goto out_admin;
	reactor_timer_arm(&gw->control, &ctl.watch, WATCH_INTERVAL_MS);

	for (unsigned i = 0; i < gw->nworkers; i++)
		if (worker_start(&gw->workers[i]) < 0)
			goto out_admin;
	gw->ready = true;
	log_cert_expiry(gw);
	{
		struct log_line l;
		log_begin(&l, LOG_INFO, "started", &ctl_log);
		log_uint(&l, "workers", gw->nworkers);
		log_uint(&l, "fixsessions", route_table_count(gw->table));
		for (size_t i = 0; i < gw->nlisteners; i++)
			log_str(&l, gw->listeners[i].cfg->name, gw->listeners[i].cfg->addr.text);
		log_end(&l, "fixgw gateway %s listening", FIXGW_VERSION);
	}
	reactor_run(&gw->control);
	for (unsigned i = 0; i < gw->nworkers; i++)
		pthread_join(gw->workers[i].thread, NULL);
	log_msg(LOG_INFO, "stopped", &ctl_log, "fixgw gateway stopped");
	rc = ctl.exit_code;
out_admin:
	if (ctl.sigio.fd > 0)
		close(ctl.sigio.fd);
	admin_stop(admin);
out_workers:
	for (unsigned i = 0; i < gw->nworkers; i++)
		worker_fini(&gw->workers[i]);
	free(gw->workers);
out:
	reactor_fini(&gw->control);
	free_gateway(gw);
	return rc;
}
