/* Unit tests for src/net/sock.c: address parsing (every accepted form and its normalised text, and what is
 * refused: names, missing or bad ports, stray characters), formatting, and a listen/connect/accept round trip
 * on loopback, IPv4 and IPv6 where the host has it. */
#include "net/sock.c"

#include <poll.h>

#include "test.h"

static uint16_t port_of(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

TEST(parses_ipv4_ipv6_and_any_with_normalised_text)
{
	static const struct {
		const char *in, *text;
		int family;
		uint16_t port;
	} ok[] = {
	    {"127.0.0.1:9877", "127.0.0.1:9877", AF_INET, 9877},
	    {"0.0.0.0:1", "0.0.0.0:1", AF_INET, 1},
	    {":9877", "0.0.0.0:9877", AF_INET, 9877}, /* all interfaces, IPv4 */
	    {"10.1.2.3:65535", "10.1.2.3:65535", AF_INET, 65535},
	    {"127.0.0.1:080", "127.0.0.1:80", AF_INET, 80}, /* leading zeros are still decimal */
	    {"[::1]:9877", "[::1]:9877", AF_INET6, 9877},
	    {"[::]:443", "[::]:443", AF_INET6, 443},
	    {"[0:0:0:0:0:0:0:1]:80", "[::1]:80", AF_INET6, 80},
	    {"[2001:DB8::A]:80", "[2001:db8::a]:80", AF_INET6, 80},
	    {"[::ffff:192.0.2.1]:80", "[::ffff:192.0.2.1]:80", AF_INET6, 80},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct net_addr a;
		int rc = net_addr_parse(ok[i].in, &a);
		if (rc != 0) {
			fprintf(stderr, "  refused %s\n", ok[i].in);
			CHECK_EQ_INT(rc, 0);
			continue;
		}
		CHECK_EQ_STR(a.text, ok[i].text);
		CHECK_EQ_INT(a.ss.ss_family, ok[i].family);
		CHECK_EQ_INT(port_of(&a), ok[i].port);
		CHECK_EQ_INT(a.len, ok[i].family == AF_INET ? sizeof(struct sockaddr_in)
		                                            : sizeof(struct sockaddr_in6));
	}
}

TEST(refuses_names_bad_ports_and_stray_characters)
{
	static const char *const bad[] = {
	    "",
	    "127.0.0.1",       /* no port */
	    "127.0.0.1:",      /* empty port */
	    "127.0.0.1:0",     /* port 0 is no address to listen on or connect to */
	    "127.0.0.1:65536", /* out of range */
	    "127.0.0.1:99999999999999999999",
	    "127.0.0.1:-1",
	    "127.0.0.1:+80",
	    "127.0.0.1: 80", /* whitespace: strtoul would skip it */
	    "127.0.0.1:\t80",
	    "127.0.0.1:80 ",
	    "127.0.0.1:0x50",
	    "127.0.0.1:80a",
	    "localhost:9877", /* numeric only: the gateway never blocks on a resolver */
	    "example.com:80",
	    "256.0.0.1:80",
	    "127.0.0.1 :80",
	    "::1:80",          /* IPv6 needs brackets */
	    "[::1]",           /* no port */
	    "[::1]:",          /* empty port */
	    "[::1]80",         /* no colon */
	    "[::1",            /* no closing bracket */
	    "[]:80",           /* empty host */
	    "[127.0.0.1]:80",  /* brackets are for IPv6 */
	    "[fe80::1%lo]:80", /* zone ids are not supported */
	    "1.2.3.4:80:90",
	    "[::1]:80]",
	    "0123456789012345678901234567890123456789012345678901234567890123:1", /* longer than any address
	                                                                           */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct net_addr a;
		memset(&a, 0xa5, sizeof(a));
		int rc = net_addr_parse(bad[i], &a);
		if (rc != FIXGW_EINVAL)
			fprintf(stderr, "  accepted \"%s\" as %s\n", bad[i], rc == 0 ? a.text : "?");
		CHECK_EQ_INT(rc, FIXGW_EINVAL);
		CHECK_EQ_INT(a.len, 0); /* a refused address is left unset, never half-filled */
	}
	struct net_addr a;
	CHECK_EQ_INT(net_addr_parse(NULL, &a), FIXGW_EINVAL);
}

TEST(format_writes_ip_and_port_and_truncates_safely)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	a4->sin_family = AF_INET;
	a4->sin_port = htons(8080);
	inet_pton(AF_INET, "192.0.2.7", &a4->sin_addr);
	char out[64];
	net_addr_format((struct sockaddr *)&ss, sizeof(*a4), out, sizeof(out));
	CHECK_EQ_STR(out, "192.0.2.7:8080");
	volatile size_t small_cap = 8; /* unknown to the compiler: the cut is the point, not a warning */
	char small[8];
	net_addr_format((struct sockaddr *)&ss, sizeof(*a4), small, small_cap);
	CHECK_EQ_STR(small, "192.0.2"); /* cut, still terminated */

	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	memset(&ss, 0, sizeof(ss));
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons(1);
	inet_pton(AF_INET6, "2001:db8::1", &a6->sin6_addr);
	net_addr_format((struct sockaddr *)&ss, sizeof(*a6), out, sizeof(out));
	CHECK_EQ_STR(out, "[2001:db8::1]:1");

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	net_addr_format((struct sockaddr *)&ss, sizeof(ss), out, sizeof(out));
	CHECK_EQ_STR(out, "?");
}

/* Listens on addr with an ephemeral port, connects to it, accepts, and checks both ends agree. */
static void round_trip(const char *addr)
{
	struct net_addr a;
	CHECK_EQ_INT(net_addr_parse(addr, &a), 0);
	/* the parser refuses port 0: ask the kernel for a free one behind its back */
	if (a.ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a.ss)->sin6_port = 0;
	else
		((struct sockaddr_in *)&a.ss)->sin_port = 0;
	int lfd = net_listen(&a, true, 16);
	if (lfd == -EADDRNOTAVAIL && a.ss.ss_family == AF_INET6) {
		fprintf(stderr, "  (no IPv6 loopback here: %s not tested)\n", addr);
		return;
	}
	CHECK(lfd >= 0);
	if (lfd < 0)
		return;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	CHECK_EQ_INT(getsockname(lfd, (struct sockaddr *)&bound, &blen), 0);
	memcpy(&a.ss, &bound, blen);
	CHECK(port_of(&a) != 0);

	struct sockaddr_storage peer;
	socklen_t plen;
	CHECK_EQ_INT(net_accept(lfd, &peer, &plen), -EAGAIN); /* nothing yet, and never blocks */

	int cfd = net_connect_start(&a);
	CHECK(cfd >= 0);
	struct pollfd pw = {.fd = cfd, .events = POLLOUT};
	CHECK_EQ_INT(poll(&pw, 1, 10000), 1);
	CHECK_EQ_INT(net_connect_result(cfd, (uint32_t)pw.revents), 0); /* poll and epoll bits agree */
	CHECK_EQ_INT(net_set_nodelay(cfd, true), 0);
	CHECK_EQ_INT(net_set_busy_poll(cfd, 0), 0); /* 0: left alone */

	struct pollfd pr = {.fd = lfd, .events = POLLIN};
	CHECK_EQ_INT(poll(&pr, 1, 10000), 1);
	int afd = net_accept(lfd, &peer, &plen);
	CHECK(afd >= 0);
	CHECK(fcntl(afd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(afd, F_GETFD) & FD_CLOEXEC);
	/* the accepted peer is the connecting socket */
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	CHECK_EQ_INT(getsockname(cfd, (struct sockaddr *)&local, &llen), 0);
	char want[64], got[64];
	net_addr_format((struct sockaddr *)&local, llen, want, sizeof(want));
	net_addr_format((struct sockaddr *)&peer, plen, got, sizeof(got));
	CHECK_EQ_STR(got, want);
	close(afd);
	close(cfd);
	close(lfd);
}

TEST(listen_connect_accept_round_trip_on_loopback)
{
	round_trip("127.0.0.1:1");
	round_trip("[::1]:1");
}

TEST(connect_to_a_closed_port_reports_refused)
{
	struct net_addr a;
	CHECK_EQ_INT(net_addr_parse("127.0.0.1:1", &a), 0);
	((struct sockaddr_in *)&a.ss)->sin_port = 0;
	int lfd = net_listen(&a, false, 1);
	CHECK(lfd >= 0);
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	CHECK_EQ_INT(getsockname(lfd, (struct sockaddr *)&bound, &blen), 0);
	memcpy(&a.ss, &bound, blen);
	close(lfd); /* the port is free again: nothing listens there */
	int fd = net_connect_start(&a);
	if (fd == -ECONNREFUSED)
		return; /* refused at once is a correct answer too */
	CHECK(fd >= 0);
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	CHECK_EQ_INT(poll(&p, 1, 10000), 1);
	CHECK_EQ_INT(net_connect_result(fd, (uint32_t)p.revents), -ECONNREFUSED);
	close(fd);
}

TEST(listen_on_a_taken_address_returns_negative_errno)
{
	struct net_addr a;
	CHECK_EQ_INT(net_addr_parse("127.0.0.1:1", &a), 0);
	((struct sockaddr_in *)&a.ss)->sin_port = 0;
	int l1 = net_listen(&a, false, 1);
	CHECK(l1 >= 0);
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	CHECK_EQ_INT(getsockname(l1, (struct sockaddr *)&bound, &blen), 0);
	memcpy(&a.ss, &bound, blen);
	CHECK_EQ_INT(net_listen(&a, false, 1), -EADDRINUSE);
	close(l1);
}

TEST_MAIN(TEST_ENTRY(parses_ipv4_ipv6_and_any_with_normalised_text),
          TEST_ENTRY(refuses_names_bad_ports_and_stray_characters),
          TEST_ENTRY(format_writes_ip_and_port_and_truncates_safely),
          TEST_ENTRY(listen_connect_accept_round_trip_on_loopback),
          TEST_ENTRY(connect_to_a_closed_port_reports_refused),
          TEST_ENTRY(listen_on_a_taken_address_returns_negative_errno))
