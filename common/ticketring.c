/*
 * The shared ticket key ring; see ticketring.h. A slot is valid for one
 * period number; slots outside p-1 .. p+1 are dead and reused.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/shm.h"
#include "common/ticketring.h"

#define RING_MAGIC 0x6d707469636b3031ULL	/* "mptick01" */

struct slot {
	uint64_t period;
	uint32_t valid;
	uint32_t pad;
	struct ticket_key key;
};

struct ring_hdr {
	uint64_t magic;
	pthread_mutex_t lock;
	uint64_t version;	/* written under the lock, read without it */
	struct slot redis[3];
	struct slot local[2];	/* [0] the newest */
	uint64_t fetch_ok, fetch_error;
	uint32_t source;
};

_Static_assert(sizeof(struct ring_hdr) <= TICKETRING_ZONE_SIZE, "ring fits its zone");

void
ticketring_zone_name(char *buf, size_t len, const char *cache_zone)
{
	snprintf(buf, len, TICKETRING_ZONE_PREFIX "%s", cache_zone);
}

int
ticketring_init(void *mem, size_t size)
{
	struct ring_hdr *h = mem;

	if (size < sizeof(*h))
		return -1;
	if (h->magic == RING_MAGIC)
		return 0;
	memset(h, 0, sizeof(*h));
	if (shm_mutex_init(&h->lock) < 0)
		return -1;
	__atomic_store_n(&h->magic, RING_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

/* A worker that died holding the lock wrote a slot or a counter at most:
 * the slots are whole or marked invalid first, so they stay usable. */
static void
lock(struct ring_hdr *h)
{
	shm_mutex_lock(&h->lock);
}

static void
unlock(struct ring_hdr *h)
{
	shm_mutex_unlock(&h->lock);
}

void
ticketring_key_from_bytes(struct ticket_key *k, const uint8_t b[TICKETRING_KEY_BYTES])
{
	memcpy(k->name, b, 16);
	memcpy(k->hmac, b + 16, 32);
	memcpy(k->aes, b + 48, 32);
	k->size = TICKETRING_KEY_BYTES;
	k->expires = 0;
}

void
ticketring_key_to_bytes(const struct ticket_key *k, uint8_t b[TICKETRING_KEY_BYTES])
{
	memcpy(b, k->name, 16);
	memcpy(b + 16, k->hmac, 32);
	memcpy(b + 48, k->aes, 32);
}

static int
live(const struct slot *s, uint64_t p)
{
	return s->valid && s->period + 1 >= p && s->period <= p + 1;
}

static void
set_slot(struct slot *s, uint64_t period, const struct ticket_key *k)
{
	s->valid = 0;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	s->period = period;
	s->key = *k;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	s->valid = 1;
}

void
ticketring_put(void *mem, uint64_t p, const struct ticket_key keys[3], unsigned have)
{
	struct ring_hdr *h = mem;

	lock(h);
	for (int i = 0; i < 3; i++) {
		uint64_t q = p - 1 + (uint64_t)i;
		struct slot *to = NULL;
		if (!(have >> i & 1))
			continue;
		/* The slot of that period, else a dead one, else the oldest. */
		for (int j = 0; j < 3 && to == NULL; j++)
			if (h->redis[j].valid && h->redis[j].period == q)
				to = &h->redis[j];
		for (int j = 0; j < 3 && to == NULL; j++)
			if (!live(&h->redis[j], p))
				to = &h->redis[j];
		if (to == NULL) {
			to = &h->redis[0];
			for (int j = 1; j < 3; j++)
				if (h->redis[j].period < to->period)
					to = &h->redis[j];
		}
		set_slot(to, q, &keys[i]);
	}
	__atomic_fetch_add(&h->version, 1, __ATOMIC_RELEASE);
	unlock(h);
}

/* A key that could not be made at random is no key at all: never a guessable one. */
static int
new_local(struct ring_hdr *h, uint64_t p)
{
	struct ticket_key k;
	int ok = RAND_bytes(k.name, sizeof(k.name)) == 1 && RAND_bytes(k.aes, sizeof(k.aes)) == 1 &&
	    RAND_bytes(k.hmac, sizeof(k.hmac)) == 1;

	if (ok) {
		k.size = TICKETRING_KEY_BYTES;
		k.expires = 0;
		if (h->local[0].valid)
			set_slot(&h->local[1], h->local[0].period, &h->local[0].key);
		set_slot(&h->local[0], p, &k);
		__atomic_fetch_add(&h->version, 1, __ATOMIC_RELEASE);
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return ok ? 0 : -1;
}

static const struct slot *
find(const struct slot *s, int n, uint64_t q)
{
	for (int i = 0; i < n; i++)
		if (s[i].valid && s[i].period == q)
			return &s[i];
	return NULL;
}

int
ticketring_keys(void *mem, uint64_t now, uint64_t period_s,
    struct ticket_key keys[TICKETRING_MAX_KEYS], uint64_t *version)
{
	struct ring_hdr *h = mem;
	uint64_t p = ticketring_period(now, period_s);
	const struct slot *enc;
	int n = 0;

	lock(h);
	enc = find(h->redis, 3, p);
	h->source = TICKET_SOURCE_REDIS;
	if (enc == NULL) {
		h->source = TICKET_SOURCE_LOCAL;
		if (find(h->local, 2, p) == NULL && new_local(h, p) < 0)
			h->source = TICKET_SOURCE_NONE;
		enc = find(h->local, 2, p);
	}
	if (enc != NULL) {
		keys[n] = enc->key;
		keys[n++].expires = ticketring_period_end(p, period_s);
		/* Decrypt only: the neighbours from Redis, then this node's own. */
		const struct slot *dec[] = { find(h->redis, 3, p - 1), find(h->redis, 3, p + 1),
		    find(h->local, 2, p), find(h->local, 2, p - 1) };
		for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++)
			if (dec[i] != NULL && dec[i] != enc && n < TICKETRING_MAX_KEYS) {
				keys[n] = dec[i]->key;
				keys[n++].expires = ticketring_period_end(p, period_s);
			}
	}
	*version = __atomic_load_n(&h->version, __ATOMIC_ACQUIRE);
	unlock(h);
	return n;
}

uint64_t
ticketring_version(const void *mem)
{
	const struct ring_hdr *h = mem;

	return __atomic_load_n(&h->version, __ATOMIC_ACQUIRE);
}

void
ticketring_count(void *mem, int ok)
{
	struct ring_hdr *h = mem;

	__atomic_fetch_add(ok ? &h->fetch_ok : &h->fetch_error, 1, __ATOMIC_RELAXED);
}

int
ticketring_peek_stats(const void *mem, size_t size, struct ticketring_stats *st)
{
	const struct ring_hdr *h = mem;

	if (size < sizeof(*h) || __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != RING_MAGIC)
		return -1;
	st->fetch_ok = __atomic_load_n(&h->fetch_ok, __ATOMIC_RELAXED);
	st->fetch_error = __atomic_load_n(&h->fetch_error, __ATOMIC_RELAXED);
	st->source = __atomic_load_n(&h->source, __ATOMIC_RELAXED);
	return 0;
}
