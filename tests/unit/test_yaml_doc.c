/* test_yaml_doc.c - the one-pass bounded composer: documents, marks, anchors, limits. */
#include "core/yaml_doc.c"

#include <stdio.h>
#include <stdlib.h>

#include "test.h"

static const struct yaml_doc_limits lim = {8, 100};

/* Compose every document of text; returns the last status and the number of documents. */
static enum yaml_doc_status compose(const char *text, size_t len, const struct yaml_doc_limits *l, int *ndocs,
                                    yaml_mark_t *at, char *first_scalar, size_t cap)
{
	yaml_parser_t p;
	enum yaml_doc_status st;
	*ndocs = 0;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	for (;;) {
		yaml_document_t doc;
		st = yaml_doc_next(&p, l, &doc, at);
		if (st != YAML_DOC_OK)
			break;
		if (*ndocs == 0 && first_scalar) {
			yaml_node_t *root = yaml_document_get_root_node(&doc);
			snprintf(first_scalar, cap, "%s",
			         root && root->type == YAML_MAPPING_NODE &&
			                 root->data.mapping.pairs.top > root->data.mapping.pairs.start
			             ? (const char *)yaml_document_get_node(
			                   &doc, root->data.mapping.pairs
			                             .start[root->data.mapping.pairs.top -
			                                    root->data.mapping.pairs.start - 1]
			                             .value)
			                   ->data.scalar.value
			             : "");
		}
		(*ndocs)++;
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&p);
	return st;
}

TEST(documents_and_marks)
{
	const char *text = "a: 1\n---\nb: [x, y]\n---\n";
	yaml_parser_t p;
	yaml_document_t doc;
	yaml_mark_t at;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
	CHECK_EQ_INT(yaml_doc_next(&p, &lim, &doc, &at), YAML_DOC_OK);
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	CHECK(root && root->type == YAML_MAPPING_NODE);
	yaml_document_delete(&doc);
	CHECK_EQ_INT(yaml_doc_next(&p, &lim, &doc, &at), YAML_DOC_OK);
	root = yaml_document_get_root_node(&doc);
	CHECK(root && root->start_mark.line == 2);
	yaml_node_t *seq = yaml_document_get_node(&doc, root->data.mapping.pairs.start[0].value);
	CHECK(seq->type == YAML_SEQUENCE_NODE && seq->start_mark.column == 3);
	CHECK_EQ_INT(seq->data.sequence.items.top - seq->data.sequence.items.start, 2);
	yaml_node_t *y = yaml_document_get_node(&doc, seq->data.sequence.items.start[1]);
	CHECK_EQ_STR((const char *)y->data.scalar.value, "y");
	CHECK(y->start_mark.line == 2 && y->start_mark.column == 7);
	yaml_document_delete(&doc);
	/* the third document is an empty (null) scalar, then the stream ends */
	CHECK_EQ_INT(yaml_doc_next(&p, &lim, &doc, &at), YAML_DOC_OK);
	root = yaml_document_get_root_node(&doc);
	CHECK(root && root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0);
	yaml_document_delete(&doc);
	CHECK_EQ_INT(yaml_doc_next(&p, &lim, &doc, &at), YAML_DOC_END);
	yaml_parser_delete(&p);
}

TEST(anchors_resolve_to_the_latest_definition)
{
	char v[32];
	int n;
	yaml_mark_t at;
	const char *text = "a: &x one\nb: &x two\nc: *x\n";
	CHECK_EQ_INT(compose(text, strlen(text), &lim, &n, &at, v, sizeof(v)), YAML_DOC_END);
	CHECK_EQ_STR(v, "two");
	/* a cycle is a node that contains itself, not an endless expansion */
	text = "&m {k: *m}\n";
	CHECK_EQ_INT(compose(text, strlen(text), &lim, &n, &at, NULL, 0), YAML_DOC_END);
	CHECK_EQ_INT(n, 1);
	text = "a: 1\nb: *nowhere\n";
	CHECK_EQ_INT(compose(text, strlen(text), &lim, &n, &at, NULL, 0), YAML_DOC_ALIAS);
	CHECK(at.line == 1 && at.column == 3);
}

/* Many anchors and aliases: each alias is one hash look-up (a linear scan would be quadratic). */
TEST(many_anchors)
{
	struct yaml_doc_limits big = {8, 1u << 20};
	size_t cap = 40000u * 48, len = 0;
	char *text = malloc(cap);
	int n;
	yaml_mark_t at;
	len += (size_t)snprintf(text + len, cap - len, "[");
	for (int i = 0; i < 20000; i++)
		len += (size_t)snprintf(text + len, cap - len, "&a%d %d, ", i, i);
	for (int i = 0; i < 20000; i++)
		len += (size_t)snprintf(text + len, cap - len, "*a%d, ", 19999 - i);
	len += (size_t)snprintf(text + len, cap - len, "end]\n");
	CHECK_EQ_INT(compose(text, len, &big, &n, &at, NULL, 0), YAML_DOC_END);
	CHECK_EQ_INT(n, 1);
	free(text);
}

TEST(limits_stop_at_the_first_node_past_them)
{
	int n;
	yaml_mark_t at;
	const char *deep = "ok: 1\n---\n[[[[[[[[[1]]]]]]]]]\n";
	CHECK_EQ_INT(compose(deep, strlen(deep), &lim, &n, &at, NULL, 0), YAML_DOC_DEPTH);
	CHECK_EQ_INT(n, 1);
	CHECK(at.line == 2 && at.column == 8);
	const char *eight = "[[[[[[[[1]]]]]]]]\n";
	CHECK_EQ_INT(compose(eight, strlen(eight), &lim, &n, &at, NULL, 0), YAML_DOC_END);

	char wide[512];
	size_t len = 0;
	wide[len++] = '[';
	for (int i = 0; i < 100; i++) {
		wide[len++] = '1';
		wide[len++] = ',';
	}
	wide[len++] = ']';
	CHECK_EQ_INT(compose(wide, len, &lim, &n, &at, NULL, 0), YAML_DOC_NODES); /* 101 nodes */
	CHECK_EQ_INT(n, 0);
	/* 99 scalars and the sequence are exactly 100 */
	CHECK_EQ_INT(compose(wide + 2, len - 2, &lim, &n, &at, NULL, 0), YAML_DOC_SYNTAX);
}

TEST(syntax_errors_leave_nothing_to_free)
{
	int n;
	yaml_mark_t at;
	const char *bad = "a: b\n  c: d\n";
	CHECK_EQ_INT(compose(bad, strlen(bad), &lim, &n, &at, NULL, 0), YAML_DOC_SYNTAX);
	CHECK_EQ_INT(compose("", 0, &lim, &n, &at, NULL, 0), YAML_DOC_END);
	CHECK_EQ_INT(n, 0);
}

TEST_MAIN(TEST_ENTRY(documents_and_marks), TEST_ENTRY(anchors_resolve_to_the_latest_definition),
          TEST_ENTRY(many_anchors), TEST_ENTRY(limits_stop_at_the_first_node_past_them),
          TEST_ENTRY(syntax_errors_leave_nothing_to_free))
