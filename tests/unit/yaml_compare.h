/* yaml_compare.h - run the fast YAML path and libyaml (yaml_doc_next) over one input in lock step and
 * compare their documents node by node. Shared by tests/unit/test_yaml_fast.c and fuzz/yaml_fast. */
#ifndef FIXGW_TESTS_YAML_COMPARE_H
#define FIXGW_TESTS_YAML_COMPARE_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "core/diag.h"
#include "core/manifest.h"
#include "core/route.h"
#include "core/yaml_doc.h"
#include "core/yaml_fast.h"

static inline bool yaml_compare_marks(yaml_mark_t a, yaml_mark_t b)
{
	return a.index == b.index && a.line == b.line && a.column == b.column;
}

static inline bool yaml_compare_tags(const yaml_char_t *a, const yaml_char_t *b)
{
	return a == b || (a && b && strcmp((const char *)a, (const char *)b) == 0);
}

/* NULL when fast equals slow, else what differs (in why). */
static inline const char *yaml_compare_docs(const yaml_document_t *fast, const yaml_document_t *slow,
                                            char *why, size_t cap)
{
#define YC_FAIL(...)                                                                                         \
	do {                                                                                                 \
		snprintf(why, cap, __VA_ARGS__);                                                             \
		return why;                                                                                  \
	} while (0)
	if (fast->start_implicit != slow->start_implicit || fast->end_implicit != slow->end_implicit)
		YC_FAIL("implicit: fast %d/%d, libyaml %d/%d", fast->start_implicit, fast->end_implicit,
		        slow->start_implicit, slow->end_implicit);
	if (!yaml_compare_marks(fast->start_mark, slow->start_mark) ||
	    !yaml_compare_marks(fast->end_mark, slow->end_mark))
		YC_FAIL("document marks: fast %zu:%zu-%zu:%zu, libyaml %zu:%zu-%zu:%zu",
		        fast->start_mark.line, fast->start_mark.column, fast->end_mark.line,
		        fast->end_mark.column, slow->start_mark.line, slow->start_mark.column,
		        slow->end_mark.line, slow->end_mark.column);
	if (fast->version_directive || slow->version_directive ||
	    fast->tag_directives.start != fast->tag_directives.end ||
	    slow->tag_directives.start != slow->tag_directives.end)
		YC_FAIL("directives");
	ptrdiff_t n = fast->nodes.top - fast->nodes.start;
	if (n != slow->nodes.top - slow->nodes.start)
		YC_FAIL("node count: fast %td, libyaml %td", n, slow->nodes.top - slow->nodes.start);
	for (ptrdiff_t i = 0; i < n; i++) {
		const yaml_node_t *a = &fast->nodes.start[i], *b = &slow->nodes.start[i];
		if (a->type != b->type)
			YC_FAIL("node %td: type fast %d, libyaml %d", i + 1, a->type, b->type);
		if (!yaml_compare_tags(a->tag, b->tag))
			YC_FAIL("node %td: tag", i + 1);
		if (!yaml_compare_marks(a->start_mark, b->start_mark))
			YC_FAIL("node %td: start fast %zu:%zu@%zu, libyaml %zu:%zu@%zu", i + 1,
			        a->start_mark.line, a->start_mark.column, a->start_mark.index,
			        b->start_mark.line, b->start_mark.column, b->start_mark.index);
		if (!yaml_compare_marks(a->end_mark, b->end_mark))
			YC_FAIL("node %td: end fast %zu:%zu@%zu, libyaml %zu:%zu@%zu", i + 1,
			        a->end_mark.line, a->end_mark.column, a->end_mark.index, b->end_mark.line,
			        b->end_mark.column, b->end_mark.index);
		switch (a->type) {
		case YAML_SCALAR_NODE:
			if (a->data.scalar.style != b->data.scalar.style)
				YC_FAIL("node %td: scalar style fast %d, libyaml %d", i + 1,
				        a->data.scalar.style, b->data.scalar.style);
			if (a->data.scalar.length != b->data.scalar.length ||
			    memcmp(a->data.scalar.value, b->data.scalar.value, a->data.scalar.length) != 0 ||
			    a->data.scalar.value[a->data.scalar.length] != '\0')
				YC_FAIL("node %td: value fast \"%.*s\", libyaml \"%.*s\"", i + 1,
				        (int)a->data.scalar.length, (const char *)a->data.scalar.value,
				        (int)b->data.scalar.length, (const char *)b->data.scalar.value);
			break;
		case YAML_SEQUENCE_NODE: {
			ptrdiff_t k = a->data.sequence.items.top - a->data.sequence.items.start;
			if (a->data.sequence.style != b->data.sequence.style)
				YC_FAIL("node %td: sequence style", i + 1);
			if (!a->data.sequence.items.start ||
			    k != b->data.sequence.items.top - b->data.sequence.items.start ||
			    (k && memcmp(a->data.sequence.items.start, b->data.sequence.items.start,
			                 (size_t)k * sizeof(yaml_node_item_t)) != 0))
				YC_FAIL("node %td: sequence items", i + 1);
			break;
		}
		case YAML_MAPPING_NODE: {
			ptrdiff_t k = a->data.mapping.pairs.top - a->data.mapping.pairs.start;
			if (a->data.mapping.style != b->data.mapping.style)
				YC_FAIL("node %td: mapping style", i + 1);
			if (!a->data.mapping.pairs.start ||
			    k != b->data.mapping.pairs.top - b->data.mapping.pairs.start ||
			    (k && memcmp(a->data.mapping.pairs.start, b->data.mapping.pairs.start,
			                 (size_t)k * sizeof(yaml_node_pair_t)) != 0))
				YC_FAIL("node %td: mapping pairs", i + 1);
			break;
		}
		default:
			YC_FAIL("node %td: no type", i + 1);
		}
	}
	return NULL;
#undef YC_FAIL
}

/* Run both over text. Returns NULL when they agree on every document the fast path accepted (and on the
 * end, if it got there), else what differs. *accepted: documents the fast path returned; *last: its
 * final status. */
static inline const char *yaml_compare_input(const char *text, size_t len, const struct yaml_doc_limits *lim,
                                             size_t *accepted, enum yaml_fast_status *last, char *why,
                                             size_t cap)
{
	struct yaml_fast f;
	yaml_parser_t p;
	const char *diff = NULL;
	yaml_fast_init(&f, text, len, lim);
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	*accepted = 0;
	for (;;) {
		yaml_document_t fd, sd;
		yaml_mark_t at = {0, 0, 0};
		*last = yaml_fast_next(&f, &fd);
		if (*last == YAML_FAST_UNSUPPORTED || *last == YAML_FAST_NOMEM)
			break;
		enum yaml_doc_status st = yaml_doc_next(&p, lim, &sd, &at);
		if (*last == YAML_FAST_END) {
			if (st == YAML_DOC_OK)
				yaml_document_delete(&sd);
			if (st != YAML_DOC_END) {
				snprintf(why, cap, "fast path ended after %zu documents, libyaml says %d",
				         *accepted, st);
				diff = why;
			}
			break;
		}
		if (st != YAML_DOC_OK) {
			snprintf(why, cap, "document %zu: fast path accepted it, libyaml says %d",
			         *accepted + 1, st);
			diff = why;
			break;
		}
		char inner[200];
		diff = yaml_compare_docs(&fd, &sd, inner, sizeof(inner));
		yaml_document_delete(&sd);
		if (diff) {
			snprintf(why, cap, "document %zu: %s", *accepted + 1, inner);
			diff = why;
			break;
		}
		(*accepted)++;
	}
	yaml_parser_delete(&p);
	yaml_fast_free(&f);
	return diff;
}

static inline bool yaml_compare_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static inline bool yaml_compare_routes(const struct route *a, const struct route *b)
{
	if (!yaml_compare_str(a->ns, b->ns) || !yaml_compare_str(a->name, b->name) ||
	    !yaml_compare_str(a->source, b->source) || a->nfields != b->nfields ||
	    a->has_priority != b->has_priority || a->priority != b->priority ||
	    !yaml_compare_str(a->target.service, b->target.service) || a->target.port != b->target.port ||
	    !yaml_compare_str(a->target.port_name, b->target.port_name) || a->nlisteners != b->nlisteners ||
	    a->max_held != b->max_held || a->hold_timeout_ms != b->hold_timeout_ms)
		return false;
	for (size_t i = 0; i < a->nfields; i++) {
		const struct route_field *x = &a->fields[i], *y = &b->fields[i];
		if (x->tag != y->tag || !yaml_compare_str(x->name, y->name) || x->value_len != y->value_len ||
		    memcmp(x->value, y->value, x->value_len) != 0 || x->is_pattern != y->is_pattern ||
		    x->log != y->log || x->redact != y->redact)
			return false;
	}
	for (size_t i = 0; i < a->nlisteners; i++)
		if (!yaml_compare_str(a->listeners[i], b->listeners[i]))
			return false;
	return true;
}

/* Load text with the fast path on and off (manifest_loader_set_yaml_fast): NULL when the return codes,
 * the diagnostics' text and the routes are the same, else what differs. */
static inline const char *yaml_compare_loads(const char *text, size_t len, char *why, size_t cap)
{
	struct route_set sets[2];
	struct diag_list dls[2];
	int rcs[2];
	const char *diff = NULL;
	for (int i = 0; i < 2; i++) {
		struct manifest_loader *ld;
		route_set_init(&sets[i]);
		diag_list_init(&dls[i]);
		rcs[i] = manifest_loader_new(&sets[i], &dls[i], &ld);
		if (rcs[i] == 0) {
			manifest_loader_set_yaml_fast(ld, i == 0);
			rcs[i] = manifest_loader_add(ld, "in.yaml", text, len);
			manifest_loader_free(ld);
		}
	}
	if (rcs[0] != rcs[1]) {
		snprintf(why, cap, "load returned %d with the fast path, %d without", rcs[0], rcs[1]);
		diff = why;
	} else if (dls[0].count != dls[1].count) {
		snprintf(why, cap, "%zu diagnostics with the fast path, %zu without", dls[0].count,
		         dls[1].count);
		diff = why;
	} else if (sets[0].count != sets[1].count) {
		snprintf(why, cap, "%zu routes with the fast path, %zu without", sets[0].count,
		         sets[1].count);
		diff = why;
	}
	for (size_t i = 0; !diff && i < dls[0].count; i++) {
		char a[1024], b[1024];
		diag_format(&dls[0].items[i], a, sizeof(a));
		diag_format(&dls[1].items[i], b, sizeof(b));
		if (strcmp(a, b) != 0) {
			snprintf(why, cap, "diagnostic %zu: \"%s\" with the fast path, \"%s\" without", i, a,
			         b);
			diff = why;
		}
	}
	for (size_t i = 0; !diff && i < sets[0].count; i++) {
		if (!yaml_compare_routes(&sets[0].items[i], &sets[1].items[i])) {
			snprintf(why, cap, "route %zu differs", i);
			diff = why;
		}
	}
	for (int i = 0; i < 2; i++) {
		route_set_free(&sets[i]);
		diag_list_free(&dls[i]);
	}
	return diff;
}

#endif
