/*
 * The resolver's answer handling (worker/lookup/resolver.c), as pure functions of
 * c-ares' status and a raw DNS message built here: the PTR step (a valid
 * name, nginx's [UNAVAILABLE]/[TEMPUNAVAIL] split, hostile names refused)
 * and the forward A/AAAA step (the client's address must come back).
 */
#include <arpa/inet.h>
#include <ares.h>
#include <string.h>

#include <criterion/criterion.h>

#include "worker/lookup/resolver.h"

TestSuite(resolver_answer);

struct msg {
	unsigned char b[2048];
	int n;
};

static void
put8(struct msg *m, unsigned v)
{
	cr_assert_lt(m->n, (int)sizeof(m->b));
	m->b[m->n++] = (unsigned char)v;
}

static void
put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

/* A dotted name as labels; a label may hold any byte but '.'. */
static void
put_name(struct msg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		put8(m, (unsigned)l);
		for (size_t i = 0; i < l; i++)
			put8(m, (unsigned char)name[i]);
		name += l + (dot != NULL);
	}
	put8(m, 0);
}

static void
head(struct msg *m, unsigned an, const char *qname, unsigned qtype)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180);	/* a response, recursion, NOERROR */
	put16(m, 1);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
	put_name(m, qname);
	put16(m, qtype);
	put16(m, 1);
}

static void
rr(struct msg *m, const char *owner, unsigned type, const void *rdata, unsigned rdlen)
{
	put_name(m, owner);
	put16(m, type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 60);
	put16(m, rdlen);
	for (unsigned i = 0; i < rdlen; i++)
		put8(m, ((const unsigned char *)rdata)[i]);
}

/* A PTR (or CNAME) record whose data is the name target. */
static void
rr_name(struct msg *m, const char *owner, unsigned type, const char *target)
{
	struct msg t = { .n = 0 };

	put_name(&t, target);
	rr(m, owner, type, t.b, (unsigned)t.n);
}

#define Q4 "7.2.0.192.in-addr.arpa"

static struct sockaddr_storage
addr(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		ss.ss_family = AF_INET6;
		inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	} else {
		ss.ss_family = AF_INET;
		inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr);
	}
	return ss;
}

static const char *
ptr(const struct msg *m, const char *ip, char *name, size_t len)
{
	struct sockaddr_storage ss = addr(ip);

	return resolver_ptr_answer(ARES_SUCCESS, m->b, m->n, (struct sockaddr *)&ss, name, len);
}

Test(resolver_answer, ptr_gives_a_valid_name)
{
	struct msg m;
	char name[256] = "";

	head(&m, 1, Q4, 12);
	rr_name(&m, Q4, 12, "mail.example.org");
	cr_assert_null(ptr(&m, "192.0.2.7", name, sizeof(name)));
	cr_assert_str_eq(name, "mail.example.org");
}

Test(resolver_answer, ptr_hostile_names_are_unavailable)
{
	static const char *const bad[] = { "evil\r\nname.example", "a b.example", "a_b.example",
		"x\"y.example", "semi;colon" };
	struct msg m;
	char name[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		head(&m, 1, Q4, 12);
		rr_name(&m, Q4, 12, bad[i]);
		cr_assert_str_eq(ptr(&m, "192.0.2.7", name, sizeof(name)), HOST_UNAVAILABLE, "%s", bad[i]);
	}
	/* A valid name that does not fit the caller's buffer is not cut short. */
	head(&m, 1, Q4, 12);
	rr_name(&m, Q4, 12, "mail.example.org");
	cr_assert_str_eq(ptr(&m, "192.0.2.7", name, 8), HOST_UNAVAILABLE);
}

Test(resolver_answer, ptr_nothing_usable_is_a_temporary_failure)
{
	struct msg m;
	char name[256];
	const unsigned char a[4] = { 192, 0, 2, 7 };

	head(&m, 1, Q4, 12);
	rr(&m, Q4, 12, "", 0);	/* zero-length RDATA */
	cr_assert_str_eq(ptr(&m, "192.0.2.7", name, sizeof(name)), HOST_TEMPUNAVAIL);
	head(&m, 1, Q4, 12);
	rr(&m, Q4, 1, a, 4);	/* an answer of another type */
	cr_assert_str_eq(ptr(&m, "192.0.2.7", name, sizeof(name)), HOST_TEMPUNAVAIL);
	head(&m, 1, Q4, 12);
	rr_name(&m, Q4, 12, "mail.example.org");
	m.n -= 3;		/* cut short */
	cr_assert_str_eq(ptr(&m, "192.0.2.7", name, sizeof(name)), HOST_TEMPUNAVAIL);
}

Test(resolver_answer, status_decides_first)
{
	struct sockaddr_storage ss = addr("192.0.2.7");
	char name[256];

	cr_assert_str_eq(resolver_ptr_answer(ARES_ENOTFOUND, NULL, 0, (struct sockaddr *)&ss, name,
	    sizeof(name)), HOST_UNAVAILABLE);
	cr_assert_str_eq(resolver_ptr_answer(ARES_ESERVFAIL, NULL, 0, (struct sockaddr *)&ss, name,
	    sizeof(name)), HOST_TEMPUNAVAIL);
	cr_assert_str_eq(resolver_forward_answer(ARES_ENOTFOUND, NULL, 0, (struct sockaddr *)&ss),
	    HOST_UNAVAILABLE);
	cr_assert_str_eq(resolver_forward_answer(ARES_ETIMEOUT, NULL, 0, (struct sockaddr *)&ss),
	    HOST_TEMPUNAVAIL);
}

Test(resolver_answer, forward_must_lead_back)
{
	struct sockaddr_storage ss = addr("192.0.2.7");
	const unsigned char a[4] = { 192, 0, 2, 7 }, other[4] = { 192, 0, 2, 8 };
	struct msg m;

	head(&m, 2, "mail.example.org", 1);
	rr(&m, "mail.example.org", 1, other, 4);
	rr(&m, "mail.example.org", 1, a, 4);
	cr_assert_null(resolver_forward_answer(ARES_SUCCESS, m.b, m.n, (struct sockaddr *)&ss));
	head(&m, 1, "mail.example.org", 1);
	rr(&m, "mail.example.org", 1, other, 4);
	cr_assert_str_eq(resolver_forward_answer(ARES_SUCCESS, m.b, m.n, (struct sockaddr *)&ss),
	    HOST_UNAVAILABLE);
	/* Through a CNAME: the address counts (the name given stays the PTR's). */
	head(&m, 2, "mail.example.org", 1);
	rr_name(&m, "mail.example.org", 5, "x_y.cdn.example");
	rr(&m, "x_y.cdn.example", 1, a, 4);
	cr_assert_null(resolver_forward_answer(ARES_SUCCESS, m.b, m.n, (struct sockaddr *)&ss));
	/* No address at all, or a message cut short. */
	head(&m, 0, "mail.example.org", 1);
	cr_assert_str_eq(resolver_forward_answer(ARES_SUCCESS, m.b, m.n, (struct sockaddr *)&ss),
	    HOST_UNAVAILABLE);
	head(&m, 1, "mail.example.org", 1);
	rr(&m, "mail.example.org", 1, a, 4);
	m.n -= 2;
	cr_assert_str_eq(resolver_forward_answer(ARES_SUCCESS, m.b, m.n, (struct sockaddr *)&ss),
	    HOST_TEMPUNAVAIL);
}

Test(resolver_answer, forward_ipv6_takes_aaaa)
{
	struct sockaddr_storage ss = addr("2001:db8::25");
	unsigned char a6[16];
	const unsigned char a4[4] = { 192, 0, 2, 7 };
	struct msg m;

	inet_pton(AF_INET6, "2001:db8::25", a6);
	head(&m, 1, "mail.example.org", 28);
	rr(&m, "mail.example.org", 28, a6, 16);
	cr_assert_null(resolver_forward_answer(ARES_SUCCESS, m.b, m.n, (struct sockaddr *)&ss));
	head(&m, 1, "mail.example.org", 28);
	rr(&m, "mail.example.org", 1, a4, 4);
	cr_assert_str_eq(resolver_forward_answer(ARES_SUCCESS, m.b, m.n, (struct sockaddr *)&ss),
	    HOST_UNAVAILABLE);
}
