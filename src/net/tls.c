/* tls.c - server-side TLS for the listeners (OpenSSL 3).
 *
 * A "set" is the SSL_CTX of every certificate of one configuration: ctx[0] serves clients without a
 * matching SNI name and is the one SSLs are created from; the servername callback moves a handshake to
 * ctx[i] when the client's SNI name matches certs[i]. The set is owned by ctx[0] through ex_data, so it
 * lives exactly as long as ctx[0] does: the server holds one reference and every SSL created from it holds
 * another (SSL_new keeps its ctx as session_ctx), which is what lets a reload drop the old set while live
 * connections keep using it.
 */
#include "net/tls.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/errors.h"

#define TLS_SESS_CACHE_SIZE 2048 /* resumable sessions per set; OpenSSL's default is 20480 */

struct tls_ctx_set {
	SSL_CTX *ctx[TLS_MAX_CERTS]; /* ctx[0] owns the set; the set owns ctx[1..n-1] */
	char *names[TLS_MAX_CERTS];  /* SNI name of ctx[i] ("*.example.com" allowed), NULL for none */
	size_t n;
};

struct tls_server {
	pthread_mutex_t lock; /* guards dflt and not_after: held only to read or swap them */
	SSL_CTX *dflt;        /* ctx[0] of the current set; one reference owned here */
	time_t not_after[TLS_MAX_CERTS];
	size_t ncerts;

	pthread_mutex_t reload_lock; /* serialises reloads; guards cfg */
	char *listener;
	struct tls_config cfg; /* deep copy of the configuration in use, for tls_server_reload(s, NULL) */
};

static int set_index = -1; /* SSL_CTX ex_data slot that holds the set */
static pthread_once_t set_index_once = PTHREAD_ONCE_INIT;

/* ---- configuration ---- */

static void str_free(char **s)
{
	free(*s);
	*s = NULL;
}

void tls_config_free(struct tls_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < TLS_MAX_CERTS; i++) {
		str_free(&cfg->certs[i].server_name);
		str_free(&cfg->certs[i].cert_file);
		str_free(&cfg->certs[i].key_file);
	}
	str_free(&cfg->ciphers);
	str_free(&cfg->ciphersuites);
	str_free(&cfg->client_ca_file);
	memset(cfg, 0, sizeof(*cfg));
}

static int str_copy(char **dst, const char *src)
{
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return FIXGW_ENOMEM;
	return 0;
}

static int config_copy(struct tls_config *dst, const struct tls_config *src)
{
	int rc = 0;
	memset(dst, 0, sizeof(*dst));
	dst->enabled = src->enabled;
	dst->ncerts = src->ncerts;
	dst->min_version = src->min_version;
	dst->require_client_cert = src->require_client_cert;
	for (size_t i = 0; i < src->ncerts && i < TLS_MAX_CERTS; i++) {
		rc |= str_copy(&dst->certs[i].server_name, src->certs[i].server_name);
		rc |= str_copy(&dst->certs[i].cert_file, src->certs[i].cert_file);
		rc |= str_copy(&dst->certs[i].key_file, src->certs[i].key_file);
	}
	rc |= str_copy(&dst->ciphers, src->ciphers);
	rc |= str_copy(&dst->ciphersuites, src->ciphersuites);
	rc |= str_copy(&dst->client_ca_file, src->client_ca_file);
	if (rc) {
		tls_config_free(dst);
		return FIXGW_ENOMEM;
	}
	return 0;
}

/* ---- diagnostics ---- */

/** The text of one queued OpenSSL error: static strings only (system errors have no reason string). */
static const char *err_text(unsigned long e)
{
	const char *r;
	if (ERR_SYSTEM_ERROR(e))
		r = strerrordesc_np(ERR_GET_REASON(e));
	else
		r = ERR_reason_error_string(e);
	return r ? r : "unknown OpenSSL error";
}

/** Report "what: <OpenSSL reasons>" and empty the thread's error queue. The queue is drained oldest first,
 * which puts the root cause (such as "No such file or directory") before OpenSSL's own context. */
static void report_ssl(struct diag_list *dl, const char *where, const char *file, const char *what)
{
	char reasons[256] = "";
	size_t len = 0;
	const char *last = NULL;
	unsigned long e;
	while ((e = ERR_get_error()) != 0) {
		const char *r = err_text(e);
		if (last && strcmp(r, last) == 0)
			continue;
		int w = snprintf(reasons + len, sizeof(reasons) - len, "%s%s", last ? ": " : "", r);
		if (w > 0 && (size_t)w < sizeof(reasons) - len)
			len += (size_t)w;
		last = r;
	}
	if (dl)
		diag_add(dl, DIAG_ERROR, file, 0, 0, where, "%s: %s", what, len ? reasons : "failed");
}

static void format_utc(time_t t, char *out, size_t cap)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, cap, "%lld", (long long)t);
}

/* ---- SNI names ---- */

/** An SNI name in the configuration: a host name, or "*." and a host name (one wildcard label). */
static bool name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > 253)
		return false;
	const char *rest = strncmp(name, "*.", 2) == 0 ? name + 2 : name;
	return *rest && *rest != '.' && !strchr(rest, '*');
}

/** Does the client's SNI name match a configured name? Case-insensitive; "*.example.com" matches exactly
 * one label in front of ".example.com" (as certificate wildcards do), never "example.com" itself. */
static bool name_match(const char *pattern, const char *name, bool wildcard)
{
	if (strncmp(pattern, "*.", 2) != 0)
		return !wildcard && strcasecmp(pattern, name) == 0;
	if (!wildcard)
		return false;
	const char *dot = strchr(name, '.');
	return dot && dot != name && strcasecmp(dot, pattern + 1) == 0;
}

/** Index of the context for an SNI name: an exact name wins over a wildcard; 0 when nothing matches. */
static size_t set_lookup(const struct tls_ctx_set *set, const char *name)
{
	for (int pass = 0; name && pass < 2; pass++)
		for (size_t i = 0; i < set->n; i++)
			if (set->names[i] && name_match(set->names[i], name, pass == 1))
				return i;
	return 0;
}

/** Pick the certificate only: routing is decided later from the Logon, never from SNI. An unknown name
 * gets the default certificate and the handshake goes on (returning OK, not NOACK, keeps the name
 * readable with SSL_get_servername() for logs). */
static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_ctx_set *set = arg;
	size_t i = set_lookup(set, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
	if (i != 0 && SSL_get_SSL_CTX(ssl) != set->ctx[i] && !SSL_set_SSL_CTX(ssl, set->ctx[i])) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* ---- context sets ---- */

static void set_free(struct tls_ctx_set *set)
{
	if (!set)
		return;
	for (size_t i = 1; i < set->n; i++)
		SSL_CTX_free(set->ctx[i]);
	for (size_t i = 0; i < set->n; i++)
		free(set->names[i]);
	free(set);
}

/* ex_data free callback: runs when ctx[0] itself is freed (its last SSL and the server let go). */
static void set_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	set_free(ptr);
}

static void set_index_init(void)
{
	set_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, set_ex_free);
}

/** Settings shared by every context of a listener. Errors go to dl when it is non-NULL (the caller
 * reports them for the first context only: they are the same for all). */
static int ctx_apply_common(SSL_CTX *ctx, const char *listener, const struct tls_config *cfg,
                            const char *where, struct diag_list *dl)
{
	int rc = 0;
	char q[DIAG_QUOTE_CAP], what[DIAG_QUOTE_CAP + 32];
	const char *sid = listener ? listener : "fixgw";

	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Partial writes and a movable buffer suit the relay's ring buffers; releasing buffers saves
	 * ~34 KB per idle connection, and FIX sessions are mostly idle. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                          SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ctx, TLS_SESS_CACHE_SIZE);
	/* Without a session id context, resuming a session fails once client certificates are verified. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid,
	                               (unsigned)strnlen(sid, SSL_MAX_SID_CTX_LENGTH));
	if (!SSL_CTX_set_min_proto_version(ctx, cfg->min_version ? cfg->min_version : TLS1_2_VERSION)) {
		report_ssl(dl, where, NULL, "cannot set the minimum TLS version");
		rc = FIXGW_EINVAL;
	}
	if (cfg->ciphers && !SSL_CTX_set_cipher_list(ctx, cfg->ciphers)) {
		snprintf(what, sizeof(what), "ciphers %s (TLS 1.2)",
		         diag_quote(cfg->ciphers, strlen(cfg->ciphers), q, sizeof(q)));
		report_ssl(dl, where, NULL, what);
		rc = FIXGW_EINVAL;
	}
	if (cfg->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites)) {
		snprintf(what, sizeof(what), "ciphersuites %s (TLS 1.3)",
		         diag_quote(cfg->ciphersuites, strlen(cfg->ciphersuites), q, sizeof(q)));
		report_ssl(dl, where, NULL, what);
		rc = FIXGW_EINVAL;
	}
	ERR_clear_error();
	return rc;
}

/** Trust client certificates from cfg->client_ca_file (and name its CAs in the CertificateRequest). */
static int ctx_apply_client_ca(SSL_CTX *ctx, const struct tls_config *cfg, const char *where,
                               struct diag_list *dl)
{
	const char *ca = cfg->client_ca_file;
	if (!ca)
		return 0;
	if (!SSL_CTX_load_verify_locations(ctx, ca, NULL)) {
		report_ssl(dl, where, ca, "cannot load the client CA bundle");
		return FIXGW_EINVAL;
	}
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
	if (!names) {
		report_ssl(dl, where, ca, "no CA certificate in the client CA bundle");
		return FIXGW_EINVAL;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	int mode = SSL_VERIFY_PEER;
	if (cfg->require_client_cert)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, mode, NULL);
	return 0;
}

/** Warn about a certificate that is expired or not yet valid (still loaded: refusing it would take the
 * whole listener down, and the expiry is exported for alerting). */
static int cert_validity(SSL_CTX *ctx, const char *file, const char *where, time_t *not_after,
                         struct diag_list *dl)
{
	struct tm tm;
	char when[32];
	X509 *x = SSL_CTX_get0_certificate(ctx);
	time_t now = time(NULL);

	if (!x || !ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm)) {
		report_ssl(dl, where, file, "cannot read the certificate's validity");
		return FIXGW_EINVAL;
	}
	*not_after = timegm(&tm);
	if (*not_after < now) {
		format_utc(*not_after, when, sizeof(when));
		diag_add(dl, DIAG_WARNING, file, 0, 0, where, "certificate expired on %s", when);
	}
	if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) && timegm(&tm) > now) {
		format_utc(timegm(&tm), when, sizeof(when));
		diag_add(dl, DIAG_WARNING, file, 0, 0, where, "certificate is not valid before %s", when);
	}
	return 0;
}

/** One context: common settings, client CA, then the certificate chain and its key. */
static SSL_CTX *ctx_build(const char *listener, const struct tls_config *cfg, size_t i, const char *where,
                          time_t *not_after, struct diag_list *dl)
{
	const struct tls_cert_config *cc = &cfg->certs[i];
	struct diag_list *common_dl = i == 0 ? dl : NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int rc = 0;

	if (!ctx) {
		report_ssl(dl, where, NULL, "cannot create a TLS context");
		return NULL;
	}
	rc |= ctx_apply_common(ctx, listener, cfg, where, common_dl);
	rc |= ctx_apply_client_ca(ctx, cfg, where, common_dl);
	if (!cc->cert_file || !cc->key_file) {
		diag_add(dl, DIAG_ERROR, cc->cert_file, 0, 0, where,
		         "certificate %zu needs a cert and a key file", i);
		goto fail;
	}
	if (!SSL_CTX_use_certificate_chain_file(ctx, cc->cert_file)) {
		report_ssl(dl, where, cc->cert_file, "cannot load the certificate chain");
		goto fail;
	}
	if (!SSL_CTX_use_PrivateKey_file(ctx, cc->key_file, SSL_FILETYPE_PEM)) {
		report_ssl(dl, where, cc->key_file, "cannot load the private key");
		goto fail;
	}
	if (!SSL_CTX_check_private_key(ctx)) {
		report_ssl(dl, where, cc->key_file, "the private key does not match the certificate");
		goto fail;
	}
	if (cert_validity(ctx, cc->cert_file, where, not_after, dl) || rc)
		goto fail;
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/** Configuration checks that need no OpenSSL: all reported together. */
static int config_check(const struct tls_config *cfg, const char *where, struct diag_list *dl)
{
	int rc = 0;
	char q[DIAG_QUOTE_CAP];

	if (cfg->ncerts == 0 || cfg->ncerts > TLS_MAX_CERTS) {
		diag_add(dl, DIAG_ERROR, NULL, 0, 0, where, "needs 1 to %d certificates, got %zu",
		         TLS_MAX_CERTS, cfg->ncerts);
		return FIXGW_EINVAL;
	}
	if (cfg->min_version != 0 && cfg->min_version != TLS1_2_VERSION &&
	    cfg->min_version != TLS1_3_VERSION) {
		diag_add(dl, DIAG_ERROR, NULL, 0, 0, where, "minimum version must be TLS 1.2 or TLS 1.3");
		rc = FIXGW_EINVAL;
	}
	if (cfg->require_client_cert && !cfg->client_ca_file) {
		diag_add(dl, DIAG_ERROR, NULL, 0, 0, where,
		         "client certificates are required but no client "
		         "CA file is set");
		rc = FIXGW_EINVAL;
	}
	for (size_t i = 0; i < cfg->ncerts; i++) {
		const char *n = cfg->certs[i].server_name;
		if (!n) {
			if (i > 0) {
				diag_add(
				    dl, DIAG_ERROR, cfg->certs[i].cert_file, 0, 0, where,
				    "certificate %zu needs a server name (only the first is the default)", i);
				rc = FIXGW_EINVAL;
			}
			continue;
		}
		if (!name_valid(n)) {
			diag_add(dl, DIAG_ERROR, cfg->certs[i].cert_file, 0, 0, where,
			         "server name %s: expected a host name or *.domain",
			         diag_quote(n, strlen(n), q, sizeof(q)));
			rc = FIXGW_EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (cfg->certs[j].server_name && strcasecmp(cfg->certs[j].server_name, n) == 0) {
				diag_add(dl, DIAG_ERROR, cfg->certs[i].cert_file, 0, 0, where,
				         "server name %s is given twice",
				         diag_quote(n, strlen(n), q, sizeof(q)));
				rc = FIXGW_EINVAL;
				break;
			}
		}
	}
	return rc;
}

/** Build a set; on success *out is its ctx[0], which owns the set. Every certificate is tried so that all
 * problems are reported at once. */
static int set_build(const char *listener, const struct tls_config *cfg, SSL_CTX **out, time_t *not_after,
                     struct diag_list *dl)
{
	char where[128];
	int rc;
	struct tls_ctx_set *set = NULL;

	snprintf(where, sizeof(where), "listeners.%s.tls", listener ? listener : "?");
	if ((rc = config_check(cfg, where, dl)) != 0)
		return rc;
	pthread_once(&set_index_once, set_index_init);
	if (set_index < 0 || !(set = calloc(1, sizeof(*set))))
		return FIXGW_ENOMEM;

	for (size_t i = 0; i < cfg->ncerts; i++) {
		set->ctx[i] = ctx_build(listener, cfg, i, where, &not_after[i], dl);
		if (!set->ctx[i])
			rc = FIXGW_EINVAL;
		if (cfg->certs[i].server_name && !(set->names[i] = strdup(cfg->certs[i].server_name)))
			rc = FIXGW_ENOMEM;
		set->n = i + 1;
	}
	if (rc)
		goto fail;
	SSL_CTX_set_tlsext_servername_callback(set->ctx[0], sni_cb);
	SSL_CTX_set_tlsext_servername_arg(set->ctx[0], set);
	if (!SSL_CTX_set_ex_data(set->ctx[0], set_index, set)) {
		rc = FIXGW_ENOMEM;
		goto fail;
	}
	*out = set->ctx[0];
	return 0;
fail:
	ERR_clear_error();
	SSL_CTX_free(set->ctx[0]); /* not yet the owner of the set */
	set_free(set);
	return rc;
}

/* ---- server ---- */

int tls_server_new(const char *listener, const struct tls_config *cfg, struct tls_server **out,
                   struct diag_list *dl)
{
	int rc;
	struct tls_server *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return FIXGW_ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->reload_lock, NULL);
	if ((listener && !(s->listener = strdup(listener))) || config_copy(&s->cfg, cfg) != 0) {
		rc = FIXGW_ENOMEM;
		goto fail;
	}
	if ((rc = set_build(s->listener, &s->cfg, &s->dflt, s->not_after, dl)) != 0)
		goto fail;
	s->ncerts = s->cfg.ncerts;
	*out = s;
	return 0;
fail:
	tls_server_free(s);
	return rc;
}

int tls_server_reload(struct tls_server *s, const struct tls_config *cfg, struct diag_list *dl)
{
	struct tls_config copy = {0};
	time_t not_after[TLS_MAX_CERTS] = {0};
	SSL_CTX *fresh = NULL, *old;
	int rc;

	pthread_mutex_lock(&s->reload_lock);
	if (cfg && (rc = config_copy(&copy, cfg)) != 0)
		goto out;
	rc = set_build(s->listener, cfg ? &copy : &s->cfg, &fresh, not_after, dl);
	if (rc != 0) {
		tls_config_free(&copy);
		goto out;
	}
	if (cfg) {
		tls_config_free(&s->cfg);
		s->cfg = copy;
	}

	pthread_mutex_lock(&s->lock);
	old = s->dflt;
	s->dflt = fresh;
	memcpy(s->not_after, not_after, sizeof(not_after));
	s->ncerts = s->cfg.ncerts;
	pthread_mutex_unlock(&s->lock);
	SSL_CTX_free(old); /* the set lives on while connections made from it do */
out:
	pthread_mutex_unlock(&s->reload_lock);
	return rc;
}

void tls_server_free(struct tls_server *s)
{
	if (!s)
		return;
	SSL_CTX_free(s->dflt);
	tls_config_free(&s->cfg);
	free(s->listener);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->reload_lock);
	free(s);
}

size_t tls_server_cert_expiry(const struct tls_server *s, time_t *not_after_out, size_t max)
{
	/* The mutex is the only mutable part of a server viewed as const. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&s->lock;
	pthread_mutex_lock(lock);
	size_t n = s->ncerts;
	for (size_t i = 0; i < n && i < max; i++)
		not_after_out[i] = s->not_after[i];
	pthread_mutex_unlock(lock);
	return n;
}

SSL_CTX *tls_server_ctx_ref(struct tls_server *s)
{
	/* Hold the lock only to take a reference: SSL_new itself runs unlocked on every worker. */
	pthread_mutex_lock(&s->lock);
	SSL_CTX *ctx = s->dflt;
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&s->lock);
	return ctx;
}

/* A new server-side SSL from ctx, in accept state, with no BIO yet. */
static SSL *new_ctx_ssl(SSL_CTX *ctx)
{
	if (!ctx)
		return NULL;
	ERR_clear_error();
	SSL *ssl = SSL_new(ctx);
	if (ssl)
		SSL_set_accept_state(ssl);
	ERR_clear_error();
	return ssl;
}

/* The same from the server's current default context. */
static SSL *new_server_ssl(struct tls_server *s)
{
	SSL_CTX *ctx = tls_server_ctx_ref(s);
	SSL *ssl = new_ctx_ssl(ctx);
	SSL_CTX_free(ctx); /* SSL_new took its own references */
	return ssl;
}

SSL *tls_server_new_ssl(struct tls_server *s, int fd)
{
	SSL *ssl = new_server_ssl(s);
	if (ssl && !SSL_set_fd(ssl, fd)) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

/* ---- non-blocking I/O ---- */

static const char *const failure_names[TLS_FAIL__COUNT] = {
    [TLS_FAIL_OTHER] = "other",
    [TLS_FAIL_NO_SHARED_CIPHER] = "no_shared_cipher",
    [TLS_FAIL_PROTOCOL_VERSION] = "protocol_version",
    [TLS_FAIL_UNKNOWN_CA] = "unknown_ca",
    [TLS_FAIL_BAD_CERTIFICATE] = "bad_certificate",
    [TLS_FAIL_TIMEOUT] = "timeout",
    [TLS_FAIL_PEER_CLOSED] = "peer_closed",
};

const char *tls_failure_name(enum tls_failure f)
{
	return (unsigned)f < TLS_FAIL__COUNT ? failure_names[f] : "other";
}

/* The class of a fatal handshake error: the verify result first (a client certificate we refused),
 * then OpenSSL's reason, which also carries the alert a peer sent us (TLSV1_ALERT_UNKNOWN_CA: the
 * client does not trust our certificate). */
static enum tls_failure classify(SSL *ssl, unsigned long e)
{
	long v = SSL_get_verify_result(ssl);
	switch (v) {
	case X509_V_OK:
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return TLS_FAIL_UNKNOWN_CA;
	default:
		return TLS_FAIL_BAD_CERTIFICATE;
	}
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return TLS_FAIL_OTHER;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
	case SSL_R_NO_CIPHERS_AVAILABLE:
	case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
		return TLS_FAIL_NO_SHARED_CIPHER;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_VERSION_TOO_HIGH:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_RECORD_LENGTH_MISMATCH:
		return TLS_FAIL_PROTOCOL_VERSION;
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return TLS_FAIL_UNKNOWN_CA;
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return TLS_FAIL_BAD_CERTIFICATE;
	default:
		return TLS_FAIL_OTHER;
	}
}

/** Map the outcome of an SSL call that did not succeed (ret <= 0). errno_saved is errno right after it.
 * failure (may be NULL) gets the class of a fatal error or close. */
static enum tls_io io_result(SSL *ssl, int ret, int errno_saved, const char **reason,
                             enum tls_failure *failure)
{
	enum tls_failure cls = TLS_FAIL_PEER_CLOSED;
	const char *why = NULL;
	enum tls_io res = TLS_IO_ERROR;
	bool orderly = false; /* the peer sent close_notify: answering it is right */
	unsigned long e;

	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		why = "close_notify";
		res = TLS_IO_CLOSED;
		orderly = true;
		break;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && errno_saved == 0) {
			why = "EOF without close_notify";
			res = TLS_IO_CLOSED;
		} else {
			why = errno_saved ? strerrordesc_np(errno_saved) : NULL;
			if (ERR_peek_error())
				cls = classify(ssl, ERR_peek_last_error());
		}
		break;
	case SSL_ERROR_SSL:
		e = ERR_peek_last_error();
		cls = classify(ssl, e);
		if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			/* OpenSSL 3 reports a bare TCP close this way; FIX peers do that all the time. */
			why = "EOF without close_notify";
			res = TLS_IO_CLOSED;
			cls = TLS_FAIL_PEER_CLOSED;
		} else if (SSL_get_verify_result(ssl) != X509_V_OK) {
			why = X509_verify_cert_error_string(SSL_get_verify_result(ssl));
		} else if (e) {
			why = err_text(e);
		}
		break;
	default:
		why = "unexpected TLS state";
		break;
	}
	if (res == TLS_IO_ERROR && !why)
		why = "TLS error";
	/* No close_notify after a fatal error or a bare EOF: OpenSSL forbids it, and nobody would read it. */
	if (!orderly)
		SSL_set_quiet_shutdown(ssl, 1);
	if (reason)
		*reason = why;
	if (failure)
		*failure = cls;
	ERR_clear_error();
	return res;
}

enum tls_io tls_handshake(SSL *ssl, const char **reason, enum tls_failure *failure)
{
	ERR_clear_error();
	errno = 0;
	int ret = SSL_do_handshake(ssl);
	if (ret == 1)
		return TLS_IO_DONE;
	return io_result(ssl, ret, errno, reason, failure);
}

enum tls_io tls_read(SSL *ssl, void *buf, size_t cap, size_t *n, const char **reason)
{
	*n = 0;
	if (cap == 0)
		return TLS_IO_DONE;
	ERR_clear_error();
	errno = 0;
	int ret = SSL_read_ex(ssl, buf, cap, n);
	if (ret == 1)
		return TLS_IO_DONE;
	return io_result(ssl, ret, errno, reason, NULL);
}

enum tls_io tls_write(SSL *ssl, const void *buf, size_t len, size_t *n, const char **reason)
{
	*n = 0;
	if (len == 0)
		return TLS_IO_DONE;
	ERR_clear_error();
	errno = 0;
	int ret = SSL_write_ex(ssl, buf, len, n);
	if (ret == 1)
		return TLS_IO_DONE;
	return io_result(ssl, ret, errno, reason, NULL);
}

bool tls_has_pending(const SSL *ssl)
{
	return SSL_has_pending(ssl) != 0;
}

void tls_shutdown(SSL *ssl)
{
	/* Mid-handshake there is nothing to close politely, and SSL_shutdown would only queue an error. */
	if (!SSL_is_init_finished(ssl))
		return;
	ERR_clear_error();
	SSL_shutdown(ssl); /* sends close_notify; the peer's reply is not awaited */
	ERR_clear_error();
}

/* ---- for logs and spans ---- */

const char *tls_version_name(const SSL *ssl)
{
	return SSL_get_version(ssl);
}

const char *tls_cipher_name(const SSL *ssl)
{
	return SSL_get_cipher_name(ssl);
}

const char *tls_sni_name(const SSL *ssl)
{
	return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}

/* ---- the TLS transport: OpenSSL over fixgw's own BIO ---- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_method_once = PTHREAD_ONCE_INIT;

/* One recv per readable event: OpenSSL reads ahead (a whole buffer per call), and a short read marks the
 * socket drained so that the next call answers "retry" instead of paying for an EAGAIN. */
static int bio_read(BIO *b, char *out, int len)
{
	struct transport *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (t->rx_drained) {
		BIO_set_retry_read(b);
		return -1;
	}
	ssize_t r = recv(t->fd, out, (size_t)len, 0);
	if (r > 0) {
		t->rx_drained = r < len;
		return (int)r;
	}
	if (r == 0)
		return 0;
	if (errno == EAGAIN || errno == EINTR) {
		t->rx_drained = true;
		BIO_set_retry_read(b);
	}
	return -1;
}

static int bio_write(BIO *b, const char *in, int len)
{
	struct transport *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t w = send(t->fd, in, (size_t)len, MSG_NOSIGNAL);
	if (w >= 0)
		return (int)w;
	if (errno == EAGAIN || errno == EINTR)
		BIO_set_retry_write(b);
	return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH || cmd == BIO_CTRL_DUP ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int bio_destroy(BIO *b)
{
	(void)b;
	return 1;
}

static void bio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "fixgw socket");
	if (m && BIO_meth_set_read(m, bio_read) && BIO_meth_set_write(m, bio_write) &&
	    BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create) &&
	    BIO_meth_set_destroy(m, bio_destroy))
		bio_method = m;
	else
		BIO_meth_free(m);
}

/* A TLS connection's state behind transport.impl. */
struct tls_conn {
	SSL *ssl;
	struct tls_pool *pool;
	struct tls_conn *prev, *next; /* pool's list while holding buffers */
	uint64_t last_use_ms;
	bool listed;
};

static void pool_unlink(struct tls_conn *c)
{
	struct tls_pool *p = c->pool;
	if (!c->listed)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		p->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		p->tail = c->prev;
	c->prev = c->next = NULL;
	c->listed = false;
	p->count--;
}

/* The connection just used its buffers: most recently used, at the tail. */
static void pool_touch(struct tls_conn *c)
{
	struct tls_pool *p = c->pool;
	c->last_use_ms = reactor_now(p->r);
	if (p->tail == c)
		return;
	pool_unlink(c);
	c->prev = p->tail;
	if (p->tail)
		p->tail->next = c;
	else
		p->head = c;
	p->tail = c;
	c->listed = true;
	p->count++;
	if (!reactor_timer_armed(&p->tick))
		reactor_timer_arm(p->r, &p->tick, p->idle_ms);
}

static void pool_sweep(struct reactor_timer *t)
{
	struct tls_pool *p = (struct tls_pool *)((char *)t - offsetof(struct tls_pool, tick));
	uint64_t now = reactor_now(p->r);
	while (p->head && now - p->head->last_use_ms >= p->idle_ms) {
		struct tls_conn *c = p->head;
		pool_unlink(c);
		if (!SSL_free_buffers(c->ssl)) /* a partial record is buffered: still in use */
			pool_touch(c);
	}
	if (p->head)
		reactor_timer_arm(p->r, &p->tick, p->head->last_use_ms + p->idle_ms - now);
}

int tls_pool_init(struct tls_pool *p, struct reactor *r, uint32_t idle_ms)
{
	*p = (struct tls_pool){.r = r, .idle_ms = idle_ms ? idle_ms : 1};
	p->tick.on_timer = pool_sweep;
	return reactor_timer_reserve(r, 1);
}

void tls_pool_fini(struct tls_pool *p)
{
	if (!p->r)
		return;
	reactor_timer_cancel(p->r, &p->tick);
	reactor_timer_unreserve(p->r, 1);
	p->r = NULL;
}

static int want_of(enum tls_io r)
{
	return r == TLS_IO_WANT_WRITE ? TRANSPORT_WANT_WRITE : TRANSPORT_WANT_READ;
}

static SSL *ssl_of(const struct transport *t)
{
	return ((const struct tls_conn *)t->impl)->ssl;
}

static int tt_handshake(struct transport *t)
{
	pool_touch(t->impl);
	enum tls_failure f = TLS_FAIL_OTHER;
	enum tls_io r = tls_handshake(ssl_of(t), &t->reason, &f);
	t->failure = (uint8_t)f;
	switch (r) {
	case TLS_IO_DONE:
		return 0;
	case TLS_IO_WANT_READ:
	case TLS_IO_WANT_WRITE:
		t->handshake_want = (uint8_t)want_of(r);
		return -EAGAIN;
	case TLS_IO_CLOSED:
		if (!t->reason)
			t->reason = "peer closed during the handshake";
		return -ECONNRESET;
	case TLS_IO_ERROR:
		break;
	}
	return -EPROTO;
}

static ssize_t tt_read(struct transport *t, void *buf, size_t cap)
{
	size_t n = 0;
	pool_touch(t->impl);
	enum tls_io r = tls_read(ssl_of(t), buf, cap, &n, &t->reason);
	switch (r) {
	case TLS_IO_DONE:
		t->read_want = TRANSPORT_WANT_READ;
		return (ssize_t)n;
	case TLS_IO_WANT_READ:
	case TLS_IO_WANT_WRITE:
		t->read_want = (uint8_t)want_of(r);
		return -EAGAIN;
	case TLS_IO_CLOSED:
		return 0;
	case TLS_IO_ERROR:
		break;
	}
	return -EPROTO;
}

static ssize_t tt_write(struct transport *t, const void *buf, size_t len)
{
	size_t n = 0;
	pool_touch(t->impl);
	enum tls_io r = tls_write(ssl_of(t), buf, len, &n, &t->reason);
	switch (r) {
	case TLS_IO_DONE:
		t->write_want = TRANSPORT_WANT_WRITE;
		return (ssize_t)n;
	case TLS_IO_WANT_READ:
	case TLS_IO_WANT_WRITE:
		t->write_want = (uint8_t)want_of(r);
		return -EAGAIN;
	case TLS_IO_CLOSED:
	case TLS_IO_ERROR:
		break;
	}
	return -EPIPE;
}

static void tt_shutdown(struct transport *t)
{
	tls_shutdown(ssl_of(t));
	shutdown(t->fd, SHUT_WR);
}

static void tt_close_notify(struct transport *t)
{
	tls_shutdown(ssl_of(t));
}

static bool tt_pending(const struct transport *t)
{
	return tls_has_pending(ssl_of(t));
}

static void tt_fini(struct transport *t)
{
	struct tls_conn *c = t->impl;
	pool_unlink(c);
	SSL_free(c->ssl); /* frees the BIO too */
	free(c);
}

static const struct transport_ops tls_ops = {
    .name = "tls",
    .handshake = tt_handshake,
    .read = tt_read,
    .write = tt_write,
    .shutdown = tt_shutdown,
    .close_notify = tt_close_notify,
    .pending = tt_pending,
    .fini = tt_fini,
};

static int transport_init_ssl(struct transport *t, SSL *ssl, int fd, struct tls_pool *pool);

int tls_transport_init(struct transport *t, struct tls_server *s, int fd, struct tls_pool *pool)
{
	return transport_init_ssl(t, new_server_ssl(s), fd, pool);
}

int tls_transport_init_ctx(struct transport *t, SSL_CTX *ctx, int fd, struct tls_pool *pool)
{
	return transport_init_ssl(t, new_ctx_ssl(ctx), fd, pool);
}

/* Takes over ssl (NULL: it could not be made). */
static int transport_init_ssl(struct transport *t, SSL *ssl, int fd, struct tls_pool *pool)
{
	pthread_once(&bio_method_once, bio_method_init);
	transport_plain_init(t, fd);
	struct tls_conn *c = ssl && bio_method ? calloc(1, sizeof(*c)) : NULL;
	BIO *bio = c ? BIO_new(bio_method) : NULL;
	if (!bio) {
		SSL_free(ssl);
		free(c);
		ERR_clear_error();
		return FIXGW_ENOMEM;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(ssl, bio, bio);
	SSL_set_read_ahead(ssl, 1);
	/* The pool releases the record buffers when the connection goes quiet, not after every record. */
	SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	c->ssl = ssl;
	c->pool = pool;
	t->ops = &tls_ops;
	t->impl = c;
	t->handshake_want = TRANSPORT_WANT_READ;
	return 0;
}

SSL *tls_transport_ssl(const struct transport *t)
{
	return t->ops == &tls_ops ? ssl_of(t) : NULL;
}
