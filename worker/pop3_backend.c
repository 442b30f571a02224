/*
 * POP3 backend login, pure, as nginx's proxy module does it: wait for the
 * "+OK" greeting, send USER, then PASS, each answered by "+OK". The last
 * "+OK" goes to the client, and the relay starts. "-ERR" anywhere is a
 * refusal; anything else is an invalid response. With proxy_starttls, STLS
 * comes first and the login goes on once TLS is up (line == NULL).
 */
#include <string.h>

#include "worker/proto_util.h"

enum pop3_be_state { POP3_BE_GREETING, POP3_BE_USER, POP3_BE_PASS, POP3_BE_STLS };

enum backend_action
pop3_backend_line(struct proto_ctx *ctx, const char *line, size_t len)
{
	if (line == NULL) {
		if (ctx->be_state != POP3_BE_STLS)
			return BA_CONTINUE;	/* connected: the backend speaks first */
		buf_printf(ctx->bout, "USER %s\r\n", ctx->be_login);
		ctx->be_state = POP3_BE_USER;
		return BA_CONTINUE;
	}
	if (len >= 4 && memcmp(line, "-ERR", 4) == 0)
		return BA_REFUSED;
	/* nginx checks the first three bytes only. */
	if (len < 3 || memcmp(line, "+OK", 3) != 0)
		return BA_INVALID;

	switch (ctx->be_state) {
	case POP3_BE_GREETING:
		if (ctx->conf->proxy_starttls && !ctx->be_tls) {
			buf_puts(ctx->bout, "STLS\r\n");
			ctx->be_state = POP3_BE_STLS;
			return BA_CONTINUE;
		}
		buf_printf(ctx->bout, "USER %s\r\n", ctx->be_login);
		ctx->be_state = POP3_BE_USER;
		return BA_CONTINUE;
	case POP3_BE_USER:
		buf_printf(ctx->bout, "PASS %s\r\n", ctx->be_passwd);
		ctx->be_state = POP3_BE_PASS;
		return BA_CONTINUE;
	case POP3_BE_PASS:
		buf_printf(ctx->out, "%.*s\r\n", (int)len, line);
		return BA_DONE;
	case POP3_BE_STLS:
		return BA_STARTTLS;
	}
	return BA_INVALID;
}
