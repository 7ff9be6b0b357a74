/* yaml_fast.h - a scanner for the common subset of YAML that manifests use, producing the documents that
 * yaml_doc_next (libyaml) would produce, or saying UNSUPPORTED.
 *
 * libyaml spends most of a large load allocating and freeing one token and one event per scalar. This
 * scanner reads the shapes FIXSession files are written in (block mappings and sequences, "- key: v",
 * single-line flow collections such as {name: s1}, single-line plain and quoted scalars, comments,
 * document markers, JSON objects compact or pretty-printed) straight into a yaml_document_t, with no
 * allocation per node in the steady state. It never reports a syntax error: anything it is not certain
 * libyaml reads the same way (tabs, CR, non-ASCII bytes anywhere in the input, anchors, aliases, tags,
 * directives, "?" keys, block scalars, multi-line scalars, flow collections spanning lines other than a
 * document's root, escapes other than the simple ones, a limit reached, anything odd) is UNSUPPORTED, and the
 * caller parses that input with libyaml instead. The documents it returns equal libyaml's node by node:
 * types, values, lengths, styles, start and end marks, document flags and marks (tests/unit/test_yaml_fast.c
 * and fuzz/yaml_fast compare them). See ADR-017.
 */
#ifndef FIXGW_CORE_YAML_FAST_H
#define FIXGW_CORE_YAML_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "yaml_doc.h"

enum yaml_fast_status {
	YAML_FAST_OK = 0,      /* *doc holds the next document (borrowed: see yaml_fast_next) */
	YAML_FAST_END,         /* the input has no more documents */
	YAML_FAST_UNSUPPORTED, /* this document (and so the rest of the input) needs libyaml */
	YAML_FAST_NOMEM,       /* allocation failed */
};

struct yaml_fast_chunk; /* arena block (yaml_fast.c) */
struct yaml_fast_level; /* open block collection (yaml_fast.c) */

/** One input being read. Fields are private to yaml_fast.c. */
struct yaml_fast {
	const char *buf; /* borrowed input */
	size_t len, pos, line, line_start;
	struct yaml_doc_limits lim;
	bool ascii;     /* the whole input is printable ASCII and '\n' */
	bool stopped;   /* UNSUPPORTED or END was returned: every later call returns the same */
	bool after_end; /* the last document ended with "...": only "---" or the end may follow */
	enum yaml_fast_status stop;
	size_t ndocs;                    /* documents returned so far */
	yaml_node_t *nodes;              /* the current document's nodes */
	size_t nnodes, nodes_cap, count; /* count: nodes against lim.max_nodes */
	int *kids;                       /* children of the open collections, innermost last */
	size_t nkids, kids_cap;
	struct yaml_fast_level *levels; /* open block collections, lim.max_depth of them at most */
	size_t nlevels, depth;          /* depth: open block and flow collections */
	struct yaml_fast_chunk *chunks; /* values and child arrays of the current document */
	size_t nchunks, chunk, chunk_used, chunk_size;
};

/** Start reading buf (borrowed; it must outlive f) within lim. Cheap: one pass over the bytes. */
void yaml_fast_init(struct yaml_fast *f, const char *buf, size_t len, const struct yaml_doc_limits *lim);

/** Read the next document into *doc. On OK, *doc borrows f's memory: it stays valid until the next call
 * or yaml_fast_free and must NOT be passed to yaml_document_delete. On any other status *doc is
 * untouched. After UNSUPPORTED the documents already returned (f->ndocs of them) are exactly the first
 * documents libyaml would return for the same input, so a caller can parse the input again with libyaml
 * and skip that many. */
enum yaml_fast_status yaml_fast_next(struct yaml_fast *f, yaml_document_t *doc);

/** Free f's memory (and so the last document returned). */
void yaml_fast_free(struct yaml_fast *f);

#endif
