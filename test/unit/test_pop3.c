/*
 * The POP3 machine before login (worker/proto/pop3.c) driven as the session
 * drives it, with exact reply bytes: greeting, CAPA, USER/PASS, APOP, STLS,
 * the starttls variants, max_errors, long and split lines, pipelining and
 * hostile input. AUTH and the backend login are in test_pop3_auth.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl.h"

TestSuite(pop3, .init = th_setup, .fini = th_teardown);

#define INV "-ERR invalid command\r\n"
#define CAPA_HEAD "+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\n"

static void
open_pop3(struct mh *h, const char *server_yaml)
{
	mh_open(h, "110", NULL, server_yaml);
}

/* Opens with the default configuration and checks the plain greeting. */
static void
open_default(struct mh *h)
{
	open_pop3(h, NULL);
	cr_assert_str_eq(mh_out(h), "+OK POP3 ready\r\n");
	cr_assert_null(h->ctx.cr.salt);
}

/* "<digits.digits@mx.example.com>" */
static void
assert_salt(const char *s)
{
	size_t n = strlen(s);
	const char *p = s + 1;

	cr_assert_gt(n, 2);
	cr_assert_eq(s[0], '<', "%s", s);
	cr_assert_eq(s[n - 1], '>', "%s", s);
	cr_assert(p[0] >= '0' && p[0] <= '9', "%s", s);
	while (*p >= '0' && *p <= '9')
		p++;
	cr_assert_eq(*p++, '.', "%s", s);
	cr_assert(*p >= '0' && *p <= '9', "%s", s);
	while (*p >= '0' && *p <= '9')
		p++;
	cr_assert_str_eq(p, "@mx.example.com>");
}

/* ---- greeting and plumbing ---- */

Test(pop3, proto_for_and_canned_lines)
{
	cr_assert_eq(proto_for(MP_PROTO_POP3), &pop3_proto);
	cr_assert_str_eq(pop3_proto.name, "pop3");
	cr_assert_str_eq(pop3_proto.internal_error, "-ERR internal server error\r\n");
	cr_assert_str_eq(pop3_proto.cert_error, "-ERR SSL certificate error\r\n");
	cr_assert_str_eq(pop3_proto.no_cert, "-ERR No required SSL certificate\r\n");
	cr_assert_eq(pop3_proto.backend_line, pop3_backend_line);
}

Test(pop3, greeting_plain)
{
	struct mh h;

	open_default(&h);
	cr_assert_eq(h.ctx.bufsize, h.cf->page_size);
	mh_close(&h);
}

Test(pop3, greeting_with_apop_timestamp)
{
	struct mh h;
	char want[600];

	open_pop3(&h, "      pop3_auth: [plain, apop]\n");
	cr_assert_not_null(h.ctx.cr.salt);
	assert_salt(h.ctx.cr.salt);
	snprintf(want, sizeof(want), "+OK POP3 ready %s\r\n", h.ctx.cr.salt);
	cr_assert_str_eq(mh_out(&h), want);
	mh_close(&h);
}

Test(pop3, greeting_with_cram_md5_timestamp)
{
	struct mh h;
	char want[600];

	open_pop3(&h, "      pop3_auth: cram-md5\n");
	cr_assert_not_null(h.ctx.cr.salt);
	snprintf(want, sizeof(want), "+OK POP3 ready %s\r\n", h.ctx.cr.salt);
	cr_assert_str_eq(mh_out(&h), want);
	mh_close(&h);
}

Test(pop3, client_buffer_directive)
{
	struct mh h;

	open_pop3(&h, "      pop3_client_buffer: 128\n");
	cr_assert_eq(h.conf->pop3_client_buffer, 128);
	cr_assert_eq(h.ctx.bufsize, 128);
	mh_close(&h);
}

/* ---- CAPA ---- */

Test(pop3, capa_variants)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "CAPA\r\n", CAPA_HEAD "SASL PLAIN LOGIN\r\n.\r\n");
	h.conf->starttls = STARTTLS_ON;
	mh_say(&h, "capa\r\n", CAPA_HEAD "SASL PLAIN LOGIN\r\nSTLS\r\n.\r\n");
	h.conf->starttls = STARTTLS_ONLY;
	mh_say(&h, "Capa\r\n", "+OK Capability list follows\r\nTOP\r\nUIDL\r\nSTLS\r\n.\r\n");
	h.ctx.tls = 1;
	mh_say(&h, "CAPA\r\n", CAPA_HEAD "SASL PLAIN LOGIN\r\n.\r\n");
	h.conf->starttls = STARTTLS_ON;
	mh_say(&h, "CAPA\r\n", CAPA_HEAD "SASL PLAIN LOGIN\r\n.\r\n");
	/* nginx ignores arguments to CAPA. */
	mh_say(&h, "CAPA please\r\n", CAPA_HEAD "SASL PLAIN LOGIN\r\n.\r\n");
	cr_assert_eq(h.ctx.errors, 0);
	mh_close(&h);
}

Test(pop3, capa_lists_enabled_mechanisms)
{
	struct mh h;

	open_pop3(&h, "      pop3_auth: [apop, external, cram-md5, plain]\n"
	    "      pop3_capabilities: [TOP, USER, UIDL, PIPELINING]\n");
	mh_out(&h);
	mh_say(&h, "CAPA\r\n", CAPA_HEAD "PIPELINING\r\nSASL PLAIN LOGIN CRAM-MD5 EXTERNAL\r\n.\r\n");
	mh_say(&h, "AUTH\r\n", "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\nEXTERNAL\r\n.\r\n");
	mh_close(&h);
}

Test(pop3, capa_apop_only_has_no_sasl_line)
{
	struct mh h;

	open_pop3(&h, "      pop3_auth: apop\n");
	mh_out(&h);
	mh_say(&h, "CAPA\r\n", CAPA_HEAD ".\r\n");
	mh_say(&h, "AUTH\r\n", "+OK methods supported:\r\n.\r\n");
	mh_close(&h);
}

/* After USER nginx answers CAPA without STLS. */
Test(pop3, capa_after_user)
{
	struct mh h;

	open_default(&h);
	h.conf->starttls = STARTTLS_ON;
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	mh_say(&h, "CAPA\r\n", CAPA_HEAD "SASL PLAIN LOGIN\r\n.\r\n");
	cr_assert_eq(mh_sends(&h, "PASS pw\r\n"), PA_AUTH);
	mh_close(&h);
}

/* ---- USER / PASS ---- */

Test(pop3, user_pass)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "PASS secret\r\n"), PA_AUTH);
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_eq(h.ctx.cr.method, AUTHM_PLAIN);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_str_eq(h.ctx.cr.passwd, "secret");
	cr_assert_eq(mh_unread(&h), 0);
	mh_close(&h);
}

Test(pop3, user_pass_keep_spaces_and_case)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "user   John Doe  \r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "pAsS  my secret pass \r\n"), PA_AUTH);
	cr_assert_str_eq(h.ctx.cr.login, "John Doe  ");
	cr_assert_str_eq(h.ctx.cr.passwd, "my secret pass ");
	mh_close(&h);
}

Test(pop3, user_pass_non_ascii_and_bare_lf)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "USER j\xc3\xb6rg\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "PASS p\xe4ss\n"), PA_AUTH);
	cr_assert_str_eq(h.ctx.cr.login, "j\xc3\xb6rg");
	cr_assert_str_eq(h.ctx.cr.passwd, "p\xe4ss");
	mh_close(&h);
}

Test(pop3, user_pass_refusals)
{
	struct mh h;

	open_default(&h);
	h.conf->max_errors = 100;
	mh_say(&h, "PASS secret\r\n", INV);		/* PASS before USER */
	mh_say(&h, "USER\r\n", INV);
	mh_say(&h, "USER    \r\n", INV);
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	mh_say(&h, "PASS\r\n", INV);			/* and back to the start */
	mh_say(&h, "PASS secret\r\n", INV);
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	mh_say(&h, "USER alice\r\n", INV);		/* not twice */
	mh_say(&h, "PASS x\r\n", INV);
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	mh_say(&h, "AUTH PLAIN\r\n", INV);		/* only PASS, CAPA, NOOP, QUIT after USER */
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	mh_say(&h, "STLS\r\n", INV);
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	mh_say(&h, "NOOP\r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "PASS x\r\n"), PA_AUTH);
	cr_assert_eq(h.ctx.errors, 9);
	mh_close(&h);
}

Test(pop3, user_quit_in_user_state)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "QUIT\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), "+OK\r\n");
	mh_close(&h);
}

/* A NUL in USER or PASS would cut the login short at the backend. */
Test(pop3, user_pass_nul_refused)
{
	struct mh h;

	open_default(&h);
	cr_assert_eq(mh_send(&h, "USER b\0b\r\n", 10), PA_OK);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_str_eq(h.ctx.reason, "client sent credentials with CR, LF or NUL");
	cr_assert_null(h.ctx.cr.login);
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	cr_assert_eq(mh_send(&h, "PASS a\0b\r\n", 10), PA_OK);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_null(h.ctx.cr.passwd);
	cr_assert_eq(h.ctx.errors, 2);
	mh_close(&h);
}

/* A CR inside a line ends nginx's parse with an error; it never reaches a login. */
Test(pop3, bare_cr_refused)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "USER b\rob\r\n", INV);
	mh_say(&h, "NOOP\r\r\n", INV);
	cr_assert_null(h.ctx.cr.login);
	mh_close(&h);
}

Test(pop3, user_refused_under_starttls_only)
{
	struct mh h;

	open_default(&h);
	h.conf->starttls = STARTTLS_ONLY;
	mh_say(&h, "USER bob\r\n", INV);
	cr_assert_null(h.ctx.cr.login);
	h.ctx.tls = 1;
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "PASS pw\r\n"), PA_AUTH);
	mh_close(&h);
}

/* nginx accepts USER/PASS whatever pop3_auth says. */
Test(pop3, user_pass_without_plain)
{
	struct mh h;

	open_pop3(&h, "      pop3_auth: apop\n");
	mh_out(&h);
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "PASS pw\r\n"), PA_AUTH);
	mh_close(&h);
}

/* ---- APOP ---- */

#define DIGEST "0123456789abcdefABCDEF0123456789"

Test(pop3, apop)
{
	struct mh h;
	char salt[512];

	open_pop3(&h, "      pop3_auth: [plain, apop]\n");
	mh_out(&h);
	snprintf(salt, sizeof(salt), "%s", h.ctx.cr.salt);
	cr_assert_eq(mh_sends(&h, "APOP bob " DIGEST "\r\n"), PA_AUTH);
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_eq(h.ctx.cr.method, AUTHM_APOP);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_str_eq(h.ctx.cr.passwd, DIGEST);
	cr_assert_str_eq(h.ctx.cr.salt, salt);

	/* The session clears everything after a refusal; the timestamp comes back. */
	creds_clear(&h.ctx.cr);
	cr_assert_eq(pop3_proto.auth_failed(&h.ctx, "Invalid login or password", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(&h), "-ERR Invalid login or password\r\n");
	cr_assert_str_eq(h.ctx.cr.salt, salt);
	cr_assert_eq(mh_sends(&h, "apop  alice   " DIGEST "\r\n"), PA_AUTH);
	cr_assert_str_eq(h.ctx.cr.login, "alice");
	cr_assert_str_eq(h.ctx.cr.salt, salt);
	mh_close(&h);
}

Test(pop3, apop_refusals)
{
	struct mh h;

	open_pop3(&h, "      pop3_auth: [plain, apop]\n");
	mh_out(&h);
	h.conf->max_errors = 100;
	mh_say(&h, "APOP bob\r\n", INV);
	mh_say(&h, "APOP\r\n", INV);
	mh_say(&h, "APOP bob " DIGEST " extra\r\n", INV);
	mh_say(&h, "APOP bob 0123456789abcdef\r\n", INV);			/* short */
	mh_say(&h, "APOP bob 0123456789abcdef0123456789abcdeg\r\n", INV);	/* not hex */
	mh_say(&h, "APOP bob " DIGEST "0\r\n", INV);				/* long */
	cr_assert_null(h.ctx.cr.login);
	h.conf->starttls = STARTTLS_ONLY;
	mh_say(&h, "APOP bob " DIGEST "\r\n", INV);
	h.ctx.tls = 1;
	cr_assert_eq(mh_sends(&h, "APOP bob " DIGEST "\r\n"), PA_AUTH);
	mh_close(&h);
}

Test(pop3, apop_needs_pop3_auth_apop)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "APOP bob " DIGEST "\r\n", INV);
	cr_assert_eq(h.ctx.cr.method, 0);
	mh_close(&h);
}

/* ---- STLS, NOOP, QUIT, invalid commands ---- */

Test(pop3, stls)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "STLS\r\n", INV);			/* starttls off */
	h.conf->starttls = STARTTLS_ON;
	/* What was pipelined after STLS is dropped (session.c; the harness too). */
	cr_assert_eq(mh_sends(&h, "STLS\r\nUSER evil\r\n"), PA_STARTTLS);
	cr_assert_str_eq(mh_out(&h), "+OK\r\n");
	cr_assert_eq(mh_unread(&h), 0);
	cr_assert_null(h.ctx.cr.login);
	h.ctx.tls = 1;
	mh_say(&h, "STLS\r\n", INV);			/* already TLS */
	mh_close(&h);
}

Test(pop3, stls_under_starttls_only)
{
	struct mh h;

	open_default(&h);
	h.conf->starttls = STARTTLS_ONLY;
	cr_assert_eq(mh_sends(&h, "stls\r\n"), PA_STARTTLS);
	cr_assert_str_eq(mh_out(&h), "+OK\r\n");
	mh_close(&h);
}

Test(pop3, noop_quit)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "NOOP\r\n", "+OK\r\n");
	mh_say(&h, "noop with args\r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "quit\r\nNOOP\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), "+OK\r\n");
	cr_assert_null(h.ctx.reason);
	mh_close(&h);
}

Test(pop3, invalid_commands)
{
	struct mh h;
	static const char *const bad[] = {
		"STAT\r\n", "LIST\r\n", "RETR 1\r\n", "UIDL\r\n", "TOP 1 2\r\n", "DELE 1\r\n", "RSET\r\n",
		"\r\n", "\n", " NOOP\r\n", "NOO\r\n", "NOOPS\r\n", "NO0P\r\n", "CAPA\tx\r\n",
		"N\xc3\x96OP\r\n", "HELO x\r\n", "XCLIENT ADDR=1.2.3.4\r\n",
	};

	open_default(&h);
	h.conf->max_errors = 1000;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		mh_say(&h, bad[i], INV);
	cr_assert_eq(mh_send(&h, "NO\0P\r\n", 6), PA_OK);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_eq(h.ctx.errors, sizeof(bad) / sizeof(bad[0]) + 1);
	mh_close(&h);
}

Test(pop3, max_errors)
{
	struct mh h;

	open_default(&h);
	cr_assert_eq(h.conf->max_errors, 5);
	for (int i = 0; i < 4; i++) {
		mh_say(&h, "STAT\r\n", INV);
		mh_say(&h, "NOOP\r\n", "+OK\r\n");		/* valid commands do not reset the count */
	}
	cr_assert_eq(mh_sends(&h, "LIST\r\nNOOP\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_str_eq(h.ctx.reason, "client sent too many invalid commands");
	cr_assert_eq(mh_unread(&h), 6);
	mh_close(&h);
}

Test(pop3, max_errors_one)
{
	struct mh h;

	open_default(&h);
	h.conf->max_errors = 1;
	cr_assert_eq(mh_sends(&h, "USER\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	mh_close(&h);
}

/* ---- max_commands (freenginx): the limit-th is served, the next refused and closed ---- */

Test(pop3, max_commands_serves_the_limit_then_closes)
{
	struct mh h;

	open_pop3(&h, "      max_commands: 3\n");
	cr_assert_str_eq(mh_out(&h), "+OK POP3 ready\r\n");
	mh_say(&h, "NOOP\r\n", "+OK\r\n");
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	mh_say(&h, "NOOP\r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "PASS secret\r\n"), PA_CLOSE, "past the cap a login is not served");
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_null(h.ctx.cr.passwd);
	cr_assert_str_eq(h.ctx.reason, "client sent too many commands");
	mh_close(&h);
}

Test(pop3, max_commands_pipelined_and_default)
{
	struct mh h;

	open_pop3(&h, "      max_commands: 2\n");
	(void)mh_out(&h);
	cr_assert_eq(mh_sends(&h, "NOOP\r\nNOOP\r\nNOOP\r\nQUIT\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), "+OK\r\n+OK\r\n" INV);
	cr_assert_eq(mh_unread(&h), 6, "QUIT is never read");
	mh_close(&h);

	open_default(&h);
	cr_assert_eq(h.conf->max_commands, 1000);
	for (int i = 0; i < 1000; i++)
		mh_say(&h, "NOOP\r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "NOOP\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	mh_close(&h);
}

/* Each SASL answer counts; a failed login and STLS reset nothing; a bare CR line is an error. */
Test(pop3, max_commands_what_counts)
{
	struct mh h;

	open_pop3(&h, "      max_commands: 5\n");
	(void)mh_out(&h);
	h.conf->starttls = STARTTLS_ON;
	mh_say(&h, "AUTH LOGIN\r\n", "+ VXNlcm5hbWU6\r\n");	/* 1 */
	mh_say(&h, "Ym9i\r\n", "+ UGFzc3dvcmQ6\r\n");		/* 2 */
	cr_assert_eq(mh_sends(&h, "cHc=\r\n"), PA_AUTH);	/* 3 */
	creds_clear(&h.ctx.cr);
	cr_assert_eq(pop3_proto.auth_failed(&h.ctx, "Invalid login", NULL, 1), PA_OK);
	mh_say(&h, "NO\rOP\r\n", "-ERR Invalid login\r\n" INV);
	cr_assert_eq(mh_sends(&h, "STLS\r\n"), PA_STARTTLS);	/* 4 */
	cr_assert_str_eq(mh_out(&h), "+OK\r\n");
	h.ctx.tls = 1;
	mh_say(&h, "NOOP\r\n", "+OK\r\n");			/* 5 */
	cr_assert_eq(mh_sends(&h, "NOOP\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_eq(h.ctx.commands, 6);
	cr_assert_eq(h.ctx.errors, 2, "the bare CR, and the refusal");
	mh_close(&h);
}

/* ---- line limits, splits, pipelining ---- */

Test(pop3, too_long_line)
{
	struct mh h;
	char line[300];

	open_pop3(&h, "      pop3_client_buffer: 128\n");
	mh_out(&h);
	/* 128 bytes with the CRLF: fits exactly. */
	memset(line, 'u', sizeof(line));
	memcpy(line, "USER ", 5);
	memcpy(line + 126, "\r\n", 2);
	cr_assert_eq(mh_send(&h, line, 128), PA_OK);
	cr_assert_str_eq(mh_out(&h), "+OK\r\n");
	cr_assert_eq(strlen(h.ctx.cr.login), 121);
	/* One byte more does not. */
	memset(line, 'p', sizeof(line));
	memcpy(line, "PASS ", 5);
	memcpy(line + 127, "\r\n", 2);
	cr_assert_eq(mh_send(&h, line, 129), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_str_eq(h.ctx.reason, "client sent too long command");
	cr_assert_null(h.ctx.cr.passwd);
	mh_close(&h);
}

Test(pop3, too_long_line_in_sasl_state)
{
	struct mh h;
	char line[300];

	open_pop3(&h, "      pop3_client_buffer: 128\n");
	mh_out(&h);
	mh_say(&h, "AUTH PLAIN\r\n", "+ \r\n");
	memset(line, 'A', sizeof(line));
	cr_assert_eq(mh_send(&h, line, sizeof(line)), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_str_eq(h.ctx.reason, "client sent too long command");
	mh_close(&h);
}

/* With the default page-sized buffer a line nginx's 128 bytes would refuse is fine. */
Test(pop3, long_line_within_default_buffer)
{
	struct mh h;
	char line[1024];

	open_default(&h);
	memset(line, 'x', sizeof(line));
	memcpy(line, "USER ", 5);
	memcpy(line + 998, "\r\n", 2);
	cr_assert_eq(mh_send(&h, line, 1000), PA_OK);
	cr_assert_str_eq(mh_out(&h), "+OK\r\n");
	mh_close(&h);
}

Test(pop3, truncated_input_waits)
{
	struct mh h;

	open_default(&h);
	cr_assert_eq(mh_sends(&h, "NOO"), PA_AGAIN);
	cr_assert_eq(mh_sends(&h, "P"), PA_AGAIN);
	cr_assert_eq(mh_sends(&h, "\r"), PA_AGAIN);
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_eq(mh_unread(&h), 5);
	mh_say(&h, "\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "USER bob"), PA_AGAIN);
	cr_assert_null(h.ctx.cr.login);
	mh_say(&h, "\r\n", "+OK\r\n");
	mh_close(&h);
}

#define PIPELINE "CAPA\r\nNOOP\r\nSTAT\r\nUSER bob\r\nPASS secret\r\nQUIT\r\n"
#define PIPELINE_OUT CAPA_HEAD "SASL PLAIN LOGIN\r\n.\r\n+OK\r\n" INV "+OK\r\n"

Test(pop3, pipelined_commands)
{
	struct mh h;

	open_default(&h);
	cr_assert_eq(mh_sends(&h, PIPELINE), PA_AUTH);
	cr_assert_eq(h.commands, 5);
	cr_assert_str_eq(mh_out(&h), PIPELINE_OUT);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_eq(mh_unread(&h), 6);		/* QUIT waits for the auth service */
	creds_clear(&h.ctx.cr);
	cr_assert_eq(pop3_proto.auth_failed(&h.ctx, "Invalid login", NULL, 1), PA_OK);
	cr_assert_eq(mh_resume(&h), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), "-ERR Invalid login\r\n+OK\r\n");
	mh_close(&h);
}

/* The same bytes read one at a time, and two at a time, give the same replies. */
Test(pop3, pipelined_commands_split_everywhere)
{
	for (size_t chunk = 1; chunk <= 3; chunk++) {
		struct mh h;

		open_default(&h);
		h.chunk = chunk;
		cr_assert_eq(mh_sends(&h, PIPELINE), PA_AUTH);
		cr_assert_str_eq(mh_out(&h), PIPELINE_OUT, "chunk %zu", chunk);
		cr_assert_str_eq(h.ctx.cr.passwd, "secret");
		mh_close(&h);
	}
}

Test(pop3, pipelined_sasl_exchange)
{
	struct mh h;
	char in[512];

	open_default(&h);
	snprintf(in, sizeof(in), "AUTH LOGIN\r\n%s\r\n%s\r\nNOOP\r\n", mh_b64("bob"), mh_b64("pw"));
	cr_assert_eq(mh_sends(&h, in), PA_AUTH);
	cr_assert_str_eq(mh_out(&h), "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n");
	cr_assert_eq(mh_unread(&h), 6);
	mh_close(&h);
}

/* ---- auth_failed ---- */

Test(pop3, auth_failed_close)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "PASS x\r\n"), PA_AUTH);
	creds_clear(&h.ctx.cr);
	cr_assert_eq(pop3_proto.auth_failed(&h.ctx, "Invalid login or password", "535 5.7.8", 0),
	    PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), "-ERR Invalid login or password\r\n");
	mh_close(&h);
}

Test(pop3, auth_failed_retry_from_user_state)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "USER bob\r\n", "+OK\r\n");
	cr_assert_eq(mh_sends(&h, "PASS x\r\n"), PA_AUTH);
	creds_clear(&h.ctx.cr);
	cr_assert_eq(pop3_proto.auth_failed(&h.ctx, "Temporary failure", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(&h), "-ERR Temporary failure\r\n");
	mh_say(&h, "PASS x\r\n", INV);			/* back at the start */
	mh_close(&h);
}
