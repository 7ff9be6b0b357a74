/* Unit tests for src/core/route_table.c: compile, conflicts (exact, listeners, wildcards, defaults),
 * evaluation order, ambiguity, redaction policy, ownership. */
#include "core/route_table.c"

#include "test.h"
#include "io/diag_print.h"

/* Add a route "ns/name" with fields given as "49=BROKER_A" strings; flags: "!" prefix = log:false,
 * "~" prefix = redact:true. Listeners as a comma list or NULL. */
static struct route *add_route(struct route_set *set, const char *name, int32_t prio, bool has_prio,
                               const char *listeners, const char *const *fields, size_t nfields)
{
	struct route *r = route_set_push(set);
	r->ns = strdup("trading");
	r->name = strdup(name);
	r->source = strdup("test:1");
	r->fields = calloc(nfields ? nfields : 1, sizeof(*r->fields));
	for (size_t i = 0; i < nfields; i++) {
		const char *f = fields[i];
		struct route_field *rf = &r->fields[i];
		rf->log = true;
		if (*f == '!')
			rf->log = false, f++;
		else if (*f == '~')
			rf->redact = true, f++;
		rf->tag = (uint32_t)strtoul(f, NULL, 10);
		const char *eq = strchr(f, '=');
		rf->value = strdup(eq + 1);
		rf->value_len = strlen(rf->value);
		rf->is_pattern = glob_is_pattern(rf->value, rf->value_len);
		rf->name = strdup("Field");
	}
	/* keep fields sorted by tag, as the loader does */
	for (size_t i = 1; i < nfields; i++)
		for (size_t j = i; j > 0 && r->fields[j - 1].tag > r->fields[j].tag; j--) {
			struct route_field tmp = r->fields[j];
			r->fields[j] = r->fields[j - 1];
			r->fields[j - 1] = tmp;
		}
	r->nfields = nfields;
	r->priority = prio;
	r->has_priority = has_prio;
	r->target.service = strdup(name);
	r->target.port = 9880;
	r->max_held = 1;
	r->hold_timeout_ms = 30000;
	if (listeners) {
		char *copy = strdup(listeners), *save = NULL;
		r->listeners = calloc(ROUTE_MAX_LISTENERS, sizeof(char *));
		for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			r->listeners[r->nlisteners++] = strdup(tok);
		free(copy);
	}
	return r;
}

#define F(...) (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)
#define NOF    NULL, 0

/* A scanner result built from "49=A|50=B" (no real scanning: the evaluator only reads fields). */
struct fake_logon {
	char buf[512];
	struct fix_field fields[32];
	struct fix_scanner sc;
};

static void fake(struct fake_logon *fl, const char *spec)
{
	memset(fl, 0, sizeof(*fl));
	snprintf(fl->buf, sizeof(fl->buf), "%s", spec);
	fl->sc.fields = fl->fields;
	fl->sc.field_cap = 32;
	char *p = fl->buf;
	while (*p) {
		char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		char *eq = memchr(p, '=', len);
		struct fix_field *f = &fl->fields[fl->sc.nfields++];
		f->tag = (uint32_t)strtoul(p, NULL, 10);
		f->value_off = (uint32_t)(eq + 1 - fl->buf);
		f->value_len = (uint32_t)(p + len - eq - 1);
		p += len + (bar ? 1 : 0);
	}
}

static int compile(struct route_set *set, struct route_table **t, struct diag_list *dl)
{
	diag_list_init(dl);
	int err = route_table_compile(set, dl, t);
	if (err && err != FIXGW_ECONFLICT)
		diag_print(dl, stderr);
	return err;
}

static const char *eval_name(const struct route_table *t, const char *logon, const char *listener)
{
	static struct fake_logon fl;
	fake(&fl, logon);
	struct route_eval ev;
	route_table_eval(t, &fl.sc, fl.buf, route_table_listener_bit(t, listener), &ev);
	if (ev.decision == ROUTE_DECISION_AMBIGUOUS)
		return "AMBIGUOUS";
	return ev.route ? ev.route->name : "NO_MATCH";
}

static bool diag_mentions(const struct diag_list *dl, const char *a, const char *b)
{
	for (size_t i = 0; i < dl->count; i++)
		if (strstr(dl->items[i].message, a) && strstr(dl->items[i].message, b))
			return true;
	return false;
}

TEST(test_specificity_order)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "a", 0, false, NULL, F("49=BROKER_A"));
	add_route(&set, "a-desk", 0, false, NULL, F("49=BROKER_A", "50=DESK1"));
	add_route(&set, "a-desk-fi", 0, false, NULL, F("49=BROKER_A", "50=DESK1", "128=FI"));
	add_route(&set, "wild", 10, true, NULL, F("49=BROKER_*"));
	add_route(&set, "default", 0, true, NULL, NOF);
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), 0);
	CHECK_EQ_INT(set.count, 0); /* ownership moved */
	CHECK_EQ_STR(eval_name(t, "49=BROKER_A", NULL), "a");
	CHECK_EQ_STR(eval_name(t, "49=BROKER_A|50=DESK1", NULL), "a-desk");
	CHECK_EQ_STR(eval_name(t, "49=BROKER_A|50=DESK1|128=FI", NULL), "a-desk-fi");
	CHECK_EQ_STR(eval_name(t, "49=BROKER_A|50=DESK2|128=FI", NULL), "a");
	CHECK_EQ_STR(eval_name(t, "49=BROKER_B", NULL), "wild");
	CHECK_EQ_STR(eval_name(t, "49=OTHER", NULL), "default");
	CHECK_EQ_STR(eval_name(t, "56=X", NULL), "default");
	struct fake_logon fl;
	fake(&fl, "49=OTHER");
	struct route_eval ev;
	route_table_eval(t, &fl.sc, fl.buf, route_table_listener_bit(t, NULL), &ev);
	CHECK_EQ_INT(ev.decision, ROUTE_DECISION_DEFAULT);
	CHECK(route_table_find(t, "trading", "wild") != NULL);
	CHECK(route_table_find(t, "trading", "nope") == NULL);
	route_table_unref(t);
	diag_list_free(&dl);
}

TEST(test_no_match_and_null_table)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "a", 0, false, NULL, F("49=A"));
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), 0);
	CHECK_EQ_STR(eval_name(t, "49=B", NULL), "NO_MATCH");
	CHECK_EQ_STR(eval_name(NULL, "49=B", NULL), "NO_MATCH");
	route_table_unref(t);
	diag_list_free(&dl);
}

TEST(test_duplicate_exact_conflict)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "one", 0, false, NULL, F("49=X", "50=Y"));
	add_route(&set, "two", 0, false, NULL, F("50=Y", "49=X"));
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), FIXGW_ECONFLICT);
	CHECK(t == NULL);
	CHECK_EQ_INT(set.count, 2); /* still the caller's */
	CHECK(diag_mentions(&dl, "trading/one", "trading/two"));
	CHECK(diag_mentions(&dl, "Field49=\"X\"", "Field50=\"Y\""));
	CHECK_EQ_INT(route_table_conflicts_in(&dl), 1); /* the fixgw.routing.conflicts gauge */
	diag_list_free(&dl);
	route_set_free(&set);

	/* a third route on the same Logon conflicts with both; an invalid route is not a conflict */
	route_set_init(&set);
	add_route(&set, "one", 0, false, NULL, F("49=X"));
	add_route(&set, "two", 0, false, NULL, F("49=X"));
	add_route(&set, "three", 0, false, NULL, F("49=X"));
	CHECK_EQ_INT(compile(&set, &t, &dl), FIXGW_ECONFLICT);
	CHECK_EQ_INT(route_table_conflicts_in(&dl), 3);
	diag_add(&dl, DIAG_ERROR, NULL, 0, 0, NULL, "not a conflict: %s", "x");
	CHECK_EQ_INT(route_table_conflicts_in(&dl), 3);
	diag_list_free(&dl);
	route_set_free(&set);
}

TEST(test_incomparable_exact_conflicts)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "sub", 0, false, NULL, F("49=X", "50=Y"));
	add_route(&set, "deliver", 0, false, NULL, F("49=X", "128=Z"));
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), FIXGW_ECONFLICT);
	CHECK(diag_mentions(&dl, "trading/sub", "trading/deliver"));
	CHECK(diag_mentions(&dl, "Field50=\"Y\"", "Field128=\"Z\""));
	diag_list_free(&dl);
	route_set_free(&set);

	/* disjoint tags: {49=X} and {50=Y} both match 49=X|50=Y */
	route_set_init(&set);
	add_route(&set, "by-sender", 0, false, NULL, F("49=X"));
	add_route(&set, "by-sub", 0, false, NULL, F("50=Y"));
	CHECK_EQ_INT(compile(&set, &t, &dl), FIXGW_ECONFLICT);
	diag_list_free(&dl);
	route_set_free(&set);

	/* shared tag with different values: can never both match */
	route_set_init(&set);
	add_route(&set, "x-sub", 0, false, NULL, F("49=X", "50=Y"));
	add_route(&set, "w-deliver", 0, false, NULL, F("49=W", "128=Z"));
	CHECK_EQ_INT(compile(&set, &t, &dl), 0);
	route_table_unref(t);
	diag_list_free(&dl);
}

TEST(test_listeners_separate_routes)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "tls", 0, false, "fix-tls", F("49=X"));
	add_route(&set, "plain", 0, false, "fix-plain", F("49=X"));
	add_route(&set, "both", 0, false, "fix-tls,fix-plain", F("49=X", "50=D"));
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), 0);
	CHECK_EQ_STR(eval_name(t, "49=X", "fix-tls"), "tls");
	CHECK_EQ_STR(eval_name(t, "49=X", "fix-plain"), "plain");
	CHECK_EQ_STR(eval_name(t, "49=X", "other"), "NO_MATCH");
	CHECK_EQ_STR(eval_name(t, "49=X", NULL), "NO_MATCH");
	CHECK_EQ_STR(eval_name(t, "49=X|50=D", "fix-plain"), "both");
	route_table_unref(t);
	diag_list_free(&dl);

	/* overlapping listeners conflict: one restricted, one on every listener */
	route_set_init(&set);
	add_route(&set, "tls", 0, false, "fix-tls", F("49=X"));
	add_route(&set, "all", 0, false, NULL, F("49=X"));
	CHECK_EQ_INT(compile(&set, &t, &dl), FIXGW_ECONFLICT);
	CHECK(diag_mentions(&dl, "listener fix-tls", "trading/all"));
	diag_list_free(&dl);
	route_set_free(&set);
}

TEST(test_wildcard_conflicts)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "brk-a", 10, true, NULL, F("49=BRK_A*"));
	add_route(&set, "brk-b", 10, true, NULL, F("49=BRK_B*"));
	add_route(&set, "brk-any", 5, true, NULL, F("49=BRK_*"));
	add_route(&set, "desk", 5, true, NULL, F("49=OTHER*", "50=DESK?"));
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), 0);
	CHECK_EQ_STR(eval_name(t, "49=BRK_A1", NULL), "brk-a");
	CHECK_EQ_STR(eval_name(t, "49=BRK_C1", NULL), "brk-any");
	CHECK_EQ_STR(eval_name(t, "49=OTHER|50=DESK1", NULL), "desk");
	CHECK_EQ_STR(eval_name(t, "49=OTHER|50=DESK12", NULL), "NO_MATCH");
	CHECK_EQ_STR(eval_name(t, "49=OTHER", NULL), "NO_MATCH");
	route_table_unref(t);
	diag_list_free(&dl);

	route_set_init(&set);
	add_route(&set, "brk", 10, true, NULL, F("49=BRK*"));
	add_route(&set, "a-suffix", 10, true, NULL, F("49=*_A"));
	CHECK_EQ_INT(compile(&set, &t, &dl), FIXGW_ECONFLICT);
	CHECK(diag_mentions(&dl, "trading/brk", "same priority"));
	diag_list_free(&dl);
	route_set_free(&set);

	/* different tags, same priority: a Logon can carry both */
	route_set_init(&set);
	add_route(&set, "by-49", 10, true, NULL, F("49=A*"));
	add_route(&set, "by-50", 10, true, NULL, F("50=B*"));
	CHECK_EQ_INT(compile(&set, &t, &dl), FIXGW_ECONFLICT);
	diag_list_free(&dl);
	route_set_free(&set);
}

TEST(test_default_cascade)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "tls-default", 100, true, "fix-tls", NOF);
	add_route(&set, "catch-all", 0, true, NULL, NOF);
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), 0);
	CHECK_EQ_STR(eval_name(t, "49=Q", "fix-tls"), "tls-default");
	CHECK_EQ_STR(eval_name(t, "49=Q", "fix-plain"), "catch-all");
	route_table_unref(t);
	diag_list_free(&dl);

	route_set_init(&set);
	add_route(&set, "d1", 0, true, NULL, NOF);
	add_route(&set, "d2", 0, true, NULL, NOF);
	CHECK_EQ_INT(compile(&set, &t, &dl), FIXGW_ECONFLICT);
	CHECK(diag_mentions(&dl, "trading/d1", "both match every Logon"));
	diag_list_free(&dl);
	route_set_free(&set);
}

TEST(test_ambiguous_tag_refused)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "a", 0, false, NULL, F("49=A"));
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), 0);
	CHECK_EQ_STR(eval_name(t, "49=A|49=B", NULL), "AMBIGUOUS");
	CHECK_EQ_STR(eval_name(t, "49=A|49=A", NULL), "a");
	CHECK_EQ_STR(eval_name(t, "49=A|372=D|372=8", NULL), "a"); /* repeats of unused tags are fine */
	route_table_unref(t);
	diag_list_free(&dl);
}

TEST(test_escaped_literal_is_exact)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "star", 0, false, NULL, F("49=A\\*"));
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), 0);
	CHECK_EQ_STR(eval_name(t, "49=A*", NULL), "star");
	CHECK_EQ_STR(eval_name(t, "49=AB", NULL), "NO_MATCH");
	route_table_unref(t);
	diag_list_free(&dl);
}

TEST(test_redaction_policy_is_strictest)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "a", 0, false, NULL, F("49=A", "~20001=VWAP", "9001=X"));
	add_route(&set, "b", 0, false, NULL, F("49=B", "!9001=Y"));
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), 0);
	const struct redact_policy *p = route_table_policy(t);
	CHECK_EQ_INT(p->nrules, 2);
	CHECK_EQ_INT(p->rules[0].tag, 9001);
	CHECK_EQ_INT(p->rules[0].action, REDACT_HIDE);
	CHECK_EQ_INT(p->rules[1].tag, 20001);
	CHECK_EQ_INT(p->rules[1].action, REDACT_MASK);
	size_t n;
	const uint32_t *tags = route_table_tags(t, &n);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(tags[0], 49);
	CHECK_EQ_STR(route_table_tag_name(t, 20001), "Field");
	CHECK(route_table_tag_name(t, 56) == NULL);
	route_table_unref(t);
	diag_list_free(&dl);
}

/* Conflict messages must never print values of hidden or redacted fields. */
TEST(test_conflict_report_respects_redaction)
{
	struct route_set set;
	route_set_init(&set);
	add_route(&set, "a", 0, false, NULL, F("49=A", "~20001=SECRETVWAP"));
	add_route(&set, "b", 0, false, NULL, F("49=A", "!9001=HIDDENVAL"));
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), FIXGW_ECONFLICT);
	for (size_t i = 0; i < dl.count; i++) {
		CHECK(!strstr(dl.items[i].message, "SECRETVWAP"));
		CHECK(!strstr(dl.items[i].message, "HIDDENVAL"));
	}
	diag_list_free(&dl);
	route_set_free(&set);
}

TEST(test_many_routes_scale)
{
	struct route_set set;
	route_set_init(&set);
	char name[32], v49[32], v50[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		snprintf(v49, sizeof(v49), "49=C%d", i);
		snprintf(v50, sizeof(v50), "50=D%d", i % 7);
		if (i % 2)
			add_route(&set, name, 0, false, NULL, F(v49));
		else
			add_route(&set, name, 0, false, NULL, F(v49, v50));
	}
	struct route_table *t;
	struct diag_list dl;
	CHECK_EQ_INT(compile(&set, &t, &dl), 0);
	CHECK_EQ_STR(eval_name(t, "49=C1234|50=D2", NULL), "r1234");
	CHECK_EQ_STR(eval_name(t, "49=C1233", NULL), "r1233");
	route_table_unref(t);
	diag_list_free(&dl);
}

TEST_MAIN(TEST_ENTRY(test_specificity_order), TEST_ENTRY(test_no_match_and_null_table),
          TEST_ENTRY(test_duplicate_exact_conflict), TEST_ENTRY(test_incomparable_exact_conflicts),
          TEST_ENTRY(test_listeners_separate_routes), TEST_ENTRY(test_wildcard_conflicts),
          TEST_ENTRY(test_default_cascade), TEST_ENTRY(test_ambiguous_tag_refused),
          TEST_ENTRY(test_escaped_literal_is_exact), TEST_ENTRY(test_redaction_policy_is_strictest),
          TEST_ENTRY(test_conflict_report_respects_redaction), TEST_ENTRY(test_many_routes_scale))
