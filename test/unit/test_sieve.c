/*
 * The ManageSieve machine before login (worker/proto/sieve.c and its
 * tokenizer sieve_parse.c): the greeting and CAPABILITY as the settings
 * make them, every command, SASL with strings and literals, and bad input
 * of every kind, fed whole and split at every byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/sasl_exchange.h"
#include "worker/proto/sieve_parse.h"

TestSuite(sieve, .init = th_setup, .fini = th_teardown);

#define CAPS_HEAD "\"IMPLEMENTATION\" \"mailproxy\"\r\n" \
	"\"SIEVE\" \"fileinto reject envelope encoded-character vacation subaddress " \
	"comparator-i;ascii-numeric relational regex imap4flags copy include variables body " \
	"enotify environment mailbox date index ihave duplicate mime foreverypart extracttext\"\r\n" \
	"\"NOTIFY\" \"mailto\"\r\n"
#define CAPS_PLAIN CAPS_HEAD "\"SASL\" \"PLAIN\"\r\n\"VERSION\" \"1.0\"\r\n"
#define CAPS_STARTTLS CAPS_HEAD "\"SASL\" \"PLAIN\"\r\n\"STARTTLS\"\r\n\"VERSION\" \"1.0\"\r\n"
#define CAPS_ONLY CAPS_HEAD "\"SASL\" \"\"\r\n\"STARTTLS\"\r\n\"VERSION\" \"1.0\"\r\n"
#define READY "OK \"ManageSieve ready.\"\r\n"
#define ERR "NO \"Error in MANAGESIEVE command.\"\r\n"
#define FIRST "NO \"Authenticate first.\"\r\n"

static struct mh H;

static struct mh *
open_s(const char *yaml)
{
	mh_open(&H, "4190", NULL, yaml);
	cr_assert_eq(H.conf->protocol, MP_PROTO_SIEVE);
	cr_assert_str_eq(mh_out(&H), CAPS_PLAIN READY);
	return &H;
}

Test(sieve, greeting_and_capability_follow_starttls)
{
	struct mh *h = open_s(NULL);

	mh_say(h, "CAPABILITY\r\n", CAPS_PLAIN "OK \"Capability completed.\"\r\n");
	h->conf->starttls = STARTTLS_ON;
	mh_say(h, "capability\r\n", CAPS_STARTTLS "OK \"Capability completed.\"\r\n");
	h->conf->starttls = STARTTLS_ONLY;
	mh_say(h, "Capability\r\n", CAPS_ONLY "OK \"Capability completed.\"\r\n");
	/* After TLS: no STARTTLS, the mechanisms back. */
	h->ctx.tls = 1;
	mh_say(h, "CAPABILITY\r\n", CAPS_PLAIN "OK \"Capability completed.\"\r\n");
	mh_close(h);
}

Test(sieve, configured_capabilities_and_mechanisms)
{
	mh_open(&H, "4190", NULL, "      sieve_capabilities: [\"IMPLEMENTATION My \\\"Sieve\\\" 2\", "
	    "\"SIEVE fileinto\", UNAUTHENTICATE]\n      sieve_auth: [xoauth2, login, plain]\n");
	cr_assert_str_eq(mh_out(&H), "\"IMPLEMENTATION\" \"My \\\"Sieve\\\" 2\"\r\n"
	    "\"SIEVE\" \"fileinto\"\r\n\"UNAUTHENTICATE\"\r\n\"SASL\" \"PLAIN LOGIN XOAUTH2\"\r\n" READY);
	mh_close(&H);
	/* A scalar splits as nginx arguments: double quotes group. */
	mh_open(&H, "4190", NULL, "      sieve_capabilities: '\"VERSION 1.0\" \"SIEVE a  b\" X'\n");
	cr_assert_str_eq(mh_out(&H), "\"SASL\" \"PLAIN\"\r\n\"VERSION\" \"1.0\"\r\n\"SIEVE\" \"a  b\"\r\n"
	    "\"X\"\r\n" READY);
	mh_close(&H);
}

Test(sieve, capabilities_refused_in_config)
{
	const char *bad[] = {
		"      sieve_capabilities: [STARTTLS]\n",
		"      sieve_capabilities: [\"SASL PLAIN\"]\n",
		"      sieve_capabilities: '\"VERSION 1.0'\n",
		"      sieve_capabilities: [\"BAD\\\"NAME x\"]\n",
		"      sieve_capabilities: [\"X \\u0001\"]\n",
		"      sieve_auth: cram-md5\n",
	};
	char yaml[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), MAIL_HEAD "  servers:\n    - listen: \"4190\"\n%s", bad[i]);
		struct config *cf = th_load(yaml);
		cr_assert_null(cf, "accepted: %s", bad[i]);
		cr_assert(strstr(th_err(), ":") != NULL);
	}
	cr_assert_null(th_load(MAIL_HEAD "  servers:\n    - listen: \"4190\"\n"
	    "      sieve_capabilities: [VERSION, STARTTLS]\n"));
	cr_assert_str_eq(th_err(), "t.yaml:5:37: \"sieve_capabilities\": \"STARTTLS\" is computed from "
	    "starttls and sieve_auth; leave it out");
	cr_assert_null(th_load(MAIL_HEAD "  servers:\n    - listen: \"4190\"\n"
	    "      sieve_capabilities: '\"VERSION 1.0'\n"));
	cr_assert_str_eq(th_err(), "t.yaml:5:27: \"sieve_capabilities\": a double quote is not closed");
}

Test(sieve, noop_with_and_without_tag)
{
	struct mh *h = open_s(NULL);

	mh_say(h, "NOOP\r\n", "OK \"NOOP completed.\"\r\n");
	mh_say(h, "NOOP \"STARTTLS-RESYNC-CAPA\"\r\n", "OK (TAG \"STARTTLS-RESYNC-CAPA\") \"Done\"\r\n");
	mh_say(h, "noop \"a\\\"b\\\\c\"\r\n", "OK (TAG \"a\\\"b\\\\c\") \"Done\"\r\n");
	mh_say(h, "NOOP {3+}\r\nx y\r\n", "OK (TAG \"x y\") \"Done\"\r\n");
	/* A tag no quoted string can hold is refused, not echoed raw. */
	mh_say(h, "NOOP {3+}\r\na\nb\r\n", ERR);
	MH_EXPECT_BIN(h, "NOOP {3+}\r\na\0b\r\n", PA_OK, ERR);
	/* Tags are strings: an atom, or two tags, are errors. */
	mh_say(h, "NOOP tag\r\n", ERR);
	mh_say(h, "NOOP \"a\" \"b\"\r\n", ERR);
	mh_close(h);
}

Test(sieve, logout_closes)
{
	struct mh *h = open_s(NULL);

	mh_expect(h, "LOGOUT\r\n", PA_CLOSE, "OK \"Logout completed.\"\r\n");
	mh_close(h);
}

Test(sieve, commands_needing_login_and_unauthenticate)
{
	struct mh *h = open_s("      max_errors: 20\n");
	const char *cmds[] = { "LISTSCRIPTS\r\n", "HAVESPACE \"s\" 10\r\n", "GETSCRIPT \"s\"\r\n",
	    "PUTSCRIPT \"s\" {4+}\r\nkeep\r\n", "SETACTIVE \"\"\r\n", "CHECKSCRIPT {4+}\r\nstop\r\n",
	    "XYZZY\r\n" };

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		mh_say(h, cmds[i], FIRST);
	mh_say(h, "UNAUTHENTICATE\r\n", "NO \"Not authenticated.\"\r\n");
	cr_assert_eq(h->ctx.errors, 8);
	/* Arguments where none are taken. */
	mh_say(h, "CAPABILITY \"x\"\r\n", ERR);
	mh_say(h, "LOGOUT now\r\n", ERR);
	mh_close(h);
}

Test(sieve, starttls_and_pipelined_bytes)
{
	struct mh *h = open_s(NULL);

	mh_say(h, "STARTTLS\r\n", "NO \"STARTTLS is not available.\"\r\n");
	h->conf->starttls = STARTTLS_ON;
	/* What follows STARTTLS in the same read is dropped (the session resets the buffer). */
	mh_expect(h, "STARTTLS\r\nAUTHENTICATE \"PLAIN\" \"AGEAYg==\"\r\n", PA_STARTTLS,
	    "OK \"Begin TLS negotiation now.\"\r\n");
	cr_assert_eq(mh_unread(h), 0);
	cr_assert_null(h->ctx.cr.login);
	h->ctx.tls = 1;
	/* RFC 5804 2.2: the capabilities again, without STARTTLS. */
	cr_assert_eq(h->proto->tls_up(&h->ctx), 0);
	cr_assert_str_eq(mh_out(h), CAPS_PLAIN "OK \"TLS negotiation successful.\"\r\n");
	mh_say(h, "STARTTLS\r\n", "NO \"TLS is already active.\"\r\n");
	mh_close(h);
}

Test(sieve, authenticate_plain_initial_response_quoted_and_literal)
{
	struct mh *h = open_s(NULL);
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "AUTHENTICATE \"PLAIN\" \"%s\"\r\n", mh_b64n("\0bob\0s3cret", 11));
	mh_expect(h, cmd, PA_AUTH, "");
	cr_assert_str_eq(h->ctx.cr.login, "bob");
	cr_assert_str_eq(h->ctx.cr.passwd, "s3cret");
	cr_assert_eq(h->ctx.cr.method, AUTHM_PLAIN);
	creds_clear(&h->ctx.cr);
	const char *b = mh_b64n("\0al\0pw", 6);
	snprintf(cmd, sizeof(cmd), "Authenticate {5+}\r\nplain {%zu}\r\n%s\r\n", strlen(b), b);
	mh_expect(h, cmd, PA_AUTH, "");
	cr_assert_str_eq(h->ctx.cr.login, "al");
	mh_close(h);
}

Test(sieve, authenticate_with_challenges)
{
	struct mh *h = open_s(NULL);
	char line[128];

	/* PLAIN: an empty challenge, the answer a string. */
	mh_expect(h, "AUTHENTICATE \"PLAIN\"\r\n", PA_OK, "\"\"\r\n");
	snprintf(line, sizeof(line), "\"%s\"\r\n", mh_b64n("\0u\0p", 4));
	mh_expect(h, line, PA_AUTH, "");
	cr_assert_str_eq(h->ctx.cr.passwd, "p");
	creds_clear(&h->ctx.cr);
	/* LOGIN (always taken, only hidden, as the other protocols do): two quoted prompts. */
	mh_expect(h, "AUTHENTICATE \"LOGIN\"\r\n", PA_OK, "\"VXNlcm5hbWU6\"\r\n");
	mh_expect(h, "{4+}\r\ndXNy\r\n", PA_OK, "\"UGFzc3dvcmQ6\"\r\n");
	mh_expect(h, "\"cHc=\"\r\n", PA_AUTH, "");
	cr_assert_str_eq(h->ctx.cr.login, "usr");
	cr_assert_str_eq(h->ctx.cr.passwd, "pw");
	mh_close(h);
}

Test(sieve, authenticate_cancel_and_refusals)
{
	struct mh *h = open_s("      max_errors: 20\n");

	mh_expect(h, "AUTHENTICATE \"PLAIN\"\r\n", PA_OK, "\"\"\r\n");
	mh_say(h, "\"*\"\r\n", "NO \"Authentication aborted by client.\"\r\n");
	cr_assert_eq(h->ctx.errors, 0, "a cancel is no error");
	mh_say(h, "NOOP\r\n", "OK \"NOOP completed.\"\r\n");
	mh_say(h, "AUTHENTICATE \"CRAM-MD5\"\r\n", "NO \"Unsupported authentication mechanism.\"\r\n");
	mh_say(h, "AUTHENTICATE \"EXTERNAL\"\r\n", "NO \"Unsupported authentication mechanism.\"\r\n");
	mh_say(h, "AUTHENTICATE \"OAUTHBEARER\"\r\n", "NO \"Unsupported authentication mechanism.\"\r\n");
	/* The mechanism is a string; an atom is a syntax error. */
	mh_say(h, "AUTHENTICATE PLAIN\r\n", ERR);
	mh_say(h, "AUTHENTICATE\r\n", ERR);
	mh_say(h, "AUTHENTICATE \"PLAIN\" \"a\" \"b\"\r\n", ERR);
	/* Garbage base64, and credentials with NUL, CR or LF. */
	mh_say(h, "AUTHENTICATE \"PLAIN\" \"!!!not base64!!!\"\r\n", ERR);
	mh_say(h, "AUTHENTICATE \"PLAIN\" \"AGEAYg\"\r\n", ERR);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "AUTHENTICATE \"PLAIN\" \"%s\"\r\n", mh_b64n("\0a\0b\nc", 6));
	mh_say(h, cmd, ERR);
	/* An answer that is not one string. */
	mh_expect(h, "AUTHENTICATE \"PLAIN\"\r\n", PA_OK, "\"\"\r\n");
	mh_say(h, "AGEAYg==\r\n", ERR);
	cr_assert_eq(h->ctx.state, 0);
	mh_say(h, "NOOP\r\n", "OK \"NOOP completed.\"\r\n");
	mh_close(h);
}

Test(sieve, authenticate_refused_under_starttls_only)
{
	struct mh *h = open_s(NULL);

	h->conf->starttls = STARTTLS_ONLY;
	mh_say(h, "AUTHENTICATE \"PLAIN\" \"AGEAYg==\"\r\n",
	    "NO \"Authentication is only allowed after STARTTLS.\"\r\n");
	h->ctx.tls = 1;
	mh_expect(h, "AUTHENTICATE \"PLAIN\" \"AGEAYg==\"\r\n", PA_AUTH, "");
	mh_close(h);
}

Test(sieve, oauth_mechanisms_when_enabled)
{
	struct mh *h;
	char cmd[512];

	mh_open(&H, "4190", NULL, "      sieve_auth: [plain, oauthbearer, xoauth2]\n");
	h = &H;
	mh_out(h);
	cr_assert_geq(h->ctx.bufsize, 4096);
	snprintf(cmd, sizeof(cmd), "AUTHENTICATE \"OAUTHBEARER\" \"%s\"\r\n",
	    mh_b64("n,a=bob@example.com,\001auth=Bearer tok123\001\001"));
	mh_expect(h, cmd, PA_AUTH, "");
	cr_assert_eq(h->ctx.cr.method, AUTHM_OAUTHBEARER);
	cr_assert_str_eq(h->ctx.cr.passwd, "tok123");
	/* Auth-Error-SASL: the challenge as a quoted string, the dummy answer, then NO. */
	h->ctx.sasl_error = "eyJzdGF0dXMiOiI0MDEifQ==";
	h->ctx.sasl_error_method = AUTHM_OAUTHBEARER;
	cr_assert_eq(h->proto->auth_failed(&h->ctx, "Invalid token", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(h), "\"eyJzdGF0dXMiOiI0MDEifQ==\"\r\n");
	h->ctx.sasl_error = NULL;
	mh_expect(h, "\"AQ==\"\r\n", PA_AUTH_FAILED, "");
	cr_assert_eq(h->proto->auth_failed(&h->ctx, "Invalid token", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(h), "NO \"Invalid token\"\r\n");
	mh_close(h);
}

Test(sieve, auth_failed_replies)
{
	struct mh *h = open_s(NULL);

	cr_assert_eq(h->proto->auth_failed(&h->ctx, "Invalid \"login\"", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(h), "NO \"Invalid \\\"login\\\"\"\r\n");
	cr_assert_eq(h->proto->auth_failed(&h->ctx, h->proto->limited_text, NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(h), "NO (TRYLATER) \"Temporary authentication failure\"\r\n");
	cr_assert_eq(h->proto->auth_failed(&h->ctx, "(TRYLATER) Backend down", NULL, 0), PA_CLOSE);
	cr_assert_str_eq(mh_out(h), "NO (TRYLATER) \"Backend down\"\r\n");
	cr_assert(strncmp(h->proto->internal_error, "NO (TRYLATER) \"", 15) == 0);
	mh_close(h);
}

Test(sieve, max_errors_then_bye)
{
	struct mh *h = open_s("      max_errors: 3\n");

	mh_say(h, "FOO\r\n", FIRST);
	mh_say(h, "\"quoted\" command\r\n", ERR);
	mh_expect(h, "BAR\r\nNOOP\r\n", PA_CLOSE, FIRST "BYE \"Too many invalid commands.\"\r\n");
	mh_close(h);
}

Test(sieve, max_commands_then_bye)
{
	struct mh *h = open_s("      max_commands: 2\n");

	mh_say(h, "NOOP\r\n", "OK \"NOOP completed.\"\r\n");
	mh_say(h, "NOOP\r\n", "OK \"NOOP completed.\"\r\n");
	mh_expect(h, "NOOP\r\n", PA_CLOSE, "BYE \"Too many commands.\"\r\n");
	mh_close(h);
}

Test(sieve, bad_syntax)
{
	struct mh *h = open_s("      max_errors: 50\n");
	const char *bad[] = {
		"\r\n", "NOOP \"unbalanced\r\n", "NOOP \"bad \\x escape\"\r\n", "NOOP \"a\"b\r\n",
		"NOOP {3}x\r\n", "(NOOP)\r\n",
		"NO*OP\r\n", "NOOP \"a\" \"b\" \"c\" \"d\" \"e\" \"f\" \"g\" \"h\"\r\n",
		"NOOP \"a\"\r\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(mh_sends(h, bad[i]), PA_OK, "%s", bad[i]);
		cr_assert_str_eq(mh_out(h), ERR, "%s", bad[i]);
		cr_assert_eq(mh_unread(h), 0, "%s", bad[i]);
	}
	/* NUL inside a quoted string or the name. */
	MH_EXPECT_BIN(h, "NOOP \"a\0b\"\r\n", PA_OK, ERR);
	MH_EXPECT_BIN(h, "NO\0OP\r\n", PA_OK, ERR);
	/* A bare LF ends a line too, as Dovecot takes it. */
	mh_say(h, "NOOP\n", "OK \"NOOP completed.\"\r\n");
	mh_close(h);
}

Test(sieve, bad_line_announcing_a_literal_closes)
{
	struct mh *h = open_s(NULL);

	/* The literal's bytes cannot be told from commands once the line is refused. */
	const char *bad[] = { "NOOP \"a\"\"b\" {20+}\r\n", "NOOP {x}\r\n", "NOOP {}\r\n",
	    "NOOP {3++}\r\n", "(X) {1}\r\n" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (i > 0)
			h = open_s(NULL);
		mh_expect(h, bad[i], PA_CLOSE, "BYE \"Invalid literal.\"\r\n");
		mh_close(h);
	}
	h = open_s(NULL);
	/* A valid literal on an unknown command is read, then refused. */
	mh_say(h, "FROB {3+}\r\nabc\r\n", FIRST);
}

Test(sieve, oversized_literal_and_line_close)
{
	struct mh *h = open_s("      sieve_client_buffer: 128\n");

	mh_expect(h, "PUTSCRIPT \"s\" {200+}\r\n", PA_CLOSE, "BYE \"Command too long.\"\r\n");
	mh_close(h);
	h = open_s("      sieve_client_buffer: 128\n");
	mh_expect(h, "NOOP {99999999999999999999+}\r\n", PA_CLOSE, "BYE \"Command too long.\"\r\n");
	mh_close(h);
	h = open_s("      sieve_client_buffer: 128\n");
	char line[300];
	memset(line, 'A', sizeof(line));
	mh_expect_n(h, line, sizeof(line), PA_CLOSE, "BYE \"Command too long.\"\r\n");
	mh_close(h);
	/* Skipping a bad line longer than the buffer: closed too. */
	h = open_s("      sieve_client_buffer: 128\n");
	line[0] = '(';
	mh_expect_n(h, line, sizeof(line), PA_CLOSE, "BYE \"Command too long.\"\r\n");
	mh_close(h);
}

/* The same dialogue, its bytes delivered in pieces of every size. */
Test(sieve, split_at_every_byte)
{
	const char *b = mh_b64n("\0bob\0pa\"ss", 10);
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "NOOP {2+}\r\nab\r\nNOOP \"q\\\"t\"\r\nAUTHENTICATE {5+}\r\nPLAIN "
	    "{%zu}\r\n%s\r\n", strlen(b), b);
	for (size_t chunk = 1; chunk <= strlen(cmd); chunk++) {
		struct mh *h = open_s(NULL);
		h->chunk = chunk;
		enum proto_action a = mh_sends(h, cmd);
		cr_assert_eq(a, PA_AUTH, "chunk %zu: %d %s", chunk, a, mh_out(h));
		cr_assert_str_eq(mh_out(h), "OK (TAG \"ab\") \"Done\"\r\nOK (TAG \"q\\\"t\") \"Done\"\r\n",
		    "chunk %zu", chunk);
		cr_assert_str_eq(h->ctx.cr.login, "bob");
		cr_assert_str_eq(h->ctx.cr.passwd, "pa\"ss");
		mh_close(h);
	}
}

/* The tokenizer on its own: every cut of one command gives the same tokens. */
Test(sieve, tokenizer_resumes_at_every_cut)
{
	static const char cmd[] = "PUTSCRIPT \"a\\\\b\" {5+}\r\nx\r\ny\n\r\n";
	const size_t n = sizeof(cmd) - 1;

	for (size_t cut = 0; cut <= n; cut++) {
		struct sieve_parser p;
		sieve_parse_reset(&p);
		enum sieve_parse_result r = sieve_parse(&p, cmd, cut, 1024);
		if (cut < n) {
			cr_assert_eq(r, SIEVE_PARSE_AGAIN, "cut %zu", cut);
			r = sieve_parse(&p, cmd, n, 1024);
		}
		cr_assert_eq(r, SIEVE_PARSE_DONE, "cut %zu", cut);
		cr_assert_eq(p.pos, n);
		cr_assert_eq(p.ntok, 3);
		size_t l;
		char *s = sieve_token_dup(&p, cmd, 1, &l);
		cr_assert_str_eq(s, "a\\b");
		free(s);
		s = sieve_token_dup(&p, cmd, 2, &l);
		cr_assert_eq(l, 5);
		cr_assert(memcmp(s, "x\r\ny\n", 5) == 0);
		free(s);
	}
}
