/* transport.h - one byte stream over a socket, plaintext or TLS, behind one small table of operations (as
 * Redis's connection types do), so that the session and the relay never ask which one they hold.
 *
 * A transport does not own its fd: the session opens, registers and closes sockets; the transport only moves
 * bytes through them. Every call is non-blocking.
 *
 *	struct transport t;
 *	transport_plain_init(&t, fd);              // or tls_transport_init(&t, fd, ssl) (net/tls.h)
 *	ssize_t n = transport_read(&t, buf, cap);  // > 0 bytes, 0 EOF, -EAGAIN, or another -errno
 *	...
 *	transport_fini(&t);                        // frees the TLS state; the caller closes fd
 */
#ifndef FIXGW_NET_TRANSPORT_H
#define FIXGW_NET_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct transport;

/** What a call that returned -EAGAIN waits for. A TLS read can wait for the socket to be writable and a
 * TLS write for it to be readable; plaintext always waits the obvious way. */
enum transport_want {
	TRANSPORT_WANT_READ = 1,
	TRANSPORT_WANT_WRITE = 2,
};

struct transport_ops {
	const char *name; /* "tcp", "tls": for logs */
	/** Complete the handshake: 0 when the stream can carry data, -EAGAIN (t->want says which way), or a
	 * negative error (t->reason says why). */
	int (*handshake)(struct transport *t);
	/** Read up to cap bytes: > 0 bytes, 0 on the peer's orderly end of stream, -EAGAIN, or a negative
	 * error. Sets t->rx_drained when the socket had nothing more to give. */
	ssize_t (*read)(struct transport *t, void *buf, size_t cap);
	/** Write up to len (> 0) bytes: > 0 bytes taken, -EAGAIN, or a negative error. */
	ssize_t (*write)(struct transport *t, const void *buf, size_t len);
	/** End our direction of the stream (TLS: close_notify, then FIN). Best effort. */
	void (*shutdown)(struct transport *t);
	/** Last words before the owner closes the fd (TLS: close_notify; plaintext: nothing, the close
	 * sends the FIN). Best effort. */
	void (*close_notify)(struct transport *t);
	/** True when bytes were read from the socket but not returned yet: epoll cannot report them. */
	bool (*pending)(const struct transport *t);
	/** Free what the transport owns (never the fd). */
	void (*fini)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
	int fd;
	uint8_t read_want, write_want, handshake_want; /* enum transport_want of the last -EAGAIN of each */
	/** Set by read when the last socket read came up short: the socket is empty until epoll says
	 * otherwise, so reading again now would be a wasted syscall. The owner clears it on readiness. */
	bool rx_drained;
	const char *reason; /* why the last call failed or the stream ended (static text), or NULL */
	uint8_t failure;    /* TLS: enum tls_failure of a failed handshake (net/tls.h) */
	void *impl;         /* the TLS state (SSL *), or NULL */
};

/** Plaintext TCP on fd. */
void transport_plain_init(struct transport *t, int fd);

static inline int transport_handshake(struct transport *t)
{
	return t->ops->handshake(t);
}
static inline ssize_t transport_read(struct transport *t, void *buf, size_t cap)
{
	return t->ops->read(t, buf, cap);
}
static inline ssize_t transport_write(struct transport *t, const void *buf, size_t len)
{
	return t->ops->write(t, buf, len);
}
static inline void transport_shutdown(struct transport *t)
{
	t->ops->shutdown(t);
}
static inline void transport_close_notify(struct transport *t)
{
	t->ops->close_notify(t);
}
static inline bool transport_pending(const struct transport *t)
{
	return t->ops->pending(t);
}
/** epoll said the socket is readable (or hung up): the next read may go to the socket again. */
static inline void transport_readable(struct transport *t)
{
	t->rx_drained = false;
}
/** Release the transport's state (safe on a zeroed or finished transport). */
void transport_fini(struct transport *t);

#endif
