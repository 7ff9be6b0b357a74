/* localaddr.h - would a connection to an address land on one of this host's own listening sockets?
 * Used to refuse endpoints that lead straight back into the gateway (a routing loop). */
#ifndef FIXGW_NET_LOCALADDR_H
#define FIXGW_NET_LOCALADDR_H

#include <stdbool.h>

#include "net/sock.h"

/** True when connecting to `to` on this host reaches a socket listening on `listener`: the same port,
 * and `to` is the listener's address, or the listener is a wildcard and `to` is a loopback, unspecified
 * or local interface address (read with getifaddrs at the call). IPv4-mapped IPv6 addresses count as
 * IPv4; an IPv6 wildcard listener accepts IPv4 too (Linux sockets are dual-stack by default). */
bool net_addr_is_self(const struct net_addr *to, const struct net_addr *listener);

#endif
