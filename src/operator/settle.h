/* settle.h - when the operator validates: the batch strategy between informer events and reconcile passes.
 *
 * `kubectl apply -f dir/` with 1,000 files is 1,000 separate writes, a few milliseconds apart; the
 * informers deliver them one event at a time. Two strategies (ADR-014):
 *
 *   debounce    every event that can change validation (a FIXSession added, deleted or with a new spec)
 *               restarts a quiet window; one pass validates the settled
 *               set from the informer cache when the window has passed with no event, or max_wait after
 *               the first pending event, whichever is first. A batch whose writes come closer together than
 *               the window is validated atomically: no table of a half-applied batch is published.
 *   per-object  client-go's work queue without coalescing: the events are kept in arrival order with a copy
 *               of each object, applied one at a time to the operator's own view of the set, and every
 *               FIXSession event is one pass over the view as of that event. Each change is validated on
 *               its own, so a half-applied batch is published event by event.
 *
 * Service and EndpointSlice changes never cause a pass either: the validated table is a function of the
 * FIXSession specs alone, and what those changes do move (the target conditions in status) the operator
 * recomputes in a status pass of its own (operator.c). Status-only updates (same metadata.generation: the
 * operator's own status writes, labels) never cause a pass; in per-object mode they refresh the view so the
 * next comparison with the cached status is current. A leadership start asks for a pass over everything
 * (per-object: every queued event applied first).
 *
 * Producers (informer threads) and the consumer (the operator's main thread) share the state under its
 * mutex. The time logic is pure: every call takes the clock as an argument, so the unit test drives it.
 */
#ifndef FIXGW_OPERATOR_SETTLE_H
#define FIXGW_OPERATOR_SETTLE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum op_batch {
	OP_BATCH_DEBOUNCE,
	OP_BATCH_PER_OBJECT,
};

#define OP_DEFAULT_BATCH       OP_BATCH_DEBOUNCE
#define OP_DEFAULT_DEBOUNCE_MS 500u   /* quiet window (ADR-014: kubectl wrote 1,000 files <= 436 ms apart) */
#define OP_DEFAULT_MAX_WAIT_MS 60000u /* a pass at the latest this long after the first pending event */
#define OP_SETTLE_MAX_QUEUE    65536u /* per-object: more queued events coalesce into one full pass */

/** "debounce" / "per-object", or NULL. */
const char *op_batch_str(enum op_batch b);
/** Parse a strategy name. Returns true and sets *out, or false. */
bool op_batch_parse(const char *s, enum op_batch *out);

enum op_ev_kind {
	OP_EV_QUIET, /* a FIXSession's status or metadata changed, its spec did not */
	OP_EV_SPEC,  /* a FIXSession added, deleted, or its spec changed */
	OP_EV_ALL,   /* leadership began or the caches synced: validate everything now */
};

struct op_ev {
	enum op_ev_kind kind;
	char *key;   /* FIXSession "namespace/name" (QUIET, SPEC), owned */
	json_t *obj; /* its copy, owned; NULL: deleted */
};

/** One strategy's state. Initialise with op_settle_init; the fields are private to settle.c. */
struct op_settle {
	pthread_mutex_t lock;
	enum op_batch batch;
	uint32_t debounce_ms, max_wait_ms;
	/* debounce */
	bool pending, all;
	uint64_t first_ms, last_ms;
	/* per-object */
	struct op_ev *q; /* ring */
	size_t head, n, cap;
	json_t *view; /* "namespace/name" -> FIXSession as of the events applied so far */
	bool retry;   /* the last pass failed: one more over the current view */
	bool reload;  /* a copy failed: the view must be reloaded from the informer's cache */
	uint64_t spec_events, passes_due;
};

/** Initialise (debounce_ms, max_wait_ms: 0 takes the defaults; max_wait_ms >= debounce_ms). Returns 0 or
 * FIXGW_ENOMEM. */
int op_settle_init(struct op_settle *s, enum op_batch batch, uint32_t debounce_ms, uint32_t max_wait_ms);
/** Free the queue and the view. */
void op_settle_free(struct op_settle *s);

/** Producer side (any thread). A FIXSession event: obj is borrowed (copied in per-object mode), NULL when
 * deleted; spec_changed false for status- or metadata-only updates. */
void op_settle_fixsession(struct op_settle *s, const char *key, const json_t *obj, bool spec_changed,
                          uint64_t now_ms);
/** Producer side: leadership began or the caches synced: validate everything now. */
void op_settle_all(struct op_settle *s, uint64_t now_ms);

/** Consumer side. True when one pass is due now; in per-object mode the events up to and including the
 * one the pass is for are applied to the view first. Otherwise *wait_ms says how long until one may be
 * (UINT32_MAX: nothing pending). */
bool op_settle_due(struct op_settle *s, uint64_t now_ms, uint32_t *wait_ms);
/** Consumer side, while not leading: apply queued events to the view without passes (bounded memory on a
 * standby). */
void op_settle_standby(struct op_settle *s);
/** The pass that op_settle_due announced failed: the next op_settle_due is true again. */
void op_settle_failed(struct op_settle *s, uint64_t now_ms);

/** Per-object mode: the passes read the view, not the informer's cache. */
bool op_settle_uses_view(const struct op_settle *s);
/** True when the view must be rebuilt (a copy failed): the caller then calls op_settle_reload_begin and
 * op_settle_reload_add for every cached FIXSession, all under the informer's lock so that no event comes
 * in between. */
bool op_settle_needs_reload(struct op_settle *s);
/** Drop the queue and the view; a pass over everything is due. */
void op_settle_reload_begin(struct op_settle *s);
/** Take a copy of obj (borrowed) as the view of key. Returns 0, or FIXGW_ENOMEM (the reload stays
 * requested). */
int op_settle_reload_add(struct op_settle *s, const char *key, const json_t *obj);
/** Visit the view under the lock (per-object mode); fn returns false to stop. */
void op_settle_foreach_view(struct op_settle *s, bool (*fn)(void *arg, const char *key, json_t *obj),
                            void *arg);

#endif
