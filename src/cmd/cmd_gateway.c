/* cmd_gateway.c - `fixgw gateway --config FILE`. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "gateway/gateway.h"

static void gateway_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: fixgw gateway --config FILE [--kubeconfig PATH] [--otlp-endpoint URL] [--otlp K=V]... "
	    "[--check]\n\n"
	    "Run the FIX gateway. Standalone mode: listeners, limits, TLS, FIXSession manifest paths and\n"
	    "a static endpoint map come from FILE (see docs/reference/gateway-config.md).\n"
	    "Kubernetes mode (--kubeconfig, or a kubernetes section in FILE): listeners, limits and TLS\n"
	    "come from FILE; FIXSessions and the EndpointSlices of their Services from the API server.\n\n"
	    "--kubeconfig PATH  the API server and credentials (in a pod, `kubernetes: {inCluster: true}`\n"
	    "                   in FILE uses the service account instead)\n"
	    "Signals: SIGHUP reloads config, certificates and FIXSessions (a changed file does too);\n"
	    "SIGTERM/SIGINT stop accepting and let sessions drain for shutdownGracePeriod; a second one\n"
	    "closes every connection at once.\n\n"
	    "--otlp-endpoint URL  export traces and metrics over OTLP to this collector (the config's\n"
	    "                   telemetry section and OTEL_* variables set the rest; off without one)\n"
	    "--otlp KEY=VALUE   any telemetry option (docs/reference/gateway-config.md), repeatable;\n"
	    "                   flags win over OTEL_* variables, which win over the file\n\n"
	    "--check  validate without serving (like haproxy -c, nginx -t): the config, the FIXSessions,\n"
	    "         the certificates, and that every listener and the admin address can be bound (so it\n"
	    "         fails next to a running gateway on the same addresses); prints a summary\n\n"
	    "exit status: 0 after a clean shutdown (or a passed check), 2 for an invalid configuration or\n"
	    "FIXSession set, 1 when the system failed (threads, memory)\n");
}

enum { OPT_CONFIG, OPT_KUBECONFIG, OPT_CHECK, OPT_OTLP_ENDPOINT, OPT_OTLP };
static const struct cmd_opt gateway_opts[] = {
    [OPT_CONFIG] = {"--config", "-c", "FILE"},  [OPT_KUBECONFIG] = {"--kubeconfig", NULL, "PATH"},
    [OPT_CHECK] = {"--check", NULL, NULL},      [OPT_OTLP_ENDPOINT] = {"--otlp-endpoint", NULL, "URL"},
    [OPT_OTLP] = {"--otlp", NULL, "KEY=VALUE"},
};

int cmd_gateway(int argc, char **argv)
{
	const char *config = NULL, *val;
	struct gw_config_opts opts = {0};
	bool check = false;
	for (int i = 1; i < argc; i++) {
		switch (cmd_next_opt("gateway", argc, argv, &i, gateway_opts,
		                     sizeof(gateway_opts) / sizeof(gateway_opts[0]), &val)) {
		case CMD_OPT_HELP:
			gateway_usage(stdout);
			return EXIT_OK;
		case CMD_OPT_BAD:
			return EXIT_USAGE;
		case CMD_OPT_ARG:
			return cmd_usage_error("gateway", "unexpected argument '%s'", argv[i]);
		case OPT_CONFIG:
			config = val;
			break;
		case OPT_KUBECONFIG:
			opts.kubeconfig = val;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_OTLP_ENDPOINT:
			opts.otlp_endpoint = val;
			break;
		case OPT_OTLP:
			if (opts.notlp_set == GW_MAX_OTLP_FLAGS)
				return cmd_usage_error("gateway", "at most %d --otlp options",
				                       GW_MAX_OTLP_FLAGS);
			opts.otlp_set[opts.notlp_set++] = val;
			break;
		}
	}
	if (!config)
		return cmd_usage_error("gateway", "--config FILE is required");
	return check ? gateway_check(config, &opts, stdout) : gateway_main(config, &opts);
}
