/* relay.h - moves bytes both ways between two transports once a session is connected: backpressure,
 * half-close, and peer-close detection while reads are paused. Knows nothing of sessions, routes or epoll
 * registration: it says which events each side needs (relay_interest) and what happened (relay_status).
 *
 * Reads land in a borrowed scratch buffer (the worker's) and are written straight out; only the part a side
 * could not take yet is copied into that side's `out` buffer, and reading from the other side stops until it
 * drains. An idle relay owns no buffer.
 *
 *	relay_init(&r, &client, &upstream, scratch, cap);
 *	st = relay_start(&r, logon, logon_len);      // takes the buffered bytes towards the upstream
 *	on each epoll event on side i: st = relay_event(&r, i, events);
 *	then register relay_interest(&r, RELAY_CLIENT) and relay_interest(&r, RELAY_UPSTREAM);
 *	relay_fini(&r);
 */
#ifndef FIXGW_GATEWAY_RELAY_H
#define FIXGW_GATEWAY_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/transport.h"

enum relay_side_id { RELAY_CLIENT = 0, RELAY_UPSTREAM = 1 };

#define RELAY_TURNS 16 /* reads per side per event at most: fairness between sessions */

/** Bytes for one side that it has not taken yet (owned; NULL when empty). */
struct relay_buf {
	char *buf;
	uint32_t off, len;
};

struct relay_side {
	struct transport *t; /* borrowed */
	struct relay_buf out;
	uint64_t bytes_read; /* bytes read from this side so far */
	bool eof;            /* read the end of this side's stream */
	bool shut;           /* we ended our direction towards this side */
	bool fin_seen;       /* the peer closed while we were not reading it (its bytes wait in the kernel) */
};

enum relay_status {
	RELAY_OPEN = 0, /* keep going: register relay_interest() for both sides */
	RELAY_FINISHED, /* both sides ended their streams and everything was delivered */
	RELAY_RESET,    /* a read or write failed, or a paused peer reset: close; `error` says why */
};

struct relay {
	struct relay_side side[2];
	char *scratch; /* borrowed: the worker's buffer */
	size_t scratch_cap;
	const char *error; /* static text, set with RELAY_RESET */
};

/** Both transports are borrowed and must outlive the relay; scratch too. */
void relay_init(struct relay *r, struct transport *client, struct transport *upstream, char *scratch,
                size_t scratch_cap);
/** Begin relaying: `buf` (malloc'd, len bytes, may be NULL when len is 0) becomes the first bytes towards the
 * upstream; the relay owns it from here. Bytes a transport already buffered (TLS) are read at once. */
enum relay_status relay_start(struct relay *r, char *buf, uint32_t len);
/** epoll reported `events` (EPOLLIN/OUT/RDHUP/HUP/ERR) on side `side`. */
enum relay_status relay_event(struct relay *r, enum relay_side_id side, uint32_t events);
/** The epoll interest a side needs now (0: nothing, unregister it). A side whose reads are paused by
 * backpressure still watches EPOLLRDHUP, so a peer that leaves is noticed. */
uint32_t relay_interest(const struct relay *r, enum relay_side_id side);
/** True when a peer closed while its bytes could not be delivered (the other side is not reading): the
 * session bounds how long that may last. */
bool relay_stalled_after_fin(const struct relay *r);
/** Free the out buffers. */
void relay_fini(struct relay *r);

#endif
