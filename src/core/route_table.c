/* route_table.c - FIXSession set -> immutable routing table, conflict detection, Logon evaluation.
 *
 * The algorithm and its cost are described in docs/decisions/adr-002-routing-and-conflicts.md. In short:
 * exact routes are grouped by signature (their set of tags); one hash table maps (signature, values) to
 * routes, so evaluation is one look-up per signature, most tags first. Wildcard and default routes are
 * short lists ordered by priority. Conflicts among exact routes are found per pair of signatures by a
 * hash join on the tags the two signatures share, which is linear in the routes for each of the (bounded)
 * signature pairs.
 */
#include "core/route_table.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/glob.h"

#define ROUTE_TABLE_MAX_TAGS 256 /* distinct routing tags over all routes (bounds eval's stack) */
#define OTHER_LISTENER_BIT   (UINT64_C(1) << 63)
#define NO_ENTRY             UINT32_MAX

/* A distinct tag set among exact routes. */
struct signature {
	uint32_t ntags;
	uint32_t tags[ROUTE_MAX_FIELDS];
	uint16_t slots[ROUTE_MAX_FIELDS]; /* index of each tag in table->tags */
};

/* A field value as the evaluator compares it: the literal meaning (escapes removed) for exact routes. */
struct literal {
	const char *p;
	uint32_t len;
};

struct exact_entry {
	uint64_t hash;
	uint32_t route; /* index into table->routes */
	uint32_t next;  /* next entry in the bucket, or NO_ENTRY */
};

struct route_table {
	atomic_uint refs;

	struct route *routes; /* owned, moved from the route_set */
	size_t nroutes;
	uint64_t *masks;          /* listener mask of each route */
	uint16_t *sig_of;         /* signature index of each exact route */
	struct literal **lits;    /* per exact route: its literal values, aligned with route->fields */
	struct literal *lit_slab; /* storage of every lits[i] */
	char *lit_arena;          /* storage of every literal's bytes */

	uint32_t tags[ROUTE_TABLE_MAX_TAGS];         /* every routing tag, ascending */
	const char *tag_names[ROUTE_TABLE_MAX_TAGS]; /* the PascalCase name a route gives each (borrowed) */
	size_t ntags;

	struct signature sigs[ROUTE_TABLE_MAX_SIGNATURES]; /* sorted by ntags, descending */
	size_t nsigs;

	struct exact_entry *entries;
	size_t nentries;
	uint32_t *buckets; /* head entry per bucket, NO_ENTRY when empty */
	size_t bucket_mask;

	uint32_t *wildcards; /* route indices, priority descending */
	size_t nwildcards;
	uint32_t *defaults; /* route indices, priority descending */
	size_t ndefaults;

	char *listeners[ROUTE_TABLE_MAX_LISTENERS]; /* names route listener bits refer to (borrowed) */
	size_t nlisteners;

	uint32_t *by_name; /* route indices sorted by namespace/name */

	struct redact_rule *rules;
	struct redact_policy policy;
};

/* ---- small helpers ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static ssize_t find_tag(const uint32_t *tags, size_t n, uint32_t tag)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (tags[mid] == tag)
			return (ssize_t)mid;
		if (tags[mid] < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)

/* Hash of a signature and one value per tag; lengths are mixed in so ("ab","c") != ("a","bc"). */
static uint64_t hash_key(uint32_t sig, const struct literal *vals, size_t n)
{
	uint64_t h = fnv1a(FNV_OFFSET, &sig, sizeof(sig));
	for (size_t i = 0; i < n; i++) {
		h = fnv1a(h, &vals[i].len, sizeof(vals[i].len));
		h = fnv1a(h, vals[i].p, vals[i].len);
	}
	return h;
}

static bool literal_eq(struct literal a, struct literal b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

/* ---- listeners ---- */

static int add_listener(struct route_table *t, char *name, struct diag_list *dl)
{
	for (size_t i = 0; i < t->nlisteners; i++)
		if (strcmp(t->listeners[i], name) == 0)
			return 0;
	if (t->nlisteners == ROUTE_TABLE_MAX_LISTENERS) {
		diag_add(dl, DIAG_ERROR, NULL, 0, 0, NULL, "routes name more than %d distinct listeners",
		         ROUTE_TABLE_MAX_LISTENERS);
		return FIXGW_EINVAL;
	}
	t->listeners[t->nlisteners++] = name;
	return 0;
}

static uint64_t mask_of(const struct route_table *t, const struct route *r)
{
	if (r->nlisteners == 0)
		return UINT64_MAX;
	uint64_t m = 0;
	for (size_t i = 0; i < r->nlisteners; i++)
		m |= route_table_listener_bit(t, r->listeners[i]);
	return m;
}

uint64_t route_table_listener_bit(const struct route_table *t, const char *listener)
{
	if (t && listener)
		for (size_t i = 0; i < t->nlisteners; i++)
			if (strcmp(t->listeners[i], listener) == 0)
				return UINT64_C(1) << i;
	return OTHER_LISTENER_BIT;
}

/* "all listeners" or "fix-tls, fix-plain" for the listeners two routes share. */
static void describe_listeners(const struct route_table *t, uint64_t mask, char *out, size_t cap)
{
	if (mask == UINT64_MAX) {
		snprintf(out, cap, "every listener");
		return;
	}
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < t->nlisteners && used < cap; i++)
		if (mask & (UINT64_C(1) << i))
			used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? ", " : "listener ",
			                         t->listeners[i]);
}

/* ---- conflict reporting ---- */

struct conflict_ctx {
	const struct route_table *t;
	struct diag_list *dl;
	size_t found;
	struct route_conflict *pairs; /* optional: the first max_pairs pairs, for callers that act on them */
	size_t max_pairs, npairs;
};

static void append_fields(char *out, size_t cap, size_t *used, const struct route *r,
                          const struct route *other)
{
	for (size_t i = 0; i < r->nfields && *used < cap; i++) {
		const struct route_field *f = &r->fields[i];
		bool dup = false;
		for (size_t j = 0; other && j < other->nfields; j++)
			dup |= other->fields[j].tag == f->tag;
		if (dup)
			continue;
		char q[96];
		const char *shown =
		    f->log && !f->redact ? diag_quote(f->value, f->value_len, q, sizeof(q)) : "[REDACTED]";
		*used += (size_t)snprintf(out + *used, cap - *used, "%s%s%u=%s", *used ? ", " : "", f->name,
		                          f->tag, shown);
	}
}

#define CONFLICT_PREFIX "conflict: " /* starts every conflict diagnostic (route_table_conflicts_in) */

/* Report that routes a and b can both match one Logon; `why` says why neither wins. */
static void report_conflict(struct conflict_ctx *c, uint32_t ai, uint32_t bi, const char *why)
{
	const struct route_table *t = c->t;
	const struct route *a = &t->routes[ai], *b = &t->routes[bi];
	c->found++;
	if (c->npairs < c->max_pairs)
		c->pairs[c->npairs++] = (struct route_conflict){ai, bi};
	if (c->found > ROUTE_TABLE_MAX_CONFLICTS)
		return;
	char fields[1024] = "", lst[512];
	size_t used = 0;
	append_fields(fields, sizeof(fields), &used, a, NULL);
	append_fields(fields, sizeof(fields), &used, b, a);
	describe_listeners(t, t->masks[ai] & t->masks[bi], lst, sizeof(lst));
	diag_add(c->dl, DIAG_ERROR, NULL, 0, 0, NULL,
	         CONFLICT_PREFIX "FIXSession %s/%s (%s) and %s/%s (%s) can both match one Logon on %s "
	                         "(overlapping fields: %s): %s",
	         a->ns, a->name, a->source ? a->source : "?", b->ns, b->name, b->source ? b->source : "?",
	         lst, used ? fields : "none: both match every Logon", why);
}

size_t route_table_conflicts_in(const struct diag_list *dl)
{
	size_t n = 0;
	for (size_t i = 0; i < dl->count; i++)
		n += dl->items[i].severity == DIAG_ERROR && dl->items[i].message &&
		     !strncmp(dl->items[i].message, CONFLICT_PREFIX, sizeof(CONFLICT_PREFIX) - 1);
	return n;
}

/* ---- compile ---- */

static int collect_tags(struct route_table *t, struct diag_list *dl)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nroutes; i++)
		n += t->routes[i].nfields;
	uint32_t *all = malloc((n ? n : 1) * sizeof(*all));
	if (!all)
		return FIXGW_ENOMEM;
	n = 0;
	for (size_t i = 0; i < t->nroutes; i++)
		for (size_t k = 0; k < t->routes[i].nfields; k++)
			all[n++] = t->routes[i].fields[k].tag;
	qsort(all, n, sizeof(*all), cmp_u32);
	int err = 0;
	for (size_t i = 0; i < n; i++) {
		if (t->ntags && t->tags[t->ntags - 1] == all[i])
			continue;
		if (t->ntags == ROUTE_TABLE_MAX_TAGS) {
			diag_add(dl, DIAG_ERROR, NULL, 0, 0, NULL,
			         "routes match on more than %d distinct tags", ROUTE_TABLE_MAX_TAGS);
			err = FIXGW_EINVAL;
			break;
		}
		t->tags[t->ntags++] = all[i];
	}
	free(all);
	return err;
}

/* Strictest setting per tag over all routes: HIDE beats MASK beats SHOW. */
static int build_policy(struct route_table *t)
{
	t->rules = calloc(t->ntags ? t->ntags : 1, sizeof(*t->rules));
	if (!t->rules)
		return FIXGW_ENOMEM;
	enum redact_action *act = calloc(t->ntags ? t->ntags : 1, sizeof(*act));
	if (!act)
		return FIXGW_ENOMEM;
	for (size_t i = 0; i < t->nroutes; i++) {
		for (size_t k = 0; k < t->routes[i].nfields; k++) {
			const struct route_field *f = &t->routes[i].fields[k];
			size_t slot = (size_t)find_tag(t->tags, t->ntags, f->tag);
			if (!t->tag_names[slot])
				t->tag_names[slot] = f->name;
			enum redact_action a = !f->log ? REDACT_HIDE : f->redact ? REDACT_MASK : REDACT_SHOW;
			if (a > act[slot])
				act[slot] = a;
		}
	}
	size_t n = 0;
	for (size_t s = 0; s < t->ntags; s++)
		if (act[s] != REDACT_SHOW)
			t->rules[n++] = (struct redact_rule){t->tags[s], act[s]};
	free(act);
	t->policy = (struct redact_policy){t->rules, n};
	return 0;
}

static int find_or_add_signature(struct route_table *t, const struct route *r, struct diag_list *dl)
{
	for (size_t s = 0; s < t->nsigs; s++) {
		if (t->sigs[s].ntags != r->nfields)
			continue;
		size_t k = 0;
		while (k < r->nfields && t->sigs[s].tags[k] == r->fields[k].tag)
			k++;
		if (k == r->nfields)
			return (int)s;
	}
	if (t->nsigs == ROUTE_TABLE_MAX_SIGNATURES) {
		diag_add(
		    dl, DIAG_ERROR, NULL, 0, 0, NULL,
		    "exact routes use more than %d distinct sets of tags (FIXSession %s/%s adds one more)",
		    ROUTE_TABLE_MAX_SIGNATURES, r->ns, r->name);
		return FIXGW_EINVAL;
	}
	struct signature *sig = &t->sigs[t->nsigs];
	sig->ntags = (uint32_t)r->nfields;
	for (size_t k = 0; k < r->nfields; k++) {
		sig->tags[k] = r->fields[k].tag;
		sig->slots[k] = (uint16_t)find_tag(t->tags, t->ntags, r->fields[k].tag);
	}
	return (int)t->nsigs++;
}

static int cmp_sig_desc(const void *a, const void *b)
{
	const struct signature *x = a, *y = b;
	return (x->ntags < y->ntags) - (x->ntags > y->ntags);
}

/* Exact routes: signatures (most tags first), literal values, the hash index. */
static int build_exact(struct route_table *t, struct diag_list *dl)
{
	size_t nexact = 0, lit_bytes = 0, nfields = 0;
	for (size_t i = 0; i < t->nroutes; i++) {
		const struct route *r = &t->routes[i];
		if (route_kind_of(r) != ROUTE_KIND_EXACT)
			continue;
		nexact++;
		nfields += r->nfields;
		for (size_t k = 0; k < r->nfields; k++)
			lit_bytes += r->fields[k].value_len + 1;
		int s = find_or_add_signature(t, r, dl);
		if (s < 0)
			return s;
	}
	/* Order signatures by specificity, then give each exact route its (final) signature index. */
	qsort(t->sigs, t->nsigs, sizeof(t->sigs[0]), cmp_sig_desc);

	t->sig_of = calloc(t->nroutes ? t->nroutes : 1, sizeof(*t->sig_of));
	t->lits = calloc(t->nroutes ? t->nroutes : 1, sizeof(*t->lits));
	t->lit_slab = malloc((nfields ? nfields : 1) * sizeof(*t->lit_slab));
	t->lit_arena = malloc(lit_bytes ? lit_bytes : 1);
	size_t nbuckets = 16;
	while (nbuckets < nexact * 2)
		nbuckets <<= 1;
	t->buckets = malloc(nbuckets * sizeof(*t->buckets));
	t->entries = malloc((nexact ? nexact : 1) * sizeof(*t->entries));
	if (!t->sig_of || !t->lits || !t->lit_slab || !t->lit_arena || !t->buckets || !t->entries)
		return FIXGW_ENOMEM;
	memset(t->buckets, 0xff, nbuckets * sizeof(*t->buckets));
	t->bucket_mask = nbuckets - 1;

	char *arena = t->lit_arena;
	struct literal *slab = t->lit_slab;
	for (size_t i = 0; i < t->nroutes; i++) {
		const struct route *r = &t->routes[i];
		if (route_kind_of(r) != ROUTE_KIND_EXACT)
			continue;
		int s = find_or_add_signature(t, r, dl); /* found: all were added above */
		t->sig_of[i] = (uint16_t)s;
		t->lits[i] = slab;
		for (size_t k = 0; k < r->nfields; k++) {
			size_t len = glob_unescape(r->fields[k].value, r->fields[k].value_len, arena,
			                           r->fields[k].value_len + 1);
			slab[k] = (struct literal){arena, (uint32_t)len};
			arena += len + 1;
		}
		struct exact_entry *e = &t->entries[t->nentries];
		e->hash = hash_key((uint32_t)s, slab, r->nfields);
		e->route = (uint32_t)i;
		e->next = t->buckets[e->hash & t->bucket_mask];
		t->buckets[e->hash & t->bucket_mask] = (uint32_t)t->nentries++;
		slab += r->nfields;
	}
	return 0;
}

/* The exact route with signature sig whose literal values equal vals and whose listeners include
 * listener_bit; NO_ENTRY when none. */
static uint32_t lookup_exact(const struct route_table *t, uint32_t sig, const struct literal *vals,
                             uint64_t hash, uint64_t listener_bit)
{
	size_t n = t->sigs[sig].ntags;
	for (uint32_t e = t->buckets[hash & t->bucket_mask]; e != NO_ENTRY; e = t->entries[e].next) {
		const struct exact_entry *ent = &t->entries[e];
		if (ent->hash != hash || t->sig_of[ent->route] != sig ||
		    !(t->masks[ent->route] & listener_bit))
			continue;
		size_t k = 0;
		while (k < n && literal_eq(t->lits[ent->route][k], vals[k]))
			k++;
		if (k == n)
			return ent->route;
	}
	return NO_ENTRY;
}

/* Same signature: equal values on overlapping listeners is a duplicate route. */
static void check_same_signature(struct conflict_ctx *c)
{
	const struct route_table *t = c->t;
	for (size_t e = 0; e < t->nentries && c->found <= ROUTE_TABLE_MAX_CONFLICTS; e++) {
		const struct exact_entry *a = &t->entries[e];
		size_t n = t->sigs[t->sig_of[a->route]].ntags;
		for (uint32_t o = a->next; o != NO_ENTRY; o = t->entries[o].next) {
			const struct exact_entry *b = &t->entries[o];
			if (b->hash != a->hash || t->sig_of[b->route] != t->sig_of[a->route] ||
			    !(t->masks[a->route] & t->masks[b->route]))
				continue;
			size_t k = 0;
			while (k < n && literal_eq(t->lits[a->route][k], t->lits[b->route][k]))
				k++;
			if (k == n)
				report_conflict(
				    c, b->route, a->route,
				    "they match the same fields and values; delete or change one");
		}
	}
}

/* Projection of an exact route's literals onto the shared tags of two signatures. */
static uint64_t hash_projection(const struct route_table *t, uint32_t route, const uint32_t *shared,
                                size_t nshared)
{
	const struct route *r = &t->routes[route];
	uint64_t h = FNV_OFFSET;
	size_t k = 0;
	for (size_t s = 0; s < nshared; s++) {
		while (r->fields[k].tag != shared[s])
			k++;
		const struct literal *l = &t->lits[route][k];
		h = fnv1a(h, &l->len, sizeof(l->len));
		h = fnv1a(h, l->p, l->len);
	}
	return h;
}

static bool agree_on(const struct route_table *t, uint32_t a, uint32_t b, const uint32_t *shared, size_t n)
{
	const struct route *ra = &t->routes[a], *rb = &t->routes[b];
	size_t i = 0, j = 0;
	for (size_t s = 0; s < n; s++) {
		while (ra->fields[i].tag != shared[s])
			i++;
		while (rb->fields[j].tag != shared[s])
			j++;
		if (!literal_eq(t->lits[a][i], t->lits[b][j]))
			return false;
	}
	return true;
}

/* Two signatures neither of which contains the other: every pair of their routes that agrees on the
 * shared tags (all pairs when none are shared) can match one Logon with no winner. Hash join on the
 * shared tags: O(routes of a + routes of b). */
static int check_signature_pair(struct conflict_ctx *c, uint32_t sa, uint32_t sb, const uint32_t *members,
                                const size_t *first, uint64_t *hashes, uint32_t *heads, uint32_t *next)
{
	const struct route_table *t = c->t;
	const struct signature *a = &t->sigs[sa], *b = &t->sigs[sb];
	uint32_t shared[ROUTE_MAX_FIELDS];
	size_t nshared = 0, i = 0, j = 0;
	while (i < a->ntags && j < b->ntags) {
		if (a->tags[i] == b->tags[j]) {
			shared[nshared++] = a->tags[i];
			i++, j++;
		} else if (a->tags[i] < b->tags[j]) {
			i++;
		} else {
			j++;
		}
	}
	if (nshared == a->ntags || nshared == b->ntags)
		return 0; /* one contains the other: the larger one is more specific and wins */

	size_t na = first[sa + 1] - first[sa], nb = first[sb + 1] - first[sb];
	size_t nbuckets = 16;
	while (nbuckets < na * 2)
		nbuckets <<= 1;
	memset(heads, 0xff, nbuckets * sizeof(*heads));
	for (size_t x = 0; x < na; x++) {
		uint32_t r = members[first[sa] + x];
		hashes[x] = hash_projection(t, r, shared, nshared);
		next[x] = heads[hashes[x] & (nbuckets - 1)];
		heads[hashes[x] & (nbuckets - 1)] = (uint32_t)x;
	}
	for (size_t y = 0; y < nb && c->found <= ROUTE_TABLE_MAX_CONFLICTS; y++) {
		uint32_t rb = members[first[sb] + y];
		uint64_t h = hash_projection(t, rb, shared, nshared);
		for (uint32_t x = heads[h & (nbuckets - 1)]; x != NO_ENTRY; x = next[x]) {
			uint32_t ra = members[first[sa] + x];
			if (hashes[x] == h && (t->masks[ra] & t->masks[rb]) &&
			    agree_on(t, ra, rb, shared, nshared))
				report_conflict(
				    c, ra, rb,
				    "neither has all the other's fields, so neither is more specific; "
				    "add the missing fields to one of them or separate their listeners");
		}
	}
	return 0;
}

static int check_exact_conflicts(struct conflict_ctx *c)
{
	const struct route_table *t = c->t;
	check_same_signature(c);
	if (t->nsigs < 2)
		return 0;

	/* Group exact routes by signature (counting sort). */
	size_t first[ROUTE_TABLE_MAX_SIGNATURES + 1] = {0};
	for (size_t e = 0; e < t->nentries; e++)
		first[t->sig_of[t->entries[e].route] + 1]++;
	for (size_t s = 0; s < t->nsigs; s++)
		first[s + 1] += first[s];
	size_t fill[ROUTE_TABLE_MAX_SIGNATURES];
	memcpy(fill, first, sizeof(fill));
	size_t cap = t->nentries ? t->nentries : 1, nbuckets = 16;
	while (nbuckets < cap * 2)
		nbuckets <<= 1;
	uint32_t *members = malloc(cap * sizeof(*members));
	uint64_t *hashes = malloc(cap * sizeof(*hashes));
	uint32_t *next = malloc(cap * sizeof(*next));
	uint32_t *heads = malloc(nbuckets * sizeof(*heads));
	int err = FIXGW_ENOMEM;
	if (!members || !hashes || !next || !heads)
		goto out;
	for (size_t e = 0; e < t->nentries; e++) {
		uint32_t r = t->entries[e].route;
		members[fill[t->sig_of[r]]++] = r;
	}
	err = 0;
	for (uint32_t sa = 0; sa < t->nsigs; sa++)
		for (uint32_t sb = sa + 1; sb < t->nsigs && c->found <= ROUTE_TABLE_MAX_CONFLICTS; sb++)
			check_signature_pair(c, sa, sb, members, first, hashes, heads, next);
out:
	free(members);
	free(hashes);
	free(next);
	free(heads);
	return err;
}

/* Wildcard (or default) routes a and b, of equal priority: can one Logon match both? Yes unless some
 * shared tag has patterns with no common value. */
static bool wildcards_overlap(const struct route *a, const struct route *b)
{
	size_t i = 0, j = 0;
	while (i < a->nfields && j < b->nfields) {
		const struct route_field *fa = &a->fields[i], *fb = &b->fields[j];
		if (fa->tag < fb->tag) {
			i++;
		} else if (fa->tag > fb->tag) {
			j++;
		} else {
			if (!glob_overlap(fa->value, fa->value_len, fb->value, fb->value_len))
				return false;
			i++, j++;
		}
	}
	return true;
}

/* Routes in `list` are sorted by priority descending; runs of equal priority are checked pairwise. */
static void check_priority_conflicts(struct conflict_ctx *c, const uint32_t *list, size_t n)
{
	const struct route_table *t = c->t;
	for (size_t run = 0; run < n;) {
		size_t end = run + 1;
		while (end < n && t->routes[list[end]].priority == t->routes[list[run]].priority)
			end++;
		for (size_t x = run; x < end; x++)
			for (size_t y = x + 1; y < end && c->found <= ROUTE_TABLE_MAX_CONFLICTS; y++) {
				uint32_t a = list[x], b = list[y];
				if ((t->masks[a] & t->masks[b]) &&
				    wildcards_overlap(&t->routes[a], &t->routes[b]))
					report_conflict(
					    c, a, b,
					    "they have the same priority; give one a higher priority "
					    "or make their patterns disjoint");
			}
		run = end;
	}
}

static int cmp_name(const struct route *a, const struct route *b)
{
	int d = strcmp(a->ns, b->ns);
	return d ? d : strcmp(a->name, b->name);
}

/* Priority descending, then namespace/name for a deterministic order. */
static int cmp_priority_desc(const void *x, const void *y, void *routes)
{
	const struct route *rs = routes, *a = &rs[*(const uint32_t *)x], *b = &rs[*(const uint32_t *)y];
	if (a->priority != b->priority)
		return a->priority < b->priority ? 1 : -1;
	return cmp_name(a, b);
}

static int cmp_by_name(const void *x, const void *y, void *routes)
{
	const struct route *rs = routes;
	return cmp_name(&rs[*(const uint32_t *)x], &rs[*(const uint32_t *)y]);
}

static int build_lists(struct route_table *t, struct diag_list *dl)
{
	size_t cap = t->nroutes ? t->nroutes : 1;
	t->wildcards = malloc(cap * sizeof(*t->wildcards));
	t->defaults = malloc(cap * sizeof(*t->defaults));
	t->by_name = malloc(cap * sizeof(*t->by_name));
	if (!t->wildcards || !t->defaults || !t->by_name)
		return FIXGW_ENOMEM;
	for (size_t i = 0; i < t->nroutes; i++) {
		enum route_kind k = route_kind_of(&t->routes[i]);
		if (k == ROUTE_KIND_WILDCARD)
			t->wildcards[t->nwildcards++] = (uint32_t)i;
		else if (k == ROUTE_KIND_DEFAULT)
			t->defaults[t->ndefaults++] = (uint32_t)i;
		t->by_name[i] = (uint32_t)i;
	}
	if (t->nwildcards + t->ndefaults > ROUTE_TABLE_MAX_WILDCARDS) {
		diag_add(
		    dl, DIAG_ERROR, NULL, 0, 0, NULL,
		    "%zu wildcard and default routes; at most %d are supported (use exact routes at scale)",
		    t->nwildcards + t->ndefaults, ROUTE_TABLE_MAX_WILDCARDS);
		return FIXGW_EINVAL;
	}
	qsort_r(t->wildcards, t->nwildcards, sizeof(uint32_t), cmp_priority_desc, t->routes);
	qsort_r(t->defaults, t->ndefaults, sizeof(uint32_t), cmp_priority_desc, t->routes);
	qsort_r(t->by_name, t->nroutes, sizeof(uint32_t), cmp_by_name, t->routes);
	return 0;
}

static void table_free(struct route_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nroutes; i++)
		route_free(&t->routes[i]);
	free(t->routes);
	free(t->masks);
	free(t->sig_of);
	free(t->lits);
	free(t->lit_slab);
	free(t->lit_arena);
	free(t->entries);
	free(t->buckets);
	free(t->wildcards);
	free(t->defaults);
	free(t->by_name);
	free(t->rules);
	free(t);
}

int route_table_compile(struct route_set *set, struct diag_list *dl, struct route_table **out)
{
	return route_table_compile_pairs(set, dl, NULL, 0, NULL, out);
}

int route_table_compile_pairs(struct route_set *set, struct diag_list *dl, struct route_conflict *pairs,
                              size_t max_pairs, size_t *npairs, struct route_table **out)
{
	*out = NULL;
	if (npairs)
		*npairs = 0;
	struct route_table *t = calloc(1, sizeof(*t));
	if (!t)
		return FIXGW_ENOMEM;
	atomic_init(&t->refs, 1);
	/* Borrow the routes while compiling; they move into the table only on success. */
	t->routes = set->items;
	t->nroutes = set->count;

	int err = 0;
	for (size_t i = 0; i < t->nroutes && !err; i++)
		for (size_t k = 0; k < t->routes[i].nlisteners && !err; k++)
			err = add_listener(t, t->routes[i].listeners[k], dl);
	if (!err)
		err = collect_tags(t, dl);
	if (!err) {
		t->masks = malloc((t->nroutes ? t->nroutes : 1) * sizeof(*t->masks));
		if (!t->masks)
			err = FIXGW_ENOMEM;
		for (size_t i = 0; !err && i < t->nroutes; i++)
			t->masks[i] = mask_of(t, &t->routes[i]);
	}
	if (!err)
		err = build_policy(t);
	if (!err)
		err = build_exact(t, dl);
	if (!err)
		err = build_lists(t, dl);
	if (!err) {
		struct conflict_ctx c = {t, dl, 0, pairs, pairs ? max_pairs : 0, 0};
		err = check_exact_conflicts(&c);
		check_priority_conflicts(&c, t->wildcards, t->nwildcards);
		check_priority_conflicts(&c, t->defaults, t->ndefaults);
		if (npairs)
			*npairs = c.npairs;
		if (c.found > ROUTE_TABLE_MAX_CONFLICTS)
			diag_add(dl, DIAG_ERROR, NULL, 0, 0, NULL, "%zu more conflicts not shown",
			         c.found - ROUTE_TABLE_MAX_CONFLICTS);
		if (!err && c.found)
			err = FIXGW_ECONFLICT;
	}
	if (err) {
		t->routes = NULL; /* still the caller's */
		t->nroutes = 0;
		table_free(t);
		return err;
	}
	route_set_init(set); /* ownership of the routes moved into t */
	*out = t;
	return 0;
}

struct route_table *route_table_ref(struct route_table *t)
{
	if (t)
		atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

void route_table_unref(struct route_table *t)
{
	if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		table_free(t);
}

/* ---- evaluation ---- */

/* Per routing tag: its value in the Logon, or absent, or ambiguous. */
struct tag_value {
	struct literal v;
	uint8_t state; /* 0 absent, 1 found, 2 ambiguous */
};

static bool wildcard_matches(const struct route *r, const struct tag_value *vals, const struct route_table *t)
{
	for (size_t k = 0; k < r->nfields; k++) {
		const struct tag_value *tv = &vals[find_tag(t->tags, t->ntags, r->fields[k].tag)];
		if (tv->state != 1 ||
		    !glob_match(r->fields[k].value, r->fields[k].value_len, tv->v.p, tv->v.len))
			return false;
	}
	return true;
}

void route_table_eval(const struct route_table *t, const struct fix_scanner *sc, const char *buf,
                      uint64_t listener_bit, struct route_eval *res)
{
	*res = (struct route_eval){ROUTE_DECISION_NO_MATCH, NULL, 0};
	if (!t)
		return;
	struct tag_value vals[ROUTE_TABLE_MAX_TAGS];
	memset(vals, 0, t->ntags * sizeof(vals[0]));
	for (size_t i = 0; i < sc->nfields; i++) {
		ssize_t slot = find_tag(t->tags, t->ntags, sc->fields[i].tag);
		if (slot < 0)
			continue;
		struct literal v = {buf + sc->fields[i].value_off, sc->fields[i].value_len};
		struct tag_value *tv = &vals[slot];
		if (tv->state == 0) {
			*tv = (struct tag_value){v, 1};
		} else if (tv->state == 1 && !literal_eq(tv->v, v)) {
			tv->state = 2;
			if (res->decision != ROUTE_DECISION_AMBIGUOUS)
				*res = (struct route_eval){ROUTE_DECISION_AMBIGUOUS, NULL, sc->fields[i].tag};
		}
	}
	if (res->decision == ROUTE_DECISION_AMBIGUOUS)
		return;

	for (uint32_t s = 0; s < t->nsigs; s++) {
		const struct signature *sig = &t->sigs[s];
		struct literal key[ROUTE_MAX_FIELDS];
		size_t k = 0;
		while (k < sig->ntags && vals[sig->slots[k]].state == 1) {
			key[k] = vals[sig->slots[k]].v;
			k++;
		}
		if (k < sig->ntags)
			continue;
		uint32_t r = lookup_exact(t, s, key, hash_key(s, key, k), listener_bit);
		if (r != NO_ENTRY) {
			*res = (struct route_eval){ROUTE_DECISION_MATCH, &t->routes[r], 0};
			return;
		}
	}
	for (size_t i = 0; i < t->nwildcards; i++) {
		const struct route *r = &t->routes[t->wildcards[i]];
		if ((t->masks[t->wildcards[i]] & listener_bit) && wildcard_matches(r, vals, t)) {
			*res = (struct route_eval){ROUTE_DECISION_MATCH, r, 0};
			return;
		}
	}
	for (size_t i = 0; i < t->ndefaults; i++) {
		if (t->masks[t->defaults[i]] & listener_bit) {
			*res = (struct route_eval){ROUTE_DECISION_DEFAULT, &t->routes[t->defaults[i]], 0};
			return;
		}
	}
}

/* ---- accessors ---- */

const struct redact_policy *route_table_policy(const struct route_table *t)
{
	return t ? &t->policy : NULL;
}

const uint32_t *route_table_tags(const struct route_table *t, size_t *count)
{
	*count = t ? t->ntags : 0;
	return t ? t->tags : NULL;
}

const char *route_table_tag_name(const struct route_table *t, uint32_t tag)
{
	ssize_t slot = t ? find_tag(t->tags, t->ntags, tag) : -1;
	return slot >= 0 ? t->tag_names[slot] : NULL;
}

size_t route_table_count(const struct route_table *t)
{
	return t ? t->nroutes : 0;
}

const struct route *route_table_route(const struct route_table *t, size_t i)
{
	return t && i < t->nroutes ? &t->routes[i] : NULL;
}

const struct route *route_table_find(const struct route_table *t, const char *ns, const char *name)
{
	if (!t)
		return NULL;
	size_t lo = 0, hi = t->nroutes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct route *r = &t->routes[t->by_name[mid]];
		int d = strcmp(r->ns, ns);
		if (!d)
			d = strcmp(r->name, name);
		if (!d)
			return r;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *route_decision_str(enum route_decision d)
{
	switch (d) {
	case ROUTE_DECISION_MATCH:
		return "ROUTE";
	case ROUTE_DECISION_DEFAULT:
		return "DEFAULT_ROUTE";
	case ROUTE_DECISION_NO_MATCH:
		return "NO_MATCH";
	case ROUTE_DECISION_AMBIGUOUS:
		return "AMBIGUOUS";
	}
	return "?";
}
