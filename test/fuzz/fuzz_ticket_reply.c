/*
 * The MGET answer of ssl_session_ticket_key_store (worker/lookup/ticket_store.c)
 * as Redis could send it: the input is a reply stream, cut into chunks at
 * input-chosen points and fed to a hiredis reader as the connection feeds
 * it; every complete reply goes to ticket_store_parse(), then, accepted, into
 * a ring (common/ticketring.c) as on_mget() hands it on.
 *
 * The model of what may be accepted reads the reply itself: an array of
 * exactly 3 elements, each nil or a string of exactly 80 bytes. Accepted,
 * have has bit i set for the strings, each such key holds nginx's layout of
 * its bytes (name, HMAC key, AES key) and the nil slots are untouched;
 * refused, the keys and have are left as they were. Then the ring: the key
 * of the current period encrypts if the answer had one, else a local key
 * does; every key of the answer decrypts; never more than
 * TICKETRING_MAX_KEYS. A protocol error from the reader ends the input (the
 * connection would drop); a NULL reply (no answer in time) is refused.
 *
 * Input: byte 0 the period's offset (seconds) in the ring test, then 3 bytes
 * of chunking (fuzzb_input.h), then the stream.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include "common/ticketring.h"
#include "test/fuzz/lib/fuzzb_input.h"
#include "test/fuzz/lib/fuzzb_redis.h"
#include "worker/lookup/ticket_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PERIOD 60
#define P0 ((uint64_t)29000000)

static _Alignas(64) uint8_t zone[TICKETRING_ZONE_SIZE];

static void
trace(const redisReply *rp, int ok)
{
	if (getenv("FUZZB_VERBOSE") != NULL)
		fprintf(stderr, "%s reply (type %d, %zu elements) %s\n", rp ? "a" : "no",
		    rp ? rp->type : 0, rp ? rp->elements : 0, ok ? "accepted" : "refused");
}

static int
holds(const struct ticket_key *keys, int n, const struct ticket_key *k)
{
	for (int i = 0; i < n; i++)
		if (memcmp(keys[i].name, k->name, 16) == 0 && memcmp(keys[i].aes, k->aes, 32) == 0 &&
		    memcmp(keys[i].hmac, k->hmac, 32) == 0)
			return 1;
	return 0;
}

static void
judge(const redisReply *rp, uint8_t offset)
{
	struct ticket_key keys[3], before[3];
	unsigned have = 0x55, want = 0;
	int ok = rp != NULL && rp->type == REDIS_REPLY_ARRAY && rp->elements == 3;

	for (size_t i = 0; ok && i < 3; i++) {
		const redisReply *e = rp->element[i];
		if (e->type == REDIS_REPLY_STRING && e->len == 80)
			want |= 1u << i;
		else if (e->type != REDIS_REPLY_NIL)
			ok = 0;
	}
	trace(rp, ok);
	memset(keys, 0xa5, sizeof(keys));
	memcpy(before, keys, sizeof(keys));
	int rc = ticket_store_parse(rp, keys, &have);
	FUZZB_CHECK(rc == (ok ? 0 : -1), "parse gave %d for a reply the model %s", rc,
	    ok ? "accepts" : "refuses");
	if (!ok) {
		FUZZB_CHECK(memcmp(keys, before, sizeof(keys)) == 0 && have == 0x55,
		    "a refused answer changed the keys");
		return;
	}
	FUZZB_CHECK(have == want, "have %u, the model %u", have, want);
	for (size_t i = 0; i < 3; i++) {
		if (!(want >> i & 1)) {
			FUZZB_CHECK(memcmp(&keys[i], &before[i], sizeof(keys[i])) == 0,
			    "a nil element wrote key %zu", i);
			continue;
		}
		const uint8_t *b = (const uint8_t *)rp->element[i]->str;
		FUZZB_CHECK(memcmp(keys[i].name, b, 16) == 0 && memcmp(keys[i].hmac, b + 16, 32) == 0 &&
		    memcmp(keys[i].aes, b + 48, 32) == 0 && keys[i].size == 80,
		    "key %zu is not nginx's layout of its bytes", i);
	}

	/* Into a fresh ring, and the keys a handshake in period P0 gets. */
	struct ticket_key out[TICKETRING_MAX_KEYS];
	uint64_t version;
	memset(zone, 0, sizeof(zone));
	FUZZB_CHECK(ticketring_init(zone, sizeof(zone)) == 0, "ring init");
	ticketring_put(zone, P0, keys, have);
	int n = ticketring_keys(zone, P0 * PERIOD + offset % PERIOD, PERIOD, out, &version);
	FUZZB_CHECK(n >= 1 && n <= TICKETRING_MAX_KEYS, "%d keys", n);
	if (have & 2)
		FUZZB_CHECK(memcmp(out[0].name, keys[1].name, 16) == 0,
		    "the current period's key does not encrypt");
	for (size_t i = 0; i < 3; i++)
		if (have >> i & 1)
			FUZZB_CHECK(holds(out, n, &keys[i]), "key %zu of the answer does not decrypt", i);
}

static void
judge_reply(const redisReply *rp, void *arg)
{
	judge(rp, *(const uint8_t *)arg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzzb_in in = { data, size };
	struct fuzzb_chunker ch;
	uint8_t offset = fuzzb_u8(&in);
	size_t len;
	const uint8_t *stream;

	fuzzb_chunker_init(&ch, &in);
	stream = fuzzb_bytes(&in, in.n, &len);
	if (fuzzb_redis_huge_count(stream, len))
		return 0;
	judge(NULL, offset);
	fuzzb_redis_replies(stream, len, &ch, judge_reply, &offset);
	return 0;
}
