/* route_lkg.c - compile FIXSession candidates, falling back to last-known-good versions (route_lkg.h). */
#include "route_lkg.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "manifest.h"

#define MAX_PAIRS 256 /* conflicting pairs acted on per round; more just take more rounds */

enum version { USE_CURRENT, USE_LKG, USE_NONE };

const char *route_verdict_str(enum route_verdict v)
{
	switch (v) {
	case ROUTE_ACCEPTED:
		return "accepted";
	case ROUTE_KEPT_LKG:
		return "kept_last_known_good";
	case ROUTE_REFUSED:
		return "refused";
	}
	return "?";
}

static bool unchanged(const struct route_candidate *c)
{
	return c->text && c->lkg_text && c->len == c->lkg_len && memcmp(c->text, c->lkg_text, c->len) == 0;
}

/* One step back: current -> last-known-good (when there is one that differs) -> nothing. */
static enum version fall_back(const struct route_candidate *c, enum version v)
{
	if (v == USE_CURRENT && c->lkg_text && !unchanged(c))
		return USE_LKG;
	return USE_NONE;
}

/* Load every candidate's chosen version into set; owner[r] is the candidate of route r. A current
 * version that does not load falls back (its diagnostics stay in dl). */
static int load_round(const struct route_candidate *c, size_t n, enum version *use, struct route_set *set,
                      size_t **owner, struct diag_list *dl)
{
	struct manifest_loader *ld;
	int err = manifest_loader_new(set, dl, &ld);
	if (err)
		return err;
	/* A candidate loads as one route or none (see below), so n slots always suffice. */
	*owner = malloc((n ? n : 1) * sizeof(**owner));
	if (!*owner) {
		manifest_loader_free(ld);
		return FIXGW_ENOMEM;
	}
	for (size_t i = 0; i < n && !err; i++) {
		while (use[i] != USE_NONE) {
			const char *text = use[i] == USE_CURRENT ? c[i].text : c[i].lkg_text;
			size_t len = use[i] == USE_CURRENT ? c[i].len : c[i].lkg_len;
			size_t before = set->count;
			int rc = text ? manifest_loader_add(ld, c[i].origin, text, len) : FIXGW_EINVAL;
			if (rc == FIXGW_ENOMEM) {
				err = rc;
				break;
			}
			if (rc == 0 && set->count == before + 1)
				break;
			while (set->count > before) /* a text that is not one FIXSession: none of it */
				route_set_pop(set);
			use[i] = fall_back(&c[i], use[i]);
		}
		if (!err && use[i] != USE_NONE) /* out of memory: a part of the text, or none of it, loaded */
			(*owner)[set->count - 1] = i;
	}
	manifest_loader_free(ld);
	return err;
}

int route_lkg_compile(const struct route_candidate *c, size_t n, struct diag_list *dl,
                      enum route_verdict *verdicts, struct route_table **out)
{
	*out = NULL;
	enum version *use = calloc(n ? n : 1, sizeof(*use)); /* USE_CURRENT == 0 */
	struct route_conflict *pairs = malloc(MAX_PAIRS * sizeof(*pairs));
	int err = use && pairs ? 0 : FIXGW_ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		if (!c[i].text)
			use[i] = c[i].lkg_text ? USE_LKG : USE_NONE;
	bool limits_retried = false;
	for (size_t round = 0; !err && round <= n + 1; round++) {
		struct route_set set;
		size_t *owner = NULL, npairs = 0;
		route_set_init(&set);
		err = load_round(c, n, use, &set, &owner, dl);
		if (!err)
			err = route_table_compile_pairs(&set, dl, pairs, MAX_PAIRS, &npairs, out);
		route_set_free(&set); /* empty after a successful compile */
		if (err == FIXGW_ECONFLICT) {
			bool progress = false;
			for (size_t p = 0; p < npairs; p++) {
				size_t ca = owner[pairs[p].a], cb = owner[pairs[p].b];
				bool a_changed = use[ca] == USE_CURRENT && !unchanged(&c[ca]);
				bool b_changed = use[cb] == USE_CURRENT && !unchanged(&c[cb]);
				if (a_changed)
					use[ca] = fall_back(&c[ca], use[ca]);
				if (b_changed)
					use[cb] = fall_back(&c[cb], use[cb]);
				progress |= a_changed || b_changed;
			}
			if (!progress && npairs) { /* both sides already at their fallback: drop both */
				use[owner[pairs[0].a]] = USE_NONE;
				use[owner[pairs[0].b]] = USE_NONE;
			}
			err = npairs ? 0 : FIXGW_EINVAL;
		} else if (err == FIXGW_EINVAL && !limits_retried) {
			/* A table-wide limit: keep every changed object at its last-known-good version. */
			limits_retried = true;
			for (size_t i = 0; i < n; i++)
				if (use[i] == USE_CURRENT && !unchanged(&c[i]))
					use[i] = fall_back(&c[i], use[i]);
			err = 0;
		}
		free(owner);
		if (*out)
			break;
	}
	if (!err && !*out)
		err = FIXGW_EINVAL;
	for (size_t i = 0; !err && i < n; i++)
		verdicts[i] = use[i] == USE_CURRENT ? ROUTE_ACCEPTED
		              : use[i] == USE_LKG   ? ROUTE_KEPT_LKG
		                                    : ROUTE_REFUSED;
	free(pairs);
	free(use);
	return err;
}

bool route_diag_concerns(const struct diag *d, const char *origin)
{
	if (d->file && !strcmp(d->file, origin))
		return true;
	size_t n = strlen(origin);
	for (const char *p = d->message ? strchr(d->message, '(') : NULL; p; p = strchr(p + 1, '('))
		if (!strncmp(p + 1, origin, n) && (p[1 + n] == ':' || p[1 + n] == ')'))
			return true;
	return false;
}

void route_diag_text(const struct diag_list *dl, const char *origin, bool conflicts_only, char *out,
                     size_t cap, bool *any)
{
	size_t used = strnlen(out, cap);
	*any = false;
	for (size_t i = 0; i < dl->count; i++) {
		const struct diag *d = &dl->items[i];
		if (d->severity != DIAG_ERROR || !route_diag_concerns(d, origin))
			continue;
		bool conflict = d->message && !strncmp(d->message, "conflict:", 9);
		if (conflicts_only && !conflict)
			continue;
		*any = true;
		if (used + 2 >= cap)
			continue;
		int n = d->path ? snprintf(out + used, cap - used, "%s%s: %s", used ? "; " : "", d->path,
		                           d->message)
		                : snprintf(out + used, cap - used, "%s%s", used ? "; " : "", d->message);
		used = n < 0 ? used : used + (size_t)n < cap ? used + (size_t)n : cap - 1;
	}
}
