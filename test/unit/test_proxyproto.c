/*
 * PROXY protocol v1/v2 (worker/proto/proxyproto.c): headers written then parsed
 * back, exact bytes against haproxy's proxy-protocol.txt, every truncation
 * waiting for more, and hostile headers refused. Inputs are copied to
 * exactly sized heap buffers so the sanitizer build sees over-reads.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <criterion/criterion.h>

#include "common/net.h"
#include "worker/proto/proxyproto.h"

TestSuite(proxyproto);

static struct sockaddr_storage
sa(const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	cr_assert_eq(net_parse_ip(ip, &ss, &len), 0, "%s", ip);
	net_set_port((struct sockaddr *)&ss, port);
	return ss;
}

static int
parse(const void *data, size_t len, size_t *used, struct proxyproto_result *r)
{
	unsigned char *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, data, len);
	*used = 0;
	rc = proxyproto_parse(copy, len, used, r);
	free(copy);
	return rc;
}

static void
same_addr(const struct sockaddr_storage *got, const char *ip, int port)
{
	char text[NET_ADDRSTRLEN];
	struct sockaddr_storage want = sa(ip, port);

	net_ntop((const struct sockaddr *)got, text, sizeof(text));
	cr_assert(net_addr_equal((const struct sockaddr *)got, (struct sockaddr *)&want),
	    "got %s:%d, want %s:%d", text, net_port((const struct sockaddr *)got), ip, port);
}

/* Every strict prefix of a header must ask for more. */
static void
prefixes_wait(const unsigned char *h, size_t len)
{
	struct proxyproto_result r;
	size_t used;

	for (size_t k = 0; k < len; k++) {
		int rc = parse(h, k, &used, &r);
		cr_assert_eq(rc, PROXYPROTO_AGAIN, "prefix of %zu/%zu bytes: %d", k, len, rc);
	}
}

/* Writes a header, checks its bytes, parses it back (with trailing data). */
static void
round_trip(int version, const char *sip, int sport, const char *dip, int dport,
    const void *want, size_t want_len, int local, const char *pip, const char *pdip)
{
	struct sockaddr_storage src = sa(sip, sport), dst = sa(dip, dport);
	struct proxyproto_result r;
	struct buf b = { 0 };
	size_t used;

	cr_assert_eq(proxyproto_write(&b, version, (struct sockaddr *)&src, (struct sockaddr *)&dst), 0);
	cr_assert_eq(buf_len(&b), want_len, "header of %zu bytes, want %zu", buf_len(&b), want_len);
	cr_assert_eq(memcmp(b.data, want, want_len), 0, "header bytes differ");
	prefixes_wait((unsigned char *)b.data, want_len);
	/* The client's first command may follow in the same read. */
	buf_puts(&b, "a1 CAPABILITY\r\n");
	cr_assert_eq(parse(b.data, buf_len(&b), &used, &r), PROXYPROTO_DONE);
	cr_assert_eq(used, want_len);
	cr_assert_eq(r.version, version);
	cr_assert_eq(r.local, local);
	if (!local) {
		same_addr(&r.src, pip ? pip : sip, sport);
		same_addr(&r.dst, pdip ? pdip : dip, dport);
	}
	buf_release(&b);
}

static const unsigned char SIG[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

Test(proxyproto, v1_ipv4)
{
	const char *want = "PROXY TCP4 192.0.2.7 198.51.100.1 50123 143\r\n";

	round_trip(1, "192.0.2.7", 50123, "198.51.100.1", 143, want, strlen(want), 0, NULL, NULL);
}

Test(proxyproto, v1_ipv6)
{
	const char *want = "PROXY TCP6 2001:db8::1 2001:db8:0:1::2 65535 1\r\n";

	round_trip(1, "2001:db8::1", 65535, "2001:db8:0:1::2", 1, want, strlen(want), 0, NULL, NULL);
}

Test(proxyproto, v1_mapped_addresses_become_ipv4)
{
	const char *want = "PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\n";

	round_trip(1, "::ffff:192.0.2.7", 1, "::ffff:198.51.100.1", 2, want, strlen(want), 0,
	    "192.0.2.7", "198.51.100.1");
}

Test(proxyproto, v1_mixed_families_are_unknown)
{
	const char *want = "PROXY UNKNOWN\r\n";

	round_trip(1, "192.0.2.7", 1, "2001:db8::2", 2, want, strlen(want), 1, NULL, NULL);
}

Test(proxyproto, v1_unix_socket_is_unknown)
{
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	struct sockaddr_storage d = sa("10.0.0.1", 143);
	struct buf b = { 0 };

	strcpy(u.sun_path, "/run/x.sock");
	cr_assert_eq(proxyproto_write(&b, 1, (struct sockaddr *)&u, (struct sockaddr *)&d), 0);
	cr_assert_eq(buf_len(&b), 15);
	cr_assert_eq(memcmp(b.data, "PROXY UNKNOWN\r\n", 15), 0);
	buf_release(&b);
	cr_assert_eq(proxyproto_write(&b, 2, (struct sockaddr *)&u, (struct sockaddr *)&d), 0);
	cr_assert_eq(buf_len(&b), 16);
	cr_assert_eq(b.data[13], 0x00);
	buf_release(&b);
}

Test(proxyproto, v2_ipv4)
{
	unsigned char want[28];

	memcpy(want, SIG, 12);
	want[12] = 0x21;	/* v2, PROXY */
	want[13] = 0x11;	/* TCP over IPv4 */
	want[14] = 0;
	want[15] = 12;
	memcpy(want + 16, "\xc0\x00\x02\x07", 4);
	memcpy(want + 20, "\xc6\x33\x64\x01", 4);
	memcpy(want + 24, "\xc3\xcb", 2);	/* 50123 */
	memcpy(want + 26, "\x00\x8f", 2);	/* 143 */
	round_trip(2, "192.0.2.7", 50123, "198.51.100.1", 143, want, sizeof(want), 0, NULL, NULL);
}

Test(proxyproto, v2_ipv6)
{
	unsigned char want[52];
	struct sockaddr_in6 a;

	memcpy(want, SIG, 12);
	want[12] = 0x21;
	want[13] = 0x21;	/* TCP over IPv6 */
	want[14] = 0;
	want[15] = 36;
	inet_pton(AF_INET6, "2001:db8::1", &a.sin6_addr);
	memcpy(want + 16, &a.sin6_addr, 16);
	inet_pton(AF_INET6, "2001:db8::2", &a.sin6_addr);
	memcpy(want + 32, &a.sin6_addr, 16);
	memcpy(want + 48, "\x01\xbb\x03\xe1", 4);	/* 443, 993 */
	round_trip(2, "2001:db8::1", 443, "2001:db8::2", 993, want, sizeof(want), 0, NULL, NULL);
}

Test(proxyproto, v2_mapped_addresses_become_ipv4)
{
	unsigned char want[28];

	memcpy(want, SIG, 12);
	memcpy(want + 12, "\x21\x11\x00\x0c\x0a\x00\x00\x01\x0a\x00\x00\x02\x00\x19\x00\x1a", 16);
	round_trip(2, "::ffff:10.0.0.1", 25, "::ffff:10.0.0.2", 26, want, sizeof(want), 0,
	    "10.0.0.1", "10.0.0.2");
}

Test(proxyproto, v2_mixed_families_are_unspec)
{
	unsigned char want[16];

	memcpy(want, SIG, 12);
	memcpy(want + 12, "\x21\x00\x00\x00", 4);
	round_trip(2, "192.0.2.7", 1, "2001:db8::2", 2, want, sizeof(want), 1, NULL, NULL);
}

Test(proxyproto, v2_local_command)
{
	unsigned char h[16 + 12];
	struct proxyproto_result r;
	size_t used;

	memcpy(h, SIG, 12);
	memcpy(h + 12, "\x20\x11\x00\x0c", 4);	/* LOCAL, with addresses to be ignored */
	memset(h + 16, 7, 12);
	prefixes_wait(h, sizeof(h));
	cr_assert_eq(parse(h, sizeof(h), &used, &r), PROXYPROTO_DONE);
	cr_assert_eq(used, sizeof(h));
	cr_assert_eq(r.version, 2);
	cr_assert_eq(r.local, 1);
}

Test(proxyproto, v2_tlvs_after_the_addresses_are_skipped)
{
	unsigned char h[PROXYPROTO_MAX + 3];
	struct proxyproto_result r;
	size_t used, alen = PROXYPROTO_MAX - 16;

	memcpy(h, SIG, 12);
	h[12] = 0x21;
	h[13] = 0x11;
	h[14] = (unsigned char)(alen >> 8);
	h[15] = (unsigned char)alen;
	memcpy(h + 16, "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02", 12);
	memset(h + 28, 0xee, sizeof(h) - 28);
	cr_assert_eq(parse(h, sizeof(h), &used, &r), PROXYPROTO_DONE);
	cr_assert_eq(used, PROXYPROTO_MAX);
	same_addr(&r.src, "1.2.3.4", 1);
	same_addr(&r.dst, "5.6.7.8", 2);
	/* One byte more is refused. */
	alen++;
	h[14] = (unsigned char)(alen >> 8);
	h[15] = (unsigned char)alen;
	cr_assert_eq(parse(h, sizeof(h), &used, &r), PROXYPROTO_INVALID);
}

Test(proxyproto, v1_unknown_forms)
{
	static const char *const ok[] = {
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
	};
	struct proxyproto_result r;
	size_t used;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		prefixes_wait((const unsigned char *)ok[i], strlen(ok[i]));
		cr_assert_eq(parse(ok[i], strlen(ok[i]), &used, &r), PROXYPROTO_DONE, "%s", ok[i]);
		cr_assert_eq(used, strlen(ok[i]));
		cr_assert_eq(r.local, 1);
		cr_assert_eq(r.version, 1);
	}
}

Test(proxyproto, v1_longest_line)
{
	const char *l = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n";
	struct proxyproto_result r;
	size_t used;

	cr_assert_leq(strlen(l), PROXYPROTO_V1_MAX);
	prefixes_wait((const unsigned char *)l, strlen(l));
	cr_assert_eq(parse(l, strlen(l), &used, &r), PROXYPROTO_DONE);
	same_addr(&r.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	same_addr(&r.dst, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
}

Test(proxyproto, v1_line_over_107_bytes)
{
	char l[300];
	struct proxyproto_result r;
	size_t used;

	/* No LF within the first 107 bytes: refused without waiting for more. */
	strcpy(l, "PROXY UNKNOWN ");
	memset(l + 14, 'x', 200);
	l[214] = '\0';
	cr_assert_eq(parse(l, PROXYPROTO_V1_MAX, &used, &r), PROXYPROTO_INVALID);
	cr_assert_eq(parse(l, 214, &used, &r), PROXYPROTO_INVALID);
	cr_assert_eq(parse(l, PROXYPROTO_V1_MAX - 1, &used, &r), PROXYPROTO_AGAIN);
	/* 107 bytes with CRLF: the longest accepted; 108 is too long. */
	memcpy(l + PROXYPROTO_V1_MAX - 2, "\r\n", 2);
	cr_assert_eq(parse(l, PROXYPROTO_V1_MAX, &used, &r), PROXYPROTO_DONE);
	cr_assert_eq(used, PROXYPROTO_V1_MAX);
	memset(l + 14, 'x', 200);
	memcpy(l + PROXYPROTO_V1_MAX - 1, "\r\n", 2);
	cr_assert_eq(parse(l, PROXYPROTO_V1_MAX + 1, &used, &r), PROXYPROTO_INVALID);
}

Test(proxyproto, v1_hostile)
{
	static const char *const bad[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",		/* no CR */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",		/* a port missing */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 a 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 99999999999999999999 2\r\n",
		"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n",	/* family mismatch */
		"PROXY TCP4 1.2.3.4 2001:db8::1 1 2\r\n",
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP6 2001:db8::1 5.6.7.8 1 2\r\n",
		"PROXY TCP4 host.example 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY \r\n",
		"PROXY\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",	/* one field too many */
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",	/* two spaces */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",	/* trailing space */
		"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"GET / HTTP/1.0\r\n",
		"a1 CAPABILITY\r\n",
	};
	struct proxyproto_result r;
	size_t used;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], strlen(bad[i]), &used, &r), PROXYPROTO_INVALID, "accepted: %s", bad[i]);
	cr_assert_eq(parse("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33, &used, &r), PROXYPROTO_INVALID);
}

Test(proxyproto, v1_port_zero_and_edges)
{
	const char *l = "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n";
	struct proxyproto_result r;
	size_t used;

	cr_assert_eq(parse(l, strlen(l), &used, &r), PROXYPROTO_DONE);
	same_addr(&r.src, "0.0.0.0", 0);
	same_addr(&r.dst, "255.255.255.255", 65535);
}

Test(proxyproto, v2_hostile)
{
	unsigned char h[64];
	struct proxyproto_result r;
	size_t used;

	/* A wrong signature byte anywhere is seen as soon as it arrives. */
	for (size_t i = 0; i < 12; i++) {
		memcpy(h, SIG, 12);
		memcpy(h + 12, "\x21\x11\x00\x0c", 4);
		h[i] ^= 0x40;
		if (i == 0)
			continue;	/* no longer looks like v2 at all: see below */
		cr_assert_eq(parse(h, i + 1, &used, &r), PROXYPROTO_INVALID, "byte %zu", i);
		cr_assert_eq(parse(h, 28, &used, &r), PROXYPROTO_INVALID, "byte %zu", i);
	}
	memcpy(h, SIG, 12);
	memcpy(h + 12, "\x11\x11\x00\x0c", 4);	/* version 1 in binary */
	cr_assert_eq(parse(h, 28, &used, &r), PROXYPROTO_INVALID);
	h[12] = 0x31;	/* version 3 */
	cr_assert_eq(parse(h, 28, &used, &r), PROXYPROTO_INVALID);
	h[12] = 0x22;	/* command 2 */
	cr_assert_eq(parse(h, 28, &used, &r), PROXYPROTO_INVALID);
	h[12] = 0x2f;
	cr_assert_eq(parse(h, 28, &used, &r), PROXYPROTO_INVALID);
	h[12] = 0x21;
	static const unsigned char fams[] = { 0x12, 0x22, 0x31, 0x32, 0x10, 0x20, 0x01, 0x41, 0xff };
	for (size_t i = 0; i < sizeof(fams); i++) {
		h[13] = fams[i];
		cr_assert_eq(parse(h, 28, &used, &r), PROXYPROTO_INVALID, "family 0x%02x", fams[i]);
	}
	/* Address block too short for its family. */
	memcpy(h + 12, "\x21\x11\x00\x0b", 4);
	cr_assert_eq(parse(h, 27, &used, &r), PROXYPROTO_INVALID);
	memcpy(h + 12, "\x21\x21\x00\x23", 4);
	memset(h + 16, 0, 35);
	cr_assert_eq(parse(h, 51, &used, &r), PROXYPROTO_INVALID);
	/* Oversized length: refused from the 16-byte header alone. */
	memcpy(h + 12, "\x21\x11\xff\xff", 4);
	cr_assert_eq(parse(h, 16, &used, &r), PROXYPROTO_INVALID);
	memcpy(h + 12, "\x21\x11\x02\x09", 4);	/* 521 */
	cr_assert_eq(parse(h, 16, &used, &r), PROXYPROTO_INVALID);
	memcpy(h + 12, "\x21\x11\x02\x08", 4);	/* 520: allowed, wait for it */
	cr_assert_eq(parse(h, 16, &used, &r), PROXYPROTO_AGAIN);
}

Test(proxyproto, neither_version)
{
	static const char *const bad[] = { "\x0d\x0a\x0d\x0b", "Q", "\x00", "\x16\x03\x01\x02\x00", "* OK" };
	struct proxyproto_result r;
	size_t used;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], strlen(bad[i]) ? strlen(bad[i]) : 1, &used, &r), PROXYPROTO_INVALID,
		    "case %zu", i);
	cr_assert_eq(parse("", 0, &used, &r), PROXYPROTO_AGAIN);
	cr_assert_eq(parse("P", 1, &used, &r), PROXYPROTO_AGAIN);
	cr_assert_eq(parse("\r", 1, &used, &r), PROXYPROTO_AGAIN);
	cr_assert_eq(parse("\r\n", 2, &used, &r), PROXYPROTO_AGAIN, "the start of the v2 signature");
	cr_assert_eq(parse("PROXY", 5, &used, &r), PROXYPROTO_AGAIN);
	cr_assert_eq(parse("PROXZ", 5, &used, &r), PROXYPROTO_INVALID);
}

Test(proxyproto, random_bytes_never_crash)
{
	unsigned char h[PROXYPROTO_MAX + 8];
	struct proxyproto_result r;
	size_t used;

	srand(3);
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)rand() % sizeof(h);
		int kind = round % 3;
		for (size_t i = 0; i < len; i++)
			h[i] = (unsigned char)rand();
		if (kind == 0 && len >= 16) {
			memcpy(h, SIG, 12);
			h[12] = 0x20 | (unsigned char)(rand() % 3);
			h[14] = (unsigned char)(rand() % 3);
		} else if (kind == 1 && len >= 6) {
			static const char alpha[] = "PROXY TCP46UNKNOW0123456789.:abcdef \r\n";
			memcpy(h, "PROXY ", 6);
			for (size_t i = 6; i < len; i++)
				h[i] = (unsigned char)alpha[rand() % (sizeof(alpha) - 1)];
		}
		int rc = parse(h, len, &used, &r);
		cr_assert(rc == PROXYPROTO_AGAIN || rc == PROXYPROTO_DONE || rc == PROXYPROTO_INVALID);
		if (rc == PROXYPROTO_DONE)
			cr_assert(used > 0 && used <= len);
	}
}
