/* test_sock_format.c - net_addr_format's hand-written IPv4 path writes what inet_ntop + snprintf write. */
#include <arpa/inet.h>
#include <stdio.h>

#include "net/sock.h"
#include "test.h"

TEST(ipv4_matches_inet_ntop)
{
	static const unsigned octets[] = {0, 1, 9, 10, 99, 100, 127, 199, 200, 255};
	static const unsigned ports[] = {0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535};
	int bad = 0;
	for (size_t a = 0; a < 10; a++)
		for (size_t b = 0; b < 10; b++)
			for (size_t p = 0; p < sizeof(ports) / sizeof(ports[0]); p++) {
				struct sockaddr_in sa = {.sin_family = AF_INET,
				                         .sin_port = htons((uint16_t)ports[p])};
				sa.sin_addr.s_addr =
				    htonl(octets[a] << 24 | octets[b] << 16 | octets[9 - a] << 8 | octets[b]);
				char got[64], ip[INET_ADDRSTRLEN], want[64];
				net_addr_format((struct sockaddr *)&sa, sizeof(sa), got, sizeof(got));
				inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
				snprintf(want, sizeof(want), "%s:%u", ip, ports[p]);
				if (strcmp(got, want) != 0) {
					fprintf(stderr, "got %s, want %s\n", got, want);
					bad++;
				}
			}
	CHECK_EQ_INT(bad, 0);
	/* a buffer too small for the longest form still gets a terminated, truncated text */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(65535)};
	sa.sin_addr.s_addr = htonl(0xffffffffu);
	char small[8];
	net_addr_format((struct sockaddr *)&sa, sizeof(sa), small, sizeof(small));
	CHECK_EQ_STR(small, "255.255");
}

/* The address and the port on their own: net_addr_format's text is "host:port" or "[host]:port" of
 * exactly these (spans carry them apart, so nothing parses the text back). */
TEST(host_and_port_apart)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(5678)};
	in.sin_addr.s_addr = htonl(0x0a000102u);
	char host[64], text[64];
	net_addr_host((struct sockaddr *)&in, sizeof(in), host, sizeof(host));
	CHECK_EQ_STR(host, "10.0.1.2");
	CHECK_EQ_INT(net_addr_port((struct sockaddr *)&in), 5678);
	net_addr_format((struct sockaddr *)&in, sizeof(in), text, sizeof(text));
	CHECK_EQ_STR(text, "10.0.1.2:5678");

	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(65535)};
	CHECK(inet_pton(AF_INET6, "2001:db8::ffff:1", &in6.sin6_addr) == 1);
	net_addr_host((struct sockaddr *)&in6, sizeof(in6), host, sizeof(host));
	CHECK_EQ_STR(host, "2001:db8::ffff:1");
	CHECK_EQ_INT(net_addr_port((struct sockaddr *)&in6), 65535);
	net_addr_format((struct sockaddr *)&in6, sizeof(in6), text, sizeof(text));
	CHECK_EQ_STR(text, "[2001:db8::ffff:1]:65535");
	char small[6];
	net_addr_format((struct sockaddr *)&in6, sizeof(in6), small, sizeof(small));
	CHECK_EQ_STR(small, "[2001");
	net_addr_host((struct sockaddr *)&in6, sizeof(in6), small, sizeof(small));
	CHECK_EQ_STR(small, "2001:");

	struct sockaddr un = {.sa_family = AF_UNIX};
	net_addr_host(&un, sizeof(un), host, sizeof(host));
	CHECK_EQ_STR(host, "?");
	CHECK_EQ_INT(net_addr_port(&un), 0);
	net_addr_format(&un, sizeof(un), text, sizeof(text));
	CHECK_EQ_STR(text, "?");
}

TEST_MAIN(TEST_ENTRY(ipv4_matches_inet_ntop), TEST_ENTRY(host_and_port_apart))
