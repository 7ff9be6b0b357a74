/* otlp_metrics.h - one metric model for both exports: a set of metrics with their data points, filled by
 * collect callbacks from cumulative counters, encoded as OTLP by the exporter and rendered in Prometheus
 * text format for the admin /metrics endpoint.
 *
 *   static const struct otlp_metric_desc routed = {
 *       "fixgw.connections.routed", "Connections routed, by route", "{connection}", OTLP_METRIC_COUNTER};
 *   struct otlp_attr a[] = {OTLP_STR("route", "trading/acme")};
 *   otlp_metric_int(set, &routed, a, 1, total_routed);
 *
 * The set copies what it is given (names, attribute keys and values); it is used by one thread at a time.
 * Values for label attributes must already have gone through redaction (a `log: false` value must never
 * be passed; a `redact: true` one only as "[REDACTED]").
 */
#ifndef FIXGW_TELEMETRY_OTLP_METRICS_H
#define FIXGW_TELEMETRY_OTLP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct otlp_attr;

enum otlp_metric_type {
	OTLP_METRIC_GAUGE = 0, /* a value now */
	OTLP_METRIC_COUNTER,   /* monotonic sum, cumulative since start */
	OTLP_METRIC_UPDOWN,    /* non-monotonic sum (exported as a cumulative sum, a gauge in Prometheus) */
	OTLP_METRIC_HISTOGRAM, /* explicit buckets, cumulative */
};

/** What a metric is; usually a static const in the collecting module. Borrowed, copied by the set. */
struct otlp_metric_desc {
	const char *name; /* OTel style, dotted: "fixgw.connections.routed" */
	const char *description;
	const char *unit; /* UCUM: "s", "By", "{connection}" */
	enum otlp_metric_type type;
};

/** A histogram point: nbounds upper bounds (ascending) and nbounds + 1 bucket counts (not cumulative;
 * the last is the overflow bucket), plus the sum of the observed values. */
struct otlp_histogram {
	const double *bounds;
	size_t nbounds;
	const uint64_t *counts;
	double sum;
};

#define OTLP_HIST_MAX_BOUNDS 32

/** One data point (owned by its metric). */
struct otlp_point {
	char **keys; /* nattrs owned strings each; attribute values are kept as strings for labels */
	char **vals;
	uint8_t *types; /* enum otlp_attr_type of each value as given */
	size_t nattrs;
	bool is_double;
	union {
		int64_t i;
		double d;
	} v;
	uint64_t start_ns; /* set by the exporter: process start (cumulative) or the previous collection */
	/* histogram only */
	double bounds[OTLP_HIST_MAX_BOUNDS];
	uint64_t counts[OTLP_HIST_MAX_BOUNDS + 1];
	size_t nbounds;
	uint64_t count;
	double sum;
};

struct otlp_metric {
	char *name;
	char *description;
	char *unit;
	enum otlp_metric_type type;
	struct otlp_point *points;
	size_t npoints;
	size_t cap;
};

struct otlp_metric_set {
	struct otlp_metric *metrics;
	size_t nmetrics;
	size_t cap;
	size_t npoints;    /* over all metrics */
	size_t max_points; /* further points are counted in dropped, not stored; 0 = 100000 */
	size_t dropped;    /* points refused: over max_points, out of memory, or type mismatch */
	uint64_t time_ns;  /* when the set was collected (Unix ns) */
};

void otlp_metric_set_init(struct otlp_metric_set *set);
/** Forget every metric but keep the allocations' owner ready for reuse. */
void otlp_metric_set_free(struct otlp_metric_set *set);

/** Add an integer point to a gauge, counter or up-down counter. Returns 0, FIXGW_EINVAL (the name is
 * already a metric of another type, or d is a histogram), FIXGW_ELIMIT or FIXGW_ENOMEM (point dropped
 * and counted). */
int otlp_metric_int(struct otlp_metric_set *set, const struct otlp_metric_desc *d,
                    const struct otlp_attr *attrs, size_t nattrs, int64_t value);
/** Add a floating-point point to a gauge or counter; as otlp_metric_int. */
int otlp_metric_double(struct otlp_metric_set *set, const struct otlp_metric_desc *d,
                       const struct otlp_attr *attrs, size_t nattrs, double value);
/** Add a histogram point (nbounds at most OTLP_HIST_MAX_BOUNDS); as otlp_metric_int. */
int otlp_metric_histogram(struct otlp_metric_set *set, const struct otlp_metric_desc *d,
                          const struct otlp_attr *attrs, size_t nattrs, const struct otlp_histogram *h);

/** A deep copy of src into dst (initialised here). Returns 0 or FIXGW_ENOMEM (dst then empty). */
int otlp_metric_set_copy(struct otlp_metric_set *dst, const struct otlp_metric_set *src);

/** The metric called name, or NULL. */
const struct otlp_metric *otlp_metric_find(const struct otlp_metric_set *set, const char *name);

/** Turn cumulative counters and histograms of cur into deltas against prev (the previous collection of
 * the same callbacks): a series absent from prev, or whose value went down (a restart), keeps its value.
 * start_ns of each point becomes prev->time_ns. Gauges and up-down counters are left alone. */
void otlp_metric_set_delta(struct otlp_metric_set *cur, const struct otlp_metric_set *prev);

/** Render set in the Prometheus text exposition format 0.0.4 into a new malloc'd, NUL-terminated buffer
 * (*out, length *len; the caller frees). Names: dots and other characters outside [a-zA-Z0-9_:] become
 * '_'; counters get "_total", histograms _bucket{le=...} / _sum / _count. Label values are escaped (\\,
 * \", \n). Returns 0 or FIXGW_ENOMEM. */
int otlp_prom_render(const struct otlp_metric_set *set, char **out, size_t *len);

/** The Content-Type the rendered text is served with. */
#define OTLP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
