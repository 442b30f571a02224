/*
 * The IMAP pre-auth machine (worker/imap.c) driven like session.c drives
 * it, against nginx's dialogue (reference/nginx-mail.md section 3): every
 * command, literals, quoted escapes, SASL continuations, CAPABILITY
 * variants, starttls only, max_errors, pipelining, and the deliberate
 * differences (ID is answered; CR/LF/NUL in credentials are refused).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/imap_helpers.h"
#include "worker/sasl.h"

#define CAPS "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS"
#define BAD(tag) tag " BAD invalid command\r\n"

TestSuite(imap, .init = th_setup, .fini = th_teardown);

static struct ih H;

/* Opens H with server_yaml and checks the greeting. */
static struct ih *
open_h(const char *yaml)
{
	ih_open(&H, yaml);
	return &H;
}

static void
expect_n(struct ih *h, const char *in, size_t n, enum proto_action want, const char *out)
{
	enum proto_action a = ih_send(h, in, n);
	const char *got = ih_out(h);

	cr_assert_str_eq(got, out, "after \"%s\"", in);
	cr_assert_eq(a, want, "after \"%s\": action %d, want %d", in, a, want);
}

static void
expect(struct ih *h, const char *in, enum proto_action want, const char *out)
{
	expect_n(h, in, strlen(in), want, out);
}

/* For string literals with NUL bytes in them. */
#define EXPECT_BIN(h, lit, want, out) expect_n((h), (lit), sizeof(lit) - 1, (want), (out))

/* ---- CAPABILITY, NOOP, LOGOUT, STARTTLS ---- */

Test(imap, capability_plain)
{
	struct ih *h = open_h(NULL);

	expect(h, "a1 CAPABILITY\r\n", PA_OK, CAPS " AUTH=PLAIN\r\na1 OK completed\r\n");
	expect(h, "a2 capability\r\n", PA_OK, CAPS " AUTH=PLAIN\r\na2 OK completed\r\n");
	expect(h, "a3 CaPaBiLiTy\n", PA_OK, CAPS " AUTH=PLAIN\r\na3 OK completed\r\n");
	expect(h, "a4 CAPABILITY x\r\n", PA_OK, BAD("a4"));
	ih_close(h);
}

Test(imap, capability_starttls_on)
{
	struct ih *h = open_h(NULL);

	h->conf->starttls = STARTTLS_ON;
	expect(h, "a CAPABILITY\r\n", PA_OK, CAPS " AUTH=PLAIN STARTTLS\r\na OK completed\r\n");
	/* After the handshake: no STARTTLS any more. */
	h->ctx.tls = 1;
	expect(h, "b CAPABILITY\r\n", PA_OK, CAPS " AUTH=PLAIN\r\nb OK completed\r\n");
	ih_close(h);
}

Test(imap, capability_starttls_only)
{
	struct ih *h = open_h(NULL);

	h->conf->starttls = STARTTLS_ONLY;
	expect(h, "a CAPABILITY\r\n", PA_OK, CAPS " STARTTLS LOGINDISABLED\r\na OK completed\r\n");
	h->ctx.tls = 1;
	expect(h, "b CAPABILITY\r\n", PA_OK, CAPS " AUTH=PLAIN\r\nb OK completed\r\n");
	ih_close(h);
}

Test(imap, capability_with_every_mechanism_and_own_list)
{
	struct ih *h = open_h("      imap_auth: [external, cram-md5, login, plain]\n"
	    "      imap_capabilities: [IMAP4rev1, SASL-IR, ID]\n");

	expect(h, "a CAPABILITY\r\n", PA_OK,
	    "* CAPABILITY IMAP4rev1 SASL-IR ID AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=EXTERNAL\r\n"
	    "a OK completed\r\n");
	h->conf->starttls = STARTTLS_ON;
	expect(h, "b CAPABILITY\r\n", PA_OK,
	    "* CAPABILITY IMAP4rev1 SASL-IR ID AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=EXTERNAL "
	    "STARTTLS\r\nb OK completed\r\n");
	h->conf->starttls = STARTTLS_ONLY;
	expect(h, "c CAPABILITY\r\n", PA_OK,
	    "* CAPABILITY IMAP4rev1 SASL-IR ID STARTTLS LOGINDISABLED\r\nc OK completed\r\n");
	ih_close(h);
}

Test(imap, noop)
{
	struct ih *h = open_h(NULL);

	expect(h, "a NOOP\r\n", PA_OK, "a OK completed\r\n");
	expect(h, "b noop\r\n", PA_OK, "b OK completed\r\n");
	expect(h, "c NOOP x\r\n", PA_OK, BAD("c"));
	cr_assert_eq(h->ctx.errors, 1);
	ih_close(h);
}

Test(imap, logout)
{
	struct ih *h = open_h(NULL);

	expect(h, "z9 LOGOUT\r\n", PA_CLOSE, "* BYE\r\nz9 OK completed\r\n");
	ih_close(h);
}

Test(imap, logout_with_argument_is_invalid)
{
	struct ih *h = open_h(NULL);

	expect(h, "a LOGOUT now\r\n", PA_OK, BAD("a"));
	ih_close(h);
}

Test(imap, starttls_off_is_invalid)
{
	struct ih *h = open_h(NULL);

	expect(h, "a STARTTLS\r\n", PA_OK, BAD("a"));
	ih_close(h);
}

Test(imap, starttls_drops_pipelined_input)
{
	struct ih *h = open_h(NULL);

	h->conf->starttls = STARTTLS_ON;
	expect(h, "a STARTTLS\r\nb LOGIN injected pass\r\n", PA_STARTTLS, "a OK completed\r\n");
	cr_assert_eq(ih_unread(h), 0, "plaintext after STARTTLS must not survive");
	cr_assert_null(h->ctx.cr.login);
	/* Once TLS is up, STARTTLS is invalid. */
	h->ctx.tls = 1;
	expect(h, "c STARTTLS\r\n", PA_OK, BAD("c"));
	ih_close(h);
}

Test(imap, starttls_only_allows_starttls)
{
	struct ih *h = open_h(NULL);

	h->conf->starttls = STARTTLS_ONLY;
	expect(h, "a starttls\r\n", PA_STARTTLS, "a OK completed\r\n");
	ih_close(h);
}

/* ---- LOGIN ---- */

static void
login_ok(struct ih *h, const char *cmd, const char *user, const char *pass)
{
	enum proto_action a = ih_sends(h, cmd);

	cr_assert_eq(a, PA_AUTH, "\"%s\": action %d", cmd, a);
	cr_assert_str_eq(h->ctx.cr.login, user);
	cr_assert_str_eq(h->ctx.cr.passwd, pass);
	cr_assert_eq(h->ctx.cr.method, AUTHM_PLAIN);
}

Test(imap, login_atoms)
{
	struct ih *h = open_h(NULL);

	login_ok(h, "a LOGIN bob s3cret\r\n", "bob", "s3cret");
	cr_assert_str_eq(ih_out(h), "", "nothing is answered before the auth service");
	cr_assert_str_eq(h->ctx.u.imap.tag, "a ");
	ih_close(h);
}

Test(imap, login_is_case_insensitive)
{
	struct ih *h = open_h(NULL);

	login_ok(h, "T.1 login bob x\n", "bob", "x");
	cr_assert_str_eq(h->ctx.u.imap.tag, "T.1 ");
	ih_close(h);
}

Test(imap, login_quoted_with_escapes)
{
	struct ih *h = open_h(NULL);

	login_ok(h, "a LOGIN \"bob smith\" \"p\\\"w\\\\d x\"\r\n", "bob smith", "p\"w\\d x");
	ih_close(h);
}

Test(imap, login_quoted_empty_password)
{
	struct ih *h = open_h(NULL);

	login_ok(h, "a LOGIN bob \"\"\r\n", "bob", "");
	ih_close(h);
}

Test(imap, login_literals_wait_for_continuations)
{
	struct ih *h = open_h(NULL);

	expect(h, "a LOGIN {3}\r\n", PA_AGAIN, "+ OK\r\n");
	expect(h, "bob {6}\r\n", PA_AGAIN, "+ OK\r\n");
	login_ok(h, "s e\"c\\\r\n", "bob", "s e\"c\\");
	cr_assert_str_eq(ih_out(h), "");
	ih_close(h);
}

Test(imap, login_literal_sent_byte_by_byte_gets_one_continuation)
{
	struct ih *h = open_h(NULL);
	const char *first = "a LOGIN {3}\r\n", *rest = "bob {4}\r\n", *last = "pass\r\n";

	h->chunk = 1;
	for (const char *p = first; *p; p++)
		cr_assert_eq(ih_send(h, p, 1), PA_AGAIN);
	cr_assert_str_eq(ih_out(h), "+ OK\r\n");
	for (const char *p = rest; *p; p++)
		cr_assert_eq(ih_send(h, p, 1), PA_AGAIN);
	cr_assert_str_eq(ih_out(h), "+ OK\r\n");
	for (const char *p = last; p[1]; p++)
		cr_assert_eq(ih_send(h, p, 1), PA_AGAIN);
	cr_assert_str_eq(ih_out(h), "");
	cr_assert_eq(ih_sends(h, "\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "bob");
	cr_assert_str_eq(h->ctx.cr.passwd, "pass");
	ih_close(h);
}

Test(imap, login_literal_data_sent_without_waiting_gets_no_continuation)
{
	struct ih *h = open_h(NULL);

	login_ok(h, "a LOGIN {3}\r\nbob {4}\r\npass\r\n", "bob", "pass");
	cr_assert_str_eq(ih_out(h), "");
	ih_close(h);
}

Test(imap, login_nonsync_literals)
{
	struct ih *h = open_h(NULL);

	h->chunk = 3;
	login_ok(h, "a LOGIN {3+}\r\nbob {6+}\r\npa)s w\r\n", "bob", "pa)s w");
	cr_assert_str_eq(ih_out(h), "", "no continuation for {n+}");
	ih_close(h);
}

Test(imap, login_nonsync_literal_with_crlf_is_refused)
{
	struct ih *h = open_h(NULL);

	/* Passwords with CR/LF are refused (nginx passes them on; mailproxy does not). */
	expect(h, "a LOGIN {3+}\r\nbob {9+}\r\npa\r\nss wd\r\n", PA_OK, BAD("a"));
	cr_assert_eq(h->ctx.errors, 1);
	ih_close(h);
}

Test(imap, login_mixed_argument_kinds)
{
	struct ih *h = open_h(NULL);

	login_ok(h, "a LOGIN {3+}\r\nbob \"x y\"\r\n", "bob", "x y");
	creds_clear(&h->ctx.cr);
	login_ok(h, "b LOGIN \"b\\\\b\" {1+}\r\nz\r\n", "b\\b", "z");
	ih_close(h);
}

Test(imap, login_empty_literals)
{
	struct ih *h = open_h(NULL);

	expect(h, "a LOGIN bob {0}\r\n", PA_AGAIN, "+ OK\r\n");
	login_ok(h, "\r\n", "bob", "");
	ih_close(h);
}

Test(imap, login_8bit)
{
	struct ih *h = open_h(NULL);

	login_ok(h, "a LOGIN j\xc3\xb6rg \"p\xc3\xa4ss\"\r\n", "j\xc3\xb6rg", "p\xc3\xa4ss");
	ih_close(h);
}

Test(imap, login_wrong_argument_count)
{
	struct ih *h = open_h("      max_errors: 10\n");

	expect(h, "a LOGIN\r\n", PA_OK, BAD("a"));
	expect(h, "b LOGIN bob\r\n", PA_OK, BAD("b"));
	expect(h, "c LOGIN bob pass extra\r\n", PA_OK, BAD("c"));
	expect(h, "d LOGIN (bob) pass\r\n", PA_OK, BAD("d"));
	expect(h, "e LOGIN bob ()\r\n", PA_OK, BAD("e"));
	cr_assert_eq(h->ctx.errors, 5);
	cr_assert_null(h->ctx.cr.login);
	ih_close(h);
}

Test(imap, login_credentials_with_nul_cr_lf_are_refused)
{
	struct ih *h = open_h("      max_errors: 10\n");

	EXPECT_BIN(h, "a LOGIN {3+}\r\nb\0b pass\r\n", PA_OK, BAD("a"));
	EXPECT_BIN(h, "b LOGIN bob {3+}\r\np\0s\r\n", PA_OK, BAD("b"));
	expect(h, "c LOGIN {3+}\r\nb\rb pass\r\n", PA_OK, BAD("c"));
	expect(h, "d LOGIN bob {3+}\r\np\ns\r\n", PA_OK, BAD("d"));
	cr_assert_eq(h->ctx.errors, 4);
	/* The connection goes on. */
	login_ok(h, "e LOGIN bob pass\r\n", "bob", "pass");
	ih_close(h);
}

Test(imap, login_refused_under_starttls_only)
{
	struct ih *h = open_h(NULL);

	h->conf->starttls = STARTTLS_ONLY;
	expect(h, "a LOGIN bob pass\r\n", PA_OK, BAD("a"));
	cr_assert_null(h->ctx.cr.login);
	cr_assert_eq(h->ctx.errors, 1);
	h->ctx.tls = 1;
	login_ok(h, "b LOGIN bob pass\r\n", "bob", "pass");
	ih_close(h);
}

Test(imap, login_allowed_whatever_imap_auth_says)
{
	struct ih *h = open_h("      imap_auth: cram-md5\n");

	login_ok(h, "a LOGIN bob pass\r\n", "bob", "pass");
	ih_close(h);
}

/* ---- AUTHENTICATE ---- */

Test(imap, authenticate_plain_with_continuation)
{
	struct ih *h = open_h(NULL);

	expect(h, "a AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	cr_assert_eq(ih_sends(h, "AHVzZXIAcGFzcw==\r\n"), PA_AUTH);
	cr_assert_str_eq(ih_out(h), "");
	cr_assert_str_eq(h->ctx.cr.login, "user");
	cr_assert_str_eq(h->ctx.cr.passwd, "pass");
	cr_assert_eq(h->ctx.cr.method, AUTHM_PLAIN);
	cr_assert_str_eq(h->ctx.u.imap.tag, "a ");
	ih_close(h);
}

Test(imap, authenticate_plain_initial_response_ignores_authzid)
{
	struct ih *h = open_h(NULL);

	cr_assert_eq(ih_sends(h, "a authenticate plain YXV0aHoAYm9iAHMzY3JldCBw\r\n"), PA_AUTH);
	cr_assert_str_eq(ih_out(h), "");
	cr_assert_str_eq(h->ctx.cr.login, "bob");
	cr_assert_str_eq(h->ctx.cr.passwd, "s3cret p");
	ih_close(h);
}

Test(imap, authenticate_plain_bad_data)
{
	struct ih *h = open_h("      max_errors: 20\n");

	/* No "*" cancel: anything that is not base64 of "a\0b\0c" is BAD. */
	expect(h, "a AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	expect(h, "*\r\n", PA_OK, BAD("a"));
	expect(h, "b AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	expect(h, "\r\n", PA_OK, BAD("b"));
	expect(h, "c AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	expect(h, "dXNlcg==\r\n", PA_OK, BAD("c"));
	expect(h, "d AUTHENTICATE PLAIN AHVzZXIAcGFzcw=\r\n", PA_OK, BAD("d"));
	expect(h, "e AUTHENTICATE PLAIN AHVzZXIAcGF!cw==\r\n", PA_OK, BAD("e"));
	expect(h, "f AUTHENTICATE PLAIN \"AHVzZXIAcGFzcw==\"\r\n", PA_OK, BAD("f"));
	expect(h, "g AUTHENTICATE PLAIN AHVz ZXIA\r\n", PA_OK, BAD("g"));
	cr_assert_eq(h->ctx.errors, 7);
	/* Back at the start: commands work again. */
	expect(h, "h NOOP\r\n", PA_OK, "h OK completed\r\n");
	ih_close(h);
}

Test(imap, authenticate_plain_refuses_cr_lf_nul)
{
	struct ih *h = open_h("      max_errors: 20\n");

	expect(h, "a AUTHENTICATE PLAIN AHVzDWVyAHBhc3M=\r\n", PA_OK, BAD("a"));
	expect(h, "b AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	expect(h, "AHVzZXIAcGEKc3M=\r\n", PA_OK, BAD("b"));
	expect(h, "c AUTHENTICATE PLAIN AHVzZXIAcGEAc3M=\r\n", PA_OK, BAD("c"));
	cr_assert_eq(h->ctx.errors, 3);
	ih_close(h);
}

Test(imap, authenticate_login_with_continuations)
{
	struct ih *h = open_h(NULL);

	expect(h, "a AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	expect(h, "dXNlcg==\r\n", PA_OK, "+ UGFzc3dvcmQ6\r\n");
	cr_assert_eq(ih_sends(h, "cGFzcw==\r\n"), PA_AUTH);
	cr_assert_str_eq(ih_out(h), "");
	cr_assert_str_eq(h->ctx.cr.login, "user");
	cr_assert_str_eq(h->ctx.cr.passwd, "pass");
	cr_assert_eq(h->ctx.cr.method, AUTHM_PLAIN, "LOGIN is sent to the auth service as plain");
	ih_close(h);
}

Test(imap, authenticate_login_with_initial_response)
{
	struct ih *h = open_h(NULL);

	expect(h, "a AUTHENTICATE LOGIN dXNlcg==\r\n", PA_OK, "+ UGFzc3dvcmQ6\r\n");
	cr_assert_eq(ih_sends(h, "cGFzcw==\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "user");
	cr_assert_str_eq(h->ctx.cr.passwd, "pass");
	ih_close(h);
}

Test(imap, authenticate_login_bad_data)
{
	struct ih *h = open_h("      max_errors: 20\n");

	expect(h, "a AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	expect(h, "dXMNZXI=\r\n", PA_OK, BAD("a"));	/* "us\rer" */
	expect(h, "b AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	expect(h, "=\r\n", PA_OK, BAD("b"));	/* an empty user name */
	expect(h, "c AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	expect(h, "dXNlcg==\r\n", PA_OK, "+ UGFzc3dvcmQ6\r\n");
	expect(h, "not base64\r\n", PA_OK, BAD("c"));
	cr_assert_eq(h->ctx.errors, 3);
	ih_close(h);
}

Test(imap, authenticate_plain_and_login_work_when_not_advertised)
{
	struct ih *h = open_h("      imap_auth: cram-md5\n");

	expect(h, "a AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	expect(h, "dXNlcg==\r\n", PA_OK, "+ UGFzc3dvcmQ6\r\n");
	cr_assert_eq(ih_sends(h, "cGFzcw==\r\n"), PA_AUTH);
	creds_clear(&h->ctx.cr);
	cr_assert_eq(ih_sends(h, "b AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n"), PA_AUTH);
	ih_close(h);
}

/* The salt in "+ <base64>" must be nginx's "<random.time@server_name>". */
static void
check_salt_line(const char *line, const char *salt)
{
	regex_t re;
	size_t n = strlen(line);
	unsigned char dec[512];
	long dl;

	cr_assert_gt(n, 4);
	cr_assert_eq(strncmp(line, "+ ", 2), 0, "\"%s\"", line);
	cr_assert_eq(strcmp(line + n - 2, "\r\n"), 0);
	dl = b64_decode(line + 2, n - 4, dec);
	cr_assert_gt(dl, 0, "challenge is not base64: \"%s\"", line);
	dec[dl] = '\0';
	cr_assert_str_eq((char *)dec, salt);
	cr_assert_eq(regcomp(&re, "^<[0-9]+\\.[0-9]+@mail\\.example\\.com>$", REG_EXTENDED), 0);
	cr_assert_eq(regexec(&re, salt, 0, NULL, 0), 0, "salt \"%s\"", salt);
	regfree(&re);
}

Test(imap, authenticate_cram_md5)
{
	struct ih *h = open_h("      imap_auth: [plain, cram-md5]\n      server_name: mail.example.com\n");

	cr_assert_eq(ih_sends(h, "a AUTHENTICATE CRAM-MD5\r\n"), PA_OK);
	cr_assert_not_null(h->ctx.cr.salt);
	check_salt_line(ih_out(h), h->ctx.cr.salt);
	cr_assert_eq(ih_sends(h, "Ym9iIDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm\r\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "bob");
	cr_assert_str_eq(h->ctx.cr.passwd, "0123456789abcdef0123456789abcdef");
	cr_assert_eq(h->ctx.cr.method, AUTHM_CRAM_MD5);
	cr_assert_not_null(h->ctx.cr.salt, "the salt goes to the auth service");
	ih_close(h);
}

Test(imap, authenticate_cram_md5_needs_enabling_and_no_initial_response)
{
	struct ih *h = open_h(NULL);

	expect(h, "a AUTHENTICATE CRAM-MD5\r\n", PA_OK, BAD("a"));
	ih_close(h);
	h = open_h("      imap_auth: [plain, cram-md5]\n");
	expect(h, "b AUTHENTICATE CRAM-MD5 Ym9i\r\n", PA_OK, BAD("b"));
	cr_assert_eq(ih_sends(h, "c AUTHENTICATE cram-md5\r\n"), PA_OK);
	cr_assert_eq(strncmp(ih_out(h), "+ ", 2), 0);
	/* Not "user <32 hex digits>". */
	expect(h, "Ym9iIDAxMjM=\r\n", PA_OK, BAD("c"));
	ih_close(h);
}

Test(imap, authenticate_external)
{
	struct ih *h = open_h("      imap_auth: [plain, external]\n");

	expect(h, "a AUTHENTICATE EXTERNAL\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	cr_assert_eq(ih_sends(h, "dXNlcg==\r\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "user");
	cr_assert_null(h->ctx.cr.passwd);
	cr_assert_eq(h->ctx.cr.method, AUTHM_EXTERNAL);
	creds_clear(&h->ctx.cr);
	cr_assert_eq(ih_sends(h, "b AUTHENTICATE EXTERNAL dXNlcg==\r\n"), PA_AUTH);
	cr_assert_str_eq(ih_out(h), "");
	cr_assert_str_eq(h->ctx.cr.login, "user");
	cr_assert_eq(h->ctx.cr.method, AUTHM_EXTERNAL);
	creds_clear(&h->ctx.cr);
	/* "=": an empty identity (the certificate decides). */
	cr_assert_eq(ih_sends(h, "c AUTHENTICATE EXTERNAL =\r\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "");
	ih_close(h);
}

Test(imap, authenticate_external_needs_enabling)
{
	struct ih *h = open_h(NULL);

	expect(h, "a AUTHENTICATE EXTERNAL\r\n", PA_OK, BAD("a"));
	expect(h, "b AUTHENTICATE EXTERNAL dXNlcg==\r\n", PA_OK, BAD("b"));
	ih_close(h);
}

Test(imap, authenticate_unknown_or_malformed)
{
	struct ih *h = open_h("      max_errors: 20\n");

	expect(h, "a AUTHENTICATE\r\n", PA_OK, BAD("a"));
	expect(h, "b AUTHENTICATE GSSAPI\r\n", PA_OK, BAD("b"));
	expect(h, "c AUTHENTICATE PLAINX\r\n", PA_OK, BAD("c"));
	expect(h, "d AUTHENTICATE PLAIN a b\r\n", PA_OK, BAD("d"));
	expect(h, "e AUTHENTICATE \"PLAIN\"\r\n", PA_OK, BAD("e"));
	expect(h, "f AUTHENTICATE (PLAIN)\r\n", PA_OK, BAD("f"));
	cr_assert_eq(h->ctx.errors, 6);
	ih_close(h);
}

Test(imap, authenticate_refused_under_starttls_only)
{
	struct ih *h = open_h("      imap_auth: [plain, login, cram-md5, external]\n");

	h->conf->starttls = STARTTLS_ONLY;
	expect(h, "a AUTHENTICATE PLAIN\r\n", PA_OK, BAD("a"));
	expect(h, "b AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n", PA_OK, BAD("b"));
	expect(h, "c AUTHENTICATE LOGIN\r\n", PA_OK, BAD("c"));
	expect(h, "d AUTHENTICATE CRAM-MD5\r\n", PA_OK, BAD("d"));
	h->ctx.tls = 1;
	expect(h, "e AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	ih_close(h);
}

Test(imap, sasl_line_too_long_closes)
{
	struct ih *h = open_h("      imap_client_buffer: 64\n");
	char line[200];

	expect(h, "a AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	memset(line, 'A', sizeof(line));
	cr_assert_eq(ih_send(h, line, sizeof(line)), PA_CLOSE);
	cr_assert_str_eq(ih_out(h), BAD("a"));
	ih_close(h);
}

Test(imap, sasl_continuation_split_anywhere)
{
	struct ih *h = open_h(NULL);

	h->chunk = 1;
	expect(h, "a AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	expect(h, "dXNlcg==\r\n", PA_OK, "+ UGFzc3dvcmQ6\r\n");
	cr_assert_eq(ih_sends(h, "cGFzcw==\r\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.passwd, "pass");
	ih_close(h);
}

/* ---- ID ---- */

Test(imap, id_nil)
{
	struct ih *h = open_h(NULL);

	expect(h, "a ID NIL\r\n", PA_OK, "* ID NIL\r\na OK completed\r\n");
	expect(h, "b id nil\r\n", PA_OK, "* ID NIL\r\nb OK completed\r\n");
	cr_assert_null(h->ctx.u.imap.id);
	cr_assert_eq(h->ctx.errors, 0);
	ih_close(h);
}

Test(imap, id_list_answered_and_not_kept_without_forwarding)
{
	struct ih *h = open_h(NULL);

	expect(h, "a ID (\"name\" \"Thunderbird\" \"version\" \"115.0\")\r\n", PA_OK,
	    "* ID NIL\r\na OK completed\r\n");
	cr_assert_null(h->ctx.u.imap.id);
	expect(h, "b ID ()\r\n", PA_OK, "* ID NIL\r\nb OK completed\r\n");
	ih_close(h);
}

Test(imap, id_list_kept_for_forwarding)
{
	struct ih *h = open_h(NULL);

	h->conf->imap_id_forward = 1;
	expect(h, "a ID (\"name\" \"Thunder \\\"bird\\\"\" \"os\" NIL {7}\r\n", PA_AGAIN, "+ OK\r\n");
	expect(h, "version \"1\\\\2\")\r\n", PA_OK, "* ID NIL\r\na OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id,
	    "\"name\" \"Thunder \\\"bird\\\"\" \"os\" NIL \"version\" \"1\\\\2\" ");
	/* A second ID replaces the first; ID NIL forgets it. */
	expect(h, "b ID (\"name\" \"x\")\r\n", PA_OK, "* ID NIL\r\nb OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id, "\"name\" \"x\" ");
	expect(h, "c ID NIL\r\n", PA_OK, "* ID NIL\r\nc OK completed\r\n");
	cr_assert_null(h->ctx.u.imap.id);
	ih_close(h);
}

Test(imap, id_cannot_spoof_the_proxy_fields)
{
	struct ih *h = open_h(NULL);

	h->conf->imap_id_forward = 1;
	expect(h, "a ID (\"X-Originating-IP\" \"10.0.0.1\" \"name\" \"m\" \"x-connected-port\" \"1\" "
	    "\"x-originating-port\" \"2\")\r\n", PA_OK, "* ID NIL\r\na OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id, "\"name\" \"m\" ");
	ih_close(h);
}

Test(imap, id_values_that_cannot_be_quoted_are_not_forwarded)
{
	struct ih *h = open_h(NULL);

	h->conf->imap_id_forward = 1;
	/* A literal may carry CR, LF or NUL; a quoted string cannot. */
	expect(h, "a ID (\"name\" {4+}\r\na\r\nb \"os\" \"x\")\r\n", PA_OK, "* ID NIL\r\na OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id, "\"os\" \"x\" ");
	expect(h, "b ID ({3+}\r\na\nb \"v\" \"os\" \"y\")\r\n", PA_OK, "* ID NIL\r\nb OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id, "\"os\" \"y\" ");
	EXPECT_BIN(h, "c ID (\"name\" {3+}\r\na\0b \"os\" \"z\")\r\n", PA_OK, "* ID NIL\r\nc OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id, "\"os\" \"z\" ");
	expect(h, "d ID (\"name\" {3+}\r\na\rb)\r\n", PA_OK, "* ID NIL\r\nd OK completed\r\n");
	cr_assert_null(h->ctx.u.imap.id);
	ih_close(h);
}

Test(imap, id_malformed)
{
	struct ih *h = open_h("      max_errors: 20\n");
	char longkey[64], cmd[2048];

	h->conf->imap_id_forward = 1;
	expect(h, "a ID\r\n", PA_OK, BAD("a"));
	expect(h, "b ID foo\r\n", PA_OK, BAD("b"));
	expect(h, "c ID (\"name\")\r\n", PA_OK, BAD("c"));
	expect(h, "d ID (name value)\r\n", PA_OK, BAD("d"));
	expect(h, "e ID (NIL \"v\")\r\n", PA_OK, BAD("e"));
	expect(h, "f ID NIL NIL\r\n", PA_OK, BAD("f"));
	expect(h, "g ID (\"a\" \"b\") NIL\r\n", PA_OK, BAD("g"));
	/* RFC 2971: field names up to 30 bytes, values up to 1024. */
	memset(longkey, 'k', 31);
	longkey[31] = '\0';
	snprintf(cmd, sizeof(cmd), "h ID (\"%s\" \"v\")\r\n", longkey);
	expect(h, cmd, PA_OK, BAD("h"));
	longkey[30] = '\0';
	snprintf(cmd, sizeof(cmd), "i ID (\"%s\" \"v\")\r\n", longkey);
	expect(h, cmd, PA_OK, "* ID NIL\r\ni OK completed\r\n");
	cr_assert_eq(h->ctx.errors, 8);
	ih_close(h);
}

Test(imap, id_value_length_limit)
{
	struct ih *h = open_h("      max_errors: 20\n");
	char cmd[4096];
	int n;

	n = snprintf(cmd, sizeof(cmd), "a ID (\"k\" \"");
	memset(cmd + n, 'v', 1024);
	strcpy(cmd + n + 1024, "\")\r\n");
	expect(h, cmd, PA_OK, "* ID NIL\r\na OK completed\r\n");
	cmd[0] = 'b';
	memset(cmd + n, 'v', 1025);
	strcpy(cmd + n + 1025, "\")\r\n");
	expect(h, cmd, PA_OK, BAD("b"));
	ih_close(h);
}

Test(imap, id_too_many_fields)
{
	struct ih *h = open_h(NULL);
	char cmd[2048];
	size_t o = 0;

	o += (size_t)sprintf(cmd, "a ID (");
	for (int i = 0; i < ID_FIELDS_MAX + 1; i++)
		o += (size_t)sprintf(cmd + o, "\"k%d\" \"v\" ", i);
	strcpy(cmd + o - 1, ")\r\n");
	expect(h, cmd, PA_OK, BAD("a"));
	ih_close(h);
}

/* ---- errors, odd lines, max_errors ---- */

Test(imap, unknown_commands)
{
	static const char *const cmds[] = {
		"SELECT INBOX", "ENABLE UTF8=ACCEPT", "COMPRESS DEFLATE", "LIST \"\" *", "XYZZY", "UID FETCH 1 BODY[]",
	};
	struct ih *h = open_h("      max_errors: 100\n");
	char line[128];

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(line, sizeof(line), "t%zu %s\r\n", i, cmds[i]);
		char want[64];
		snprintf(want, sizeof(want), "t%zu BAD invalid command\r\n", i);
		expect(h, line, PA_OK, want);
	}
	cr_assert_eq(h->ctx.errors, sizeof(cmds) / sizeof(cmds[0]));
	ih_close(h);
}

Test(imap, bad_tags_are_answered_untagged)
{
	struct ih *h = open_h("      max_errors: 100\n");
	char line[128];

	memset(line, 'a', 33);
	strcpy(line + 33, " NOOP\r\n");
	expect(h, line, PA_OK, BAD("*"));
	line[32] = ' ';
	line[33] = '\0';
	strcat(line, "NOOP\r\n");
	char want[64];
	memset(want, 'a', 32);
	strcpy(want + 32, " OK completed\r\n");
	expect(h, line, PA_OK, want);
	expect(h, "a+b NOOP\r\n", PA_OK, BAD("*"));
	expect(h, "* NOOP\r\n", PA_OK, BAD("*"));
	expect(h, "a\"b NOOP\r\n", PA_OK, BAD("*"));
	expect(h, "\xc3\xa9 NOOP\r\n", PA_OK, BAD("*"));
	cr_assert_eq(h->ctx.errors, 5);
	ih_close(h);
}

Test(imap, empty_and_blank_lines)
{
	struct ih *h = open_h("      max_errors: 100\n");

	expect(h, "\r\n", PA_OK, BAD("*"));
	expect(h, "\n", PA_OK, BAD("*"));
	expect(h, "   \r\n", PA_OK, BAD("*"));
	expect(h, "a\r\n", PA_OK, BAD("*"));
	expect(h, "a \r\n", PA_OK, BAD("a"));
	cr_assert_eq(h->ctx.errors, 5);
	ih_close(h);
}

Test(imap, nul_bearing_and_non_ascii_lines)
{
	struct ih *h = open_h("      max_errors: 100\n");

	cr_assert_eq(ih_send(h, "a NOOP\0\r\n", 9), PA_OK);
	cr_assert_str_eq(ih_out(h), BAD("a"));
	cr_assert_eq(ih_send(h, "\0\r\n", 3), PA_OK);
	cr_assert_str_eq(ih_out(h), BAD("*"));
	cr_assert_eq(ih_send(h, "b LOGIN bob \"p\0w\"\r\n", 19), PA_OK);
	cr_assert_str_eq(ih_out(h), BAD("b"));
	expect(h, "c N\xc3\x96OP\r\n", PA_OK, BAD("c"));
	expect(h, "d NOOP \xff\xfe\r\n", PA_OK, BAD("d"));
	cr_assert_eq(h->ctx.errors, 5);
	cr_assert_null(h->ctx.cr.login);
	ih_close(h);
}

Test(imap, truncated_line_waits)
{
	struct ih *h = open_h(NULL);

	expect(h, "a NOO", PA_AGAIN, "");
	expect(h, "P\r", PA_AGAIN, "");
	expect(h, "\n", PA_OK, "a OK completed\r\n");
	expect(h, "b LOGIN \"bo", PA_AGAIN, "");
	login_ok(h, "b\" x\r\n", "bob", "x");
	ih_close(h);
}

Test(imap, oversized_line_closes)
{
	struct ih *h = open_h("      imap_client_buffer: 64\n");
	char line[300];

	cr_assert_eq(h->ctx.bufsize, 64);
	memcpy(line, "a LOGIN ", 8);
	memset(line + 8, 'x', sizeof(line) - 8);
	cr_assert_eq(ih_send(h, line, sizeof(line)), PA_CLOSE);
	cr_assert_str_eq(ih_out(h), BAD("a"));
	cr_assert_null(h->ctx.cr.login);
	ih_close(h);
}

Test(imap, oversized_line_without_tag_closes)
{
	struct ih *h = open_h("      imap_client_buffer: 64\n");
	char line[100];

	memset(line, 't', sizeof(line));
	cr_assert_eq(ih_send(h, line, sizeof(line)), PA_CLOSE);
	cr_assert_str_eq(ih_out(h), BAD("*"));
	ih_close(h);
}

Test(imap, line_of_exactly_the_buffer_size)
{
	struct ih *h = open_h("      imap_client_buffer: 64\n");
	char line[64];

	memcpy(line, "a LOGIN u ", 10);
	memset(line + 10, 'p', 52);
	memcpy(line + 62, "\r\n", 2);
	cr_assert_eq(ih_send(h, line, sizeof(line)), PA_AUTH);
	cr_assert_eq(strlen(h->ctx.cr.passwd), 52);
	ih_close(h);
}

Test(imap, literal_over_the_buffer_sync_is_refused_and_session_goes_on)
{
	struct ih *h = open_h("      imap_client_buffer: 64\n");

	expect(h, "a LOGIN {100}\r\n", PA_OK, BAD("a"));
	login_ok(h, "b LOGIN bob pass\r\n", "bob", "pass");
	ih_close(h);
}

Test(imap, literal_over_the_buffer_nonsync_closes)
{
	struct ih *h = open_h("      imap_client_buffer: 64\n");

	expect(h, "a LOGIN {100+}\r\n", PA_CLOSE, BAD("a"));
	ih_close(h);
}

Test(imap, literal_filling_the_buffer_closes)
{
	struct ih *h = open_h("      imap_client_buffer: 64\n");
	char data[64];

	/* "a LOGIN {50}\r\n" + 50 bytes = 64: the command cannot end inside the buffer. */
	expect(h, "a LOGIN {50}\r\n", PA_AGAIN, "+ OK\r\n");
	memset(data, 'u', 50);
	cr_assert_eq(ih_send(h, data, 50), PA_CLOSE);
	cr_assert_str_eq(ih_out(h), BAD("a"));
	ih_close(h);
}

Test(imap, invalid_line_ending_in_nonsync_literal_closes)
{
	struct ih *h = open_h(NULL);

	expect(h, "a SELECT {5+}\r\nINBOX\r\n", PA_OK, BAD("a"));
	ih_close(h);
	h = open_h(NULL);
	expect(h, "a BAD\x01 {5+}\r\nhello\r\n", PA_CLOSE, BAD("a"));
	ih_close(h);
}

Test(imap, max_errors_closes_on_the_last_one)
{
	struct ih *h = open_h("      max_errors: 3\n");

	expect(h, "a FOO\r\n", PA_OK, BAD("a"));
	expect(h, "b NOOP\r\n", PA_OK, "b OK completed\r\n");
	expect(h, "\r\n", PA_OK, BAD("*"));
	expect(h, "c AUTHENTICATE PLAIN !!!!\r\n", PA_CLOSE, BAD("c"));
	cr_assert_eq(h->ctx.errors, 3);
	ih_close(h);
}

Test(imap, max_errors_default_is_five)
{
	struct ih *h = open_h(NULL);

	for (int i = 0; i < 4; i++)
		expect(h, "a BOGUS\r\n", PA_OK, BAD("a"));
	expect(h, "a BOGUS\r\n", PA_CLOSE, BAD("a"));
	ih_close(h);
}

Test(imap, max_errors_pipelined_stops_at_the_limit)
{
	struct ih *h = open_h("      max_errors: 2\n");

	expect(h, "a X\r\nb Y\r\nc NOOP\r\n", PA_CLOSE, BAD("a") BAD("b"));
	ih_close(h);
}

/* ---- pipelining and auth results ---- */

Test(imap, pipelined_commands)
{
	struct ih *h = open_h(NULL);

	cr_assert_eq(ih_sends(h, "a NOOP\r\nb CAPABILITY\r\nc LOGIN bob pass\r\nd NOOP\r\ne LOGOUT\r\n"),
	    PA_AUTH);
	cr_assert_str_eq(ih_out(h), "a OK completed\r\n" CAPS " AUTH=PLAIN\r\nb OK completed\r\n");
	cr_assert_str_eq(h->ctx.cr.login, "bob");
	cr_assert_str_eq(h->ctx.u.imap.tag, "c ");
	cr_assert_eq(ih_unread(h), strlen("d NOOP\r\ne LOGOUT\r\n"), "the rest waits for the auth result");
	/* The auth service refused with Auth-Wait: the client may go on. */
	cr_assert_eq(imap_proto.auth_failed(&h->ctx, "Invalid login or password", NULL, 1), PA_OK);
	cr_assert_str_eq(ih_out(h), "c NO Invalid login or password\r\n");
	creds_clear(&h->ctx.cr);
	cr_assert_eq(ih_resume(h), PA_CLOSE);
	cr_assert_str_eq(ih_out(h), "d OK completed\r\n* BYE\r\ne OK completed\r\n");
	ih_close(h);
}

Test(imap, pipelined_split_at_every_read_size)
{
	const char *in = "a NOOP\r\nb LOGIN {3}\r\nbob \"p\\\"w\"\r\n";

	for (size_t chunk = 1; chunk <= strlen(in); chunk++) {
		struct ih *h = open_h(NULL);
		h->chunk = chunk;
		cr_assert_eq(ih_sends(h, in), PA_AUTH, "chunk %zu", chunk);
		cr_assert_str_eq(h->ctx.cr.login, "bob");
		cr_assert_str_eq(h->ctx.cr.passwd, "p\"w");
		const char *out = ih_out(h);
		/* The literal's data arrived with its announcement only when the read was large enough. */
		if (strstr(out, "+ OK") != NULL)
			cr_assert_str_eq(out, "a OK completed\r\n+ OK\r\n", "chunk %zu", chunk);
		else
			cr_assert_str_eq(out, "a OK completed\r\n", "chunk %zu", chunk);
		ih_close(h);
	}
}

Test(imap, auth_failed_without_retry_closes)
{
	struct ih *h = open_h(NULL);

	cr_assert_eq(ih_sends(h, "x1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n"), PA_AUTH);
	cr_assert_eq(imap_proto.auth_failed(&h->ctx, "Temporary failure", NULL, 0), PA_CLOSE);
	cr_assert_str_eq(ih_out(h), "x1 NO Temporary failure\r\n");
	ih_close(h);
}

Test(imap, canned_lines)
{
	cr_assert_str_eq(imap_proto.name, "imap");
	cr_assert_str_eq(imap_proto.internal_error, "* BAD internal server error\r\n");
	cr_assert_str_eq(imap_proto.cert_error, "* BYE SSL certificate error\r\n");
	cr_assert_str_eq(imap_proto.no_cert, "* BYE No required SSL certificate\r\n");
	cr_assert_eq(proto_for(MP_PROTO_IMAP), &imap_proto);
}
