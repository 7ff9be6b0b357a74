/* Unit tests for src/net/ip_set.c: ports are ignored, IPv4 and its IPv4-mapped IPv6 spelling are one
 * address, the spellings of one IPv6 address are one, duplicates go, text that is not an IP is refused,
 * sealed sets compare by content. */
#include "net/ip_set.c"

#include "test.h"

#include "net/sock.h"

static void add(struct ip_set *s, const char *addr_with_port)
{
	struct net_addr a = {0};
	CHECK_EQ_INT(net_addr_parse(addr_with_port, &a), 0);
	CHECK_EQ_INT(ip_set_add_sockaddr(s, (const struct sockaddr *)&a.ss), 0);
}

static bool has(const struct ip_set *s, const char *addr_with_port)
{
	struct net_addr a = {0};
	CHECK_EQ_INT(net_addr_parse(addr_with_port, &a), 0);
	return ip_set_has_sockaddr(s, (const struct sockaddr *)&a.ss);
}

TEST(sockaddrs_ignore_ports_and_duplicates)
{
	struct ip_set s = {0};
	CHECK(!has(&s, "10.0.0.5:1"));
	add(&s, "10.0.0.5:8080");
	add(&s, "10.0.0.7:8080");
	add(&s, "10.0.0.5:9880");
	add(&s, "[fd00::5]:1");
	ip_set_seal(&s);
	CHECK_EQ_INT(s.count, 3);
	CHECK(has(&s, "10.0.0.5:9880") && has(&s, "10.0.0.5:1") && has(&s, "10.0.0.7:65535"));
	CHECK(has(&s, "[::ffff:10.0.0.7]:9880")); /* the IPv4-mapped spelling is the same address */
	CHECK(has(&s, "[fd00::5]:9880"));
	CHECK(!has(&s, "10.0.0.6:8080") && !has(&s, "[fd00::6]:1"));
	struct sockaddr unix_sa = {.sa_family = AF_UNIX};
	CHECK(!ip_set_has_sockaddr(&s, &unix_sa));
	CHECK_EQ_INT(ip_set_add_sockaddr(&s, &unix_sa), 0); /* ignored */
	ip_set_free(&s);
	CHECK(s.keys == NULL && s.count == 0);
}

TEST(text_is_parsed_and_canonical)
{
	struct ip_set s = {0};
	const char *in[] = {"10.0.0.9", "fd00:0:0::1", "10.0.0.1", "10.0.0.9", "FD00::1"};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		CHECK_EQ_INT(ip_set_add_text(&s, in[i]), 0);
	CHECK_EQ_INT(ip_set_add_text(&s, "not-an-ip"), FIXGW_EINVAL);
	CHECK_EQ_INT(ip_set_add_text(&s, "10.0.0.1:80"), FIXGW_EINVAL);
	CHECK_EQ_INT(ip_set_add_text(&s, ""), FIXGW_EINVAL);
	ip_set_seal(&s);
	CHECK_EQ_INT(s.count, 3);
	CHECK(ip_set_has_text(&s, "10.0.0.1") && ip_set_has_text(&s, "10.0.0.9"));
	CHECK(ip_set_has_text(&s, "fd00::1") && ip_set_has_text(&s, "fd00:0000::0001"));
	CHECK(ip_set_has_text(&s, "::ffff:10.0.0.9")); /* IPv4-mapped is the IPv4 address */
	CHECK(!ip_set_has_text(&s, "10.0.0.2") && !ip_set_has_text(&s, "fd00::2"));
	CHECK(!ip_set_has_text(&s, "not-an-ip") && !ip_set_has_text(&s, ""));
	add(&s, "[::ffff:10.0.0.1]:5"); /* a sockaddr and a text of one address meet */
	ip_set_seal(&s);
	CHECK_EQ_INT(s.count, 3);
	ip_set_free(&s);
}

TEST(sealed_sets_compare_by_content)
{
	struct ip_set a = {0}, b = {0}, c = {0}, empty = {0}, empty2 = {0};
	CHECK_EQ_INT(ip_set_add_text(&a, "10.0.0.1"), 0);
	CHECK_EQ_INT(ip_set_add_text(&a, "fd00::1"), 0);
	CHECK_EQ_INT(ip_set_add_text(&b, "fd00:0::1"), 0);
	CHECK_EQ_INT(ip_set_add_text(&b, "10.0.0.1"), 0);
	CHECK_EQ_INT(ip_set_add_text(&b, "10.0.0.1"), 0);
	CHECK_EQ_INT(ip_set_add_text(&c, "10.0.0.1"), 0);
	ip_set_seal(&a);
	ip_set_seal(&b);
	ip_set_seal(&c);
	CHECK(ip_set_equal(&a, &b) && !ip_set_equal(&a, &c) && !ip_set_equal(&c, &empty));
	CHECK(ip_set_equal(&empty, &empty2));
	CHECK(!ip_set_has_text(&empty, "10.0.0.1"));
	ip_set_free(&a);
	ip_set_free(&b);
	ip_set_free(&c);
}

TEST_MAIN(TEST_ENTRY(sockaddrs_ignore_ports_and_duplicates), TEST_ENTRY(text_is_parsed_and_canonical),
          TEST_ENTRY(sealed_sets_compare_by_content))
