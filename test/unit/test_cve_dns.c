/*
 * The resolver's answer handling against hostile DNS messages, named after
 * the CVEs of that class: nginx's CVE-2026-28753 (PTR names injected into
 * auth_http and XCLIENT) and CVE-2021-23017 (a 1-byte overwrite in nginx's
 * DNS response parser). resolver_ptr_answer() and resolver_forward_answer()
 * get exactly sized copies, so the sanitizer build catches a read past the
 * message; name buffers carry guard bytes. The protocol machines' CVE
 * classes are in test_cve_classes.c, the whole binary's in
 * test/integration/test_cve_regressions.py.
 */
#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "worker/lookup/resolver.h"

TestSuite(cve_dns);

/* ======================================================= DNS messages */

struct msg {
	unsigned char b[8192];
	size_t n;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	cr_assert_leq(m->n + n, sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void
put16(struct msg *m, unsigned v)
{
	unsigned char x[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(m, x, 2);
}

static void
header(struct msg *m, unsigned qd, unsigned an)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8580);	/* response, authoritative, RD, RA, NOERROR */
	put16(m, qd);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
}

#define PTR_QNAME "\0011\0010\0010\003127\007in-addr\004arpa"	/* 1.0.0.127.in-addr.arpa */
#define FWD_QNAME "\006client\004test\007example"

/* The question (qname in wire form without its final zero). */
static void
question(struct msg *m, const char *qname, size_t qlen, unsigned type)
{
	put(m, qname, qlen);
	put(m, "", 1);
	put16(m, type);
	put16(m, 1);
}

/* An answer owned by the question's name (pointer 0xc00c). rdlength < 0: the real length. */
static void
answer(struct msg *m, unsigned type, const void *rdata, size_t rdlen, long rdlength)
{
	put(m, "\xc0\x0c", 2);
	put16(m, type);
	put16(m, 1);
	put(m, "\0\0\0\x3c", 4);
	put16(m, rdlength < 0 ? (unsigned)rdlen : (unsigned)rdlength);
	put(m, rdata, rdlen);
}

static struct sockaddr_in client127;

/* resolver_ptr_answer() on an exactly sized copy; name has guard bytes after len. */
static const char *
ptr_verdict(const struct msg *m, char *name, size_t len)
{
	unsigned char *copy = malloc(m->n ? m->n : 1);
	const char *v;

	cr_assert_not_null(copy);
	memcpy(copy, m->b, m->n);
	client127.sin_family = AF_INET;
	client127.sin_addr.s_addr = htonl(0x7f000001);
	v = resolver_ptr_answer(ARES_SUCCESS, copy, (int)m->n, (struct sockaddr *)&client127, name, len);
	free(copy);
	return v;
}

static const char *
fwd_verdict(const struct msg *m)
{
	unsigned char *copy = malloc(m->n ? m->n : 1);
	const char *v;

	cr_assert_not_null(copy);
	memcpy(copy, m->b, m->n);
	client127.sin_family = AF_INET;
	client127.sin_addr.s_addr = htonl(0x7f000001);
	v = resolver_forward_answer(ARES_SUCCESS, copy, (int)m->n, (struct sockaddr *)&client127);
	free(copy);
	return v;
}

/* Whatever the message, a verdict, or a valid name inside len with the guard intact. */
static const char *
ptr_safe(const struct msg *m, const char *what)
{
	char name[300];
	const char *v;

	memset(name, 'G', sizeof(name));
	v = ptr_verdict(m, name, 256);
	for (size_t i = 256; i < sizeof(name); i++)
		cr_assert_eq(name[i], 'G', "%s: written past the name buffer", what);
	if (v != NULL) {
		cr_assert(strcmp(v, HOST_UNAVAILABLE) == 0 || strcmp(v, HOST_TEMPUNAVAIL) == 0,
		    "%s: %s", what, v);
		return v;
	}
	cr_assert_not_null(memchr(name, '\0', 256), "%s: unterminated name", what);
	cr_assert(resolver_valid_name(name), "%s: %s", what, name);
	return NULL;
}

static void
ptr_message(struct msg *m, const void *rdata, size_t rdlen)
{
	header(m, 1, 1);
	question(m, PTR_QNAME, sizeof(PTR_QNAME) - 1, 12);
	answer(m, 12, rdata, rdlen, -1);
}

/* ======================================================= CVE-2026-28753 */

Test(cve_dns, cve_2026_28753_ptr_names_with_odd_bytes_are_never_names)
{
	struct lab {
		const char *s;
		size_t n;
	};
#define L(s) { s, sizeof(s) - 1 }
	static const struct lab bad[][3] = {
		{ L("evil"), L("example\r\nX-Injected: 1") },
		{ L("evil\r\nMAIL FROM:<x>"), L("example") },
		{ L("evil\nX: 1"), L("example") },
		{ L("evil\rX: 1"), L("example") },
		{ L("evil\0inj"), L("example") },
		{ L("evil host"), L("example") },
		{ L("evil\thost"), L("example") },
		{ L("evil:1"), L("example") },
		{ L("ev\xc3\xa9l"), L("example") },
		{ L("evil\x7f"), L("example") },
		{ L("evil.example\r\nX: 1"), L("x") },
		{ L("evil_host"), L("example") },
		{ L("evil/host"), L("example") },
		{ L("*"), L("evil"), L("example") },
		{ L("evil%0d%0aX-Inj"), L("example") },
	};
#undef L
	struct msg m;
	char name[300];
	unsigned char wire[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t o = 0;
		for (size_t k = 0; k < 3 && bad[i][k].s != NULL; k++) {
			wire[o++] = (unsigned char)bad[i][k].n;
			memcpy(wire + o, bad[i][k].s, bad[i][k].n);
			o += bad[i][k].n;
		}
		wire[o++] = 0;
		ptr_message(&m, wire, o);
		memset(name, 'G', sizeof(name));
		const char *v = ptr_verdict(&m, name, 256);
		cr_assert_not_null(v, "case %zu was taken as a name: %s", i, name);
		cr_assert(strcmp(v, HOST_UNAVAILABLE) == 0 || strcmp(v, HOST_TEMPUNAVAIL) == 0,
		    "case %zu: %s", i, v);
		cr_assert_eq(name[0], 'G', "case %zu: the name buffer was written", i);
	}
	/* The plain name, and the validity rule itself. */
	ptr_message(&m, "\006client\004test\007example\0", 21);
	cr_assert_null(ptr_verdict(&m, name, 256));
	cr_assert_str_eq(name, "client.test.example");
	const char *const invalid[] = {
		"", "a b", "a\r\nb", "a\nb", "a\rb", "a\tb", "a_b", "a/b", "*.a", "a:b", "a%0d",
		"\xc3\xa9", "a\x7f", "[UNAVAILABLE]",
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		cr_assert_not(resolver_valid_name(invalid[i]), "%s", invalid[i]);
	cr_assert(resolver_valid_name("client-1.test.example"));
}

/* ======================================================= CVE-2021-23017 */
/*
 * nginx's 1-byte overwrite in its DNS answer parser (and the pointer and
 * CNAME bugs before it): hostile answers give a placeholder or a right name,
 * never a read past the message (exact-size buffers under the sanitizer) or
 * a write past the name buffer; every truncation and byte change of a good
 * answer too.
 */

Test(cve_dns, cve_2021_23017_hostile_ptr_answers)
{
	struct msg m;
	unsigned char rd[1024];
	size_t o;

	/* compression pointer to itself, and a loop through a label */
	header(&m, 1, 1);
	question(&m, PTR_QNAME, sizeof(PTR_QNAME) - 1, 12);
	o = m.n + 12;
	rd[0] = (unsigned char)(0xc0 | (o >> 8));
	rd[1] = (unsigned char)o;
	answer(&m, 12, rd, 2, -1);
	cr_assert_not_null(ptr_safe(&m, "self pointer"));
	header(&m, 1, 1);
	question(&m, PTR_QNAME, sizeof(PTR_QNAME) - 1, 12);
	memcpy(rd, "\001a", 2);
	rd[2] = (unsigned char)(0xc0 | (o >> 8));
	rd[3] = (unsigned char)o;
	answer(&m, 12, rd, 4, -1);
	cr_assert_not_null(ptr_safe(&m, "label loop"));
	/* pointers past the end and into the header; reserved label types */
	ptr_message(&m, "\xc3\xff", 2);
	cr_assert_not_null(ptr_safe(&m, "pointer past the end"));
	ptr_message(&m, "\xc0\x02", 2);
	ptr_safe(&m, "pointer into the header");
	ptr_message(&m, "\x40" "aaaa\0", 6);
	cr_assert_not_null(ptr_safe(&m, "label type 01"));
	ptr_message(&m, "\x80" "aaaa\0", 6);
	cr_assert_not_null(ptr_safe(&m, "label type 10"));
	/* a label running past the end; no terminating zero */
	ptr_message(&m, "\x3f" "abc", 4);
	cr_assert_not_null(ptr_safe(&m, "label past the end"));
	ptr_message(&m, "\003abc", 4);
	cr_assert_not_null(ptr_safe(&m, "no final zero"));
	/* names of 320 bytes, and 254, 253 characters */
	for (int total = 0; total < 3; total++) {
		const size_t lens[3][4] = { { 63, 63, 63, 63 }, { 63, 63, 63, 62 }, { 63, 63, 63, 61 } };
		char want[300];
		size_t w = 0;
		o = 0;
		for (int l = 0; l < 4; l++) {
			rd[o++] = (unsigned char)lens[total][l];
			memset(rd + o, 'a' + l, lens[total][l]);
			memset(want + w, 'a' + l, lens[total][l]);
			o += lens[total][l];
			w += lens[total][l];
			want[w++] = '.';
		}
		want[w - 1] = '\0';
		if (total == 0) {		/* a fifth label: 320 bytes */
			rd[o++] = 63;
			memset(rd + o, 'e', 63);
			o += 63;
		}
		rd[o++] = 0;
		ptr_message(&m, rd, o);
		char name[300];
		const char *v = ptr_verdict(&m, name, 256);
		if (total == 2) {
			cr_assert_null(v, "253 characters is a valid name");
			cr_assert_str_eq(name, want);
			/* the same name and a buffer too small for it */
			memset(name, 'G', sizeof(name));
			cr_assert_not_null(ptr_verdict(&m, name, 100));
			for (size_t i = 100; i < sizeof(name); i++)
				cr_assert_eq(name[i], 'G');
		} else {
			cr_assert_not_null(v, "%zu-byte name taken", o);
		}
	}
	/* RDLENGTH past the end; ANCOUNT larger than the answers */
	header(&m, 1, 1);
	question(&m, PTR_QNAME, sizeof(PTR_QNAME) - 1, 12);
	answer(&m, 12, "\001x\007example\0", 11, 400);
	cr_assert_not_null(ptr_safe(&m, "rdlength past the end"));
	header(&m, 1, 5);
	question(&m, PTR_QNAME, sizeof(PTR_QNAME) - 1, 12);
	answer(&m, 12, "\003one\004test\007example\0", 18, -1);
	ptr_safe(&m, "ancount 5, one answer");
	header(&m, 1, 65535);
	question(&m, PTR_QNAME, sizeof(PTR_QNAME) - 1, 12);
	cr_assert_not_null(ptr_safe(&m, "ancount 65535, none"));
	header(&m, 65535, 1);
	question(&m, PTR_QNAME, sizeof(PTR_QNAME) - 1, 12);
	answer(&m, 12, "\003one\004test\007example\0", 18, -1);
	cr_assert_not_null(ptr_safe(&m, "qdcount 65535"));
	/* many answers, and a zero-length one */
	header(&m, 1, 100);
	question(&m, PTR_QNAME, sizeof(PTR_QNAME) - 1, 12);
	for (int i = 0; i < 100; i++)
		answer(&m, 12, "\003n00\004test\007example\0", 18, -1);
	cr_assert_null(ptr_safe(&m, "100 answers"));
	ptr_message(&m, "", 0);
	cr_assert_not_null(ptr_safe(&m, "empty rdata"));
	/* short messages */
	for (size_t n = 0; n < 12; n++) {
		m.n = n;
		memset(m.b, 0xc0, n);
		cr_assert_not_null(ptr_safe(&m, "short"));
	}
}

Test(cve_dns, cve_2021_23017_every_truncation_and_byte_change_of_an_answer)
{
	struct msg good, m;
	const unsigned char vals[] = { 0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xc1, 0xff };
	char what[64];

	ptr_message(&good, "\006client\004test\007example\0", 21);
	cr_assert_null(ptr_safe(&good, "good"));
	for (size_t n = 0; n < good.n; n++) {
		m = good;
		m.n = n;
		snprintf(what, sizeof(what), "first %zu bytes", n);
		ptr_safe(&m, what);
	}
	for (size_t i = 0; i < good.n; i++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			m = good;
			m.b[i] = vals[v];
			snprintf(what, sizeof(what), "byte %zu = %#x", i, vals[v]);
			ptr_safe(&m, what);
		}
	}
}

Test(cve_dns, cve_2021_23017_hostile_forward_answers)
{
	struct msg m;
	const char *v;

	/* the good one */
	header(&m, 1, 1);
	question(&m, FWD_QNAME, sizeof(FWD_QNAME) - 1, 1);
	answer(&m, 1, "\x7f\0\0\x01", 4, -1);
	cr_assert_null(fwd_verdict(&m));
	/* A records of 3 and 16 bytes; RDLENGTH past the end */
	header(&m, 1, 1);
	question(&m, FWD_QNAME, sizeof(FWD_QNAME) - 1, 1);
	answer(&m, 1, "\x7f\0\0", 3, -1);
	cr_assert_not_null(fwd_verdict(&m));
	header(&m, 1, 1);
	question(&m, FWD_QNAME, sizeof(FWD_QNAME) - 1, 1);
	answer(&m, 1, "\x7f\0\0\x01\x7f\0\0\x01\x7f\0\0\x01\x7f\0\0\x01", 16, -1);
	cr_assert_not_null(fwd_verdict(&m));
	header(&m, 1, 1);
	question(&m, FWD_QNAME, sizeof(FWD_QNAME) - 1, 1);
	answer(&m, 1, "\x7f\0\0\x01", 4, 300);
	cr_assert_not_null(fwd_verdict(&m));
	/* a CNAME to itself */
	header(&m, 1, 1);
	question(&m, FWD_QNAME, sizeof(FWD_QNAME) - 1, 1);
	answer(&m, 5, "\xc0\x0c", 2, -1);
	cr_assert_not_null(fwd_verdict(&m));
	/* 300 addresses, the client's last */
	header(&m, 1, 301);
	question(&m, FWD_QNAME, sizeof(FWD_QNAME) - 1, 1);
	for (int i = 0; i < 300; i++) {
		unsigned char a[4] = { 10, 0, (unsigned char)(i >> 8), (unsigned char)i };
		answer(&m, 1, a, 4, -1);
	}
	answer(&m, 1, "\x7f\0\0\x01", 4, -1);
	v = fwd_verdict(&m);
	cr_assert_null(v, "%s", v ? v : "");
	/* every truncation of the good answer */
	header(&m, 1, 1);
	question(&m, FWD_QNAME, sizeof(FWD_QNAME) - 1, 1);
	answer(&m, 1, "\x7f\0\0\x01", 4, -1);
	size_t full = m.n;
	for (size_t n = 0; n < full; n++) {
		m.n = n;
		v = fwd_verdict(&m);
		cr_assert(v != NULL && (strcmp(v, HOST_UNAVAILABLE) == 0 || strcmp(v, HOST_TEMPUNAVAIL) == 0),
		    "first %zu bytes", n);
	}
}
