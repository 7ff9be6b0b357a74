/* leader.h - leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics
 * (tools/leaderelection): lease duration 15 s, renew deadline 10 s, retry period 2 s by default.
 *
 * A candidate's thread reads the Lease every retry period (jittered by up to 20 %). It takes the Lease when
 * it is free (no holder) or expired, and renews it while it holds it; every write is a PUT guarded by the
 * Lease's resourceVersion, so two candidates can never both win one round (the loser gets 409).
 * "Expired" is judged on this process's monotonic clock, as client-go does: the other holder's record must
 * not have changed for leaseDurationSeconds since this process first saw it, so clock skew between nodes
 * does not matter.
 *
 * Fencing: k8s_leader_is_leader() is true only while the last successful renewal *started* less than the
 * renew deadline ago, computed from the monotonic clock when asked. A leader that was paused (SIGSTOP, a
 * long GC-like stall) and wakes up after losing the Lease sees false before its own thread has run again,
 * so a caller that checks before every write writes nothing. On k8s_leader_stop the Lease is released
 * (holder cleared, duration 1 s) so a standby takes over within about one retry period.
 */
#ifndef FIXGW_K8S_LEADER_H
#define FIXGW_K8S_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "k8s/http.h"

#define K8S_LEASE_DURATION_MS 15000u
#define K8S_RENEW_DEADLINE_MS 10000u
#define K8S_RETRY_PERIOD_MS   2000u

struct k8s_leader;

/** What a candidate is; strings are copied. Callbacks run on the election thread. */
struct k8s_leader_opts {
	const char *namespace_; /* the Lease's namespace */
	const char *name;       /* the Lease's name */
	const char *identity;   /* this candidate (default in the operator: the hostname) */
	uint32_t lease_ms, renew_deadline_ms, retry_ms; /* 0 = the defaults above */
	void *arg;
	void (*on_started_leading)(void *arg);
	/** Leadership lost (renew deadline passed) or given up at stop. */
	void (*on_stopped_leading)(void *arg);
	/** Another holder observed (or "" when the Lease is free). */
	void (*on_new_leader)(void *arg, const char *identity);
};

/** What k8s_lease_decide says about a Lease record. */
enum k8s_lease_verdict {
	K8S_LEASE_TAKE,  /* free or expired: take it over */
	K8S_LEASE_RENEW, /* ours: renew it */
	K8S_LEASE_HELD,  /* another holder whose record changed less than its duration ago */
};

/** The pure rule: holder "" or NULL is free; observed_ms is when this process last saw the record change. */
enum k8s_lease_verdict k8s_lease_decide(const char *holder, const char *me, uint64_t observed_ms,
                                        uint32_t duration_s, uint64_t now_ms);

/** Create a candidate (nothing runs yet); the client is borrowed. Returns 0, FIXGW_EINVAL or FIXGW_ENOMEM. */
int k8s_leader_new(struct k8s_client *c, const struct k8s_leader_opts *o, struct k8s_leader **out);
/** Start the election thread. */
int k8s_leader_start(struct k8s_leader *le);
/** The fencing check (see above); cheap, any thread. */
bool k8s_leader_is_leader(struct k8s_leader *le);
/** Stop the thread; a held Lease is released first. */
void k8s_leader_stop(struct k8s_leader *le);
void k8s_leader_free(struct k8s_leader *le);

#endif
