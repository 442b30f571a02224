/*
 * The input helpers of fuzzb_input.h. The chunk generator is a xorshift:
 * any fixed input cuts the same way on every run, so a corpus file
 * replays exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/lib/fuzzb_input.h"

uint8_t
fuzzb_u8(struct fuzzb_in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

uint16_t
fuzzb_u16(struct fuzzb_in *in)
{
	uint16_t hi = fuzzb_u8(in);

	return (uint16_t)(hi << 8 | fuzzb_u8(in));
}

const uint8_t *
fuzzb_bytes(struct fuzzb_in *in, size_t n, size_t *len)
{
	const uint8_t *p = in->p;

	if (n > in->n)
		n = in->n;
	in->p += n;
	in->n -= n;
	*len = n;
	return p;
}

void
fuzzb_chunker_init(struct fuzzb_chunker *c, struct fuzzb_in *in)
{
	uint8_t b = fuzzb_u8(in);

	/* 0..191: chunks of at most 1..192 bytes; above, up to 1..64 KB. */
	c->max = b < 192 ? (size_t)b + 1 : (size_t)(b - 191) * 1024;
	c->state = ((uint32_t)fuzzb_u16(in) << 8) | 0x5a;	/* never 0 */
}

size_t
fuzzb_chunk(struct fuzzb_chunker *c, size_t left)
{
	uint32_t x = c->state;

	if (left == 0)
		return 0;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	c->state = x;
	size_t n = 1 + x % c->max;
	return n < left ? n : left;
}

void *
fuzzb_dup(const void *p, size_t n)
{
	/* malloc(0) too: under ASan any read through it is reported. */
	void *q = malloc(n);

	if (q == NULL && n > 0)
		fuzzb_fail("out of memory");
	if (n)
		memcpy(q, p, n);
	return q;
}
