/*
 * TLS contexts: per server, the SSL_CTX clients handshake with and the one
 * towards its backends (proxy_ssl, proxy_starttls). The master builds them
 * for every cycle, so a bad certificate fails the reload instead of the
 * workers; the workers use them. With them go the callbacks that need no
 * session: session cache and tickets, ALPN, client certificate checks. What
 * needs a session (SNI picks a server, backend sessions kept for reuse) the
 * session layer registers with tls_set_hooks().
 */
#ifndef MP_TLS_H
#define MP_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "common/sslcache.h"
#include "common/ticketring.h"
#include "config/config.h"

struct conn;
struct cycle;

/* Per-server TLS facts the callbacks need (cycle->tls_srv[server]). */
struct tls_srv {
	const struct srv_conf *conf;
	void *cache;			/* the shared zone's sslcache, or NULL */
	struct ticket_key *file_keys;	/* ssl_session_ticket_key files, first encrypts */
	size_t nfile_keys;
	/* This worker's copy of the zone's ticket keys: they only change when
	 * keys[0] expires, so the shared lock is taken once per rotation. */
	struct ticket_key zone_keys[3];
	size_t nzone_keys;
	uint64_t zone_keys_until;
	/* ssl_session_ticket_key_store: the ring zone and this worker's copy of
	 * its keys, taken again when the period ends or the ring changes. */
	void *ring;
	struct ticket_key ring_keys[TICKETRING_MAX_KEYS];
	size_t nring_keys;
	uint64_t ring_version, ring_until;
	const char *alpn;		/* "imap", "pop3" or "smtp" */
	SSL_CTX *client;		/* TLS to the backend (proxy_ssl, proxy_starttls) */
	SSL_CTX *auth;			/* TLS to an https:// auth_http (auth_http_ssl_*) */
};

/* Master: contexts for every server of cy that uses TLS. 0, or -1 with err. */
int tls_cycle_build(struct cycle *cy, char *err, size_t errlen);
void tls_cycle_free(struct cycle *cy);
/* The auth_http TLS context of conf's server in a cycle this process built; NULL if none. */
SSL_CTX *tls_auth_ctx(const struct srv_conf *conf);
/* -t: builds and frees the contexts, to report bad keys and certificates. */
int tls_validate(const struct config *cf, char *err, size_t errlen);

/* The session layer's answers to the callbacks every context carries. */
struct tls_hooks {
	/* SNI (SSL_CTX_set_tlsext_servername_callback): may switch the server. */
	int (*servername)(SSL *ssl, int *alert);
	/* A backend gave a session (SSL_CTX_sess_set_new_cb): 1 when kept. */
	int (*client_new_session)(SSL *ssl, SSL_SESSION *sess);
};
/* Per worker, before the first handshake; NULL: the callbacks do nothing. */
void tls_set_hooks(const struct tls_hooks *hooks);

enum tls_hs {
	TLS_HS_DONE,	/* the handshake is over */
	TLS_HS_AGAIN,	/* c->hs_wait says which readiness it waits for */
	TLS_HS_FAILED,	/* *ssl_error: what SSL_get_error() said (errno is kept) */
};
/* One non-blocking step of c's handshake, server or client side. */
enum tls_hs tls_handshake_step(struct conn *c, int *ssl_error);

/* OpenSSL's last error as text (and clears the queue). */
char *tls_error_string(char *buf, size_t len);

/* ex_data index of struct tls_srv on each SSL_CTX. */
extern int tls_srv_index;

static inline struct tls_srv *
tls_srv_of(const SSL *ssl)
{
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_srv_index);
}

#endif
