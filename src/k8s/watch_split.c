/* watch_split.c - the watch-stream splitter (see watch_split.h). */
#include "k8s/watch_split.h"

#include <stdlib.h>
#include <string.h>

#include "core/grow.h"

#define SPLIT_MIN_CAP  4096u
#define SPLIT_KEEP_CAP (1u << 20) /* a buffer grown past this is freed after its event */

void k8s_split_init(struct k8s_split *s, size_t max_event_bytes)
{
	memset(s, 0, sizeof(*s));
	s->max = max_event_bytes ? max_event_bytes : K8S_SPLIT_DEFAULT_MAX_EVENT;
}

void k8s_split_reset(struct k8s_split *s)
{
	s->len = 0;
	s->depth = 0;
	s->skipped = 0;
	s->in_event = s->in_str = s->esc = s->dropping = s->nomem = s->ready = false;
}

void k8s_split_free(struct k8s_split *s)
{
	free(s->buf);
	s->buf = NULL;
	s->cap = 0;
	k8s_split_reset(s);
}

/* Keep data[0..n) as part of the current event, or count it when the event is being dropped. */
static void keep(struct k8s_split *s, const char *data, size_t n)
{
	if (s->dropping) {
		s->skipped += n;
		return;
	}
	size_t need = s->len + n;
	if (need > s->max) {
		s->dropping = true;
		s->skipped = need;
		s->len = 0;
		return;
	}
	if (grow_array(&s->buf, &s->cap, need, 1, SPLIT_MIN_CAP, s->max) != 0) {
		s->dropping = s->nomem = true;
		s->skipped = need;
		s->len = 0;
		return;
	}
	memcpy(s->buf + s->len, data, n);
	s->len = need;
}

enum k8s_split_status k8s_split_feed(struct k8s_split *s, const char *data, size_t n, size_t *consumed,
                                     struct k8s_split_event *ev)
{
	if (s->ready) {
		s->ready = false;
		s->len = 0;
		if (s->cap > SPLIT_KEEP_CAP) {
			free(s->buf);
			s->buf = NULL;
			s->cap = 0;
		}
	}
	size_t i = 0;
	while (i < n) {
		if (!s->in_event) {
			unsigned char c = (unsigned char)data[i];
			if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
				i++;
				continue;
			}
			if (c != '{') {
				s->bad = c;
				*consumed = i + 1;
				return K8S_SPLIT_INVALID;
			}
			k8s_split_reset(s);
			s->in_event = true;
		}
		size_t start = i;
		bool done = false;
		for (; i < n && !done; i++) {
			char c = data[i];
			if (s->in_str) {
				if (s->esc)
					s->esc = false;
				else if (c == '\\')
					s->esc = true;
				else if (c == '"')
					s->in_str = false;
			} else if (c == '"') {
				s->in_str = true;
			} else if (c == '{' || c == '[') {
				s->depth++;
			} else if ((c == '}' || c == ']') && --s->depth == 0) {
				done = true;
			}
		}
		keep(s, data + start, i - start);
		if (!done)
			break;
		s->in_event = false;
		*consumed = i;
		if (s->dropping) {
			enum k8s_split_status st = s->nomem ? K8S_SPLIT_ENOMEM : K8S_SPLIT_OVERSIZED;
			s->last_size = s->skipped;
			s->dropping = s->nomem = false;
			s->skipped = 0;
			return st;
		}
		s->ready = true;
		ev->data = s->buf;
		ev->len = s->len;
		return K8S_SPLIT_EVENT;
	}
	*consumed = n;
	return K8S_SPLIT_NEED_MORE;
}
