/* route.c - the FIXSession model (see route.h). */
#include "route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

enum route_kind route_kind_of(const struct route *r)
{
	if (r->nfields == 0)
		return ROUTE_KIND_DEFAULT;
	for (size_t i = 0; i < r->nfields; i++)
		if (r->fields[i].is_pattern)
			return ROUTE_KIND_WILDCARD;
	return ROUTE_KIND_EXACT;
}

void route_set_init(struct route_set *set)
{
	memset(set, 0, sizeof(*set));
}

struct route *route_set_push(struct route_set *set)
{
	if (GROW_ARRAY(set->items, set->cap, set->count + 1, 8) != 0)
		return NULL;
	struct route *r = &set->items[set->count++];
	memset(r, 0, sizeof(*r));
	return r;
}

void route_set_pop(struct route_set *set)
{
	if (set->count == 0)
		return;
	route_free(&set->items[--set->count]);
}

void route_free(struct route *r)
{
	for (size_t i = 0; i < r->nfields; i++) {
		free(r->fields[i].name);
		free(r->fields[i].value);
	}
	free(r->fields);
	for (size_t i = 0; i < r->nlisteners; i++)
		free(r->listeners[i]);
	free(r->listeners);
	free(r->ns);
	free(r->name);
	free(r->source);
	free(r->target.service);
	free(r->target.port_name);
	memset(r, 0, sizeof(*r));
}

void route_set_free(struct route_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		route_free(&set->items[i]);
	free(set->items);
	memset(set, 0, sizeof(*set));
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	return src && !(*dst = strdup(src)) ? -ENOMEM : 0;
}

int route_copy(struct route *dst, const struct route *src)
{
	*dst = *src;
	dst->fields = NULL;
	dst->listeners = NULL;
	dst->nfields = dst->nlisteners = 0;
	int err = dup_str(&dst->ns, src->ns) | dup_str(&dst->name, src->name) |
	          dup_str(&dst->source, src->source) | dup_str(&dst->target.service, src->target.service) |
	          dup_str(&dst->target.port_name, src->target.port_name);
	if (!err && src->nfields) {
		dst->fields = calloc(src->nfields, sizeof(*dst->fields));
		err = dst->fields ? 0 : -ENOMEM;
		for (size_t i = 0; !err && i < src->nfields; i++, dst->nfields++) {
			const struct route_field *f = &src->fields[i];
			dst->fields[i] = *f;
			dst->fields[i].value = malloc(f->value_len + 1);
			err = dup_str(&dst->fields[i].name, f->name);
			if (!dst->fields[i].value)
				err = -ENOMEM;
			else
				memcpy(dst->fields[i].value, f->value, f->value_len + 1);
		}
	}
	if (!err && src->nlisteners) {
		dst->listeners = calloc(src->nlisteners, sizeof(*dst->listeners));
		err = dst->listeners ? 0 : -ENOMEM;
		for (size_t i = 0; !err && i < src->nlisteners; i++, dst->nlisteners++)
			err = dup_str(&dst->listeners[i], src->listeners[i]);
	}
	if (err)
		route_free(dst);
	return err ? -ENOMEM : 0;
}
