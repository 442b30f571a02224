/*
 * Base64 (strict RFC 4648) and the SASL decoders (worker/proto/sasl.c): PLAIN,
 * LOGIN/EXTERNAL fields and CRAM-MD5 into struct creds; credentials with
 * CR, LF or NUL are refused (mailproxy's deliberate difference from nginx).
 * Also creds_set()/creds_clear() from worker/proto/proto_rt.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "worker/proto/sasl.h"

TestSuite(sasl);

static const struct {
	const char *plain, *b64;
} rfc4648[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

Test(sasl, b64_encode_rfc4648_vectors)
{
	char out[64];

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		size_t n = b64_encode(rfc4648[i].plain, strlen(rfc4648[i].plain), out);
		cr_assert_eq(n, strlen(rfc4648[i].b64));
		cr_assert_str_eq(out, rfc4648[i].b64);
		char *d = b64_encode_dup(rfc4648[i].plain, strlen(rfc4648[i].plain));
		cr_assert_str_eq(d, rfc4648[i].b64);
		free(d);
	}
}

Test(sasl, b64_decode_rfc4648_vectors)
{
	unsigned char out[64];

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		long n = b64_decode(rfc4648[i].b64, strlen(rfc4648[i].b64), out);
		cr_assert_eq(n, (long)strlen(rfc4648[i].plain), "\"%s\"", rfc4648[i].b64);
		cr_assert_eq(memcmp(out, rfc4648[i].plain, (size_t)n), 0);
	}
}

Test(sasl, b64_round_trip_every_length_and_byte)
{
	unsigned char in[300], back[300 + 3];
	char enc[4 * 100 + 1];

	srand(1);
	for (size_t len = 0; len <= 300; len++) {
		for (size_t i = 0; i < len; i++)
			in[i] = (unsigned char)(len == 256 ? i : (size_t)rand());
		size_t n = b64_encode(in, len, enc);
		cr_assert_eq(n, 4 * ((len + 2) / 3));
		cr_assert_eq(strlen(enc), n);
		long d = b64_decode(enc, n, back);
		cr_assert_eq(d, (long)len);
		cr_assert_eq(memcmp(in, back, len), 0, "length %zu", len);
	}
}

Test(sasl, b64_decode_is_strict)
{
	static const char *const bad[] = {
		"Zg", "Zg=", "Zm9", "Z", "=", "==", "===", "====", "=Zm9", "Z===", "Zm=v", "Zg=a",
		"Zg==Zg==", "Zm9v=", "Zm9!", "Zm9 ", " Zm9", "Zm9\n", "Zm9\r", "Zm-_", "Zm9.", "Zg==\r\n",
		"Zm\xc3\xa9", "Zm8=Zm8=",
	};
	unsigned char out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(b64_decode(bad[i], strlen(bad[i]), out), -1, "\"%s\" decoded", bad[i]);
	/* A NUL inside the text is not base64 either. */
	cr_assert_eq(b64_decode("Zm\0v", 4, out), -1);
}

Test(sasl, b64_decode_all_alphabet)
{
	const char *all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char out[64];
	char again[128];

	cr_assert_eq(b64_decode(all, 64, out), 48);
	b64_encode(out, 48, again);
	cr_assert_str_eq(again, all);
}

/*
 * RFC 4648 3.5: the bits of the last character that no output byte uses
 * must be zero. "QR==" would otherwise decode as "QQ==" ("A"): two texts
 * for one value, a way to slip past anything comparing base64 strings.
 */
Test(sasl, b64_decode_refuses_non_canonical_endings)
{
	static const char *const bad[] = {
		"QR==", "QB==", "QP==", "Zh==", "Zm9=", "Zm+=", "Zm9vYh==", "Zm9vYmF=", "//==", "///=",
	};
	unsigned char out[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(b64_decode(bad[i], strlen(bad[i]), out), -1, "\"%s\" decoded", bad[i]);
	cr_assert_eq(b64_decode("QQ==", 4, out), 1);
	cr_assert_eq(out[0], 'A');
	cr_assert_eq(b64_decode("Zm8=", 4, out), 2);
	cr_assert_eq(b64_decode("/w==", 4, out), 1);
	cr_assert_eq(out[0], 0xff);
	cr_assert_eq(b64_decode("//8=", 4, out), 2);
}

/*
 * Every possible final quantum, padded or not: what decodes is exactly
 * what the encoder writes for the bytes it decoded to, so each value has
 * one text. 64^3 three-character quanta take a few milliseconds.
 */
Test(sasl, b64_decode_accepts_only_canonical_final_quanta)
{
	const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char out[8];
	char q[5], again[8];
	size_t ok1 = 0, ok2 = 0;

	for (int a = 0; a < 64; a++)
		for (int b = 0; b < 64; b++) {
			snprintf(q, sizeof(q), "%c%c==", abc[a], abc[b]);
			long n = b64_decode(q, 4, out);
			cr_assert_eq(n, (b & 0xf) == 0 ? 1 : -1, "\"%s\" -> %ld", q, n);
			if (n == 1) {
				b64_encode(out, 1, again);
				cr_assert_str_eq(again, q);
				ok1++;
			}
			for (int c = 0; c < 64; c++) {
				snprintf(q, sizeof(q), "%c%c%c=", abc[a], abc[b], abc[c]);
				n = b64_decode(q, 4, out);
				cr_assert_eq(n, (c & 0x3) == 0 ? 2 : -1, "\"%s\" -> %ld", q, n);
				if (n == 2) {
					b64_encode(out, 2, again);
					cr_assert_str_eq(again, q);
					ok2++;
				}
			}
		}
	cr_assert_eq(ok1, 256);		/* every byte value once */
	cr_assert_eq(ok2, 65536);	/* every pair of bytes once */
}

/* Malformed, truncated and oversized inputs, each named by what is wrong with it. */
Test(sasl, b64_decode_strictness_claims)
{
	static const struct {
		const char *in;
		const char *why;
	} bad[] = {
		{ "Zm9vYmF", "truncated: not a multiple of four" },
		{ "Zm9vYg=", "truncated padding" },
		{ "Zm9vY===", "three padding characters" },
		{ "Zm9v====", "a whole quantum of padding" },
		{ "Zg==Zm9v", "data after the padded quantum" },
		{ "Zm=9", "data after padding inside the quantum" },
		{ "Zm9v\tZm9v", "whitespace between quanta" },
		{ "Zm9v Zm8=", "a blank between quanta" },
		{ "Zm9vZm8=\n", "a trailing line break" },
		{ "Zm9vZm8=\r\n", "a trailing CRLF" },
		{ "Zm9v-_8=", "the URL-safe alphabet" },
		{ "Zm9v\x80Zm8", "a byte above ASCII" },
		{ "Zm9vZm8%", "a character outside the alphabet" },
	};
	unsigned char out[32];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(b64_decode(bad[i].in, strlen(bad[i].in), out), -1, "%s: \"%s\" decoded",
		    bad[i].why, bad[i].in);
	/* The length given is what counts, not a NUL: a NUL inside is not base64. */
	cr_assert_eq(b64_decode("Zm9v\0Zm8", 8, out), -1);
	cr_assert_eq(b64_decode("Zm9vZm8=", 4, out), 3);
	cr_assert_eq(memcmp(out, "foo", 3), 0);
}

/* A long input decodes to exactly len / 4 * 3 bytes less padding, and writes no further. */
Test(sasl, b64_decode_writes_only_what_it_returns)
{
	enum { N = 3000 };
	unsigned char in[N], *out = malloc(N + 64);
	char *enc = malloc(4 * (N / 3 + 1) + 1);

	cr_assert(out != NULL && enc != NULL);
	for (size_t i = 0; i < N; i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t len = N - 2; len <= N; len++) {
		size_t n = b64_encode(in, len, enc);
		memset(out, 0xa5, N + 64);
		cr_assert_eq(b64_decode(enc, n, out), (long)len);
		cr_assert_eq(memcmp(out, in, len), 0);
		for (size_t i = len; i < N + 64; i++)
			cr_assert_eq(out[i], 0xa5, "byte %zu written past the %zu decoded", i, len);
	}
	free(out);
	free(enc);
}

/* The SASL decoders inherit the strictness: a non-canonical ending is not a login. */
Test(sasl, sasl_decoders_refuse_non_canonical_base64)
{
	struct creds cr = { 0 };
	char *v = NULL;

	cr_assert_eq(sasl_field("dXNlch==", 8, &v, 0), SASL_INVALID);	/* "user" ends in "cg==" */
	cr_assert_eq(sasl_field("dXNlcg==", 8, &v, 0), SASL_OK);
	cr_assert_str_eq(v, "user");
	free(v);
	cr_assert_eq(sasl_plain("AHVzZXIAcGFzcx==", 16, &cr), SASL_INVALID);
	cr_assert_null(cr.login);
	cr_assert_eq(sasl_plain("AHVzZXIAcGFzcw==", 16, &cr), SASL_OK);
	creds_clear(&cr);
}

/* ---- PLAIN ---- */

static void
creds_gone(struct creds *cr)
{
	creds_clear(cr);
	cr_assert_null(cr->login);
	cr_assert_null(cr->passwd);
}

Test(sasl, plain)
{
	struct creds cr = { 0 };
	const char *ir = "AHVzZXIAcGFzcw==";	/* \0user\0pass */

	cr_assert_eq(sasl_plain(ir, strlen(ir), &cr), SASL_OK);
	cr_assert_str_eq(cr.login, "user");
	cr_assert_str_eq(cr.passwd, "pass");
	creds_gone(&cr);
}

Test(sasl, plain_authzid_is_ignored)
{
	struct creds cr = { 0 };
	const char *ir = "YXV0aHoAYm9iAHMzY3JldCBw";	/* authz\0bob\0s3cret p */

	cr_assert_eq(sasl_plain(ir, strlen(ir), &cr), SASL_OK);
	cr_assert_str_eq(cr.login, "bob");
	cr_assert_str_eq(cr.passwd, "s3cret p");
	creds_gone(&cr);
}

Test(sasl, plain_empty_fields)
{
	struct creds cr = { 0 };

	/* nginx takes an empty login or password; the auth service decides. */
	cr_assert_eq(sasl_plain("AABwYXNz", 8, &cr), SASL_OK);	/* \0\0pass */
	cr_assert_str_eq(cr.login, "");
	cr_assert_str_eq(cr.passwd, "pass");
	cr_assert_eq(sasl_plain("AHVzZXIA", 8, &cr), SASL_OK);	/* \0user\0 */
	cr_assert_str_eq(cr.login, "user");
	cr_assert_str_eq(cr.passwd, "");
	cr_assert_eq(sasl_plain("AAA=", 4, &cr), SASL_OK);	/* \0\0 */
	cr_assert_str_eq(cr.login, "");
	creds_gone(&cr);
}

Test(sasl, plain_malformed)
{
	struct creds cr = { 0 };

	cr_assert_eq(sasl_plain("", 0, &cr), SASL_INVALID);
	cr_assert_eq(sasl_plain("dXNlcgBwYXNz", 12, &cr), SASL_INVALID);	/* user\0pass */
	cr_assert_eq(sasl_plain("AHVzZXI=", 8, &cr), SASL_INVALID);	/* \0user */
	cr_assert_eq(sasl_plain("dXNlcg==", 8, &cr), SASL_INVALID);	/* user */
	cr_assert_eq(sasl_plain("AHVzZXIAcGFzcw=", 15, &cr), SASL_INVALID);
	cr_assert_eq(sasl_plain("*", 1, &cr), SASL_INVALID);
	cr_assert_eq(sasl_plain("=", 1, &cr), SASL_INVALID);
	cr_assert_null(cr.login);
	cr_assert_null(cr.passwd);
}

Test(sasl, plain_refuses_cr_lf_nul)
{
	struct creds cr = { 0 };

	cr_assert_eq(sasl_plain("AHVzDWVyAHBhc3M=", 16, &cr), SASL_HOSTILE);	/* \0us\rer\0pass */
	cr_assert_eq(sasl_plain("AHVzCmVyAHBhc3M=", 16, &cr), SASL_HOSTILE);	/* \0us\ner\0pass */
	cr_assert_eq(sasl_plain("AHVzZXIAcGEKc3M=", 16, &cr), SASL_HOSTILE);	/* \0user\0pa\nss */
	cr_assert_eq(sasl_plain("AHVzZXIAcGEAc3M=", 16, &cr), SASL_HOSTILE);	/* \0user\0pa\0ss */
	/* Only a valid password is kept, never a refused one. */
	cr_assert(cr.passwd == NULL || strpbrk(cr.passwd, "\r\n") == NULL);
	creds_clear(&cr);
}

Test(sasl, plain_replaces_previous_credentials)
{
	struct creds cr = { 0 };

	cr_assert_eq(sasl_plain("AHVzZXIAcGFzcw==", 16, &cr), SASL_OK);
	cr_assert_eq(sasl_plain("YXV0aHoAYm9iAHMzY3JldCBw", 24, &cr), SASL_OK);
	cr_assert_str_eq(cr.login, "bob");
	creds_gone(&cr);
}

/* ---- LOGIN / EXTERNAL fields ---- */

Test(sasl, field)
{
	char *v = NULL;

	cr_assert_eq(sasl_field("dXNlcg==", 8, &v, 0), SASL_OK);
	cr_assert_str_eq(v, "user");
	cr_assert_eq(sasl_field("cGFzcw==", 8, &v, 0), SASL_OK);
	cr_assert_str_eq(v, "pass");
	free(v);
}

Test(sasl, field_empty)
{
	char *v = NULL;

	cr_assert_eq(sasl_field("", 0, &v, 0), SASL_INVALID);
	cr_assert_eq(sasl_field("=", 1, &v, 0), SASL_INVALID);
	cr_assert_null(v);
	cr_assert_eq(sasl_field("", 0, &v, 1), SASL_OK);
	cr_assert_str_eq(v, "");
	free(v);
	v = NULL;
	/* "=" is SASL-IR's empty response. */
	cr_assert_eq(sasl_field("=", 1, &v, 1), SASL_OK);
	cr_assert_str_eq(v, "");
	free(v);
}

Test(sasl, field_refuses_cr_lf_nul_and_bad_base64)
{
	char *v = NULL;

	cr_assert_eq(sasl_field("dQpzZXI=", 8, &v, 0), SASL_HOSTILE);	/* u\nser */
	cr_assert_eq(sasl_field("dXMNZXI=", 8, &v, 0), SASL_HOSTILE);	/* us\rer */
	cr_assert_eq(sasl_field("dXMAZXI=", 8, &v, 1), SASL_HOSTILE);	/* us\0er */
	cr_assert_eq(sasl_field("AA==", 4, &v, 1), SASL_HOSTILE);	/* \0 */
	cr_assert_eq(sasl_field("dXNlcg", 6, &v, 0), SASL_INVALID);
	cr_assert_eq(sasl_field("*", 1, &v, 0), SASL_INVALID);
	cr_assert_eq(sasl_field("==", 2, &v, 1), SASL_INVALID);
	cr_assert_null(v);
}

/* ---- CRAM-MD5 ---- */

static int
cram(const char *b64, struct creds *cr)
{
	return sasl_cram_md5(b64, strlen(b64), cr);
}

Test(sasl, cram_md5)
{
	struct creds cr = { 0 };

	cr_assert_eq(cram("Ym9iIDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm", &cr), SASL_OK);
	cr_assert_str_eq(cr.login, "bob");
	cr_assert_str_eq(cr.passwd, "0123456789abcdef0123456789abcdef");
	/* Upper-case hex too. */
	cr_assert_eq(cram("Ym9iIDAxMjM0NTY3ODlBQkNERUYwMTIzNDU2Nzg5YWJjZGVm", &cr), SASL_OK);
	cr_assert_str_eq(cr.passwd, "0123456789ABCDEF0123456789abcdef");
	/* A user name with a space: the digest follows the last one. */
	cr_assert_eq(cram("Ym9iIHNtaXRoIDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm", &cr), SASL_OK);
	cr_assert_str_eq(cr.login, "bob smith");
	creds_gone(&cr);
}

Test(sasl, cram_md5_malformed)
{
	static const char *const bad[] = {
		"Ym9iIDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGU=",	/* 31 digits */
		"Ym9iIDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMA==",	/* 33 */
		"Ym9iIDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVn",	/* 'g' */
		"Ym9iMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",	/* no space */
		"IDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm",	/* no user */
		"Ym9iCTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm",	/* a tab */
		"", "=", "Ym9i", "not base64!",
	};
	struct creds cr = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cram(bad[i], &cr), SASL_INVALID, "\"%s\"", bad[i]);
	cr_assert_null(cr.login);
	cr_assert_null(cr.passwd);
}

Test(sasl, cram_md5_refuses_cr_lf_nul)
{
	struct creds cr = { 0 };

	cr_assert_eq(cram("Yg1iIDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm", &cr), SASL_HOSTILE);
	cr_assert_neq(cram("YgBiIDAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm", &cr), SASL_OK);
	cr_assert_neq(cram("Ym9iIDAxMjM0NTY3ODlhYmNkZWYAMDEyMzQ1Njc4OWFiY2Rl", &cr), SASL_OK);
	cr_assert_null(cr.login);
	cr_assert_null(cr.passwd);
}

/* ---- creds ---- */

Test(sasl, creds_set_and_clear)
{
	struct creds cr = { 0 };

	cr_assert_eq(creds_set(&cr.login, "bob", 3), 0);
	cr_assert_eq(creds_set(&cr.login, "alice!", 5), 0);
	cr_assert_str_eq(cr.login, "alice");
	cr_assert_eq(creds_set(&cr.passwd, "", 0), 0);
	cr_assert_str_eq(cr.passwd, "");
	cr_assert_eq(creds_set(&cr.login, "a\rb", 3), -1);
	cr_assert_eq(creds_set(&cr.login, "a\nb", 3), -1);
	cr_assert_eq(creds_set(&cr.login, "a\0b", 3), -1);
	cr_assert_str_eq(cr.login, "alice", "a refused value leaves the old one");
	cr.method = AUTHM_CRAM_MD5;
	cr_assert_eq(creds_set(&cr.salt, "<1.2@h>", 7), 0);
	cr_assert_eq(creds_set(&cr.helo, "h", 1), 0);
	cr_assert_eq(creds_set(&cr.from, "MAIL FROM:<>", 12), 0);
	cr_assert_eq(creds_set(&cr.to, "RCPT TO:<a@b>", 13), 0);
	creds_clear(&cr);
	cr_assert_null(cr.login);
	cr_assert_null(cr.passwd);
	cr_assert_null(cr.salt);
	cr_assert_null(cr.helo);
	cr_assert_null(cr.from);
	cr_assert_null(cr.to);
	cr_assert_eq(cr.method, 0);
	creds_clear(&cr);
}
