/* manifest.h - load FIXSession manifests (YAML or JSON) into a route_set.
 *
 * Accepts files, multi-document files and directories (every *.yaml, *.yml and *.json below it, in
 * sorted order). Documents of other kinds (a Service in the same file, say) are skipped; a `kind: List`
 * document contributes its items. Every problem of a load is reported in the diag_list with file, line,
 * column and field path; nothing stops at the first error. The same validation runs for the CLI, the
 * gateway's standalone mode and the operator (which passes API objects as JSON text), so they can never
 * disagree about what a valid FIXSession is.
 */
#ifndef FIXGW_CORE_MANIFEST_H
#define FIXGW_CORE_MANIFEST_H

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
#define MANIFEST_MAX_DIR_DEPTH  16         /* directory levels below a path given to manifest_load_paths */

/** Load each path (file or directory). Valid routes are appended to out (which keeps ownership), invalid
 * documents are left out and described in dl. Duplicate namespace/name pairs are errors. Returns 0 when
 * no error was reported, FIXGW_EINVAL when dl holds errors, FIXGW_ENOMEM on allocation failure. */
int manifest_load_paths(const char *const *paths, size_t npaths, struct route_set *out, struct diag_list *dl);

/** Load one in-memory buffer; `origin` names it in diagnostics. Same contract as manifest_load_paths. */
int manifest_load_buffer(const char *origin, const char *buf, size_t len, struct route_set *out,
                         struct diag_list *dl);

/** Parse a Go-style duration ("30s", "1m30s", "250ms", "1h") into milliseconds. Returns 0 or FIXGW_EINVAL. */
int manifest_parse_duration_ms(const char *s, size_t len, uint64_t *out_ms);

#endif
