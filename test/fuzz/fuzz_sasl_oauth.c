/*
 * libFuzzer harness: the OAUTHBEARER / XOAUTH2 parser of worker/proto/sasl_oauth.c
 * on raw decoded messages. The first byte picks the mechanism. Properties: a
 * message is taken only with an identity and a token free of CR, LF and NUL,
 * the token visible ASCII of at most SASL_OAUTH_TOKEN_MAX bytes; what is taken
 * survives sasl_oauth_build() and parses back to the same identity and token;
 * a refusal leaves nothing allocated behind (LeakSanitizer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/lib/fuzz_mail.h"
#include "worker/proto/sasl.h"
#include "worker/proto/sasl_oauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mech;
	char *user, *token;
	int rc;

	if (size == 0)
		return 0;
	mech = data[0] & 1 ? AUTHM_XOAUTH2 : AUTHM_OAUTHBEARER;
	data++;
	size--;
	rc = sasl_oauth_parse(mech, data, size, &user, &token);
	if (rc != SASL_OK) {
		if (user != NULL || token != NULL)
			fm_fail("refused (%d) yet an identity or token is left", rc);
		if (rc != SASL_INVALID && rc != SASL_HOSTILE && rc != SASL_NOMEM)
			fm_fail("unknown result %d", rc);
		return 0;
	}
	fm_check_field("OAuth identity", user);
	fm_check_field("OAuth token", token);
	size_t tl = strlen(token);
	if (tl == 0 || tl > SASL_OAUTH_TOKEN_MAX)
		fm_fail("token of %zu bytes taken", tl);
	for (size_t i = 0; i < tl; i++)
		if ((unsigned char)token[i] < 0x21 || (unsigned char)token[i] > 0x7e)
			fm_fail("token byte 0x%02x taken", (unsigned char)token[i]);
	if (mech == AUTHM_XOAUTH2 && user[0] == '\0')
		fm_fail("XOAUTH2 without user= taken");
	/* The message for the backend carries the same identity and token. */
	char *b = sasl_oauth_build(mech, user, token);
	if (b == NULL)
		fm_fail("sasl_oauth_build failed");
	struct creds cr = { 0 };
	rc = sasl_oauth(mech, b, strlen(b), &cr);
	/* XOAUTH2 has no escaping: an identity with ^A cannot travel. */
	if (rc == SASL_OK && (strcmp(cr.login, user) != 0 || strcmp(cr.passwd, token) != 0))
		fm_fail("rebuilt message parses to \"%s\" / another token", fm_show(cr.login,
		    strlen(cr.login)));
	if (rc != SASL_OK && strchr(user, '\001') == NULL)
		fm_fail("rebuilt message refused (%d): \"%s\"", rc, fm_show(b, strlen(b)));
	creds_clear(&cr);
	free(b);
	free(user);
	free(token);
	return 0;
}
