/* informer.h - client-go's reflector and informer in one: list, then watch from the list's
 * resourceVersion, keep a cache, call the owner back on every change.
 *
 * Each informer runs on its own thread (k8s_informer_start). On it:
 *   list   paginated (limit/continue, consistent reads); a 410 on an expired continue token restarts the
 *          list, and a second one lists without pagination (client-go's pager does the same). The complete
 *          list is diffed against the cache (store.h): the cache is never emptied by a relist.
 *   watch  from the last resourceVersion, allowWatchBookmarks=true, timeoutSeconds = watch_timeout * (1 + r)
 *          (client-go: 5 min * [1, 2)); a stream with no byte for timeoutSeconds + stall_slack is stalled
 *          and reconnected. A server-side timeout re-watches at once; transport errors, 429/5xx (honouring
 *          Retry-After) and truncated streams re-watch from the last resourceVersion after a jittered
 *          exponential backoff (800 ms doubling to 30 s, jitter 1.0); 410 Gone (HTTP or a watch ERROR
 *          event), an event over max_event_bytes and an event that is not valid JSON relist.
 * Callbacks (add/update/delete, synced) run on the informer's thread, under the informer's lock (a
 * recursive mutex, so they may call k8s_informer_get/foreach; other threads wait while they run).
 */
#ifndef FIXGW_K8S_INFORMER_H
#define FIXGW_K8S_INFORMER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "k8s/api.h"
#include "k8s/store.h"

#define K8S_DEFAULT_PAGE_SIZE       500u
#define K8S_DEFAULT_WATCH_TIMEOUT_S 300u /* client-go's minWatchTimeout */
#define K8S_DEFAULT_STALL_SLACK_MS  30000u

struct k8s_informer;

/** The owner's callbacks, all optional, all on the informer thread. Objects are the decoded form. */
struct k8s_informer_handlers {
	void *arg;
	/** Turn an API object (borrowed) into the form the cache keeps. NULL means "leave this object out"
	 * (treated as absent: a cached version is deleted). Without decode the cache keeps a reference to
	 * the json_t itself. */
	void *(*decode)(void *arg, const char *key, json_t *obj);
	/** Free a decoded object (default: json_decref when there is no decode). */
	void (*free_obj)(void *arg, void *obj);
	void (*on_add)(void *arg, const char *key, void *obj);
	/** old is freed after the call returns. */
	void (*on_update)(void *arg, const char *key, void *old_obj, void *new_obj);
	/** obj is freed after the call returns. */
	void (*on_delete)(void *arg, const char *key, void *obj);
	/** After every complete list has been applied (the first one makes the informer synced). */
	void (*on_synced)(void *arg);
};

/** What to watch and how; zero fields take the defaults. Strings are copied. */
struct k8s_informer_opts {
	const char *namespace_; /* NULL or "": all namespaces */
	const char *label_selector;
	const char *field_selector;
	uint32_t page_size;       /* list limit; K8S_DEFAULT_PAGE_SIZE */
	uint32_t watch_timeout_s; /* K8S_DEFAULT_WATCH_TIMEOUT_S; each watch asks for [t, 2t) */
	uint32_t stall_slack_ms;  /* K8S_DEFAULT_STALL_SLACK_MS */
	size_t max_event_bytes;   /* K8S_SPLIT_DEFAULT_MAX_EVENT */
	uint32_t backoff_base_ms, backoff_cap_ms; /* 800 ms, 30 s */
};

/** Counters, for tests and metrics. */
struct k8s_informer_stats {
	uint64_t lists;   /* complete lists applied */
	uint64_t pages;   /* list pages read */
	uint64_t relists; /* lists after the first */
	uint64_t watches; /* watch requests made */
	uint64_t events;  /* watch events applied (bookmarks excluded) */
	uint64_t bookmarks;
	uint64_t errors;  /* failed requests and streams */
	long list_status; /* HTTP status of the latest list answer, when it was not 200 (403: RBAC refuses);
	                     0 after a complete list */
	char resource_version[64];
};

/** Create (nothing runs yet). The client is borrowed and must outlive the informer. */
int k8s_informer_new(struct k8s_client *c, const struct k8s_resource *res,
                     const struct k8s_informer_opts *opts, const struct k8s_informer_handlers *h,
                     struct k8s_informer **out);
/** Start the thread. Returns 0 or FIXGW_ENOMEM/FIXGW_EIO. */
int k8s_informer_start(struct k8s_informer *inf);
/** Ask the thread to stop and wait for it (an in-flight request ends within about a second). */
void k8s_informer_stop(struct k8s_informer *inf);
/** Stop if running, then free the cache (no callbacks) and the informer. */
void k8s_informer_free(struct k8s_informer *inf);

/** True once the first complete list is in the cache; stays true through relists. */
bool k8s_informer_synced(const struct k8s_informer *inf);
/** Wait until synced or timeout_ms pass (0: no wait). Returns the synced state. */
bool k8s_informer_wait_synced(struct k8s_informer *inf, uint32_t timeout_ms);

/** Call fn with the cached object of key (NULL when absent) under the informer's lock. */
void k8s_informer_get(struct k8s_informer *inf, const char *key, void (*fn)(void *arg, const void *obj),
                      void *arg);
/** Visit every cached entry under the informer's lock; fn returns false to stop. */
void k8s_informer_foreach(struct k8s_informer *inf, bool (*fn)(void *arg, const struct k8s_store_entry *e),
                          void *arg);
/** Number of cached objects. */
size_t k8s_informer_count(struct k8s_informer *inf);
void k8s_informer_stats(struct k8s_informer *inf, struct k8s_informer_stats *out);

#endif
