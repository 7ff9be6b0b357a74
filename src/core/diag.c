/* diag.c - accumulated diagnostics (see diag.h). */
#include "diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "grow.h"
#include "text.h"

#define DIAG_DEFAULT_MAX_ITEMS 1000

void diag_list_init(struct diag_list *dl)
{
	memset(dl, 0, sizeof(*dl));
}

void diag_list_free(struct diag_list *dl)
{
	for (size_t i = 0; i < dl->count; i++) {
		free(dl->items[i].file);
		free(dl->items[i].path);
		free(dl->items[i].message);
	}
	free(dl->items);
	memset(dl, 0, sizeof(*dl));
}

/* Make room for one more item; false on allocation failure. */
static bool diag_reserve(struct diag_list *dl)
{
	return GROW_ARRAY(dl->items, dl->cap, dl->count + 1, 16) == 0;
}

static char *dup_or_null(const char *s, bool *failed)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*failed = true;
	return d;
}

int diag_addv(struct diag_list *dl, enum diag_severity sev, const char *file, unsigned line, unsigned col,
              const char *path, const char *fmt, va_list ap)
{
	/* Counts first: a caller learns about an error even when storing it fails. */
	if (sev == DIAG_ERROR)
		dl->nerrors++;
	else
		dl->nwarnings++;

	size_t max = dl->max_items ? dl->max_items : DIAG_DEFAULT_MAX_ITEMS;
	if (dl->count >= max) {
		dl->dropped++;
		return 0;
	}

	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		n = 0;
	char *message = malloc((size_t)n + 1);
	bool failed = !message;
	if (message)
		vsnprintf(message, (size_t)n + 1, fmt, ap);
	char *file_copy = dup_or_null(file, &failed);
	char *path_copy = dup_or_null(path, &failed);
	if (failed || !diag_reserve(dl))
		goto fail;

	dl->items[dl->count++] = (struct diag){
	    .severity = sev,
	    .file = file_copy,
	    .line = line,
	    .col = col,
	    .path = path_copy,
	    .message = message,
	};
	return 0;

fail:
	free(message);
	free(file_copy);
	free(path_copy);
	dl->dropped++;
	return FIXGW_ENOMEM;
}

int diag_add(struct diag_list *dl, enum diag_severity sev, const char *file, unsigned line, unsigned col,
             const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = diag_addv(dl, sev, file, line, col, path, fmt, ap);
	va_end(ap);
	return rc;
}

int diag_list_append(struct diag_list *dst, const struct diag_list *src)
{
	int rc = 0;
	size_t errors = 0, warnings = 0;
	for (size_t i = 0; i < src->count; i++) {
		const struct diag *d = &src->items[i];
		if (diag_add(dst, d->severity, d->file, d->line, d->col, d->path, "%s", d->message) != 0)
			rc = FIXGW_ENOMEM;
		if (d->severity == DIAG_ERROR)
			errors++;
		else
			warnings++;
	}
	/* what src counted but did not store */
	dst->nerrors += src->nerrors - errors;
	dst->nwarnings += src->nwarnings - warnings;
	dst->dropped += src->dropped;
	return rc;
}

size_t diag_format(const struct diag *d, char *out, size_t cap)
{
	char place[32] = "";
	if (d->line)
		snprintf(place, sizeof(place), "%u:%u:", d->line, d->col);
	int n = snprintf(out, cap, "%s%s%s%s%s: %s%s%s", d->file ? d->file : "", d->file ? ":" : "", place,
	                 d->file || d->line ? " " : "", d->severity == DIAG_ERROR ? "error" : "warning",
	                 d->path && d->path[0] ? d->path : "", d->path && d->path[0] ? ": " : "", d->message);
	return n < 0 ? 0 : (size_t)n;
}

/* Append the escaped form of the character at s (n bytes available) if it fits before the room kept for
 * the closing '"' and NUL: valid UTF-8 other than controls stays, '"' and '\' get a backslash, anything
 * else is \xNN per byte (core/text.h). Sets *used to the input bytes taken. */
static bool quote_char(const unsigned char *s, size_t n, size_t *used, char *out, size_t *pos, size_t limit)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	size_t k = 0;
	uint32_t cp;
	size_t len = utf8_decode(s, n, &cp);
	*used = len ? len : 1;
	if (len && (cp == '"' || cp == '\\')) {
		tmp[k++] = '\\';
		tmp[k++] = (char)cp;
	} else if (len && !text_is_control(cp)) {
		memcpy(tmp, s, len);
		k = len;
	} else {
		for (size_t i = 0; i < *used; i++) {
			tmp[k++] = '\\';
			tmp[k++] = 'x';
			tmp[k++] = hex[s[i] >> 4];
			tmp[k++] = hex[s[i] & 15];
		}
	}
	if (*pos + k > limit)
		return false;
	memcpy(out + *pos, tmp, k);
	*pos += k;
	return true;
}

const char *diag_quote(const char *s, size_t len, char *out, size_t cap)
{
	static const char nul_text[] = "(null)";
	if (cap == 0)
		return "";
	if (!s) {
		s = nul_text;
		len = sizeof(nul_text) - 1;
	}
	/* Keep room for the closing quote, "..." and the NUL. */
	if (cap < 6) {
		out[0] = '\0';
		return out;
	}
	size_t limit = cap - 5, pos = 0;
	size_t shown = len < DIAG_QUOTE_MAX_INPUT ? len : DIAG_QUOTE_MAX_INPUT;
	size_t i = 0;
	out[pos++] = '"';
	while (i < shown) {
		size_t used;
		if (!quote_char((const unsigned char *)s + i, shown - i, &used, out, &pos, limit))
			break;
		i += used;
	}
	out[pos++] = '"';
	if (i < len) {
		memcpy(out + pos, "...", 3);
		pos += 3;
	}
	out[pos] = '\0';
	return out;
}
