/* sock.c - socket helpers. */
#include "net/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/errors.h"

/* Decimal digits only (strtoul alone would take leading blanks and signs), 1..65535. */
static int parse_port(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	if (!*s)
		return FIXGW_EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return FIXGW_EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return FIXGW_EINVAL;
	}
	if (v == 0)
		return FIXGW_EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int net_addr_parse(const char *s, struct net_addr *out)
{
	char host[64];
	const char *port;
	uint16_t p;
	memset(out, 0, sizeof(*out));
	if (!s || strlen(s) >= sizeof(host))
		return FIXGW_EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return FIXGW_EINVAL;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		port = close + 2;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
		if (parse_port(port, &p) || inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return FIXGW_EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(p);
		out->len = sizeof(*a6);
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			return FIXGW_EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
		struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
		if (parse_port(port, &p))
			return FIXGW_EINVAL;
		if (host[0] == '\0')
			a4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return FIXGW_EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(p);
		out->len = sizeof(*a4);
	}
	net_addr_format((struct sockaddr *)&out->ss, out->len, out->text, sizeof(out->text));
	return 0;
}

/* The numeric address of sa (an IPv6 one without brackets) at p, which has room for INET6_ADDRSTRLEN
 * bytes; returns the end (no NUL), or NULL for a family without one. IPv4 by hand: every accepted
 * connection formats its peer, and inet_ntop + snprintf cost more than the rest of accepting in user
 * space. */
static char *put_ip(const struct sockaddr *sa, char *p)
{
	if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, p, INET6_ADDRSTRLEN);
		return p + strlen(p);
	}
	if (sa->sa_family != AF_INET)
		return NULL;
	const unsigned char *b = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		if (i < 3)
			*p++ = '.';
	}
	return p;
}

/* text[0..n) into out as a C string, cut to what fits. */
static void copy_text(char *out, size_t cap, const char *text, size_t n)
{
	if (!cap)
		return;
	n = n < cap ? n : cap - 1;
	memcpy(out, text, n);
	out[n] = '\0';
}

uint16_t net_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return 0;
}

void net_addr_host(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
	char text[INET6_ADDRSTRLEN];
	(void)len;
	char *end = put_ip(sa, text);
	if (end)
		copy_text(out, cap, text, (size_t)(end - text));
	else
		copy_text(out, cap, "?", 1);
}

void net_addr_format(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
	char text[sizeof("[]:65535") + INET6_ADDRSTRLEN], *p = text;
	(void)len;
	bool v6 = sa->sa_family == AF_INET6;
	if (v6)
		*p++ = '[';
	p = put_ip(sa, p);
	if (!p) {
		copy_text(out, cap, "?", 1);
		return;
	}
	if (v6)
		*p++ = ']';
	*p++ = ':';
	char digits[5], *d = digits + sizeof(digits);
	unsigned port = net_addr_port(sa);
	do
		*--d = (char)('0' + port % 10);
	while (port /= 10);
	size_t n = (size_t)(digits + sizeof(digits) - d);
	memcpy(p, d, n);
	p += n;
	copy_text(out, cap, text, (size_t)(p - text));
}

int net_listen(const struct net_addr *a, bool reuse_port, int backlog)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:;
	int err = -errno;
	close(fd);
	return err;
}

int net_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peer_len)
{
	*peer_len = sizeof(*peer);
	int fd = accept4(lfd, (struct sockaddr *)peer, peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int net_connect_start(const struct net_addr *a)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno != EINPROGRESS) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int net_connect_result(int fd, uint32_t epoll_events)
{
	if ((epoll_events & EPOLLOUT) && !(epoll_events & (EPOLLERR | EPOLLHUP)))
		return 0; /* one getsockopt per upstream connection saved */
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

int net_set_nodelay(int fd, bool on)
{
	int v = on;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) < 0 ? -errno : 0;
}

int net_set_busy_poll(int fd, unsigned usec)
{
	int v = (int)usec;
	if (!usec)
		return 0;
	return setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &v, sizeof(v)) < 0 ? -errno : 0;
}
