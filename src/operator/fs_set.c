/* fs_set.c - sorted deep copies of the FIXSession cache (fs_set.h). */
#include "operator/fs_set.h"

#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

bool fs_vec_take(void *arg, const struct k8s_store_entry *e)
{
	struct fs_vec *f = arg;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 256;
		struct fs_item *g = realloc(f->v, cap * sizeof(*g));
		if (!g) {
			f->nomem = true;
			return false;
		}
		f->v = g;
		f->cap = cap;
	}
	char *k = strdup(e->key);
	json_t *copy = json_deep_copy(e->obj);
	if (!k || !copy) {
		free(k);
		json_decref(copy);
		f->nomem = true;
		return false;
	}
	f->v[f->n++] = (struct fs_item){k, copy};
	return true;
}

static int cmp_fs(const void *a, const void *b)
{
	return strcmp(((const struct fs_item *)a)->key, ((const struct fs_item *)b)->key);
}

void fs_vec_sort(struct fs_vec *f)
{
	if (f->n)
		qsort(f->v, f->n, sizeof(*f->v), cmp_fs);
}

void fs_vec_free(struct fs_vec *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].key);
		json_decref(f->v[i].obj);
	}
	free(f->v);
	*f = (struct fs_vec){0};
}
