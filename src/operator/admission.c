/* admission.c - AdmissionReview in, verdict and response out (admission.h). */
#include "operator/admission.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
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

struct review_set {
	struct route_candidate *cand;
	char **texts, **origins;
	size_t n;
};

static void review_set_free(struct review_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->texts[i]);
		free(s->origins[i]);
	}
	free(s->cand);
	free(s->texts);
	free(s->origins);
}

/* Candidate i: the object's text, unchanged from its last-known-good one for the cached objects (they
 * never fall back in favour of the new one: a conflict always refuses the new version). */
static int add_candidate(struct review_set *s, const char *key, json_t *obj, bool is_new)
{
	size_t i = s->n, len = 0, olen = strlen(key) + sizeof("fixsession ");
	s->texts[i] = k8s_fixsession_text(obj, &len);
	s->origins[i] = malloc(olen);
	s->n++;
	if (!s->texts[i] || !s->origins[i])
		return FIXGW_ENOMEM;
	snprintf(s->origins[i], olen, "fixsession %s", key);
	s->cand[i] = (struct route_candidate){s->origins[i], s->texts[i], len, is_new ? NULL : s->texts[i],
	                                      is_new ? 0 : len};
	return 0;
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

/* Compile the set with obj (key) in place of its cached version; refuse when the operator would. */
static int review(const struct fs_vec *set, json_t *obj, const char *key, struct admission_verdict *v)
{
	size_t n1 = set->n + 1, self = SIZE_MAX;
	struct review_set s = {0};
	struct diag_list dl;
	struct route_table *table = NULL;
	enum route_verdict *verdicts = calloc(n1, sizeof(*verdicts));
	int rc = FIXGW_ENOMEM;
	diag_list_init(&dl);
	s.cand = calloc(n1, sizeof(*s.cand));
	s.texts = calloc(n1, sizeof(*s.texts));
	s.origins = calloc(n1, sizeof(*s.origins));
	if (!verdicts || !s.cand || !s.texts || !s.origins)
		goto out;
	/* the operator's sorted order, the new version in its place */
	rc = 0;
	for (size_t i = 0; i <= set->n && !rc; i++) {
		int cmp = i < set->n ? strcmp(set->v[i].key, key) : 1;
		if (cmp >= 0 && self == SIZE_MAX) {
			self = s.n;
			rc = add_candidate(&s, key, obj, true);
		}
		if (!rc && i < set->n && cmp != 0)
			rc = add_candidate(&s, set->v[i].key, set->v[i].obj, false);
	}
	if (rc)
		goto out;
	rc = route_lkg_compile(s.cand, s.n, &dl, verdicts, &table);
	route_table_unref(table);
	if (rc == FIXGW_ENOMEM)
		goto out;
	if (rc || verdicts[self] != ROUTE_ACCEPTED)
		refusal(&dl, s.origins[self], v);
	rc = 0;
out:
	diag_list_free(&dl);
	review_set_free(&s);
	free(verdicts);
	return rc;
}

int admission_decide(const struct admission_request *rq, const struct fs_vec *set,
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
		rc = review(set, obj, key, v);
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
