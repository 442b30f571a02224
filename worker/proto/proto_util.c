/* Helpers shared by the protocol machines; see proto_util.h. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/net.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl_exchange.h"

enum proto_action
proto_count_error(struct proto_ctx *ctx, const char *reason)
{
	ctx->state = 0;
	ctx->errors++;
	ctx->reason = reason;
	if (ctx->errors >= ctx->conf->max_errors) {
		ctx->reason = "client sent too many invalid commands";
		return PA_CLOSE;
	}
	return PA_OK;
}

enum proto_action
proto_invalid(struct proto_ctx *ctx, const char *reply, const char *reason)
{
	buf_puts(ctx->out, reply);
	return proto_count_error(ctx, reason);
}

enum proto_action
proto_count_command(struct proto_ctx *ctx, proto_invalid_fn invalid)
{
	/* freenginx counts first: max_commands commands are served, the next one is not. */
	if (++ctx->commands <= ctx->conf->max_commands)
		return PA_OK;
	invalid(ctx, NULL);
	ctx->reason = "client sent too many commands";
	return PA_CLOSE;
}

enum proto_action
proto_internal_error(struct proto_ctx *ctx, const char *reply)
{
	ctx->reason = "out of memory";
	buf_puts(ctx->out, reply);
	return PA_CLOSE;
}

enum proto_action
proto_sasl_outcome(struct proto_ctx *ctx, int rc, uint8_t sasl_state,
    proto_invalid_fn invalid, const char *internal_reply)
{
	switch (rc) {
	case SASL_DONE:
		ctx->state = 0;
		return PA_AUTH;
	case SASL_CHALLENGE:
		ctx->state = sasl_state;
		return PA_OK;
	case SASL_NOMEM:
		return proto_internal_error(ctx, internal_reply);
	case SASL_HOSTILE:
		ctx->guess = 1;
		return invalid(ctx, "client sent credentials with CR, LF or NUL");
	case SASL_FAILED_ACK:
		ctx->state = 0;
		return PA_AUTH_FAILED;
	case SASL_REFUSED:
		return invalid(ctx, NULL);
	default:
		ctx->guess = 1;
		return invalid(ctx, "client sent invalid SASL data");
	}
}

int
proto_sasl_error(struct proto_ctx *ctx, const char *prefix, uint8_t sasl_state)
{
	if (ctx->sasl_error == NULL)
		return 0;
	sasl_exchange_error(ctx, prefix, ctx->sasl_error_method, ctx->sasl_error);
	ctx->sasl_error = NULL;
	ctx->state = sasl_state;
	return 1;
}

long
proto_take_line(const char *data, size_t len, int full, size_t *used)
{
	const char *lf = memchr(data, '\n', len);
	size_t n;

	*used = 0;
	if (lf == NULL) {
		if (!full)
			return PROTO_LINE_AGAIN;
		*used = len;
		return PROTO_LINE_LONG;
	}
	n = (size_t)(lf - data);
	*used = n + 1;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	/* A CR not followed by LF ends nginx's parse with an error. */
	return memchr(data, '\r', n) != NULL ? PROTO_LINE_BARE_CR : (long)n;
}

enum proto_action
proto_line_refused(struct proto_ctx *ctx, long code, proto_invalid_fn invalid)
{
	if (code == PROTO_LINE_AGAIN)
		return PA_AGAIN;
	if (code == PROTO_LINE_LONG) {
		invalid(ctx, NULL);
		ctx->reason = "client sent too long command";
		return PA_CLOSE;
	}
	return invalid(ctx, NULL);
}

static int
is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

size_t
proto_verb_len(const char *line, size_t n)
{
	size_t k = 0;

	while (k < n && is_alpha(line[k]))
		k++;
	return k < n && line[k] != ' ' ? 0 : k;
}

int
proto_split_args(const char *s, size_t n, int rest, int max, struct proto_args *a)
{
	size_t i = 0;

	a->n = 0;
	for (;;) {
		while (i < n && s[i] == ' ')
			i++;
		if (i == n)
			return 0;
		if (a->n == max)
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

int
proto_word_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

const char *
proto_caps(const struct proto_ctx *ctx)
{
	if (ctx->tls || ctx->conf->starttls == STARTTLS_OFF)
		return ctx->rt->caps_plain;
	return ctx->conf->starttls == STARTTLS_ON ? ctx->rt->caps_starttls : ctx->rt->caps_starttls_only;
}

int
proto_starttls_only_blocks(const struct proto_ctx *ctx)
{
	return ctx->conf->starttls == STARTTLS_ONLY && !ctx->tls;
}

int
proto_cram_challenge(struct proto_ctx *ctx, const char *prefix)
{
	char *b64;

	if (ctx->cr.salt == NULL && (ctx->cr.salt = proto_make_salt(ctx->conf)) == NULL)
		return -1;
	b64 = b64_encode_dup(ctx->cr.salt, strlen(ctx->cr.salt));
	if (b64 == NULL)
		return -1;
	buf_printf(ctx->out, "%s%s\r\n", prefix, b64);
	free(b64);
	return 0;
}

int
proto_imap_quote(struct buf *b, const char *s)
{
	for (const char *p = s; *p; p++)
		if (*p == '\r' || *p == '\n')
			return -1;
	buf_puts(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_puts(b, "\\");
		buf_append(b, s, 1);
	}
	buf_puts(b, "\"");
	return 0;
}

void
proto_imap_set_tag(struct proto_ctx *ctx, const char *data)
{
	size_t n = ctx->u.imap.p.tag_len;

	if (n == 0 || n > TAG_MAX) {
		ctx->u.imap.tag[0] = '\0';
		return;
	}
	memcpy(ctx->u.imap.tag, data, n);
	ctx->u.imap.tag[n] = ' ';
	ctx->u.imap.tag[n + 1] = '\0';
}

void
proto_addr(const struct sockaddr *sa, char *ip, size_t iplen, int *port)
{
	net_ntop(sa, ip, iplen);
	*port = net_port(sa);
}
