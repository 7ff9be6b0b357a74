/* sock.h - socket helpers: address parsing and formatting, non-blocking listen/accept/connect, and the
 * per-socket tuning knobs of spec section 9 (TCP_NODELAY, SO_REUSEPORT, SO_BUSY_POLL). */
#ifndef FIXGW_NET_SOCK_H
#define FIXGW_NET_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/** A socket address parsed from "host:port", "[v6]:port" or ":port" (all interfaces, IPv4). */
struct net_addr {
	struct sockaddr_storage ss;
	socklen_t len; /* 0: unset */
	char text[64]; /* normalised: "127.0.0.1:9877", "[::1]:9877" */
};

/** Parse a numeric address (no DNS: the gateway never blocks on a resolver). Returns 0 or FIXGW_EINVAL. */
int net_addr_parse(const char *s, struct net_addr *out);
/** Format sa (AF_INET or AF_INET6, else "?") as "ip:port" / "[ip]:port" into out, a C string cut to cap. */
void net_addr_format(const struct sockaddr *sa, socklen_t len, char *out, size_t cap);
/** Only the numeric address of sa, an IPv6 one without brackets ("::1"), into out, a C string cut to
 * cap ("?" for another family): what net_addr_format writes before the port, for attributes that keep
 * address and port apart. */
void net_addr_host(const struct sockaddr *sa, socklen_t len, char *out, size_t cap);
/** The port of sa in host byte order; 0 for a family without one. */
uint16_t net_addr_port(const struct sockaddr *sa);

/** A non-blocking listening socket (SO_REUSEADDR, optionally SO_REUSEPORT). Returns fd or -errno. */
int net_listen(const struct net_addr *a, bool reuse_port, int backlog);
/** accept4 non-blocking + cloexec; returns fd, or -errno (-EAGAIN when none). */
int net_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peer_len);
/** Start a non-blocking connect. Returns fd (connect in progress or done) or -errno. */
int net_connect_start(const struct net_addr *a);
/** After an epoll event on a connecting fd: 0 connected, or -errno. Linux reports a failed connect with
 * EPOLLERR (and EPOLLHUP), so EPOLLOUT alone means connected and costs no syscall; otherwise SO_ERROR
 * says why. */
int net_connect_result(int fd, uint32_t epoll_events);

/** TCP_NODELAY on/off; SO_BUSY_POLL (microseconds, 0 = leave). Errors are ignored by callers that
 * treat tuning as best effort, so these return -errno for the ones that care. */
int net_set_nodelay(int fd, bool on);
int net_set_busy_poll(int fd, unsigned usec);

#endif
