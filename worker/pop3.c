/*
 * POP3 before login: a pure state machine (one line in, replies and an
 * action out) with nginx's dialogue and replies: greeting "+OK POP3 ready"
 * (with an APOP timestamp when apop or cram-md5 is enabled), CAPA, USER/PASS,
 * APOP, AUTH PLAIN/LOGIN/CRAM-MD5/EXTERNAL, STLS, NOOP, QUIT, and
 * "-ERR invalid command" for everything else. Lines are parsed as nginx's
 * ngx_mail_pop3_parse_command() parses them; the line limit is
 * pop3_client_buffer instead of nginx's fixed 128 bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "worker/proto.h"
#include "worker/proto_util.h"
#include "worker/sasl.h"

enum pop3_state {
	POP3_ST_START,
	POP3_ST_USER,		/* USER seen, PASS expected */
	POP3_ST_AUTH_PLAIN,
	POP3_ST_AUTH_LOGIN_USER,
	POP3_ST_AUTH_LOGIN_PASS,
	POP3_ST_AUTH_CRAM_MD5,
	POP3_ST_AUTH_EXTERNAL,
};

#define POP3_ARGS_MAX 3		/* nginx stops at three arguments */

struct pop3_args {
	int n;
	const char *v[POP3_ARGS_MAX];
	size_t l[POP3_ARGS_MAX];
};

#define INVALID "-ERR invalid command\r\n"

static void
pop3_set_state(struct proto_ctx *ctx, enum pop3_state st)
{
	ctx->state = (uint8_t)st;
}

static enum proto_action
invalid(struct proto_ctx *ctx, const char *reason)
{
	pop3_set_state(ctx, POP3_ST_START);
	ctx->errors++;
	ctx->reason = reason;
	buf_puts(ctx->out, INVALID);
	if (ctx->errors >= ctx->conf->max_errors) {
		ctx->reason = "client sent too many invalid commands";
		return PA_CLOSE;
	}
	return PA_OK;
}

static enum proto_action
internal_error(struct proto_ctx *ctx)
{
	ctx->reason = "out of memory";
	buf_puts(ctx->out, pop3_proto.internal_error);
	return PA_CLOSE;
}

static int
starttls_only_blocks(const struct proto_ctx *ctx)
{
	return ctx->conf->starttls == STARTTLS_ONLY && !ctx->tls;
}

static void
drop(char **p)
{
	if (*p != NULL) {
		memset(*p, 0, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

/* A new login attempt starts without what an earlier one left behind. */
static void
forget(struct proto_ctx *ctx)
{
	drop(&ctx->cr.login);
	drop(&ctx->cr.passwd);
	ctx->cr.method = 0;
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
sasl_result(struct proto_ctx *ctx, int rc)
{
	if (rc == SASL_NOMEM)
		return internal_error(ctx);
	if (rc == SASL_HOSTILE)
		return invalid(ctx, "client sent credentials with CR, LF or NUL");
	return invalid(ctx, "client sent invalid SASL data");
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
cmd_capa(struct proto_ctx *ctx, const struct pop3_args *a)
{
	const struct proto_rt *rt = ctx->rt;

	(void)a;
	/* nginx offers STLS only before USER. */
	if (ctx->tls || ctx->state == POP3_ST_USER)
		buf_puts(ctx->out, rt->caps_tls);
	else if (ctx->conf->starttls == STARTTLS_ON)
		buf_puts(ctx->out, rt->caps_starttls);
	else if (ctx->conf->starttls == STARTTLS_ONLY)
		buf_puts(ctx->out, rt->caps_starttls_only);
	else
		buf_puts(ctx->out, rt->caps_plain);
	return PA_OK;
}

static enum proto_action
cmd_user(struct proto_ctx *ctx, const struct pop3_args *a)
{
	enum proto_action r;

	if (starttls_only_blocks(ctx) || a->n != 1)
		return invalid(ctx, NULL);
	forget(ctx);
	if (set_cred(ctx, &ctx->cr.login, a->v[0], a->l[0], &r) < 0)
		return r;
	pop3_set_state(ctx, POP3_ST_USER);
	buf_puts(ctx->out, "+OK\r\n");
	return PA_OK;
}

static enum proto_action
cmd_pass(struct proto_ctx *ctx, const struct pop3_args *a)
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

static int
is_hex32(const char *s, size_t n)
{
	if (n != 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

static enum proto_action
cmd_apop(struct proto_ctx *ctx, const struct pop3_args *a)
{
	enum proto_action r;

	if (starttls_only_blocks(ctx) || a->n != 2 || !(ctx->conf->pop3_auth & AUTHM_APOP))
		return invalid(ctx, NULL);
	/* An MD5 digest; nginx passes anything on to the auth service. */
	if (!is_hex32(a->v[1], a->l[1]))
		return invalid(ctx, "client sent an invalid APOP digest");
	forget(ctx);
	if (set_cred(ctx, &ctx->cr.login, a->v[0], a->l[0], &r) < 0 ||
	    set_cred(ctx, &ctx->cr.passwd, a->v[1], a->l[1], &r) < 0)
		return r;
	if (restore_salt(ctx) < 0)
		return internal_error(ctx);
	ctx->cr.method = AUTHM_APOP;
	return PA_AUTH;
}

static int
mech_is(const struct pop3_args *a, const char *name)
{
	return a->l[0] == strlen(name) && strncasecmp(a->v[0], name, a->l[0]) == 0;
}

static enum proto_action
cmd_auth(struct proto_ctx *ctx, const struct pop3_args *a)
{
	int rc;

	if (starttls_only_blocks(ctx))
		return invalid(ctx, NULL);
	if (a->n == 0) {
		buf_puts(ctx->out, ctx->rt->auth_list);
		return PA_OK;
	}
	forget(ctx);
	/* PLAIN and LOGIN work whatever pop3_auth says; it only hides them (nginx). */
	if (mech_is(a, "PLAIN")) {
		if (a->n == 1) {
			buf_puts(ctx->out, "+ \r\n");
			pop3_set_state(ctx, POP3_ST_AUTH_PLAIN);
			return PA_OK;
		}
		if (a->n != 2)
			return invalid(ctx, NULL);
		if ((rc = sasl_plain(a->v[1], a->l[1], &ctx->cr)) != SASL_OK)
			return sasl_result(ctx, rc);
		ctx->cr.method = AUTHM_PLAIN;
		return PA_AUTH;
	}
	if (mech_is(a, "LOGIN")) {
		if (a->n == 1) {
			buf_puts(ctx->out, "+ VXNlcm5hbWU6\r\n");
			pop3_set_state(ctx, POP3_ST_AUTH_LOGIN_USER);
			return PA_OK;
		}
		if (a->n != 2)
			return invalid(ctx, NULL);
		if ((rc = sasl_field(a->v[1], a->l[1], &ctx->cr.login, 0)) != SASL_OK)
			return sasl_result(ctx, rc);
		buf_puts(ctx->out, "+ UGFzc3dvcmQ6\r\n");
		pop3_set_state(ctx, POP3_ST_AUTH_LOGIN_PASS);
		return PA_OK;
	}
	if (mech_is(a, "CRAM-MD5")) {
		if (a->n != 1 || !(ctx->conf->pop3_auth & AUTHM_CRAM_MD5))
			return invalid(ctx, NULL);
		if (restore_salt(ctx) < 0 || proto_cram_challenge(ctx, "+ ") < 0)
			return internal_error(ctx);
		pop3_set_state(ctx, POP3_ST_AUTH_CRAM_MD5);
		return PA_OK;
	}
	if (mech_is(a, "EXTERNAL")) {
		/* nginx skips this check for an initial response; mailproxy does not. */
		if (a->n > 2 || !(ctx->conf->pop3_auth & AUTHM_EXTERNAL))
			return invalid(ctx, NULL);
		if (a->n == 1) {
			buf_puts(ctx->out, "+ VXNlcm5hbWU6\r\n");
			pop3_set_state(ctx, POP3_ST_AUTH_EXTERNAL);
			return PA_OK;
		}
		if ((rc = sasl_field(a->v[1], a->l[1], &ctx->cr.login, 1)) != SASL_OK)
			return sasl_result(ctx, rc);
		ctx->cr.method = AUTHM_EXTERNAL;
		return PA_AUTH;
	}
	return invalid(ctx, NULL);
}

static enum proto_action
cmd_stls(struct proto_ctx *ctx, const struct pop3_args *a)
{
	(void)a;
	if (ctx->tls || ctx->conf->starttls == STARTTLS_OFF)
		return invalid(ctx, NULL);
	buf_puts(ctx->out, "+OK\r\n");
	return PA_STARTTLS;
}

static enum proto_action
cmd_noop(struct proto_ctx *ctx, const struct pop3_args *a)
{
	(void)a;
	buf_puts(ctx->out, "+OK\r\n");
	return PA_OK;
}

static enum proto_action
cmd_quit(struct proto_ctx *ctx, const struct pop3_args *a)
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
	enum proto_action (*fn)(struct proto_ctx *, const struct pop3_args *);
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

/*
 * Splits the arguments after the command name as nginx does: runs of
 * spaces separate them, at most three. Returns -1 for a fourth.
 */
static int
split_args(const char *s, size_t n, int rest, struct pop3_args *a)
{
	size_t i = 0;

	a->n = 0;
	for (;;) {
		while (i < n && s[i] == ' ')
			i++;
		if (i == n)
			return 0;
		if (a->n == POP3_ARGS_MAX)
			return -1;
		size_t start = i;
		if (rest)
			i = n;
		else
			while (i < n && s[i] != ' ')
				i++;
		a->v[a->n] = s + start;
		a->l[a->n] = i - start;
		a->n++;
	}
}

static int
is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* One command line (without its line end). */
static enum proto_action
command(struct proto_ctx *ctx, const char *line, size_t n)
{
	const struct pop3_cmd *cmd = NULL;
	struct pop3_args a;
	size_t k = 0;

	while (k < n && is_alpha(line[k]))
		k++;
	if ((k < n && line[k] != ' ') || k != 4)
		return invalid(ctx, NULL);
	for (size_t i = 0; i < sizeof(pop3_cmds) / sizeof(pop3_cmds[0]); i++)
		if (strncasecmp(line, pop3_cmds[i].name, 4) == 0)
			cmd = &pop3_cmds[i];
	if (cmd == NULL || split_args(line + k, n - k, cmd->rest, &a) < 0)
		return invalid(ctx, NULL);
	if (!(cmd->states & IN(ctx->state)))
		return invalid(ctx, NULL);
	return cmd->fn(ctx, &a);
}

/* The client's answer to a "+ ..." challenge. */
static enum proto_action
sasl_line(struct proto_ctx *ctx, const char *line, size_t n)
{
	unsigned method = AUTHM_PLAIN;
	int rc = SASL_INVALID;

	switch (ctx->state) {
	case POP3_ST_AUTH_PLAIN:
		rc = sasl_plain(line, n, &ctx->cr);
		break;
	case POP3_ST_AUTH_LOGIN_USER:
		if ((rc = sasl_field(line, n, &ctx->cr.login, 0)) != SASL_OK)
			return sasl_result(ctx, rc);
		buf_puts(ctx->out, "+ UGFzc3dvcmQ6\r\n");
		pop3_set_state(ctx, POP3_ST_AUTH_LOGIN_PASS);
		return PA_OK;
	case POP3_ST_AUTH_LOGIN_PASS:
		rc = sasl_field(line, n, &ctx->cr.passwd, 1);
		break;
	case POP3_ST_AUTH_CRAM_MD5:
		rc = sasl_cram_md5(line, n, &ctx->cr);
		method = AUTHM_CRAM_MD5;
		break;
	case POP3_ST_AUTH_EXTERNAL:
		rc = sasl_field(line, n, &ctx->cr.login, 1);
		method = AUTHM_EXTERNAL;
		break;
	}
	if (rc != SASL_OK)
		return sasl_result(ctx, rc);
	ctx->cr.method = method;
	pop3_set_state(ctx, POP3_ST_START);
	return PA_AUTH;
}

static enum proto_action
pop3_input(struct proto_ctx *ctx, const char *data, size_t len, int full, size_t *used)
{
	const char *lf = memchr(data, '\n', len);
	size_t n;

	*used = 0;
	if (lf == NULL) {
		if (!full)
			return PA_AGAIN;
		/* nginx: the invalid-command reply, then close. */
		*used = len;
		invalid(ctx, NULL);
		ctx->reason = "client sent too long command";
		return PA_CLOSE;
	}
	n = (size_t)(lf - data);
	*used = n + 1;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	/* A CR not followed by LF ends nginx's parse with an error. */
	if (memchr(data, '\r', n) != NULL)
		return invalid(ctx, NULL);
	if (ctx->state == POP3_ST_START || ctx->state == POP3_ST_USER)
		return command(ctx, data, n);
	return sasl_line(ctx, data, n);
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
	.internal_error = "-ERR internal server error\r\n",
	.cert_error = "-ERR SSL certificate error\r\n",
	.no_cert = "-ERR No required SSL certificate\r\n",
};
