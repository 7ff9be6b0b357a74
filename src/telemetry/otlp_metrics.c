/* otlp_metrics.c - the metric set: points added by collect callbacks, delta conversion. */
#include "telemetry/otlp_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/grow.h"
#include "telemetry/otlp.h"
#include "telemetry/otlp_internal.h"

#define DEFAULT_MAX_POINTS 100000

void otlp_metric_set_init(struct otlp_metric_set *set)
{
	memset(set, 0, sizeof(*set));
}

static void point_free(struct otlp_point *p)
{
	for (size_t i = 0; i < p->nattrs; i++) {
		free(p->keys[i]);
		free(p->vals[i]);
	}
	free(p->keys);
	free(p->vals);
	free(p->types);
}

void otlp_metric_set_free(struct otlp_metric_set *set)
{
	for (size_t m = 0; m < set->nmetrics; m++) {
		struct otlp_metric *mt = &set->metrics[m];
		for (size_t i = 0; i < mt->npoints; i++)
			point_free(&mt->points[i]);
		free(mt->points);
		free(mt->name);
		free(mt->description);
		free(mt->unit);
	}
	free(set->metrics);
	size_t max_points = set->max_points;
	otlp_metric_set_init(set);
	set->max_points = max_points;
}

const struct otlp_metric *otlp_metric_find(const struct otlp_metric_set *set, const char *name)
{
	for (size_t m = 0; m < set->nmetrics; m++)
		if (strcmp(set->metrics[m].name, name) == 0)
			return &set->metrics[m];
	return NULL;
}

/* A copy that is valid UTF-8 (protobuf strings must be); an invalid byte may grow into \xNN. */
static char *dup_or_empty(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *d = malloc(4 * n + 1);
	if (d)
		d[otlp_utf8_copy(d, 4 * n, s ? s : "", n)] = '\0';
	return d;
}

static struct otlp_metric *metric_get(struct otlp_metric_set *set, const struct otlp_metric_desc *d, int *err)
{
	for (size_t m = set->nmetrics; m-- > 0;) {
		if (strcmp(set->metrics[m].name, d->name) == 0) {
			if (set->metrics[m].type != d->type) {
				*err = FIXGW_EINVAL;
				return NULL;
			}
			return &set->metrics[m];
		}
	}
	if (GROW_ARRAY(set->metrics, set->cap, set->nmetrics + 1, 16) != 0)
		goto nomem;
	struct otlp_metric *mt = &set->metrics[set->nmetrics];
	memset(mt, 0, sizeof(*mt));
	mt->type = d->type;
	mt->name = dup_or_empty(d->name);
	mt->description = dup_or_empty(d->description);
	mt->unit = dup_or_empty(d->unit);
	if (!mt->name || !mt->description || !mt->unit) {
		free(mt->name);
		free(mt->description);
		free(mt->unit);
		goto nomem;
	}
	set->nmetrics++;
	return mt;
nomem:
	*err = FIXGW_ENOMEM;
	return NULL;
}

static int attr_to_string(const struct otlp_attr *a, char **out)
{
	char buf[64];
	switch (a->type) {
	case OTLP_ATTR_STRING:
		*out = dup_or_empty(a->v.s);
		break;
	case OTLP_ATTR_INT:
		snprintf(buf, sizeof(buf), "%" PRId64, a->v.i);
		*out = strdup(buf);
		break;
	case OTLP_ATTR_DOUBLE:
		snprintf(buf, sizeof(buf), "%.17g", a->v.d);
		*out = strdup(buf);
		break;
	case OTLP_ATTR_BOOL:
		*out = strdup(a->v.b ? "true" : "false");
		break;
	case OTLP_ATTR_STRN:
		*out = strndup(a->v.sn.p ? a->v.sn.p : "", a->v.sn.p ? a->v.sn.n : 0);
		break;
	default:
		*out = NULL;
		return FIXGW_EINVAL;
	}
	return *out ? 0 : FIXGW_ENOMEM;
}

/* A new point with copies of the attributes, or NULL with *err set (and the drop counted). */
static struct otlp_point *point_add(struct otlp_metric_set *set, const struct otlp_metric_desc *d,
                                    const struct otlp_attr *attrs, size_t nattrs, int *err)
{
	size_t max = set->max_points ? set->max_points : DEFAULT_MAX_POINTS;
	*err = 0;
	if (set->npoints >= max) {
		*err = FIXGW_ELIMIT;
		goto dropped;
	}
	struct otlp_metric *mt = metric_get(set, d, err);
	if (!mt)
		goto dropped;
	if (GROW_ARRAY(mt->points, mt->cap, mt->npoints + 1, 4) != 0) {
		*err = FIXGW_ENOMEM;
		goto dropped;
	}
	struct otlp_point *p = &mt->points[mt->npoints];
	memset(p, 0, sizeof(*p));
	if (nattrs) {
		p->keys = calloc(nattrs, sizeof(char *));
		p->vals = calloc(nattrs, sizeof(char *));
		p->types = calloc(nattrs, 1);
		if (!p->keys || !p->vals || !p->types) {
			*err = FIXGW_ENOMEM;
			goto free_point;
		}
		for (size_t i = 0; i < nattrs; i++) {
			p->nattrs = i + 1;
			p->keys[i] = dup_or_empty(attrs[i].key);
			p->types[i] = (uint8_t)attrs[i].type;
			int rc = attr_to_string(&attrs[i], &p->vals[i]);
			if (!p->keys[i] || rc < 0) {
				*err = rc < 0 ? rc : FIXGW_ENOMEM;
				goto free_point;
			}
		}
	}
	mt->npoints++;
	set->npoints++;
	return p;
free_point:
	point_free(p);
dropped:
	set->dropped++;
	return NULL;
}

/* A number point: integer or floating point. */
static int number_add(struct otlp_metric_set *set, const struct otlp_metric_desc *d,
                      const struct otlp_attr *attrs, size_t nattrs, bool is_double, int64_t i, double dv)
{
	int err;
	if (d->type == OTLP_METRIC_HISTOGRAM) {
		set->dropped++;
		return FIXGW_EINVAL;
	}
	struct otlp_point *p = point_add(set, d, attrs, nattrs, &err);
	if (!p)
		return err;
	p->is_double = is_double;
	if (is_double)
		p->v.d = dv;
	else
		p->v.i = i;
	return 0;
}

int otlp_metric_int(struct otlp_metric_set *set, const struct otlp_metric_desc *d,
                    const struct otlp_attr *attrs, size_t nattrs, int64_t value)
{
	return number_add(set, d, attrs, nattrs, false, value, 0.0);
}

int otlp_metric_double(struct otlp_metric_set *set, const struct otlp_metric_desc *d,
                       const struct otlp_attr *attrs, size_t nattrs, double value)
{
	return number_add(set, d, attrs, nattrs, true, 0, value);
}

int otlp_metric_histogram(struct otlp_metric_set *set, const struct otlp_metric_desc *d,
                          const struct otlp_attr *attrs, size_t nattrs, const struct otlp_histogram *h)
{
	int err;
	if (d->type != OTLP_METRIC_HISTOGRAM || h->nbounds > OTLP_HIST_MAX_BOUNDS) {
		set->dropped++;
		return FIXGW_EINVAL;
	}
	for (size_t i = 1; i < h->nbounds; i++) {
		if (!(h->bounds[i - 1] < h->bounds[i])) {
			set->dropped++;
			return FIXGW_EINVAL;
		}
	}
	struct otlp_point *p = point_add(set, d, attrs, nattrs, &err);
	if (!p)
		return err;
	p->nbounds = h->nbounds;
	memcpy(p->bounds, h->bounds, h->nbounds * sizeof(double));
	memcpy(p->counts, h->counts, (h->nbounds + 1) * sizeof(uint64_t));
	for (size_t i = 0; i <= h->nbounds; i++)
		p->count += h->counts[i];
	p->sum = h->sum;
	return 0;
}

static bool same_series(const struct otlp_point *a, const struct otlp_point *b)
{
	if (a->nattrs != b->nattrs)
		return false;
	for (size_t i = 0; i < a->nattrs; i++)
		if (strcmp(a->keys[i], b->keys[i]) != 0 || strcmp(a->vals[i], b->vals[i]) != 0)
			return false;
	return true;
}

static const struct otlp_point *find_series(const struct otlp_metric *m, const struct otlp_point *p,
                                            size_t hint)
{
	if (hint < m->npoints && same_series(&m->points[hint], p))
		return &m->points[hint];
	for (size_t i = 0; i < m->npoints; i++)
		if (same_series(&m->points[i], p))
			return &m->points[i];
	return NULL;
}

static void point_delta(struct otlp_point *p, const struct otlp_point *q, enum otlp_metric_type type)
{
	if (type == OTLP_METRIC_HISTOGRAM) {
		if (q->count > p->count || q->nbounds != p->nbounds)
			return; /* reset or new buckets: the cumulative value is the delta */
		for (size_t i = 0; i <= p->nbounds; i++)
			if (q->counts[i] > p->counts[i])
				return;
		for (size_t i = 0; i <= p->nbounds; i++)
			p->counts[i] -= q->counts[i];
		p->count -= q->count;
		p->sum -= q->sum;
	} else if (p->is_double && q->is_double) {
		if (q->v.d <= p->v.d)
			p->v.d -= q->v.d;
	} else if (!p->is_double && !q->is_double) {
		if (q->v.i <= p->v.i)
			p->v.i -= q->v.i;
	}
}

void otlp_metric_set_delta(struct otlp_metric_set *cur, const struct otlp_metric_set *prev)
{
	for (size_t m = 0; m < cur->nmetrics; m++) {
		struct otlp_metric *mt = &cur->metrics[m];
		if (mt->type != OTLP_METRIC_COUNTER && mt->type != OTLP_METRIC_HISTOGRAM)
			continue;
		const struct otlp_metric *pm = prev ? otlp_metric_find(prev, mt->name) : NULL;
		for (size_t i = 0; i < mt->npoints; i++) {
			struct otlp_point *p = &mt->points[i];
			const struct otlp_point *q =
			    pm && pm->type == mt->type ? find_series(pm, p, i) : NULL;
			if (q) {
				point_delta(p, q, mt->type);
				p->start_ns = prev->time_ns;
			}
		}
	}
}

int otlp_metric_set_copy(struct otlp_metric_set *dst, const struct otlp_metric_set *src)
{
	otlp_metric_set_init(dst);
	dst->max_points = src->max_points;
	dst->time_ns = src->time_ns;
	dst->dropped = src->dropped;
	if (!src->nmetrics)
		return 0;
	dst->metrics = calloc(src->nmetrics, sizeof(*dst->metrics));
	if (!dst->metrics)
		return FIXGW_ENOMEM;
	dst->cap = src->nmetrics;
	for (size_t m = 0; m < src->nmetrics; m++) {
		const struct otlp_metric *sm = &src->metrics[m];
		struct otlp_metric *dm = &dst->metrics[m];
		dst->nmetrics++;
		dm->type = sm->type;
		dm->name = strdup(sm->name);
		dm->description = strdup(sm->description);
		dm->unit = strdup(sm->unit);
		dm->points = sm->npoints ? calloc(sm->npoints, sizeof(*dm->points)) : NULL;
		if (!dm->name || !dm->description || !dm->unit || (sm->npoints && !dm->points))
			goto nomem;
		dm->cap = sm->npoints;
		for (size_t i = 0; i < sm->npoints; i++) {
			const struct otlp_point *sp = &sm->points[i];
			struct otlp_point *dp = &dm->points[i];
			*dp = *sp;
			dp->keys = dp->vals = NULL;
			dp->types = NULL;
			dp->nattrs = 0;
			dm->npoints++;
			dst->npoints++;
			if (!sp->nattrs)
				continue;
			dp->keys = calloc(sp->nattrs, sizeof(char *));
			dp->vals = calloc(sp->nattrs, sizeof(char *));
			dp->types = malloc(sp->nattrs);
			if (!dp->keys || !dp->vals || !dp->types)
				goto nomem;
			memcpy(dp->types, sp->types, sp->nattrs);
			for (size_t k = 0; k < sp->nattrs; k++) {
				dp->nattrs = k + 1;
				dp->keys[k] = strdup(sp->keys[k]);
				dp->vals[k] = strdup(sp->vals[k]);
				if (!dp->keys[k] || !dp->vals[k])
					goto nomem;
			}
		}
	}
	return 0;
nomem:
	otlp_metric_set_free(dst);
	return FIXGW_ENOMEM;
}
