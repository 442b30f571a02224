/*
 * POP3 logins: AUTH PLAIN/LOGIN/CRAM-MD5/EXTERNAL through worker/proto/pop3.c,
 * with and without an initial response, malformed and hostile SASL data.
 * Exact bytes throughout. The backend login: test_pop3_backend.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl.h"

TestSuite(pop3_auth, .init = th_setup, .fini = th_teardown);

#define INV "-ERR invalid command\r\n"
#define DIGEST "0123456789abcdefABCDEF0123456789"

static void
open_pop3(struct mh *h, const char *server_yaml)
{
	mh_open(h, "110", NULL, server_yaml);
}

static void
open_default(struct mh *h)
{
	open_pop3(h, NULL);
	cr_assert_str_eq(mh_out(h), "+OK POP3 ready\r\n");
}

Test(pop3_auth, auth_list)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "AUTH\r\n", "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\n.\r\n");
	mh_say(&h, "auth   \r\n", "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\n.\r\n");
	mh_close(&h);
}

Test(pop3_auth, auth_plain_challenge)
{
	struct mh h;
	char line[256];

	open_default(&h);
	mh_say(&h, "AUTH PLAIN\r\n", "+ \r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64n("\0bob\0secret", 11));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_eq(h.ctx.cr.method, AUTHM_PLAIN);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_str_eq(h.ctx.cr.passwd, "secret");
	mh_close(&h);
}

Test(pop3_auth, auth_plain_initial_response_with_authzid)
{
	struct mh h;
	char line[256];

	open_default(&h);
	snprintf(line, sizeof(line), "auth plain %s\r\n", mh_b64n("admin\0bob\0pass word", 19));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_str_eq(h.ctx.cr.login, "bob");	/* authcid, as nginx */
	cr_assert_str_eq(h.ctx.cr.passwd, "pass word");
	mh_close(&h);
}

Test(pop3_auth, auth_login_challenge)
{
	struct mh h;
	char line[256];

	open_default(&h);
	mh_say(&h, "AUTH LOGIN\r\n", "+ VXNlcm5hbWU6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("bob"));
	mh_say(&h, line, "+ UGFzc3dvcmQ6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("secret"));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_eq(h.ctx.cr.method, AUTHM_PLAIN);	/* nginx: Auth-Method plain */
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_str_eq(h.ctx.cr.passwd, "secret");
	mh_close(&h);
}

Test(pop3_auth, auth_login_initial_response)
{
	struct mh h;
	char line[256];

	open_default(&h);
	snprintf(line, sizeof(line), "AUTH LOGIN %s\r\n", mh_b64("bob"));
	mh_say(&h, line, "+ UGFzc3dvcmQ6\r\n");
	/* An empty password is a password. */
	cr_assert_eq(mh_sends(&h, "\r\n"), PA_AUTH);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_str_eq(h.ctx.cr.passwd, "");
	mh_close(&h);
}

/* Only advertising depends on pop3_auth; PLAIN and LOGIN always work (nginx). */
Test(pop3_auth, auth_plain_login_without_plain_configured)
{
	struct mh h;
	char line[256];

	open_pop3(&h, "      pop3_auth: apop\n");
	mh_out(&h);
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", mh_b64n("\0bob\0pw", 7));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	creds_clear(&h.ctx.cr);
	cr_assert_eq(pop3_proto.auth_failed(&h.ctx, "no", NULL, 1), PA_OK);
	mh_out(&h);
	mh_say(&h, "AUTH LOGIN\r\n", "+ VXNlcm5hbWU6\r\n");
	mh_close(&h);
}

Test(pop3_auth, auth_cram_md5)
{
	struct mh h;
	char want[600], line[256];

	open_pop3(&h, "      pop3_auth: [plain, cram-md5]\n");
	mh_out(&h);
	snprintf(want, sizeof(want), "+ %s\r\n", mh_b64(h.ctx.cr.salt));
	mh_say(&h, "AUTH CRAM-MD5\r\n", want);
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("bob " DIGEST));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_eq(h.ctx.cr.method, AUTHM_CRAM_MD5);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_str_eq(h.ctx.cr.passwd, DIGEST);
	/* After a refusal the same timestamp is offered again, as nginx does. */
	creds_clear(&h.ctx.cr);
	cr_assert_eq(pop3_proto.auth_failed(&h.ctx, "no", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(&h), "-ERR no\r\n");
	mh_say(&h, "auth cram-md5\r\n", want);
	mh_close(&h);
}

Test(pop3_auth, auth_cram_md5_refusals)
{
	struct mh h;
	char line[256];

	open_pop3(&h, "      pop3_auth: [plain, cram-md5]\n");
	mh_out(&h);
	h.conf->max_errors = 100;
	mh_say(&h, "AUTH CRAM-MD5 Ym9i\r\n", INV);		/* no initial response */
	cr_assert_eq(mh_sends(&h, "AUTH CRAM-MD5\r\n"), PA_OK);
	cr_assert_eq(strncmp(mh_out(&h), "+ PD", 4), 0);	/* "+ " base64("<") */
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("bob 0123"));	/* short digest */
	mh_say(&h, line, INV);
	cr_assert_eq(mh_sends(&h, "AUTH CRAM-MD5\r\n"), PA_OK);
	cr_assert_eq(strncmp(mh_out(&h), "+ PD", 4), 0);
	snprintf(line, sizeof(line), "%s\r\n", mh_b64(DIGEST));	/* no user */
	mh_say(&h, line, INV);
	cr_assert_eq(h.ctx.cr.method, 0);
	mh_close(&h);
}

Test(pop3_auth, auth_cram_md5_needs_pop3_auth)
{
	struct mh h;

	open_default(&h);
	mh_say(&h, "AUTH CRAM-MD5\r\n", INV);
	cr_assert_null(h.ctx.cr.salt);
	mh_close(&h);
}

Test(pop3_auth, auth_external)
{
	struct mh h;
	char line[256];

	open_pop3(&h, "      pop3_auth: [plain, external]\n");
	mh_out(&h);
	mh_say(&h, "AUTH EXTERNAL\r\n", "+ VXNlcm5hbWU6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("bob"));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_eq(h.ctx.cr.method, AUTHM_EXTERNAL);
	cr_assert_str_eq(h.ctx.cr.login, "bob");
	cr_assert_null(h.ctx.cr.passwd);
	creds_clear(&h.ctx.cr);
	cr_assert_eq(pop3_proto.auth_failed(&h.ctx, "no", NULL, 1), PA_OK);
	mh_out(&h);

	snprintf(line, sizeof(line), "AUTH EXTERNAL %s\r\n", mh_b64("alice"));
	cr_assert_eq(mh_sends(&h, line), PA_AUTH);
	cr_assert_str_eq(h.ctx.cr.login, "alice");
	creds_clear(&h.ctx.cr);
	pop3_proto.auth_failed(&h.ctx, "no", NULL, 1);
	mh_out(&h);

	/* "=": an empty initial response; the identity then comes from the certificate. */
	cr_assert_eq(mh_sends(&h, "AUTH EXTERNAL =\r\n"), PA_AUTH);
	cr_assert_str_eq(h.ctx.cr.login, "");
	mh_close(&h);
}

Test(pop3_auth, auth_external_needs_pop3_auth)
{
	struct mh h;
	char line[256];

	open_default(&h);
	mh_say(&h, "AUTH EXTERNAL\r\n", INV);
	snprintf(line, sizeof(line), "AUTH EXTERNAL %s\r\n", mh_b64("bob"));
	mh_say(&h, line, INV);
	cr_assert_null(h.ctx.cr.login);
	mh_close(&h);
}

Test(pop3_auth, auth_refusals)
{
	struct mh h;

	open_default(&h);
	h.conf->max_errors = 100;
	mh_say(&h, "AUTH DIGEST-MD5\r\n", INV);
	mh_say(&h, "AUTH XOAUTH2 abc\r\n", INV);
	mh_say(&h, "AUTH PLAIN a b\r\n", INV);
	mh_say(&h, "AUTH LOGIN a b\r\n", INV);
	mh_say(&h, "AUTH PLAIN a b c\r\n", INV);	/* a fourth argument: parse error */
	h.conf->starttls = STARTTLS_ONLY;
	mh_say(&h, "AUTH\r\n", INV);
	mh_say(&h, "AUTH PLAIN\r\n", INV);
	h.ctx.tls = 1;
	mh_say(&h, "AUTH PLAIN\r\n", "+ \r\n");
	cr_assert_eq(h.ctx.errors, 7);
	mh_close(&h);
}

Test(pop3_auth, sasl_bad_base64_and_cancel)
{
	struct mh h;

	open_default(&h);
	h.conf->max_errors = 100;
	mh_say(&h, "AUTH PLAIN\r\n", "+ \r\n");
	mh_say(&h, "not base64!\r\n", INV);
	cr_assert_str_eq(h.ctx.reason, "client sent invalid SASL data");
	/* Back at the start: a command works again. */
	mh_say(&h, "NOOP\r\n", "+OK\r\n");
	mh_say(&h, "AUTH PLAIN\r\n", "+ \r\n");
	mh_say(&h, "*\r\n", INV);				/* no cancel in nginx */
	mh_say(&h, "AUTH PLAIN\r\n", "+ \r\n");
	mh_say(&h, "\r\n", INV);				/* empty */
	mh_say(&h, "AUTH PLAIN\r\n", "+ \r\n");
	mh_say(&h, "Ym9i\r\n", INV);			/* "bob": no NULs */
	mh_say(&h, "AUTH PLAIN Ym9i=\r\n", INV);		/* bad padding */
	mh_say(&h, "AUTH LOGIN\r\n", "+ VXNlcm5hbWU6\r\n");
	mh_say(&h, "\r\n", INV);				/* empty user name */
	mh_say(&h, "AUTH LOGIN\r\n", "+ VXNlcm5hbWU6\r\n");
	mh_say(&h, "Ym9i Ym9i\r\n", INV);
	cr_assert_eq(h.ctx.cr.method, 0);
	mh_close(&h);
}

/* Decoded credentials with CR, LF or NUL never leave the machine. */
Test(pop3_auth, sasl_hostile_credentials)
{
	struct mh h;
	char line[256];
	static const struct {
		const char *raw;
		size_t n;
	} plain[] = {
		{ "\0bob\0pa\r\nss", 11 }, { "\0b\nob\0pass", 10 }, { "\0bob\0pa\0ss", 10 },
		{ "\0bob\rRCPT\0x", 11 },
	};

	open_default(&h);
	h.conf->max_errors = 100;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", mh_b64n(plain[i].raw, plain[i].n));
		mh_say(&h, line, INV);
		cr_assert_str_eq(h.ctx.reason, "client sent credentials with CR, LF or NUL");
	}
	mh_say(&h, "AUTH LOGIN\r\n", "+ VXNlcm5hbWU6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64n("bob\r\nQUIT", 9));
	mh_say(&h, line, INV);
	snprintf(line, sizeof(line), "AUTH LOGIN %s\r\n", mh_b64("bob"));
	mh_say(&h, line, "+ UGFzc3dvcmQ6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64n("pw\0", 3));
	mh_say(&h, line, INV);
	cr_assert_null(h.ctx.cr.passwd);
	mh_close(&h);
}
