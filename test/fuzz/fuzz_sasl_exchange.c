/*
 * libFuzzer harness: the SASL exchange of worker/proto/sasl_exchange.c driven
 * line by line as the machines drive it: a line "MECH [initial-response]"
 * begins an exchange, the next lines answer its challenges. The first byte
 * enables CRAM-MD5 / EXTERNAL / OAUTHBEARER+XOAUTH2, picks the prefix and
 * whether an OAuth login is refused with Auth-Error-SASL. Every result,
 * challenge and credential must be what the RFC models of lib/fuzz_sasl_ref.c
 * say; OAuth messages (fuzz_sasl_oauth checks their parser) only have to end
 * in a result a parser may give, and the dummy response in SASL_FAILED_ACK
 * exactly for "AQ==" (OAUTHBEARER), "" (XOAUTH2) and "*".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "test/fuzz/lib/fuzz_mail.h"
#include "test/fuzz/lib/fuzz_sasl_ref.h"
#include "worker/proto/sasl_exchange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROMPT_USER "VXNlcm5hbWU6"
#define PROMPT_PASS "UGFzc3dvcmQ6"

static char *names[] = { "mail.example" };

#define OAUTH_ANY 99	/* the model's rc: DONE, INVALID or HOSTILE, as the message is */
#define OAUTH_ERR "eyJzdGF0dXMiOiI0MDEifQ=="

static int refuse_oauth;	/* the first byte's 0x10 */

/* What one call must do. */
struct expect {
	int rc;
	uint8_t wait;		/* ctx->sasl after it */
	const char *challenge;	/* NULL: the CRAM-MD5 salt */
	unsigned method;
	struct fm_ref_creds cr;	/* the fields the call decodes */
};

static int
is(const char *p, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(p, name, n) == 0;
}

/* A decoded field sets the credential; LOGIN's first answer leads to the second challenge. */
static void
from_ref(struct expect *e, int challenge_next, uint8_t wait, const char *text)
{
	if (e->cr.rc != SASL_OK) {
		e->rc = e->cr.rc;
		return;
	}
	if (challenge_next) {
		e->rc = SASL_CHALLENGE;
		e->wait = wait;
		e->challenge = text;
	} else {
		e->rc = SASL_DONE;
	}
}

static void
expect_begin(struct expect *e, unsigned enabled, const char *m, size_t ml, const char *ir,
    size_t il)
{
	memset(e, 0, sizeof(*e));
	e->rc = SASL_REFUSED;
	if (is(m, ml, "PLAIN")) {
		e->method = AUTHM_PLAIN;
		if (ir == NULL) {
			e->rc = SASL_CHALLENGE;
			e->wait = SASL_WAIT_PLAIN;
			e->challenge = "";
			return;
		}
		fm_ref_plain(ir, il, &e->cr);
		from_ref(e, 0, 0, NULL);
	} else if (is(m, ml, "LOGIN")) {
		if (ir == NULL) {
			e->rc = SASL_CHALLENGE;
			e->wait = SASL_WAIT_LOGIN_USER;
			e->challenge = PROMPT_USER;
			return;
		}
		fm_ref_field(ir, il, 0, &e->cr);
		from_ref(e, 1, SASL_WAIT_LOGIN_PASS, PROMPT_PASS);
	} else if (is(m, ml, "CRAM-MD5") && (enabled & AUTHM_CRAM_MD5) && ir == NULL) {
		e->rc = SASL_CHALLENGE;
		e->wait = SASL_WAIT_CRAM_MD5;
	} else if ((is(m, ml, "OAUTHBEARER") && (enabled & AUTHM_OAUTHBEARER)) ||
	    (is(m, ml, "XOAUTH2") && (enabled & AUTHM_XOAUTH2))) {
		int x = is(m, ml, "XOAUTH2");
		e->method = x ? AUTHM_XOAUTH2 : AUTHM_OAUTHBEARER;
		e->cr.rc = -99;		/* no model of the credentials */
		if (ir == NULL || (il == 1 && ir[0] == '=')) {
			e->rc = SASL_CHALLENGE;
			e->wait = x ? SASL_WAIT_XOAUTH2 : SASL_WAIT_OAUTHBEARER;
			e->challenge = "";
			return;
		}
		e->rc = OAUTH_ANY;
	} else if (is(m, ml, "EXTERNAL") && (enabled & AUTHM_EXTERNAL)) {
		e->method = AUTHM_EXTERNAL;
		if (ir == NULL) {
			e->rc = SASL_CHALLENGE;
			e->wait = SASL_WAIT_EXTERNAL;
			e->challenge = PROMPT_USER;
			return;
		}
		fm_ref_field(ir, il, 1, &e->cr);
		from_ref(e, 0, 0, NULL);
	}
}

static void
expect_step(struct expect *e, uint8_t w, const char *line, size_t n)
{
	memset(e, 0, sizeof(*e));
	e->rc = SASL_INVALID;
	switch (w) {
	case SASL_WAIT_PLAIN:
		e->method = AUTHM_PLAIN;
		fm_ref_plain(line, n, &e->cr);
		from_ref(e, 0, 0, NULL);
		break;
	case SASL_WAIT_LOGIN_USER:
		fm_ref_field(line, n, 0, &e->cr);
		from_ref(e, 1, SASL_WAIT_LOGIN_PASS, PROMPT_PASS);
		break;
	case SASL_WAIT_LOGIN_PASS:
		e->method = AUTHM_PLAIN;
		fm_ref_field(line, n, 1, &e->cr);
		/* The field is the password here, not the login. */
		e->cr.passwd = e->cr.login;
		e->cr.login = NULL;
		from_ref(e, 0, 0, NULL);
		break;
	case SASL_WAIT_CRAM_MD5:
		e->method = AUTHM_CRAM_MD5;
		fm_ref_cram(line, n, &e->cr);
		from_ref(e, 0, 0, NULL);
		break;
	case SASL_WAIT_EXTERNAL:
		e->method = AUTHM_EXTERNAL;
		fm_ref_field(line, n, 1, &e->cr);
		from_ref(e, 0, 0, NULL);
		break;
	case SASL_WAIT_OAUTHBEARER:
	case SASL_WAIT_XOAUTH2:
		e->method = w == SASL_WAIT_XOAUTH2 ? AUTHM_XOAUTH2 : AUTHM_OAUTHBEARER;
		e->cr.rc = -99;
		e->rc = OAUTH_ANY;
		break;
	case SASL_WAIT_OAUTHBEARER_ACK:
	case SASL_WAIT_XOAUTH2_ACK:
		e->cr.rc = -99;
		e->rc = (n == 1 && line[0] == '*') ||
		    (w == SASL_WAIT_OAUTHBEARER_ACK && n == 4 && memcmp(line, "AQ==", 4) == 0) ||
		    (w == SASL_WAIT_XOAUTH2_ACK && n == 0) ? SASL_FAILED_ACK : SASL_REFUSED;
		break;
	}
}

/* "<digits.digits@mail.example>" */
static int
salt_shape(const char *s)
{
	const char *p = s + 1;

	if (s[0] != '<' || *p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != '.' || *p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return strcmp(p, "@mail.example>") == 0;
}

static void
check(struct proto_ctx *ctx, struct buf *out, const char *prefix, struct expect *e, int rc,
    const char *line, size_t n)
{
	const char *o = buf_rptr(out);
	size_t ol = buf_len(out), pl = strlen(prefix);

	if (e->rc == OAUTH_ANY) {
		if (rc != SASL_DONE && rc != SASL_INVALID && rc != SASL_HOSTILE)
			fm_fail("\"%s\": OAuth message gave %d", fm_show(line, n), rc);
		e->rc = rc;
	}
	if (rc != e->rc)
		fm_fail("\"%s\": result %d, the model says %d", fm_show(line, n), rc, e->rc);
	fm_check_lines("SASL challenge", o, ol);
	if (rc == SASL_CHALLENGE) {
		if (ctx->sasl != e->wait)
			fm_fail("\"%s\": waits for %u, the model says %u", fm_show(line, n), ctx->sasl, e->wait);
		if (ol < pl + 2 || memcmp(o, prefix, pl) != 0 || memchr(o, '\n', ol) != o + ol - 1)
			fm_fail("challenge is not one line after the prefix: \"%s\"", fm_show(o, ol));
		if (e->challenge == NULL) {
			unsigned char salt[256];
			long sl = ol - pl - 2 < 300 ? fm_ref_b64(o + pl, ol - pl - 2, salt) : -1;
			if (ctx->cr.salt == NULL || sl < 0 || (size_t)sl != strlen(ctx->cr.salt) ||
			    memcmp(salt, ctx->cr.salt, (size_t)sl) != 0 || !salt_shape(ctx->cr.salt))
				fm_fail("CRAM-MD5 challenge \"%s\" is not the salt", fm_show(o, ol));
		} else if (ol != pl + strlen(e->challenge) + 2 ||
		    memcmp(o + pl, e->challenge, ol - pl - 2) != 0) {
			fm_fail("challenge \"%s\", the model says \"%s\"", fm_show(o, ol), e->challenge);
		}
	} else if (ol != 0 || ctx->sasl != SASL_WAIT_NONE) {
		fm_fail("result %d, yet a challenge or a wait (%u)", rc, ctx->sasl);
	}
	if (rc != SASL_DONE && (e->method & AUTHM_OAUTH) && (ctx->cr.login || ctx->cr.passwd))
		fm_fail("refused OAuth message left credentials");
	fm_check_field("SASL login", ctx->cr.login);
	fm_check_field("SASL password", ctx->cr.passwd);
	if (e->cr.rc == SASL_OK && e->cr.login && (ctx->cr.login == NULL ||
	    strcmp(ctx->cr.login, e->cr.login) != 0))
		fm_fail("login \"%s\", the model says \"%s\"", ctx->cr.login ? ctx->cr.login : "(null)",
		    e->cr.login);
	if (e->cr.rc == SASL_OK && e->cr.passwd && (ctx->cr.passwd == NULL ||
	    strcmp(ctx->cr.passwd, e->cr.passwd) != 0))
		fm_fail("the password differs from the model's");
	if (rc == SASL_DONE) {
		if (ctx->cr.method != e->method || ctx->cr.login == NULL)
			fm_fail("done with method %u (model %u), login %s", ctx->cr.method, e->method,
			    ctx->cr.login ? "set" : "missing");
		if ((e->method == AUTHM_PLAIN || e->method == AUTHM_CRAM_MD5 ||
		    (e->method & AUTHM_OAUTH)) && ctx->cr.passwd == NULL)
			fm_fail("done without a password");
		if (e->method == AUTHM_CRAM_MD5 && ctx->cr.salt == NULL)
			fm_fail("CRAM-MD5 done without its salt");
		/* The auth service has it now; a failed login clears it, as session.c does. */
		creds_clear(&ctx->cr);
		/* ... and with Auth-Error-SASL the error challenge comes first. */
		if ((e->method & AUTHM_OAUTH) && refuse_oauth) {
			buf_reset(out);
			sasl_exchange_error(ctx, prefix, e->method, OAUTH_ERR);
			if (ctx->sasl != (e->method == AUTHM_XOAUTH2 ? SASL_WAIT_XOAUTH2_ACK :
			    SASL_WAIT_OAUTHBEARER_ACK) || buf_len(out) != pl + strlen(OAUTH_ERR) + 2)
				fm_fail("Auth-Error-SASL challenge not queued");
		}
	}
	buf_reset(out);
	fm_ref_free(&e->cr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srv_conf conf;
	struct proto_ctx ctx;
	struct buf out = { 0 };
	unsigned enabled = 0;
	const char *prefix = "+ ";

	memset(&conf, 0, sizeof(conf));
	memset(&ctx, 0, sizeof(ctx));
	conf.server_name.n = 1;
	conf.server_name.v = names;
	ctx.conf = &conf;
	ctx.out = &out;
	if (size > 0) {
		enabled = (data[0] & 1 ? AUTHM_CRAM_MD5 : 0) | (data[0] & 2 ? AUTHM_EXTERNAL : 0) |
		    (data[0] & 8 ? AUTHM_OAUTH : 0);
		refuse_oauth = data[0] & 0x10;
		prefix = data[0] & 4 ? "334 " : "+ ";
		data++;
		size--;
	}
	while (size > 0) {
		const uint8_t *lf = memchr(data, '\n', size);
		size_t n = lf ? (size_t)(lf - data) : size, take = lf ? n + 1 : n;
		/* The machines hand over the line without CRLF, in a buffer that goes on. */
		char *line = malloc(n ? n : 1);
		struct expect e;
		int rc;

		if (line == NULL)
			break;
		memcpy(line, data, n);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (ctx.sasl == SASL_WAIT_NONE) {
			const char *sp = memchr(line, ' ', n);
			size_t ml = sp ? (size_t)(sp - line) : n;
			const char *ir = sp ? sp + 1 : NULL;
			size_t il = sp ? n - ml - 1 : 0;
			/* The machines forget an unfinished login before a new AUTH (POP3, SMTP). */
			creds_forget_login(&ctx.cr);
			expect_begin(&e, enabled, line, ml, ir, il);
			rc = sasl_exchange_begin(&ctx, prefix, enabled, line, ml, ir, il);
		} else {
			expect_step(&e, ctx.sasl, line, n);
			rc = sasl_exchange_step(&ctx, prefix, line, n);
		}
		check(&ctx, &out, prefix, &e, rc, line, n);
		free(line);
		data += take;
		size -= take;
	}
	creds_clear(&ctx.cr);
	buf_release(&out);
	return 0;
}
