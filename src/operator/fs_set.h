/* fs_set.h - a sorted deep copy of the FIXSession informer's cache, for the reconciler and the admission
 * webhook.
 *
 * Deep copies, taken under the informer's lock: jansson's reference counts are not safe to share between
 * threads (json_decref reads the count without an atomic load; ThreadSanitizer reports it), so no other
 * thread ever holds a reference to a cached object. Sorted by "namespace/name", so the same set always
 * compiles the same way (and names conflicts in the same order) whatever the watch order.
 */
#ifndef FIXGW_OPERATOR_FS_SET_H
#define FIXGW_OPERATOR_FS_SET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "k8s/informer.h"

/** One FIXSession: its "namespace/name" and the object, both owned by the set. */
struct fs_item {
	char *key;
	json_t *obj;
};

struct fs_vec {
	struct fs_item *v;
	size_t n, cap;
	bool nomem;
};

/** A k8s_informer_foreach callback (arg: a struct fs_vec): append a deep copy of e. On failure nomem is
 * set and the visit stops. */
bool fs_vec_take(void *arg, const struct k8s_store_entry *e);
/** Sort by key. */
void fs_vec_sort(struct fs_vec *f);

void fs_vec_free(struct fs_vec *f);

#endif
