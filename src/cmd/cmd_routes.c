/* cmd_routes.c - `fixgw routes check` and `fixgw routes explain`: the routing compiler from the shell. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/diag.h"
#include "core/errors.h"
#include "core/fix_dict.h"
#include "core/manifest.h"
#include "core/redact.h"
#include "core/route_table.h"
#include "io/diag_print.h"
#include "io/manifest_paths.h"
#include "k8s/api.h"

static void routes_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: fixgw routes check PATH...\n"
	    "       fixgw routes check --kubeconfig PATH [--namespace NS]\n"
	    "       fixgw routes explain PATH... [--listener NAME] [--json] < logon.bin\n"
	    "       fixgw routes explain --kubeconfig PATH [--namespace NS] [--listener NAME] [--json] "
	    "< logon.bin\n\n"
	    "PATH is a FIXSession manifest (YAML or JSON, multi-document allowed) or a directory of them.\n"
	    "With --kubeconfig, the live FIXSessions of the cluster are read instead (all namespaces, or\n"
	    "only NS with --namespace), as the operator and the gateways see them; the output is the same.\n"
	    "The credentials need list on fixsessions.fixgw.io (cluster-wide without --namespace).\n\n"
	    "check    validate every manifest and the whole set for conflicts.\n"
	    "         exit status: 0 valid and conflict-free, 1 conflicts (each printed), 2 invalid "
	    "manifests\n"
	    "explain  read a Logon on standard input and say which route wins and why.\n"
	    "         --listener NAME  the listener the connection arrived on; without it, only routes that\n"
	    "                          name no listeners can match\n"
	    "         --json           one JSON object: {decision, route, target, fields, reason}\n"
	    "         decision: ROUTE, DEFAULT_ROUTE, NO_MATCH or PARSE_FAILURE; fields follow the\n"
	    "         FIXSessions' log/redact settings. exit status: 0 explained, 1 conflicts, 2 invalid\n"
	    "With --kubeconfig, exit status 2 also when the FIXSessions cannot be listed (the API server is\n"
	    "unreachable, the credentials are refused or lack RBAC permission): the reason is printed.\n");
}

/* Where the FIXSessions come from: files and directories, or the live objects of a cluster. */
struct routes_src {
	char **paths;
	int npaths;
	const char *kubeconfig, *namespace_;
	const char *cmd; /* "routes check" or "routes explain", for messages */
};

struct cluster_load {
	struct manifest_loader *ld;
	int err; /* FIXGW_ENOMEM, FIXGW_EINVAL (an invalid object), or 0 */
};

/* One listed FIXSession into the loader, as the operator and the gateways load it: its
 * k8s_fixsession_text, named "fixsession ns/name" in diagnostics. */
static bool load_item(void *arg, json_t *item)
{
	struct cluster_load *l = arg;
	char key[320], origin[340];
	size_t len = 0;
	if (k8s_object_key(item, key, sizeof(key)) < 0)
		return true;
	snprintf(origin, sizeof(origin), "fixsession %s", key);
	char *text = k8s_fixsession_text(item, &len);
	int rc = text ? manifest_loader_add(l->ld, origin, text, len) : FIXGW_ENOMEM;
	free(text);
	if (rc == FIXGW_ENOMEM) {
		l->err = rc;
		return false;
	}
	if (rc && !l->err)
		l->err = FIXGW_EINVAL;
	return true;
}

/* List the cluster's FIXSessions into set. Returns 0, FIXGW_EINVAL (invalid objects, in dl),
 * FIXGW_ENOMEM, or FIXGW_EIO after printing why the list failed. */
static int load_cluster(const struct routes_src *src, struct route_set *set, struct diag_list *dl)
{
	struct k8s_client *c;
	const struct k8s_client_opts co = {.qps = -1};
	if (cmd_k8s_client(src->cmd, src->kubeconfig, NULL, &co, &c) != EXIT_OK)
		return FIXGW_EIO;
	struct cluster_load l = {0};
	struct k8s_result res = {0};
	int rc = manifest_loader_new(set, dl, &l.ld);
	if (!rc)
		rc = k8s_list(c, &k8s_res_fixsessions, src->namespace_, 0, load_item, &l, &res);
	manifest_loader_free(l.ld);
	const char *where = src->namespace_ ? src->namespace_ : "all namespaces";
	if (rc == FIXGW_EIO || rc == FIXGW_ETIMEOUT)
		fprintf(stderr, "fixgw %s: cannot reach the API server of %s: %s\n", src->cmd,
		        k8s_client_origin(c), res.message);
	else if (rc == K8S_EHTTP && (res.status == 401 || res.status == 403))
		fprintf(stderr,
		        "fixgw %s: the API server refused to list FIXSessions in %s (HTTP %ld%s%s): %s\n"
		        "fixgw %s: the credentials of %s need the verb list on fixsessions.fixgw.io%s\n",
		        src->cmd, where, res.status, res.reason[0] ? " " : "", res.reason, res.message,
		        src->cmd, k8s_client_origin(c),
		        src->namespace_ ? " in that namespace" : " in every namespace");
	else if (rc == K8S_ENOTFOUND)
		fprintf(stderr,
		        "fixgw %s: the API server of %s does not serve fixsessions.fixgw.io/v1alpha1: is the "
		        "FIXSession CRD installed?\n",
		        src->cmd, k8s_client_origin(c));
	else if (rc && rc != FIXGW_ENOMEM)
		fprintf(stderr, "fixgw %s: cannot list FIXSessions in %s from %s: %s (HTTP %ld): %s\n",
		        src->cmd, where, k8s_client_origin(c), k8s_strerror(rc), res.status, res.message);
	k8s_client_free(c);
	if (rc == FIXGW_ENOMEM || l.err == FIXGW_ENOMEM)
		return FIXGW_ENOMEM;
	return rc ? FIXGW_EIO : l.err;
}

/* Load and compile; prints diagnostics. Returns EXIT_OK with *out set, or the exit code to use. */
static int load_table(const struct routes_src *src, struct route_table **out, bool quiet_ok)
{
	struct route_set set;
	struct diag_list dl;
	route_set_init(&set);
	diag_list_init(&dl);
	*out = NULL;
	int rc = EXIT_OK;
	int err = src->kubeconfig
	              ? load_cluster(src, &set, &dl)
	              : manifest_paths_load((const char *const *)src->paths, (size_t)src->npaths, &set, &dl);
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

/* check takes the first two options, explain all four */
enum { OPT_KUBECONFIG, OPT_NAMESPACE, OPT_JSON, OPT_LISTENER };
static const struct cmd_opt routes_opts[] = {
    [OPT_KUBECONFIG] = {"--kubeconfig", NULL, "PATH"},
    [OPT_NAMESPACE] = {"--namespace", "-n", "NS"},
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
	struct routes_src src = {.cmd = is_check ? "routes check" : "routes explain"};
	const char *val, *listener = NULL;
	int rc;
	bool json = false;
	src.paths = calloc((size_t)argc, sizeof(char *));
	if (!src.paths)
		return EXIT_USAGE;
	for (int i = 2; i < argc; i++) {
		switch (cmd_next_opt(src.cmd, argc, argv, &i, routes_opts, is_explain ? 4 : 2, &val)) {
		case CMD_OPT_HELP:
			routes_usage(stdout);
			rc = EXIT_OK;
			goto out;
		case CMD_OPT_BAD:
			rc = EXIT_USAGE;
			goto out;
		case CMD_OPT_ARG:
			src.paths[src.npaths++] = argv[i];
			break;
		case OPT_KUBECONFIG:
			src.kubeconfig = val;
			break;
		case OPT_NAMESPACE:
			src.namespace_ = val;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_LISTENER:
			listener = val;
			break;
		}
	}
	if (src.kubeconfig && src.npaths) {
		rc = cmd_usage_error(src.cmd, "give PATHs or --kubeconfig, not both");
		goto out;
	}
	if (src.namespace_ && !src.kubeconfig) {
		rc = cmd_usage_error(src.cmd, "--namespace needs --kubeconfig");
		goto out;
	}
	if (src.npaths == 0 && !src.kubeconfig) {
		rc = cmd_usage_error(src.cmd, "at least one PATH is needed (or --kubeconfig)");
		goto out;
	}
	struct route_table *t;
	rc = load_table(&src, &t, is_explain);
	if (rc == EXIT_OK && is_explain)
		rc = explain(t, listener, json);
	route_table_unref(t);
out:
	free(src.paths);
	return rc;
}
