/*
 * TLS 1.3 record protection written from RFC 8446 for fuzz_utls (HKDF
 * through OpenSSL's HKDF, AEAD through EVP: none of worker/tls/utls.c's code),
 * so the harness seals what utls must open the way a real client would,
 * with padding, KeyUpdates and any outer header it likes.
 */
#ifndef MP_FUZZB_TLS13_H
#define MP_FUZZB_TLS13_H

#include <stddef.h>
#include <stdint.h>

/* One direction's keys. */
struct fuzzb_tls13 {
	uint16_t suite;
	size_t keylen, hashlen;
	uint8_t secret[48], key[32], iv[12];
	uint64_t seq;
};

/* 0x1301..0x1303 from a traffic secret of the suite's hash length. */
void fuzzb_tls13_init(struct fuzzb_tls13 *t, uint16_t suite, const uint8_t *secret);
/* RFC 8446 7.2: the next traffic secret, keys derived again, sequence 0. */
void fuzzb_tls13_update(struct fuzzb_tls13 *t);
/*
 * Seals data, then the inner type, then pad zero bytes into out (room for
 * 5 + len + 1 + pad + 16) under outer header bytes hdr[0..2] (NULL: 23 3 3);
 * returns the record's size.
 */
size_t fuzzb_tls13_seal(struct fuzzb_tls13 *t, const uint8_t *hdr, uint8_t type,
    const uint8_t *data, size_t len, size_t pad, uint8_t *out);

#endif
