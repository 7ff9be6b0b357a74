/* cmd_gateway.c - `fixgw gateway --config FILE`. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "gateway/gateway.h"

static void gateway_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: fixgw gateway --config FILE\n\n"
	    "Run the FIX gateway in standalone mode: listeners, limits, TLS, FIXSession manifest paths and\n"
	    "a static endpoint map come from FILE (see docs/reference/gateway-config.md).\n\n"
	    "Signals: SIGHUP reloads config, certificates and FIXSessions (a changed file does too);\n"
	    "SIGTERM/SIGINT stop accepting and let sessions drain for shutdownGracePeriod; a second one\n"
	    "closes every connection at once.\n"
	    "exit status: 0 after a clean shutdown, 2 for an invalid configuration or FIXSession set\n");
}

enum { OPT_CONFIG };
static const struct cmd_opt gateway_opts[] = {
    [OPT_CONFIG] = {"--config", "-c", "FILE"},
};

int cmd_gateway(int argc, char **argv)
{
	const char *config = NULL, *val;
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
		}
	}
	if (!config)
		return cmd_usage_error("gateway", "--config FILE is required");
	return gateway_main(config);
}
