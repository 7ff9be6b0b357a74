/* route_table.h - compile a route_set into an immutable lookup table; evaluate a Logon against it.
 *
 * Compilation checks the whole set for conflicts (docs/decisions/adr-002-routing-and-conflicts.md): two
 * routes that could both match one Logon on one listener are a conflict unless one is an exact route
 * whose fields strictly contain the other's, and wildcard or default routes of equal priority that
 * could match the same Logon conflict. A table is never built from a conflicting set: the caller keeps
 * its last-known-good table.
 *
 * Evaluation order: exact routes, most fields first; then wildcard routes by priority (highest first);
 * then default routes by priority. Exact evaluation costs one hash look-up per distinct set of tags used
 * by exact routes (at most ROUTE_TABLE_MAX_SIGNATURES), whatever the number of routes.
 *
 * A table is immutable after compile and reference-counted, so a gateway can swap it atomically while
 * connections still point at routes of the old one.
 */
#ifndef FIXGW_CORE_ROUTE_TABLE_H
#define FIXGW_CORE_ROUTE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "fix_scan.h"
#include "redact.h"
#include "route.h"

#define ROUTE_TABLE_MAX_SIGNATURES 64   /* distinct tag sets among exact routes */
#define ROUTE_TABLE_MAX_LISTENERS  63   /* distinct listener names named by routes */
#define ROUTE_TABLE_MAX_WILDCARDS  4096 /* wildcard + default routes (pairwise-checked within a priority) */
#define ROUTE_TABLE_MAX_CONFLICTS  100  /* conflicts reported in full; the rest are counted */

struct route_table;

/** Compile. On success *out is a new table (refcount 1) that has taken ownership of every route in
 * set (set is left empty). On FIXGW_ECONFLICT or FIXGW_EINVAL the diagnostics name each conflict (both
 * FIXSessions as namespace/name and the overlapping fields) and set is untouched. */
int route_table_compile(struct route_set *set, struct diag_list *dl, struct route_table **out);

/** Two routes that can both match one Logon: indices into the set given to the compiler. */
struct route_conflict {
	uint32_t a, b;
};

/** route_table_compile that also lists the first max_pairs conflicting pairs in pairs (*npairs of them;
 * pairs may be NULL), for callers that keep a last-known-good version of each route (route_lkg.h). */
int route_table_compile_pairs(struct route_set *set, struct diag_list *dl, struct route_conflict *pairs,
                              size_t max_pairs, size_t *npairs, struct route_table **out);

/** The conflicts among dl's diagnostics: the "conflict: ..." errors route_table_compile adds (at most
 * ROUTE_TABLE_MAX_CONFLICTS of them per compile; the rest are only counted in a summary line). */
size_t route_table_conflicts_in(const struct diag_list *dl);

struct route_table *route_table_ref(struct route_table *t);
void route_table_unref(struct route_table *t);

/** The listener bit for a listener name, for route_table_eval. Names no route mentions get a shared
 * "other" bit: they match only routes without a listeners list. NULL means the same as an unknown name. */
uint64_t route_table_listener_bit(const struct route_table *t, const char *listener);

enum route_decision {
	ROUTE_DECISION_MATCH = 0, /* an exact or wildcard FIXSession matched */
	ROUTE_DECISION_DEFAULT,   /* a default (no matchFields) FIXSession matched */
	ROUTE_DECISION_NO_MATCH,  /* nothing matched */
	ROUTE_DECISION_AMBIGUOUS, /* a routing tag occurs twice with different values: refuse to route */
};

struct route_eval {
	enum route_decision decision;
	const struct route *route; /* MATCH/DEFAULT: the winner (owned by the table) */
	uint32_t ambiguous_tag;    /* AMBIGUOUS: the first such tag */
};

/** Evaluate a completed scan (buf is the scanned buffer). Never allocates. */
void route_table_eval(const struct route_table *t, const struct fix_scanner *sc, const char *buf,
                      uint64_t listener_bit, struct route_eval *res);

/** The table-wide redaction policy (the strictest setting any route gives each tag). */
const struct redact_policy *route_table_policy(const struct route_table *t);

/** Every tag some route matches on, ascending: what a routing-decision log shows. */
const uint32_t *route_table_tags(const struct route_table *t, size_t *count);

/** The PascalCase name FIXSessions give a routing tag ("AlgoStrategy" for 20001; the first route's
 * spelling when several name it), for log labels; NULL for tags no route uses. */
const char *route_table_tag_name(const struct route_table *t, uint32_t tag);

size_t route_table_count(const struct route_table *t);
const struct route *route_table_route(const struct route_table *t, size_t i);
/** Find a route by namespace and name, or NULL. */
const struct route *route_table_find(const struct route_table *t, const char *ns, const char *name);

const char *route_decision_str(enum route_decision d);

#endif
