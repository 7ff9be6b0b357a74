/* manifest.h - load FIXSession manifests (YAML or JSON) into a route_set.
 *
 * The core takes buffers only: reading files and walking directories is src/io/manifest_paths.h's job,
 * which hands each file to a manifest_loader. Documents of other kinds (a Service in the same file, say)
 * are skipped; a `kind: List` document contributes its items; a document that looks like a FIXSession
 * but names another kind (FixSession) is an error. Every problem of a load is reported in the diag_list
 * with origin, line, column and field path; nothing stops at the first error. The same validation runs
 * for the CLI, the gateway's standalone mode and the operator (which passes API objects as JSON text), so
 * they can never disagree about what a valid FIXSession is.
 */
#ifndef FIXGW_CORE_MANIFEST_H
#define FIXGW_CORE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "route.h"

#define FIXSESSION_GROUP        "fixgw.io"
#define FIXSESSION_API_VERSION  "fixgw.io/v1alpha1"
#define FIXSESSION_KIND         "FIXSession"
#define MANIFEST_MAX_FILE_BYTES (16u * 1024u * 1024u)
#define MANIFEST_MAX_DEPTH      64         /* nesting levels in one document */
#define MANIFEST_MAX_NODES      (1u << 18) /* scalars, collections and aliases in one document */
#define MANIFEST_MAX_KEY_LEN    64         /* bytes in one matchFields key such as SenderCompID49 */

/** One load of many buffers into one route_set (opaque). It indexes namespace/name, so the duplicate
 * check costs O(1) per object whatever the number already loaded. */
struct manifest_loader;

/** Start a load. Valid routes will be appended to out (which keeps ownership of them); diagnostics go
 * to dl. Both are borrowed and must outlive the loader. Routes already in out take part in the
 * duplicate check. Returns 0 and *ldp, or FIXGW_ENOMEM. */
int manifest_loader_new(struct route_set *out, struct diag_list *dl, struct manifest_loader **ldp);

/** Load every document of one buffer; origin (borrowed for the call; copied where kept) names it in
 * diagnostics and in each route's source. Invalid documents are left out and described in dl; a
 * namespace/name loaded before is an error. Returns 0 when this buffer raised no error, FIXGW_EINVAL
 * when it did, FIXGW_ENOMEM on allocation failure (sticky: later calls return it too). */
int manifest_loader_add(struct manifest_loader *ld, const char *origin, const char *buf, size_t len);

/** Move the routes of another set (loaded by its own loader, from one origin, possibly on another
 * thread) into this load, in order: each one whose namespace/name is already loaded is dropped with an
 * error at its source ("file:line"), the others are appended to out and indexed. from is left empty.
 * Returns 0, FIXGW_EINVAL when a duplicate was found, FIXGW_ENOMEM (sticky). */
int manifest_loader_adopt(struct manifest_loader *ld, struct route_set *from);

/** Read YAML with the common-subset fast path first (on, the default) or with libyaml only (off). Both give
 * the same routes and diagnostics (ADR-017); tests and benchmarks turn it off to compare. */
void manifest_loader_set_yaml_fast(struct manifest_loader *ld, bool on);

/** Free the loader; the routes stay in out. NULL is allowed. */
void manifest_loader_free(struct manifest_loader *ld);

/** One buffer, one call: new, add, free. Same contract as manifest_loader_add. */
int manifest_load_buffer(const char *origin, const char *buf, size_t len, struct route_set *out,
                         struct diag_list *dl);

/** Parse a Go-style duration ("30s", "1m30s", "250ms", "1h") into milliseconds. Returns 0 or FIXGW_EINVAL. */
int manifest_parse_duration_ms(const char *s, size_t len, uint64_t *out_ms);

#endif
