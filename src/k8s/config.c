/* config.c - kubeconfig and in-cluster configuration (see config.h). */
#include "k8s/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/errors.h"
#include "core/yaml_doc.h"
#include "io/file.h"

#define KEY_PATH_MAX 192
#define KC_MAX_DEPTH 32 /* a kubeconfig nests five levels; the rest is room for extensions */
#define KC_MAX_NODES (1u << 16)

/* One kubeconfig being read. */
struct kc {
	const char *file;
	char *dir; /* the file's directory, for relative paths */
	yaml_document_t doc;
	struct diag_list *dl;
	int err; /* first fatal code */
};

long k8s_base64_decode(const char *in, size_t len, char *out)
{
	unsigned acc = 0, bits = 0;
	long n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		unsigned v;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else if (c == '=' || c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		else
			return -1;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	return n;
}

static void kc_error(struct kc *k, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void kc_error(struct kc *k, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	unsigned line = n ? (unsigned)n->start_mark.line + 1 : 0,
	         col = n ? (unsigned)n->start_mark.column + 1 : 0;
	if (diag_addv(k->dl, DIAG_ERROR, k->file, line, col, path, fmt, ap) != 0 && !k->err)
		k->err = FIXGW_ENOMEM;
	va_end(ap);
	if (!k->err)
		k->err = FIXGW_EINVAL;
}

/* "a.b" into out (cut at cap - 1 bytes: paths only name places in diagnostics). */
static const char *join(char *out, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = 0;
	if (la > cap - 1)
		la = cap - 1;
	memcpy(out, a, la);
	n = la;
	if (la && n < cap - 1)
		out[n++] = '.';
	if (lb > cap - 1 - n)
		lb = cap - 1 - n;
	memcpy(out + n, b, lb);
	out[n + lb] = '\0';
	return out;
}

static yaml_node_t *node(struct kc *k, int id)
{
	return yaml_document_get_node(&k->doc, id);
}

static yaml_node_t *map_get(struct kc *k, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node(k, p->key);
		if (kn && kn->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)kn->data.scalar.value, key) == 0)
			return node(k, p->value);
	}
	return NULL;
}

/* A non-empty scalar without NUL bytes, or NULL after an error. Absent keys are NULL without an error. */
static const char *scalar(struct kc *k, yaml_node_t *map, const char *key, const char *parent)
{
	yaml_node_t *v = map_get(k, map, key);
	if (!v)
		return NULL;
	char path[KEY_PATH_MAX];
	join(path, sizeof(path), parent, key);
	if (v->type != YAML_SCALAR_NODE) {
		kc_error(k, v, path, "expected a string");
		return NULL;
	}
	const char *s = (const char *)v->data.scalar.value;
	if (strlen(s) != v->data.scalar.length) {
		kc_error(k, v, path, "a NUL byte is not allowed here");
		return NULL;
	}
	return *s ? s : NULL;
}

/* The entry of a named list (clusters, users, contexts) whose name is `name`: its inner mapping under
 * `inner` (cluster, user, context). */
static yaml_node_t *named_entry(struct kc *k, yaml_node_t *root, const char *list, const char *inner,
                                const char *name, const yaml_node_t *ref, const char *ref_path, char *path,
                                size_t path_cap)
{
	yaml_node_t *seq = map_get(k, root, list);
	if (seq && seq->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
		     it++) {
			yaml_node_t *e = node(k, *it);
			yaml_node_t *nm = map_get(k, e, "name");
			if (!nm || nm->type != YAML_SCALAR_NODE ||
			    strcmp((const char *)nm->data.scalar.value, name))
				continue;
			snprintf(path, path_cap, "%s[%.64s].%s", list, name, inner);
			yaml_node_t *in = map_get(k, e, inner);
			if (!in || in->type != YAML_MAPPING_NODE) {
				kc_error(k, in ? in : e, path, "expected a mapping");
				return NULL;
			}
			return in;
		}
	}
	kc_error(k, ref, ref_path, "no %s entry named \"%.64s\"", list, name);
	return NULL;
}

static char *dup_checked(struct kc *k, const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		k->err = FIXGW_ENOMEM;
	return d;
}

/* A path from the file: relative ones are relative to the kubeconfig's directory. */
static char *file_path(struct kc *k, const char *p)
{
	if (!p)
		return NULL;
	if (p[0] == '/')
		return dup_checked(k, p);
	size_t n = strlen(k->dir) + strlen(p) + 2;
	char *out = malloc(n);
	if (!out) {
		k->err = FIXGW_ENOMEM;
		return NULL;
	}
	snprintf(out, n, "%s/%s", k->dir, p);
	return out;
}

static void blob_from_base64(struct kc *k, yaml_node_t *map, const char *key, const char *parent,
                             struct k8s_blob *out)
{
	const char *s = scalar(k, map, key, parent);
	if (!s)
		return;
	size_t len = strlen(s);
	char *buf = malloc(len * 3 / 4 + 4);
	if (!buf) {
		k->err = FIXGW_ENOMEM;
		return;
	}
	long n = k8s_base64_decode(s, len, buf);
	if (n <= 0) {
		char path[KEY_PATH_MAX];
		join(path, sizeof(path), parent, key);
		kc_error(k, map_get(k, map, key), path, "not valid base64");
		free(buf);
		return;
	}
	buf[n] = '\0';
	out->data = buf;
	out->len = (size_t)n;
}

static void both_error(struct kc *k, yaml_node_t *map, const char *parent, const char *a, const char *b)
{
	if (map_get(k, map, a) && map_get(k, map, b)) {
		char path[KEY_PATH_MAX];
		join(path, sizeof(path), parent, b);
		kc_error(k, map_get(k, map, b), path, "set either %s or %s, not both", a, b);
	}
}

static void read_cluster(struct kc *k, yaml_node_t *c, const char *path, struct k8s_config *out)
{
	const char *server = scalar(k, c, "server", path);
	yaml_node_t *insecure = map_get(k, c, "insecure-skip-tls-verify");
	char p[KEY_PATH_MAX];
	if (insecure && insecure->type == YAML_SCALAR_NODE &&
	    strcmp((const char *)insecure->data.scalar.value, "true") == 0) {
		join(p, sizeof(p), path, "insecure-skip-tls-verify");
		kc_error(k, insecure, p,
		         "fixgw always verifies the API server's certificate; give its CA instead");
	}
	if (!server) {
		join(p, sizeof(p), path, "server");
		kc_error(k, c, p, "required: the API server's https:// URL");
	} else if (strncmp(server, "https://", 8) != 0) {
		join(p, sizeof(p), path, "server");
		kc_error(k, map_get(k, c, "server"), p, "must be an https:// URL (TLS is always used)");
	} else {
		out->server = dup_checked(k, server);
		size_t n = out->server ? strlen(out->server) : 0;
		while (n > 8 && out->server[n - 1] == '/')
			out->server[--n] = '\0';
	}
	both_error(k, c, path, "certificate-authority", "certificate-authority-data");
	out->ca_file = file_path(k, scalar(k, c, "certificate-authority", path));
	blob_from_base64(k, c, "certificate-authority-data", path, &out->ca_pem);
}

static void read_user(struct kc *k, yaml_node_t *u, const char *path, struct k8s_config *out)
{
	static const char *const refused[] = {"exec", "auth-provider", "username", "password"};
	char p[KEY_PATH_MAX];
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		yaml_node_t *v = map_get(k, u, refused[i]);
		if (v) {
			join(p, sizeof(p), path, refused[i]);
			kc_error(k, v, p,
			         "not supported by fixgw: use token, tokenFile or a client certificate");
		}
	}
	both_error(k, u, path, "token", "tokenFile");
	both_error(k, u, path, "client-certificate", "client-certificate-data");
	both_error(k, u, path, "client-key", "client-key-data");
	out->token = dup_checked(k, scalar(k, u, "token", path));
	out->token_file = file_path(k, scalar(k, u, "tokenFile", path));
	out->cert_file = file_path(k, scalar(k, u, "client-certificate", path));
	out->key_file = file_path(k, scalar(k, u, "client-key", path));
	blob_from_base64(k, u, "client-certificate-data", path, &out->cert_pem);
	blob_from_base64(k, u, "client-key-data", path, &out->key_pem);
	bool cert = out->cert_file || out->cert_pem.data, key = out->key_file || out->key_pem.data;
	if (cert != key)
		kc_error(k, u, path, "a client certificate needs its key (and a key its certificate)");
	if (!k->err && !out->token && !out->token_file && !cert)
		kc_error(k, u, path,
		         "no credentials: set token, tokenFile or client-certificate and client-key");
}

void k8s_config_free(struct k8s_config *c)
{
	free(c->server);
	free(c->ca_file);
	free(c->ca_pem.data);
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->token_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_pem.data);
	if (c->key_pem.data) {
		explicit_bzero(c->key_pem.data, c->key_pem.len);
		free(c->key_pem.data);
	}
	free(c->namespace_);
	free(c->origin);
	memset(c, 0, sizeof(*c));
}

/* rc is a negative errno value from io_read_file or access. */
static int file_error(struct diag_list *dl, const char *path, int rc, const char *what)
{
	if (diag_add(dl, DIAG_ERROR, path, 0, 0, NULL, "cannot read %s: %s", what,
	             rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc)) != 0)
		return FIXGW_ENOMEM;
	return rc == FIXGW_ENOMEM ? rc : FIXGW_EIO;
}

int k8s_config_load_kubeconfig(const char *path, const char *context, struct k8s_config *out,
                               struct diag_list *dl)
{
	memset(out, 0, sizeof(*out));
	char *text = NULL;
	size_t len = 0;
	int rc = io_read_file(path, K8S_MAX_FILE_SIZE, &text, &len);
	if (rc != 0)
		return file_error(dl, path, rc, "the kubeconfig");
	rc = k8s_config_load_kubeconfig_buffer(path, text, len, context, out, dl);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

int k8s_config_load_kubeconfig_buffer(const char *path, const char *text, size_t len, const char *context,
                                      struct k8s_config *out, struct diag_list *dl)
{
	memset(out, 0, sizeof(*out));
	int rc;
	struct kc k = {.file = path, .dl = dl};
	const char *slash = strrchr(path, '/');
	k.dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	if (!k.dir)
		return FIXGW_ENOMEM;
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		rc = FIXGW_ENOMEM;
		goto free_dir;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	const struct yaml_doc_limits lim = {.max_depth = KC_MAX_DEPTH, .max_nodes = KC_MAX_NODES};
	yaml_mark_t at = {0};
	enum yaml_doc_status st = yaml_doc_next(&parser, &lim, &k.doc, &at);
	if (st != YAML_DOC_OK) {
		if (st == YAML_DOC_SYNTAX)
			at = parser.problem_mark;
		rc = st == YAML_DOC_NOMEM ? FIXGW_ENOMEM : FIXGW_EINVAL;
		if (rc == FIXGW_EINVAL &&
		    diag_add(dl, DIAG_ERROR, path, (unsigned)at.line + 1, (unsigned)at.column + 1, NULL,
		             "not a valid kubeconfig: %s",
		             st == YAML_DOC_SYNTAX  ? (parser.problem ? parser.problem : "YAML syntax")
		             : st == YAML_DOC_END   ? "empty: no kubeconfig document"
		             : st == YAML_DOC_ALIAS ? "an alias of an undefined anchor"
		                                    : "nested too deeply or too large for a kubeconfig") != 0)
			rc = FIXGW_ENOMEM;
		yaml_parser_delete(&parser);
		goto free_dir;
	}
	yaml_parser_delete(&parser);

	yaml_node_t *root = yaml_document_get_root_node(&k.doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		kc_error(&k, root, NULL, "expected a kubeconfig mapping (apiVersion: v1, kind: Config)");
		goto done;
	}
	yaml_node_t *ctx_ref = map_get(&k, root, "current-context");
	const char *ctx_name = context;
	if (!ctx_name)
		ctx_name = scalar(&k, root, "current-context", "");
	if (!ctx_name) {
		if (!k.err)
			kc_error(&k, root, "current-context", "not set, and no context was given");
		goto done;
	}
	char cpath[KEY_PATH_MAX], upath[KEY_PATH_MAX], xpath[KEY_PATH_MAX], ref[KEY_PATH_MAX];
	yaml_node_t *ctx = named_entry(&k, root, "contexts", "context", ctx_name, ctx_ref ? ctx_ref : root,
	                               context ? "contexts" : "current-context", xpath, sizeof(xpath));
	if (!ctx)
		goto done;
	const char *cluster = scalar(&k, ctx, "cluster", xpath);
	const char *user = scalar(&k, ctx, "user", xpath);
	if (!cluster || !user) {
		kc_error(&k, ctx, xpath, "a context needs both cluster and user");
		goto done;
	}
	out->namespace_ = dup_checked(&k, scalar(&k, ctx, "namespace", xpath));
	join(ref, sizeof(ref), xpath, "cluster");
	yaml_node_t *c = named_entry(&k, root, "clusters", "cluster", cluster, map_get(&k, ctx, "cluster"),
	                             ref, cpath, sizeof(cpath));
	join(ref, sizeof(ref), xpath, "user");
	yaml_node_t *u =
	    named_entry(&k, root, "users", "user", user, map_get(&k, ctx, "user"), ref, upath, sizeof(upath));
	if (c)
		read_cluster(&k, c, cpath, out);
	if (u)
		read_user(&k, u, upath, out);
	if (!k.err) {
		size_t n = strlen(path) + strlen(ctx_name) + 32;
		out->origin = malloc(n);
		if (out->origin)
			snprintf(out->origin, n, "kubeconfig %s (context %s)", path, ctx_name);
		else
			k.err = FIXGW_ENOMEM;
	}
done:
	rc = k.err;
	yaml_document_delete(&k.doc);
free_dir:
	free(k.dir);
	if (rc != 0)
		k8s_config_free(out);
	return rc;
}

int k8s_config_load_incluster(const char *sa_dir, struct k8s_config *out, struct diag_list *dl)
{
	memset(out, 0, sizeof(*out));
	if (!sa_dir)
		sa_dir = K8S_SA_DIR;
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !*host || !port || !*port) {
		diag_add(dl, DIAG_ERROR, NULL, 0, 0, NULL,
		         "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must "
		         "be set "
		         "(or give --kubeconfig)");
		return FIXGW_EINVAL;
	}
	char *end;
	unsigned long p = strtoul(port, &end, 10);
	if (*end || p == 0 || p > 65535 || strlen(host) > 255) {
		diag_add(dl, DIAG_ERROR, NULL, 0, 0, NULL,
		         "KUBERNETES_SERVICE_HOST/PORT do not form an address");
		return FIXGW_EINVAL;
	}
	size_t dl_len = strlen(sa_dir) + 16;
	char url[300];
	snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%lu" : "https://%s:%lu", host, p);
	out->server = strdup(url);
	out->token_file = malloc(dl_len);
	out->ca_file = malloc(dl_len);
	out->origin = strdup("in-cluster");
	char *ns_path = malloc(dl_len);
	int rc = 0;
	if (!out->server || !out->token_file || !out->ca_file || !out->origin || !ns_path) {
		rc = FIXGW_ENOMEM;
		goto fail;
	}
	snprintf(out->token_file, dl_len, "%s/token", sa_dir);
	snprintf(out->ca_file, dl_len, "%s/ca.crt", sa_dir);
	snprintf(ns_path, dl_len, "%s/namespace", sa_dir);
	const char *const need[] = {out->token_file, out->ca_file};
	for (size_t i = 0; i < 2; i++)
		if (access(need[i], R_OK) != 0) {
			rc = file_error(dl, need[i], -errno,
			                i ? "the cluster CA" : "the service-account token");
			goto fail;
		}
	char *ns = NULL;
	size_t ns_len = 0;
	if (io_read_file(ns_path, K8S_MAX_FILE_SIZE, &ns, &ns_len) == 0) {
		while (ns_len && (ns[ns_len - 1] == '\n' || ns[ns_len - 1] == ' '))
			ns[--ns_len] = '\0';
		if (ns_len)
			out->namespace_ = ns;
		else
			free(ns);
	}
	free(ns_path);
	return 0;
fail:
	free(ns_path);
	k8s_config_free(out);
	return rc;
}

int k8s_config_load_default(const char *kubeconfig, struct k8s_config *out, struct diag_list *dl)
{
	if (kubeconfig && *kubeconfig)
		return k8s_config_load_kubeconfig(kubeconfig, NULL, out, dl);
	const char *env = getenv("KUBECONFIG");
	if (env && *env) {
		/* $KUBECONFIG is a colon-separated list; merging several files is not supported: take the
		 * first */
		char first[4096];
		size_t n = strcspn(env, ":");
		if (n >= sizeof(first)) {
			diag_add(dl, DIAG_ERROR, NULL, 0, 0, NULL, "$KUBECONFIG: path too long");
			return FIXGW_EINVAL;
		}
		memcpy(first, env, n);
		first[n] = '\0';
		return k8s_config_load_kubeconfig(first, NULL, out, dl);
	}
	return k8s_config_load_incluster(NULL, out, dl);
}
