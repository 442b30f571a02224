/*
 * The auth cache; see authcache.h. The table is a shmhash; this file makes
 * the keys (OpenSSL HMAC) and packs an answer into the fixed value room:
 *   ok(1) wait(4, big endian, +1) salen(1) sa(salen) flags(1: have_user,
 *   have_pass, be_auth << 2) then user, pass, text,
 *   code, each as a length byte and the bytes.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <string.h>

#include "common/authcache.h"

size_t
authcache_capacity(size_t size)
{
	return shmhash_capacity(size, AUTHCACHE_KEY_LEN, AUTHCACHE_VALUE_MAX);
}

int
authcache_init(void *mem, size_t size)
{
	if (shmhash_init(mem, size, AUTHCACHE_KIND, AUTHCACHE_KEY_LEN, AUTHCACHE_VALUE_MAX) < 0)
		return -1;
	shmhash_flush(mem);
	return 0;
}

static int
mac_field(EVP_MAC_CTX *c, const void *p, size_t len)
{
	uint8_t l[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };

	return EVP_MAC_update(c, l, 4) && EVP_MAC_update(c, p, len);
}

int
authcache_key(const void *mem, uint8_t key[AUTHCACHE_KEY_LEN], int protocol,
    const char *scope, const char *login, const char *pass)
{
	/* Fetched once per process: the lookup walks OpenSSL's provider tables. */
	static EVP_MAC *mac;
	uint8_t proto = (uint8_t)protocol;
	size_t n = 0;
	int ok;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};

	if (mac == NULL && (mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return -1;
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);
	if (c == NULL)
		return -1;
	ok = EVP_MAC_init(c, shmhash_secret(mem), SHMHASH_SECRET_LEN, params) &&
	    mac_field(c, &proto, 1) && mac_field(c, scope, strlen(scope)) &&
	    mac_field(c, login, strlen(login)) && mac_field(c, pass, strlen(pass)) &&
	    EVP_MAC_final(c, key, &n, AUTHCACHE_KEY_LEN) && n == AUTHCACHE_KEY_LEN;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -1;
}

/* A string as a length byte and its bytes; -1 when it does not fit. */
static int
put_str(uint8_t *v, size_t *o, const char *s)
{
	size_t l = strlen(s);

	if (l > 255 || *o + 1 + l > AUTHCACHE_VALUE_MAX)
		return -1;
	v[(*o)++] = (uint8_t)l;
	memcpy(v + *o, s, l);
	*o += l;
	return 0;
}

static int
get_str(const uint8_t *v, size_t len, size_t *o, char *out, size_t cap)
{
	if (*o >= len || (size_t)v[*o] + 1 > cap || *o + 1 + v[*o] > len)
		return -1;
	size_t l = v[(*o)++];
	memcpy(out, v + *o, l);
	out[l] = '\0';
	*o += l;
	return 0;
}

int
authcache_put(void *mem, const uint8_t key[AUTHCACHE_KEY_LEN], const struct authcache_answer *a,
    uint64_t expires_ms, uint64_t now_ms, uint64_t epoch)
{
	uint8_t v[AUTHCACHE_VALUE_MAX];
	size_t o = 0;
	uint32_t w = a->wait < 0 ? 0 : a->wait >= UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)a->wait + 1;
	int rc = -1;

	if (a->server_len > sizeof(a->server) || a->server_len > 128)
		return -1;
	v[o++] = a->ok ? 1 : 0;
	for (int i = 3; i >= 0; i--)
		v[o++] = (uint8_t)(w >> (8 * i));
	v[o++] = (uint8_t)a->server_len;
	memcpy(v + o, &a->server, a->server_len);
	o += a->server_len;
	v[o++] = (uint8_t)(a->have_user | a->have_pass << 1 | (a->be_auth & 7) << 2);
	if (put_str(v, &o, a->user) == 0 && put_str(v, &o, a->pass) == 0 &&
	    put_str(v, &o, a->text) == 0 && put_str(v, &o, a->code) == 0)
		rc = shmhash_put_epoch(mem, key, v, o, expires_ms, now_ms, epoch);
	OPENSSL_cleanse(v, sizeof(v));
	return rc;
}

int
authcache_get(void *mem, const uint8_t key[AUTHCACHE_KEY_LEN], struct authcache_answer *a,
    uint64_t now_ms)
{
	uint8_t v[AUTHCACHE_VALUE_MAX];
	long n = shmhash_get(mem, key, v, now_ms);
	size_t o = 0, len;
	uint32_t w = 0;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (n < 7)
		goto out;
	len = (size_t)n;
	a->ok = v[o++] == 1;
	for (int i = 0; i < 4; i++)
		w = w << 8 | v[o++];
	a->wait = (long)w - 1;
	a->server_len = v[o++];
	if (a->server_len > sizeof(a->server) || o + a->server_len + 1 > len)
		goto out;
	memcpy(&a->server, v + o, a->server_len);
	o += a->server_len;
	a->have_user = v[o] & 1;
	a->be_auth = v[o] >> 2 & 7;
	a->have_pass = (v[o++] >> 1) & 1;
	if (get_str(v, len, &o, a->user, sizeof(a->user)) == 0 &&
	    get_str(v, len, &o, a->pass, sizeof(a->pass)) == 0 &&
	    get_str(v, len, &o, a->text, sizeof(a->text)) == 0 &&
	    get_str(v, len, &o, a->code, sizeof(a->code)) == 0)
		rc = 1;
out:
	OPENSSL_cleanse(v, sizeof(v));
	if (rc == 0)
		OPENSSL_cleanse(a, sizeof(*a));
	return rc;
}

uint64_t
authcache_epoch(const void *mem)
{
	return shmhash_epoch(mem);
}

void
authcache_flush(void *mem)
{
	shmhash_flush(mem);
}

int
authcache_peek_stats(const void *mem, size_t size, struct shmhash_stats *st)
{
	return shmhash_peek_stats(mem, size, AUTHCACHE_KIND, st);
}
