/*
 * The session ticket keys of ssl_session_ticket_key_store, kept in a small
 * shared zone of their own ("tickets." and the ssl_session_cache zone's
 * name: a zone name in the configuration has no dot, and the list of zones
 * handed to a new binary on upgrade is cut at colons) so that every worker encrypts and decrypts with the same keys and
 * the keys survive reloads and binary upgrades. Time is cut into periods
 * (unix seconds / period); the key of period p encrypts during p and
 * decrypts during p-1 .. p+1, so a ticket made at the end of p still
 * resumes during all of p+1 on every node.
 *
 * Keys come from Redis (one worker writes them here, see
 * worker/lookup/ticket_store.c); when the ring holds no Redis key for the
 * current period (Redis unreachable for longer than the keys it gave last
 * cover), keys are made locally, one per period, and resumption across
 * nodes falls back to full handshakes, never to errors.
 */
#ifndef MP_TICKETRING_H
#define MP_TICKETRING_H

#include <stddef.h>
#include <stdint.h>

#include "common/sslcache.h"

#define TICKETRING_ZONE_PREFIX "tickets."
#define TICKETRING_ZONE_SIZE 4096
/* Redis keys for p-1, p, p+1 and local keys for p-1, p: at most this many decrypt. */
#define TICKETRING_MAX_KEYS 5
/* nginx's 80-byte key file layout: name, HMAC key, AES-256 key. */
#define TICKETRING_KEY_BYTES 80

enum ticket_source { TICKET_SOURCE_NONE, TICKET_SOURCE_LOCAL, TICKET_SOURCE_REDIS };

struct ticketring_stats {
	uint64_t fetch_ok, fetch_error;
	uint32_t source;	/* enum ticket_source of the key that encrypts now */
};

/* The ring zone's name beside the ssl_session_cache zone cache_zone. */
void ticketring_zone_name(char *buf, size_t len, const char *cache_zone);

/* Lays out an empty ring in mem unless one is there already; -1 if too small. */
int ticketring_init(void *mem, size_t size);

/* The period that unix second now falls in, and when period p ends. */
static inline uint64_t
ticketring_period(uint64_t now, uint64_t period_s)
{
	return now / period_s;
}
static inline uint64_t
ticketring_period_end(uint64_t p, uint64_t period_s)
{
	return (p + 1) * period_s;
}

/* An 80-byte key as stored in Redis into k (size 80); a key file's layout. */
void ticketring_key_from_bytes(struct ticket_key *k, const uint8_t b[TICKETRING_KEY_BYTES]);
void ticketring_key_to_bytes(const struct ticket_key *k, uint8_t b[TICKETRING_KEY_BYTES]);

/*
 * Redis's answer for periods p-1, p, p+1: have bit i says keys[i] is
 * there. The ring keeps the Redis keys still within their periods, so a
 * key missing from one answer (evicted, or not yet made) does not drop one
 * the ring already has for that period.
 */
void ticketring_put(void *mem, uint64_t p, const struct ticket_key keys[3], unsigned have);

/*
 * The keys for unix second now: keys[0] encrypts, all decrypt. Makes the
 * local key of the period when there is no Redis one. Returns the count
 * (0 only when no random key could be made) and in *version the ring's
 * write count: a worker keeps its copy until the period ends or the
 * version moves (ticketring_version()).
 */
int ticketring_keys(void *mem, uint64_t now, uint64_t period_s,
    struct ticket_key keys[TICKETRING_MAX_KEYS], uint64_t *version);
uint64_t ticketring_version(const void *mem);

/* One fetch from Redis ended: ok or not. */
void ticketring_count(void *mem, int ok);

/* Without the lock, from a read-only mapping (-s status). */
int ticketring_peek_stats(const void *mem, size_t size, struct ticketring_stats *st);

#endif
