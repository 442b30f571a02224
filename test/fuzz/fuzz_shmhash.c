/*
 * The shared cache table (common/shmhash.c) driven by put, get, remove and
 * flush on input-chosen keys with time moving on, checked against a model
 * of one slot per key written from shmhash.h. With few keys the table never
 * fills and must agree with the model exactly; with more keys than entries
 * it may only forget (a miss where the model has a value) and never answer
 * a wrong or an expired value. shmhash_verify() after every operation.
 *
 * Input: mode (bit 0: 60 keys in a 24-entry table, else 6), then
 * operations of three bytes: op (low 2 bits: put, get, remove, flush;
 * the rest the key), a value byte (its low 4 bits also the value length),
 * a time step; a put lives for (value byte >> 4) steps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/shmhash.h"
#include "test/fuzz/lib/fuzzb_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_KEYS 60
#define VAL 16

struct model {
	int present;
	uint8_t v[VAL];
	size_t len;
	uint64_t expires;
};

static _Alignas(64) uint8_t mem[1 << 16];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzzb_in in = { data, size };
	struct model m[MAX_KEYS];
	uint8_t mode = fuzzb_u8(&in), out[VAL];
	size_t nkeys = mode & 1 ? MAX_KEYS : 6, zsize = 64 * 1024;
	uint64_t now = 1000;
	char err[200];

	/* 24 entries of 8 + 16 bytes: the smallest zone that holds them. */
	if (mode & 1)
		for (zsize = 256; shmhash_capacity(zsize, 8, VAL) < 24; zsize += 8)
			;
	memset(mem, 0, sizeof(mem));
	memset(m, 0, sizeof(m));
	if (shmhash_init(mem, zsize, 1, 8, VAL) < 0)
		abort();
	while (in.n >= 3) {
		uint8_t op = fuzzb_u8(&in), vb = fuzzb_u8(&in), step = fuzzb_u8(&in);
		size_t k = (size_t)(op >> 2) % nkeys;
		uint64_t key = k;
		struct model *e = &m[k];

		now += step;
		switch (op & 3) {
		case 0: {
			uint8_t v[VAL];
			size_t len = vb & 15;
			memset(v, vb, sizeof(v));
			if (shmhash_put(mem, &key, v, len, now + (vb >> 4), now) < 0)
				abort();
			e->present = 1;
			memcpy(e->v, v, len);
			e->len = len;
			e->expires = now + (vb >> 4);
			break;
		}
		case 1: {
			long n = shmhash_get(mem, &key, out, now);
			int live = e->present && e->expires > now;
			if (n >= 0 && (!live || (size_t)n != e->len || memcmp(out, e->v, e->len) != 0))
				abort();	/* a wrong, expired or removed value */
			if (n < 0 && live && nkeys <= 6)
				abort();	/* a table that never fills forgot */
			if (n < 0)
				e->present = 0;
			break;
		}
		case 2:
			shmhash_remove(mem, &key);
			e->present = 0;
			break;
		case 3:
			shmhash_flush(mem);
			memset(m, 0, sizeof(m));
			break;
		}
		if (shmhash_verify(mem, err, sizeof(err)) < 0)
			abort();
	}
	return 0;
}
