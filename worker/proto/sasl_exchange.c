/* The SASL exchange shared by IMAP, POP3, SMTP and ManageSieve; see sasl_exchange.h. */
#include <string.h>

#include "common/buf.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl_exchange.h"
#include "worker/proto/sasl_oauth.h"

/* RFC 4616 has PLAIN start with an empty challenge; LOGIN's prompts are the
 * base64 of "Username:" and "Password:", which clients look for. */
#define PROMPT_USER	"VXNlcm5hbWU6"
#define PROMPT_PASS	"UGFzc3dvcmQ6"

static int
challenge(struct proto_ctx *ctx, const char *prefix, const char *text, enum sasl_wait next)
{
	buf_printf(ctx->out, "%s%s\r\n", prefix, text);
	ctx->sasl = (uint8_t)next;
	return SASL_CHALLENGE;
}

static int
done(struct proto_ctx *ctx, int rc, unsigned method)
{
	if (rc != SASL_OK)
		return rc;
	ctx->cr.method = method;
	return SASL_DONE;
}

int
sasl_exchange_begin(struct proto_ctx *ctx, const char *prefix, unsigned enabled,
    const char *mech, size_t mlen, const char *ir, size_t irlen)
{
	int rc;

	ctx->sasl = SASL_WAIT_NONE;
	if (proto_word_is(mech, mlen, "PLAIN")) {
		if (ir == NULL)
			return challenge(ctx, prefix, "", SASL_WAIT_PLAIN);
		return done(ctx, sasl_plain(ir, irlen, &ctx->cr), AUTHM_PLAIN);
	}
	if (proto_word_is(mech, mlen, "LOGIN")) {
		if (ir == NULL)
			return challenge(ctx, prefix, PROMPT_USER, SASL_WAIT_LOGIN_USER);
		if ((rc = sasl_field(ir, irlen, &ctx->cr.login, 0)) != SASL_OK)
			return rc;
		return challenge(ctx, prefix, PROMPT_PASS, SASL_WAIT_LOGIN_PASS);
	}
	if (proto_word_is(mech, mlen, "CRAM-MD5")) {
		if (!(enabled & AUTHM_CRAM_MD5) || ir != NULL)
			return SASL_REFUSED;
		if (proto_cram_challenge(ctx, prefix) < 0)
			return SASL_NOMEM;
		ctx->sasl = SASL_WAIT_CRAM_MD5;
		return SASL_CHALLENGE;
	}
	if (proto_word_is(mech, mlen, "EXTERNAL")) {
		/* nginx skips this check for an initial response; mailproxy does not. */
		if (!(enabled & AUTHM_EXTERNAL))
			return SASL_REFUSED;
		if (ir == NULL)
			return challenge(ctx, prefix, PROMPT_USER, SASL_WAIT_EXTERNAL);
		return done(ctx, sasl_field(ir, irlen, &ctx->cr.login, 1), AUTHM_EXTERNAL);
	}
	for (int x = 0; x < 2; x++) {
		unsigned m = x ? AUTHM_XOAUTH2 : AUTHM_OAUTHBEARER;
		if (!proto_word_is(mech, mlen, x ? "XOAUTH2" : "OAUTHBEARER"))
			continue;
		if (!(enabled & m))
			return SASL_REFUSED;
		/* Without an initial response, an empty challenge (RFC 7628 3.1). */
		if (ir == NULL || (irlen == 1 && ir[0] == '='))
			return challenge(ctx, prefix, "", x ? SASL_WAIT_XOAUTH2 : SASL_WAIT_OAUTHBEARER);
		return sasl_oauth(m, ir, irlen, &ctx->cr);
	}
	return SASL_REFUSED;
}

int
sasl_exchange_step(struct proto_ctx *ctx, const char *prefix, const char *line, size_t n)
{
	enum sasl_wait w = ctx->sasl;
	int rc;

	ctx->sasl = SASL_WAIT_NONE;
	switch (w) {
	case SASL_WAIT_PLAIN:
		return done(ctx, sasl_plain(line, n, &ctx->cr), AUTHM_PLAIN);
	case SASL_WAIT_LOGIN_USER:
		if ((rc = sasl_field(line, n, &ctx->cr.login, 0)) != SASL_OK)
			return rc;
		return challenge(ctx, prefix, PROMPT_PASS, SASL_WAIT_LOGIN_PASS);
	case SASL_WAIT_LOGIN_PASS:
		return done(ctx, sasl_field(line, n, &ctx->cr.passwd, 1), AUTHM_PLAIN);
	case SASL_WAIT_CRAM_MD5:
		return done(ctx, sasl_cram_md5(line, n, &ctx->cr), AUTHM_CRAM_MD5);
	case SASL_WAIT_EXTERNAL:
		return done(ctx, sasl_field(line, n, &ctx->cr.login, 1), AUTHM_EXTERNAL);
	case SASL_WAIT_OAUTHBEARER:
		return sasl_oauth(AUTHM_OAUTHBEARER, line, n, &ctx->cr);
	case SASL_WAIT_XOAUTH2:
		return sasl_oauth(AUTHM_XOAUTH2, line, n, &ctx->cr);
	case SASL_WAIT_OAUTHBEARER_ACK:
	case SASL_WAIT_XOAUTH2_ACK:
		if ((n == 1 && line[0] == '*') ||
		    (w == SASL_WAIT_OAUTHBEARER_ACK && n == 4 && memcmp(line, "AQ==", 4) == 0) ||
		    (w == SASL_WAIT_XOAUTH2_ACK && n == 0))
			return SASL_FAILED_ACK;
		return SASL_REFUSED;
	case SASL_WAIT_NONE:
		break;
	}
	return SASL_INVALID;
}

void
sasl_exchange_error(struct proto_ctx *ctx, const char *prefix, unsigned method, const char *b64)
{
	challenge(ctx, prefix, b64, method == AUTHM_XOAUTH2 ? SASL_WAIT_XOAUTH2_ACK :
	    SASL_WAIT_OAUTHBEARER_ACK);
}
