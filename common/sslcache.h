/*
 * The TLS session cache kept in a shared zone, seen by every worker: a hash
 * index over fixed 256-byte blocks, entries chained over several blocks when
 * a session is large (up to 8 KB, as nginx allows), an LRU list for
 * eviction (never an error: the oldest entries make room), expiry after
 * ssl_session_timeout, and a process-shared robust mutex. The zone also holds
 * the session ticket keys when no key files are configured, rotated as nginx
 * >= 1.23.2 does, so that every worker encrypts and decrypts with the same
 * keys (with ssl_session_ticket_key_store the keys come from Redis instead,
 * through common/ticketring.h). Serialization (i2d/d2i) happens outside the
 * lock, in tls.c.
 */
#ifndef MP_SSLCACHE_H
#define MP_SSLCACHE_H

#include <stddef.h>
#include <stdint.h>

#define SSLCACHE_BLOCK 256
#define SSLCACHE_MAX_ID 32
#define SSLCACHE_MAX_DATA 8192

struct sslcache_stats {
	uint64_t entries, blocks, free_blocks;
	uint64_t stores, hits, misses, evictions, expired, removes, too_big;
};

struct ticket_key {
	uint8_t name[16];
	uint8_t aes[32];
	uint8_t hmac[32];
	uint8_t size;		/* 48 (AES-128) or 80 (AES-256), as key files */
	uint64_t expires;	/* unix seconds; 0 = from a file, never */
};

/* Lays out an empty cache in mem (size bytes) unless one is there already. */
int sslcache_init(void *mem, size_t size);
/* Capacity in entries of one block, for the README figure. */
size_t sslcache_capacity(size_t size);
int sslcache_store(void *mem, const uint8_t *id, size_t idlen, const uint8_t *data, size_t len,
    uint64_t expires, uint64_t now);
/* Copies the entry into out; returns its length, or -1 (absent, expired, too big for out). */
long sslcache_fetch(void *mem, const uint8_t *id, size_t idlen, uint8_t *out, size_t outcap,
    uint64_t now);
void sslcache_remove(void *mem, const uint8_t *id, size_t idlen);
/* The same without the lock, from a read-only mapping (-s status); figures may be a moment apart. */
int sslcache_peek_stats(const void *mem, size_t size, struct sslcache_stats *st);
/*
 * The shared ticket keys: the current one (encrypts, lives one lifetime) and
 * the previous one (decrypts for one more lifetime, so a ticket is good as
 * long as its session). keys[0] encrypts; all decrypt. Returns the count.
 */
int sslcache_ticket_keys(void *mem, uint64_t now, uint64_t lifetime, struct ticket_key keys[3]);

#endif
