/* leader.c - Lease leader election (see leader.h). */
#include "k8s/leader.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/errors.h"
#include "k8s/api.h"
#include "telemetry/log.h"

#define ACQUIRE_JITTER 0.2 /* client-go: wait.JitterUntil(retryPeriod, 1.2) while acquiring */

struct k8s_leader {
	struct k8s_client *c;
	char *ns, *name, *id;
	uint32_t lease_ms, renew_ms, retry_ms;
	void *arg;
	void (*on_started)(void *arg);
	void (*on_stopped)(void *arg);
	void (*on_new_leader)(void *arg, const char *identity);
	pthread_t thread;
	bool started;
	atomic_bool stop;
	pthread_mutex_t wake_lock;
	pthread_cond_t wake;
	atomic_bool leading;
	_Atomic uint64_t last_renew_ms; /* monotonic start of the last successful renewal */
	char obs_holder[256];           /* the record last observed, and when it changed (monotonic) */
	char obs_rv[64];
	uint64_t obs_ms;
	uint64_t rng;
	struct log_ctx log;
};

enum k8s_lease_verdict k8s_lease_decide(const char *holder, const char *me, uint64_t observed_ms,
                                        uint32_t duration_s, uint64_t now_ms)
{
	if (!holder || !*holder)
		return K8S_LEASE_TAKE;
	if (strcmp(holder, me) == 0)
		return K8S_LEASE_RENEW;
	return now_ms - observed_ms > (uint64_t)duration_s * 1000u ? K8S_LEASE_TAKE : K8S_LEASE_HELD;
}

static void micro_time(char *out, size_t cap)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000);
}

static void lease_log(struct k8s_leader *le, enum log_level lvl, const char *event, const char *holder,
                      const char *msg)
{
	struct log_line l;
	log_begin(&l, lvl, event, &le->log);
	log_str(&l, "lease", le->name);
	log_str(&l, "namespace", le->ns);
	log_str(&l, "identity", le->id);
	if (holder)
		log_str(&l, "holder", holder);
	log_end(&l, "%s", msg);
}

/* Fill spec for this candidate holding the Lease. */
static int fill_spec(struct k8s_leader *le, json_t *spec, bool take, json_int_t transitions)
{
	char now[64];
	micro_time(now, sizeof(now));
	int rc = json_object_set_new(spec, "holderIdentity", json_string(le->id));
	rc |= json_object_set_new(spec, "leaseDurationSeconds",
	                          json_integer((json_int_t)(le->lease_ms / 1000)));
	rc |= json_object_set_new(spec, "renewTime", json_string(now));
	if (take) {
		rc |= json_object_set_new(spec, "acquireTime", json_string(now));
		rc |= json_object_set_new(spec, "leaseTransitions", json_integer(transitions));
	}
	return rc ? FIXGW_ENOMEM : 0;
}

/* One round of client-go's tryAcquireOrRenew. True when this candidate holds the Lease afterwards. */
static bool try_acquire_or_renew(struct k8s_leader *le)
{
	struct k8s_result res;
	json_t *lease = NULL;
	int rc = k8s_get(le->c, &k8s_res_leases, le->ns, le->name, &lease, &res);
	if (rc == K8S_ENOTFOUND) {
		json_t *obj =
		    json_pack("{s:s, s:s, s:{s:s, s:s}, s:{}}", "apiVersion", "coordination.k8s.io/v1",
		              "kind", "Lease", "metadata", "name", le->name, "namespace", le->ns, "spec");
		if (!obj || fill_spec(le, json_object_get(obj, "spec"), true, 0) != 0) {
			json_decref(obj);
			return false;
		}
		rc = k8s_create(le->c, &k8s_res_leases, le->ns, obj, NULL, &res);
		json_decref(obj);
		if (rc != 0 && rc != K8S_EEXISTS)
			lease_log(le, LOG_WARN, "lease_create_failed", NULL, res.message);
		return rc == 0;
	}
	if (rc != 0) {
		lease_log(le, LOG_WARN, "lease_read_failed", NULL, res.message);
		return false;
	}
	json_t *spec = json_object_get(lease, "spec");
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(lease, "spec", spec);
	}
	const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
	const char *rv = k8s_object_rv(lease);
	json_int_t dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
	json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
	uint64_t now = k8s_now_ms();
	if (!holder)
		holder = "";
	if (strcmp(holder, le->obs_holder) != 0 || !rv || strcmp(rv, le->obs_rv) != 0) {
		bool new_holder = strcmp(holder, le->obs_holder) != 0;
		snprintf(le->obs_holder, sizeof(le->obs_holder), "%s", holder);
		snprintf(le->obs_rv, sizeof(le->obs_rv), "%s", rv ? rv : "");
		le->obs_ms = now;
		if (new_holder && strcmp(holder, le->id) != 0) {
			lease_log(le, LOG_INFO, "lease_holder", holder,
			          *holder ? "another candidate holds the Lease" : "the Lease is free");
			if (le->on_new_leader)
				le->on_new_leader(le->arg, holder);
		}
	}
	enum k8s_lease_verdict v =
	    k8s_lease_decide(holder, le->id, le->obs_ms, dur > 0 ? (uint32_t)dur : le->lease_ms / 1000, now);
	bool ok = false;
	/* as client-go: every acquisition by a candidate that was not leading counts as a transition */
	if (v != K8S_LEASE_HELD && fill_spec(le, spec, v == K8S_LEASE_TAKE, transitions + 1) == 0) {
		rc = k8s_update(le->c, &k8s_res_leases, le->ns, lease, false, NULL, &res);
		ok = rc == 0;
		if (!ok && rc != K8S_ECONFLICT)
			lease_log(le, LOG_WARN, "lease_write_failed", holder, res.message);
	}
	json_decref(lease);
	return ok;
}

/* client-go's release(): clear the holder so a standby takes over in about one retry period. */
static void release(struct k8s_leader *le)
{
	struct k8s_result res;
	json_t *lease = NULL;
	if (k8s_get(le->c, &k8s_res_leases, le->ns, le->name, &lease, &res) != 0)
		return;
	json_t *spec = json_object_get(lease, "spec");
	const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
	if (json_is_object(spec) && holder && strcmp(holder, le->id) == 0) {
		char now[64];
		micro_time(now, sizeof(now));
		json_object_set_new(spec, "holderIdentity", json_string(""));
		json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
		json_object_set_new(spec, "renewTime", json_string(now));
		json_object_set_new(spec, "acquireTime", json_string(now));
		if (k8s_update(le->c, &k8s_res_leases, le->ns, lease, false, NULL, &res) == 0)
			lease_log(le, LOG_INFO, "lease_released", NULL, "released the Lease on shutdown");
		else
			lease_log(le, LOG_WARN, "lease_release_failed", NULL, res.message);
	}
	json_decref(lease);
}

static void wait_ms(struct k8s_leader *le, uint64_t ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&le->wake_lock);
	while (!atomic_load(&le->stop))
		if (pthread_cond_timedwait(&le->wake, &le->wake_lock, &until) != 0)
			break;
	pthread_mutex_unlock(&le->wake_lock);
}

static void stop_leading(struct k8s_leader *le, const char *why)
{
	atomic_store(&le->leading, false);
	lease_log(le, LOG_ERROR, "leader_lost", NULL, why);
	if (le->on_stopped)
		le->on_stopped(le->arg);
}

static void *leader_main(void *arg)
{
	struct k8s_leader *le = arg;
	while (!atomic_load(&le->stop)) {
		uint64_t t0 = k8s_now_ms();
		bool ok = try_acquire_or_renew(le);
		if (ok) {
			atomic_store(&le->last_renew_ms, t0);
			if (!atomic_load(&le->leading)) {
				atomic_store(&le->leading, true);
				lease_log(le, LOG_INFO, "leader_elected", le->id,
				          "acquired the Lease: leading");
				if (le->on_started)
					le->on_started(le->arg);
			}
		} else if (atomic_load(&le->leading) &&
		           k8s_now_ms() - atomic_load(&le->last_renew_ms) >= le->renew_ms) {
			stop_leading(le,
			             "could not renew the Lease before the renew deadline: stopped leading");
		}
		le->rng ^= le->rng << 13, le->rng ^= le->rng >> 7, le->rng ^= le->rng << 17;
		double r = (double)(le->rng >> 11) / 9007199254740992.0;
		wait_ms(le, atomic_load(&le->leading)
		                ? le->retry_ms
		                : le->retry_ms + (uint64_t)(le->retry_ms * ACQUIRE_JITTER * r));
	}
	if (atomic_load(&le->leading)) {
		release(le);
		atomic_store(&le->leading, false);
		if (le->on_stopped)
			le->on_stopped(le->arg);
	}
	return NULL;
}

bool k8s_leader_is_leader(struct k8s_leader *le)
{
	return atomic_load(&le->leading) && k8s_now_ms() - atomic_load(&le->last_renew_ms) < le->renew_ms;
}

int k8s_leader_new(struct k8s_client *c, const struct k8s_leader_opts *o, struct k8s_leader **out)
{
	if (!o->namespace_ || !o->name || !o->identity || !*o->identity)
		return FIXGW_EINVAL;
	struct k8s_leader *le = calloc(1, sizeof(*le));
	if (!le)
		return FIXGW_ENOMEM;
	le->c = c;
	le->ns = strdup(o->namespace_);
	le->name = strdup(o->name);
	le->id = strdup(o->identity);
	if (!le->ns || !le->name || !le->id) {
		k8s_leader_free(le);
		return FIXGW_ENOMEM;
	}
	le->lease_ms = o->lease_ms ? o->lease_ms : K8S_LEASE_DURATION_MS;
	le->renew_ms = o->renew_deadline_ms ? o->renew_deadline_ms : K8S_RENEW_DEADLINE_MS;
	le->retry_ms = o->retry_ms ? o->retry_ms : K8S_RETRY_PERIOD_MS;
	if (le->lease_ms < 1000 || le->renew_ms >= le->lease_ms || le->retry_ms >= le->renew_ms) {
		k8s_leader_free(
		    le); /* client-go refuses the same: leaseDuration > renewDeadline > retryPeriod */
		return FIXGW_EINVAL;
	}
	le->arg = o->arg;
	le->on_started = o->on_started_leading;
	le->on_stopped = o->on_stopped_leading;
	le->on_new_leader = o->on_new_leader;
	le->rng = k8s_now_ms() * 2654435761u ^ (uint64_t)(uintptr_t)le;
	if (!le->rng)
		le->rng = 1;
	le->log.component = "k8s";
	pthread_mutex_init(&le->wake_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&le->wake, &ca);
	pthread_condattr_destroy(&ca);
	*out = le;
	return 0;
}

int k8s_leader_start(struct k8s_leader *le)
{
	if (le->started)
		return 0;
	atomic_store(&le->stop, false);
	if (pthread_create(&le->thread, NULL, leader_main, le) != 0)
		return FIXGW_EIO;
	le->started = true;
	return 0;
}

void k8s_leader_stop(struct k8s_leader *le)
{
	if (!le->started)
		return;
	pthread_mutex_lock(&le->wake_lock);
	atomic_store(&le->stop, true);
	pthread_cond_broadcast(&le->wake);
	pthread_mutex_unlock(&le->wake_lock);
	pthread_join(le->thread, NULL);
	le->started = false;
}

void k8s_leader_free(struct k8s_leader *le)
{
	if (!le)
		return;
	k8s_leader_stop(le);
	free(le->ns);
	free(le->name);
	free(le->id);
	if (le->log.component) {
		pthread_mutex_destroy(&le->wake_lock);
		pthread_cond_destroy(&le->wake);
	}
	free(le);
}
