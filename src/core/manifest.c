/* manifest.c - load FIXSession manifests (YAML or JSON) into a route_set.
 *
 * YAML is read one document at a time (yaml_fast.h for the common subset, else libyaml through
 * yaml_doc.h), so every node keeps its line and column for diagnostics. The walk below follows the FIXSession
 * schema only, never the document's own shape: it has a fixed depth whatever the input nests or aliases
 * (aliases can even form cycles), and it never visits subtrees it ignores (status, managedFields, other
 * kinds). The rules are in docs/internals/manifest.md.
 */
#include "manifest.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "errors.h"
#include "fix_dict.h"
#include "glob.h"
#include "k8s_names.h"
#include "schema.h"
#include "yaml_doc.h"
#include "yaml_fast.h"

#define PATH_TEXT_MAX     160 /* a field path such as spec.matchFields.SenderCompID49.redact */
#define DURATION_TEXT_MAX 64  /* bytes in a holdTimeout string */
#define CLASSIFY_MAX      256 /* longer plain scalars are never numbers we need to tell apart */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* namespace/name -> index in out->items, open addressing: the duplicate check costs O(1) per object
 * instead of a scan of every route loaded before (quadratic at 10,000 objects and more). */
struct name_index {
	uint32_t *slots; /* route index + 1; 0 is an empty slot */
	size_t cap;      /* a power of two, or 0 */
	size_t count;
};

/* One load: where routes and diagnostics go, and which input is being read. */
struct manifest_loader {
	struct route_set *out;
	struct diag_list *dl;
	const char *file; /* origin of the current input, for diagnostics */
	const char *buf;  /* the current input, to place reader errors */
	size_t len;
	int err;        /* sticky FIXGW_ENOMEM */
	bool yaml_fast; /* try the common-subset scanner before libyaml (on unless a test turns it off) */
	struct name_index names;
};

/* One FIXSession object being validated. */
struct obj {
	struct manifest_loader *ld;
	yaml_document_t *doc;
	char prefix[32]; /* "items[3]" inside a List, else "" */
};

/* A scalar's bytes (not NUL-terminated; may contain NUL). */
struct text {
	const char *p;
	size_t n;
};

/* ---- small helpers ---- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_alpha(char c)
{
	return is_lower(c) || is_upper(c);
}

static bool text_is(struct text t, const char *lit)
{
	size_t n = strlen(lit);
	return t.n == n && memcmp(t.p, lit, n) == 0;
}

static char *text_dup(struct text t)
{
	char *s = malloc(t.n + 1);
	if (s) {
		memcpy(s, t.p, t.n);
		s[t.n] = '\0';
	}
	return s;
}

static yaml_node_t *node_at(yaml_document_t *doc, int id)
{
	return yaml_document_get_node(doc, id);
}

static bool text_of(const yaml_node_t *n, struct text *t)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return false;
	t->p = (const char *)n->data.scalar.value;
	t->n = n->data.scalar.length;
	return true;
}

static unsigned mark_num(size_t v)
{
	return v >= UINT_MAX ? UINT_MAX : (unsigned)v + 1;
}

/* a + b into out (cap bytes), cut short when it does not fit: paths only name places in messages. This
 * runs several times per object, so it is a copy, not a printf. */
static void join2(char *out, size_t cap, const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen >= cap)
		alen = cap - 1;
	memcpy(out, a, alen);
	if (blen > cap - 1 - alen)
		blen = cap - 1 - alen;
	memcpy(out + alen, b, blen);
	out[alen + blen] = '\0';
}

/* Absent, or null: Kubernetes drops nulls of non-nullable fields, so both mean "not set". */
static bool is_absent(const yaml_node_t *n)
{
	return schema_is_absent(n);
}

/* ---- diagnostics ---- */

static void ld_report(struct manifest_loader *ld, enum diag_severity sev, unsigned line, unsigned col,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void ld_report(struct manifest_loader *ld, enum diag_severity sev, unsigned line, unsigned col,
                      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (diag_addv(ld->dl, sev, ld->file, line, col, NULL, fmt, ap) != 0)
		ld->err = FIXGW_ENOMEM;
	va_end(ap);
}

static void obj_vreport(struct obj *o, enum diag_severity sev, const yaml_node_t *n, const char *path,
                        const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void obj_vreport(struct obj *o, enum diag_severity sev, const yaml_node_t *n, const char *path,
                        const char *fmt, va_list ap)
{
	char full[sizeof(o->prefix) + PATH_TEXT_MAX];
	snprintf(full, sizeof(full), "%s%s%s", o->prefix, o->prefix[0] && path[0] ? "." : "", path);
	unsigned line = n ? mark_num(n->start_mark.line) : 0, col = n ? mark_num(n->start_mark.column) : 0;
	if (diag_addv(o->ld->dl, sev, o->ld->file, line, col, full[0] ? full : NULL, fmt, ap) != 0)
		o->ld->err = FIXGW_ENOMEM;
}

static void obj_error(struct obj *o, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void obj_warn(struct obj *o, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void obj_error(struct obj *o, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	obj_vreport(o, DIAG_ERROR, n, path, fmt, ap);
	va_end(ap);
}

static void obj_warn(struct obj *o, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	obj_vreport(o, DIAG_WARNING, n, path, fmt, ap);
	va_end(ap);
}

/* "expected a mapping, found a list" (schema.h) at n. */
static void type_error(struct obj *o, const yaml_node_t *n, const char *path, yaml_node_type_t want,
                       const char *hint)
{
	char msg[SCHEMA_MSG_CAP];
	schema_type_problem(n, want, hint, msg, sizeof(msg));
	obj_error(o, n, path, "%s", msg);
}

static void missing(struct obj *o, const yaml_node_t *parent, const char *path)
{
	obj_error(o, parent, path, "required field is missing");
}

/* ---- typed field readers: each reports its own error and returns false ---- */

static void unknown_key(struct obj *o, const yaml_node_t *k, const char *path, struct text t,
                        const char *const *names, size_t n)
{
	char msg[SCHEMA_MSG_CAP];
	schema_unknown_key(t.p, t.n, names, n, msg, sizeof(msg));
	obj_error(o, k, path, "%s", msg);
}

/* Sort the pairs of a mapping with a fixed set of keys into slots (names[i] -> slots[i]); unknown and
 * repeated keys are errors. False when map is not a mapping (reported). */
static bool collect(struct obj *o, yaml_node_t *map, const char *path, const char *const *names, size_t n,
                    yaml_node_t **slots)
{
	const yaml_node_t *key_nodes[32] = {0};
	memset(slots, 0, n * sizeof(*slots));
	if (n > 32)
		return false; /* the tables below are smaller */
	if (map->type != YAML_MAPPING_NODE) {
		type_error(o, map, path, YAML_MAPPING_NODE, NULL);
		return false;
	}
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node_at(o->doc, pr->key);
		struct text t;
		size_t i = 0;
		if (!text_of(k, &t)) {
			obj_error(o, k, path, "keys must be strings");
			continue;
		}
		while (i < n && !text_is(t, names[i]))
			i++;
		if (i == n) {
			unknown_key(o, k, path, t, names, n);
		} else if (slots[i]) {
			char msg[SCHEMA_MSG_CAP];
			schema_duplicate_key(t.p, t.n, key_nodes[i], msg, sizeof(msg));
			obj_error(o, k, path, "%s", msg);
		} else {
			key_nodes[i] = k;
			slots[i] = node_at(o->doc, pr->value);
		}
	}
	return true;
}

static int cmp_text(const void *a, const void *b)
{
	const struct text *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Free-form string maps (labels, annotations): keys must be strings and unique. Sorting keeps this
 * O(n log n) for a mapping of any size. */
static void check_unique_keys(struct obj *o, yaml_node_t *map, const char *path)
{
	if (is_absent(map))
		return;
	if (map->type != YAML_MAPPING_NODE) {
		type_error(o, map, path, YAML_MAPPING_NODE, NULL);
		return;
	}
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	if (n < 2)
		return;
	struct text *keys = malloc(n * sizeof(*keys));
	if (!keys) {
		o->ld->err = FIXGW_ENOMEM;
		return;
	}
	size_t nkeys = 0;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node_at(o->doc, pr->key);
		if (text_of(k, &keys[nkeys]))
			nkeys++;
		else
			obj_error(o, k, path, "keys must be strings");
	}
	qsort(keys, nkeys, sizeof(*keys), cmp_text);
	for (size_t i = 1; i < nkeys; i++) {
		if (cmp_text(&keys[i - 1], &keys[i]) == 0) {
			char msg[SCHEMA_MSG_CAP];
			schema_duplicate_key(keys[i].p, keys[i].n, NULL, msg, sizeof(msg));
			obj_error(o, map, path, "%s", msg);
		}
	}
	free(keys);
}

/* A string field: a scalar that YAML, and so the API server, reads as a string. */
static bool string_value(struct obj *o, const yaml_node_t *n, const char *path, struct text *t)
{
	if (!text_of(n, t)) {
		obj_error(o, n, path, "must be a string");
		return false;
	}
	enum schema_scalar st = schema_scalar_type(n);
	if (st != SCHEMA_STRING) {
		obj_error(o, n, path, "must be a string, but YAML reads this unquoted value as %s; quote it",
		          schema_scalar_type_name(st));
		return false;
	}
	return true;
}

/* An integer field: a plain decimal scalar in [min, max] (schema.h). */
static bool int_value(struct obj *o, const yaml_node_t *n, const char *path, long long min, long long max,
                      long long *out)
{
	char msg[SCHEMA_MSG_CAP];
	if (schema_int(n, min, max, out, msg, sizeof(msg)))
		return true;
	obj_error(o, n, path, "%s", msg);
	return false;
}

static bool bool_value(struct obj *o, const yaml_node_t *n, const char *path, bool *out)
{
	char msg[SCHEMA_MSG_CAP];
	if (schema_bool(n, out, msg, sizeof(msg)))
		return true;
	obj_error(o, n, path, "%s", msg);
	return false;
}

/* ---- metadata ---- */

enum { META_NAME, META_NAMESPACE, META_LABELS, META_ANNOTATIONS };

/* The ObjectMeta keys: the first four are read, the rest allowed and ignored. */
static const char *const meta_keys[] = {
    "name",
    "namespace",
    "labels",
    "annotations",
    "generateName",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
    "managedFields",
};

static void parse_metadata(struct obj *o, yaml_node_t *meta, yaml_node_t *root, struct route *r)
{
	yaml_node_t *s[COUNT(meta_keys)];
	struct text t;
	char q[DIAG_QUOTE_CAP];
	if (is_absent(meta)) {
		missing(o, root, "metadata.name");
		return;
	}
	if (!collect(o, meta, "metadata", meta_keys, COUNT(meta_keys), s))
		return;

	if (is_absent(s[META_NAME])) {
		missing(o, meta, "metadata.name");
	} else if (string_value(o, s[META_NAME], "metadata.name", &t)) {
		if (!k8s_is_dns1123_subdomain(t.p, t.n))
			obj_error(
			    o, s[META_NAME], "metadata.name",
			    "%s is not a valid name: use at most 253 lowercase letters, digits, '-' and '.', "
			    "starting and ending with a letter or digit",
			    diag_quote(t.p, t.n, q, sizeof(q)));
		else if (!(r->name = text_dup(t)))
			o->ld->err = FIXGW_ENOMEM;
	}

	check_unique_keys(o, s[META_LABELS], "metadata.labels");
	check_unique_keys(o, s[META_ANNOTATIONS], "metadata.annotations");

	t = (struct text){"default", 7};
	if (!is_absent(s[META_NAMESPACE])) {
		if (!string_value(o, s[META_NAMESPACE], "metadata.namespace", &t))
			return;
		if (!k8s_is_dns1123_label(t.p, t.n)) {
			obj_error(
			    o, s[META_NAMESPACE], "metadata.namespace",
			    "%s is not a valid namespace: use at most 63 lowercase letters, digits and '-', "
			    "starting and ending with a letter or digit",
			    diag_quote(t.p, t.n, q, sizeof(q)));
			return;
		}
	}
	if (!(r->ns = text_dup(t)))
		o->ld->err = FIXGW_ENOMEM;
}

/* ---- spec.matchFields ---- */

/* A matchFields key such as SenderCompID49, split into its name and tag. */
struct field_key {
	struct text text;
	size_t name_len;
	uint32_t tag;
	bool ok;
	char path[PATH_TEXT_MAX]; /* spec.matchFields.<key>, valid when ok */
};

/* Why a key is not PascalCase name + tag number, or NULL when it is. */
static const char *field_key_problem(struct text t, size_t *name_len)
{
	size_t d = t.n;
	while (d > 0 && is_digit(t.p[d - 1]))
		d--;
	*name_len = d;
	if (t.n > MANIFEST_MAX_KEY_LEN)
		return "it is too long";
	if (d == t.n)
		return "it does not end in a tag number";
	if (t.p[d] == '0')
		return "the tag number starts with 0";
	if (t.n - d > 9)
		return "the tag number has more than 9 digits";
	if (d < 2 || !is_upper(t.p[0]) || !is_alpha(t.p[d - 1]))
		return "the name must start with an uppercase letter and end with a letter";
	for (size_t i = 0; i < d; i++)
		if (!is_alpha(t.p[i]) && !is_digit(t.p[i]))
			return "the name may contain only letters and digits";
	return NULL;
}

static bool parse_field_key(struct obj *o, yaml_node_t *k, struct field_key *fk)
{
	char q[DIAG_QUOTE_CAP];
	if (!text_of(k, &fk->text)) {
		obj_error(o, k, "spec.matchFields", "keys must be strings");
		return false;
	}
	struct text t = fk->text;
	const char *problem = field_key_problem(t, &fk->name_len);
	if (problem) {
		obj_error(
		    o, k, "spec.matchFields",
		    "invalid field name %s: %s; write the PascalCase field name followed by the tag number, "
		    "like SenderCompID49 (at most %d characters)",
		    diag_quote(t.p, t.n, q, sizeof(q)), problem, MANIFEST_MAX_KEY_LEN);
		return false;
	}
	fk->tag = 0;
	for (size_t i = fk->name_len; i < t.n; i++)
		fk->tag = fk->tag * 10 + (uint32_t)(t.p[i] - '0');
	{
		static const char base[] = "spec.matchFields.";
		size_t n = t.n < sizeof(fk->path) - sizeof(base) ? t.n : sizeof(fk->path) - sizeof(base);
		memcpy(fk->path, base, sizeof(base) - 1);
		memcpy(fk->path + sizeof(base) - 1, t.p, n);
		fk->path[sizeof(base) - 1 + n] = '\0';
	}

	const char *std = fix_dict_name(fk->tag);
	if (fix_dict_is_unroutable(fk->tag)) {
		obj_error(o, k, fk->path, "tag %u%s%s%s %s and cannot be a routing key", fk->tag,
		          std ? " (" : "", std ? std : "", std ? ")" : "",
		          fix_dict_is_secret(fk->tag) ? "is a secret" : "frames the message");
		return false;
	}
	if (std && (strlen(std) != fk->name_len || memcmp(std, t.p, fk->name_len) != 0))
		obj_warn(o, k, fk->path,
		         "%.*s%u: tag %u is %s in standard FIX; fine if your dialect renames it, else check "
		         "the name or the number",
		         (int)fk->name_len, t.p, fk->tag, fk->tag, std);
	return true;
}

/* The same key twice, or two keys for one tag (SenderCompID49 and Sender49). */
static bool field_key_repeats(struct obj *o, yaml_node_t *k, const struct field_key *keys, size_t i)
{
	for (size_t j = 0; j < i; j++) {
		if (!keys[j].ok || keys[j].tag != keys[i].tag)
			continue;
		if (cmp_text(&keys[j].text, &keys[i].text) == 0)
			obj_error(o, k, keys[i].path, "duplicate key");
		else
			obj_error(o, k, keys[i].path, "tag %u is already matched by %.*s", keys[i].tag,
			          (int)keys[j].text.n, keys[j].text.p);
		return true;
	}
	return false;
}

/* The match value: a non-empty string of at most ROUTE_MAX_VALUE_LEN bytes without control characters,
 * and a valid glob. Values never appear in diagnostics: they may be redacted or hidden. */
static bool parse_match_value(struct obj *o, const yaml_node_t *n, const char *path, struct route_field *f)
{
	struct text t;
	if (!string_value(o, n, path, &t))
		return false;
	if (t.n == 0 || t.n > ROUTE_MAX_VALUE_LEN) {
		obj_error(o, n, path, "must be 1 to %d bytes long (it has %zu)", ROUTE_MAX_VALUE_LEN, t.n);
		return false;
	}
	for (size_t i = 0; i < t.n; i++) {
		unsigned char c = (unsigned char)t.p[i];
		if (c < 0x20 || c == 0x7f) {
			obj_error(o, n, path, "contains a control character (byte 0x%02x at offset %zu)", c,
			          i);
			return false;
		}
	}
	if (!glob_is_valid(t.p, t.n)) {
		obj_error(o, n, path,
		          "is not a valid pattern: a backslash must be followed by the character it "
		          "makes literal (write \\\\ for a backslash)");
		return false;
	}
	f->value_len = t.n;
	f->is_pattern = glob_is_pattern(t.p, t.n);
	if (!(f->value = text_dup(t)))
		o->ld->err = FIXGW_ENOMEM;
	return f->value != NULL;
}

enum { ENTRY_VALUE, ENTRY_LOG, ENTRY_REDACT, ENTRY_NKEYS };
static const char *const entry_keys[ENTRY_NKEYS] = {"value", "log", "redact"};

static bool parse_field_entry(struct obj *o, yaml_node_t *v, const struct field_key *fk,
                              struct route_field *f)
{
	char path[PATH_TEXT_MAX + 8];
	yaml_node_t *s[ENTRY_NKEYS];
	if (v->type == YAML_SCALAR_NODE) {
		char hint[PATH_TEXT_MAX + 32];
		snprintf(hint, sizeof(hint), "put the value inside: %.*s: {value: \"...\"}", (int)fk->text.n,
		         fk->text.p);
		type_error(o, v, fk->path, YAML_MAPPING_NODE, hint);
		return false;
	}
	if (!collect(o, v, fk->path, entry_keys, ENTRY_NKEYS, s))
		return false;

	bool ok = true;
	f->log = true;
	join2(path, sizeof(path), fk->path, strlen(fk->path), ".log");
	if (!is_absent(s[ENTRY_LOG]))
		ok &= bool_value(o, s[ENTRY_LOG], path, &f->log);
	join2(path, sizeof(path), fk->path, strlen(fk->path), ".redact");
	if (!is_absent(s[ENTRY_REDACT]))
		ok &= bool_value(o, s[ENTRY_REDACT], path, &f->redact);
	if (!f->log && f->redact)
		obj_warn(
		    o, s[ENTRY_REDACT], path,
		    "log: false already keeps this field out of all telemetry; redact: true adds nothing");

	join2(path, sizeof(path), fk->path, strlen(fk->path), ".value");
	if (!s[ENTRY_VALUE]) {
		missing(o, v, path);
		return false;
	}
	ok &= parse_match_value(o, s[ENTRY_VALUE], path, f);
	return ok;
}

static void sort_fields(struct route_field *f, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct route_field x = f[i];
		size_t j = i;
		for (; j > 0 && f[j - 1].tag > x.tag; j--)
			f[j] = f[j - 1];
		f[j] = x;
	}
}

/* Fill r->fields; true when every entry is valid (so the route kind is known). */
static bool parse_match_fields(struct obj *o, yaml_node_t *mf, struct route *r)
{
	if (is_absent(mf))
		return true;
	if (mf->type != YAML_MAPPING_NODE) {
		type_error(o, mf, "spec.matchFields", YAML_MAPPING_NODE, "map field names to {value: ...}");
		return false;
	}
	size_t n = (size_t)(mf->data.mapping.pairs.top - mf->data.mapping.pairs.start);
	if (n > ROUTE_MAX_FIELDS) {
		obj_error(o, mf, "spec.matchFields", "has %zu entries; at most %d are allowed", n,
		          ROUTE_MAX_FIELDS);
		return false;
	}
	if (n == 0)
		return true;
	struct field_key keys[ROUTE_MAX_FIELDS];
	if (!(r->fields = calloc(n, sizeof(*r->fields)))) {
		o->ld->err = FIXGW_ENOMEM;
		return false;
	}
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *pr = &mf->data.mapping.pairs.start[i];
		yaml_node_t *k = node_at(o->doc, pr->key);
		struct route_field f = {0};
		keys[i].ok = parse_field_key(o, k, &keys[i]);
		if (!keys[i].ok || field_key_repeats(o, k, keys, i) ||
		    !parse_field_entry(o, node_at(o->doc, pr->value), &keys[i], &f)) {
			free(f.value);
			ok = false;
			continue;
		}
		f.tag = keys[i].tag;
		if (!(f.name = text_dup((struct text){keys[i].text.p, keys[i].name_len}))) {
			free(f.value);
			o->ld->err = FIXGW_ENOMEM;
			return false;
		}
		r->fields[r->nfields++] = f;
	}
	sort_fields(r->fields, r->nfields);
	return ok;
}

/* ---- the rest of spec ---- */

static void parse_priority(struct obj *o, yaml_node_t *n, struct route *r, bool fields_ok)
{
	long long v;
	if (is_absent(n) || !int_value(o, n, "spec.priority", ROUTE_MIN_PRIORITY, ROUTE_MAX_PRIORITY, &v))
		return;
	r->has_priority = true;
	r->priority = (int32_t)v;
	if (fields_ok && route_kind_of(r) == ROUTE_KIND_EXACT)
		obj_error(o, n, "spec.priority",
		          "priority applies only to wildcard and default routes; exact routes are ordered by "
		          "specificity");
}

enum { PORT_NUMBER, PORT_NAME, PORT_NKEYS };
static const char *const port_keys[PORT_NKEYS] = {"number", "name"};

static void parse_port(struct obj *o, yaml_node_t *n, struct route *r)
{
	static const char path[] = "spec.target.service.port";
	yaml_node_t *s[PORT_NKEYS];
	if (n->type == YAML_SCALAR_NODE) {
		type_error(o, n, path, YAML_MAPPING_NODE, "write {number: 9880} or {name: fix}");
		return;
	}
	if (!collect(o, n, path, port_keys, PORT_NKEYS, s))
		return;
	bool has_number = !is_absent(s[PORT_NUMBER]), has_name = !is_absent(s[PORT_NAME]);
	if (has_number == has_name) {
		obj_error(o, n, path, "%s",
		          has_number ? "give the port as number or name, not both"
		                     : "give the Service port as number or name");
		return;
	}
	if (has_number) {
		long long v;
		if (int_value(o, s[PORT_NUMBER], "spec.target.service.port.number", 1, 65535, &v))
			r->target.port = (uint16_t)v;
		return;
	}
	struct text t;
	char q[DIAG_QUOTE_CAP];
	if (!string_value(o, s[PORT_NAME], "spec.target.service.port.name", &t))
		return;
	if (!k8s_is_port_name(t.p, t.n))
		obj_error(
		    o, s[PORT_NAME], "spec.target.service.port.name",
		    "%s is not a valid port name: at most 15 lowercase letters, digits and '-', with at "
		    "least one letter and no leading, trailing or double '-'",
		    diag_quote(t.p, t.n, q, sizeof(q)));
	else if (!(r->target.port_name = text_dup(t)))
		o->ld->err = FIXGW_ENOMEM;
}

enum { SERVICE_NAME, SERVICE_PORT, SERVICE_NKEYS };
static const char *const service_keys[SERVICE_NKEYS] = {"name", "port"};
static const char *const target_keys[] = {"service"};

static void parse_target(struct obj *o, yaml_node_t *n, yaml_node_t *spec, struct route *r)
{
	yaml_node_t *svc, *s[SERVICE_NKEYS];
	if (is_absent(n)) {
		missing(o, spec, "spec.target");
		return;
	}
	if (!collect(o, n, "spec.target", target_keys, 1, &svc))
		return;
	if (is_absent(svc)) {
		missing(o, n, "spec.target.service");
		return;
	}
	if (!collect(o, svc, "spec.target.service", service_keys, SERVICE_NKEYS, s))
		return;

	struct text t;
	char q[DIAG_QUOTE_CAP];
	if (is_absent(s[SERVICE_NAME])) {
		missing(o, svc, "spec.target.service.name");
	} else if (string_value(o, s[SERVICE_NAME], "spec.target.service.name", &t)) {
		if (!k8s_is_dns1035_label(t.p, t.n))
			obj_error(
			    o, s[SERVICE_NAME], "spec.target.service.name",
			    "%s is not a valid Service name: at most 63 lowercase letters, digits and '-', "
			    "starting with a letter and ending with a letter or digit",
			    diag_quote(t.p, t.n, q, sizeof(q)));
		else if (!(r->target.service = text_dup(t)))
			o->ld->err = FIXGW_ENOMEM;
	}
	if (is_absent(s[SERVICE_PORT]))
		missing(o, svc, "spec.target.service.port");
	else
		parse_port(o, s[SERVICE_PORT], r);
}

static bool listener_repeats(const struct route *r, struct text t)
{
	for (size_t i = 0; i < r->nlisteners; i++)
		if (strlen(r->listeners[i]) == t.n && memcmp(r->listeners[i], t.p, t.n) == 0)
			return true;
	return false;
}

static void parse_listeners(struct obj *o, yaml_node_t *n, struct route *r)
{
	if (is_absent(n))
		return;
	if (n->type != YAML_SEQUENCE_NODE) {
		type_error(o, n, "spec.listeners", YAML_SEQUENCE_NODE, "list listener names");
		return;
	}
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count == 0 || count > ROUTE_MAX_LISTENERS) {
		obj_error(
		    o, n, "spec.listeners",
		    "must name 1 to %d listeners (leave it out to accept connections on every listener)",
		    ROUTE_MAX_LISTENERS);
		return;
	}
	if (!(r->listeners = calloc(count, sizeof(*r->listeners)))) {
		o->ld->err = FIXGW_ENOMEM;
		return;
	}
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = node_at(o->doc, n->data.sequence.items.start[i]);
		char path[32], q[DIAG_QUOTE_CAP];
		struct text t;
		snprintf(path, sizeof(path), "spec.listeners[%zu]", i);
		if (!string_value(o, item, path, &t))
			continue;
		if (!k8s_is_dns1123_label(t.p, t.n)) {
			obj_error(
			    o, item, path,
			    "%s is not a valid listener name: at most 63 lowercase letters, digits and '-', "
			    "starting and ending with a letter or digit",
			    diag_quote(t.p, t.n, q, sizeof(q)));
		} else if (listener_repeats(r, t)) {
			obj_error(o, item, path, "listener %s is listed twice",
			          diag_quote(t.p, t.n, q, sizeof(q)));
		} else if (!(r->listeners[r->nlisteners] = text_dup(t))) {
			o->ld->err = FIXGW_ENOMEM;
			return;
		} else {
			r->nlisteners++;
		}
	}
}

static void parse_hold_timeout(struct obj *o, yaml_node_t *n, struct route *r)
{
	char msg[SCHEMA_MSG_CAP];
	uint64_t ms;
	r->hold_timeout_ms = ROUTE_DEFAULT_HOLD_TIMEOUT_MS;
	if (is_absent(n))
		return;
	if (schema_duration_ms(n, 1, ROUTE_MAX_HOLD_TIMEOUT_MS, false, &ms, msg, sizeof(msg)))
		r->hold_timeout_ms = (uint32_t)ms;
	else
		obj_error(o, n, "spec.holdTimeout", "%s", msg);
}

enum {
	SPEC_MATCH_FIELDS,
	SPEC_PRIORITY,
	SPEC_TARGET,
	SPEC_LISTENERS,
	SPEC_MAX_HELD,
	SPEC_HOLD_TIMEOUT,
	SPEC_NKEYS
};
static const char *const spec_keys[SPEC_NKEYS] = {
    "matchFields", "priority", "target", "listeners", "maxHeldConnections", "holdTimeout",
};

static void parse_spec(struct obj *o, yaml_node_t *spec, yaml_node_t *root, struct route *r)
{
	yaml_node_t *s[SPEC_NKEYS];
	if (is_absent(spec)) {
		missing(o, root, "spec");
		return;
	}
	if (!collect(o, spec, "spec", spec_keys, SPEC_NKEYS, s))
		return;
	bool fields_ok = parse_match_fields(o, s[SPEC_MATCH_FIELDS], r);
	parse_priority(o, s[SPEC_PRIORITY], r, fields_ok);
	parse_target(o, s[SPEC_TARGET], spec, r);
	parse_listeners(o, s[SPEC_LISTENERS], r);

	long long held = ROUTE_DEFAULT_MAX_HELD;
	if (!is_absent(s[SPEC_MAX_HELD]))
		int_value(o, s[SPEC_MAX_HELD], "spec.maxHeldConnections", 0, ROUTE_MAX_MAX_HELD, &held);
	r->max_held = (uint32_t)held;
	parse_hold_timeout(o, s[SPEC_HOLD_TIMEOUT], r);
}

/* ---- objects and documents ---- */

/* ---- the name index ---- */

static uint64_t name_hash(const char *ns, const char *name)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a over "ns\0name" */
	for (const unsigned char *p = (const unsigned char *)ns;; p++) {
		h = (h ^ *p) * 1099511628211ull;
		if (!*p)
			break;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

/* The slot holding ns/name, or the empty slot where it would go. cap must be non-zero. */
static size_t name_slot(const struct name_index *ix, const struct route_set *set, const char *ns,
                        const char *name)
{
	size_t mask = ix->cap - 1, i = (size_t)name_hash(ns, name) & mask;
	for (;; i = (i + 1) & mask) {
		uint32_t v = ix->slots[i];
		if (!v)
			return i;
		const struct route *r = &set->items[v - 1];
		if (strcmp(r->name, name) == 0 && strcmp(r->ns, ns) == 0)
			return i;
	}
}

/* Keep the load factor at most 1/2 so probes stay short. */
static int name_index_reserve(struct name_index *ix, const struct route_set *set)
{
	if ((ix->count + 1) * 2 <= ix->cap)
		return 0;
	size_t cap = ix->cap ? ix->cap * 2 : 1024;
	uint32_t *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return FIXGW_ENOMEM;
	struct name_index grown = {slots, cap, ix->count};
	for (size_t i = 0; i < ix->cap; i++) {
		uint32_t v = ix->slots[i];
		if (v)
			slots[name_slot(&grown, set, set->items[v - 1].ns, set->items[v - 1].name)] = v;
	}
	free(ix->slots);
	*ix = grown;
	return 0;
}

/* Index route i of the set; the first of two equal names keeps its place. */
static int name_index_add(struct name_index *ix, const struct route_set *set, size_t i)
{
	const struct route *r = &set->items[i];
	if (!r->ns || !r->name)
		return 0;
	if (i >= UINT32_MAX || name_index_reserve(ix, set) != 0)
		return FIXGW_ENOMEM;
	size_t slot = name_slot(ix, set, r->ns, r->name);
	if (!ix->slots[slot]) {
		ix->slots[slot] = (uint32_t)(i + 1);
		ix->count++;
	}
	return 0;
}

/* namespace/name must be unique in the whole set, including routes the caller loaded before. */
static bool is_duplicate(struct obj *o, const yaml_node_t *root, const struct route *r)
{
	const struct name_index *ix = &o->ld->names;
	if (!ix->cap)
		return false;
	uint32_t v = ix->slots[name_slot(ix, o->ld->out, r->ns, r->name)];
	if (!v)
		return false;
	const struct route *other = &o->ld->out->items[v - 1];
	obj_error(o, root, "metadata.name", "FIXSession %s/%s is also defined at %s", r->ns, r->name,
	          other->source ? other->source : "(unknown)");
	return true;
}

static void set_source(struct obj *o, const yaml_node_t *root, struct route *r)
{
	const char *file = o->ld->file ? o->ld->file : "(buffer)";
	char line[16];
	int n = snprintf(line, sizeof(line), ":%u", mark_num(root->start_mark.line));
	size_t flen = strlen(file);
	if (n < 0 || !(r->source = malloc(flen + (size_t)n + 1))) {
		o->ld->err = FIXGW_ENOMEM;
		return;
	}
	join2(r->source, flen + (size_t)n + 1, file, flen, line);
}

enum { TOP_API_VERSION, TOP_KIND, TOP_METADATA, TOP_SPEC, TOP_STATUS, TOP_NKEYS };
static const char *const top_keys[TOP_NKEYS] = {"apiVersion", "kind", "metadata", "spec", "status"};

/* Validate one FIXSession object; it becomes a route only when it raised no error. */
static void load_fixsession(struct manifest_loader *ld, yaml_document_t *doc, yaml_node_t *root,
                            const char *prefix)
{
	struct obj o = {.ld = ld, .doc = doc};
	join2(o.prefix, sizeof(o.prefix), prefix, strlen(prefix), "");
	size_t errors_before = ld->dl->nerrors;
	yaml_node_t *s[TOP_NKEYS];
	struct route *r = route_set_push(ld->out);
	if (!r) {
		ld->err = FIXGW_ENOMEM;
		return;
	}
	collect(&o, root, "", top_keys, TOP_NKEYS, s); /* status is ignored: the operator owns it */
	parse_metadata(&o, s[TOP_METADATA], root, r);
	parse_spec(&o, s[TOP_SPEC], root, r);
	set_source(&o, root, r);
	if (ld->err || ld->dl->nerrors != errors_before || is_duplicate(&o, root, r))
		route_set_pop(ld->out);
	else if (name_index_add(&ld->names, ld->out, ld->out->count - 1) != 0)
		ld->err = FIXGW_ENOMEM;
}

/* The first value of key in a mapping, or NULL. */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		struct text t;
		if (text_of(node_at(doc, pr->key), &t) && text_is(t, key))
			return node_at(doc, pr->value);
	}
	return NULL;
}

enum doc_kind { DOC_OTHER, DOC_FIXSESSION, DOC_LIST, DOC_FIXSESSION_LIST };

static void kind_error(struct manifest_loader *ld, const yaml_node_t *at, const char *prefix, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));

/* An error about a document's kind or apiVersion, with the field path (items[3].kind inside a List). */
static void kind_error(struct manifest_loader *ld, const yaml_node_t *at, const char *prefix, const char *fmt,
                       ...)
{
	char path[48];
	va_list ap;
	snprintf(path, sizeof(path), "%s%skind", prefix, prefix[0] ? "." : "");
	va_start(ap, fmt);
	if (diag_addv(ld->dl, DIAG_ERROR, ld->file, mark_num(at->start_mark.line),
	              mark_num(at->start_mark.column), path, fmt, ap) != 0)
		ld->err = FIXGW_ENOMEM;
	va_end(ap);
}

static bool text_is_nocase(struct text t, const char *lit)
{
	return t.n == strlen(lit) && strncasecmp(t.p, lit, t.n) == 0;
}

/* What a mapping is, by apiVersion and kind. implied is the kind of items that omit both (the items of a
 * FIXSessionList, as the API server returns them). Other Kubernetes objects (a Service beside the
 * FIXSessions) are skipped quietly; what can only be a mistaken FIXSession is an error: a kind that
 * differs from ours only in case (FixSession), an unknown kind in our API group, or a non-empty mapping
 * with no kind at all. */
static enum doc_kind kind_of(struct manifest_loader *ld, yaml_document_t *doc, yaml_node_t *m,
                             enum doc_kind implied, const char *prefix)
{
	struct text kind, api;
	char q[DIAG_QUOTE_CAP];
	yaml_node_t *kn = map_get(doc, m, "kind"), *an = map_get(doc, m, "apiVersion");
	static const char group[] = FIXSESSION_GROUP "/";
	if (!kn && !an) {
		if (implied == DOC_OTHER && m->data.mapping.pairs.top != m->data.mapping.pairs.start)
			kind_error(ld, m, prefix,
			           "a document without apiVersion and kind; a FIXSession needs "
			           "apiVersion: " FIXSESSION_API_VERSION " and kind: " FIXSESSION_KIND);
		return implied;
	}
	if (!text_of(an, &api))
		api = (struct text){"", 0};
	bool ours = api.n >= sizeof(group) - 1 && memcmp(api.p, group, sizeof(group) - 1) == 0;
	if (!text_of(kn, &kind) || is_absent(kn)) {
		if (ours)
			kind_error(ld, kn ? kn : m, prefix,
			           "kind is missing; expected kind: " FIXSESSION_KIND);
		return DOC_OTHER;
	}
	if (text_is(kind, FIXSESSION_KIND)) {
		if (text_is(api, FIXSESSION_API_VERSION))
			return DOC_FIXSESSION;
		/* Another version of ours is skipped, but never silently: it is likely a typo. */
		if (!an || ours) {
			const yaml_node_t *at = an ? an : kn;
			ld_report(ld, DIAG_WARNING, mark_num(at->start_mark.line),
			          mark_num(at->start_mark.column),
			          "FIXSession with apiVersion %s skipped: expected " FIXSESSION_API_VERSION,
			          an ? diag_quote(api.p, api.n, q, sizeof(q)) : "(none)");
		}
		return DOC_OTHER;
	}
	if (text_is(kind, "List") && text_is(api, "v1"))
		return DOC_LIST;
	if (text_is(kind, FIXSESSION_KIND "List") && text_is(api, FIXSESSION_API_VERSION))
		return DOC_FIXSESSION_LIST;
	if (text_is_nocase(kind, FIXSESSION_KIND) || text_is_nocase(kind, FIXSESSION_KIND "List"))
		kind_error(ld, kn, prefix, "unknown kind %s: kinds are case-sensitive; expected \"%s\"",
		           diag_quote(kind.p, kind.n, q, sizeof(q)),
		           kind.n == strlen(FIXSESSION_KIND) ? FIXSESSION_KIND : FIXSESSION_KIND "List");
	else if (ours)
		kind_error(ld, kn, prefix,
		           "unknown kind %s in API group " FIXSESSION_GROUP "; expected " FIXSESSION_KIND
		           " (or " FIXSESSION_KIND "List)",
		           diag_quote(kind.p, kind.n, q, sizeof(q)));
	return DOC_OTHER;
}

/* The items of a List: FIXSessions among them are loaded, anything else (nested Lists too) skipped. */
static void load_list(struct manifest_loader *ld, yaml_document_t *doc, yaml_node_t *list,
                      enum doc_kind implied)
{
	yaml_node_t *items = map_get(doc, list, "items");
	if (is_absent(items))
		return;
	if (items->type != YAML_SEQUENCE_NODE) {
		char msg[SCHEMA_MSG_CAP];
		schema_type_problem(items, YAML_SEQUENCE_NODE, NULL, msg, sizeof(msg));
		ld_report(ld, DIAG_ERROR, mark_num(items->start_mark.line),
		          mark_num(items->start_mark.column), "items: %s", msg);
		return;
	}
	size_t count = (size_t)(items->data.sequence.items.top - items->data.sequence.items.start);
	for (size_t i = 0; i < count && !ld->err; i++) {
		yaml_node_t *item = node_at(doc, items->data.sequence.items.start[i]);
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "items[%zu]", i);
		if (item->type != YAML_MAPPING_NODE ||
		    kind_of(ld, doc, item, implied, prefix) != DOC_FIXSESSION)
			continue;
		load_fixsession(ld, doc, item, prefix);
	}
}

static void load_document(struct manifest_loader *ld, yaml_document_t *doc, yaml_node_t *root)
{
	if (root->type != YAML_MAPPING_NODE)
		return;
	switch (kind_of(ld, doc, root, DOC_OTHER, "")) {
	case DOC_FIXSESSION:
		load_fixsession(ld, doc, root, "");
		break;
	case DOC_LIST:
		load_list(ld, doc, root, DOC_OTHER);
		break;
	case DOC_FIXSESSION_LIST:
		load_list(ld, doc, root, DOC_FIXSESSION);
		break;
	default:
		break;
	}
}

/* ---- YAML streams ---- */

/* Line and column of a byte offset, for reader errors (bad encoding), which libyaml places by offset. */
static void offset_position(const struct manifest_loader *ld, size_t off, unsigned *line, unsigned *col)
{
	size_t l = 0, start = 0;
	if (off > ld->len)
		off = ld->len;
	for (size_t i = 0; i < off; i++) {
		if (ld->buf[i] == '\n') {
			l++;
			start = i + 1;
		}
	}
	*line = mark_num(l);
	*col = mark_num(off - start);
}

/* libyaml's problem and context texts are constants, never input. */
static void report_yaml_error(struct manifest_loader *ld, const yaml_parser_t *p)
{
	unsigned line, col;
	const char *problem = p->problem ? p->problem : "unknown error";
	if (p->error == YAML_MEMORY_ERROR) {
		ld->err = FIXGW_ENOMEM;
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		offset_position(ld, p->problem_offset, &line, &col);
	} else {
		line = mark_num(p->problem_mark.line);
		col = mark_num(p->problem_mark.column);
	}
	if (p->context)
		ld_report(ld, DIAG_ERROR, line, col,
		          "invalid YAML: %s (%s at line %u); the rest of the file is skipped", problem,
		          p->context, mark_num(p->context_mark.line));
	else
		ld_report(ld, DIAG_ERROR, line, col, "invalid YAML: %s; the rest of the file is skipped",
		          problem);
}

static const struct yaml_doc_limits doc_limits = {MANIFEST_MAX_DEPTH, MANIFEST_MAX_NODES};

/* Load the documents of ld->buf that the fast path reads (yaml_fast.h). Returns how many it loaded, and
 * *rest: true when the input goes on with a document it left to libyaml. */
static size_t load_text_fast(struct manifest_loader *ld, bool *rest)
{
	struct yaml_fast f;
	yaml_document_t doc;
	enum yaml_fast_status st = YAML_FAST_OK;
	yaml_fast_init(&f, ld->buf, ld->len, &doc_limits);
	while (!ld->err && (st = yaml_fast_next(&f, &doc)) == YAML_FAST_OK) {
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (root)
			load_document(ld, &doc, root);
	}
	if (st == YAML_FAST_NOMEM)
		ld->err = FIXGW_ENOMEM;
	*rest = st == YAML_FAST_UNSUPPORTED;
	size_t n = f.ndocs;
	yaml_fast_free(&f);
	return n;
}

/* Load every document of ld->buf, composing each within MANIFEST_MAX_DEPTH and MANIFEST_MAX_NODES in
 * the same pass that parses it. The fast path reads what it can; from the first document it cannot,
 * libyaml parses the input again from the start and the documents already loaded are composed and
 * dropped, so diagnostics and routes are the ones libyaml alone gives (ADR-017). A syntax error or a
 * document past a limit ends this input (libyaml cannot resume), not the load: the documents before it
 * are kept. */
static void load_text(struct manifest_loader *ld)
{
	size_t skip = 0;
	if (ld->yaml_fast) {
		bool rest = false;
		skip = load_text_fast(ld, &rest);
		if (!rest || ld->err)
			return;
	}
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p)) {
		ld->err = FIXGW_ENOMEM;
		return;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)ld->buf, ld->len);
	while (!ld->err) {
		yaml_document_t doc;
		yaml_mark_t at = {0, 0, 0};
		enum yaml_doc_status st = yaml_doc_next(&p, &doc_limits, &doc, &at);
		unsigned line = mark_num(at.line), col = mark_num(at.column);
		if (st == YAML_DOC_END)
			break;
		switch (st) {
		case YAML_DOC_OK: {
			yaml_node_t *root = yaml_document_get_root_node(&doc);
			if (skip)
				skip--; /* the fast path loaded it */
			else if (root)
				load_document(ld, &doc, root);
			yaml_document_delete(&doc);
			continue;
		}
		case YAML_DOC_SYNTAX:
			report_yaml_error(ld, &p);
			break;
		case YAML_DOC_DEPTH:
			ld_report(
			    ld, DIAG_ERROR, line, col,
			    "document nests deeper than %u levels; it and the rest of the file are skipped",
			    MANIFEST_MAX_DEPTH);
			break;
		case YAML_DOC_NODES:
			ld_report(ld, DIAG_ERROR, line, col,
			          "document has more than %u nodes; it and the rest of the file are skipped",
			          MANIFEST_MAX_NODES);
			break;
		case YAML_DOC_ALIAS:
			ld_report(ld, DIAG_ERROR, line, col,
			          "invalid YAML: found undefined alias (an alias must follow its anchor); "
			          "the rest of "
			          "the file is skipped");
			break;
		default:
			ld->err = FIXGW_ENOMEM;
			break;
		}
		break;
	}
	yaml_parser_delete(&p);
}

/* ---- the loader ---- */

int manifest_loader_new(struct route_set *out, struct diag_list *dl, struct manifest_loader **ldp)
{
	struct manifest_loader *ld = calloc(1, sizeof(*ld));
	*ldp = NULL;
	if (!ld)
		return FIXGW_ENOMEM;
	ld->out = out;
	ld->dl = dl;
	ld->yaml_fast = true;
	for (size_t i = 0; i < out->count; i++) {
		if (name_index_add(&ld->names, out, i) != 0) {
			manifest_loader_free(ld);
			return FIXGW_ENOMEM;
		}
	}
	*ldp = ld;
	return 0;
}

int manifest_loader_add(struct manifest_loader *ld, const char *origin, const char *buf, size_t len)
{
	size_t errors_before = ld->dl->nerrors;
	if (ld->err)
		return ld->err;
	ld->file = origin;
	ld->buf = buf;
	ld->len = len;
	if (len > MANIFEST_MAX_FILE_BYTES)
		ld_report(ld, DIAG_ERROR, 0, 0, "input is %zu bytes; the limit is %u", len,
		          MANIFEST_MAX_FILE_BYTES);
	else
		load_text(ld);
	ld->file = NULL;
	ld->buf = NULL;
	ld->len = 0;
	if (ld->err)
		return ld->err;
	return ld->dl->nerrors != errors_before ? FIXGW_EINVAL : 0;
}

void manifest_loader_set_yaml_fast(struct manifest_loader *ld, bool on)
{
	ld->yaml_fast = on;
}

/* Split a route's "file:line" source for a diagnostic; line 0 when it has none. */
static unsigned source_line(const char *source, size_t *file_len)
{
	const char *colon = source ? strrchr(source, ':') : NULL;
	unsigned line = 0;
	*file_len = source ? strlen(source) : 0;
	if (!colon || !colon[1])
		return 0;
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9' || line > 100000000u)
			return 0;
		line = line * 10 + (unsigned)(*p - '0');
	}
	*file_len = (size_t)(colon - source);
	return line;
}

int manifest_loader_adopt(struct manifest_loader *ld, struct route_set *from)
{
	size_t errors_before = ld->dl->nerrors;
	for (size_t i = 0; i < from->count && !ld->err; i++) {
		struct route *r = &from->items[i];
		struct name_index *ix = &ld->names;
		uint32_t v =
		    ix->cap && r->ns && r->name ? ix->slots[name_slot(ix, ld->out, r->ns, r->name)] : 0;
		if (v) {
			const struct route *other = &ld->out->items[v - 1];
			char file[PATH_TEXT_MAX * 2];
			size_t flen;
			unsigned line = source_line(r->source, &flen);
			join2(file, sizeof(file), r->source ? r->source : "(unknown)", r->source ? flen : 9,
			      "");
			if (diag_add(ld->dl, DIAG_ERROR, file, line, line ? 1 : 0, "metadata.name",
			             "FIXSession %s/%s is also defined at %s", r->ns, r->name,
			             other->source ? other->source : "(unknown)") != 0)
				ld->err = FIXGW_ENOMEM;
			route_free(r);
			continue;
		}
		struct route *dst = route_set_push(ld->out);
		if (!dst) {
			ld->err = FIXGW_ENOMEM;
			break;
		}
		*dst = *r;
		memset(r, 0, sizeof(*r));
		if (name_index_add(&ld->names, ld->out, ld->out->count - 1) != 0)
			ld->err = FIXGW_ENOMEM;
	}
	for (size_t i = 0; i < from->count; i++)
		route_free(&from->items[i]); /* what a failure left behind; moved routes are zeroed */
	from->count = 0;
	if (ld->err)
		return ld->err;
	return ld->dl->nerrors != errors_before ? FIXGW_EINVAL : 0;
}

void manifest_loader_free(struct manifest_loader *ld)
{
	if (!ld)
		return;
	free(ld->names.slots);
	free(ld);
}

int manifest_load_buffer(const char *origin, const char *buf, size_t len, struct route_set *out,
                         struct diag_list *dl)
{
	struct manifest_loader *ld;
	int rc = manifest_loader_new(out, dl, &ld);
	if (rc)
		return rc;
	rc = manifest_loader_add(ld, origin, buf, len);
	manifest_loader_free(ld);
	return rc;
}

/* ---- durations ---- */

int manifest_parse_duration_ms(const char *s, size_t len, uint64_t *out_ms)
{
	return schema_parse_duration_ms(s, len, out_ms);
}
