/*
 * Failed-login counters in a shared zone, seen by every worker: one leaky
 * bucket (GCRA) per key (client address, login name, or the pair), so a
 * credential-stuffing client is refused for a while wherever it reconnects.
 * Fixed memory: a hash index and an LRU over 64-byte entries; a full table
 * forgets its least recently used key rather than fail. The worker calls
 * limiter_blocked() before an auth request and limiter_fail() after a
 * failure. Times are CLOCK_MONOTONIC milliseconds from the caller.
 */
#ifndef MP_LIMITER_H
#define MP_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#define LIMIT_KEY_LEN 16
#define LIMIT_KIND_ADDR 'a'
#define LIMIT_KIND_USER 'u'
#define LIMIT_KIND_PAIR 'p'

struct limit_key {
	uint8_t b[LIMIT_KEY_LEN];
};

/*
 * A failure counts one interval into the bucket; the bucket drains one
 * interval per interval. A key goes over when a failure leaves more than
 * burst failures in it, so with burst >= 1 failing at the sustained rate
 * never blocks, while burst 0 blocks on the first failure.
 */
struct limit_rule {
	uint64_t interval_us;	/* 10/m: 6,000,000; 0 is taken as 1 */
	uint32_t burst;
	uint64_t block_ms;	/* 0: blocked only until the key is no longer over */
};

struct limiter_stats {
	uint64_t entries, capacity;
	uint64_t fails, blocks_started, blocked_checks, evictions, expired;
	uint64_t session_refusals;	/* logins refused by limit_sessions_* */
	uint64_t store_answers;		/* checks login_limit_store (Redis) answered */
	uint64_t fallbacks;		/* checks and failures it did not take: down, slow, refused */
};

/*
 * The key of (kind, data): a 128-bit SipHash-2-4, so any login name, however
 * long, costs one fixed entry, and the kind is hashed in so an address and a
 * login of the same bytes never share a counter. Needs no zone: workers make
 * keys outside the lock.
 */
void limit_key_make(struct limit_key *k, char kind, const void *data, size_t len);

/* SipHash-2-4 (Aumasson and Bernstein, 2012), exported for its test vector. */
uint64_t limit_siphash(const uint8_t key[16], const void *data, size_t len);

/*
 * "N/s", "N/m", "N/h" or "N/d" (nginx's "Nr/s" spelling too) as the interval
 * between failures, rounded to the nearest microsecond. Returns 0, or -1 on
 * anything else: N of 0, a sign, an overflow, a rate finer than 1 us, junk.
 */
int limit_rule_parse_rate(const char *s, uint64_t *interval_us);

/* Entries that a zone of size bytes holds (the README's figure per MB). */
size_t limiter_capacity(size_t size);

/*
 * Lays out an empty table in mem, unless a table of this layout and size is
 * there already (a zone kept across reload or upgrade keeps its counters).
 * Returns -1 when size holds fewer than 16 entries. Master only, before the
 * workers exist.
 */
int limiter_init(void *mem, size_t size);

/* Milliseconds the key stays blocked, 0 when it may try. Never adds a key. */
uint64_t limiter_blocked(void *mem, const struct limit_key *k, uint64_t now_ms);

/*
 * Counts a failed login of k under r. Returns 1 when this failure started a
 * block (until now + block_ms, or until the key is no longer over when
 * block_ms is 0), else 0, also for a failure counted while a block runs: that
 * one lengthens only a block_ms 0 block. *level (may be NULL) gets the
 * failures now in the bucket, for the log.
 */
int limiter_fail(void *mem, const struct limit_key *k, const struct limit_rule *r,
    uint64_t now_ms, unsigned *level);

/*
 * A block the shared store (Redis) reports for k: k stays blocked here at
 * least until until_ms, so the zone keeps deciding like the store while
 * the store is away. Returns 1 when k was not blocked here before.
 */
int limiter_block(void *mem, const struct limit_key *k, uint64_t until_ms, uint64_t now_ms);

/* Counts one check the store answered (1), or one check or failure it did not take (0). */
void limiter_count_store(void *mem, int answered);

/* Forgets k altogether, as if never seen: its failures, any block, its good
 * mark and its session count (the cap fails open for sessions still open). */
void limiter_clear(void *mem, const struct limit_key *k);

/*
 * A success of the pair k: its failures and block go, and it is known good
 * until now + ttl_ms. A known-good pair is let through its address's and its
 * login's blocks (the user behind an attacker's NAT, the account sprayed from
 * elsewhere); only guesses at the pair itself block it again.
 */
void limiter_mark_good(void *mem, const struct limit_key *k, uint64_t now_ms, uint64_t ttl_ms);
int limiter_is_good(void *mem, const struct limit_key *k, uint64_t now_ms);

/*
 * Relayed sessions per key (limit_sessions_*): take() counts one more and
 * returns 1 while fewer than cap are open, else 0 and counts nothing; drop()
 * gives one back. A key with sessions open is never reused, but may be
 * evicted from a full table (its count is then lost: the cap fails open).
 */
int limiter_session_take(void *mem, const struct limit_key *k, uint32_t cap, uint64_t now_ms);
void limiter_session_drop(void *mem, const struct limit_key *k);
/*
 * Zeroes every session count: the master calls it when a worker died, whose
 * sessions can no longer give theirs back. Counts are then low until the
 * sessions of the others end: the cap fails open for a while, never shut.
 */
void limiter_sessions_forget(void *mem);

/* Returns 1 for the first caller after a block of k began, 0 otherwise and
 * when k is not blocked, so a refusal is logged once per key and block. */
int limiter_should_log(void *mem, const struct limit_key *k, uint64_t now_ms);

/* The counters without the lock, from a read-only mapping (-s status);
 * figures may be a moment apart. -1 when mem holds no table. */
int limiter_peek_stats(const void *mem, size_t size, struct limiter_stats *st);

/* Walks the whole table (hash chains, LRU and free list against each other):
 * 0 when consistent, -1 with a reason in err. For tests and the fuzzer. */
int limiter_verify(void *mem, char *err, size_t errlen);

/* Tests only: takes the table's lock and returns holding it, so a child can
 * die with it as a crashed worker would. */
void limiter_test_lock(void *mem);

#endif
