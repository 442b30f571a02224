/*
 * TLS for the auth_http client's https:// connections (auth_http_ssl_*):
 * the name checked and sent as SNI, the handshake, and the last session of
 * each service kept for the next connection to it. The contexts are built
 * with the others, in worker/tls/ (tls_auth_ctx()).
 */
#ifndef MP_AUTH_HTTP_TLS_H
#define MP_AUTH_HTTP_TLS_H

#include <openssl/ssl.h>

#include "config/config.h"

struct conn;

/* c's SSL, client side, for service u (slot: its authsrv slot, for the session). 0, or -1. */
int auth_tls_begin(struct conn *c, SSL_CTX *ctx, const struct srv_conf *conf,
    const struct auth_http_url *u, int slot);
/* One handshake step: 1 done, 0 waiting, -1 failed (*reason says why, for the log). */
int auth_tls_step(struct conn *c, const char **reason);
/* Keeps c's session for the next connection to the service of slot. */
void auth_tls_keep_session(struct conn *c, int slot);
/* Frees the kept sessions (worker exit). */
void auth_tls_shutdown(void);

#endif
