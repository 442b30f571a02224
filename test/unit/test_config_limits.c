/*
 * The failed-login limit directives (login_limit_*, limit_sessions_*): the
 * values each accepts and the fields they give, the defaults, mail -> server
 * inheritance, -T, and every malformed value refused with its exact
 * "file:line:col: message", including the cross-field rule that a limit
 * needs login_limit_zone and the zone checks across servers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
/* Private to config/: the rate round trip below drives the setter and printer directly. */
#include "config/config_int.h"
#include "test/unit/config_helpers.h"

TestSuite(config_limits, .init = th_setup, .fini = th_teardown);

/* A zone at the mail level, then one IMAP server whose lines start at line 6, column 7. */
#define ZONE "  login_limit_zone: shared:lz:1m\n"
#define LIM(lines) MAIL_HEAD ZONE "  servers:\n    - listen: \"143\"\n" lines

/* login_limit_addr's value in LIM's server is refused with msg at its value (6:25). */
#define ADDR_ERR(value, msg) \
	EXPECT_ERR(LIM("      login_limit_addr: " value "\n"), \
	    "t.yaml:6:25: \"login_limit_addr\": " msg)

/* The zone in SRV's server (no zone at mail) is refused with msg at its value (5:25). */
#define ZONE_ERR(value, msg) \
	EXPECT_ERR(SRV("      login_limit_zone: " value "\n"), \
	    "t.yaml:5:25: \"login_limit_zone\": " msg)

#define SEC_US 1000000ULL

static void
assert_rule(const struct limit_rule_conf *r, uint64_t interval_us, unsigned burst, uint64_t block_ms)
{
	cr_assert_eq(r->interval_us, interval_us, "interval_us %llu, expected %llu",
	    (unsigned long long)r->interval_us, (unsigned long long)interval_us);
	cr_assert_eq(r->burst, burst, "burst %u, expected %u", r->burst, burst);
	cr_assert_eq(r->block_ms, block_ms, "block_ms %llu, expected %llu",
	    (unsigned long long)r->block_ms, (unsigned long long)block_ms);
}

/* Loads LIM with "login_limit_addr: value" and checks the server's rule. */
static void
addr_is(const char *value, uint64_t interval_us, unsigned burst, uint64_t block_ms)
{
	char yaml[1024];
	struct config *cf;

	snprintf(yaml, sizeof(yaml), LIM("      login_limit_addr: %s\n"), value);
	cf = th_load(yaml);
	cr_assert_not_null(cf, "%s: %s", value, th_err());
	assert_rule(&cf->servers[0].login_limit_addr, interval_us, burst, block_ms);
	config_free(cf);
}

static char *
dump(const struct config *cf)
{
	struct buf b = { 0 };
	char *s;

	config_dump(cf, &b);
	s = strndup(buf_rptr(&b), buf_len(&b));
	cr_assert_not_null(s);
	buf_release(&b);
	return s;
}

Test(config_limits, defaults)
{
	struct config *cf;

	LOAD_OK(cf, MINIMAL);
	for (int i = 0; i < 2; i++) {
		const struct srv_conf *s = i ? &cf->servers[0] : &cf->mail;
		cr_assert_null(s->login_limit_zone.name);
		cr_assert_eq(s->login_limit_zone.size, 0);
		assert_rule(&s->login_limit_addr, 0, 0, 0);
		assert_rule(&s->login_limit_user, 0, 0, 0);
		assert_rule(&s->login_limit_pair, 0, 0, 0);
		cr_assert_eq(s->login_limit_ipv6_prefix, 64);
		cr_assert_eq(s->login_limit_allow.n, 0);
		cr_assert_eq(s->login_limit_dry_run, 0);
		cr_assert_eq(s->login_limit_log_level, LL_WARN);
		cr_assert_eq(s->login_limit_tarpit, 2000);
		cr_assert_eq(s->limit_sessions_user, 0);
		cr_assert_eq(s->limit_sessions_user_addr, 0);
	}
	config_free(cf);
}

Test(config_limits, rates_bursts_blocks)
{
	addr_is("10/m", 6 * SEC_US, 0, 0);
	addr_is("\"10/m burst=20 block=15m\"", 6 * SEC_US, 20, 15 * 60 * 1000);
	addr_is("1/s", SEC_US, 0, 0);
	addr_is("1000000/s", 1, 0, 0);
	addr_is("1/m", 60 * SEC_US, 0, 0);
	addr_is("1/h", 3600 * SEC_US, 0, 0);
	addr_is("1000000/h", 3600, 0, 0);
	/* Rounded down. */
	addr_is("7/s", 142857, 0, 0);
	addr_is("7/m", 8571428, 0, 0);
	addr_is("7/h", 514285714, 0, 0);
	addr_is("3/h", 1200 * SEC_US, 0, 0);
	addr_is("0010/m", 6 * SEC_US, 0, 0);
	/* Any order; burst and block at their limits and at zero. */
	addr_is("\"block=1h burst=1000000 3600/h\"", SEC_US, 1000000, 3600 * 1000);
	addr_is("\"10/m burst=0 block=0\"", 6 * SEC_US, 0, 0);
	addr_is("\"10/m block=500ms\"", 6 * SEC_US, 0, 500);
	addr_is("\"10/m block=100y\"", 6 * SEC_US, 0, 100ULL * 365 * 86400 * 1000);
	/* As nginx's arguments: a sequence, where a time may hold a blank. */
	addr_is("[5/m, burst=2, \"block=1h 30m\"]", 12 * SEC_US, 2, 90 * 60 * 1000);
	addr_is("\"  2/s \\t burst=1  \"", SEC_US / 2, 1, 0);
	addr_is("off", 0, 0, 0);
}

Test(config_limits, every_rule_and_setting)
{
	struct config *cf;

	LOAD_OK(cf, LIM("      login_limit_addr: \"30/m burst=10\"\n"
	    "      login_limit_user: \"5/m burst=3 block=1h\"\n"
	    "      login_limit_pair: [1/s, block=30s]\n"
	    "      login_limit_ipv6_prefix: 48\n"
	    "      login_limit_allow: [127.0.0.1/32, \"::1\", 10.0.0.0/8, \"unix:\"]\n"
	    "      login_limit_dry_run: on\n"
	    "      login_limit_log_level: info\n"
	    "      login_limit_tarpit: 500ms\n"
	    "      limit_sessions_user: 20\n"
	    "      limit_sessions_user_addr: 1000000\n"));
	const struct srv_conf *s = &cf->servers[0];
	cr_assert_str_eq(s->login_limit_zone.name, "lz");
	cr_assert_eq(s->login_limit_zone.size, 1024 * 1024);
	assert_rule(&s->login_limit_addr, 2 * SEC_US, 10, 0);
	assert_rule(&s->login_limit_user, 12 * SEC_US, 3, 3600 * 1000);
	assert_rule(&s->login_limit_pair, SEC_US, 0, 30 * 1000);
	cr_assert_eq(s->login_limit_ipv6_prefix, 48);
	cr_assert_eq(s->login_limit_allow.n, 4);
	cr_assert_eq(s->login_limit_allow.v[0].family, AF_INET);
	cr_assert_eq(s->login_limit_allow.v[0].bits, 32);
	cr_assert_eq(s->login_limit_allow.v[1].family, AF_INET6);
	cr_assert_eq(s->login_limit_allow.v[1].bits, 128);
	cr_assert_eq(s->login_limit_allow.v[2].bits, 8);
	cr_assert_eq(s->login_limit_allow.v[3].family, AF_UNIX);
	cr_assert_eq(s->login_limit_dry_run, 1);
	cr_assert_eq(s->login_limit_log_level, LL_INFO);
	cr_assert_eq(s->login_limit_tarpit, 500);
	cr_assert_eq(s->limit_sessions_user, 20);
	cr_assert_eq(s->limit_sessions_user_addr, 1000000);
	config_free(cf);

	/* Every level name of error_log, and only those. */
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{ "debug", LL_DEBUG }, { "info", LL_INFO }, { "notice", LL_NOTICE }, { "warn", LL_WARN },
		{ "error", LL_ERR }, { "crit", LL_CRIT }, { "alert", LL_ALERT }, { "emerg", LL_EMERG },
	};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		char yaml[512];
		snprintf(yaml, sizeof(yaml), SRV("      login_limit_log_level: %s\n"), levels[i].name);
		LOAD_OK(cf, yaml);
		cr_assert_eq(cf->servers[0].login_limit_log_level, levels[i].level, "%s", levels[i].name);
		config_free(cf);
	}

	/* Without a zone, what does not count anything still loads. */
	LOAD_OK(cf, SRV("      login_limit_addr: off\n      limit_sessions_user: 0\n"
	    "      login_limit_dry_run: on\n      login_limit_allow: 10.0.0.1\n"
	    "      login_limit_tarpit: 0\n      login_limit_ipv6_prefix: 128\n"));
	cr_assert_null(cf->servers[0].login_limit_zone.name);
	cr_assert_eq(cf->servers[0].login_limit_tarpit, 0);
	cr_assert_eq(cf->servers[0].login_limit_ipv6_prefix, 128);
	config_free(cf);
}

Test(config_limits, zone_values)
{
	struct config *cf;

	LOAD_OK(cf, SRV("      login_limit_zone: shared:logins:10m\n"));
	cr_assert_str_eq(cf->servers[0].login_limit_zone.name, "logins");
	cr_assert_eq(cf->servers[0].login_limit_zone.size, 10 * 1024 * 1024);
	config_free(cf);
	LOAD_OK(cf, SRV("      login_limit_zone: \"shared:a-B_9:32k\"\n"));
	cr_assert_str_eq(cf->servers[0].login_limit_zone.name, "a-B_9");
	cr_assert_eq(cf->servers[0].login_limit_zone.size, 32 * 1024);
	config_free(cf);
	LOAD_OK(cf, SRV("      login_limit_zone: shared:big:4g\n"));
	cr_assert_eq(cf->servers[0].login_limit_zone.size, (size_t)4 * 1024 * 1024 * 1024);
	config_free(cf);
	LOAD_OK(cf, LIM("      login_limit_zone: off\n"));
	cr_assert_str_eq(cf->mail.login_limit_zone.name, "lz");
	cr_assert_null(cf->servers[0].login_limit_zone.name);
	config_free(cf);
	/* Two servers may share a zone of one size: the counters are common. */
	LOAD_OK(cf, MAIL_HEAD "  servers:\n"
	    "    - listen: \"143\"\n      login_limit_zone: shared:L:1m\n"
	    "    - listen: \"110\"\n      login_limit_zone: shared:L:1024k\n");
	cr_assert_str_eq(cf->servers[1].login_limit_zone.name, "L");
	config_free(cf);
}

Test(config_limits, mail_level_reaches_servers)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD ZONE "  login_limit_addr: \"10/m burst=20 block=15m\"\n"
	    "  login_limit_user: 1/m\n  login_limit_allow: [192.168.0.0/16]\n"
	    "  login_limit_log_level: error\n  login_limit_tarpit: 5s\n  limit_sessions_user: 7\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n      login_limit_addr: off\n      login_limit_user: 2/s\n"
	    "      login_limit_allow: []\n      login_limit_ipv6_prefix: 56\n"
	    "      login_limit_dry_run: on\n      limit_sessions_user: 0\n"
	    "      login_limit_zone: shared:other:64k\n");
	const struct srv_conf *a = &cf->servers[0], *b = &cf->servers[1];

	cr_assert_str_eq(a->login_limit_zone.name, "lz");
	assert_rule(&a->login_limit_addr, 6 * SEC_US, 20, 15 * 60 * 1000);
	assert_rule(&a->login_limit_user, 60 * SEC_US, 0, 0);
	assert_rule(&a->login_limit_pair, 0, 0, 0);
	cr_assert_eq(a->login_limit_allow.n, 1);
	cr_assert_eq(a->login_limit_allow.v[0].bits, 16);
	cr_assert_eq(a->login_limit_log_level, LL_ERR);
	cr_assert_eq(a->login_limit_tarpit, 5000);
	cr_assert_eq(a->limit_sessions_user, 7);
	cr_assert_eq(a->login_limit_ipv6_prefix, 64);
	cr_assert_eq(a->login_limit_dry_run, 0);

	cr_assert_str_eq(b->login_limit_zone.name, "other");
	cr_assert_eq(b->login_limit_zone.size, 64 * 1024);
	assert_rule(&b->login_limit_addr, 0, 0, 0);
	assert_rule(&b->login_limit_user, SEC_US / 2, 0, 0);
	cr_assert_eq(b->login_limit_allow.n, 0);
	cr_assert_eq(b->login_limit_ipv6_prefix, 56);
	cr_assert_eq(b->login_limit_dry_run, 1);
	cr_assert_eq(b->limit_sessions_user, 0);
	cr_assert_eq(b->login_limit_log_level, LL_ERR, "inherited");
	cr_assert_eq(b->login_limit_tarpit, 5000, "inherited");
	config_free(cf);
}

Test(config_limits, rule_errors)
{
	ADDR_ERR("0/m", "rate \"0/m\" is out of range (N from 1 to 1000000)");
	ADDR_ERR("1000001/s", "rate \"1000001/s\" is out of range (N from 1 to 1000000)");
	ADDR_ERR("99999999999999999999/m",
	    "rate \"99999999999999999999/m\" is out of range (N from 1 to 1000000)");
	ADDR_ERR("-1/m", "invalid rate \"-1/m\" (expected N/s, N/m or N/h)");
	ADDR_ERR("10/x", "invalid rate \"10/x\" (expected N/s, N/m or N/h)");
	ADDR_ERR("10/M", "invalid rate \"10/M\" (expected N/s, N/m or N/h)");
	ADDR_ERR("10/ms", "invalid rate \"10/ms\" (expected N/s, N/m or N/h)");
	ADDR_ERR("10r/m", "invalid rate \"10r/m\" (expected N/s, N/m or N/h)");
	ADDR_ERR("1.5/s", "invalid rate \"1.5/s\" (expected N/s, N/m or N/h)");
	ADDR_ERR("/m", "invalid rate \"/m\" (expected N/s, N/m or N/h)");
	ADDR_ERR("10/", "invalid rate \"10/\" (expected N/s, N/m or N/h)");
	ADDR_ERR("10", "rate \"10\" has no unit (expected 10/s, 10/m or 10/h)");
	ADDR_ERR("\"10/m burst=\"",
	    "invalid burst in \"burst=\" (expected burst=N with N from 0 to 1000000)");
	ADDR_ERR("\"10/m burst=-1\"",
	    "invalid burst in \"burst=-1\" (expected burst=N with N from 0 to 1000000)");
	ADDR_ERR("\"10/m burst=abc\"",
	    "invalid burst in \"burst=abc\" (expected burst=N with N from 0 to 1000000)");
	ADDR_ERR("\"10/m burst=1000001\"",
	    "invalid burst in \"burst=1000001\" (expected burst=N with N from 0 to 1000000)");
	ADDR_ERR("\"10/m burst=99999999999999999999\"",
	    "invalid burst in \"burst=99999999999999999999\" (expected burst=N with N from 0 to 1000000)");
	ADDR_ERR("\"10/m block=forever\"",
	    "invalid time in \"block=forever\" (expected block=TIME such as 15m or 1h)");
	ADDR_ERR("\"10/m block=\"",
	    "invalid time in \"block=\" (expected block=TIME such as 15m or 1h)");
	ADDR_ERR("\"10/m block=101y\"",
	    "invalid time in \"block=101y\" (expected block=TIME such as 15m or 1h)");
	ADDR_ERR("\"10/m block=-5s\"",
	    "invalid time in \"block=-5s\" (expected block=TIME such as 15m or 1h)");
	ADDR_ERR("\"10/m foo=1\"",
	    "unexpected \"foo=1\" (expected a rate N/s, N/m or N/h, burst=N, block=TIME, or off)");
	ADDR_ERR("\"10/m Burst=1\"",
	    "unexpected \"Burst=1\" (expected a rate N/s, N/m or N/h, burst=N, block=TIME, or off)");
	ADDR_ERR("\"10/m burst=1 burst=2\"", "burst is given twice");
	ADDR_ERR("\"10/m burst=1 burst=1\"", "burst is given twice");
	ADDR_ERR("\"10/m block=1m block=2m\"", "block is given twice");
	ADDR_ERR("\"10/m 5/s\"", "the rate is given twice");
	ADDR_ERR("\"burst=5 block=1m\"",
	    "no rate given (expected N/s, N/m or N/h, e.g. \"10/m burst=20\")");
	ADDR_ERR("\"off burst=5\"", "\"off\" must be the only value");
	ADDR_ERR("\"10/m off\"", "\"off\" must be the only value");
	ADDR_ERR("on", "unexpected \"on\" (expected a rate N/s, N/m or N/h, burst=N, block=TIME, or off)");
	/* Nothing, in every spelling YAML has for it. */
	ADDR_ERR("\"\"", "expected a value, got nothing");
	ADDR_ERR("\"  \"", "expected a value, got nothing");
	ADDR_ERR("~", "expected a value, got nothing");
	ADDR_ERR("null", "expected a value, got nothing");
	ADDR_ERR("[]", "expected at least one value, got []");
	ADDR_ERR("{rate: 10/m}", "expected a value or a sequence of values, got a mapping");
	/* In a sequence, each item is reported at its own position. */
	EXPECT_ERR(LIM("      login_limit_addr: [10/m, burst=x]\n"),
	    "t.yaml:6:32: \"login_limit_addr\": invalid burst in \"burst=x\" "
	    "(expected burst=N with N from 0 to 1000000)");
	EXPECT_ERR(LIM("      login_limit_addr: [10/m, block=1m, block=2m]\n"),
	    "t.yaml:6:42: \"login_limit_addr\": block is given twice");
	EXPECT_ERR(LIM("      login_limit_addr: [[10/m]]\n"),
	    "t.yaml:6:26: \"login_limit_addr\": expected a value, got a sequence");
	EXPECT_ERR(LIM("      login_limit_addr: [10/m, \"\"]\n"),
	    "t.yaml:6:32: \"login_limit_addr\": empty value");
	EXPECT_ERR(LIM("      login_limit_addr: [\"10/m burst=5\"]\n"),
	    "t.yaml:6:26: \"login_limit_addr\": unexpected \"10/m burst=5\" (expected a rate N/s, "
	    "N/m or N/h, burst=N, block=TIME, or off)");
	/* The other two rules share the grammar, and the mail level reports its own line. */
	EXPECT_ERR(LIM("      login_limit_user: 0/h\n"),
	    "t.yaml:6:25: \"login_limit_user\": rate \"0/h\" is out of range (N from 1 to 1000000)");
	EXPECT_ERR(LIM("      login_limit_pair: \"1/s burst=1 burst=2\"\n"),
	    "t.yaml:6:25: \"login_limit_pair\": burst is given twice");
	EXPECT_ERR(MAILV("  login_limit_pair: 5\n"),
	    "t.yaml:3:21: \"login_limit_pair\": rate \"5\" has no unit (expected 5/s, 5/m or 5/h)");
	EXPECT_ERR(LIM("      login_limit_addr: 10/m\n      login_limit_addr: 20/m\n"),
	    "t.yaml:7:7: \"login_limit_addr\": duplicate directive (first at line 6)");
}

Test(config_limits, zone_errors)
{
	ZONE_ERR("\"shared:\"", "expected shared:NAME:SIZE or off, got \"shared:\"");
	ZONE_ERR("\"shared:a\"", "expected shared:NAME:SIZE or off, got \"shared:a\"");
	ZONE_ERR("\"shared::10m\"", "empty zone name in \"shared::10m\"");
	ZONE_ERR("\"shared:a:1k\"", "zone \"a\" is too small (at least 32k)");
	ZONE_ERR("\"shared:a:32767\"", "zone \"a\" is too small (at least 32k)");
	ZONE_ERR("\"shared:a:0\"", "zone \"a\" is too small (at least 32k)");
	ZONE_ERR("\"shared:a:8g\"", "zone \"a\" is larger than 4g");
	ZONE_ERR("\"shared:a:99999999999999999999\"",
	    "invalid zone size in \"shared:a:99999999999999999999\"");
	ZONE_ERR("\"private:a:10m\"", "expected shared:NAME:SIZE or off, got \"private:a:10m\"");
	ZONE_ERR("\"Shared:a:10m\"", "expected shared:NAME:SIZE or off, got \"Shared:a:10m\"");
	ZONE_ERR("\"shared:a b:10m\"",
	    "invalid zone name in \"shared:a b:10m\" (letters, digits, _ and -)");
	ZONE_ERR("\"shared:a:b:10m\"",
	    "invalid zone name in \"shared:a:b:10m\" (letters, digits, _ and -)");
	ZONE_ERR("\"shared:\\u00e9:10m\"",
	    "invalid zone name in \"shared:\xc3\xa9:10m\" (letters, digits, _ and -)");
	ZONE_ERR("\"shared:a:\"", "invalid zone size in \"shared:a:\"");
	ZONE_ERR("\"shared:a:10x\"", "invalid zone size in \"shared:a:10x\"");
	ZONE_ERR("\"shared:a:-1m\"", "invalid zone size in \"shared:a:-1m\"");
	ZONE_ERR("\"shared:status:1m\"",
	    "zone name \"status\" is reserved for the server's counters");
	ZONE_ERR("\"shared:" "0123456789012345678901234567890123456789012345678901234567890123"
	    ":1m\"", "zone name \"0123456789012345...\" is longer than 63 characters");
	ZONE_ERR("on", "expected shared:NAME:SIZE or off, got \"on\"");
	ZONE_ERR("\"\"", "expected shared:NAME:SIZE or off, got \"\"");
	ZONE_ERR("~", "expected a value, got nothing");
	ZONE_ERR("[\"shared:a:1m\"]", "expected a single value, got a sequence");
	ZONE_ERR("\"shared:a:1m shared:b:1m\"",
	    "invalid zone name in \"shared:a:1m shared:b:1m\" (letters, digits, _ and -)");
}

Test(config_limits, other_directive_errors)
{
	EXPECT_ERR(SRV("      login_limit_ipv6_prefix: 0\n"),
	    "t.yaml:5:32: \"login_limit_ipv6_prefix\": 0 is out of range (1 to 128)");
	EXPECT_ERR(SRV("      login_limit_ipv6_prefix: 129\n"),
	    "t.yaml:5:32: \"login_limit_ipv6_prefix\": 129 is out of range (1 to 128)");
	EXPECT_ERR(SRV("      login_limit_ipv6_prefix: /64\n"),
	    "t.yaml:5:32: \"login_limit_ipv6_prefix\": expected a number, got \"/64\"");
	EXPECT_ERR(SRV("      login_limit_log_level: warning\n"),
	    "t.yaml:5:30: \"login_limit_log_level\": unknown level \"warning\" "
	    "(expected debug, info, notice, warn, error, crit, alert or emerg)");
	EXPECT_ERR(SRV("      login_limit_log_level: WARN\n"),
	    "t.yaml:5:30: \"login_limit_log_level\": unknown level \"WARN\" "
	    "(expected debug, info, notice, warn, error, crit, alert or emerg)");
	EXPECT_ERR(SRV("      login_limit_log_level: [warn]\n"),
	    "t.yaml:5:30: \"login_limit_log_level\": expected a single value, got a sequence");
	EXPECT_ERR(SRV("      login_limit_tarpit: forever\n"),
	    "t.yaml:5:27: \"login_limit_tarpit\": expected a time such as 60s, 500ms or 24h, "
	    "got \"forever\"");
	EXPECT_ERR(SRV("      login_limit_dry_run: maybe\n"),
	    "t.yaml:5:28: \"login_limit_dry_run\": expected on or off, got \"maybe\"");
	EXPECT_ERR(SRV("      login_limit_allow: [10.0.0.0/8, 10.0.0.0/33]\n"),
	    "t.yaml:5:39: \"login_limit_allow\": expected an address, CIDR or unix:, "
	    "got \"10.0.0.0/33\"");
	EXPECT_ERR(LIM("      limit_sessions_user: 1000001\n"),
	    "t.yaml:6:28: \"limit_sessions_user\": 1000001 is out of range (0 to 1000000)");
	EXPECT_ERR(LIM("      limit_sessions_user_addr: -1\n"),
	    "t.yaml:6:33: \"limit_sessions_user_addr\": expected a number, got \"-1\"");
	EXPECT_ERR(LIM("      limit_sessions_user_addr: 99999999999999999999\n"),
	    "t.yaml:6:33: \"limit_sessions_user_addr\": expected a number, "
	    "got \"99999999999999999999\"");
	EXPECT_ERR("login_limit_zone: off\n",
	    "t.yaml:1:1: \"login_limit_zone\": not allowed in \"main\" (allowed in \"mail\", \"server\")");
}

/* Counters live in the zone: a limit that is on without one is refused at its own line. */
Test(config_limits, limits_need_the_zone)
{
	static const char *const names[] = {
		"login_limit_addr", "login_limit_user", "login_limit_pair",
		"limit_sessions_user", "limit_sessions_user_addr",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char yaml[512], want[512];
		const char *v = strncmp(names[i], "login", 5) == 0 ? "10/m" : "1";

		snprintf(yaml, sizeof(yaml), SRV("      login_limit_dry_run: on\n      %s: %s\n"),
		    names[i], v);
		snprintf(want, sizeof(want), "t.yaml:6:7: \"%s\": needs \"login_limit_zone\" "
		    "(its counters live in that shared zone)", names[i]);
		EXPECT_ERR(yaml, want);
		/* At the mail level: reported where mail sets it. */
		snprintf(yaml, sizeof(yaml), MAILV("  timeout: 5s\n  %s: %s\n"), names[i], v);
		snprintf(want, sizeof(want), "t.yaml:4:3: \"%s\": needs \"login_limit_zone\" "
		    "(its counters live in that shared zone)", names[i]);
		EXPECT_ERR(yaml, want);
	}
	/* A server that turns the mail level's zone off, keeping the mail level's rule. */
	EXPECT_ERR(MAIL_HEAD ZONE "  login_limit_user: 10/m\n  servers:\n"
	    "    - listen: \"143\"\n    - listen: \"110\"\n      login_limit_zone: off\n",
	    "t.yaml:4:3: \"login_limit_user\": needs \"login_limit_zone\" "
	    "(its counters live in that shared zone)");
	/* Several: the first in table order. */
	EXPECT_ERR(SRV("      limit_sessions_user: 3\n      login_limit_pair: 1/s\n"),
	    "t.yaml:6:7: \"login_limit_pair\": needs \"login_limit_zone\" "
	    "(its counters live in that shared zone)");
}

Test(config_limits, zones_across_servers)
{
	EXPECT_ERR(MAIL_HEAD "  servers:\n"
	    "    - listen: \"143\"\n      login_limit_zone: shared:L:1m\n"
	    "    - listen: \"110\"\n      login_limit_zone: shared:L:2m\n",
	    "t.yaml:7:7: \"login_limit_zone\": zone \"L\" is declared with two sizes "
	    "(1048576 and 2097152 bytes)");
	/* Inherited by the first server from mail; the third disagrees. */
	EXPECT_ERR(MAIL_HEAD "  login_limit_zone: shared:L:1m\n  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n      login_limit_zone: shared:M:64k\n"
	    "    - listen: \"25\"\n      login_limit_zone: shared:L:64k\n",
	    "t.yaml:9:7: \"login_limit_zone\": zone \"L\" is declared with two sizes "
	    "(1048576 and 65536 bytes)");
	/* One zone cannot hold TLS sessions and login counters, whatever the sizes. */
	EXPECT_ERR(MAIL_HEAD "  servers:\n"
	    "    - listen: \"143\"\n      ssl_session_cache: shared:Z:1m\n"
	    "    - listen: \"110\"\n      login_limit_zone: shared:Z:1m\n",
	    "t.yaml:7:7: \"login_limit_zone\": zone \"Z\" is already used by \"ssl_session_cache\" "
	    "(a shared zone serves one directive)");
	EXPECT_ERR(MAIL_HEAD "  servers:\n"
	    "    - listen: \"143\"\n      login_limit_zone: shared:Z:1m\n"
	    "    - listen: \"110\"\n      ssl_session_cache: shared:Z:2m\n",
	    "t.yaml:7:7: \"ssl_session_cache\": zone \"Z\" is already used by \"login_limit_zone\" "
	    "(a shared zone serves one directive)");
	EXPECT_ERR(SRV("      login_limit_zone: shared:Z:1m\n      ssl_session_cache: shared:Z:1m\n"),
	    "t.yaml:5:7: \"login_limit_zone\": zone \"Z\" is already used by \"ssl_session_cache\" "
	    "(a shared zone serves one directive)");
}

/* -T prints each directive so that it loads back to the same fields. */
Test(config_limits, dump)
{
	struct config *cf1, *cf2;
	char *d1, *d2;

	LOAD_OK(cf1, MAIL_HEAD "  login_limit_zone: shared:logins:10m\n"
	    "  login_limit_addr: \"10/m burst=20 block=15m\"\n"
	    "  login_limit_allow: [127.0.0.1/32, \"::1\"]\n"
	    "  servers:\n    - listen: \"143\"\n"
	    "      login_limit_user: [60/m, burst=3]\n"
	    "      login_limit_pair: \"7/h block=90m\"\n"
	    "      login_limit_log_level: notice\n      limit_sessions_user_addr: 4\n");
	d1 = dump(cf1);
	cr_assert_not_null(strstr(d1, "\n  login_limit_zone: \"shared:logins:10m\"\n"), "%s", d1);
	cr_assert_not_null(strstr(d1, "\n  login_limit_addr: \"10/m burst=20 block=15m\"\n"));
	cr_assert_not_null(strstr(d1, "\n  login_limit_user: off\n"));
	cr_assert_not_null(strstr(d1, "\n  login_limit_ipv6_prefix: 64\n"));
	cr_assert_not_null(strstr(d1, "\n  login_limit_allow: [\"127.0.0.1/32\", \"::1/128\"]\n"));
	cr_assert_not_null(strstr(d1, "\n  login_limit_dry_run: off\n"));
	cr_assert_not_null(strstr(d1, "\n  login_limit_log_level: warn\n"));
	cr_assert_not_null(strstr(d1, "\n  login_limit_tarpit: 2s\n"));
	cr_assert_not_null(strstr(d1, "\n  limit_sessions_user: 0\n"));
	/* 60/m is one a second: the same interval, printed in the smallest unit. */
	cr_assert_not_null(strstr(d1, "\n      login_limit_user: \"1/s burst=3\"\n"), "%s", d1);
	cr_assert_not_null(strstr(d1, "\n      login_limit_pair: \"7/h block=90m\"\n"));
	cr_assert_not_null(strstr(d1, "\n      login_limit_log_level: notice\n"));
	cr_assert_not_null(strstr(d1, "\n      limit_sessions_user_addr: 4\n"));
	th_write("dump.yaml", d1, -1);
	cf2 = th_load_file("dump.yaml", th_dir(), NULL);
	cr_assert_not_null(cf2, "%s\n%s", th_err(), d1);
	d2 = dump(cf2);
	cr_assert_str_eq(strchr(d2, '\n'), strchr(d1, '\n'));
	cr_assert_eq(memcmp(&cf2->servers[0].login_limit_pair, &cf1->servers[0].login_limit_pair,
	    sizeof(struct limit_rule_conf)), 0);
	cr_assert_eq(cf2->servers[0].login_limit_user.interval_us, SEC_US);
	free(d1);
	free(d2);
	config_free(cf1);
	config_free(cf2);
}

/*
 * Every rate N/s, N/m and N/h (N from 1 to 1000000) prints as a rate that
 * reads back to the same interval, though not always as written (60/m
 * prints 1/s): the struct keeps only the interval.
 */
Test(config_limits, every_rate_prints_back_to_its_interval)
{
	const struct directive *d = directive_find("login_limit_addr");
	static const char units[] = "smh";
	struct config cf = { 0 };
	struct srv_conf srv;
	struct buf out = { 0 };
	char err[512], text[64];
	struct loader ld = { .cf = &cf, .file = "t", .err = err, .errlen = sizeof(err) };
	struct ynode n = { .type = YN_SCALAR, .plain = 1, .line = 1, .col = 1 };

	cr_assert_not_null(d);
	arena_init(&cf.arena, 16384);
	for (size_t u = 0; u < 3; u++)
		for (long r = 1; r <= 1000000; r++) {
			uint64_t first;

			n.len = (size_t)snprintf(text, sizeof(text), "%ld/%c", r, units[u]);
			n.str = text;
			cr_assert_eq(directive_apply(&ld, d, &srv, &n), 0, "%s: %s", text, err);
			first = srv.login_limit_addr.interval_us;
			buf_reset(&out);
			config_print_directive(d, &srv, &out);
			/* "N/u" in quotes: parse what is between them. */
			cr_assert_lt(buf_len(&out), sizeof(text));
			n.len = buf_len(&out) - 2;
			memcpy(text, buf_rptr(&out) + 1, n.len);
			text[n.len] = '\0';
			cr_assert_eq(directive_apply(&ld, d, &srv, &n), 0, "%s: %s", text, err);
			cr_assert_eq(srv.login_limit_addr.interval_us, first, "%ld/%c printed as %s",
			    r, units[u], text);
			if (r % 50000 == 0) {	/* get_args() copies each word into the arena */
				arena_free(&cf.arena);
				arena_init(&cf.arena, 16384);
			}
		}
	buf_release(&out);
	arena_free(&cf.arena);
}
