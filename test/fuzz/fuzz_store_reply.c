/*
 * The answers of login_limit_store's Lua scripts (worker/lookup/limit_store.c)
 * as Redis could send them: the input is a reply stream, cut into chunks at
 * input-chosen points and fed to a hiredis reader as the connection feeds
 * it; every complete reply goes to limit_store_parse_check() or
 * limit_store_parse_fail(), as check_reply() and fail_reply() hand it on.
 *
 * The model of what may be accepted looks at the reply itself, written here
 * apart from limit_store.c's elem(): a check answer is an array of exactly
 * 3 integers, all >= 0, the first (which key, 0 for none) at most 3 and the
 * third (the pair's good mark) 0 or 1; a fail answer an array of exactly 3
 * integers >= 0 per key sent (started 0 or 1, level, ms left), in key order.
 * Accepted, the fields hold those numbers (a level above UINT_MAX reads as
 * UINT_MAX) and keys not sent keep what they had; refused, the struct is
 * left as it was. A protocol error from the reader ends the input (the
 * connection would drop); a NULL reply (no answer in time) is refused.
 *
 * Input: byte 0 bit 0 fail (else check), bits 1-3 the keys sent for fail
 * (struct store_fail's sent), then 3 bytes of chunking (fuzzb_input.h),
 * then the stream.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include "test/fuzz/lib/fuzzb_input.h"
#include "test/fuzz/lib/fuzzb_redis.h"
#include "worker/lookup/limit_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZB_VERBOSE=1: what the model made of each reply (to choose seeds). */
static void
trace(const char *what, const redisReply *rp, int ok)
{
	if (getenv("FUZZB_VERBOSE") != NULL)
		fprintf(stderr, "%s: %s reply (type %d, %zu elements) %s\n", what, rp ? "a" : "no",
		    rp ? rp->type : 0, rp ? rp->elements : 0, ok ? "accepted" : "refused");
}

/* The i-th element of an array reply as a number >= 0, or -1. */
static long long
number(const redisReply *rp, size_t i)
{
	const redisReply *e = rp->element[i];

	return e->type == REDIS_REPLY_INTEGER && e->integer >= 0 ? e->integer : -1;
}

static void
judge_check(const redisReply *rp)
{
	struct store_check sc, before;
	long long v[3] = { -1, -1, -1 };
	int ok = rp != NULL && rp->type == REDIS_REPLY_ARRAY && rp->elements == 3;

	for (size_t i = 0; ok && i < 3; i++)
		ok = (v[i] = number(rp, i)) >= 0;
	ok = ok && v[0] <= STORE_NKEYS && v[2] <= 1;

	trace("check", rp, ok);
	memset(&sc, 0xa5, sizeof(sc));
	memcpy(&before, &sc, sizeof(sc));
	int rc = limit_store_parse_check(rp, &sc);
	FUZZB_CHECK(rc == (ok ? 0 : -1), "parse_check gave %d for a reply the model %s", rc,
	    ok ? "accepts" : "refuses");
	if (!ok) {
		FUZZB_CHECK(memcmp(&sc, &before, sizeof(sc)) == 0, "a refused check answer changed sc");
		return;
	}
	FUZZB_CHECK(sc.blocked == (int)v[0] - 1 && sc.blocked >= -1 && sc.blocked < STORE_NKEYS,
	    "blocked %d for %lld", sc.blocked, v[0]);
	FUZZB_CHECK(sc.left_ms == (uint64_t)v[1], "left_ms %llu for %lld",
	    (unsigned long long)sc.left_ms, v[1]);
	FUZZB_CHECK(sc.good == (int)v[2], "good %d for %lld", sc.good, v[2]);
	FUZZB_CHECK(sc.done == before.done && sc.req == before.req && sc.c == before.c,
	    "parse_check touched the caller's fields");
}

static void
judge_fail(const redisReply *rp, unsigned sent)
{
	struct store_fail sf, before;
	long long v[3 * STORE_NKEYS];
	size_t n = 0;
	int ok;

	for (int i = 0; i < STORE_NKEYS; i++)
		n += sent >> i & 1;
	n *= 3;
	ok = rp != NULL && rp->type == REDIS_REPLY_ARRAY && rp->elements == n;
	for (size_t j = 0; ok && j < n; j++)
		ok = (v[j] = number(rp, j)) >= 0 && (j % 3 != 0 || v[j] <= 1);

	trace("fail", rp, ok);
	memset(&sf, 0x5a, sizeof(sf));
	sf.sent = sent;
	memcpy(&before, &sf, sizeof(sf));
	int rc = limit_store_parse_fail(rp, &sf);
	FUZZB_CHECK(rc == (ok ? 0 : -1), "parse_fail (sent %u) gave %d for a reply the model %s",
	    sent, rc, ok ? "accepts" : "refuses");
	if (!ok) {
		FUZZB_CHECK(memcmp(&sf, &before, sizeof(sf)) == 0, "a refused fail answer changed sf");
		return;
	}
	FUZZB_CHECK(sf.sent == sent && sf.done == before.done && sf.req == before.req &&
	    sf.c == before.c, "parse_fail touched the caller's fields");
	for (int i = 0, j = 0; i < STORE_NKEYS; i++) {
		if (!(sent >> i & 1)) {
			FUZZB_CHECK(memcmp(&sf.res[i], &before.res[i], sizeof(sf.res[i])) == 0,
			    "parse_fail wrote res[%d], a key not sent (sent %u)", i, sent);
			continue;
		}
		unsigned level = v[j + 1] > UINT_MAX ? UINT_MAX : (unsigned)v[j + 1];
		FUZZB_CHECK(sf.res[i].started == (int)v[j] && sf.res[i].level == level &&
		    sf.res[i].left_ms == (uint64_t)v[j + 2],
		    "res[%d] = {%d, %u, %llu}, reply {%lld, %lld, %lld}", i, sf.res[i].started,
		    sf.res[i].level, (unsigned long long)sf.res[i].left_ms, v[j], v[j + 1], v[j + 2]);
		j += 3;
	}
}

static void
judge_fail_reply(const redisReply *rp, void *arg)
{
	judge_fail(rp, *(const unsigned *)arg);
}

static void
judge_check_reply(const redisReply *rp, void *arg)
{
	(void)arg;
	judge_check(rp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzzb_in in = { data, size };
	struct fuzzb_chunker ch;
	uint8_t mode = fuzzb_u8(&in);
	unsigned sent = (mode >> 1) & 7;
	size_t len;
	const uint8_t *stream;

	fuzzb_chunker_init(&ch, &in);
	stream = fuzzb_bytes(&in, in.n, &len);
	if (fuzzb_redis_huge_count(stream, len))
		return 0;
	/* No answer in time: the callbacks get NULL. */
	if (mode & 1)
		judge_fail(NULL, sent);
	else
		judge_check(NULL);
	/* Garbage on the wire: the connection drops, nothing more is read. */
	fuzzb_redis_replies(stream, len, &ch, mode & 1 ? judge_fail_reply : judge_check_reply, &sent);
	return 0;
}
