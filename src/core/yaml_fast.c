/* yaml_fast.c - the common-subset YAML scanner (yaml_fast.h).
 *
 * The input is read line by line. A line is either blank, a comment, a document marker, or one piece of
 * block structure ("key: value", "- value", "- key: value", or a lone root value); a value on a line is a
 * plain or quoted scalar, or a flow collection that closes on that line. Every rule below mirrors what
 * libyaml 0.2.5's scanner and parser do for that shape, including the marks it gives nodes; every shape
 * not listed is UNSUPPORTED. Node ids, values and child arrays live in memory f owns and reuses, so a
 * document costs no allocation once the buffers have grown to its size.
 */
#include "yaml_fast.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define CHUNK_MIN   (4u * 1024u)
#define CHUNK_MAX   (64u * 1024u)
#define SIMPLE_KEY  1000 /* bytes from a key's start to its ':'; libyaml forgets a simple key after 1024 */
#define COLUMN_NONE ((size_t)-1)

typedef enum yaml_fast_status status_t;

#define TRY(expr)                                                                                            \
	do {                                                                                                 \
		status_t st_ = (expr);                                                                       \
		if (st_ != YAML_FAST_OK)                                                                     \
			return st_;                                                                          \
	} while (0)

struct yaml_fast_chunk {
	char *p;
	size_t cap;
};

enum level_kind { LEVEL_MAP, LEVEL_SEQ, LEVEL_ISEQ /* "- " lines at their mapping's column */ };

struct yaml_fast_level {
	int node;
	size_t indent; /* column of its keys or dashes */
	enum level_kind kind;
	size_t kid_start; /* its children begin at kids[kid_start] */
};

/* A value awaited on the following lines: after "key:" or "-" with nothing else on the line. */
enum pending { PEND_NONE, PEND_VALUE, PEND_ENTRY };

/* A scalar found on the current line, not yet a node. */
struct scalar {
	size_t start, end;   /* the token: quotes included */
	size_t vstart, vend; /* the value's raw bytes */
	yaml_scalar_style_t style;
	bool escaped; /* the raw bytes need unescaping */
};

/* ---- characters and marks ---- */

/* The byte at i, or '\0' at the end (the input has no NUL: the ASCII check rejects it). */
static char at(const struct yaml_fast *f, size_t i)
{
	return i < f->len ? f->buf[i] : '\0';
}

static bool is_eol(char c)
{
	return c == '\n' || c == '\0';
}

static bool is_blankz(char c)
{
	return c == ' ' || is_eol(c);
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A mark on the current line. */
static yaml_mark_t mark_at(const struct yaml_fast *f, size_t pos)
{
	return (yaml_mark_t){pos, f->line, pos - f->line_start};
}

static size_t skip_spaces(const struct yaml_fast *f, size_t p)
{
	while (at(f, p) == ' ')
		p++;
	return p;
}

/* "---" or "..." at the start of the line at p, followed by a blank or the end. */
static bool is_marker(const struct yaml_fast *f, size_t p, char c)
{
	return p == f->line_start && at(f, p) == c && at(f, p + 1) == c && at(f, p + 2) == c &&
	       is_blankz(at(f, p + 3));
}

/* The rest of the line from p is blank or a comment after a blank; move to the next line. */
static status_t end_line(struct yaml_fast *f, size_t p)
{
	size_t q = skip_spaces(f, p);
	if (at(f, q) == '#') {
		if (q == p && q != f->line_start)
			return YAML_FAST_UNSUPPORTED; /* "x#" is part of x or a quirk; leave it to libyaml */
		while (!is_eol(at(f, q)))
			q++;
	}
	if (!is_eol(at(f, q)))
		return YAML_FAST_UNSUPPORTED;
	if (q < f->len) {
		f->line++;
		f->line_start = q + 1;
		q++;
	}
	f->pos = q;
	return YAML_FAST_OK;
}

/* Skip blank and comment lines from the start of a line; f->pos ends at the first content byte (or the
 * end). */
static void skip_blank_lines(struct yaml_fast *f)
{
	for (;;) {
		size_t q = skip_spaces(f, f->pos);
		char c = at(f, q);
		if (c == '#') {
			while (!is_eol(at(f, q)))
				q++;
			c = at(f, q);
		}
		if (c != '\n') {
			f->pos = q;
			return;
		}
		f->line++;
		f->line_start = q + 1;
		f->pos = q + 1;
	}
}

/* Where libyaml puts its STREAM-END token: the end, on a new line unless the input ended with one. */
static yaml_mark_t stream_end_mark(const struct yaml_fast *f)
{
	yaml_mark_t m = {f->len, f->line, f->len - f->line_start};
	if (m.column) {
		m.line++;
		m.column = 0;
	}
	return m;
}

/* ---- memory ---- */

/* n bytes from the document's arena, aligned for the child arrays. */
static void *arena_alloc(struct yaml_fast *f, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	while (f->chunk < f->nchunks) {
		struct yaml_fast_chunk *c = &f->chunks[f->chunk];
		if (c->cap - f->chunk_used >= n) {
			void *p = c->p + f->chunk_used;
			f->chunk_used += n;
			return p;
		}
		if (f->chunk_used == 0) { /* an empty chunk too small for n: replace it */
			size_t cap = n > f->chunk_size ? n : f->chunk_size;
			char *p = malloc(cap);
			if (!p)
				return NULL;
			free(c->p);
			c->p = p;
			c->cap = cap;
			continue;
		}
		f->chunk++;
		f->chunk_used = 0;
	}
	struct yaml_fast_chunk *cs = realloc(f->chunks, (f->nchunks + 1) * sizeof(*cs));
	if (!cs)
		return NULL;
	f->chunks = cs;
	size_t cap = n > f->chunk_size ? n : f->chunk_size;
	if (!(cs[f->nchunks].p = malloc(cap)))
		return NULL;
	cs[f->nchunks].cap = cap;
	f->chunk = f->nchunks++;
	f->chunk_used = n;
	return cs[f->chunk].p;
}

static bool grow(void **p, size_t need, size_t sz, size_t *cap)
{
	if (need <= *cap)
		return true;
	size_t ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	void *np = realloc(*p, ncap * sz);
	if (!np)
		return false;
	*p = np;
	*cap = ncap;
	return true;
}

/* A new node (id = index + 1), counted against max_nodes. */
static status_t new_node(struct yaml_fast *f, yaml_node_type_t type, yaml_mark_t start, int *id)
{
	if (++f->count > f->lim.max_nodes || f->nnodes >= INT32_MAX)
		return YAML_FAST_UNSUPPORTED; /* libyaml reports it */
	void *nodes = f->nodes;
	if (!grow(&nodes, f->nnodes + 1, sizeof(yaml_node_t), &f->nodes_cap))
		return YAML_FAST_NOMEM;
	f->nodes = nodes;
	yaml_node_t *n = &f->nodes[f->nnodes];
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->start_mark = start;
	n->end_mark = start;
	*id = (int)++f->nnodes;
	return YAML_FAST_OK;
}

/* Make id a child of the innermost open collection (the root when none is open). */
static status_t attach(struct yaml_fast *f, int id)
{
	if (f->depth == 0)
		return YAML_FAST_OK; /* node 1 is the root */
	void *kids = f->kids;
	if (!grow(&kids, f->nkids + 1, sizeof(int), &f->kids_cap))
		return YAML_FAST_NOMEM;
	f->kids = kids;
	f->kids[f->nkids++] = id;
	return YAML_FAST_OK;
}

/* Unescape a quoted scalar's text: '' in single quotes, the simple escapes scan_double accepted in double
 * quotes. The result is never longer than the text. */
static size_t unescape(const char *s, size_t n, bool single, char *out)
{
	if (!single)
		return text_json_unescape(out, n, s, n);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		out[o++] = s[i];
		if (s[i] == '\'')
			i++; /* '' */
	}
	return o;
}

static status_t scalar_node(struct yaml_fast *f, const struct scalar *s, int *id)
{
	TRY(new_node(f, YAML_SCALAR_NODE, mark_at(f, s->start), id));
	size_t n = s->vend - s->vstart;
	char *v = arena_alloc(f, n + 1);
	if (!v)
		return YAML_FAST_NOMEM;
	if (s->escaped)
		n = unescape(f->buf + s->vstart, n, s->style == YAML_SINGLE_QUOTED_SCALAR_STYLE, v);
	else
		memcpy(v, f->buf + s->vstart, n);
	v[n] = '\0';
	yaml_node_t *node = &f->nodes[*id - 1];
	node->data.scalar.value = (yaml_char_t *)v;
	node->data.scalar.length = n;
	node->data.scalar.style = s->style;
	node->end_mark = mark_at(f, s->end);
	return attach(f, *id);
}

/* The empty plain scalar libyaml gives a key or entry without a value, at m. */
static status_t empty_node(struct yaml_fast *f, yaml_mark_t m)
{
	int id;
	TRY(new_node(f, YAML_SCALAR_NODE, m, &id));
	char *v = arena_alloc(f, 1);
	if (!v)
		return YAML_FAST_NOMEM;
	v[0] = '\0';
	f->nodes[id - 1].data.scalar.value = (yaml_char_t *)v;
	f->nodes[id - 1].data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
	return attach(f, id);
}

/* Open a collection at m: it becomes a child of the innermost open one. */
static status_t open_collection(struct yaml_fast *f, yaml_node_type_t type, bool flow, yaml_mark_t m, int *id,
                                size_t *kid_start)
{
	if (f->depth >= f->lim.max_depth)
		return YAML_FAST_UNSUPPORTED;
	TRY(new_node(f, type, m, id));
	if (type == YAML_MAPPING_NODE)
		f->nodes[*id - 1].data.mapping.style =
		    flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE;
	else
		f->nodes[*id - 1].data.sequence.style =
		    flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE;
	TRY(attach(f, *id));
	f->depth++;
	*kid_start = f->nkids;
	return YAML_FAST_OK;
}

/* Close collection id, whose children are kids[kid_start..]; libyaml's end event is at m. */
static status_t close_collection(struct yaml_fast *f, int id, size_t kid_start, yaml_mark_t m)
{
	size_t n = f->nkids - kid_start;
	yaml_node_t *node = &f->nodes[id - 1];
	node->end_mark = m;
	if (node->type == YAML_MAPPING_NODE) {
		/* a non-NULL array even when empty, as libyaml's composer gives */
		yaml_node_pair_t *pairs = arena_alloc(f, (n / 2 ? n / 2 : 1) * sizeof(*pairs));
		if (!pairs)
			return YAML_FAST_NOMEM;
		for (size_t i = 0; i + 1 < n; i += 2)
			pairs[i / 2] = (yaml_node_pair_t){f->kids[kid_start + i], f->kids[kid_start + i + 1]};
		node = &f->nodes[id - 1];
		node->data.mapping.pairs.start = pairs;
		node->data.mapping.pairs.top = pairs + n / 2;
		node->data.mapping.pairs.end = pairs + n / 2;
	} else {
		yaml_node_item_t *items = arena_alloc(f, (n ? n : 1) * sizeof(*items));
		if (!items)
			return YAML_FAST_NOMEM;
		if (n)
			memcpy(items, f->kids + kid_start, n * sizeof(*items));
		node = &f->nodes[id - 1];
		node->data.sequence.items.start = items;
		node->data.sequence.items.top = items + n;
		node->data.sequence.items.end = items + n;
	}
	f->nkids = kid_start;
	f->depth--;
	return YAML_FAST_OK;
}

/* ---- scalars on one line ---- */

/* Bytes that may start a plain scalar here: no indicator, and "-" only before a letter or digit. */
static bool plain_start(const struct yaml_fast *f, size_t p)
{
	char c = at(f, p);
	if (is_alnum(c) || strchr("_./~+$^()<;=", c) != NULL)
		return c != '\0';
	return c == '-' && (is_alnum(at(f, p + 1)) || at(f, p + 1) == '.' || at(f, p + 1) == '_');
}

/* A plain scalar from p: words and single spaces up to ": ", " #", the line's end, and in flow context
 * up to ",[]{}". A ':' or '#' inside a flow scalar is UNSUPPORTED (libyaml's rules there are subtle). */
static status_t scan_plain(const struct yaml_fast *f, size_t p, bool flow, struct scalar *s)
{
	size_t q = p, end = p;
	for (;;) {
		size_t w = q;
		for (;;) {
			char c = at(f, q);
			if (is_blankz(c))
				break;
			if (c == ':') {
				if (is_blankz(at(f, q + 1)))
					break;
				if (flow)
					return YAML_FAST_UNSUPPORTED;
			} else if (flow) {
				if (c == ',' || c == '[' || c == ']' || c == '{' || c == '}')
					break;
				if (c == '#')
					return YAML_FAST_UNSUPPORTED;
			}
			q++;
		}
		if (q > w)
			end = q;
		if (at(f, q) != ' ')
			break;
		q = skip_spaces(f, q);
		if (at(f, q) == '#' || is_eol(at(f, q)))
			break;
	}
	*s = (struct scalar){p, end, p, end, YAML_PLAIN_SCALAR_STYLE, false};
	return YAML_FAST_OK;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* A quoted scalar that closes on this line; double quotes allow \\ \" \/ \b \f \n \r \t and \u00XX
 * below 0x80 (a one-byte result) only. */
static status_t scan_quoted(const struct yaml_fast *f, size_t p, struct scalar *s)
{
	char quote = at(f, p);
	size_t q = p + 1;
	bool escaped = false;
	for (;;) {
		char c = at(f, q);
		if (is_eol(c))
			return YAML_FAST_UNSUPPORTED; /* multi-line */
		if (quote == '\'' && c == '\'') {
			if (at(f, q + 1) != '\'')
				break;
			escaped = true;
			q += 2;
			continue;
		}
		if (quote == '"' && c == '"')
			break;
		if (quote == '"' && c == '\\') {
			char e = at(f, q + 1);
			escaped = true;
			if (e == 'u') {
				if (!is_hex(at(f, q + 2)) || !is_hex(at(f, q + 3)) || !is_hex(at(f, q + 4)) ||
				    !is_hex(at(f, q + 5)) || at(f, q + 2) != '0' || at(f, q + 3) != '0' ||
				    at(f, q + 4) > '7')
					return YAML_FAST_UNSUPPORTED;
				q += 6;
				continue;
			}
			if (!strchr("\\\"/bfnrt", e) || e == '\0')
				return YAML_FAST_UNSUPPORTED;
			q += 2;
			continue;
		}
		q++;
	}
	*s = (struct scalar){p,
	                     q + 1,
	                     p + 1,
	                     q,
	                     quote == '"' ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_SINGLE_QUOTED_SCALAR_STYLE,
	                     escaped};
	return YAML_FAST_OK;
}

static status_t scan_scalar(const struct yaml_fast *f, size_t p, bool flow, struct scalar *s)
{
	char c = at(f, p);
	if (c == '"' || c == '\'')
		return scan_quoted(f, p, s);
	if (!plain_start(f, p))
		return YAML_FAST_UNSUPPORTED;
	return scan_plain(f, p, flow, s);
}

/* ---- flow collections on one line ---- */

static status_t flow_value(struct yaml_fast *f, size_t p, bool multi, size_t *end);

/* The blanks from *q inside a flow collection. With multi (a document's root collection, as in
 * pretty-printed JSON) also line breaks and comments after a blank, between entries only: never inside a
 * key, a scalar or "key: value". A line starting with "---" or "..." is left to libyaml. */
static status_t flow_gap(struct yaml_fast *f, size_t *q, bool multi)
{
	size_t p = *q;
	for (;;) {
		size_t s = p;
		p = skip_spaces(f, p);
		if (!multi)
			break;
		if (at(f, p) == '#' && (p > s || p == f->line_start))
			while (!is_eol(at(f, p)))
				p++;
		if (at(f, p) != '\n')
			break;
		f->line++;
		f->line_start = ++p;
		if ((at(f, p) == '-' || at(f, p) == '.') && at(f, p + 1) == at(f, p) &&
		    at(f, p + 2) == at(f, p))
			return YAML_FAST_UNSUPPORTED;
	}
	*q = p;
	return YAML_FAST_OK;
}

/* A flow sequence or mapping from p ('[' or '{') that closes on this line (or, with multi, on a later
 * one); *end after its bracket. */
static status_t flow_collection(struct yaml_fast *f, size_t p, bool multi, size_t *end)
{
	bool map = at(f, p) == '{';
	char close = map ? '}' : ']';
	int id;
	size_t kid_start;
	TRY(open_collection(f, map ? YAML_MAPPING_NODE : YAML_SEQUENCE_NODE, true, mark_at(f, p), &id,
	                    &kid_start));
	size_t q = p + 1;
	TRY(flow_gap(f, &q, multi));
	if (at(f, q) != close) {
		for (;;) {
			if (map) {
				struct scalar key;
				int kid;
				TRY(scan_scalar(f, q, true, &key));
				TRY(scalar_node(f, &key, &kid));
				q = skip_spaces(f, key.end);
				if (q - key.start >= SIMPLE_KEY)
					return YAML_FAST_UNSUPPORTED;
				/* after a plain key ':' must be followed by a blank; after a quoted key
				 * (JSON) libyaml takes ':' as the value indicator either way */
				if (at(f, q) != ':' ||
				    (key.style == YAML_PLAIN_SCALAR_STYLE && at(f, q + 1) != ' '))
					return YAML_FAST_UNSUPPORTED;
				q = skip_spaces(f, q + 1);
			}
			TRY(flow_value(f, q, multi, &q));
			TRY(flow_gap(f, &q, multi));
			if (at(f, q) == close)
				break;
			if (at(f, q) != ',')
				return YAML_FAST_UNSUPPORTED;
			q++;
			TRY(flow_gap(f, &q, multi));
			if (at(f, q) == close)
				return YAML_FAST_UNSUPPORTED; /* a trailing comma */
		}
	}
	*end = q + 1;
	return close_collection(f, id, kid_start, mark_at(f, q + 1));
}

/* A scalar or flow collection inside a flow collection. */
static status_t flow_value(struct yaml_fast *f, size_t p, bool multi, size_t *end)
{
	char c = at(f, p);
	if (c == '[' || c == '{')
		return flow_collection(f, p, multi, end);
	struct scalar s;
	int id;
	TRY(scan_scalar(f, p, true, &s));
	TRY(scalar_node(f, &s, &id));
	*end = s.end;
	return YAML_FAST_OK;
}

/* A value on a block line (after "key: ", "- " or alone): a scalar or a flow collection, and then the
 * end of the line. */
static status_t line_value(struct yaml_fast *f, size_t p)
{
	char c = at(f, p);
	size_t end;
	if (c == '[' || c == '{') {
		TRY(flow_collection(f, p, f->depth == 0, &end)); /* the root may span lines */
	} else {
		struct scalar s;
		int id;
		TRY(scan_scalar(f, p, false, &s));
		TRY(scalar_node(f, &s, &id));
		end = s.end;
	}
	return end_line(f, end);
}

/* ---- block structure ---- */

/* "- " or "-" at the end of the line. */
static bool is_dash(const struct yaml_fast *f, size_t p)
{
	return at(f, p) == '-' && is_blankz(at(f, p + 1));
}

/* A scalar key at p followed by ':' and a blank, on this line; *key is the scalar. */
static bool is_key(const struct yaml_fast *f, size_t p, struct scalar *key)
{
	char c = at(f, p);
	if (c == '[' || c == '{' || scan_scalar(f, p, false, key) != YAML_FAST_OK)
		return false;
	size_t q = skip_spaces(f, key->end);
	return at(f, q) == ':' && is_blankz(at(f, q + 1)) && q - p < SIMPLE_KEY;
}

static status_t open_block(struct yaml_fast *f, enum level_kind kind, size_t p)
{
	struct yaml_fast_level *l;
	int id;
	size_t kid_start;
	TRY(open_collection(f, kind == LEVEL_MAP ? YAML_MAPPING_NODE : YAML_SEQUENCE_NODE, false,
	                    mark_at(f, p), &id, &kid_start));
	l = &f->levels[f->nlevels++];
	*l = (struct yaml_fast_level){id, p - f->line_start, kind, kid_start};
	return YAML_FAST_OK;
}

static status_t close_block(struct yaml_fast *f, yaml_mark_t m)
{
	struct yaml_fast_level *l = &f->levels[--f->nlevels];
	return close_collection(f, l->node, l->kid_start, m);
}

/* Where the innermost open block ends when the document ends at next (the marker's or STREAM-END's
 * mark). At the end of the input libyaml first closes the blocks indented deeper than the last line's
 * column at that column, and the rest after moving to a new line (next). An indentless sequence has no
 * block of its own: it ends at the next token, the end of the block around it. */
static yaml_mark_t close_mark(const struct yaml_fast *f, bool eof, yaml_mark_t next)
{
	size_t col = f->len - f->line_start;
	if (!eof)
		return next;
	for (size_t i = f->nlevels; i-- > 0;) {
		if (f->levels[i].kind == LEVEL_ISEQ)
			continue;
		if (f->levels[i].indent > col)
			return (yaml_mark_t){f->len, f->line, col};
		break;
	}
	return next;
}

/* "key: ..." at p in the innermost mapping. */
static status_t block_key(struct yaml_fast *f, size_t p, const struct scalar *key, enum pending *pend,
                          yaml_mark_t *pend_mark)
{
	int id;
	TRY(scalar_node(f, key, &id));
	size_t colon_end = skip_spaces(f, key->end) + 1; /* past ':' (is_key checked it) */
	*pend_mark = mark_at(f, colon_end);
	size_t q = skip_spaces(f, colon_end);
	if (is_eol(at(f, q)) || at(f, q) == '#') {
		*pend = PEND_VALUE;
		return end_line(f, colon_end);
	}
	return line_value(f, q);
}

/* "- ..." at p in the innermost sequence. */
static status_t block_entry(struct yaml_fast *f, size_t p, enum pending *pend, yaml_mark_t *pend_mark)
{
	struct scalar key;
	*pend_mark = mark_at(f, p + 1);
	size_t q = skip_spaces(f, p + 1);
	if (is_eol(at(f, q)) || at(f, q) == '#') {
		*pend = PEND_ENTRY;
		return end_line(f, p + 1);
	}
	if (is_dash(f, q))
		return YAML_FAST_UNSUPPORTED; /* "- - x" */
	if (is_key(f, q, &key)) {
		TRY(open_block(f, LEVEL_MAP, q));
		return block_key(f, q, &key, pend, pend_mark);
	}
	return line_value(f, q);
}

/* A line that opens a block collection at p (the root, or a value awaited from the line before). */
static status_t open_block_line(struct yaml_fast *f, size_t p, enum pending *pend, yaml_mark_t *pend_mark)
{
	struct scalar key;
	if (is_dash(f, p)) {
		TRY(open_block(f, LEVEL_SEQ, p));
		return block_entry(f, p, pend, pend_mark);
	}
	if (is_key(f, p, &key)) {
		TRY(open_block(f, LEVEL_MAP, p));
		return block_key(f, p, &key, pend, pend_mark);
	}
	return YAML_FAST_UNSUPPORTED;
}

/* The body of a document whose first content byte is at f->pos (or whose "---" line was read): lines up
 * to the next document marker or the end. *end is where libyaml's next token (the marker or STREAM-END)
 * starts; the blocks it closes end there. */
static status_t body(struct yaml_fast *f, bool explicit_start, yaml_mark_t *end, bool *at_dots)
{
	enum pending pend = PEND_NONE;
	yaml_mark_t pend_mark = {0, 0, 0};
	for (;;) {
		skip_blank_lines(f);
		size_t p = f->pos, col = p - f->line_start;
		bool eof = p >= f->len;
		if (eof || is_marker(f, p, '-') || is_marker(f, p, '.')) {
			*end = eof ? stream_end_mark(f) : mark_at(f, p);
			*at_dots = !eof && at(f, p) == '.';
			if (pend != PEND_NONE)
				TRY(empty_node(f, pend_mark));
			if (f->nnodes == 0) {
				if (!explicit_start)
					return YAML_FAST_UNSUPPORTED;
				TRY(empty_node(f, *end)); /* "---" alone: libyaml's empty root scalar */
			}
			while (f->nlevels)
				TRY(close_block(f, close_mark(f, eof, *end)));
			return YAML_FAST_OK;
		}
		/* "---x" or "...x" at column 0: not markers, but close enough to leave to libyaml */
		if (col == 0 && (at(f, p) == '-' || at(f, p) == '.') && at(f, p + 1) == at(f, p) &&
		    at(f, p + 2) == at(f, p))
			return YAML_FAST_UNSUPPORTED;
		if (pend != PEND_NONE) {
			struct yaml_fast_level *top = &f->levels[f->nlevels - 1];
			if (col > top->indent) {
				pend = PEND_NONE;
				TRY(open_block_line(f, p, &pend, &pend_mark));
				continue;
			}
			if (pend == PEND_VALUE && col == top->indent && top->kind == LEVEL_MAP &&
			    is_dash(f, p)) {
				pend = PEND_NONE;
				TRY(open_block(f, LEVEL_ISEQ, p));
				TRY(block_entry(f, p, &pend, &pend_mark));
				continue;
			}
			pend = PEND_NONE;
			TRY(empty_node(f, pend_mark));
		}
		while (f->nlevels) {
			struct yaml_fast_level *top = &f->levels[f->nlevels - 1];
			if (top->indent > col ||
			    (top->kind == LEVEL_ISEQ && top->indent == col && !is_dash(f, p)))
				TRY(close_block(f, mark_at(f, p)));
			else
				break;
		}
		if (f->nlevels == 0) {
			if (f->nnodes)
				return YAML_FAST_UNSUPPORTED; /* a second root, or a continued scalar */
			if (is_dash(f, p) ||
			    (at(f, p) != '[' && at(f, p) != '{' && is_key(f, p, &(struct scalar){0})))
				TRY(open_block_line(f, p, &pend, &pend_mark));
			else
				TRY(line_value(f, p));
			continue;
		}
		struct yaml_fast_level *top = &f->levels[f->nlevels - 1];
		struct scalar key;
		if (top->indent != col)
			return YAML_FAST_UNSUPPORTED;
		if (top->kind == LEVEL_MAP) {
			if (!is_key(f, p, &key))
				return YAML_FAST_UNSUPPORTED;
			TRY(block_key(f, p, &key, &pend, &pend_mark));
		} else {
			if (!is_dash(f, p))
				return YAML_FAST_UNSUPPORTED;
			TRY(block_entry(f, p, &pend, &pend_mark));
		}
	}
}

/* ---- documents ---- */

void yaml_fast_init(struct yaml_fast *f, const char *buf, size_t len, const struct yaml_doc_limits *lim)
{
	memset(f, 0, sizeof(*f));
	f->buf = buf;
	f->len = len;
	f->lim = *lim;
	/* a small input (one API object) gets a small arena; values take about what the text does */
	f->chunk_size = len * 2 + 1024 < CHUNK_MIN   ? CHUNK_MIN
	                : len * 2 + 1024 > CHUNK_MAX ? CHUNK_MAX
	                                             : len * 2 + 1024;
	/* libyaml's reader decodes ahead of its scanner, so a bad byte anywhere counts, even in a document
	 * after the ones this path could read. Branch-free blocks, so the compiler can vectorise the loop. */
	f->ascii = true;
	for (size_t i = 0; i < len && f->ascii; i += 4096) {
		size_t n = len - i < 4096 ? len - i : 4096;
		unsigned bad = 0;
		for (size_t k = 0; k < n; k++) {
			unsigned char c = (unsigned char)buf[i + k];
			bad |= (unsigned)((unsigned char)(c - 0x20) > 0x5e) & (unsigned)(c != '\n');
		}
		f->ascii = !bad;
	}
}

static status_t next_document(struct yaml_fast *f, yaml_document_t *doc)
{
	if (!f->ascii)
		return YAML_FAST_UNSUPPORTED;
	if (!f->levels && !(f->levels = malloc(f->lim.max_depth * sizeof(*f->levels) + 1)))
		return YAML_FAST_NOMEM;
	f->nnodes = f->count = f->nkids = f->nlevels = f->depth = 0;
	f->chunk = f->chunk_used = 0;
	skip_blank_lines(f);
	size_t p = f->pos;
	if (p >= f->len)
		return YAML_FAST_END;
	bool explicit_start = is_marker(f, p, '-');
	if (f->after_end && !explicit_start)
		return YAML_FAST_UNSUPPORTED;
	if (is_marker(f, p, '.'))
		return YAML_FAST_UNSUPPORTED;
	yaml_mark_t start = mark_at(f, p), end;
	bool dots = false;
	if (explicit_start) {
		TRY(end_line(f, p + 3)); /* "--- value" is left to libyaml */
	}
	TRY(body(f, explicit_start, &end, &dots));
	memset(doc, 0, sizeof(*doc));
	doc->start_implicit = !explicit_start;
	doc->start_mark = start;
	doc->end_implicit = !dots;
	doc->end_mark = end;
	f->after_end = dots;
	if (dots) {
		size_t q = f->pos + 3;
		doc->end_mark = mark_at(f, q);
		TRY(end_line(f, q));
	}
	doc->nodes.start = f->nodes;
	doc->nodes.top = f->nodes + f->nnodes;
	doc->nodes.end = f->nodes + f->nnodes;
	return YAML_FAST_OK;
}

enum yaml_fast_status yaml_fast_next(struct yaml_fast *f, yaml_document_t *doc)
{
	if (f->stopped)
		return f->stop;
	status_t st = next_document(f, doc);
	if (st == YAML_FAST_OK) {
		f->ndocs++;
		return st;
	}
	f->stopped = true;
	f->stop = st;
	return st;
}

void yaml_fast_free(struct yaml_fast *f)
{
	for (size_t i = 0; i < f->nchunks; i++)
		free(f->chunks[i].p);
	free(f->chunks);
	free(f->nodes);
	free(f->kids);
	free(f->levels);
	memset(f, 0, sizeof(*f));
}
