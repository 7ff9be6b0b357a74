/* glob.c - wildcard patterns: '*' any run, '?' one byte, '\' escapes the next byte. */
#include "core/glob.h"

#include <stdint.h>
#include <string.h>

/* A pattern compiled to tokens: a literal byte, ANY_ONE or ANY_RUN. Consecutive ANY_RUNs fold into one,
 * which keeps glob_overlap's table at its smallest and changes no meaning. */
enum tok_kind { TOK_LIT, TOK_ONE, TOK_RUN };

struct tok {
	unsigned char kind;
	unsigned char byte;
};

static size_t tokenize(const char *p, size_t n, struct tok *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n) {
			out[k++] = (struct tok){TOK_LIT, (unsigned char)p[++i]};
		} else if (p[i] == '*') {
			if (k == 0 || out[k - 1].kind != TOK_RUN)
				out[k++] = (struct tok){TOK_RUN, 0};
		} else if (p[i] == '?') {
			out[k++] = (struct tok){TOK_ONE, 0};
		} else {
			out[k++] = (struct tok){TOK_LIT, (unsigned char)p[i]};
		}
	}
	return k;
}

bool glob_is_pattern(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\')
			i++;
		else if (p[i] == '*' || p[i] == '?')
			return true;
	}
	return false;
}

bool glob_is_valid(const char *p, size_t n)
{
	if (n > GLOB_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\' && ++i == n)
			return false;
	}
	return true;
}

size_t glob_unescape(const char *p, size_t n, char *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		if (p[i] == '\\' && i + 1 < n)
			i++;
		out[k++] = p[i];
	}
	if (cap)
		out[k] = '\0';
	return k;
}

/* Classic greedy matcher with one backtrack point (the last '*'): O(n * sn) worst case, no recursion. */
bool glob_match(const char *p, size_t n, const char *s, size_t sn)
{
	struct tok t[GLOB_MAX_LEN];
	if (n > GLOB_MAX_LEN)
		return false;
	size_t nt = tokenize(p, n, t);
	size_t ti = 0, si = 0, star_ti = SIZE_MAX, star_si = 0;

	while (si < sn) {
		if (ti < nt && t[ti].kind == TOK_RUN) {
			star_ti = ti++;
			star_si = si;
		} else if (ti < nt && (t[ti].kind == TOK_ONE || t[ti].byte == (unsigned char)s[si])) {
			ti++;
			si++;
		} else if (star_ti != SIZE_MAX) {
			ti = star_ti + 1;
			si = ++star_si;
		} else {
			return false;
		}
	}
	while (ti < nt && t[ti].kind == TOK_RUN)
		ti++;
	return ti == nt;
}

/* Two tokens can stand for the same byte unless both are different literals. */
static bool tok_compatible(struct tok a, struct tok b)
{
	return a.kind != TOK_LIT || b.kind != TOK_LIT || a.byte == b.byte;
}

/* Emptiness of the intersection of two pattern languages, by reachability over position pairs (i, j):
 * state (i, j) means "some string drives pattern a to token i and pattern b to token j". From a pair,
 * a RUN token may be skipped (matches the empty string) or stay while the other side consumes a byte;
 * two byte-consuming tokens advance together when compatible. The languages intersect iff (na, nb) is
 * reachable. Iterating i and j in increasing order visits every state after all its predecessors except
 * for RUN self-loops, which never lead to new states by themselves. */
bool glob_overlap(const char *p, size_t n, const char *q, size_t m)
{
	struct tok a[GLOB_MAX_LEN], b[GLOB_MAX_LEN];
	if (n > GLOB_MAX_LEN || m > GLOB_MAX_LEN)
		return false;
	size_t na = tokenize(p, n, a), nb = tokenize(q, m, b);
	/* (GLOB_MAX_LEN + 1)^2 bits = 8 KiB of stack at most */
	uint8_t reach[(GLOB_MAX_LEN + 1) * (GLOB_MAX_LEN + 1) / 8 + 1];
	size_t w = nb + 1;
	memset(reach, 0, ((na + 1) * w) / 8 + 1);
#define REACHED(i, j) (reach[((i) * w + (j)) >> 3] & (1u << (((i) * w + (j)) & 7)))
#define MARK(i, j)    (reach[((i) * w + (j)) >> 3] |= (uint8_t)(1u << (((i) * w + (j)) & 7)))
	MARK(0, 0);
	for (size_t i = 0; i <= na; i++) {
		for (size_t j = 0; j <= nb; j++) {
			if (!REACHED(i, j))
				continue;
			bool a_run = i < na && a[i].kind == TOK_RUN;
			bool b_run = j < nb && b[j].kind == TOK_RUN;
			if (a_run)
				MARK(i + 1, j); /* '*' matches nothing */
			if (b_run)
				MARK(i, j + 1);
			if (a_run && j < nb && !b_run)
				MARK(i, j + 1); /* '*' eats the byte b's token produces */
			if (b_run && i < na && !a_run)
				MARK(i + 1, j);
			if (i < na && j < nb && !a_run && !b_run && tok_compatible(a[i], b[j]))
				MARK(i + 1, j + 1);
		}
	}
	return REACHED(na, nb) != 0;
#undef REACHED
#undef MARK
}
