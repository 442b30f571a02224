/*
 * Shared by the fuzzb harnesses (auth_http, proxyproto, resolver, utls,
 * config): reading fuzzer bytes as small numbers, cutting a message into
 * chunks at fuzzer-chosen points as a socket would deliver it, exactly
 * sized heap copies (so ASan sees an over-read by one byte) and abort()
 * with a message when a property does not hold.
 */
#ifndef MP_FUZZB_INPUT_H
#define MP_FUZZB_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct fuzzb_in {
	const uint8_t *p;
	size_t n;
};

/* The next byte(s), 0 once the input is used up. */
uint8_t fuzzb_u8(struct fuzzb_in *in);
uint16_t fuzzb_u16(struct fuzzb_in *in);
/* Up to n bytes of the input (fewer at its end); *len gets how many. */
const uint8_t *fuzzb_bytes(struct fuzzb_in *in, size_t n, size_t *len);

/*
 * Chunk lengths from a 3-byte header: the longest chunk (byte 0..191: 1 +
 * byte, so 0 feeds byte by byte; 192..255: 1..64 KB) and a seed for a
 * small deterministic generator.
 */
struct fuzzb_chunker {
	uint32_t state;
	size_t max;
};

void fuzzb_chunker_init(struct fuzzb_chunker *c, struct fuzzb_in *in);
/* The next chunk's length, 1..left (0 only when left is 0). */
size_t fuzzb_chunk(struct fuzzb_chunker *c, size_t left);

/* A copy of p[0..n) in a heap block of exactly n bytes (never NULL; free it). */
void *fuzzb_dup(const void *p, size_t n);

/* Prints "fuzz property violated: <message>" to stderr and aborts: the one
 * fm_fail() of lib/fuzz_mail.c, linked into every harness. */
void fm_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
#define fuzzb_fail fm_fail
#define FUZZB_CHECK(cond, ...) do { if (!(cond)) fuzzb_fail(__VA_ARGS__); } while (0)

#endif
