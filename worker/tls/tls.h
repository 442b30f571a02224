/*
 * TLS glue: the per-server SSL_CTX (built in the master for every cycle, so a
 * bad certificate fails the reload instead of the workers), the non-blocking
 * handshake for implicit TLS and STARTTLS, and the Auth-SSL-* facts for the
 * auth service.
 */
#ifndef MP_TLS_H
#define MP_TLS_H

#include <stddef.h>

struct cycle;
struct config;
struct session;
struct auth_params;

/* Master: contexts for every server of cy that uses TLS. 0, or -1 with err. */
int tls_cycle_build(struct cycle *cy, char *err, size_t errlen);
void tls_cycle_free(struct cycle *cy);
/* -t: builds and frees the contexts, to report bad keys and certificates. */
int tls_validate(const struct config *cf, char *err, size_t errlen);

void tls_shutdown(void);
/* Starts the server-side handshake; greet: send the greeting once done. */
void tls_start(struct session *s, int greet);
void tls_handshake_run(struct session *s);
void tls_auth_params(struct session *s, struct auth_params *p);
/* TLS towards the backend (proxy_ssl, proxy_starttls). */
void tls_backend_start(struct session *s);
void tls_backend_handshake_run(struct session *s);
void tls_backend_forget(void);

#endif
