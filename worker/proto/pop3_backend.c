/*
 * POP3 backend login, pure: wait for the "+OK" greeting, send USER, then
 * PASS, each answered by "+OK", as nginx's proxy module does. The last "+OK"
 * goes to the client, and the relay starts. "-ERR" to USER or PASS is a
 * refusal; anything else is an invalid response. With proxy_starttls, STLS
 * comes first and the login goes on once TLS is up (line == NULL).
 *
 * Beyond nginx: a backend that lists PIPELINING in its CAPA (RFC 2449) gets
 * USER and PASS in one write, one round trip instead of two. What CAPA said
 * is remembered per backend (BF_* in proto.h), so CAPA itself is asked only
 * at the first login to a backend and when that knowledge expires; a server
 * without CAPA answers "-ERR" and is logged in to one command at a time.
 *
 * An OAuth login without Auth-Pass (be_mech) is "AUTH <mechanism> <message>"
 * instead (RFC 5034 initial response); a "+ <error>" challenge to it gets
 * the dummy response, and the "-ERR" that follows is the refusal.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "worker/proto/proto_util.h"
#include "worker/proto/sasl_oauth.h"

enum pop3_be_state {
	POP3_BE_GREETING,
	POP3_BE_USER,		/* sent USER (and PASS, when pipelined) */
	POP3_BE_PASS,
	POP3_BE_STLS,
	POP3_BE_CAPA,		/* sent CAPA, waiting for +OK or -ERR */
	POP3_BE_CAPA_LIST,	/* reading the capability lines up to "." */
	POP3_BE_SASL,		/* sent AUTH with the token */
	POP3_BE_SASL_ERR,	/* answered its error challenge */
};

/* A CAPA list longer than this is not a capability list. */
#define CAPA_LINES_MAX 100

static int
pipelined(const struct proto_ctx *ctx)
{
	return (ctx->be_facts & (BF_POP3_CAPA | BF_POP3_PIPELINING)) ==
	    (BF_POP3_CAPA | BF_POP3_PIPELINING);
}

static enum backend_action
send_login(struct proto_ctx *ctx)
{
	if (ctx->be_mech & AUTHM_OAUTH) {
		char *msg = sasl_oauth_build(ctx->be_mech, ctx->be_login, ctx->be_passwd);
		if (msg == NULL) {
			ctx->reason = "out of memory";
			return BA_ERROR;
		}
		buf_printf(ctx->bout, "AUTH %s %s\r\n",
		    ctx->be_mech == AUTHM_XOAUTH2 ? "XOAUTH2" : "OAUTHBEARER", msg);
		free(msg);
		ctx->be_state = POP3_BE_SASL;
		return BA_CONTINUE;
	}
	if (!(ctx->be_facts & BF_POP3_CAPA)) {
		buf_puts(ctx->bout, "CAPA\r\n");
		ctx->be_state = POP3_BE_CAPA;
		ctx->be_lines = 0;
		return BA_CONTINUE;
	}
	if (pipelined(ctx))
		buf_printf(ctx->bout, "USER %s\r\nPASS %s\r\n", ctx->be_login, ctx->be_passwd);
	else
		buf_printf(ctx->bout, "USER %s\r\n", ctx->be_login);
	ctx->be_state = POP3_BE_USER;
	return BA_CONTINUE;
}

/* CAPA answered: what BF_POP3_PIPELINING says now is known, and is kept. */
static void
capa_known(struct proto_ctx *ctx)
{
	ctx->be_facts |= BF_POP3_CAPA;
	ctx->be_learned = 1;
}

/* One line of the CAPA list: "PIPELINING" is a tag, maybe with arguments. */
static enum backend_action
capa_line(struct proto_ctx *ctx, const char *line, size_t len)
{
	if (len == 1 && line[0] == '.') {
		capa_known(ctx);
		return send_login(ctx);
	}
	if (++ctx->be_lines > CAPA_LINES_MAX)
		return BA_INVALID;
	if (len >= 10 && strncasecmp(line, "PIPELINING", 10) == 0 && (len == 10 || line[10] == ' '))
		ctx->be_facts |= BF_POP3_PIPELINING;
	return BA_CONTINUE;
}

enum backend_action
pop3_backend_line(struct proto_ctx *ctx, const char *line, size_t len)
{
	int ok, err;

	if (line == NULL) {
		if (ctx->be_state != POP3_BE_STLS)
			return BA_CONTINUE;	/* connected: the backend speaks first */
		return send_login(ctx);
	}
	if (ctx->be_state == POP3_BE_CAPA_LIST)
		return capa_line(ctx, line, len);
	if (ctx->be_state == POP3_BE_SASL && len >= 1 && line[0] == '+' &&
	    (len == 1 || line[1] == ' ')) {
		/* A challenge after the token is the error (RFC 7628 3.2.2). */
		buf_puts(ctx->bout, ctx->be_mech == AUTHM_XOAUTH2 ? "\r\n" : "AQ==\r\n");
		ctx->be_state = POP3_BE_SASL_ERR;
		return BA_CONTINUE;
	}
	if (ctx->be_state == POP3_BE_SASL_ERR)
		return len >= 4 && memcmp(line, "-ERR", 4) == 0 ? BA_REFUSED : BA_INVALID;

	/* nginx checks the first three bytes only. */
	ok = len >= 3 && memcmp(line, "+OK", 3) == 0;
	err = len >= 4 && memcmp(line, "-ERR", 4) == 0;
	if (ctx->be_state == POP3_BE_CAPA) {
		/* The answer decides; whatever was known before does not. */
		ctx->be_facts &= (uint8_t)~BF_POP3_PIPELINING;
		if (ok) {
			ctx->be_state = POP3_BE_CAPA_LIST;
			return BA_CONTINUE;
		}
		if (!err)
			return BA_INVALID;
		capa_known(ctx);	/* no CAPA: an RFC 1939 server */
		return send_login(ctx);
	}
	if (err)
		return BA_REFUSED;
	if (!ok)
		return BA_INVALID;

	switch (ctx->be_state) {
	case POP3_BE_GREETING:
		if (ctx->conf->proxy_starttls && !ctx->be_tls) {
			buf_puts(ctx->bout, "STLS\r\n");
			ctx->be_state = POP3_BE_STLS;
			return BA_CONTINUE;
		}
		return send_login(ctx);
	case POP3_BE_USER:
		if (!pipelined(ctx))
			buf_printf(ctx->bout, "PASS %s\r\n", ctx->be_passwd);
		ctx->be_state = POP3_BE_PASS;
		return BA_CONTINUE;
	case POP3_BE_PASS:
	case POP3_BE_SASL:
		buf_printf(ctx->out, "%.*s\r\n", (int)len, line);
		return BA_DONE;
	case POP3_BE_STLS:
		return BA_STARTTLS;
	case POP3_BE_SASL_ERR:
		break;
	}
	return BA_INVALID;
}
