/* cmd_k8s.c - `fixgw k8s`: the Kubernetes client (src/k8s) from the command line, for debugging and for
 * the tests that run it against a real API server. Every verb prints JSON lines on standard output and
 * logs JSON lines on standard error. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/errors.h"
#include "k8s/api.h"
#include "k8s/informer.h"
#include "k8s/leader.h"
#include "k8s/ratelimit.h"
#include "telemetry/log.h"
#include "io/diag_print.h"

static void k8s_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: fixgw k8s VERB [options]\n\n"
	    "Talk to the Kubernetes API server with fixgw's own client (the one the gateway and the\n"
	    "operator use).\n\n"
	    "verbs:\n"
	    "  watch   list then watch a resource; prints one JSON line per cache change\n"
	    "          ({\"event\":\"ADDED|UPDATED|DELETED\",\"key\":\"ns/name\",\"rv\":\"...\"}) and\n"
	    "          {\"event\":\"SYNCED\",...} after each complete list; runs until SIGINT/SIGTERM\n"
	    "  get     print one object\n"
	    "  update  read, merge --merge JSON into it, write it back with its resourceVersion as the\n"
	    "          precondition, re-reading and re-applying on 409 Conflict (client-go's\n"
	    "          RetryOnConflict)\n"
	    "  patch   send --merge JSON (merge patch) or --json-patch JSON (RFC 6902)\n"
	    "  event   create an events.k8s.io/v1 Event about an object\n"
	    "  elect   run for leader on the Lease --name in --namespace as --id (client-go's leader\n"
	    "          election); prints STARTED_LEADING, STOPPED_LEADING and NEW_LEADER lines; with\n"
	    "          --write-configmap CM, patches data.holder/data.seq of that ConfigMap every 100 ms\n"
	    "          while the fencing check k8s_leader_is_leader() allows it, printing WROTE lines\n\n"
	    "options:\n"
	    "  --kubeconfig PATH        kubeconfig (default $KUBECONFIG, else the in-cluster service "
	    "account)\n"
	    "  --service-account-dir D  in-cluster configuration with the token, ca.crt and namespace files\n"
	    "                           of D instead of " K8S_SA_DIR "\n"
	    "  --resource PLURAL        fixsessions, services, endpointslices, leases, events, configmaps\n"
	    "  -n, --namespace NS       namespace (watch: default all namespaces)\n"
	    "  --name NAME              the object (get, update, patch, event)\n"
	    "  --label-selector SEL     watch: only matching objects\n"
	    "  --page-size N            watch: list page size (default %u)\n"
	    "  --watch-timeout S        watch: ask for watches of S to 2S seconds (default %u)\n"
	    "  --stall-slack-ms MS      watch: a stream silent for the watch timeout plus this is stalled\n"
	    "                           (default %u)\n"
	    "  --max-event-bytes N      watch: larger events are skipped and the resource relisted\n"
	    "  --objects                watch: include each object in its line\n"
	    "  --merge JSON             update, patch: a JSON merge patch\n"
	    "  --json-patch JSON        patch: an RFC 6902 JSON patch\n"
	    "  --status                 update, patch: write the status subresource\n"
	    "  --resource-version RV    update: use RV as the precondition of the first attempt\n"
	    "  --type T --reason R --action A --note TEXT   event: its fields (type Normal or Warning)\n"
	    "  --id ID                  elect: this candidate's identity\n"
	    "  --lease-ms MS --renew-deadline-ms MS --retry-ms MS   elect: timings (default %u / %u / %u)\n"
	    "  --write-configmap CM     elect: the fenced writer's ConfigMap\n"
	    "  --qps Q --burst B        client-side rate limit (default %.0f / %u; qps -1 = none)\n"
	    "  --log-level LEVEL        debug, info, warn, error (default info)\n\n"
	    "Exit status: 0 success, 1 the API server refused or could not be reached, 2 bad usage.\n",
	    K8S_DEFAULT_PAGE_SIZE, K8S_DEFAULT_WATCH_TIMEOUT_S, K8S_DEFAULT_STALL_SLACK_MS,
	    K8S_LEASE_DURATION_MS, K8S_RENEW_DEADLINE_MS, K8S_RETRY_PERIOD_MS, K8S_DEFAULT_QPS,
	    K8S_DEFAULT_BURST);
}

struct k8s_args {
	const char *verb, *kubeconfig, *resource, *ns, *name, *label_selector, *merge, *json_patch, *rv;
	const char *type, *reason, *action, *note, *id, *configmap, *sa_dir;
	struct k8s_leader_opts lo;
	bool status, objects;
	struct k8s_informer_opts io;
	struct k8s_client_opts co;
	enum log_level lvl;
};

static bool parse_num(const char *s, double min, double max, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

enum {
	OPT_KUBECONFIG,
	OPT_RESOURCE,
	OPT_NAMESPACE,
	OPT_NAME,
	OPT_LABEL_SELECTOR,
	OPT_MERGE,
	OPT_JSON_PATCH,
	OPT_RESOURCE_VERSION,
	OPT_TYPE,
	OPT_REASON,
	OPT_ACTION,
	OPT_NOTE,
	OPT_ID,
	OPT_CONFIGMAP,
	OPT_SA_DIR,
	OPT_STATUS,
	OPT_OBJECTS,
	OPT_PAGE_SIZE,
	OPT_WATCH_TIMEOUT,
	OPT_STALL_SLACK,
	OPT_MAX_EVENT,
	OPT_QPS,
	OPT_BURST,
	OPT_LEASE_MS,
	OPT_RENEW_MS,
	OPT_RETRY_MS,
	OPT_LOG_LEVEL,
};

static const struct cmd_opt k8s_opts[] = {
    [OPT_KUBECONFIG] = {"--kubeconfig", NULL, "PATH"},
    [OPT_RESOURCE] = {"--resource", NULL, "PLURAL"},
    [OPT_NAMESPACE] = {"--namespace", "-n", "NS"},
    [OPT_NAME] = {"--name", NULL, "NAME"},
    [OPT_LABEL_SELECTOR] = {"--label-selector", NULL, "SELECTOR"},
    [OPT_MERGE] = {"--merge", NULL, "JSON"},
    [OPT_JSON_PATCH] = {"--json-patch", NULL, "JSON"},
    [OPT_RESOURCE_VERSION] = {"--resource-version", NULL, "RV"},
    [OPT_TYPE] = {"--type", NULL, "TYPE"},
    [OPT_REASON] = {"--reason", NULL, "REASON"},
    [OPT_ACTION] = {"--action", NULL, "ACTION"},
    [OPT_NOTE] = {"--note", NULL, "TEXT"},
    [OPT_ID] = {"--id", NULL, "ID"},
    [OPT_CONFIGMAP] = {"--write-configmap", NULL, "NAME"},
    [OPT_SA_DIR] = {"--service-account-dir", NULL, "DIR"},
    [OPT_STATUS] = {"--status", NULL, NULL},
    [OPT_OBJECTS] = {"--objects", NULL, NULL},
    [OPT_PAGE_SIZE] = {"--page-size", NULL, "N"},
    [OPT_WATCH_TIMEOUT] = {"--watch-timeout", NULL, "SECONDS"},
    [OPT_STALL_SLACK] = {"--stall-slack-ms", NULL, "MS"},
    [OPT_MAX_EVENT] = {"--max-event-bytes", NULL, "N"},
    [OPT_QPS] = {"--qps", NULL, "Q"},
    [OPT_BURST] = {"--burst", NULL, "B"},
    [OPT_LEASE_MS] = {"--lease-ms", NULL, "MS"},
    [OPT_RENEW_MS] = {"--renew-deadline-ms", NULL, "MS"},
    [OPT_RETRY_MS] = {"--retry-ms", NULL, "MS"},
    [OPT_LOG_LEVEL] = {"--log-level", NULL, "LEVEL"},
};

/* A numeric option into its field; false after printing the error. */
static bool numeric_opt(struct k8s_args *a, int opt, const char *v)
{
	static const struct {
		double min, max;
	} range[OPT_LOG_LEVEL] = {[OPT_PAGE_SIZE] = {1, 100000},    [OPT_WATCH_TIMEOUT] = {1, 3600},
	                          [OPT_STALL_SLACK] = {1, 3600000}, [OPT_MAX_EVENT] = {64, 1 << 30},
	                          [OPT_QPS] = {-1, 100000},         [OPT_BURST] = {1, 100000},
	                          [OPT_LEASE_MS] = {1000, 3600000}, [OPT_RENEW_MS] = {1, 3600000},
	                          [OPT_RETRY_MS] = {1, 3600000}};
	double d;
	if (!parse_num(v, range[opt].min, range[opt].max, &d)) {
		cmd_usage_error("k8s", "%s '%s': want a number %g..%g", k8s_opts[opt].name, v, range[opt].min,
		                range[opt].max);
		return false;
	}
	switch (opt) {
	case OPT_PAGE_SIZE:
		a->io.page_size = (uint32_t)d;
		break;
	case OPT_WATCH_TIMEOUT:
		a->io.watch_timeout_s = (uint32_t)d;
		break;
	case OPT_STALL_SLACK:
		a->io.stall_slack_ms = (uint32_t)d;
		break;
	case OPT_MAX_EVENT:
		a->io.max_event_bytes = (size_t)d;
		break;
	case OPT_QPS:
		a->co.qps = d;
		break;
	case OPT_LEASE_MS:
		a->lo.lease_ms = (uint32_t)d;
		break;
	case OPT_RENEW_MS:
		a->lo.renew_deadline_ms = (uint32_t)d;
		break;
	case OPT_RETRY_MS:
		a->lo.retry_ms = (uint32_t)d;
		break;
	default:
		a->co.burst = (unsigned)d;
	}
	return true;
}

static int parse_args(int argc, char **argv, struct k8s_args *a)
{
	memset(a, 0, sizeof(*a));
	a->lvl = LOG_INFO;
	if (argc < 2 || cmd_is_help(argv[1])) {
		k8s_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : -1;
	}
	a->verb = argv[1];
	const char **strs[OPT_SA_DIR + 1] = {[OPT_KUBECONFIG] = &a->kubeconfig,
	                                     [OPT_RESOURCE] = &a->resource,
	                                     [OPT_NAMESPACE] = &a->ns,
	                                     [OPT_NAME] = &a->name,
	                                     [OPT_LABEL_SELECTOR] = &a->label_selector,
	                                     [OPT_MERGE] = &a->merge,
	                                     [OPT_JSON_PATCH] = &a->json_patch,
	                                     [OPT_RESOURCE_VERSION] = &a->rv,
	                                     [OPT_TYPE] = &a->type,
	                                     [OPT_REASON] = &a->reason,
	                                     [OPT_ACTION] = &a->action,
	                                     [OPT_NOTE] = &a->note,
	                                     [OPT_ID] = &a->id,
	                                     [OPT_CONFIGMAP] = &a->configmap,
	                                     [OPT_SA_DIR] = &a->sa_dir};
	for (int i = 2; i < argc; i++) {
		const char *v = NULL;
		int opt =
		    cmd_next_opt("k8s", argc, argv, &i, k8s_opts, sizeof(k8s_opts) / sizeof(k8s_opts[0]), &v);
		if (opt == CMD_OPT_HELP) {
			k8s_usage(stdout);
			return -1;
		}
		if (opt == CMD_OPT_BAD)
			return EXIT_USAGE;
		if (opt == CMD_OPT_ARG)
			return cmd_usage_error("k8s", "unexpected argument '%s'", argv[i]);
		if (opt <= OPT_SA_DIR)
			*strs[opt] = v;
		else if (opt == OPT_STATUS)
			a->status = true;
		else if (opt == OPT_OBJECTS)
			a->objects = true;
		else if (opt == OPT_LOG_LEVEL && !log_level_parse(v, &a->lvl))
			return cmd_usage_error("k8s", "--log-level '%s': want debug, info, warn or error", v);
		else if (opt != OPT_LOG_LEVEL && !numeric_opt(a, opt, v))
			return EXIT_USAGE;
	}
	if (strcmp(a->verb, "elect") == 0) {
		if (!a->ns || !a->name || !a->id)
			return cmd_usage_error("k8s", "elect: --namespace, --name and --id are required");
		return EXIT_OK;
	}
	if (!a->resource)
		return cmd_usage_error("k8s", "%s: --resource is required", a->verb);
	if (!k8s_resource_by_name(a->resource))
		return cmd_usage_error("k8s", "unknown resource '%s'", a->resource);
	if (strcmp(a->verb, "watch") != 0 && (!a->name || !a->ns))
		return cmd_usage_error("k8s", "%s: --namespace and --name are required", a->verb);
	return EXIT_OK;
}

/* ---- watch ---- */

struct watch_out {
	bool objects;
	struct k8s_informer *inf;
};

static void print_change(struct watch_out *w, const char *event, const char *key, json_t *obj)
{
	json_t *line = json_pack("{s:s, s:s, s:s}", "event", event, "key", key, "rv",
	                         k8s_object_rv(obj) ? k8s_object_rv(obj) : "");
	if (!line)
		return;
	if (w->objects)
		json_object_set(line, "object", obj);
	char *s = json_dumps(line, JSON_COMPACT);
	if (s) {
		printf("%s\n", s);
		fflush(stdout);
		free(s);
	}
	json_decref(line);
}

static void on_add(void *arg, const char *key, void *obj)
{
	print_change(arg, "ADDED", key, obj);
}
static void on_update(void *arg, const char *key, void *old_obj, void *new_obj)
{
	print_change(arg, "UPDATED", key, new_obj);
}
static void on_delete(void *arg, const char *key, void *obj)
{
	print_change(arg, "DELETED", key, obj);
}
static void on_synced(void *arg)
{
	struct watch_out *w = arg;
	struct k8s_informer_stats st;
	k8s_informer_stats(w->inf, &st);
	printf("{\"event\":\"SYNCED\",\"count\":%zu,\"lists\":%llu,\"pages\":%llu,\"rv\":\"%s\"}\n",
	       k8s_informer_count(w->inf), (unsigned long long)st.lists, (unsigned long long)st.pages,
	       st.resource_version);
	fflush(stdout);
}

static int run_watch(struct k8s_client *c, const struct k8s_args *a)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the informer thread inherits the mask; sigwait below */
	struct watch_out w = {.objects = a->objects};
	struct k8s_informer_handlers h = {.arg = &w,
	                                  .on_add = on_add,
	                                  .on_update = on_update,
	                                  .on_delete = on_delete,
	                                  .on_synced = on_synced};
	struct k8s_informer_opts io = a->io;
	io.namespace_ = a->ns;
	io.label_selector = a->label_selector;
	int rc = k8s_informer_new(c, k8s_resource_by_name(a->resource), &io, &h, &w.inf);
	if (rc == 0)
		rc = k8s_informer_start(w.inf);
	if (rc != 0) {
		log_msg(LOG_ERROR, "k8s_watch_failed", NULL, "cannot start the informer: %s",
		        k8s_strerror(rc));
		k8s_informer_free(w.inf);
		return EXIT_FAILURE_RESULT;
	}
	int sig;
	sigwait(&set, &sig);
	k8s_informer_free(w.inf);
	return EXIT_OK;
}

/* ---- elect ---- */

static void print_line(const char *event, const char *key, const char *value)
{
	json_t *line =
	    key ? json_pack("{s:s, s:s}", "event", event, key, value) : json_pack("{s:s}", "event", event);
	char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
	if (s) {
		printf("%s\n", s);
		fflush(stdout);
	}
	free(s);
	json_decref(line);
}

static void on_started_leading(void *arg)
{
	print_line("STARTED_LEADING", "id", arg);
}
static void on_stopped_leading(void *arg)
{
	print_line("STOPPED_LEADING", "id", arg);
}
static void on_new_leader(void *arg, const char *holder)
{
	print_line("NEW_LEADER", "holder", holder);
}

static int run_elect(struct k8s_client *c, const struct k8s_args *a)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct k8s_leader_opts lo = a->lo;
	lo.namespace_ = a->ns;
	lo.name = a->name;
	lo.identity = a->id;
	lo.arg = (void *)a->id;
	lo.on_started_leading = on_started_leading;
	lo.on_stopped_leading = on_stopped_leading;
	lo.on_new_leader = on_new_leader;
	struct k8s_leader *le;
	int rc = k8s_leader_new(c, &lo, &le);
	if (rc != 0)
		return cmd_usage_error("k8s", "elect: %s (lease > renew deadline > retry period)",
		                       k8s_strerror(rc));
	if (k8s_leader_start(le) != 0) {
		k8s_leader_free(le);
		return EXIT_FAILURE_RESULT;
	}
	const struct timespec tick = {.tv_sec = 0, .tv_nsec = 100000000L};
	for (unsigned long seq = 1; sigtimedwait(&set, NULL, &tick) < 0;) {
		/* the fenced writer: ask right before every write, never trust an older answer */
		if (!a->configmap || !k8s_leader_is_leader(le))
			continue;
		char patch[512], num[32];
		snprintf(num, sizeof(num), "%lu", seq);
		snprintf(patch, sizeof(patch), "{\"data\":{\"holder\":\"%.200s\",\"seq\":\"%s\"}}", a->id,
		         num);
		struct k8s_result res;
		if (k8s_patch(c, &k8s_res_configmaps, a->ns, a->configmap, K8S_PATCH_MERGE, patch, false,
		              NULL, &res) == 0) {
			print_line("WROTE", "seq", num);
			seq++;
		}
	}
	k8s_leader_free(le);
	return EXIT_OK;
}

/* ---- one-shot verbs ---- */

static void print_obj(json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT);
	if (s) {
		printf("%s\n", s);
		free(s);
	}
}

static int report(int rc, const struct k8s_result *res, const char *verb)
{
	if (rc == 0)
		return EXIT_OK;
	struct log_line l;
	log_begin(&l, LOG_ERROR, "k8s_request_failed", NULL);
	log_str(&l, "verb", verb);
	log_int(&l, "status", res->status);
	log_str(&l, "reason", res->reason);
	log_end(&l, "%s: %s", k8s_strerror(rc), res->message);
	return EXIT_FAILURE_RESULT;
}

struct merge_arg {
	json_t *patch;
};

static int apply_merge(void *arg, json_t *obj)
{
	struct merge_arg *m = arg;
	return json_object_update_recursive(obj, m->patch) == 0 ? 0 : FIXGW_ENOMEM;
}

static int run_update(struct k8s_client *c, const struct k8s_args *a, const struct k8s_resource *r)
{
	json_error_t jerr;
	struct merge_arg m = {.patch = a->merge ? json_loads(a->merge, 0, &jerr) : NULL};
	if (!json_is_object(m.patch)) {
		fprintf(stderr, "fixgw k8s update: --merge needs a JSON object\n");
		json_decref(m.patch);
		return EXIT_USAGE;
	}
	struct k8s_result res = {0};
	json_t *first = NULL, *out = NULL;
	int rc = 0;
	if (a->rv) {
		/* a deliberately stale first attempt: read, then claim the older resourceVersion */
		rc = k8s_get(c, r, a->ns, a->name, &first, &res);
		if (rc == 0)
			json_object_set_new(json_object_get(first, "metadata"), "resourceVersion",
			                    json_string(a->rv));
	}
	if (rc == 0)
		rc = k8s_retry_on_conflict(c, r, a->ns, a->name, a->status, first, apply_merge, &m, 0, &out,
		                           &res);
	if (rc == 0)
		print_obj(out);
	json_decref(first);
	json_decref(out);
	json_decref(m.patch);
	return report(rc, &res, "update");
}

static int run_verb(struct k8s_client *c, const struct k8s_args *a)
{
	const struct k8s_resource *r = k8s_resource_by_name(a->resource);
	struct k8s_result res = {0};
	json_t *out = NULL;
	int rc;
	if (strcmp(a->verb, "get") == 0) {
		rc = k8s_get(c, r, a->ns, a->name, &out, &res);
	} else if (strcmp(a->verb, "update") == 0) {
		return run_update(c, a, r);
	} else if (strcmp(a->verb, "patch") == 0) {
		if (!a->merge == !a->json_patch) {
			fprintf(stderr, "fixgw k8s patch: give exactly one of --merge and --json-patch\n");
			return EXIT_USAGE;
		}
		rc = k8s_patch(c, r, a->ns, a->name, a->merge ? K8S_PATCH_MERGE : K8S_PATCH_JSON,
		               a->merge ? a->merge : a->json_patch, a->status, &out, &res);
	} else if (strcmp(a->verb, "event") == 0) {
		json_t *obj = NULL;
		rc = k8s_get(c, r, a->ns, a->name, &obj, &res);
		if (rc == 0) {
			json_t *md = json_object_get(obj, "metadata");
			const char *api = json_string_value(json_object_get(obj, "apiVersion"));
			struct k8s_event ev = {.regarding_api_version = api ? api : r->version,
			                       .regarding_kind = r->kind,
			                       .regarding_namespace = a->ns,
			                       .regarding_name = a->name,
			                       .regarding_uid = json_string_value(json_object_get(md, "uid")),
			                       .type = a->type ? a->type : "Normal",
			                       .reason = a->reason ? a->reason : "Test",
			                       .action = a->action ? a->action : "Test",
			                       .note = a->note ? a->note : "",
			                       .reporting_controller = "fixgw.io/cli",
			                       .reporting_instance = "fixgw-k8s-cli"};
			rc = k8s_event_create(c, &ev, &res);
		}
		json_decref(obj);
	} else {
		fprintf(stderr, "fixgw k8s: unknown verb '%s'\n", a->verb);
		return EXIT_USAGE;
	}
	if (rc == 0 && out)
		print_obj(out);
	json_decref(out);
	return report(rc, &res, a->verb);
}

int cmd_k8s(int argc, char **argv)
{
	struct k8s_args a;
	int rc = parse_args(argc, argv, &a);
	if (rc != EXIT_OK)
		return rc < 0 ? EXIT_OK : rc;
	log_configure(a.lvl, 2);
	signal(SIGPIPE, SIG_IGN);
	struct k8s_client *c;
	rc = cmd_k8s_client("k8s", a.kubeconfig, a.sa_dir, &a.co, &c);
	if (rc != EXIT_OK)
		return rc;
	rc = strcmp(a.verb, "watch") == 0   ? run_watch(c, &a)
	     : strcmp(a.verb, "elect") == 0 ? run_elect(c, &a)
	                                    : run_verb(c, &a);
	k8s_client_free(c);
	return rc;
}
