/* test_otlp_encode.c - OTLP encoding round trips: records and metric sets encoded by fixgw, decoded with
 * protobuf-c's generated unpack, compared field by field; the Resource; UTF-8 repair; record limits;
 * gRPC framing; partial success and RetryInfo decoding. */
#include "telemetry/otlp_encode.c"

#include <stdlib.h>

#include "otlp.pb-c.h"
#include "test.h"

static const char *env_table[][2] = {
    {"K8S_POD_NAME", "fixgw-7d9f-abcde"},
    {"POD_NAMESPACE", "trading"},
    {"NODE_NAME", "node-3"},
};

static const char *fake_env(const char *name)
{
	for (size_t i = 0; i < sizeof(env_table) / sizeof(env_table[0]); i++)
		if (!strcmp(env_table[i][0], name))
			return env_table[i][1];
	return NULL;
}

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static const Otlp__AnyValue *find_attr(Otlp__KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i]->key, key))
			return kv[i]->value;
	return NULL;
}

static const char *attr_str(Otlp__KeyValue **kv, size_t n, const char *key)
{
	const Otlp__AnyValue *v = find_attr(kv, n, key);
	return v && v->value_case == OTLP__ANY_VALUE__VALUE_STRING_VALUE ? v->string_value : NULL;
}

static struct otlp_resource *test_resource(const char *(*get)(const char *))
{
	struct otlp_config cfg;
	char err[128];
	otlp_config_init(&cfg);
	CHECK_EQ_INT(otlp_config_set(&cfg, "serviceName", "fixgw-gateway", err, sizeof(err)), 0);
	CHECK_EQ_INT(otlp_config_set(&cfg, "resourceAttributes",
	                             "deployment.environment=prod,service.name=ignored", err, sizeof(err)),
	             0);
	CHECK_EQ_INT(otlp_config_set(&cfg, "instanceId", "pod-uid-1", err, sizeof(err)), 0);
	struct otlp_resource *r = otlp_resource_new(&cfg, get);
	otlp_config_free(&cfg);
	return r;
}

TEST(resource_attributes)
{
	struct otlp_resource *r = test_resource(fake_env);
	CHECK(r != NULL);
	Otlp__KeyValue **kv = r->res.attributes;
	size_t n = r->res.n_attributes;
	CHECK_EQ_STR(attr_str(kv, n, "service.name"), "fixgw-gateway");
	CHECK_EQ_STR(attr_str(kv, n, "service.version"), FIXGW_VERSION);
	CHECK_EQ_STR(attr_str(kv, n, "service.instance.id"), "pod-uid-1");
	CHECK_EQ_STR(attr_str(kv, n, "deployment.environment"), "prod");
	CHECK_EQ_STR(attr_str(kv, n, "k8s.pod.name"), "fixgw-7d9f-abcde");
	CHECK_EQ_STR(attr_str(kv, n, "k8s.namespace.name"), "trading");
	CHECK_EQ_STR(attr_str(kv, n, "k8s.node.name"), "node-3");
	CHECK(attr_str(kv, n, "host.name") != NULL);
	int names = 0;
	for (size_t i = 0; i < n; i++)
		names += !strcmp(kv[i]->key, "service.name");
	CHECK_EQ_INT(names, 1);
	otlp_resource_free(r);

	/* Outside Kubernetes: no k8s.* attributes at all, and a random instance id. */
	r = otlp_resource_new(&(struct otlp_config){0}, no_env);
	CHECK(r != NULL);
	CHECK(find_attr(r->res.attributes, r->res.n_attributes, "k8s.pod.name") == NULL);
	CHECK_EQ_STR(attr_str(r->res.attributes, r->res.n_attributes, "service.name"), "fixgw");
	const char *id = attr_str(r->res.attributes, r->res.n_attributes, "service.instance.id");
	CHECK(id && strlen(id) == 36 && id[14] == '4');
	otlp_resource_free(r);
}

static const uint8_t TRACE[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                  0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};

TEST(spans_round_trip)
{
	struct otlp_resource *res = test_resource(fake_env);
	struct otlp_rec recs[2];
	struct otlp_attr attrs[] = {OTLP_STR("network.peer.address", "192.0.2.7"),
	                            OTLP_INT("network.peer.port", 40212), OTLP_BOOL("fixgw.tls", true),
	                            OTLP_DBL("fixgw.ratio", 0.25), OTLP_STR("fixgw.decision", "ROUTE")};
	struct otlp_span root = {.name = "fixgw.connection",
	                         .kind = OTLP_SPAN_SERVER,
	                         .start_ns = 1700000000000000000ull,
	                         .end_ns = 1700000000500000000ull,
	                         .status = OTLP_STATUS_OK,
	                         .attrs = attrs,
	                         .nattrs = 5};
	memcpy(root.trace_id, TRACE, 16);
	memcpy(root.span_id, "\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8);
	struct otlp_span child = root;
	child.name = "fixgw.logon.parse";
	child.kind = OTLP_SPAN_INTERNAL;
	child.status = OTLP_STATUS_ERROR;
	child.status_message = "parse_failure";
	child.nattrs = 0;
	memcpy(child.parent_span_id, root.span_id, 8);
	memcpy(child.span_id, "\xb7\xad\x6b\x71\x69\x20\x33\x31", 8);
	otlp_rec_from_span(&recs[0], &root);
	otlp_rec_from_span(&recs[1], &child);

	uint8_t *buf = NULL;
	size_t len = 0;
	CHECK_EQ_INT(otlp_encode_spans(res, recs, 2, &buf, &len), 0);
	Otlp__ExportTraceServiceRequest *req = otlp__export_trace_service_request__unpack(NULL, len, buf);
	CHECK(req != NULL);
	if (req) {
		CHECK_EQ_INT(req->n_resource_spans, 1);
		Otlp__ResourceSpans *rs = req->resource_spans[0];
		CHECK_EQ_STR(attr_str(rs->resource->attributes, rs->resource->n_attributes, "service.name"),
		             "fixgw-gateway");
		CHECK_EQ_INT(rs->n_scope_spans, 1);
		CHECK_EQ_STR(rs->scope_spans[0]->scope->name, "fixgw");
		CHECK_EQ_INT(rs->scope_spans[0]->n_spans, 2);
		Otlp__Span *a = rs->scope_spans[0]->spans[0], *b = rs->scope_spans[0]->spans[1];
		CHECK_EQ_STR(a->name, "fixgw.connection");
		CHECK_EQ_INT(a->kind, OTLP__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
		CHECK(a->trace_id.len == 16 && !memcmp(a->trace_id.data, TRACE, 16));
		CHECK(a->span_id.len == 8 && !memcmp(a->span_id.data, "\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8));
		CHECK_EQ_INT(a->parent_span_id.len, 0);
		CHECK(a->start_time_unix_nano == 1700000000000000000ull);
		CHECK(a->end_time_unix_nano == 1700000000500000000ull);
		CHECK_EQ_INT(a->n_attributes, 5);
		CHECK_EQ_STR(attr_str(a->attributes, a->n_attributes, "network.peer.address"), "192.0.2.7");
		const Otlp__AnyValue *v = find_attr(a->attributes, a->n_attributes, "network.peer.port");
		CHECK(v && v->value_case == OTLP__ANY_VALUE__VALUE_INT_VALUE && v->int_value == 40212);
		v = find_attr(a->attributes, a->n_attributes, "fixgw.tls");
		CHECK(v && v->value_case == OTLP__ANY_VALUE__VALUE_BOOL_VALUE && v->bool_value);
		v = find_attr(a->attributes, a->n_attributes, "fixgw.ratio");
		CHECK(v && v->value_case == OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE && v->double_value == 0.25);
		CHECK(a->status && a->status->code == OTLP__STATUS__STATUS_CODE__STATUS_CODE_OK);
		CHECK_EQ_STR(b->name, "fixgw.logon.parse");
		CHECK(b->parent_span_id.len == 8 && !memcmp(b->parent_span_id.data, a->span_id.data, 8));
		CHECK(b->trace_id.len == 16 && !memcmp(b->trace_id.data, TRACE, 16));
		CHECK(b->status && b->status->code == OTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
		CHECK_EQ_STR(b->status->message, "parse_failure");
		otlp__export_trace_service_request__free_unpacked(req, NULL);
	}
	free(buf);
	otlp_resource_free(res);
}

TEST(logs_round_trip_and_severities)
{
	struct otlp_resource *res = test_resource(no_env);
	static const struct {
		enum log_level lvl;
		int number;
		const char *text;
	} sev[] = {{LOG_DEBUG, 5, "DEBUG"},
	           {LOG_INFO, 9, "INFO"},
	           {LOG_WARN, 13, "WARN"},
	           {LOG_ERROR, 17, "ERROR"},
	           {LOG_CRITICAL, 21, "CRITICAL"}};
	struct otlp_rec recs[5];
	struct otlp_attr attrs[] = {OTLP_STR("fixgw.route", "trading/acme"), OTLP_INT("fixgw.conn_id", 42)};
	for (size_t i = 0; i < 5; i++) {
		struct otlp_log l = {.time_ns = 1700000000000000000ull + i,
		                     .level = sev[i].lvl,
		                     .event = "hold_timeout",
		                     .body = "no ready endpoint within 30000 ms",
		                     .attrs = attrs,
		                     .nattrs = 2};
		if (i == 4) {
			memcpy(l.trace_id, TRACE, 16);
			memcpy(l.span_id, "\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8);
		}
		otlp_rec_from_log(&recs[i], &l);
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	CHECK_EQ_INT(otlp_encode_logs(res, recs, 5, &buf, &len), 0);
	Otlp__ExportLogsServiceRequest *req = otlp__export_logs_service_request__unpack(NULL, len, buf);
	CHECK(req != NULL);
	if (req) {
		Otlp__ScopeLogs *sl = req->resource_logs[0]->scope_logs[0];
		CHECK_EQ_INT(sl->n_log_records, 5);
		for (size_t i = 0; i < 5 && i < sl->n_log_records; i++) {
			Otlp__LogRecord *r = sl->log_records[i];
			CHECK_EQ_INT(r->severity_number, sev[i].number);
			CHECK_EQ_STR(r->severity_text, sev[i].text);
			CHECK(r->time_unix_nano == 1700000000000000000ull + i);
			CHECK(r->observed_time_unix_nano >= r->time_unix_nano);
			CHECK_EQ_STR(r->event_name, "hold_timeout");
			CHECK(r->body && r->body->value_case == OTLP__ANY_VALUE__VALUE_STRING_VALUE);
			CHECK_EQ_STR(r->body->string_value, "no ready endpoint within 30000 ms");
			CHECK_EQ_STR(attr_str(r->attributes, r->n_attributes, "fixgw.route"), "trading/acme");
			CHECK_EQ_INT(r->trace_id.len, i == 4 ? 16 : 0);
			CHECK_EQ_INT(r->span_id.len, i == 4 ? 8 : 0);
		}
		/* CRITICAL is in the FATAL range (21-24) and keeps its own name. */
		CHECK(sl->log_records[4]->severity_number >= 21 && sl->log_records[4]->severity_number <= 24);
		otlp__export_logs_service_request__free_unpacked(req, NULL);
	}
	free(buf);
	otlp_resource_free(res);
}

TEST(records_are_bounded_and_valid_utf8)
{
	struct otlp_rec r;
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct otlp_attr attrs[OTLP_REC_MAX_ATTRS + 4];
	for (size_t i = 0; i < OTLP_REC_MAX_ATTRS + 4; i++)
		attrs[i] = OTLP_INT("k", (int64_t)i);
	attrs[0] = OTLP_STR("bad.utf8", "ok\xff\xc3(\xe2\x82"); /* invalid byte, bad continuation, cut */
	struct otlp_span s = {.name = "n\xc3\xa9", .attrs = attrs, .nattrs = OTLP_REC_MAX_ATTRS + 4};
	otlp_rec_from_span(&r, &s);
	CHECK_EQ_INT(r.nattrs, OTLP_REC_MAX_ATTRS);
	CHECK_EQ_INT(r.dropped_attrs, 4);
	CHECK_EQ_STR(r.text + r.name_off, "n\xc3\xa9");
	CHECK_EQ_STR(r.text + r.attrs[0].v.s.off, "ok\\xff\\xc3(\\xe2\\x82");

	/* a long name is cut at a character boundary, a long value too, and the record never overflows */
	char utf[2001];
	for (size_t i = 0; i < 2000; i += 2)
		memcpy(utf + i, "\xc3\xa9", 2);
	utf[2000] = '\0';
	struct otlp_attr two[] = {OTLP_STR("a", big), OTLP_STR("b", "late")};
	struct otlp_span s2 = {.name = utf, .attrs = two, .nattrs = 2};
	otlp_rec_from_span(&r, &s2);
	CHECK(r.text_len <= OTLP_REC_TEXT);
	CHECK(r.name_len % 2 == 0 && r.name_len > 0);
	CHECK_EQ_INT(r.nattrs + r.dropped_attrs, 2);

	/* Whatever was cut, the encoding still unpacks (protobuf-c checks UTF-8 of strings on unpack too) */
	struct otlp_resource *res = test_resource(no_env);
	uint8_t *buf = NULL;
	size_t len = 0;
	struct otlp_rec both[2];
	otlp_rec_from_span(&both[0], &s);
	otlp_rec_from_span(&both[1], &s2);
	CHECK_EQ_INT(otlp_encode_spans(res, both, 2, &buf, &len), 0);
	Otlp__ExportTraceServiceRequest *req = otlp__export_trace_service_request__unpack(NULL, len, buf);
	CHECK(req != NULL);
	if (req) {
		CHECK_EQ_INT(req->resource_spans[0]->scope_spans[0]->spans[0]->dropped_attributes_count, 4);
		otlp__export_trace_service_request__free_unpacked(req, NULL);
	}
	free(buf);
	otlp_resource_free(res);
}

static const struct otlp_metric_desc ROUTED = {"fixgw.connections.routed", "Routed connections",
                                               "{connection}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc ACTIVE = {"fixgw.connections.active", "Active connections",
                                               "{connection}", OTLP_METRIC_UPDOWN};
static const struct otlp_metric_desc CERT = {"fixgw.tls.certificate.expiry", "Seconds left", "s",
                                             OTLP_METRIC_GAUGE};
static const struct otlp_metric_desc EVAL = {"fixgw.routing.eval.duration", "Rule evaluation", "s",
                                             OTLP_METRIC_HISTOGRAM};

static void fill_set(struct otlp_metric_set *set, int64_t routed_a, uint64_t hist_scale)
{
	struct otlp_attr a[] = {OTLP_STR("route", "trading/a")};
	struct otlp_attr b[] = {OTLP_STR("route", "trading/b")};
	otlp_metric_int(set, &ROUTED, a, 1, routed_a);
	otlp_metric_int(set, &ROUTED, b, 1, 7);
	otlp_metric_int(set, &ACTIVE, a, 1, 3);
	otlp_metric_double(set, &CERT, NULL, 0, 86400.5);
	double bounds[] = {0.00001, 0.0001, 0.001};
	uint64_t counts[] = {10 * hist_scale, 5 * hist_scale, 1 * hist_scale, 0};
	struct otlp_histogram h = {bounds, 3, counts, 0.0021 * (double)hist_scale};
	otlp_metric_histogram(set, &EVAL, NULL, 0, &h);
}

TEST(metrics_round_trip)
{
	struct otlp_resource *res = test_resource(no_env);
	struct otlp_metric_set set;
	otlp_metric_set_init(&set);
	set.time_ns = 1700000000000000000ull;
	fill_set(&set, 12, 1);
	CHECK_EQ_INT(set.npoints, 5);
	CHECK_EQ_INT(set.nmetrics, 4);
	/* a name reused with another type is refused and counted */
	CHECK_EQ_INT(
	    otlp_metric_int(&set,
	                    &(struct otlp_metric_desc){"fixgw.connections.routed", "", "", OTLP_METRIC_GAUGE},
	                    NULL, 0, 1),
	    FIXGW_EINVAL);
	CHECK_EQ_INT(set.dropped, 1);

	uint8_t *buf = NULL;
	size_t len = 0;
	CHECK_EQ_INT(otlp_encode_metrics(res, &set, 0, set.npoints, OTLP_CUMULATIVE, &buf, &len), 0);
	Otlp__ExportMetricsServiceRequest *req = otlp__export_metrics_service_request__unpack(NULL, len, buf);
	CHECK(req != NULL);
	if (req) {
		Otlp__ScopeMetrics *sm = req->resource_metrics[0]->scope_metrics[0];
		CHECK_EQ_INT(sm->n_metrics, 4);
		Otlp__Metric *m = sm->metrics[0];
		CHECK_EQ_STR(m->name, "fixgw.connections.routed");
		CHECK_EQ_STR(m->unit, "{connection}");
		CHECK_EQ_INT(m->data_case, OTLP__METRIC__DATA_SUM);
		CHECK(m->sum->is_monotonic);
		CHECK_EQ_INT(m->sum->aggregation_temporality,
		             OTLP__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
		CHECK_EQ_INT(m->sum->n_data_points, 2);
		CHECK_EQ_INT(m->sum->data_points[0]->as_int, 12);
		CHECK_EQ_STR(attr_str(m->sum->data_points[0]->attributes,
		                      m->sum->data_points[0]->n_attributes, "route"),
		             "trading/a");
		CHECK_EQ_INT(m->sum->data_points[1]->as_int, 7);
		CHECK(m->sum->data_points[0]->time_unix_nano == 1700000000000000000ull);
		m = sm->metrics[1];
		CHECK_EQ_INT(m->data_case, OTLP__METRIC__DATA_SUM);
		CHECK(!m->sum->is_monotonic);
		m = sm->metrics[2];
		CHECK_EQ_INT(m->data_case, OTLP__METRIC__DATA_GAUGE);
		CHECK_EQ_INT(m->gauge->data_points[0]->value_case, OTLP__NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
		CHECK(m->gauge->data_points[0]->as_double == 86400.5);
		m = sm->metrics[3];
		CHECK_EQ_INT(m->data_case, OTLP__METRIC__DATA_HISTOGRAM);
		Otlp__HistogramDataPoint *hp = m->histogram->data_points[0];
		CHECK_EQ_INT(hp->count, 16);
		CHECK_EQ_INT(hp->n_bucket_counts, 4);
		CHECK_EQ_INT(hp->n_explicit_bounds, 3);
		CHECK_EQ_INT(hp->bucket_counts[0], 10);
		CHECK(hp->explicit_bounds[2] == 0.001);
		CHECK(hp->sum == 0.0021);
		otlp__export_metrics_service_request__free_unpacked(req, NULL);
	}
	free(buf);

	/* a window of points [1, 4): the second routed point, active, cert */
	CHECK_EQ_INT(otlp_encode_metrics(res, &set, 1, 3, OTLP_DELTA, &buf, &len), 0);
	req = otlp__export_metrics_service_request__unpack(NULL, len, buf);
	CHECK(req != NULL);
	if (req) {
		Otlp__ScopeMetrics *sm = req->resource_metrics[0]->scope_metrics[0];
		CHECK_EQ_INT(sm->n_metrics, 3);
		CHECK_EQ_INT(sm->metrics[0]->sum->n_data_points, 1);
		CHECK_EQ_INT(sm->metrics[0]->sum->data_points[0]->as_int, 7);
		CHECK_EQ_INT(sm->metrics[0]->sum->aggregation_temporality,
		             OTLP__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA);
		/* up-down counters stay cumulative whatever the preference */
		CHECK_EQ_INT(sm->metrics[1]->sum->aggregation_temporality,
		             OTLP__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
		otlp__export_metrics_service_request__free_unpacked(req, NULL);
	}
	free(buf);
	otlp_metric_set_free(&set);
	otlp_resource_free(res);
}

TEST(metrics_delta)
{
	struct otlp_metric_set prev, cur;
	otlp_metric_set_init(&prev);
	otlp_metric_set_init(&cur);
	prev.time_ns = 1000;
	cur.time_ns = 2000;
	fill_set(&prev, 12, 1);
	fill_set(&cur, 20, 3);
	struct otlp_attr c[] = {OTLP_STR("route", "trading/c")};
	otlp_metric_int(&cur, &ROUTED, c, 1, 4); /* new series: delta is the whole value */
	otlp_metric_set_delta(&cur, &prev);
	const struct otlp_metric *m = otlp_metric_find(&cur, "fixgw.connections.routed");
	CHECK_EQ_INT(m->points[0].v.i, 8);
	CHECK(m->points[0].start_ns == 1000);
	CHECK_EQ_INT(m->points[1].v.i, 0);
	CHECK_EQ_INT(m->points[2].v.i, 4);
	m = otlp_metric_find(&cur, "fixgw.connections.active");
	CHECK_EQ_INT(m->points[0].v.i, 3); /* up-down: untouched */
	m = otlp_metric_find(&cur, "fixgw.routing.eval.duration");
	CHECK_EQ_INT(m->points[0].count, 32);
	CHECK_EQ_INT(m->points[0].counts[0], 20);

	/* a counter that went down (restart) reports its value, not a negative delta */
	struct otlp_metric_set again;
	otlp_metric_set_init(&again);
	fill_set(&again, 2, 1);
	otlp_metric_set_delta(&again, &prev);
	CHECK_EQ_INT(otlp_metric_find(&again, "fixgw.connections.routed")->points[0].v.i, 2);

	struct otlp_metric_set copy;
	CHECK_EQ_INT(otlp_metric_set_copy(&copy, &cur), 0);
	CHECK_EQ_INT(copy.npoints, cur.npoints);
	CHECK_EQ_STR(otlp_metric_find(&copy, "fixgw.connections.routed")->points[2].vals[0], "trading/c");
	otlp_metric_set_free(&copy);
	otlp_metric_set_free(&again);
	otlp_metric_set_free(&prev);
	otlp_metric_set_free(&cur);
}

TEST(metric_set_is_bounded)
{
	struct otlp_metric_set set;
	otlp_metric_set_init(&set);
	set.max_points = 3;
	for (int i = 0; i < 10; i++)
		otlp_metric_int(&set, &ROUTED, NULL, 0, i);
	CHECK_EQ_INT(set.npoints, 3);
	CHECK_EQ_INT(set.dropped, 7);
	otlp_metric_set_free(&set);
}

TEST(partial_success_and_retry_info)
{
	Otlp__ExportTraceServiceResponse resp = OTLP__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	Otlp__ExportTracePartialSuccess ps = OTLP__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
	ps.rejected_spans = 3;
	ps.error_message = "bad span";
	resp.partial_success = &ps;
	uint8_t buf[256];
	size_t len = otlp__export_trace_service_response__pack(&resp, buf);
	CHECK_EQ_INT(otlp_decode_partial(OTLP_TRACES, buf, len), 3);
	CHECK_EQ_INT(otlp_decode_partial(OTLP_TRACES, NULL, 0), 0);
	CHECK_EQ_INT(otlp_decode_partial(OTLP_LOGS, (const uint8_t *)"\xff\xff\xff", 3), -1);

	/* google.rpc.Status with a RetryInfo of 2.5 s, as a throttling server sends it */
	Otlp__RpcDuration d = OTLP__RPC_DURATION__INIT;
	d.seconds = 2;
	d.nanos = 500000000;
	Otlp__RetryInfo ri = OTLP__RETRY_INFO__INIT;
	ri.retry_delay = &d;
	uint8_t ribuf[64];
	size_t rilen = otlp__retry_info__pack(&ri, ribuf);
	Otlp__RpcAny other = OTLP__RPC_ANY__INIT, any = OTLP__RPC_ANY__INIT;
	other.type_url = "type.googleapis.com/google.rpc.DebugInfo";
	any.type_url = "type.googleapis.com/google.rpc.RetryInfo";
	any.value.len = rilen;
	any.value.data = ribuf;
	Otlp__RpcAny *details[] = {&other, &any};
	Otlp__RpcStatus st = OTLP__RPC_STATUS__INIT;
	st.code = 8;
	st.message = "slow down";
	st.n_details = 2;
	st.details = details;
	len = otlp__rpc_status__pack(&st, buf);
	CHECK_EQ_INT(otlp_status_retry_delay(buf, len), 2500);
	st.n_details = 1;
	len = otlp__rpc_status__pack(&st, buf);
	CHECK_EQ_INT(otlp_status_retry_delay(buf, len), -1);
	CHECK_EQ_INT(otlp_status_retry_delay((const uint8_t *)"\x0a\xff", 2), -1);
}

TEST_MAIN(TEST_ENTRY(resource_attributes), TEST_ENTRY(spans_round_trip),
          TEST_ENTRY(logs_round_trip_and_severities), TEST_ENTRY(records_are_bounded_and_valid_utf8),
          TEST_ENTRY(metrics_round_trip), TEST_ENTRY(metrics_delta), TEST_ENTRY(metric_set_is_bounded),
          TEST_ENTRY(partial_success_and_retry_info))
