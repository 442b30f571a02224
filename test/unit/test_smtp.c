/*
 * The SMTP machine before login (worker/proto/smtp.c) driven as the session
 * drives it, with exact reply bytes: HELO/EHLO and the starttls variants,
 * every SASL mechanism with and without an initial response, smtp_auth
 * none (MAIL/RCPT), STARTTLS, max_errors, long and split lines, pipelining
 * (also before the greeting) and hostile input. The backend login is in
 * test_smtp_backend.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl.h"

TestSuite(smtp, .init = th_setup, .fini = th_teardown);

#define GREETING "220 mx.example.com ESMTP ready\r\n"
#define INV "500 5.5.1 Invalid command\r\n"
#define BAD_ARG "501 5.5.4 Invalid argument\r\n"
#define BAD_SEQ "503 5.5.1 Bad sequence of commands\r\n"
#define AUTH_REQ "530 5.7.1 Authentication required\r\n"
#define OK "250 2.0.0 OK\r\n"
#define EHLO_PLAIN "250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n"
#define NONE_YAML "      smtp_auth: none\n"

static void
open_smtp(struct mh *h, const char *server_yaml)
{
	mh_open(h, "25", NULL, server_yaml);
	cr_assert_str_eq(mh_out(h), GREETING);
}

/* ---- greeting, early input, plumbing ---- */

Test(smtp, proto_for_and_canned_lines)
{
	cr_assert_eq(proto_for(MP_PROTO_SMTP), &smtp_proto);
	cr_assert_str_eq(smtp_proto.name, "smtp");
	cr_assert_str_eq(smtp_proto.internal_error, "451 4.3.2 Internal server error\r\n");
	cr_assert_str_eq(smtp_proto.cert_error, "421 4.7.1 SSL certificate error\r\n");
	cr_assert_str_eq(smtp_proto.no_cert, "421 4.7.1 No required SSL certificate\r\n");
	cr_assert_eq(smtp_proto.backend_line, smtp_backend_line);
}

Test(smtp, greeting)
{
	struct mh h;

	open_smtp(&h, NULL);
	cr_assert_eq(h.ctx.bufsize, h.cf->page_size);
	cr_assert_null(h.ctx.cr.salt);
	mh_close(&h);
}

/* smtp_greeting_delay: a client that talks first is refused; its bytes are not read. */
Test(smtp, early_input_before_greeting)
{
	struct mh h;

	mh_load(&h, "25", NULL, "      smtp_greeting_delay: 2s\n");
	cr_assert_eq(buf_append(&h.pend, "EHLO spam\r\nMAIL FROM:<a@b>\r\n", 28), 0);
	cr_assert_eq(smtp_early_input(&h.ctx), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), "503 5.5.0 Improper use of SMTP command pipelining\r\n");
	cr_assert_str_eq(h.ctx.reason, "client was rejected before greeting");
	cr_assert_eq(mh_unread(&h), 28);
	cr_assert_null(h.ctx.cr.helo);
	mh_close(&h);
}

/* ---- HELO / EHLO ---- */

Test(smtp, helo)
{
	struct mh h;

	open_smtp(&h, NULL);
	mh_say(&h, "HELO client.example\r\n", "250 mx.example.com\r\n");
	cr_assert_str_eq(h.ctx.cr.helo, "client.example");
	cr_assert_eq(h.ctx.u.smtp.ehlo, 0);
	mh_say(&h, "helo   other.example  \r\n", "250 mx.example.com\r\n");
	cr_assert_str_eq(h.ctx.cr.helo, "other.example");
	mh_close(&h);
}

Test(smtp, ehlo_variants)
{
	struct mh h;

	open_smtp(&h, NULL);
	mh_say(&h, "EHLO client.example\r\n", EHLO_PLAIN);
	cr_assert_str_eq(h.ctx.cr.helo, "client.example");
	cr_assert_eq(h.ctx.u.smtp.ehlo, 1);
	h.conf->starttls = STARTTLS_ON;
	mh_say(&h, "ehlo c\r\n", "250-mx.example.com\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n");
	h.conf->starttls = STARTTLS_ONLY;
	mh_say(&h, "EHLO c\r\n", "250-mx.example.com\r\n250 STARTTLS\r\n");
	h.ctx.tls = 1;
	mh_say(&h, "EHLO c\r\n", EHLO_PLAIN);
	h.conf->starttls = STARTTLS_ON;
	mh_say(&h, "EHLO c\r\n", EHLO_PLAIN);
	cr_assert_eq(h.ctx.errors, 0);
	mh_close(&h);
}

Test(smtp, ehlo_with_capabilities_and_mechanisms)
{
	struct mh h;

	open_smtp(&h, "      smtp_capabilities: [\"SIZE 10485760\", 8BITMIME, PIPELINING]\n"
	    "      smtp_auth: [login, plain, cram-md5, external, none]\n");
	mh_say(&h, "EHLO c\r\n", "250-mx.example.com\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n"
	    "250-PIPELINING\r\n250 AUTH PLAIN LOGIN CRAM-MD5 EXTERNAL\r\n");
	h.conf->starttls = STARTTLS_ONLY;
	mh_say(&h, "EHLO c\r\n", "250-mx.example.com\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n"
	    "250-PIPELINING\r\n250 STARTTLS\r\n");
	mh_close(&h);
}

/* smtp_auth none alone: nothing to announce after AUTH. */
Test(smtp, ehlo_with_none_only)
{
	struct mh h;

	open_smtp(&h, NONE_YAML);
	mh_say(&h, "EHLO c\r\n", "250 mx.example.com\r\n");
	mh_close(&h);
}

Test(smtp, helo_arguments)
{
	struct mh h;

	open_smtp(&h, NULL);
	mh_say(&h, "HELO a.example\r\n", "250 mx.example.com\r\n");
	mh_say(&h, "HELO\r\n", BAD_ARG);
	mh_say(&h, "EHLO   \r\n", BAD_ARG);
	mh_say(&h, "EHLO a b\r\n", BAD_ARG);
	/* A 501 keeps what was there, and is no "invalid command". */
	cr_assert_str_eq(h.ctx.cr.helo, "a.example");
	cr_assert_eq(h.ctx.u.smtp.ehlo, 0);
	cr_assert_eq(mh_send(&h, "EHLO a\0b\r\n", 10), PA_OK);
	cr_assert_str_eq(mh_out(&h), BAD_ARG);
	cr_assert_str_eq(h.ctx.cr.helo, "a.example");
	cr_assert_eq(h.ctx.errors, 0);
	/* Non-ASCII is the client's business (XCLIENT encodes it). */
	mh_say(&h, "EHLO h\xc3\xa9.example\r\n", EHLO_PLAIN);
	cr_assert_str_eq(h.ctx.cr.helo, "h\xc3\xa9.example");
	mh_close(&h);
}

Test(smtp, helo_resets_mail_transaction)
{
	struct mh h;

	open_smtp(&h, NONE_YAML);
	mh_say(&h, "MAIL FROM:<a@example.org>\r\n", OK);
	mh_say(&h, "EHLO c\r\n", "250 mx.example.com\r\n");
	cr_assert_null(h.ctx.cr.from);
	mh_say(&h, "RCPT TO:<b@example.org>\r\n", BAD_SEQ);
	mh_say(&h, "MAIL FROM:<a@example.org>\r\n", OK);
	mh_close(&h);
}

/* ---- AUTH ---- */

Test(smtp, auth_plain_challenge)
{
	struct mh h;
	char line[256];

	open_smtp(&h, NULL);
	mh_say(&h, "EHLO c\r\n", EHLO_PLAIN);
	mh_say(&h, "AUTH PLAIN\r\n", "334 \r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64n("\0bob\0secret", 11));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_eq(h.ctx.cr.method, AUTHM_PLAIN);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_str_eq(h.ctx.cr.passwd, "secret");
	cr_assert_str_eq(h.ctx.cr.helo, "c");
	mh_close(&h);
}

/* HELO/EHLO is not required before AUTH (nginx). */
Test(smtp, auth_plain_initial_response_without_helo)
{
	struct mh h;
	char line[256];

	open_smtp(&h, NULL);
	snprintf(line, sizeof(line), "auth plain %s\r\n", mh_b64n("admin\0bob\0pw", 12));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_str_eq(h.ctx.cr.passwd, "pw");
	cr_assert_null(h.ctx.cr.helo);
	mh_close(&h);
}

Test(smtp, auth_login_challenge)
{
	struct mh h;
	char line[256];

	open_smtp(&h, NULL);
	mh_say(&h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("bob@example.org"));
	mh_say(&h, line, "334 UGFzc3dvcmQ6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("s3cret"));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_eq(h.ctx.cr.method, AUTHM_PLAIN);
	cr_assert_str_eq(h.ctx.cr.login, "bob@example.org");
	cr_assert_str_eq(h.ctx.cr.passwd, "s3cret");
	mh_close(&h);
}

Test(smtp, auth_login_initial_response)
{
	struct mh h;
	char line[256];

	open_smtp(&h, NULL);
	snprintf(line, sizeof(line), "AUTH LOGIN %s\r\n", mh_b64("bob"));
	mh_say(&h, line, "334 UGFzc3dvcmQ6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("pw"));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_str_eq(h.ctx.cr.passwd, "pw");
	mh_close(&h);
}

Test(smtp, auth_cram_md5)
{
	struct mh h;
	char want[600], line[256];
	unsigned char salt[600];

	open_smtp(&h, "      smtp_auth: [plain, login, cram-md5]\n");
	cr_assert_eq(mh_sends(&h, "AUTH CRAM-MD5\r\n"), PA_OK);
	cr_assert_not_null(h.ctx.cr.salt);
	snprintf(want, sizeof(want), "334 %s\r\n", mh_b64(h.ctx.cr.salt));
	const char *out = mh_out(&h);
	cr_assert_str_eq(out, want);
	long n = b64_decode(out + 4, strlen(out) - 6, salt);
	cr_assert_gt(n, 0);
	salt[n] = '\0';
	cr_assert_str_eq((char *)salt, h.ctx.cr.salt);
	cr_assert_eq(strncmp((char *)salt, "<", 1), 0);
	cr_assert_not_null(strstr((char *)salt, "@mx.example.com>"));
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("bob 0123456789abcdef0123456789abcdef"));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_eq(h.ctx.cr.method, AUTHM_CRAM_MD5);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_str_eq(h.ctx.cr.passwd, "0123456789abcdef0123456789abcdef");
	mh_close(&h);
}

Test(smtp, auth_cram_md5_refusals)
{
	struct mh h;

	open_smtp(&h, NULL);
	mh_say(&h, "AUTH CRAM-MD5\r\n", INV);		/* not in smtp_auth */
	cr_assert_null(h.ctx.cr.salt);
	mh_close(&h);
	open_smtp(&h, "      smtp_auth: cram-md5\n");
	mh_say(&h, "AUTH CRAM-MD5 Ym9i\r\n", INV);	/* no initial response */
	mh_close(&h);
}

Test(smtp, auth_external)
{
	struct mh h;
	char line[256];

	open_smtp(&h, "      smtp_auth: [plain, external]\n");
	mh_say(&h, "AUTH EXTERNAL\r\n", "334 VXNlcm5hbWU6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("bob"));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_eq(h.ctx.cr.method, AUTHM_EXTERNAL);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_null(h.ctx.cr.passwd);
	creds_clear(&h.ctx.cr);
	cr_assert_eq(smtp_proto.auth_failed(&h.ctx, "no", NULL, 1), PA_OK);
	mh_out(&h);
	snprintf(line, sizeof(line), "AUTH EXTERNAL %s\r\n", mh_b64("alice"));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_str_eq(h.ctx.cr.login, "alice");
	mh_close(&h);
}

Test(smtp, auth_external_needs_smtp_auth)
{
	struct mh h;
	char line[256];

	open_smtp(&h, NULL);
	mh_say(&h, "AUTH EXTERNAL\r\n", INV);
	snprintf(line, sizeof(line), "AUTH EXTERNAL %s\r\n", mh_b64("bob"));
	mh_say(&h, line, INV);
	cr_assert_null(h.ctx.cr.login);
	mh_close(&h);
}

/* Only advertising depends on smtp_auth; PLAIN and LOGIN always work (nginx). */
Test(smtp, auth_plain_with_none_only)
{
	struct mh h;

	open_smtp(&h, NONE_YAML);
	mh_say(&h, "AUTH PLAIN\r\n", "334 \r\n");
	mh_say(&h, "*\r\n", INV);
	mh_say(&h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	mh_close(&h);
}

Test(smtp, auth_refusals)
{
	struct mh h;

	open_smtp(&h, NULL);
	h.conf->max_errors = 100;
	mh_say(&h, "AUTH\r\n", BAD_ARG);			/* nginx: 501, not counted */
	mh_say(&h, "AUTH   \r\n", BAD_ARG);
	cr_assert_eq(h.ctx.errors, 0);
	mh_say(&h, "AUTH DIGEST-MD5\r\n", INV);
	mh_say(&h, "AUTH XOAUTH2 dG9rZW4=\r\n", INV);
	mh_say(&h, "AUTH PLAIN a b\r\n", INV);
	mh_say(&h, "AUTH LOGIN a b\r\n", INV);
	cr_assert_eq(h.ctx.errors, 4);
	mh_close(&h);
}

/* nginx: under "starttls only" AUTH before TLS is an invalid command. */
Test(smtp, auth_refused_before_starttls)
{
	struct mh h;

	open_smtp(&h, NULL);
	h.conf->starttls = STARTTLS_ONLY;
	mh_say(&h, "AUTH PLAIN\r\n", INV);
	mh_say(&h, "AUTH\r\n", INV);
	mh_say(&h, "AUTH LOGIN Ym9i\r\n", INV);
	cr_assert_null(h.ctx.cr.login);
	cr_assert_eq(h.ctx.errors, 3);
	h.ctx.tls = 1;
	mh_say(&h, "AUTH PLAIN\r\n", "334 \r\n");
	mh_close(&h);
}

Test(smtp, sasl_bad_base64_and_cancel)
{
	struct mh h;

	open_smtp(&h, NULL);
	h.conf->max_errors = 100;
	mh_say(&h, "AUTH PLAIN\r\n", "334 \r\n");
	mh_say(&h, "%%%%\r\n", INV);
	cr_assert_str_eq(h.ctx.reason, "client sent invalid SASL data");
	mh_say(&h, "NOOP\r\n", OK);
	mh_say(&h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	mh_say(&h, "*\r\n", INV);
	mh_say(&h, "AUTH PLAIN\r\n", "334 \r\n");
	mh_say(&h, "\r\n", INV);
	mh_say(&h, "AUTH PLAIN Ym9i\r\n", INV);
	mh_say(&h, "AUTH PLAIN =\r\n", INV);
	cr_assert_eq(h.ctx.cr.method, 0);
	mh_close(&h);
}

Test(smtp, sasl_hostile_credentials)
{
	struct mh h;
	char line[256];

	open_smtp(&h, NULL);
	h.conf->max_errors = 100;
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", mh_b64n("\0bob\0pw\r\nRSET", 13));
	mh_say(&h, line, INV);
	cr_assert_str_eq(h.ctx.reason, "client sent credentials with CR, LF or NUL");
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", mh_b64n("\0b\0b\0pw", 7));
	mh_say(&h, line, INV);
	snprintf(line, sizeof(line), "AUTH LOGIN %s\r\n", mh_b64n("bob\n", 4));
	mh_say(&h, line, INV);
	mh_say(&h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("bob"));
	mh_say(&h, line, "334 UGFzc3dvcmQ6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64n("p\0w", 3));
	mh_say(&h, line, INV);
	cr_assert_null(h.ctx.cr.passwd);
	cr_assert_eq(h.ctx.cr.method, 0);
	mh_close(&h);
}

/* ---- MAIL / RCPT (smtp_auth none) ---- */

Test(smtp, mail_needs_auth)
{
	struct mh h;

	open_smtp(&h, NULL);
	mh_say(&h, "MAIL FROM:<a@example.org>\r\n", AUTH_REQ);
	cr_assert_str_eq(h.ctx.reason, "client was rejected: MAIL without authentication");
	cr_assert_null(h.ctx.cr.from);
	mh_say(&h, "RCPT TO:<b@example.org>\r\n", BAD_SEQ);
	cr_assert_eq(h.ctx.errors, 0);
	mh_close(&h);
}

Test(smtp, mail_rcpt_with_none)
{
	struct mh h;

	open_smtp(&h, NONE_YAML);
	mh_say(&h, "EHLO client.example\r\n", "250 mx.example.com\r\n");
	mh_say(&h, "MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME   \r\n", OK);
	cr_assert_str_eq(h.ctx.cr.from, "MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME");
	cr_assert_eq(mh_sends(&h, "rcpt TO:<b@example.org>\r\n"), PA_AUTH);
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_eq(h.ctx.cr.method, AUTHM_NONE);
	cr_assert_str_eq(h.ctx.cr.to, "rcpt TO:<b@example.org>");
	cr_assert_null(h.ctx.cr.login);
	cr_assert_null(h.ctx.cr.passwd);
	cr_assert_str_eq(h.ctx.cr.helo, "client.example");
	mh_close(&h);
}

Test(smtp, mail_rcpt_sequence_errors)
{
	struct mh h;

	open_smtp(&h, NONE_YAML);
	mh_say(&h, "RCPT TO:<b@example.org>\r\n", BAD_SEQ);
	mh_say(&h, "MAIL\r\n", BAD_ARG);
	mh_say(&h, "MAIL    \r\n", BAD_ARG);
	cr_assert_null(h.ctx.cr.from);
	cr_assert_eq(mh_send(&h, "MAIL FROM:<a\0b>\r\n", 17), PA_OK);
	cr_assert_str_eq(mh_out(&h), BAD_ARG);
	cr_assert_null(h.ctx.cr.from);
	mh_say(&h, "MAIL FROM:<a@example.org>\r\n", OK);
	mh_say(&h, "MAIL FROM:<c@example.org>\r\n", BAD_SEQ);
	cr_assert_str_eq(h.ctx.cr.from, "MAIL FROM:<a@example.org>");
	mh_say(&h, "RCPT\r\n", BAD_ARG);
	cr_assert_eq(mh_send(&h, "RCPT TO:<\0>\r\n", 13), PA_OK);
	cr_assert_str_eq(mh_out(&h), BAD_ARG);
	mh_say(&h, "RSET\r\n", OK);
	cr_assert_null(h.ctx.cr.from);
	mh_say(&h, "MAIL FROM:<>\r\n", OK);
	cr_assert_eq(mh_sends(&h, "RCPT TO:<postmaster>\r\n"), PA_AUTH);
	cr_assert_eq(h.ctx.errors, 0);
	mh_close(&h);
}

/* nginx CVE-2025-53859: what an abandoned AUTH left must not reach the auth service with MAIL. */
Test(smtp, mail_forgets_stale_credentials)
{
	struct mh h;
	char line[256];

	open_smtp(&h, NONE_YAML);
	mh_say(&h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("bob"));
	mh_say(&h, line, "334 UGFzc3dvcmQ6\r\n");
	mh_say(&h, "not-base64\r\n", INV);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	mh_say(&h, "MAIL FROM:<a@example.org>\r\n", OK);
	cr_assert_null(h.ctx.cr.login);
	cr_assert_null(h.ctx.cr.passwd);
	cr_assert_eq(mh_sends(&h, "RCPT TO:<b@example.org>\r\n"), PA_AUTH);
	cr_assert_null(h.ctx.cr.login);
	cr_assert_eq(h.ctx.cr.method, AUTHM_NONE);
	mh_close(&h);
}

/* ---- RSET, NOOP, QUIT, STARTTLS, invalid commands ---- */

Test(smtp, rset_noop_quit)
{
	struct mh h;

	open_smtp(&h, NULL);
	mh_say(&h, "RSET\r\n", OK);
	mh_say(&h, "noop\r\n", OK);
	mh_say(&h, "NOOP whatever\r\n", OK);
	cr_assert_eq(mh_sends(&h, "QUIT\r\nNOOP\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), "221 2.0.0 Bye\r\n");
	cr_assert_null(h.ctx.reason);
	mh_close(&h);
}

Test(smtp, starttls)
{
	struct mh h;

	open_smtp(&h, NONE_YAML);
	mh_say(&h, "STARTTLS\r\n", INV);			/* starttls off */
	h.conf->starttls = STARTTLS_ON;
	mh_say(&h, "EHLO plain.example\r\n", "250-mx.example.com\r\n250 STARTTLS\r\n");
	mh_say(&h, "MAIL FROM:<a@example.org>\r\n", OK);
	/* RFC 3207, CVE-2014-3556: pipelined plaintext is dropped, what was said forgotten. */
	cr_assert_eq(mh_sends(&h, "starttls\r\nRCPT TO:<evil@example.org>\r\n"), PA_STARTTLS);
	cr_assert_str_eq(mh_out(&h), "220 2.0.0 Start TLS\r\n");
	cr_assert_eq(mh_unread(&h), 0);
	cr_assert_null(h.ctx.cr.helo);
	cr_assert_null(h.ctx.cr.from);
	cr_assert_null(h.ctx.cr.to);
	cr_assert_null(h.ctx.u.smtp.helo);
	cr_assert_eq(h.ctx.u.smtp.ehlo, 0);
	h.ctx.tls = 1;
	mh_say(&h, "STARTTLS\r\n", INV);			/* already TLS */
	mh_say(&h, "RCPT TO:<b@example.org>\r\n", BAD_SEQ);
	mh_close(&h);
}

Test(smtp, starttls_only_allows_helo_and_starttls)
{
	struct mh h;

	open_smtp(&h, NULL);
	h.conf->starttls = STARTTLS_ONLY;
	mh_say(&h, "HELO c\r\n", "250 mx.example.com\r\n");
	cr_assert_eq(mh_sends(&h, "STARTTLS\r\n"), PA_STARTTLS);
	cr_assert_str_eq(mh_out(&h), "220 2.0.0 Start TLS\r\n");
	mh_close(&h);
}

Test(smtp, invalid_commands)
{
	struct mh h;
	static const char *const bad[] = {
		"VRFY bob\r\n", "EXPN staff\r\n", "HELP\r\n", "DATA\r\n", "BDAT 10 LAST\r\n", "TURN\r\n",
		"XCLIENT ADDR=1.2.3.4\r\n", "STARTTLSX\r\n", "START TLS\r\n", "\r\n", "\n", " HELO x\r\n",
		"HEL0 x\r\n", "HELO\tx\r\n", "M\xc3\x84IL FROM:<a>\r\n", "GET / HTTP/1.0\r\n",
		"NOOP\rx\r\n", "USER bob\r\n",
	};

	open_smtp(&h, NULL);
	h.conf->max_errors = 1000;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		mh_say(&h, bad[i], INV);
	cr_assert_eq(mh_send(&h, "NO\0P\r\n", 6), PA_OK);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_eq(h.ctx.errors, sizeof(bad) / sizeof(bad[0]) + 1);
	mh_close(&h);
}

/* nginx refuses a twelfth argument in its parser. */
Test(smtp, too_many_arguments)
{
	struct mh h;

	open_smtp(&h, NONE_YAML);
	mh_say(&h, "MAIL FROM:<a@b> 1 2 3 4 5 6 7 8 9 10\r\n", OK);
	mh_say(&h, "RSET\r\n", OK);
	mh_say(&h, "MAIL FROM:<a@b> 1 2 3 4 5 6 7 8 9 10 11\r\n", INV);
	cr_assert_null(h.ctx.cr.from);
	mh_close(&h);
}

Test(smtp, max_errors)
{
	struct mh h;

	open_smtp(&h, NULL);
	cr_assert_eq(h.conf->max_errors, 5);
	for (int i = 0; i < 4; i++) {
		mh_say(&h, "DATA\r\n", INV);
		mh_say(&h, "NOOP\r\n", OK);
	}
	cr_assert_eq(mh_sends(&h, "VRFY x\r\nNOOP\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_str_eq(h.ctx.reason, "client sent too many invalid commands");
	cr_assert_eq(mh_unread(&h), 6);
	mh_close(&h);
}

/* ---- max_commands (freenginx): the limit-th is served, the next refused and closed ---- */

Test(smtp, max_commands_serves_the_limit_then_closes)
{
	struct mh h;

	open_smtp(&h, NONE_YAML "      max_commands: 3\n");
	mh_say(&h, "EHLO client.example\r\n", "250 mx.example.com\r\n");
	mh_say(&h, "NOOP\r\n", OK);
	mh_say(&h, "MAIL FROM:<a@b>\r\n", OK);
	cr_assert_eq(mh_sends(&h, "RCPT TO:<c@d>\r\n"), PA_CLOSE, "past the cap RCPT is not served");
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_null(h.ctx.cr.to);
	cr_assert_str_eq(h.ctx.reason, "client sent too many commands");
	mh_close(&h);
}

Test(smtp, max_commands_pipelined_and_default)
{
	struct mh h;

	open_smtp(&h, "      max_commands: 2\n");
	cr_assert_eq(mh_sends(&h, "NOOP\r\nRSET\r\nNOOP\r\nQUIT\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), OK OK INV);
	cr_assert_eq(mh_unread(&h), 6, "QUIT is never read");
	mh_close(&h);

	open_smtp(&h, NULL);
	cr_assert_eq(h.conf->max_commands, 1000);
	for (int i = 0; i < 1000; i++)
		mh_say(&h, "NOOP\r\n", OK);
	cr_assert_eq(mh_sends(&h, "NOOP\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	mh_close(&h);
}

/* Each SASL answer counts; a failed login and STARTTLS reset nothing; a bare CR line is an error. */
Test(smtp, max_commands_what_counts)
{
	struct mh h;

	open_smtp(&h, "      max_commands: 5\n");
	h.conf->starttls = STARTTLS_ON;
	mh_say(&h, "AUTH PLAIN\r\n", "334 \r\n");		/* 1 */
	cr_assert_eq(mh_sends(&h, "AGJvYgBwdw==\r\n"), PA_AUTH);	/* 2 */
	creds_clear(&h.ctx.cr);
	cr_assert_eq(smtp_proto.auth_failed(&h.ctx, "Invalid login", NULL, 1), PA_OK);
	mh_say(&h, "NO\rOP\r\n", "535 5.7.0 Invalid login\r\n" INV);
	cr_assert_eq(mh_sends(&h, "STARTTLS\r\n"), PA_STARTTLS);	/* 3 */
	cr_assert_str_eq(mh_out(&h), "220 2.0.0 Start TLS\r\n");
	h.ctx.tls = 1;
	mh_say(&h, "EHLO client.example\r\n", EHLO_PLAIN);	/* 4 */
	mh_say(&h, "NOOP\r\n", OK);				/* 5 */
	cr_assert_eq(mh_sends(&h, "AUTH PLAIN AGJvYgBwdw==\r\n"), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_eq(h.ctx.commands, 6);
	cr_assert_eq(h.ctx.errors, 2, "the bare CR, and the refusal");
	mh_close(&h);
}

/* ---- line limits, splits, pipelining ---- */

Test(smtp, too_long_line)
{
	struct mh h;
	char line[300];

	open_smtp(&h, "      smtp_client_buffer: 128\n");
	memset(line, 'h', sizeof(line));
	memcpy(line, "EHLO ", 5);
	memcpy(line + 126, "\r\n", 2);
	cr_assert_eq(mh_send(&h, line, 128), PA_OK);
	cr_assert_str_eq(mh_out(&h), EHLO_PLAIN);
	memcpy(line + 126, "hh\r\n", 4);
	cr_assert_eq(mh_send(&h, line, 130), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	cr_assert_str_eq(h.ctx.reason, "client sent too long command");
	cr_assert_eq(strlen(h.ctx.cr.helo), 121);
	mh_close(&h);
}

Test(smtp, too_long_sasl_line)
{
	struct mh h;
	char line[300];

	open_smtp(&h, "      smtp_client_buffer: 128\n");
	mh_say(&h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	memset(line, 'Q', sizeof(line));
	cr_assert_eq(mh_send(&h, line, sizeof(line)), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), INV);
	mh_close(&h);
}

Test(smtp, truncated_input_waits)
{
	struct mh h;

	open_smtp(&h, NULL);
	cr_assert_eq(mh_sends(&h, "EHLO client.exa"), PA_AGAIN);
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_null(h.ctx.cr.helo);
	cr_assert_eq(mh_sends(&h, "mple\r"), PA_AGAIN);
	mh_say(&h, "\n", EHLO_PLAIN);
	cr_assert_str_eq(h.ctx.cr.helo, "client.example");
	mh_close(&h);
}

#define PIPE "EHLO client.example\r\nNOOP\r\nVRFY x\r\nMAIL FROM:<a@example.org>\r\n" \
	"RCPT TO:<b@example.org>\r\nDATA\r\n"
#define PIPE_OUT "250 mx.example.com\r\n" OK INV OK

Test(smtp, pipelined_commands)
{
	struct mh h;

	open_smtp(&h, NONE_YAML);
	cr_assert_eq(mh_sends(&h, PIPE), PA_AUTH);
	cr_assert_eq(h.commands, 5);
	cr_assert_str_eq(mh_out(&h), PIPE_OUT);
	cr_assert_str_eq(h.ctx.cr.to, "RCPT TO:<b@example.org>");
	cr_assert_eq(mh_unread(&h), 6);			/* DATA waits for the auth service */
	mh_close(&h);
}

Test(smtp, pipelined_commands_split_everywhere)
{
	for (size_t chunk = 1; chunk <= 4; chunk++) {
		struct mh h;

		open_smtp(&h, NONE_YAML);
		h.chunk = chunk;
		cr_assert_eq(mh_sends(&h, PIPE), PA_AUTH);
		cr_assert_str_eq(mh_out(&h), PIPE_OUT, "chunk %zu", chunk);
		cr_assert_str_eq(h.ctx.cr.from, "MAIL FROM:<a@example.org>");
		mh_close(&h);
	}
}

Test(smtp, pipelined_auth)
{
	struct mh h;
	char in[512];

	open_smtp(&h, NULL);
	snprintf(in, sizeof(in), "EHLO c\r\nAUTH LOGIN\r\n%s\r\n%s\r\nMAIL FROM:<a@b>\r\n", mh_b64("bob"),
	    mh_b64("pw"));
	cr_assert_eq(mh_sends(&h, in), PA_AUTH);
	cr_assert_str_eq(mh_out(&h), EHLO_PLAIN "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n");
	cr_assert_eq(mh_unread(&h), 17);
	mh_close(&h);
}

/* ---- auth_failed ---- */

Test(smtp, auth_failed_default_code)
{
	struct mh h;
	char line[256];

	open_smtp(&h, NULL);
	mh_say(&h, "EHLO client.example\r\n", EHLO_PLAIN);
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\nNOOP\r\n", mh_b64n("\0bob\0pw", 7));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	/* The session clears the credentials first; the HELO name survives. */
	creds_clear(&h.ctx.cr);
	cr_assert_eq(smtp_proto.auth_failed(&h.ctx, "Invalid login or password", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(&h), "535 5.7.0 Invalid login or password\r\n");
	cr_assert_str_eq(h.ctx.cr.helo, "client.example");
	cr_assert_eq(mh_resume(&h), PA_OK);
	cr_assert_str_eq(mh_out(&h), OK);
	mh_close(&h);
}

Test(smtp, auth_failed_with_code)
{
	struct mh h;

	open_smtp(&h, NULL);
	mh_say(&h, "AUTH PLAIN\r\n", "334 \r\n");
	cr_assert_eq(mh_sends(&h, "AGJvYgBwdw==\r\n"), PA_AUTH);
	creds_clear(&h.ctx.cr);
	cr_assert_eq(smtp_proto.auth_failed(&h.ctx, "Temporary failure", "454 4.7.0", 0), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), "454 4.7.0 Temporary failure\r\n");
	cr_assert_null(h.ctx.cr.helo);
	mh_close(&h);
}
