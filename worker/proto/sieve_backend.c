/*
 * ManageSieve backend login, pure: read the greeting's capability lines
 * up to its OK; STARTTLS when proxy_starttls is on (and read the
 * capabilities the backend sends again after the handshake); XCLIENT
 * ADDR= PORT= when the backend announces "XCLIENT" (Dovecot's
 * managesieve-login does to login_trusted_networks) and xclient is on;
 * then AUTHENTICATE "PLAIN" with the Auth-User and Auth-Pass as the
 * initial response - or with the client's OAuth mechanism and token when
 * the auth service sent no Auth-Pass. The backend's OK to AUTHENTICATE
 * goes to the client as the answer to the client's own AUTHENTICATE.
 */
#include <stdlib.h>
#include <string.h>

#include "worker/proto/proto_util.h"
#include "worker/proto/sasl.h"
#include "worker/proto/sasl_oauth.h"

enum { BE_GREETING, BE_STARTTLS, BE_TLS_CAPS, BE_XCLIENT, BE_AUTH, BE_AUTH_ERROR };

/* What the capability lines announced (ctx->u.sieve.be_caps). */
#define SIEVE_BE_XCLIENT	0x01
#define SIEVE_BE_OAUTHBEARER	0x02
#define SIEVE_BE_XOAUTH2	0x04

/* Longer initial responses go as a literal: Dovecot bounds quoted strings tighter. */
#define QUOTED_MAX 1024

/* line starts with the response word (OK, NO, BYE), then its end, a blank or a code. */
static int
is_response(const char *line, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && memcmp(line, word, n) == 0 && (len == n || line[n] == ' ' || line[n] == '(');
}

/* The quoted string at *p (no escapes in capability names and mechanism lists). */
static int
quoted(const char **p, const char *end, const char **s, size_t *n)
{
	const char *q;

	if (*p >= end || **p != '"')
		return -1;
	q = memchr(*p + 1, '"', (size_t)(end - *p - 1));
	if (q == NULL)
		return -1;
	*s = *p + 1;
	*n = (size_t)(q - *s);
	*p = q + 1;
	return 0;
}

/* word is one of the blank-separated words of s[0..n), in any case. */
static int
has_word(const char *s, size_t n, const char *word)
{
	for (size_t i = 0; i < n;) {
		size_t w = i;
		while (i < n && s[i] != ' ')
			i++;
		if (proto_word_is(s + w, i - w, word))
			return 1;
		i++;
	}
	return 0;
}

/* One capability line: "NAME" ["value"]; what the login needs is noted. */
static void
capability(struct proto_ctx *ctx, const char *line, size_t len)
{
	const char *p = line, *end = line + len, *name, *val = NULL;
	size_t nl, vl = 0;

	if (quoted(&p, end, &name, &nl) < 0)
		return;
	if (p < end && *p == ' ') {
		p++;
		if (quoted(&p, end, &val, &vl) < 0)
			val = NULL;
	}
	if (proto_word_is(name, nl, "XCLIENT"))
		ctx->u.sieve.be_caps |= SIEVE_BE_XCLIENT;
	if (proto_word_is(name, nl, "SASL") && val != NULL) {
		if (has_word(val, vl, "OAUTHBEARER"))
			ctx->u.sieve.be_caps |= SIEVE_BE_OAUTHBEARER;
		if (has_word(val, vl, "XOAUTH2"))
			ctx->u.sieve.be_caps |= SIEVE_BE_XOAUTH2;
	}
}

static void
send_string(struct proto_ctx *ctx, const char *s)
{
	size_t n = strlen(s);

	if (n > QUOTED_MAX)
		buf_printf(ctx->bout, "{%zu+}\r\n%s", n, s);
	else
		buf_printf(ctx->bout, "\"%s\"", s);
}

static enum backend_action
send_authenticate(struct proto_ctx *ctx)
{
	const char *mech = "PLAIN";
	char *msg;

	if (ctx->be_mech & AUTHM_OAUTH) {
		mech = ctx->be_mech == AUTHM_XOAUTH2 ? "XOAUTH2" : "OAUTHBEARER";
		if (!(ctx->u.sieve.be_caps & (ctx->be_mech == AUTHM_XOAUTH2 ? SIEVE_BE_XOAUTH2 :
		    SIEVE_BE_OAUTHBEARER))) {
			/* No Auth-Pass to fall back on: the auth service must send one for this backend. */
			ctx->reason = ctx->be_mech == AUTHM_XOAUTH2 ? "the ManageSieve backend does not offer XOAUTH2" :
			    "the ManageSieve backend does not offer OAUTHBEARER";
			return BA_ERROR;
		}
		msg = sasl_oauth_build(ctx->be_mech, ctx->be_login, ctx->be_passwd);
	} else {
		if (ctx->be_passwd == NULL) {
			ctx->reason = "no password for the ManageSieve backend";
			return BA_ERROR;
		}
		/* PLAIN: authzid (empty), authcid, password (RFC 4616). */
		size_t ul = strlen(ctx->be_login), pl = strlen(ctx->be_passwd);
		char *raw = malloc(ul + pl + 2);
		msg = NULL;
		if (raw != NULL) {
			raw[0] = '\0';
			memcpy(raw + 1, ctx->be_login, ul);
			raw[ul + 1] = '\0';
			memcpy(raw + ul + 2, ctx->be_passwd, pl);
			msg = b64_encode_dup(raw, ul + pl + 2);
			memset(raw, 0, ul + pl + 2);
			free(raw);
		}
	}
	if (msg == NULL) {
		ctx->reason = "out of memory";
		return BA_ERROR;
	}
	buf_printf(ctx->bout, "AUTHENTICATE \"%s\" ", mech);
	send_string(ctx, msg);
	buf_puts(ctx->bout, "\r\n");
	memset(msg, 0, strlen(msg));
	free(msg);
	ctx->be_state = BE_AUTH;
	return BA_CONTINUE;
}

/* The capabilities are read: XCLIENT if announced, then the login. */
static enum backend_action
after_caps(struct proto_ctx *ctx)
{
	if (ctx->conf->xclient && (ctx->u.sieve.be_caps & SIEVE_BE_XCLIENT)) {
		char ip[NET_ADDRSTRLEN];
		int port;
		proto_addr(ctx->client_addr, ip, sizeof(ip), &port);
		buf_printf(ctx->bout, "XCLIENT ADDR=%s PORT=%d\r\n", ip, port);
		ctx->be_state = BE_XCLIENT;
		return BA_CONTINUE;
	}
	return send_authenticate(ctx);
}

enum backend_action
sieve_backend_line(struct proto_ctx *ctx, const char *line, size_t len)
{
	if (line == NULL) {	/* TLS with the backend is up */
		if (ctx->be_state != BE_STARTTLS)
			return BA_INVALID;
		/* What was announced in the clear no longer holds; the backend says it again. */
		ctx->u.sieve.be_caps = 0;
		ctx->be_state = BE_TLS_CAPS;
		return BA_CONTINUE;
	}
	switch (ctx->be_state) {
	case BE_GREETING:
	case BE_TLS_CAPS:
		if (len > 0 && line[0] == '"') {
			capability(ctx, line, len);
			return BA_CONTINUE;
		}
		if (!is_response(line, len, "OK"))
			return BA_INVALID;
		if (ctx->be_state == BE_GREETING && ctx->conf->proxy_starttls && !ctx->be_tls) {
			buf_puts(ctx->bout, "STARTTLS\r\n");
			ctx->be_state = BE_STARTTLS;
			return BA_CONTINUE;
		}
		return after_caps(ctx);
	case BE_STARTTLS:
		if (is_response(line, len, "OK"))
			return BA_STARTTLS;
		return is_response(line, len, "NO") ? BA_REFUSED : BA_INVALID;
	case BE_XCLIENT:
		/* Whatever the backend thought of XCLIENT, the login goes on (as with IMAP's ID). */
		if (!is_response(line, len, "OK") && !is_response(line, len, "NO"))
			return BA_INVALID;
		return send_authenticate(ctx);
	case BE_AUTH:
		if (is_response(line, len, "OK")) {
			buf_printf(ctx->out, "%.*s\r\n", (int)len, line);
			return BA_DONE;
		}
		if (is_response(line, len, "NO"))
			return BA_REFUSED;
		if (len > 0 && (line[0] == '"' || line[0] == '{') && (ctx->be_mech & AUTHM_OAUTH)) {
			/* A challenge after the token is the error (RFC 7628 3.2.2): the dummy response. */
			buf_puts(ctx->bout, ctx->be_mech == AUTHM_XOAUTH2 ? "\"\"\r\n" : "\"AQ==\"\r\n");
			ctx->be_state = BE_AUTH_ERROR;
			return BA_CONTINUE;
		}
		return BA_INVALID;
	case BE_AUTH_ERROR:
		/* The challenge's literal bytes, then the NO: refused whatever it says. */
		if (is_response(line, len, "NO") || is_response(line, len, "OK"))
			return BA_REFUSED;
		return BA_CONTINUE;
	}
	return BA_INVALID;
}
