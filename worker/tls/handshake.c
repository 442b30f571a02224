/*
 * The non-blocking handshake step both sides share. Its caller (the session)
 * decides what a finished or failed handshake means; this only turns
 * OpenSSL's WANT_READ/WANT_WRITE into the readiness the connection waits for.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "worker/event/conn.h"
#include "worker/tls/tls.h"
#include "worker/tls/utls.h"

enum tls_hs
tls_handshake_step(struct conn *c, int *ssl_error)
{
	int rc, code;

	if (c->hs_wait != CONN_WAIT_NONE)
		return TLS_HS_AGAIN;
	utls_handshake_step(c);
	ERR_clear_error();
	rc = SSL_do_handshake(c->ssl);
	if (rc == 1)
		return TLS_HS_DONE;
	code = SSL_get_error(c->ssl, rc);
	if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
		c->hs_wait = code == SSL_ERROR_WANT_READ ? CONN_WAIT_READ : CONN_WAIT_WRITE;
		return TLS_HS_AGAIN;
	}
	*ssl_error = code;
	return TLS_HS_FAILED;
}
