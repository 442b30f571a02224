/* Helpers shared by the protocol machines; see proto_util.h. */
#include <stdlib.h>
#include <string.h>

#include "common/net.h"
#include "worker/proto_util.h"
#include "worker/sasl.h"

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
