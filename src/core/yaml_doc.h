/* yaml_doc.h - build one YAML document at a time from libyaml's event stream, within limits, in one pass.
 *
 * libyaml's own yaml_parser_load builds a document of any size and depth, so a caller that wants bounds
 * must first parse the whole input once to count. This composer counts while it builds and stops at the
 * first node past a limit, so every byte is parsed once. The result is an ordinary yaml_document_t whose
 * nodes keep their start and end marks for diagnostics. Aliases point at their anchor's node (no copy),
 * as in libyaml's loader, so a schema walker that follows only known keys stays bounded on cycles.
 * Shared by the FIXSession loader (manifest.c) and the gateway config (gateway/config.c).
 */
#ifndef FIXGW_CORE_YAML_DOC_H
#define FIXGW_CORE_YAML_DOC_H

#include <stddef.h>
#include <yaml.h>

struct yaml_doc_limits {
	size_t max_depth; /* nested collections in one document */
	size_t max_nodes; /* scalars, collections and aliases in one document */
};

enum yaml_doc_status {
	YAML_DOC_OK = 0, /* *doc holds the next document (the caller deletes it) */
	YAML_DOC_END,    /* the stream ended; *doc is untouched */
	YAML_DOC_SYNTAX, /* libyaml's error: the parser's error, problem and marks say what and where */
	YAML_DOC_DEPTH,  /* a collection past max_depth at *at */
	YAML_DOC_NODES,  /* a node past max_nodes at *at */
	YAML_DOC_ALIAS,  /* an alias of an anchor not defined before it, at *at */
	YAML_DOC_NOMEM,  /* allocation failed */
};

/** Compose the next document of p's input. On any status but OK, *doc is left empty (nothing to free)
 * and the parser cannot go on: the rest of the input is skipped. *at is set for DEPTH, NODES, ALIAS. */
enum yaml_doc_status yaml_doc_next(yaml_parser_t *p, const struct yaml_doc_limits *lim, yaml_document_t *doc,
                                   yaml_mark_t *at);

#endif
