/* cmd_reject.c - `fixgw reject-engine`: run the reject engine (src/reject) as a process. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/errors.h"
#include "core/manifest.h"
#include "reject/reject_admin.h"
#include "reject/reject_engine.h"
#include "telemetry/log.h"
#include "telemetry/otlp.h"

#define MAX_LOGON_BYTES_MIN 64u
#define MAX_LOGON_BYTES_MAX (16u * 1024u * 1024u)
#define MAX_CONNECTIONS_MAX 1000000u
#define DURATION_MAX_MS     3600000u /* one hour: anything longer is a typo */
#define OTLP_STOP_MS        5000u    /* at exit, how long queued telemetry may take to go out */

static void reject_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: fixgw reject-engine --listen ADDR [options]\n\n"
	    "A minimal FIX acceptor for connections no FIXSession route claims: it reads the Logon, answers\n"
	    "one Logout (35=5) with the reason in Text (58) and closes. Input that is not a complete Logon\n"
	    "within the limits is closed without an answer and logged (secrets masked).\n\n"
	    "  --listen ADDR           address to listen on: host:port, [v6]:port or :port (required)\n"
	    "  --admin ADDR            serve GET /healthz, /readyz and /metrics (Prometheus text) on this\n"
	    "                          address (same forms as --listen; default: no admin listener)\n"
	    "  --reason TEXT           Text (58) of the Logout, printable ASCII, 1..%u bytes\n"
	    "                          (default \"%s\")\n"
	    "  --max-logon-bytes N     largest Logon read, %u..%u (default %u)\n"
	    "  --logon-timeout D       time from accept to a complete Logon, e.g. 10s, 500ms (default 10s)\n"
	    "  --linger D              after the Logout, wait this long for the peer to close (default 1s)\n"
	    "  --drain-timeout D       on SIGTERM/SIGINT, let in-flight connections finish this long "
	    "(default 5s)\n"
	    "  --max-connections N     connections served at once; more are closed at accept (default %u)\n"
	    "  --mask-tag TAG          show this tag's value as [REDACTED] in logs (repeatable; as a\n"
	    "                          FIXSession's redact: true)\n"
	    "  --hide-tag TAG          leave this tag out of logs entirely (repeatable; as log: false)\n"
	    "  --log-level LEVEL       debug, info, warn, error (default info)\n" CMD_OTLP_HELP "\n"
	    "Logs are JSON lines on standard error. With an OTLP endpoint the engine also exports one span\n"
	    "per connection (fixgw.reject_engine.connection), its metrics (fixgw.reject_engine.*) and every\n"
	    "log line as a log record, as service fixgw-reject-engine (OTEL_SERVICE_NAME wins).\n"
	    "Exit status: 0 after a signal-requested stop, 1 when the engine cannot start (address in use,\n"
	    "...), 2 bad usage.\n",
	    REJECT_REASON_MAX, REJECT_DEFAULT_REASON, MAX_LOGON_BYTES_MIN, MAX_LOGON_BYTES_MAX,
	    REJECT_DEFAULT_MAX_LOGON_BYTES, REJECT_DEFAULT_MAX_CONNECTIONS);
}

static struct reject_engine *volatile running_engine; /* read by the signal handler */

static void on_stop_signal(int sig)
{
	(void)sig;
	if (running_engine)
		reject_engine_stop(running_engine);
}

/* SIGTERM and SIGINT drain the engine; SIGPIPE is ignored (a closed log pipe must not kill us). No
 * SA_RESTART: epoll_wait returns EINTR either way, and the engine is woken through its eventfd. */
static int install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop_signal;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno || v < min || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool parse_duration(const char *s, uint32_t min, uint32_t *out)
{
	uint64_t ms;

	if (manifest_parse_duration_ms(s, strlen(s), &ms) != 0 || ms < min || ms > DURATION_MAX_MS)
		return false;
	*out = (uint32_t)ms;
	return true;
}

#define MAX_POLICY_TAGS 256

/* --mask-tag / --hide-tag collected into one redaction policy (sorted, one rule per tag, hide wins). */
static struct redact_rule policy_rules[MAX_POLICY_TAGS];
static struct redact_policy policy = {policy_rules, 0};

static bool add_policy_tag(const char *val, enum redact_action action)
{
	uint32_t tag;
	if (!parse_u32(val, 1, 999999999u, &tag))
		return false;
	for (size_t i = 0; i < policy.nrules; i++) {
		if (policy_rules[i].tag == tag) {
			if (action > policy_rules[i].action)
				policy_rules[i].action = action;
			return true;
		}
	}
	if (policy.nrules == MAX_POLICY_TAGS)
		return false;
	size_t at = policy.nrules;
	while (at > 0 && policy_rules[at - 1].tag > tag) {
		policy_rules[at] = policy_rules[at - 1];
		at--;
	}
	policy_rules[at] = (struct redact_rule){tag, action};
	policy.nrules++;
	return true;
}

static struct cmd_otlp_flags otlp_flags;
static struct net_addr admin_addr; /* len 0: no admin listener */

/* One option with its value: returns false after printing what is wrong. */
static bool apply_option(const char *opt, const char *val, struct reject_config *cfg, enum log_level *lvl)
{
	if (strncmp(opt, "--otlp", 6) == 0)
		return cmd_otlp_flag("reject-engine", &otlp_flags, opt, val) == EXIT_OK;
	bool ok;
	const char *want;

	if (strcmp(opt, "--listen") == 0 || strcmp(opt, "--admin") == 0) {
		ok = net_addr_parse(val, opt[2] == 'l' ? &cfg->listen : &admin_addr) == 0;
		want = "a numeric host:port, [v6]:port or :port";
	} else if (strcmp(opt, "--reason") == 0) {
		ok = reject_reason_valid(val);
		cfg->reason = val;
		want = "printable ASCII, 1..200 bytes";
	} else if (strcmp(opt, "--max-logon-bytes") == 0) {
		ok = parse_u32(val, MAX_LOGON_BYTES_MIN, MAX_LOGON_BYTES_MAX, &cfg->max_logon_bytes);
		want = "a number of bytes, 64..16777216";
	} else if (strcmp(opt, "--logon-timeout") == 0) {
		ok = parse_duration(val, 1, &cfg->logon_timeout_ms);
		want = "a duration such as 10s or 500ms, at most 1h";
	} else if (strcmp(opt, "--linger") == 0) {
		ok = parse_duration(val, 0, &cfg->linger_ms);
		want = "a duration such as 1s or 0s, at most 1h";
	} else if (strcmp(opt, "--drain-timeout") == 0) {
		ok = parse_duration(val, 0, &cfg->drain_timeout_ms);
		want = "a duration such as 5s, at most 1h";
	} else if (strcmp(opt, "--max-connections") == 0) {
		ok = parse_u32(val, 1, MAX_CONNECTIONS_MAX, &cfg->max_connections);
		want = "a number, 1..1000000";
	} else if (strcmp(opt, "--mask-tag") == 0 || strcmp(opt, "--hide-tag") == 0) {
		ok = add_policy_tag(val, opt[2] == 'm' ? REDACT_MASK : REDACT_HIDE);
		cfg->policy = &policy;
		want = "a tag number 1..999999999 (at most 256 tags)";
	} else if (strcmp(opt, "--log-level") == 0) {
		ok = log_level_parse(val, lvl);
		want = "debug, info, warn or error";
	} else {
		return false; /* not in reject_opts */
	}
	if (!ok)
		cmd_usage_error("reject-engine", "%s '%s': want %s", opt, val, want);
	return ok;
}

static const struct cmd_opt reject_opts[] = {
    {"--listen", NULL, "ADDR"},
    {"--admin", NULL, "ADDR"},
    {"--reason", NULL, "TEXT"},
    {"--max-logon-bytes", NULL, "N"},
    {"--logon-timeout", NULL, "DURATION"},
    {"--linger", NULL, "DURATION"},
    {"--drain-timeout", NULL, "DURATION"},
    {"--max-connections", NULL, "N"},
    {"--mask-tag", NULL, "TAG"},
    {"--hide-tag", NULL, "TAG"},
    {"--log-level", NULL, "LEVEL"},
    {"--otlp-endpoint", NULL, "URL"},
    {"--otlp", NULL, "KEY=VALUE"},
};

/* Returns EXIT_OK to run, or the exit code to return at once (help printed: OK with *done set). */
static int parse_args(int argc, char **argv, struct reject_config *cfg, enum log_level *lvl, bool *done)
{
	const char *val;
	*done = false;
	for (int i = 1; i < argc; i++) {
		int k = cmd_next_opt("reject-engine", argc, argv, &i, reject_opts,
		                     sizeof(reject_opts) / sizeof(reject_opts[0]), &val);
		if (k == CMD_OPT_HELP) {
			reject_usage(stdout);
			*done = true;
			return EXIT_OK;
		}
		if (k == CMD_OPT_BAD)
			return EXIT_USAGE;
		if (k == CMD_OPT_ARG)
			return cmd_usage_error("reject-engine", "unexpected argument '%s'", argv[i]);
		if (!apply_option(reject_opts[k].name, val, cfg, lvl))
			return EXIT_USAGE;
	}
	if (!cfg->listen.len)
		return cmd_usage_error("reject-engine", "--listen ADDR is required");
	if (admin_addr.len && admin_addr.len == cfg->listen.len &&
	    memcmp(&admin_addr.ss, &cfg->listen.ss, admin_addr.len) == 0)
		return cmd_usage_error("reject-engine", "--admin %s: the same address as --listen",
		                       admin_addr.text);
	return EXIT_OK;
}

int cmd_reject(int argc, char **argv)
{
	struct reject_config cfg;
	struct reject_engine *e;
	enum log_level lvl = LOG_INFO;
	bool done;
	int rc;

	reject_config_defaults(&cfg);
	rc = parse_args(argc, argv, &cfg, &lvl, &done);
	if (rc != EXIT_OK || done)
		return rc;
	log_configure(lvl, 2);
	struct otlp_exporter *otlp;
	rc = cmd_otlp_start("reject-engine", "fixgw-reject-engine", &otlp_flags, &otlp);
	if (rc != EXIT_OK)
		return rc;
	cfg.otlp = otlp;

	rc = reject_engine_create(&cfg, &e);
	if (rc < 0) {
		log_msg(LOG_ERROR, "start_failed", NULL, "reject engine cannot listen on %s: %s",
		        cfg.listen.text, fixgw_strerror(rc));
		otlp_exporter_destroy(otlp, OTLP_STOP_MS);
		return EXIT_FAILURE_RESULT;
	}
	if (otlp) {
		otlp_exporter_add_collector(otlp, reject_engine_collect, e);
		otlp_log_bridge_start(otlp);
	}
	struct admin_http *admin = NULL;
	if (admin_addr.len && (rc = reject_admin_start(e, otlp, &admin_addr, &admin)) < 0) {
		log_msg(LOG_ERROR, "start_failed", NULL, "reject engine cannot serve its admin port %s: %s",
		        admin_addr.text, fixgw_strerror(rc));
		goto stop_telemetry;
	}
	running_engine = e;
	if (install_signals() < 0) {
		rc = -errno;
		log_msg(LOG_ERROR, "start_failed", NULL, "cannot install signal handlers: %s",
		        fixgw_strerror(rc));
	} else {
		rc = reject_engine_run(e);
		if (rc < 0)
			log_msg(LOG_ERROR, "run_failed", NULL, "reject engine cannot run: %s",
			        fixgw_strerror(rc));
	}
	running_engine = NULL;
	admin_http_stop(admin);
stop_telemetry:
	if (otlp) { /* the engine's thread has stopped logging; the last metrics still read its counters */
		otlp_log_bridge_stop();
		otlp_exporter_destroy(otlp, OTLP_STOP_MS);
	}
	reject_engine_destroy(e);
	return rc < 0 ? EXIT_FAILURE_RESULT : EXIT_OK;
}
