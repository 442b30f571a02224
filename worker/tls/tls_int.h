/* Private to worker/tls*.c: per-server TLS facts the callbacks need. */
#ifndef MP_TLS_INT_H
#define MP_TLS_INT_H

#include <openssl/ssl.h>

#include "common/sslcache.h"
#include "config/config.h"

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
	const char *alpn;		/* "imap", "pop3" or "smtp" */
	SSL_CTX *client;		/* TLS to the backend (proxy_ssl, proxy_starttls) */
};

/* OpenSSL's last error as text (and clears the queue). */
char *tls_error_string(char *buf, size_t len);

/* The SNI callback (tls.c): picks the server whose server_name matches. */
int tls_servername_cb(SSL *ssl, int *alert, void *arg);

/* The backend contexts' new-session callback (tls.c): proxy_ssl_session_reuse. */
int tls_client_new_session(SSL *ssl, SSL_SESSION *sess);

/* ex_data index of struct tls_srv on each SSL_CTX. */
extern int tls_srv_index;

static inline struct tls_srv *
tls_srv_of(const SSL *ssl)
{
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_srv_index);
}

#endif
