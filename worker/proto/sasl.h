/*
 * Base64 and the SASL responses a client sends before login: PLAIN, LOGIN,
 * CRAM-MD5 and EXTERNAL, decoded into struct creds. Pure functions; they
 * refuse decoded credentials containing CR, LF or NUL (nginx passes those
 * on to the auth service and the backend; mailproxy does not).
 */
#ifndef MP_SASL_H
#define MP_SASL_H

#include <stddef.h>

#include "worker/proto/proto.h"

#define SASL_OK		0
#define SASL_INVALID	(-1)	/* not base64, or not the mechanism's syntax */
#define SASL_HOSTILE	(-2)	/* decodes to CR, LF or NUL where none may be */
#define SASL_NOMEM	(-3)

/*
 * Strict RFC 4648 decode: the standard alphabet only, no blanks or line
 * breaks, len a multiple of 4, '=' only to pad the last quantum, and the
 * unused bits before the padding zero (one text per value). out must hold
 * len * 3 / 4 + 3 bytes; at most the returned count is written. Returns
 * the length or -1.
 */
long b64_decode(const char *in, size_t len, unsigned char *out);
/* Encodes into out (4 * ((len + 2) / 3) + 1 bytes, NUL-terminated); returns the length. */
size_t b64_encode(const void *in, size_t len, char *out);
/* Heap copy of the encoding, or NULL. */
char *b64_encode_dup(const void *in, size_t len);

/* creds_set() as a SASL_* code: SASL_OK, SASL_HOSTILE (CR, LF or NUL) or SASL_NOMEM. */
int sasl_set(char **dst, const char *s, size_t n);
/* s[0..n) is an MD5 digest in hex, as APOP and CRAM-MD5 answer (32 digits, any case). */
int sasl_md5_hex(const char *s, size_t n);

int sasl_plain(const char *b64, size_t len, struct creds *cr);
/* One base64 field (LOGIN's user name or password, EXTERNAL's identity). */
int sasl_field(const char *b64, size_t len, char **dst, int allow_empty);
/* "user <32 hex digits>" */
int sasl_cram_md5(const char *b64, size_t len, struct creds *cr);

#endif
