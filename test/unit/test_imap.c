/*
 * The IMAP pre-auth machine (worker/proto/imap.c) driven like session.c drives
 * it, against nginx's dialogue (reference/nginx-mail.md section 3):
 * CAPABILITY variants, NOOP, LOGOUT, STARTTLS, LOGIN with every kind of
 * argument, literals, quoted escapes, odd lines, max_errors, pipelining,
 * and CR/LF/NUL in credentials refused (mailproxy's deliberate difference).
 * AUTHENTICATE and ID are in test_imap_auth.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"

#define CAPS "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS"
#define BAD(tag) tag " BAD invalid command\r\n"

TestSuite(imap, .init = th_setup, .fini = th_teardown);

static struct mh H;

/* Opens H with server_yaml and checks the greeting. */
static struct mh *
open_h(const char *yaml)
{
	mh_open_imap(&H, yaml);
	return &H;
}

/* ---- CAPABILITY, NOOP, LOGOUT, STARTTLS ---- */

Test(imap, capability_plain)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a1 CAPABILITY\r\n", PA_OK, CAPS " AUTH=PLAIN\r\na1 OK completed\r\n");
	mh_expect(h, "a2 capability\r\n", PA_OK, CAPS " AUTH=PLAIN\r\na2 OK completed\r\n");
	mh_expect(h, "a3 CaPaBiLiTy\n", PA_OK, CAPS " AUTH=PLAIN\r\na3 OK completed\r\n");
	/* nginx does not count the arguments of CAPABILITY, NOOP or LOGOUT. */
	mh_expect(h, "a4 CAPABILITY x\r\n", PA_OK, CAPS " AUTH=PLAIN\r\na4 OK completed\r\n");
	mh_close(h);
}

Test(imap, capability_starttls_on)
{
	struct mh *h = open_h(NULL);

	h->conf->starttls = STARTTLS_ON;
	mh_expect(h, "a CAPABILITY\r\n", PA_OK, CAPS " AUTH=PLAIN STARTTLS\r\na OK completed\r\n");
	/* After the handshake: no STARTTLS any more. */
	h->ctx.tls = 1;
	mh_expect(h, "b CAPABILITY\r\n", PA_OK, CAPS " AUTH=PLAIN\r\nb OK completed\r\n");
	mh_close(h);
}

Test(imap, capability_starttls_only)
{
	struct mh *h = open_h(NULL);

	h->conf->starttls = STARTTLS_ONLY;
	mh_expect(h, "a CAPABILITY\r\n", PA_OK, CAPS " STARTTLS LOGINDISABLED\r\na OK completed\r\n");
	h->ctx.tls = 1;
	mh_expect(h, "b CAPABILITY\r\n", PA_OK, CAPS " AUTH=PLAIN\r\nb OK completed\r\n");
	mh_close(h);
}

Test(imap, capability_with_every_mechanism_and_own_list)
{
	struct mh *h = open_h("      imap_auth: [external, cram-md5, login, plain]\n"
	    "      imap_capabilities: [IMAP4rev1, SASL-IR, ID]\n");

	mh_expect(h, "a CAPABILITY\r\n", PA_OK,
	    "* CAPABILITY IMAP4rev1 SASL-IR ID AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=EXTERNAL\r\n"
	    "a OK completed\r\n");
	h->conf->starttls = STARTTLS_ON;
	mh_expect(h, "b CAPABILITY\r\n", PA_OK,
	    "* CAPABILITY IMAP4rev1 SASL-IR ID AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=EXTERNAL "
	    "STARTTLS\r\nb OK completed\r\n");
	h->conf->starttls = STARTTLS_ONLY;
	mh_expect(h, "c CAPABILITY\r\n", PA_OK,
	    "* CAPABILITY IMAP4rev1 SASL-IR ID STARTTLS LOGINDISABLED\r\nc OK completed\r\n");
	mh_close(h);
}

Test(imap, noop)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a NOOP\r\n", PA_OK, "a OK completed\r\n");
	mh_expect(h, "b noop\r\n", PA_OK, "b OK completed\r\n");
	mh_expect(h, "c NOOP x\r\n", PA_OK, "c OK completed\r\n");
	cr_assert_eq(h->ctx.errors, 0);
	mh_close(h);
}

Test(imap, logout)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "z9 LOGOUT\r\n", PA_CLOSE, "* BYE\r\nz9 OK completed\r\n");
	mh_close(h);
}

Test(imap, logout_with_argument_logs_out)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a LOGOUT now\r\n", PA_CLOSE, "* BYE\r\na OK completed\r\n");
	mh_close(h);
}

Test(imap, starttls_off_is_invalid)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a STARTTLS\r\n", PA_OK, BAD("a"));
	mh_close(h);
}

Test(imap, starttls_drops_pipelined_input)
{
	struct mh *h = open_h(NULL);

	h->conf->starttls = STARTTLS_ON;
	mh_expect(h, "a STARTTLS\r\nb LOGIN injected pass\r\n", PA_STARTTLS, "a OK completed\r\n");
	cr_assert_eq(mh_unread(h), 0, "plaintext after STARTTLS must not survive");
	cr_assert_null(h->ctx.cr.login);
	/* Once TLS is up, STARTTLS is invalid. */
	h->ctx.tls = 1;
	mh_expect(h, "c STARTTLS\r\n", PA_OK, BAD("c"));
	mh_close(h);
}

Test(imap, starttls_only_allows_starttls)
{
	struct mh *h = open_h(NULL);

	h->conf->starttls = STARTTLS_ONLY;
	mh_expect(h, "a starttls\r\n", PA_STARTTLS, "a OK completed\r\n");
	mh_close(h);
}

/* ---- LOGIN ---- */

static void
login_ok(struct mh *h, const char *cmd, const char *user, const char *pass)
{
	enum proto_action a = mh_sends(h, cmd);

	cr_assert_eq(a, PA_AUTH, "\"%s\": action %d", cmd, a);
	cr_assert_str_eq(h->ctx.cr.login, user);
	cr_assert_str_eq(h->ctx.cr.passwd, pass);
	cr_assert_eq(h->ctx.cr.method, AUTHM_PLAIN);
}

Test(imap, login_atoms)
{
	struct mh *h = open_h(NULL);

	login_ok(h, "a LOGIN bob s3cret\r\n", "bob", "s3cret");
	cr_assert_str_eq(mh_out(h), "", "nothing is answered before the auth service");
	cr_assert_str_eq(h->ctx.u.imap.tag, "a ");
	mh_close(h);
}

Test(imap, login_is_case_insensitive)
{
	struct mh *h = open_h(NULL);

	login_ok(h, "T.1 login bob x\n", "bob", "x");
	cr_assert_str_eq(h->ctx.u.imap.tag, "T.1 ");
	mh_close(h);
}

Test(imap, login_quoted_with_escapes)
{
	struct mh *h = open_h(NULL);

	login_ok(h, "a LOGIN \"bob smith\" \"p\\\"w\\\\d x\"\r\n", "bob smith", "p\"w\\d x");
	mh_close(h);
}

Test(imap, login_quoted_empty_password)
{
	struct mh *h = open_h(NULL);

	login_ok(h, "a LOGIN bob \"\"\r\n", "bob", "");
	mh_close(h);
}

Test(imap, login_literals_wait_for_continuations)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a LOGIN {3}\r\n", PA_AGAIN, "+ OK\r\n");
	mh_expect(h, "bob {6}\r\n", PA_AGAIN, "+ OK\r\n");
	login_ok(h, "s e\"c\\\r\n", "bob", "s e\"c\\");
	cr_assert_str_eq(mh_out(h), "");
	mh_close(h);
}

Test(imap, login_literal_sent_byte_by_byte_gets_one_continuation)
{
	struct mh *h = open_h(NULL);
	const char *first = "a LOGIN {3}\r\n", *rest = "bob {4}\r\n", *last = "pass\r\n";

	h->chunk = 1;
	for (const char *p = first; *p; p++)
		cr_assert_eq(mh_send(h, p, 1), PA_AGAIN);
	cr_assert_str_eq(mh_out(h), "+ OK\r\n");
	for (const char *p = rest; *p; p++)
		cr_assert_eq(mh_send(h, p, 1), PA_AGAIN);
	cr_assert_str_eq(mh_out(h), "+ OK\r\n");
	for (const char *p = last; p[1]; p++)
		cr_assert_eq(mh_send(h, p, 1), PA_AGAIN);
	cr_assert_str_eq(mh_out(h), "");
	cr_assert_eq(mh_sends(h, "\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "bob");
	cr_assert_str_eq(h->ctx.cr.passwd, "pass");
	mh_close(h);
}

Test(imap, login_literal_data_sent_without_waiting_gets_no_continuation)
{
	struct mh *h = open_h(NULL);

	login_ok(h, "a LOGIN {3}\r\nbob {4}\r\npass\r\n", "bob", "pass");
	cr_assert_str_eq(mh_out(h), "");
	mh_close(h);
}

Test(imap, login_nonsync_literals)
{
	struct mh *h = open_h(NULL);

	h->chunk = 3;
	login_ok(h, "a LOGIN {3+}\r\nbob {6+}\r\npa)s w\r\n", "bob", "pa)s w");
	cr_assert_str_eq(mh_out(h), "", "no continuation for {n+}");
	mh_close(h);
}

Test(imap, login_nonsync_literal_with_crlf_is_refused)
{
	struct mh *h = open_h(NULL);

	/* Passwords with CR/LF are refused (nginx passes them on; mailproxy does not). */
	mh_expect(h, "a LOGIN {3+}\r\nbob {9+}\r\npa\r\nss wd\r\n", PA_OK, BAD("a"));
	cr_assert_eq(h->ctx.errors, 1);
	mh_close(h);
}

Test(imap, login_mixed_argument_kinds)
{
	struct mh *h = open_h(NULL);

	login_ok(h, "a LOGIN {3+}\r\nbob \"x y\"\r\n", "bob", "x y");
	creds_clear(&h->ctx.cr);
	login_ok(h, "b LOGIN \"b\\\\b\" {1+}\r\nz\r\n", "b\\b", "z");
	mh_close(h);
}

Test(imap, login_empty_literals)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a LOGIN bob {0}\r\n", PA_AGAIN, "+ OK\r\n");
	login_ok(h, "\r\n", "bob", "");
	mh_close(h);
}

Test(imap, login_8bit)
{
	struct mh *h = open_h(NULL);

	login_ok(h, "a LOGIN j\xc3\xb6rg \"p\xc3\xa4ss\"\r\n", "j\xc3\xb6rg", "p\xc3\xa4ss");
	mh_close(h);
}

Test(imap, login_wrong_argument_count)
{
	struct mh *h = open_h("      max_errors: 10\n");

	mh_expect(h, "a LOGIN\r\n", PA_OK, BAD("a"));
	mh_expect(h, "b LOGIN bob\r\n", PA_OK, BAD("b"));
	mh_expect(h, "c LOGIN bob pass extra\r\n", PA_OK, BAD("c"));
	mh_expect(h, "d LOGIN (bob) pass\r\n", PA_OK, BAD("d"));
	mh_expect(h, "e LOGIN bob ()\r\n", PA_OK, BAD("e"));
	cr_assert_eq(h->ctx.errors, 5);
	cr_assert_null(h->ctx.cr.login);
	mh_close(h);
}

Test(imap, login_credentials_with_nul_cr_lf_are_refused)
{
	struct mh *h = open_h("      max_errors: 10\n");

	MH_EXPECT_BIN(h, "a LOGIN {3+}\r\nb\0b pass\r\n", PA_OK, BAD("a"));
	MH_EXPECT_BIN(h, "b LOGIN bob {3+}\r\np\0s\r\n", PA_OK, BAD("b"));
	mh_expect(h, "c LOGIN {3+}\r\nb\rb pass\r\n", PA_OK, BAD("c"));
	mh_expect(h, "d LOGIN bob {3+}\r\np\ns\r\n", PA_OK, BAD("d"));
	cr_assert_eq(h->ctx.errors, 4);
	/* The connection goes on. */
	login_ok(h, "e LOGIN bob pass\r\n", "bob", "pass");
	mh_close(h);
}

Test(imap, login_refused_under_starttls_only)
{
	struct mh *h = open_h(NULL);

	h->conf->starttls = STARTTLS_ONLY;
	mh_expect(h, "a LOGIN bob pass\r\n", PA_OK, BAD("a"));
	cr_assert_null(h->ctx.cr.login);
	cr_assert_eq(h->ctx.errors, 1);
	h->ctx.tls = 1;
	login_ok(h, "b LOGIN bob pass\r\n", "bob", "pass");
	mh_close(h);
}

Test(imap, login_allowed_whatever_imap_auth_says)
{
	struct mh *h = open_h("      imap_auth: cram-md5\n");

	login_ok(h, "a LOGIN bob pass\r\n", "bob", "pass");
	mh_close(h);
}

/* ---- errors, odd lines, max_errors ---- */

Test(imap, unknown_commands)
{
	static const char *const cmds[] = {
		"SELECT INBOX", "ENABLE UTF8=ACCEPT", "COMPRESS DEFLATE", "LIST \"\" *", "XYZZY", "UID FETCH 1 BODY[]",
	};
	struct mh *h = open_h("      max_errors: 100\n");
	char line[128];

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(line, sizeof(line), "t%zu %s\r\n", i, cmds[i]);
		char want[64];
		snprintf(want, sizeof(want), "t%zu BAD invalid command\r\n", i);
		mh_expect(h, line, PA_OK, want);
	}
	cr_assert_eq(h->ctx.errors, sizeof(cmds) / sizeof(cmds[0]));
	mh_close(h);
}

Test(imap, bad_tags_are_answered_untagged)
{
	struct mh *h = open_h("      max_errors: 100\n");
	char line[128];

	memset(line, 'a', 33);
	strcpy(line + 33, " NOOP\r\n");
	mh_expect(h, line, PA_OK, BAD("*"));
	line[32] = ' ';
	line[33] = '\0';
	strcat(line, "NOOP\r\n");
	char want[64];
	memset(want, 'a', 32);
	strcpy(want + 32, " OK completed\r\n");
	mh_expect(h, line, PA_OK, want);
	mh_expect(h, "a+b NOOP\r\n", PA_OK, BAD("*"));
	mh_expect(h, "* NOOP\r\n", PA_OK, BAD("*"));
	mh_expect(h, "a\"b NOOP\r\n", PA_OK, BAD("*"));
	mh_expect(h, "\xc3\xa9 NOOP\r\n", PA_OK, BAD("*"));
	cr_assert_eq(h->ctx.errors, 5);
	mh_close(h);
}

Test(imap, empty_and_blank_lines)
{
	struct mh *h = open_h("      max_errors: 100\n");

	mh_expect(h, "\r\n", PA_OK, BAD("*"));
	mh_expect(h, "\n", PA_OK, BAD("*"));
	mh_expect(h, "   \r\n", PA_OK, BAD("*"));
	mh_expect(h, "a\r\n", PA_OK, BAD("*"));
	mh_expect(h, "a \r\n", PA_OK, BAD("a"));
	cr_assert_eq(h->ctx.errors, 5);
	mh_close(h);
}

Test(imap, nul_bearing_and_non_ascii_lines)
{
	struct mh *h = open_h("      max_errors: 100\n");

	cr_assert_eq(mh_send(h, "a NOOP\0\r\n", 9), PA_OK);
	cr_assert_str_eq(mh_out(h), BAD("a"));
	cr_assert_eq(mh_send(h, "\0\r\n", 3), PA_OK);
	cr_assert_str_eq(mh_out(h), BAD("*"));
	cr_assert_eq(mh_send(h, "b LOGIN bob \"p\0w\"\r\n", 19), PA_OK);
	cr_assert_str_eq(mh_out(h), BAD("b"));
	mh_expect(h, "c N\xc3\x96OP\r\n", PA_OK, BAD("c"));
	mh_expect(h, "d NOOP \xff\xfe\r\n", PA_OK, "d OK completed\r\n");
	cr_assert_eq(h->ctx.errors, 4);
	cr_assert_null(h->ctx.cr.login);
	mh_close(h);
}

Test(imap, truncated_line_waits)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a NOO", PA_AGAIN, "");
	mh_expect(h, "P\r", PA_AGAIN, "");
	mh_expect(h, "\n", PA_OK, "a OK completed\r\n");
	mh_expect(h, "b LOGIN \"bo", PA_AGAIN, "");
	login_ok(h, "b\" x\r\n", "bob", "x");
	mh_close(h);
}

Test(imap, oversized_line_closes)
{
	struct mh *h = open_h("      imap_client_buffer: 64\n");
	char line[300];

	cr_assert_eq(h->ctx.bufsize, 64);
	memcpy(line, "a LOGIN ", 8);
	memset(line + 8, 'x', sizeof(line) - 8);
	cr_assert_eq(mh_send(h, line, sizeof(line)), PA_CLOSE);
	cr_assert_str_eq(mh_out(h), BAD("a"));
	cr_assert_null(h->ctx.cr.login);
	mh_close(h);
}

Test(imap, oversized_line_without_tag_closes)
{
	struct mh *h = open_h("      imap_client_buffer: 64\n");
	char line[100];

	memset(line, 't', sizeof(line));
	cr_assert_eq(mh_send(h, line, sizeof(line)), PA_CLOSE);
	cr_assert_str_eq(mh_out(h), BAD("*"));
	mh_close(h);
}

Test(imap, line_of_exactly_the_buffer_size)
{
	struct mh *h = open_h("      imap_client_buffer: 64\n");
	char line[64];

	memcpy(line, "a LOGIN u ", 10);
	memset(line + 10, 'p', 52);
	memcpy(line + 62, "\r\n", 2);
	cr_assert_eq(mh_send(h, line, sizeof(line)), PA_AUTH);
	cr_assert_eq(strlen(h->ctx.cr.passwd), 52);
	mh_close(h);
}

Test(imap, literal_over_the_buffer_sync_is_refused_and_session_goes_on)
{
	struct mh *h = open_h("      imap_client_buffer: 64\n");

	mh_expect(h, "a LOGIN {100}\r\n", PA_OK, BAD("a"));
	login_ok(h, "b LOGIN bob pass\r\n", "bob", "pass");
	mh_close(h);
}

Test(imap, literal_over_the_buffer_nonsync_closes)
{
	struct mh *h = open_h("      imap_client_buffer: 64\n");

	mh_expect(h, "a LOGIN {100+}\r\n", PA_CLOSE, BAD("a"));
	mh_close(h);
}

Test(imap, literal_filling_the_buffer_closes)
{
	struct mh *h = open_h("      imap_client_buffer: 64\n");
	char data[64];

	/* "a LOGIN {50}\r\n" + 50 bytes = 64: the command cannot end inside the buffer. */
	mh_expect(h, "a LOGIN {50}\r\n", PA_AGAIN, "+ OK\r\n");
	memset(data, 'u', 50);
	cr_assert_eq(mh_send(h, data, 50), PA_CLOSE);
	cr_assert_str_eq(mh_out(h), BAD("a"));
	mh_close(h);
}

Test(imap, invalid_line_ending_in_nonsync_literal_closes)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a SELECT {5+}\r\nINBOX\r\n", PA_OK, BAD("a"));
	mh_close(h);
	h = open_h(NULL);
	mh_expect(h, "a BAD\x01 {5+}\r\nhello\r\n", PA_CLOSE, BAD("a"));
	mh_close(h);
}

Test(imap, max_errors_closes_on_the_last_one)
{
	struct mh *h = open_h("      max_errors: 3\n");

	mh_expect(h, "a FOO\r\n", PA_OK, BAD("a"));
	mh_expect(h, "b NOOP\r\n", PA_OK, "b OK completed\r\n");
	mh_expect(h, "\r\n", PA_OK, BAD("*"));
	mh_expect(h, "c AUTHENTICATE PLAIN !!!!\r\n", PA_CLOSE, BAD("c"));
	cr_assert_eq(h->ctx.errors, 3);
	mh_close(h);
}

Test(imap, max_errors_default_is_five)
{
	struct mh *h = open_h(NULL);

	for (int i = 0; i < 4; i++)
		mh_expect(h, "a BOGUS\r\n", PA_OK, BAD("a"));
	mh_expect(h, "a BOGUS\r\n", PA_CLOSE, BAD("a"));
	mh_close(h);
}

Test(imap, max_errors_pipelined_stops_at_the_limit)
{
	struct mh *h = open_h("      max_errors: 2\n");

	mh_expect(h, "a X\r\nb Y\r\nc NOOP\r\n", PA_CLOSE, BAD("a") BAD("b"));
	mh_close(h);
}

/*
 * ---- max_commands (freenginx): the limit-th command is served, the next
 * one gets the invalid-command reply instead and the connection closes ----
 */

Test(imap, max_commands_serves_the_limit_then_closes)
{
	struct mh *h = open_h("      max_commands: 3\n");

	mh_expect(h, "a NOOP\r\n", PA_OK, "a OK completed\r\n");
	mh_expect(h, "b CAPABILITY\r\n", PA_OK, CAPS " AUTH=PLAIN\r\nb OK completed\r\n");
	mh_expect(h, "c NOOP\r\n", PA_OK, "c OK completed\r\n");
	/* Past the cap even a login is not served. */
	mh_expect(h, "d LOGIN bob pass\r\n", PA_CLOSE, BAD("d"));
	cr_assert_null(h->ctx.cr.login);
	cr_assert_str_eq(h->ctx.reason, "client sent too many commands");
	mh_close(h);
}

Test(imap, max_commands_pipelined_in_one_read)
{
	struct mh *h = open_h("      max_commands: 2\n");

	mh_expect(h, "a NOOP\r\nb NOOP\r\nc NOOP\r\nd NOOP\r\n", PA_CLOSE,
	    "a OK completed\r\nb OK completed\r\n" BAD("c"));
	cr_assert_eq(mh_unread(h), strlen("d NOOP\r\n"), "nothing after the refused one is read");
	mh_close(h);
}

Test(imap, max_commands_default_is_1000)
{
	struct mh *h = open_h(NULL);

	cr_assert_eq(h->conf->max_commands, 1000);
	for (int i = 0; i < 1000; i++)
		mh_expect(h, "a NOOP\r\n", PA_OK, "a OK completed\r\n");
	mh_expect(h, "b NOOP\r\n", PA_CLOSE, BAD("b"));
	mh_close(h);
}

Test(imap, max_commands_zero_refuses_the_first)
{
	struct mh *h = open_h("      max_commands: 0\n");

	mh_expect(h, "a CAPABILITY\r\n", PA_CLOSE, BAD("a"));
	mh_close(h);
}

/*
 * One count per connection until login: a literal's continuation is part of
 * its command, every SASL answer is a command, a failed login, STARTTLS and
 * the handshake reset nothing, and a line the parser refuses is an error.
 */
Test(imap, max_commands_what_counts)
{
	struct mh *h = open_h("      max_commands: 6\n      max_errors: 10\n");

	h->conf->starttls = STARTTLS_ON;
	mh_expect(h, "a LOGIN {3}\r\n", PA_AGAIN, "+ OK\r\n");
	mh_expect(h, "bob pw\r\n", PA_AUTH, "");	/* 1 */
	cr_assert_eq(imap_proto.auth_failed(&h->ctx, "Invalid login", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(h), "a NO Invalid login\r\n");
	creds_clear(&h->ctx.cr);
	mh_expect(h, "b AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");	/* 2 */
	mh_expect(h, mh_b64n("\0bob\0pw", 7), PA_AGAIN, "");
	mh_expect(h, "\r\n", PA_AUTH, "");	/* 3 */
	cr_assert_eq(imap_proto.auth_failed(&h->ctx, "Invalid login", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(h), "b NO Invalid login\r\n");
	creds_clear(&h->ctx.cr);
	mh_expect(h, "a\"b NOOP\r\n", PA_OK, BAD("*"));	/* an error */
	mh_expect(h, "c STARTTLS\r\n", PA_STARTTLS, "c OK completed\r\n");	/* 4 */
	h->ctx.tls = 1;
	mh_expect(h, "d NOOP\r\ne NOOP\r\n", PA_OK, "d OK completed\r\ne OK completed\r\n");	/* 5, 6 */
	mh_expect(h, "f NOOP\r\n", PA_CLOSE, BAD("f"));
	cr_assert_eq(h->ctx.commands, 7);
	cr_assert_eq(h->ctx.errors, 2, "the parse error, and the refusal");
	mh_close(h);
}

/* ---- pipelining and auth results ---- */

Test(imap, pipelined_commands)
{
	struct mh *h = open_h(NULL);

	cr_assert_eq(mh_sends(h, "a NOOP\r\nb CAPABILITY\r\nc LOGIN bob pass\r\nd NOOP\r\ne LOGOUT\r\n"),
	    PA_AUTH);
	cr_assert_str_eq(mh_out(h), "a OK completed\r\n" CAPS " AUTH=PLAIN\r\nb OK completed\r\n");
	cr_assert_str_eq(h->ctx.cr.login, "bob");
	cr_assert_str_eq(h->ctx.u.imap.tag, "c ");
	cr_assert_eq(mh_unread(h), strlen("d NOOP\r\ne LOGOUT\r\n"), "the rest waits for the auth result");
	/* The auth service refused with Auth-Wait: the client may go on. */
	cr_assert_eq(imap_proto.auth_failed(&h->ctx, "Invalid login or password", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(h), "c NO Invalid login or password\r\n");
	creds_clear(&h->ctx.cr);
	cr_assert_eq(mh_resume(h), PA_CLOSE);
	cr_assert_str_eq(mh_out(h), "d OK completed\r\n* BYE\r\ne OK completed\r\n");
	mh_close(h);
}

Test(imap, pipelined_split_at_every_read_size)
{
	const char *in = "a NOOP\r\nb LOGIN {3}\r\nbob \"p\\\"w\"\r\n";

	for (size_t chunk = 1; chunk <= strlen(in); chunk++) {
		struct mh *h = open_h(NULL);
		h->chunk = chunk;
		cr_assert_eq(mh_sends(h, in), PA_AUTH, "chunk %zu", chunk);
		cr_assert_str_eq(h->ctx.cr.login, "bob");
		cr_assert_str_eq(h->ctx.cr.passwd, "p\"w");
		const char *out = mh_out(h);
		/* The literal's data arrived with its announcement only when the read was large enough. */
		if (strstr(out, "+ OK") != NULL)
			cr_assert_str_eq(out, "a OK completed\r\n+ OK\r\n", "chunk %zu", chunk);
		else
			cr_assert_str_eq(out, "a OK completed\r\n", "chunk %zu", chunk);
		mh_close(h);
	}
}

Test(imap, auth_failed_without_retry_closes)
{
	struct mh *h = open_h(NULL);

	cr_assert_eq(mh_sends(h, "x1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n"), PA_AUTH);
	cr_assert_eq(imap_proto.auth_failed(&h->ctx, "Temporary failure", NULL, 0), PA_CLOSE);
	cr_assert_str_eq(mh_out(h), "x1 NO Temporary failure\r\n");
	mh_close(h);
}

Test(imap, canned_lines)
{
	cr_assert_str_eq(imap_proto.name, "imap");
	cr_assert_str_eq(imap_proto.internal_error, "* BAD internal server error\r\n");
	cr_assert_str_eq(imap_proto.cert_error, "* BYE SSL certificate error\r\n");
	cr_assert_str_eq(imap_proto.no_cert, "* BYE No required SSL certificate\r\n");
	cr_assert_eq(proto_for(MP_PROTO_IMAP), &imap_proto);
}
