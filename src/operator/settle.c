/* settle.c - the operator's batch strategies: debounce window or per-object passes (settle.h). */
#include "operator/settle.h"

#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

const char *op_batch_str(enum op_batch b)
{
	switch (b) {
	case OP_BATCH_DEBOUNCE:
		return "debounce";
	case OP_BATCH_PER_OBJECT:
		return "per-object";
	}
	return NULL;
}

bool op_batch_parse(const char *s, enum op_batch *out)
{
	for (enum op_batch b = OP_BATCH_DEBOUNCE; b <= OP_BATCH_PER_OBJECT; b++)
		if (!strcmp(s, op_batch_str(b))) {
			*out = b;
			return true;
		}
	return false;
}

int op_settle_init(struct op_settle *s, enum op_batch batch, uint32_t debounce_ms, uint32_t max_wait_ms)
{
	*s = (struct op_settle){.batch = batch,
	                        .debounce_ms = debounce_ms ? debounce_ms : OP_DEFAULT_DEBOUNCE_MS,
	                        .max_wait_ms = max_wait_ms ? max_wait_ms : OP_DEFAULT_MAX_WAIT_MS};
	if (s->max_wait_ms < s->debounce_ms)
		s->max_wait_ms = s->debounce_ms;
	if (batch == OP_BATCH_PER_OBJECT && !(s->view = json_object()))
		return FIXGW_ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	return 0;
}

static void ev_clear(struct op_ev *e)
{
	free(e->key);
	json_decref(e->obj);
	*e = (struct op_ev){0};
}

/* Apply one event to the view (taking its copy over); the event is left empty. Under the lock. */
static void view_apply(struct op_settle *s, struct op_ev *e)
{
	if (e->kind == OP_EV_QUIET || e->kind == OP_EV_SPEC) {
		if (e->obj) {
			if (json_object_set_new(s->view, e->key, e->obj))
				s->reload = true;
			e->obj = NULL;
		} else {
			json_object_del(s->view, e->key);
		}
	}
	ev_clear(e);
}

static struct op_ev *q_front(struct op_settle *s)
{
	return &s->q[s->head];
}

static void q_pop_apply(struct op_settle *s)
{
	view_apply(s, q_front(s));
	s->head = (s->head + 1) % s->cap;
	s->n--;
}

static void q_discard(struct op_settle *s)
{
	while (s->n) {
		ev_clear(q_front(s));
		s->head = (s->head + 1) % s->cap;
		s->n--;
	}
}

static void q_drain(struct op_settle *s)
{
	while (s->n)
		q_pop_apply(s);
}

/* Append one event (taking key and obj over, freeing them when it cannot). Under the lock. */
static void q_push(struct op_settle *s, enum op_ev_kind kind, char *key, json_t *obj)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct op_ev *q = cap <= OP_SETTLE_MAX_QUEUE ? malloc(cap * sizeof(*q)) : NULL;
		if (q) {
			for (size_t i = 0; i < s->n; i++)
				q[i] = s->q[(s->head + i) % s->cap];
			free(s->q);
			s->q = q;
			s->cap = cap;
			s->head = 0;
		} else {
			/* bounded: what is queued is applied now and validated in one pass over everything */
			struct op_ev e = {kind, key, obj};
			q_drain(s);
			view_apply(s, &e);
			kind = OP_EV_ALL;
			key = NULL;
			obj = NULL;
			if (!s->cap) { /* not even a marker fits */
				s->retry = true;
				return;
			}
		}
	}
	s->q[(s->head + s->n) % s->cap] = (struct op_ev){kind, key, obj};
	s->n++;
}

void op_settle_fixsession(struct op_settle *s, const char *key, const json_t *obj, bool spec_changed,
                          uint64_t now_ms)
{
	enum op_ev_kind kind = spec_changed ? OP_EV_SPEC : OP_EV_QUIET;
	pthread_mutex_lock(&s->lock);
	if (s->batch == OP_BATCH_PER_OBJECT) {
		char *k = strdup(key);
		json_t *copy = obj ? json_deep_copy(obj) : NULL;
		if (!k || (obj && !copy)) {
			free(k);
			json_decref(copy);
			s->reload = true; /* the view would miss this event */
		} else {
			q_push(s, kind, k, copy);
			s->spec_events += spec_changed;
		}
	} else if (spec_changed) {
		if (!s->pending)
			s->first_ms = now_ms;
		s->pending = true;
		s->last_ms = now_ms;
		s->spec_events++;
	}
	pthread_mutex_unlock(&s->lock);
}

void op_settle_all(struct op_settle *s, uint64_t now_ms)
{
	pthread_mutex_lock(&s->lock);
	if (s->batch == OP_BATCH_PER_OBJECT) {
		q_push(s, OP_EV_ALL, NULL, NULL);
	} else {
		if (!s->pending)
			s->first_ms = now_ms;
		s->pending = true;
		s->last_ms = now_ms;
		s->all = true;
	}
	pthread_mutex_unlock(&s->lock);
}

static uint32_t remaining(uint64_t deadline, uint64_t now)
{
	return deadline > now ? (uint32_t)(deadline - now > UINT32_MAX - 1 ? UINT32_MAX - 1 : deadline - now)
	                      : 0;
}

/* Per-object: apply events up to the next one that deserves a pass. Under the lock. */
static bool per_object_due(struct op_settle *s)
{
	bool due = s->retry || s->reload;
	s->retry = false;
	while (s->n && !due) {
		enum op_ev_kind kind = q_front(s)->kind;
		q_pop_apply(s);
		if (kind == OP_EV_ALL)
			q_drain(s);
		due = kind != OP_EV_QUIET;
	}
	return due;
}

bool op_settle_due(struct op_settle *s, uint64_t now_ms, uint32_t *wait_ms)
{
	bool due = false;
	*wait_ms = UINT32_MAX;
	pthread_mutex_lock(&s->lock);
	if (s->batch == OP_BATCH_PER_OBJECT) {
		due = per_object_due(s);
	} else if (s->pending) {
		uint64_t quiet_at = s->last_ms + s->debounce_ms, latest = s->first_ms + s->max_wait_ms;
		due = s->all || now_ms >= quiet_at || now_ms >= latest;
		if (!due) {
			uint32_t a = remaining(quiet_at, now_ms), b = remaining(latest, now_ms);
			*wait_ms = a < b ? a : b;
		}
	}
	if (due) {
		s->pending = s->all = false;
		s->passes_due++;
		*wait_ms = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return due;
}

void op_settle_standby(struct op_settle *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->batch == OP_BATCH_PER_OBJECT)
		q_drain(s);
	pthread_mutex_unlock(&s->lock);
}

void op_settle_failed(struct op_settle *s, uint64_t now_ms)
{
	pthread_mutex_lock(&s->lock);
	if (s->batch == OP_BATCH_PER_OBJECT) {
		s->retry = true;
	} else {
		if (!s->pending)
			s->first_ms = s->last_ms = now_ms;
		s->pending = s->all = true;
	}
	pthread_mutex_unlock(&s->lock);
}

bool op_settle_uses_view(const struct op_settle *s)
{
	return s->batch == OP_BATCH_PER_OBJECT;
}

bool op_settle_needs_reload(struct op_settle *s)
{
	pthread_mutex_lock(&s->lock);
	bool r = s->reload;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void op_settle_reload_begin(struct op_settle *s)
{
	pthread_mutex_lock(&s->lock);
	q_discard(s);
	json_object_clear(s->view);
	s->reload = false;
	s->retry = true;
	pthread_mutex_unlock(&s->lock);
}

int op_settle_reload_add(struct op_settle *s, const char *key, const json_t *obj)
{
	json_t *copy = json_deep_copy(obj);
	pthread_mutex_lock(&s->lock);
	int rc = copy && !json_object_set_new(s->view, key, copy) ? 0 : FIXGW_ENOMEM;
	if (rc)
		s->reload = true;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void op_settle_foreach_view(struct op_settle *s, bool (*fn)(void *arg, const char *key, json_t *obj),
                            void *arg)
{
	const char *key;
	json_t *obj;
	pthread_mutex_lock(&s->lock);
	json_object_foreach(s->view, key, obj)
	{
		if (!fn(arg, key, obj))
			break;
	}
	pthread_mutex_unlock(&s->lock);
}

void op_settle_free(struct op_settle *s)
{
	q_discard(s);
	free(s->q);
	json_decref(s->view);
	pthread_mutex_destroy(&s->lock);
}
