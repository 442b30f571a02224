/*
 * The record sealing of fuzzb_tls13.h. Failures of OpenSSL itself abort:
 * the harness cannot tell anything about utls without working keys.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "test/fuzz/lib/fuzzb_input.h"
#include "test/fuzz/lib/fuzzb_tls13.h"

static const EVP_MD *
suite_md(uint16_t suite)
{
	return suite == 0x1302 ? EVP_sha384() : EVP_sha256();
}

static void
expand_label(const struct fuzzb_tls13 *t, const char *label, uint8_t *out, size_t olen)
{
	uint8_t info[64];
	size_t n = 0, ll = strlen(label);
	EVP_PKEY_CTX *k = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);

	info[n++] = (uint8_t)(olen >> 8);
	info[n++] = (uint8_t)olen;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, ll);
	n += 6 + ll;
	info[n++] = 0;
	FUZZB_CHECK(k != NULL && EVP_PKEY_derive_init(k) == 1 &&
	    EVP_PKEY_CTX_set_hkdf_mode(k, EVP_PKEY_HKDEF_MODE_EXPAND_ONLY) == 1 &&
	    EVP_PKEY_CTX_set_hkdf_md(k, suite_md(t->suite)) == 1 &&
	    EVP_PKEY_CTX_set1_hkdf_key(k, t->secret, (int)t->hashlen) == 1 &&
	    EVP_PKEY_CTX_add1_hkdf_info(k, info, (int)n) == 1 &&
	    EVP_PKEY_derive(k, out, &olen) == 1, "HKDF-Expand-Label failed");
	EVP_PKEY_CTX_free(k);
}

static void
derive(struct fuzzb_tls13 *t)
{
	expand_label(t, "key", t->key, t->keylen);
	expand_label(t, "iv", t->iv, sizeof(t->iv));
	t->seq = 0;
}

void
fuzzb_tls13_init(struct fuzzb_tls13 *t, uint16_t suite, const uint8_t *secret)
{
	memset(t, 0, sizeof(*t));
	t->suite = suite;
	t->keylen = suite == 0x1301 ? 16 : 32;
	t->hashlen = (size_t)EVP_MD_get_size(suite_md(suite));
	memcpy(t->secret, secret, t->hashlen);
	derive(t);
}

void
fuzzb_tls13_update(struct fuzzb_tls13 *t)
{
	uint8_t next[48];

	expand_label(t, "traffic upd", next, t->hashlen);
	memcpy(t->secret, next, t->hashlen);
	derive(t);
}

size_t
fuzzb_tls13_seal(struct fuzzb_tls13 *t, const uint8_t *hdr, uint8_t type,
    const uint8_t *data, size_t len, size_t pad, uint8_t *out)
{
	const EVP_CIPHER *c = t->suite == 0x1301 ? EVP_aes_128_gcm() : t->suite == 0x1302 ?
	    EVP_aes_256_gcm() : EVP_chacha20_poly1305();
	size_t il = len + 1 + pad, clen = il + 16;
	uint8_t iv[12];
	int n, f;
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();

	out[0] = hdr ? hdr[0] : 23;
	out[1] = hdr ? hdr[1] : 3;
	out[2] = hdr ? hdr[2] : 3;
	out[3] = (uint8_t)(clen >> 8);
	out[4] = (uint8_t)clen;
	if (len > 0)
		memmove(out + 5, data, len);
	out[5 + len] = type;
	memset(out + 5 + len + 1, 0, pad);
	memcpy(iv, t->iv, 12);
	for (int i = 0; i < 8; i++)
		iv[11 - i] ^= (uint8_t)(t->seq >> (8 * i));
	FUZZB_CHECK(x != NULL && EVP_EncryptInit_ex(x, c, NULL, t->key, iv) == 1 &&
	    EVP_EncryptUpdate(x, NULL, &n, out, 5) == 1 &&
	    EVP_EncryptUpdate(x, out + 5, &n, out + 5, (int)il) == 1 &&
	    EVP_EncryptFinal_ex(x, out + 5 + n, &f) == 1 &&
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + il) == 1, "sealing failed");
	EVP_CIPHER_CTX_free(x);
	t->seq++;
	return 5 + clen;
}
