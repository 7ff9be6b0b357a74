/* otlp_prom.c - the metric set in the Prometheus text exposition format (version 0.0.4). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/grow.h"
#include "telemetry/otlp_metrics.h"

/* A growing output buffer; a failed allocation sets oom and stops all further output. */
struct pbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void pb_reserve(struct pbuf *b, size_t more)
{
	if (!b->oom && GROW_ARRAY(b->p, b->cap, b->len + more + 1, 4096) != 0)
		b->oom = true;
}

static void pb_putn(struct pbuf *b, const char *s, size_t n)
{
	pb_reserve(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void pb_puts(struct pbuf *b, const char *s)
{
	pb_putn(b, s, strlen(s));
}

static void pb_putc(struct pbuf *b, char c)
{
	pb_putn(b, &c, 1);
}

/* A metric or label name: characters outside [a-zA-Z0-9_] (and ':' in metric names) become '_', and a
 * leading digit gets a '_' in front. */
static void pb_name(struct pbuf *b, const char *s, bool allow_colon)
{
	if (*s >= '0' && *s <= '9')
		pb_putc(b, '_');
	for (; *s; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		          c == '_' || (allow_colon && c == ':');
		pb_putc(b, ok ? c : '_');
	}
}

/* Label values escape backslash, double quote and line feed; HELP text escapes backslash and line feed. */
static void pb_escaped(struct pbuf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			pb_puts(b, "\\\\");
		else if (*s == '\n')
			pb_puts(b, "\\n");
		else if (quote && *s == '"')
			pb_puts(b, "\\\"");
		else
			pb_putc(b, *s);
	}
}

/* The shortest text that reads back as the same double; Prometheus spellings for the specials. */
static void pb_double(struct pbuf *b, double v)
{
	char buf[40];
	if (isnan(v)) {
		pb_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		pb_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	pb_puts(b, buf);
}

static void pb_u64(struct pbuf *b, uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	pb_puts(b, buf);
}

/* {k="v",...,extra_key="extra"}; nothing when there are no labels at all. */
static void pb_labels(struct pbuf *b, const struct otlp_point *p, const char *extra_key,
                      const char *extra_val)
{
	if (p->nattrs == 0 && !extra_key)
		return;
	pb_putc(b, '{');
	for (size_t i = 0; i < p->nattrs; i++) {
		if (i)
			pb_putc(b, ',');
		pb_name(b, p->keys[i], false);
		pb_puts(b, "=\"");
		pb_escaped(b, p->vals[i], true);
		pb_putc(b, '"');
	}
	if (extra_key) {
		if (p->nattrs)
			pb_putc(b, ',');
		pb_puts(b, extra_key);
		pb_puts(b, "=\"");
		pb_puts(b, extra_val);
		pb_putc(b, '"');
	}
	pb_putc(b, '}');
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* name + suffix, as one sample's metric name. */
static void pb_sample_name(struct pbuf *b, const struct otlp_metric *m, const char *suffix)
{
	pb_name(b, m->name, true);
	pb_puts(b, suffix);
}

static void render_histogram(struct pbuf *b, const struct otlp_metric *m)
{
	for (size_t i = 0; i < m->npoints; i++) {
		const struct otlp_point *p = &m->points[i];
		uint64_t cum = 0;
		for (size_t k = 0; k < p->nbounds; k++) {
			struct pbuf le = {0};
			pb_double(&le, p->bounds[k]);
			cum += p->counts[k];
			pb_sample_name(b, m, "_bucket");
			pb_labels(b, p, "le", le.oom ? "NaN" : le.p);
			free(le.p);
			pb_putc(b, ' ');
			pb_u64(b, cum);
			pb_putc(b, '\n');
		}
		pb_sample_name(b, m, "_bucket");
		pb_labels(b, p, "le", "+Inf");
		pb_putc(b, ' ');
		pb_u64(b, p->count);
		pb_putc(b, '\n');
		pb_sample_name(b, m, "_sum");
		pb_labels(b, p, NULL, NULL);
		pb_putc(b, ' ');
		pb_double(b, p->sum);
		pb_putc(b, '\n');
		pb_sample_name(b, m, "_count");
		pb_labels(b, p, NULL, NULL);
		pb_putc(b, ' ');
		pb_u64(b, p->count);
		pb_putc(b, '\n');
	}
}

int otlp_prom_render(const struct otlp_metric_set *set, char **out, size_t *len)
{
	struct pbuf b = {0};
	pb_reserve(&b, 0);
	if (!b.oom)
		b.p[0] = '\0';
	for (size_t i = 0; i < set->nmetrics; i++) {
		const struct otlp_metric *m = &set->metrics[i];
		const char *suffix = "";
		const char *type = "gauge";
		if (m->type == OTLP_METRIC_COUNTER) {
			type = "counter";
			suffix = ends_with(m->name, "_total") ? "" : "_total";
		} else if (m->type == OTLP_METRIC_HISTOGRAM) {
			type = "histogram";
		}
		pb_puts(&b, "# HELP ");
		pb_sample_name(&b, m, suffix);
		pb_putc(&b, ' ');
		pb_escaped(&b, m->description, false);
		pb_puts(&b, "\n# TYPE ");
		pb_sample_name(&b, m, suffix);
		pb_putc(&b, ' ');
		pb_puts(&b, type);
		pb_putc(&b, '\n');
		if (m->type == OTLP_METRIC_HISTOGRAM) {
			render_histogram(&b, m);
			continue;
		}
		for (size_t k = 0; k < m->npoints; k++) {
			const struct otlp_point *p = &m->points[k];
			pb_sample_name(&b, m, suffix);
			pb_labels(&b, p, NULL, NULL);
			pb_putc(&b, ' ');
			if (p->is_double) {
				pb_double(&b, p->v.d);
			} else {
				char buf[24];
				snprintf(buf, sizeof(buf), "%" PRId64, p->v.i);
				pb_puts(&b, buf);
			}
			pb_putc(&b, '\n');
		}
	}
	if (b.oom) {
		free(b.p);
		return FIXGW_ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
