/* gateway.c - the gateway process: boot, the snapshot publication, statistics, graceful shutdown.
 *
 * Threads: the main thread becomes the control thread (signals, admin HTTP, worker liveness pings,
 * drain); the workers serve connections (worker.c, session.c); the source builds snapshots on its own
 * thread (source.h) and publishes them here. Workers only ever read immutable snapshots, each its own
 * reference, taken on its own thread when told a new one exists.
 */
#include "gateway/gateway.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/errors.h"
#include "io/manifest_paths.h"
#include "gateway/admin.h"
#include "gateway/gateway_impl.h"
#include "gateway/telemetry.h"
#include "telemetry/log.h"
#include "io/diag_print.h"

#define DRAIN_POLL_MS    100
#define PING_INTERVAL_MS 1000
#define OTLP_SHUTDOWN_MS 5000 /* what is still queued for the collector gets this long at exit */

static const struct log_ctx ctl_log = {.component = "gateway"};

const char *gw_reject_reason_name(enum gw_reject_reason r)
{
	static const char *const names[] = {"no_match", "parse_failure", "target_unreachable", "hold_timeout",
	                                    "hold_cap_reached"};
	return r < GW_REJECT__COUNT ? names[r] : "?";
}

static uint64_t unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- publication (source.h) ---- */

struct gw_snapshot *gw_snapshot_current(struct gateway *gw)
{
	pthread_mutex_lock(&gw->lock);
	struct gw_snapshot *s = gw_snapshot_ref(gw->snap);
	pthread_mutex_unlock(&gw->lock);
	return s;
}

const struct gw_config *gw_boot_config(const struct gateway *gw)
{
	return gw->boot_cfg;
}

static void notify_workers(struct gateway *gw, void (*fn)(void *))
{
	for (unsigned i = 0; i < gw->nworkers; i++)
		reactor_post(&gw->workers[i].reactor, fn, &gw->workers[i]);
}

int gw_publish(struct gateway *gw, struct gw_snapshot *snap)
{
	if (!snap->table || !snap->endpoints) {
		gw_snapshot_unref(snap);
		return -EINVAL;
	}
	size_t n = route_table_count(snap->table);
	pthread_mutex_lock(&gw->publish_lock);
	if (!snap->stats && n && !(snap->stats = calloc(n, sizeof(*snap->stats)))) {
		pthread_mutex_unlock(&gw->publish_lock);
		gw_snapshot_unref(snap);
		return -ENOMEM;
	}
	/* A record that could not be allocated leaves that route uncounted, nothing worse. */
	route_registry_sync(&gw->routes, snap->table, snap->stats);
	for (size_t i = 0; i < gw->nlisteners; i++)
		if (gw->listeners[i].tls && !snap->tls[i])
			snap->tls[i] = tls_server_ctx_ref(gw->listeners[i].tls);
	snap->generation = ++gw->generation;
	log_set_level(snap->log_level);

	pthread_mutex_lock(&gw->lock);
	struct gw_snapshot *old = gw->snap;
	gw->snap = snap;
	pthread_mutex_unlock(&gw->lock);
	atomic_fetch_add(&gw->publish_count, 1);
	atomic_store(&gw->last_publish_unix_ms, unix_ms());
	notify_workers(gw, worker_snapshot_changed);
	pthread_mutex_unlock(&gw->publish_lock);
	gw_snapshot_unref(old);
	return 0;
}

void gw_publish_refused(struct gateway *gw, const char *why)
{
	atomic_fetch_add(&gw->publish_failures, 1);
	pthread_mutex_lock(&gw->lock);
	snprintf(gw->last_reload_error, sizeof(gw->last_reload_error), "%s", why ? why : "");
	pthread_mutex_unlock(&gw->lock);
}

void gw_publish_clear_error(struct gateway *gw)
{
	pthread_mutex_lock(&gw->lock);
	gw->last_reload_error[0] = '\0';
	pthread_mutex_unlock(&gw->lock);
}

void gw_set_route_conflicts(struct gateway *gw, size_t n)
{
	atomic_store(&gw->route_conflicts, n);
}

void gw_set_loop_endpoints(struct gateway *gw, size_t n)
{
	atomic_store(&gw->loop_endpoints, n);
}

void gw_last_reload_error(struct gateway *gw, char *out, size_t cap)
{
	pthread_mutex_lock(&gw->lock);
	snprintf(out, cap, "%s", gw->last_reload_error);
	pthread_mutex_unlock(&gw->lock);
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

void gw_reload_certificates(struct gateway *gw, const struct gw_config *c)
{
	for (size_t i = 0; i < gw->nlisteners; i++) {
		if (!gw->listeners[i].tls)
			continue;
		struct diag_list dl;
		diag_list_init(&dl);
		const struct tls_config *tc = c && i < c->nlisteners ? &c->listeners[i].tls : NULL;
		if (tls_server_reload(gw->listeners[i].tls, tc, &dl) < 0)
			gw_log_diags(LOG_ERROR, "tls_reload_failed", &dl);
		diag_list_free(&dl);
	}
	log_cert_expiry(gw);
}

/* ---- statistics (gateway.h) ---- */

int64_t gw_active_connections(struct gateway *gw)
{
	int64_t n = 0;
	for (unsigned i = 0; i < gw->nworkers; i++)
		n += atomic_load_explicit(&gw->workers[i].stats.active_connections, memory_order_relaxed);
	return n;
}

#define SUM(field) out->field += atomic_load_explicit(&st->field, memory_order_relaxed)

void gw_stats_read(struct gateway *gw, struct gw_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned w = 0; w < gw->nworkers; w++) {
		const struct gw_worker_stats *st = &gw->workers[w].stats;
		SUM(accepted);
		SUM(active_connections);
		for (int i = 0; i < GW_REJECT__COUNT; i++)
			SUM(rejections[i]);
		SUM(reject_engine_connections);
		SUM(default_routed);
		SUM(tls_failures);
		for (int i = 0; i < TLS_FAIL__COUNT; i++)
			SUM(tls_failures_by[i]);
		SUM(loops_refused);
		SUM(bytes_from_clients);
		SUM(bytes_to_clients);
		for (int i = 0; i < GW_EVAL_BUCKETS; i++)
			SUM(eval_latency[i]);
		SUM(eval_count);
		SUM(eval_ns_total);
	}
	out->held_connections = atomic_load(&gw->held_connections);
	out->admin_refused = atomic_load(&gw->admin_refused);
	out->log_lines_dropped = log_dropped_total();
	out->publish_count = atomic_load(&gw->publish_count);
	out->publish_failures = atomic_load(&gw->publish_failures);
	out->last_publish_unix_ms = atomic_load(&gw->last_publish_unix_ms);
	struct gw_snapshot *s = gw_snapshot_current(gw);
	out->snapshot_generation = s ? s->generation : 0;
	out->max_held = s ? s->limits.max_held_per_process : 0;
	out->route_conflicts = atomic_load(&gw->route_conflicts);
	out->loop_endpoints = atomic_load(&gw->loop_endpoints);
	gw_snapshot_unref(s);
	out->workers = gw->nworkers;
}

#undef SUM

void gw_route_stats_foreach(struct gateway *gw, void (*fn)(const struct gw_route_stats *st, void *arg),
                            void *arg)
{
	route_registry_foreach(&gw->routes, fn, arg);
}

void gw_cert_expiry_foreach(struct gateway *gw, void (*fn)(const char *listener, time_t not_after, void *arg),
                            void *arg)
{
	for (size_t i = 0; i < gw->nlisteners; i++) {
		if (!gw->listeners[i].tls)
			continue;
		time_t not_after[TLS_MAX_CERTS];
		size_t n = tls_server_cert_expiry(gw->listeners[i].tls, not_after, TLS_MAX_CERTS);
		if (n == 0)
			continue;
		time_t first = not_after[0];
		for (size_t k = 1; k < n && k < TLS_MAX_CERTS; k++)
			if (not_after[k] < first)
				first = not_after[k];
		fn(gw->listeners[i].cfg->name, first, arg);
	}
}

/* ---- worker liveness ---- */

bool gw_workers_stuck(struct gateway *gw, char *why, size_t cap)
{
	uint64_t now = reactor_clock_ms();
	for (unsigned i = 0; i < gw->nworkers_running; i++) {
		struct gw_worker *w = &gw->workers[i];
		uint64_t ping = atomic_load_explicit(&w->ping_ms, memory_order_relaxed);
		uint64_t pong = atomic_load_explicit(&w->pong_ms, memory_order_relaxed);
		if (ping != pong && now > ping && now - ping > GW_WORKER_STALL_MS) {
			snprintf(why, cap, "worker %u has not turned its event loop for %llu ms", i,
			         (unsigned long long)(now - ping));
			return true;
		}
	}
	return false;
}

/* ---- the control thread ---- */

struct control {
	struct gateway *gw;
	struct reactor_io sigio;
	struct reactor_timer ping, drain;
	uint64_t drain_deadline_ms;
	int exit_code;
	bool draining;
	bool stuck_logged;
};

/* Ask every worker that answered its last ping to answer a new one (a stuck worker gets no more posts:
 * its queue would only grow). */
static void on_ping(struct reactor_timer *t)
{
	struct control *ctl = (struct control *)((char *)t - offsetof(struct control, ping));
	struct gateway *gw = ctl->gw;
	uint64_t now = reactor_clock_ms();
	for (unsigned i = 0; i < gw->nworkers_running; i++) {
		struct gw_worker *w = &gw->workers[i];
		if (atomic_load(&w->ping_ms) != atomic_load(&w->pong_ms))
			continue;
		atomic_store(&w->ping_ms, now);
		reactor_post(&w->reactor, worker_ping, w);
	}
	char why[128];
	bool stuck = gw_workers_stuck(gw, why, sizeof(why));
	if (stuck && !ctl->stuck_logged)
		log_msg(LOG_CRITICAL, "worker_stuck", &ctl_log, "%s: /healthz fails until it does", why);
	else if (!stuck && ctl->stuck_logged)
		log_msg(LOG_INFO, "worker_recovered", &ctl_log,
		        "every worker is turning its event loop again");
	ctl->stuck_logged = stuck;
	reactor_timer_arm(&gw->control, &ctl->ping, PING_INTERVAL_MS);
}

static void on_drain_tick(struct reactor_timer *t)
{
	struct control *ctl = (struct control *)((char *)t - offsetof(struct control, drain));
	struct gateway *gw = ctl->gw;
	int64_t active = gw_active_connections(gw);
	if (active == 0 || reactor_now(&gw->control) >= ctl->drain_deadline_ms) {
		if (active)
			log_msg(LOG_WARN, "drain_timeout", &ctl_log,
			        "grace period over: closing %lld remaining connection%s", (long long)active,
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
	struct gw_snapshot *s = gw_snapshot_current(gw);
	uint32_t grace = s->limits.shutdown_grace_ms;
	gw_snapshot_unref(s);
	int64_t active = gw_active_connections(gw);
	log_msg(LOG_INFO, "draining", &ctl_log,
	        "%s: no longer accepting; letting %lld connection%s drain for up to %u ms", sig,
	        (long long)active, active == 1 ? "" : "s", grace);
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
			ctl->gw->source->ops->trigger(ctl->gw->source); /* built on the source's thread */
		else
			begin_shutdown(ctl, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	}
}

/* ---- boot ---- */

/* SO_REUSEPORT would let a second gateway on the same port silently take half the traffic: make sure
 * the address is free first, with a plain bind. Returns 0 or -errno. */
static int probe_bind(const struct net_addr *a)
{
	int fd = net_listen(a, false, 1);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int boot_listeners(struct gateway *gw)
{
	const struct gw_config *c = gw->boot_cfg;
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct gw_listener *l = &gw->listeners[gw->nlisteners++];
		l->cfg = &c->listeners[i];
		l->shared_fd = -1;
		l->index = (unsigned)i;
		if (c->listeners[i].tls.enabled) {
			struct diag_list dl;
			diag_list_init(&dl);
			int err = tls_server_new(c->listeners[i].name, &c->listeners[i].tls, &l->tls, &dl);
			gw_log_diags(LOG_CRITICAL, "tls_config_invalid", &dl);
			diag_list_free(&dl);
			if (err)
				return err;
		}
		int err = probe_bind(&c->listeners[i].addr);
		if (err == 0 && !c->tuning.reuse_port)
			err = l->shared_fd = net_listen(&c->listeners[i].addr, false, 1024);
		if (err < 0) {
			log_msg(LOG_CRITICAL, "listen_failed", &ctl_log, "cannot listen on %s (%s): %s",
			        c->listeners[i].addr.text, c->listeners[i].name, strerror(-err));
			return err;
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
	gw_snapshot_unref(gw->snap);
	gw->snap = NULL;
	route_registry_fini(&gw->routes);
	gw_config_free(gw->boot_cfg);
	pthread_mutex_destroy(&gw->lock);
	pthread_mutex_destroy(&gw->publish_lock);
}

/* The `started` line: listeners as an array of objects (names are data, not keys). */
static void log_started(struct gateway *gw)
{
	char ls[2048];
	size_t n = 0;
	ls[n++] = '[';
	for (size_t i = 0; i < gw->nlisteners && n + 256 < sizeof(ls); i++) {
		const struct gw_listener_config *c = gw->listeners[i].cfg;
		n += (size_t)snprintf(ls + n, sizeof(ls) - n, "%s{\"name\":", i ? "," : "");
		n += log_json_escape(ls + n, sizeof(ls) - n - 2, c->name, strlen(c->name));
		n += (size_t)snprintf(ls + n, sizeof(ls) - n, ",\"address\":");
		n += log_json_escape(ls + n, sizeof(ls) - n - 2, c->addr.text, strlen(c->addr.text));
		n += (size_t)snprintf(ls + n, sizeof(ls) - n, ",\"tls\":%s}",
		                      c->tls.enabled ? "true" : "false");
	}
	ls[n++] = ']';
	ls[n] = '\0';
	struct log_line l;
	log_begin(&l, LOG_INFO, "started", &ctl_log);
	log_uint(&l, "workers", gw->nworkers);
	/* the source thread may publish meanwhile (Kubernetes mode: a FIXSession change at startup) */
	struct gw_snapshot *snap = gw_snapshot_current(gw);
	log_uint(&l, "fixsessions", snap ? route_table_count(snap->table) : 0);
	gw_snapshot_unref(snap);
	log_raw(&l, "listeners", ls);
	log_end(&l, "fixgw gateway %s listening", FIXGW_VERSION);
}

/* Stop the workers that started, then free every worker (started or not, initialised or not). */
static void stop_workers(struct gateway *gw)
{
	for (unsigned i = 0; i < gw->nworkers_running; i++)
		worker_stop(&gw->workers[i]);
	gw->nworkers_running = 0;
}

static void fini_workers(struct gateway *gw)
{
	for (unsigned i = 0; i < gw->nworkers; i++)
		worker_fini(&gw->workers[i]);
	free(gw->workers);
	gw->workers = NULL;
	gw->nworkers = 0;
}

int gateway_main(const char *config_path, const struct gw_config_opts *opts)
{
	static struct gateway gw_storage; /* one per process; static keeps it off the stack */
	struct gateway *gw = &gw_storage;
	struct control ctl = {.gw = gw, .exit_code = 0, .sigio = {.fd = -1}};
	struct admin_http *admin = NULL;
	struct diag_list dl;
	char why[512];
	int rc = 2;

	diag_list_init(&dl);
	if (gw_config_load_opts(config_path, opts, &gw->boot_cfg, &dl) != 0) {
		diag_print(&dl, stderr);
		diag_list_free(&dl);
		fprintf(stderr, "fixgw gateway: %s is not a valid configuration\n", config_path);
		return 2;
	}
	diag_print(&dl, stderr); /* warnings */
	diag_list_free(&dl);
	pthread_mutex_init(&gw->lock, NULL);
	pthread_mutex_init(&gw->publish_lock, NULL);
	route_registry_init(&gw->routes, gw->boot_cfg->workers);
	{
		enum log_level lvl = LOG_INFO;
		if (gw->boot_cfg->log_level)
			log_level_parse(gw->boot_cfg->log_level, &lvl);
		log_configure(lvl, 2);
	}

	/* Signals are read from a signalfd on the control thread; block them everywhere first. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (reactor_init(&gw->control) < 0)
		goto out_gateway;
	if (boot_listeners(gw) < 0)
		goto out_control;
	if (source_file_new(gw, config_path, gw->boot_cfg, &gw->source) < 0)
		goto out_control;
	if (gw->source->ops->initial(gw->source, why, sizeof(why)) < 0) {
		log_msg(LOG_CRITICAL, "boot_failed", &ctl_log, "cannot start: %s", why);
		goto out_source;
	}

	rc = 1; /* from here on a failure is the system's, not the configuration's */
	gw->workers = calloc(gw->boot_cfg->workers, sizeof(*gw->workers));
	if (!gw->workers)
		goto out_source;
	gw->nworkers = gw->boot_cfg->workers;
	for (unsigned i = 0; i < gw->nworkers; i++) {
		int err = worker_init(&gw->workers[i], gw, i);
		if (err < 0) {
			log_msg(LOG_CRITICAL, "boot_failed", &ctl_log, "cannot start: worker %u: %s", i,
			        strerror(-err));
			goto out_workers;
		}
	}
	/* After worker_init (its thread reads the workers' counters at once), before the worker threads
	 * start (they read w->otlp from then on). */
	if (otlp_config_enabled(&gw->boot_cfg->telemetry)) {
		int err = otlp_exporter_create(&gw->boot_cfg->telemetry, &gw->otlp);
		if (err < 0) {
			log_msg(LOG_CRITICAL, "boot_failed", &ctl_log, "cannot start the OTLP exporter: %s",
			        fixgw_strerror(err));
			goto out_workers;
		}
		otlp_exporter_add_collector(gw->otlp, gw_telemetry_collect, gw);
		otlp_log_bridge_start(gw->otlp); /* log lines as log records too, when logs are on */
		for (unsigned i = 0; i < gw->nworkers; i++)
			gw->workers[i].otlp = gw->otlp;
	}
	if (gw->boot_cfg->admin_addr.len &&
	    admin_start(gw, &gw->control, &gw->boot_cfg->admin_addr, &admin) < 0)
		goto out_workers;

	ctl.sigio =
	    (struct reactor_io){.fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC), .on_event = on_signal};
	ctl.ping.on_timer = on_ping;
	ctl.drain.on_timer = on_drain_tick;
	if (ctl.sigio.fd < 0 || reactor_add(&gw->control, &ctl.sigio, EPOLLIN) < 0 ||
	    reactor_timer_arm(&gw->control, &ctl.ping, PING_INTERVAL_MS) < 0)
		goto out_admin;

	for (unsigned i = 0; i < gw->nworkers; i++) {
		int err = worker_start(&gw->workers[i]);
		if (err < 0) {
			log_msg(LOG_CRITICAL, "boot_failed", &ctl_log, "cannot start worker thread %u: %s", i,
			        strerror(-err));
			goto out_threads;
		}
		gw->nworkers_running++;
	}
	if (gw->source->ops->start(gw->source) < 0) {
		log_msg(LOG_CRITICAL, "boot_failed", &ctl_log, "cannot start the %s source's thread",
		        gw->source->ops->name);
		goto out_threads;
	}
	atomic_store(&gw->ready, true);
	log_cert_expiry(gw);
	log_started(gw);
	reactor_run(&gw->control);
	gw->source->ops->destroy(gw->source); /* no more publishes */
	gw->source = NULL;
	for (unsigned i = 0; i < gw->nworkers_running; i++)
		pthread_join(gw->workers[i].thread, NULL);
	gw->nworkers_running = 0;
	log_msg(LOG_INFO, "stopped", &ctl_log, "fixgw gateway stopped");
	rc = ctl.exit_code;
out_threads:
	stop_workers(gw);
out_admin:
	if (ctl.sigio.fd >= 0)
		close(ctl.sigio.fd);
	admin_http_stop(admin);
out_workers:
	if (gw->otlp)
		otlp_log_bridge_stop(); /* every thread that logs has stopped: the exporter may go */
	otlp_exporter_destroy(gw->otlp, OTLP_SHUTDOWN_MS); /* after the workers: their spans are queued */
	gw->otlp = NULL;
	fini_workers(gw);
out_source:
	if (gw->source)
		gw->source->ops->destroy(gw->source);
	gw->source = NULL;
out_control:
	reactor_flush(&gw->control); /* snapshots workers handed back */
	reactor_fini(&gw->control);
out_gateway:
	free_gateway(gw);
	return rc;
}

/* ---- check mode ---- */

static void check_line(FILE *out, bool ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void check_line(FILE *out, bool ok, const char *what, const char *fmt, ...)
{
	va_list ap;
	fprintf(out, "  %-4s %-13s ", ok ? "ok" : "FAIL", what);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

int gateway_check(const char *config_path, const struct gw_config_opts *opts, FILE *out)
{
	struct gw_config *c = NULL;
	struct diag_list dl;
	int problems = 0;
	diag_list_init(&dl);
	fprintf(out, "fixgw gateway --check %s\n", config_path);
	if (gw_config_load_opts(config_path, opts, &c, &dl) != 0) {
		diag_print(&dl, out);
		fprintf(out, "configuration INVALID: %zu problem%s in %s; the gateway would not start\n",
		        dl.nerrors, dl.nerrors == 1 ? "" : "s", config_path);
		diag_list_free(&dl);
		return 2;
	}
	diag_print(&dl, out); /* warnings */
	diag_list_free(&dl);
	check_line(out, true, "config", "%u worker%s, %zu listener%s, admin %s", c->workers,
	           c->workers == 1 ? "" : "s", c->nlisteners, c->nlisteners == 1 ? "" : "s",
	           c->admin_addr.len ? c->admin_addr.text : "off");

	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct gw_listener_config *l = &c->listeners[i];
		if (l->tls.enabled) {
			struct tls_server *ts = NULL;
			diag_list_init(&dl);
			int err = tls_server_new(l->name, &l->tls, &ts, &dl);
			diag_print(&dl, out);
			char what[64];
			snprintf(what, sizeof(what), "tls %s", l->name);
			if (err) {
				problems++;
				check_line(out, false, what, "%zu problem%s with the certificates",
				           dl.nerrors, dl.nerrors == 1 ? "" : "s");
			} else {
				time_t na[TLS_MAX_CERTS];
				size_t n = tls_server_cert_expiry(ts, na, TLS_MAX_CERTS);
				double days = n ? difftime(na[0], time(NULL)) / 86400.0 : 0;
				check_line(out, days >= 0, what,
				           "%zu certificate%s; the default one %s %d days", n,
				           n == 1 ? "" : "s", days < 0 ? "expired" : "expires in",
				           (int)(days < 0 ? -days : days));
				problems += days < 0;
			}
			diag_list_free(&dl);
			tls_server_free(ts);
		}
		int err = probe_bind(&l->addr);
		char what[64];
		snprintf(what, sizeof(what), "listener %s", l->name);
		check_line(out, err == 0, what, "%s%s%s%s", l->addr.text, l->tls.enabled ? " (TLS)" : "",
		           err ? ": cannot bind: " : " can be bound", err ? strerror(-err) : "");
		problems += err != 0;
	}
	if (c->admin_addr.len) {
		int err = probe_bind(&c->admin_addr);
		check_line(out, err == 0, "admin", "%s%s%s", c->admin_addr.text,
		           err ? ": cannot bind: " : " can be bound", err ? strerror(-err) : "");
		problems += err != 0;
	}

	struct route_set set;
	struct route_table *t = NULL;
	route_set_init(&set);
	diag_list_init(&dl);
	int err = manifest_paths_load((const char *const *)c->route_paths, c->nroute_paths, &set, &dl);
	if (!err)
		err = route_table_compile(&set, &dl, &t);
	diag_print(&dl, out);
	if (err) {
		problems++;
		check_line(out, false, "FIXSessions", "%zu error%s%s", dl.nerrors, dl.nerrors == 1 ? "" : "s",
		           err == FIXGW_ECONFLICT ? " (conflicts)" : "");
	} else {
		check_line(out, true, "FIXSessions", "%zu compiled from %zu path%s", route_table_count(t),
		           c->nroute_paths, c->nroute_paths == 1 ? "" : "s");
	}
	diag_list_free(&dl);
	route_set_free(&set);

	size_t ready = 0, unresolved = 0;
	for (size_t i = 0; i < c->nservices; i++)
		for (size_t k = 0; k < c->services[i].count; k++)
			ready += c->services[i].items[k].ready;
	for (size_t i = 0; t && i < route_table_count(t); i++) {
		const struct route *r = route_table_route(t, i);
		char key[512];
		endpoint_key_for_target(r->ns, r->target.service, r->target.port, r->target.port_name, key,
		                        sizeof(key));
		unresolved += gw_config_service(c, key) == NULL;
	}
	check_line(out, true, "endpoints", "%zu target%s, %zu ready endpoint%s%s", c->nservices,
	           c->nservices == 1 ? "" : "s", ready, ready == 1 ? "" : "s",
	           unresolved ? " (some FIXSessions target a Service with no endpoints: their connections "
	                        "would be held)"
	                      : "");
	check_line(out, true, "rejectEngine", "%s", c->reject_enabled ? c->reject_addr.text : "off");
	route_table_unref(t);
	gw_config_free(c);
	if (problems) {
		fprintf(out, "configuration INVALID: %d problem%s; the gateway would not start\n", problems,
		        problems == 1 ? "" : "s");
		return 2;
	}
	fprintf(out, "configuration OK\n");
	return 0;
}
