/*
 * IMAP before login: a pure state machine (bytes in, replies and an action
 * out) with nginx's dialogue: greeting "* OK IMAP4 ready", CAPABILITY, NOOP,
 * LOGOUT, STARTTLS, LOGIN, AUTHENTICATE PLAIN/LOGIN/CRAM-MD5/EXTERNAL/
 * OAUTHBEARER/XOAUTH2, and
 * "BAD invalid command" for everything else - except ID, which mailproxy
 * answers (and can forward to the backend with imap_id_forward).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "worker/proto/imap_parse.h"
#include "worker/proto/proto.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl_exchange.h"

enum {
	IMAP_ST_START,
	IMAP_ST_SASL,		/* in an AUTHENTICATE exchange (ctx->sasl) */
};

static void
tagged(struct proto_ctx *ctx, const char *text)
{
	const char *tag = ctx->u.imap.tag[0] ? ctx->u.imap.tag : "* ";

	buf_printf(ctx->out, "%s%s\r\n", tag, text);
}

static enum proto_action
invalid(struct proto_ctx *ctx, const char *reason)
{
	tagged(ctx, "BAD invalid command");
	return proto_count_error(ctx, reason);
}

static enum proto_action
cmd_capability(struct proto_ctx *ctx)
{
	buf_puts(ctx->out, proto_caps(ctx));
	tagged(ctx, "OK completed");
	return PA_OK;
}

static enum proto_action
sasl_outcome(struct proto_ctx *ctx, int rc)
{
	return proto_sasl_outcome(ctx, rc, IMAP_ST_SASL, invalid, imap_proto.internal_error);
}

/* Token t as a login or password: CR, LF and NUL are refused. */
static int
take_string(struct proto_ctx *ctx, const char *cmd, int t, char **dst)
{
	const struct imap_parser *p = &ctx->u.imap.p;
	size_t n;
	char *s;
	int rc;

	if (p->tok[t].kind != IMAP_TOK_ATOM && p->tok[t].kind != IMAP_TOK_QUOTED &&
	    p->tok[t].kind != IMAP_TOK_LITERAL)
		return SASL_INVALID;
	s = imap_token_dup(p, cmd, t, &n);
	if (s == NULL)
		return SASL_NOMEM;
	rc = sasl_set(dst, s, n);
	memset(s, 0, n);
	free(s);
	return rc;
}

static enum proto_action
cmd_login(struct proto_ctx *ctx, const char *cmd)
{
	const struct imap_parser *p = &ctx->u.imap.p;
	int rc;

	if (p->ntok != 3 || proto_starttls_only_blocks(ctx))
		return invalid(ctx, NULL);
	rc = take_string(ctx, cmd, 1, &ctx->cr.login);
	if (rc == SASL_OK)
		rc = take_string(ctx, cmd, 2, &ctx->cr.passwd);
	if (rc != SASL_OK)
		return sasl_outcome(ctx, rc);
	ctx->cr.method = AUTHM_PLAIN;
	return PA_AUTH;
}

static enum proto_action
cmd_authenticate(struct proto_ctx *ctx, const char *cmd)
{
	const struct imap_parser *p = &ctx->u.imap.p;
	const struct imap_token *mech, *ir;

	if (p->ntok < 2 || p->ntok > 3 || proto_starttls_only_blocks(ctx))
		return invalid(ctx, NULL);
	mech = &p->tok[1];
	ir = p->ntok == 3 ? &p->tok[2] : NULL;
	if (mech->kind != IMAP_TOK_ATOM || (ir && ir->kind != IMAP_TOK_ATOM))
		return invalid(ctx, NULL);

	return sasl_outcome(ctx, sasl_exchange_begin(ctx, "+ ", ctx->conf->imap_auth,
	    cmd + mech->off, mech->len, ir ? cmd + ir->off : NULL, ir ? ir->len : 0));
}

static int
is_nil(const struct imap_token *t, const char *cmd)
{
	return t->kind == IMAP_TOK_ATOM && proto_word_is(cmd + t->off, t->len, "NIL");
}

/*
 * ID (RFC 2971): NIL or a list of string pairs. nginx answers BAD, and
 * clients that send ID before login (Thunderbird, Apple Mail) log an error.
 */
static enum proto_action
cmd_id(struct proto_ctx *ctx, const char *cmd)
{
	const struct imap_parser *p = &ctx->u.imap.p;
	struct buf list = { 0 };
	int pairs = 0;

	if (p->ntok == 2 && is_nil(&p->tok[1], cmd)) {
		/* nothing to keep */
	} else {
		if (p->ntok < 3 || p->tok[1].kind != IMAP_TOK_LPAREN ||
		    p->tok[p->ntok - 1].kind != IMAP_TOK_RPAREN || (p->ntok - 3) % 2 != 0 ||
		    (p->ntok - 3) / 2 > ID_FIELDS_MAX)
			return invalid(ctx, NULL);
		for (int t = 2; t < p->ntok - 1; t += 2) {
			const struct imap_token *k = &p->tok[t], *v = &p->tok[t + 1];
			int vnil = is_nil(v, cmd);
			if ((k->kind != IMAP_TOK_QUOTED && k->kind != IMAP_TOK_LITERAL) || k->len > 30 ||
			    (!vnil && v->kind != IMAP_TOK_QUOTED && v->kind != IMAP_TOK_LITERAL) ||
			    v->len > 1024) {
				buf_release(&list);
				return invalid(ctx, "client sent an invalid ID list");
			}
			if (!ctx->conf->imap_id_forward)
				continue;	/* checked, nothing to keep */
			size_t kl, vl = 0;
			char *ks = imap_token_dup(p, cmd, t, &kl);
			char *vs = vnil ? NULL : imap_token_dup(p, cmd, t + 1, &vl);
			/* A literal may hold CR, LF or NUL, which no quoted string can: drop the pair. */
			int quotable = ks != NULL && strlen(ks) == kl && strpbrk(ks, "\r\n") == NULL &&
			    (vnil || (vs != NULL && strlen(vs) == vl && strpbrk(vs, "\r\n") == NULL));
			/* The proxy's own x-originating-* / x-connected-* fields win. */
			if (quotable && strncasecmp(ks, "x-originating-", 14) != 0 &&
			    strncasecmp(ks, "x-connected-", 12) != 0) {
				proto_imap_quote(&list, ks);
				buf_puts(&list, " ");
				if (vnil)
					buf_puts(&list, "NIL");
				else
					proto_imap_quote(&list, vs);
				buf_puts(&list, " ");
				pairs++;
			}
			free(ks);
			free(vs);
		}
	}
	if (ctx->conf->imap_id_forward) {
		free(ctx->u.imap.id);
		ctx->u.imap.id = NULL;
		if (pairs > 0 && buf_append(&list, "", 1) == 0) {
			ctx->u.imap.id = list.data;
			list.data = NULL;
		}
	}
	buf_release(&list);
	buf_puts(ctx->out, "* ID NIL\r\n");
	tagged(ctx, "OK completed");
	return PA_OK;
}

static enum proto_action
command(struct proto_ctx *ctx, const char *cmd)
{
	const struct imap_parser *p = &ctx->u.imap.p;
	const char *name = cmd + p->tok[0].off;
	size_t n = p->tok[0].len;

#define IS(s) proto_word_is(name, n, s)
	/* As in nginx, arguments of these commands are not counted. */
	if (IS("CAPABILITY"))
		return cmd_capability(ctx);
	if (IS("NOOP")) {
		tagged(ctx, "OK completed");
		return PA_OK;
	}
	if (IS("LOGOUT")) {
		buf_puts(ctx->out, "* BYE\r\n");
		tagged(ctx, "OK completed");
		return PA_CLOSE;
	}
	if (IS("STARTTLS")) {
		if (ctx->tls || ctx->conf->starttls == STARTTLS_OFF)
			return invalid(ctx, NULL);
		tagged(ctx, "OK completed");
		return PA_STARTTLS;
	}
	if (IS("LOGIN"))
		return cmd_login(ctx, cmd);
	if (IS("AUTHENTICATE"))
		return cmd_authenticate(ctx, cmd);
	if (IS("ID"))
		return cmd_id(ctx, cmd);
#undef IS
	return invalid(ctx, NULL);
}

static enum proto_action
imap_input(struct proto_ctx *ctx, const char *data, size_t len, int full, size_t *used)
{
	struct imap_parser *p = &ctx->u.imap.p;
	enum proto_action a;

	*used = 0;
	if (ctx->state != IMAP_ST_START) {
		long n = proto_take_line(data, len, full, used);
		if (n < 0)
			return proto_line_refused(ctx, n, invalid);
		if (proto_count_command(ctx, invalid) == PA_CLOSE)
			return PA_CLOSE;
		return sasl_outcome(ctx, sasl_exchange_step(ctx, "+ ", data, (size_t)n));
	}

	switch (imap_parse(p, data, len, ctx->bufsize)) {
	case IMAP_PARSE_AGAIN:
		if (!full && imap_parse_need_continuation(p)) {
			buf_puts(ctx->out, "+ OK\r\n");
			return PA_AGAIN;
		}
		if (!full)
			return PA_AGAIN;
		proto_imap_set_tag(ctx, data);
		invalid(ctx, NULL);
		ctx->reason = "client sent too long command";
		return PA_CLOSE;
	case IMAP_PARSE_INVALID:
		*used = p->pos;
		proto_imap_set_tag(ctx, data);
		a = invalid(ctx, p->quit ? "client sent a literal that cannot be skipped" : NULL);
		if (p->quit)
			a = PA_CLOSE;
		imap_parse_reset(p);
		return a;
	case IMAP_PARSE_DONE:
		break;
	}
	*used = p->pos;
	proto_imap_set_tag(ctx, data);
	a = proto_count_command(ctx, invalid);
	if (a == PA_OK)
		a = command(ctx, data);
	imap_parse_reset(p);
	return a;
}

static int
imap_greeting(struct proto_ctx *ctx)
{
	ctx->u.imap.tag[0] = '\0';
	imap_parse_reset(&ctx->u.imap.p);
	return buf_puts(ctx->out, ctx->rt->greeting);
}

static enum proto_action
imap_auth_failed(struct proto_ctx *ctx, const char *text, const char *code, int retry)
{
	(void)code;
	if (proto_sasl_error(ctx, "+ ", IMAP_ST_SASL))
		return PA_OK;
	buf_printf(ctx->out, "%sNO %s\r\n", ctx->u.imap.tag[0] ? ctx->u.imap.tag : "* ", text);
	ctx->state = IMAP_ST_START;
	return retry ? PA_OK : PA_CLOSE;
}

static void
imap_free(struct proto_ctx *ctx)
{
	free(ctx->u.imap.id);
	ctx->u.imap.id = NULL;
}

const struct proto imap_proto = {
	.name = "imap",
	.greeting = imap_greeting,
	.input = imap_input,
	.auth_failed = imap_auth_failed,
	.backend_line = imap_backend_line,
	.free = imap_free,
	.limited_text = "[UNAVAILABLE] Temporary authentication failure",
	.limited_code = NULL,
	.internal_error = "* BAD internal server error\r\n",
	.cert_error = "* BYE SSL certificate error\r\n",
	.no_cert = "* BYE No required SSL certificate\r\n",
};
