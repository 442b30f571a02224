/*
 * SMTP before login: a pure state machine (one line in, replies and an
 * action out) with nginx's dialogue and replies: HELO/EHLO, AUTH
 * PLAIN/LOGIN/CRAM-MD5/EXTERNAL, STARTTLS, and with "smtp_auth none" the
 * MAIL and first RCPT that stand in for a login. Lines are parsed as
 * nginx's ngx_mail_smtp_parse_command() parses them. What the client said
 * (HELO name, MAIL and RCPT lines) is kept in ctx->cr for the auth service
 * and smtp_backend.c.
 */
#include <stdlib.h>
#include <string.h>

#include "worker/proto/proto.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl_exchange.h"

enum smtp_state {
	SMTP_ST_START,
	SMTP_ST_SASL,		/* in an AUTH exchange (ctx->sasl) */
};

#define SMTP_ARGS_MAX 11	/* nginx refuses a twelfth argument */
_Static_assert(SMTP_ARGS_MAX <= PROTO_ARGS_MAX, "struct proto_args holds them");

#define R_OK		"250 2.0.0 OK\r\n"
#define R_INVALID	"500 5.5.1 Invalid command\r\n"
#define R_BAD_ARG	"501 5.5.4 Invalid argument\r\n"
#define R_BAD_SEQ	"503 5.5.1 Bad sequence of commands\r\n"
#define R_AUTH_REQ	"530 5.7.1 Authentication required\r\n"

static void
smtp_set_state(struct proto_ctx *ctx, enum smtp_state st)
{
	ctx->state = (uint8_t)st;
}

static enum proto_action
invalid(struct proto_ctx *ctx, const char *reason)
{
	return proto_invalid(ctx, R_INVALID, reason);
}

/* nginx answers "501" and "503" without counting an error or leaving the state. */
static enum proto_action
bad_argument(struct proto_ctx *ctx)
{
	buf_puts(ctx->out, R_BAD_ARG);
	return PA_OK;
}

static enum proto_action
bad_sequence(struct proto_ctx *ctx)
{
	buf_puts(ctx->out, R_BAD_SEQ);
	return PA_OK;
}

static enum proto_action
internal_error(struct proto_ctx *ctx)
{
	return proto_internal_error(ctx, smtp_proto.internal_error);
}

static enum proto_action
sasl_outcome(struct proto_ctx *ctx, int rc)
{
	return proto_sasl_outcome(ctx, rc, SMTP_ST_SASL, invalid, smtp_proto.internal_error);
}

static enum proto_action
cmd_helo(struct proto_ctx *ctx, const struct proto_args *a, int ehlo)
{
	const struct proto_rt *rt = ctx->rt;
	char *copy = NULL;
	int rc;

	if (a->n != 1)
		return bad_argument(ctx);
	/* The name goes into Auth-SMTP-Helo unescaped: no NUL. */
	rc = creds_set(&ctx->cr.helo, a->v[0], a->l[0]);
	if (rc == -1)
		return bad_argument(ctx);
	if (rc == -2 || creds_set(&copy, a->v[0], a->l[0]) < 0)
		return internal_error(ctx);
	free(ctx->u.smtp.helo);
	ctx->u.smtp.helo = copy;
	ctx->u.smtp.ehlo = (uint8_t)ehlo;
	creds_drop(&ctx->cr.from);
	creds_drop(&ctx->cr.to);
	buf_puts(ctx->out, ehlo ? proto_caps(ctx) : rt->auth_list);
	return PA_OK;
}

static enum proto_action
cmd_helo_only(struct proto_ctx *ctx, const struct proto_args *a)
{
	return cmd_helo(ctx, a, 0);
}

static enum proto_action
cmd_ehlo(struct proto_ctx *ctx, const struct proto_args *a)
{
	return cmd_helo(ctx, a, 1);
}

static enum proto_action
cmd_auth(struct proto_ctx *ctx, const struct proto_args *a)
{
	/* nginx: AUTH before STARTTLS under "starttls only" is an invalid command. */
	if (proto_starttls_only_blocks(ctx))
		return invalid(ctx, NULL);
	if (a->n == 0)
		return bad_argument(ctx);
	creds_forget_login(&ctx->cr);
	if (a->n > 2)
		return invalid(ctx, NULL);
	return sasl_outcome(ctx, sasl_exchange_begin(ctx, "334 ", ctx->conf->smtp_auth,
	    a->v[0], a->l[0], a->n == 2 ? a->v[1] : NULL, a->n == 2 ? a->l[1] : 0));
}

/*
 * The MAIL or RCPT line from its start to the end of its last argument, as
 * nginx keeps it. It goes to the auth service unescaped and to the backend
 * verbatim: no NUL. 0, or -1 with *r set to the answer to a bad one.
 */
static int
keep_line(struct proto_ctx *ctx, char **dst, const char *line, const struct proto_args *a,
    enum proto_action *r)
{
	int rc;

	if (a->n == 0) {
		*r = bad_argument(ctx);
		return -1;
	}
	rc = creds_set(dst, line, (size_t)(a->v[a->n - 1] + a->l[a->n - 1] - line));
	if (rc == 0)
		return 0;
	*r = rc == -1 ? bad_argument(ctx) : internal_error(ctx);
	return -1;
}

static enum proto_action
cmd_mail(struct proto_ctx *ctx, const char *line, const struct proto_args *a)
{
	enum proto_action r;

	if (!(ctx->conf->smtp_auth & AUTHM_NONE)) {
		ctx->reason = "client was rejected: MAIL without authentication";
		buf_puts(ctx->out, R_AUTH_REQ);
		return PA_OK;
	}
	if (ctx->cr.from != NULL)
		return bad_sequence(ctx);
	if (keep_line(ctx, &ctx->cr.from, line, a, &r) < 0)
		return r;
	creds_forget_login(&ctx->cr);
	buf_puts(ctx->out, R_OK);
	return PA_OK;
}

static enum proto_action
cmd_rcpt(struct proto_ctx *ctx, const char *line, const struct proto_args *a)
{
	enum proto_action r;

	if (ctx->cr.from == NULL)
		return bad_sequence(ctx);
	if (keep_line(ctx, &ctx->cr.to, line, a, &r) < 0)
		return r;
	creds_forget_login(&ctx->cr);
	ctx->cr.method = AUTHM_NONE;
	return PA_AUTH;
}

static enum proto_action
cmd_rset(struct proto_ctx *ctx)
{
	creds_drop(&ctx->cr.from);
	creds_drop(&ctx->cr.to);
	buf_puts(ctx->out, R_OK);
	return PA_OK;
}

static enum proto_action
cmd_starttls(struct proto_ctx *ctx)
{
	if (ctx->tls || ctx->conf->starttls == STARTTLS_OFF)
		return invalid(ctx, NULL);
	/* RFC 3207: forget what the client said before TLS (nginx CVE-2014-3556). */
	creds_drop(&ctx->cr.helo);
	creds_drop(&ctx->cr.from);
	creds_drop(&ctx->cr.to);
	creds_forget_login(&ctx->cr);
	free(ctx->u.smtp.helo);
	ctx->u.smtp.helo = NULL;
	ctx->u.smtp.ehlo = 0;
	buf_puts(ctx->out, "220 2.0.0 Start TLS\r\n");
	return PA_STARTTLS;
}

/* The commands nginx's parser knows; the others are invalid before any argument is looked at. */
enum smtp_cmd {
	SMTP_HELO, SMTP_EHLO, SMTP_AUTH, SMTP_QUIT, SMTP_NOOP, SMTP_MAIL, SMTP_RSET,
	SMTP_RCPT, SMTP_VRFY, SMTP_EXPN, SMTP_HELP, SMTP_DATA, SMTP_STARTTLS,
};

static const char *const smtp_cmd_names[] = {
	"HELO", "EHLO", "AUTH", "QUIT", "NOOP", "MAIL", "RSET",
	"RCPT", "VRFY", "EXPN", "HELP", "DATA", "STARTTLS",
};

static enum proto_action
command(struct proto_ctx *ctx, const char *line, size_t n)
{
	struct proto_args a;
	size_t k = proto_verb_len(line, n);
	int cmd = -1;

	for (size_t i = 0; i < sizeof(smtp_cmd_names) / sizeof(smtp_cmd_names[0]); i++)
		if (proto_word_is(line, k, smtp_cmd_names[i]))
			cmd = (int)i;
	if (cmd < 0 || proto_split_args(line + k, n - k, 0, SMTP_ARGS_MAX, &a) < 0)
		return invalid(ctx, NULL);

	switch ((enum smtp_cmd)cmd) {
	case SMTP_HELO:
		return cmd_helo_only(ctx, &a);
	case SMTP_EHLO:
		return cmd_ehlo(ctx, &a);
	case SMTP_AUTH:
		return cmd_auth(ctx, &a);
	case SMTP_QUIT:
		buf_puts(ctx->out, "221 2.0.0 Bye\r\n");
		return PA_CLOSE;
	case SMTP_NOOP:
		buf_puts(ctx->out, R_OK);
		return PA_OK;
	case SMTP_MAIL:
		return cmd_mail(ctx, line, &a);
	case SMTP_RSET:
		return cmd_rset(ctx);
	case SMTP_RCPT:
		return cmd_rcpt(ctx, line, &a);
	case SMTP_STARTTLS:
		return cmd_starttls(ctx);
	case SMTP_VRFY:
	case SMTP_EXPN:
	case SMTP_HELP:
	case SMTP_DATA:
		break;
	}
	return invalid(ctx, NULL);
}

static enum proto_action
smtp_input(struct proto_ctx *ctx, const char *data, size_t len, int full, size_t *used)
{
	long n = proto_take_line(data, len, full, used);

	if (n < 0)
		return proto_line_refused(ctx, n, invalid);
	if (proto_count_command(ctx, invalid) == PA_CLOSE)
		return PA_CLOSE;
	if (ctx->state == SMTP_ST_START)
		return command(ctx, data, (size_t)n);
	return sasl_outcome(ctx, sasl_exchange_step(ctx, "334 ", data, (size_t)n));
}

enum proto_action
smtp_early_input(struct proto_ctx *ctx)
{
	buf_puts(ctx->out, "503 5.5.0 Improper use of SMTP command pipelining\r\n");
	ctx->reason = "client was rejected before greeting";
	return PA_CLOSE;
}

static int
smtp_greeting(struct proto_ctx *ctx)
{
	smtp_set_state(ctx, SMTP_ST_START);
	return buf_puts(ctx->out, ctx->rt->greeting);
}

static enum proto_action
smtp_auth_failed(struct proto_ctx *ctx, const char *text, const char *code, int retry)
{
	if (proto_sasl_error(ctx, "334 ", SMTP_ST_SASL))
		return PA_OK;
	buf_printf(ctx->out, "%s %s\r\n", code != NULL && code[0] ? code : "535 5.7.0", text);
	smtp_set_state(ctx, SMTP_ST_START);
	/* The session clears cr after a failed login; the HELO name still holds. */
	if (retry && ctx->cr.helo == NULL && ctx->u.smtp.helo != NULL &&
	    creds_set(&ctx->cr.helo, ctx->u.smtp.helo, strlen(ctx->u.smtp.helo)) < 0)
		return internal_error(ctx);
	return retry ? PA_OK : PA_CLOSE;
}

static void
smtp_free(struct proto_ctx *ctx)
{
	free(ctx->u.smtp.helo);
	ctx->u.smtp.helo = NULL;
}

const struct proto smtp_proto = {
	.name = "smtp",
	.greeting = smtp_greeting,
	.input = smtp_input,
	.auth_failed = smtp_auth_failed,
	.backend_line = smtp_backend_line,
	.free = smtp_free,
	.limited_text = "Temporary authentication failure",
	.limited_code = "454 4.7.0",
	.internal_error = "451 4.3.2 Internal server error\r\n",
	.cert_error = "421 4.7.1 SSL certificate error\r\n",
	.no_cert = "421 4.7.1 No required SSL certificate\r\n",
};
