/* cmd_util.c - helpers shared by the subcommands. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"

#include <jansson.h>

#include "core/errors.h"
#include "core/text.h"
#include "io/diag_print.h"
#include "k8s/config.h"
#include "telemetry/otlp.h"

int cmd_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cmd_print_json(const void *o)
{
	char *raw = json_dumps((const json_t *)o, JSON_COMPACT), *safe = raw ? text_json_harden(raw) : NULL;
	free(raw);
	if (!safe)
		return -1;
	puts(safe);
	free(safe);
	return 0;
}

const char *cmd_text(const char *rendered, char *out, size_t cap)
{
	text_escape_controls(out, cap, rendered, strlen(rendered));
	return out;
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "fixgw %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'fixgw %s --help' for usage.\n", cmd);
	return EXIT_USAGE;
}

int cmd_next_opt(const char *cmd, int argc, char **argv, int *i, const struct cmd_opt *opts, size_t nopts,
                 const char **val)
{
	const char *arg = argv[*i];
	*val = NULL;
	if (cmd_is_help(arg))
		return CMD_OPT_HELP;
	if (arg[0] != '-' || arg[1] == '\0')
		return CMD_OPT_ARG;
	const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	for (size_t k = 0; k < nopts; k++) {
		const struct cmd_opt *o = &opts[k];
		bool is_name = strlen(o->name) == len && strncmp(arg, o->name, len) == 0;
		bool is_alias = !eq && o->alias && strcmp(arg, o->alias) == 0;
		if (!is_name && !is_alias)
			continue;
		if (!o->value) {
			if (eq)
				return cmd_usage_error(cmd, "option '%s' takes no value", o->name),
				       CMD_OPT_BAD;
			return (int)k;
		}
		if (eq && eq[1]) {
			*val = eq + 1;
		} else if (!eq && *i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
			*val = argv[++*i];
		} else {
			return cmd_usage_error(cmd, "option '%s' needs a value (%s)", o->name, o->value),
			       CMD_OPT_BAD;
		}
		return (int)k;
	}
	return cmd_usage_error(cmd, "unknown option '%.*s'", (int)len, arg), CMD_OPT_BAD;
}

int cmd_read_stdin(size_t max, char **out, size_t *len)
{
	size_t cap = max + 2, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -1;
	while (n < max + 1) {
		ssize_t r = read(STDIN_FILENO, buf + n, max + 1 - n);
		if (r == 0)
			break;
		if (r < 0) {
			free(buf);
			return -1;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int cmd_logon_input_read(struct cmd_logon_input *in, size_t max_bytes)
{
	memset(in, 0, sizeof(*in));
	if (cmd_read_stdin(max_bytes, &in->buf, &in->len) < 0) {
		perror("fixgw: reading standard input");
		return -1;
	}
	fix_scan_init(&in->sc, in->fields, FIX_SCAN_DEFAULT_MAX_FIELDS, max_bytes);
	in->status = fix_scan_step(&in->sc, in->buf, in->len);
	return 0;
}

void cmd_logon_input_free(struct cmd_logon_input *in)
{
	free(in->buf);
	in->buf = NULL;
}

const char *cmd_scan_reason(const struct cmd_logon_input *in)
{
	if (in->status == FIX_SCAN_NEED_MORE)
		return in->len ? "incomplete Logon: input ended before the CheckSum (10=) field"
		               : "empty input";
	return fix_scan_error_str(in->sc.error);
}

int cmd_k8s_client(const char *cmd, const char *kubeconfig, const char *sa_dir,
                   const struct k8s_client_opts *co, struct k8s_client **out)
{
	struct k8s_config cfg;
	struct diag_list dl;
	diag_list_init(&dl);
	int rc = sa_dir && !kubeconfig ? k8s_config_load_incluster(sa_dir, &cfg, &dl)
	                               : k8s_config_load_default(kubeconfig, &cfg, &dl);
	if (rc != 0) {
		diag_print(&dl, stderr);
		diag_list_free(&dl);
		return EXIT_USAGE;
	}
	diag_list_free(&dl);
	char err[256];
	rc = k8s_client_new(&cfg, co, out, err, sizeof(err));
	if (rc != 0) {
		k8s_config_free(&cfg);
		fprintf(stderr, "fixgw %s: %s\n", cmd, rc == FIXGW_ENOMEM ? "out of memory" : err);
		return EXIT_FAILURE_RESULT;
	}
	return EXIT_OK;
}

int cmd_otlp_flag(const char *cmd, struct cmd_otlp_flags *f, const char *flag, const char *val)
{
	if (strcmp(flag, "--otlp-endpoint") == 0) {
		f->endpoint = val;
		return EXIT_OK;
	}
	if (!strchr(val, '='))
		return cmd_usage_error(cmd, "--otlp expects KEY=VALUE");
	if (f->nset == CMD_OTLP_MAX_SETS)
		return cmd_usage_error(cmd, "at most %d --otlp options", CMD_OTLP_MAX_SETS);
	f->set[f->nset++] = val;
	return EXIT_OK;
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

int cmd_otlp_start(const char *cmd, const char *service, const struct cmd_otlp_flags *f,
                   struct otlp_exporter **out)
{
	struct otlp_config c;
	char err[256], key[128];
	int rc = EXIT_USAGE;
	*out = NULL;
	otlp_config_init(&c);
	otlp_config_set(&c, "serviceName", service, err, sizeof(err));
	if (otlp_config_from_env(&c, env_get, err, sizeof(err)) != 0) {
		fprintf(stderr, "fixgw %s: environment: %s\n", cmd, err);
		goto free_config;
	}
	for (size_t i = 0; i < f->nset; i++) {
		const char *eq = strchr(f->set[i], '=');
		snprintf(key, sizeof(key), "%.*s", (int)(eq - f->set[i]), f->set[i]);
		if (otlp_config_set(&c, key, eq + 1, err, sizeof(err)) != 0) {
			fprintf(stderr, "fixgw %s: --otlp: %s\n", cmd, err);
			goto free_config;
		}
	}
	if (f->endpoint && otlp_config_set(&c, "endpoint", f->endpoint, err, sizeof(err)) != 0) {
		fprintf(stderr, "fixgw %s: --otlp-endpoint: %s\n", cmd, err);
		goto free_config;
	}
	rc = EXIT_OK;
	if (otlp_config_enabled(&c)) {
		int e = otlp_exporter_create(&c, out);
		if (e < 0) {
			fprintf(stderr, "fixgw %s: cannot start the OTLP exporter: %s\n", cmd,
			        fixgw_strerror(e));
			rc = EXIT_FAILURE_RESULT;
		}
	}
free_config:
	otlp_config_free(&c);
	return rc;
}
