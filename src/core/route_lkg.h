/* route_lkg.h - compile a set of FIXSession objects while keeping the last-known-good version of each.
 *
 * The Kubernetes mode of the gateway and the operator see FIXSessions change one object at a time. A new
 * version that is invalid, or that conflicts with another FIXSession (ADR-002), must not be served, and
 * every other FIXSession must still update. So each object is a candidate with its current text and the
 * text last accepted for it; the compiler keeps the current version where it can, falls back to the
 * last-known-good one where the current one is refused, and leaves an object out when it has none.
 *
 * Pure: texts in, a table and one verdict per candidate out; the caller keeps the accepted texts as the
 * next round's last-known-good versions.
 */
#ifndef FIXGW_CORE_ROUTE_LKG_H
#define FIXGW_CORE_ROUTE_LKG_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "route_table.h"

/** One FIXSession object. Every pointer is borrowed for the call. */
struct route_candidate {
	const char *origin; /* names the object in diagnostics ("fixsession trading/a") */
	const char *text;   /* the current version (YAML or JSON), or NULL when it has none */
	size_t len;
	const char *lkg_text; /* the version accepted last time, or NULL */
	size_t lkg_len;
};

enum route_verdict {
	ROUTE_ACCEPTED, /* the current version is in the table */
	ROUTE_KEPT_LKG, /* the current version was refused; the last-known-good one is in the table */
	ROUTE_REFUSED,  /* refused and no last-known-good version: the object is not in the table */
};

const char *route_verdict_str(enum route_verdict v);

/** Compile the candidates into *out (a new table), preferring current versions. An invalid current
 * version, and the changed side of every conflicting pair (both sides when both changed), fall back to
 * their last-known-good version, or are left out without one; compiling repeats until the set is
 * conflict-free (at most n + 1 rounds; one when nothing is refused). verdicts[i] says what happened to
 * candidate i. Every invalid document and every conflict found on the way is described in dl, naming
 * both FIXSessions. Returns 0, FIXGW_ENOMEM, or FIXGW_EINVAL when even the fallback set exceeds a
 * table-wide limit (too many listeners, signatures or wildcards: the caller keeps its table). */
int route_lkg_compile(const struct route_candidate *c, size_t n, struct diag_list *dl,
                      enum route_verdict *verdicts, struct route_table **out);

/** True when diagnostic d is about the object named origin ("fixsession ns/name"): its own document's
 * diagnostics, and every conflict naming it (the compiler names a route by its source,
 * "fixsession ns/name:LINE", in parentheses). */
bool route_diag_concerns(const struct diag *d, const char *origin);

/** Append to out (NUL-terminated, cap bytes; what does not fit is cut) the error diagnostics about origin
 * ("[path: ]message", joined by "; "), only the conflicts when conflicts_only. *any says whether there
 * was one. The operator's conditions and the admission webhook's refusals both say it this way, so a
 * refusal quotes the operator's CRITICAL route_conflict line word for word. */
void route_diag_text(const struct diag_list *dl, const char *origin, bool conflicts_only, char *out,
                     size_t cap, bool *any);

#endif
