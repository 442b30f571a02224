/*
 * TLS 1.3 records for relayed client sessions without OpenSSL's SSL object.
 *
 * An idle TLS session costs what OpenSSL keeps per connection, about 14 KB,
 * where a plaintext one costs 0.6 KB. Once a client session is relayed, TLS
 * 1.3 needs no more than its two traffic keys: records are AEAD-sealed with
 * a nonce made of a static IV and a sequence number (RFC 8446 5.2-5.3). So
 * during the handshake the keys are captured (the key log callback gives the
 * traffic secrets, the message callback counts the records each side sent
 * with them), and when the relay starts the SSL object is freed and records
 * are sealed and opened here, a few hundred bytes per session. Kernel TLS
 * would do the same where the kernel has it; this needs nothing of it.
 *
 * Only TLS 1.3 with AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305, and only
 * when OpenSSL holds nothing unsent or unread; otherwise the session keeps
 * its SSL object, as before. After the switch: application data, alerts
 * (close_notify ends the stream, anything else is an error) and KeyUpdate
 * (both directions, RFC 8446 4.6.3); any other handshake message closes, and
 * so does a 33rd record in a row without application data (KeyUpdate, empty
 * data), counted across reads as OpenSSL counts them.
 * MAILPROXY_UTLS=0 in the environment keeps OpenSSL throughout.
 */
#ifndef MP_UTLS_H
#define MP_UTLS_H

#include <openssl/ssl.h>

#include "worker/event/conn.h"

/* Once per worker (the ex_data index); -1 on failure. */
int utls_init(void);
void utls_shutdown(void);
/* Starts capturing for a new server-side c->ssl. */
void utls_attach(struct conn *c);
/*
 * The client hello callback of every server SSL_CTX: a client that does not
 * offer TLS 1.3 (or a server that does not allow it) drops the capture.
 */
int utls_client_hello_cb(SSL *ssl, int *alert, void *arg);
/*
 * Call before every SSL_do_handshake() of c (and after an SNI switch): the
 * key log callback is set on c's context for that call only if c captures.
 * OpenSSL formats every key log line with sprintf, byte by byte, before it
 * calls back: about 5 us a handshake that a TLS 1.2 client should not pay.
 * The worker runs one handshake step at a time, so a per-call setting on
 * the shared context is exact.
 */
void utls_handshake_step(struct conn *c);
/*
 * Frees c->ssl and takes its records over when possible: 1 if done, 0 if
 * not now (OpenSSL holds bytes; try again later), -1 if never (not TLS 1.3,
 * no keys, a KeyUpdate came before; the capture is dropped).
 */
int utls_take_over(struct conn *c);
/*
 * The same from given traffic secrets (the client's, then the server's, len
 * bytes each) for a c without SSL, both sequence numbers at 0; -1 for an
 * unknown suite (0x1301..0x1303). Tests drive the record layer with it.
 */
int utls_install(struct conn *c, uint16_t suite_id, const uint8_t *client_secret,
    const uint8_t *server_secret, size_t len);

/* The conn.c entry points for a conn with c->utls active. */
ssize_t utls_recv(struct conn *c, void *buf, size_t len);
ssize_t utls_send(struct conn *c, const void *buf, size_t len);
/* Sends ciphertext kept back earlier: 0 when none is left, CONN_AGAIN, CONN_ERROR. */
int utls_flush(struct conn *c);
int utls_pending(const struct conn *c);
/* Received bytes not yet handed out (a partial record, or plaintext kept back). */
int utls_has_unread(const struct conn *c);
/* Queues close_notify and sends what it can (no waiting). */
void utls_close_notify(struct conn *c);
void utls_free(struct conn *c);

#endif
