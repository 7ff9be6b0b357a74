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

int cmd_gateway(int argc, char **argv)
{
	const char *config = NULL;
	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			gateway_usage(stdout);
			return EXIT_OK;
		} else if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc) {
			config = argv[++i];
		} else {
			fprintf(stderr, "fixgw gateway: unknown argument '%s'\n", argv[i]);
			gateway_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!config) {
		gateway_usage(stderr);
		return EXIT_USAGE;
	}
	return gateway_main(config);
}
