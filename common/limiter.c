/*
 * Failed-login counters in a shared zone; see limiter.h. Layout in the zone:
 *   struct table_hdr | uint32_t buckets[nbuckets] | struct entry entries[n]
 * Entry indexes are 1-based so that 0 means "none". A used entry is on its
 * hash chain and on the LRU list; a free one is on the free list. The bucket
 * of a key is a SipHash of it under a secret kept in the zone, so clients
 * cannot pile their keys into one chain that every worker then walks.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/limiter.h"
#include "common/shm.h"

#define TABLE_MAGIC 0x6d706c696d697431ULL	/* "mplimit1" */
/* Bumped by hand when the meaning changes; the sizes catch a forgotten bump. */
#define TABLE_VERSION 1
#define TABLE_LAYOUT ((uint32_t)(TABLE_VERSION << 24 | sizeof(struct table_hdr) << 8 | \
    sizeof(struct entry)))
#define MIN_ENTRIES 16
/* How far from the LRU tail a new key looks for an entry to take. */
#define EVICT_SCAN 8
/* Drained entries at the LRU tail freed per failure, as nginx's limit_req does. */
#define REAP_PER_FAIL 2

#define E_USED 1u
#define E_LOGGED 2u

struct entry {
	uint8_t key[LIMIT_KEY_LEN];
	uint64_t tat_us;	/* theoretical arrival time: the bucket is empty then */
	uint64_t blocked_until;	/* ms */
	uint32_t hnext;		/* hash chain, or the free list */
	uint32_t prev, next;	/* LRU list, most recent first */
	uint32_t bucket;
	uint32_t flags;
	uint32_t sessions;	/* relayed sessions of this key now (limit_sessions_*) */
	uint64_t good_until;	/* ms: the pair logged in; its address and login are not blocked for it */
};

_Static_assert(sizeof(struct entry) == 64, "entry layout");

struct table_hdr {
	uint64_t magic;
	uint32_t layout, pad;
	uint64_t size;		/* of the whole table, as given to limiter_init() */
	pthread_mutex_t lock;
	uint8_t secret[16];
	uint32_t nbuckets, nentries;	/* nbuckets is a power of two */
	uint32_t lru_head, lru_tail;
	uint32_t free_head, nused;
	struct limiter_stats st;
};

/* SipHash-2-4, byte by byte: keys are short, and this way the kind byte and
 * the data hash as one message without being copied together. */
struct sip {
	uint64_t v0, v1, v2, v3;
	uint64_t m;
	size_t n;
};

static uint64_t
rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static void
sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v2 += s->v3;
	s->v1 = rotl(s->v1, 13);
	s->v3 = rotl(s->v3, 16);
	s->v1 ^= s->v0;
	s->v3 ^= s->v2;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v1;
	s->v0 += s->v3;
	s->v1 = rotl(s->v1, 17);
	s->v3 = rotl(s->v3, 21);
	s->v1 ^= s->v2;
	s->v3 ^= s->v0;
	s->v2 = rotl(s->v2, 32);
}

static uint64_t
le64(const uint8_t *p)
{
	uint64_t x = 0;

	for (int i = 7; i >= 0; i--)
		x = x << 8 | p[i];
	return x;
}

static void
sip_init(struct sip *s, const uint8_t key[16])
{
	uint64_t k0 = le64(key), k1 = le64(key + 8);

	s->v0 = k0 ^ 0x736f6d6570736575ULL;
	s->v1 = k1 ^ 0x646f72616e646f6dULL;
	s->v2 = k0 ^ 0x6c7967656e657261ULL;
	s->v3 = k1 ^ 0x7465646279746573ULL;
	s->m = 0;
	s->n = 0;
}

static void
sip_word(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

static void
sip_add(struct sip *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		s->m |= (uint64_t)p[i] << (8 * (s->n & 7));
		if ((++s->n & 7) == 0) {
			sip_word(s, s->m);
			s->m = 0;
		}
	}
}

static uint64_t
sip_end(struct sip *s)
{
	/* The last word carries the message length mod 256 in its top byte. */
	sip_word(s, s->m | (uint64_t)(s->n & 0xff) << 56);
	s->v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

uint64_t
limit_siphash(const uint8_t key[16], const void *data, size_t len)
{
	struct sip s;

	sip_init(&s, key);
	sip_add(&s, data, len);
	return sip_end(&s);
}

void
limit_key_make(struct limit_key *k, char kind, const void *data, size_t len)
{
	/* Fixed and public: these only spread arbitrary lengths over 128 bits.
	 * What must stay unpredictable is the bucket, under the zone's secret. */
	static const uint8_t ka[16] = "mailproxy-limitA", kb[16] = "mailproxy-limitB";
	uint8_t c = (uint8_t)kind;
	struct sip s;
	uint64_t h[2];

	for (int i = 0; i < 2; i++) {
		sip_init(&s, i == 0 ? ka : kb);
		sip_add(&s, &c, 1);
		sip_add(&s, data, len);
		h[i] = sip_end(&s);
	}
	for (int i = 0; i < 8; i++) {
		k->b[i] = (uint8_t)(h[0] >> (8 * i));
		k->b[8 + i] = (uint8_t)(h[1] >> (8 * i));
	}
}

int
limit_rule_parse_rate(const char *s, uint64_t *interval_us)
{
	uint64_t n = 0, unit;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p == 'r')
		p++;
	if (*p++ != '/' || p[0] == '\0' || p[1] != '\0')
		return -1;
	switch (p[0]) {
	case 's': unit = 1000000ULL; break;
	case 'm': unit = 60ULL * 1000000; break;
	case 'h': unit = 3600ULL * 1000000; break;
	case 'd': unit = 86400ULL * 1000000; break;
	default: return -1;
	}
	/* More than one failure per microsecond cannot be told apart. */
	if (n == 0 || n > unit)
		return -1;
	*interval_us = (unit + n / 2) / n;
	return 0;
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t
sat_mul(uint64_t a, uint64_t b)
{
	return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static uint32_t *
buckets(struct table_hdr *h)
{
	return (uint32_t *)(h + 1);
}

/* The entries start cache-line aligned after the buckets. */
static size_t
entries_off(uint32_t nbuckets)
{
	size_t off = sizeof(struct table_hdr) + (size_t)nbuckets * sizeof(uint32_t);

	return (off + 63) & ~(size_t)63;
}

static struct entry *
ent(struct table_hdr *h, uint32_t i)
{
	return (struct entry *)((char *)h + entries_off(h->nbuckets)) + (i - 1);
}

static uint32_t
pow2_floor(size_t n)
{
	uint32_t p = 1;

	while (p <= UINT32_MAX / 2 && (size_t)p * 2 <= n)
		p *= 2;
	return p;
}

/* Entries for size bytes, and the buckets they get: at least one per two. */
static size_t
layout(size_t size, uint32_t *nbuckets)
{
	size_t n, fixed = sizeof(struct table_hdr) + 64;

	if (size < fixed)
		return 0;
	n = (size - fixed) / (sizeof(struct entry) + sizeof(uint32_t));
	if (n > UINT32_MAX - 1)
		n = UINT32_MAX - 1;
	*nbuckets = pow2_floor(n);
	/* pow2_floor() left bucket room spare: it goes to entries. */
	n = (size - entries_off(*nbuckets)) / sizeof(struct entry);
	return n > UINT32_MAX - 1 ? UINT32_MAX - 1 : n;
}

size_t
limiter_capacity(size_t size)
{
	uint32_t nb;

	return layout(size, &nb);
}

/* Random when the kernel gives it; otherwise a guess that still differs per
 * boot and start, as the secret only guards the chains against flooding. */
static void
new_secret(uint8_t secret[16])
{
	struct timespec a, b;
	pid_t pid = getpid();
	uint8_t seed[40];

	if (getrandom(secret, 16, GRND_NONBLOCK) == 16)
		return;
	clock_gettime(CLOCK_REALTIME, &a);
	clock_gettime(CLOCK_MONOTONIC, &b);
	memset(seed, 0, sizeof(seed));
	memcpy(seed, &a, sizeof(a) < 16 ? sizeof(a) : 16);
	memcpy(seed + 16, &b, sizeof(b) < 16 ? sizeof(b) : 16);
	memcpy(seed + 32, &pid, sizeof(pid));
	uint64_t x = limit_siphash((const uint8_t *)"mailproxy-seed-1", seed, sizeof(seed));
	uint64_t y = limit_siphash((const uint8_t *)"mailproxy-seed-2", seed, sizeof(seed));
	memcpy(secret, &x, 8);
	memcpy(secret + 8, &y, 8);
}

static uint32_t
bucket_of(struct table_hdr *h, const uint8_t *key)
{
	return (uint32_t)limit_siphash(h->secret, key, LIMIT_KEY_LEN) & (h->nbuckets - 1);
}

static void
lru_unlink(struct table_hdr *h, uint32_t i)
{
	struct entry *e = ent(h, i);

	if (e->prev)
		ent(h, e->prev)->next = e->next;
	else
		h->lru_head = e->next;
	if (e->next)
		ent(h, e->next)->prev = e->prev;
	else
		h->lru_tail = e->prev;
	e->prev = e->next = 0;
}

static void
lru_push(struct table_hdr *h, uint32_t i)
{
	struct entry *e = ent(h, i);

	e->prev = 0;
	e->next = h->lru_head;
	if (h->lru_head)
		ent(h, h->lru_head)->prev = i;
	h->lru_head = i;
	if (h->lru_tail == 0)
		h->lru_tail = i;
}

static void
lru_append(struct table_hdr *h, uint32_t i)
{
	struct entry *e = ent(h, i);

	e->next = 0;
	e->prev = h->lru_tail;
	if (h->lru_tail)
		ent(h, h->lru_tail)->next = i;
	h->lru_tail = i;
	if (h->lru_head == 0)
		h->lru_head = i;
}

static void
free_push(struct table_hdr *h, uint32_t i)
{
	struct entry *e = ent(h, i);

	memset(e, 0, sizeof(*e));
	e->hnext = h->free_head;
	h->free_head = i;
}

static uint32_t
find(struct table_hdr *h, const uint8_t *key)
{
	uint32_t i = buckets(h)[bucket_of(h, key)];

	while (i) {
		struct entry *e = ent(h, i);
		if (memcmp(e->key, key, LIMIT_KEY_LEN) == 0)
			return i;
		i = e->hnext;
	}
	return 0;
}

/* Unlinks a used entry from its chain and the LRU list and frees it. */
static void
drop(struct table_hdr *h, uint32_t i)
{
	struct entry *e = ent(h, i);
	uint32_t *pp = &buckets(h)[e->bucket];

	e->flags = 0;
	while (*pp && *pp != i)
		pp = &ent(h, *pp)->hnext;
	if (*pp == i)
		*pp = e->hnext;
	lru_unlink(h, i);
	free_push(h, i);
	h->nused--;
	h->st.entries = h->nused;
}

static int
drained(const struct entry *e, uint64_t now_ms)
{
	return e->tat_us <= sat_mul(now_ms, 1000) && e->blocked_until <= now_ms &&
	    e->good_until <= now_ms && e->sessions == 0;
}

/* Links a free entry in as k's; the caller has made sure one is free. */
static uint32_t
insert(struct table_hdr *h, const uint8_t *key)
{
	uint32_t i = h->free_head;
	struct entry *e = ent(h, i);

	h->free_head = e->hnext;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, LIMIT_KEY_LEN);
	e->bucket = bucket_of(h, key);
	e->hnext = buckets(h)[e->bucket];
	buckets(h)[e->bucket] = i;
	lru_push(h, i);
	e->flags = E_USED;
	h->nused++;
	h->st.entries = h->nused;
	return i;
}

/*
 * Makes room for one more key. Near the LRU tail, a drained entry goes
 * first, then one that is not blocked, and only then the tail itself: a
 * client churning through fresh addresses should not push the blocks out.
 */
static void
make_room(struct table_hdr *h, uint64_t now_ms)
{
	uint32_t pick = 0, i = h->lru_tail;

	if (h->free_head)
		return;
	for (int n = 0; i && n < EVICT_SCAN; n++, i = ent(h, i)->prev) {
		struct entry *e = ent(h, i);
		if (drained(e, now_ms)) {
			h->st.expired++;
			drop(h, i);
			return;
		}
		if (pick == 0 && e->blocked_until <= now_ms)
			pick = i;
	}
	h->st.evictions++;
	drop(h, pick ? pick : h->lru_tail);
}

/* key's entry, made most recently used; a new one (room made) when absent. */
static uint32_t
find_or_add(struct table_hdr *h, const uint8_t *key, uint64_t now_ms)
{
	uint32_t i = find(h, key);

	if (i) {
		lru_unlink(h, i);
		lru_push(h, i);
		return i;
	}
	make_room(h, now_ms);
	return insert(h, key);
}

/* Frees a few drained entries at the LRU tail, so the entry count stays
 * close to the keys that still count something. */
static void
reap(struct table_hdr *h, uint64_t now_ms)
{
	for (int n = 0; n < REAP_PER_FAIL && h->lru_tail; n++) {
		if (!drained(ent(h, h->lru_tail), now_ms))
			return;
		h->st.expired++;
		drop(h, h->lru_tail);
	}
}

/*
 * Rebuilds the chains, the LRU list and the free list from the entries'
 * own flags and keys, after a worker died holding the lock: the lists may be
 * half linked, but each entry's counters were written in place. Dropping
 * them instead, as the TLS cache does, would forgive every client a crash
 * away. The LRU order is lost (scan order); a key found twice keeps the
 * larger counts.
 */
static void
rebuild(struct table_hdr *h)
{
	memset(buckets(h), 0, (size_t)h->nbuckets * sizeof(uint32_t));
	h->lru_head = h->lru_tail = 0;
	h->free_head = 0;
	h->nused = 0;
	for (uint32_t i = h->nentries; i >= 1; i--) {
		struct entry *e = ent(h, i);
		uint32_t j;

		if (!(e->flags & E_USED)) {
			free_push(h, i);
			continue;
		}
		if ((j = find(h, e->key)) != 0) {
			struct entry *o = ent(h, j);
			if (e->tat_us > o->tat_us)
				o->tat_us = e->tat_us;
			if (e->blocked_until > o->blocked_until)
				o->blocked_until = e->blocked_until;
			free_push(h, i);
			continue;
		}
		e->flags &= E_USED | E_LOGGED;
		e->bucket = bucket_of(h, e->key);
		e->hnext = buckets(h)[e->bucket];
		buckets(h)[e->bucket] = i;
		lru_append(h, i);
		h->nused++;
	}
	h->st.entries = h->nused;
}

static struct table_hdr *
lock(void *mem)
{
	struct table_hdr *h = mem;

	if (shm_mutex_lock(&h->lock))
		rebuild(h);
	return h;
}

static void
unlock(struct table_hdr *h)
{
	shm_mutex_unlock(&h->lock);
}

int
limiter_init(void *mem, size_t size)
{
	struct table_hdr *h = mem;
	uint32_t nb = 0;
	size_t n = layout(size, &nb);

	if (n < MIN_ENTRIES)
		return -1;
	if (h->magic == TABLE_MAGIC && h->layout == TABLE_LAYOUT && h->size == size &&
	    h->nentries == n && h->nbuckets == nb)
		return 0;
	memset(h, 0, sizeof(*h));
	if (shm_mutex_init(&h->lock) < 0)
		return -1;
	new_secret(h->secret);
	h->layout = TABLE_LAYOUT;
	h->size = size;
	h->nbuckets = nb;
	h->nentries = (uint32_t)n;
	memset(buckets(h), 0, (size_t)nb * sizeof(uint32_t));
	for (uint32_t i = h->nentries; i >= 1; i--)
		free_push(h, i);
	h->st.capacity = n;
	__atomic_store_n(&h->magic, TABLE_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

uint64_t
limiter_blocked(void *mem, const struct limit_key *k, uint64_t now_ms)
{
	struct table_hdr *h = lock(mem);
	uint64_t left = 0;
	uint32_t i = find(h, k->b);

	if (i) {
		struct entry *e = ent(h, i);
		if (e->blocked_until > now_ms) {
			left = e->blocked_until - now_ms;
			h->st.blocked_checks++;
			/* A key being refused is a key worth keeping. */
			lru_unlink(h, i);
			lru_push(h, i);
		} else if (drained(e, now_ms)) {
			h->st.expired++;
			drop(h, i);
		}
	}
	unlock(h);
	return left;
}

int
limiter_fail(void *mem, const struct limit_key *k, const struct limit_rule *r,
    uint64_t now_ms, unsigned *level)
{
	uint64_t iv = r->interval_us ? r->interval_us : 1;
	uint64_t now_us = sat_mul(now_ms, 1000), limit = sat_mul(r->burst, iv);
	struct table_hdr *h = lock(mem);
	int started = 0;

	reap(h, now_ms);
	struct entry *e = ent(h, find_or_add(h, k->b, now_ms));
	e->tat_us = sat_add(e->tat_us > now_us ? e->tat_us : now_us, iv);
	uint64_t excess = e->tat_us - now_us;
	h->st.fails++;
	if (excess > limit) {
		/* Until the key is no longer over: tat - limit, in whole ms. */
		uint64_t drain = (e->tat_us - limit) / 1000 + ((e->tat_us - limit) % 1000 != 0);
		if (e->blocked_until <= now_ms) {
			started = 1;
			h->st.blocks_started++;
			e->flags &= ~E_LOGGED;
			e->blocked_until = r->block_ms ? sat_add(now_ms, r->block_ms) : drain;
		} else if (r->block_ms == 0 && drain > e->blocked_until) {
			e->blocked_until = drain;
		}
	}
	if (level) {
		uint64_t l = excess / iv + (excess % iv != 0);
		*level = l > UINT_MAX ? UINT_MAX : (unsigned)l;
	}
	unlock(h);
	return started;
}

int
limiter_block(void *mem, const struct limit_key *k, uint64_t until_ms, uint64_t now_ms)
{
	struct table_hdr *h = lock(mem);
	struct entry *e = ent(h, find_or_add(h, k->b, now_ms));
	int started = e->blocked_until <= now_ms;

	if (started) {
		e->flags &= ~E_LOGGED;
		h->st.blocks_started++;
	}
	if (until_ms > e->blocked_until)
		e->blocked_until = until_ms;
	unlock(h);
	return started;
}

void
limiter_count_store(void *mem, int answered)
{
	/* Statistics only: no lock, as the status reader takes none either. */
	struct table_hdr *h = mem;
	__atomic_fetch_add(answered ? &h->st.store_answers : &h->st.fallbacks, 1, __ATOMIC_RELAXED);
}

void
limiter_clear(void *mem, const struct limit_key *k)
{
	struct table_hdr *h = lock(mem);
	uint32_t i = find(h, k->b);

	if (i)
		drop(h, i);
	unlock(h);
}

void
limiter_mark_good(void *mem, const struct limit_key *k, uint64_t now_ms, uint64_t ttl_ms)
{
	struct table_hdr *h = lock(mem);
	struct entry *e = ent(h, find_or_add(h, k->b, now_ms));

	e->tat_us = 0;
	e->blocked_until = 0;
	e->flags &= ~E_LOGGED;
	e->good_until = sat_add(now_ms, ttl_ms);
	unlock(h);
}

int
limiter_is_good(void *mem, const struct limit_key *k, uint64_t now_ms)
{
	struct table_hdr *h = lock(mem);
	uint32_t i = find(h, k->b);
	int good = i && ent(h, i)->good_until > now_ms;

	unlock(h);
	return good;
}

int
limiter_session_take(void *mem, const struct limit_key *k, uint32_t cap, uint64_t now_ms)
{
	struct table_hdr *h = lock(mem);
	struct entry *e = ent(h, find_or_add(h, k->b, now_ms));
	int ok;

	ok = e->sessions < cap;
	if (ok)
		e->sessions++;
	else
		h->st.session_refusals++;
	unlock(h);
	return ok;
}

void
limiter_session_drop(void *mem, const struct limit_key *k)
{
	struct table_hdr *h = lock(mem);
	uint32_t i = find(h, k->b);

	/* Gone (evicted, or forgotten after a crash): nothing to give back. */
	if (i && ent(h, i)->sessions > 0)
		ent(h, i)->sessions--;
	unlock(h);
}

void
limiter_sessions_forget(void *mem)
{
	struct table_hdr *h = lock(mem);

	for (uint32_t i = 1; i <= h->st.capacity; i++)
		ent(h, i)->sessions = 0;
	unlock(h);
}

int
limiter_should_log(void *mem, const struct limit_key *k, uint64_t now_ms)
{
	struct table_hdr *h = lock(mem);
	uint32_t i = find(h, k->b);
	int rc = 0;

	if (i) {
		struct entry *e = ent(h, i);
		if (e->blocked_until > now_ms && !(e->flags & E_LOGGED)) {
			e->flags |= E_LOGGED;
			rc = 1;
		}
	}
	unlock(h);
	return rc;
}

int
limiter_peek_stats(const void *mem, size_t size, struct limiter_stats *st)
{
	const struct table_hdr *h = mem;

	if (size < sizeof(*h) || __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != TABLE_MAGIC ||
	    h->layout != TABLE_LAYOUT)
		return -1;
	*st = h->st;
	return 0;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto out; } while (0)

int
limiter_verify(void *mem, char *err, size_t errlen)
{
	struct table_hdr *h = lock(mem);
	uint32_t n = h->nentries, count = 0, i, prev = 0;
	int rc = -1;

	for (uint32_t b = 0; b < h->nbuckets; b++)
		for (i = buckets(h)[b]; i; i = ent(h, i)->hnext) {
			if (i > n || ++count > n)
				FAIL("bucket %u: bad link or a cycle", b);
			struct entry *e = ent(h, i);
			if (!(e->flags & E_USED) || e->bucket != b || bucket_of(h, e->key) != b)
				FAIL("entry %u in bucket %u: free or misfiled", i, b);
			if (find(h, e->key) != i)
				FAIL("entry %u: its key is found at %u", i, find(h, e->key));
		}
	if (count != h->nused || h->st.entries != h->nused)
		FAIL("%u entries on chains, %u counted", count, h->nused);
	count = 0;
	for (i = h->lru_head; i; prev = i, i = ent(h, i)->next) {
		if (i > n || ++count > n)
			FAIL("LRU: bad link or a cycle");
		if (ent(h, i)->prev != prev || !(ent(h, i)->flags & E_USED))
			FAIL("LRU: entry %u has prev %u, want %u, or is free", i, ent(h, i)->prev, prev);
	}
	if (count != h->nused || h->lru_tail != prev)
		FAIL("LRU: %u entries, %u used; tail %u, want %u", count, h->nused, h->lru_tail, prev);
	count = 0;
	for (i = h->free_head; i; i = ent(h, i)->hnext) {
		if (i > n || ++count > n)
			FAIL("free list: bad link or a cycle");
		if (ent(h, i)->flags & E_USED)
			FAIL("free list: entry %u is used", i);
	}
	if (count + h->nused != n)
		FAIL("%u free and %u used of %u", count, h->nused, n);
	rc = 0;
out:
	unlock(h);
	return rc;
}

void
limiter_test_lock(void *mem)
{
	struct table_hdr *h = mem;

	shm_mutex_lock(&h->lock);
}
