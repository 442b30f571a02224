/*
 * The pieces several directives share, pinned through the directives that
 * use them: the mapping walk of every level (x- keys, blocks), the word
 * splitting of a scalar, the case-insensitive name tables, the number
 * parser, the wildcard listen forms and the -T list printers. A change to
 * one of them shows here by name, not only as a drift in a bigger test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "test/unit/config_helpers.h"

TestSuite(config_shared, .init = th_setup, .fini = th_teardown);

/* Loads yaml and checks that -T prints each of lines[] (whole lines, NULL-ended). */
static void
expect_dump_lines(const char *yaml, const char *const *lines)
{
	struct config *cf;
	struct buf b = { 0 };
	char *d;

	LOAD_OK(cf, yaml);
	config_dump(cf, &b);
	d = malloc(buf_len(&b) + 2);
	cr_assert_not_null(d);
	d[0] = '\n';
	memcpy(d + 1, buf_rptr(&b), buf_len(&b));
	d[buf_len(&b) + 1] = '\0';
	for (size_t i = 0; lines[i] != NULL; i++) {
		char want[512];
		snprintf(want, sizeof(want), "\n%s\n", lines[i]);
		cr_expect_not_null(strstr(d, want), "-T lacks the line \"%s\":\n%s", lines[i], d);
	}
	cr_expect_null(strstr(d, "x-"), "-T prints an x- key:\n%s", d);
	free(d);
	buf_release(&b);
	config_free(cf);
}

Test(config_shared, every_level_skips_x_keys)
{
	static const char *const lines[] = {
		"worker_rlimit_nofile: 7",
		"  worker_connections: 100",
		"  timeout: 5s",
		"      protocol: imap",
		NULL,
	};

	expect_dump_lines("x-top: 1\n"
	    "worker_rlimit_nofile: 7\n"
	    "events:\n  x-ev: {a: b}\n  worker_connections: 100\n"
	    MAIL_HEAD "  x-m: [1]\n  timeout: 5s\n"
	    "  servers:\n    - listen: \"143\"\n      x-s: ~\n      protocol: imap\n", lines);
}

Test(config_shared, blocks_are_caught_only_at_their_level)
{
	EXPECT_ERR("events:\n  mail: {}\n",
	    "t.yaml:2:3: \"mail\": not allowed in \"events\" (allowed at the top level)");
	EXPECT_ERR(SRV("      events: {}\n"),
	    "t.yaml:5:7: \"events\": not allowed in \"server\" (allowed at the top level)");
	EXPECT_ERR("events:\n  multi_accept: on\n  multi_accept: on\n",
	    "t.yaml:3:3: \"multi_accept\": duplicate directive (first at line 2)");
	EXPECT_ERR("events: []\n", "t.yaml:1:9: \"events\": expected a mapping, got a sequence");
}

/* Blanks, tabs and line breaks all separate words, and none is left at either end. */
Test(config_shared, a_scalar_splits_on_every_blank)
{
	static const char *const lines[] = {
		"  imap_capabilities: [\"IMAP4rev1\", \"IDLE\"]",
		"  smtp_capabilities: [\"SIZE\", \"VRFY\"]",
		"  pop3_capabilities: [\"TOP\"]",
		NULL,
	};

	expect_dump_lines(MAILV("  imap_capabilities: \" IMAP4rev1\\t IDLE \\n\"\n"
	    "  smtp_capabilities: >\n    SIZE\n    VRFY\n"
	    "  pop3_capabilities: \"TOP   \"\n"), lines);
	EXPECT_ERR(MAILV("  imap_capabilities: \" \\t\\n\"\n"),
	    "t.yaml:3:22: \"imap_capabilities\": expected a value, got nothing");
}

/* Names match in any case, as nginx's enum and bitmask slots; -T prints them as the table does. */
Test(config_shared, names_in_any_case_print_as_the_table)
{
	static const char *const lines[] = {
		"  imap_auth: [plain, login]",
		"  ssl_protocols: [TLSv1.2, TLSv1.3]",
		"  proxy_protocol: v2",
		"  starttls: off",
		"      protocol: imap",
		NULL,
	};

	expect_dump_lines(MAIL_HEAD "  imap_auth: \"LOGIN Plain\"\n  ssl_protocols: TLSV1.3 tlsv1.2\n"
	    "  proxy_protocol: V2\n  starttls: OFF\n"
	    "  servers:\n    - listen: \"143\"\n      protocol: IMAP\n", lines);
	EXPECT_ERR(MAILV("  imap_auth: \"plain bogus\"\n"),
	    "t.yaml:3:14: \"imap_auth\": expected plain, login, cram-md5, external, oauthbearer, xoauth2, got \"bogus\"");
	EXPECT_ERR(MAILV("  starttls: maybe\n"),
	    "t.yaml:3:13: \"starttls\": expected one of off, on, only, got \"maybe\"");
	EXPECT_ERR(MAILV("  ssl_protocols: \"TLSv1.2 bogus\"\n"),
	    "t.yaml:3:18: \"ssl_protocols\": unknown protocol \"bogus\" "
	    "(expected TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)");
}

/* Decimal digits only: a leading zero is not octal, a sign is refused. */
Test(config_shared, numbers_are_plain_decimals)
{
	static const char *const lines[] = {
		"worker_rlimit_nofile: 7",
		"  worker_connections: 100",
		NULL,
	};

	expect_dump_lines("worker_rlimit_nofile: \"07\"\nevents:\n  worker_connections: 0100\n",
	    lines);
	EXPECT_ERR("worker_rlimit_nofile: \"+5\"\n",
	    "t.yaml:1:23: \"worker_rlimit_nofile\": expected a number, got \"+5\"");
	EXPECT_ERR("worker_rlimit_nofile: \"\"\n",
	    "t.yaml:1:23: \"worker_rlimit_nofile\": expected a number, got \"\"");
	EXPECT_ERR("worker_rlimit_nofile: 1048577\n",
	    "t.yaml:1:23: \"worker_rlimit_nofile\": 1048577 is out of range (1 to 1048576)");
}

/* "143" and "*:143" are both the IPv4 wildcard, with the same port checks. */
Test(config_shared, both_wildcard_listen_forms)
{
	static const char *const lines[] = {
		"    - listen: [\"0.0.0.0:1143\", \"0.0.0.0:1144 ssl\"]",
		NULL,
	};

	th_certs();
	expect_dump_lines(MAIL_HEAD "  servers:\n    - listen: [\"*:1143\", \"1144 ssl\"]\n"
	    "      protocol: imap\n"
	    "      ssl_certificate: cert.pem\n      ssl_certificate_key: cert.key\n", lines);
	EXPECT_ERR(MAIL_HEAD "  servers:\n    - listen: \"*:x\"\n",
	    "t.yaml:4:15: \"listen\": invalid port \"x\" (expected 1-65535)");
	EXPECT_ERR(MAIL_HEAD "  servers:\n    - listen: \"99999\"\n",
	    "t.yaml:4:15: \"listen\": invalid port \"99999\" (expected 1-65535)");
}

/* Items of two arguments print as one quoted string each, blanks inside kept. */
Test(config_shared, two_argument_items_print_as_one_string)
{
	static const char *const lines[] = {
		"error_log: [\"stderr debug\", \"logs/e.log error\"]",
		"  auth_http_header: [\"X-Key two  words\", \"X-Quote a\\\"b\"]",
		"  server_name: [\"mail.example.com\", \"*.example.com\"]",
		NULL,
	};

	expect_dump_lines("error_log: [\"stderr debug\", logs/e.log]\n"
	    MAILV("  auth_http_header: [\"X-Key two  words\", 'X-Quote a\"b']\n"
	    "  server_name: [Mail.Example.COM, \"*.example.com\"]\n"), lines);
}
