/*
 * IMAP backend login, pure: wait for "* OK", optionally forward ID with the
 * client's address (imap_id_forward, as Dovecot's trusted proxies expect),
 * then LOGIN with literals under the client's tag as nginx sends it. When the
 * backend announces LITERAL+ everything goes in one write instead of three
 * round trips.
 *
 * An OAuth login the auth service answered without Auth-Pass (be_mech)
 * logs in with AUTHENTICATE and the client's mechanism instead, the token
 * in the initial response when the backend announced SASL-IR (RFC 4959),
 * else after its "+". A "+ <error>" challenge to the token (RFC 7628 3.2.2)
 * gets the dummy response; the tagged NO that follows is the refusal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "worker/proto/proto_util.h"
#include "worker/proto/sasl_oauth.h"

enum { BE_GREETING, BE_ID, BE_USER, BE_PASS, BE_RESULT, BE_STARTTLS, BE_SASL, BE_SASL_SENT };

#define ID_TAG "mpid "
#define STARTTLS_TAG "mpst "

static const char *
client_tag(const struct proto_ctx *ctx)
{
	return ctx->u.imap.tag[0] ? ctx->u.imap.tag : "a ";
}

static void
send_id(struct proto_ctx *ctx)
{
	char cip[NET_ADDRSTRLEN], lip[NET_ADDRSTRLEN];
	int cport, lport;

	proto_addr(ctx->client_addr, cip, sizeof(cip), &cport);
	proto_addr(ctx->local_addr, lip, sizeof(lip), &lport);
	buf_printf(ctx->bout, ID_TAG "ID (%s\"x-originating-ip\" \"%s\" \"x-originating-port\" \"%d\" "
	    "\"x-connected-ip\" \"%s\" \"x-connected-port\" \"%d\")\r\n",
	    ctx->u.imap.id ? ctx->u.imap.id : "", cip, cport, lip, lport);
}

/* AUTHENTICATE with the token; the message goes in now (SASL-IR) or after "+". */
static void
send_authenticate(struct proto_ctx *ctx, int sasl_ir)
{
	const char *mech = ctx->be_mech == AUTHM_XOAUTH2 ? "XOAUTH2" : "OAUTHBEARER";
	char *msg = sasl_ir ? sasl_oauth_build(ctx->be_mech, ctx->be_login, ctx->be_passwd) : NULL;

	if (msg != NULL) {
		buf_printf(ctx->bout, "%sAUTHENTICATE %s %s\r\n", client_tag(ctx), mech, msg);
		free(msg);
		ctx->be_state = BE_SASL_SENT;
	} else {
		buf_printf(ctx->bout, "%sAUTHENTICATE %s\r\n", client_tag(ctx), mech);
		ctx->be_state = BE_SASL;
	}
}

static void
send_login(struct proto_ctx *ctx, int literal_plus)
{
	size_t ul = strlen(ctx->be_login), pl = strlen(ctx->be_passwd);

	ctx->be_lines = 0;
	if (ctx->be_mech & AUTHM_OAUTH) {
		send_authenticate(ctx, ctx->u.imap.sasl_ir);
		return;
	}
	if (literal_plus) {
		buf_printf(ctx->bout, "%sLOGIN {%zu+}\r\n%s {%zu+}\r\n%s\r\n", client_tag(ctx), ul,
		    ctx->be_login, pl, ctx->be_passwd);
		ctx->be_state = BE_RESULT;
	} else {
		buf_printf(ctx->bout, "%sLOGIN {%zu}\r\n", client_tag(ctx), ul);
		ctx->be_state = BE_USER;
	}
}

/* cap as a word of the greeting's [CAPABILITY ...], not anywhere in its text. */
static int
has_cap(const char *line, size_t len, const char *cap)
{
	size_t capl = strlen(cap);
	static const char code[] = "[CAPABILITY ";
	const size_t cl = sizeof(code) - 1;
	const char *end = line + len, *p = line, *close;

	while (p + cl <= end && strncasecmp(p, code, cl) != 0)
		p++;
	if (p + cl > end || (close = memchr(p, ']', (size_t)(end - p))) == NULL)
		return 0;
	for (p += cl; p < close; p++) {
		const char *w = p;
		while (p < close && *p != ' ')
			p++;
		if ((size_t)(p - w) == capl && strncasecmp(w, cap, capl) == 0)
			return 1;
	}
	return 0;
}

/* After the greeting (and STARTTLS, if any): ID, then LOGIN. */
static enum backend_action
after_greeting(struct proto_ctx *ctx)
{
	if (ctx->conf->imap_id_forward) {
		send_id(ctx);
		if (ctx->u.imap.literal_plus && !(ctx->be_mech & AUTHM_OAUTH))
			send_login(ctx, 1);
		ctx->be_state = BE_ID;
		return BA_CONTINUE;
	}
	send_login(ctx, ctx->u.imap.literal_plus);
	return BA_CONTINUE;
}

enum backend_action
imap_backend_line(struct proto_ctx *ctx, const char *line, size_t len)
{
	const char *tag = client_tag(ctx);
	size_t tl = strlen(tag);

	if (line == NULL) {	/* TLS with the backend is up */
		if (ctx->be_state != BE_STARTTLS)
			return BA_INVALID;
		/* What was announced before TLS no longer holds (RFC 3501 6.2.1). */
		ctx->u.imap.literal_plus = 0;
		ctx->u.imap.sasl_ir = 0;
		return after_greeting(ctx);
	}
	switch (ctx->be_state) {
	case BE_GREETING:
		if (len < 4 || memcmp(line, "* OK", 4) != 0)
			return BA_INVALID;
		/* LITERAL+ lets the login go without waiting for "+" twice. */
		ctx->u.imap.literal_plus = (uint8_t)has_cap(line, len, "LITERAL+");
		ctx->u.imap.sasl_ir = (uint8_t)has_cap(line, len, "SASL-IR");
		if (ctx->conf->proxy_starttls && !ctx->be_tls) {
			buf_puts(ctx->bout, STARTTLS_TAG "STARTTLS\r\n");
			ctx->be_state = BE_STARTTLS;
			return BA_CONTINUE;
		}
		return after_greeting(ctx);
	case BE_STARTTLS:
		if (len >= 2 && line[0] == '*' && line[1] == ' ')
			return BA_CONTINUE;
		if (len < sizeof(STARTTLS_TAG) - 1 ||
		    memcmp(line, STARTTLS_TAG, sizeof(STARTTLS_TAG) - 1) != 0)
			return BA_INVALID;
		if (len >= sizeof(STARTTLS_TAG) + 1 && memcmp(line + sizeof(STARTTLS_TAG) - 1, "OK", 2) == 0)
			return BA_STARTTLS;
		return BA_REFUSED;
	case BE_ID:
		if (len >= 2 && line[0] == '*' && line[1] == ' ')
			return BA_CONTINUE;	/* "* ID (...)" */
		if (len < sizeof(ID_TAG) - 1 || memcmp(line, ID_TAG, sizeof(ID_TAG) - 1) != 0)
			return BA_INVALID;
		/* Whatever the backend thought of ID, the login goes on. */
		if (ctx->u.imap.literal_plus && !(ctx->be_mech & AUTHM_OAUTH))
			ctx->be_state = BE_RESULT;
		else
			send_login(ctx, 0);
		return BA_CONTINUE;
	case BE_USER:
	case BE_PASS:
		if (len >= 1 && line[0] == '+') {
			if (ctx->be_state == BE_USER) {
				buf_printf(ctx->bout, "%s {%zu}\r\n", ctx->be_login, strlen(ctx->be_passwd));
				ctx->be_state = BE_PASS;
			} else {
				buf_printf(ctx->bout, "%s\r\n", ctx->be_passwd);
				ctx->be_state = BE_RESULT;
			}
			return BA_CONTINUE;
		}
		if (len >= tl && memcmp(line, tag, tl) == 0)
			return BA_REFUSED;
		return BA_INVALID;
	case BE_SASL:
	case BE_SASL_SENT:
		if (len >= 1 && line[0] == '+') {
			if (ctx->be_state == BE_SASL_SENT) {
				/* A challenge after the token is the error (RFC 7628 3.2.2). */
				buf_puts(ctx->bout, ctx->be_mech == AUTHM_XOAUTH2 ? "\r\n" : "AQ==\r\n");
				ctx->be_state = BE_RESULT;
				ctx->be_lines = 1;	/* whatever the tagged answer, refused */
				return BA_CONTINUE;
			}
			char *msg = sasl_oauth_build(ctx->be_mech, ctx->be_login, ctx->be_passwd);
			if (msg == NULL) {
				ctx->reason = "out of memory";
				return BA_ERROR;
			}
			buf_printf(ctx->bout, "%s\r\n", msg);
			free(msg);
			ctx->be_state = BE_SASL_SENT;
			return BA_CONTINUE;
		}
		ctx->be_lines = 0;
		/* FALLTHROUGH */
	case BE_RESULT:
		if (len >= 2 && line[0] == '*' && line[1] == ' ') {
			/* Untagged data before the result (CAPABILITY): pass it on. */
			buf_printf(ctx->out, "%.*s\r\n", (int)len, line);
			return BA_CONTINUE;
		}
		if (len >= tl + 2 && memcmp(line, tag, tl) == 0) {
			if (line[tl] == 'O' && line[tl + 1] == 'K' && ctx->be_lines == 0) {
				buf_printf(ctx->out, "%.*s\r\n", (int)len, line);
				return BA_DONE;
			}
			return BA_REFUSED;
		}
		return BA_INVALID;
	}
	return BA_INVALID;
}
