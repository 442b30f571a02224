/*
 * The IMAP pre-auth machine (worker/proto/imap.c), continued from test_imap.c:
 * AUTHENTICATE PLAIN/LOGIN/CRAM-MD5/EXTERNAL with and without an initial
 * response and nginx's exact continuation lines, and ID (answered by
 * mailproxy, where nginx says BAD; kept for imap_id_forward).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/sasl.h"

#define BAD(tag) tag " BAD invalid command\r\n"

TestSuite(imap_auth, .init = th_setup, .fini = th_teardown);

static struct mh H;

static struct mh *
open_h(const char *yaml)
{
	mh_open_imap(&H, yaml);
	return &H;
}

/* ---- AUTHENTICATE ---- */

Test(imap_auth, authenticate_plain_with_continuation)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	cr_assert_eq(mh_sends(h, "AHVzZXIAcGFzcw==\r\n"), PA_AUTH);
	cr_assert_str_eq(mh_out(h), "");
	cr_assert_str_eq(h->ctx.cr.login, "user");
	cr_assert_str_eq(h->ctx.cr.passwd, "pass");
	cr_assert_eq(h->ctx.cr.method, AUTHM_PLAIN);
	cr_assert_str_eq(h->ctx.u.imap.tag, "a ");
	mh_close(h);
}

Test(imap_auth, authenticate_plain_initial_response_ignores_authzid)
{
	struct mh *h = open_h(NULL);

	cr_assert_eq(mh_sends(h, "a authenticate plain YXV0aHoAYm9iAHMzY3JldCBw\r\n"), PA_AUTH);
	cr_assert_str_eq(mh_out(h), "");
	cr_assert_str_eq(h->ctx.cr.login, "bob");
	cr_assert_str_eq(h->ctx.cr.passwd, "s3cret p");
	mh_close(h);
}

Test(imap_auth, authenticate_plain_bad_data)
{
	struct mh *h = open_h("      max_errors: 20\n");

	/* No "*" cancel: anything that is not base64 of "a\0b\0c" is BAD. */
	mh_expect(h, "a AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	mh_expect(h, "*\r\n", PA_OK, BAD("a"));
	mh_expect(h, "b AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	mh_expect(h, "\r\n", PA_OK, BAD("b"));
	mh_expect(h, "c AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	mh_expect(h, "dXNlcg==\r\n", PA_OK, BAD("c"));
	mh_expect(h, "d AUTHENTICATE PLAIN AHVzZXIAcGFzcw=\r\n", PA_OK, BAD("d"));
	mh_expect(h, "e AUTHENTICATE PLAIN AHVzZXIAcGF!cw==\r\n", PA_OK, BAD("e"));
	mh_expect(h, "f AUTHENTICATE PLAIN \"AHVzZXIAcGFzcw==\"\r\n", PA_OK, BAD("f"));
	mh_expect(h, "g AUTHENTICATE PLAIN AHVz ZXIA\r\n", PA_OK, BAD("g"));
	cr_assert_eq(h->ctx.errors, 7);
	/* Back at the start: commands work again. */
	mh_expect(h, "h NOOP\r\n", PA_OK, "h OK completed\r\n");
	mh_close(h);
}

Test(imap_auth, authenticate_plain_refuses_cr_lf_nul)
{
	struct mh *h = open_h("      max_errors: 20\n");

	mh_expect(h, "a AUTHENTICATE PLAIN AHVzDWVyAHBhc3M=\r\n", PA_OK, BAD("a"));
	mh_expect(h, "b AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	mh_expect(h, "AHVzZXIAcGEKc3M=\r\n", PA_OK, BAD("b"));
	mh_expect(h, "c AUTHENTICATE PLAIN AHVzZXIAcGEAc3M=\r\n", PA_OK, BAD("c"));
	cr_assert_eq(h->ctx.errors, 3);
	mh_close(h);
}

Test(imap_auth, authenticate_login_with_continuations)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	mh_expect(h, "dXNlcg==\r\n", PA_OK, "+ UGFzc3dvcmQ6\r\n");
	cr_assert_eq(mh_sends(h, "cGFzcw==\r\n"), PA_AUTH);
	cr_assert_str_eq(mh_out(h), "");
	cr_assert_str_eq(h->ctx.cr.login, "user");
	cr_assert_str_eq(h->ctx.cr.passwd, "pass");
	cr_assert_eq(h->ctx.cr.method, AUTHM_PLAIN, "LOGIN is sent to the auth service as plain");
	mh_close(h);
}

Test(imap_auth, authenticate_login_with_initial_response)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a AUTHENTICATE LOGIN dXNlcg==\r\n", PA_OK, "+ UGFzc3dvcmQ6\r\n");
	cr_assert_eq(mh_sends(h, "cGFzcw==\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "user");
	cr_assert_str_eq(h->ctx.cr.passwd, "pass");
	mh_close(h);
}

Test(imap_auth, authenticate_login_bad_data)
{
	struct mh *h = open_h("      max_errors: 20\n");

	mh_expect(h, "a AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	mh_expect(h, "dXMNZXI=\r\n", PA_OK, BAD("a"));	/* "us\rer" */
	mh_expect(h, "b AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	mh_expect(h, "=\r\n", PA_OK, BAD("b"));	/* an empty user name */
	mh_expect(h, "c AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	mh_expect(h, "dXNlcg==\r\n", PA_OK, "+ UGFzc3dvcmQ6\r\n");
	mh_expect(h, "not base64\r\n", PA_OK, BAD("c"));
	cr_assert_eq(h->ctx.errors, 3);
	mh_close(h);
}

Test(imap_auth, authenticate_plain_and_login_work_when_not_advertised)
{
	struct mh *h = open_h("      imap_auth: cram-md5\n");

	mh_expect(h, "a AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	mh_expect(h, "dXNlcg==\r\n", PA_OK, "+ UGFzc3dvcmQ6\r\n");
	cr_assert_eq(mh_sends(h, "cGFzcw==\r\n"), PA_AUTH);
	creds_clear(&h->ctx.cr);
	cr_assert_eq(mh_sends(h, "b AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n"), PA_AUTH);
	mh_close(h);
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

Test(imap_auth, authenticate_cram_md5)
{
	struct mh *h = open_h("      imap_auth: [plain, cram-md5]\n      server_name: mail.example.com\n");

	cr_assert_eq(mh_sends(h, "a AUTHENTICATE CRAM-MD5\r\n"), PA_OK);
	cr_assert_not_null(h->ctx.cr.salt);
	check_salt_line(mh_out(h), h->ctx.cr.salt);
	cr_assert_eq(mh_sends(h, "Ym9iIDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm\r\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "bob");
	cr_assert_str_eq(h->ctx.cr.passwd, "0123456789abcdef0123456789abcdef");
	cr_assert_eq(h->ctx.cr.method, AUTHM_CRAM_MD5);
	cr_assert_not_null(h->ctx.cr.salt, "the salt goes to the auth service");
	mh_close(h);
}

Test(imap_auth, authenticate_cram_md5_needs_enabling_and_no_initial_response)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a AUTHENTICATE CRAM-MD5\r\n", PA_OK, BAD("a"));
	mh_close(h);
	h = open_h("      imap_auth: [plain, cram-md5]\n");
	mh_expect(h, "b AUTHENTICATE CRAM-MD5 Ym9i\r\n", PA_OK, BAD("b"));
	cr_assert_eq(mh_sends(h, "c AUTHENTICATE cram-md5\r\n"), PA_OK);
	cr_assert_eq(strncmp(mh_out(h), "+ ", 2), 0);
	/* Not "user <32 hex digits>". */
	mh_expect(h, "Ym9iIDAxMjM=\r\n", PA_OK, BAD("c"));
	mh_close(h);
}

Test(imap_auth, authenticate_external)
{
	struct mh *h = open_h("      imap_auth: [plain, external]\n");

	mh_expect(h, "a AUTHENTICATE EXTERNAL\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	cr_assert_eq(mh_sends(h, "dXNlcg==\r\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "user");
	cr_assert_null(h->ctx.cr.passwd);
	cr_assert_eq(h->ctx.cr.method, AUTHM_EXTERNAL);
	creds_clear(&h->ctx.cr);
	cr_assert_eq(mh_sends(h, "b AUTHENTICATE EXTERNAL dXNlcg==\r\n"), PA_AUTH);
	cr_assert_str_eq(mh_out(h), "");
	cr_assert_str_eq(h->ctx.cr.login, "user");
	cr_assert_eq(h->ctx.cr.method, AUTHM_EXTERNAL);
	creds_clear(&h->ctx.cr);
	/* "=": an empty identity (the certificate decides). */
	cr_assert_eq(mh_sends(h, "c AUTHENTICATE EXTERNAL =\r\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "");
	mh_close(h);
}

Test(imap_auth, authenticate_external_needs_enabling)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a AUTHENTICATE EXTERNAL\r\n", PA_OK, BAD("a"));
	mh_expect(h, "b AUTHENTICATE EXTERNAL dXNlcg==\r\n", PA_OK, BAD("b"));
	mh_close(h);
}

Test(imap_auth, authenticate_unknown_or_malformed)
{
	struct mh *h = open_h("      max_errors: 20\n");

	mh_expect(h, "a AUTHENTICATE\r\n", PA_OK, BAD("a"));
	mh_expect(h, "b AUTHENTICATE GSSAPI\r\n", PA_OK, BAD("b"));
	mh_expect(h, "c AUTHENTICATE PLAINX\r\n", PA_OK, BAD("c"));
	mh_expect(h, "d AUTHENTICATE PLAIN a b\r\n", PA_OK, BAD("d"));
	mh_expect(h, "e AUTHENTICATE \"PLAIN\"\r\n", PA_OK, BAD("e"));
	mh_expect(h, "f AUTHENTICATE (PLAIN)\r\n", PA_OK, BAD("f"));
	cr_assert_eq(h->ctx.errors, 6);
	mh_close(h);
}

Test(imap_auth, authenticate_refused_under_starttls_only)
{
	struct mh *h = open_h("      imap_auth: [plain, login, cram-md5, external]\n");

	h->conf->starttls = STARTTLS_ONLY;
	mh_expect(h, "a AUTHENTICATE PLAIN\r\n", PA_OK, BAD("a"));
	mh_expect(h, "b AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n", PA_OK, BAD("b"));
	mh_expect(h, "c AUTHENTICATE LOGIN\r\n", PA_OK, BAD("c"));
	mh_expect(h, "d AUTHENTICATE CRAM-MD5\r\n", PA_OK, BAD("d"));
	h->ctx.tls = 1;
	mh_expect(h, "e AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	mh_close(h);
}

Test(imap_auth, sasl_line_too_long_closes)
{
	struct mh *h = open_h("      imap_client_buffer: 64\n");
	char line[200];

	mh_expect(h, "a AUTHENTICATE PLAIN\r\n", PA_OK, "+ \r\n");
	memset(line, 'A', sizeof(line));
	cr_assert_eq(mh_send(h, line, sizeof(line)), PA_CLOSE);
	cr_assert_str_eq(mh_out(h), BAD("a"));
	mh_close(h);
}

Test(imap_auth, sasl_continuation_split_anywhere)
{
	struct mh *h = open_h(NULL);

	h->chunk = 1;
	mh_expect(h, "a AUTHENTICATE LOGIN\r\n", PA_OK, "+ VXNlcm5hbWU6\r\n");
	mh_expect(h, "dXNlcg==\r\n", PA_OK, "+ UGFzc3dvcmQ6\r\n");
	cr_assert_eq(mh_sends(h, "cGFzcw==\r\n"), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.passwd, "pass");
	mh_close(h);
}

/* ---- ID ---- */

Test(imap_auth, id_nil)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a ID NIL\r\n", PA_OK, "* ID NIL\r\na OK completed\r\n");
	mh_expect(h, "b id nil\r\n", PA_OK, "* ID NIL\r\nb OK completed\r\n");
	cr_assert_null(h->ctx.u.imap.id);
	cr_assert_eq(h->ctx.errors, 0);
	mh_close(h);
}

Test(imap_auth, id_list_answered_and_not_kept_without_forwarding)
{
	struct mh *h = open_h(NULL);

	mh_expect(h, "a ID (\"name\" \"Thunderbird\" \"version\" \"115.0\")\r\n", PA_OK,
	    "* ID NIL\r\na OK completed\r\n");
	cr_assert_null(h->ctx.u.imap.id);
	mh_expect(h, "b ID ()\r\n", PA_OK, "* ID NIL\r\nb OK completed\r\n");
	mh_close(h);
}

Test(imap_auth, id_list_kept_for_forwarding)
{
	struct mh *h = open_h(NULL);

	h->conf->imap_id_forward = 1;
	mh_expect(h, "a ID (\"name\" \"Thunder \\\"bird\\\"\" \"os\" NIL {7}\r\n", PA_AGAIN, "+ OK\r\n");
	mh_expect(h, "version \"1\\\\2\")\r\n", PA_OK, "* ID NIL\r\na OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id,
	    "\"name\" \"Thunder \\\"bird\\\"\" \"os\" NIL \"version\" \"1\\\\2\" ");
	/* A second ID replaces the first; ID NIL forgets it. */
	mh_expect(h, "b ID (\"name\" \"x\")\r\n", PA_OK, "* ID NIL\r\nb OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id, "\"name\" \"x\" ");
	mh_expect(h, "c ID NIL\r\n", PA_OK, "* ID NIL\r\nc OK completed\r\n");
	cr_assert_null(h->ctx.u.imap.id);
	mh_close(h);
}

Test(imap_auth, id_cannot_spoof_the_proxy_fields)
{
	struct mh *h = open_h(NULL);

	h->conf->imap_id_forward = 1;
	mh_expect(h, "a ID (\"X-Originating-IP\" \"10.0.0.1\" \"name\" \"m\" \"x-connected-port\" \"1\" "
	    "\"x-originating-port\" \"2\")\r\n", PA_OK, "* ID NIL\r\na OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id, "\"name\" \"m\" ");
	mh_close(h);
}

Test(imap_auth, id_values_that_cannot_be_quoted_are_not_forwarded)
{
	struct mh *h = open_h(NULL);

	h->conf->imap_id_forward = 1;
	/* A literal may carry CR, LF or NUL; a quoted string cannot. */
	mh_expect(h, "a ID (\"name\" {4+}\r\na\r\nb \"os\" \"x\")\r\n", PA_OK, "* ID NIL\r\na OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id, "\"os\" \"x\" ");
	mh_expect(h, "b ID ({3+}\r\na\nb \"v\" \"os\" \"y\")\r\n", PA_OK, "* ID NIL\r\nb OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id, "\"os\" \"y\" ");
	MH_EXPECT_BIN(h, "c ID (\"name\" {3+}\r\na\0b \"os\" \"z\")\r\n", PA_OK, "* ID NIL\r\nc OK completed\r\n");
	cr_assert_str_eq(h->ctx.u.imap.id, "\"os\" \"z\" ");
	mh_expect(h, "d ID (\"name\" {3+}\r\na\rb)\r\n", PA_OK, "* ID NIL\r\nd OK completed\r\n");
	cr_assert_null(h->ctx.u.imap.id);
	mh_close(h);
}

Test(imap_auth, id_malformed)
{
	struct mh *h = open_h("      max_errors: 20\n");
	char longkey[64], cmd[2048];

	h->conf->imap_id_forward = 1;
	mh_expect(h, "a ID\r\n", PA_OK, BAD("a"));
	mh_expect(h, "b ID foo\r\n", PA_OK, BAD("b"));
	mh_expect(h, "c ID (\"name\")\r\n", PA_OK, BAD("c"));
	mh_expect(h, "d ID (name value)\r\n", PA_OK, BAD("d"));
	mh_expect(h, "e ID (NIL \"v\")\r\n", PA_OK, BAD("e"));
	mh_expect(h, "f ID NIL NIL\r\n", PA_OK, BAD("f"));
	mh_expect(h, "g ID (\"a\" \"b\") NIL\r\n", PA_OK, BAD("g"));
	/* RFC 2971: field names up to 30 bytes, values up to 1024. */
	memset(longkey, 'k', 31);
	longkey[31] = '\0';
	snprintf(cmd, sizeof(cmd), "h ID (\"%s\" \"v\")\r\n", longkey);
	mh_expect(h, cmd, PA_OK, BAD("h"));
	longkey[30] = '\0';
	snprintf(cmd, sizeof(cmd), "i ID (\"%s\" \"v\")\r\n", longkey);
	mh_expect(h, cmd, PA_OK, "* ID NIL\r\ni OK completed\r\n");
	cr_assert_eq(h->ctx.errors, 8);
	mh_close(h);
}

Test(imap_auth, id_value_length_limit)
{
	struct mh *h = open_h("      max_errors: 20\n");
	char cmd[4096];
	int n;

	n = snprintf(cmd, sizeof(cmd), "a ID (\"k\" \"");
	memset(cmd + n, 'v', 1024);
	strcpy(cmd + n + 1024, "\")\r\n");
	mh_expect(h, cmd, PA_OK, "* ID NIL\r\na OK completed\r\n");
	cmd[0] = 'b';
	memset(cmd + n, 'v', 1025);
	strcpy(cmd + n + 1025, "\")\r\n");
	mh_expect(h, cmd, PA_OK, BAD("b"));
	mh_close(h);
}

Test(imap_auth, id_too_many_fields)
{
	struct mh *h = open_h(NULL);
	char cmd[2048];
	size_t o = 0;

	o += (size_t)sprintf(cmd, "a ID (");
	for (int i = 0; i < ID_FIELDS_MAX + 1; i++)
		o += (size_t)sprintf(cmd + o, "\"k%d\" \"v\" ", i);
	strcpy(cmd + o - 1, ")\r\n");
	mh_expect(h, cmd, PA_OK, BAD("a"));
	mh_close(h);
}
