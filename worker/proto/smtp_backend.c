/*
 * SMTP backend login, pure: wait for the 220 greeting, EHLO (with our name
 * before XCLIENT, else with the client's), then XCLIENT with the client's
 * details and its HELO/EHLO again (xclient on), then either AUTH PLAIN
 * (proxy_smtp_auth; AUTH LOGIN or no AUTH at all when the auth service
 * answered "Auth-Method: login" or "none"), or the client's MAIL
 * and RCPT (smtp_auth none), or nothing. Multi-line replies count once, at
 * their last line. With no password to send (EXTERNAL, CRAM-MD5 and no
 * Auth-Pass) the login ends as an internal error, "no password available",
 * as nginx's. After an AUTH the proxy itself tells the client
 * "235 2.0.0 OK", as nginx does; with smtp_auth none the backend's answer
 * to RCPT goes to the client instead, whatever it says. With proxy_starttls
 * the first EHLO is followed by STARTTLS, and once TLS is up (line == NULL)
 * by a second EHLO, as RFC 3207 requires.
 *
 * Beyond nginx: with XCLIENT (and no proxy_starttls) the first EHLO is
 * skipped: XCLIENT goes right after the greeting, since the backend starts
 * the session over after it anyway and the client's EHLO follows. That is
 * two round trips instead of three. A backend that refuses XCLIENT there
 * (5xx) gets nginx's order at once, and is remembered (BF_SMTP_EHLO_FIRST).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net.h"
#include "worker/proto/auth_http_proto.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl.h"
#include "worker/proto/sasl_oauth.h"

enum smtp_be_state {
	SMTP_BE_GREETING,	/* waiting for 220 */
	SMTP_BE_EHLO,		/* sent EHLO <server_name>, waiting for 250 */
	SMTP_BE_XCLIENT,	/* sent XCLIENT, waiting for 220 or 250 */
	SMTP_BE_HELO,		/* sent the client's HELO/EHLO, waiting for 250 */
	SMTP_BE_AUTH,		/* sent AUTH PLAIN, waiting for 235 */
	SMTP_BE_MAIL,		/* sent MAIL, waiting for 250 */
	SMTP_BE_RCPT,		/* sent RCPT, relaying the reply */
	SMTP_BE_STARTTLS,	/* proxy_starttls: sent STARTTLS, waiting for 220 */
	SMTP_BE_XCLIENT_EARLY,	/* sent XCLIENT right after the greeting */
	SMTP_BE_LOGIN_USER,	/* sent AUTH LOGIN, waiting for 334 (Username:) */
	SMTP_BE_LOGIN_PASS,	/* sent the user name, waiting for 334 (Password:) */
};

/* A multi-line RCPT reply relayed to the client stops growing here. */
#define SMTP_RELAY_MAX 16384

int
smtp_xtext(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 33 || *p > 126 || *p == '+' || *p == '=') {
			char e[3] = { '+', hex[*p >> 4], hex[*p & 15] };
			if (buf_append(b, e, 3) < 0)
				return -1;
		} else if (buf_append(b, p, 1) < 0) {
			return -1;
		}
	}
	return 0;
}

static void
be_set_state(struct proto_ctx *ctx, enum smtp_be_state st)
{
	ctx->be_state = (uint8_t)st;
}

/*
 * "NNN text", "NNN-text" or "NNN": returns the code (200..599) and sets
 * *more for a line that another follows; 0 when the line is no reply.
 */
static int
reply_code(const char *line, size_t len, int *more)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return 0;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return 0;
	*more = len > 3 && line[3] == '-';
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

static const char *
server_name(const struct proto_ctx *ctx)
{
	return ctx->conf->server_name.v[0];
}

/* The client's greeting was HELO: plain SMTP. No greeting yet counts as EHLO. */
static int
client_said_helo(const struct proto_ctx *ctx)
{
	return ctx->u.smtp.helo != NULL && !ctx->u.smtp.ehlo;
}

static const char *
client_helo(const struct proto_ctx *ctx)
{
	return ctx->cr.helo != NULL ? ctx->cr.helo : ctx->u.smtp.helo;
}

/*
 * Whether the backend login ends with an AUTH: proxy_smtp_auth, unless the
 * auth service said "Auth-Method: none" for this login; then XCLIENT carries
 * the login, as without proxy_smtp_auth.
 */
static int
backend_auth(const struct proto_ctx *ctx)
{
	return ctx->conf->proxy_smtp_auth && ctx->be_auth != BE_AUTH_NONE;
}

/*
 * The seed's form, "XCLIENT PROTO=ESMTP HELO=... ADDR=... LOGIN=... NAME=...",
 * every value xtext-encoded (nginx 1.29 sends ADDR, LOGIN and NAME only).
 */
static void
send_xclient(struct proto_ctx *ctx)
{
	char ip[NET_ADDRSTRLEN];
	const char *helo = client_helo(ctx);
	int port;

	proto_addr(ctx->client_addr, ip, sizeof(ip), &port);
	buf_printf(ctx->bout, "XCLIENT PROTO=%s", client_said_helo(ctx) ? "SMTP" : "ESMTP");
	if (helo != NULL && helo[0] != '\0') {
		buf_puts(ctx->bout, " HELO=");
		smtp_xtext(ctx->bout, helo);
	}
	buf_puts(ctx->bout, " ADDR=");
	if (ctx->client_addr->sa_family == AF_INET6 && strchr(ip, ':') != NULL)
		buf_puts(ctx->bout, "IPV6:");
	smtp_xtext(ctx->bout, ip);
	if (ctx->be_login != NULL && ctx->be_login[0] != '\0' && !backend_auth(ctx)) {
		buf_puts(ctx->bout, " LOGIN=");
		smtp_xtext(ctx->bout, ctx->be_login);
	}
	buf_puts(ctx->bout, " NAME=");
	smtp_xtext(ctx->bout, ctx->client_host != NULL ? ctx->client_host : "[UNAVAILABLE]");
	buf_puts(ctx->bout, "\r\n");
	be_set_state(ctx, SMTP_BE_XCLIENT);
}

/* A line of prefix and the base64 of data; the encoding is wiped once queued. */
static int
send_b64_line(struct buf *out, const char *prefix, const void *data, size_t len)
{
	char *b64 = b64_encode_dup(data, len);

	if (b64 == NULL)
		return -1;
	buf_printf(out, "%s%s\r\n", prefix, b64);
	memset(b64, 0, strlen(b64));
	free(b64);
	return 0;
}

/* One base64 line of an AUTH LOGIN answer: the user name or the password. */
static enum backend_action
send_login_b64(struct proto_ctx *ctx, const char *s, enum smtp_be_state next)
{
	if (send_b64_line(ctx->bout, "", s, strlen(s)) < 0)
		return BA_INVALID;
	be_set_state(ctx, next);
	return BA_CONTINUE;
}

/* "Auth-Method: login": AUTH LOGIN without an initial response, as Exchange wants. */
static enum backend_action
send_auth_login(struct proto_ctx *ctx)
{
	buf_puts(ctx->bout, "AUTH LOGIN\r\n");
	be_set_state(ctx, SMTP_BE_LOGIN_USER);
	return BA_CONTINUE;
}

/* The client's OAuth mechanism and its token, when the auth service sent no Auth-Pass. */
static enum backend_action
send_auth_oauth(struct proto_ctx *ctx)
{
	char *msg = sasl_oauth_build(ctx->be_mech, ctx->be_login, ctx->be_passwd);

	if (msg == NULL)
		return BA_INVALID;
	buf_printf(ctx->bout, "AUTH %s %s\r\n",
	    ctx->be_mech == AUTHM_XOAUTH2 ? "XOAUTH2" : "OAUTHBEARER", msg);
	memset(msg, 0, strlen(msg));
	free(msg);
	ctx->be_lines = 0;
	be_set_state(ctx, SMTP_BE_AUTH);
	return BA_CONTINUE;
}

static enum backend_action
send_auth_plain(struct proto_ctx *ctx)
{
	size_t ul = strlen(ctx->be_login), pl = strlen(ctx->be_passwd);
	char *plain = malloc(ul + pl + 2);
	int rc;

	if (plain == NULL)
		return BA_INVALID;
	plain[0] = '\0';
	memcpy(plain + 1, ctx->be_login, ul);
	plain[ul + 1] = '\0';
	memcpy(plain + ul + 2, ctx->be_passwd, pl);
	rc = send_b64_line(ctx->bout, "AUTH PLAIN ", plain, ul + pl + 2);
	memset(plain, 0, ul + pl + 2);
	free(plain);
	if (rc < 0)
		return BA_INVALID;
	be_set_state(ctx, SMTP_BE_AUTH);
	return BA_CONTINUE;
}

static enum backend_action
logged_in(struct proto_ctx *ctx)
{
	buf_puts(ctx->out, "235 2.0.0 OK\r\n");
	return BA_DONE;
}

/* After the greetings: MAIL (smtp_auth none), the backend AUTH (OAuth, LOGIN or PLAIN), or done. */
static enum backend_action
after_helo(struct proto_ctx *ctx)
{
	if (ctx->cr.method == AUTHM_NONE) {
		if (ctx->cr.from == NULL || ctx->cr.to == NULL)
			return BA_INVALID;
		buf_printf(ctx->bout, "%s\r\n", ctx->cr.from);
		be_set_state(ctx, SMTP_BE_MAIL);
		return BA_CONTINUE;
	}
	if (!backend_auth(ctx))
		return logged_in(ctx);
	if (ctx->be_passwd == NULL) {
		/* EXTERNAL, CRAM-MD5 or APOP, and no Auth-Pass: nginx's words. */
		ctx->reason = "no password available";
		return BA_ERROR;
	}
	/* A bearer token logs in with its own mechanism, whatever Auth-Method says. */
	if (ctx->be_mech & AUTHM_OAUTH)
		return send_auth_oauth(ctx);
	return ctx->be_auth == BE_AUTH_LOGIN ? send_auth_login(ctx) : send_auth_plain(ctx);
}

/* Reply to our EHLO: XCLIENT, or go on. */
static enum backend_action
after_ehlo(struct proto_ctx *ctx)
{
	if (ctx->conf->xclient) {
		send_xclient(ctx);
		return BA_CONTINUE;
	}
	return after_helo(ctx);
}

/*
 * Greets the backend, then waits in next: "EHLO <server_name>" when ours is
 * set or the client has not greeted; else the client's own HELO or EHLO, so
 * the backend records the client's name (nginx sends its server_name; its
 * users ask for this).
 */
static void
send_greeting(struct proto_ctx *ctx, int ours, enum smtp_be_state next)
{
	const char *helo = client_helo(ctx);

	if (ours || helo == NULL)
		buf_printf(ctx->bout, "EHLO %s\r\n", server_name(ctx));
	else
		buf_printf(ctx->bout, "%s %s\r\n", client_said_helo(ctx) ? "HELO" : "EHLO", helo);
	be_set_state(ctx, next);
}

/*
 * The first greeting is ours before XCLIENT (the client's name follows it)
 * and before STARTTLS (the greeting over TLS carries it); without either the
 * client's name goes at once, at no extra round trip.
 */
static void
send_first_ehlo(struct proto_ctx *ctx)
{
	send_greeting(ctx, ctx->conf->xclient || ctx->conf->proxy_starttls, SMTP_BE_EHLO);
}

enum backend_action
smtp_backend_line(struct proto_ctx *ctx, const char *line, size_t len)
{
	int more = 0, code;

	if (line == NULL) {
		if (ctx->be_state != SMTP_BE_STARTTLS)
			return BA_CONTINUE;	/* connected: the backend speaks first */
		/* RFC 3207: greet again over TLS, still ours before XCLIENT. */
		send_greeting(ctx, ctx->conf->xclient, SMTP_BE_EHLO);
		return BA_CONTINUE;
	}
	code = reply_code(line, len, &more);
	if (code == 0)
		return BA_INVALID;
	if (ctx->be_state == SMTP_BE_RCPT) {
		/* nginx relays whatever the backend answers to RCPT. */
		buf_printf(ctx->out, "%.*s\r\n", (int)len, line);
		if (more)
			return buf_len(ctx->out) > SMTP_RELAY_MAX ? BA_INVALID : BA_CONTINUE;
		return BA_DONE;
	}
	if (more)
		return BA_CONTINUE;	/* only the last line of a reply counts */
	if (ctx->be_state == SMTP_BE_XCLIENT_EARLY && code >= 500) {
		/*
		 * Try nginx's order. Only "bad sequence" or "not recognized" (here)
		 * says something of the backend worth remembering: a 501 or 550 may
		 * come from what this client sent (a HELO name too long), and must
		 * not slow down everyone else's logins.
		 */
		if (code == 502 || code == 503) {
			ctx->be_facts |= BF_SMTP_EHLO_FIRST;
			ctx->be_learned = 1;
		}
		send_first_ehlo(ctx);
		return BA_CONTINUE;
	}
	if (code >= 400)
		return BA_REFUSED;

	switch (ctx->be_state) {
	case SMTP_BE_GREETING:
		if (code != 220)
			return BA_INVALID;
		if (ctx->conf->xclient && !ctx->conf->proxy_starttls &&
		    !(ctx->be_facts & BF_SMTP_EHLO_FIRST)) {
			send_xclient(ctx);
			be_set_state(ctx, SMTP_BE_XCLIENT_EARLY);
			return BA_CONTINUE;
		}
		send_first_ehlo(ctx);
		return BA_CONTINUE;
	case SMTP_BE_EHLO:
		if (code != 250)
			return BA_INVALID;
		if (ctx->conf->proxy_starttls && !ctx->be_tls) {
			buf_puts(ctx->bout, "STARTTLS\r\n");
			be_set_state(ctx, SMTP_BE_STARTTLS);
			return BA_CONTINUE;
		}
		return after_ehlo(ctx);
	case SMTP_BE_STARTTLS:
		return code == 220 ? BA_STARTTLS : BA_INVALID;
	case SMTP_BE_XCLIENT:
	case SMTP_BE_XCLIENT_EARLY:
		if (code != 220 && code != 250)
			return BA_INVALID;
		/* Postfix starts the session over after XCLIENT: greet it again. */
		send_greeting(ctx, 0, SMTP_BE_HELO);
		return BA_CONTINUE;
	case SMTP_BE_HELO:
		if (code != 250)
			return BA_INVALID;
		return after_helo(ctx);
	case SMTP_BE_LOGIN_USER:
		if (code != 334)
			return BA_INVALID;
		return send_login_b64(ctx, ctx->be_login, SMTP_BE_LOGIN_PASS);
	case SMTP_BE_LOGIN_PASS:
		if (code != 334)
			return BA_INVALID;
		return send_login_b64(ctx, ctx->be_passwd, SMTP_BE_AUTH);
	case SMTP_BE_AUTH:
		if (code == 334 && (ctx->be_mech & AUTHM_OAUTH) && ctx->be_lines == 0) {
			/* The token's error challenge (RFC 7628 3.2.2): the dummy, then the refusal. */
			buf_puts(ctx->bout, ctx->be_mech == AUTHM_XOAUTH2 ? "\r\n" : "AQ==\r\n");
			ctx->be_lines = 1;
			return BA_CONTINUE;
		}
		if (code != 235)
			return ctx->be_lines ? BA_REFUSED : BA_INVALID;
		return logged_in(ctx);
	case SMTP_BE_MAIL:
		if (code != 250)
			return BA_INVALID;
		buf_printf(ctx->bout, "%s\r\n", ctx->cr.to);
		be_set_state(ctx, SMTP_BE_RCPT);
		return BA_CONTINUE;
	case SMTP_BE_RCPT:
		break;
	}
	return BA_INVALID;
}
