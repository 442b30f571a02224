/*
 * ManageSieve (RFC 5804) before login: a pure state machine like IMAP's.
 * The greeting is the capability list and OK; CAPABILITY, NOOP (with its
 * TAG), LOGOUT, STARTTLS and AUTHENTICATE "MECH" ["initial response"] are
 * served, with SASL challenges and answers as strings; every other command
 * (UNAUTHENTICATE included) is refused with NO before login and counted
 * against max_errors, after which BYE ends the dialogue. nginx has no
 * ManageSieve; the replies follow Dovecot's managesieve-login, the usual
 * backend, so a client sees the same texts before and after the proxy.
 */
#include <stdlib.h>
#include <string.h>

#include "worker/proto/proto.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl_exchange.h"
#include "worker/proto/sieve_parse.h"

enum {
	SIEVE_ST_START,
	SIEVE_ST_SASL,		/* in an AUTHENTICATE exchange (ctx->sasl) */
};

/* A code in the text the session hands auth_failed() (limited_text, or the auth service's). */
#define TRYLATER "(TRYLATER) "

static void
reply(struct proto_ctx *ctx, const char *status, const char *code, const char *text)
{
	buf_printf(ctx->out, "%s %s", status, code ? code : "");
	sieve_put_quoted(ctx->out, text, strlen(text));
	buf_puts(ctx->out, "\r\n");
}

static enum proto_action
refuse(struct proto_ctx *ctx, const char *text, const char *reason)
{
	enum proto_action a;

	reply(ctx, "NO", NULL, text);
	a = proto_count_error(ctx, reason);
	if (a == PA_CLOSE)
		reply(ctx, "BYE", NULL, "Too many invalid commands.");
	return a;
}

static enum proto_action
invalid(struct proto_ctx *ctx, const char *reason)
{
	return refuse(ctx, "Error in MANAGESIEVE command.", reason);
}

static enum proto_action
too_many(struct proto_ctx *ctx, const char *reason)
{
	(void)reason;
	reply(ctx, "BYE", NULL, "Too many commands.");
	return PA_CLOSE;
}

static int
is_string(const struct imap_token *t)
{
	return t->kind == SIEVE_TOK_QUOTED || t->kind == SIEVE_TOK_LITERAL;
}

/*
 * The exchange writes a challenge as prefix, base64 and CRLF; ManageSieve
 * wants it quoted, so the closing quote goes in before the CRLF.
 */
static void
close_challenge(struct proto_ctx *ctx)
{
	if (buf_len(ctx->out) >= 2 && memcmp(buf_rptr(ctx->out) + buf_len(ctx->out) - 2, "\r\n", 2) == 0) {
		ctx->out->w -= 2;
		buf_puts(ctx->out, "\"\r\n");
	}
}

static enum proto_action
sasl_outcome(struct proto_ctx *ctx, int rc)
{
	if (rc == SASL_CHALLENGE)
		close_challenge(ctx);
	if (rc == SASL_REFUSED && ctx->state == SIEVE_ST_START) {
		ctx->sasl = SASL_WAIT_NONE;
		return refuse(ctx, "Unsupported authentication mechanism.", NULL);
	}
	return proto_sasl_outcome(ctx, rc, SIEVE_ST_SASL, invalid, sieve_proto.internal_error);
}

static enum proto_action
cmd_authenticate(struct proto_ctx *ctx, const char *cmd)
{
	const struct sieve_parser *p = &ctx->u.sieve.p;
	size_t mlen, irlen = 0;
	char *mech, *ir = NULL;
	enum proto_action a;

	if (p->ntok < 2 || p->ntok > 3 || !is_string(&p->tok[1]) || (p->ntok == 3 && !is_string(&p->tok[2])))
		return invalid(ctx, NULL);
	if (proto_starttls_only_blocks(ctx))
		return refuse(ctx, "Authentication is only allowed after STARTTLS.", NULL);
	mech = sieve_token_dup(p, cmd, 1, &mlen);
	if (p->ntok == 3)
		ir = sieve_token_dup(p, cmd, 2, &irlen);
	if (mech == NULL || (p->ntok == 3 && ir == NULL)) {
		free(mech);
		free(ir);
		return proto_internal_error(ctx, sieve_proto.internal_error);
	}
	/* The exchange's prefix opens the quoted challenge; close_challenge() ends it. */
	a = sasl_outcome(ctx, sasl_exchange_begin(ctx, "\"", ctx->conf->sieve_auth, mech, mlen, ir, irlen));
	free(mech);
	if (ir != NULL) {
		memset(ir, 0, irlen);
		free(ir);
	}
	return a;
}

/* The client's answer to a challenge: one string; "*" cancels (RFC 5804 2.1). */
static enum proto_action
sasl_answer(struct proto_ctx *ctx, const char *cmd)
{
	const struct sieve_parser *p = &ctx->u.sieve.p;
	enum proto_action a;
	size_t n;
	char *s;

	if (p->ntok != 1 || !is_string(&p->tok[0])) {
		ctx->sasl = SASL_WAIT_NONE;
		return invalid(ctx, "client sent an invalid SASL response");
	}
	if ((s = sieve_token_dup(p, cmd, 0, &n)) == NULL)
		return proto_internal_error(ctx, sieve_proto.internal_error);
	/* After Auth-Error-SASL the "*" is the expected dummy response: the exchange takes it. */
	if (n == 1 && s[0] == '*' && ctx->sasl != SASL_WAIT_OAUTHBEARER_ACK &&
	    ctx->sasl != SASL_WAIT_XOAUTH2_ACK) {
		free(s);
		ctx->sasl = SASL_WAIT_NONE;
		ctx->state = SIEVE_ST_START;
		creds_forget_login(&ctx->cr);
		reply(ctx, "NO", NULL, "Authentication aborted by client.");
		return PA_OK;
	}
	a = sasl_outcome(ctx, sasl_exchange_step(ctx, "\"", s, n));
	memset(s, 0, n);
	free(s);
	return a;
}

/* NOOP ["tag"]: the tag comes back in the OK (RFC 5804 2.11). */
static enum proto_action
cmd_noop(struct proto_ctx *ctx, const char *cmd)
{
	const struct sieve_parser *p = &ctx->u.sieve.p;
	size_t n;
	char *tag;

	if (p->ntok == 1) {
		reply(ctx, "OK", NULL, "NOOP completed.");
		return PA_OK;
	}
	if (p->ntok != 2 || !is_string(&p->tok[1]))
		return invalid(ctx, NULL);
	if ((tag = sieve_token_dup(p, cmd, 1, &n)) == NULL)
		return proto_internal_error(ctx, sieve_proto.internal_error);
	/* Echoed as a quoted string: what one cannot hold is refused, not sent back raw. */
	if (strlen(tag) != n || strpbrk(tag, "\r\n") != NULL) {
		free(tag);
		return invalid(ctx, NULL);
	}
	buf_puts(ctx->out, "OK (TAG ");
	sieve_put_quoted(ctx->out, tag, n);
	buf_puts(ctx->out, ") \"Done\"\r\n");
	free(tag);
	return PA_OK;
}

static enum proto_action
command(struct proto_ctx *ctx, const char *cmd)
{
	const struct sieve_parser *p = &ctx->u.sieve.p;
	const char *name = cmd + p->tok[0].off;
	size_t n = p->tok[0].len;

	if (p->ntok == 0 || p->tok[0].kind != SIEVE_TOK_ATOM)
		return invalid(ctx, NULL);
#define IS(s) proto_word_is(name, n, s)
	/* The commands without arguments take none (Dovecot refuses them too). */
	if (IS("CAPABILITY") && p->ntok == 1) {
		buf_puts(ctx->out, proto_caps(ctx));
		reply(ctx, "OK", NULL, "Capability completed.");
		return PA_OK;
	}
	if (IS("NOOP"))
		return cmd_noop(ctx, cmd);
	if (IS("LOGOUT") && p->ntok == 1) {
		reply(ctx, "OK", NULL, "Logout completed.");
		ctx->reason = "client logged out";
		return PA_CLOSE;
	}
	if (IS("STARTTLS") && p->ntok == 1) {
		if (ctx->tls || ctx->conf->starttls == STARTTLS_OFF)
			return refuse(ctx, ctx->tls ? "TLS is already active." : "STARTTLS is not available.",
			    NULL);
		reply(ctx, "OK", NULL, "Begin TLS negotiation now.");
		return PA_STARTTLS;
	}
	if (IS("AUTHENTICATE"))
		return cmd_authenticate(ctx, cmd);
	if (IS("UNAUTHENTICATE"))
		return refuse(ctx, "Not authenticated.", NULL);
	if (IS("CAPABILITY") || IS("LOGOUT") || IS("STARTTLS"))
		return invalid(ctx, NULL);
#undef IS
	/* HAVESPACE, PUTSCRIPT, LISTSCRIPTS ... need a login first. */
	return refuse(ctx, "Authenticate first.", NULL);
}

static enum proto_action
sieve_input(struct proto_ctx *ctx, const char *data, size_t len, int full, size_t *used)
{
	struct sieve_parser *p = &ctx->u.sieve.p;
	enum proto_action a;

	*used = 0;
	switch (sieve_parse(p, data, len, ctx->bufsize)) {
	case SIEVE_PARSE_AGAIN:
		if (!full)
			return PA_AGAIN;
		/* FALLTHROUGH */
	case SIEVE_PARSE_TOO_LONG:
		*used = len;
		reply(ctx, "BYE", NULL, "Command too long.");
		ctx->reason = "client sent too long command";
		sieve_parse_reset(p);
		return PA_CLOSE;
	case SIEVE_PARSE_INVALID:
		*used = p->pos;
		ctx->sasl = SASL_WAIT_NONE;
		if (p->quit) {
			reply(ctx, "BYE", NULL, "Invalid literal.");
			ctx->reason = "client sent a literal that cannot be skipped";
			a = PA_CLOSE;
		} else {
			a = invalid(ctx, NULL);
		}
		sieve_parse_reset(p);
		return a;
	case SIEVE_PARSE_DONE:
		break;
	}
	*used = p->pos;
	a = proto_count_command(ctx, too_many);
	if (a == PA_OK)
		a = ctx->state == SIEVE_ST_SASL ? sasl_answer(ctx, data) : command(ctx, data);
	sieve_parse_reset(p);
	return a;
}

static int
sieve_greeting(struct proto_ctx *ctx)
{
	sieve_parse_reset(&ctx->u.sieve.p);
	ctx->u.sieve.be_caps = 0;
	if (buf_puts(ctx->out, proto_caps(ctx)) < 0)
		return -1;
	return buf_puts(ctx->out, ctx->rt->greeting);
}

/* RFC 5804 2.2: after the handshake the server sends its capabilities again, unasked. */
static int
sieve_tls_up(struct proto_ctx *ctx)
{
	if (buf_puts(ctx->out, proto_caps(ctx)) < 0)
		return -1;
	reply(ctx, "OK", NULL, "TLS negotiation successful.");
	return 0;
}

static enum proto_action
sieve_auth_failed(struct proto_ctx *ctx, const char *text, const char *code, int retry)
{
	(void)code;
	if (proto_sasl_error(ctx, "\"", SIEVE_ST_SASL)) {
		close_challenge(ctx);
		return PA_OK;
	}
	if (strncmp(text, TRYLATER, sizeof(TRYLATER) - 1) == 0)
		reply(ctx, "NO", TRYLATER, text + sizeof(TRYLATER) - 1);
	else
		reply(ctx, "NO", NULL, text);
	ctx->state = SIEVE_ST_START;
	return retry ? PA_OK : PA_CLOSE;
}

static void
sieve_free(struct proto_ctx *ctx)
{
	(void)ctx;
}

const struct proto sieve_proto = {
	.name = "sieve",
	.greeting = sieve_greeting,
	.input = sieve_input,
	.auth_failed = sieve_auth_failed,
	.backend_line = sieve_backend_line,
	.free = sieve_free,
	.tls_up = sieve_tls_up,
	.limited_text = TRYLATER "Temporary authentication failure",
	.limited_code = NULL,
	.internal_error = "NO (TRYLATER) \"Internal error, try again later.\"\r\n",
	.cert_error = "BYE \"SSL certificate error.\"\r\n",
	.no_cert = "BYE \"No required SSL certificate.\"\r\n",
};
