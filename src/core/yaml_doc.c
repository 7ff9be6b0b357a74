/* yaml_doc.c - one-pass, bounded document composer over libyaml events (yaml_doc.h). */
#include "yaml_doc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct anchor {
	char *name; /* owned, taken from the event */
	int node;
};

struct level {
	int node;
	int key; /* a mapping's key waiting for its value, or 0 */
};

struct composer {
	yaml_document_t *doc;
	struct level *stack;
	size_t depth, cap;
	size_t nodes;
	struct anchor *anchors; /* in definition order */
	size_t nanchors, anchors_cap;
	uint32_t *slots; /* name hash -> anchor index + 1, so every alias costs O(1) */
	size_t nslots;   /* a power of two, at least twice nanchors */
};

/* Attach node id to the open collection (or make it the root when none is open). */
static bool attach(struct composer *c, int id)
{
	if (c->depth == 0)
		return true; /* the first node added is the root */
	struct level *top = &c->stack[c->depth - 1];
	yaml_node_t *parent = yaml_document_get_node(c->doc, top->node);
	if (parent->type == YAML_SEQUENCE_NODE)
		return yaml_document_append_sequence_item(c->doc, top->node, id) != 0;
	if (!top->key) {
		top->key = id;
		return true;
	}
	int key = top->key;
	top->key = 0;
	return yaml_document_append_mapping_pair(c->doc, top->node, key, id) != 0;
}

static size_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)h;
}

/* The slot of name, or the empty slot where it would go. */
static size_t anchor_slot(const struct composer *c, const char *name)
{
	size_t mask = c->nslots - 1, i = name_hash(name) & mask;
	while (c->slots[i] && strcmp(c->anchors[c->slots[i] - 1].name, name) != 0)
		i = (i + 1) & mask;
	return i;
}

static bool anchors_reserve(struct composer *c)
{
	if (c->nanchors == c->anchors_cap) {
		size_t cap = c->anchors_cap ? c->anchors_cap * 2 : 16;
		struct anchor *a = realloc(c->anchors, cap * sizeof(*a));
		if (!a)
			return false;
		c->anchors = a;
		c->anchors_cap = cap;
	}
	if ((c->nanchors + 1) * 2 <= c->nslots)
		return true;
	size_t nslots = c->nslots ? c->nslots * 2 : 32;
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return false;
	free(c->slots);
	c->slots = slots;
	c->nslots = nslots;
	for (size_t i = 0; i < c->nanchors; i++)
		c->slots[anchor_slot(c, c->anchors[i].name)] = (uint32_t)(i + 1);
	return true;
}

/* Remember an anchor; a later anchor of the same name replaces it, as YAML says. The name is taken
 * over from the event. */
static bool add_anchor(struct composer *c, yaml_char_t **name, int id)
{
	if (!*name)
		return true;
	if (!anchors_reserve(c))
		return false;
	size_t slot = anchor_slot(c, (const char *)*name);
	if (c->slots[slot]) {
		c->anchors[c->slots[slot] - 1].node = id;
		return true; /* the event keeps and frees its copy of the name */
	}
	c->anchors[c->nanchors] = (struct anchor){(char *)*name, id};
	c->slots[slot] = (uint32_t)++c->nanchors;
	*name = NULL;
	return true;
}

static int find_anchor(const struct composer *c, const yaml_char_t *name)
{
	if (!c->nslots)
		return 0;
	uint32_t v = c->slots[anchor_slot(c, (const char *)name)];
	return v ? c->anchors[v - 1].node : 0;
}

static void set_marks(yaml_document_t *doc, int id, const yaml_event_t *ev)
{
	yaml_node_t *n = yaml_document_get_node(doc, id);
	n->start_mark = ev->start_mark;
	n->end_mark = ev->end_mark;
}

static bool push(struct composer *c, int id)
{
	if (c->depth == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct level *s = realloc(c->stack, cap * sizeof(*s));
		if (!s)
			return false;
		c->stack = s;
		c->cap = cap;
	}
	c->stack[c->depth++] = (struct level){id, 0};
	return true;
}

/* One event of a document's body. Returns OK to go on, END at the document's end, or a failure. */
static enum yaml_doc_status compose_event(struct composer *c, const struct yaml_doc_limits *lim,
                                          yaml_event_t *ev, yaml_mark_t *at)
{
	yaml_document_t *doc = c->doc;
	int id = 0;
	switch (ev->type) {
	case YAML_DOCUMENT_END_EVENT:
		return YAML_DOC_END;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		yaml_document_get_node(doc, c->stack[c->depth - 1].node)->end_mark = ev->end_mark;
		c->depth--;
		return YAML_DOC_OK;
	default:
		break;
	}
	if (++c->nodes > lim->max_nodes) {
		*at = ev->start_mark;
		return YAML_DOC_NODES;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		id = find_anchor(c, ev->data.alias.anchor);
		if (!id) {
			*at = ev->start_mark;
			return YAML_DOC_ALIAS;
		}
		return attach(c, id) ? YAML_DOC_OK : YAML_DOC_NOMEM;
	case YAML_SCALAR_EVENT:
		id = yaml_document_add_scalar(doc, ev->data.scalar.tag, ev->data.scalar.value,
		                              (int)ev->data.scalar.length, ev->data.scalar.style);
		if (!id || !add_anchor(c, &ev->data.scalar.anchor, id))
			return YAML_DOC_NOMEM;
		set_marks(doc, id, ev);
		return attach(c, id) ? YAML_DOC_OK : YAML_DOC_NOMEM;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (c->depth >= lim->max_depth) {
			*at = ev->start_mark;
			return YAML_DOC_DEPTH;
		}
		if (ev->type == YAML_SEQUENCE_START_EVENT)
			id = yaml_document_add_sequence(doc, ev->data.sequence_start.tag,
			                                ev->data.sequence_start.style);
		else
			id = yaml_document_add_mapping(doc, ev->data.mapping_start.tag,
			                               ev->data.mapping_start.style);
		if (!id || !add_anchor(c,
		                       ev->type == YAML_SEQUENCE_START_EVENT ? &ev->data.sequence_start.anchor
		                                                             : &ev->data.mapping_start.anchor,
		                       id))
			return YAML_DOC_NOMEM;
		set_marks(doc, id, ev);
		return attach(c, id) && push(c, id) ? YAML_DOC_OK : YAML_DOC_NOMEM;
	default:
		return YAML_DOC_OK; /* stream and document starts cannot occur inside a document */
	}
}

enum yaml_doc_status yaml_doc_next(yaml_parser_t *p, const struct yaml_doc_limits *lim, yaml_document_t *doc,
                                   yaml_mark_t *at)
{
	struct composer c = {.doc = doc};
	enum yaml_doc_status st = YAML_DOC_OK;
	yaml_event_t ev;
	bool open = false;
	for (;;) {
		if (!yaml_parser_parse(p, &ev)) {
			st = p->error == YAML_MEMORY_ERROR ? YAML_DOC_NOMEM : YAML_DOC_SYNTAX;
			break;
		}
		if (!open) {
			if (ev.type == YAML_STREAM_END_EVENT) {
				st = YAML_DOC_END;
			} else if (ev.type == YAML_DOCUMENT_START_EVENT) {
				if (!yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1))
					st = YAML_DOC_NOMEM;
				open = st == YAML_DOC_OK;
				if (open)
					doc->start_mark = ev.start_mark;
			}
			yaml_event_delete(&ev);
			if (st != YAML_DOC_OK)
				break;
			continue;
		}
		st = compose_event(&c, lim, &ev, at);
		if (st == YAML_DOC_END)
			doc->end_mark = ev.end_mark;
		yaml_event_delete(&ev);
		if (st != YAML_DOC_OK)
			break;
	}
	if (st == YAML_DOC_END && open)
		st = YAML_DOC_OK; /* the document is complete */
	else if (open)
		yaml_document_delete(doc);
	for (size_t i = 0; i < c.nanchors; i++)
		free(c.anchors[i].name);
	free(c.anchors);
	free(c.slots);
	free(c.stack);
	return st;
}
