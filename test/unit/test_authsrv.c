/*
 * The auth services' shared state and the failover choice (common/authsrv.c):
 * which service a request tries next, the back-off a failure starts, the one
 * probe after it, the slots kept by URL, and the 5xx test on the first bytes
 * of an answer (network input: truncated and hostile status lines).
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/authsrv.h"

static struct authsrv_zone z;

static void
setup(void)
{
	memset(&z, 0, sizeof(z));
	authsrv_init(&z);
}

TestSuite(authsrv, .init = setup);

Test(authsrv, register_keeps_a_slot_per_url)
{
	int a = authsrv_register(&z, "127.0.0.1:9000/a", 1);
	int b = authsrv_register(&z, "https://auth.example/b", 1);

	cr_assert(a >= 0 && b >= 0 && a != b);
	cr_assert_eq(authsrv_register(&z, "127.0.0.1:9000/a", 1), a);
	cr_assert_eq(authsrv_find(&z, "https://auth.example/b"), &z.slot[b]);
	cr_assert_null(authsrv_find(&z, "127.0.0.1:9000/c"));
	cr_assert_eq(authsrv_register(&z, "", 1), -1);
	/* A second init (a reload) keeps what the zone holds. */
	z.slot[a].requests = 7;
	authsrv_init(&z);
	cr_assert_eq(z.slot[a].requests, 7);
}

Test(authsrv, a_full_zone_refuses_new_urls)
{
	char url[32];

	for (int i = 0; i < AUTHSRV_SLOTS; i++) {
		snprintf(url, sizeof(url), "h%d", i);
		cr_assert_eq(authsrv_register(&z, url, 1), i);
	}
	cr_assert_eq(authsrv_register(&z, "one-more", 1), -1);
	cr_assert_eq(authsrv_register(&z, "h5", 1), 5);
}

Test(authsrv, a_full_zone_gives_up_the_slot_named_longest_ago)
{
	char url[32];

	for (int i = 0; i < AUTHSRV_SLOTS; i++) {
		snprintf(url, sizeof(url), "h%d", i);
		cr_assert_eq(authsrv_register(&z, url, 1), i);
	}
	/* Generation 2 names all but h3 and h9 again; h9 is named by 3 too. */
	for (int i = 0; i < AUTHSRV_SLOTS; i++) {
		snprintf(url, sizeof(url), "h%d", i);
		if (i != 3)
			cr_assert_eq(authsrv_register(&z, url, i == 9 ? 3 : 2), i);
	}
	z.slot[3].requests = 5;
	cr_assert_eq(authsrv_register(&z, "new", 3), 3);
	cr_assert_str_eq(z.slot[3].url, "new");
	cr_assert_eq(z.slot[3].requests, 0, "a new service starts its counts at 0");
	cr_assert_eq(authsrv_register(&z, "newer", 3), 0, "then the oldest of generation 2");
	cr_assert_eq(authsrv_register(&z, "h9", 3), 9, "named by 3 itself: kept");
}

Test(authsrv, overlong_urls_are_cut_not_overflowed)
{
	char url[AUTHSRV_URL_MAX * 2];

	memset(url, 'x', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	int i = authsrv_register(&z, url, 1);
	cr_assert(i >= 0);
	cr_assert_eq(strlen(z.slot[i].url), AUTHSRV_URL_MAX - 1);
	cr_assert_eq(authsrv_register(&z, url, 1), i);
}

Test(authsrv, failure_backs_off_then_one_probe)
{
	struct authsrv_slot *s = &z.slot[0];

	cr_assert_eq(authsrv_claim(s, 1000, 60000), AUTHSRV_USE);
	authsrv_failed(s, 1000, 60000);
	cr_assert_eq(s->failures, 1);
	cr_assert_eq(s->backoffs, 1);
	cr_assert_eq(authsrv_claim(s, 1001, 60000), AUTHSRV_SKIP);
	cr_assert_eq(authsrv_claim(s, 60999, 60000), AUTHSRV_SKIP);
	/* Over: the first request probes, the next ones keep skipping meanwhile. */
	cr_assert_eq(authsrv_claim(s, 61000, 60000), AUTHSRV_PROBE);
	cr_assert_eq(authsrv_claim(s, 61001, 60000), AUTHSRV_SKIP);
	/* The probe failed: still one outage, two failures. */
	authsrv_failed(s, 61002, 60000);
	cr_assert_eq(s->failures, 2);
	cr_assert_eq(s->backoffs, 1);
	cr_assert_eq(authsrv_claim(s, 121002, 60000), AUTHSRV_PROBE);
	authsrv_answered(s);
	cr_assert_eq(authsrv_claim(s, 121003, 60000), AUTHSRV_USE);
	authsrv_failed(s, 200000, 60000);
	cr_assert_eq(s->backoffs, 2);
}

Test(authsrv, zero_fail_timeout_still_records_the_failure)
{
	struct authsrv_slot *s = &z.slot[0];

	authsrv_failed(s, 5000, 0);
	cr_assert_neq(s->down_until, 0);
	cr_assert_eq(authsrv_claim(s, 5001, 0), AUTHSRV_PROBE);
}

Test(authsrv, pick_goes_in_order_and_skips_backed_off)
{
	struct authsrv_slot *s[3] = { &z.slot[0], &z.slot[1], &z.slot[2] };

	cr_assert_eq(authsrv_pick(s, 3, 0, 10, 1000), 0);
	cr_assert_eq(authsrv_pick(s, 3, 1u << 0, 10, 1000), 1);
	cr_assert_eq(authsrv_pick(s, 3, 0x7, 10, 1000), -1);
	authsrv_failed(s[0], 10, 1000);
	cr_assert_eq(authsrv_pick(s, 3, 0, 20, 1000), 1);
	authsrv_failed(s[1], 20, 1000);
	cr_assert_eq(authsrv_pick(s, 3, 0, 30, 1000), 2);
	/* Every one left in back-off: the first untried anyway, never no try. */
	authsrv_failed(s[2], 30, 1000);
	cr_assert_eq(authsrv_pick(s, 3, 0, 40, 1000), 0);
	cr_assert_eq(authsrv_pick(s, 3, 1u << 0, 40, 1000), 1);
	/* s[0]'s back-off ends first: it is probed. */
	cr_assert_eq(authsrv_pick(s, 3, 0, 1010, 1000), 0);
	/* Its probe is out: the others are still down, so the first untried goes anyway. */
	cr_assert_eq(authsrv_pick(s, 3, 0, 1011, 1000), 0);
	cr_assert_eq(authsrv_claim(s[0], 1011, 1000), AUTHSRV_SKIP);
}

Test(authsrv, pick_without_shared_state)
{
	struct authsrv_slot *s[2] = { NULL, NULL };

	cr_assert_eq(authsrv_pick(s, 2, 0, 0, 0), 0);
	cr_assert_eq(authsrv_pick(s, 2, 1, 0, 0), 1);
	cr_assert_eq(authsrv_pick(s, 2, 3, 0, 0), -1);
	cr_assert_eq(authsrv_pick(s, 0, 0, 0, 0), -1);
}

Test(authsrv, is_5xx_on_whole_truncated_and_hostile_status_lines)
{
	static const struct { const char *in; int want; } c[] = {
		{ "HTTP/1.0 500 Internal Server Error\r\n", 1 },
		{ "HTTP/1.1 503\r\n", 1 },
		{ "HTTP/1.0 599 x", 1 },
		{ "HTTP/1.0 200 OK\r\n", 0 },
		{ "HTTP/1.0 404 Not Found\r\n", 0 },
		{ "HTTP/1.0 5", 1 },		/* the first digit decides */
		{ "HTTP/1.0 ", -1 },		/* not known yet */
		{ "HTTP/1.", -1 },
		{ "HTTP", -1 },
		{ "", -1 },
		{ "Auth-Status: OK\r\n", 0 },	/* no status line, as nginx allows */
		{ "HTTP/1.0  500\r\n", 0 },	/* malformed: not a 5xx */
		{ "HTTP/1.0\t500\r\n", 0 },
		{ "XTTP/1.0 500\r\n", 0 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		cr_assert_eq(authsrv_is_5xx(c[i].in, strlen(c[i].in)), c[i].want, "case %zu: %s", i, c[i].in);
	/* NULs: compared by length, not as strings. */
	cr_assert_eq(authsrv_is_5xx("H\0TP/1.0 500", 12), 0);
	cr_assert_eq(authsrv_is_5xx("HTTP/1.0 \0\0\0", 12), 0);
}
