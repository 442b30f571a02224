/*
 * The SMTP backend login (worker/proto/smtp_backend.c) after a client logged in
 * through worker/proto/smtp.c: the exact commands sent - EHLO, XCLIENT with xtext
 * (IPv6, unknown host), the client's HELO/EHLO, AUTH PLAIN, the MAIL/RCPT
 * replay of smtp_auth none - against scripted backends with multi-line
 * replies, and against refusals, garbage and truncated replies, and the
 * AUTH that cannot be sent for want of a password. Most use a
 * backend known to want EHLO before XCLIENT (nginx's order); the last ones
 * XCLIENT right after the greeting, and the fallback when it is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl.h"
#include "worker/session/backend_facts.h"

TestSuite(smtp_backend, .init = th_setup, .fini = th_teardown);

#define GREETING "220 mx.example.com ESMTP ready\r\n"
#define OK "250 2.0.0 OK\r\n"
#define EHLO_PLAIN "250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n"
#define NONE_YAML "      smtp_auth: none\n"

/* An SMTP session whose backend will be one known to want EHLO before XCLIENT. */
static void
open_smtp(struct mh *h, const char *server_yaml)
{
	mh_open(h, "25", NULL, server_yaml);
	cr_assert_str_eq(mh_out(h), GREETING);
	h->ctx.be_facts = BF_SMTP_EHLO_FIRST;
}

#define BE_EHLO_REPLY(h) do {							\
	cr_assert_eq(mh_be((h), "250-backend.example"), BA_CONTINUE);		\
	cr_assert_eq(mh_be((h), "250-PIPELINING"), BA_CONTINUE);		\
	cr_assert_eq(mh_be((h), "250-XCLIENT NAME ADDR PROTO HELO LOGIN"), BA_CONTINUE); \
	cr_assert_str_eq(mh_bout(h), "");					\
} while (0)

/*
 * A client that said "EHLO client.example" and logged in as login; then
 * the backend, of which facts (BF_*) are known, connects (line NULL) and
 * greets with a multi-line 220.
 */
static void
be_open_facts(struct mh *h, const char *server_yaml, const char *login, const char *passwd,
    unsigned facts)
{
	char line[256];

	open_smtp(h, server_yaml);
	cr_assert_eq(mh_sends(h, "EHLO client.example\r\n"), PA_OK);
	mh_out(h);
	if (h->conf->smtp_auth & AUTHM_NONE) {
		mh_say(h, "MAIL FROM:<a@example.org>\r\n", OK);
		cr_assert_eq(mh_sends(h, "RCPT TO:<b@example.org>\r\n"), PA_AUTH);
	} else {
		snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", mh_b64n("\0bob\0pw", 7));
		cr_assert_eq(mh_sends(h, line), PA_AUTH);
	}
	h->ctx.be_login = login;
	h->ctx.be_passwd = passwd;
	h->ctx.be_facts = (uint8_t)facts;
	cr_assert_eq(smtp_backend_line(&h->ctx, NULL, 0), BA_CONTINUE);
	cr_assert_eq(mh_be(h, "220-backend.example ESMTP"), BA_CONTINUE);
	cr_assert_eq(mh_be(h, "220-second line"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(h), "");
	cr_assert_eq(mh_be(h, "220 backend.example ESMTP Postfix"), BA_CONTINUE);
	cr_assert_str_eq(mh_out(h), "");
}

/* The same with a backend known to want EHLO before XCLIENT: nginx's order throughout. */
static void
be_open(struct mh *h, const char *server_yaml, const char *login, const char *passwd)
{
	be_open_facts(h, server_yaml, login, passwd, BF_SMTP_EHLO_FIRST);
}

Test(smtp_backend, backend_xclient_login)
{
	struct mh h;

	be_open(&h, NULL, "bob", "pw");
	h.ctx.client_host = "host.client.example";
	cr_assert_str_eq(mh_bout(&h), "EHLO mx.example.com\r\n");
	BE_EHLO_REPLY(&h);
	cr_assert_eq(mh_be(&h, "250 8BITMIME"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "XCLIENT PROTO=ESMTP HELO=client.example ADDR=192.0.2.7 "
	    "LOGIN=bob NAME=host.client.example\r\n");
	cr_assert_eq(mh_be(&h, "220 backend.example ESMTP Postfix"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
	BE_EHLO_REPLY(&h);
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_eq(mh_be(&h, "250 DSN"), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "235 2.0.0 OK\r\n");
	cr_assert_str_eq(mh_bout(&h), "");
	mh_close(&h);
}

/* The seed's XCLIENT with xtext everywhere, the unknown client host, IPv6. */
Test(smtp_backend, backend_xclient_xtext_ipv6_unavailable)
{
	struct mh h;

	open_smtp(&h, NULL);
	mh_say(&h, "EHLO h\xc3\xa9+x=y\r\n", EHLO_PLAIN);
	cr_assert_eq(mh_sends(&h, "AUTH PLAIN AGJvYgBwdw==\r\n"), PA_AUTH);
	mh_client(&h, "2001:db8::1");
	h.ctx.be_login = "us er+a=b";
	h.ctx.be_passwd = "pw";
	cr_assert_eq(mh_be(&h, "220 ok"), BA_CONTINUE);
	mh_bout(&h);
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "XCLIENT PROTO=ESMTP HELO=h+C3+A9+2Bx+3Dy ADDR=IPV6:2001:db8::1 "
	    "LOGIN=us+20er+2Ba+3Db NAME=[UNAVAILABLE]\r\n");
	/* Some servers answer XCLIENT with 250. */
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "EHLO h\xc3\xa9+x=y\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "235 2.0.0 OK\r\n");
	mh_close(&h);
}

Test(smtp_backend, backend_xclient_ipv4_mapped_and_tempunavail)
{
	struct mh h;

	be_open(&h, NULL, "bob", "pw");
	mh_client(&h, "::ffff:192.0.2.9");
	h.ctx.client_host = "[TEMPUNAVAIL]";
	mh_bout(&h);
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "XCLIENT PROTO=ESMTP HELO=client.example ADDR=192.0.2.9 "
	    "LOGIN=bob NAME=[TEMPUNAVAIL]\r\n");
	mh_close(&h);
}

/* No HELO from the client: no HELO=, and the proxy's own name after XCLIENT. */
Test(smtp_backend, backend_xclient_without_client_helo)
{
	struct mh h;

	open_smtp(&h, NULL);
	cr_assert_eq(mh_sends(&h, "AUTH PLAIN AGJvYgBwdw==\r\n"), PA_AUTH);
	h.ctx.be_login = "bob";
	h.ctx.be_passwd = "pw";
	cr_assert_eq(mh_be(&h, "220 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "EHLO mx.example.com\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "XCLIENT PROTO=ESMTP ADDR=192.0.2.7 LOGIN=bob NAME=[UNAVAILABLE]\r\n");
	cr_assert_eq(mh_be(&h, "220 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "EHLO mx.example.com\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_DONE);
	mh_close(&h);
}

/* A HELO client: PROTO=SMTP and HELO again after XCLIENT; our own greeting stays EHLO. */
Test(smtp_backend, backend_xclient_helo_client)
{
	struct mh h;

	open_smtp(&h, NULL);
	mh_say(&h, "HELO old.example\r\n", "250 mx.example.com\r\n");
	cr_assert_eq(mh_sends(&h, "AUTH PLAIN AGJvYgBwdw==\r\n"), PA_AUTH);
	h.ctx.be_login = "bob";
	h.ctx.be_passwd = "pw";
	cr_assert_eq(mh_be(&h, "220 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "EHLO mx.example.com\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "XCLIENT PROTO=SMTP HELO=old.example ADDR=192.0.2.7 LOGIN=bob "
	    "NAME=[UNAVAILABLE]\r\n");
	cr_assert_eq(mh_be(&h, "220 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "HELO old.example\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_DONE);
	mh_close(&h);
}

/* proxy_smtp_auth: no LOGIN= (nginx), AUTH PLAIN with the auth service's user and password. */
Test(smtp_backend, backend_proxy_smtp_auth)
{
	struct mh h;
	char want[256];

	be_open(&h, "      proxy_smtp_auth: on\n", "bob@example.org", "real secret");
	cr_assert_str_eq(mh_bout(&h), "EHLO mx.example.com\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "XCLIENT PROTO=ESMTP HELO=client.example ADDR=192.0.2.7 "
	    "NAME=[UNAVAILABLE]\r\n");
	cr_assert_eq(mh_be(&h, "220 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
	BE_EHLO_REPLY(&h);
	cr_assert_eq(mh_be(&h, "250 AUTH PLAIN LOGIN"), BA_CONTINUE);
	snprintf(want, sizeof(want), "AUTH PLAIN %s\r\n", mh_b64n("\0bob@example.org\0real secret", 28));
	cr_assert_str_eq(mh_bout(&h), want);
	cr_assert_str_eq(want, "AUTH PLAIN AGJvYkBleGFtcGxlLm9yZwByZWFsIHNlY3JldA==\r\n");
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_eq(mh_be(&h, "235 2.7.0 Authentication successful"), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "235 2.0.0 OK\r\n");
	mh_close(&h);
}

Test(smtp_backend, backend_proxy_smtp_auth_refused)
{
	struct mh h;

	be_open(&h, "      proxy_smtp_auth: on\n      xclient: off\n", "bob", "bad");
	cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_eq(strncmp(mh_bout(&h), "AUTH PLAIN ", 11), 0);
	cr_assert_eq(mh_be(&h, "535 5.7.8 Error: authentication failed"), BA_REFUSED);
	cr_assert_str_eq(mh_out(&h), "");
	mh_close(&h);
}

/*
 * proxy_smtp_auth with no password for the backend: AUTH EXTERNAL (or a
 * CRAM-MD5 digest) and no Auth-Pass, so the session hands the machine
 * be_passwd NULL. The greetings go as usual, then no AUTH goes out: the
 * login ends with nginx's "no password available" as an internal error, and
 * the client never hears 235. With a password, AUTH PLAIN goes as above.
 */
Test(smtp_backend, backend_proxy_smtp_auth_without_password)
{
	static const char *const yaml[] = {
		"      smtp_auth: external\n      proxy_smtp_auth: on\n",
		"      smtp_auth: external\n      proxy_smtp_auth: on\n      xclient: off\n",
	};

	for (size_t i = 0; i < sizeof(yaml) / sizeof(yaml[0]); i++) {
		struct mh h;
		open_smtp(&h, yaml[i]);
		cr_assert_eq(mh_sends(&h, "EHLO client.example\r\n"), PA_OK);
		mh_out(&h);
		cr_assert_eq(mh_sends(&h, "AUTH EXTERNAL Ym9i\r\n"), PA_AUTH);
		cr_assert_eq(h.ctx.cr.method, AUTHM_EXTERNAL);
		cr_assert_null(h.ctx.cr.passwd);
		h.ctx.be_login = "bob";
		h.ctx.be_passwd = NULL;
		cr_assert_eq(mh_be(&h, "220 backend.example ESMTP"), BA_CONTINUE);
		mh_bout(&h);
		if (h.conf->xclient) {
			cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
			cr_assert_str_eq(mh_bout(&h), "XCLIENT PROTO=ESMTP HELO=client.example "
			    "ADDR=192.0.2.7 NAME=[UNAVAILABLE]\r\n");
			cr_assert_eq(mh_be(&h, "220 ok"), BA_CONTINUE);
			cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
		}
		cr_assert_eq(mh_be(&h, "250-backend.example"), BA_CONTINUE);
		cr_assert_eq(mh_be(&h, "250 AUTH PLAIN LOGIN"), BA_ERROR, "%s", yaml[i]);
		cr_assert_str_eq(h.ctx.reason, "no password available");
		cr_assert_str_eq(mh_bout(&h), "", "no AUTH without a password");
		cr_assert_str_eq(mh_out(&h), "", "no 235 for the client");
		mh_close(&h);
	}
}

/* xclient off: one greeting, with the client's own name, then done. */
Test(smtp_backend, backend_no_xclient)
{
	struct mh h;

	be_open(&h, "      xclient: off\n", "bob", "pw");
	cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
	BE_EHLO_REPLY(&h);
	cr_assert_eq(mh_be(&h, "250 SIZE"), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "235 2.0.0 OK\r\n");
	cr_assert_str_eq(mh_bout(&h), "");
	mh_close(&h);
}

Test(smtp_backend, backend_no_xclient_helo_client)
{
	struct mh h;

	open_smtp(&h, "      xclient: off\n");
	mh_say(&h, "HELO old.example\r\n", "250 mx.example.com\r\n");
	cr_assert_eq(mh_sends(&h, "AUTH PLAIN AGJvYgBwdw==\r\n"), PA_AUTH);
	h.ctx.be_login = "bob";
	h.ctx.be_passwd = "pw";
	cr_assert_eq(mh_be(&h, "220 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "HELO old.example\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_DONE);
	mh_close(&h);
}

Test(smtp_backend, backend_no_xclient_no_client_helo)
{
	struct mh h;

	open_smtp(&h, "      xclient: off\n");
	cr_assert_eq(mh_sends(&h, "AUTH PLAIN AGJvYgBwdw==\r\n"), PA_AUTH);
	h.ctx.be_login = "bob";
	h.ctx.be_passwd = "pw";
	cr_assert_eq(mh_be(&h, "220 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "EHLO mx.example.com\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "235 2.0.0 OK\r\n");
	mh_close(&h);
}

/* smtp_auth none: MAIL and RCPT replayed; the backend's RCPT answer goes to the client. */
Test(smtp_backend, backend_auth_none)
{
	struct mh h;

	be_open(&h, NONE_YAML, "", "");
	cr_assert_str_eq(mh_bout(&h), "EHLO mx.example.com\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	/* No login: no LOGIN=. */
	cr_assert_str_eq(mh_bout(&h), "XCLIENT PROTO=ESMTP HELO=client.example ADDR=192.0.2.7 "
	    "NAME=[UNAVAILABLE]\r\n");
	cr_assert_eq(mh_be(&h, "220 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "MAIL FROM:<a@example.org>\r\n");
	cr_assert_eq(mh_be(&h, "250 2.1.0 Ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "RCPT TO:<b@example.org>\r\n");
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_eq(mh_be(&h, "250 2.1.5 Ok"), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(mh_bout(&h), "");
	mh_close(&h);
}

/* With none, proxy_smtp_auth does not apply: there is nothing to log in with. */
Test(smtp_backend, backend_auth_none_ignores_proxy_smtp_auth)
{
	struct mh h;

	be_open(&h, NONE_YAML "      proxy_smtp_auth: on\n      xclient: off\n", "", "");
	cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "MAIL FROM:<a@example.org>\r\n");
	mh_close(&h);
}

/* nginx relays any RCPT answer, a refusal or a multi-line one included. */
Test(smtp_backend, backend_auth_none_rcpt_refused_is_relayed)
{
	struct mh h;

	be_open(&h, NONE_YAML "      xclient: off\n", "", "");
	mh_be(&h, "250 ok");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n"
	    "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n");
	cr_assert_eq(mh_be(&h, "550-5.1.1 <b@example.org>: Recipient address rejected:"), BA_CONTINUE);
	cr_assert_eq(mh_be(&h, "550 5.1.1 User unknown in virtual mailbox table"), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "550-5.1.1 <b@example.org>: Recipient address rejected:\r\n"
	    "550 5.1.1 User unknown in virtual mailbox table\r\n");
	mh_close(&h);
}

Test(smtp_backend, backend_auth_none_mail_refused)
{
	struct mh h;

	be_open(&h, NONE_YAML "      xclient: off\n", "", "");
	mh_be(&h, "250 ok");
	mh_bout(&h);
	cr_assert_eq(mh_be(&h, "553 5.7.1 Sender address rejected"), BA_REFUSED);
	cr_assert_str_eq(mh_bout(&h), "");
	mh_close(&h);
}

/* A backend that never ends its RCPT answer cannot grow the client's buffer without bound. */
Test(smtp_backend, backend_endless_rcpt_reply)
{
	struct mh h;
	enum backend_action a = BA_CONTINUE;
	int i;

	be_open(&h, NONE_YAML "      xclient: off\n", "", "");
	mh_be(&h, "250 ok");
	mh_be(&h, "250 ok");
	for (i = 0; i < 10000 && a == BA_CONTINUE; i++)
		a = mh_be(&h, "250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	cr_assert_eq(a, BA_INVALID);
	cr_assert_lt(i, 1000);
	mh_close(&h);
}

/* Refusals at every step of the dialogue. */
Test(smtp_backend, backend_refusals_at_every_step)
{
	static const char *const refusal[] = {
		"554 5.3.2 no service", "421 4.3.2 shutting down", "550 5.7.0 insufficient authorization",
		"500 5.5.2 syntax error",
	};

	for (int step = 0; step < 4; step++) {
		struct mh h;

		open_smtp(&h, NULL);
		mh_say(&h, "EHLO c\r\n", EHLO_PLAIN);
		cr_assert_eq(mh_sends(&h, "AUTH PLAIN AGJvYgBwdw==\r\n"), PA_AUTH);
		h.ctx.be_login = "bob";
		h.ctx.be_passwd = "pw";
		static const char *const ok[] = { "220 ok", "250 ok", "220 ok" };
		for (int i = 0; i < step; i++)
			cr_assert_eq(mh_be(&h, ok[i]), BA_CONTINUE);
		/* A multi-line refusal is judged at its last line. */
		cr_assert_eq(mh_be(&h, "421-first line"), BA_CONTINUE);
		cr_assert_eq(mh_be(&h, refusal[step]), BA_REFUSED, "step %d", step);
		cr_assert_str_eq(mh_out(&h), "");
		mh_close(&h);
	}
}

Test(smtp_backend, backend_hostile_replies)
{
	static const char *const bad[] = {
		"", "2", "25", "25 ok", "2500 ok", "250x", "250_ok", "abc", "OK", "+OK", "* OK",
		"199 odd", "600 odd", "050 odd", " 250 ok", "25a ok", "\x80\x81\x82",
		"HTTP/1.0 200 OK",
	};

	for (int step = 0; step < 4; step++)
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct mh h;

			open_smtp(&h, NULL);
			cr_assert_eq(mh_sends(&h, "AUTH PLAIN AGJvYgBwdw==\r\n"), PA_AUTH);
			h.ctx.be_login = "bob";
			h.ctx.be_passwd = "pw";
			static const char *const ok[] = { "220 ok", "250 ok", "220 ok" };
			for (int k = 0; k < step; k++)
				cr_assert_eq(mh_be(&h, ok[k]), BA_CONTINUE);
			mh_bout(&h);
			cr_assert_eq(mh_be(&h, bad[i]), BA_INVALID, "step %d line \"%s\"", step, bad[i]);
			cr_assert_str_eq(mh_bout(&h), "");
			cr_assert_str_eq(mh_out(&h), "");
			mh_close(&h);
		}
}

/* Right class, wrong code: 250 for the greeting, 220 for EHLO, 250 for AUTH. */
Test(smtp_backend, backend_unexpected_success_codes)
{
	struct mh h;

	open_smtp(&h, NULL);
	cr_assert_eq(mh_sends(&h, "AUTH PLAIN AGJvYgBwdw==\r\n"), PA_AUTH);
	h.ctx.be_login = "bob";
	h.ctx.be_passwd = "pw";
	cr_assert_eq(mh_be(&h, "250 hello"), BA_INVALID);
	mh_close(&h);

	open_smtp(&h, NULL);
	cr_assert_eq(mh_sends(&h, "AUTH PLAIN AGJvYgBwdw==\r\n"), PA_AUTH);
	h.ctx.be_login = "bob";
	h.ctx.be_passwd = "pw";
	mh_be(&h, "220 ok");
	cr_assert_eq(mh_be(&h, "220 again"), BA_INVALID);
	mh_close(&h);

	be_open(&h, "      proxy_smtp_auth: on\n      xclient: off\n", "bob", "pw");
	mh_be(&h, "250 ok");
	cr_assert_eq(mh_be(&h, "250 ok"), BA_INVALID);	/* AUTH wants 235 */
	mh_close(&h);
}

/* "220" alone (no text) is a complete reply. */
Test(smtp_backend, backend_bare_codes)
{
	struct mh h;

	be_open(&h, "      xclient: off\n", "bob", "pw");
	cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
	cr_assert_eq(mh_be(&h, "250"), BA_DONE);
	mh_close(&h);
}

/* ---- xtext ---- */

Test(smtp_backend, xtext_encoding)
{
	struct buf b = { 0 };
	char in[256];

	for (int i = 1; i < 256; i++)
		in[i - 1] = (char)i;
	in[255] = '\0';
	cr_assert_eq(smtp_xtext(&b, in), 0);
	cr_assert_eq(buf_append(&b, "", 1), 0);
	/* 1..32 encoded, 33..126 kept except '+' and '=', 127..255 encoded. */
	size_t want = 32 * 3 + (94 - 2) + 2 * 3 + 129 * 3;
	cr_assert_eq(strlen(b.data), want);
	cr_assert_eq(strncmp(b.data, "+01+02", 6), 0);
	cr_assert_not_null(strstr(b.data, "+1F+20!\"#$%&'()*+2B,-./0123456789:;<+3D>?@ABC"));
	cr_assert_not_null(strstr(b.data, "xyz{|}~+7F+80"));
	cr_assert_eq(strcmp(b.data + strlen(b.data) - 6, "+FE+FF"), 0);
	buf_release(&b);

	cr_assert_eq(smtp_xtext(&b, ""), 0);
	cr_assert_eq(buf_len(&b), 0);
	cr_assert_eq(smtp_xtext(&b, "[UNAVAILABLE]"), 0);
	cr_assert_eq(buf_len(&b), 13);
	buf_release(&b);
}

/* A backend not known to want EHLO first: XCLIENT right after its greeting, then the client's EHLO. */
Test(smtp_backend, xclient_right_after_greeting)
{
	struct mh h;

	be_open_facts(&h, NULL, "bob", "pw", 0);
	cr_assert_str_eq(mh_bout(&h), "XCLIENT PROTO=ESMTP HELO=client.example ADDR=192.0.2.7 "
	    "LOGIN=bob NAME=[UNAVAILABLE]\r\n");
	cr_assert_eq(mh_be(&h, "220 backend.example ESMTP"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
	BE_EHLO_REPLY(&h);
	cr_assert_eq(mh_be(&h, "250 8BITMIME"), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "235 2.0.0 OK\r\n");
	cr_assert_eq(h.ctx.be_learned, 0);
	cr_assert_eq(h.ctx.be_facts, 0);
	mh_close(&h);
}

/*
 * Refused there (5xx): nginx's order at once. Only "bad sequence" (503) or
 * "not recognized" (502) is remembered for the backend: a 501 or a 550 may
 * come from what this client sent, and must not slow everyone else down.
 */
Test(smtp_backend, xclient_refused_early_falls_back_to_ehlo_first)
{
	static const struct {
		const char *line;
		int remembered, refused_again;
	} refusals[] = {
		{ "503 5.5.1 Error: send HELO/EHLO first", 1, 0 },
		{ "502 5.5.2 Error: command not recognized", 1, 0 },
		{ "501 5.5.4 Error: attribute value too long", 0, 0 },
		{ "550 5.7.0 Error: insufficient authorization", 0, 1 },
	};

	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		struct mh h;
		const char *line = refusals[i].line;

		be_open_facts(&h, NULL, "bob", "pw", 0);
		mh_bout(&h);
		cr_assert_eq(mh_be(&h, "503-first line of a multi-line refusal"), BA_CONTINUE);
		cr_assert_eq(h.ctx.be_learned, 0, "only the last line counts");
		cr_assert_eq(mh_be(&h, line), BA_CONTINUE, "%s", line);
		cr_assert_eq(h.ctx.be_learned, refusals[i].remembered, "%s", line);
		cr_assert_eq(h.ctx.be_facts, refusals[i].remembered ? BF_SMTP_EHLO_FIRST : 0, "%s", line);
		cr_assert_str_eq(mh_bout(&h), "EHLO mx.example.com\r\n");
		BE_EHLO_REPLY(&h);
		cr_assert_eq(mh_be(&h, "250 8BITMIME"), BA_CONTINUE);
		cr_assert_str_eq(mh_bout(&h), "XCLIENT PROTO=ESMTP HELO=client.example ADDR=192.0.2.7 "
		    "LOGIN=bob NAME=[UNAVAILABLE]\r\n");
		if (refusals[i].refused_again) {
			/* Refused again after EHLO: a refusal now, not another try. */
			cr_assert_eq(mh_be(&h, line), BA_REFUSED);
			cr_assert_str_eq(mh_bout(&h), "");
		} else {
			cr_assert_eq(mh_be(&h, "220 backend.example ESMTP"), BA_CONTINUE);
			cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
			cr_assert_eq(mh_be(&h, "250 OK"), BA_DONE);
		}
		mh_close(&h);
	}
}

/* A temporary failure (4xx) to the early XCLIENT is a refusal, as anywhere else; garbage is invalid. */
Test(smtp_backend, xclient_early_tempfail_and_garbage)
{
	struct mh h;

	be_open_facts(&h, NULL, "bob", "pw", 0);
	mh_bout(&h);
	cr_assert_eq(mh_be(&h, "421 4.3.2 Service shutting down"), BA_REFUSED);
	cr_assert_str_eq(mh_bout(&h), "");
	cr_assert_eq(h.ctx.be_learned, 0);
	mh_close(&h);

	be_open_facts(&h, NULL, "bob", "pw", 0);
	mh_bout(&h);
	cr_assert_eq(mh_be(&h, "OK fine"), BA_INVALID);
	mh_close(&h);
}

/* With proxy_starttls or without XCLIENT the first command stays EHLO. */
Test(smtp_backend, ehlo_first_without_xclient_or_with_starttls)
{
	struct mh h;

	be_open_facts(&h, "      xclient: off\n", "bob", "pw", 0);
	cr_assert_str_eq(mh_bout(&h), "EHLO client.example\r\n");
	mh_close(&h);
	be_open_facts(&h, "      proxy_starttls: on\n", "bob", "pw", 0);
	cr_assert_str_eq(mh_bout(&h), "EHLO mx.example.com\r\n");
	mh_close(&h);
}
