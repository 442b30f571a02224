/*
 * POP3 before login: a pure state machine (one line in, replies and an
 * action out) with nginx's dialogue and replies: greeting "+OK POP3 ready"
 * (with an APOP timestamp when apop or cram-md5 is enabled), CAPA, USER/PASS,
 * APOP, AUTH PLAIN/LOGIN/CRAM-MD5/EXTERNAL/OAUTHBEARER/XOAUTH2, STLS, NOOP, QUIT, and
 * "-ERR invalid command" for everything else. Lines are parsed as nginx's
 * ngx_mail_pop3_parse_command() parses them; the line limit is
 * pop3_client_buffer instead of nginx's fixed 128 bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "worker/proto/proto.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl_exchange.h"

enum pop3_state {
	POP3_ST_START,
	POP3_ST_USER,		/* USER seen, PASS expected */
	POP3_ST_SASL,		/* in an AUTH exchange (ctx->sasl) */
};

#define POP3_ARGS_MAX 3		/* nginx stops at three arguments */
_Static_assert(POP3_ARGS_MAX <= PROTO_ARGS_MAX, "struct proto_args holds them");

#define INVALID "-ERR invalid command\r\n"

static void
pop3_set_state(struct proto_ctx *ctx, enum pop3_state st)
{
	ctx->state = (uint8_t)st;
}

static enum proto_action
invalid(struct proto_ctx *ctx, const char *reason)
{
	return proto_invalid(ctx, INVALID, reason);
}

static enum proto_action
internal_error(struct proto_ctx *ctx)
{
	return proto_internal_error(ctx, pop3_proto.internal_error);
}

/*
 * The session clears cr (salt included) after a failed login; APOP and
 * CRAM-MD5 must answer the greeting's timestamp all the same.
 */
static int
restore_salt(struct proto_ctx *ctx)
{
	if (ctx->cr.salt != NULL || ctx->u.pop3.salt == NULL)
		return 0;
	ctx->cr.salt = strdup(ctx->u.pop3.salt);
	return ctx->cr.salt == NULL ? -1 : 0;
}

static enum proto_action
sasl_outcome(struct proto_ctx *ctx, int rc)
{
	return proto_sasl_outcome(ctx, rc, POP3_ST_SASL, invalid, pop3_proto.internal_error);
}

/* 0, or -1 with *a set to what the refusal asks of the session. */
static int
set_cred(struct proto_ctx *ctx, char **dst, const char *s, size_t n, enum proto_action *a)
{
	int rc = creds_set(dst, s, n);

	if (rc == 0)
		return 0;
	*a = rc == -1 ? invalid(ctx, "client sent credentials with CR, LF or NUL") :
	    internal_error(ctx);
	return -1;
}

static enum proto_action
cmd_capa(struct proto_ctx *ctx, const struct proto_args *a)
{
	(void)a;
	/* nginx offers STLS only before USER. */
	buf_puts(ctx->out, ctx->state == POP3_ST_USER ? ctx->rt->caps_plain : proto_caps(ctx));
	return PA_OK;
}

static enum proto_action
cmd_user(struct proto_ctx *ctx, const struct proto_args *a)
{
	enum proto_action r;

	if (proto_starttls_only_blocks(ctx) || a->n != 1)
		return invalid(ctx, NULL);
	creds_forget_login(&ctx->cr);
	if (set_cred(ctx, &ctx->cr.login, a->v[0], a->l[0], &r) < 0)
		return r;
	pop3_set_state(ctx, POP3_ST_USER);
	buf_puts(ctx->out, "+OK\r\n");
	return PA_OK;
}

static enum proto_action
cmd_pass(struct proto_ctx *ctx, const struct proto_args *a)
{
	enum proto_action r;

	if (a->n != 1)
		return invalid(ctx, NULL);
	if (set_cred(ctx, &ctx->cr.passwd, a->v[0], a->l[0], &r) < 0)
		return r;
	ctx->cr.method = AUTHM_PLAIN;
	pop3_set_state(ctx, POP3_ST_START);
	return PA_AUTH;
}

static enum proto_action
cmd_apop(struct proto_ctx *ctx, const struct proto_args *a)
{
	enum proto_action r;

	if (proto_starttls_only_blocks(ctx) || a->n != 2 || !(ctx->conf->pop3_auth & AUTHM_APOP))
		return invalid(ctx, NULL);
	/* An MD5 digest; nginx passes anything on to the auth service. */
	if (!sasl_md5_hex(a->v[1], a->l[1]))
		return invalid(ctx, "client sent an invalid APOP digest");
	creds_forget_login(&ctx->cr);
	if (set_cred(ctx, &ctx->cr.login, a->v[0], a->l[0], &r) < 0 ||
	    set_cred(ctx, &ctx->cr.passwd, a->v[1], a->l[1], &r) < 0)
		return r;
	if (restore_salt(ctx) < 0)
		return internal_error(ctx);
	ctx->cr.method = AUTHM_APOP;
	return PA_AUTH;
}

static enum proto_action
cmd_auth(struct proto_ctx *ctx, const struct proto_args *a)
{
	if (proto_starttls_only_blocks(ctx))
		return invalid(ctx, NULL);
	if (a->n == 0) {
		buf_puts(ctx->out, ctx->rt->auth_list);
		return PA_OK;
	}
	creds_forget_login(&ctx->cr);
	if (a->n > 2)
		return invalid(ctx, NULL);
	/* CRAM-MD5 challenges with the greeting's APOP timestamp. */
	if (proto_word_is(a->v[0], a->l[0], "CRAM-MD5") && restore_salt(ctx) < 0)
		return internal_error(ctx);
	return sasl_outcome(ctx, sasl_exchange_begin(ctx, "+ ", ctx->conf->pop3_auth,
	    a->v[0], a->l[0], a->n == 2 ? a->v[1] : NULL, a->n == 2 ? a->l[1] : 0));
}

static enum proto_action
cmd_stls(struct proto_ctx *ctx, const struct proto_args *a)
{
	(void)a;
	if (ctx->tls || ctx->conf->starttls == STARTTLS_OFF)
		return invalid(ctx, NULL);
	buf_puts(ctx->out, "+OK\r\n");
	return PA_STARTTLS;
}

static enum proto_action
cmd_noop(struct proto_ctx *ctx, const struct proto_args *a)
{
	(void)a;
	buf_puts(ctx->out, "+OK\r\n");
	return PA_OK;
}

static enum proto_action
cmd_quit(struct proto_ctx *ctx, const struct proto_args *a)
{
	(void)a;
	buf_puts(ctx->out, "+OK\r\n");
	return PA_CLOSE;
}

#define IN(st) (1u << (st))

static const struct pop3_cmd {
	const char *name;
	unsigned states;	/* IN(state) for each state it is allowed in */
	uint8_t rest;		/* the argument is the rest of the line, spaces kept */
	enum proto_action (*fn)(struct proto_ctx *, const struct proto_args *);
} pop3_cmds[] = {
	{ "CAPA", IN(POP3_ST_START) | IN(POP3_ST_USER), 0, cmd_capa },
	{ "USER", IN(POP3_ST_START), 1, cmd_user },
	{ "PASS", IN(POP3_ST_USER), 1, cmd_pass },
	{ "APOP", IN(POP3_ST_START), 0, cmd_apop },
	{ "AUTH", IN(POP3_ST_START), 0, cmd_auth },
	{ "STLS", IN(POP3_ST_START), 0, cmd_stls },
	{ "NOOP", IN(POP3_ST_START) | IN(POP3_ST_USER), 0, cmd_noop },
	{ "QUIT", IN(POP3_ST_START) | IN(POP3_ST_USER), 0, cmd_quit },
};

/* One command line (without its line end). */
static enum proto_action
command(struct proto_ctx *ctx, const char *line, size_t n)
{
	const struct pop3_cmd *cmd = NULL;
	struct proto_args a;
	size_t k = proto_verb_len(line, n);

	for (size_t i = 0; i < sizeof(pop3_cmds) / sizeof(pop3_cmds[0]); i++)
		if (proto_word_is(line, k, pop3_cmds[i].name))
			cmd = &pop3_cmds[i];
	if (cmd == NULL || proto_split_args(line + k, n - k, cmd->rest, POP3_ARGS_MAX, &a) < 0)
		return invalid(ctx, NULL);
	if (!(cmd->states & IN(ctx->state)))
		return invalid(ctx, NULL);
	return cmd->fn(ctx, &a);
}

static enum proto_action
pop3_input(struct proto_ctx *ctx, const char *data, size_t len, int full, size_t *used)
{
	long n = proto_take_line(data, len, full, used);

	if (n < 0)
		return proto_line_refused(ctx, n, invalid);
	if (proto_count_command(ctx, invalid) == PA_CLOSE)
		return PA_CLOSE;
	if (ctx->state == POP3_ST_START || ctx->state == POP3_ST_USER)
		return command(ctx, data, (size_t)n);
	return sasl_outcome(ctx, sasl_exchange_step(ctx, "+ ", data, (size_t)n));
}

static int
pop3_greeting(struct proto_ctx *ctx)
{
	pop3_set_state(ctx, POP3_ST_START);
	/* nginx makes the APOP timestamp once, at the greeting. */
	if (ctx->conf->pop3_auth & (AUTHM_APOP | AUTHM_CRAM_MD5)) {
		free(ctx->u.pop3.salt);
		ctx->u.pop3.salt = proto_make_salt(ctx->conf);
		if (ctx->u.pop3.salt == NULL)
			return -1;
		free(ctx->cr.salt);
		ctx->cr.salt = NULL;
		if (restore_salt(ctx) < 0)
			return -1;
		return buf_printf(ctx->out, "%s %s\r\n", ctx->rt->greeting, ctx->u.pop3.salt);
	}
	return buf_printf(ctx->out, "%s\r\n", ctx->rt->greeting);
}

static enum proto_action
pop3_auth_failed(struct proto_ctx *ctx, const char *text, const char *code, int retry)
{
	(void)code;
	if (proto_sasl_error(ctx, "+ ", POP3_ST_SASL))
		return PA_OK;
	buf_printf(ctx->out, "-ERR %s\r\n", text);
	pop3_set_state(ctx, POP3_ST_START);
	if (retry && restore_salt(ctx) < 0)
		return internal_error(ctx);
	return retry ? PA_OK : PA_CLOSE;
}

static void
pop3_free(struct proto_ctx *ctx)
{
	free(ctx->u.pop3.salt);
	ctx->u.pop3.salt = NULL;
}

const struct proto pop3_proto = {
	.name = "pop3",
	.greeting = pop3_greeting,
	.input = pop3_input,
	.auth_failed = pop3_auth_failed,
	.backend_line = pop3_backend_line,
	.free = pop3_free,
	.limited_text = "[SYS/TEMP] Temporary authentication failure",
	.limited_code = NULL,
	.internal_error = "-ERR internal server error\r\n",
	.cert_error = "-ERR SSL certificate error\r\n",
	.no_cert = "-ERR No required SSL certificate\r\n",
};
