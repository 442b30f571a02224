/*
 * worker/session/backend_facts.c: facts are found again by address and port (IPv4 and
 * IPv6 apart), expire after BACKEND_FACTS_TTL_MS, are replaced by a newer put,
 * and a backend never seen knows nothing.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "worker/session/backend_facts.h"

static void reset(void) { backend_facts_reset(); }

TestSuite(backend_facts, .init = reset, .fini = reset);

static struct sockaddr_in
v4(const char *ip, int port)
{
	struct sockaddr_in s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	s.sin_port = htons((uint16_t)port);
	cr_assert_eq(inet_pton(AF_INET, ip, &s.sin_addr), 1);
	return s;
}

static struct sockaddr_in6
v6(const char *ip, int port)
{
	struct sockaddr_in6 s;

	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	s.sin6_port = htons((uint16_t)port);
	cr_assert_eq(inet_pton(AF_INET6, ip, &s.sin6_addr), 1);
	return s;
}

#define SA(x) ((const struct sockaddr *)&(x))

Test(backend_facts, found_by_address_and_port)
{
	struct sockaddr_in a = v4("127.0.0.1", 110), b = v4("127.0.0.1", 111), c = v4("127.0.0.2", 110);
	struct sockaddr_in6 d = v6("::ffff:127.0.0.1", 110), e = v6("::1", 110);
	uint64_t now = 1000000;

	cr_assert_eq(backend_facts_get(SA(a), now), 0u);
	backend_facts_put(SA(a), BF_POP3_CAPA | BF_POP3_PIPELINING, now);
	cr_assert_eq(backend_facts_get(SA(a), now + 1), (unsigned)(BF_POP3_CAPA | BF_POP3_PIPELINING));
	cr_assert_eq(backend_facts_get(SA(b), now), 0u, "another port");
	cr_assert_eq(backend_facts_get(SA(c), now), 0u, "another address");
	cr_assert_eq(backend_facts_get(SA(e), now), 0u);
	/* A v4-mapped IPv6 address is the same backend as its IPv4 form. */
	cr_assert_eq(backend_facts_get(SA(d), now), (unsigned)(BF_POP3_CAPA | BF_POP3_PIPELINING));
	backend_facts_put(SA(e), BF_SMTP_EHLO_FIRST, now);
	cr_assert_eq(backend_facts_get(SA(e), now), (unsigned)BF_SMTP_EHLO_FIRST);
	backend_facts_put(SA(a), BF_POP3_CAPA, now);
	cr_assert_eq(backend_facts_get(SA(a), now), (unsigned)BF_POP3_CAPA, "replaced");
}

Test(backend_facts, expire)
{
	struct sockaddr_in a = v4("127.0.0.1", 110);
	uint64_t now = 5000000;

	backend_facts_put(SA(a), BF_POP3_CAPA, now);
	cr_assert_eq(backend_facts_get(SA(a), now + BACKEND_FACTS_TTL_MS - 1000), (unsigned)BF_POP3_CAPA);
	cr_assert_eq(backend_facts_get(SA(a), now + BACKEND_FACTS_TTL_MS), 0u);
}

/* Thousands of backends: each one's facts are its own or none, never another's. */
Test(backend_facts, many_backends_never_mixed)
{
	char ip[32];
	uint64_t now = 1000;
	int kept = 0;

	for (int i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 256, i % 256);
		struct sockaddr_in s = v4(ip, 110);
		backend_facts_put(SA(s), i % 2 ? BF_POP3_CAPA : BF_POP3_CAPA | BF_POP3_PIPELINING, now);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 256, i % 256);
		struct sockaddr_in s = v4(ip, 110);
		unsigned f = backend_facts_get(SA(s), now);
		if (f == 0)
			continue;
		kept++;
		cr_assert_eq(f, (unsigned)(i % 2 ? BF_POP3_CAPA : BF_POP3_CAPA | BF_POP3_PIPELINING));
	}
	cr_assert_gt(kept, 1000, "the table keeps most of what fits");
}

Test(backend_facts, other_families_know_nothing)
{
	struct sockaddr sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	backend_facts_put(&sa, BF_POP3_CAPA, 1000);
	cr_assert_eq(backend_facts_get(&sa, 1000), 0u);
}
