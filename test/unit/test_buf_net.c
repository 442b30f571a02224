/*
 * common/buf.c (reserve, compaction, limits) and common/net.c (address
 * parsing and formatting, CIDR matching including IPv4-mapped IPv6).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "common/net.h"

TestSuite(buf);
TestSuite(net);

static void
buf_is(const struct buf *b, const char *want, size_t n)
{
	cr_assert_eq(buf_len(b), n, "length %zu, want %zu", buf_len(b), n);
	if (n)
		cr_assert_eq(memcmp(buf_rptr(b), want, n), 0);
}

#define BUF_IS(b, lit) buf_is((b), (lit), sizeof(lit) - 1)

Test(buf, starts_empty_and_allocates_lazily)
{
	struct buf b = { 0 };

	cr_assert_eq(buf_len(&b), 0);
	cr_assert_null(b.data);
	cr_assert_eq(buf_find_lf(&b), -1);
	cr_assert_eq(buf_append(&b, "x", 0), 0);
	cr_assert_null(b.data, "an empty append allocates nothing");
	cr_assert_eq(buf_puts(&b, ""), 0);
	cr_assert_null(b.data);
	buf_consume(&b, 0);
	buf_reset(&b);
	buf_release(&b);
	cr_assert_null(b.data);
}

/*
 * A buffer without storage still has pointers its length (0) can be used
 * with: the relay and utls.c take buf_rptr() of buffers that may have been
 * released, and pass it on with its length or add offsets to it. data + r
 * with data NULL would be NULL + 0, which clang's UBSan stops on.
 */
Test(buf, pointers_of_a_buffer_without_storage)
{
	struct buf b = { 0 };
	char dst[4] = "abc";

	for (int round = 0; round < 2; round++) {
		const char *r = buf_rptr(&b), *w = buf_wptr(&b);
		cr_assert_not_null(r, "round %d", round);
		cr_assert_not_null(w, "round %d", round);
		cr_assert_eq(r + buf_len(&b), r);
		cr_assert_eq(w + buf_room(&b), w);
		memcpy(dst, r, buf_len(&b));
		cr_assert_str_eq(dst, "abc");
		cr_assert_eq(buf_append(&b, r, buf_len(&b)), 0);
		cr_assert_null(b.data, "nothing appended, nothing allocated");
		/* The same after storage came and went. */
		cr_assert_eq(buf_puts(&b, "xy"), 0);
		buf_consume(&b, 2);
		buf_release(&b);
	}
	cr_assert_eq(buf_reserve(&b, 0, 0), 0);
	cr_assert_null(b.data);
	cr_assert_not_null(buf_wptr(&b), "reserving nothing allocates nothing");
}

Test(buf, append_puts_printf)
{
	struct buf b = { 0 };
	char big[1000];

	cr_assert_eq(buf_append(&b, "a\0b", 3), 0);
	cr_assert_eq(buf_puts(&b, "cd"), 0);
	cr_assert_eq(buf_printf(&b, "[%d:%s]", 42, "x"), 0);
	BUF_IS(&b, "a\0bcd[42:x]");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(buf_printf(&b, "%s!", big), 0);
	cr_assert_eq(buf_len(&b), 11 + 999 + 1);
	cr_assert_eq(buf_rptr(&b)[buf_len(&b) - 1], '!');
	cr_assert_geq(b.cap, buf_len(&b));
	cr_assert_eq(buf_printf(&b, "%s", ""), 0);
	cr_assert_eq(buf_len(&b), 1011);
	buf_release(&b);
	cr_assert_eq(b.cap, 0);
	cr_assert_eq(b.r, 0);
	cr_assert_eq(b.w, 0);
}

Test(buf, reserve_grows_by_doubling)
{
	struct buf b = { 0 };

	cr_assert_eq(buf_reserve(&b, 1, 0), 0);
	cr_assert_eq(b.cap, 256);
	cr_assert_eq(buf_reserve(&b, 256, 0), 0);
	cr_assert_eq(b.cap, 256, "already room");
	cr_assert_eq(buf_reserve(&b, 257, 0), 0);
	cr_assert_eq(b.cap, 512);
	cr_assert_eq(buf_reserve(&b, 5000, 0), 0);
	cr_assert_eq(b.cap, 8192);
	cr_assert_geq(buf_room(&b), 5000);
	buf_release(&b);
}

Test(buf, reserve_respects_max)
{
	struct buf b = { 0 };

	cr_assert_eq(buf_reserve(&b, 100, 64), -1);
	cr_assert_null(b.data);
	cr_assert_eq(buf_reserve(&b, 64, 64), 0);
	cr_assert_eq(b.cap, 64, "capped at max, not rounded up to 256");
	memset(buf_wptr(&b), 'a', 64);
	b.w += 64;
	cr_assert_eq(buf_reserve(&b, 1, 64), -1, "a full buffer at its limit");
	cr_assert_eq(buf_len(&b), 64);
	buf_consume(&b, 10);
	cr_assert_eq(buf_reserve(&b, 10, 64), 0, "room made by moving the data down");
	cr_assert_eq(b.r, 0);
	cr_assert_eq(buf_len(&b), 54);
	cr_assert_eq(buf_reserve(&b, 11, 64), -1);
	buf_release(&b);

	cr_assert_eq(buf_reserve(&b, 300, 1000), 0);
	cr_assert_eq(b.cap, 512);
	cr_assert_eq(buf_reserve(&b, 600, 1000), 0);
	cr_assert_eq(b.cap, 1000, "doubling stops at max");
	buf_release(&b);
}

Test(buf, compaction_keeps_the_data_in_place)
{
	struct buf b = { 0 };
	char data[200];

	for (int i = 0; i < 200; i++)
		data[i] = (char)i;
	cr_assert_eq(buf_append(&b, data, 200), 0);
	char *before = b.data;
	buf_consume(&b, 150);
	cr_assert_eq(b.r, 150);
	/* 56 free at the end, 206 in all: move, do not grow. */
	cr_assert_eq(buf_reserve(&b, 100, 0), 0);
	cr_assert_eq(b.data, before);
	cr_assert_eq(b.cap, 256);
	cr_assert_eq(b.r, 0);
	buf_is(&b, data + 150, 50);
	buf_release(&b);
}

Test(buf, growth_with_unread_offset_keeps_the_data)
{
	struct buf b = { 0 };
	char data[250];

	for (int i = 0; i < 250; i++)
		data[i] = (char)(i * 7);
	cr_assert_eq(buf_append(&b, data, 250), 0);
	buf_consume(&b, 20);
	cr_assert_eq(buf_reserve(&b, 1000, 0), 0);
	cr_assert_eq(b.r, 0);
	cr_assert_geq(buf_room(&b), 1000);
	buf_is(&b, data + 20, 230);
	cr_assert_eq(buf_append(&b, "end", 3), 0);
	cr_assert_eq(memcmp(buf_rptr(&b) + 230, "end", 3), 0);
	buf_release(&b);
}

Test(buf, consume_and_reset)
{
	struct buf b = { 0 };

	buf_puts(&b, "hello world");
	buf_consume(&b, 6);
	BUF_IS(&b, "world");
	buf_consume(&b, 5);
	cr_assert_eq(b.r, 0, "drained: offsets rewind");
	cr_assert_eq(b.w, 0);
	cr_assert_not_null(b.data, "storage stays until released");
	buf_puts(&b, "abc");
	buf_consume(&b, 100);
	cr_assert_eq(buf_len(&b), 0);
	buf_puts(&b, "xyz");
	buf_reset(&b);
	cr_assert_eq(buf_len(&b), 0);
	buf_release(&b);
}

Test(buf, find_lf)
{
	struct buf b = { 0 };

	buf_puts(&b, "ab\ncd\nef");
	cr_assert_eq(buf_find_lf(&b), 2);
	buf_consume(&b, 3);
	cr_assert_eq(buf_find_lf(&b), 2);
	buf_consume(&b, 3);
	cr_assert_eq(buf_find_lf(&b), -1);
	buf_append(&b, "\0\n", 2);
	cr_assert_eq(buf_find_lf(&b), 3);
	buf_release(&b);
}

Test(buf, impossible_sizes_fail_fast, .timeout = 5)
{
	struct buf b = { 0 };

	buf_puts(&b, "abc");
	cr_assert_eq(buf_reserve(&b, SIZE_MAX, 0), -1, "len + n overflows");
	cr_assert_eq(buf_reserve(&b, SIZE_MAX - 2, 0), -1);
	/* More than half the address space: doubling would overflow. */
	cr_assert_eq(buf_reserve(&b, SIZE_MAX / 2 + 2, 0), -1);
	cr_assert_eq(buf_reserve(&b, SIZE_MAX / 2 + 2, SIZE_MAX), -1);
	BUF_IS(&b, "abc");
	cr_assert_eq(buf_append(&b, "d", 1), 0);
	BUF_IS(&b, "abcd");
	buf_release(&b);
}

/* ---- net ---- */

static struct sockaddr_storage
ip(const char *s, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	cr_assert_eq(net_parse_ip(s, &ss, &len), 0, "\"%s\"", s);
	net_set_port((struct sockaddr *)&ss, port);
	return ss;
}

#define SA(ss) ((struct sockaddr *)&(ss))

Test(net, parse_ip)
{
	struct sockaddr_storage ss;
	socklen_t len;

	cr_assert_eq(net_parse_ip("192.0.2.1", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET);
	cr_assert_eq(len, sizeof(struct sockaddr_in));
	cr_assert_eq(net_port(SA(ss)), 0);
	cr_assert_eq(net_parse_ip("2001:db8::1", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(len, sizeof(struct sockaddr_in6));
	cr_assert_eq(net_parse_ip("::ffff:1.2.3.4", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(net_parse_ip("::", &ss, &len), 0);

	static const char *const bad[] = {
		"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", " 1.2.3.4", "1.2.3.4 ", "0x1.2.3.4",
		"1::2::3", "[::1]", "::1]", "1.2.3.4:25", "fe80::1%eth0", "localhost", "::g",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(net_parse_ip(bad[i], &ss, &len), -1, "\"%s\" parsed", bad[i]);
}

static void
hostport_ok(const char *s, int dflt, const char *want)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256] = "", text[NET_ADDRSTRLEN];

	cr_assert_eq(net_parse_hostport(s, dflt, &ss, &len, err, sizeof(err)), 0, "\"%s\": %s", s, err);
	net_ntop_port(SA(ss), text, sizeof(text));
	cr_assert_str_eq(text, want);
	cr_assert_eq(len, net_socklen(SA(ss)));
}

static void
hostport_bad(const char *s, int dflt, const char *msg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256] = "";

	cr_assert_eq(net_parse_hostport(s, dflt, &ss, &len, err, sizeof(err)), -1, "\"%s\" parsed", s);
	cr_assert_str_eq(err, msg);
}

Test(net, parse_hostport)
{
	hostport_ok("192.0.2.1:25", -1, "192.0.2.1:25");
	hostport_ok("192.0.2.1", 110, "192.0.2.1:110");
	hostport_ok("[2001:db8::1]:993", -1, "[2001:db8::1]:993");
	hostport_ok("[::1]", 143, "[::1]:143");
	hostport_ok("0.0.0.0:65535", -1, "0.0.0.0:65535");
	hostport_ok("[::ffff:10.0.0.1]:1", -1, "10.0.0.1:1");

	hostport_bad("192.0.2.1", -1, "no port in \"192.0.2.1\"");
	hostport_bad("2001:db8::1", 143, "IPv6 address \"2001:db8::1\" must be written in brackets");
	hostport_bad("[2001:db8::1:25", -1, "missing \"]\" in \"[2001:db8::1:25\"");
	hostport_bad("[::1]25", -1, "invalid address \"[::1]25\"");
	hostport_bad(":25", -1, "invalid address \":25\"");
	hostport_bad("[]:25", -1, "invalid address \"]:25\"");
	hostport_bad("1.2.3.4:0", -1, "invalid port \"0\" (expected 1-65535)");
	hostport_bad("1.2.3.4:65536", -1, "invalid port \"65536\" (expected 1-65535)");
	hostport_bad("1.2.3.4:", -1, "invalid port \"\" (expected 1-65535)");
	hostport_bad("1.2.3.4:x", -1, "invalid port \"x\" (expected 1-65535)");
	hostport_bad("1.2.3.4:-1", -1, "invalid port \"-1\" (expected 1-65535)");
	hostport_bad("1.2.3.4:25x", -1, "invalid port \"25x\" (expected 1-65535)");
	hostport_bad("mail.example.com:25", -1, "\"mail.example.com\" is not an IP address");
}

Test(net, ntop)
{
	char t[NET_ADDRSTRLEN];
	struct sockaddr_storage a = ip("192.0.2.1", 25), b = ip("2001:db8::1", 993), c = ip("::ffff:10.1.2.3", 7);
	struct sockaddr_un u = { .sun_family = AF_UNIX };

	net_ntop(SA(a), t, sizeof(t));
	cr_assert_str_eq(t, "192.0.2.1");
	net_ntop_port(SA(a), t, sizeof(t));
	cr_assert_str_eq(t, "192.0.2.1:25");
	net_ntop(SA(b), t, sizeof(t));
	cr_assert_str_eq(t, "2001:db8::1");
	net_ntop_port(SA(b), t, sizeof(t));
	cr_assert_str_eq(t, "[2001:db8::1]:993");
	/* An IPv4 client on a dual-stack socket shows as IPv4. */
	net_ntop(SA(c), t, sizeof(t));
	cr_assert_str_eq(t, "10.1.2.3");
	net_ntop_port(SA(c), t, sizeof(t));
	cr_assert_str_eq(t, "10.1.2.3:7");
	net_ntop((struct sockaddr *)&u, t, sizeof(t));
	cr_assert_str_eq(t, "unix:");
	net_ntop_port((struct sockaddr *)&u, t, sizeof(t));
	cr_assert_str_eq(t, "unix:");
	/* The longest form fits NET_ADDRSTRLEN. */
	struct sockaddr_storage l = ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	net_ntop_port(SA(l), t, sizeof(t));
	cr_assert_str_eq(t, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

Test(net, ports_lengths_equality_wildcards)
{
	struct sockaddr_storage a = ip("192.0.2.1", 25), a2 = ip("192.0.2.1", 25), a3 = ip("192.0.2.1", 26);
	struct sockaddr_storage b = ip("2001:db8::1", 25), b2 = ip("2001:db8::1", 25), m = ip("::ffff:192.0.2.1", 25);
	struct sockaddr_un u = { .sun_family = AF_UNIX };

	cr_assert_eq(net_port(SA(a)), 25);
	net_set_port(SA(a3), 65535);
	cr_assert_eq(net_port(SA(a3)), 65535);
	cr_assert_eq(net_port((struct sockaddr *)&u), 0);
	net_set_port((struct sockaddr *)&u, 5);	/* ignored */
	cr_assert_eq(net_socklen(SA(a)), sizeof(struct sockaddr_in));
	cr_assert_eq(net_socklen(SA(b)), sizeof(struct sockaddr_in6));
	cr_assert(net_addr_equal(SA(a), SA(a2)));
	cr_assert(!net_addr_equal(SA(a), SA(a3)));
	cr_assert(net_addr_equal(SA(b), SA(b2)));
	cr_assert(!net_addr_equal(SA(a), SA(b)));
	cr_assert(!net_addr_equal(SA(a), SA(m)), "different families");
	cr_assert(!net_addr_equal((struct sockaddr *)&u, (struct sockaddr *)&u));
	struct sockaddr_storage w4 = ip("0.0.0.0", 1), w6 = ip("::", 1);
	cr_assert(net_is_wildcard(SA(w4)));
	cr_assert(net_is_wildcard(SA(w6)));
	cr_assert(!net_is_wildcard(SA(a)));
	cr_assert(!net_is_wildcard(SA(b)));
	cr_assert(!net_is_wildcard((struct sockaddr *)&u));
}

static void
cidr_ok(const char *s, const char *formatted)
{
	struct cidr c;
	char t[80];

	cr_assert_eq(net_parse_cidr(s, &c), 0, "\"%s\"", s);
	net_cidr_format(&c, t, sizeof(t));
	cr_assert_str_eq(t, formatted);
}

Test(net, parse_and_format_cidr)
{
	cidr_ok("10.0.0.0/8", "10.0.0.0/8");
	cidr_ok("10.1.2.3/8", "10.0.0.0/8");
	cidr_ok("10.255.2.3/9", "10.128.0.0/9");
	cidr_ok("192.0.2.1", "192.0.2.1/32");
	cidr_ok("0.0.0.0/0", "0.0.0.0/0");
	cidr_ok("1.2.3.4/0", "0.0.0.0/0");
	cidr_ok("::1", "::1/128");
	cidr_ok("2001:db8:ffff::1/32", "2001:db8::/32");
	cidr_ok("2001:db8::ff/127", "2001:db8::fe/127");
	cidr_ok("::/0", "::/0");
	cidr_ok("10.0.0.0/08", "10.0.0.0/8");

	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8x",
		"10.0.0.0/ 8", "10.0.0/8", "host/8", "10.0.0.0/8/8", "10.0.0.0/99999999999999999999",
		"[::1]/128", "::1/12a",
	};
	struct cidr c;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(net_parse_cidr(bad[i], &c), -1, "\"%s\" parsed", bad[i]);
}

static int
match(const char *cidr, const char *addr)
{
	struct cidr c;
	struct sockaddr_storage a = ip(addr, 1);

	cr_assert_eq(net_parse_cidr(cidr, &c), 0, "\"%s\"", cidr);
	return net_cidr_match(&c, SA(a));
}

Test(net, cidr_match_ipv4)
{
	cr_assert(match("10.0.0.0/8", "10.200.1.1"));
	cr_assert(!match("10.0.0.0/8", "11.0.0.1"));
	cr_assert(match("10.128.0.0/9", "10.200.1.1"));
	cr_assert(!match("10.128.0.0/9", "10.127.255.255"));
	cr_assert(match("192.0.2.4/31", "192.0.2.5"));
	cr_assert(!match("192.0.2.4/31", "192.0.2.6"));
	cr_assert(!match("192.0.2.4/31", "192.0.2.3"));
	cr_assert(match("192.0.2.1", "192.0.2.1"));
	cr_assert(!match("192.0.2.1", "192.0.2.2"));
	cr_assert(match("0.0.0.0/0", "255.255.255.255"));
	cr_assert(match("0.0.0.0/0", "0.0.0.0"));
	cr_assert(match("10.1.2.3/8", "10.9.9.9"), "host bits of the network are ignored");
	/* Every prefix length against an address just inside and just outside. */
	for (int bits = 1; bits <= 32; bits++) {
		char c[32], in[32], out[32];
		uint32_t net = 0xC0A80000u, mask = bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
		uint32_t inside = (net & mask) | (~mask & 0x5555aaaau), outside = inside ^ (1u << (32 - bits));
		struct in_addr x;
		x.s_addr = htonl(net & mask);
		snprintf(c, sizeof(c), "%s/%d", inet_ntoa(x), bits);
		x.s_addr = htonl(inside);
		snprintf(in, sizeof(in), "%s", inet_ntoa(x));
		x.s_addr = htonl(outside);
		snprintf(out, sizeof(out), "%s", inet_ntoa(x));
		cr_assert(match(c, in), "%s should match %s", c, in);
		cr_assert(!match(c, out), "%s should not match %s", c, out);
	}
}

Test(net, cidr_match_ipv6)
{
	cr_assert(match("2001:db8::/32", "2001:db8:1234::1"));
	cr_assert(!match("2001:db8::/32", "2001:db9::1"));
	cr_assert(match("2001:db8::fe/127", "2001:db8::ff"));
	cr_assert(!match("2001:db8::fe/127", "2001:db8::fd"));
	cr_assert(match("::1", "::1"));
	cr_assert(!match("::1", "::2"));
	cr_assert(match("::/0", "2001:db8::1"));
	cr_assert(match("fe80::/10", "febf::1"));
	cr_assert(!match("fe80::/10", "fec0::1"));
}

Test(net, cidr_match_ipv4_mapped_and_families)
{
	/* A v4 client seen through a dual-stack socket matches IPv4 ranges. */
	cr_assert(match("10.0.0.0/8", "::ffff:10.1.2.3"));
	cr_assert(!match("10.0.0.0/8", "::ffff:11.1.2.3"));
	cr_assert(match("0.0.0.0/0", "::ffff:1.2.3.4"));
	cr_assert(match("192.0.2.1", "::ffff:192.0.2.1"));
	/* Otherwise families do not mix. */
	cr_assert(!match("0.0.0.0/0", "2001:db8::1"));
	cr_assert(!match("0.0.0.0/0", "::10.1.2.3"), "IPv4-compatible is not IPv4-mapped");
	cr_assert(!match("::/0", "10.1.2.3"));
	cr_assert(!match("2001:db8::/32", "192.0.2.1"));
	struct cidr c;
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	cr_assert_eq(net_parse_cidr("0.0.0.0/0", &c), 0);
	cr_assert(!net_cidr_match(&c, (struct sockaddr *)&u));
	cr_assert_eq(net_parse_cidr("::/0", &c), 0);
	cr_assert(!net_cidr_match(&c, (struct sockaddr *)&u));
}
