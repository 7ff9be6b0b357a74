/* otlp_encode.c - queued records and metric sets into OTLP protobuf (protobuf-c, proto/otlp.proto).
 *
 * Messages are built as protobuf-c structures pointing into the records themselves (no copies of the
 * text) and into a per-request arena for the arrays, packed once into a malloc'd buffer, then the arena
 * goes away whole. The Resource and the instrumentation scope are built once per exporter. */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/errors.h"
#include "otlp.pb-c.h"
#include "telemetry/otlp_internal.h"

/* ---- a bump arena: many small allocations freed at once ---- */

struct ablock {
	struct ablock *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct ablock *head;
	bool oom;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
	if (!a->head || a->head->cap - a->head->used < n) {
		size_t cap = n > 32768 ? n : 32768;
		struct ablock *b = malloc(sizeof(*b) + cap);
		if (!b) {
			a->oom = true;
			return NULL;
		}
		b->next = a->head;
		b->used = 0;
		b->cap = cap;
		a->head = b;
	}
	void *p = a->head->data + a->head->used;
	a->head->used += n;
	memset(p, 0, n);
	return p;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct ablock *n = a->head->next;
		free(a->head);
		a->head = n;
	}
}

static char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);
	if (p)
		memcpy(p, s, n);
	return p;
}

/* ---- the Resource ---- */

struct otlp_resource {
	struct arena a;
	Otlp__Resource res;
	Otlp__InstrumentationScope scope;
};

static Otlp__KeyValue *kv_string(struct arena *a, const char *key, const char *value)
{
	Otlp__KeyValue *kv = arena_alloc(a, sizeof(*kv));
	Otlp__AnyValue *v = arena_alloc(a, sizeof(*v));
	if (!kv || !v)
		return NULL;
	otlp__key_value__init(kv);
	otlp__any_value__init(v);
	kv->key = arena_strdup(a, key);
	v->value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = arena_strdup(a, value);
	kv->value = v;
	return kv->key && v->string_value ? kv : NULL;
}

static void random_uuid(char out[37])
{
	uint8_t b[16] = {0};
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		uint64_t x = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ otlp_now_ns();
		memcpy(b, &x, 8);
		x *= 0xBF58476D1CE4E5B9ull;
		memcpy(b + 8, &x, 8);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
	         b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

struct otlp_resource *otlp_resource_new(const struct otlp_config *cfg, const char *(*get)(const char *))
{
	struct otlp_resource *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	char host[256] = "";
	char uuid[37];
	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	random_uuid(uuid);
	/* First the configured attributes (OTEL_RESOURCE_ATTRIBUTES, resource.<key>), then what the process
	 * knows for keys they did not set; service.name always from the service name. */
	const struct {
		const char *key;
		const char *value;
	} known[] = {
	    {"service.name", cfg->service_name ? cfg->service_name : "fixgw"},
	    {"service.version", cfg->service_version ? cfg->service_version : FIXGW_VERSION},
	    {"service.instance.id", cfg->instance_id ? cfg->instance_id : uuid},
	    {"host.name", host},
	    {"k8s.pod.name", get("K8S_POD_NAME") ? get("K8S_POD_NAME") : get("POD_NAME")},
	    {"k8s.namespace.name",
	     get("K8S_NAMESPACE_NAME") ? get("K8S_NAMESPACE_NAME") : get("POD_NAMESPACE")},
	    {"k8s.node.name", get("K8S_NODE_NAME") ? get("K8S_NODE_NAME") : get("NODE_NAME")},
	    {"telemetry.sdk.name", "fixgw"},
	    {"telemetry.sdk.version", FIXGW_VERSION},
	};
	size_t nknown = sizeof(known) / sizeof(known[0]);
	Otlp__KeyValue **kvs = arena_alloc(&r->a, (cfg->nresource + nknown) * sizeof(*kvs));
	if (!kvs)
		goto free_r;
	size_t n = 0;
	for (size_t i = 0; i < cfg->nresource; i++) {
		if (!strcmp(cfg->resource[i].key, "service.name"))
			continue;
		if (!(kvs[n++] = kv_string(&r->a, cfg->resource[i].key, cfg->resource[i].value)))
			goto free_r;
	}
	for (size_t k = 0; k < nknown; k++) {
		bool given = false;
		for (size_t i = 0; i < cfg->nresource; i++)
			given |= strcmp(cfg->resource[i].key, known[k].key) == 0 && k > 0;
		if (given || !known[k].value || !*known[k].value)
			continue;
		if (!(kvs[n++] = kv_string(&r->a, known[k].key, known[k].value)))
			goto free_r;
	}
	otlp__resource__init(&r->res);
	r->res.attributes = kvs;
	r->res.n_attributes = n;
	otlp__instrumentation_scope__init(&r->scope);
	r->scope.name = "fixgw";
	r->scope.version = FIXGW_VERSION;
	return r;
free_r:
	otlp_resource_free(r);
	return NULL;
}

void otlp_resource_free(struct otlp_resource *r)
{
	if (!r)
		return;
	arena_free(&r->a);
	free(r);
}

/* ---- records ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
	return (ProtobufCBinaryData){.len = n, .data = (uint8_t *)p};
}

static char *rec_str(const struct otlp_rec *r, uint16_t off)
{
	return (char *)r->text + off;
}

static Otlp__KeyValue **rec_attrs(struct arena *a, const struct otlp_rec *r)
{
	if (!r->nattrs)
		return NULL;
	Otlp__KeyValue **kvs = arena_alloc(a, r->nattrs * sizeof(*kvs));
	Otlp__KeyValue *kv = arena_alloc(a, r->nattrs * sizeof(*kv));
	Otlp__AnyValue *v = arena_alloc(a, r->nattrs * sizeof(*v));
	if (!kvs || !kv || !v)
		return NULL;
	for (size_t i = 0; i < r->nattrs; i++) {
		const struct otlp_rec_attr *ra = &r->attrs[i];
		otlp__key_value__init(&kv[i]);
		otlp__any_value__init(&v[i]);
		kv[i].key = rec_str(r, ra->key_off);
		kv[i].value = &v[i];
		switch (ra->type) {
		case OTLP_ATTR_STRING:
			v[i].value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
			v[i].string_value = rec_str(r, ra->v.s.off);
			break;
		case OTLP_ATTR_INT:
			v[i].value_case = OTLP__ANY_VALUE__VALUE_INT_VALUE;
			v[i].int_value = ra->v.i;
			break;
		case OTLP_ATTR_DOUBLE:
			v[i].value_case = OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
			v[i].double_value = ra->v.d;
			break;
		default:
			v[i].value_case = OTLP__ANY_VALUE__VALUE_BOOL_VALUE;
			v[i].bool_value = ra->v.b;
			break;
		}
		kvs[i] = &kv[i];
	}
	return kvs;
}

/* Pack msg into a new buffer; the arena is freed in every case. */
static int pack_out(const ProtobufCMessage *msg, struct arena *a, uint8_t **out, size_t *len)
{
	if (a->oom) {
		arena_free(a);
		return FIXGW_ENOMEM;
	}
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf) {
		arena_free(a);
		return FIXGW_ENOMEM;
	}
	*len = protobuf_c_message_pack(msg, buf);
	*out = buf;
	arena_free(a);
	return 0;
}

int otlp_encode_spans(const struct otlp_resource *res, const struct otlp_rec *recs, size_t n, uint8_t **out,
                      size_t *len)
{
	struct arena a = {0};
	Otlp__ExportTraceServiceRequest req = OTLP__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	Otlp__ResourceSpans rs = OTLP__RESOURCE_SPANS__INIT;
	Otlp__ResourceSpans *rsp = &rs;
	Otlp__ScopeSpans ss = OTLP__SCOPE_SPANS__INIT;
	Otlp__ScopeSpans *ssp = &ss;
	req.n_resource_spans = 1;
	req.resource_spans = &rsp;
	rs.resource = (Otlp__Resource *)&res->res;
	rs.n_scope_spans = 1;
	rs.scope_spans = &ssp;
	ss.scope = (Otlp__InstrumentationScope *)&res->scope;
	ss.spans = arena_alloc(&a, (n ? n : 1) * sizeof(*ss.spans));
	Otlp__Span *spans = arena_alloc(&a, (n ? n : 1) * sizeof(*spans));
	Otlp__Status *st = arena_alloc(&a, (n ? n : 1) * sizeof(*st));
	if (!ss.spans || !spans || !st)
		return pack_out(&req.base, &a, out, len);
	ss.n_spans = n;
	for (size_t i = 0; i < n; i++) {
		const struct otlp_rec *r = &recs[i];
		Otlp__Span *sp = &spans[i];
		otlp__span__init(sp);
		sp->trace_id = bin(r->trace_id, 16);
		sp->span_id = bin(r->span_id, 8);
		if (!all_zero(r->parent_span_id, 8))
			sp->parent_span_id = bin(r->parent_span_id, 8);
		sp->flags = 0x1; /* W3C trace flags: sampled (an emitted span was sampled) */
		sp->name = rec_str(r, r->name_off);
		sp->kind = (Otlp__Span__SpanKind)r->kind;
		sp->start_time_unix_nano = r->start_ns;
		sp->end_time_unix_nano = r->end_ns;
		sp->n_attributes = r->nattrs;
		sp->attributes = rec_attrs(&a, r);
		sp->dropped_attributes_count = r->dropped_attrs;
		if (r->status != OTLP_STATUS_UNSET) {
			otlp__status__init(&st[i]);
			st[i].code = (Otlp__Status__StatusCode)r->status;
			if (r->msg_len)
				st[i].message = rec_str(r, r->msg_off);
			sp->status = &st[i];
		}
		ss.spans[i] = sp;
	}
	return pack_out(&req.base, &a, out, len);
}

static const char *severity_text(enum log_level lvl)
{
	switch (lvl) {
	case LOG_DEBUG:
		return "DEBUG";
	case LOG_INFO:
		return "INFO";
	case LOG_WARN:
		return "WARN";
	case LOG_ERROR:
		return "ERROR";
	default:
		return "CRITICAL";
	}
}

int otlp_severity_number(enum log_level lvl)
{
	switch (lvl) {
	case LOG_DEBUG:
		return OTLP__SEVERITY_NUMBER__SEVERITY_NUMBER_DEBUG;
	case LOG_INFO:
		return OTLP__SEVERITY_NUMBER__SEVERITY_NUMBER_INFO;
	case LOG_WARN:
		return OTLP__SEVERITY_NUMBER__SEVERITY_NUMBER_WARN;
	case LOG_ERROR:
		return OTLP__SEVERITY_NUMBER__SEVERITY_NUMBER_ERROR;
	default:
		return OTLP__SEVERITY_NUMBER__SEVERITY_NUMBER_FATAL; /* CRITICAL: the FATAL range */
	}
}

int otlp_encode_logs(const struct otlp_resource *res, const struct otlp_rec *recs, size_t n, uint8_t **out,
                     size_t *len)
{
	struct arena a = {0};
	Otlp__ExportLogsServiceRequest req = OTLP__EXPORT_LOGS_SERVICE_REQUEST__INIT;
	Otlp__ResourceLogs rl = OTLP__RESOURCE_LOGS__INIT;
	Otlp__ResourceLogs *rlp = &rl;
	Otlp__ScopeLogs sl = OTLP__SCOPE_LOGS__INIT;
	Otlp__ScopeLogs *slp = &sl;
	req.n_resource_logs = 1;
	req.resource_logs = &rlp;
	rl.resource = (Otlp__Resource *)&res->res;
	rl.n_scope_logs = 1;
	rl.scope_logs = &slp;
	sl.scope = (Otlp__InstrumentationScope *)&res->scope;
	sl.log_records = arena_alloc(&a, (n ? n : 1) * sizeof(*sl.log_records));
	Otlp__LogRecord *lr = arena_alloc(&a, (n ? n : 1) * sizeof(*lr));
	Otlp__AnyValue *body = arena_alloc(&a, (n ? n : 1) * sizeof(*body));
	if (!sl.log_records || !lr || !body)
		return pack_out(&req.base, &a, out, len);
	sl.n_log_records = n;
	for (size_t i = 0; i < n; i++) {
		const struct otlp_rec *r = &recs[i];
		Otlp__LogRecord *l = &lr[i];
		otlp__log_record__init(l);
		l->time_unix_nano = r->start_ns;
		l->observed_time_unix_nano = r->end_ns;
		l->severity_number = (Otlp__SeverityNumber)otlp_severity_number((enum log_level)r->kind);
		l->severity_text = (char *)severity_text((enum log_level)r->kind);
		if (r->name_len)
			l->event_name = rec_str(r, r->name_off);
		if (r->msg_len) {
			otlp__any_value__init(&body[i]);
			body[i].value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
			body[i].string_value = rec_str(r, r->msg_off);
			l->body = &body[i];
		}
		l->n_attributes = r->nattrs;
		l->attributes = rec_attrs(&a, r);
		l->dropped_attributes_count = r->dropped_attrs;
		if (!all_zero(r->trace_id, 16)) {
			l->trace_id = bin(r->trace_id, 16);
			l->flags = 0x1;
		}
		if (!all_zero(r->span_id, 8))
			l->span_id = bin(r->span_id, 8);
		sl.log_records[i] = l;
	}
	return pack_out(&req.base, &a, out, len);
}

/* ---- metrics ---- */

static Otlp__KeyValue **point_attrs(struct arena *a, const struct otlp_point *p)
{
	if (!p->nattrs)
		return NULL;
	Otlp__KeyValue **kvs = arena_alloc(a, p->nattrs * sizeof(*kvs));
	Otlp__KeyValue *kv = arena_alloc(a, p->nattrs * sizeof(*kv));
	Otlp__AnyValue *v = arena_alloc(a, p->nattrs * sizeof(*v));
	if (!kvs || !kv || !v)
		return NULL;
	for (size_t i = 0; i < p->nattrs; i++) {
		otlp__key_value__init(&kv[i]);
		otlp__any_value__init(&v[i]);
		kv[i].key = p->keys[i];
		kv[i].value = &v[i];
		switch (p->types[i]) {
		case OTLP_ATTR_INT:
			v[i].value_case = OTLP__ANY_VALUE__VALUE_INT_VALUE;
			v[i].int_value = strtoll(p->vals[i], NULL, 10);
			break;
		case OTLP_ATTR_DOUBLE:
			v[i].value_case = OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
			v[i].double_value = strtod(p->vals[i], NULL);
			break;
		case OTLP_ATTR_BOOL:
			v[i].value_case = OTLP__ANY_VALUE__VALUE_BOOL_VALUE;
			v[i].bool_value = p->vals[i][0] == 't';
			break;
		default:
			v[i].value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
			v[i].string_value = p->vals[i];
			break;
		}
		kvs[i] = &kv[i];
	}
	return kvs;
}

static Otlp__NumberDataPoint *number_point(struct arena *a, const struct otlp_point *p, uint64_t now)
{
	Otlp__NumberDataPoint *dp = arena_alloc(a, sizeof(*dp));
	if (!dp)
		return NULL;
	otlp__number_data_point__init(dp);
	dp->n_attributes = p->nattrs;
	dp->attributes = point_attrs(a, p);
	dp->start_time_unix_nano = p->start_ns;
	dp->time_unix_nano = now;
	if (p->is_double) {
		dp->value_case = OTLP__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
		dp->as_double = p->v.d;
	} else {
		dp->value_case = OTLP__NUMBER_DATA_POINT__VALUE_AS_INT;
		dp->as_int = p->v.i;
	}
	return dp;
}

static Otlp__HistogramDataPoint *hist_point(struct arena *a, const struct otlp_point *p, uint64_t now)
{
	Otlp__HistogramDataPoint *dp = arena_alloc(a, sizeof(*dp));
	if (!dp)
		return NULL;
	otlp__histogram_data_point__init(dp);
	dp->n_attributes = p->nattrs;
	dp->attributes = point_attrs(a, p);
	dp->start_time_unix_nano = p->start_ns;
	dp->time_unix_nano = now;
	dp->count = p->count;
	dp->sum = p->sum;
	dp->n_bucket_counts = p->nbounds + 1;
	dp->bucket_counts = (uint64_t *)p->counts;
	dp->n_explicit_bounds = p->nbounds;
	dp->explicit_bounds = (double *)p->bounds;
	return dp;
}

int otlp_encode_metrics(const struct otlp_resource *res, const struct otlp_metric_set *set, size_t first,
                        size_t n, enum otlp_temporality temporality, uint8_t **out, size_t *len)
{
	struct arena a = {0};
	Otlp__ExportMetricsServiceRequest req = OTLP__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	Otlp__ResourceMetrics rm = OTLP__RESOURCE_METRICS__INIT;
	Otlp__ResourceMetrics *rmp = &rm;
	Otlp__ScopeMetrics sm = OTLP__SCOPE_METRICS__INIT;
	Otlp__ScopeMetrics *smp = &sm;
	req.n_resource_metrics = 1;
	req.resource_metrics = &rmp;
	rm.resource = (Otlp__Resource *)&res->res;
	rm.n_scope_metrics = 1;
	rm.scope_metrics = &smp;
	sm.scope = (Otlp__InstrumentationScope *)&res->scope;
	sm.metrics = arena_alloc(&a, (set->nmetrics ? set->nmetrics : 1) * sizeof(*sm.metrics));
	if (!sm.metrics)
		return pack_out(&req.base, &a, out, len);
	Otlp__AggregationTemporality temp =
	    temporality == OTLP_DELTA ? OTLP__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA
	                              : OTLP__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
	size_t idx = 0, end = first + n;
	for (size_t m = 0; m < set->nmetrics && idx < end; m++) {
		const struct otlp_metric *mt = &set->metrics[m];
		size_t lo = first > idx ? first - idx : 0;
		size_t hi = end - idx < mt->npoints ? end - idx : mt->npoints;
		idx += mt->npoints;
		if (lo >= hi)
			continue;
		size_t np = hi - lo;
		Otlp__Metric *om = arena_alloc(&a, sizeof(*om));
		void **dps = arena_alloc(&a, np * sizeof(void *));
		if (!om || !dps)
			break;
		otlp__metric__init(om);
		om->name = mt->name;
		om->description = mt->description;
		om->unit = mt->unit;
		for (size_t i = 0; i < np; i++)
			dps[i] = mt->type == OTLP_METRIC_HISTOGRAM
			             ? (void *)hist_point(&a, &mt->points[lo + i], set->time_ns)
			             : (void *)number_point(&a, &mt->points[lo + i], set->time_ns);
		if (mt->type == OTLP_METRIC_GAUGE) {
			Otlp__Gauge *g = arena_alloc(&a, sizeof(*g));
			if (!g)
				break;
			otlp__gauge__init(g);
			g->n_data_points = np;
			g->data_points = (Otlp__NumberDataPoint **)dps;
			om->data_case = OTLP__METRIC__DATA_GAUGE;
			om->gauge = g;
		} else if (mt->type == OTLP_METRIC_HISTOGRAM) {
			Otlp__Histogram *h = arena_alloc(&a, sizeof(*h));
			if (!h)
				break;
			otlp__histogram__init(h);
			h->n_data_points = np;
			h->data_points = (Otlp__HistogramDataPoint **)dps;
			h->aggregation_temporality = temp;
			om->data_case = OTLP__METRIC__DATA_HISTOGRAM;
			om->histogram = h;
		} else {
			Otlp__Sum *s = arena_alloc(&a, sizeof(*s));
			if (!s)
				break;
			otlp__sum__init(s);
			s->n_data_points = np;
			s->data_points = (Otlp__NumberDataPoint **)dps;
			s->is_monotonic = mt->type == OTLP_METRIC_COUNTER;
			s->aggregation_temporality =
			    mt->type == OTLP_METRIC_COUNTER
			        ? temp
			        : OTLP__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
			om->data_case = OTLP__METRIC__DATA_SUM;
			om->sum = s;
		}
		sm.metrics[sm.n_metrics++] = om;
	}
	return pack_out(&req.base, &a, out, len);
}

int64_t otlp_decode_partial(enum otlp_signal s, const uint8_t *body, size_t len)
{
	int64_t rejected = 0;
	if (len == 0)
		return 0;
	switch (s) {
	case OTLP_TRACES: {
		Otlp__ExportTraceServiceResponse *r =
		    otlp__export_trace_service_response__unpack(NULL, len, body);
		if (!r)
			return -1;
		if (r->partial_success)
			rejected = r->partial_success->rejected_spans;
		otlp__export_trace_service_response__free_unpacked(r, NULL);
		break;
	}
	case OTLP_METRICS: {
		Otlp__ExportMetricsServiceResponse *r =
		    otlp__export_metrics_service_response__unpack(NULL, len, body);
		if (!r)
			return -1;
		if (r->partial_success)
			rejected = r->partial_success->rejected_data_points;
		otlp__export_metrics_service_response__free_unpacked(r, NULL);
		break;
	}
	default: {
		Otlp__ExportLogsServiceResponse *r =
		    otlp__export_logs_service_response__unpack(NULL, len, body);
		if (!r)
			return -1;
		if (r->partial_success)
			rejected = r->partial_success->rejected_log_records;
		otlp__export_logs_service_response__free_unpacked(r, NULL);
		break;
	}
	}
	return rejected < 0 ? 0 : rejected;
}

int64_t otlp_status_retry_delay(const uint8_t *status, size_t len)
{
	static const char retry_info_url[] = "type.googleapis.com/google.rpc.RetryInfo";
	int64_t ms = -1;
	Otlp__RpcStatus *st = otlp__rpc_status__unpack(NULL, len, status);
	if (!st)
		return -1;
	for (size_t i = 0; i < st->n_details && ms < 0; i++) {
		if (!st->details[i]->type_url || strcmp(st->details[i]->type_url, retry_info_url) != 0)
			continue;
		Otlp__RetryInfo *ri =
		    otlp__retry_info__unpack(NULL, st->details[i]->value.len, st->details[i]->value.data);
		if (!ri)
			continue;
		ms = 0;
		if (ri->retry_delay && ri->retry_delay->seconds >= 0 && ri->retry_delay->nanos >= 0) {
			int64_t sec = ri->retry_delay->seconds > 86400 ? 86400 : ri->retry_delay->seconds;
			ms = sec * 1000 + ri->retry_delay->nanos / 1000000;
		}
		otlp__retry_info__free_unpacked(ri, NULL);
	}
	otlp__rpc_status__free_unpacked(st, NULL);
	return ms;
}
