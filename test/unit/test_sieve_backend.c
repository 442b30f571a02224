/*
 * The ManageSieve backend login (worker/proto/sieve_backend.c) against
 * scripted backend lines, as Dovecot's managesieve-login writes them: the
 * capability lines and OK, STARTTLS and the capabilities again, XCLIENT
 * when announced, AUTHENTICATE "PLAIN" with the initial response or the
 * client's OAuth mechanism, refusals and garbage. Lines reach the machine
 * without their CRLF, as backend.c hands them.
 */
#include <stdio.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/proto_util.h"

TestSuite(sieve_backend, .init = th_setup, .fini = th_teardown);

static struct mh H;

#define DOVECOT_CAPS(h, extra) do {						\
	BE(h, "\"IMPLEMENTATION\" \"Dovecot (Debian) Pigeonhole\"", BA_CONTINUE, "");	\
	BE(h, "\"SIEVE\" \"fileinto reject envelope\"", BA_CONTINUE, "");	\
	BE(h, "\"NOTIFY\" \"mailto\"", BA_CONTINUE, "");			\
	BE(h, "\"SASL\" \"PLAIN LOGIN" extra "\"", BA_CONTINUE, "");		\
	BE(h, "\"STARTTLS\"", BA_CONTINUE, "");					\
	BE(h, "\"VERSION\" \"1.0\"", BA_CONTINUE, "");				\
} while (0)

#define BE(h, line, want, bout) do {						\
	enum backend_action a_ = mh_be((h), (line));				\
	cr_assert_eq(a_, (want), "after \"%s\": action %d, want %d", (line), a_, (want)); \
	cr_assert_str_eq(mh_bout(h), (bout), "sent to the backend after \"%s\"", (line)); \
} while (0)

/* "AUTHENTICATE \"PLAIN\" \"base64(\0bob\0pass)\"\r\n" */
#define AUTH_BOB "AUTHENTICATE \"PLAIN\" \"AGJvYgBwYXNz\"\r\n"

/* A client that logged in as bob/pass; the auth service said OK. */
static struct mh *
logged_in(const char *yaml)
{
	mh_open(&H, "4190", NULL, yaml);
	mh_out(&H);
	cr_assert_eq(mh_sends(&H, "AUTHENTICATE \"PLAIN\" \"AGJvYgBwYXNz\"\r\n"), PA_AUTH);
	H.ctx.be_login = H.ctx.cr.login;
	H.ctx.be_passwd = H.ctx.cr.passwd;
	return &H;
}

Test(sieve_backend, login_with_plain)
{
	struct mh *h = logged_in("      xclient: off\n");

	DOVECOT_CAPS(h, "");
	BE(h, "OK \"Dovecot (Debian) ready.\"", BA_CONTINUE, AUTH_BOB);
	cr_assert_str_eq(mh_out(h), "", "nothing reaches the client before the result");
	BE(h, "OK \"Logged in.\"", BA_DONE, "");
	cr_assert_str_eq(mh_out(h), "OK \"Logged in.\"\r\n");
	mh_close(h);
}

Test(sieve_backend, auth_user_and_pass_from_the_auth_service)
{
	struct mh *h = logged_in(NULL);
	char want[256];

	h->ctx.be_login = "bob@example.com";
	h->ctx.be_passwd = "master*se\"cret";
	snprintf(want, sizeof(want), "AUTHENTICATE \"PLAIN\" \"%s\"\r\n",
	    mh_b64n("\0bob@example.com\0master*se\"cret", 31));
	BE(h, "OK", BA_CONTINUE, want);
	mh_close(h);
}

Test(sieve_backend, xclient_when_announced)
{
	struct mh *h = logged_in(NULL);

	DOVECOT_CAPS(h, "");
	BE(h, "\"XCLIENT\"", BA_CONTINUE, "");
	BE(h, "OK \"ready\"", BA_CONTINUE, "XCLIENT ADDR=192.0.2.7 PORT=50123\r\n");
	BE(h, "OK \"Updated\"", BA_CONTINUE, AUTH_BOB);
	BE(h, "OK \"Logged in.\"", BA_DONE, "");
	mh_close(h);
	/* A refusal does not stop the login; xclient off sends none. */
	h = logged_in(NULL);
	BE(h, "\"xclient\"", BA_CONTINUE, "");
	BE(h, "OK", BA_CONTINUE, "XCLIENT ADDR=192.0.2.7 PORT=50123\r\n");
	BE(h, "NO \"Not trusted\"", BA_CONTINUE, AUTH_BOB);
	mh_close(h);
	h = logged_in("      xclient: off\n");
	BE(h, "\"XCLIENT\"", BA_CONTINUE, "");
	BE(h, "OK", BA_CONTINUE, AUTH_BOB);
	mh_close(h);
}

Test(sieve_backend, xclient_with_ipv6_client)
{
	struct mh *h = logged_in(NULL);

	mh_client(h, "2001:db8::7");
	BE(h, "\"XCLIENT\"", BA_CONTINUE, "");
	BE(h, "OK", BA_CONTINUE, "XCLIENT ADDR=2001:db8::7 PORT=50123\r\n");
	mh_close(h);
}

Test(sieve_backend, starttls_then_capabilities_again)
{
	struct mh *h = logged_in("      proxy_starttls: on\n");

	DOVECOT_CAPS(h, "");
	BE(h, "\"XCLIENT\"", BA_CONTINUE, "");
	BE(h, "OK \"ready\"", BA_CONTINUE, "STARTTLS\r\n");
	BE(h, "OK \"Begin TLS negotiation now.\"", BA_STARTTLS, "");
	h->ctx.be_tls = 1;
	cr_assert_eq(h->proto->backend_line(&h->ctx, NULL, 0), BA_CONTINUE);
	/* What was said in the clear is forgotten: no XCLIENT unless announced again. */
	BE(h, "\"SASL\" \"PLAIN\"", BA_CONTINUE, "");
	BE(h, "OK \"TLS negotiation successful.\"", BA_CONTINUE, AUTH_BOB);
	BE(h, "OK \"Logged in.\"", BA_DONE, "");
	mh_close(h);
}

Test(sieve_backend, starttls_refused)
{
	struct mh *h = logged_in("      proxy_starttls: on\n");

	BE(h, "OK", BA_CONTINUE, "STARTTLS\r\n");
	BE(h, "NO \"STARTTLS not available\"", BA_REFUSED, "");
	mh_close(h);
	h = logged_in("      proxy_starttls: on\n");
	BE(h, "OK", BA_CONTINUE, "STARTTLS\r\n");
	BE(h, "garbage", BA_INVALID, "");
	mh_close(h);
}

Test(sieve_backend, refusals_and_garbage)
{
	struct mh *h = logged_in("      xclient: off\n");

	BE(h, "OK", BA_CONTINUE, AUTH_BOB);
	BE(h, "NO \"Authentication failed.\"", BA_REFUSED, "");
	mh_close(h);
	const char *bad_greeting[] = { "NO \"go away\"", "BYE \"busy\"", "* OK IMAP", "OKAY", "", "+OK" };
	for (size_t i = 0; i < sizeof(bad_greeting) / sizeof(bad_greeting[0]); i++) {
		h = logged_in(NULL);
		BE(h, bad_greeting[i], BA_INVALID, "");
		mh_close(h);
	}
	h = logged_in("      xclient: off\n");
	BE(h, "OK (REFERRAL \"x\") \"moved\"", BA_CONTINUE, AUTH_BOB);
	/* A challenge to PLAIN with an initial response makes no sense. */
	BE(h, "\"\"", BA_INVALID, "");
	mh_close(h);
	h = logged_in("      xclient: off\n");
	BE(h, "OK", BA_CONTINUE, AUTH_BOB);
	BE(h, "BYE \"Disconnected\"", BA_INVALID, "");
	mh_close(h);
	/* Odd capability lines are ignored, not misread. */
	h = logged_in(NULL);
	BE(h, "\"XCLIENT", BA_CONTINUE, "");
	BE(h, "\"SASL\" \"OAUTHBEARER", BA_CONTINUE, "");
	BE(h, "\"", BA_CONTINUE, "");
	BE(h, "OK", BA_CONTINUE, AUTH_BOB);
	mh_close(h);
}

Test(sieve_backend, oauth_token_with_the_clients_mechanism)
{
	char cmd[512], want[512];

	mh_open(&H, "4190", NULL, "      sieve_auth: [plain, oauthbearer, xoauth2]\n      xclient: off\n");
	mh_out(&H);
	snprintf(cmd, sizeof(cmd), "AUTHENTICATE \"XOAUTH2\" \"%s\"\r\n",
	    mh_b64("user=bob\001auth=Bearer tok\001\001"));
	cr_assert_eq(mh_sends(&H, cmd), PA_AUTH);
	H.ctx.be_login = "bob";
	H.ctx.be_passwd = "tok";
	H.ctx.be_mech = AUTHM_XOAUTH2;
	BE(&H, "\"SASL\" \"PLAIN XOAUTH2 OAUTHBEARER\"", BA_CONTINUE, "");
	snprintf(want, sizeof(want), "AUTHENTICATE \"XOAUTH2\" \"%s\"\r\n",
	    mh_b64("user=bob\001auth=Bearer tok\001\001"));
	BE(&H, "OK", BA_CONTINUE, want);
	/* The error challenge gets the dummy answer; then refused, whatever follows. */
	BE(&H, "\"eyJzdGF0dXMiOiI0MDEifQ==\"", BA_CONTINUE, "\"\"\r\n");
	BE(&H, "NO \"Authentication failed.\"", BA_REFUSED, "");
	mh_close(&H);
}

Test(sieve_backend, oauth_needs_the_backend_to_offer_it)
{
	mh_open(&H, "4190", NULL, "      sieve_auth: [plain, oauthbearer]\n      xclient: off\n");
	mh_out(&H);
	H.ctx.be_login = "bob";
	H.ctx.be_passwd = "tok";
	H.ctx.be_mech = AUTHM_OAUTHBEARER;
	BE(&H, "\"SASL\" \"PLAIN XOAUTH2\"", BA_CONTINUE, "");
	BE(&H, "OK", BA_ERROR, "");
	cr_assert_not_null(strstr(H.ctx.reason, "OAUTHBEARER"));
	mh_close(&H);
}

Test(sieve_backend, long_token_goes_as_a_literal)
{
	static char tok[3000];

	mh_open(&H, "4190", NULL, "      sieve_auth: [plain, oauthbearer]\n      xclient: off\n");
	mh_out(&H);
	memset(tok, 'T', sizeof(tok) - 1);
	H.ctx.be_login = "bob";
	H.ctx.be_passwd = tok;
	H.ctx.be_mech = AUTHM_OAUTHBEARER;
	BE(&H, "\"SASL\" \"OAUTHBEARER\"", BA_CONTINUE, "");
	cr_assert_eq(mh_be(&H, "OK"), BA_CONTINUE);
	const char *sent = mh_bout(&H);
	cr_assert(strncmp(sent, "AUTHENTICATE \"OAUTHBEARER\" {", 28) == 0, "%.60s", sent);
	cr_assert_not_null(strstr(sent, "+}\r\n"));
	cr_assert(strcmp(sent + strlen(sent) - 2, "\r\n") == 0);
	mh_close(&H);
}

Test(sieve_backend, no_password_is_an_error)
{
	struct mh *h = logged_in("      xclient: off\n");

	h->ctx.be_passwd = NULL;
	BE(h, "OK", BA_ERROR, "");
	mh_close(h);
}
