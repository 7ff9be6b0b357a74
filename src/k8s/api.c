/* api.c - typed API calls (see api.h). */
#include "k8s/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/errors.h"
#include "telemetry/log.h"

#define PATH_MAX_LEN 1024

const struct k8s_resource k8s_res_fixsessions = {"fixgw.io", "v1alpha1", "fixsessions", "FIXSession", true};
const struct k8s_resource k8s_res_services = {"", "v1", "services", "Service", true};
const struct k8s_resource k8s_res_endpointslices = {"discovery.k8s.io", "v1", "endpointslices",
                                                    "EndpointSlice", true};
const struct k8s_resource k8s_res_leases = {"coordination.k8s.io", "v1", "leases", "Lease", true};
const struct k8s_resource k8s_res_events = {"events.k8s.io", "v1", "events", "Event", true};
const struct k8s_resource k8s_res_configmaps = {"", "v1", "configmaps", "ConfigMap", true};

static const struct log_ctx k8s_log = {.component = "k8s"};

const struct k8s_resource *k8s_resource_by_name(const char *plural)
{
	static const struct k8s_resource *const all[] = {&k8s_res_fixsessions,    &k8s_res_services,
	                                                 &k8s_res_endpointslices, &k8s_res_leases,
	                                                 &k8s_res_events,         &k8s_res_configmaps};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i]->plural, plural) == 0)
			return all[i];
	return NULL;
}

/* Append s percent-encoded; false when it does not fit. */
static bool put_escaped(char *out, size_t cap, size_t *n, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		             (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
		size_t need = plain ? 1 : 3;
		if (*n + need >= cap)
			return false;
		if (plain) {
			out[(*n)++] = (char)ch;
		} else {
			out[(*n)++] = '%';
			out[(*n)++] = hex[ch >> 4];
			out[(*n)++] = hex[ch & 15];
		}
	}
	out[*n] = '\0';
	return true;
}

static bool put(char *out, size_t cap, size_t *n, const char *s)
{
	size_t l = strlen(s);
	if (*n + l >= cap)
		return false;
	memcpy(out + *n, s, l + 1);
	*n += l;
	return true;
}

int k8s_path(char *out, size_t cap, const struct k8s_resource *r, const char *ns, const char *name,
             const char *sub)
{
	size_t n = 0;
	if (cap == 0)
		return FIXGW_ELIMIT;
	out[0] = '\0';
	bool ok = r->group[0]
	              ? put(out, cap, &n, "/apis/") && put(out, cap, &n, r->group) && put(out, cap, &n, "/")
	              : put(out, cap, &n, "/api/");
	ok = ok && put(out, cap, &n, r->version);
	if (ok && r->namespaced && ns && *ns)
		ok = put(out, cap, &n, "/namespaces/") && put_escaped(out, cap, &n, ns);
	ok = ok && put(out, cap, &n, "/") && put(out, cap, &n, r->plural);
	if (ok && name)
		ok = put(out, cap, &n, "/") && put_escaped(out, cap, &n, name);
	if (ok && name && sub)
		ok = put(out, cap, &n, "/") && put(out, cap, &n, sub);
	return ok ? (int)n : FIXGW_ELIMIT;
}

const char *k8s_strerror(int err)
{
	switch (err) {
	case K8S_ENOTFOUND:
		return "not found";
	case K8S_ECONFLICT:
		return "conflict: the object changed since it was read";
	case K8S_EEXISTS:
		return "already exists";
	case K8S_EGONE:
		return "gone: the resourceVersion is too old";
	case K8S_EHTTP:
		return "the API server refused the request";
	case K8S_EDECODE:
		return "the API server's answer is not the JSON expected";
	}
	return fixgw_strerror(err);
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void fill_result(struct k8s_result *res, const struct k8s_response *resp)
{
	if (!res)
		return;
	memset(res, 0, sizeof(*res));
	res->status = resp->status;
	k8s_response_message(resp, res->message, sizeof(res->message));
	json_t *j = resp->body && resp->status >= 300 ? json_loadb(resp->body, resp->len, 0, NULL) : NULL;
	const char *reason = j ? json_string_value(json_object_get(j, "reason")) : NULL;
	if (reason)
		snprintf(res->reason, sizeof(res->reason), "%s", reason);
	json_decref(j);
}

/* One call with the throttling retries; decodes a 2xx body into *out when out is non-NULL. */
static int call(struct k8s_client *c, const char *method, const char *path, const char *ctype,
                const char *body, json_t **out, struct k8s_result *res)
{
	struct k8s_response resp;
	int rc;
	for (unsigned attempt = 0;; attempt++) {
		rc = k8s_request(c, method, path, ctype, body, body ? strlen(body) : 0, &resp, NULL);
		bool throttled =
		    rc == 0 && (resp.status == 429 || (resp.status == 503 && resp.retry_after_ms));
		if (!throttled || attempt + 1 >= K8S_THROTTLE_RETRIES)
			break;
		uint64_t wait = resp.retry_after_ms ? resp.retry_after_ms : 1000;
		if (wait > 10000)
			wait = 10000;
		struct log_line l;
		log_begin(&l, LOG_WARN, "k8s_throttled", &k8s_log);
		log_str(&l, "method", method);
		log_str(&l, "path", path);
		log_int(&l, "status", resp.status);
		log_uint(&l, "retry_after_ms", wait);
		log_end(&l, "the API server asked to slow down; retrying after %llu ms",
		        (unsigned long long)wait);
		k8s_response_free(&resp);
		sleep_ms(wait);
	}
	fill_result(res, &resp);
	if (rc != 0) {
		k8s_response_free(&resp);
		return rc;
	}
	switch (resp.status) {
	case 404:
		rc = K8S_ENOTFOUND;
		break;
	case 409:
		rc = res && strcmp(res->reason, "AlreadyExists") == 0 ? K8S_EEXISTS : K8S_ECONFLICT;
		break;
	case 410:
		rc = K8S_EGONE;
		break;
	default:
		rc = resp.status >= 200 && resp.status < 300 ? 0 : K8S_EHTTP;
	}
	if (rc == 0 && out) {
		*out = json_loadb(resp.body ? resp.body : "", resp.len, 0, NULL);
		if (!*out) {
			if (res)
				snprintf(res->message, sizeof(res->message),
				         "HTTP %ld with a body that is not JSON", resp.status);
			rc = K8S_EDECODE;
		}
	}
	k8s_response_free(&resp);
	return rc;
}

static int obj_path(char *path, const struct k8s_resource *r, const char *ns, const char *name,
                    const char *sub, struct k8s_result *res)
{
	if (k8s_path(path, PATH_MAX_LEN, r, ns, name, sub) < 0) {
		if (res) {
			memset(res, 0, sizeof(*res));
			snprintf(res->message, sizeof(res->message), "object path too long");
		}
		return FIXGW_ELIMIT;
	}
	return 0;
}

int k8s_get(struct k8s_client *c, const struct k8s_resource *r, const char *ns, const char *name,
            json_t **out, struct k8s_result *res)
{
	char path[PATH_MAX_LEN];
	int rc = obj_path(path, r, ns, name, NULL, res);
	return rc ? rc : call(c, "GET", path, NULL, NULL, out, res);
}

/* One page: fn over its items; *cont gets the next continue token (NULL at the end). */
static int list_page(const json_t *list, const struct k8s_resource *r, k8s_item_fn fn, void *arg, char **cont,
                     bool *stopped, struct k8s_result *res)
{
	json_t *items = json_object_get(list, "items"), *it;
	size_t i;
	if (!json_is_array(items)) {
		if (res)
			snprintf(res->message, sizeof(res->message), "the list answer has no items array");
		return K8S_EDECODE;
	}
	char api_version[128];
	snprintf(api_version, sizeof(api_version), "%s%s%s", r->group, r->group[0] ? "/" : "", r->version);
	json_array_foreach(items, i, it)
	{
		if (!json_object_get(it, "apiVersion"))
			json_object_set_new(it, "apiVersion", json_string(api_version));
		if (!json_object_get(it, "kind"))
			json_object_set_new(it, "kind", json_string(r->kind));
		if (!fn(arg, it)) {
			*stopped = true;
			return 0;
		}
	}
	const char *next = json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
	*cont = next && next[0] ? strdup(next) : NULL;
	return next && next[0] && !*cont ? FIXGW_ENOMEM : 0;
}

int k8s_list(struct k8s_client *c, const struct k8s_resource *r, const char *ns, unsigned page_size,
             k8s_item_fn fn, void *arg, struct k8s_result *res)
{
	char base[PATH_MAX_LEN], path[PATH_MAX_LEN + 1024];
	int rc = obj_path(base, r, ns, NULL, NULL, res);
	unsigned limit = page_size ? page_size : 500;
	bool restarted = false, stopped = false;
	char *cont = NULL;
	while (!rc && !stopped) {
		size_t n = (size_t)snprintf(path, sizeof(path), "%s?limit=%u", base, limit);
		if (cont && (!put(path, sizeof(path), &n, "&continue=") ||
		             !put_escaped(path, sizeof(path), &n, cont))) {
			rc = FIXGW_ELIMIT;
			break;
		}
		json_t *list = NULL;
		rc = call(c, "GET", path, NULL, NULL, &list, res);
		if (rc == K8S_EGONE && cont && !restarted) { /* the token expired: once more, whole */
			restarted = true;
			limit = 0;
			free(cont);
			cont = NULL;
			rc = 0;
			continue;
		}
		free(cont);
		cont = NULL;
		if (!rc)
			rc = list_page(list, r, fn, arg, &cont, &stopped, res);
		json_decref(list);
		if (!cont)
			break;
	}
	free(cont);
	return rc;
}

/* Serialise obj for a request body; NULL on ENOMEM. */
static char *dump(json_t *obj)
{
	return json_dumps(obj, JSON_COMPACT);
}

static int write_obj(struct k8s_client *c, const char *method, const char *path, json_t *obj, json_t **out,
                     struct k8s_result *res)
{
	char *body = dump(obj);
	if (!body)
		return FIXGW_ENOMEM;
	int rc = call(c, method, path, "application/json", body, out, res);
	free(body);
	return rc;
}

int k8s_create(struct k8s_client *c, const struct k8s_resource *r, const char *ns, json_t *obj, json_t **out,
               struct k8s_result *res)
{
	char path[PATH_MAX_LEN];
	int rc = obj_path(path, r, ns, NULL, NULL, res);
	return rc ? rc : write_obj(c, "POST", path, obj, out, res);
}

int k8s_update(struct k8s_client *c, const struct k8s_resource *r, const char *ns, json_t *obj, bool status,
               json_t **out, struct k8s_result *res)
{
	const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	if (!name) {
		if (res) {
			memset(res, 0, sizeof(*res));
			snprintf(res->message, sizeof(res->message), "the object has no metadata.name");
		}
		return FIXGW_EINVAL;
	}
	char path[PATH_MAX_LEN];
	int rc = obj_path(path, r, ns, name, status ? "status" : NULL, res);
	return rc ? rc : write_obj(c, "PUT", path, obj, out, res);
}

int k8s_patch(struct k8s_client *c, const struct k8s_resource *r, const char *ns, const char *name,
              enum k8s_patch_type type, const char *patch, bool status, json_t **out, struct k8s_result *res)
{
	char path[PATH_MAX_LEN];
	int rc = obj_path(path, r, ns, name, status ? "status" : NULL, res);
	if (rc)
		return rc;
	const char *ct =
	    type == K8S_PATCH_JSON ? "application/json-patch+json" : "application/merge-patch+json";
	return call(c, "PATCH", path, ct, patch, out, res);
}

int k8s_delete(struct k8s_client *c, const struct k8s_resource *r, const char *ns, const char *name,
               const char *resource_version, struct k8s_result *res)
{
	char path[PATH_MAX_LEN];
	int rc = obj_path(path, r, ns, name, NULL, res);
	if (rc)
		return rc;
	char *body = NULL;
	if (resource_version) {
		json_t *opts = json_pack("{s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
		                         "preconditions", "resourceVersion", resource_version);
		body = opts ? dump(opts) : NULL;
		json_decref(opts);
		if (!body)
			return FIXGW_ENOMEM;
	}
	rc = call(c, "DELETE", path, body ? "application/json" : NULL, body, NULL, res);
	free(body);
	return rc;
}

int k8s_retry_on_conflict(struct k8s_client *c, const struct k8s_resource *r, const char *ns,
                          const char *name, bool status, json_t *first, k8s_mutate_fn fn, void *arg,
                          unsigned attempts, json_t **out, struct k8s_result *res)
{
	if (!attempts)
		attempts = K8S_CONFLICT_RETRIES;
	int rc = K8S_ECONFLICT;
	for (unsigned i = 0; i < attempts; i++) {
		json_t *obj = NULL;
		if (i == 0 && first) {
			obj = json_deep_copy(first);
			if (!obj)
				return FIXGW_ENOMEM;
		} else if ((rc = k8s_get(c, r, ns, name, &obj, res)) != 0) {
			return rc;
		}
		rc = fn(arg, obj);
		if (rc == 0)
			rc = k8s_update(c, r, ns, obj, status, out, res);
		json_decref(obj);
		if (rc != K8S_ECONFLICT)
			return rc;
		struct log_line l;
		log_begin(&l, LOG_INFO, "k8s_conflict_retry", &k8s_log);
		log_str(&l, "resource", r->plural);
		log_str(&l, "namespace", ns ? ns : "");
		log_str(&l, "name", name);
		log_uint(&l, "attempt", i + 1);
		log_end(&l, "409 Conflict: the object changed since it was read; re-reading and re-applying");
		sleep_ms(10 + (uint64_t)(rand() % 2)); /* 10 ms, jitter 0.1 as client-go's DefaultRetry */
	}
	return rc;
}

int k8s_event_create(struct k8s_client *c, const struct k8s_event *ev, struct k8s_result *res)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	char when[64], name[300];
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000);
	snprintf(name, sizeof(name), "%.200s.%llx", ev->regarding_name,
	         (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec);
	char note[1025];
	snprintf(note, sizeof(note), "%s", ev->note ? ev->note : "");
	json_t *regarding =
	    json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", ev->regarding_api_version, "kind",
	              ev->regarding_kind, "namespace", ev->regarding_namespace, "name", ev->regarding_name);
	if (regarding && ev->regarding_uid)
		json_object_set_new(regarding, "uid", json_string(ev->regarding_uid));
	json_t *obj = regarding
	                  ? json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}",
	                              "apiVersion", "events.k8s.io/v1", "kind", "Event", "metadata", "name",
	                              name, "namespace", ev->regarding_namespace, "eventTime", when,
	                              "reportingController", ev->reporting_controller, "reportingInstance",
	                              ev->reporting_instance, "action", ev->action, "reason", ev->reason,
	                              "type", ev->type, "note", note, "regarding", regarding)
	                  : NULL;
	if (!obj)
		return FIXGW_ENOMEM; /* json_pack's "o" took regarding over, even on failure */
	int rc = k8s_create(c, &k8s_res_events, ev->regarding_namespace, obj, NULL, res);
	json_decref(obj);
	return rc;
}

int k8s_object_key(json_t *obj, char *out, size_t cap)
{
	json_t *md = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(md, "name"));
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	if (!name || !*name)
		return -1;
	int n = ns && *ns ? snprintf(out, cap, "%s/%s", ns, name) : snprintf(out, cap, "%s", name);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

const char *k8s_object_rv(json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

char *k8s_fixsession_text(json_t *obj, size_t *len)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *trimmed =
	    json_pack("{s:O?,s:O?,s:{s:O?,s:O?},s:O?}", "apiVersion", json_object_get(obj, "apiVersion"),
	              "kind", json_object_get(obj, "kind"), "metadata", "name", json_object_get(meta, "name"),
	              "namespace", json_object_get(meta, "namespace"), "spec", json_object_get(obj, "spec"));
	char *text = trimmed ? json_dumps(trimmed, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(trimmed);
	if (text)
		*len = strlen(text);
	return text;
}
