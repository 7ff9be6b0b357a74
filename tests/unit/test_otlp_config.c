/* test_otlp_config.c - exporter configuration: defaults, named options, the OTEL_* environment variables
 * (general and per signal), endpoint URLs for both protocols, and errors that never echo a header. */
#include "telemetry/otlp_config.c"

#include "test.h"

/* A fake environment: NULL-terminated pairs set by each test. */
static const char *const *env_pairs;

static const char *fake_env(const char *name)
{
	for (size_t i = 0; env_pairs && env_pairs[i]; i += 2)
		if (!strcmp(env_pairs[i], name))
			return env_pairs[i + 1];
	return NULL;
}

static int load_env(struct otlp_config *c, const char *const *pairs, char *err, size_t errlen)
{
	env_pairs = pairs;
	return otlp_config_from_env(c, fake_env, err, errlen);
}

static const char *url(const struct otlp_config *c, enum otlp_signal s)
{
	static char buf[512];
	if (otlp_config_url(c, s, buf, sizeof(buf)) != 0)
		return "(off)";
	return buf;
}

TEST(off_without_endpoint)
{
	struct otlp_config c;
	char err[160];
	otlp_config_init(&c);
	CHECK(!otlp_config_enabled(&c));
	static const char *const none[] = {"OTEL_SERVICE_NAME", "gw", NULL};
	CHECK_EQ_INT(load_env(&c, none, err, sizeof(err)), 0);
	CHECK(!otlp_config_enabled(&c));
	CHECK_EQ_STR(url(&c, OTLP_TRACES), "(off)");
	CHECK_EQ_INT(c.timeout_ms, 10000);
	CHECK_EQ_INT(c.protocol, OTLP_HTTP_PROTOBUF);
	CHECK_EQ_INT(c.sig[OTLP_TRACES].queue_size, 2048);
	CHECK_EQ_INT(c.sig[OTLP_METRICS].interval_ms, 60000);
	otlp_config_free(&c);
}

TEST(http_urls_from_env)
{
	struct otlp_config c;
	char err[160];
	otlp_config_init(&c);
	static const char *const env[] = {"OTEL_EXPORTER_OTLP_ENDPOINT",
	                                  "http://collector.observability:4318",
	                                  "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
	                                  "https://logs.example:4318/custom/path",
	                                  "OTEL_EXPORTER_OTLP_TIMEOUT",
	                                  "2500",
	                                  "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
	                                  "7000",
	                                  NULL};
	CHECK_EQ_INT(load_env(&c, env, err, sizeof(err)), 0);
	CHECK(otlp_config_enabled(&c));
	CHECK_EQ_STR(url(&c, OTLP_TRACES), "http://collector.observability:4318/v1/traces");
	CHECK_EQ_STR(url(&c, OTLP_METRICS), "http://collector.observability:4318/v1/metrics");
	/* a per-signal endpoint is used as is */
	CHECK_EQ_STR(url(&c, OTLP_LOGS), "https://logs.example:4318/custom/path");
	CHECK_EQ_INT(c.timeout_ms, 2500);
	CHECK_EQ_INT(c.sig[OTLP_METRICS].timeout_ms, 7000);
	otlp_config_free(&c);

	otlp_config_init(&c);
	CHECK_EQ_INT(otlp_config_set(&c, "endpoint", "http://h:4318/base/", err, sizeof(err)), 0);
	CHECK_EQ_STR(url(&c, OTLP_TRACES), "http://h:4318/base/v1/traces");
	otlp_config_free(&c);
}

TEST(grpc_urls)
{
	struct otlp_config c;
	char err[160];
	otlp_config_init(&c);
	/* the Helm chart's form: host:port, protocol grpc, TLS unless insecure */
	static const char *const env[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector.observability:4317",
	                                  "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", NULL};
	CHECK_EQ_INT(load_env(&c, env, err, sizeof(err)), 0);
	CHECK_EQ_STR(url(&c, OTLP_TRACES), "https://otel-collector.observability:4317/"
	                                   "opentelemetry.proto.collector.trace.v1.TraceService/Export");
	CHECK_EQ_INT(otlp_config_set(&c, "insecure", "true", err, sizeof(err)), 0);
	CHECK_EQ_STR(url(&c, OTLP_METRICS), "http://otel-collector.observability:4317/"
	                                    "opentelemetry.proto.collector.metrics.v1.MetricsService/Export");
	/* an explicit scheme decides, and a path is not part of a gRPC target */
	CHECK_EQ_INT(otlp_config_set(&c, "logs.endpoint", "https://other:4317/ignored", err, sizeof(err)), 0);
	CHECK_EQ_STR(url(&c, OTLP_LOGS),
	             "https://other:4317/opentelemetry.proto.collector.logs.v1.LogsService/Export");
	/* per-signal protocol */
	CHECK_EQ_INT(otlp_config_set(&c, "traces.protocol", "http/protobuf", err, sizeof(err)), 0);
	CHECK_EQ_STR(url(&c, OTLP_TRACES), "http://otel-collector.observability:4317/v1/traces");
	CHECK_EQ_INT(otlp_config_set(&c, "endpoint", "ftp://x", err, sizeof(err)), 0);
	CHECK_EQ_STR(url(&c, OTLP_METRICS), "(off)");
	otlp_config_free(&c);
}

TEST(headers_parse_and_stay_secret)
{
	struct otlp_config c;
	char err[160];
	otlp_config_init(&c);
	static const char *const env[] = {"OTEL_EXPORTER_OTLP_HEADERS",
	                                  "Authorization=Bearer%20s3cr3t, x-tenant = acme ,x-tenant=acme2",
	                                  "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-extra=1", NULL};
	CHECK_EQ_INT(load_env(&c, env, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.nheaders, 2);
	CHECK_EQ_STR(c.headers[0].key, "Authorization");
	CHECK_EQ_STR(c.headers[0].value, "Bearer s3cr3t");
	CHECK_EQ_STR(c.headers[1].key, "x-tenant");
	CHECK_EQ_STR(c.headers[1].value, "acme2");
	CHECK_EQ_INT(c.sig[OTLP_TRACES].nheaders, 1);
	otlp_config_free(&c);

	/* a line break smuggled in by percent-encoding, a bad escape, a missing '=': refused, value not shown
	 */
	static const char *const bad[] = {"x=to%0d%0aInjected: pwned%zz", "Authorization=hunter2%2",
	                                  "justakey"};
	for (size_t i = 0; i < 3; i++) {
		otlp_config_init(&c);
		err[0] = '\0';
		CHECK_EQ_INT(otlp_config_set(&c, "headers", bad[i], err, sizeof(err)), FIXGW_EINVAL);
		CHECK(strstr(err, "headers") != NULL);
		CHECK(strstr(err, "pwned") == NULL && strstr(err, "hunter2") == NULL &&
		      strstr(err, "justakey") == NULL);
		otlp_config_free(&c);
	}
	/* the environment variable's name is in the message */
	otlp_config_init(&c);
	static const char *const badenv[] = {"OTEL_EXPORTER_OTLP_HEADERS", "k=v%0a", NULL};
	CHECK_EQ_INT(load_env(&c, badenv, err, sizeof(err)), FIXGW_EINVAL);
	CHECK(strncmp(err, "OTEL_EXPORTER_OTLP_HEADERS:", 27) == 0);
	otlp_config_free(&c);
}

TEST(resource_and_service_name)
{
	struct otlp_config c;
	char err[160];
	otlp_config_init(&c);
	static const char *const env[] = {
	    "OTEL_RESOURCE_ATTRIBUTES",
	    "service.name=from-attrs,k8s.cluster.name=prod%2Deu,deployment.environment=prod", NULL};
	CHECK_EQ_INT(load_env(&c, env, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.service_name, "from-attrs");
	CHECK_EQ_INT(c.nresource, 3);
	CHECK_EQ_STR(c.resource[1].value, "prod-eu");
	otlp_config_free(&c);

	otlp_config_init(&c);
	static const char *const env2[] = {"OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs",
	                                   "OTEL_SERVICE_NAME", "fixgw-reject-engine", NULL};
	CHECK_EQ_INT(load_env(&c, env2, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.service_name, "fixgw-reject-engine");
	CHECK_EQ_INT(otlp_config_set(&c, "resource.k8s.cluster.name", "c1", err, sizeof(err)), 0);
	CHECK_EQ_STR(c.resource[c.nresource - 1].key, "k8s.cluster.name");
	otlp_config_free(&c);
}

TEST(batching_sampling_temporality_and_disable)
{
	struct otlp_config c;
	char err[160];
	otlp_config_init(&c);
	static const char *const env[] = {"OTEL_EXPORTER_OTLP_ENDPOINT",
	                                  "http://c:4318",
	                                  "OTEL_BSP_MAX_QUEUE_SIZE",
	                                  "100",
	                                  "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
	                                  "10",
	                                  "OTEL_BSP_SCHEDULE_DELAY",
	                                  "200",
	                                  "OTEL_BLRP_SCHEDULE_DELAY",
	                                  "300",
	                                  "OTEL_METRIC_EXPORT_INTERVAL",
	                                  "15000",
	                                  "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
	                                  "delta",
	                                  "OTEL_TRACES_SAMPLER_ARG",
	                                  "0.25",
	                                  "OTEL_LOGS_EXPORTER",
	                                  "none",
	                                  NULL};
	CHECK_EQ_INT(load_env(&c, env, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.sig[OTLP_TRACES].queue_size, 100);
	CHECK_EQ_INT(c.sig[OTLP_TRACES].batch_size, 10);
	CHECK_EQ_INT(c.sig[OTLP_TRACES].interval_ms, 200);
	CHECK_EQ_INT(c.sig[OTLP_LOGS].interval_ms, 300);
	CHECK_EQ_INT(c.sig[OTLP_METRICS].interval_ms, 15000);
	CHECK_EQ_INT(c.temporality, OTLP_DELTA);
	CHECK(c.trace_ratio == 0.25);
	CHECK_EQ_STR(url(&c, OTLP_LOGS), "(off)");
	CHECK_EQ_STR(url(&c, OTLP_TRACES), "http://c:4318/v1/traces");
	otlp_config_free(&c);

	otlp_config_init(&c);
	static const char *const off[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_SDK_DISABLED",
	                                  "true", NULL};
	CHECK_EQ_INT(load_env(&c, off, err, sizeof(err)), 0);
	CHECK(!otlp_config_enabled(&c));
	otlp_config_free(&c);
}

TEST(invalid_values)
{
	struct otlp_config c;
	char err[160];
	otlp_config_init(&c);
	CHECK_EQ_INT(otlp_config_set(&c, "protocol", "http/json", err, sizeof(err)), FIXGW_EINVAL);
	CHECK(strstr(err, "protocol") && strstr(err, "http/json"));
	CHECK_EQ_INT(otlp_config_set(&c, "timeout", "0", err, sizeof(err)), FIXGW_EINVAL);
	CHECK_EQ_INT(otlp_config_set(&c, "timeout", "10s", err, sizeof(err)), 0);
	CHECK_EQ_INT(c.timeout_ms, 10000);
	CHECK_EQ_INT(otlp_config_set(&c, "traceRatio", "1.5", err, sizeof(err)), FIXGW_EINVAL);
	CHECK_EQ_INT(otlp_config_set(&c, "traces.queueSize", "1", err, sizeof(err)), FIXGW_EINVAL);
	CHECK_EQ_INT(otlp_config_set(&c, "bogus", "1", err, sizeof(err)), FIXGW_EINVAL);
	CHECK(strstr(err, "unknown"));
	CHECK_EQ_INT(otlp_config_set(&c, "metrics.bogus", "1", err, sizeof(err)), FIXGW_EINVAL);
	static const char *const env[] = {"OTEL_TRACES_EXPORTER", "zipkin", NULL};
	CHECK_EQ_INT(load_env(&c, env, err, sizeof(err)), FIXGW_EINVAL);
	static const char *const env2[] = {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon", NULL};
	CHECK_EQ_INT(load_env(&c, env2, err, sizeof(err)), FIXGW_EINVAL);
	CHECK(strncmp(err, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT:", 34) == 0);
	otlp_config_free(&c);
}

TEST_MAIN(TEST_ENTRY(off_without_endpoint), TEST_ENTRY(http_urls_from_env), TEST_ENTRY(grpc_urls),
          TEST_ENTRY(headers_parse_and_stay_secret), TEST_ENTRY(resource_and_service_name),
          TEST_ENTRY(batching_sampling_temporality_and_disable), TEST_ENTRY(invalid_values))
