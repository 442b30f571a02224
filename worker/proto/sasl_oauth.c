/* OAUTHBEARER and XOAUTH2 messages; see sasl_oauth.h. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "worker/proto/sasl.h"
#include "worker/proto/sasl_oauth.h"

#define KVSEP '\001'

static int
has_hostile(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return 1;
	return 0;
}

static char *
dup_n(const unsigned char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* RFC 5801 saslname: "=2C" is ',', "=3D" is '=', any other '=' or a ',' is invalid. */
static int
saslname(const unsigned char *s, size_t n, char **out)
{
	char *p = malloc(n + 1);
	size_t o = 0;

	if (p == NULL)
		return SASL_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ',')
			goto invalid;
		if (s[i] != '=') {
			p[o++] = (char)s[i];
			continue;
		}
		if (i + 2 >= n)
			goto invalid;
		if (s[i + 1] == '2' && (s[i + 2] == 'C' || s[i + 2] == 'c'))
			p[o++] = ',';
		else if (s[i + 1] == '3' && (s[i + 2] == 'D' || s[i + 2] == 'd'))
			p[o++] = '=';
		else
			goto invalid;
		i += 2;
	}
	p[o] = '\0';
	*out = p;
	return SASL_OK;
invalid:
	free(p);
	return SASL_INVALID;
}

/* "Bearer" 1*SP token, the token visible ASCII only. */
static int
bearer(const unsigned char *v, size_t n, char **token)
{
	size_t i = 6;

	if (n < 6 || strncasecmp((const char *)v, "Bearer", 6) != 0)
		return SASL_INVALID;
	if (i >= n || v[i] != ' ')
		return SASL_INVALID;
	while (i < n && v[i] == ' ')
		i++;
	if (i == n || n - i > SASL_OAUTH_TOKEN_MAX)
		return SASL_INVALID;
	if (has_hostile(v + i, n - i))
		return SASL_HOSTILE;
	for (size_t k = i; k < n; k++)
		if (v[k] < 0x21 || v[k] > 0x7e)
			return SASL_INVALID;
	*token = dup_n(v + i, n - i);
	return *token == NULL ? SASL_NOMEM : SASL_OK;
}

/*
 * The ^A-separated pairs from p to the end: key=value^A ... ^A. Takes
 * auth= (required) and, for XOAUTH2, user= (required).
 */
static int
pairs(unsigned method, const unsigned char *p, const unsigned char *end, char **user,
    char **token)
{
	int rc;

	for (;;) {
		const unsigned char *sep = memchr(p, KVSEP, (size_t)(end - p)), *eq;
		if (sep == NULL)
			return SASL_INVALID;	/* no final ^A */
		if (sep == p) {		/* the empty pair: the end */
			if (sep + 1 != end)
				return SASL_INVALID;
			break;
		}
		eq = memchr(p, '=', (size_t)(sep - p));
		if (eq == NULL || eq == p)
			return SASL_INVALID;
		for (const unsigned char *k = p; k < eq; k++)
			if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z')))
				return SASL_INVALID;
		size_t kl = (size_t)(eq - p), vl = (size_t)(sep - eq - 1);
		if (kl == 4 && memcmp(p, "auth", 4) == 0) {
			if (*token != NULL)
				return SASL_INVALID;
			if ((rc = bearer(eq + 1, vl, token)) != SASL_OK)
				return rc;
		} else if (method == AUTHM_XOAUTH2 && kl == 4 && memcmp(p, "user", 4) == 0) {
			if (*user != NULL)
				return SASL_INVALID;
			if (has_hostile(eq + 1, vl))
				return SASL_HOSTILE;
			if (vl == 0)
				return SASL_INVALID;
			if ((*user = dup_n(eq + 1, vl)) == NULL)
				return SASL_NOMEM;
		} else if (memchr(eq + 1, '\0', vl) != NULL) {
			return SASL_HOSTILE;	/* RFC 7628 lets other values hold CR and LF, not NUL */
		}
		p = sep + 1;
	}
	if (*token == NULL || (method == AUTHM_XOAUTH2 && *user == NULL))
		return SASL_INVALID;
	return SASL_OK;
}

/* gs2-header: ("n" / "y") "," ["a=" saslname] ","; returns what follows, or NULL. */
static const unsigned char *
gs2_header(const unsigned char *msg, size_t n, char **user, int *rc)
{
	const unsigned char *end = msg + n, *p, *comma;

	*rc = SASL_INVALID;
	if (n < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',')
		return NULL;	/* "p=": channel binding is not possible through a proxy */
	p = msg + 2;
	comma = memchr(p, ',', (size_t)(end - p));
	if (comma == NULL)
		return NULL;
	if (comma == p) {
		*user = strdup("");
	} else {
		if (comma - p < 2 || p[0] != 'a' || p[1] != '=')
			return NULL;
		if (has_hostile(p + 2, (size_t)(comma - p - 2))) {
			*rc = SASL_HOSTILE;
			return NULL;
		}
		if ((*rc = saslname(p + 2, (size_t)(comma - p - 2), user)) != SASL_OK)
			return NULL;
	}
	if (*user == NULL) {
		*rc = SASL_NOMEM;
		return NULL;
	}
	*rc = SASL_OK;
	return comma + 1;
}

int
sasl_oauth_parse(unsigned method, const unsigned char *msg, size_t n, char **user,
    char **token)
{
	const unsigned char *p = msg, *end = msg + n;
	int rc;

	*user = NULL;
	*token = NULL;
	if (method == AUTHM_OAUTHBEARER) {
		if ((p = gs2_header(msg, n, user, &rc)) == NULL)
			goto fail;
		/* The kvsep that ends the header. */
		if (p == end || *p != KVSEP) {
			rc = SASL_INVALID;
			goto fail;
		}
		p++;
	} else if (method != AUTHM_XOAUTH2) {
		return SASL_INVALID;
	}
	if ((rc = pairs(method, p, end, user, token)) != SASL_OK)
		goto fail;
	return SASL_OK;
fail:
	if (*token != NULL) {
		memset(*token, 0, strlen(*token));
		free(*token);
	}
	free(*user);
	*user = NULL;
	*token = NULL;
	return rc;
}

int
sasl_oauth(unsigned method, const char *b64, size_t len, struct creds *cr)
{
	unsigned char *d;
	char *user, *token;
	long dl;
	int rc;

	if (len == 0 || (d = malloc(len / 4 * 3 + 4)) == NULL)
		return len == 0 ? SASL_INVALID : SASL_NOMEM;
	dl = b64_decode(b64, len, d);
	if (dl < 0) {
		free(d);
		return SASL_INVALID;
	}
	rc = sasl_oauth_parse(method, d, (size_t)dl, &user, &token);
	memset(d, 0, (size_t)dl);
	free(d);
	if (rc != SASL_OK)
		return rc;
	rc = sasl_set(&cr->login, user, strlen(user));
	if (rc == SASL_OK)
		rc = sasl_set(&cr->passwd, token, strlen(token));
	memset(token, 0, strlen(token));
	free(token);
	free(user);
	if (rc == SASL_OK)
		cr->method = method;
	return rc;
}

char *
sasl_oauth_build(unsigned method, const char *user, const char *token)
{
	struct buf b = { 0 };
	char *out = NULL;

	if (method == AUTHM_OAUTHBEARER) {
		buf_puts(&b, "n,");
		if (user[0] != '\0') {
			buf_puts(&b, "a=");
			/* RFC 5801 saslname: ',' and '=' escaped. */
			for (const char *u = user; *u; u++) {
				if (*u == ',' || *u == '=')
					buf_puts(&b, *u == ',' ? "=2C" : "=3D");
				else
					buf_append(&b, u, 1);
			}
		}
		buf_puts(&b, ",\001");
	} else {
		buf_printf(&b, "user=%s\001", user);
	}
	buf_printf(&b, "auth=Bearer %s\001\001", token);
	if (b.data != NULL && buf_len(&b) > 0)
		out = b64_encode_dup(b.data, buf_len(&b));
	if (b.data != NULL)
		memset(b.data, 0, b.cap);
	buf_release(&b);
	return out;
}

int
sasl_oauth_error_valid(const char *b64, size_t len)
{
	unsigned char d[SASL_OAUTH_ERROR_MAX / 4 * 3 + 4];
	long dl;

	if (len < 4 || len > SASL_OAUTH_ERROR_MAX)
		return 0;
	dl = b64_decode(b64, len, d);
	if (dl <= 0)
		return 0;
	for (long i = 0; i < dl; i++)
		if (d[i] < 0x20 && d[i] != '\t')
			return 0;
	return 1;
}
