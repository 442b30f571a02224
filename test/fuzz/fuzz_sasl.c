/*
 * libFuzzer harness: base64 and the SASL decoders of worker/proto/sasl.c. The
 * input is tried as base64 text and as the bytes a client encoded. Checks:
 * decode(encode(x)) == x; whatever b64_decode() accepts re-encodes to the
 * very same text (strict, canonical); every decoder agrees with the RFC
 * models of lib/fuzz_sasl_ref.c on the result and on the credentials, so
 * no credential it hands on holds CR, LF or NUL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/lib/fuzz_mail.h"
#include "test/fuzz/lib/fuzz_sasl_ref.h"
#include "worker/proto/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
b64_properties(const char *text, size_t len, const unsigned char *raw, size_t rawlen)
{
	unsigned char *out = malloc(len / 4 * 3 + 3), *ref = malloc(len / 4 * 3 + 3);
	char *enc = malloc(4 * ((rawlen + 2) / 3) + 1), *dup;
	unsigned char *back;
	long dl = b64_decode(text, len, out), rl = fm_ref_b64(text, len, ref);
	size_t el;

	if (out == NULL || ref == NULL || enc == NULL)
		fm_fail("harness: out of memory");
	if (dl >= 0) {
		/* Strict: exactly one text decodes to given bytes. */
		char *again = b64_encode_dup(out, (size_t)dl);
		if (again == NULL || strlen(again) != len || memcmp(again, text, len) != 0)
			fm_fail("b64_decode accepted \"%s\", which re-encodes to \"%s\": not canonical",
			    fm_show(text, len), again ? again : "?");
		free(again);
	}
	if (dl != rl || (dl > 0 && memcmp(out, ref, (size_t)dl) != 0))
		fm_fail("b64_decode(\"%s\") = %ld, the RFC 4648 model says %ld", fm_show(text, len), dl, rl);

	el = b64_encode(raw, rawlen, enc);
	if (el != 4 * ((rawlen + 2) / 3) || strlen(enc) != el)
		fm_fail("b64_encode of %zu bytes gave %zu characters", rawlen, el);
	dup = b64_encode_dup(raw, rawlen);
	if (dup == NULL || strcmp(dup, enc) != 0)
		fm_fail("b64_encode_dup differs from b64_encode");
	back = malloc(el / 4 * 3 + 3);
	if (back == NULL || b64_decode(enc, el, back) != (long)rawlen ||
	    (rawlen && memcmp(back, raw, rawlen) != 0))
		fm_fail("decode(encode(x)) != x for %zu bytes", rawlen);
	free(back);
	free(dup);
	free(enc);
	free(out);
	free(ref);
}

static void
same_creds(const char *what, const char *text, size_t len, int rc, const struct creds *cr,
    const struct fm_ref_creds *want, int two)
{
	if (rc != want->rc)
		fm_fail("%s(\"%s\") = %d, the model says %d", what, fm_show(text, len), rc, want->rc);
	fm_check_field(what, cr->login);
	fm_check_field(what, cr->passwd);
	if (rc != SASL_OK)
		return;
	if (cr->login == NULL || strcmp(cr->login, want->login) != 0)
		fm_fail("%s: login \"%s\", the model says \"%s\"", what, cr->login ? cr->login : "(null)",
		    want->login);
	if (two && (cr->passwd == NULL || strcmp(cr->passwd, want->passwd) != 0))
		fm_fail("%s: the password differs from the model's", what);
}

/* Each decoder on one base64 text. */
static void
decoders(const char *text, size_t len, int allow_empty)
{
	struct creds cr;
	struct fm_ref_creds want;
	int rc;

	memset(&cr, 0, sizeof(cr));
	rc = sasl_plain(text, len, &cr);
	fm_ref_plain(text, len, &want);
	same_creds("sasl_plain", text, len, rc, &cr, &want, 1);
	fm_ref_free(&want);
	creds_clear(&cr);

	rc = sasl_field(text, len, &cr.login, allow_empty);
	fm_ref_field(text, len, allow_empty, &want);
	same_creds("sasl_field", text, len, rc, &cr, &want, 0);
	fm_ref_free(&want);
	creds_clear(&cr);

	rc = sasl_cram_md5(text, len, &cr);
	fm_ref_cram(text, len, &want);
	same_creds("sasl_cram_md5", text, len, rc, &cr, &want, 1);
	fm_ref_free(&want);
	creds_clear(&cr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly sized copies: a read past the end is an ASan report. */
	char *text = malloc(size ? size : 1), *enc;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	b64_properties(text, size, data, size);
	decoders(text, size, size & 1);
	/* The same bytes as a client would have encoded them: every decoder path past base64. */
	enc = b64_encode_dup(data, size);
	if (enc != NULL) {
		decoders(enc, strlen(enc), 1);
		decoders(enc, strlen(enc), 0);
	}
	free(enc);
	free(text);
	return 0;
}
