/* store.c - the informer's cache (see store.h): a chained hash table. */
#include "k8s/store.h"

#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

#define STORE_MIN_BUCKETS 64u

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void free_obj(const struct k8s_store_ops *ops, void *obj)
{
	if (ops && ops->free_obj && obj)
		ops->free_obj(ops->arg, obj);
}

int k8s_store_init(struct k8s_store *s)
{
	memset(s, 0, sizeof(*s));
	s->buckets = calloc(STORE_MIN_BUCKETS, sizeof(*s->buckets));
	if (!s->buckets)
		return FIXGW_ENOMEM;
	s->nbuckets = STORE_MIN_BUCKETS;
	return 0;
}

static void entry_free(struct k8s_store_entry *e, const struct k8s_store_ops *ops)
{
	free_obj(ops, e->obj);
	free(e->key);
	free(e->rv);
	free(e);
}

void k8s_store_free(struct k8s_store *s, const struct k8s_store_ops *ops)
{
	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct k8s_store_entry *e = s->buckets[i], *next; e; e = next) {
			next = e->next;
			entry_free(e, ops);
		}
	free(s->buckets);
	memset(s, 0, sizeof(*s));
}

struct k8s_store_entry *k8s_store_get(const struct k8s_store *s, const char *key)
{
	for (struct k8s_store_entry *e = s->buckets[hash(key) & (s->nbuckets - 1)]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Double the table when it is full; a failed growth only costs speed. */
static void maybe_grow(struct k8s_store *s)
{
	if (s->count < s->nbuckets)
		return;
	size_t n = s->nbuckets * 2;
	struct k8s_store_entry **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct k8s_store_entry *e = s->buckets[i], *next; e; e = next) {
			next = e->next;
			size_t j = hash(e->key) & (n - 1);
			e->next = b[j];
			b[j] = e;
		}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

/* Insert or replace without callbacks. *old receives the replaced object (NULL when new); the entry is
 * returned, or NULL on ENOMEM (obj untouched). Takes rv over when take_rv. */
static struct k8s_store_entry *upsert(struct k8s_store *s, const char *key, char *rv, void *obj, void **old)
{
	struct k8s_store_entry *e = k8s_store_get(s, key);
	if (e) {
		*old = e->obj;
		free(e->rv);
		e->rv = rv;
		e->obj = obj;
		return e;
	}
	*old = NULL;
	e = calloc(1, sizeof(*e));
	char *k = strdup(key);
	if (!e || !k) {
		free(e);
		free(k);
		return NULL;
	}
	maybe_grow(s);
	size_t i = hash(key) & (s->nbuckets - 1);
	e->key = k;
	e->rv = rv;
	e->obj = obj;
	e->next = s->buckets[i];
	s->buckets[i] = e;
	s->count++;
	return e;
}

int k8s_store_put(struct k8s_store *s, const char *key, const char *rv, void *obj,
                  const struct k8s_store_ops *ops)
{
	char *r = strdup(rv ? rv : "");
	void *old;
	struct k8s_store_entry *e = r ? upsert(s, key, r, obj, &old) : NULL;
	if (!e) {
		free(r);
		free_obj(ops, obj);
		return FIXGW_ENOMEM;
	}
	e->mark = s->mark;
	if (old) {
		if (ops && ops->update)
			ops->update(ops->arg, e->key, old, obj);
		free_obj(ops, old);
	} else if (ops && ops->add) {
		ops->add(ops->arg, e->key, obj);
	}
	return 0;
}

/* Unlink and return the entry of key, or NULL. */
static struct k8s_store_entry *unlink_key(struct k8s_store *s, const char *key)
{
	for (struct k8s_store_entry **pp = &s->buckets[hash(key) & (s->nbuckets - 1)]; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->key, key) == 0) {
			struct k8s_store_entry *e = *pp;
			*pp = e->next;
			s->count--;
			return e;
		}
	return NULL;
}

void k8s_store_remove(struct k8s_store *s, const char *key, const struct k8s_store_ops *ops)
{
	struct k8s_store_entry *e = unlink_key(s, key);
	if (!e)
		return;
	if (ops && ops->del)
		ops->del(ops->arg, e->key, e->obj);
	entry_free(e, ops);
}

int k8s_store_replace(struct k8s_store *s, struct k8s_store_item *items, size_t n,
                      const struct k8s_store_ops *ops)
{
	uint64_t mark = ++s->mark;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct k8s_store_item *it = &items[i];
		struct k8s_store_entry *e = k8s_store_get(s, it->key);
		if (e && e->mark != mark && strcmp(e->rv, it->rv) == 0) {
			e->mark = mark; /* unchanged since the cache saw it */
			free_obj(ops, it->obj);
			free(it->rv);
		} else if (rc == 0) {
			void *old;
			e = upsert(s, it->key, it->rv, it->obj, &old);
			if (!e) {
				rc = FIXGW_ENOMEM;
				free_obj(ops, it->obj);
				free(it->rv);
			} else {
				e->mark = mark;
				if (old) {
					if (ops && ops->update)
						ops->update(ops->arg, e->key, old, it->obj);
					free_obj(ops, old);
				} else if (ops && ops->add) {
					ops->add(ops->arg, e->key, it->obj);
				}
			}
		} else {
			free_obj(ops, it->obj);
			free(it->rv);
		}
		free(it->key);
		it->key = it->rv = NULL;
		it->obj = NULL;
	}
	if (rc != 0)
		return rc; /* a partial list must not delete: what it lacks may only be unread */
	for (size_t b = 0; b < s->nbuckets; b++)
		for (struct k8s_store_entry **pp = &s->buckets[b]; *pp;) {
			struct k8s_store_entry *e = *pp;
			if (e->mark == mark) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			s->count--;
			if (ops && ops->del)
				ops->del(ops->arg, e->key, e->obj);
			entry_free(e, ops);
		}
	return 0;
}

void k8s_store_foreach(const struct k8s_store *s, bool (*fn)(void *arg, const struct k8s_store_entry *e),
                       void *arg)
{
	for (size_t i = 0; i < s->nbuckets; i++)
		for (const struct k8s_store_entry *e = s->buckets[i]; e; e = e->next)
			if (!fn(arg, e))
				return;
}
