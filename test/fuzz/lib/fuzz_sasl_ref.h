/*
 * Reference models the SASL harnesses compare worker/proto/sasl.c against, written
 * from the RFCs rather than from the code: canonical base64 (RFC 4648 3.5:
 * no other alphabet, padding only at the end, unused bits zero), PLAIN
 * (RFC 4616), one LOGIN/EXTERNAL field, and the CRAM-MD5 response (RFC 2195).
 */
#ifndef MP_FUZZ_SASL_REF_H
#define MP_FUZZ_SASL_REF_H

#include <stddef.h>

/* Decodes into out (len / 4 * 3 bytes at most); the length, or -1 when not canonical. */
long fm_ref_b64(const char *in, size_t len, unsigned char *out);

/* What a decoder must make of an answer: an SASL_* code and the fields it yields. */
struct fm_ref_creds {
	int rc;
	char *login, *passwd;	/* heap, NUL-terminated; NULL when rc is not SASL_OK */
};

void fm_ref_plain(const char *b64, size_t len, struct fm_ref_creds *out);
void fm_ref_field(const char *b64, size_t len, int allow_empty, struct fm_ref_creds *out);
void fm_ref_cram(const char *b64, size_t len, struct fm_ref_creds *out);
void fm_ref_free(struct fm_ref_creds *c);

#endif
