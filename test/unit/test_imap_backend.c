/*
 * The IMAP backend login (worker/proto/imap_backend.c) against scripted backend
 * lines: nginx's LOGIN with synchronizing literals under the client's tag,
 * the one-write LITERAL+ variant, ID forwarding with the client's address,
 * untagged lines before the result, refusals and garbage.
 * Lines reach imap_backend_line without their CRLF, as backend.c hands them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/proto_util.h"

TestSuite(imap_backend, .init = th_setup, .fini = th_teardown);

static struct mh H;

/* A client that logged in with tag "a" as bob/pass; the auth service said OK. */
static struct mh *
logged_in(const char *yaml, const char *cmd)
{
	mh_open_imap(&H, yaml);
	cr_assert_eq(mh_sends(&H, cmd ? cmd : "a LOGIN bob pass\r\n"), PA_AUTH);
	cr_assert_str_eq(mh_out(&H), "");
	H.ctx.be_login = H.ctx.cr.login;
	H.ctx.be_passwd = H.ctx.cr.passwd;
	return &H;
}

#define BE(h, line, want, bout) do {						\
	enum backend_action a_ = mh_be((h), (line));				\
	cr_assert_eq(a_, (want), "after \"%s\": action %d, want %d", (line), a_, (want)); \
	cr_assert_str_eq(mh_bout(h), (bout), "sent to the backend after \"%s\"", (line)); \
} while (0)

Test(imap_backend, login_with_synchronizing_literals)
{
	struct mh *h = logged_in(NULL, NULL);

	BE(h, "* OK [CAPABILITY IMAP4rev1 SASL-IR] Dovecot ready.", BA_CONTINUE, "a LOGIN {3}\r\n");
	BE(h, "+ OK", BA_CONTINUE, "bob {4}\r\n");
	BE(h, "+", BA_CONTINUE, "pass\r\n");
	cr_assert_str_eq(mh_out(h), "", "nothing reaches the client before the result");
	BE(h, "a OK [CAPABILITY IMAP4rev1 IDLE] Logged in", BA_DONE, "");
	cr_assert_str_eq(mh_out(h), "a OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
	mh_close(h);
}

Test(imap_backend, login_pipelined_with_literal_plus)
{
	struct mh *h = logged_in(NULL, NULL);

	BE(h, "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] ready", BA_CONTINUE,
	    "a LOGIN {3+}\r\nbob {4+}\r\npass\r\n");
	BE(h, "a OK Logged in", BA_DONE, "");
	cr_assert_str_eq(mh_out(h), "a OK Logged in\r\n");
	mh_close(h);
}

Test(imap_backend, literal_plus_is_found_in_any_case)
{
	struct mh *h = logged_in(NULL, NULL);

	BE(h, "* OK [capability imap4rev1 literal+] hi", BA_CONTINUE, "a LOGIN {3+}\r\nbob {4+}\r\npass\r\n");
	mh_close(h);
}

Test(imap_backend, literal_minus_is_not_literal_plus)
{
	struct mh *h = logged_in(NULL, NULL);

	BE(h, "* OK [CAPABILITY IMAP4rev1 LITERAL-] hi", BA_CONTINUE, "a LOGIN {3}\r\n");
	mh_close(h);
}

Test(imap_backend, literal_lengths_are_bytes)
{
	struct mh *h = logged_in(NULL, "t7 LOGIN \"j\xc3\xb6rg x\" \"p\\\"w\"\r\n");

	BE(h, "* OK ready", BA_CONTINUE, "t7 LOGIN {7}\r\n");
	BE(h, "+ ", BA_CONTINUE, "j\xc3\xb6rg x {3}\r\n");
	BE(h, "+ ", BA_CONTINUE, "p\"w\r\n");
	BE(h, "t7 OK done", BA_DONE, "");
	mh_close(h);
}

Test(imap_backend, auth_service_login_and_password_override)
{
	struct mh *h = logged_in(NULL, NULL);

	h->ctx.be_login = "bob@example.com";
	h->ctx.be_passwd = "master*secret";
	BE(h, "* OK ready", BA_CONTINUE, "a LOGIN {15}\r\n");
	BE(h, "+ go", BA_CONTINUE, "bob@example.com {13}\r\n");
	BE(h, "+ go", BA_CONTINUE, "master*secret\r\n");
	BE(h, "a OK", BA_DONE, "");
	mh_close(h);
}

Test(imap_backend, authenticate_tag_is_reused)
{
	struct mh *h = logged_in(NULL, "Z.9 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n");

	BE(h, "* OK ready", BA_CONTINUE, "Z.9 LOGIN {4}\r\n");
	BE(h, "+", BA_CONTINUE, "user {4}\r\n");
	BE(h, "+", BA_CONTINUE, "pass\r\n");
	BE(h, "Z.9 OK Logged in", BA_DONE, "");
	cr_assert_str_eq(mh_out(h), "Z.9 OK Logged in\r\n");
	mh_close(h);
}

Test(imap_backend, untagged_capability_before_the_result_is_forwarded)
{
	struct mh *h = logged_in(NULL, NULL);

	BE(h, "* OK ready", BA_CONTINUE, "a LOGIN {3}\r\n");
	BE(h, "+", BA_CONTINUE, "bob {4}\r\n");
	BE(h, "+", BA_CONTINUE, "pass\r\n");
	BE(h, "* CAPABILITY IMAP4rev1 IDLE NAMESPACE", BA_CONTINUE, "");
	cr_assert_str_eq(mh_out(h), "* CAPABILITY IMAP4rev1 IDLE NAMESPACE\r\n");
	BE(h, "a OK Logged in", BA_DONE, "");
	cr_assert_str_eq(mh_out(h), "a OK Logged in\r\n");
	mh_close(h);
}

Test(imap_backend, tagged_no_is_a_refusal)
{
	struct mh *h = logged_in(NULL, NULL);

	BE(h, "* OK ready", BA_CONTINUE, "a LOGIN {3}\r\n");
	BE(h, "+", BA_CONTINUE, "bob {4}\r\n");
	BE(h, "+", BA_CONTINUE, "pass\r\n");
	BE(h, "a NO [AUTHENTICATIONFAILED] Authentication failed.", BA_REFUSED, "");
	cr_assert_str_eq(mh_out(h), "");
	mh_close(h);
}

/* LITERAL+ counts only as a word of the greeting's [CAPABILITY ...]. */
Test(imap_backend, literal_plus_only_from_the_capability_code)
{
	const char *greetings[] = {
		"* OK LITERAL+ is not a capability here",
		"* OK [CAPABILITY IMAP4rev1 LITERAL+X] ready",
		"* OK [ALERT] LITERAL+ [CAPABILITY IMAP4rev1] ready",
		"* OK [CAPABILITY IMAP4rev1 LITERAL+",	/* no closing bracket */
	};

	for (size_t i = 0; i < sizeof(greetings) / sizeof(greetings[0]); i++) {
		struct mh *h = logged_in(NULL, NULL);
		BE(h, greetings[i], BA_CONTINUE, "a LOGIN {3}\r\n");
		mh_close(h);
	}
	struct mh *h = logged_in(NULL, NULL);
	BE(h, "* OK [capability literal+ IDLE] ready", BA_CONTINUE,
	    "a LOGIN {3+}\r\nbob {4+}\r\npass\r\n");
	mh_close(h);
}

/* After STARTTLS with the backend, what it announced before TLS no longer holds. */
Test(imap_backend, literal_plus_forgotten_after_backend_starttls)
{
	struct mh *h = logged_in("      proxy_starttls: on\n", NULL);

	BE(h, "* OK [CAPABILITY IMAP4rev1 LITERAL+ STARTTLS] ready", BA_CONTINUE,
	    "mpst STARTTLS\r\n");
	BE(h, "mpst OK Begin TLS negotiation now", BA_STARTTLS, "");
	h->ctx.be_tls = 1;
	cr_assert_eq(imap_proto.backend_line(&h->ctx, NULL, 0), BA_CONTINUE);	/* TLS is up */
	cr_assert_str_eq(mh_bout(h), "a LOGIN {3}\r\n");
	mh_close(h);
}

Test(imap_backend, tagged_bad_is_a_refusal)
{
	struct mh *h = logged_in(NULL, NULL);

	BE(h, "* OK [CAPABILITY LITERAL+] ready", BA_CONTINUE, "a LOGIN {3+}\r\nbob {4+}\r\npass\r\n");
	BE(h, "a BAD syntax", BA_REFUSED, "");
	mh_close(h);
}

Test(imap_backend, refusal_instead_of_a_continuation)
{
	struct mh *h = logged_in(NULL, NULL);

	BE(h, "* OK ready", BA_CONTINUE, "a LOGIN {3}\r\n");
	BE(h, "a NO [LIMIT] too many connections", BA_REFUSED, "");
	mh_close(h);
	h = logged_in(NULL, NULL);
	BE(h, "* OK ready", BA_CONTINUE, "a LOGIN {3}\r\n");
	BE(h, "+", BA_CONTINUE, "bob {4}\r\n");
	BE(h, "a BAD literal too long", BA_REFUSED, "");
	mh_close(h);
}

Test(imap_backend, garbage_greetings)
{
	static const char *const bad[] = {
		"", "*", "* O", "* BYE shutting down", "+OK POP3 ready", "220 smtp ESMTP",
		"* PREAUTH already in", "a OK", "* ok lowercase", "HTTP/1.0 400 Bad Request",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mh *h = logged_in(NULL, NULL);
		BE(h, bad[i], BA_INVALID, "");
		mh_close(h);
	}
}

Test(imap_backend, garbage_instead_of_a_continuation)
{
	static const char *const bad[] = { "", "* OK still here", "* CAPABILITY IMAP4rev1", "b OK", "OK", "x" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mh *h = logged_in(NULL, NULL);
		BE(h, "* OK ready", BA_CONTINUE, "a LOGIN {3}\r\n");
		BE(h, bad[i], BA_INVALID, "");
		mh_close(h);
	}
}

Test(imap_backend, garbage_instead_of_the_result)
{
	static const char *const bad[] = { "", "+ more", "b OK wrong tag", "aOK", "a", "A OK case matters" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mh *h = logged_in(NULL, NULL);
		BE(h, "* OK [CAPABILITY LITERAL+] ready", BA_CONTINUE, "a LOGIN {3+}\r\nbob {4+}\r\npass\r\n");
		BE(h, bad[i], BA_INVALID, "");
		cr_assert_str_eq(mh_out(h), "");
		mh_close(h);
	}
}

/* ---- ID forwarding ---- */

#define XFIELDS "\"x-originating-ip\" \"192.0.2.7\" \"x-originating-port\" \"50123\" " \
	"\"x-connected-ip\" \"198.51.100.1\" \"x-connected-port\" \"143\""

Test(imap_backend, id_forward_without_a_client_id)
{
	struct mh *h = logged_in(NULL, NULL);

	h->conf->imap_id_forward = 1;
	BE(h, "* OK ready", BA_CONTINUE, "mpid ID (" XFIELDS ")\r\n");
	BE(h, "* ID (\"name\" \"Dovecot\")", BA_CONTINUE, "");
	cr_assert_str_eq(mh_out(h), "", "the backend's ID answer is not the client's business");
	BE(h, "mpid OK ID completed.", BA_CONTINUE, "a LOGIN {3}\r\n");
	BE(h, "+", BA_CONTINUE, "bob {4}\r\n");
	BE(h, "+", BA_CONTINUE, "pass\r\n");
	BE(h, "a OK Logged in", BA_DONE, "");
	cr_assert_str_eq(mh_out(h), "a OK Logged in\r\n");
	mh_close(h);
}

Test(imap_backend, id_forward_with_the_client_list)
{
	mh_open_imap(&H, NULL);
	struct mh *h = &H;

	h->conf->imap_id_forward = 1;
	cr_assert_eq(mh_sends(h, "i1 ID (\"name\" \"Thunderbird\" \"x-originating-ip\" \"6.6.6.6\" "
	    "\"version\" NIL)\r\n"), PA_OK);
	cr_assert_str_eq(mh_out(h), "* ID NIL\r\ni1 OK completed\r\n");
	cr_assert_eq(mh_sends(h, "a LOGIN bob pass\r\n"), PA_AUTH);
	h->ctx.be_login = h->ctx.cr.login;
	h->ctx.be_passwd = h->ctx.cr.passwd;
	BE(h, "* OK ready", BA_CONTINUE,
	    "mpid ID (\"name\" \"Thunderbird\" \"version\" NIL " XFIELDS ")\r\n");
	BE(h, "mpid OK", BA_CONTINUE, "a LOGIN {3}\r\n");
	BE(h, "+", BA_CONTINUE, "bob {4}\r\n");
	BE(h, "+", BA_CONTINUE, "pass\r\n");
	BE(h, "a OK", BA_DONE, "");
	mh_close(h);
}

Test(imap_backend, id_forward_with_literal_plus_goes_in_one_write)
{
	struct mh *h = logged_in(NULL, NULL);

	h->conf->imap_id_forward = 1;
	BE(h, "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID] ready", BA_CONTINUE,
	    "mpid ID (" XFIELDS ")\r\na LOGIN {3+}\r\nbob {4+}\r\npass\r\n");
	BE(h, "* ID NIL", BA_CONTINUE, "");
	BE(h, "mpid OK", BA_CONTINUE, "");
	BE(h, "* CAPABILITY IMAP4rev1", BA_CONTINUE, "");
	cr_assert_str_eq(mh_out(h), "* CAPABILITY IMAP4rev1\r\n");
	BE(h, "a OK Logged in", BA_DONE, "");
	mh_close(h);
}

Test(imap_backend, id_refused_by_the_backend_does_not_stop_the_login)
{
	struct mh *h = logged_in(NULL, NULL);

	h->conf->imap_id_forward = 1;
	BE(h, "* OK ready", BA_CONTINUE, "mpid ID (" XFIELDS ")\r\n");
	BE(h, "mpid BAD Unknown command", BA_CONTINUE, "a LOGIN {3}\r\n");
	mh_close(h);
}

Test(imap_backend, id_answer_garbage_is_invalid)
{
	struct mh *h = logged_in(NULL, NULL);

	h->conf->imap_id_forward = 1;
	BE(h, "* OK ready", BA_CONTINUE, "mpid ID (" XFIELDS ")\r\n");
	BE(h, "+ what", BA_INVALID, "");
	mh_close(h);
	h = logged_in(NULL, NULL);
	h->conf->imap_id_forward = 1;
	BE(h, "* OK ready", BA_CONTINUE, "mpid ID (" XFIELDS ")\r\n");
	BE(h, "a OK", BA_INVALID, "");
	mh_close(h);
}

Test(imap_backend, id_forward_ipv6_and_mapped_addresses)
{
	struct mh *h = logged_in(NULL, NULL);
	struct sockaddr_in6 *c = (struct sockaddr_in6 *)&h->caddr, *l = (struct sockaddr_in6 *)&h->laddr;

	h->conf->imap_id_forward = 1;
	memset(&h->caddr, 0, sizeof(h->caddr));
	memset(&h->laddr, 0, sizeof(h->laddr));
	c->sin6_family = l->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::5", &c->sin6_addr);
	c->sin6_port = htons(1234);
	/* An IPv4 client on a dual-stack socket shows as IPv4. */
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &l->sin6_addr);
	l->sin6_port = htons(993);
	BE(h, "* OK ready", BA_CONTINUE,
	    "mpid ID (\"x-originating-ip\" \"2001:db8::5\" \"x-originating-port\" \"1234\" "
	    "\"x-connected-ip\" \"203.0.113.9\" \"x-connected-port\" \"993\")\r\n");
	mh_close(h);
}
