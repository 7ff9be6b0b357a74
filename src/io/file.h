/* file.h - read whole files for the modules that only take buffers (src/core has no I/O). */
#ifndef FIXGW_IO_FILE_H
#define FIXGW_IO_FILE_H

#include <stddef.h>

/** Read the regular file at path whole, at most max bytes: up to max + 1 bytes are read whatever its
 * size said, so a file that grows past max is still refused. Returns 0 with *out (malloc'd,
 * NUL-terminated, owned by the caller) and *len; otherwise a negative errno value and *out NULL:
 * -EFBIG when the file holds more than max bytes, -EISDIR for a directory, -EINVAL for anything else
 * that is not a regular file, or the error of open/read (-ENOENT, -EACCES, ...), -ENOMEM. */
int io_read_file(const char *path, size_t max, char **out, size_t *len);

#endif
