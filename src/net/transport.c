/* transport.c - the plaintext transport (the TLS one lives in tls.c, next to OpenSSL). */
#include "net/transport.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static int plain_handshake(struct transport *t)
{
	(void)t;
	return 0;
}

static ssize_t plain_read(struct transport *t, void *buf, size_t cap)
{
	ssize_t r = recv(t->fd, buf, cap, 0);
	if (r > 0) {
		t->rx_drained = (size_t)r < cap;
		return r;
	}
	if (r == 0) {
		t->reason = "EOF";
		return 0;
	}
	if (errno == EAGAIN || errno == EINTR) {
		t->rx_drained = true;
		t->read_want = TRANSPORT_WANT_READ;
		return -EAGAIN;
	}
	t->reason = strerrordesc_np(errno);
	return -errno;
}

static ssize_t plain_write(struct transport *t, const void *buf, size_t len)
{
	ssize_t w = send(t->fd, buf, len, MSG_NOSIGNAL);
	if (w >= 0)
		return w;
	if (errno == EAGAIN || errno == EINTR) {
		t->write_want = TRANSPORT_WANT_WRITE;
		return -EAGAIN;
	}
	t->reason = strerrordesc_np(errno);
	return -errno;
}

static void plain_shutdown(struct transport *t)
{
	shutdown(t->fd, SHUT_WR);
}

static void plain_close_notify(struct transport *t)
{
	(void)t;
}

static bool plain_pending(const struct transport *t)
{
	(void)t;
	return false;
}

static void plain_fini(struct transport *t)
{
	(void)t;
}

static const struct transport_ops plain_ops = {
    .name = "tcp",
    .handshake = plain_handshake,
    .read = plain_read,
    .write = plain_write,
    .shutdown = plain_shutdown,
    .close_notify = plain_close_notify,
    .pending = plain_pending,
    .fini = plain_fini,
};

void transport_plain_init(struct transport *t, int fd)
{
	*t = (struct transport){.ops = &plain_ops,
	                        .fd = fd,
	                        .read_want = TRANSPORT_WANT_READ,
	                        .write_want = TRANSPORT_WANT_WRITE};
}

void transport_fini(struct transport *t)
{
	if (t->ops)
		t->ops->fini(t);
	t->ops = NULL;
	t->impl = NULL;
}
