/* route.c - the FIXSession model (see route.h). */
#include "route.h"

#include <stdlib.h>
#include <string.h>

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
	if (set->count == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 8;
		struct route *items = realloc(set->items, cap * sizeof(*items));
		if (!items)
			return NULL;
		set->items = items;
		set->cap = cap;
	}
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
