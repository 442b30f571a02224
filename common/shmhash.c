/*
 * A generic cache in a shared zone; see shmhash.h. Layout in the zone:
 *   struct table | uint32_t buckets[nbuckets] | entries[nentries]
 * Each entry is a struct ent, then the key, then room for the value,
 * rounded up to 8 bytes. Indexes are 1-based so that 0 means "none". A used
 * entry is on its hash chain and on the LRU list; a free one on the free
 * list. Buckets are a SipHash of the key under a secret of the zone, so
 * clients cannot pile keys into one chain.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/limiter.h"
#include "common/shm.h"
#include "common/shmhash.h"

#define TABLE_MAGIC 0x6d70686173683031ULL	/* "mphash01" */
#define MIN_ENTRIES 8

struct ent {
	uint32_t hnext;		/* hash chain, or the free list */
	uint32_t prev, next;	/* LRU list, most recent first */
	uint32_t bucket;
	uint64_t expires;
	uint32_t used;
	uint32_t vlen;
};

struct table {
	uint64_t magic;
	uint32_t kind, keylen, vallen, esize;
	uint64_t size;
	pthread_mutex_t lock;
	uint8_t secret[SHMHASH_SECRET_LEN];
	uint8_t hash_key[16];
	uint32_t nbuckets, nentries;
	uint32_t lru_head, lru_tail, free_head, nused;
	struct shmhash_stats st;
};

static size_t
esize_of(size_t keylen, size_t vallen)
{
	return (sizeof(struct ent) + keylen + vallen + 7) & ~(size_t)7;
}

static uint32_t *
buckets(struct table *t)
{
	return (uint32_t *)(t + 1);
}

static size_t
entries_off(uint32_t nbuckets)
{
	return (sizeof(struct table) + (size_t)nbuckets * sizeof(uint32_t) + 63) & ~(size_t)63;
}

static struct ent *
ent(struct table *t, uint32_t i)
{
	return (struct ent *)((char *)t + entries_off(t->nbuckets) + (size_t)(i - 1) * t->esize);
}

static uint8_t *
ekey(struct ent *e)
{
	return (uint8_t *)(e + 1);
}

static uint8_t *
eval(struct table *t, struct ent *e)
{
	return (uint8_t *)(e + 1) + t->keylen;
}

/* Entries for size bytes, and their buckets: a power of two, one per two entries or more. */
static size_t
layout(size_t size, size_t es, uint32_t *nbuckets)
{
	size_t n, nb = 1;

	if (size < sizeof(struct table) + 64 + es)
		return 0;
	n = (size - sizeof(struct table) - 64) / (es + sizeof(uint32_t) / 2);
	if (n > UINT32_MAX / 4)
		n = UINT32_MAX / 4;
	while (nb * 2 <= n / 2 + 1)
		nb *= 2;
	*nbuckets = (uint32_t)nb;
	if (size < entries_off(*nbuckets))
		return 0;
	n = (size - entries_off(*nbuckets)) / es;
	return n > UINT32_MAX / 4 ? UINT32_MAX / 4 : n;
}

size_t
shmhash_capacity(size_t size, size_t keylen, size_t vallen)
{
	uint32_t nb;

	if (keylen == 0 || keylen > SHMHASH_MAX_KEY || vallen > SHMHASH_MAX_VALUE)
		return 0;
	return layout(size, esize_of(keylen, vallen), &nb);
}

static void
random_bytes(uint8_t *out, size_t len)
{
	/* The kernel's pool; at boot before it is ready, a weaker mix that
	 * still differs per start (it only keys the index and the digests of a
	 * cache emptied on every reload). */
	if (getrandom(out, len, GRND_NONBLOCK) == (ssize_t)len)
		return;
	struct timespec a;
	clock_gettime(CLOCK_REALTIME, &a);
	uint64_t seed[3] = { (uint64_t)a.tv_sec, (uint64_t)a.tv_nsec, (uint64_t)getpid() };
	for (size_t i = 0; i < len; i++) {
		uint8_t k[16] = "mailproxy-rand-0";
		k[15] = (uint8_t)i;
		out[i] = (uint8_t)limit_siphash(k, seed, sizeof(seed));
	}
}

static uint32_t
bucket_of(struct table *t, const void *key)
{
	return (uint32_t)limit_siphash(t->hash_key, key, t->keylen) & (t->nbuckets - 1);
}

static void
lru_unlink(struct table *t, uint32_t i)
{
	struct ent *e = ent(t, i);

	if (e->prev)
		ent(t, e->prev)->next = e->next;
	else
		t->lru_head = e->next;
	if (e->next)
		ent(t, e->next)->prev = e->prev;
	else
		t->lru_tail = e->prev;
	e->prev = e->next = 0;
}

static void
lru_push(struct table *t, uint32_t i)
{
	struct ent *e = ent(t, i);

	e->prev = 0;
	e->next = t->lru_head;
	if (t->lru_head)
		ent(t, t->lru_head)->prev = i;
	t->lru_head = i;
	if (t->lru_tail == 0)
		t->lru_tail = i;
}

/* Frees entry i; a value (a backend password) does not outlive its entry. */
static void
free_push(struct table *t, uint32_t i)
{
	struct ent *e = ent(t, i);

	memset(e, 0, t->esize);
	e->hnext = t->free_head;
	t->free_head = i;
}

static void
reset(struct table *t)
{
	memset(buckets(t), 0, (size_t)t->nbuckets * sizeof(uint32_t));
	t->lru_head = t->lru_tail = t->free_head = 0;
	t->nused = 0;
	for (uint32_t i = t->nentries; i >= 1; i--)
		free_push(t, i);
	t->st.entries = 0;
}

static uint32_t
find(struct table *t, const void *key)
{
	for (uint32_t i = buckets(t)[bucket_of(t, key)]; i; i = ent(t, i)->hnext)
		if (memcmp(ekey(ent(t, i)), key, t->keylen) == 0)
			return i;
	return 0;
}

static void
drop(struct table *t, uint32_t i)
{
	struct ent *e = ent(t, i);
	uint32_t *pp = &buckets(t)[e->bucket];

	while (*pp && *pp != i)
		pp = &ent(t, *pp)->hnext;
	if (*pp == i)
		*pp = e->hnext;
	lru_unlink(t, i);
	free_push(t, i);
	t->nused--;
	t->st.entries = t->nused;
}

static struct table *
lock(void *mem)
{
	struct table *t = mem;

	/* A holder died mid-update: the lists may be half linked. It is a
	 * cache, so start empty rather than repair. */
	if (shm_mutex_lock(&t->lock))
		reset(t);
	return t;
}

static void
unlock(struct table *t)
{
	shm_mutex_unlock(&t->lock);
}

int
shmhash_init(void *mem, size_t size, uint32_t kind, size_t keylen, size_t vallen)
{
	struct table *t = mem;
	uint32_t nb = 0;
	size_t es = esize_of(keylen, vallen), n;

	if (keylen == 0 || keylen > SHMHASH_MAX_KEY || vallen > SHMHASH_MAX_VALUE)
		return -1;
	n = layout(size, es, &nb);
	if (n < MIN_ENTRIES)
		return -1;
	if (t->magic == TABLE_MAGIC && t->kind == kind && t->keylen == keylen &&
	    t->vallen == vallen && t->size == size && t->nentries == n && t->nbuckets == nb)
		return 0;
	memset(t, 0, sizeof(*t));
	if (shm_mutex_init(&t->lock) < 0)
		return -1;
	random_bytes(t->secret, sizeof(t->secret));
	random_bytes(t->hash_key, sizeof(t->hash_key));
	t->kind = kind;
	t->keylen = (uint32_t)keylen;
	t->vallen = (uint32_t)vallen;
	t->esize = (uint32_t)es;
	t->size = size;
	t->nbuckets = nb;
	t->nentries = (uint32_t)n;
	t->st.capacity = n;
	reset(t);
	__atomic_store_n(&t->magic, TABLE_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

const uint8_t *
shmhash_secret(const void *mem)
{
	return ((const struct table *)mem)->secret;
}

long
shmhash_get(void *mem, const void *key, void *val, uint64_t now_ms)
{
	struct table *t = lock(mem);
	uint32_t i = find(t, key);
	long n = -1;

	if (i && ent(t, i)->expires <= now_ms) {
		t->st.expired++;
		drop(t, i);
		i = 0;
	}
	if (i) {
		struct ent *e = ent(t, i);
		memcpy(val, eval(t, e), e->vlen);
		n = (long)e->vlen;
		lru_unlink(t, i);
		lru_push(t, i);
		t->st.hits++;
	} else {
		t->st.misses++;
	}
	unlock(t);
	return n;
}

uint64_t
shmhash_epoch(const void *mem)
{
	return __atomic_load_n(&((const struct table *)mem)->st.flushes, __ATOMIC_ACQUIRE);
}

int
shmhash_put(void *mem, const void *key, const void *val, size_t vlen, uint64_t expires_ms,
    uint64_t now_ms)
{
	return shmhash_put_epoch(mem, key, val, vlen, expires_ms, now_ms, UINT64_MAX);
}

int
shmhash_put_epoch(void *mem, const void *key, const void *val, size_t vlen,
    uint64_t expires_ms, uint64_t now_ms, uint64_t epoch)
{
	struct table *t = mem;

	if (vlen > t->vallen)
		return -1;
	t = lock(mem);
	if (epoch != UINT64_MAX && t->st.flushes != epoch) {
		unlock(t);
		return 1;
	}
	uint32_t i = find(t, key);
	if (i == 0) {
		/* An expired tail goes as expired, a live one as evicted. */
		if (t->free_head == 0) {
			if (ent(t, t->lru_tail)->expires <= now_ms)
				t->st.expired++;
			else
				t->st.evictions++;
			drop(t, t->lru_tail);
		}
		i = t->free_head;
		struct ent *e = ent(t, i);
		t->free_head = e->hnext;
		memset(e, 0, t->esize);
		memcpy(ekey(e), key, t->keylen);
		e->used = 1;
		e->bucket = bucket_of(t, key);
		e->hnext = buckets(t)[e->bucket];
		buckets(t)[e->bucket] = i;
		t->nused++;
		t->st.entries = t->nused;
	} else {
		lru_unlink(t, i);
		memset(eval(t, ent(t, i)), 0, t->vallen);
	}
	struct ent *e = ent(t, i);
	memcpy(eval(t, e), val, vlen);
	e->vlen = (uint32_t)vlen;
	e->expires = expires_ms;
	lru_push(t, i);
	t->st.stores++;
	unlock(t);
	return 0;
}

void
shmhash_remove(void *mem, const void *key)
{
	struct table *t = lock(mem);
	uint32_t i = find(t, key);

	if (i) {
		drop(t, i);
		t->st.removes++;
	}
	unlock(t);
}

void
shmhash_flush(void *mem)
{
	struct table *t = lock(mem);

	reset(t);
	__atomic_store_n(&t->st.flushes, t->st.flushes + 1, __ATOMIC_RELEASE);
	unlock(t);
}

int
shmhash_peek_stats(const void *mem, size_t size, uint32_t kind, struct shmhash_stats *st)
{
	const struct table *t = mem;

	if (size < sizeof(*t) || __atomic_load_n(&t->magic, __ATOMIC_ACQUIRE) != TABLE_MAGIC ||
	    t->kind != kind)
		return -1;
	*st = t->st;
	return 0;
}

void
shmhash_test_lock(void *mem)
{
	shm_mutex_lock(&((struct table *)mem)->lock);
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto out; } while (0)

int
shmhash_verify(void *mem, char *err, size_t errlen)
{
	struct table *t = lock(mem);
	uint32_t n = t->nentries, count = 0, i, prev = 0;
	int rc = -1;

	for (uint32_t b = 0; b < t->nbuckets; b++)
		for (i = buckets(t)[b]; i; i = ent(t, i)->hnext) {
			if (i > n || ++count > n)
				FAIL("bucket %u: bad link or a cycle", b);
			struct ent *e = ent(t, i);
			if (!e->used || e->bucket != b || bucket_of(t, ekey(e)) != b)
				FAIL("entry %u in bucket %u: free or misfiled", i, b);
			if (e->vlen > t->vallen)
				FAIL("entry %u: value length %u", i, e->vlen);
		}
	if (count != t->nused || t->st.entries != t->nused)
		FAIL("%u entries on chains, %u counted", count, t->nused);
	count = 0;
	for (i = t->lru_head; i; prev = i, i = ent(t, i)->next) {
		if (i > n || ++count > n)
			FAIL("LRU: bad link or a cycle");
		if (ent(t, i)->prev != prev || !ent(t, i)->used)
			FAIL("LRU: entry %u has prev %u, want %u, or is free", i, ent(t, i)->prev, prev);
	}
	if (count != t->nused || t->lru_tail != prev)
		FAIL("LRU: %u entries, %u used", count, t->nused);
	count = 0;
	for (i = t->free_head; i; i = ent(t, i)->hnext) {
		if (i > n || ++count > n)
			FAIL("free list: bad link or a cycle");
		if (ent(t, i)->used)
			FAIL("free list: entry %u is used", i);
	}
	if (count + t->nused != n)
		FAIL("%u free and %u used of %u", count, t->nused, n);
	rc = 0;
out:
	unlock(t);
	return rc;
}
