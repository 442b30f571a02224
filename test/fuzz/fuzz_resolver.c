/*
 * The resolver's answer handling (worker/lookup/resolver.c, on c-ares' parsers):
 * raw DNS messages, as a DNS server or anyone spoofing one could send them,
 * through resolver_ptr_answer() then resolver_forward_answer(), exactly as
 * reverse_cb()/forward_cb() chain them. Checks: no over-read (exactly sized
 * copies) or overflow of the name buffer; the outcome is a valid host name
 * (letters, digits, '.', '-', 1..253 bytes) or [UNAVAILABLE]/[TEMPUNAVAIL];
 * it makes a Client-Host header auth_http accepts. Input: flags (family,
 * c-ares status), the client address, the name buffer's size, the PTR
 * message's length (2 bytes), the PTR message, the forward message.
 */
#include <ares.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "test/fuzz/lib/fuzzb_input.h"
#include "worker/lookup/auth_http.h"
#include "worker/lookup/resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* c-ares' status for a query: success unless both bits of mask are set in flags. */
static int
status_of(uint8_t flags, uint8_t mask)
{
	static const int failures[] = { ARES_ENOTFOUND, ARES_ENODATA, ARES_ESERVFAIL, ARES_EREFUSED,
		ARES_ETIMEOUT, ARES_EBADRESP, ARES_ECONNREFUSED, ARES_EDESTRUCTION };

	return (flags & mask) != mask ? ARES_SUCCESS : failures[flags >> 3 & 7];
}

static int
is_token(const char *s)
{
	return strcmp(s, HOST_UNAVAILABLE) == 0 || strcmp(s, HOST_TEMPUNAVAIL) == 0;
}

/* What goes into Client-Host and XCLIENT NAME. */
static void
check_host(const char *host)
{
	static struct srv_conf conf;
	struct auth_params p;
	struct buf b = { 0 };
	size_t n = strlen(host);

	if (strcmp(host, HOST_UNAVAILABLE) != 0 && strcmp(host, HOST_TEMPUNAVAIL) != 0) {
		FUZZB_CHECK(n >= 1 && n <= 253, "a host name of %zu bytes", n);
		for (const char *c = host; *c; c++)
			FUZZB_CHECK((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-',
			    "host name \"%s\" has byte 0x%02x", host, (unsigned char)*c);
	}
	memset(&p, 0, sizeof(p));
	conf.auth_http.uri = "/auth";
	conf.auth_http.host = "127.0.0.1";
	p.method = AUTHM_NONE;
	p.protocol = MP_PROTO_SMTP;
	p.client_ip = "192.0.2.7";
	p.client_host = host;
	FUZZB_CHECK(auth_http_build(&b, &conf, &p, 0) == 0, "auth_http refuses host \"%s\"", host);
	buf_release(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzzb_in in = { data, size };
	struct sockaddr_storage ss;
	uint8_t flags = fuzzb_u8(&in);
	const uint8_t *a, *m;
	size_t alen, len1, len2, namelen;
	const char *verdict;

	memset(&ss, 0, sizeof(ss));
	if (flags & 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		a = fuzzb_bytes(&in, 16, &alen);
		memcpy(&s6->sin6_addr, a, alen);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		a = fuzzb_bytes(&in, 4, &alen);
		memcpy(&s4->sin_addr, a, alen);
	}
	/* resolver.c's buffer is 256 bytes; smaller ones test the bound. */
	namelen = fuzzb_u8(&in) < 0x80 ? 256 : 1 + fuzzb_u8(&in);
	len1 = fuzzb_u16(&in);
	m = fuzzb_bytes(&in, len1, &len1);
	uint8_t *ptr = fuzzb_dup(m, len1);
	char *name = malloc(namelen);
	FUZZB_CHECK(name != NULL, "out of memory");
	memset(name, 'Z', namelen);
	verdict = resolver_ptr_answer(status_of(flags, 0x06), len1 ? ptr : NULL,
	    (int)len1, (const struct sockaddr *)&ss, name, namelen);
	free(ptr);
	if (getenv("FUZZB_VERBOSE"))	/* for choosing seeds */
		fprintf(stderr, "fuzz_resolver: PTR %s\n", verdict ? verdict : name);
	if (verdict != NULL) {
		FUZZB_CHECK(is_token(verdict), "PTR step: \"%s\"", verdict);
		check_host(verdict);
		free(name);
		return 0;
	}
	FUZZB_CHECK(memchr(name, '\0', namelen) != NULL, "the PTR name is not terminated");
	FUZZB_CHECK(resolver_valid_name(name), "the PTR step gives \"%s\"", name);
	check_host(name);

	/* The forward step, on the rest of the input. */
	m = fuzzb_bytes(&in, in.n, &len2);
	uint8_t *fwd = fuzzb_dup(m, len2);
	verdict = resolver_forward_answer(status_of(flags, 0xc0), len2 ? fwd : NULL,
	    (int)len2, (const struct sockaddr *)&ss);
	free(fwd);
	if (getenv("FUZZB_VERBOSE"))
		fprintf(stderr, "fuzz_resolver: forward %s\n", verdict ? verdict : "leads back");
	FUZZB_CHECK(verdict == NULL || is_token(verdict), "forward step: \"%s\"", verdict);
	check_host(verdict ? verdict : name);
	free(name);
	return 0;
}
