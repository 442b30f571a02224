/*
 * OAUTHBEARER and XOAUTH2 (worker/proto/sasl_oauth.c) and where they meet the
 * machines: the parser on every malformed, hostile and oversized message, GS2
 * escaping, every split of a message; the exchange's challenges and dummy
 * responses; the IMAP/POP3/SMTP Auth-Error-SASL dialogue; the backends' login
 * with the token; Auth-Error-SASL in the auth_http response.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/auth_http_proto.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl.h"
#include "worker/proto/sasl_exchange.h"
#include "worker/proto/sasl_oauth.h"

TestSuite(sasl_oauth, .init = th_setup, .fini = th_teardown);

#define BEARER AUTHM_OAUTHBEARER
#define XO AUTHM_XOAUTH2

static int
parse(unsigned m, const char *msg, size_t n, char **user, char **token)
{
	return sasl_oauth_parse(m, (const unsigned char *)msg, n, user, token);
}

#define PARSE_OK(m, lit, want_user, want_token) do {				\
	char *u_, *t_;								\
	int rc_ = parse((m), (lit), sizeof(lit) - 1, &u_, &t_);			\
	cr_assert_eq(rc_, SASL_OK, "%s: rc %d", #lit, rc_);			\
	cr_assert_str_eq(u_, (want_user));					\
	cr_assert_str_eq(t_, (want_token));					\
	free(u_);								\
	free(t_);								\
} while (0)

#define PARSE_BAD(m, lit, want_rc) do {						\
	char *u_ = (char *)1, *t_ = (char *)1;					\
	int rc_ = parse((m), (lit), sizeof(lit) - 1, &u_, &t_);			\
	cr_assert_eq(rc_, (want_rc), "%s: rc %d, want %d", #lit, rc_, (want_rc)); \
	cr_assert_null(u_);							\
	cr_assert_null(t_);							\
} while (0)

Test(sasl_oauth, oauthbearer_good_forms)
{
	PARSE_OK(BEARER, "n,a=bob,\1auth=Bearer tok\1\1", "bob", "tok");
	PARSE_OK(BEARER, "y,a=bob,\1auth=Bearer tok\1\1", "bob", "tok");
	/* curl's form: host= and port= before auth= */
	PARSE_OK(BEARER, "n,a=bob,\1host=127.0.0.1\1port=143\1auth=Bearer t.o-k_~+/==\1\1",
	    "bob", "t.o-k_~+/==");
	/* no authzid: an empty identity (the auth service decides) */
	PARSE_OK(BEARER, "n,,\1auth=Bearer tok\1\1", "", "tok");
	/* "Bearer" in any case, more than one space */
	PARSE_OK(BEARER, "n,a=bob,\1auth=bEaReR   tok\1\1", "bob", "tok");
	/* RFC 5801 escapes */
	PARSE_OK(BEARER, "n,a=a=3Db=2Cc=2c=3d,\1auth=Bearer tok\1\1", "a=b,c,=", "tok");
	/* other values may hold CR/LF (RFC 7628 value), not the token */
	PARSE_OK(BEARER, "n,a=bob,\1x=a\r\nb\1auth=Bearer tok\1\1", "bob", "tok");
}

Test(sasl_oauth, oauthbearer_malformed)
{
	PARSE_BAD(BEARER, "", SASL_INVALID);
	PARSE_BAD(BEARER, "n", SASL_INVALID);
	PARSE_BAD(BEARER, "x,a=bob,\1auth=Bearer t\1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "p=tls-unique,a=bob,\1auth=Bearer t\1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=bob\1auth=Bearer t\1\1", SASL_INVALID);	/* no ',' */
	PARSE_BAD(BEARER, "n,b=bob,\1auth=Bearer t\1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=b=4Fb,\1auth=Bearer t\1\1", SASL_INVALID);	/* bad escape */
	PARSE_BAD(BEARER, "n,a=bob=,\1auth=Bearer t\1\1", SASL_INVALID);	/* cut escape */
	PARSE_BAD(BEARER, "n,a=bob=2,\1auth=Bearer t\1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=bob,auth=Bearer t\1\1", SASL_INVALID);	/* no kvsep */
	PARSE_BAD(BEARER, "n,a=bob,\1host=x\1\1", SASL_INVALID);		/* no auth= */
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer t\1", SASL_INVALID);	/* no final ^A */
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer t", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer t\1\1x", SASL_INVALID);	/* after the end */
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Basic dDp0\1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer\1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer \1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearertok\1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer a b\1\1", SASL_INVALID);	/* space in token */
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer a\tb\1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer a\xff\1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer a\1auth=Bearer b\1\1", SASL_INVALID);
	PARSE_BAD(BEARER, "n,a=bob,\1=v\1auth=Bearer t\1\1", SASL_INVALID);	/* empty key */
	PARSE_BAD(BEARER, "n,a=bob,\1k1=v\1auth=Bearer t\1\1", SASL_INVALID);	/* key not ALPHA */
	PARSE_BAD(BEARER, "n,a=bob,\1novalue\1auth=Bearer t\1\1", SASL_INVALID);
}

Test(sasl_oauth, hostile_bytes)
{
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer a\rb\1\1", SASL_HOSTILE);
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer a\nb\1\1", SASL_HOSTILE);
	PARSE_BAD(BEARER, "n,a=bob,\1auth=Bearer a\0b\1\1", SASL_HOSTILE);
	PARSE_BAD(BEARER, "n,a=b\rob,\1auth=Bearer t\1\1", SASL_HOSTILE);
	PARSE_BAD(BEARER, "n,a=b\0b,\1auth=Bearer t\1\1", SASL_HOSTILE);
	PARSE_BAD(BEARER, "n,a=bob,\1x=\0\1auth=Bearer t\1\1", SASL_HOSTILE);
	PARSE_BAD(XO, "user=b\nob\1auth=Bearer t\1\1", SASL_HOSTILE);
	PARSE_BAD(XO, "user=bob\1auth=Bearer t\r\n\1\1", SASL_HOSTILE);
}

Test(sasl_oauth, xoauth2_forms)
{
	PARSE_OK(XO, "user=bob@example.com\1auth=Bearer tok\1\1", "bob@example.com", "tok");
	/* no GS2 escaping in XOAUTH2 */
	PARSE_OK(XO, "user=a=2Cb\1auth=Bearer tok\1\1", "a=2Cb", "tok");
	PARSE_OK(XO, "auth=Bearer tok\1user=bob\1\1", "bob", "tok");
	PARSE_BAD(XO, "auth=Bearer tok\1\1", SASL_INVALID);			/* no user= */
	PARSE_BAD(XO, "user=\1auth=Bearer tok\1\1", SASL_INVALID);
	PARSE_BAD(XO, "user=bob\1\1", SASL_INVALID);
	PARSE_BAD(XO, "user=bob\1user=eve\1auth=Bearer t\1\1", SASL_INVALID);
	PARSE_BAD(XO, "n,a=bob,\1auth=Bearer tok\1\1", SASL_INVALID);	/* OAUTHBEARER's form */
	PARSE_BAD(XO, "user=bob\1auth=Bearer tok\1", SASL_INVALID);
	PARSE_BAD(AUTHM_PLAIN, "user=bob\1auth=Bearer tok\1\1", SASL_INVALID);
}

Test(sasl_oauth, token_size_limit)
{
	size_t max = SASL_OAUTH_TOKEN_MAX;
	char *m = malloc(max + 64), *u, *t;
	size_t n = (size_t)sprintf(m, "n,a=bob,\1auth=Bearer ");

	memset(m + n, 'T', max);
	memcpy(m + n + max, "\1\1", 2);
	cr_assert_eq(parse(BEARER, m, n + max + 2, &u, &t), SASL_OK);
	cr_assert_eq(strlen(t), max);
	free(u);
	free(t);
	memset(m + n, 'T', max + 1);
	memcpy(m + n + max + 1, "\1\1", 2);
	cr_assert_eq(parse(BEARER, m, n + max + 3, &u, &t), SASL_INVALID);
	free(m);
}

/* Every prefix of a good message is refused (truncation anywhere), none crashes. */
Test(sasl_oauth, every_truncation_is_refused)
{
	static const char msg[] = "n,a=b=2Cob,\1host=h\1port=1\1auth=Bearer tok\1\1";
	static const char xmsg[] = "user=bob\1auth=Bearer tok\1\1";
	char *u, *t;

	for (size_t k = 0; k < sizeof(msg) - 1; k++) {
		char *copy = malloc(k + 1);	/* exactly k bytes readable: ASan sees overreads */
		memcpy(copy, msg, k);
		cr_assert_neq(parse(BEARER, copy, k, &u, &t), SASL_OK, "prefix %zu", k);
		free(copy);
	}
	for (size_t k = 0; k < sizeof(xmsg) - 1; k++) {
		char *copy = malloc(k + 1);
		memcpy(copy, xmsg, k);
		cr_assert_neq(parse(XO, copy, k, &u, &t), SASL_OK, "prefix %zu", k);
		free(copy);
	}
}

Test(sasl_oauth, base64_layer_and_creds)
{
	struct creds cr = { 0 };
	char *b = b64_encode_dup("n,a=bob,\1auth=Bearer tok\1\1", 26);

	cr_assert_eq(sasl_oauth(BEARER, b, strlen(b), &cr), SASL_OK);
	cr_assert_str_eq(cr.login, "bob");
	cr_assert_str_eq(cr.passwd, "tok");
	cr_assert_eq(cr.method, BEARER);
	free(b);
	cr_assert_eq(sasl_oauth(BEARER, "bixhPWJvYiwBYXV0aD1CZWFyZXIgdG9rAQE", 35, &cr), SASL_INVALID);
	cr_assert_eq(sasl_oauth(BEARER, "!!!!", 4, &cr), SASL_INVALID);
	cr_assert_eq(sasl_oauth(BEARER, "", 0, &cr), SASL_INVALID);
	creds_clear(&cr);
}

Test(sasl_oauth, build_round_trip)
{
	const char *users[] = { "bob", "a,b=c", "" };

	for (int m = 0; m < 2; m++) {
		unsigned mech = m ? XO : BEARER;
		for (size_t i = 0; i < 3; i++) {
			if (mech == XO && users[i][0] == '\0')
				continue;
			char *b = sasl_oauth_build(mech, users[i], "t0k.en");
			struct creds cr = { 0 };
			cr_assert_not_null(b);
			cr_assert_eq(sasl_oauth(mech, b, strlen(b), &cr), SASL_OK, "%s", b);
			cr_assert_str_eq(cr.login, users[i]);
			cr_assert_str_eq(cr.passwd, "t0k.en");
			creds_clear(&cr);
			free(b);
		}
	}
	char *b = sasl_oauth_build(BEARER, "a,b", "t");
	/* "n,a=a=2Cb,^Aauth=Bearer t^A^A" */
	cr_assert_str_eq(b, "bixhPWE9MkNiLAFhdXRoPUJlYXJlciB0AQE=");
	free(b);
}

Test(sasl_oauth, auth_error_sasl_validation)
{
	cr_assert(sasl_oauth_error_valid("eyJzdGF0dXMiOiI0MDEifQ==", 24));
	cr_assert(!sasl_oauth_error_valid("", 0));
	cr_assert(!sasl_oauth_error_valid("eyJz", 3));
	cr_assert(!sasl_oauth_error_valid("eyJ zdGF0", 9));
	cr_assert(!sasl_oauth_error_valid("AQ==", 4));		/* decodes to ^A */
	cr_assert(!sasl_oauth_error_valid("eyJ\r\n", 5));

	char *big = malloc(SASL_OAUTH_ERROR_MAX + 8);
	memset(big, 'A', SASL_OAUTH_ERROR_MAX + 4);
	cr_assert(!sasl_oauth_error_valid(big, SASL_OAUTH_ERROR_MAX + 4));
	memset(big, 'e', SASL_OAUTH_ERROR_MAX);	/* "eeee" is 79 e7 9e: no control byte */
	cr_assert(sasl_oauth_error_valid(big, SASL_OAUTH_ERROR_MAX));	/* the bound itself */
	free(big);
}

#define OKH "HTTP/1.0 200 OK\r\n"

Test(sasl_oauth, auth_http_parses_auth_error_sasl)
{
	struct auth_result r = { 0 };
	const char ok[] = OKH "Auth-Status: Invalid token\r\nAuth-Error-SASL: eyJzdGF0dXMiOiI0MDEifQ==\r\n\r\n";
	const char bad[] = OKH "Auth-Status: Invalid token\r\nAuth-Error-SASL: not base64!\r\n\r\n";

	auth_result_clear(&r);
	cr_assert_eq(auth_http_parse(ok, sizeof(ok) - 1, 1, &r), AUTH_PARSE_DONE);
	cr_assert_eq(r.status, AUTH_FAIL);
	cr_assert_str_eq(r.sasl_error, "eyJzdGF0dXMiOiI0MDEifQ==");
	auth_result_clear(&r);
	cr_assert_null(r.sasl_error);
	cr_assert_eq(auth_http_parse(bad, sizeof(bad) - 1, 1, &r), AUTH_PARSE_ERROR);
	cr_assert_str_eq(r.reason, "auth http server sent invalid Auth-Error-SASL");
	auth_result_clear(&r);
}

Test(sasl_oauth, check_ok_takes_the_token_as_password)
{
	struct auth_result r = { 0 };
	const char ok[] = OKH "Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\n\r\n";

	auth_result_clear(&r);
	cr_assert_eq(auth_http_parse(ok, sizeof(ok) - 1, 1, &r), AUTH_PARSE_DONE);
	cr_assert_eq(auth_http_check_ok(&r, MP_PROTO_IMAP, BEARER, 1), 0);
	cr_assert_eq(auth_http_check_ok(&r, MP_PROTO_POP3, XO, 1), 0);
	cr_assert_eq(auth_http_check_ok(&r, MP_PROTO_IMAP, BEARER, 0), -1);
	auth_result_clear(&r);
}

/* ------------------------------------------------------------ the machines */

static struct mh H;
static const char *EXCHANGE_ERR = "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=";

#define IMAP_AUTH "      imap_auth: [plain, oauthbearer, xoauth2]\n"

Test(sasl_oauth, imap_capability_and_exchange)
{
	char line[256];
	char *msg = b64_encode_dup("n,a=bob,\1auth=Bearer tok\1\1", 26);

	mh_open_imap(&H, IMAP_AUTH);
	mh_sends(&H, "a CAPABILITY\r\n");
	cr_assert_str_eq(mh_out(&H), "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN "
	    "AUTH=OAUTHBEARER AUTH=XOAUTH2\r\na OK completed\r\n");
	/* with the initial response */
	snprintf(line, sizeof(line), "b AUTHENTICATE OAUTHBEARER %s\r\n", msg);
	cr_assert_eq(mh_sends(&H, line), PA_AUTH);
	cr_assert_eq(H.ctx.cr.method, BEARER);
	cr_assert_str_eq(H.ctx.cr.login, "bob");
	cr_assert_str_eq(H.ctx.cr.passwd, "tok");
	/* the auth service said no, with Auth-Error-SASL: the challenge first */
	creds_clear(&H.ctx.cr);
	H.ctx.sasl_error = EXCHANGE_ERR;
	H.ctx.sasl_error_method = BEARER;
	cr_assert_eq(H.proto->auth_failed(&H.ctx, "Bad token", NULL, 1), PA_OK);
	cr_assert_null(H.ctx.sasl_error);
	snprintf(line, sizeof(line), "+ %s\r\n", EXCHANGE_ERR);
	cr_assert_str_eq(mh_out(&H), line);
	/* XOAUTH2's empty dummy is not OAUTHBEARER's */
	cr_assert_eq(mh_sends(&H, "\r\n"), PA_OK);
	cr_assert_str_eq(mh_out(&H), "b BAD invalid command\r\n");
	/* again, and the right dummy: PA_AUTH_FAILED, then the failure */
	H.ctx.sasl_error = EXCHANGE_ERR;
	H.ctx.sasl_error_method = BEARER;
	H.proto->auth_failed(&H.ctx, "Bad token", NULL, 1);
	mh_out(&H);
	cr_assert_eq(mh_sends(&H, "AQ==\r\n"), PA_AUTH_FAILED);
	cr_assert_eq(H.proto->auth_failed(&H.ctx, "Bad token", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(&H), "b NO Bad token\r\n");
	/* without the initial response: "+ " */
	cr_assert_eq(mh_sends(&H, "c AUTHENTICATE XOAUTH2\r\n"), PA_OK);
	cr_assert_str_eq(mh_out(&H), "+ \r\n");
	free(msg);
	msg = b64_encode_dup("user=eve\1auth=Bearer t\1\1", 24);
	snprintf(line, sizeof(line), "%s\r\n", msg);
	cr_assert_eq(mh_sends(&H, line), PA_AUTH);
	cr_assert_eq(H.ctx.cr.method, XO);
	cr_assert_str_eq(H.ctx.cr.login, "eve");
	free(msg);
	mh_close(&H);
}

Test(sasl_oauth, disabled_mechanism_is_invalid)
{
	mh_open_imap(&H, NULL);
	cr_assert_eq(mh_sends(&H, "a AUTHENTICATE OAUTHBEARER\r\n"), PA_OK);
	cr_assert_str_eq(mh_out(&H), "a BAD invalid command\r\n");
	cr_assert_eq(mh_sends(&H, "a CAPABILITY\r\n"), PA_OK);
	cr_assert_str_eq(mh_out(&H), "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN\r\n"
	    "a OK completed\r\n");
	mh_close(&H);
}

Test(sasl_oauth, pop3_and_smtp_error_challenge_and_cancel)
{
	char want[128];

	mh_open(&H, "110", NULL, "      pop3_auth: [plain, oauthbearer, xoauth2]\n");
	mh_out(&H);
	cr_assert_eq(mh_sends(&H, "AUTH XOAUTH2\r\n"), PA_OK);
	cr_assert_str_eq(mh_out(&H), "+ \r\n");
	mh_sends(&H, "*\r\n");
	cr_assert_str_eq(mh_out(&H), "-ERR invalid command\r\n");
	H.ctx.sasl_error = EXCHANGE_ERR;
	H.ctx.sasl_error_method = XO;
	cr_assert_eq(H.proto->auth_failed(&H.ctx, "Bad token", NULL, 0), PA_OK);
	snprintf(want, sizeof(want), "+ %s\r\n", EXCHANGE_ERR);
	cr_assert_str_eq(mh_out(&H), want);
	cr_assert_eq(mh_sends(&H, "*\r\n"), PA_AUTH_FAILED);	/* the cancel, as the dummy */
	cr_assert_eq(H.proto->auth_failed(&H.ctx, "Bad token", NULL, 0), PA_CLOSE);
	cr_assert_str_eq(mh_out(&H), "-ERR Bad token\r\n");
	mh_close(&H);

	mh_open(&H, "25", NULL, "      smtp_auth: [plain, oauthbearer, xoauth2]\n");
	mh_out(&H);
	mh_sends(&H, "EHLO x\r\n");
	cr_assert_str_eq(mh_out(&H), "250-mx.example.com\r\n250 AUTH PLAIN OAUTHBEARER XOAUTH2\r\n");
	H.ctx.sasl_error = EXCHANGE_ERR;
	H.ctx.sasl_error_method = XO;
	H.proto->auth_failed(&H.ctx, "Bad token", "535 5.7.8", 1);
	snprintf(want, sizeof(want), "334 %s\r\n", EXCHANGE_ERR);
	cr_assert_str_eq(mh_out(&H), want);
	cr_assert_eq(mh_sends(&H, "\r\n"), PA_AUTH_FAILED);
	H.proto->auth_failed(&H.ctx, "Bad token", "535 5.7.8", 1);
	cr_assert_str_eq(mh_out(&H), "535 5.7.8 Bad token\r\n");
	mh_close(&H);
}

/* ------------------------------------------------------------ the backends */

static struct mh *
imap_oauth_logged_in(unsigned mech)
{
	mh_open_imap(&H, IMAP_AUTH);
	cr_assert_eq(mh_sends(&H, "a LOGIN bob tok\r\n"), PA_AUTH);
	H.ctx.be_login = "bob";
	H.ctx.be_passwd = "tok";
	H.ctx.be_mech = mech;
	return &H;
}

#define BE(h, line, want, bout) do {						\
	enum backend_action a_ = mh_be((h), (line));				\
	cr_assert_eq(a_, (want), "after \"%s\": action %d, want %d", (line), a_, (want)); \
	cr_assert_str_eq(mh_bout(h), (bout), "sent to the backend after \"%s\"", (line)); \
} while (0)

/* base64 of "n,a=bob,^Aauth=Bearer tok^A^A" and of "user=bob^Aauth=Bearer tok^A^A" */
#define B_MSG "bixhPWJvYiwBYXV0aD1CZWFyZXIgdG9rAQE="
#define X_MSG "dXNlcj1ib2IBYXV0aD1CZWFyZXIgdG9rAQE="

Test(sasl_oauth, imap_backend_sasl_ir_and_continuation)
{
	struct mh *h = imap_oauth_logged_in(BEARER);

	BE(h, "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] ready", BA_CONTINUE,
	    "a AUTHENTICATE OAUTHBEARER " B_MSG "\r\n");
	BE(h, "a OK Logged in", BA_DONE, "");
	cr_assert_str_eq(mh_out(h), "a OK Logged in\r\n");
	mh_close(h);

	h = imap_oauth_logged_in(XO);
	BE(h, "* OK [CAPABILITY IMAP4rev1] ready", BA_CONTINUE, "a AUTHENTICATE XOAUTH2\r\n");
	BE(h, "+ ", BA_CONTINUE, X_MSG "\r\n");
	BE(h, "* CAPABILITY IMAP4rev1", BA_CONTINUE, "");
	BE(h, "a OK Logged in", BA_DONE, "");
	mh_close(h);
}

Test(sasl_oauth, imap_backend_error_challenge_is_refused)
{
	struct mh *h = imap_oauth_logged_in(BEARER);

	BE(h, "* OK [CAPABILITY IMAP4rev1 SASL-IR] ready", BA_CONTINUE,
	    "a AUTHENTICATE OAUTHBEARER " B_MSG "\r\n");
	BE(h, "+ eyJzdGF0dXMiOiI0MDEifQ==", BA_CONTINUE, "AQ==\r\n");
	BE(h, "a NO [AUTHENTICATIONFAILED] Authentication failed.", BA_REFUSED, "");
	mh_close(h);

	h = imap_oauth_logged_in(XO);
	BE(h, "* OK [CAPABILITY IMAP4rev1 SASL-IR] ready", BA_CONTINUE,
	    "a AUTHENTICATE XOAUTH2 " X_MSG "\r\n");
	BE(h, "+ eyJzdGF0dXMiOiI0MDEifQ==", BA_CONTINUE, "\r\n");
	/* even an OK after the error challenge is no login */
	BE(h, "a OK strange", BA_REFUSED, "");
	mh_close(h);
}

Test(sasl_oauth, pop3_backend_auth_with_token)
{
	mh_open(&H, "110", NULL, "      pop3_auth: [plain, oauthbearer, xoauth2]\n");
	H.ctx.be_login = "bob";
	H.ctx.be_passwd = "tok";
	H.ctx.be_mech = BEARER;
	BE(&H, "+OK Dovecot ready.", BA_CONTINUE, "AUTH OAUTHBEARER " B_MSG "\r\n");
	BE(&H, "+OK Logged in.", BA_DONE, "");
	mh_close(&H);

	mh_open(&H, "110", NULL, "      pop3_auth: [plain, oauthbearer, xoauth2]\n");
	H.ctx.be_login = "bob";
	H.ctx.be_passwd = "tok";
	H.ctx.be_mech = XO;
	BE(&H, "+OK Dovecot ready.", BA_CONTINUE, "AUTH XOAUTH2 " X_MSG "\r\n");
	BE(&H, "+ eyJzdGF0dXMiOiI0MDEifQ==", BA_CONTINUE, "\r\n");
	BE(&H, "-ERR [AUTH] Authentication failed.", BA_REFUSED, "");
	mh_close(&H);
}

/* proxy_smtp_auth without Auth-Pass: AUTH with the client's mechanism and the token. */
Test(sasl_oauth, smtp_backend_auth_with_token_and_error_challenge)
{
	const char *yaml = "      smtp_auth: [plain, oauthbearer, xoauth2]\n"
	    "      proxy_smtp_auth: on\n      xclient: off\n";
	char line[256];

	for (int refused = 0; refused < 2; refused++) {
		mh_open(&H, "25", NULL, yaml);
		mh_out(&H);
		H.ctx.be_facts = BF_SMTP_EHLO_FIRST;
		mh_sends(&H, "EHLO client.example\r\n");
		mh_out(&H);
		snprintf(line, sizeof(line), "AUTH XOAUTH2 %s\r\n", X_MSG);
		cr_assert_eq(mh_sends(&H, line), PA_AUTH);
		H.ctx.be_login = "bob";
		H.ctx.be_passwd = "tok";
		H.ctx.be_mech = XO;
		cr_assert_eq(smtp_backend_line(&H.ctx, NULL, 0), BA_CONTINUE);
		BE(&H, "220 backend ESMTP", BA_CONTINUE, "EHLO client.example\r\n");
		BE(&H, "250 AUTH PLAIN XOAUTH2", BA_CONTINUE, "AUTH XOAUTH2 " X_MSG "\r\n");
		if (!refused) {
			BE(&H, "235 2.7.0 Authentication successful", BA_DONE, "");
			cr_assert_str_eq(mh_out(&H), "235 2.0.0 OK\r\n");
		} else {
			BE(&H, "334 eyJzdGF0dXMiOiI0MDEifQ==", BA_CONTINUE, "\r\n");
			BE(&H, "535 5.7.8 Error: authentication failed", BA_REFUSED, "");
			cr_assert_str_eq(mh_out(&H), "");
		}
		mh_close(&H);
	}
}
