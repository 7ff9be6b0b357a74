/* main.c - `fixgw <command>`: dispatch only. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

static int cmd_version(int argc, char **argv)
{
	if (argc > 1 && cmd_is_help(argv[1])) {
		printf("usage: fixgw version\n\nPrints the version.\n");
		return EXIT_OK;
	}
	if (argc > 1)
		return cmd_usage_error("version", "unexpected argument '%s'", argv[1]);
	printf("fixgw %s\n", FIXGW_VERSION);
	return EXIT_OK;
}

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {"gateway", cmd_gateway, "run the gateway (standalone mode): `fixgw gateway --config FILE`"},
    {"logon", cmd_logon, "inspect a FIX Logon: `fixgw logon parse [--json]` reads one on stdin"},
    {"routes", cmd_routes, "check FIXSession manifests and explain routing decisions"},
    {"reject-engine", cmd_reject, "answer unmatched Logons with a FIX Logout (the default reject engine)"},
    {"k8s", cmd_k8s, "talk to the Kubernetes API server with fixgw's client (watch, get, update, ...)"},
    {"operator", cmd_operator, "run the operator: leader-elected FIXSession validation and status"},
    {"otlp", cmd_otlp, "check an OpenTelemetry collector: `fixgw otlp selftest --endpoint URL`"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: fixgw <command> [args]\n\n"
	        "fixgw is a FIX-aware Layer-4 gateway: it reads a counterparty's Logon, picks a route from\n"
	        "FIXSession rules and pipes the connection to the matching engine.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun `fixgw <command> --help` for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (cmd_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "fixgw: unknown %s '%s'\n\n", argv[1][0] == '-' ? "option" : "command", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
