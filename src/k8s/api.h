/* api.h - typed API calls on top of http.h: resource paths, get/create/update/patch/delete, the status
 * subresource, client-go's RetryOnConflict, and Events (events.k8s.io/v1).
 *
 * Objects are jansson values. Ownership: functions that take a json_t * borrow it; *out values are new
 * references the caller must json_decref. Every write that replaces an object (PUT, including status) is
 * guarded by the metadata.resourceVersion the caller sends: the API server answers 409 Conflict when the
 * object changed since, and k8s_retry_on_conflict re-reads and re-applies the caller's change.
 *
 * 429 Too Many Requests, and 503 with Retry-After, are retried here (up to K8S_THROTTLE_RETRIES times,
 * honouring Retry-After, at most 10 s each) with one log line each; other errors return to the caller.
 */
#ifndef FIXGW_K8S_API_H
#define FIXGW_K8S_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/errors.h"
#include "k8s/http.h"

/* Codes of this module, in the project's range reserved for it (core/errors.h). */
enum k8s_err {
	K8S_ENOTFOUND = FIXGW_ERR_K8S_BASE,     /* 404 */
	K8S_ECONFLICT = FIXGW_ERR_K8S_BASE - 1, /* 409 Conflict: the resourceVersion precondition failed */
	K8S_EEXISTS = FIXGW_ERR_K8S_BASE - 2,   /* 409 AlreadyExists on create */
	K8S_EGONE = FIXGW_ERR_K8S_BASE - 3,     /* 410 Gone: resourceVersion or continue token too old */
	K8S_EHTTP = FIXGW_ERR_K8S_BASE - 4,     /* another non-2xx answer (see k8s_result) */
	K8S_EDECODE = FIXGW_ERR_K8S_BASE - 5,   /* a 2xx answer that is not the JSON expected */
};

#define K8S_THROTTLE_RETRIES 5
#define K8S_CONFLICT_RETRIES 5 /* client-go's retry.DefaultRetry: 5 steps of 10 ms, jitter 0.1 */

/** What the API server said when a call failed. */
struct k8s_result {
	long status;       /* HTTP status, 0 when none */
	char reason[64];   /* Status.reason ("Conflict", "NotFound", "Invalid"), "" when none */
	char message[512]; /* Status.message or the transport error */
};

/** A resource type. Strings are static. */
struct k8s_resource {
	const char *group;   /* "" for the core API */
	const char *version; /* "v1", "v1alpha1" */
	const char *plural;  /* "fixsessions" */
	const char *kind;    /* "FIXSession" */
	bool namespaced;
};

extern const struct k8s_resource k8s_res_fixsessions;
extern const struct k8s_resource k8s_res_services;
extern const struct k8s_resource k8s_res_endpointslices;
extern const struct k8s_resource k8s_res_leases;
extern const struct k8s_resource k8s_res_events;
extern const struct k8s_resource k8s_res_configmaps;

/** A resource by plural name (fixsessions, services, endpointslices, leases, events, configmaps), or
 * NULL. */
const struct k8s_resource *k8s_resource_by_name(const char *plural);

/** "/apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME[/SUB]]" (core: "/api/v1/..."). ns NULL or "" means
 * all namespaces (for lists); name and sub may be NULL. Names are percent-encoded. Returns the length, or
 * FIXGW_ELIMIT when cap is too small. */
int k8s_path(char *out, size_t cap, const struct k8s_resource *r, const char *ns, const char *name,
             const char *sub);

/** Text for an error code of this module or a FIXGW_E* code. */
const char *k8s_strerror(int err);

int k8s_get(struct k8s_client *c, const struct k8s_resource *r, const char *ns, const char *name,
            json_t **out, struct k8s_result *res);
/** Receives one item of a list (borrowed for the call; apiVersion and kind filled in when the server left
 * them out). Returns false to stop the list. */
typedef bool (*k8s_item_fn)(void *arg, json_t *item);

/** A one-shot list of r in ns (NULL or "" = all namespaces), page by page (page_size items a page, 0 =
 * 500; continue tokens), calling fn for every item. A continue token that expired (410) lists again once,
 * without pagination, from the start (fn may then see an item twice). For command-line tools: controllers
 * keep an informer (informer.h). Returns 0, or the first error (K8S_EHTTP with res->status 403 for a
 * request RBAC refuses; FIXGW_EIO when the API server cannot be reached; K8S_EDECODE). */
int k8s_list(struct k8s_client *c, const struct k8s_resource *r, const char *ns, unsigned page_size,
             k8s_item_fn fn, void *arg, struct k8s_result *res);

/** POST; obj's metadata.namespace is not needed (ns is used). */
int k8s_create(struct k8s_client *c, const struct k8s_resource *r, const char *ns, json_t *obj, json_t **out,
               struct k8s_result *res);
/** PUT obj (its metadata.name and metadata.resourceVersion are the target and the precondition).
 * status true writes the status subresource. Returns K8S_ECONFLICT when the object changed. */
int k8s_update(struct k8s_client *c, const struct k8s_resource *r, const char *ns, json_t *obj, bool status,
               json_t **out, struct k8s_result *res);

enum k8s_patch_type {
	K8S_PATCH_MERGE, /* application/merge-patch+json (RFC 7386) */
	K8S_PATCH_JSON,  /* application/json-patch+json (RFC 6902): use a "test" op on
	                    /metadata/resourceVersion as the precondition */
};

/** PATCH with a JSON text patch. status true patches the status subresource. */
int k8s_patch(struct k8s_client *c, const struct k8s_resource *r, const char *ns, const char *name,
              enum k8s_patch_type type, const char *patch, bool status, json_t **out, struct k8s_result *res);

/** DELETE; resource_version non-NULL adds it as a precondition. 404 returns K8S_ENOTFOUND. */
int k8s_delete(struct k8s_client *c, const struct k8s_resource *r, const char *ns, const char *name,
               const char *resource_version, struct k8s_result *res);

/** Apply the caller's change to obj (a fresh copy of the live object). Return 0 to write it, or a negative
 * code to stop without writing (returned by k8s_retry_on_conflict). */
typedef int (*k8s_mutate_fn)(void *arg, json_t *obj);

/** client-go's retry.RetryOnConflict around get -> mutate -> update. When first is non-NULL it is used
 * as the object of the first attempt instead of a GET (a cached copy, which may be stale). At most
 * `attempts` updates (0 = K8S_CONFLICT_RETRIES); each 409 logs one line, sleeps about 10 ms and re-reads.
 * Returns 0 (and *out when out is non-NULL), K8S_ECONFLICT when every attempt conflicted, or the first
 * other error. */
int k8s_retry_on_conflict(struct k8s_client *c, const struct k8s_resource *r, const char *ns,
                          const char *name, bool status, json_t *first, k8s_mutate_fn fn, void *arg,
                          unsigned attempts, json_t **out, struct k8s_result *res);

/** An Event about one object (events.k8s.io/v1). Borrowed strings; regarding_uid may be NULL. */
struct k8s_event {
	const char *regarding_api_version; /* "fixgw.io/v1alpha1" */
	const char *regarding_kind;        /* "FIXSession" */
	const char *regarding_namespace;
	const char *regarding_name;
	const char *regarding_uid;
	const char *type;                 /* "Normal" or "Warning" */
	const char *reason;               /* UpperCamelCase, at most 128 bytes ("RouteConflict") */
	const char *action;               /* UpperCamelCase, at most 128 bytes ("Validate") */
	const char *note;                 /* human text; cut at 1 KiB as the API requires */
	const char *reporting_controller; /* "fixgw.io/operator" */
	const char *reporting_instance;   /* this replica, e.g. the pod name */
};

/** Create the Event in the regarding object's namespace, named "<name>.<hex of the time>" as client-go
 * names them. */
int k8s_event_create(struct k8s_client *c, const struct k8s_event *ev, struct k8s_result *res);

/** A FIXSession as the text the manifest loader reads (compact JSON, sorted keys): apiVersion, kind,
 * metadata.name/namespace and spec only. Status, managedFields and annotations are left out (the loader
 * refuses unknown keys, and they are large). Returns a malloc'd string (length in *len), or NULL when out
 * of memory. */
char *k8s_fixsession_text(json_t *obj, size_t *len);

/** metadata.namespace/name ("name" for cluster-scoped objects) into out. Returns the length, or -1 when
 * the object has no name or the key does not fit. */
int k8s_object_key(json_t *obj, char *out, size_t cap);
/** metadata.resourceVersion, or NULL. Borrowed from obj. */
const char *k8s_object_rv(json_t *obj);

#endif
