/* cmd.h - the fixgw subcommands and the few helpers they share. Each subcommand is
 * `int cmd_x(int argc, char **argv)` returning the process exit code; argv[0] is the subcommand's name. */
#ifndef FIXGW_CMD_CMD_H
#define FIXGW_CMD_CMD_H

#include <stddef.h>
#include <stdio.h>

#include "core/fix_scan.h"
#include "k8s/http.h"

/* Exit codes shared by the subcommands. */
enum {
	EXIT_OK = 0,
	EXIT_FAILURE_RESULT = 1, /* the command ran and the answer is "no" (invalid Logon, conflicts) */
	EXIT_USAGE = 2,          /* bad arguments or invalid manifests */
	EXIT_INCOMPLETE = 3,     /* logon parse: input ended before the Logon did */
};

int cmd_gateway(int argc, char **argv);
int cmd_logon(int argc, char **argv);
int cmd_routes(int argc, char **argv);
int cmd_reject(int argc, char **argv);
int cmd_k8s(int argc, char **argv);
int cmd_otlp(int argc, char **argv);
int cmd_operator(int argc, char **argv);

/** Read standard input into a new buffer, at most max bytes (more is not read: the caller sees exactly
 * max + 1 bytes at most, enough to tell "too large"). *out is malloc'd, NUL-terminated; 0 or -1. */
int cmd_read_stdin(size_t max, char **out, size_t *len);

/** A Logon read from standard input and scanned once, for the subcommands that take one. */
struct cmd_logon_input {
	char *buf;
	size_t len;
	struct fix_field fields[FIX_SCAN_DEFAULT_MAX_FIELDS];
	struct fix_scanner sc;
	enum fix_scan_status status;
};

/** Read and scan. Returns 0, or -1 after printing why reading failed. */
int cmd_logon_input_read(struct cmd_logon_input *in, size_t max_bytes);
void cmd_logon_input_free(struct cmd_logon_input *in);

/** "incomplete Logon" or fix_scan_error_str(...) for a scan that did not complete. */
const char *cmd_scan_reason(const struct cmd_logon_input *in);

/** Print o as one compact JSON line on stdout: UTF-8 as UTF-8, every control character escaped
 * (core/text.h). Returns 0, or -1 when out of memory (nothing printed). */
int cmd_print_json(const void *o);

/** A rendered value (core/redact.h) made safe for a terminal: control characters as \xNN. */
const char *cmd_text(const char *rendered, char *out, size_t cap);

/** A Kubernetes client for subcommand cmd: kubeconfig (default $KUBECONFIG), else the in-cluster service
 * account (from sa_dir when given and kubeconfig is NULL). Returns EXIT_OK with *out (free with
 * k8s_client_free), or EXIT_USAGE / EXIT_FAILURE_RESULT after printing why. */
int cmd_k8s_client(const char *cmd, const char *kubeconfig, const char *sa_dir,
                   const struct k8s_client_opts *co, struct k8s_client **out);

/** The --otlp-endpoint / --otlp KEY=VALUE flags of a subcommand that exports OpenTelemetry. */
#define CMD_OTLP_MAX_SETS 32
struct cmd_otlp_flags {
	const char *endpoint;
	const char *set[CMD_OTLP_MAX_SETS];
	size_t nset;
};

/** The help text of those flags, for a subcommand's usage. */
#define CMD_OTLP_HELP                                                                                        \
	"  --otlp-endpoint URL     export traces, metrics and logs over OTLP to this collector (also\n"      \
	"                          OTEL_EXPORTER_OTLP_ENDPOINT; without either, export is off)\n"            \
	"  --otlp KEY=VALUE        any exporter option (docs/internals/otlp-exporter.md), repeatable;\n"     \
	"                          the OTEL_* environment variables apply first, the flags win\n"

/** Collect one --otlp flag (flag is "--otlp-endpoint" or "--otlp"). Returns EXIT_OK or EXIT_USAGE after
 * printing why. */
int cmd_otlp_flag(const char *cmd, struct cmd_otlp_flags *f, const char *flag, const char *val);

struct otlp_exporter;

/** Start the OTLP exporter of subcommand cmd: defaults with serviceName = service, the OTEL_* environment,
 * then the flags. *out stays NULL when no endpoint is set (export off). Returns EXIT_OK, or EXIT_USAGE
 * after printing which option is wrong, or EXIT_FAILURE_RESULT when the exporter cannot start. */
int cmd_otlp_start(const char *cmd, const char *service, const struct cmd_otlp_flags *f,
                   struct otlp_exporter **out);

/** True when arg is -h or --help. */
int cmd_is_help(const char *arg);

/** One option of a subcommand. */
struct cmd_opt {
	const char *name;  /* "--config" */
	const char *alias; /* "-c", or NULL */
	const char *value; /* what its value is, for messages ("FILE"); NULL for a flag without value */
};

enum {
	CMD_OPT_ARG = -1,  /* argv[*i] is not an option: an operand for the caller */
	CMD_OPT_HELP = -2, /* -h or --help */
	CMD_OPT_BAD = -3,  /* unknown option, missing value or a value given to a flag: already printed */
};

/** Read the option at argv[*i] for subcommand cmd ("routes check"): returns its index in opts, with *val
 * set for options that take a value ("--name VALUE" or "--name=VALUE"; *i then points at the last
 * argument used), or one of CMD_OPT_*. A value is missing at the end of the arguments or when the next
 * argument is itself an option ("--..."); write "--name=--x" for such a value. "-" is an operand. */
int cmd_next_opt(const char *cmd, int argc, char **argv, int *i, const struct cmd_opt *opts, size_t nopts,
                 const char **val);

/** Print "fixgw CMD: <message>" and the hint to run --help, on stderr; returns EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
