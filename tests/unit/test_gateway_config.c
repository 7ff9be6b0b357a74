/* Unit tests for src/gateway/config.c: every field round-trips, defaults, each class of error with its
 * line and key path (several in one file), relative paths, listeners, endpoints, missing files, and the
 * sample config in deploy/standalone. */
#include "gateway/config.c"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "io/manifest_paths.h"
#include "test.h"
#include "io/diag_print.h"

/* A scratch directory per process, so tests can write configs next to relative files. */
static char scratch_dir[256];

static const char *scratch(void)
{
	if (!scratch_dir[0]) {
		snprintf(scratch_dir, sizeof(scratch_dir), "/tmp/fixgw-config-test.XXXXXX");
		if (!mkdtemp(scratch_dir))
			abort();
	}
	return scratch_dir;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

/* Write text as <scratch>/fixgw.yaml and load it. */
static int load_text(const char *text, struct gw_config **c, struct diag_list *dl)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/fixgw.yaml", scratch());
	write_text(path, text);
	diag_list_init(dl);
	return gw_config_load(path, c, dl);
}

/* Whether dl holds an error at line (0: any) whose path is path (NULL: any) and whose message has text. */
static bool has_error(const struct diag_list *dl, unsigned line, const char *path, const char *text)
{
	for (size_t i = 0; i < dl->count; i++) {
		const struct diag *d = &dl->items[i];
		if (d->severity != DIAG_ERROR || (line && d->line != line))
			continue;
		if (path && (!d->path || strcmp(d->path, path) != 0))
			continue;
		if (strstr(d->message, text))
			return true;
	}
	return false;
}

static void dump(const struct diag_list *dl)
{
	diag_print(dl, stderr);
}

#define MINIMAL "listeners:\n  - {name: fix, address: 127.0.0.1:9877}\n"

/* Load text expecting FIXGW_EINVAL and one error at line with path and text. */
static void expect_error(const char *text, unsigned line, const char *path, const char *msg)
{
	struct gw_config *c = (struct gw_config *)1;
	struct diag_list dl;
	int rc = load_text(text, &c, &dl);
	CHECK_EQ_INT(rc, FIXGW_EINVAL);
	CHECK(c == NULL);
	if (!has_error(&dl, line, path, msg)) {
		fprintf(stderr, "  wanted line %u %s: %s\n  got:\n", line, path ? path : "*", msg);
		dump(&dl);
		CHECK(!"expected error");
	}
	diag_list_free(&dl);
}

static const char full_config[] =
    "workers: 4\n"
    "listeners:\n"
    "  - name: fix-plain\n"
    "    address: 127.0.0.1:9877\n"
    "    tls: {enabled: false}\n"
    "  - name: fix-tls\n"
    "    address: \"[::1]:9876\"\n"
    "    tls:\n"
    "      enabled: true\n"
    "      certFile: certs/server.crt\n"
    "      keyFile: /etc/fixgw/server.key\n"
    "      minVersion: \"1.3\"\n"
    "      ciphers: \"ECDHE+AESGCM\"\n"
    "      ciphersuites: \"TLS_AES_128_GCM_SHA256\"\n"
    "      sni:\n"
    "        - {serverName: fix.example.com, certFile: certs/fix.crt, keyFile: certs/fix.key}\n"
    "        - {serverName: \"*.example.org\", certFile: ./certs/org.crt, keyFile: certs/org.key}\n"
    "      clientCAFile: certs/ca.crt\n"
    "      requireClientCert: true\n"
    "admin: {address: 127.0.0.1:9090}\n"
    "logonTimeout: 5s\n"
    "maxLogonBytes: 4096\n"
    "connectTimeout: 250ms\n"
    "idleTimeout: 1h\n"
    "holdTimeout: 1m30s\n"
    "maxHeldConnectionsPerPod: 0\n"
    "holdReleaseRate: 100\n"
    "maxConnections: 50000\n"
    "shutdownGracePeriod: 0\n"
    "logLevel: debug\n"
    "tuning: {tcpNoDelay: false, reusePort: false, busyPollMicros: 50, pinWorkers: true}\n"
    "rejectEngine: {enabled: true, address: 127.0.0.1:9881}\n"
    "routes: [../crds, /abs/routes.yaml]\n"
    "endpoints:\n"
    "  trading/zeta-svc:9880:\n"
    "    - {address: 127.0.0.1:19880}\n"
    "    - {address: 127.0.0.1:19881, ready: false}\n"
    "  trading/alpha-svc:fix:\n"
    "    - address: \"[::1]:19882\"\n"
    "      ready: true\n"
    "  trading/empty-svc:9880: []\n";

static char *joined(const char *rel)
{
	static char buf[4][512];
	static int next;
	char *out = buf[next++ % 4];
	snprintf(out, sizeof(buf[0]), "%s/%s", scratch(), rel);
	return out;
}

TEST(full_round_trip)
{
	struct gw_config *c = NULL;
	struct diag_list dl;
	int rc = load_text(full_config, &c, &dl);
	CHECK_EQ_INT(rc, 0);
	if (rc) {
		dump(&dl);
		diag_list_free(&dl);
		return;
	}
	CHECK_EQ_INT(dl.count, 0);
	CHECK_EQ_STR(c->path, joined("fixgw.yaml"));
	CHECK_EQ_INT(c->workers, 4);
	CHECK_EQ_INT(c->nlisteners, 2);
	CHECK_EQ_STR(c->listeners[0].name, "fix-plain");
	CHECK_EQ_STR(c->listeners[0].addr.text, "127.0.0.1:9877");
	CHECK(!c->listeners[0].tls.enabled);
	CHECK_EQ_INT(c->listeners[0].tls.ncerts, 0);
	CHECK_EQ_INT(c->listeners[0].tls.min_version, TLS1_2_VERSION);

	const struct gw_listener_config *l = &c->listeners[1];
	const struct tls_config *t = &l->tls;
	CHECK_EQ_STR(l->name, "fix-tls");
	CHECK_EQ_STR(l->addr.text, "[::1]:9876");
	CHECK(t->enabled);
	CHECK_EQ_INT(t->ncerts, 3);
	CHECK(t->certs[0].server_name == NULL);
	CHECK_EQ_STR(t->certs[0].cert_file, joined("certs/server.crt"));
	CHECK_EQ_STR(t->certs[0].key_file, "/etc/fixgw/server.key");
	CHECK_EQ_INT(t->min_version, TLS1_3_VERSION);
	CHECK_EQ_STR(t->ciphers, "ECDHE+AESGCM");
	CHECK_EQ_STR(t->ciphersuites, "TLS_AES_128_GCM_SHA256");
	CHECK_EQ_STR(t->certs[1].server_name, "fix.example.com");
	CHECK_EQ_STR(t->certs[1].cert_file, joined("certs/fix.crt"));
	CHECK_EQ_STR(t->certs[1].key_file, joined("certs/fix.key"));
	CHECK_EQ_STR(t->certs[2].server_name, "*.example.org");
	CHECK_EQ_STR(t->certs[2].cert_file, joined("certs/org.crt"));
	CHECK_EQ_STR(t->client_ca_file, joined("certs/ca.crt"));
	CHECK(t->require_client_cert);

	CHECK_EQ_STR(c->admin_addr.text, "127.0.0.1:9090");
	CHECK_EQ_INT(c->logon_timeout_ms, 5000);
	CHECK_EQ_INT(c->max_logon_bytes, 4096);
	CHECK_EQ_INT(c->connect_timeout_ms, 250);
	CHECK_EQ_INT(c->idle_timeout_ms, 3600000);
	CHECK_EQ_INT(c->hold_timeout_ms, 90000);
	CHECK_EQ_INT(c->max_held_per_process, 0);
	CHECK_EQ_INT(c->hold_release_per_sec, 100);
	CHECK_EQ_INT(c->max_connections, 50000);
	CHECK_EQ_INT(c->shutdown_grace_ms, 0);
	CHECK_EQ_STR(c->log_level, "debug");
	CHECK(!c->tuning.tcp_nodelay);
	CHECK(!c->tuning.reuse_port);
	CHECK_EQ_INT(c->tuning.busy_poll_us, 50);
	CHECK(c->tuning.pin_workers);
	CHECK(c->reject_enabled);
	CHECK_EQ_STR(c->reject_addr.text, "127.0.0.1:9881");
	CHECK_EQ_INT(c->nroute_paths, 2);
	CHECK_EQ_STR(c->route_paths[0], joined("../crds"));
	CHECK_EQ_STR(c->route_paths[1], "/abs/routes.yaml");

	/* Services come out sorted by key, whatever the file's order. */
	CHECK_EQ_INT(c->nservices, 3);
	CHECK_EQ_STR(c->services[0].key, "trading/alpha-svc:fix");
	CHECK_EQ_STR(c->services[1].key, "trading/empty-svc:9880");
	CHECK_EQ_STR(c->services[2].key, "trading/zeta-svc:9880");
	const struct gw_service_endpoints *s = gw_config_service(c, "trading/zeta-svc:9880");
	CHECK(s != NULL);
	if (s) {
		CHECK_EQ_INT(s->count, 2);
		CHECK_EQ_STR(s->items[0].addr.text, "127.0.0.1:19880");
		CHECK(s->items[0].ready);
		CHECK_EQ_STR(s->items[1].addr.text, "127.0.0.1:19881");
		CHECK(!s->items[1].ready);
	}
	s = gw_config_service(c, "trading/alpha-svc:fix");
	CHECK(s && s->count == 1 && s->items[0].ready && !strcmp(s->items[0].addr.text, "[::1]:19882"));
	s = gw_config_service(c, "trading/empty-svc:9880");
	CHECK(s && s->count == 0);
	CHECK(gw_config_service(c, "trading/missing:9880") == NULL);
	CHECK(gw_config_service(c, NULL) == NULL);
	CHECK(gw_config_service(NULL, "trading/zeta-svc:9880") == NULL);
	gw_config_free(c);
	diag_list_free(&dl);
}

TEST(defaults)
{
	struct gw_config *c = NULL;
	struct diag_list dl;
	int rc = load_text(MINIMAL, &c, &dl);
	CHECK_EQ_INT(rc, 0);
	if (rc) {
		dump(&dl);
		diag_list_free(&dl);
		return;
	}
	CHECK_EQ_INT(c->workers, online_cpus());
	CHECK(c->workers >= 1 && c->workers <= 64);
	CHECK_EQ_INT(c->nlisteners, 1);
	CHECK(!c->listeners[0].tls.enabled);
	CHECK_EQ_INT(c->listeners[0].tls.min_version, TLS1_2_VERSION);
	CHECK_EQ_INT(c->admin_addr.len, 0);
	CHECK_EQ_INT(c->logon_timeout_ms, 10000);
	CHECK_EQ_INT(c->max_logon_bytes, 65536);
	CHECK_EQ_INT(c->connect_timeout_ms, 2000);
	CHECK_EQ_INT(c->idle_timeout_ms, 0);
	CHECK_EQ_INT(c->hold_timeout_ms, 30000);
	CHECK_EQ_INT(c->max_held_per_process, 500);
	CHECK_EQ_INT(c->hold_release_per_sec, 20);
	CHECK_EQ_INT(c->max_connections, 10000);
	CHECK_EQ_INT(c->shutdown_grace_ms, 30000);
	CHECK_EQ_STR(c->log_level, "info");
	CHECK(c->tuning.tcp_nodelay);
	CHECK(c->tuning.reuse_port);
	CHECK_EQ_INT(c->tuning.busy_poll_us, 0);
	CHECK(!c->tuning.pin_workers);
	CHECK(!c->reject_enabled);
	CHECK_EQ_INT(c->nroute_paths, 0);
	CHECK_EQ_INT(c->nservices, 0);
	gw_config_free(c);
	diag_list_free(&dl);
}

TEST(relative_paths)
{
	/* A config given by a relative path resolves against its own directory, made absolute. */
	char dir[512], path[600], cwd[1024];
	snprintf(dir, sizeof(dir), "%s/sub", scratch());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/cfg.yaml", dir);
	write_text(path, MINIMAL "routes: [routes, ./more/x.yaml, ../up, /abs]\n");
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK_EQ_INT(chdir(scratch()), 0);
	struct gw_config *c = NULL;
	struct diag_list dl;
	diag_list_init(&dl);
	int rc = gw_config_load("sub/cfg.yaml", &c, &dl);
	CHECK_EQ_INT(chdir(cwd), 0);
	CHECK_EQ_INT(rc, 0);
	if (c) {
		char want[700];
		CHECK_EQ_STR(c->path, "sub/cfg.yaml");
		CHECK_EQ_INT(c->nroute_paths, 4);
		/* scratch() may itself sit behind a symlink; getcwd gives its real name. */
		char real[512];
		CHECK(realpath(scratch(), real) != NULL);
		snprintf(want, sizeof(want), "%s/sub/routes", real);
		CHECK_EQ_STR(c->route_paths[0], want);
		snprintf(want, sizeof(want), "%s/sub/more/x.yaml", real);
		CHECK_EQ_STR(c->route_paths[1], want);
		snprintf(want, sizeof(want), "%s/sub/../up", real);
		CHECK_EQ_STR(c->route_paths[2], want);
		CHECK_EQ_STR(c->route_paths[3], "/abs");
	}
	gw_config_free(c);
	diag_list_free(&dl);
}

TEST(missing_file)
{
	struct gw_config *c = (struct gw_config *)1;
	struct diag_list dl;
	char path[512], *text = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/does-not-exist.yaml", scratch());
	diag_list_init(&dl);
	CHECK_EQ_INT(gw_config_load(path, &c, &dl), -ENOENT);
	CHECK(c == NULL);
	CHECK_EQ_INT(dl.nerrors, 1);
	FILE *f = open_memstream(&text, &len);
	diag_print(&dl, f);
	fclose(f);
	CHECK(strstr(text, path) != NULL);
	CHECK(strstr(text, "No such file") != NULL);
	free(text);
	diag_list_free(&dl);

	/* A directory is not a config file either. */
	diag_list_init(&dl);
	CHECK_EQ_INT(gw_config_load(scratch(), &c, &dl), -EISDIR);
	CHECK(has_error(&dl, 0, NULL, "regular file"));
	diag_list_free(&dl);
}

TEST(too_big)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/big.yaml", scratch());
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	static const char pad[] = "# padding padding padding padding padding padding padding padding\n";
	fputs(MINIMAL, f);
	for (size_t n = sizeof(MINIMAL) - 1; n <= GW_CONFIG_MAX_BYTES; n += sizeof(pad) - 1)
		fputs(pad, f);
	fclose(f);
	struct gw_config *c = NULL;
	struct diag_list dl;
	diag_list_init(&dl);
	CHECK_EQ_INT(gw_config_load(path, &c, &dl), FIXGW_EINVAL);
	CHECK(has_error(&dl, 0, NULL, "larger than"));
	diag_list_free(&dl);
}

TEST(syntax_and_shape)
{
	expect_error("listeners: [\n", 2, NULL, "YAML syntax error");
	expect_error("", 0, NULL, "empty");
	expect_error("- a\n- b\n", 1, "", "expected a mapping");
	expect_error(MINIMAL "---\n" MINIMAL, 3, NULL, "one YAML document");
	expect_error("workers: 2\n", 1, "listeners", "required field is missing");
	expect_error("listeners: []\n", 1, "listeners", "at least one listener");
	expect_error("listeners: {name: x}\n", 1, "listeners", "expected a list, found a mapping");
	expect_error(MINIMAL "? [a]\n: 1\n", 3, "", "keys must be strings");
}

TEST(depth_cap)
{
	char text[512];
	size_t n = 0;
	n += (size_t)snprintf(text + n, sizeof(text) - n, MINIMAL "x: ");
	for (int i = 0; i < GW_CONFIG_MAX_DEPTH + 1; i++)
		text[n++] = '[';
	for (int i = 0; i < GW_CONFIG_MAX_DEPTH + 1; i++)
		text[n++] = ']';
	text[n++] = '\n';
	text[n] = '\0';
	expect_error(text, 3, NULL, "nesting is too deep");
}

TEST(unknown_and_duplicate_keys)
{
	expect_error(MINIMAL "logontimeout: 5s\n", 3, "",
	             "unknown field \"logontimeout\"; did you mean \"logonTimeout\"?");
	expect_error(MINIMAL "bogus: 1\n", 3, "", "unknown field \"bogus\"");
	expect_error("listeners:\n  - {name: a, address: 127.0.0.1:1, color: red}\n", 2, "listeners[0]",
	             "unknown field \"color\"");
	expect_error(MINIMAL "workers: 1\nworkers: 2\n", 4, "workers",
	             "duplicate key \"workers\" (first given at line 3)");
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    name: b\n", 4,
	             "listeners[0].name", "duplicate key");
	expect_error(MINIMAL "endpoints:\n  ns/svc:1: []\n  ns/svc:1: []\n", 5, "endpoints[\"ns/svc:1\"]",
	             "duplicate key");
}

TEST(integers)
{
	expect_error(MINIMAL "workers: \"2\"\n", 3, "workers", "quoted string \"2\"; remove the quotes");
	expect_error(
	    MINIMAL "workers: 1.5\n", 3, "workers",
	    "expected a whole number (no fraction, sign, leading zero or underscore), found \"1.5\"");
	expect_error(MINIMAL "workers: 0x10\n", 3, "workers", "expected a whole number");
	expect_error(MINIMAL "workers: 0\n", 3, "workers", "must be between 1 and 64");
	expect_error(MINIMAL "workers: 65\n", 3, "workers", "must be between 1 and 64");
	expect_error(MINIMAL "workers: -1\n", 3, "workers", "must be between 1 and 64");
	expect_error(MINIMAL "workers: 99999999999999999999999\n", 3, "workers", "is out of range");
	expect_error(MINIMAL "workers:\n", 3, "workers", "expected an integer, found nothing");
	expect_error(MINIMAL "workers: [1]\n", 3, "workers", "expected an integer, found a list");
	expect_error(MINIMAL "maxLogonBytes: 255\n", 3, "maxLogonBytes", "between 256 and 1048576");
	expect_error(MINIMAL "maxHeldConnectionsPerPod: 100001\n", 3, "maxHeldConnectionsPerPod",
	             "between 0 and");
	expect_error(MINIMAL "holdReleaseRate: 0\n", 3, "holdReleaseRate", "between 1 and 10000");
	expect_error(MINIMAL "maxConnections: 1000001\n", 3, "maxConnections", "between 1 and 1000000");
	expect_error(MINIMAL "tuning: {busyPollMicros: 100001}\n", 3, "tuning.busyPollMicros",
	             "between 0 and");
}

TEST(booleans)
{
	expect_error(MINIMAL "tuning: {tcpNoDelay: yes}\n", 3, "tuning.tcpNoDelay",
	             "expected true or false, found \"yes\"");
	expect_error(MINIMAL "tuning: {pinWorkers: \"true\"}\n", 3, "tuning.pinWorkers",
	             "the quoted string \"true\"");
	expect_error(MINIMAL "tuning: {reusePort: 1}\n", 3, "tuning.reusePort", "expected true or false");
}

TEST(durations)
{
	expect_error(MINIMAL "logonTimeout: 10\n", 3, "logonTimeout", "durations need a unit, e.g. 10s");
	expect_error(MINIMAL "logonTimeout: 10 s\n", 3, "logonTimeout", "invalid duration \"10 s\"");
	expect_error(MINIMAL "logonTimeout: -1s\n", 3, "logonTimeout", "invalid duration");
	expect_error(MINIMAL "logonTimeout: 10d\n", 3, "logonTimeout", "invalid duration");
	expect_error(MINIMAL "logonTimeout: 99ms\n", 3, "logonTimeout", "must be between 100ms and 5m");
	expect_error(MINIMAL "logonTimeout: 5m1ms\n", 3, "logonTimeout", "must be between 100ms and 5m");
	expect_error(MINIMAL "connectTimeout: 9ms\n", 3, "connectTimeout", "between 10ms and 1m");
	expect_error(MINIMAL "idleTimeout: 500ms\n", 3, "idleTimeout",
	             "must be 0 (off) or between 1s and 24h");
	expect_error(MINIMAL "idleTimeout: 25h\n", 3, "idleTimeout", "must be 0 (off) or between 1s and 24h");
	expect_error(MINIMAL "holdTimeout: 0s\n", 3, "holdTimeout", "between 1s and 1h");
	expect_error(MINIMAL "shutdownGracePeriod: 2h\n", 3, "shutdownGracePeriod", "between 0ms and 1h");

	struct gw_config *c = NULL;
	struct diag_list dl;
	CHECK_EQ_INT(load_text(MINIMAL "idleTimeout: 0s\nlogonTimeout: \"1.5s\"\nholdTimeout: 1h\n"
	                               "connectTimeout: 10ms\nshutdownGracePeriod: 0s\n",
	                       &c, &dl),
	             0);
	if (c) {
		CHECK_EQ_INT(c->idle_timeout_ms, 0);
		CHECK_EQ_INT(c->logon_timeout_ms, 1500);
		CHECK_EQ_INT(c->hold_timeout_ms, 3600000);
		CHECK_EQ_INT(c->connect_timeout_ms, 10);
		CHECK_EQ_INT(c->shutdown_grace_ms, 0);
	}
	gw_config_free(c);
	diag_list_free(&dl);
}

TEST(addresses)
{
	expect_error("listeners:\n  - {name: a, address: localhost:9877}\n", 2, "listeners[0].address",
	             "invalid address \"localhost:9877\"");
	expect_error("listeners:\n  - {name: a, address: 127.0.0.1}\n", 2, "listeners[0].address",
	             "invalid address");
	expect_error("listeners:\n  - {name: a, address: \"127.0.0.1:0\"}\n", 2, "listeners[0].address",
	             "invalid address");
	expect_error("listeners:\n  - {name: a, address: \"127.0.0.1:65536\"}\n", 2, "listeners[0].address",
	             "invalid address");
	expect_error("listeners:\n  - {name: a, address: \"::1:9877\"}\n", 2, "listeners[0].address",
	             "invalid address");
	expect_error(MINIMAL "admin: {address: nowhere}\n", 3, "admin.address", "invalid address");
	expect_error(MINIMAL "admin: {}\n", 3, "admin.address", "required field is missing");

	struct gw_config *c = NULL;
	struct diag_list dl;
	CHECK_EQ_INT(load_text("listeners:\n  - {name: a, address: \":9877\"}\n", &c, &dl), 0);
	if (c)
		CHECK_EQ_STR(c->listeners[0].addr.text, "0.0.0.0:9877");
	gw_config_free(c);
	diag_list_free(&dl);
}

TEST(listeners)
{
	expect_error("listeners:\n  - {name: a, address: 127.0.0.1:1}\n  - {name: a, address: 127.0.0.1:2}\n",
	             3, "listeners[1].name", "duplicate listener name \"a\" (also listeners[0])");
	expect_error("listeners:\n  - {name: a, address: 127.0.0.1:1}\n  - {name: b, address: 127.0.0.1:1}\n",
	             3, "listeners[1].address", "collides with listeners[0]");
	expect_error("listeners:\n  - {name: a, address: 127.0.0.1:1}\n  - {name: b, address: \":1\"}\n", 3,
	             "listeners[1].address", "0.0.0.0:1 collides with listeners[0] (127.0.0.1:1)");
	expect_error("listeners:\n  - {name: a, address: 127.0.0.1:1}\n  - {name: b, address: \"[::]:1\"}\n",
	             3, "listeners[1].address", "collides");
	expect_error("listeners:\n  - {name: Fix, address: 127.0.0.1:1}\n", 2, "listeners[0].name",
	             "invalid listener name \"Fix\"");
	expect_error("listeners:\n  - {name: -a, address: 127.0.0.1:1}\n", 2, "listeners[0].name",
	             "invalid listener name");
	expect_error("listeners:\n  - {address: 127.0.0.1:1}\n", 2, "listeners[0].name",
	             "required field is missing");
	expect_error("listeners:\n  - {name: a}\n", 2, "listeners[0].address", "required field is missing");
	expect_error("listeners:\n  - a\n", 2, "listeners[0]", "expected a mapping, found a string");
	expect_error(MINIMAL "admin: {address: 127.0.0.1:9877}\n", 3, "admin.address",
	             "collides with listeners[0]");
	expect_error(MINIMAL "rejectEngine: {enabled: true, address: 127.0.0.1:9877}\n", 3,
	             "rejectEngine.address", "would loop back");
	expect_error(MINIMAL "rejectEngine: {enabled: true}\n", 3, "rejectEngine",
	             "address is required when enabled");

	/* The IPv4 and IPv6 loopbacks on one port do not collide; a disabled reject engine is not checked. */
	struct gw_config *c = NULL;
	struct diag_list dl;
	CHECK_EQ_INT(
	    load_text("listeners:\n  - {name: a, address: 127.0.0.1:1}\n  - {name: b, address: \"[::1]:1\"}\n"
	              "rejectEngine: {enabled: false, address: 127.0.0.1:1}\n",
	              &c, &dl),
	    0);
	gw_config_free(c);
	diag_list_free(&dl);

	/* At most GW_MAX_LISTENERS. */
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), "listeners:\n");
	for (int i = 0; i <= GW_MAX_LISTENERS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "  - {name: l%d, address: 127.0.0.1:%d}\n",
		                      i, 1000 + i);
	expect_error(text, 2, "listeners", "too many listeners (17); at most 16");
}

TEST(tls)
{
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls: {enabled: true, "
	             "minVersion: \"1.0\"}\n",
	             4, "listeners[0].tls.minVersion",
	             "TLS 1.0 and 1.1 are not supported; use \"1.2\" or \"1.3\"");
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls:\n      minVersion: 1.1\n",
	             5, "listeners[0].tls.minVersion", "TLS 1.0 and 1.1 are not supported");
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls: {minVersion: \"1.4\"}\n", 4,
	             "listeners[0].tls.minVersion", "unsupported TLS version \"1.4\"");
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls: {enabled: true}\n", 4,
	             "listeners[0].tls", "certFile is required when enabled is true");
	expect_error(
	    "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls: {enabled: true, certFile: a.crt}\n",
	    4, "listeners[0].tls", "keyFile is required when enabled is true");
	expect_error(
	    "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls: {requireClientCert: true}\n", 4,
	    "listeners[0].tls", "requireClientCert needs clientCAFile");
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls: {certFile: \"\"}\n", 4,
	             "listeners[0].tls.certFile", "must not be empty");
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls: {ciphers: \"A\\tB\"}\n", 4,
	             "listeners[0].tls.ciphers", "control characters");
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls: {certFile: \"a\\0b\"}\n", 4,
	             "listeners[0].tls.certFile", "NUL byte");
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls:\n      sni:\n"
	             "        - {serverName: Bad_Name, certFile: a, keyFile: b}\n",
	             6, "listeners[0].tls.sni[0].serverName", "invalid serverName \"Bad_Name\"");
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls:\n      sni:\n"
	             "        - {serverName: a.com, certFile: a, keyFile: b}\n"
	             "        - {serverName: a.com, certFile: c, keyFile: d}\n",
	             7, "listeners[0].tls.sni[1].serverName",
	             "duplicate serverName \"a.com\" (also listeners[0].tls.sni[0])");
	expect_error("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls:\n      sni:\n"
	             "        - {serverName: a.com}\n",
	             6, "listeners[0].tls.sni[0].certFile", "required field is missing");

	/* A disabled listener may keep TLS settings that would be incomplete when enabled. */
	struct gw_config *c = NULL;
	struct diag_list dl;
	CHECK_EQ_INT(load_text("listeners:\n  - name: a\n    address: 127.0.0.1:1\n    tls: {certFile: "
	                       "x.crt, minVersion: 1.3}\n",
	                       &c, &dl),
	             0);
	if (c) {
		CHECK(!c->listeners[0].tls.enabled);
		CHECK_EQ_INT(c->listeners[0].tls.ncerts, 0);
		CHECK_EQ_INT(c->listeners[0].tls.min_version, TLS1_3_VERSION);
		CHECK_EQ_STR(c->listeners[0].tls.certs[0].cert_file, joined("x.crt"));
	}
	gw_config_free(c);
	diag_list_free(&dl);
}

TEST(endpoints)
{
	expect_error(MINIMAL "endpoints:\n  equities-svc:9880: []\n", 4, "endpoints[\"equities-svc:9880\"]",
	             "expected \"namespace/service:port\"");
	expect_error(MINIMAL "endpoints:\n  Trading/svc:9880: []\n", 4, NULL, "invalid key");
	expect_error(MINIMAL "endpoints:\n  trading/9svc:9880: []\n", 4, NULL, "invalid key");
	expect_error(MINIMAL "endpoints:\n  trading/svc:09880: []\n", 4, NULL, "invalid key");
	expect_error(MINIMAL "endpoints:\n  trading/svc:65536: []\n", 4, NULL, "invalid key");
	expect_error(MINIMAL "endpoints:\n  trading/svc:a-very-long-port-name: []\n", 4, NULL, "invalid key");
	expect_error(MINIMAL "endpoints:\n  trading/svc:: []\n", 4, NULL, "invalid key");
	expect_error(
	    MINIMAL
	    "endpoints:\n  trading/svc:9880:\n    - {address: 127.0.0.1:1}\n    - {address: 127.0.0.1:1}\n",
	    6, "endpoints[\"trading/svc:9880\"][1].address", "duplicate endpoint 127.0.0.1:1 (also");
	expect_error(MINIMAL "endpoints:\n  trading/svc:9880:\n    - {ready: true}\n", 5,
	             "endpoints[\"trading/svc:9880\"][0].address", "required field is missing");
	expect_error(MINIMAL "endpoints:\n  trading/svc:9880:\n    - {address: 127.0.0.1:1, ready: maybe}\n",
	             5, "endpoints[\"trading/svc:9880\"][0].ready", "expected true or false");
	expect_error(MINIMAL "endpoints:\n  trading/svc:9880: 127.0.0.1:1\n", 4,
	             "endpoints[\"trading/svc:9880\"]", "expected a list");
	expect_error(MINIMAL "endpoints: []\n", 3, "endpoints", "expected a mapping");
}

TEST(routes_and_log_level)
{
	expect_error(MINIMAL "routes: a\n", 3, "routes", "expected a list");
	expect_error(MINIMAL "routes: [a, ./a]\n", 3, "routes[1]", "duplicate path");
	expect_error(MINIMAL "routes: [\"\"]\n", 3, "routes[0]", "must not be empty");
	expect_error(MINIMAL "routes: [[a]]\n", 3, "routes[0]", "expected a file path, found a list");
	expect_error(MINIMAL "logLevel: verbose\n", 3, "logLevel", "invalid log level \"verbose\"");
	expect_error(MINIMAL "logLevel: 3\n", 3, "logLevel", "invalid log level");
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), MINIMAL "routes:\n");
	for (int i = 0; i <= GW_MAX_ROUTE_PATHS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "  - r%d\n", i);
	expect_error(text, 4, "routes", "too many paths (65); at most 64");
}

TEST(all_errors_reported)
{
	static const char text[] = "workers: 0\n"
	                           "listeners:\n"
	                           "  - name: fix-plain\n"
	                           "    address: 127.0.0.1:99999\n"
	                           "    tls:\n"
	                           "      enabled: true\n"
	                           "      minVersion: \"1.0\"\n"
	                           "logonTimeout: 10\n"
	                           "color: blue\n"
	                           "endpoints:\n"
	                           "  bad key: []\n";
	struct gw_config *c = (struct gw_config *)1;
	struct diag_list dl;
	CHECK_EQ_INT(load_text(text, &c, &dl), FIXGW_EINVAL);
	CHECK(c == NULL);
	CHECK(has_error(&dl, 1, "workers", "between 1 and 64"));
	CHECK(has_error(&dl, 4, "listeners[0].address", "invalid address"));
	CHECK(has_error(&dl, 7, "listeners[0].tls.minVersion", "TLS 1.0 and 1.1 are not supported"));
	CHECK(has_error(&dl, 6, "listeners[0].tls", "certFile is required"));
	CHECK(has_error(&dl, 6, "listeners[0].tls", "keyFile is required"));
	CHECK(has_error(&dl, 8, "logonTimeout", "durations need a unit"));
	CHECK(has_error(&dl, 9, "", "unknown field \"color\""));
	CHECK(has_error(&dl, 11, NULL, "invalid key"));
	CHECK_EQ_INT(dl.nerrors, 8);

	/* Columns point at the value, and diag_print gives the documented form. */
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	diag_print(&dl, f);
	fclose(f);
	char want[700];
	snprintf(
	    want, sizeof(want),
	    "%s:7:19: error: listeners[0].tls.minVersion: TLS 1.0 and 1.1 are not supported; use \"1.2\" or "
	    "\"1.3\"\n",
	    joined("fixgw.yaml"));
	CHECK(strstr(out, want) != NULL);
	if (!strstr(out, want))
		fprintf(stderr, "%s", out);
	free(out);
	diag_list_free(&dl);
}

TEST(aliases_are_bounded)
{
	/* An alias back to its own ancestor is a cycle in libyaml's tree; the schema walk never follows it
	 * further than the schema allows. */
	expect_error("listeners: &l\n  - {name: a, address: 127.0.0.1:1, tls: *l}\n", 1, "listeners[0].tls",
	             "expected a mapping, found a list");
	expect_error(MINIMAL "tuning: &t {tcpNoDelay: true, busyPollMicros: *t}\n", 3,
	             "tuning.busyPollMicros", "expected an integer, found a mapping");
}

/* Every Service the shipped FIXSession examples target has endpoints in the sample config, and every
 * endpoints key is targeted by some example. */
static void check_sample_targets(const struct gw_config *c)
{
	struct route_set set;
	struct diag_list dl;
	route_set_init(&set);
	diag_list_init(&dl);
	CHECK_EQ_INT(manifest_paths_load((const char *const *)c->route_paths, c->nroute_paths, &set, &dl), 0);
	CHECK(set.count > 0);
	bool used[64] = {false};
	CHECK(c->nservices <= 64);
	for (size_t i = 0; i < set.count; i++) {
		const struct route *r = &set.items[i];
		char key[300];
		if (r->target.port_name)
			snprintf(key, sizeof(key), "%s/%s:%s", r->ns, r->target.service, r->target.port_name);
		else
			snprintf(key, sizeof(key), "%s/%s:%u", r->ns, r->target.service, r->target.port);
		const struct gw_service_endpoints *s = gw_config_service(c, key);
		if (!s) {
			fprintf(stderr, "  no endpoints for %s (FIXSession %s/%s)\n", key, r->ns, r->name);
			CHECK(!"every example target has endpoints");
			continue;
		}
		CHECK(s->count >= 1 && s->items[0].ready);
		used[s - c->services] = true;
	}
	for (size_t i = 0; i < c->nservices && i < 64; i++)
		if (!used[i])
			fprintf(stderr, "  endpoints key %s is not targeted by any example\n",
			        c->services[i].key);
	for (size_t i = 0; i < c->nservices && i < 64; i++)
		CHECK(used[i]);
	route_set_free(&set);
	diag_list_free(&dl);
}

TEST(sample_config)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/deploy/standalone/fixgw.yaml", FIXGW_SOURCE_DIR);
	struct gw_config *c = NULL;
	struct diag_list dl;
	diag_list_init(&dl);
	int rc = gw_config_load(path, &c, &dl);
	CHECK_EQ_INT(rc, 0);
	if (rc)
		dump(&dl);
	if (c) {
		CHECK_EQ_INT(c->nlisteners, 2);
		CHECK_EQ_STR(c->listeners[0].name, "fix-plain");
		CHECK_EQ_STR(c->listeners[0].addr.text, "127.0.0.1:9877");
		CHECK(!c->listeners[0].tls.enabled);
		CHECK_EQ_STR(c->listeners[1].name, "fix-tls");
		CHECK_EQ_STR(c->listeners[1].addr.text, "127.0.0.1:9876");
		CHECK(c->listeners[1].tls.enabled);
		CHECK(c->listeners[1].tls.certs[0].cert_file &&
		      strstr(c->listeners[1].tls.certs[0].cert_file, "/deploy/standalone/certs/server.crt"));
		CHECK_EQ_STR(c->admin_addr.text, "127.0.0.1:9090");
		CHECK(c->reject_enabled);
		CHECK_EQ_STR(c->reject_addr.text, "127.0.0.1:9881");
		CHECK_EQ_INT(c->nroute_paths, 1);
		CHECK(c->nroute_paths && strstr(c->route_paths[0], "/deploy/standalone/fixsessions"));
		CHECK_EQ_INT(c->listeners[1].tls.ncerts, 1);
		CHECK(c->listeners[1].tls.certs[0].key_file &&
		      strstr(c->listeners[1].tls.certs[0].key_file, "/deploy/standalone/certs/server.key"));
		check_sample_targets(c);
	}
	gw_config_free(c);
	diag_list_free(&dl);
}

/* The telemetry section: options in otlp_config_set's names, nested sections flattened, file options
 * resolved against the config directory; the OTEL_* environment over the file, flags over both. */
TEST(telemetry)
{
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	unsetenv("OTEL_SDK_DISABLED");
	struct gw_config *c = NULL;
	struct diag_list dl;
	CHECK_EQ_INT(load_text(MINIMAL, &c, &dl), 0);
	CHECK(!otlp_config_enabled(&c->telemetry)); /* no endpoint: export off */
	gw_config_free(c);
	diag_list_free(&dl);

	const char *text = MINIMAL "telemetry:\n"
	                           "  endpoint: http://collector:4318\n"
	                           "  caFile: ca.pem\n"
	                           "  traceRatio: 0.25\n"
	                           "  traces: {interval: 100ms, batchSize: 16}\n"
	                           "  metrics:\n    interval: 2s\n"
	                           "  resource: {deployment.environment: test}\n";
	int rc = load_text(text, &c, &dl);
	if (rc)
		dump(&dl);
	CHECK_EQ_INT(rc, 0);
	CHECK(otlp_config_enabled(&c->telemetry));
	CHECK_EQ_STR(c->telemetry.endpoint, "http://collector:4318");
	char want[512];
	snprintf(want, sizeof(want), "%s/ca.pem", scratch());
	CHECK_EQ_STR(c->telemetry.ca_file, want);
	CHECK(c->telemetry.trace_ratio == 0.25);
	CHECK_EQ_INT(c->telemetry.sig[OTLP_TRACES].interval_ms, 100);
	CHECK_EQ_INT(c->telemetry.sig[OTLP_TRACES].batch_size, 16);
	CHECK_EQ_INT(c->telemetry.sig[OTLP_METRICS].interval_ms, 2000);
	CHECK_EQ_INT(c->telemetry.nresource, 1);
	CHECK_EQ_STR(c->telemetry.resource[0].key, "deployment.environment");
	gw_config_free(c);
	diag_list_free(&dl);

	/* environment over the file, flags over the environment */
	char path[512];
	snprintf(path, sizeof(path), "%s/fixgw.yaml", scratch());
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://from-env:4318", 1);
	diag_list_init(&dl);
	CHECK_EQ_INT(gw_config_load(path, &c, &dl), 0);
	CHECK_EQ_STR(c->telemetry.endpoint, "http://from-env:4318");
	gw_config_free(c);
	diag_list_free(&dl);
	struct gw_config_opts opts = {.otlp_endpoint = "http://from-flag:4318",
	                              .otlp_set = {"protocol=grpc", "traceRatio=1"},
	                              .notlp_set = 2};
	diag_list_init(&dl);
	CHECK_EQ_INT(gw_config_load_opts(path, &opts, &c, &dl), 0);
	CHECK_EQ_STR(c->telemetry.endpoint, "http://from-flag:4318");
	CHECK_EQ_INT(c->telemetry.protocol, OTLP_GRPC);
	CHECK(c->telemetry.trace_ratio == 1);
	gw_config_free(c);
	diag_list_free(&dl);
	opts = (struct gw_config_opts){.otlp_set = {"protocol"}, .notlp_set = 1};
	diag_list_init(&dl);
	CHECK_EQ_INT(gw_config_load_opts(path, &opts, &c, &dl), FIXGW_EINVAL);
	CHECK(has_error(&dl, 0, "telemetry", "--otlp expects KEY=VALUE"));
	diag_list_free(&dl);
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");

	expect_error(MINIMAL "telemetry: [a]\n", 3, "telemetry", "expected a mapping");
	expect_error(MINIMAL "telemetry:\n  protocol: smoke\n", 4, "telemetry.protocol", "protocol");
	expect_error(MINIMAL "telemetry:\n  traces: {colour: red}\n", 4, "telemetry.traces.colour", "colour");
	expect_error(MINIMAL "telemetry:\n  endpoint: [a]\n", 4, "telemetry.endpoint", "found a list");
}

/* kubernetes.routes: the operator's published table by default, FIXSessions directly on request. */
TEST(kubernetes_routes)
{
	struct gw_config *c = NULL;
	struct diag_list dl;
	CHECK_EQ_INT(load_text(MINIMAL "kubernetes: {kubeconfig: /k}\n", &c, &dl), 0);
	CHECK(c && c->kubernetes.enabled && c->kubernetes.routes == GW_K8S_ROUTES_PUBLISHED);
	CHECK(c && !c->kubernetes.table.namespace_ && !c->kubernetes.table.name);
	gw_config_free(c);
	diag_list_free(&dl);
	CHECK_EQ_INT(load_text(MINIMAL
	                       "kubernetes:\n  routes: published\n  routingTable: {namespace: fixgw, name: "
	                       "rt.v1}\n",
	                       &c, &dl),
	             0);
	CHECK(c && c->kubernetes.routes == GW_K8S_ROUTES_PUBLISHED);
	CHECK_EQ_STR(c ? c->kubernetes.table.namespace_ : NULL, "fixgw");
	CHECK_EQ_STR(c ? c->kubernetes.table.name : NULL, "rt.v1");
	gw_config_free(c);
	diag_list_free(&dl);
	CHECK_EQ_INT(load_text(MINIMAL "kubernetes: {routes: direct}\n", &c, &dl), 0);
	CHECK(c && c->kubernetes.routes == GW_K8S_ROUTES_DIRECT);
	gw_config_free(c);
	diag_list_free(&dl);
	expect_error(MINIMAL "kubernetes: {routes: fixsessions}\n", 3, "kubernetes.routes",
	             "want 'published'");
	expect_error(MINIMAL "kubernetes: {routingTable: {namespace: Bad_NS}}\n", 3,
	             "kubernetes.routingTable.namespace", "not a namespace name");
	expect_error(MINIMAL "kubernetes: {routingTable: {name: \"a b\"}}\n", 3,
	             "kubernetes.routingTable.name", "not a ConfigMap name");
	expect_error(MINIMAL "kubernetes: {routes: direct, routingTable: {name: x}}\n", 3,
	             "kubernetes.routingTable", "only used with routes: published");
	expect_error(MINIMAL "kubernetes: {routingTable: {nmae: x}}\n", 3, NULL, "nmae");
}

TEST(kubernetes_gateway_service)
{
	struct gw_config *c = NULL;
	struct diag_list dl;
	CHECK_EQ_INT(load_text(MINIMAL "kubernetes: {routes: direct}\n", &c, &dl), 0);
	CHECK(c && !c->kubernetes.gateway_service);
	gw_config_free(c);
	diag_list_free(&dl);
	CHECK_EQ_INT(load_text(MINIMAL "kubernetes:\n  gatewayService: fixgw/fixgw-gateway-admin\n", &c, &dl),
	             0);
	CHECK_EQ_STR(c ? c->kubernetes.gateway_service : NULL, "fixgw/fixgw-gateway-admin");
	gw_config_free(c);
	diag_list_free(&dl);
	static const char *const bad[] = {"fixgw-admin",   "/fixgw-admin", "fixgw/",       "Fixgw/admin",
	                                  "fixgw/admin/x", "fixgw/9admin", "fixgw/admin.x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[200];
		snprintf(text, sizeof(text), MINIMAL "kubernetes: {gatewayService: %s}\n", bad[i]);
		expect_error(text, 3, "kubernetes.gatewayService", "want NAMESPACE/NAME");
	}
	expect_error(MINIMAL "kubernetes: {gatewayService: [a, b]}\n", 3, "kubernetes.gatewayService", "");
}

TEST(cleanup_scratch)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch());
	CHECK_EQ_INT(system(cmd), 0);
}

TEST_MAIN(TEST_ENTRY(full_round_trip), TEST_ENTRY(defaults), TEST_ENTRY(relative_paths),
          TEST_ENTRY(missing_file), TEST_ENTRY(too_big), TEST_ENTRY(syntax_and_shape), TEST_ENTRY(depth_cap),
          TEST_ENTRY(unknown_and_duplicate_keys), TEST_ENTRY(integers), TEST_ENTRY(booleans),
          TEST_ENTRY(durations), TEST_ENTRY(addresses), TEST_ENTRY(listeners), TEST_ENTRY(tls),
          TEST_ENTRY(endpoints), TEST_ENTRY(routes_and_log_level), TEST_ENTRY(all_errors_reported),
          TEST_ENTRY(aliases_are_bounded), TEST_ENTRY(sample_config), TEST_ENTRY(telemetry),
          TEST_ENTRY(kubernetes_routes), TEST_ENTRY(kubernetes_gateway_service), TEST_ENTRY(cleanup_scratch))
