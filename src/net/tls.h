/* tls.h - server-side TLS for the gateway's listeners (OpenSSL 3).
 *
 * One tls_server per TLS listener holds an SSL_CTX per certificate (the default and one per SNI name).
 * Certificates are reloadable: tls_server_reload() builds new contexts and swaps them in for new
 * handshakes only; live connections keep the context they started with (OpenSSL reference counts).
 * Renegotiation is refused (SSL_OP_NO_RENEGOTIATION); the minimum version defaults to TLS 1.2.
 *
 * SNI picks the certificate only, never the route: routing is decided from the Logon's fields.
 * One tls_server is shared by all worker threads; each creates its SSLs from it.
 * OpenSSL writes to sockets with write(2), so the process must ignore SIGPIPE.
 * See docs/internals/tls.md.
 */
#ifndef FIXGW_NET_TLS_H
#define FIXGW_NET_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/diag.h"
#include "net/reactor.h"
#include "net/transport.h"

#define TLS_MAX_CERTS 32

struct tls_cert_config {
	char *server_name; /* SNI name this pair serves ("*.example.com" allowed); NULL for the default */
	char *cert_file;   /* PEM chain */
	char *key_file;    /* PEM key */
};

/** A listener's TLS settings (owned strings; freed by tls_config_free). */
struct tls_config {
	bool enabled;
	struct tls_cert_config certs[TLS_MAX_CERTS]; /* certs[0] is the default (server_name NULL) */
	size_t ncerts;
	int min_version;          /* TLS1_2_VERSION (default) or TLS1_3_VERSION */
	char *ciphers;            /* TLS 1.2 cipher list (OpenSSL syntax), NULL = OpenSSL default */
	char *ciphersuites;       /* TLS 1.3 suites, NULL = OpenSSL default */
	char *client_ca_file;     /* verify client certificates against this CA bundle when set */
	bool require_client_cert; /* with client_ca_file: refuse clients without a valid certificate */
};

/** Free the owned strings of cfg (not cfg itself) and zero it; safe to call twice. */
void tls_config_free(struct tls_config *cfg);

struct tls_server;

/** Build contexts from cfg (certificates are read now; cfg is copied, the caller keeps it). Every problem
 * goes to dl (not NULL) under "listeners.<listener>.tls" with the file concerned and OpenSSL's reason; an
 * expired or not yet valid certificate is a warning, not an error. Returns 0 or FIXGW_EINVAL /
 * FIXGW_ENOMEM. */
int tls_server_new(const char *listener, const struct tls_config *cfg, struct tls_server **out,
                   struct diag_list *dl);
/** Re-read certificates and keys: the same files when cfg is NULL, else those of cfg (copied; it
 * becomes the configuration in use on success). New handshakes use the new certificates; connections
 * already made keep theirs. On failure the old contexts stay, problems are in dl, and a negative code is
 * returned. Thread safe with respect to all other functions here but tls_server_free(). */
int tls_server_reload(struct tls_server *s, const struct tls_config *cfg, struct diag_list *dl);
/** The notAfter time of each certificate in use (index i is certs[i] of the configuration in use): fills
 * up to max entries and returns how many certificates there are. For logging and alerting on expiry. */
size_t tls_server_cert_expiry(const struct tls_server *s, time_t *not_after_out, size_t max);

/** Free s; SSLs made from it stay valid (they hold their own references). */
void tls_server_free(struct tls_server *s);

/** A new server-side SSL for an accepted non-blocking fd (SSL_set_fd done, accept state set; the fd stays
 * the caller's to close). Takes the server's lock only briefly. NULL on failure. */
SSL *tls_server_new_ssl(struct tls_server *s, int fd);

/** Result of one non-blocking step. */
enum tls_io {
	TLS_IO_DONE = 0,   /* handshake finished / bytes transferred */
	TLS_IO_WANT_READ,  /* wait for the fd to be readable */
	TLS_IO_WANT_WRITE, /* wait for the fd to be writable */
	TLS_IO_CLOSED,     /* peer sent close_notify or EOF */
	TLS_IO_ERROR,      /* fatal; *reason says why (static text or from OpenSSL's error queue) */
};

/** Why a handshake failed, as a bounded set for a metric label (from OpenSSL's error and the verify
 * result; tls_failure_name gives the label). */
enum tls_failure {
	TLS_FAIL_OTHER = 0,
	TLS_FAIL_NO_SHARED_CIPHER, /* no cipher suite, group or signature algorithm in common */
	TLS_FAIL_PROTOCOL_VERSION, /* no protocol version in common, or not TLS at all (wrong version) */
	TLS_FAIL_UNKNOWN_CA, /* a certificate chain to no trusted CA (ours by the peer, or the client's) */
	TLS_FAIL_BAD_CERTIFICATE, /* a certificate refused for another reason: expired, missing, bad */
	TLS_FAIL_TIMEOUT,         /* not finished within the deadline (set by the caller) */
	TLS_FAIL_PEER_CLOSED,     /* the peer closed or reset the connection during the handshake */
	TLS_FAIL__COUNT
};

/** "no_shared_cipher", "protocol_version", "unknown_ca", "bad_certificate", "timeout", "peer_closed",
 * "other". */
const char *tls_failure_name(enum tls_failure f);

/* The I/O calls below clear the thread's OpenSSL error queue before and after each call, so a reason
 * always belongs to this call. reason may be NULL; it is set on ERROR and on CLOSED ("close_notify" or
 * "EOF without close_notify") to static text that stays valid. Any call may want the other direction
 * (a read can need the fd writable, a handshake both ways). After WANT_*, retry with the same bytes
 * (the buffer may move). */

/** As the calls below; on CLOSED or ERROR *failure (may be NULL) says why, as a class. */
enum tls_io tls_handshake(SSL *ssl, const char **reason, enum tls_failure *failure);
/** Read up to cap bytes; *n is set on DONE. epoll cannot see bytes OpenSSL has already read from the
 * socket and decrypted: after readiness, loop on tls_read while it returns DONE and tls_has_pending()
 * is true (or until the caller's own cap), else those bytes wait for the next packet. */
enum tls_io tls_read(SSL *ssl, void *buf, size_t cap, size_t *n, const char **reason);
/** True when OpenSSL holds buffered input for ssl (decrypted bytes or a whole unprocessed record). */
bool tls_has_pending(const SSL *ssl);
/** Write up to len bytes; *n is set on DONE (SSL_MODE_ENABLE_PARTIAL_WRITE is on: it may be < len). */
enum tls_io tls_write(SSL *ssl, const void *buf, size_t len, size_t *n, const char **reason);
/** Send close_notify (best effort, non-blocking, the peer's reply is not awaited); does nothing before
 * the handshake finished or after a fatal error or a bare EOF. */
void tls_shutdown(SSL *ssl);

struct tls_conn;

/** One worker's TLS connections that hold OpenSSL record buffers (~34 KB each), least recently used first.
 * Buffers are kept while a connection is busy, so relaying allocates nothing per record, and given back
 * (SSL_free_buffers) once a connection has been quiet for idle_ms: FIX sessions are mostly idle, and an idle
 * one then costs no buffer. Touching a connection is O(1); one timer per worker sweeps from the oldest. */
struct tls_pool {
	struct reactor *r;
	struct reactor_timer tick;
	struct tls_conn *head, *tail;
	uint32_t idle_ms;
	size_t count; /* connections holding buffers */
};

/** Set up p on reactor r (its timer's heap room is reserved here). Returns 0 or -ENOMEM. */
int tls_pool_init(struct tls_pool *p, struct reactor *r, uint32_t idle_ms);
/** Cancel the timer and give back the reservation (the connections are their owners' to finish). */
void tls_pool_fini(struct tls_pool *p);

/** A TLS transport (net/transport.h) for an accepted non-blocking fd: a server-side SSL from s that reads
 * and writes the socket through fixgw's own BIO. One readable event costs one recv(2): OpenSSL reads ahead
 * into its record buffer, and once a socket read comes up short the BIO answers "retry" without a syscall
 * until transport_readable() says epoll saw more. Writes use send(MSG_NOSIGNAL). Record buffers are kept
 * while the connection is busy and released through pool when it goes quiet. t must not move while in use
 * (the BIO points at it). Returns 0 or FIXGW_ENOMEM. */
int tls_transport_init(struct transport *t, struct tls_server *s, int fd, struct tls_pool *pool);
/** The same from a context of tls_server_ctx_ref (what a gateway snapshot holds, so workers make SSLs
 * without taking the server's lock). FIXGW_ENOMEM also when ctx is NULL. */
int tls_transport_init_ctx(struct transport *t, SSL_CTX *ctx, int fd, struct tls_pool *pool);
/** The server's current default context (with its SNI set), referenced: drop with SSL_CTX_free. */
SSL_CTX *tls_server_ctx_ref(struct tls_server *s);
/** The SSL of a TLS transport, or NULL for any other transport (for logs and spans). */
SSL *tls_transport_ssl(const struct transport *t);

/** For logs and spans: negotiated version ("TLSv1.3"), cipher, SNI name sent by the client (or NULL).
 * The SNI name is the counterparty's input (any bytes but NUL, up to 255): quote it before logging. */
const char *tls_version_name(const SSL *ssl);
const char *tls_cipher_name(const SSL *ssl);
const char *tls_sni_name(const SSL *ssl);

#endif
