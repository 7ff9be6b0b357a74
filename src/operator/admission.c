/* admission.c - AdmissionReview in, verdict and response out (admission.h). */
#include "operator/admission.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/manifest.h"
#include "core/route_lkg.h"
#include "k8s/api.h"

#define REVIEW_API_VERSION "admission.k8s.io/v1"

static int invalid(char *err, size_t cap, const char *why)
{
	snprintf(err, cap, "%s", why);
	return FIXGW_EINVAL;
}

int admission_parse(const char *body, size_t len, struct admission_request *rq, char *err, size_t cap)
{
	memset(rq, 0, sizeof(*rq));
	json_error_t je;
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		/* je.text can quote the input: only the position is given back */
		snprintf(err, cap, "the body is not valid JSON (line %d, column %d)", je.line, je.column);
		return FIXGW_EINVAL;
	}
	int rc = FIXGW_EINVAL;
	const char *av = json_string_value(json_object_get(doc, "apiVersion"));
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	json_t *req = json_object_get(doc, "request");
	json_t *rkind = json_object_get(req, "kind");
	const char *group = json_string_value(json_object_get(rkind, "group"));
	const char *rk = json_string_value(json_object_get(rkind, "kind"));
	rq->uid = json_string_value(json_object_get(req, "uid"));
	rq->operation = json_string_value(json_object_get(req, "operation"));
	rq->namespace_ = json_string_value(json_object_get(req, "namespace"));
	rq->object = json_object_get(req, "object");
	rq->old_object = json_object_get(req, "oldObject");
	if (!json_is_object(rq->object))
		rq->object = NULL;
	if (!json_is_object(rq->old_object))
		rq->old_object = NULL;
	if (!json_is_object(doc) || !av || strcmp(av, REVIEW_API_VERSION) != 0 || !kind ||
	    strcmp(kind, "AdmissionReview") != 0)
		invalid(err, cap, "not an AdmissionReview of " REVIEW_API_VERSION);
	else if (!json_is_object(req))
		invalid(err, cap, "the AdmissionReview has no request");
	else if (!rq->uid || !rq->uid[0] || strlen(rq->uid) > ADMISSION_MAX_UID)
		invalid(err, cap, "request.uid is missing or longer than 128 bytes");
	else if (!rq->operation)
		invalid(err, cap, "request.operation is missing");
	else if (!group || strcmp(group, "fixgw.io") != 0 || !rk || strcmp(rk, "FIXSession") != 0)
		invalid(err, cap,
		        "request.kind is not fixgw.io FIXSession: this webhook reviews FIXSessions only");
	else if ((!strcmp(rq->operation, "CREATE") || !strcmp(rq->operation, "UPDATE")) && !rq->object)
		invalid(err, cap, "a CREATE or UPDATE request without request.object");
	else
		rc = 0;
	if (rc) {
		json_decref(doc);
		memset(rq, 0, sizeof(*rq));
		return rc;
	}
	rq->doc = doc;
	return 0;
}

void admission_request_free(struct admission_request *rq)
{
	json_decref(rq->doc);
	memset(rq, 0, sizeof(*rq));
}

/* The object under review as the operator will see it: namespace filled in from the request when the
 * object does not carry it. A new reference, or NULL. */
static json_t *reviewed_object(const struct admission_request *rq, json_t *obj)
{
	json_t *copy = json_deep_copy(obj);
	if (!copy)
		return NULL;
	json_t *md = json_object_get(copy, "metadata");
	if (!json_is_object(md)) {
		md = json_object();
		if (!md || json_object_set_new(copy, "metadata", md)) {
			json_decref(copy);
			return NULL;
		}
	}
	if (!json_string_value(json_object_get(md, "namespace")) && rq->namespace_ &&
	    json_object_set_new(md, "namespace", json_string(rq->namespace_))) {
		json_decref(copy);
		return NULL;
	}
	return copy;
}

static void refuse(struct admission_verdict *v, const char *why)
{
	v->allowed = false;
	v->code = 403;
	snprintf(v->message, sizeof(v->message), "%s", why);
}

/* Why the new version is refused, in the operator's words: its conflicts, else its other errors, else
 * the set-wide ones (a table limit it would cross). */
static void refusal(const struct diag_list *dl, const char *origin, struct admission_verdict *v)
{
	char why[ADMISSION_MAX_MESSAGE] = "";
	bool any = false;
	route_diag_text(dl, origin, true, why, sizeof(why), &any);
	if (!any)
		route_diag_text(dl, origin, false, why, sizeof(why), &any);
	for (size_t i = 0; !any && i < dl->count; i++) {
		const struct diag *d = &dl->items[i];
		if (d->severity == DIAG_ERROR && !d->file && strncmp(d->message, "conflict:", 9) != 0) {
			snprintf(why, sizeof(why), "%s", d->message);
			any = true;
		}
	}
	refuse(v, any ? why : "the operator's validation would not accept it");
}

/* ---- the parsed set ---- */

#define MAX_PAIRS 4096 /* conflicting pairs looked at per review: the new object is in at most n of them */

struct cache_entry {
	char *key, *rv;
	struct route route; /* valid when has_route */
	bool has_route;     /* false: the compiler refuses this object: the operator leaves it out too */
	uint64_t seen;      /* the generation of the last sync that saw it */
};

struct admission_cache {
	struct cache_entry *v; /* sorted by key after every end() */
	size_t n, cap;
	uint64_t gen;
};

int admission_cache_new(struct admission_cache **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : FIXGW_ENOMEM;
}

static void entry_free(struct cache_entry *e)
{
	free(e->key);
	free(e->rv);
	if (e->has_route)
		route_free(&e->route);
}

void admission_cache_free(struct admission_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		entry_free(&c->v[i]);
	free(c->v);
	free(c);
}

size_t admission_cache_count(const struct admission_cache *c)
{
	return c->n;
}

static int cmp_key(const void *k, const void *e)
{
	return strcmp(k, ((const struct cache_entry *)e)->key);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct cache_entry *)a)->key, ((const struct cache_entry *)b)->key);
}

/* The entry of key among the first `sorted` entries (sorted by key), or NULL. */
static struct cache_entry *find(const struct admission_cache *c, const char *key, size_t sorted)
{
	return sorted ? bsearch(key, c->v, sorted, sizeof(*c->v), cmp_key) : NULL;
}

void admission_cache_begin(struct admission_cache *c)
{
	c->gen++;
}

bool admission_cache_fresh(struct admission_cache *c, const char *key, const char *rv)
{
	struct cache_entry *e = find(c, key, c->n);
	if (!e || !rv || !e->rv || strcmp(e->rv, rv) != 0)
		return false;
	e->seen = c->gen;
	return true;
}

/* Parse obj as the operator's round does: its k8s_fixsession_text, named "fixsession KEY". Returns 0 with
 * *has_route saying whether it is valid (its diagnostics in dl when dl is not NULL), or FIXGW_ENOMEM. */
static int parse_object(const char *key, json_t *obj, struct route *out, bool *has_route,
                        struct diag_list *dl)
{
	char origin[400];
	size_t len = 0;
	struct route_set one;
	struct diag_list own;
	route_set_init(&one);
	diag_list_init(&own);
	snprintf(origin, sizeof(origin), "fixsession %s", key);
	char *text = k8s_fixsession_text(obj, &len);
	int rc = text ? manifest_load_buffer(origin, text, len, &one, dl ? dl : &own) : FIXGW_ENOMEM;
	free(text);
	diag_list_free(&own);
	*has_route = rc == 0 && one.count == 1;
	if (*has_route) {
		*out = one.items[0];
		one.count = 0; /* moved out */
	}
	route_set_free(&one);
	return rc == FIXGW_ENOMEM ? rc : 0;
}

/* Parse it into entry i (c->n: a new entry). */
static int put_changed(struct admission_cache *c, size_t i, const struct fs_item *it)
{
	struct route r;
	bool has_route = false;
	char *rv = NULL, *key = NULL;
	const char *rvs = k8s_object_rv(it->obj);
	if (parse_object(it->key, it->obj, &r, &has_route, NULL) || (rvs && !(rv = strdup(rvs))))
		goto nomem;
	if (i == c->n) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 256;
			struct cache_entry *g = realloc(c->v, cap * sizeof(*g));
			if (!g)
				goto nomem;
			c->v = g;
			c->cap = cap;
		}
		if (!(key = strdup(it->key)))
			goto nomem;
		c->v[c->n++] = (struct cache_entry){.key = key};
	} else {
		free(c->v[i].rv);
		if (c->v[i].has_route)
			route_free(&c->v[i].route);
	}
	struct cache_entry *e = &c->v[i];
	e->rv = rv;
	e->route = r;
	e->has_route = has_route;
	e->seen = c->gen;
	return 0;
nomem:
	free(rv);
	if (has_route)
		route_free(&r);
	return FIXGW_ENOMEM;
}

int admission_cache_end(struct admission_cache *c, const struct fs_vec *changed)
{
	size_t sorted = c->n; /* new keys are appended past it (changed holds each key once) */
	int rc = 0;
	for (size_t k = 0; k < changed->n && !rc; k++) {
		struct cache_entry *e = find(c, changed->v[k].key, sorted);
		rc = put_changed(c, e ? (size_t)(e - c->v) : c->n, &changed->v[k]);
	}
	/* drop what the set no longer has (everything after a failure) */
	size_t w = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].seen == c->gen && !rc)
			c->v[w++] = c->v[i];
		else
			entry_free(&c->v[i]);
	}
	c->n = w;
	if (c->n)
		qsort(c->v, c->n, sizeof(*c->v), cmp_entry);
	return rc;
}

int admission_cache_sync(struct admission_cache *c, const struct fs_vec *set)
{
	struct fs_vec changed = {0};
	admission_cache_begin(c);
	int rc = 0;
	for (size_t i = 0; i < set->n && !rc; i++)
		if (!admission_cache_fresh(c, set->v[i].key, k8s_object_rv(set->v[i].obj)))
			rc = fs_vec_take(&changed, &(struct k8s_store_entry){.key = set->v[i].key,
			                                                     .obj = set->v[i].obj})
			         ? 0
			         : FIXGW_ENOMEM;
	if (!rc)
		rc = admission_cache_end(c, &changed);
	fs_vec_free(&changed);
	return rc;
}

static bool same_routing_text(json_t *a, json_t *b)
{
	size_t la = 0, lb = 0;
	char *ta = k8s_fixsession_text(a, &la), *tb = k8s_fixsession_text(b, &lb);
	bool same = ta && tb && la == lb && memcmp(ta, tb, la) == 0;
	free(ta);
	free(tb);
	return same;
}

/* The set with the new route in its sorted place: copies of the cached routes, the new one moved in.
 * *self is the new route's index. */
static int build_set(const struct admission_cache *c, const char *key, struct route *fresh,
                     struct route_set *set, size_t *self)
{
	*self = SIZE_MAX;
	for (size_t i = 0; i <= c->n; i++) {
		int cmp = i < c->n ? strcmp(c->v[i].key, key) : 1;
		if (cmp >= 0 && *self == SIZE_MAX) {
			struct route *r = route_set_push(set);
			if (!r)
				return FIXGW_ENOMEM;
			*r = *fresh;
			memset(fresh, 0, sizeof(*fresh)); /* moved */
			*self = set->count - 1;
		}
		if (i == c->n || cmp == 0 || !c->v[i].has_route)
			continue;
		struct route *r = route_set_push(set);
		if (!r || route_copy(r, &c->v[i].route)) {
			if (r)
				route_set_pop(set);
			return FIXGW_ENOMEM;
		}
	}
	return 0;
}

/* Compile the cached set with obj (key) in place of its cached version; refuse when the operator would. */
static int review(const struct admission_cache *c, json_t *obj, const char *key, struct admission_verdict *v)
{
	char origin[400];
	snprintf(origin, sizeof(origin), "fixsession %s", key);
	struct diag_list dl;
	struct route_set set;
	struct route fresh;
	struct route_table *table = NULL;
	struct route_conflict *pairs = malloc(MAX_PAIRS * sizeof(*pairs));
	size_t self, npairs = 0;
	bool has_route;
	diag_list_init(&dl);
	route_set_init(&set);
	int rc = pairs ? parse_object(key, obj, &fresh, &has_route, &dl) : FIXGW_ENOMEM;
	if (rc)
		goto out;
	if (!has_route) { /* invalid: its own diagnostics say why */
		refusal(&dl, origin, v);
		goto out;
	}
	rc = build_set(c, key, &fresh, &set, &self);
	if (!rc)
		rc = route_table_compile_pairs(&set, &dl, pairs, MAX_PAIRS, &npairs, &table);
	route_table_unref(table);
	if (rc == FIXGW_ENOMEM)
		goto out;
	bool involved = rc == FIXGW_EINVAL; /* a table-wide limit: the operator would refuse it too */
	for (size_t p = 0; p < npairs && !involved; p++)
		involved = pairs[p].a == self || pairs[p].b == self;
	if (involved)
		refusal(&dl, origin, v);
	rc = 0;
out:
	route_set_free(&set);
	diag_list_free(&dl);
	free(pairs);
	return rc;
}

int admission_decide(const struct admission_request *rq, const struct admission_cache *c,
                     struct admission_verdict *v)
{
	*v = (struct admission_verdict){.allowed = true, .code = 200};
	if (strcmp(rq->operation, "CREATE") != 0 && strcmp(rq->operation, "UPDATE") != 0)
		return 0;
	char key[320];
	json_t *old = NULL, *obj = reviewed_object(rq, rq->object);
	int rc = obj ? 0 : FIXGW_ENOMEM;
	if (!rc && k8s_object_key(obj, key, sizeof(key)) < 0) {
		refuse(v, "metadata.name is missing or too long");
		goto out;
	}
	if (!rc && rq->old_object && !strcmp(rq->operation, "UPDATE")) {
		old = reviewed_object(rq, rq->old_object);
		if (!old)
			rc = FIXGW_ENOMEM;
		else if (same_routing_text(old, obj))
			goto out; /* nothing routing reads changed: admitted */
	}
	if (!rc)
		rc = review(c, obj, key, v);
out:
	json_decref(old);
	json_decref(obj);
	return rc;
}

char *admission_response(const char *uid, const struct admission_verdict *v, size_t *len)
{
	json_t *resp = v->allowed ? json_pack("{s:s,s:b}", "uid", uid, "allowed", 1)
	                          : json_pack("{s:s,s:b,s:{s:i,s:s,s:s}}", "uid", uid, "allowed", 0, "status",
	                                      "code", v->code, "reason", "Forbidden", "message", v->message);
	json_t *doc = resp ? json_pack("{s:s,s:s,s:o}", "apiVersion", REVIEW_API_VERSION, "kind",
	                               "AdmissionReview", "response", resp)
	                   : NULL;
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text)
		*len = strlen(text);
	return text;
}
