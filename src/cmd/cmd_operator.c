/* cmd_operator.c - `fixgw operator`: run the leader-elected FIXSession reconciler (src/operator). */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/errors.h"
#include "io/diag_print.h"
#include "k8s/config.h"
#include "k8s/leader.h"
#include "k8s/route_shards.h"
#include "core/k8s_names.h"
#include "operator/op_admin.h"
#include "operator/operator.h"
#include "operator/publish.h"
#include "telemetry/log.h"
#include "telemetry/otlp.h"

static void operator_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: fixgw operator [--kubeconfig PATH] [--lease-namespace NS] [--lease-name NAME] [--id "
	    "ID]\n"
	    "                      [--webhook-port PORT --webhook-cert FILE --webhook-key FILE]\n"
	    "                      [--admin ADDR]\n\n"
	    "Run the fixgw operator: every replica watches FIXSessions (all namespaces), Services and\n"
	    "EndpointSlices; the one holding the Lease validates the whole FIXSession set (conflicts keep\n"
	    "the last-known-good version) and writes each FIXSession's status conditions (Accepted,\n"
	    "Conflict, TargetResolvable, EndpointsReady, Ready) and Warning Events on conflicts.\n"
	    "Logs are JSON lines on standard error. Stops on SIGINT/SIGTERM, releasing the Lease.\n\n"
	    "options:\n"
	    "  --kubeconfig PATH         kubeconfig (default $KUBECONFIG, else the in-cluster service\n"
	    "                            account)\n"
	    "  --service-account-dir D   in-cluster configuration from D instead of " K8S_SA_DIR "\n"
	    "  --lease-namespace NS      the Lease's namespace (default: the configuration's namespace)\n"
	    "  --lease-name NAME         the Lease (default " OP_DEFAULT_LEASE_NAME ")\n"
	    "  --id ID                   this replica's identity (default: the hostname)\n"
	    "  --namespace NS            validate the FIXSessions of this namespace only (default: all)\n"
	    "  --publish-namespace NS    where the validated routing table is published for the gateways\n"
	    "                            (ConfigMaps; default: the Lease's namespace)\n"
	    "  --publish-name NAME       the routing table's index ConfigMap (default " RS_DEFAULT_INDEX ")\n"
	    "  --publish-gc-ms MS        delete shards no index names after this (default %u)\n"
	    "  --lease-ms MS --renew-deadline-ms MS --retry-ms MS\n"
	    "                            election timings (default %u / %u / %u)\n"
	    "  --qps Q --burst B         client-side rate limit of every request (default %.0f / %u)\n"
	    "  --batch-strategy S        debounce: validate the set once it has been quiet for\n"
	    "                            --debounce-ms (a batch apply is validated atomically);\n"
	    "                            per-object: one pass per FIXSession event (default %s)\n"
	    "  --debounce-ms MS          the quiet window (default %u)\n"
	    "  --max-wait-ms MS          debounce: validate at the latest this long after the first\n"
	    "                            pending change (default %u)\n"
	    "  --gateway-service NS/NAME the gateways' Service: their pods (its EndpointSlices) are asked\n"
	    "                            for connection counts, summed into each FIXSession's status,\n"
	    "                            and a target listing a gateway pod's address is\n"
	    "                            TargetResolvable=False, RoutingLoop (without it, neither)\n"
	    "  --gateway-admin-port P    the slices' port of the gateways' admin listener, by name or\n"
	    "                            number (default " CC_DEFAULT_ADMIN_PORT ")\n"
	    "  --gateway-scrape-ms MS --gateway-timeout-ms MS --gateway-expiry-ms MS\n"
	    "                            how often the gateways are asked, the timeout of each request, how\n"
	    "                            long a silent gateway's counts stay (default %u / %u / %u)\n"
	    "  --counts-qps Q --counts-burst B\n"
	    "                            budget of connection-count status writes (default %.0f / %u)\n"
	    "  --webhook-port PORT       serve the validating admission webhook (HTTPS, POST\n"
	    "                            " WEBHOOK_PATH ") on PORT, all interfaces; every replica\n"
	    "                            serves it from its cache, refusing a FIXSession that would\n"
	    "                            conflict (default: off)\n"
	    "  --webhook-cert FILE --webhook-key FILE\n"
	    "                            its certificate chain and key (PEM), re-read when they change\n"
	    "  --admin ADDR              serve GET /healthz (503 when the main loop has made no progress\n"
	    "                            for --admin-stall-ms), /readyz (the caches synced) and /metrics\n"
	    "                            (Prometheus text) on ADDR: host:port, [v6]:port or :port\n"
	    "                            (default: off)\n"
	    "  --admin-stall-ms MS       the /healthz limit above, at least 1000 (default %u)\n"
	    "  --log-level LEVEL         debug, info, warn, error (default info)\n"
	    "  --otlp-endpoint URL       export metrics and logs over OTLP to this collector (also\n"
	    "                            OTEL_EXPORTER_OTLP_ENDPOINT; without either, export is off)\n"
	    "  --otlp KEY=VALUE          any exporter option (docs/internals/otlp-exporter.md),\n"
	    "                            repeatable; the OTEL_* environment applies first, flags win\n"
	    "\nWith an OTLP endpoint the operator also exports its metrics (fixgw.operator.*: reconcile\n"
	    "rounds and duration, status writes, Events, FIXSessions in conflict, leadership) and every log\n"
	    "line as a log record (conflicts CRITICAL), as service fixgw-operator (OTEL_SERVICE_NAME "
	    "wins).\n\n"
	    "Exit status: 0 after a clean stop, 1 the operator could not start, 2 bad usage.\n",
	    OP_DEFAULT_PUBLISH_GC_MS, K8S_LEASE_DURATION_MS, K8S_RENEW_DEADLINE_MS, K8S_RETRY_PERIOD_MS,
	    OP_DEFAULT_QPS, OP_DEFAULT_BURST, op_batch_str(OP_DEFAULT_BATCH), OP_DEFAULT_DEBOUNCE_MS,
	    OP_DEFAULT_MAX_WAIT_MS, CC_DEFAULT_SCRAPE_MS, CC_DEFAULT_TIMEOUT_MS, CC_DEFAULT_EXPIRY_MS,
	    CC_DEFAULT_WRITE_QPS, CC_DEFAULT_WRITE_BURST, OP_STALL_MS);
}

enum {
	OPT_KUBECONFIG,
	OPT_SA_DIR,
	OPT_LEASE_NS,
	OPT_LEASE_NAME,
	OPT_ID,
	OPT_WATCH_NS,
	OPT_PUB_NS,
	OPT_PUB_NAME,
	OPT_PUB_GC_MS,
	OPT_LEASE_MS,
	OPT_RENEW_MS,
	OPT_RETRY_MS,
	OPT_QPS,
	OPT_BURST,
	OPT_LOG_LEVEL,
	OPT_BATCH,
	OPT_DEBOUNCE_MS,
	OPT_MAX_WAIT_MS,
	OPT_GW_SERVICE,
	OPT_GW_PORT,
	OPT_GW_SCRAPE_MS,
	OPT_GW_TIMEOUT_MS,
	OPT_GW_EXPIRY_MS,
	OPT_COUNTS_QPS,
	OPT_COUNTS_BURST,
	OPT_WEBHOOK_PORT,
	OPT_WEBHOOK_CERT,
	OPT_WEBHOOK_KEY,
	OPT_OTLP_ENDPOINT,
	OPT_OTLP,
	OPT_ADMIN,
	OPT_ADMIN_STALL_MS,
};

static const struct cmd_opt op_opts[] = {
    [OPT_KUBECONFIG] = {"--kubeconfig", NULL, "PATH"},
    [OPT_SA_DIR] = {"--service-account-dir", NULL, "DIR"},
    [OPT_LEASE_NS] = {"--lease-namespace", NULL, "NS"},
    [OPT_LEASE_NAME] = {"--lease-name", NULL, "NAME"},
    [OPT_ID] = {"--id", NULL, "ID"},
    [OPT_WATCH_NS] = {"--namespace", NULL, "NS"},
    [OPT_PUB_NS] = {"--publish-namespace", NULL, "NS"},
    [OPT_PUB_NAME] = {"--publish-name", NULL, "NAME"},
    [OPT_PUB_GC_MS] = {"--publish-gc-ms", NULL, "MS"},
    [OPT_LEASE_MS] = {"--lease-ms", NULL, "MS"},
    [OPT_RENEW_MS] = {"--renew-deadline-ms", NULL, "MS"},
    [OPT_RETRY_MS] = {"--retry-ms", NULL, "MS"},
    [OPT_QPS] = {"--qps", NULL, "Q"},
    [OPT_BURST] = {"--burst", NULL, "B"},
    [OPT_LOG_LEVEL] = {"--log-level", NULL, "LEVEL"},
    [OPT_BATCH] = {"--batch-strategy", NULL, "S"},
    [OPT_DEBOUNCE_MS] = {"--debounce-ms", NULL, "MS"},
    [OPT_MAX_WAIT_MS] = {"--max-wait-ms", NULL, "MS"},
    [OPT_GW_SERVICE] = {"--gateway-service", NULL, "NS/NAME"},
    [OPT_GW_PORT] = {"--gateway-admin-port", NULL, "P"},
    [OPT_GW_SCRAPE_MS] = {"--gateway-scrape-ms", NULL, "MS"},
    [OPT_GW_TIMEOUT_MS] = {"--gateway-timeout-ms", NULL, "MS"},
    [OPT_GW_EXPIRY_MS] = {"--gateway-expiry-ms", NULL, "MS"},
    [OPT_COUNTS_QPS] = {"--counts-qps", NULL, "Q"},
    [OPT_COUNTS_BURST] = {"--counts-burst", NULL, "B"},
    [OPT_WEBHOOK_PORT] = {"--webhook-port", NULL, "PORT"},
    [OPT_WEBHOOK_CERT] = {"--webhook-cert", NULL, "FILE"},
    [OPT_WEBHOOK_KEY] = {"--webhook-key", NULL, "FILE"},
    [OPT_OTLP_ENDPOINT] = {"--otlp-endpoint", NULL, "URL"},
    [OPT_OTLP] = {"--otlp", NULL, "KEY=VALUE"},
    [OPT_ADMIN] = {"--admin", NULL, "ADDR"},
    [OPT_ADMIN_STALL_MS] = {"--admin-stall-ms", NULL, "MS"},
};

struct op_args {
	const char *kubeconfig, *sa_dir;
	char gw_ns[254]; /* --gateway-service's namespace (the name points into argv) */
	struct op_opts o;
	struct k8s_client_opts co;
	enum log_level lvl;
	char webhook_listen[16]; /* ":PORT" */
	struct cmd_otlp_flags otlp;
	struct net_addr admin; /* --admin; len 0: no admin listener */
	uint32_t admin_stall_ms;
};

static bool parse_ms(const char *name, const char *v, uint32_t min, uint32_t *out)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (end == v || *end || *v == '-' || n < min || n > 3600000ul) {
		cmd_usage_error("operator", "%s '%s': want milliseconds %u..3600000", name, v, min);
		return false;
	}
	*out = (uint32_t)n;
	return true;
}

/* Returns EXIT_OK to run, -1 after --help, or EXIT_USAGE. */
static int parse_args(int argc, char **argv, struct op_args *a)
{
	*a = (struct op_args){.o = {.lease_name = OP_DEFAULT_LEASE_NAME,
	                            .batch = OP_DEFAULT_BATCH,
	                            .debounce_ms = OP_DEFAULT_DEBOUNCE_MS,
	                            .max_wait_ms = OP_DEFAULT_MAX_WAIT_MS},
	                      .co = {.qps = OP_DEFAULT_QPS, .burst = OP_DEFAULT_BURST},
	                      .lvl = LOG_INFO,
	                      .admin_stall_ms = OP_STALL_MS};
	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		int opt = cmd_next_opt("operator", argc, argv, &i, op_opts,
		                       sizeof(op_opts) / sizeof(op_opts[0]), &v);
		if (opt == CMD_OPT_HELP) {
			operator_usage(stdout);
			return -1;
		}
		if (opt == CMD_OPT_BAD)
			return EXIT_USAGE;
		if (opt == CMD_OPT_ARG)
			return cmd_usage_error("operator", "unexpected argument '%s'", argv[i]);
		char *end;
		switch (opt) {
		case OPT_KUBECONFIG:
			a->kubeconfig = v;
			break;
		case OPT_SA_DIR:
			a->sa_dir = v;
			break;
		case OPT_LEASE_NS:
			a->o.lease_namespace = v;
			break;
		case OPT_LEASE_NAME:
			a->o.lease_name = v;
			break;
		case OPT_ID:
			a->o.identity = v;
			break;
		case OPT_WATCH_NS:
			a->o.watch_namespace = v;
			break;
		case OPT_PUB_NS:
			a->o.publish_namespace = v;
			break;
		case OPT_PUB_NAME:
			a->o.publish_name = v;
			break;
		case OPT_PUB_GC_MS:
			if (!parse_ms(op_opts[opt].name, v, 1, &a->o.publish_gc_ms))
				return EXIT_USAGE;
			break;
		case OPT_LEASE_MS:
			if (!parse_ms(op_opts[opt].name, v, 1000, &a->o.lease_ms))
				return EXIT_USAGE;
			break;
		case OPT_RENEW_MS:
			if (!parse_ms(op_opts[opt].name, v, 1, &a->o.renew_deadline_ms))
				return EXIT_USAGE;
			break;
		case OPT_RETRY_MS:
			if (!parse_ms(op_opts[opt].name, v, 1, &a->o.retry_ms))
				return EXIT_USAGE;
			break;
		case OPT_QPS:
			a->co.qps = strtod(v, &end);
			if (end == v || *end || a->co.qps == 0 || a->co.qps > 100000)
				return cmd_usage_error("operator",
				                       "--qps '%s': want a rate up to 100000 (-1: none)", v);
			break;
		case OPT_BURST: {
			unsigned long b = strtoul(v, &end, 10);
			if (end == v || *end || *v == '-' || b < 1 || b > 100000)
				return cmd_usage_error("operator", "--burst '%s': want 1..100000", v);
			a->co.burst = (unsigned)b;
			break;
		}
		case OPT_BATCH:
			if (!op_batch_parse(v, &a->o.batch))
				return cmd_usage_error(
				    "operator", "--batch-strategy '%s': want debounce or per-object", v);
			break;
		case OPT_DEBOUNCE_MS:
			if (!parse_ms(op_opts[opt].name, v, 1, &a->o.debounce_ms))
				return EXIT_USAGE;
			break;
		case OPT_MAX_WAIT_MS:
			if (!parse_ms(op_opts[opt].name, v, 1, &a->o.max_wait_ms))
				return EXIT_USAGE;
			break;
		case OPT_GW_SERVICE: {
			const char *slash = strchr(v, '/');
			if (!slash || slash == v || !slash[1] || strchr(slash + 1, '/') ||
			    (size_t)(slash - v) >= sizeof(a->gw_ns))
				return cmd_usage_error("operator",
				                       "--gateway-service '%s': want NAMESPACE/NAME", v);
			snprintf(a->gw_ns, sizeof(a->gw_ns), "%.*s", (int)(slash - v), v);
			a->o.counts.gateway_namespace = a->gw_ns;
			a->o.counts.gateway_service = slash + 1;
			break;
		}
		case OPT_GW_PORT: {
			unsigned long n = strtoul(v, &end, 10);
			if (!*v)
				return cmd_usage_error("operator", "--gateway-admin-port must not be empty");
			if (*end)
				a->o.counts.admin_port_name = v;
			else if (*v == '-' || n < 1 || n > 65535)
				return cmd_usage_error(
				    "operator", "--gateway-admin-port '%s': want 1..65535 or a name", v);
			else
				a->o.counts.admin_port = (uint16_t)n;
			break;
		}
		case OPT_GW_SCRAPE_MS:
			if (!parse_ms(op_opts[opt].name, v, 100, &a->o.counts.scrape_ms))
				return EXIT_USAGE;
			break;
		case OPT_GW_TIMEOUT_MS:
			if (!parse_ms(op_opts[opt].name, v, 100, &a->o.counts.timeout_ms))
				return EXIT_USAGE;
			break;
		case OPT_GW_EXPIRY_MS:
			if (!parse_ms(op_opts[opt].name, v, 1000, &a->o.counts.expiry_ms))
				return EXIT_USAGE;
			break;
		case OPT_COUNTS_QPS:
			a->o.counts.write_qps = strtod(v, &end);
			if (end == v || *end || !(a->o.counts.write_qps > 0) || a->o.counts.write_qps > 1000)
				return cmd_usage_error(
				    "operator", "--counts-qps '%s': want a rate above 0, up to 1000", v);
			break;
		case OPT_COUNTS_BURST: {
			unsigned long b = strtoul(v, &end, 10);
			if (end == v || *end || *v == '-' || b < 1 || b > 10000)
				return cmd_usage_error("operator", "--counts-burst '%s': want 1..10000", v);
			a->o.counts.write_burst = (unsigned)b;
			break;
		}
		case OPT_LOG_LEVEL:
			if (!log_level_parse(v, &a->lvl))
				return cmd_usage_error(
				    "operator", "--log-level '%s': want debug, info, warn or error", v);
			break;
		case OPT_WEBHOOK_PORT: {
			unsigned long port = strtoul(v, &end, 10);
			if (end == v || *end || *v == '-' || port < 1 || port > 65535)
				return cmd_usage_error("operator", "--webhook-port '%s': want 1..65535", v);
			snprintf(a->webhook_listen, sizeof(a->webhook_listen), ":%lu", port);
			a->o.webhook.listen = a->webhook_listen;
			break;
		}
		case OPT_WEBHOOK_CERT:
			a->o.webhook.cert_file = v;
			break;
		case OPT_WEBHOOK_KEY:
			a->o.webhook.key_file = v;
			break;
		case OPT_ADMIN:
			if (net_addr_parse(v, &a->admin) != 0)
				return cmd_usage_error(
				    "operator", "--admin '%s': want a numeric host:port, [v6]:port or :port",
				    v);
			break;
		case OPT_ADMIN_STALL_MS:
			if (!parse_ms("--admin-stall-ms", v, 1000, &a->admin_stall_ms))
				return EXIT_USAGE;
			break;
		case OPT_OTLP_ENDPOINT:
		case OPT_OTLP:
			if (cmd_otlp_flag("operator", &a->otlp, op_opts[opt].name, v) != EXIT_OK)
				return EXIT_USAGE;
			break;
		default:
			break;
		}
	}
	if (a->o.webhook.listen && (!a->o.webhook.cert_file || !a->o.webhook.key_file))
		return cmd_usage_error("operator", "--webhook-port needs --webhook-cert and --webhook-key");
	if (!a->o.webhook.listen && (a->o.webhook.cert_file || a->o.webhook.key_file))
		return cmd_usage_error("operator", "--webhook-cert and --webhook-key need --webhook-port");
	if (a->admin_stall_ms != OP_STALL_MS && !a->admin.len)
		return cmd_usage_error("operator", "--admin-stall-ms needs --admin");
	if (a->o.identity && !a->o.identity[0])
		return cmd_usage_error("operator", "--id must not be empty");
	if (!a->o.lease_name[0])
		return cmd_usage_error("operator", "--lease-name must not be empty");
	if (a->o.max_wait_ms < a->o.debounce_ms)
		return cmd_usage_error("operator", "--max-wait-ms %u is shorter than --debounce-ms %u",
		                       a->o.max_wait_ms, a->o.debounce_ms);
	if (a->o.watch_namespace && !k8s_is_dns1123_label(a->o.watch_namespace, strlen(a->o.watch_namespace)))
		return cmd_usage_error("operator", "--namespace '%s': not a namespace name",
		                       a->o.watch_namespace);
	if (a->o.publish_namespace &&
	    !k8s_is_dns1123_label(a->o.publish_namespace, strlen(a->o.publish_namespace)))
		return cmd_usage_error("operator", "--publish-namespace '%s': not a namespace name",
		                       a->o.publish_namespace);
	if (a->o.publish_name && !k8s_is_dns1123_subdomain(a->o.publish_name, strlen(a->o.publish_name)))
		return cmd_usage_error("operator", "--publish-name '%s': not a ConfigMap name",
		                       a->o.publish_name);
	return EXIT_OK;
}

int cmd_operator(int argc, char **argv)
{
	struct op_args a;
	int rc = parse_args(argc, argv, &a);
	if (rc != EXIT_OK)
		return rc < 0 ? EXIT_OK : rc;
	log_configure(a.lvl, 2);
	signal(SIGPIPE, SIG_IGN);
	char host[HOST_NAME_MAX + 1] = "";
	if (!a.o.identity) {
		if (gethostname(host, sizeof(host)) != 0 || !host[0]) {
			fprintf(stderr, "fixgw operator: cannot read the hostname; give --id\n");
			return EXIT_USAGE;
		}
		host[HOST_NAME_MAX] = '\0';
		a.o.identity = host;
	}
	struct k8s_client *c;
	rc = cmd_k8s_client("operator", a.kubeconfig, a.sa_dir, &a.co, &c);
	if (rc != EXIT_OK)
		return rc;
	/* the election's own client and token bucket (client-go's defaults): see op_run */
	struct k8s_client *lc;
	const struct k8s_client_opts lco = {0};
	rc = cmd_k8s_client("operator", a.kubeconfig, a.sa_dir, &lco, &lc);
	if (rc != EXIT_OK) {
		k8s_client_free(c);
		return rc;
	}
	if (!a.o.lease_namespace) {
		const char *ns = k8s_client_namespace(c);
		a.o.lease_namespace = ns && ns[0] ? ns : "default";
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits the mask; op_run waits for them */
	static struct op_metrics metrics;
	static struct op_health health;
	struct otlp_exporter *otlp = NULL;
	struct admin_http *admin = NULL;
	rc = cmd_otlp_start("operator", "fixgw-operator", &a.otlp, &otlp);
	if (rc == EXIT_OK) {
		if (otlp || a.admin.len)
			a.o.metrics = &metrics;
		if (otlp) {
			otlp_exporter_add_collector(otlp, op_metrics_collect, &metrics);
			otlp_log_bridge_start(otlp);
		}
		if (a.admin.len) {
			health.stall_ms = a.admin_stall_ms;
			a.o.health = &health;
			op_health_beat(&health);
			int err = op_admin_start(&health, &metrics, otlp, &a.admin, &admin);
			if (err < 0) {
				log_msg(LOG_ERROR, "operator_start_failed", NULL,
				        "cannot serve the admin port %s: %s", a.admin.text,
				        fixgw_strerror(err));
				rc = EXIT_FAILURE_RESULT;
			}
		}
		if (rc == EXIT_OK)
			rc = op_run(c, lc, &a.o, &set) ? EXIT_FAILURE_RESULT : EXIT_OK;
		admin_http_stop(admin);
		if (otlp) { /* op_run joined the informer and election threads: nothing else logs */
			otlp_log_bridge_stop();
			otlp_exporter_destroy(otlp, 5000);
		}
	}
	k8s_client_free(lc);
	k8s_client_free(c);
	return rc;
}
