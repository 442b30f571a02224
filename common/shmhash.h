/*
 * A generic cache in a shared zone: fixed-length keys, values of at most a
 * fixed length, a hash index, an LRU list for eviction (a full table drops
 * its oldest entry, never fails), an expiry time per entry, and a
 * process-shared robust mutex. The zone also keeps a random 32-byte secret
 * its users may key digests with (the auth cache's HMAC key). Times are
 * CLOCK_MONOTONIC milliseconds from the caller. Used by the auth cache
 * (authcache.h); the layout is the caller's choice of key and value sizes.
 */
#ifndef MP_SHMHASH_H
#define MP_SHMHASH_H

#include <stddef.h>
#include <stdint.h>

#define SHMHASH_SECRET_LEN 32
#define SHMHASH_MAX_KEY 64
#define SHMHASH_MAX_VALUE 4096

struct shmhash_stats {
	uint64_t entries, capacity;
	uint64_t stores, hits, misses, evictions, expired, flushes, removes;
};

/* Entries that size bytes hold with these key and value sizes; 0 when none. */
size_t shmhash_capacity(size_t size, size_t keylen, size_t vallen);

/*
 * Lays out an empty table in mem unless one of this kind, size and layout is
 * there already (then its entries are kept). kind tells tables of different
 * users apart. Returns -1 when size holds fewer than 8 entries or the sizes
 * are out of range. Master only, before the workers exist.
 */
int shmhash_init(void *mem, size_t size, uint32_t kind, size_t keylen, size_t vallen);

/* The zone's random secret (SHMHASH_SECRET_LEN bytes); set once by init. */
const uint8_t *shmhash_secret(const void *mem);

/*
 * Copies key's value into val (room for the table's vallen) and returns its
 * length, or -1 when absent or expired (a miss; an expired entry is freed).
 */
long shmhash_get(void *mem, const void *key, void *val, uint64_t now_ms);

/* Stores (or replaces) key's value until expires_ms. -1 when vlen is too long. */
int shmhash_put(void *mem, const void *key, const void *val, size_t vlen, uint64_t expires_ms,
    uint64_t now_ms);

/*
 * The flushes so far. A caller that looked something up, then computed a
 * value to store, passes the epoch it saw to shmhash_put_epoch(), which
 * stores nothing (and returns 1) when a flush came in between: a value
 * computed before a flush must not outlive it.
 */
uint64_t shmhash_epoch(const void *mem);
int shmhash_put_epoch(void *mem, const void *key, const void *val, size_t vlen,
    uint64_t expires_ms, uint64_t now_ms, uint64_t epoch);

void shmhash_remove(void *mem, const void *key);

/* Empties the table (its secret stays). Any process that maps it writable. */
void shmhash_flush(void *mem);

/* The counters without the lock, from a read-only mapping (-s status).
 * -1 when mem holds no table of kind. */
int shmhash_peek_stats(const void *mem, size_t size, uint32_t kind, struct shmhash_stats *st);

/* Walks chains, LRU and free list against each other: 0, or -1 with err. */
int shmhash_verify(void *mem, char *err, size_t errlen);

/* Tests only: takes the table's lock and returns holding it, so a child can
 * die with it as a crashed worker would. */
void shmhash_test_lock(void *mem);

#endif
