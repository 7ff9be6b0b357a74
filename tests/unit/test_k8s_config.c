/* Unit tests for src/k8s/config.c: kubeconfig contexts, relative paths, base64 data, the refusals (insecure,
 * exec, plain http), errors that name the file, line and key but never a secret, and in-cluster config. */
#include "k8s/config.c"

#include <ftw.h>
#include <stdlib.h>

#include "test.h"

static char dir_[256];

static const char *tmpdir(void)
{
	if (!dir_[0]) {
		snprintf(dir_, sizeof(dir_), "/tmp/fixgw-k8s-config-XXXXXX");
		if (!mkdtemp(dir_))
			dir_[0] = '\0';
	}
	return dir_;
}

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir(), name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return path;
}

/* Every diagnostic joined into one string. */
static const char *diag_text(const struct diag_list *dl)
{
	static char out[4096];
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < dl->count && n < sizeof(out); i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s:%u:%u: %s: %s\n",
		                      dl->items[i].file ? dl->items[i].file : "", dl->items[i].line,
		                      dl->items[i].col, dl->items[i].path ? dl->items[i].path : "",
		                      dl->items[i].message);
	return out;
}

static const char kc_ok[] = "apiVersion: v1\n"
                            "kind: Config\n"
                            "current-context: dev\n"
                            "clusters:\n"
                            "- name: c1\n"
                            "  cluster:\n"
                            "    server: https://127.0.0.1:6443/\n"
                            "    certificate-authority: pki/ca.crt\n"
                            "- name: c2\n"
                            "  cluster:\n"
                            "    server: https://10.0.0.1\n"
                            "    certificate-authority-data: aGVsbG8=\n"
                            "users:\n"
                            "- name: u1\n"
                            "  user:\n"
                            "    token: s3cr3t-token\n"
                            "- name: u2\n"
                            "  user:\n"
                            "    client-certificate-data: Y2VydA==\n"
                            "    client-key-data: a2V5\n"
                            "contexts:\n"
                            "- name: dev\n"
                            "  context: {cluster: c1, user: u1, namespace: trading}\n"
                            "- name: other\n"
                            "  context: {cluster: c2, user: u2}\n";

TEST(test_current_context_with_token_and_relative_ca)
{
	const char *p = write_file("kc1", kc_ok);
	struct k8s_config c;
	struct diag_list dl;
	diag_list_init(&dl);
	CHECK_EQ_INT(k8s_config_load_kubeconfig(p, NULL, &c, &dl), 0);
	CHECK_EQ_STR(c.server, "https://127.0.0.1:6443");
	char want[600];
	snprintf(want, sizeof(want), "%s/pki/ca.crt", tmpdir());
	CHECK_EQ_STR(c.ca_file, want);
	CHECK_EQ_STR(c.token, "s3cr3t-token");
	CHECK_EQ_STR(c.namespace_, "trading");
	CHECK(c.origin && strstr(c.origin, "context dev"));
	k8s_config_free(&c);
	diag_list_free(&dl);
}

TEST(test_named_context_with_data_fields)
{
	const char *p = write_file("kc2", kc_ok);
	struct k8s_config c;
	struct diag_list dl;
	diag_list_init(&dl);
	CHECK_EQ_INT(k8s_config_load_kubeconfig(p, "other", &c, &dl), 0);
	CHECK_EQ_STR(c.server, "https://10.0.0.1");
	CHECK(c.ca_file == NULL);
	CHECK_MEM(c.ca_pem.data, c.ca_pem.len, "hello");
	CHECK_MEM(c.cert_pem.data, c.cert_pem.len, "cert");
	CHECK_MEM(c.key_pem.data, c.key_pem.len, "key");
	CHECK(c.token == NULL);
	CHECK(c.namespace_ == NULL);
	k8s_config_free(&c);
	diag_list_free(&dl);
}

/* Load text and expect an error whose text contains each of the needles (and never the secret). */
static void expect_error(const char *text, const char *context, const char *n1, const char *n2)
{
	const char *p = write_file("kc-bad", text);
	struct k8s_config c;
	struct diag_list dl;
	diag_list_init(&dl);
	CHECK(k8s_config_load_kubeconfig(p, context, &c, &dl) == FIXGW_EINVAL);
	const char *t = diag_text(&dl);
	CHECK(strstr(t, p) != NULL);
	if (!strstr(t, n1) || (n2 && !strstr(t, n2))) {
		fprintf(stderr, "diagnostics were:\n%s(wanted \"%s\" and \"%s\")\n", t, n1, n2 ? n2 : "");
		test_failures_++;
	}
	CHECK(strstr(t, "s3cr3t") == NULL);
	CHECK(c.server == NULL && c.token == NULL);
	diag_list_free(&dl);
}

TEST(test_errors_name_file_line_and_key)
{
	expect_error("current-context: nope\nclusters: []\nusers: []\ncontexts: []\n", NULL,
	             ":1:18: current-context", "no contexts entry named \"nope\"");
	expect_error(kc_ok, "missing", "contexts", "no contexts entry named \"missing\"");
	expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: "
	             "u}\nclusters:\n- name: c\n"
	             "  cluster: {server: 'https://h', insecure-skip-tls-verify: true}\nusers:\n- name: u\n"
	             "  user: {token: s3cr3t}\n",
	             NULL, "clusters[c].cluster.insecure-skip-tls-verify", "always verifies");
	expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: "
	             "u}\nclusters:\n- name: c\n"
	             "  cluster: {server: 'http://h:8080'}\nusers:\n- name: u\n  user: {token: s3cr3t}\n",
	             NULL, ":7:21: clusters[c].cluster.server", "https://");
	expect_error(
	    "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: "
	    "c\n"
	    "  cluster: {server: 'https://h'}\nusers:\n- name: u\n  user:\n    exec: {command: aws}\n",
	    NULL, ":11:11: users[u].user.exec", "not supported");
	expect_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: "
	             "u}\nclusters:\n- name: c\n"
	             "  cluster: {server: 'https://h'}\nusers:\n- name: u\n  user:\n    "
	             "client-certificate-data: Y2VydA==\n"
	             "    client-key-data: 's3cr3t!!'\n",
	             NULL, ":12:22: users[u].user.client-key-data", "not valid base64");
	expect_error(
	    "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: "
	    "c\n"
	    "  cluster: {server: 'https://h'}\nusers:\n- name: u\n  user: {client-certificate: a.crt}\n",
	    NULL, "users[u].user", "needs its key");
	expect_error(
	    "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: "
	    "c\n"
	    "  cluster: {server: 'https://h'}\nusers:\n- name: u\n  user: {token: s3cr3t, tokenFile: /t}\n",
	    NULL, "users[u].user.tokenFile", "not both");
	expect_error("current-context: x\ncontexts: [ {\n", NULL, ":3:1: : not a valid kubeconfig", NULL);
	expect_error("- just\n- a list\n", NULL, "expected a kubeconfig mapping", NULL);
}

TEST(test_missing_file)
{
	struct k8s_config c;
	struct diag_list dl;
	diag_list_init(&dl);
	CHECK_EQ_INT(k8s_config_load_kubeconfig("/nonexistent/kubeconfig", NULL, &c, &dl), FIXGW_EIO);
	CHECK(strstr(diag_text(&dl), "/nonexistent/kubeconfig") && strstr(diag_text(&dl), "No such file"));
	diag_list_free(&dl);
}

TEST(test_incluster)
{
	char sa[600];
	snprintf(sa, sizeof(sa), "%s/sa", tmpdir());
	mkdir(sa, 0700);
	write_file("sa/token", "tok\n");
	write_file("sa/ca.crt", "-----BEGIN CERTIFICATE-----\n");
	write_file("sa/namespace", "fixgw-system\n");
	struct k8s_config c;
	struct diag_list dl;
	diag_list_init(&dl);
	unsetenv("KUBERNETES_SERVICE_HOST");
	CHECK_EQ_INT(k8s_config_load_incluster(sa, &c, &dl), FIXGW_EINVAL);
	CHECK(strstr(diag_text(&dl), "KUBERNETES_SERVICE_HOST"));
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	CHECK_EQ_INT(k8s_config_load_incluster(sa, &c, &dl), 0);
	CHECK_EQ_STR(c.server, "https://[fd00::1]:443");
	CHECK(c.token_file && strstr(c.token_file, "/sa/token"));
	CHECK(c.ca_file && strstr(c.ca_file, "/sa/ca.crt"));
	CHECK_EQ_STR(c.namespace_, "fixgw-system");
	CHECK_EQ_STR(c.origin, "in-cluster");
	k8s_config_free(&c);
	setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
	char missing[700];
	snprintf(missing, sizeof(missing), "%s/none", tmpdir());
	CHECK_EQ_INT(k8s_config_load_incluster(missing, &c, &dl), FIXGW_EIO);
	CHECK(strstr(diag_text(&dl), "service-account token"));
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	diag_list_free(&dl);
}

TEST(test_default_prefers_flag_then_env)
{
	const char *p = write_file("kc-env", kc_ok);
	struct k8s_config c;
	struct diag_list dl;
	diag_list_init(&dl);
	char env[700];
	snprintf(env, sizeof(env), "%s:/other/file", p);
	setenv("KUBECONFIG", env, 1);
	CHECK_EQ_INT(k8s_config_load_default(NULL, &c, &dl), 0);
	CHECK_EQ_STR(c.server, "https://127.0.0.1:6443");
	k8s_config_free(&c);
	CHECK_EQ_INT(k8s_config_load_default("/nonexistent/flag", &c, &dl), FIXGW_EIO);
	unsetenv("KUBECONFIG");
	diag_list_free(&dl);
}

TEST(test_base64)
{
	char out[16];
	CHECK_EQ_INT(k8s_base64_decode("aGVsbG8=", 8, out), 5);
	CHECK(memcmp(out, "hello", 5) == 0);
	CHECK_EQ_INT(k8s_base64_decode("aGVs\nbG8", 8, out), 5);
	CHECK_EQ_INT(k8s_base64_decode("a*", 2, out), -1);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Last: the temporary directory goes, so runs leave nothing behind in /tmp. */
TEST(test_cleanup)
{
	if (dir_[0])
		CHECK_EQ_INT(nftw(dir_, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

TEST_MAIN(TEST_ENTRY(test_current_context_with_token_and_relative_ca),
          TEST_ENTRY(test_named_context_with_data_fields), TEST_ENTRY(test_errors_name_file_line_and_key),
          TEST_ENTRY(test_missing_file), TEST_ENTRY(test_incluster),
          TEST_ENTRY(test_default_prefers_flag_then_env), TEST_ENTRY(test_base64), TEST_ENTRY(test_cleanup))
