/*
 * The reference SASL decoders of fuzz_sasl_ref.h. Deliberately plain and
 * slow: a table lookup per character and one pass per rule, so that a
 * difference from worker/proto/sasl.c points at one of the two, not at both.
 */
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/lib/fuzz_sasl_ref.h"
#include "worker/proto/sasl.h"

static int
val(char c)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(abc, c) : NULL;

	return p ? (int)(p - abc) : -1;
}

long
fm_ref_b64(const char *in, size_t len, unsigned char *out)
{
	size_t o = 0, pad = 0;

	if (len % 4 != 0)
		return -1;
	if (len >= 1 && in[len - 1] == '=')
		pad++;
	if (len >= 2 && in[len - 2] == '=')
		pad++;
	if (pad == 1 && len >= 2 && in[len - 2] == '=')
		return -1;
	for (size_t i = 0; i < len - pad; i++)
		if (val(in[i]) < 0)
			return -1;
	/* The bits the padding leaves unused must be zero (RFC 4648 3.5). */
	if (pad == 2 && (val(in[len - 3]) & 0xf) != 0)
		return -1;
	if (pad == 1 && (val(in[len - 2]) & 0x3) != 0)
		return -1;
	for (size_t i = 0; i + 4 <= len; i += 4) {
		int v0 = val(in[i]), v1 = val(in[i + 1]);
		int v2 = in[i + 2] == '=' ? 0 : val(in[i + 2]), v3 = in[i + 3] == '=' ? 0 : val(in[i + 3]);
		out[o++] = (unsigned char)(v0 << 2 | v1 >> 4);
		if (in[i + 2] != '=')
			out[o++] = (unsigned char)((v1 & 0xf) << 4 | v2 >> 2);
		if (in[i + 3] != '=')
			out[o++] = (unsigned char)((v2 & 0x3) << 6 | v3);
	}
	return (long)o;
}

/* A decoded credential: SASL_HOSTILE when it holds CR, LF or NUL. */
static int
take(const unsigned char *p, size_t n, char **dst)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			return SASL_HOSTILE;
	*dst = malloc(n + 1);
	if (*dst == NULL)
		return SASL_NOMEM;
	memcpy(*dst, p, n);
	(*dst)[n] = '\0';
	return SASL_OK;
}

static unsigned char *
decode(const char *b64, size_t len, long *n)
{
	unsigned char *d = malloc(len / 4 * 3 + 1);

	*n = d ? fm_ref_b64(b64, len, d) : -1;
	if (*n < 0) {
		free(d);
		return NULL;
	}
	return d;
}

static void
finish(struct fm_ref_creds *out, int rc)
{
	out->rc = rc;
	if (rc != SASL_OK)
		fm_ref_free(out);
	out->rc = rc;
}

void
fm_ref_plain(const char *b64, size_t len, struct fm_ref_creds *out)
{
	long n;
	unsigned char *d = decode(b64, len, &n), *z1, *z2;
	int rc;

	memset(out, 0, sizeof(*out));
	if (d == NULL) {
		out->rc = SASL_INVALID;
		return;
	}
	/* authzid NUL authcid NUL passwd: the authzid is not used, the rest is the password. */
	z1 = memchr(d, '\0', (size_t)n);
	z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(d + n - z1 - 1)) : NULL;
	if (z2 == NULL) {
		free(d);
		out->rc = SASL_INVALID;
		return;
	}
	rc = take(z1 + 1, (size_t)(z2 - z1 - 1), &out->login);
	if (rc == SASL_OK)
		rc = take(z2 + 1, (size_t)(d + n - z2 - 1), &out->passwd);
	free(d);
	finish(out, rc);
}

void
fm_ref_field(const char *b64, size_t len, int allow_empty, struct fm_ref_creds *out)
{
	long n;
	unsigned char *d;

	memset(out, 0, sizeof(*out));
	/* "=" is an empty initial response (RFC 4959). */
	if (len == 1 && b64[0] == '=')
		len = 0;
	d = decode(b64, len, &n);
	if (d == NULL || (n == 0 && !allow_empty)) {
		free(d);
		out->rc = SASL_INVALID;
		return;
	}
	finish(out, take(d, (size_t)n, &out->login));
	free(d);
}

static int
is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

void
fm_ref_cram(const char *b64, size_t len, struct fm_ref_creds *out)
{
	long n;
	unsigned char *d = decode(b64, len, &n);
	long sp = -1;
	int rc = SASL_INVALID;

	memset(out, 0, sizeof(*out));
	if (d == NULL) {
		out->rc = SASL_INVALID;
		return;
	}
	/* "user SP digest": the digest is 32 hex digits after the last space, no NUL anywhere. */
	for (long i = 0; i < n; i++)
		if (d[i] == ' ')
			sp = i;
	if (memchr(d, '\0', (size_t)n) == NULL && sp > 0 && n - sp - 1 == 32) {
		rc = SASL_OK;
		for (long i = sp + 1; i < n; i++)
			if (!is_hex(d[i]))
				rc = SASL_INVALID;
	}
	if (rc == SASL_OK)
		rc = take(d, (size_t)sp, &out->login);
	if (rc == SASL_OK)
		rc = take(d + sp + 1, 32, &out->passwd);
	free(d);
	finish(out, rc);
}

void
fm_ref_free(struct fm_ref_creds *c)
{
	free(c->login);
	free(c->passwd);
	c->login = c->passwd = NULL;
}
