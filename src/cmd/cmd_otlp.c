/* cmd_otlp.c - `fixgw otlp`: check an OpenTelemetry collector connection with the exporter the gateway uses.
 *
 *   selftest  sends one known trace (a connection span and its children), log records of each severity
 *             and one of each metric type, waits for the export, prints what was sent as one JSON line
 *   soak      emits spans and logs as fast as asked for a while and prints the exporter's counters, the
 *             emit call's percentiles (one span + one log record) and the RSS every 100 ms: what an
 *             outage costs the data path
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/errors.h"
#include "core/text.h"
#include "telemetry/otlp.h"

static void otlp_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: fixgw otlp selftest|soak [options]\n\n"
	    "Sends telemetry with fixgw's OTLP exporter. Configuration comes from the OTEL_EXPORTER_OTLP_*,\n"
	    "OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME environment variables, then these options:\n\n"
	    "  --endpoint URL        collector: http://host:4318 (http/protobuf) or host:4317 (grpc)\n"
	    "  --protocol P          grpc or http/protobuf\n"
	    "  --insecure            gRPC without TLS (h2c) when the endpoint has no scheme\n"
	    "  --ca-file FILE        CA bundle that verifies the collector\n"
	    "  --header K=V          request header, e.g. authorization (repeatable; never printed)\n"
	    "  --set KEY=VALUE       any exporter option (see docs/internals/otlp-exporter.md)\n"
	    "  --wait D              selftest: how long to wait for the export (default 30s)\n"
	    "  --duration D          soak: how long to emit (default 5s)\n"
	    "  --rate N              soak: spans per second, 0 = as fast as possible (default 20000)\n\n"
	    "selftest prints {\"trace_id\":...,\"spans\":{name:span_id},\"stats\":{...},\"ok\":bool} and\n"
	    "exits 0 when every record was accepted, 1 otherwise, 2 on bad usage.\n");
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

static void random_bytes(uint8_t *b, size_t n)
{
	static uint64_t s;
	if (!s)
		s = otlp_now_ns() ^ ((uint64_t)getpid() << 32);
	for (size_t i = 0; i < n; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		b[i] = (uint8_t)(s >> 56);
	}
	if (b[0] == 0)
		b[0] = 1; /* an all-zero id is invalid */
}

static void print_stats(FILE *out, const struct otlp_stats *st)
{
	fputc('{', out);
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		const struct otlp_signal_stats *g = &st->sig[s];
		fprintf(out,
		        "%s\"%s\":{\"sent\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"failed\":%" PRIu64
		        ",\"queued\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"retries\":%" PRIu64 "}",
		        s ? "," : "", otlp_signal_name((enum otlp_signal)s), g->sent, g->dropped, g->failed,
		        g->queued, g->requests, g->retries);
	}
	fputc('}', out);
}

/* ---- selftest ---- */

static const struct otlp_metric_desc m_routed = {"fixgw.selftest.connections.routed", "Connections routed",
                                                 "{connection}", OTLP_METRIC_COUNTER};
static const struct otlp_metric_desc m_active = {"fixgw.selftest.connections.active", "Connections open",
                                                 "{connection}", OTLP_METRIC_UPDOWN};
static const struct otlp_metric_desc m_expiry = {
    "fixgw.selftest.certificate.expiry", "Seconds until the certificate expires", "s", OTLP_METRIC_GAUGE};
static const struct otlp_metric_desc m_eval = {"fixgw.selftest.eval.duration", "Rule evaluation time", "s",
                                               OTLP_METRIC_HISTOGRAM};

static void selftest_collect(void *arg, struct otlp_metric_set *set)
{
	(void)arg;
	struct otlp_attr route[] = {OTLP_STR("fixgw.route", "trading/acme")};
	otlp_metric_int(set, &m_routed, route, 1, 3);
	otlp_metric_int(set, &m_active, route, 1, 2);
	otlp_metric_double(set, &m_expiry, NULL, 0, 86400.5);
	static const double bounds[] = {0.0001, 0.001, 0.01};
	static const uint64_t counts[] = {5, 3, 1, 0};
	struct otlp_histogram h = {bounds, 3, counts, 0.0123};
	otlp_metric_histogram(set, &m_eval, route, 1, &h);
}

static int selftest(struct otlp_exporter *e, uint32_t wait_ms)
{
	static const char *const children[] = {"fixgw.tls.handshake", "fixgw.logon.parse", "fixgw.route.eval",
	                                       "fixgw.endpoint.hold", "fixgw.upstream.connect"};
	enum { NCHILD = sizeof(children) / sizeof(children[0]) };
	uint8_t trace[16], root_id[8], child_id[NCHILD][8];
	char hexbuf[33];
	random_bytes(trace, 16);
	random_bytes(root_id, 8);
	uint64_t t0 = otlp_now_ns();
	otlp_exporter_add_collector(e, selftest_collect, NULL);

	for (size_t i = 0; i < NCHILD; i++) {
		random_bytes(child_id[i], 8);
		struct otlp_attr attrs[] = {OTLP_STR("fixgw.listener", "fix-tls"),
		                            OTLP_INT("fixgw.step", (int64_t)i)};
		struct otlp_span s = {.name = children[i],
		                      .kind = i == NCHILD - 1 ? OTLP_SPAN_CLIENT : OTLP_SPAN_INTERNAL,
		                      .start_ns = t0 + i * 1000000,
		                      .end_ns = t0 + (i + 1) * 1000000,
		                      .status = i == 3 ? OTLP_STATUS_ERROR : OTLP_STATUS_UNSET,
		                      .status_message = i == 3 ? "held 1 ms for a ready endpoint" : NULL,
		                      .attrs = attrs,
		                      .nattrs = 2};
		memcpy(s.trace_id, trace, 16);
		memcpy(s.span_id, child_id[i], 8);
		memcpy(s.parent_span_id, root_id, 8);
		otlp_span_emit(e, &s);
	}
	struct otlp_attr rattrs[] = {
	    OTLP_STR("network.peer.address", "192.0.2.7"),
	    OTLP_INT("network.peer.port", 40212),
	    OTLP_INT("server.port", 9876),
	    OTLP_STR("tls.protocol.version", "1.3"),
	    OTLP_STR("fixgw.listener", "fix-tls"),
	    OTLP_STR("fixgw.decision", "ROUTE"),
	    OTLP_STR("fixgw.route", "trading/acme"),
	    OTLP_STR("fix.sender_comp_id", "[REDACTED]"),
	};
	struct otlp_span root = {.name = "fixgw.connection",
	                         .kind = OTLP_SPAN_SERVER,
	                         .start_ns = t0,
	                         .end_ns = t0 + (NCHILD + 1) * 1000000,
	                         .status = OTLP_STATUS_OK,
	                         .attrs = rattrs,
	                         .nattrs = sizeof(rattrs) / sizeof(rattrs[0])};
	memcpy(root.trace_id, trace, 16);
	memcpy(root.span_id, root_id, 8);
	otlp_span_emit(e, &root);

	static const struct {
		enum log_level lvl;
		const char *event, *body;
	} logs[] = {{LOG_INFO, "route_decision", "routed to trading/acme"},
	            {LOG_ERROR, "hold_start", "no ready endpoint; holding the connection"},
	            {LOG_CRITICAL, "hold_timeout", "no ready endpoint within the hold timeout"}};
	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		struct otlp_attr la[] = {OTLP_STR("fixgw.route", "trading/acme")};
		struct otlp_log l = {.time_ns = t0 + i,
		                     .level = logs[i].lvl,
		                     .event = logs[i].event,
		                     .body = logs[i].body,
		                     .attrs = la,
		                     .nattrs = 1};
		memcpy(l.trace_id, trace, 16);
		memcpy(l.span_id, root_id, 8);
		otlp_log_emit(e, &l);
	}
	int rc = otlp_exporter_flush(e, wait_ms);
	struct otlp_stats st;
	otlp_exporter_stats(e, &st);
	bool ok = rc == 0;
	for (int s = 0; s < OTLP_NSIGNALS; s++)
		ok &= st.sig[s].dropped == 0 && st.sig[s].failed == 0 && st.sig[s].queued == 0;
	text_hex(trace, 16, hexbuf);
	printf("{\"trace_id\":\"%s\",\"spans\":{", hexbuf);
	text_hex(root_id, 8, hexbuf);
	printf("\"fixgw.connection\":\"%s\"", hexbuf);
	for (size_t i = 0; i < NCHILD; i++) {
		text_hex(child_id[i], 8, hexbuf);
		printf(",\"%s\":\"%s\"", children[i], hexbuf);
	}
	printf("},\"stats\":");
	print_stats(stdout, &st);
	printf(",\"ok\":%s}\n", ok ? "true" : "false");
	fflush(stdout);
	return ok ? EXIT_OK : EXIT_FAILURE_RESULT;
}

/* ---- soak ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Emit durations in 100 ns steps up to 1 ms, for percentiles; slower ones land in the last bucket. */
#define EMIT_BUCKETS 10001
static uint64_t emit_hist[EMIT_BUCKETS];

static uint64_t emit_percentile_ns(uint64_t total, double q)
{
	uint64_t want = (uint64_t)((double)total * q), seen = 0;
	for (size_t i = 0; i < EMIT_BUCKETS; i++) {
		seen += emit_hist[i];
		if (seen > want)
			return (i + 1) * 100;
	}
	return EMIT_BUCKETS * 100;
}

static int soak(struct otlp_exporter *e, uint32_t duration_ms, uint32_t rate)
{
	uint64_t start = mono_ns(), next_report = start, emitted = 0, accepted = 0, max_emit = 0;
	uint64_t end = start + (uint64_t)duration_ms * 1000000ull;
	uint8_t trace[16], id[8];
	random_bytes(trace, 16);
	struct otlp_attr attrs[] = {OTLP_STR("fixgw.route", "trading/acme"),
	                            OTLP_STR("fixgw.decision", "ROUTE"),
	                            OTLP_STR("network.peer.address", "192.0.2.7")};
	for (;;) {
		uint64_t now = mono_ns();
		if (now >= next_report || now >= end) {
			struct otlp_stats st;
			otlp_exporter_stats(e, &st);
			printf("{\"t_ms\":%" PRIu64 ",\"emitted\":%" PRIu64 ",\"accepted\":%" PRIu64
			       ",\"max_emit_us\":%" PRIu64 ",\"emit_p50_ns\":%" PRIu64
			       ",\"emit_p99_ns\":%" PRIu64 ",\"emit_p999_ns\":%" PRIu64
			       ",\"rss_kib\":%ld,\"stats\":",
			       (now - start) / 1000000, emitted, accepted, max_emit / 1000,
			       emit_percentile_ns(emitted, 0.5), emit_percentile_ns(emitted, 0.99),
			       emit_percentile_ns(emitted, 0.999), rss_kib());
			print_stats(stdout, &st);
			printf("}\n");
			fflush(stdout);
			next_report = now + 100000000ull;
			if (now >= end)
				break;
		}
		if (rate && emitted * 1000000000ull > (now - start) * rate) {
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
			continue;
		}
		random_bytes(id, 8);
		struct otlp_span s = {.name = "fixgw.connection",
		                      .kind = OTLP_SPAN_SERVER,
		                      .start_ns = otlp_now_ns(),
		                      .attrs = attrs,
		                      .nattrs = 3};
		s.end_ns = s.start_ns + 1000;
		memcpy(s.trace_id, trace, 16);
		memcpy(s.span_id, id, 8);
		struct otlp_log l = {.level = LOG_INFO,
		                     .event = "route_decision",
		                     .body = "routed",
		                     .attrs = attrs,
		                     .nattrs = 3};
		uint64_t t = mono_ns();
		accepted += otlp_span_emit(e, &s);
		otlp_log_emit(e, &l);
		t = mono_ns() - t;
		if (t > max_emit)
			max_emit = t;
		emit_hist[t / 100 < EMIT_BUCKETS ? t / 100 : EMIT_BUCKETS - 1]++;
		emitted++;
	}
	return EXIT_OK;
}

/* ---- options ---- */

static int set_or_complain(struct otlp_config *c, const char *key, const char *value)
{
	char err[200];
	if (otlp_config_set(c, key, value, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "fixgw otlp: %s\n", err);
	return -1;
}

static bool parse_duration(const char *s, uint32_t *out)
{
	struct otlp_config tmp;
	char err[64];
	otlp_config_init(&tmp);
	int rc = otlp_config_set(&tmp, "timeout", s, err, sizeof(err));
	*out = tmp.timeout_ms;
	otlp_config_free(&tmp);
	return rc == 0;
}

int cmd_otlp(int argc, char **argv)
{
	if (argc < 2 || cmd_is_help(argv[1])) {
		otlp_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	const char *mode = argv[1];
	if (strcmp(mode, "selftest") != 0 && strcmp(mode, "soak") != 0) {
		fprintf(stderr, "fixgw otlp: unknown mode '%s'\n", mode);
		otlp_usage(stderr);
		return EXIT_USAGE;
	}
	struct otlp_config cfg;
	char err[200];
	int rc = EXIT_USAGE;
	uint32_t wait_ms = 30000, duration_ms = 5000, rate = 20000;
	otlp_config_init(&cfg);
	if (otlp_config_from_env(&cfg, env_get, err, sizeof(err)) < 0) {
		fprintf(stderr, "fixgw otlp: %s\n", err);
		goto free_cfg;
	}
	enum {
		OPT_ENDPOINT,
		OPT_PROTOCOL,
		OPT_CA_FILE,
		OPT_HEADER,
		OPT_SET,
		OPT_WAIT,
		OPT_DURATION,
		OPT_RATE,
		OPT_INSECURE
	};
	static const struct cmd_opt opts[] = {
	    [OPT_ENDPOINT] = {"--endpoint", NULL, "URL"}, [OPT_PROTOCOL] = {"--protocol", NULL, "P"},
	    [OPT_CA_FILE] = {"--ca-file", NULL, "FILE"},  [OPT_HEADER] = {"--header", NULL, "K=V"},
	    [OPT_SET] = {"--set", NULL, "KEY=VALUE"},     [OPT_WAIT] = {"--wait", NULL, "D"},
	    [OPT_DURATION] = {"--duration", NULL, "D"},   [OPT_RATE] = {"--rate", NULL, "N"},
	    [OPT_INSECURE] = {"--insecure", NULL, NULL},
	};
	static const char *const keys[] = {[OPT_ENDPOINT] = "endpoint",
	                                   [OPT_PROTOCOL] = "protocol",
	                                   [OPT_CA_FILE] = "caFile",
	                                   [OPT_HEADER] = "headers"};
	for (int i = 2; i < argc; i++) {
		const char *v = NULL;
		int opt = cmd_next_opt("otlp", argc, argv, &i, opts, sizeof(opts) / sizeof(opts[0]), &v);
		if (opt == CMD_OPT_HELP) {
			otlp_usage(stdout);
			rc = EXIT_OK;
			goto free_cfg;
		}
		if (opt == CMD_OPT_BAD)
			goto free_cfg;
		if (opt == CMD_OPT_ARG) {
			cmd_usage_error("otlp", "unexpected argument '%s'", argv[i]);
			goto free_cfg;
		}
		if (opt <= OPT_HEADER) {
			if (set_or_complain(&cfg, keys[opt], v) < 0)
				goto free_cfg;
		} else if (opt == OPT_INSECURE) {
			if (set_or_complain(&cfg, "insecure", "true") < 0)
				goto free_cfg;
		} else if (opt == OPT_SET) {
			const char *eq = strchr(v, '=');
			char k[64];
			if (!eq || (size_t)(eq - v) >= sizeof(k)) {
				cmd_usage_error("otlp", "--set wants KEY=VALUE");
				goto free_cfg;
			}
			memcpy(k, v, (size_t)(eq - v));
			k[eq - v] = '\0';
			if (set_or_complain(&cfg, k, eq + 1) < 0)
				goto free_cfg;
		} else if (opt == OPT_WAIT || opt == OPT_DURATION) {
			if (!parse_duration(v, opt == OPT_WAIT ? &wait_ms : &duration_ms)) {
				cmd_usage_error("otlp", "%s: invalid duration", opts[opt].name);
				goto free_cfg;
			}
		} else {
			char *end;
			errno = 0;
			unsigned long n = strtoul(v, &end, 10);
			if (!*v || *end || errno || n > 10000000) {
				cmd_usage_error("otlp", "--rate: expected 0..10000000");
				goto free_cfg;
			}
			rate = (uint32_t)n;
		}
	}
	if (!otlp_config_enabled(&cfg)) {
		fprintf(stderr, "fixgw otlp: no endpoint: give --endpoint or OTEL_EXPORTER_OTLP_ENDPOINT\n");
		goto free_cfg;
	}
	signal(SIGPIPE, SIG_IGN);
	struct otlp_exporter *e;
	if (otlp_exporter_create(&cfg, &e) < 0) {
		fprintf(stderr, "fixgw otlp: cannot start the exporter (check the endpoint URL)\n");
		rc = EXIT_FAILURE_RESULT;
		goto free_cfg;
	}
	rc = !strcmp(mode, "selftest") ? selftest(e, wait_ms) : soak(e, duration_ms, rate);
	otlp_exporter_destroy(e, !strcmp(mode, "selftest") ? wait_ms : 2000);
free_cfg:
	otlp_config_free(&cfg);
	return rc;
}
