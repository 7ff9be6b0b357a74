/* test_yaml_fast.c - the common-subset YAML scanner: what it accepts equals libyaml's documents node by
 * node (yaml_compare.h); what it is not sure of is UNSUPPORTED, never an error of its own. */
#include "core/yaml_fast.c"

#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "yaml_compare.h"

static const struct yaml_doc_limits lim = {64, 1u << 18};

/* The fast path must stop with want after ndocs documents, each equal to libyaml's. */
static void check_input(const char *text, size_t ndocs, enum yaml_fast_status want)
{
	char why[512];
	size_t accepted;
	enum yaml_fast_status last;
	const char *diff = yaml_compare_input(text, strlen(text), &lim, &accepted, &last, why, sizeof(why));
	if (diff || last != want || accepted != ndocs) {
		fprintf(stderr, "input:\n%s\n-> %s; status %d after %zu documents (expected %d after %zu)\n",
		        text, diff ? diff : "equal", last, accepted, want, ndocs);
		test_failures_++;
	}
}

/* text is read to its end, in ndocs documents. */
static void check_accepted(const char *text, size_t ndocs)
{
	check_input(text, ndocs, YAML_FAST_END);
}

/* text is UNSUPPORTED after `before` documents. */
static void check_unsupported(const char *text, size_t before)
{
	check_input(text, before, YAML_FAST_UNSUPPORTED);
}

TEST(fixsession_shapes)
{
	/* bench/loader.sh's shape: explicit documents, flow mappings, double quotes */
	check_accepted("---\napiVersion: fixgw.io/v1alpha1\nkind: FIXSession\n"
	               "metadata: {name: s1, namespace: bench}\nspec:\n  matchFields:\n"
	               "    SenderCompID49: {value: \"SENDER_1\"}\n    TargetCompID56: {value: \"GATEWAY\"}\n"
	               "  target: {service: {name: engine-1, port: {number: 9880}}}\n"
	               "---\napiVersion: fixgw.io/v1alpha1\nkind: FIXSession\n"
	               "metadata: {name: s2, namespace: bench}\n",
	               2);
	/* bench_core's shape: block mappings only */
	check_accepted("---\napiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata:\n  name: s0\n"
	               "  namespace: trading\nspec:\n  matchFields:\n    SenderCompID49:\n"
	               "      value: \"CLIENT0\"\n  target:\n    service:\n      name: engine0\n"
	               "      port:\n        number: 9880\n",
	               1);
	/* lists, comments, quoting, an implicit first document */
	check_accepted("# routes\napiVersion: v1   # the List\nkind: List\nitems:\n"
	               "- apiVersion: fixgw.io/v1alpha1\n  kind: FIXSession\n  metadata:\n    name: 'a''b'\n"
	               "  spec:\n    listeners: [fix-plain, fix-tls]\n    holdTimeout: 30s\n"
	               "- kind: Service\n  # a comment between keys\n\n  metadata: {name: x}\n"
	               "other: [ a , b c ,\"d\\\"e\\\\f\\/\" , 'g' ]\n",
	               1);
}

TEST(block_structure)
{
	check_accepted("a:\n  b:\n    - x\n    - y\n  c: d\ne: f\n", 1);
	check_accepted("a:\n- x\n- y: 1\n  z: 2\n-\n- w\nb: c\n", 1); /* indentless, empty entry */
	check_accepted("- a\n-\n  b: c\n- d:\n  - e\n", 1);
	check_accepted("a:\nb:\n", 1);                       /* empty values */
	check_accepted("a:\n  b:\nc:", 1);                   /* no final newline */
	check_accepted("  a: b\n  c: d\n", 1);               /* indented root */
	check_accepted("a : b\n'q' : \"r\"\n\"s\": t\n", 1); /* blanks before ':' */
	check_accepted("url: http://x.example/a:b\nx: a#b\ny: a b  # c\n", 1);
	check_accepted("- [a, [b, {c: d}], {}]\n- []\n- {e: [f]}\n", 1);
	check_accepted("plain root\n", 1);
	check_accepted("\"quoted root\"", 1);
	check_accepted("{a: b}\n", 1);
	check_accepted("a: -1\nb: -x\nc: .5\nd: ~\n", 1);
}

TEST(documents)
{
	check_accepted("", 0);
	check_accepted("# only a comment\n\n", 0);
	check_accepted("---\n", 1);
	check_accepted("---\n---\n", 2);
	check_accepted("--- # c\na: b\n...\n---\nc: d\n", 2);
	check_accepted("a: b\n---\n---\n# c\n", 3);
	check_accepted("a: b\n...\n", 1);
	check_accepted("---\n...\n", 1);
	check_accepted("a: b\n\n\n", 1);
	check_accepted("a: b\n# trailing", 1);
	/* the last line indented: blocks deeper than it end at its column, the rest on the next line */
	check_accepted("a:\n  - b: c\n    d:\n      - e: f\n    ", 1);
	check_accepted("a:\n- b:\n  - c\n   # x", 1);
}

TEST(json)
{
	check_accepted("{\"apiVersion\":\"fixgw.io/v1alpha1\",\"kind\":\"FIXSession\",\"metadata\":{\"name\":"
	               "\"a\",\"labels\":{}},\"spec\":{\"listeners\":[\"x\",\"y\"],\"maxHeld\":10,"
	               "\"x\":null,\"t\":true,\"u\":\"\\u0041\\n\"}}",
	               1);
	check_accepted("{ \"a\" : 1 , \"b\" :[ ] }\n", 1);
	/* pretty-printed: a document's root collection may span lines between its entries */
	check_accepted(
	    "{\n  \"apiVersion\": \"fixgw.io/v1alpha1\",\n  \"metadata\": {\n    \"name\": \"a\",\n"
	    "    \"labels\": {}\n  },\n  \"spec\": {\n    \"listeners\": [\n      \"x\",\n      \"y\"\n"
	    "    ],\n    \"maxHeld\": 10\n  }\n}\n",
	    1);
	check_accepted("[\n\n  a, # c\n  # line\nb\n  , {c: d}\n]   # end\n---\n[ ]\n", 2);
	check_accepted("{\n}", 1);
	check_unsupported("[\n  a\n  b\n]\n", 0);       /* a multi-line plain scalar */
	check_unsupported("[\n  a,\n---\n]\n", 0);      /* a marker inside */
	check_unsupported("{\n  \"a\":\n  1\n}\n", 0);  /* a value on the next line */
	check_unsupported("{\n  \"a\"\n  : 1\n}\n", 0); /* ':' on the next line */
	check_unsupported("[\n  a,#c\n  b\n]\n", 0);    /* '#' without a blank before it */
	check_unsupported("[\n  a,\n", 0);              /* not closed */
	check_unsupported("k: [\n  a\n]\n", 0);         /* only the root spans lines */
}

TEST(unsupported)
{
	static const char *const cases[] = {
	    "a:\tb\n",                /* tab */
	    "a: b\r\n",               /* CR */
	    "a: \xc3\xa9\n",          /* non-ASCII */
	    "\357\273\277a: b\n",     /* BOM */
	    "a: &x b\nc: *x\n",       /* anchor, alias */
	    "a: !!str b\n",           /* tag */
	    "%YAML 1.1\n---\na: b\n", /* directive */
	    "? a\n: b\n",             /* complex key */
	    "a: |\n  text\n",         /* block scalars */
	    "a: >\n  text\n",
	    "a: b\n  c\n",     /* multi-line plain */
	    "a: 'b\n  c'\n",   /* multi-line quoted */
	    "a: \"b\\x41\"\n", /* escapes it does not handle */
	    "a: \"\\u00e9\"\n",
	    "a: [b,\n  c]\n", /* multi-line flow */
	    "a: {b:c}\n",     /* ':' inside a flow plain scalar */
	    "a: [b, c,]\n",   /* trailing comma */
	    "a: {b}\n",       /* flow key without a value */
	    "a: b: c\n",      /* libyaml error */
	    "a: b\n c: d\n",
	    "a:\n  b: c\n d: e\n", /* indentation matching no level */
	    "- - a\n",
	    "a: - b\n",
	    "a: \"b\"#c\n",
	    "---x\n",
	    "--- a\n",
	    "...\n",
	    "a\nb\n", /* a second root */
	    "a: b\nc\n",
	    "a: [b] c\n",
	    "a: `b`\n",
	    "a: @b\n",
	    "a: ,b\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_unsupported(cases[i], 0);
	/* later documents: the ones before stay equal to libyaml's */
	check_unsupported("a: b\n---\nc: &x d\n", 1);
	check_unsupported("a: b\n...\nc: d\n", 1); /* an implicit document after "..." */
	/* a bad byte in a later document: libyaml's reader decodes ahead and would fail earlier */
	check_unsupported("a: b\n---\nc: \x01\n", 0);

	char nul[] = "a: b\n---\nc: d\0\n";
	size_t accepted;
	enum yaml_fast_status last;
	char why[256];
	CHECK(yaml_compare_input(nul, sizeof(nul) - 1, &lim, &accepted, &last, why, sizeof(why)) == NULL);
	CHECK_EQ_INT(last, YAML_FAST_UNSUPPORTED);
	CHECK_EQ_INT(accepted, 0);
}

TEST(limits_are_left_to_libyaml)
{
	static const struct yaml_doc_limits small = {3, 6};
	struct yaml_fast f;
	yaml_document_t doc;
	yaml_fast_init(&f, "a: {b: [c]}\n", 12, &small); /* depth 3, 5 nodes: within */
	CHECK_EQ_INT(yaml_fast_next(&f, &doc), YAML_FAST_OK);
	CHECK_EQ_INT(yaml_fast_next(&f, &doc), YAML_FAST_END);
	yaml_fast_free(&f);
	yaml_fast_init(&f, "a: {b: [[c]]}\n", 14, &small); /* depth 4 */
	CHECK_EQ_INT(yaml_fast_next(&f, &doc), YAML_FAST_UNSUPPORTED);
	CHECK_EQ_INT(yaml_fast_next(&f, &doc), YAML_FAST_UNSUPPORTED); /* sticky */
	yaml_fast_free(&f);
	yaml_fast_init(&f, "a: {b: [c, d, e]}\n", 18, &small); /* 7 nodes */
	CHECK_EQ_INT(yaml_fast_next(&f, &doc), YAML_FAST_UNSUPPORTED);
	yaml_fast_free(&f);
}

TEST(memory_is_reused_across_documents)
{
	/* a document bigger than one arena chunk, then small ones: no growth per document */
	size_t cap = 200000, len = 0;
	char *text = malloc(cap);
	len += (size_t)snprintf(text + len, cap - len, "---\nbig:\n");
	for (int i = 0; i < 3000; i++)
		len += (size_t)snprintf(text + len, cap - len, "  key%d: \"value %d value %d\"\n", i, i, i);
	for (int i = 0; i < 50; i++)
		len += (size_t)snprintf(text + len, cap - len, "---\nsmall: %d\n", i);
	char why[512];
	size_t accepted;
	enum yaml_fast_status last;
	const char *diff = yaml_compare_input(text, len, &lim, &accepted, &last, why, sizeof(why));
	CHECK(diff == NULL);
	if (diff)
		fprintf(stderr, "%s\n", diff);
	CHECK_EQ_INT(last, YAML_FAST_END);
	CHECK_EQ_INT(accepted, 51);

	struct yaml_fast f;
	yaml_document_t doc;
	yaml_fast_init(&f, text, len, &lim);
	CHECK_EQ_INT(yaml_fast_next(&f, &doc), YAML_FAST_OK);
	size_t chunks = f.nchunks, nodes_cap = f.nodes_cap;
	CHECK(chunks >= 2);
	while (yaml_fast_next(&f, &doc) == YAML_FAST_OK)
		;
	CHECK_EQ_INT(f.nchunks, chunks);
	CHECK_EQ_INT(f.nodes_cap, nodes_cap);
	yaml_fast_free(&f);
	free(text);
}

/* ---- generated inputs: random documents inside the subset, each read to its end and equal ---- */

struct gen {
	char *buf;
	size_t len, cap;
	uint64_t state;
};

static unsigned gen_rand(struct gen *g, unsigned n)
{
	g->state = g->state * 6364136223846793005ull + 1442695040888963407ull; /* a fixed LCG: reproducible */
	return (unsigned)(g->state >> 33) % n;
}

static void gen_put(struct gen *g, const char *s)
{
	size_t n = strlen(s);
	if (g->len + n < g->cap) {
		memcpy(g->buf + g->len, s, n);
		g->len += n;
	}
}

static void gen_indent(struct gen *g, unsigned n)
{
	while (n--)
		gen_put(g, " ");
}

static void gen_scalar(struct gen *g, bool flow)
{
	static const char *const plain[] = {"a", "b1", "x y", "-1", "3.5", "~", "true", "c-d", ".e", "A  B"};
	static const char *const block_only[] = {"a#b", "k:v", "http://h/p"}; /* ':' and '#' inside */
	static const char *const quoted[] = {"''",          "'it''s'",    "' sp '",
	                                     "\"\"",        "\"q\\\"t\"", "\"\\\\\\n\\t\"",
	                                     "\"\\u0041\"", "\"a: b\"",   "'#c'"};
	unsigned r = gen_rand(g, 10);
	if (r < 3)
		gen_put(g, quoted[gen_rand(g, sizeof(quoted) / sizeof(quoted[0]))]);
	else if (r == 3 && !flow)
		gen_put(g, block_only[gen_rand(g, 3)]);
	else
		gen_put(g, plain[gen_rand(g, sizeof(plain) / sizeof(plain[0]))]);
}

/* A line break (and a comment line now and then) where a pretty root collection may have one. */
static void gen_break(struct gen *g, bool pretty)
{
	if (!pretty || gen_rand(g, 3) == 0)
		return;
	gen_put(g, gen_rand(g, 6) ? "\n" : "  # c\n");
	if (gen_rand(g, 8) == 0)
		gen_put(g, "# line\n");
	gen_indent(g, gen_rand(g, 4));
}

static void gen_flow(struct gen *g, unsigned depth, bool pretty)
{
	if (depth > 2 || gen_rand(g, 5) < 2) {
		gen_scalar(g, true);
		return;
	}
	bool map = gen_rand(g, 2);
	unsigned n = gen_rand(g, 4);
	gen_put(g, map ? "{" : "[");
	gen_break(g, pretty);
	for (unsigned i = 0; i < n; i++) {
		if (i) {
			gen_put(g, gen_rand(g, 2) ? ", " : ",");
			gen_break(g, pretty);
		}
		if (map) {
			gen_scalar(g, true);
			gen_put(g, ": ");
		}
		gen_flow(g, depth + 1, pretty);
		if (i + 1 == n)
			gen_break(g, pretty);
	}
	gen_put(g, map ? "}" : "]");
}

static void gen_block(struct gen *g, unsigned indent, unsigned depth);

/* After "key:" or "- ": a value on the line, or a block on the next lines. */
static void gen_value(struct gen *g, unsigned indent, unsigned depth)
{
	unsigned r = gen_rand(g, 20);
	if (depth > 3 || r < 9) {
		gen_put(g, " ");
		gen_scalar(g, false);
	} else if (r < 13) {
		gen_put(g, " ");
		gen_flow(g, 0, false);
	} else if (r == 13) {
		gen_put(g, "\n"); /* an empty value */
		return;
	} else {
		gen_put(g, gen_rand(g, 3) ? "\n" : "  # c\n");
		gen_block(g, indent + 1 + gen_rand(g, 3), depth + 1);
		return;
	}
	gen_put(g, gen_rand(g, 4) ? "\n" : " # c\n");
}

static void gen_block(struct gen *g, unsigned indent, unsigned depth)
{
	unsigned n = 1 + gen_rand(g, 3);
	bool map = gen_rand(g, 2);
	for (unsigned i = 0; i < n; i++) {
		gen_indent(g, indent);
		if (map) {
			gen_scalar(g, false);
			gen_put(g, ":");
			gen_value(g, indent, depth);
		} else if (gen_rand(g, 3) == 0) {
			gen_put(g, "- "); /* "- key: v" and its next keys */
			for (unsigned k = 0, nk = 1 + gen_rand(g, 2); k < nk; k++) {
				if (k)
					gen_indent(g, indent + 2);
				gen_put(g, k ? "k2:" : "k1:");
				gen_value(g, indent + 2, depth + 1);
			}
		} else {
			gen_put(g, "-");
			gen_value(g, indent, depth);
		}
		if (gen_rand(g, 8) == 0)
			gen_put(g, gen_rand(g, 2) ? "\n" : "# between\n");
	}
}

TEST(generated_documents_equal_libyaml)
{
	static char buf[65536];
	struct gen g = {buf, 0, sizeof(buf), 17};
	for (int i = 0; i < 3000; i++) {
		g.len = 0;
		size_t ndocs = 1 + gen_rand(&g, 3);
		for (size_t d = 0; d < ndocs; d++) {
			if (d || gen_rand(&g, 2))
				gen_put(&g, "---\n");
			else if (gen_rand(&g, 4) == 0)
				gen_put(&g, "# head\n");
			unsigned r = gen_rand(&g, 10);
			if (r == 0) {
				gen_scalar(&g, false);
				gen_put(&g, "\n");
			} else if (r == 1) {
				gen_flow(&g, 0, gen_rand(&g, 2));
				gen_put(&g, "\n");
			} else {
				gen_block(&g, gen_rand(&g, 4) ? 0 : 2, 0);
			}
		}
		if (gen_rand(&g, 5) == 0 && g.len)
			g.len--; /* no final newline */
		g.buf[g.len] = '\0';
		check_accepted(g.buf, ndocs);
		if (test_failures_)
			return; /* one input printed is enough */
	}
}

TEST_MAIN(TEST_ENTRY(fixsession_shapes), TEST_ENTRY(block_structure), TEST_ENTRY(documents), TEST_ENTRY(json),
          TEST_ENTRY(unsupported), TEST_ENTRY(limits_are_left_to_libyaml),
          TEST_ENTRY(memory_is_reused_across_documents), TEST_ENTRY(generated_documents_equal_libyaml))
