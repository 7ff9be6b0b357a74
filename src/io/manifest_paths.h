/* manifest_paths.h - load FIXSession manifests from files and directories.
 *
 * The file-system half of the manifest loader: it walks the paths and hands every file's bytes to a
 * core manifest_loader (core/manifest.h), which does the parsing and checking without I/O of its own.
 * A directory contributes every *.yaml, *.yml and *.json below it in sorted order; a named file loads
 * whatever its extension. The rules are in docs/internals/manifest.md.
 */
#ifndef FIXGW_IO_MANIFEST_PATHS_H
#define FIXGW_IO_MANIFEST_PATHS_H

#include <stddef.h>

#include "core/diag.h"
#include "core/route.h"

#define MANIFEST_MAX_DIR_DEPTH 16 /* directory levels below a path given to manifest_paths_load */

/** Load each path (file or directory). Valid routes are appended to out (which keeps ownership),
 * invalid documents are left out and described in dl, as are paths that cannot be read. Duplicate
 * namespace/name pairs are errors, among these paths and against routes already in out. Returns 0 when
 * no error was reported, FIXGW_EINVAL when dl holds errors of this load, FIXGW_ENOMEM. */
int manifest_paths_load(const char *const *paths, size_t npaths, struct route_set *out, struct diag_list *dl);

#endif
