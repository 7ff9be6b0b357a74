/* store.h - the informer's cache: objects keyed "namespace/name", each with its resourceVersion, and the
 * diff a relist makes against it.
 *
 * Pure and single-threaded (the informer locks around it). The store owns the objects it holds (the
 * caller's decoded form, opaque here) and frees them with the free_obj of the ops. A relist never empties
 * the store: k8s_store_replace applies the complete new list as adds, updates and deletes, so a reader
 * sees the old set, then the new one, never nothing.
 */
#ifndef FIXGW_K8S_STORE_H
#define FIXGW_K8S_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct k8s_store_entry {
	char *key; /* "namespace/name", owned */
	char *rv;  /* resourceVersion, owned */
	void *obj; /* owned through the ops' free_obj */
	uint64_t mark;
	struct k8s_store_entry *next;
};

struct k8s_store {
	struct k8s_store_entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	uint64_t mark;
};

/** What the store tells its owner. Objects passed to add/update/del stay valid for the call only (update's
 * old and del's obj are freed right after it). Any callback may be NULL. */
struct k8s_store_ops {
	void *arg;
	void (*add)(void *arg, const char *key, void *obj);
	void (*update)(void *arg, const char *key, void *old_obj, void *new_obj);
	void (*del)(void *arg, const char *key, void *old_obj);
	void (*free_obj)(void *arg, void *obj); /* NULL: objects are not freed */
};

/** One object of a complete list, handed to k8s_store_replace, which takes key, rv and obj over (all
 * malloc'd; obj through free_obj). */
struct k8s_store_item {
	char *key;
	char *rv;
	void *obj;
};

int k8s_store_init(struct k8s_store *s);
/** Free every entry (no del callbacks). */
void k8s_store_free(struct k8s_store *s, const struct k8s_store_ops *ops);

struct k8s_store_entry *k8s_store_get(const struct k8s_store *s, const char *key);

/** Add or replace one object (a watch ADDED/MODIFIED). Takes obj over; key and rv are copied. Calls add or
 * update. Returns 0 or FIXGW_ENOMEM (obj is then freed). */
int k8s_store_put(struct k8s_store *s, const char *key, const char *rv, void *obj,
                  const struct k8s_store_ops *ops);

/** Remove one object (a watch DELETED); calls del when it was there. */
void k8s_store_remove(struct k8s_store *s, const char *key, const struct k8s_store_ops *ops);

/** Make the store equal to a complete list: items whose key is new are added, those whose resourceVersion
 * changed are updated (an unchanged resourceVersion keeps the cached object and calls nothing), and cached
 * keys absent from the list are deleted, after every add and update. Takes every item over (the array
 * itself stays the caller's). Duplicate keys in items: the last wins. Returns 0 or FIXGW_ENOMEM (the store
 * then holds a mix of old and new objects, never fewer than before minus the deleted ones; the caller
 * relists). */
int k8s_store_replace(struct k8s_store *s, struct k8s_store_item *items, size_t n,
                      const struct k8s_store_ops *ops);

/** Visit every entry in no particular order; fn returns false to stop. */
void k8s_store_foreach(const struct k8s_store *s, bool (*fn)(void *arg, const struct k8s_store_entry *e),
                       void *arg);

#endif
