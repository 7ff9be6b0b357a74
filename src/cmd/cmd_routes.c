/* cmd_routes.c - `fixgw routes check` and `fixgw routes explain`: the routing compiler from the shell. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/diag.h"
#include "core/errors.h"
#include "core/fix_dict.h"
#include "io/manifest_paths.h"
#include "core/redact.h"
#include "core/route_table.h"
#include "io/diag_print.h"

static void routes_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: fixgw routes check PATH...\n"
	    "       fixgw routes explain PATH... [--listener NAME] [--json] < logon.bin\n\n"
	    "PATH is a FIXSession manifest (YAML or JSON, multi-document allowed) or a directory of them.\n\n"
	    "check    validate every manifest and the whole set for conflicts.\n"
	    "         exit status: 0 valid and conflict-free, 1 conflicts (each printed), 2 invalid "
	    "manifests\n"
	    "explain  read a Logon on standard input and say which route wins and why.\n"
	    "         --listener NAME  the listener the connection arrived on; without it, only routes that\n"
	    "                          name no listeners can match\n"
	    "         --json           one JSON object: {decision, route, target, fields, reason}\n"
	    "         decision: ROUTE, DEFAULT_ROUTE, NO_MATCH or PARSE_FAILURE; fields follow the\n"
	    "         FIXSessions' log/redact settings. exit status: 0 explained, 1 conflicts, 2 invalid\n");
}

/* Load and compile; prints diagnostics. Returns EXIT_OK with *out set, or the exit code to use. */
static int load_table(char **paths, int npaths, struct route_table **out, bool quiet_ok)
{
	struct route_set set;
	struct diag_list dl;
	route_set_init(&set);
	diag_list_init(&dl);
	*out = NULL;
	int rc = EXIT_OK;
	int err = manifest_paths_load((const char *const *)paths, (size_t)npaths, &set, &dl);
	if (err == FIXGW_ENOMEM) {
		fprintf(stderr, "fixgw routes: out of memory\n");
		rc = EXIT_USAGE;
	} else if (err) {
		rc = EXIT_USAGE;
	} else {
		size_t n = set.count;
		err = route_table_compile(&set, &dl, out);
		if (err == FIXGW_ECONFLICT)
			rc = EXIT_FAILURE_RESULT;
		else if (err)
			rc = EXIT_USAGE;
		else if (!quiet_ok)
			printf("%zu FIXSession%s valid, no conflicts\n", n, n == 1 ? "" : "s");
	}
	diag_print(&dl, stderr);
	if (rc == EXIT_FAILURE_RESULT)
		fprintf(stderr,
		        "fixgw routes: the set has conflicts; a gateway keeps its last-known-good table\n");
	diag_list_free(&dl);
	route_set_free(&set);
	return rc;
}

/* The Logon's values of every routing tag, per the table's redaction policy. */
static json_t *routing_fields(const struct route_table *t, const struct cmd_logon_input *in)
{
	json_t *fields = json_object();
	size_t ntags;
	const uint32_t *tags = route_table_tags(t, &ntags);
	for (size_t i = 0; i < ntags; i++) {
		struct fix_field f;
		if (fix_scan_find(&in->sc, in->buf, tags[i], &f) == FIX_LOOKUP_ABSENT)
			continue;
		char text[1024], key[16];
		if (redact_value(route_table_policy(t), tags[i], in->buf + f.value_off, f.value_len, text,
		                 sizeof(text)) == REDACT_HIDE)
			continue;
		snprintf(key, sizeof(key), "%u", tags[i]);
		json_object_set_new(fields, key, json_string(text));
	}
	return fields;
}

static void explain_reason(const struct route_eval *ev, const struct cmd_logon_input *in, char *out,
                           size_t cap)
{
	const struct route *r = ev->route;
	switch (ev->decision) {
	case ROUTE_DECISION_MATCH:
		if (route_kind_of(r) == ROUTE_KIND_EXACT)
			snprintf(out, cap, "exact match on %zu field%s (the most specific matching route)",
			         r->nfields, r->nfields == 1 ? "" : "s");
		else
			snprintf(out, cap, "wildcard match at priority %d (no exact route matched)",
			         r->priority);
		break;
	case ROUTE_DECISION_DEFAULT:
		snprintf(out, cap, "default route at priority %d (no exact or wildcard route matched)",
		         r->priority);
		break;
	case ROUTE_DECISION_NO_MATCH:
		snprintf(out, cap, "no route matched and no default route applies to this listener");
		break;
	case ROUTE_DECISION_AMBIGUOUS: {
		const char *name = fix_dict_name(ev->ambiguous_tag);
		snprintf(out, cap, "tag %u%s%s%s occurs twice with different values; refusing to route on it",
		         ev->ambiguous_tag, name ? " (" : "", name ? name : "", name ? ")" : "");
		break;
	}
	}
	(void)in;
}

static json_t *target_json(const struct route *r)
{
	json_t *t = json_object();
	json_object_set_new(t, "namespace", json_string(r->ns));
	json_object_set_new(t, "service", json_string(r->target.service));
	json_object_set_new(
	    t, "port", r->target.port_name ? json_string(r->target.port_name) : json_integer(r->target.port));
	return t;
}

static int explain(const struct route_table *t, const char *listener, bool json)
{
	struct cmd_logon_input in;
	if (cmd_logon_input_read(&in, FIX_SCAN_DEFAULT_MAX_BYTES) < 0)
		return EXIT_USAGE;
	struct route_eval ev = {ROUTE_DECISION_NO_MATCH, NULL, 0};
	char reason[512];
	const char *decision;
	if (in.status != FIX_SCAN_COMPLETE) {
		decision = "PARSE_FAILURE";
		snprintf(reason, sizeof(reason), "%s", cmd_scan_reason(&in));
	} else {
		route_table_eval(t, &in.sc, in.buf, route_table_listener_bit(t, listener), &ev);
		decision = ev.decision == ROUTE_DECISION_AMBIGUOUS ? "PARSE_FAILURE"
		                                                   : route_decision_str(ev.decision);
		explain_reason(&ev, &in, reason, sizeof(reason));
	}
	json_t *o = json_object();
	json_object_set_new(o, "decision", json_string(decision));
	if (ev.route) {
		char full[512];
		snprintf(full, sizeof(full), "%s/%s", ev.route->ns, ev.route->name);
		json_object_set_new(o, "route", json_string(full));
		json_object_set_new(o, "target", target_json(ev.route));
	} else {
		json_object_set_new(o, "route", json_null());
		json_object_set_new(o, "target", json_null());
	}
	json_object_set_new(o, "fields", routing_fields(t, &in));
	json_object_set_new(o, "reason", json_string(reason));
	json_object_set_new(o, "listener", listener ? json_string(listener) : json_null());
	if (json) {
		if (cmd_print_json(o) < 0)
			fprintf(stderr, "fixgw routes explain: out of memory\n");
	} else {
		printf("decision: %s\n", decision);
		if (ev.route)
			printf("route:    %s/%s -> service %s port %s%.0d\n", ev.route->ns, ev.route->name,
			       ev.route->target.service,
			       ev.route->target.port_name ? ev.route->target.port_name : "",
			       ev.route->target.port);
		printf("reason:   %s\n", reason);
		const char *key;
		json_t *val;
		json_object_foreach(json_object_get(o, "fields"), key, val)
		{
			const char *name = fix_dict_name((uint32_t)strtoul(key, NULL, 10));
			char shown[4096];
			printf("field:    %s%s%s = %s\n", key, name ? " " : "", name ? name : "",
			       cmd_text(json_string_value(val), shown, sizeof(shown)));
		}
	}
	json_decref(o);
	cmd_logon_input_free(&in);
	return EXIT_OK;
}

enum { OPT_JSON, OPT_LISTENER };
static const struct cmd_opt explain_opts[] = {
    [OPT_JSON] = {"--json", NULL, NULL},
    [OPT_LISTENER] = {"--listener", NULL, "NAME"},
};

int cmd_routes(int argc, char **argv)
{
	if (argc < 2 || cmd_is_help(argv[1])) {
		routes_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	bool is_check = strcmp(argv[1], "check") == 0, is_explain = strcmp(argv[1], "explain") == 0;
	if (!is_check && !is_explain)
		return cmd_usage_error("routes", "unknown subcommand '%s' (check or explain)", argv[1]);
	const char *cmd = is_check ? "routes check" : "routes explain", *val;
	char **paths = calloc((size_t)argc, sizeof(char *));
	int npaths = 0, rc;
	const char *listener = NULL;
	bool json = false;
	if (!paths)
		return EXIT_USAGE;
	for (int i = 2; i < argc; i++) {
		/* check takes no options: an empty table makes every option unknown */
		switch (cmd_next_opt(cmd, argc, argv, &i, explain_opts, is_explain ? 2 : 0, &val)) {
		case CMD_OPT_HELP:
			routes_usage(stdout);
			rc = EXIT_OK;
			goto out;
		case CMD_OPT_BAD:
			rc = EXIT_USAGE;
			goto out;
		case CMD_OPT_ARG:
			paths[npaths++] = argv[i];
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_LISTENER:
			listener = val;
			break;
		}
	}
	if (npaths == 0) {
		rc = cmd_usage_error(cmd, "at least one PATH is needed");
		goto out;
	}
	struct route_table *t;
	rc = load_table(paths, npaths, &t, is_explain);
	if (rc == EXIT_OK && is_explain)
		rc = explain(t, listener, json);
	route_table_unref(t);
out:
	free(paths);
	return rc;
}
