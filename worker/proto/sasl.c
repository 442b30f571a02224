/* Base64 and SASL decoding; see sasl.h. */
#include <stdlib.h>
#include <string.h>

#include "worker/proto/sasl.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
b64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -1;	/* data after padding */
			v[k] = b64_value(c);
			if (v[k] < 0)
				return -1;
		}
		/*
		 * RFC 4648 3.5: bits of the last character that no byte
		 * uses must be zero, so each value has exactly one text
		 * ("QR==" is not another way to write "QQ==").
		 */
		if ((pad == 2 && (v[1] & 0xf) != 0) || (pad == 1 && (v[2] & 0x3) != 0))
			return -1;
		out[o++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[o++] = (unsigned char)(((v[1] & 0xf) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[o++] = (unsigned char)(((v[2] & 0x3) << 6) | v[3]);
	}
	return (long)o;
}

size_t
b64_encode(const void *in, size_t len, char *out)
{
	const unsigned char *p = in;
	size_t o = 0, i;

	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = b64_alphabet[p[i] >> 2];
		out[o++] = b64_alphabet[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = b64_alphabet[((p[i + 1] & 0xf) << 2) | (p[i + 2] >> 6)];
		out[o++] = b64_alphabet[p[i + 2] & 0x3f];
	}
	if (len - i == 1) {
		out[o++] = b64_alphabet[p[i] >> 2];
		out[o++] = b64_alphabet[(p[i] & 3) << 4];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		out[o++] = b64_alphabet[p[i] >> 2];
		out[o++] = b64_alphabet[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = b64_alphabet[(p[i + 1] & 0xf) << 2];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

char *
b64_encode_dup(const void *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		b64_encode(in, len, out);
	return out;
}

/* Decodes into a fresh heap buffer (NUL-terminated); *n gets the length. */
static unsigned char *
decode_dup(const char *b64, size_t len, size_t *n, int *rc)
{
	unsigned char *buf = malloc(len / 4 * 3 + 4);
	long dl;

	if (buf == NULL) {
		*rc = SASL_NOMEM;
		return NULL;
	}
	dl = b64_decode(b64, len, buf);
	if (dl < 0) {
		free(buf);
		*rc = SASL_INVALID;
		return NULL;
	}
	buf[dl] = '\0';
	*n = (size_t)dl;
	*rc = SASL_OK;
	return buf;
}

int
sasl_set(char **dst, const char *s, size_t n)
{
	int rc = creds_set(dst, s, n);

	return rc == 0 ? SASL_OK : rc == -1 ? SASL_HOSTILE : SASL_NOMEM;
}

int
sasl_md5_hex(const char *s, size_t n)
{
	if (n != 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/* authzid NUL authcid NUL passwd; the login is authcid, as in nginx. */
int
sasl_plain(const char *b64, size_t len, struct creds *cr)
{
	size_t n;
	int rc;
	unsigned char *d = decode_dup(b64, len, &n, &rc), *p, *user, *pass;

	if (d == NULL)
		return rc;
	p = memchr(d, '\0', n);
	if (p == NULL) {
		free(d);
		return SASL_INVALID;
	}
	user = p + 1;
	p = memchr(user, '\0', n - (size_t)(user - d));
	if (p == NULL) {
		free(d);
		return SASL_INVALID;
	}
	pass = p + 1;
	rc = sasl_set(&cr->login, (char *)user, (size_t)(p - user));
	if (rc == SASL_OK)
		rc = sasl_set(&cr->passwd, (char *)pass, n - (size_t)(pass - d));
	free(d);
	return rc;
}

int
sasl_field(const char *b64, size_t len, char **dst, int allow_empty)
{
	size_t n;
	int rc;
	unsigned char *d;

	/* "=" is how SASL-IR writes an empty initial response. */
	if (len == 1 && b64[0] == '=')
		len = 0;
	d = decode_dup(b64, len, &n, &rc);
	if (d == NULL)
		return rc;
	if (n == 0 && !allow_empty) {
		free(d);
		return SASL_INVALID;
	}
	rc = sasl_set(dst, (char *)d, n);
	free(d);
	return rc;
}

int
sasl_cram_md5(const char *b64, size_t len, struct creds *cr)
{
	size_t n;
	int rc;
	unsigned char *d = decode_dup(b64, len, &n, &rc), *sp;

	if (d == NULL)
		return rc;
	sp = (unsigned char *)strrchr((char *)d, ' ');
	if (sp == NULL || sp == d || memchr(d, '\0', n) ||
	    !sasl_md5_hex((char *)sp + 1, (size_t)(d + n - sp - 1))) {
		free(d);
		return SASL_INVALID;
	}
	rc = sasl_set(&cr->login, (char *)d, (size_t)(sp - d));
	if (rc == SASL_OK)
		rc = sasl_set(&cr->passwd, (char *)sp + 1, 32);
	free(d);
	return rc;
}
