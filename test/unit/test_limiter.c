/*
 * The failed-login counters (common/limiter.c): rate parsing, the bucket's
 * arithmetic against hand-worked timelines, blocks and their release, the
 * LRU and expiry under a full table, reuse of a kept zone, and the lock
 * shared by forked processes, including one that dies holding it. Tables
 * live in MAP_SHARED anonymous mappings, as zones do after the master forks.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/limiter.h"

TestSuite(limiter);

static void *
zone(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	return p;
}

static void *
table(size_t size)
{
	void *p = zone(size);

	cr_assert_eq(limiter_init(p, size), 0, "init of %zu bytes", size);
	return p;
}

/* The smallest zone that holds n entries. */
static size_t
size_for(size_t n)
{
	size_t s = 64;

	while (limiter_capacity(s) < n)
		s += 64;
	return s;
}

static void
verify(void *t)
{
	char err[200] = "";

	cr_assert_eq(limiter_verify(t, err, sizeof(err)), 0, "table inconsistent: %s", err);
}

static struct limit_key
key(char kind, unsigned n)
{
	struct limit_key k;
	char s[32];

	snprintf(s, sizeof(s), "key-%u", n);
	limit_key_make(&k, kind, s, strlen(s));
	return k;
}

static struct limiter_stats
stats(const void *t, size_t size)
{
	struct limiter_stats st;

	cr_assert_eq(limiter_peek_stats(t, size, &st), 0);
	return st;
}

Test(limiter, parse_rate_good)
{
	static const struct { const char *s; uint64_t us; } ok[] = {
		{ "10/m", 6000000 }, { "5/s", 200000 }, { "100/h", 36000000 },
		{ "1/d", 86400000000ULL }, { "10r/m", 6000000 }, { "1r/s", 1000000 },
		{ "3/s", 333333 }, { "1000000/s", 1 }, { "010/m", 6000000 },
		{ "7/m", 8571429 },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t us = 0;
		int rc = limit_rule_parse_rate(ok[i].s, &us);
		cr_expect_eq(rc, 0, "\"%s\" refused", ok[i].s);
		cr_expect_eq(us, ok[i].us, "\"%s\": %llu us", ok[i].s, (unsigned long long)us);
	}
}

Test(limiter, parse_rate_hostile)
{
	static const char *const bad[] = {
		"0/m", "-1/m", "10/x", "10", "/m", "99999999999999999999/s", "10/m junk", "",
		"10/", "10/mm", " 10/m", "10 /m", "10/ m", "+10/m", "1000001/s", "10//m",
		"10/M", "10rr/m", "r/m", "18446744073709551615/s", "1.5/s", "0x10/s", "10/m\n",
		"2/3", "10/ms",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t us = 42;
		cr_expect_eq(limit_rule_parse_rate(bad[i], &us), -1, "\"%s\" accepted", bad[i]);
		cr_expect_eq(us, 42, "\"%s\" wrote the interval though refused", bad[i]);
	}
}

/* The paper's Appendix A: key 00..0f, message 00..0e. */
Test(limiter, siphash_vector)
{
	uint8_t k[16], m[15];

	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		m[i] = (uint8_t)i;
	cr_assert_eq(limit_siphash(k, m, sizeof(m)), 0xa129ca6149be45e5ULL);
}

Test(limiter, keys)
{
	struct limit_key a, a2, u, p, e, e2;

	limit_key_make(&a, 'a', "bob", 3);
	limit_key_make(&a2, 'a', "bob", 3);
	limit_key_make(&u, 'u', "bob", 3);
	limit_key_make(&p, 'p', "bob", 3);
	limit_key_make(&e, 'a', "", 0);
	limit_key_make(&e2, 'a', "bob\0", 4);
	cr_assert(memcmp(&a, &a2, sizeof(a)) == 0);
	cr_assert(memcmp(&a, &u, sizeof(a)) != 0);
	cr_assert(memcmp(&a, &p, sizeof(a)) != 0);
	cr_assert(memcmp(&u, &p, sizeof(a)) != 0);
	cr_assert(memcmp(&a, &e, sizeof(a)) != 0);
	cr_assert(memcmp(&a, &e2, sizeof(a)) != 0, "a trailing NUL is a different login");
	/* Both halves carry bits: not one 64-bit hash twice. */
	cr_assert(memcmp(a.b, a.b + 8, 8) != 0);
}

Test(limiter, sustained_rate_never_blocks)
{
	void *t = table(1 << 16);
	struct limit_rule r = { .interval_us = 6000000, .burst = 1, .block_ms = 60000 };
	struct limit_key k = key('a', 1);
	unsigned level;

	for (uint64_t now = 1000; now < 1000 + 1000 * 6000; now += 6000) {
		cr_assert_eq(limiter_blocked(t, &k, now), 0);
		cr_assert_eq(limiter_fail(t, &k, &r, now, &level), 0, "blocked at %llu",
		    (unsigned long long)now);
		cr_assert_eq(level, 1);
	}
	/* One millisecond faster than the rate: the bucket fills and, at burst + 1, blocks. */
	struct limit_key k2 = key('a', 2);
	int blocked = 0;
	uint64_t now = 1000;
	for (int i = 0; i < 10000 && !blocked; i++, now += 5999)
		blocked = limiter_fail(t, &k2, &r, now, &level);
	cr_assert(blocked);
	cr_assert_eq(level, 2);
}

Test(limiter, burst_then_block)
{
	size_t size = 1 << 16;
	void *t = table(size);
	struct limit_rule r = { .interval_us = 6000000, .burst = 5, .block_ms = 60000 };
	struct limit_key k = key('u', 1);
	unsigned level;

	for (unsigned i = 1; i <= 5; i++) {
		cr_assert_eq(limiter_fail(t, &k, &r, 5000, &level), 0, "blocked at failure %u", i);
		cr_assert_eq(level, i);
		cr_assert_eq(limiter_blocked(t, &k, 5000), 0);
	}
	cr_assert_eq(limiter_fail(t, &k, &r, 5000, &level), 1);
	cr_assert_eq(level, 6);
	cr_assert_eq(limiter_blocked(t, &k, 5000), 60000);
	cr_assert_eq(limiter_blocked(t, &k, 5001), 59999);
	struct limiter_stats st = stats(t, size);
	cr_assert_eq(st.fails, 6);
	cr_assert_eq(st.blocks_started, 1);
	cr_assert_eq(st.blocked_checks, 2);
	cr_assert_eq(st.entries, 1);
	cr_assert_eq(st.capacity, limiter_capacity(size));
	/* burst 0: the first failure blocks. */
	struct limit_rule r0 = { .interval_us = 1000000, .burst = 0, .block_ms = 10 };
	struct limit_key k0 = key('u', 2);
	cr_assert_eq(limiter_fail(t, &k0, &r0, 5000, &level), 1);
	cr_assert_eq(level, 1);
}

Test(limiter, block_time_honoured)
{
	void *t = table(1 << 16);
	struct limit_rule r = { .interval_us = 1000000, .burst = 2, .block_ms = 60000 };
	struct limit_key k = key('a', 7);
	unsigned level;

	limiter_fail(t, &k, &r, 0, NULL);
	limiter_fail(t, &k, &r, 0, NULL);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, NULL), 1);
	/* A failure counted during the block (a login already in flight) does not restart it. */
	cr_assert_eq(limiter_fail(t, &k, &r, 30000, &level), 0);
	cr_assert_eq(level, 1);
	cr_assert_eq(limiter_blocked(t, &k, 59999), 1);
	cr_assert_eq(limiter_blocked(t, &k, 60000), 0);
	/* Released and drained long ago: a fresh bucket. */
	cr_assert_eq(limiter_fail(t, &k, &r, 60000, &level), 0);
	cr_assert_eq(level, 1);
}

/* A block shorter than the drain: released on time, and the next failure
 * finds the bucket still over. */
Test(limiter, short_block_reblocks)
{
	void *t = table(1 << 16);
	struct limit_rule r = { .interval_us = 10000000, .burst = 2, .block_ms = 1000 };
	struct limit_key k = key('a', 8);
	unsigned level;

	for (int i = 0; i < 2; i++)
		limiter_fail(t, &k, &r, 0, NULL);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, NULL), 1);
	cr_assert_eq(limiter_blocked(t, &k, 1000), 0);
	cr_assert_eq(limiter_fail(t, &k, &r, 1000, &level), 1);
	cr_assert_eq(level, 4);
	cr_assert_eq(limiter_blocked(t, &k, 1000), 1000);
}

Test(limiter, block_until_drained)
{
	void *t = table(1 << 16);
	struct limit_rule r = { .interval_us = 1000000, .burst = 2, .block_ms = 0 };
	struct limit_key k = key('p', 1);
	unsigned level;

	cr_assert_eq(limiter_fail(t, &k, &r, 0, NULL), 0);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, NULL), 0);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, &level), 1);
	cr_assert_eq(level, 3);
	/* tat 3000 ms, 2000 ms of burst: over until 1000. */
	cr_assert_eq(limiter_blocked(t, &k, 0), 1000);
	cr_assert_eq(limiter_blocked(t, &k, 999), 1);
	cr_assert_eq(limiter_blocked(t, &k, 1000), 0);
	/* Released into the sustained rate: one more failure and it is over again. */
	cr_assert_eq(limiter_fail(t, &k, &r, 1000, &level), 1);
	cr_assert_eq(level, 3);
	cr_assert_eq(limiter_blocked(t, &k, 1000), 1000);
	/* A failure counted during a drain block lengthens it. */
	cr_assert_eq(limiter_fail(t, &k, &r, 1500, NULL), 0);
	cr_assert_eq(limiter_blocked(t, &k, 1500), 1500);
	/* Fully drained (tat 5000): the next failure is the first again. */
	cr_assert_eq(limiter_fail(t, &k, &r, 5000, &level), 0);
	cr_assert_eq(level, 1);
	/* Sub-millisecond intervals round the block up, never to zero. */
	struct limit_rule fine = { .interval_us = 300, .burst = 1, .block_ms = 0 };
	struct limit_key k2 = key('p', 2);
	limiter_fail(t, &k2, &fine, 10, NULL);
	cr_assert_eq(limiter_fail(t, &k2, &fine, 10, NULL), 1);
	cr_assert_eq(limiter_blocked(t, &k2, 10), 1);
}

Test(limiter, clear_on_success)
{
	size_t size = 1 << 16;
	void *t = table(size);
	struct limit_rule r = { .interval_us = 1000000, .burst = 1, .block_ms = 60000 };
	struct limit_key k = key('p', 3);
	unsigned level;

	limiter_fail(t, &k, &r, 0, NULL);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, NULL), 1);
	cr_assert_neq(limiter_blocked(t, &k, 1), 0);
	limiter_clear(t, &k);
	cr_assert_eq(limiter_blocked(t, &k, 1), 0);
	cr_assert_eq(limiter_should_log(t, &k, 1), 0);
	cr_assert_eq(stats(t, size).entries, 0);
	cr_assert_eq(limiter_fail(t, &k, &r, 1, &level), 0);
	cr_assert_eq(level, 1);
	limiter_clear(t, &k);
	limiter_clear(t, &k);	/* an absent key: nothing to do */
	verify(t);
}

/* A success marks the pair good for a while: its block goes, expiry keeps it, then it ages out. */
Test(limiter, mark_good)
{
	size_t size = 1 << 16;
	void *t = table(size);
	struct limit_rule r = { .interval_us = 1000000, .burst = 1, .block_ms = 60000 };
	struct limit_key k = key('p', 4), other = key('p', 5);

	cr_assert_eq(limiter_is_good(t, &k, 0), 0);
	limiter_fail(t, &k, &r, 0, NULL);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, NULL), 1);
	limiter_mark_good(t, &k, 10, 5000);
	cr_assert_eq(limiter_blocked(t, &k, 11), 0, "a success ends the block");
	cr_assert_eq(limiter_is_good(t, &k, 11), 1);
	cr_assert_eq(limiter_is_good(t, &other, 11), 0);
	/* drained but still good: a check must not free it */
	cr_assert_eq(limiter_blocked(t, &k, 4000), 0);
	cr_assert_eq(limiter_is_good(t, &k, 4000), 1);
	cr_assert_eq(stats(t, size).entries, 1);
	/* guesses at the pair itself still block it */
	limiter_fail(t, &k, &r, 4000, NULL);
	cr_assert_eq(limiter_fail(t, &k, &r, 4000, NULL), 1);
	cr_assert_neq(limiter_blocked(t, &k, 4001), 0);
	/* aged out: neither good nor kept once drained */
	cr_assert_eq(limiter_is_good(t, &k, 5010), 0);
	cr_assert_eq(limiter_blocked(t, &k, 200000), 0);
	cr_assert_eq(stats(t, size).entries, 0);
	verify(t);
}

/* Relayed sessions: a cap per key, places given back, a key with sessions kept, a crash forgotten. */
Test(limiter, sessions)
{
	size_t size = 1 << 16;
	void *t = table(size);
	struct limit_key k = key('S', 1), other = key('S', 2);

	cr_assert_eq(limiter_session_take(t, &k, 2, 0), 1);
	cr_assert_eq(limiter_session_take(t, &k, 2, 0), 1);
	cr_assert_eq(limiter_session_take(t, &k, 2, 0), 0, "the cap");
	cr_assert_eq(limiter_session_take(t, &other, 2, 0), 1, "another key has its own");
	cr_assert_eq(stats(t, size).session_refusals, 1);
	/* open sessions keep the entry however long they last */
	cr_assert_eq(limiter_blocked(t, &k, 86400000), 0);
	cr_assert_eq(stats(t, size).entries, 2);
	limiter_session_drop(t, &k);
	cr_assert_eq(limiter_session_take(t, &k, 2, 1), 1, "a place given back");
	cr_assert_eq(limiter_session_take(t, &k, 2, 1), 0);
	/* a worker died: counts start again from nothing, dropping below 0 is a no-op */
	limiter_sessions_forget(t);
	limiter_session_drop(t, &k);
	limiter_session_drop(t, &k);
	cr_assert_eq(limiter_session_take(t, &k, 2, 2), 1);
	cr_assert_eq(limiter_session_take(t, &k, 2, 2), 1);
	cr_assert_eq(limiter_session_take(t, &k, 2, 2), 0);
	verify(t);
}

Test(limiter, kinds_are_separate)
{
	void *t = table(1 << 16);
	struct limit_rule r = { .interval_us = 1000000, .burst = 0, .block_ms = 1000 };
	struct limit_key a, u, p;

	limit_key_make(&a, 'a', "10.0.0.1", 8);
	limit_key_make(&u, 'u', "10.0.0.1", 8);
	limit_key_make(&p, 'p', "10.0.0.1", 8);
	cr_assert_eq(limiter_fail(t, &a, &r, 0, NULL), 1);
	cr_assert_eq(limiter_blocked(t, &a, 0), 1000);
	cr_assert_eq(limiter_blocked(t, &u, 0), 0);
	cr_assert_eq(limiter_blocked(t, &p, 0), 0);
}

Test(limiter, should_log_once_per_block)
{
	void *t = table(1 << 16);
	struct limit_rule r = { .interval_us = 1000000, .burst = 0, .block_ms = 1000 };
	struct limit_key k = key('a', 9), other = key('a', 10);

	cr_assert_eq(limiter_should_log(t, &k, 0), 0, "absent key");
	cr_assert_eq(limiter_fail(t, &k, &r, 0, NULL), 1);
	cr_assert_eq(limiter_should_log(t, &k, 0), 1);
	cr_assert_eq(limiter_should_log(t, &k, 10), 0);
	cr_assert_eq(limiter_should_log(t, &k, 999), 0);
	cr_assert_eq(limiter_should_log(t, &other, 10), 0);
	cr_assert_eq(limiter_should_log(t, &k, 1000), 0, "block over");
	cr_assert_eq(limiter_fail(t, &k, &r, 1000, NULL), 1);
	cr_assert_eq(limiter_should_log(t, &k, 1001), 1, "a new block logs again");
	cr_assert_eq(limiter_should_log(t, &k, 1002), 0);
}

/* A block the shared store reports: kept here, logged once, never shortened. */
Test(limiter, store_block_is_kept)
{
	void *t = table(1 << 16);
	struct limit_key k = key('a', 11);
	struct limiter_stats st;

	cr_assert_eq(limiter_block(t, &k, 5000, 100), 1, "a new block");
	cr_assert_eq(limiter_blocked(t, &k, 100), 4900);
	cr_assert_eq(limiter_should_log(t, &k, 100), 1);
	cr_assert_eq(limiter_block(t, &k, 3000, 200), 0, "still blocked: no new block");
	cr_assert_eq(limiter_blocked(t, &k, 200), 4800, "a shorter report does not shorten it");
	cr_assert_eq(limiter_block(t, &k, 9000, 300), 0);
	cr_assert_eq(limiter_blocked(t, &k, 300), 8700, "a longer one lengthens it");
	cr_assert_eq(limiter_should_log(t, &k, 300), 0, "logged once per block");
	cr_assert_eq(limiter_blocked(t, &k, 9000), 0, "over");
	cr_assert_eq(limiter_block(t, &k, 10000, 9500), 1, "a block after the last one ended");
	cr_assert_eq(limiter_should_log(t, &k, 9500), 1);
	limiter_count_store(t, 1);
	limiter_count_store(t, 1);
	limiter_count_store(t, 0);
	cr_assert_eq(limiter_peek_stats(t, 1 << 16, &st), 0);
	cr_assert_eq(st.store_answers, 2);
	cr_assert_eq(st.fallbacks, 1);
	verify(t);
}

Test(limiter, lru_eviction)
{
	size_t size = size_for(16), cap = limiter_capacity(size);
	void *t = table(size);
	struct limit_rule r = { .interval_us = 1000000, .burst = 100, .block_ms = 1000 };
	unsigned level;

	cr_assert_geq(cap, 16);
	cr_assert_lt(cap, 20);
	for (unsigned i = 0; i < cap; i++) {
		struct limit_key k = key('a', i);
		limiter_fail(t, &k, &r, 0, NULL);
	}
	cr_assert_eq(stats(t, size).entries, cap);
	/* Key 0 is the oldest, then 1; touching 0 leaves 1 the oldest. */
	struct limit_key k0 = key('a', 0), k1 = key('a', 1), kn = key('a', 1000);
	cr_assert_eq(limiter_fail(t, &k0, &r, 1, &level), 0);
	cr_assert_eq(level, 2);
	limiter_fail(t, &kn, &r, 2, NULL);
	struct limiter_stats st = stats(t, size);
	cr_assert_eq(st.evictions, 1);
	cr_assert_eq(st.entries, cap);
	cr_assert_eq(limiter_fail(t, &k0, &r, 3, &level), 0);
	cr_assert_eq(level, 3, "the recently touched key was evicted");
	/* Key 1 went: it starts again (and pushes key 2 out). */
	cr_assert_eq(limiter_fail(t, &k1, &r, 4, &level), 0);
	cr_assert_eq(level, 1, "the oldest key survived");
	verify(t);
}

/* A blocked key near the LRU tail outlives a churn of fresh keys that pass it. */
Test(limiter, eviction_spares_blocks)
{
	size_t size = size_for(16), cap = limiter_capacity(size);
	void *t = table(size);
	struct limit_rule r = { .interval_us = 1000000, .burst = 100, .block_ms = 1000 };
	struct limit_rule hard = { .interval_us = 1000000, .burst = 0, .block_ms = 3600000 };
	struct limit_key victim = key('u', 77);

	cr_assert_eq(limiter_fail(t, &victim, &hard, 0, NULL), 1);
	for (unsigned i = 0; i < 10 * cap; i++) {
		struct limit_key k = key('a', i);
		limiter_fail(t, &k, &r, 1, NULL);
	}
	cr_assert_neq(limiter_blocked(t, &victim, 2), 0);
	cr_assert_eq(stats(t, size).evictions, 10 * cap - (cap - 1));
	verify(t);
}

Test(limiter, expired_entries_are_reused)
{
	size_t size = size_for(32), cap = limiter_capacity(size);
	void *t = table(size);
	struct limit_rule r = { .interval_us = 1000000, .burst = 5, .block_ms = 0 };

	for (unsigned i = 0; i < cap; i++) {
		struct limit_key k = key('a', i);
		limiter_fail(t, &k, &r, 0, NULL);
	}
	cr_assert_eq(stats(t, size).entries, cap);
	/* At 1000 ms every bucket is empty: new keys take those entries, evicting none. */
	for (unsigned i = 0; i < cap; i++) {
		struct limit_key k = key('u', i);
		limiter_fail(t, &k, &r, 1000, NULL);
	}
	struct limiter_stats st = stats(t, size);
	cr_assert_eq(st.evictions, 0);
	cr_assert_eq(st.expired, cap);
	cr_assert_eq(st.entries, cap);
	/* A drained key found by a check goes too. */
	struct limit_key k = key('u', 0);
	cr_assert_eq(limiter_blocked(t, &k, 5000), 0);
	cr_assert_eq(stats(t, size).entries, cap - 1);
	verify(t);
}

Test(limiter, init_keeps_and_refuses)
{
	size_t size = 1 << 16;
	void *t = zone(size);
	struct limiter_stats st;
	struct limit_rule r = { .interval_us = 1000000, .burst = 10, .block_ms = 0 };
	struct limit_key k = key('a', 1);
	unsigned level;

	cr_assert_eq(limiter_peek_stats(t, size, &st), -1, "an empty zone holds no table");
	cr_assert_eq(limiter_init(t, size), 0);
	limiter_fail(t, &k, &r, 0, NULL);
	limiter_fail(t, &k, &r, 0, NULL);
	/* A reload with the same zone: the counters stay. */
	cr_assert_eq(limiter_init(t, size), 0);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, &level), 0);
	cr_assert_eq(level, 3);
	cr_assert_eq(stats(t, size).fails, 3);
	/* The same memory taken as another size is laid out afresh. */
	cr_assert_eq(limiter_init(t, size / 2), 0);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, &level), 0);
	cr_assert_eq(level, 1);
	cr_assert_eq(stats(t, size / 2).fails, 1);
	verify(t);
	/* Too small for 16 entries. */
	size_t small = size_for(16) - 64;
	void *s = zone(small);
	cr_assert_eq(limiter_init(s, small), -1);
	cr_assert_eq(limiter_init(s, 0), -1);
	cr_assert_eq(limiter_capacity(0), 0);
	cr_assert_eq(limiter_capacity(100), 0);
	cr_assert_eq(limiter_peek_stats(t, 10, &st), -1);
	/* About 15,000 entries per megabyte. */
	size_t mb = limiter_capacity(1 << 20);
	cr_assert(mb > 15000 && mb < 16500, "%zu per MB", mb);
}

/* Random operations over more keys than fit, time moving on in steps. */
Test(limiter, many_keys)
{
	size_t size = size_for(1000);
	void *t = table(size);
	uint32_t x = 12345;
	uint64_t now = 1;
	uint64_t fails = 0;

	for (int op = 0; op < 100000; op++) {
		x = x * 1103515245u + 12345u;
		struct limit_key k = key("aup"[(x >> 8) % 3], (x >> 12) % 5000);
		struct limit_rule r = { .interval_us = 1000 + (x >> 20) % 100000, .burst = (x >> 4) % 4,
		    .block_ms = (x >> 6) % 2 ? 0 : 500 };
		switch ((x >> 28) % 4) {
		case 0:
		case 1:
			limiter_fail(t, &k, &r, now, NULL);
			fails++;
			break;
		case 2:
			limiter_blocked(t, &k, now);
			limiter_should_log(t, &k, now);
			break;
		case 3:
			limiter_clear(t, &k);
			break;
		}
		now += (x >> 3) % 3;
		if (op % 10000 == 0)
			verify(t);
	}
	verify(t);
	struct limiter_stats st = stats(t, size);
	cr_assert_eq(st.fails, fails);
	cr_assert_leq(st.entries, st.capacity);
	cr_assert_gt(st.evictions + st.expired, 0);
}

static void
wait_all(int n)
{
	for (int i = 0; i < n; i++) {
		int status;
		pid_t p = wait(&status);
		cr_assert_gt(p, 0);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed", (int)p);
	}
}

/* Four processes count into the same keys at one instant: no failure is lost. */
Test(limiter, processes_share_counts)
{
	size_t size = 1 << 20;
	void *t = table(size);
	struct limit_rule r = { .interval_us = 1, .burst = 1000000, .block_ms = 0 };
	enum { CHILDREN = 4, PER = 20000, KEYS = 8 };

	for (int c = 0; c < CHILDREN; c++) {
		pid_t p = fork();
		cr_assert_geq(p, 0);
		if (p == 0) {
			for (int i = 0; i < PER; i++) {
				struct limit_key k = key('a', (unsigned)(i + c) % KEYS);
				limiter_fail(t, &k, &r, 100, NULL);
			}
			_exit(0);
		}
	}
	wait_all(CHILDREN);
	cr_assert_eq(stats(t, size).fails, CHILDREN * PER);
	for (unsigned i = 0; i < KEYS; i++) {
		struct limit_key k = key('a', i);
		unsigned level;
		limiter_fail(t, &k, &r, 100, &level);
		cr_assert_eq(level, CHILDREN * PER / KEYS + 1, "key %u", i);
	}
	verify(t);
}

/* A worker that dies holding the lock wedges nobody and loses no counts. */
Test(limiter, dead_holder)
{
	size_t size = 1 << 16;
	void *t = table(size);
	struct limit_rule r = { .interval_us = 1000000, .burst = 10, .block_ms = 0 };
	struct limit_key k = key('u', 5);
	unsigned level;

	for (int i = 0; i < 3; i++)
		limiter_fail(t, &k, &r, 0, NULL);
	pid_t p = fork();
	cr_assert_geq(p, 0);
	if (p == 0) {
		limiter_test_lock(t);
		_exit(0);
	}
	wait_all(1);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, &level), 0);
	cr_assert_eq(level, 4, "the counts went with the dead holder");
	verify(t);
	/* Twice in a row: the lock is consistent again after the first recovery. */
	p = fork();
	cr_assert_geq(p, 0);
	if (p == 0) {
		limiter_test_lock(t);
		_exit(0);
	}
	wait_all(1);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, &level), 0);
	cr_assert_eq(level, 5);
}

/* Children killed at random points, mid-update or not: the table stays usable and whole. */
Test(limiter, killed_mid_update)
{
	size_t size = size_for(64);
	void *t = table(size);

	for (int round = 0; round < 30; round++) {
		pid_t p = fork();
		cr_assert_geq(p, 0);
		if (p == 0) {
			struct limit_rule r = { .interval_us = 1000, .burst = 2, .block_ms = 0 };
			for (unsigned i = 0;; i++) {
				struct limit_key k = key("aup"[i % 3], i % 500);
				limiter_fail(t, &k, &r, i / 100, NULL);
				if (i % 7 == 0)
					limiter_clear(t, &k);
			}
		}
		usleep((useconds_t)(200 + round * 97 % 1500));
		kill(p, SIGKILL);
		int status;
		cr_assert_eq(waitpid(p, &status, 0), p);
		verify(t);
	}
	struct limit_rule r = { .interval_us = 1000000, .burst = 1, .block_ms = 5 };
	struct limit_key k = key('a', 100000);
	limiter_fail(t, &k, &r, 0, NULL);
	cr_assert_eq(limiter_fail(t, &k, &r, 0, NULL), 1);
	verify(t);
}
