/* schema.c - the shared vocabulary of fixgw's YAML schemas (schema.h). */
#include "schema.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "diag.h"
#include "errors.h"

#define CLASSIFY_MAX 256 /* longer plain scalars are never numbers we need to tell apart */
#define COUNT(a)     (sizeof(a) / sizeof((a)[0]))

struct text {
	const char *p;
	size_t n;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool text_is(struct text t, const char *lit)
{
	size_t n = strlen(lit);
	return t.n == n && memcmp(t.p, lit, n) == 0;
}

static bool text_in(struct text t, const char *const *list)
{
	for (; *list; list++)
		if (text_is(t, *list))
			return true;
	return false;
}

static bool text_of(const yaml_node_t *n, struct text *t)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return false;
	t->p = (const char *)n->data.scalar.value;
	t->n = n->data.scalar.length;
	return true;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* ---- how YAML (and so kubectl and the API server) types a plain scalar ---- */

static const char *const yaml_nulls[] = {"", "~", "null", "Null", "NULL", NULL};
/* YAML 1.1 booleans as well: Kubernetes' YAML decoder still reads yes/no/on/off as booleans. */
static const char *const yaml_bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", "y",  "Y",
                                         "yes",  "Yes",  "YES",  "n",     "N",     "no",    "No", "NO",
                                         "on",   "On",   "ON",   "off",   "Off",   "OFF",   NULL};
static const char *const yaml_special_floats[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                                  "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                                  ".NaN",  ".NAN",  NULL};

static size_t skip_digits(const char *s, size_t i, size_t n, const char *set)
{
	while (i < n && strchr(set, s[i]) && s[i])
		i++;
	return i;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? : the decimal forms YAML resolves as numbers. */
static bool is_yaml_decimal(const char *s, size_t n)
{
	static const char dec[] = "0123456789";
	size_t i = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	size_t d = skip_digits(s, i, n, dec);
	bool digits = d > i;
	i = d;
	if (i < n && s[i] == '.') {
		d = skip_digits(s, i + 1, n, dec);
		if (!digits && d == i + 1)
			return false;
		digits = true;
		i = d;
	}
	if (!digits)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		d = skip_digits(s, i, n, dec);
		if (d == i)
			return false;
		i = d;
	}
	return i == n;
}

/* Integers in base 16, 8 or 2 as Go's ParseInt(s, 0, 64) reads them. */
static bool is_prefixed_int(const char *s, size_t n)
{
	size_t i = (n > 0 && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
	if (n - i < 3 || s[i] != '0')
		return false;
	const char *set;
	switch (s[i + 1]) {
	case 'x':
	case 'X':
		set = "0123456789abcdefABCDEF";
		break;
	case 'o':
	case 'O':
		set = "01234567";
		break;
	case 'b':
	case 'B':
		set = "01";
		break;
	default:
		return false;
	}
	return skip_digits(s, i + 2, n, set) == n;
}

/* Numbers as Kubernetes' YAML decoder resolves them: underscores are dropped first when the scalar
 * starts with a digit or sign. Erring towards "number" is safe: it only asks for quotes. */
static bool is_yaml_number(struct text t)
{
	if (t.n == 0 || t.n > CLASSIFY_MAX)
		return false;
	if (t.p[0] == '.')
		return is_yaml_decimal(t.p, t.n);
	if (!is_digit(t.p[0]) && t.p[0] != '+' && t.p[0] != '-')
		return false;
	char s[CLASSIFY_MAX];
	size_t n = 0;
	for (size_t i = 0; i < t.n; i++)
		if (t.p[i] != '_')
			s[n++] = t.p[i];
	return n > 0 && (is_yaml_decimal(s, n) || is_prefixed_int(s, n));
}

enum schema_scalar schema_scalar_type(const yaml_node_t *n)
{
	struct text t;
	if (!text_of(n, &t) || !is_plain(n))
		return SCHEMA_STRING;
	/* Every null, boolean and number starts with one of these: most strings are settled here. */
	if (t.n > 0 && !strchr("~nNtTfFyYoO+-.0123456789", t.p[0]))
		return SCHEMA_STRING;
	if (text_in(t, yaml_nulls))
		return SCHEMA_NULL;
	if (text_in(t, yaml_bools))
		return SCHEMA_BOOL;
	if (text_in(t, yaml_special_floats) || is_yaml_number(t))
		return SCHEMA_NUMBER;
	return SCHEMA_STRING;
}

const char *schema_scalar_type_name(enum schema_scalar st)
{
	switch (st) {
	case SCHEMA_NULL:
		return "null";
	case SCHEMA_BOOL:
		return "a boolean";
	case SCHEMA_NUMBER:
		return "a number";
	default:
		return "a string";
	}
}

bool schema_is_absent(const yaml_node_t *n)
{
	return !n || (n->type == YAML_SCALAR_NODE && schema_scalar_type(n) == SCHEMA_NULL);
}

/* What a value is, for "expected X, found Y". */
static const char *found_kind(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	return "nothing";
}

/* "expected <what>, found ..." for a value that is not a scalar of the right form. quoted_hint: the value
 * would be right without its quotes. */
static bool found(const yaml_node_t *n, const char *what, bool quoted_hint, char *msg, size_t cap)
{
	char q[DIAG_QUOTE_CAP];
	struct text t;
	if (!text_of(n, &t) || schema_scalar_type(n) == SCHEMA_NULL)
		snprintf(msg, cap, "expected %s, found %s", what, found_kind(n));
	else if (!is_plain(n) && quoted_hint)
		snprintf(msg, cap, "expected %s, found the quoted string %s; remove the quotes", what,
		         diag_quote(t.p, t.n, q, sizeof(q)));
	else
		snprintf(msg, cap, "expected %s, found %s%s", what, is_plain(n) ? "" : "the quoted string ",
		         diag_quote(t.p, t.n, q, sizeof(q)));
	return false;
}

bool schema_bool(const yaml_node_t *n, bool *out, char *msg, size_t cap)
{
	static const char *const yes[] = {"true", "True", "TRUE", NULL};
	static const char *const no[] = {"false", "False", "FALSE", NULL};
	struct text t;
	bool known = text_of(n, &t) && (text_in(t, yes) || text_in(t, no));
	if (known && is_plain(n)) {
		*out = text_in(t, yes);
		return true;
	}
	return found(n, "true or false", known, msg, cap);
}

bool schema_int(const yaml_node_t *n, long long min, long long max, long long *out, char *msg, size_t cap)
{
	char q[DIAG_QUOTE_CAP];
	struct text t;
	if (!text_of(n, &t) || schema_scalar_type(n) == SCHEMA_NULL || !is_plain(n)) {
		bool digits = text_of(n, &t) && t.n > 0 && skip_digits(t.p, 0, t.n, "0123456789") == t.n;
		return found(n, "an integer", digits, msg, cap);
	}
	size_t i = (t.n > 0 && (t.p[0] == '-' || (t.p[0] == '+' && min < 0))) ? 1 : 0;
	bool neg = i && t.p[0] == '-';
	bool digits = i < t.n && skip_digits(t.p, i, t.n, "0123456789") == t.n;
	if (!digits || (t.p[i] == '0' && t.n - i > 1))
		return found(n, "a whole number (no fraction, sign, leading zero or underscore)", false, msg,
		             cap);
	unsigned long long v = 0;
	bool in_range = t.n - i <= 18; /* below 10^18: no overflow */
	for (; in_range && i < t.n; i++)
		v = v * 10 + (unsigned long long)(t.p[i] - '0');
	in_range = in_range && (neg ? (min < 0 && v <= (unsigned long long)(-(min + 1)) + 1)
	                            : v <= (unsigned long long)max);
	long long sv = neg ? (long long)(0 - v) : (long long)v;
	if (!in_range || sv < min || sv > max) {
		snprintf(msg, cap, "%s is out of range; must be between %lld and %lld",
		         diag_quote(t.p, t.n, q, sizeof(q)), min, max);
		return false;
	}
	*out = sv;
	return true;
}

const char *schema_fmt_ms(uint64_t ms, char *out, size_t cap)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(out, cap, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(out, cap, "%llum", (unsigned long long)(ms / 60000));
	else if (ms != 0 && ms % 1000 == 0)
		snprintf(out, cap, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(out, cap, "%llums", (unsigned long long)ms);
	return out;
}

#define DURATION_TEXT_MAX 64 /* bytes in a duration string */

bool schema_duration_ms(const yaml_node_t *n, uint64_t min_ms, uint64_t max_ms, bool zero_ok, uint64_t *out,
                        char *msg, size_t cap)
{
	char q[DIAG_QUOTE_CAP], lo[32], hi[32];
	struct text t;
	uint64_t ms;
	if (!text_of(n, &t) || schema_scalar_type(n) == SCHEMA_NULL)
		return found(n, "a duration such as 10s", false, msg, cap);
	diag_quote(t.p, t.n, q, sizeof(q));
	/* "0" needs no unit (as in Go); any other bare number is ambiguous between seconds and ms. */
	if (text_is(t, "0")) {
		ms = 0;
	} else if (t.n > 0 && skip_digits(t.p, 0, t.n, "0123456789.") == t.n) {
		snprintf(msg, cap, "%s has no unit; durations need a unit, e.g. 10s", q);
		return false;
	} else if (t.n > DURATION_TEXT_MAX || schema_parse_duration_ms(t.p, t.n, &ms) != 0) {
		snprintf(msg, cap,
		         "invalid duration %s; use a number with a unit (ms, s, m, h), e.g. 10s or 1m30s", q);
		return false;
	}
	if (ms == 0 && zero_ok) {
		*out = 0;
		return true;
	}
	if (ms < min_ms || ms > max_ms) {
		schema_fmt_ms(min_ms, lo, sizeof(lo));
		schema_fmt_ms(max_ms, hi, sizeof(hi));
		snprintf(msg, cap, "%s is out of range; must be %sbetween %s and %s", q,
		         zero_ok ? "0 (off) or " : "", lo, hi);
		return false;
	}
	*out = ms;
	return true;
}

void schema_type_problem(const yaml_node_t *n, yaml_node_type_t want, const char *hint, char *msg, size_t cap)
{
	const char *found = n->type == YAML_MAPPING_NODE    ? "a mapping"
	                    : n->type == YAML_SEQUENCE_NODE ? "a list"
	                    : schema_scalar_type(n) == SCHEMA_NULL
	                        ? "nothing"
	                        : schema_scalar_type_name(schema_scalar_type(n));
	snprintf(msg, cap, "expected %s, found %s%s%s",
	         want == YAML_MAPPING_NODE    ? "a mapping"
	         : want == YAML_SEQUENCE_NODE ? "a list"
	                                      : "a value",
	         found, hint ? "; " : "", hint ? hint : "");
}

void schema_unknown_key(const char *key, size_t len, const char *const *names, size_t n, char *msg,
                        size_t cap)
{
	char q[DIAG_QUOTE_CAP];
	if (len == 2 && memcmp(key, "<<", 2) == 0) {
		snprintf(msg, cap, "merge keys (<<) are not supported; write the fields out");
		return;
	}
	diag_quote(key, len, q, sizeof(q));
	for (size_t i = 0; i < n; i++) {
		if (strlen(names[i]) == len && strncasecmp(names[i], key, len) == 0) {
			snprintf(msg, cap, "unknown field %s; did you mean \"%s\"?", q, names[i]);
			return;
		}
	}
	snprintf(msg, cap, "unknown field %s", q);
}

void schema_duplicate_key(const char *key, size_t len, const yaml_node_t *first, char *msg, size_t cap)
{
	char q[DIAG_QUOTE_CAP];
	diag_quote(key, len, q, sizeof(q));
	if (first)
		snprintf(msg, cap, "duplicate key %s (first given at line %u)", q,
		         (unsigned)first->start_mark.line + 1);
	else
		snprintf(msg, cap, "duplicate key %s", q);
}

/* Go's time.ParseDuration, restricted to what the schemas need: one or more <digits>[.<digits>]<unit>
 * with units ms, s, m and h; no sign. Sub-millisecond remainders round up so that "0.5ms" stays > 0,
 * as the API server's duration() sees it. */
int schema_parse_duration_ms(const char *s, size_t len, uint64_t *out_ms)
{
	/* Unit length in ns, and the largest power of ten dividing it: fraction digits beyond that are below
	 * a nanosecond, which Go drops too. */
	static const struct {
		const char *name;
		uint64_t ns;
		uint64_t frac_scale;
	} units[] = {
	    {"ms", 1000000ull, 1000000ull},
	    {"s", 1000000000ull, 1000000000ull},
	    {"m", 60000000000ull, 10000000000ull},
	    {"h", 3600000000000ull, 100000000000ull},
	};
	const uint64_t max_ns = UINT64_MAX / 2;
	uint64_t total = 0;
	size_t i = 0;
	if (!s || len == 0)
		return FIXGW_EINVAL;
	while (i < len) {
		uint64_t whole = 0, frac = 0, scale = 1;
		size_t start = i;
		for (; i < len && is_digit(s[i]); i++) {
			if (whole > max_ns / 10)
				return FIXGW_EINVAL;
			whole = whole * 10 + (uint64_t)(s[i] - '0');
		}
		if (i == start)
			return FIXGW_EINVAL;
		size_t fstart = i + 1, fend = i;
		if (i < len && s[i] == '.') {
			for (i++; i < len && is_digit(s[i]); i++)
				;
			fend = i;
			if (fend == fstart)
				return FIXGW_EINVAL;
		}
		size_t u = 0, ulen = 0;
		for (; u < COUNT(units); u++) {
			ulen = strlen(units[u].name); /* "ms" comes first, so "m" never takes its 'm' */
			if (len - i >= ulen && memcmp(s + i, units[u].name, ulen) == 0)
				break;
		}
		if (u == COUNT(units))
			return FIXGW_EINVAL;
		i += ulen;
		for (size_t f = fstart; f < fend && scale < units[u].frac_scale; f++) {
			frac = frac * 10 + (uint64_t)(s[f] - '0');
			scale *= 10;
		}
		if (whole > (max_ns - total) / units[u].ns)
			return FIXGW_EINVAL;
		total += whole * units[u].ns + frac * (units[u].ns / scale);
		if (total > max_ns)
			return FIXGW_EINVAL;
	}
	*out_ms = total / 1000000u + (total % 1000000u != 0);
	return 0;
}
