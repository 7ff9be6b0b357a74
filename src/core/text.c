/* text.c - escaping rules for untrusted text (text.h). */
#include "text.h"

#include <stdlib.h>
#include <string.h>

static const char hex[] = "0123456789abcdef";

size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, v = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, v = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0; /* continuation byte, C0/C1 (always overlong) or F5..FF */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

bool text_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029;
}

/* The JSON form of one character or invalid byte at s[i]; sets *used to the input bytes it covers. */
static size_t json_unit(const unsigned char *s, size_t n, size_t *used, char esc[12])
{
	uint32_t cp;
	size_t k = utf8_decode(s, n, &cp);
	*used = k ? k : 1;
	if (!k) {
		memcpy(esc, "\\\\x", 3);
		esc[3] = hex[s[0] >> 4];
		esc[4] = hex[s[0] & 15];
		return 5;
	}
	if (cp == '"' || cp == '\\') {
		esc[0] = '\\';
		esc[1] = (char)cp;
		return 2;
	}
	if (text_is_control(cp)) {
		static const char short_esc[] = {
		    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
		if (cp < sizeof(short_esc) && short_esc[cp]) {
			esc[0] = '\\';
			esc[1] = short_esc[cp];
			return 2;
		}
		memcpy(esc, "\\u", 2);
		for (int d = 0; d < 4; d++)
			esc[2 + d] = hex[(cp >> (12 - 4 * d)) & 15];
		return 6;
	}
	memcpy(esc, s, k);
	return k;
}

size_t text_json_quote(char *out, size_t cap, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 0;
	if (cap < 3)
		return 0;
	out[n++] = '"';
	for (size_t i = 0; i < len;) {
		char esc[12];
		size_t used, elen = json_unit(u + i, len - i, &used, esc);
		if (n + elen + 1 >= cap)
			break;
		memcpy(out + n, esc, elen);
		n += elen;
		i += used;
	}
	out[n++] = '"';
	return n;
}

char *text_json_harden(const char *json)
{
	size_t len = strlen(json);
	char *out = malloc(len * 3 + 1), *p = out; /* a 2-byte C1 becomes 6 bytes, a 3-byte U+2028 6 */
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_decode((const unsigned char *)json + i, len - i, &cp);
		if (k && cp >= 0x7f && text_is_control(cp)) {
			*p++ = '\\';
			*p++ = 'u';
			for (int d = 0; d < 4; d++)
				*p++ = hex[(cp >> (12 - 4 * d)) & 15];
			i += k;
		} else {
			*p++ = json[i++];
		}
	}
	*p = '\0';
	return out;
}

size_t text_escape_controls(char *out, size_t cap, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 0;
	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_decode(u + i, len - i, &cp);
		bool escape = !k || text_is_control(cp);
		size_t m = k ? k : 1, need = escape ? 4 * m : m;
		if (n + need >= cap)
			break;
		for (size_t j = 0; j < m; j++) {
			if (escape) {
				out[n++] = '\\';
				out[n++] = 'x';
				out[n++] = hex[u[i + j] >> 4];
				out[n++] = hex[u[i + j] & 15];
			} else {
				out[n++] = (char)u[i + j];
			}
		}
		i += m;
	}
	out[n] = '\0';
	return n;
}

void text_hex(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static unsigned hex_digit(char h)
{
	return (unsigned)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
}

size_t text_json_unescape(char *out, size_t cap, const char *s, size_t len)
{
	size_t o = 0, i = 0;
	while (i < len) {
		char c = s[i++];
		if (c != '\\' || i == len) { /* a byte as it is (UTF-8 text included) */
			if (o == cap)
				break;
			out[o++] = c;
			continue;
		}
		unsigned cp;
		switch (c = s[i++]) {
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			cp = 0;
			for (int k = 0; k < 4 && i < len; k++)
				cp = cp << 4 | hex_digit(s[i++]);
			break;
		default: /* \" \\ \/ */
			cp = (unsigned char)c;
		}
		size_t need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
		if (o + need > cap)
			break;
		if (cp < 0x80) {
			out[o++] = (char)cp;
		} else if (cp < 0x800) {
			out[o++] = (char)(0xc0 | cp >> 6);
			out[o++] = (char)(0x80 | (cp & 0x3f));
		} else {
			out[o++] = (char)(0xe0 | cp >> 12);
			out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	return o;
}
