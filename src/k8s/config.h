/* config.h - where the API server is and how to authenticate to it: a kubeconfig file (development,
 * `--kubeconfig`, $KUBECONFIG) or the in-cluster service account.
 *
 * TLS verification is always on: a kubeconfig that asks for insecure-skip-tls-verify is refused, and a
 * cluster without a CA uses the system trust store. Exec plugins and auth providers are refused with a
 * clear message (fixgw needs a token or a client certificate). Every problem is reported in a diag_list
 * with the file, line, column and key, for example
 *   /home/me/.kube/config:12:7: error: users[admin].user.client-key-data: not valid base64
 * A diagnostic never contains a token or key material.
 */
#ifndef FIXGW_K8S_CONFIG_H
#define FIXGW_K8S_CONFIG_H

#include <stddef.h>

#include "core/diag.h"

#define K8S_SA_DIR        "/var/run/secrets/kubernetes.io/serviceaccount"
#define K8S_MAX_FILE_SIZE (1u << 20) /* kubeconfig, token, certificate and key files */

/** A byte blob (PEM after base64 decoding); owned. */
struct k8s_blob {
	char *data;
	size_t len;
};

/** Everything the HTTP layer needs. Every pointer is owned (freed by k8s_config_free); NULL when absent. */
struct k8s_config {
	char *server;           /* "https://host:port", no trailing slash */
	char *ca_file;          /* cluster CA bundle (certificate-authority, in-cluster ca.crt) */
	struct k8s_blob ca_pem; /* certificate-authority-data */
	char *token;            /* static bearer token */
	char *token_file;       /* bearer token re-read when the file changes (service-account rotation) */
	char *cert_file, *key_file;        /* client-certificate, client-key */
	struct k8s_blob cert_pem, key_pem; /* client-certificate-data, client-key-data */
	char *namespace_; /* context namespace, or the pod's namespace in-cluster; may be NULL */
	char *origin;     /* "kubeconfig PATH (context NAME)" or "in-cluster": for log lines */
};

/** Load a kubeconfig file. context NULL means its current-context. Relative file paths in the file are
 * resolved against the file's directory, as kubectl does. Returns 0, FIXGW_EINVAL (details in dl),
 * FIXGW_EIO (cannot read; in dl) or FIXGW_ENOMEM. On failure *out is left empty. */
int k8s_config_load_kubeconfig(const char *path, const char *context, struct k8s_config *out,
                               struct diag_list *dl);

/** The same from text already in memory; path names it in diagnostics and anchors relative paths. */
int k8s_config_load_kubeconfig_buffer(const char *path, const char *text, size_t len, const char *context,
                                      struct k8s_config *out, struct diag_list *dl);

/** The in-cluster configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, then token, ca.crt
 * and namespace from sa_dir (NULL = K8S_SA_DIR). Same return values. */
int k8s_config_load_incluster(const char *sa_dir, struct k8s_config *out, struct diag_list *dl);

/** What a command does without being told: kubeconfig (the flag, else the first file of $KUBECONFIG)
 * when one is given, else in-cluster. */
int k8s_config_load_default(const char *kubeconfig, struct k8s_config *out, struct diag_list *dl);

void k8s_config_free(struct k8s_config *c);

/** Decode standard base64 (padding optional, whitespace ignored). out must hold len * 3 / 4 + 3 bytes.
 * Returns the decoded length, or -1 on a byte outside the alphabet. */
long k8s_base64_decode(const char *in, size_t len, char *out);

#endif
