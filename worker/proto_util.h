/* Small helpers the protocol machines share (pure, no I/O). */
#ifndef MP_PROTO_UTIL_H
#define MP_PROTO_UTIL_H

#include "worker/proto.h"

/* Queues prefix + base64(salt) + CRLF, making the salt first if needed. */
int proto_cram_challenge(struct proto_ctx *ctx, const char *prefix);
/* Appends s as an IMAP quoted string. -1 if s cannot be quoted (CR, LF, NUL). */
int proto_imap_quote(struct buf *b, const char *s);
/* Takes the tag of the command at data (or clears it when none was parsed). */
void proto_imap_set_tag(struct proto_ctx *ctx, const char *data);
static inline size_t imap_max(const struct proto_ctx *ctx) { return ctx->bufsize; }
/* "1.2.3.4" and the port of a socket address, for ID and XCLIENT. */
void proto_addr(const struct sockaddr *sa, char *ip, size_t iplen, int *port);

enum backend_action imap_backend_line(struct proto_ctx *ctx, const char *line, size_t len);
enum backend_action pop3_backend_line(struct proto_ctx *ctx, const char *line, size_t len);
enum backend_action smtp_backend_line(struct proto_ctx *ctx, const char *line, size_t len);

/* Client bytes before the SMTP greeting: queues nginx's 503 refusal; returns PA_CLOSE. */
enum proto_action smtp_early_input(struct proto_ctx *ctx);
/* Appends s as RFC 1891 xtext ("+XX" for bytes < 33, > 126, '+' and '='). */
int smtp_xtext(struct buf *b, const char *s);

#endif
