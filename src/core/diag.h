/* diag.h - accumulated diagnostics, so every problem in a load is reported at once, each with its place.
 *
 * Text is formatted "file:line:col: severity: path: message" (path is the manifest field, such as
 * spec.target.service.name). Messages are built from trusted text only; values taken from input are
 * quoted, truncated and escaped by the caller (diag_quote) so a diagnostic can never leak a secret or
 * inject a line break.
 */
#ifndef FIXGW_CORE_DIAG_H
#define FIXGW_CORE_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum diag_severity { DIAG_WARNING = 0, DIAG_ERROR = 1 };

struct diag {
	enum diag_severity severity;
	char *file;    /* owned; may be NULL */
	unsigned line; /* 1-based; 0 when unknown */
	unsigned col;
	char *path;    /* owned; may be NULL */
	char *message; /* owned */
};

struct diag_list {
	struct diag *items;
	size_t count;
	size_t cap;
	size_t nerrors;
	size_t nwarnings;
	size_t max_items; /* further diagnostics are counted but not stored; 0 = 1000 */
	size_t dropped;
};

void diag_list_init(struct diag_list *dl);
void diag_list_free(struct diag_list *dl);

/** Add one diagnostic. file/path may be NULL. Returns 0, or FIXGW_ENOMEM (the count is still updated). */
int diag_add(struct diag_list *dl, enum diag_severity sev, const char *file, unsigned line, unsigned col,
             const char *path, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
int diag_addv(struct diag_list *dl, enum diag_severity sev, const char *file, unsigned line, unsigned col,
              const char *path, const char *fmt, va_list ap) __attribute__((format(printf, 7, 0)));

/** Add every diagnostic of src to dst, in order, with src's counts (its dropped ones included), as if
 * they had been reported to dst. src is unchanged. Returns 0 or FIXGW_ENOMEM. */
int diag_list_append(struct diag_list *dst, const struct diag_list *src);

/** Format one diagnostic as "file:line:col: severity: path: message" (parts that are unknown left out)
 * into out, NUL-terminated (cap > 0); returns the length the whole line needs, as snprintf does.
 * Printing is src/io's job (io/diag_print.h): the core does no I/O. */
size_t diag_format(const struct diag *d, char *out, size_t cap);

#define DIAG_QUOTE_MAX_INPUT 64  /* input bytes diag_quote shows; longer values end in "..." */
#define DIAG_QUOTE_CAP       264 /* an out buffer this big always holds the whole quoted form */

/** Quote an untrusted value for a message: "value" with escapes, at most DIAG_QUOTE_MAX_INPUT input bytes
 * (then ... after the closing quote). Valid UTF-8 stays except control characters, '"' and '\' get a
 * backslash, each byte of a control character or of invalid UTF-8 becomes \xNN (core/text.h). Always
 * NUL-terminates out (cap > 0) and returns it; a NULL s quotes as (null). */
const char *diag_quote(const char *s, size_t len, char *out, size_t cap);

#endif
