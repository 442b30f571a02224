/*
 * PROXY protocol v1/v2 parser (worker/proto/proxyproto.c), fed as
 * session_proxy_header_run() feeds it: a peek of the growing prefix at
 * fuzzer-chosen points, at most PROXYPROTO_MAX bytes. Checks: the first
 * answer that is not AGAIN equals the whole-input answer; a full peek never
 * waits; every prefix is read from an exactly sized copy; a parsed address
 * is a printable IPv4/IPv6 literal and survives proxyproto_write() and a
 * parse back. Input: 3 bytes of chunking (fuzzb_input.h), then the header.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/net.h"
#include "test/fuzz/lib/fuzzb_input.h"
#include "worker/proto/proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
parse_copy(const uint8_t *p, size_t len, size_t *used, struct proxyproto_result *r)
{
	uint8_t *copy = fuzzb_dup(p, len);
	int rc;

	*used = 0;
	rc = proxyproto_parse(copy, len, used, r);
	free(copy);
	return rc;
}

/* As proxyproto_write() sends it: an IPv4-mapped IPv6 address as IPv4. */
static void
unmapped(const struct sockaddr_storage *in, struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)in;

	memcpy(out, in, sizeof(*out));
	if (in->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)out;
		memset(out, 0, sizeof(*out));
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		s4->sin_port = s6->sin6_port;
	}
}

/* An address the session prints into Proxy-Protocol-Addr and logs. */
static void
check_addr(const struct sockaddr_storage *ss, int family)
{
	char text[NET_ADDRSTRLEN];
	struct sockaddr_storage back, plain;
	socklen_t len;

	FUZZB_CHECK(ss->ss_family == family, "address family %d, want %d", ss->ss_family, family);
	net_ntop((const struct sockaddr *)ss, text, sizeof(text));
	FUZZB_CHECK(strlen(text) > 0 && strlen(text) < INET6_ADDRSTRLEN, "address text \"%s\"", text);
	for (const char *c = text; *c; c++)
		FUZZB_CHECK((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
		    (*c >= 'A' && *c <= 'F') || *c == '.' || *c == ':',
		    "address text \"%s\" has byte 0x%02x", text, (unsigned char)*c);
	FUZZB_CHECK(net_parse_ip(text, &back, &len) == 0, "address text \"%s\" does not parse", text);
	net_set_port((struct sockaddr *)&back, net_port((const struct sockaddr *)ss));
	/* net_ntop() prints an IPv4-mapped address as IPv4. */
	unmapped(ss, &plain);
	FUZZB_CHECK(net_addr_equal((const struct sockaddr *)&back, (const struct sockaddr *)&plain),
	    "address text \"%s\" parses as another address", text);
	FUZZB_CHECK(net_port((const struct sockaddr *)ss) >= 0 &&
	    net_port((const struct sockaddr *)ss) <= 65535, "port out of range");
}

/* What a parsed header says, written again and parsed back, says again. */
static void
check_rewrite(const struct proxyproto_result *r)
{
	struct sockaddr_storage src, dst;
	struct proxyproto_result back;
	struct buf b = { 0 };
	size_t used;
	int rc;

	unmapped(&r->src, &src);
	unmapped(&r->dst, &dst);
	FUZZB_CHECK(proxyproto_write(&b, r->version, (struct sockaddr *)&src,
	    (struct sockaddr *)&dst) == 0, "proxyproto_write failed");
	rc = parse_copy((const uint8_t *)buf_rptr(&b), buf_len(&b), &used, &back);
	FUZZB_CHECK(rc == PROXYPROTO_DONE && used == buf_len(&b),
	    "a written v%d header parses as %d (used %zu of %zu)", r->version, rc, used, buf_len(&b));
	if (src.ss_family != dst.ss_family) {
		/* A v1 TCP6 line may pair a mapped and a plain address: UNKNOWN then. */
		FUZZB_CHECK(back.local, "mixed families written as addresses");
	} else {
		FUZZB_CHECK(!back.local && net_addr_equal((struct sockaddr *)&back.src,
		    (struct sockaddr *)&src) && net_addr_equal((struct sockaddr *)&back.dst,
		    (struct sockaddr *)&dst), "addresses change through write and parse");
	}
	buf_release(&b);
}

static void
check_done(const uint8_t *msg, size_t len, size_t used, const struct proxyproto_result *r)
{
	FUZZB_CHECK(used > 0 && used <= len, "used %zu of %zu bytes", used, len);
	if (r->version == 1) {
		FUZZB_CHECK(used <= PROXYPROTO_V1_MAX && used >= 8 && msg[used - 2] == '\r' &&
		    msg[used - 1] == '\n' && memcmp(msg, "PROXY ", 6) == 0, "v1 header of %zu bytes", used);
	} else {
		FUZZB_CHECK(r->version == 2 && used >= 16 && used <= PROXYPROTO_MAX &&
		    used == 16 + ((size_t)msg[14] << 8 | msg[15]), "v%d header of %zu bytes",
		    r->version, used);
	}
	if (r->local)
		return;
	check_addr(&r->src, r->src.ss_family == AF_INET6 ? AF_INET6 : AF_INET);
	check_addr(&r->dst, r->src.ss_family);
	check_rewrite(r);
}

static int
same_result(const struct proxyproto_result *a, const struct proxyproto_result *b)
{
	if (a->version != b->version || a->local != b->local)
		return 0;
	return a->local || (net_addr_equal((const struct sockaddr *)&a->src,
	    (const struct sockaddr *)&b->src) && net_addr_equal((const struct sockaddr *)&a->dst,
	    (const struct sockaddr *)&b->dst));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzzb_in in = { data, size };
	struct fuzzb_chunker ch;
	struct proxyproto_result whole, part;
	size_t wused, used, have = 0, len;
	const uint8_t *msg;
	int wrc, rc = PROXYPROTO_AGAIN;

	fuzzb_chunker_init(&ch, &in);
	/* The session peeks at most PROXYPROTO_MAX bytes. */
	msg = fuzzb_bytes(&in, PROXYPROTO_MAX, &len);
	wrc = parse_copy(msg, len, &wused, &whole);
	FUZZB_CHECK(wrc == PROXYPROTO_DONE || wrc == PROXYPROTO_AGAIN || wrc == PROXYPROTO_INVALID,
	    "result %d", wrc);
	FUZZB_CHECK(len < PROXYPROTO_MAX || wrc != PROXYPROTO_AGAIN,
	    "a full peek of %zu bytes still waits: the session would refuse it", len);
	if (wrc == PROXYPROTO_DONE)
		check_done(msg, len, wused, &whole);
	while (have < len) {
		have += fuzzb_chunk(&ch, len - have);
		rc = parse_copy(msg, have, &used, &part);
		if (rc == PROXYPROTO_AGAIN)
			continue;
		FUZZB_CHECK(rc == wrc, "after %zu of %zu bytes: %d, whole input: %d", have, len, rc, wrc);
		if (rc == PROXYPROTO_DONE)
			FUZZB_CHECK(used == wused && same_result(&part, &whole),
			    "after %zu bytes: a header of %zu bytes, whole input: %zu, or other addresses",
			    have, used, wused);
		break;
	}
	if (rc == PROXYPROTO_AGAIN)
		FUZZB_CHECK(wrc == PROXYPROTO_AGAIN, "split-fed waits, whole input: %d", wrc);
	return 0;
}
