/* Unit tests for src/net/tls.c against real OpenSSL over loopback socketpairs: versions, SNI selection,
 * client certificates, reload (files and new config, under concurrent use), renegotiation refused,
 * configuration errors, expiry, close and pending-data handling. Certificates are generated at run time
 * with the OpenSSL API into a mkdtemp directory. */
#include "net/tls.c"

#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "io/diag_print.h"

static char dir[64];

/* ---- certificates ---- */

static char *path(const char *name)
{
	static char bufs[8][256];
	static int next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext)
		X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
}

/** Write <name>.key and <name>.crt: a CA when issuer is NULL and ca, self-signed when issuer is NULL,
 * else signed by issuer. Valid from `from` to `to` days from now. */
static X509 *make_cert(const char *name, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                       long from, long to, EVP_PKEY **key_out)
{
	static long serial = 1;
	char file[80], san[300];
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), to * 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn,
	                           -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	add_ext(x, issuer ? issuer : x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (ca) {
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		snprintf(san, sizeof(san), "DNS:%s", cn);
		add_ext(x, issuer ? issuer : x, NID_subject_alt_name, san);
	}
	X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());

	snprintf(file, sizeof(file), "%s.key", name);
	FILE *f = fopen(path(file), "w");
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	snprintf(file, sizeof(file), "%s.crt", name);
	f = fopen(path(file), "w");
	PEM_write_X509(f, x);
	fclose(f);
	if (key_out)
		*key_out = key;
	else
		EVP_PKEY_free(key);
	return x;
}

static void make_all_certs(void)
{
	EVP_PKEY *ca_key;
	snprintf(dir, sizeof(dir), "/tmp/fixgw-tls-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	X509 *ca = make_cert("ca", "fixgw test CA", NULL, NULL, true, -1, 365, &ca_key);
	X509_free(make_cert("localhost", "localhost", ca, ca_key, false, -1, 365, NULL));
	X509_free(make_cert("sni", "sni.example.test", ca, ca_key, false, -1, 365, NULL));
	X509_free(make_cert("wild", "*.wild.test", ca, ca_key, false, -1, 365, NULL));
	X509_free(make_cert("reloaded", "reloaded", ca, ca_key, false, -1, 365, NULL));
	X509_free(make_cert("expired", "expired", ca, ca_key, false, -30, -1, NULL));
	X509_free(make_cert("client", "client", ca, ca_key, false, -1, 365, NULL));
	X509_free(make_cert("rogue", "rogue", NULL, NULL, false, -1, 365, NULL));
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void copy_file(const char *from, const char *to)
{
	char buf[8192], tmp[300];
	size_t n;
	/* Write aside and rename, as a Secret volume update does: readers never see half a file. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	FILE *in = fopen(from, "r"), *out = fopen(tmp, "w");
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
	rename(tmp, to);
}

/* ---- configurations ---- */

static void cfg_cert(struct tls_config *cfg, const char *sni, const char *name)
{
	char f[80];
	struct tls_cert_config *c = &cfg->certs[cfg->ncerts++];
	c->server_name = sni ? strdup(sni) : NULL;
	snprintf(f, sizeof(f), "%s.crt", name);
	c->cert_file = strdup(path(f));
	snprintf(f, sizeof(f), "%s.key", name);
	c->key_file = strdup(path(f));
}

static struct tls_server *server(const struct tls_config *cfg)
{
	struct diag_list dl;
	struct tls_server *s = NULL;
	diag_list_init(&dl);
	int rc = tls_server_new("test", cfg, &s, &dl);
	CHECK_EQ_INT(rc, 0);
	if (rc)
		diag_print(&dl, stderr);
	diag_list_free(&dl);
	return s;
}

static struct tls_server *server_default(void)
{
	struct tls_config cfg = {0};
	cfg_cert(&cfg, NULL, "localhost");
	struct tls_server *s = server(&cfg);
	tls_config_free(&cfg);
	return s;
}

static bool diag_has(const struct diag_list *dl, enum diag_severity sev, const char *file, const char *text)
{
	for (size_t i = 0; i < dl->count; i++) {
		const struct diag *d = &dl->items[i];
		if (d->severity == sev && (!file || (d->file && strcmp(d->file, file) == 0)) &&
		    strstr(d->message, text) && d->path && strcmp(d->path, "listeners.test.tls") == 0)
			return true;
	}
	return false;
}

/** tls_server_new must fail with FIXGW_EINVAL and an error mentioning text (about file when non-NULL). */
static void expect_config_error(const struct tls_config *cfg, const char *file, const char *text)
{
	struct diag_list dl;
	struct tls_server *s = (struct tls_server *)1;
	diag_list_init(&dl);
	CHECK_EQ_INT(tls_server_new("test", cfg, &s, &dl), FIXGW_EINVAL);
	CHECK(s == NULL);
	CHECK(dl.nerrors >= 1);
	if (!diag_has(&dl, DIAG_ERROR, file, text)) {
		fprintf(stderr, "expected an error with \"%s\"; got:\n", text);
		diag_print(&dl, stderr);
		CHECK(!"diagnostic missing");
	}
	diag_list_free(&dl);
}

/* ---- a client and a server SSL over a socketpair ---- */

struct client_opts {
	int min_version, max_version;
	const char *sni;
	const char *cert;    /* base name of a cert/key pair to present */
	bool seclevel0;      /* let the client offer what OpenSSL 3 forbids by default (TLS 1.0/1.1) */
	bool no_ticket;      /* TLS 1.2: resume by session id (the server's cache), not by ticket */
	const char *ciphers; /* TLS 1.2 cipher list the client offers, NULL = OpenSSL's default */
};

struct pair {
	int fd[2];
	SSL_CTX *cctx;
	SSL *srv, *cli;
	bool srv_done, cli_done, srv_failed, cli_failed;
	const char *reason; /* the server's, on failure */
	enum tls_failure failure;
};

static void pair_open(struct pair *p, struct tls_server *s, const struct client_opts *o)
{
	char f[80];
	memset(p, 0, sizeof(*p));
	socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd);
	fcntl(p->fd[0], F_SETFL, O_NONBLOCK);
	fcntl(p->fd[1], F_SETFL, O_NONBLOCK);
	p->srv = tls_server_new_ssl(s, p->fd[0]);
	CHECK(p->srv != NULL);

	p->cctx = SSL_CTX_new(TLS_client_method());
	if (o && o->seclevel0)
		SSL_CTX_set_cipher_list(p->cctx, "DEFAULT:@SECLEVEL=0");
	if (o && o->ciphers)
		CHECK(SSL_CTX_set_cipher_list(p->cctx, o->ciphers) == 1);
	SSL_CTX_set_min_proto_version(p->cctx, o && o->min_version ? o->min_version : TLS1_VERSION);
	if (o && o->max_version)
		SSL_CTX_set_max_proto_version(p->cctx, o->max_version);
	if (o && o->no_ticket)
		SSL_CTX_set_options(p->cctx, SSL_OP_NO_TICKET);
	if (o && o->cert) {
		snprintf(f, sizeof(f), "%s.crt", o->cert);
		CHECK(SSL_CTX_use_certificate_file(p->cctx, path(f), SSL_FILETYPE_PEM) == 1);
		snprintf(f, sizeof(f), "%s.key", o->cert);
		CHECK(SSL_CTX_use_PrivateKey_file(p->cctx, path(f), SSL_FILETYPE_PEM) == 1);
	}
	p->cli = SSL_new(p->cctx);
	SSL_set_fd(p->cli, p->fd[1]);
	SSL_set_connect_state(p->cli);
	if (o && o->sni)
		SSL_set_tlsext_host_name(p->cli, o->sni);
}

static void pair_close(struct pair *p)
{
	SSL_free(p->srv);
	SSL_free(p->cli);
	SSL_CTX_free(p->cctx);
	close(p->fd[0]);
	close(p->fd[1]);
}

/** Drive both handshakes until both finish or the server fails (a TLS 1.3 client can finish first and
 * only learn of a refusal later). Returns whether the server's handshake finished. */
static bool pair_handshake(struct pair *p)
{
	for (int turn = 0; turn < 200 && !(p->srv_done && p->cli_done) && !p->srv_failed; turn++) {
		if (!p->srv_done) {
			enum tls_io r = tls_handshake(p->srv, &p->reason, &p->failure);
			p->srv_done = r == TLS_IO_DONE;
			p->srv_failed = r == TLS_IO_ERROR || r == TLS_IO_CLOSED;
		}
		if (!p->cli_done && !p->cli_failed) {
			int ret = SSL_do_handshake(p->cli);
			int e = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(p->cli, ret);
			p->cli_done = ret == 1;
			p->cli_failed =
			    e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
		}
	}
	ERR_clear_error();
	return p->srv_done;
}

/** Common name of the certificate the server presented. */
static const char *served_cn(const struct pair *p)
{
	static char cn[128];
	X509 *x = SSL_get0_peer_certificate(p->cli);
	cn[0] = '\0';
	if (x)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	return cn;
}

/** Client writes msg, the server reads it all; then the server echoes it back. */
static bool pair_echo(struct pair *p, const char *msg)
{
	char buf[256];
	size_t len = strlen(msg), got = 0, n;
	if (SSL_write(p->cli, msg, (int)len) != (int)len)
		return false;
	for (int turn = 0; turn < 100 && got < len; turn++) {
		enum tls_io r = tls_read(p->srv, buf + got, sizeof(buf) - got, &n, NULL);
		if (r == TLS_IO_DONE)
			got += n;
		else if (r != TLS_IO_WANT_READ)
			return false;
	}
	if (got != len || memcmp(buf, msg, len) != 0)
		return false;
	if (tls_write(p->srv, buf, len, &n, NULL) != TLS_IO_DONE || n != len)
		return false;
	int ret = SSL_read(p->cli, buf, (int)sizeof(buf));
	return ret == (int)len && memcmp(buf, msg, len) == 0;
}

static void check_connects(struct tls_server *s, const struct client_opts *o, const char *cn,
                           const char *version)
{
	struct pair p;
	pair_open(&p, s, o);
	CHECK(pair_handshake(&p));
	CHECK(p.cli_done);
	CHECK_EQ_STR(served_cn(&p), cn);
	if (version)
		CHECK_EQ_STR(tls_version_name(p.srv), version);
	CHECK(pair_echo(&p, "8=FIX.4.4\0019=5\00135=A\001"));
	pair_close(&p);
}

static void check_refused(struct tls_server *s, const struct client_opts *o)
{
	struct pair p;
	pair_open(&p, s, o);
	CHECK(!pair_handshake(&p));
	CHECK(p.srv_failed);
	CHECK(p.reason != NULL);
	pair_close(&p);
}

/* ---- tests ---- */

TEST(test_name_matching)
{
	CHECK(name_match("sni.example.test", "SNI.Example.TEST", false));
	CHECK(!name_match("sni.example.test", "sni.example.test", true));
	CHECK(name_match("*.wild.test", "a.wild.test", true));
	CHECK(!name_match("*.wild.test", "a.wild.test", false));
	CHECK(!name_match("*.wild.test", "a.b.wild.test", true));
	CHECK(!name_match("*.wild.test", "wild.test", true));
	CHECK(!name_match("*.wild.test", ".wild.test", true));
	CHECK(name_valid("a.example.com"));
	CHECK(name_valid("*.example.com"));
	CHECK(!name_valid("a.*.com"));
	CHECK(!name_valid("*"));
	CHECK(!name_valid("*."));
	CHECK(!name_valid(""));

	struct tls_ctx_set set = {.n = 3, .names = {NULL, "*.x.test", "a.x.test"}};
	CHECK_EQ_INT(set_lookup(&set, "a.x.test"), 2); /* exact beats wildcard */
	CHECK_EQ_INT(set_lookup(&set, "b.x.test"), 1);
	CHECK_EQ_INT(set_lookup(&set, "x.test"), 0);
	CHECK_EQ_INT(set_lookup(&set, NULL), 0);
}

TEST(test_tls13_and_tls12)
{
	struct tls_server *s = server_default();
	struct pair p;

	check_connects(s, NULL, "localhost", "TLSv1.3");
	check_connects(s, &(struct client_opts){.max_version = TLS1_2_VERSION}, "localhost", "TLSv1.2");

	pair_open(&p, s, NULL);
	CHECK(pair_handshake(&p));
	CHECK(tls_cipher_name(p.srv) != NULL && strstr(tls_cipher_name(p.srv), "TLS_") != NULL);
	CHECK(tls_sni_name(p.srv) == NULL);
	CHECK(SSL_get_options(p.srv) & SSL_OP_NO_RENEGOTIATION);
	CHECK(SSL_get_options(p.srv) & SSL_OP_NO_COMPRESSION);
	CHECK(SSL_get_mode(p.srv) & SSL_MODE_RELEASE_BUFFERS);
	pair_close(&p);
	tls_server_free(s);
}

TEST(test_old_versions_refused)
{
	struct tls_server *s = server_default();
	struct pair p;
	for (int v = TLS1_VERSION; v <= TLS1_1_VERSION; v++) {
		pair_open(&p, s, &(struct client_opts){.max_version = v, .seclevel0 = true});
		CHECK(!pair_handshake(&p));
		CHECK(p.srv_failed);
		CHECK(p.reason && strstr(p.reason, "protocol"));
		CHECK_EQ_STR(tls_failure_name(p.failure), "protocol_version");
		pair_close(&p);
	}
	tls_server_free(s);
}

TEST(test_no_shared_cipher)
{
	struct tls_config cfg = {.ciphers =
	                             strdup("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")};
	cfg_cert(&cfg, NULL, "localhost");
	struct tls_server *s = server(&cfg);
	struct pair p;
	pair_open(
	    &p, s,
	    &(struct client_opts){.max_version = TLS1_2_VERSION,
	                          .ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"});
	CHECK(!pair_handshake(&p));
	CHECK(p.srv_failed);
	CHECK_EQ_STR(tls_failure_name(p.failure), "no_shared_cipher");
	pair_close(&p);
	tls_server_free(s);
	tls_config_free(&cfg);
}

TEST(test_min_version_13)
{
	struct tls_config cfg = {.min_version = TLS1_3_VERSION};
	cfg_cert(&cfg, NULL, "localhost");
	struct tls_server *s = server(&cfg);
	check_refused(s, &(struct client_opts){.max_version = TLS1_2_VERSION});
	check_connects(s, NULL, "localhost", "TLSv1.3");
	tls_server_free(s);
	tls_config_free(&cfg);
}

TEST(test_sni_selects_certificate)
{
	struct tls_config cfg = {0};
	struct pair p;
	cfg_cert(&cfg, NULL, "localhost");
	cfg_cert(&cfg, "sni.example.test", "sni");
	cfg_cert(&cfg, "*.wild.test", "wild");
	struct tls_server *s = server(&cfg);

	check_connects(s, &(struct client_opts){.sni = "sni.example.test"}, "sni.example.test", NULL);
	check_connects(s, &(struct client_opts){.sni = "SNI.example.TEST", .max_version = TLS1_2_VERSION},
	               "sni.example.test", "TLSv1.2");
	check_connects(s, &(struct client_opts){.sni = "a.wild.test"}, "*.wild.test", NULL);
	check_connects(s, &(struct client_opts){.sni = "a.b.wild.test"}, "localhost", NULL);
	check_connects(s, &(struct client_opts){.sni = "localhost"}, "localhost", NULL);

	/* An unknown name gets the default certificate, and the name stays readable for logs. */
	pair_open(&p, s, &(struct client_opts){.sni = "unknown.test"});
	CHECK(pair_handshake(&p));
	CHECK_EQ_STR(served_cn(&p), "localhost");
	CHECK_EQ_STR(tls_sni_name(p.srv), "unknown.test");
	pair_close(&p);

	pair_open(&p, s, &(struct client_opts){.sni = "sni.example.test", .max_version = TLS1_2_VERSION});
	CHECK(pair_handshake(&p));
	CHECK_EQ_STR(tls_sni_name(p.srv), "sni.example.test");
	pair_close(&p);

	tls_server_free(s);
	tls_config_free(&cfg);
}

TEST(test_client_certificates)
{
	struct tls_config cfg = {.client_ca_file = strdup(path("ca.crt")), .require_client_cert = true};
	cfg_cert(&cfg, NULL, "localhost");
	cfg_cert(&cfg, "sni.example.test", "sni");
	struct tls_server *s = server(&cfg);
	struct pair p;

	/* The SNI switch keeps verification on. */
	check_refused(s, &(struct client_opts){.sni = "sni.example.test"});
	check_refused(s, &(struct client_opts){.sni = "sni.example.test", .cert = "rogue"});
	check_connects(s, &(struct client_opts){.sni = "sni.example.test", .cert = "client"},
	               "sni.example.test", NULL);

	check_refused(s, NULL);
	check_refused(s, &(struct client_opts){.max_version = TLS1_2_VERSION});
	check_connects(s, &(struct client_opts){.cert = "client"}, "localhost", "TLSv1.3");
	check_connects(s, &(struct client_opts){.cert = "client", .max_version = TLS1_2_VERSION}, "localhost",
	               "TLSv1.2");

	pair_open(&p, s, &(struct client_opts){.cert = "client"});
	CHECK(pair_handshake(&p));
	X509 *peer = SSL_get0_peer_certificate(p.srv);
	CHECK(peer != NULL);
	CHECK_EQ_INT(SSL_get_verify_result(p.srv), X509_V_OK);
	pair_close(&p);

	/* A certificate from outside the CA: the reason is the verification error, not a generic one. */
	pair_open(&p, s, &(struct client_opts){.cert = "rogue"});
	CHECK(!pair_handshake(&p));
	CHECK(p.reason && strstr(p.reason, "self-signed"));
	CHECK_EQ_STR(tls_failure_name(p.failure), "unknown_ca");
	pair_close(&p);

	/* No certificate where one is required. */
	pair_open(&p, s, NULL);
	CHECK(!pair_handshake(&p));
	CHECK_EQ_STR(tls_failure_name(p.failure), "bad_certificate");
	pair_close(&p);
	tls_server_free(s);

	/* Optional: no certificate is fine, a bad one is not. */
	cfg.require_client_cert = false;
	s = server(&cfg);
	check_connects(s, NULL, "localhost", NULL);
	check_connects(s, &(struct client_opts){.cert = "client"}, "localhost", NULL);
	check_refused(s, &(struct client_opts){.cert = "rogue"});
	tls_server_free(s);
	tls_config_free(&cfg);
}

TEST(test_reload)
{
	struct tls_config cfg = {0}, bad = {0};
	struct diag_list dl;
	struct pair live;
	diag_list_init(&dl);

	copy_file(path("localhost.crt"), path("live.crt"));
	copy_file(path("localhost.key"), path("live.key"));
	cfg_cert(&cfg, NULL, "live");
	struct tls_server *s = server(&cfg);
	pair_open(&live, s, NULL);
	CHECK(pair_handshake(&live));
	CHECK_EQ_STR(served_cn(&live), "localhost");

	/* cert-manager renews the Secret: new files, reload, new connections see the new certificate. */
	copy_file(path("reloaded.crt"), path("live.crt"));
	copy_file(path("reloaded.key"), path("live.key"));
	CHECK_EQ_INT(tls_server_reload(s, NULL, &dl), 0);
	CHECK_EQ_INT(dl.count, 0);
	check_connects(s, NULL, "reloaded", NULL);
	CHECK(pair_echo(&live, "still here")); /* the old connection keeps its context */

	/* A reload that fails keeps the certificates in use. */
	cfg_cert(&bad, NULL, "missing");
	CHECK_EQ_INT(tls_server_reload(s, &bad, &dl), FIXGW_EINVAL);
	CHECK(diag_has(&dl, DIAG_ERROR, path("missing.crt"), "No such file"));
	check_connects(s, NULL, "reloaded", NULL);

	/* Half-written update (certificate without its key): refused; the next one completes it. */
	copy_file(path("localhost.crt"), path("live.crt"));
	CHECK_EQ_INT(tls_server_reload(s, NULL, &dl), FIXGW_EINVAL);
	CHECK(diag_has(&dl, DIAG_ERROR, path("live.key"), "key values mismatch"));
	check_connects(s, NULL, "reloaded", NULL);
	copy_file(path("localhost.key"), path("live.key"));
	CHECK_EQ_INT(tls_server_reload(s, NULL, &dl), 0);
	check_connects(s, NULL, "localhost", NULL);

	/* A new configuration becomes the one in use (and the one reload(NULL) re-reads). */
	struct tls_config other = {0};
	cfg_cert(&other, NULL, "sni");
	CHECK_EQ_INT(tls_server_reload(s, &other, &dl), 0);
	tls_config_free(&other);
	check_connects(s, NULL, "sni.example.test", NULL);
	CHECK_EQ_INT(tls_server_reload(s, NULL, &dl), 0);
	check_connects(s, NULL, "sni.example.test", NULL);

	CHECK(pair_echo(&live, "and still"));
	tls_server_free(s);
	CHECK(pair_echo(&live, "after free")); /* SSLs outlive the server */
	pair_close(&live);
	tls_config_free(&cfg);
	tls_config_free(&bad);
	diag_list_free(&dl);
}

/** Reconnect with the session of a first connection (read something first: TLS 1.3 tickets arrive after the
 * handshake). Client certificates on, which needs the session id context. */
static void check_resumes(int max_version, bool no_ticket)
{
	struct tls_config cfg = {.client_ca_file = strdup(path("ca.crt")), .require_client_cert = true};
	cfg_cert(&cfg, NULL, "localhost");
	struct tls_server *s = server(&cfg);
	struct client_opts o = {.max_version = max_version, .cert = "client", .no_ticket = no_ticket};
	struct pair p;

	pair_open(&p, s, &o);
	CHECK(pair_handshake(&p) && pair_echo(&p, "first"));
	SSL_SESSION *sess = SSL_get1_session(p.cli);
	CHECK(sess != NULL);
	/* OpenSSL drops the session of a connection freed without close_notify (tickets still work). */
	tls_shutdown(p.srv);
	SSL_shutdown(p.cli);
	pair_close(&p);

	pair_open(&p, s, &o);
	SSL_set_session(p.cli, sess);
	CHECK(pair_handshake(&p) && pair_echo(&p, "again"));
	CHECK(SSL_session_reused(p.srv));
	pair_close(&p);
	SSL_SESSION_free(sess);
	tls_server_free(s);
	tls_config_free(&cfg);
}

TEST(test_session_resumption)
{
	check_resumes(TLS1_2_VERSION, false); /* ticket */
	check_resumes(TLS1_2_VERSION, true);  /* session id: the server's cache */
	check_resumes(0, false);              /* TLS 1.3 ticket */
}

TEST(test_renegotiation_refused)
{
	struct tls_server *s = server_default();
	struct pair p;
	char buf[64];
	size_t n;
	bool renegotiated = false, client_saw_refusal = false;

	pair_open(&p, s, &(struct client_opts){.max_version = TLS1_2_VERSION});
	CHECK(pair_handshake(&p));
	CHECK_EQ_STR(tls_version_name(p.srv), "TLSv1.2");
	CHECK_EQ_INT(SSL_renegotiate(p.cli), 1);
	for (int turn = 0; turn < 100; turn++) {
		int ret = SSL_do_handshake(p.cli);
		if (ret == 1 && !SSL_renegotiate_pending(p.cli)) {
			renegotiated = true;
			break;
		}
		int e = SSL_get_error(p.cli, ret);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			/* The server answered the new ClientHello with a no_renegotiation alert. */
			unsigned long err = ERR_peek_error();
			client_saw_refusal = ERR_GET_REASON(err) == SSL_R_NO_RENEGOTIATION;
			break;
		}
		tls_read(p.srv, buf, sizeof(buf), &n, NULL);
	}
	ERR_clear_error();
	CHECK(!renegotiated);
	CHECK(client_saw_refusal);
	CHECK_EQ_INT(SSL_num_renegotiations(p.srv), 0);
	pair_close(&p);
	tls_server_free(s);
}

TEST(test_config_errors)
{
	struct tls_config cfg = {0};
	cfg_cert(&cfg, NULL, "localhost");

	cfg.ciphers = strdup("NOT-A-CIPHER");
	expect_config_error(&cfg, NULL, "ciphers \"NOT-A-CIPHER\"");
	str_free(&cfg.ciphers);
	cfg.ciphersuites = strdup("TLS_NOPE");
	expect_config_error(&cfg, NULL, "ciphersuites \"TLS_NOPE\"");
	str_free(&cfg.ciphersuites);

	/* Valid lists are accepted. */
	cfg.ciphers = strdup("ECDHE-ECDSA-AES256-GCM-SHA384");
	cfg.ciphersuites = strdup("TLS_AES_256_GCM_SHA384");
	tls_server_free(server(&cfg));
	str_free(&cfg.ciphers);
	str_free(&cfg.ciphersuites);

	cfg.min_version = TLS1_1_VERSION;
	expect_config_error(&cfg, NULL, "minimum version");
	cfg.min_version = 0;

	cfg.require_client_cert = true;
	expect_config_error(&cfg, NULL, "no client CA");
	cfg.client_ca_file = strdup(path("nope.crt"));
	expect_config_error(&cfg, path("nope.crt"), "client CA");
	cfg.require_client_cert = false;
	str_free(&cfg.client_ca_file);

	/* Key of another certificate. */
	free(cfg.certs[0].key_file);
	cfg.certs[0].key_file = strdup(path("sni.key"));
	expect_config_error(&cfg, path("sni.key"), "key values mismatch");
	tls_config_free(&cfg);

	/* Missing files name the file and the system's reason. */
	cfg_cert(&cfg, NULL, "missing");
	expect_config_error(&cfg, path("missing.crt"), "No such file or directory");
	tls_config_free(&cfg);

	/* Not a certificate at all. */
	cfg_cert(&cfg, NULL, "localhost");
	free(cfg.certs[0].cert_file);
	cfg.certs[0].cert_file = strdup(path("localhost.key"));
	expect_config_error(&cfg, path("localhost.key"), "certificate chain");
	tls_config_free(&cfg);

	expect_config_error(&cfg, NULL, "needs 1 to");

	/* Names: the default may not be repeated, others need a valid, unique name. */
	cfg_cert(&cfg, NULL, "localhost");
	cfg_cert(&cfg, NULL, "sni");
	expect_config_error(&cfg, path("sni.crt"), "needs a server name");
	cfg.certs[1].server_name = strdup("a.*.test");
	expect_config_error(&cfg, path("sni.crt"), "expected a host name");
	str_free(&cfg.certs[1].server_name);
	cfg.certs[1].server_name = strdup("Dup.test");
	cfg_cert(&cfg, "dup.TEST", "wild");
	expect_config_error(&cfg, path("wild.crt"), "given twice");
	tls_config_free(&cfg);

	/* Every problem at once: two bad certificates and a bad cipher list. */
	struct diag_list dl;
	struct tls_server *s;
	diag_list_init(&dl);
	cfg_cert(&cfg, NULL, "missing");
	cfg_cert(&cfg, "x.test", "missing2");
	cfg.ciphers = strdup("NOT-A-CIPHER");
	CHECK_EQ_INT(tls_server_new("test", &cfg, &s, &dl), FIXGW_EINVAL);
	CHECK_EQ_INT(dl.nerrors, 3);
	diag_list_free(&dl);
	tls_config_free(&cfg);
	tls_config_free(&cfg); /* twice is fine */
}

TEST(test_expiry)
{
	struct tls_config cfg = {0};
	struct diag_list dl;
	struct tls_server *s = NULL;
	time_t when[4] = {0};
	time_t now = time(NULL);

	diag_list_init(&dl);
	cfg_cert(&cfg, NULL, "expired");
	cfg_cert(&cfg, "sni.example.test", "sni");
	CHECK_EQ_INT(tls_server_new("test", &cfg, &s, &dl), 0); /* a warning, not an error */
	CHECK_EQ_INT(dl.nerrors, 0);
	CHECK(diag_has(&dl, DIAG_WARNING, path("expired.crt"), "certificate expired on 20"));
	CHECK_EQ_INT(tls_server_cert_expiry(s, when, 4), 2);
	CHECK(when[0] < now && when[0] > now - 2 * 86400);
	CHECK(when[1] > now + 364 * 86400 && when[1] < now + 366 * 86400);
	CHECK_EQ_INT(tls_server_cert_expiry(s, when, 1), 2);
	check_connects(s, NULL, "expired", NULL);
	tls_server_free(s);
	diag_list_free(&dl);
	tls_config_free(&cfg);
}

TEST(test_close_and_pending)
{
	struct tls_server *s = server_default();
	struct pair p;
	char buf[64];
	size_t n = 99, total = 0;
	const char *reason = NULL;

	/* Two records in one socket read: the second is invisible to epoll once OpenSSL buffered it. */
	pair_open(&p, s, NULL);
	CHECK(pair_handshake(&p));
	CHECK(SSL_write(p.cli, "abcdef", 6) == 6);
	CHECK(tls_read(p.srv, buf, 2, &n, NULL) == TLS_IO_DONE);
	CHECK_EQ_INT(n, 2);
	CHECK(tls_has_pending(p.srv));
	total = n;
	while (tls_has_pending(p.srv) && tls_read(p.srv, buf + total, 2, &n, NULL) == TLS_IO_DONE)
		total += n;
	CHECK_EQ_INT(total, 6);
	CHECK(!tls_has_pending(p.srv));
	CHECK(tls_read(p.srv, buf, sizeof(buf), &n, NULL) == TLS_IO_WANT_READ);
	CHECK(tls_read(p.srv, buf, 0, &n, NULL) == TLS_IO_DONE && n == 0);

	/* close_notify from the client */
	SSL_shutdown(p.cli);
	CHECK(tls_read(p.srv, buf, sizeof(buf), &n, &reason) == TLS_IO_CLOSED);
	CHECK_EQ_STR(reason, "close_notify");
	pair_close(&p);

	/* a bare TCP close, as many FIX clients do */
	pair_open(&p, s, NULL);
	CHECK(pair_handshake(&p));
	shutdown(p.fd[1], SHUT_RDWR);
	reason = NULL;
	CHECK(tls_read(p.srv, buf, sizeof(buf), &n, &reason) == TLS_IO_CLOSED);
	CHECK_EQ_STR(reason, "EOF without close_notify");
	tls_shutdown(p.srv); /* nothing is sent, nothing is queued */
	CHECK_EQ_INT(ERR_peek_error(), 0);
	pair_close(&p);

	/* the server closes politely */
	pair_open(&p, s, NULL);
	CHECK(pair_handshake(&p));
	tls_shutdown(p.srv);
	CHECK(SSL_read(p.cli, buf, sizeof(buf)) <= 0);
	CHECK_EQ_INT(SSL_get_error(p.cli, 0), SSL_ERROR_ZERO_RETURN);
	pair_close(&p);

	/* garbage instead of a ClientHello */
	pair_open(&p, s, NULL);
	CHECK(write(p.fd[1], "8=FIX.4.4\0019=70\00135=A\001", 20) == 20);
	reason = NULL;
	enum tls_failure failure = TLS_FAIL_OTHER;
	CHECK(tls_handshake(p.srv, &reason, &failure) == TLS_IO_ERROR);
	CHECK(reason != NULL);
	CHECK_EQ_STR(tls_failure_name(failure), "protocol_version"); /* not TLS at all */
	tls_shutdown(p.srv);                                         /* harmless mid-handshake */
	pair_close(&p);
	tls_server_free(s);
}

struct worker_arg {
	struct tls_server *s;
	int ok, failed;
};

static void *worker(void *argp)
{
	struct worker_arg *a = argp;
	static const char *names[] = {NULL, "sni.example.test", "unknown.test"};
	for (int i = 0; i < 60; i++) {
		struct pair p;
		pair_open(&p, a->s, &(struct client_opts){.sni = names[i % 3]});
		if (pair_handshake(&p) && pair_echo(&p, "x"))
			a->ok++;
		else
			a->failed++;
		pair_close(&p);
	}
	return NULL;
}

TEST(test_reload_while_serving)
{
	struct tls_config cfg[2] = {{0}, {0}};
	pthread_t t[4];
	struct worker_arg args[4];
	struct diag_list dl;

	diag_list_init(&dl);
	cfg_cert(&cfg[0], NULL, "localhost");
	cfg_cert(&cfg[0], "sni.example.test", "sni");
	cfg_cert(&cfg[1], NULL, "reloaded");
	cfg_cert(&cfg[1], "sni.example.test", "sni");
	struct tls_server *s = server(&cfg[0]);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct worker_arg){.s = s};
		pthread_create(&t[i], NULL, worker, &args[i]);
	}
	for (int i = 0; i < 30; i++)
		CHECK_EQ_INT(tls_server_reload(s, &cfg[i % 2], &dl), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(args[i].ok, 60);
	}
	tls_server_free(s);
	tls_config_free(&cfg[0]);
	tls_config_free(&cfg[1]);
	diag_list_free(&dl);
}

/* The transport over fixgw's BIO: one recv takes what is there (both records), a drained socket is not read
 * again until epoll says so, and the record buffers go back when the connection is quiet. */
TEST(test_transport_reads_once_and_releases_buffers)
{
	struct tls_server *s = server_default();
	struct reactor r;
	struct tls_pool pool;
	struct transport t;
	int fd[2];
	char buf[64];
	CHECK_EQ_INT(reactor_init(&r), 0);
	CHECK_EQ_INT(tls_pool_init(&pool, &r, 1000), 0);
	socketpair(AF_UNIX, SOCK_STREAM, 0, fd);
	fcntl(fd[0], F_SETFL, O_NONBLOCK);
	fcntl(fd[1], F_SETFL, O_NONBLOCK);
	CHECK_EQ_INT(tls_transport_init(&t, s, fd[0], &pool), 0);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *cli = SSL_new(cctx);
	SSL_set_fd(cli, fd[1]);
	SSL_set_connect_state(cli);
	int rc = -EAGAIN, cret = 0;
	for (int turn = 0; turn < 100 && (rc != 0 || cret != 1); turn++) {
		transport_readable(&t);
		if (rc != 0)
			rc = transport_handshake(&t);
		if (cret != 1)
			cret = SSL_do_handshake(cli);
	}
	CHECK_EQ_INT(rc, 0);
	CHECK(tls_transport_ssl(&t) != NULL);
	CHECK_EQ_INT(pool.count, 1);

	CHECK_EQ_INT(SSL_write(cli, "hello", 5), 5);
	CHECK_EQ_INT(SSL_write(cli, "world", 5), 5);
	transport_readable(&t);
	CHECK_EQ_INT(transport_read(&t, buf, sizeof(buf)), 5);
	CHECK(t.rx_drained);          /* one recv took both records */
	CHECK(transport_pending(&t)); /* the second waits in OpenSSL, where epoll cannot see it */
	CHECK_EQ_INT(transport_read(&t, buf + 5, sizeof(buf) - 5), 5);
	CHECK(memcmp(buf, "helloworld", 10) == 0);
	CHECK_EQ_INT(SSL_write(cli, "again", 5), 5);
	CHECK_EQ_INT(transport_read(&t, buf, sizeof(buf)),
	             -EAGAIN); /* drained: no syscall until epoll says */
	transport_readable(&t);
	CHECK_EQ_INT(transport_read(&t, buf, sizeof(buf)), 5);
	CHECK_EQ_INT(transport_write(&t, "reply", 5), 5);
	CHECK_EQ_INT(SSL_read(cli, buf, sizeof(buf)), 5);

	/* quiet for idle_ms: the buffers go back; the connection still works and takes them again */
	r.now_ms += 1000;
	pool.tick.on_timer(&pool.tick);
	CHECK_EQ_INT(pool.count, 0);
	CHECK_EQ_INT(SSL_write(cli, "later", 5), 5);
	transport_readable(&t);
	CHECK_EQ_INT(transport_read(&t, buf, sizeof(buf)), 5);
	CHECK_EQ_INT(pool.count, 1);
	transport_fini(&t);
	CHECK_EQ_INT(pool.count, 0);

	SSL_free(cli);
	SSL_CTX_free(cctx);
	close(fd[0]);
	close(fd[1]);
	tls_pool_fini(&pool);
	reactor_fini(&r);
	tls_server_free(s);
}

TEST(test_cleanup)
{
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	make_all_certs();
}

TEST_MAIN(TEST_ENTRY(setup), TEST_ENTRY(test_name_matching), TEST_ENTRY(test_tls13_and_tls12),
          TEST_ENTRY(test_old_versions_refused), TEST_ENTRY(test_no_shared_cipher),
          TEST_ENTRY(test_min_version_13), TEST_ENTRY(test_sni_selects_certificate),
          TEST_ENTRY(test_client_certificates), TEST_ENTRY(test_reload), TEST_ENTRY(test_session_resumption),
          TEST_ENTRY(test_renegotiation_refused), TEST_ENTRY(test_config_errors), TEST_ENTRY(test_expiry),
          TEST_ENTRY(test_close_and_pending), TEST_ENTRY(test_reload_while_serving),
          TEST_ENTRY(test_transport_reads_once_and_releases_buffers), TEST_ENTRY(test_cleanup))
