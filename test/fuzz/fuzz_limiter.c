/*
 * The failed-login table (common/limiter.c) driven by a sequence of
 * operations on a few keys with time moving on, checked against a model
 * that keeps one bucket per key in plain variables, written from
 * limiter.h: failures, checks, "should log", clears, blocks the shared
 * store reports, good marks and relayed-session counts. With few keys the
 * table never fills and must agree with the model exactly; with more keys
 * than entries it may only forget (a level never above the model's, no
 * good mark the model lacks, no session refused that the model takes: the
 * cap fails open), and must stay consistent (limiter_verify) after every
 * operation. An odd first byte instead feeds the rest to
 * limit_rule_parse_rate() as a string.
 *
 * Input: mode (bit 0 rate string, bit 1 40 keys, bits 2-3 time scale),
 * the start time, two rules, then operations of two bytes, op and time
 * step: op's low 3 bits the kind (fail under rule 0, 1, 0; blocked twice;
 * should_log; clear; more), the rest the key. Kind 7 takes a third byte
 * x: x & 7 picks limiter_block() until now + (x >> 3) - 2 units (so also
 * in the past), limiter_mark_good() for x >> 3 units, limiter_is_good(),
 * limiter_session_take() with cap (x >> 3) & 7 (twice), _drop() (twice)
 * or limiter_sessions_forget(); a unit is 16 time steps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/limiter.h"
#include "test/fuzz/lib/fuzzb_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_KEYS 40
#define ZONE_SIZE 2048		/* 28 entries */

struct model {
	uint64_t tat_us, blocked_until, good_until;
	int logged;
	uint32_t sessions;
};

static uint64_t
ceil_div(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* The model's failure, written from the header's contract. */
static int
model_fail(struct model *m, const struct limit_rule *r, uint64_t now, unsigned *level)
{
	uint64_t now_us = now * 1000, start = m->tat_us > now_us ? m->tat_us : now_us;
	uint64_t room = (uint64_t)r->burst * r->interval_us;
	int started = 0;

	m->tat_us = start + r->interval_us;
	*level = (unsigned)ceil_div(m->tat_us - now_us, r->interval_us);
	if (m->tat_us - now_us <= room)
		return 0;
	uint64_t free_at = ceil_div(m->tat_us - room, 1000);
	if (m->blocked_until <= now) {
		started = 1;
		m->logged = 0;
		m->blocked_until = r->block_ms ? now + r->block_ms : free_at;
	} else if (r->block_ms == 0 && free_at > m->blocked_until) {
		m->blocked_until = free_at;
	}
	return started;
}

/* Kind 7: the operations of the shared store, good pairs and session caps. */
static void
op_more(void *mem, struct model *m, int nkeys, int ki, const struct limit_key *k, uint8_t x,
    uint64_t now, uint64_t unit, int exact, uint64_t *refusals)
{
	struct model *km = &m[ki];
	uint64_t arg = x >> 3;

	switch (x & 7) {
	case 0: {
		/* A block the store reports: until may lie in the past. */
		uint64_t until = arg >= 2 || now > (2 - arg) * unit ? now + arg * unit - 2 * unit : 0;
		int started = limiter_block(mem, k, until, now);
		int mstarted = km->blocked_until <= now;
		if (mstarted)
			km->logged = 0;
		if (until > km->blocked_until)
			km->blocked_until = until;
		if (exact)
			FUZZB_CHECK(started == mstarted, "key %d at %llu: block until %llu gave %d, model %d",
			    ki, (unsigned long long)now, (unsigned long long)until, started, mstarted);
		if (until > now)
			FUZZB_CHECK(limiter_blocked(mem, k, now) >= until - now,
			    "key %d: blocked less than the store's %llu ms", ki,
			    (unsigned long long)(until - now));
		break;
	}
	case 1:
		limiter_mark_good(mem, k, now, arg * unit);
		km->tat_us = km->blocked_until = 0;
		km->logged = 0;
		km->good_until = now + arg * unit;
		FUZZB_CHECK(limiter_blocked(mem, k, now) == 0, "key %d: blocked after a success", ki);
		break;
	case 2: {
		int good = limiter_is_good(mem, k, now), mgood = km->good_until > now;
		FUZZB_CHECK(good <= mgood, "key %d at %llu: good, model not", ki, (unsigned long long)now);
		if (exact)
			FUZZB_CHECK(good == mgood, "key %d at %llu: is_good %d, model %d", ki,
			    (unsigned long long)now, good, mgood);
		break;
	}
	case 3:
	case 4: {
		uint32_t cap = (uint32_t)(arg & 7);
		int ok = limiter_session_take(mem, k, cap, now), mok = km->sessions < cap;
		if (mok)
			km->sessions++;
		else
			(*refusals)++;
		/* Forgotten counts make the table let more in, never fewer. */
		FUZZB_CHECK(ok >= mok, "key %d: session refused at %u of %u", ki, km->sessions, cap);
		if (exact)
			FUZZB_CHECK(ok == mok, "key %d: session take %d, model %d (%u open, cap %u)", ki,
			    ok, mok, km->sessions - (uint32_t)mok, cap);
		break;
	}
	case 5:
	case 6:
		limiter_session_drop(mem, k);
		if (km->sessions > 0)
			km->sessions--;
		break;
	default:
		limiter_sessions_forget(mem);
		for (int i = 0; i < nkeys; i++)
			m[i].sessions = 0;
		break;
	}
}

/* Accepted means digits, an optional r, a slash and one unit letter, and the
 * interval is the unit over N, rounded. */
static void
check_rate(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	uint64_t us = 0, num = 0, unit = 0;
	size_t i = 0;

	memcpy(s, p, n);
	s[n] = '\0';
	if (limit_rule_parse_rate(s, &us) == 0) {
		for (; s[i] >= '0' && s[i] <= '9'; i++) {
			FUZZB_CHECK(num <= UINT64_MAX / 10 - 1, "accepted an overflowing rate \"%s\"", s);
			num = num * 10 + (uint64_t)(s[i] - '0');
		}
		FUZZB_CHECK(i > 0 && num > 0, "accepted \"%s\" without a count", s);
		if (s[i] == 'r')
			i++;
		FUZZB_CHECK(s[i] == '/' && strlen(s + i) == 2, "accepted \"%s\"", s);
		switch (s[i + 1]) {
		case 's': unit = 1000000; break;
		case 'm': unit = 60000000; break;
		case 'h': unit = 3600000000ULL; break;
		case 'd': unit = 86400000000ULL; break;
		default: fuzzb_fail("accepted the unit of \"%s\"", s);
		}
		FUZZB_CHECK(us >= 1 && us * num + num / 2 >= unit && us * num <= unit + num / 2,
		    "\"%s\" gave %llu us", s, (unsigned long long)us);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *mem;
	struct fuzzb_in in = { data, size };
	struct model m[MAX_KEYS];
	struct limit_key keys[MAX_KEYS];
	struct limit_rule rules[2];
	char err[200];
	uint64_t refusals = 0;
	uint8_t mode = fuzzb_u8(&in);
	uint64_t now = 1 + fuzzb_u8(&in);

	if (mode & 1) {
		check_rate(in.p, in.n);
		return 0;
	}
	if (mem == NULL)
		mem = malloc(ZONE_SIZE);
	/* A fresh table per input: init keeps one that is there. */
	memset(mem, 0, ZONE_SIZE);
	FUZZB_CHECK(limiter_init(mem, ZONE_SIZE) == 0, "init");
	int nkeys = mode & 2 ? MAX_KEYS : 6;
	int exact = nkeys <= (int)limiter_capacity(ZONE_SIZE);
	unsigned time_scale = (mode >> 2) & 3 ? 1u << (4 * ((mode >> 2) & 3)) : 1;
	for (int i = 0; i < 2; i++) {
		uint8_t b = fuzzb_u8(&in);
		rules[i].interval_us = (uint64_t)(1 + fuzzb_u8(&in)) << (b & 15);
		rules[i].burst = (b >> 4) & 3;
		rules[i].block_ms = b & 0x40 ? 0 : (uint64_t)fuzzb_u8(&in) << ((b >> 7) * 8);
	}
	memset(m, 0, sizeof(m));
	for (int i = 0; i < nkeys; i++)
		limit_key_make(&keys[i], "aup"[i % 3], &i, sizeof(i));
	while (in.n > 0) {
		uint8_t op = fuzzb_u8(&in), step = fuzzb_u8(&in);
		int ki = (op >> 3) % nkeys;
		struct limit_key *k = &keys[ki];
		struct model *km = &m[ki];
		unsigned level, mlevel;

		now += (uint64_t)step * time_scale;
		switch (op & 7) {
		case 0:
		case 1:
		case 2: {
			const struct limit_rule *r = &rules[op & 1];
			int started = limiter_fail(mem, k, r, now, &level);
			int mstarted = model_fail(km, r, now, &mlevel);
			FUZZB_CHECK(level >= 1 && level <= mlevel, "level %u, model %u", level, mlevel);
			if (exact)
				FUZZB_CHECK(started == mstarted && level == mlevel,
				    "key %d at %llu: started %d level %u, model %d %u", ki,
				    (unsigned long long)now, started, level, mstarted, mlevel);
			if (started)
				FUZZB_CHECK(limiter_blocked(mem, k, now) > 0, "a block began but is not on");
			break;
		}
		case 3:
		case 4: {
			uint64_t left = limiter_blocked(mem, k, now);
			uint64_t mleft = km->blocked_until > now ? km->blocked_until - now : 0;
			if (exact)
				FUZZB_CHECK(left == mleft, "key %d at %llu: blocked %llu, model %llu", ki,
				    (unsigned long long)now, (unsigned long long)left,
				    (unsigned long long)mleft);
			break;
		}
		case 5: {
			int log = limiter_should_log(mem, k, now);
			int mlog = km->blocked_until > now && !km->logged;
			if (mlog)
				km->logged = 1;
			if (exact)
				FUZZB_CHECK(log == mlog, "key %d: should_log %d, model %d", ki, log, mlog);
			break;
		}
		case 6:
			/* The key is forgotten altogether, session count too (limiter.h). */
			limiter_clear(mem, k);
			memset(km, 0, sizeof(*km));
			break;
		default:
			op_more(mem, m, nkeys, ki, k, fuzzb_u8(&in), now, 16 * (uint64_t)time_scale, exact,
			    &refusals);
			break;
		}
		FUZZB_CHECK(limiter_verify(mem, err, sizeof(err)) == 0, "table: %s", err);
	}
	struct limiter_stats st;
	FUZZB_CHECK(limiter_peek_stats(mem, ZONE_SIZE, &st) == 0 && st.entries <= st.capacity,
	    "stats");
	FUZZB_CHECK(exact ? st.session_refusals == refusals : st.session_refusals <= refusals,
	    "%llu session refusals counted, model %llu", (unsigned long long)st.session_refusals,
	    (unsigned long long)refusals);
	return 0;
}
