/*
 * Session ticket keys and OpenSSL's ticket callback; see tickets.h. The
 * callback runs on every handshake that makes or presents a ticket: with
 * a Redis store it costs one atomic load (has the ring changed?) and a
 * time() beside the cipher work, the ring's lock only when its keys change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/shm.h"
#include "common/ticketring.h"
#include "worker/tls/tickets.h"

/* The keys this handshake uses, keys[0] encrypting; n 0: none (no ticket, or none accepted). */
static struct ticket_key *
keys_of(struct tls_srv *ts, size_t *n)
{
	uint64_t now;

	if (ts->nfile_keys > 0) {
		*n = ts->nfile_keys;
		return ts->file_keys;
	}
	now = (uint64_t)time(NULL);
	if (ts->ring != NULL) {
		uint64_t period = ts->conf->ssl_session_ticket_key_store.period / 1000;
		if (now >= ts->ring_until || ticketring_version(ts->ring) != ts->ring_version) {
			ts->nring_keys = (size_t)ticketring_keys(ts->ring, now, period, ts->ring_keys,
			    &ts->ring_version);
			/* Without a key (no randomness), ask again in a second. */
			ts->ring_until = ts->nring_keys > 0 ? ts->ring_keys[0].expires : now + 1;
		}
		*n = ts->nring_keys;
		return ts->ring_keys;
	}
	if (now >= ts->zone_keys_until) {
		ts->nzone_keys = (size_t)sslcache_ticket_keys(ts->cache, now,
		    ts->conf->ssl_session_timeout / 1000, ts->zone_keys);
		ts->zone_keys_until = ts->nzone_keys > 0 ? ts->zone_keys[0].expires : now + 1;
	}
	*n = ts->nzone_keys;
	return ts->zone_keys;
}

static int
ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *ectx,
    EVP_MAC_CTX *hctx, int enc)
{
	struct tls_srv *ts = tls_srv_of(ssl);
	struct ticket_key *keys;
	size_t n;
	OSSL_PARAM params[3];

	if (ts == NULL || (ts->nfile_keys == 0 && ts->cache == NULL))
		return -1;
	keys = keys_of(ts, &n);
	size_t k = 0;
	if (!enc) {
		for (k = 0; k < n; k++)
			if (memcmp(keys[k].name, name, 16) == 0)
				break;
		if (k == n)
			return 0;	/* unknown key: full handshake */
	} else {
		if (n == 0)
			return 0;	/* no key to issue a ticket with */
		memcpy(name, keys[0].name, 16);
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
			return -1;
	}
	const struct ticket_key *key = &keys[k];
	size_t klen = key->size == 48 ? 16 : 32;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key->hmac, klen);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	/* Fetched once: EVP_aes_*_cbc() would look the cipher up by name every time. */
	static EVP_CIPHER *aes128, *aes256;
	if (aes128 == NULL)
		aes128 = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
	if (aes256 == NULL)
		aes256 = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	const EVP_CIPHER *cipher = key->size == 48 ? aes128 : aes256;
	if (cipher == NULL)
		return -1;
	if (enc) {
		if (EVP_EncryptInit_ex(ectx, cipher, NULL, key->aes, iv) != 1)
			return -1;
		return 1;
	}
	if (EVP_DecryptInit_ex(ectx, cipher, NULL, key->aes, iv) != 1)
		return -1;
	/*
	 * 2 renews the ticket. TLS 1.3 sends a new ticket on a resumed
	 * connection only when asked to (as nginx does), and a ticket under an
	 * older (or, from a node whose clock runs ahead, the next) key is
	 * renewed under the current one.
	 */
	return k == 0 && SSL_version(ssl) < TLS1_3_VERSION ? 1 : 2;
}

/* nginx's layout: 48 bytes = name, AES-128 key, HMAC key; 80 = name, HMAC key, AES-256 key. */
int
tickets_load_files(const struct config *cf, const struct srv_conf *srv, struct tls_srv *ts,
    char *err, size_t errlen)
{
	char path[4096];

	ts->file_keys = calloc(srv->ssl_session_ticket_key.n, sizeof(*ts->file_keys));
	if (ts->file_keys == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < srv->ssl_session_ticket_key.n; i++) {
		unsigned char buf[81];
		struct ticket_key *k = &ts->file_keys[i];
		FILE *f = fopen(config_path(cf, srv->ssl_session_ticket_key.v[i], path, sizeof(path)), "rb");
		size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
		if (f)
			fclose(f);
		if (n != 48 && n != 80) {
			snprintf(err, errlen, "ssl_session_ticket_key \"%.512s\" must be 48 or 80 bytes", path);
			return -1;
		}
		if (n == 48) {
			memcpy(k->name, buf, 16);
			memcpy(k->aes, buf + 16, 16);
			memcpy(k->hmac, buf + 32, 16);
			k->size = 48;
		} else {
			ticketring_key_from_bytes(k, buf);
		}
		OPENSSL_cleanse(buf, sizeof(buf));
		ts->nfile_keys++;
	}
	return 0;
}

int
tickets_attach_ring(struct tls_srv *ts, char *err, size_t errlen)
{
	char name[128];
	struct shm_zone *z;

	ticketring_zone_name(name, sizeof(name), ts->conf->ssl_session_cache.shared_name);
	z = shm_zone_get(name, TICKETRING_ZONE_SIZE, err, errlen);
	if (z == NULL)
		return -1;
	if (ticketring_init(z->data, z->size) < 0) {
		snprintf(err, errlen, "zone \"%s\" is too small for the ticket keys", name);
		return -1;
	}
	ts->ring = z->data;
	return 0;
}

void
tickets_setup(SSL_CTX *ctx, struct tls_srv *ts)
{
	if (!ts->conf->ssl_session_tickets) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	} else if (ts->nfile_keys > 0 || ts->cache != NULL) {
		/* Keys from files, from Redis or shared in the zone; otherwise
		 * OpenSSL's own, made here in the master and so the same in every
		 * worker. */
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	}
	/* One ticket per handshake: OpenSSL sends two by default, clients use one. */
	SSL_CTX_set_num_tickets(ctx, 1);
}
