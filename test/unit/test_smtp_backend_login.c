/*
 * The SMTP backend login the auth service chooses per login with
 * Auth-Method (proxy_smtp_auth on; #14 item 5): "login" gives AUTH LOGIN
 * with its two 334 challenges (Exchange), "none" no AUTH at all and the
 * login in XCLIENT, "plain" or nothing AUTH PLAIN as before; with and
 * without XCLIENT, and against refusals and unexpected replies.
 */
#include <stdio.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/auth_http_proto.h"
#include "worker/proto/proto_util.h"
#include "worker/session/backend_facts.h"

TestSuite(smtp_backend_login, .init = th_setup, .fini = th_teardown);

#define PSA "      proxy_smtp_auth: on\n"

/*
 * A client that said "EHLO client.example" and logged in as bob; the auth
 * service answered be_auth for user/pass. The backend greets; with XCLIENT
 * the greetings and XCLIENT are answered, so the next command is the AUTH.
 */
static void
to_auth(struct mh *h, const char *yaml, int be_auth, const char *user, const char *pass,
    const char *want_xclient)
{
	char line[128];

	mh_open(h, "25", NULL, yaml);
	mh_out(h);
	h->ctx.be_facts = BF_SMTP_EHLO_FIRST;
	cr_assert_eq(mh_sends(h, "EHLO client.example\r\n"), PA_OK);
	mh_out(h);
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", mh_b64n("\0bob\0pw", 7));
	cr_assert_eq(mh_sends(h, line), PA_AUTH);
	h->ctx.be_login = user;
	h->ctx.be_passwd = pass;
	h->ctx.be_auth = (uint8_t)be_auth;
	cr_assert_eq(smtp_backend_line(&h->ctx, NULL, 0), BA_CONTINUE);
	cr_assert_eq(mh_be(h, "220 backend.example ESMTP"), BA_CONTINUE);
	if (h->conf->xclient) {
		cr_assert_str_eq(mh_bout(h), "EHLO mx.example.com\r\n");
		cr_assert_eq(mh_be(h, "250 ok"), BA_CONTINUE);
		cr_assert_str_eq(mh_bout(h), want_xclient);
		cr_assert_eq(mh_be(h, "220 ok"), BA_CONTINUE);
	}
	cr_assert_str_eq(mh_bout(h), "EHLO client.example\r\n");
}

Test(smtp_backend_login, auth_login_dialogue)
{
	static const char *const yaml[] = { PSA, PSA "      xclient: off\n" };

	for (size_t i = 0; i < 2; i++) {
		struct mh h;
		to_auth(&h, yaml[i], BE_AUTH_LOGIN, "bob@example.org", "real secret",
		    "XCLIENT PROTO=ESMTP HELO=client.example ADDR=192.0.2.7 NAME=[UNAVAILABLE]\r\n");
		cr_assert_eq(mh_be(&h, "250-backend.example"), BA_CONTINUE);
		cr_assert_eq(mh_be(&h, "250 AUTH LOGIN"), BA_CONTINUE);
		cr_assert_str_eq(mh_bout(&h), "AUTH LOGIN\r\n", "no initial response");
		cr_assert_eq(mh_be(&h, "334 VXNlcm5hbWU6"), BA_CONTINUE);
		cr_assert_str_eq(mh_bout(&h), "Ym9iQGV4YW1wbGUub3Jn\r\n");	/* bob@example.org */
		cr_assert_eq(mh_be(&h, "334 UGFzc3dvcmQ6"), BA_CONTINUE);
		cr_assert_str_eq(mh_bout(&h), "cmVhbCBzZWNyZXQ=\r\n");	/* real secret */
		cr_assert_str_eq(mh_out(&h), "");
		cr_assert_eq(mh_be(&h, "235 2.7.0 Authentication successful"), BA_DONE);
		cr_assert_str_eq(mh_out(&h), "235 2.0.0 OK\r\n");
		mh_close(&h);
	}
}

Test(smtp_backend_login, auth_login_refused_or_garbled)
{
	struct mh h;

	to_auth(&h, PSA, BE_AUTH_LOGIN, "bob", "bad", "XCLIENT PROTO=ESMTP HELO=client.example "
	    "ADDR=192.0.2.7 NAME=[UNAVAILABLE]\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "AUTH LOGIN\r\n");
	cr_assert_eq(mh_be(&h, "334 VXNlcm5hbWU6"), BA_CONTINUE);
	mh_bout(&h);
	cr_assert_eq(mh_be(&h, "334 UGFzc3dvcmQ6"), BA_CONTINUE);
	mh_bout(&h);
	cr_assert_eq(mh_be(&h, "535 5.7.8 Error: authentication failed"), BA_REFUSED);
	cr_assert_str_eq(mh_out(&h), "");
	mh_close(&h);

	/* A backend without AUTH LOGIN answers 504 at once. */
	to_auth(&h, PSA "      xclient: off\n", BE_AUTH_LOGIN, "bob", "pw", NULL);
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	mh_bout(&h);
	cr_assert_eq(mh_be(&h, "504 5.5.4 Unrecognized authentication type"), BA_REFUSED);
	mh_close(&h);

	/* 235 where a challenge belongs, or a challenge where 235 belongs: invalid. */
	to_auth(&h, PSA "      xclient: off\n", BE_AUTH_LOGIN, "bob", "pw", NULL);
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	mh_bout(&h);
	cr_assert_eq(mh_be(&h, "235 2.7.0 too early"), BA_INVALID);
	mh_close(&h);
	to_auth(&h, PSA "      xclient: off\n", BE_AUTH_LOGIN, "bob", "pw", NULL);
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_eq(mh_be(&h, "334 VXNlcm5hbWU6"), BA_CONTINUE);
	cr_assert_eq(mh_be(&h, "334 UGFzc3dvcmQ6"), BA_CONTINUE);
	cr_assert_eq(mh_be(&h, "334 more?"), BA_INVALID);
	mh_close(&h);
}

Test(smtp_backend_login, auth_login_without_password_is_internal_error)
{
	struct mh h;

	to_auth(&h, PSA "      xclient: off\n", BE_AUTH_LOGIN, "bob", NULL, NULL);
	cr_assert_eq(mh_be(&h, "250 ok"), BA_ERROR);
	cr_assert_str_eq(h.ctx.reason, "no password available");
	cr_assert_str_eq(mh_bout(&h), "");
	mh_close(&h);
}

/* none: no AUTH; with XCLIENT the login goes in LOGIN=, as without proxy_smtp_auth. */
Test(smtp_backend_login, none_sends_no_auth)
{
	struct mh h;

	to_auth(&h, PSA, BE_AUTH_NONE, "bob@example.org", NULL, "XCLIENT PROTO=ESMTP "
	    "HELO=client.example ADDR=192.0.2.7 LOGIN=bob@example.org NAME=[UNAVAILABLE]\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_DONE, "no password needed");
	cr_assert_str_eq(mh_bout(&h), "");
	cr_assert_str_eq(mh_out(&h), "235 2.0.0 OK\r\n");
	mh_close(&h);
	to_auth(&h, PSA "      xclient: off\n", BE_AUTH_NONE, "bob", "pw", NULL);
	cr_assert_eq(mh_be(&h, "250 ok"), BA_DONE);
	cr_assert_str_eq(mh_bout(&h), "");
	mh_close(&h);
}

/* plain and no Auth-Method: AUTH PLAIN, as before; without proxy_smtp_auth the header changes nothing. */
Test(smtp_backend_login, plain_and_default)
{
	static const int ms[] = { BE_AUTH_DEFAULT, BE_AUTH_PLAIN };

	for (size_t i = 0; i < 2; i++) {
		struct mh h;
		to_auth(&h, PSA "      xclient: off\n", ms[i], "bob", "pw", NULL);
		cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
		cr_assert_str_eq(mh_bout(&h), "AUTH PLAIN AGJvYgBwdw==\r\n");
		mh_close(&h);
	}
	struct mh h;
	to_auth(&h, "      xclient: off\n", BE_AUTH_LOGIN, "bob", "pw", NULL);
	cr_assert_eq(mh_be(&h, "250 ok"), BA_DONE);
	cr_assert_str_eq(mh_bout(&h), "");
	mh_close(&h);
}
