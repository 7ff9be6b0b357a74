/* net_addr_is_self (src/net/localaddr.c): would a connection to an address land on our own listener? */
#include "net/localaddr.c"

#include "test.h"

static bool is_self(const char *to, const char *listener)
{
	struct net_addr a, b;
	CHECK_EQ_INT(net_addr_parse(to, &a), 0);
	CHECK_EQ_INT(net_addr_parse(listener, &b), 0);
	return net_addr_is_self(&a, &b);
}

TEST(same_address_and_port)
{
	CHECK(is_self("127.0.0.1:9000", "127.0.0.1:9000"));
	CHECK(!is_self("127.0.0.1:9001", "127.0.0.1:9000"));
	CHECK(!is_self("127.0.0.2:9000", "127.0.0.1:9000")); /* nothing listens on 127.0.0.2:9000 */
	CHECK(is_self("[::1]:9000", "[::1]:9000"));
}

TEST(wildcard_listener_takes_every_local_address)
{
	CHECK(is_self("127.0.0.1:9000", "0.0.0.0:9000"));
	CHECK(is_self("127.9.8.7:9000", "0.0.0.0:9000")); /* all of 127/8 is loopback */
	CHECK(is_self("0.0.0.0:9000", "0.0.0.0:9000"));
	CHECK(is_self("127.0.0.1:9000", "[::]:9000")); /* dual-stack */
	CHECK(is_self("[::1]:9000", "[::]:9000"));
	CHECK(!is_self("[::1]:9000", "0.0.0.0:9000"));      /* an IPv4 wildcard takes no IPv6 */
	CHECK(!is_self("192.0.2.10:9000", "0.0.0.0:9000")); /* TEST-NET-1: not an address of this host */
	CHECK(!is_self("127.0.0.1:9001", "0.0.0.0:9000"));
}

TEST(unspecified_destination_reaches_loopback)
{
	CHECK(is_self("0.0.0.0:9000", "127.0.0.1:9000"));
	CHECK(!is_self("0.0.0.0:9000", "192.0.2.10:9000"));
}

TEST(v4_mapped_counts_as_v4)
{
	CHECK(is_self("[::ffff:127.0.0.1]:9000", "127.0.0.1:9000"));
	CHECK(is_self("127.0.0.1:9000", "[::ffff:127.0.0.1]:9000"));
}

TEST_MAIN(TEST_ENTRY(same_address_and_port), TEST_ENTRY(wildcard_listener_takes_every_local_address),
          TEST_ENTRY(unspecified_destination_reaches_loopback), TEST_ENTRY(v4_mapped_counts_as_v4))
