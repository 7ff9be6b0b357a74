/* Model check of src/core/route_table.c against brute force (ADR-002): thousands of random small route
 * sets over a tiny alphabet; for each, every possible Logon is enumerated and the matching routes are
 * computed directly from the definitions. The compiler must call a set conflicting exactly when some
 * Logon has no single winner, and evaluation must pick that winner whenever the set is accepted. */
#include "core/route_table.c"

#include "test.h"

#define TAGS 3
static const uint32_t tag_of[TAGS] = {49, 50, 128};
static const char *const values[] = {"A", "B", "AB"};                         /* what a Logon may carry */
static const char *const patterns[] = {"A", "B", "AB", "A*", "*B", "?", "*"}; /* what a route may ask */
#define NVALUES    3
#define NPATTERNS  7
#define MAX_ROUTES 5

static uint64_t rng = 0x9e3779b97f4a7c15u;

static unsigned next(unsigned n)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* A random route: each tag absent or one pattern; exact routes never carry a priority. */
static void random_route(struct route_set *set, int i)
{
	struct route *r = route_set_push(set);
	char name[16];
	snprintf(name, sizeof(name), "r%d", i);
	r->ns = strdup("m");
	r->name = strdup(name);
	r->fields = calloc(TAGS, sizeof(*r->fields));
	for (int t = 0; t < TAGS; t++) {
		if (next(2))
			continue;
		const char *p = patterns[next(next(3) ? 3 : NPATTERNS)]; /* mostly literals */
		r->fields[r->nfields++] = (struct route_field){.tag = tag_of[t],
		                                               .name = strdup("F"),
		                                               .value = strdup(p),
		                                               .value_len = strlen(p),
		                                               .is_pattern = glob_is_pattern(p, strlen(p)),
		                                               .log = true};
	}
	r->priority = (int32_t)next(2);
	r->has_priority = route_kind_of(r) != ROUTE_KIND_EXACT;
	if (!r->has_priority)
		r->priority = 0;
	r->target.service = strdup("svc");
	r->target.port = 1;
}

static bool route_matches(const struct route *r, const int *logon /* value index or -1 per tag */)
{
	for (size_t k = 0; k < r->nfields; k++) {
		int t = 0;
		while (tag_of[t] != r->fields[k].tag)
			t++;
		if (logon[t] < 0)
			return false;
		const char *v = values[logon[t]];
		if (!glob_match(r->fields[k].value, r->fields[k].value_len, v, strlen(v)))
			return false;
	}
	return true;
}

/* a's fields are a strict superset of b's (both exact): a is more specific. */
static bool strict_superset(const struct route *a, const struct route *b)
{
	if (a->nfields <= b->nfields)
		return false;
	for (size_t j = 0; j < b->nfields; j++) {
		bool found = false;
		for (size_t i = 0; i < a->nfields; i++)
			found |= a->fields[i].tag == b->fields[j].tag;
		if (!found)
			return false;
	}
	return true;
}

/* Two matching routes of one kind that the rules cannot order (ADR-002, pairwise as the issue defines
 * conflicts: a third, more specific route does not excuse them). */
static bool unordered(const struct route *a, const struct route *b)
{
	if (route_kind_of(a) == ROUTE_KIND_EXACT)
		return !strict_superset(a, b) && !strict_superset(b, a);
	return a->priority == b->priority;
}

/* The brute-force winner for one Logon, or NULL; *ambiguous when two matching routes of one kind are
 * unordered (each kind on its own: tied wildcards are a conflict even where an exact route shadows them). */
static const struct route *brute_winner(const struct route *rs, size_t n, const int *logon, bool *ambiguous)
{
	const struct route *m[MAX_ROUTES], *winner = NULL;
	size_t nm = 0;
	*ambiguous = false;
	for (size_t i = 0; i < n; i++)
		if (route_matches(&rs[i], logon))
			m[nm++] = &rs[i];
	for (size_t i = 0; i < nm; i++)
		for (size_t j = i + 1; j < nm; j++)
			if (route_kind_of(m[i]) == route_kind_of(m[j]) && unordered(m[i], m[j]))
				*ambiguous = true;
	/* The winner: the first kind with a match; in it, the most specific or highest priority. */
	for (int kind = ROUTE_KIND_EXACT; kind <= ROUTE_KIND_DEFAULT && !winner; kind++)
		for (size_t i = 0; i < nm; i++) {
			if (route_kind_of(m[i]) != (enum route_kind)kind)
				continue;
			if (!winner || (kind == ROUTE_KIND_EXACT ? strict_superset(m[i], winner)
			                                         : m[i]->priority > winner->priority))
				winner = m[i];
		}
	return winner;
}

TEST(test_compiler_agrees_with_brute_force)
{
	int accepted = 0, refused = 0;
	for (int round = 0; round < 40000; round++) {
		struct route_set set;
		route_set_init(&set);
		size_t n = 1 + next(MAX_ROUTES);
		for (size_t i = 0; i < n; i++)
			random_route(&set, (int)i);
		/* keep a copy of the definitions: compile moves the routes into the table */
		struct route *copy = malloc(n * sizeof(*copy));
		memcpy(copy, set.items, n * sizeof(*copy));

		struct diag_list dl;
		diag_list_init(&dl);
		struct route_table *t = NULL;
		int err = route_table_compile(&set, &dl, &t);

		bool any_ambiguous = false, mismatch = false;
		int logon[TAGS];
		for (int code = 0; code < 64; code++) { /* each tag: absent or one of three values */
			int c = code;
			for (int k = 0; k < TAGS; k++, c /= 4)
				logon[k] = c % 4 == 3 ? -1 : c % 4;
			bool ambiguous;
			const struct route *want = brute_winner(copy, n, logon, &ambiguous);
			any_ambiguous |= ambiguous;
			if (err || ambiguous)
				continue;
			char buf[64];
			struct fix_field fields[TAGS];
			struct fix_scanner sc = {.fields = fields, .field_cap = TAGS};
			size_t len = 0;
			for (int k = 0; k < TAGS; k++) {
				if (logon[k] < 0)
					continue;
				size_t vl = strlen(values[logon[k]]);
				memcpy(buf + len, values[logon[k]], vl);
				fields[sc.nfields++] =
				    (struct fix_field){tag_of[k], (uint32_t)len, (uint32_t)vl};
				len += vl;
			}
			struct route_eval ev;
			route_table_eval(t, &sc, buf, route_table_listener_bit(t, NULL), &ev);
			const char *got = ev.route ? ev.route->name : NULL;
			if ((want == NULL) != (got == NULL) || (want && strcmp(want->name, got) != 0))
				mismatch = true;
		}
		CHECK(!mismatch);
		/* accepted exactly when no Logon is ambiguous */
		if ((err == FIXGW_ECONFLICT) != any_ambiguous) {
			fprintf(stderr, "round %d: compile=%d, brute force ambiguous=%d\n", round, err,
			        any_ambiguous);
			for (size_t i = 0; i < n; i++) {
				fprintf(stderr, "  %s prio=%d:", copy[i].name, copy[i].priority);
				for (size_t k = 0; k < copy[i].nfields; k++)
					fprintf(stderr, " %u=%s", copy[i].fields[k].tag,
					        copy[i].fields[k].value);
				fprintf(stderr, "\n");
			}
			CHECK(false);
		}
		err == 0 ? accepted++ : refused++;
		if (t) {
			route_table_unref(t); /* frees the routes the copy points at */
		} else {
			route_set_free(&set);
		}
		free(copy);
		diag_list_free(&dl);
		if (test_failures_)
			break;
	}
	/* the generator must exercise both outcomes, or the check proves nothing */
	CHECK(accepted > 5000);
	CHECK(refused > 5000);
}

TEST_MAIN(TEST_ENTRY(test_compiler_agrees_with_brute_force))
