/*
 * The SASL exchange of IMAP AUTHENTICATE and POP3/SMTP AUTH, shared by the
 * three machines: the mechanism, its initial response or first challenge,
 * then the client's answers until struct creds is complete. Pure: challenges
 * go into ctx->out after the protocol's prefix ("+ " or "334 "), where the
 * exchange stands is kept in ctx->sasl, and the protocol turns the result
 * into its own replies.
 */
#ifndef MP_SASL_EXCHANGE_H
#define MP_SASL_EXCHANGE_H

#include <stddef.h>

#include "worker/proto/proto.h"
#include "worker/proto/sasl.h"

/* ctx->sasl: what the next client line answers. */
enum sasl_wait {
	SASL_WAIT_NONE,
	SASL_WAIT_PLAIN,
	SASL_WAIT_LOGIN_USER,
	SASL_WAIT_LOGIN_PASS,
	SASL_WAIT_CRAM_MD5,
	SASL_WAIT_EXTERNAL,
	SASL_WAIT_OAUTHBEARER,
	SASL_WAIT_XOAUTH2,
	/* Auth-Error-SASL was sent: the client's dummy response comes. */
	SASL_WAIT_OAUTHBEARER_ACK,
	SASL_WAIT_XOAUTH2_ACK,
};

/*
 * Results, besides sasl.h's SASL_INVALID, SASL_HOSTILE and SASL_NOMEM (a
 * failed step leaves ctx->sasl at SASL_WAIT_NONE).
 */
#define SASL_DONE	SASL_OK	/* credentials complete, ctx->cr.method set */
#define SASL_CHALLENGE	1	/* a challenge is queued; ctx->sasl says for what */
#define SASL_REFUSED	(-4)	/* unknown or disabled mechanism, or a response it does not take */
#define SASL_FAILED_ACK	2	/* the dummy response to Auth-Error-SASL: now the failure */

/*
 * mech: the mechanism's name (any case); ir: the initial response, or NULL.
 * PLAIN and LOGIN are always taken (the *_auth directives only hide them, as
 * in nginx); CRAM-MD5 and EXTERNAL only when in `enabled`.
 */
int sasl_exchange_begin(struct proto_ctx *ctx, const char *prefix, unsigned enabled,
    const char *mech, size_t mlen, const char *ir, size_t irlen);
/* The client's answer to the last challenge. */
int sasl_exchange_step(struct proto_ctx *ctx, const char *prefix, const char *line, size_t n);
/*
 * The auth service refused an OAuth login with Auth-Error-SASL (b64):
 * queues it as a challenge and waits for the dummy response of method
 * (RFC 7628 3.2.3: ^A, "AQ==", for OAUTHBEARER; an empty line for XOAUTH2,
 * as freenginx takes them; "*", the cancel, for both). Then step() returns
 * SASL_FAILED_ACK, or SASL_REFUSED for any other line.
 */
void sasl_exchange_error(struct proto_ctx *ctx, const char *prefix, unsigned method,
    const char *b64);

#endif
