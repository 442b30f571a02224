/*
 * Session tickets of a server's SSL_CTX: keys from ssl_session_ticket_key
 * files, from ssl_session_ticket_key_store's ring (common/ticketring.h), or
 * rotated in the session cache zone as nginx does; OpenSSL's own keys when
 * none of these applies (made in the master, so the same in every worker).
 */
#ifndef MP_TICKETS_H
#define MP_TICKETS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "config/config.h"
#include "worker/tls/tls.h"

/* Master: reads the key files into ts. 0, or -1 with err. */
int tickets_load_files(const struct config *cf, const struct srv_conf *srv, struct tls_srv *ts,
    char *err, size_t errlen);
/* Master: maps the ring zone beside ts's session cache zone. 0, or -1 with err. */
int tickets_attach_ring(struct tls_srv *ts, char *err, size_t errlen);
/* The ticket options and callback of ctx. */
void tickets_setup(SSL_CTX *ctx, struct tls_srv *ts);

#endif
