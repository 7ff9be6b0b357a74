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

/* Grow an array of n items of size sz to hold one more; libyaml frees these arrays with free() in
 * yaml_document_delete, so they are plain malloc'd memory. */
static bool grow(void **start, size_t n, size_t sz, size_t *cap)
{
	if (n < *cap)
		return true;
	size_t ncap = *cap ? *cap * 2 : 4;
	if (ncap > INT32_MAX)
		return false;
	void *p = realloc(*start, ncap * sz);
	if (!p)
		return false;
	*start = p;
	*cap = ncap;
	return true;
}

/* Append a node of the given type to the document; it takes over the tag (may be NULL). Returns its
 * id (1-based) or 0 when out of memory. */
static int push_node(yaml_document_t *doc, yaml_node_type_t type, yaml_char_t *tag)
{
	size_t n = (size_t)(doc->nodes.top - doc->nodes.start),
	       cap = (size_t)(doc->nodes.end - doc->nodes.start);
	void *start = doc->nodes.start;
	if (!grow(&start, n, sizeof(yaml_node_t), &cap)) {
		free(tag);
		return 0;
	}
	doc->nodes.start = start;
	doc->nodes.top = doc->nodes.start + n + 1;
	doc->nodes.end = doc->nodes.start + cap;
	yaml_node_t *node = &doc->nodes.start[n];
	memset(node, 0, sizeof(*node));
	node->type = type;
	node->tag = tag;
	return (int)(n + 1);
}

static bool append_item(yaml_node_t *seq, int id)
{
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start),
	       cap = (size_t)(seq->data.sequence.items.end - seq->data.sequence.items.start);
	void *start = seq->data.sequence.items.start;
	if (!grow(&start, n, sizeof(yaml_node_item_t), &cap))
		return false;
	seq->data.sequence.items.start = start;
	seq->data.sequence.items.start[n] = id;
	seq->data.sequence.items.top = seq->data.sequence.items.start + n + 1;
	seq->data.sequence.items.end = seq->data.sequence.items.start + cap;
	return true;
}

static bool append_pair(yaml_node_t *map, int key, int value)
{
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start),
	       cap = (size_t)(map->data.mapping.pairs.end - map->data.mapping.pairs.start);
	void *start = map->data.mapping.pairs.start;
	if (!grow(&start, n, sizeof(yaml_node_pair_t), &cap))
		return false;
	map->data.mapping.pairs.start = start;
	map->data.mapping.pairs.start[n] = (yaml_node_pair_t){key, value};
	map->data.mapping.pairs.top = map->data.mapping.pairs.start + n + 1;
	map->data.mapping.pairs.end = map->data.mapping.pairs.start + cap;
	return true;
}

/* Attach node id to the open collection (or make it the root when none is open: the first node of a
 * document is its root). */
static bool attach(struct composer *c, int id)
{
	if (c->depth == 0)
		return true;
	struct level *top = &c->stack[c->depth - 1];
	yaml_node_t *parent = &c->doc->nodes.start[top->node - 1];
	if (parent->type == YAML_SEQUENCE_NODE)
		return append_item(parent, id);
	if (!top->key) {
		top->key = id;
		return true;
	}
	int key = top->key;
	top->key = 0;
	return append_pair(parent, key, id);
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

/* Node ids are indexes into the document's node array, which the composer grows itself: it takes
 * over the event's strings (value, tag) instead of copying them, as libyaml's own loader does;
 * yaml_document_delete frees them. */
static yaml_node_t *node_of(yaml_document_t *doc, int id)
{
	return &doc->nodes.start[id - 1];
}

static void set_marks(yaml_document_t *doc, int id, const yaml_event_t *ev)
{
	yaml_node_t *n = node_of(doc, id);
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
		node_of(doc, c->stack[c->depth - 1].node)->end_mark = ev->end_mark;
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
		id = push_node(doc, YAML_SCALAR_NODE, ev->data.scalar.tag);
		ev->data.scalar.tag = NULL;
		if (!id)
			return YAML_DOC_NOMEM;
		node_of(doc, id)->data.scalar.value = ev->data.scalar.value;
		node_of(doc, id)->data.scalar.length = ev->data.scalar.length;
		node_of(doc, id)->data.scalar.style = ev->data.scalar.style;
		ev->data.scalar.value = NULL;
		if (!add_anchor(c, &ev->data.scalar.anchor, id))
			return YAML_DOC_NOMEM;
		set_marks(doc, id, ev);
		return attach(c, id) ? YAML_DOC_OK : YAML_DOC_NOMEM;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (c->depth >= lim->max_depth) {
			*at = ev->start_mark;
			return YAML_DOC_DEPTH;
		}
		/* Collections get their item array at once, as libyaml's loader gives them: code that reads
		 * an empty list may expect a non-NULL start. */
		if (ev->type == YAML_SEQUENCE_START_EVENT) {
			id = push_node(doc, YAML_SEQUENCE_NODE, ev->data.sequence_start.tag);
			ev->data.sequence_start.tag = NULL;
			if (id) {
				yaml_node_t *n = node_of(doc, id);
				n->data.sequence.style = ev->data.sequence_start.style;
				if (!(n->data.sequence.items.start = malloc(4 * sizeof(yaml_node_item_t))))
					return YAML_DOC_NOMEM;
				n->data.sequence.items.top = n->data.sequence.items.start;
				n->data.sequence.items.end = n->data.sequence.items.start + 4;
			}
		} else {
			id = push_node(doc, YAML_MAPPING_NODE, ev->data.mapping_start.tag);
			ev->data.mapping_start.tag = NULL;
			if (id) {
				yaml_node_t *n = node_of(doc, id);
				n->data.mapping.style = ev->data.mapping_start.style;
				if (!(n->data.mapping.pairs.start = malloc(4 * sizeof(yaml_node_pair_t))))
					return YAML_DOC_NOMEM;
				n->data.mapping.pairs.top = n->data.mapping.pairs.start;
				n->data.mapping.pairs.end = n->data.mapping.pairs.start + 4;
			}
		}
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
				/* An empty document: its arrays grow on the first node. */
				memset(doc, 0, sizeof(*doc));
				doc->start_implicit = ev.data.document_start.implicit;
				doc->start_mark = ev.start_mark;
				open = true;
			}
			yaml_event_delete(&ev);
			if (st != YAML_DOC_OK)
				break;
			continue;
		}
		st = compose_event(&c, lim, &ev, at);
		if (st == YAML_DOC_END) {
			doc->end_implicit = ev.data.document_end.implicit;
			doc->end_mark = ev.end_mark;
		}
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
