/*
 * Shared TLS session cache; see sslcache.h. Layout in the zone:
 *   struct cache_hdr | uint32_t buckets[nbuckets] | struct block blocks[nblocks]
 * Block indexes are 1-based so that 0 means "none". A head block carries the
 * entry's id and expiry and is on the hash chain and the LRU list; the rest
 * of a large entry hangs off it through next.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/shm.h"
#include "common/sslcache.h"

#define CACHE_MAGIC 0x6d7073736c633031ULL	/* "mpsslc01" */

struct block {
	uint32_t hnext;		/* hash chain (heads) */
	uint32_t prev, next_lru;	/* LRU list (heads), most recent first */
	uint32_t next;		/* next block of the same entry, or the free list */
	uint64_t expires;
	uint16_t len;		/* head: total data length */
	uint8_t idlen;
	uint8_t head;
	uint8_t id[SSLCACHE_MAX_ID];
	uint8_t data[SSLCACHE_BLOCK - 60];
};

_Static_assert(sizeof(struct block) == SSLCACHE_BLOCK, "block layout");

#define HEAD_DATA (sizeof(((struct block *)0)->data))
/* Continuation blocks reuse everything after the link field for data. */
#define CONT_DATA (SSLCACHE_BLOCK - offsetof(struct block, expires))

struct cache_hdr {
	uint64_t magic;
	pthread_mutex_t lock;
	uint32_t nbuckets, nblocks;
	uint32_t lru_head, lru_tail;
	uint32_t free_head, nfree;
	struct sslcache_stats st;
	struct ticket_key keys[3];
	uint32_t nkeys;
};

static struct cache_hdr *
hdr(void *mem)
{
	return mem;
}

static uint32_t *
buckets(struct cache_hdr *h)
{
	return (uint32_t *)(h + 1);
}

static struct block *
blk(struct cache_hdr *h, uint32_t i)
{
	struct block *b = (struct block *)((char *)(buckets(h) + h->nbuckets) +
	    ((-(uintptr_t)(buckets(h) + h->nbuckets)) & 63));
	return &b[i - 1];
}

size_t
sslcache_capacity(size_t size)
{
	if (size < sizeof(struct cache_hdr) + 64 + SSLCACHE_BLOCK)
		return 0;
	size -= sizeof(struct cache_hdr) + 64;
	/* One bucket (4 bytes) per block. */
	return size / (SSLCACHE_BLOCK + 4);
}

/* Empties the index and the blocks; the keys and the lock stay. */
static void
reset(struct cache_hdr *h)
{
	memset(&h->st, 0, sizeof(h->st));
	h->lru_head = h->lru_tail = 0;
	memset(buckets(h), 0, h->nbuckets * sizeof(uint32_t));
	for (uint32_t i = 1; i <= h->nblocks; i++) {
		struct block *b = blk(h, i);
		memset(b, 0, sizeof(*b));
		b->next = i < h->nblocks ? i + 1 : 0;
	}
	h->free_head = 1;
	h->nfree = h->nblocks;
	h->st.blocks = h->nblocks;
}

int
sslcache_init(void *mem, size_t size)
{
	struct cache_hdr *h = hdr(mem);
	size_t n = sslcache_capacity(size);

	if (h->magic == CACHE_MAGIC)
		return 0;
	if (n < 8)
		return -1;
	memset(h, 0, sizeof(*h));
	if (shm_mutex_init(&h->lock) < 0)
		return -1;
	h->nblocks = (uint32_t)n;
	h->nbuckets = (uint32_t)n;
	reset(h);
	__atomic_store_n(&h->magic, CACHE_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

/*
 * Takes the lock. A worker that died holding it may have left the lists
 * half linked: the cached sessions are then dropped (clients just do a full
 * handshake), which is cheaper than trusting a broken index.
 */
static void
lock(struct cache_hdr *h)
{
	if (shm_mutex_lock(&h->lock))
		reset(h);
}

static uint32_t
hash_id(const uint8_t *id, size_t n)
{
	uint32_t x = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		x ^= id[i];
		x *= 16777619u;
	}
	return x;
}

static void
lru_unlink(struct cache_hdr *h, uint32_t i)
{
	struct block *b = blk(h, i);

	if (b->prev)
		blk(h, b->prev)->next_lru = b->next_lru;
	else
		h->lru_head = b->next_lru;
	if (b->next_lru)
		blk(h, b->next_lru)->prev = b->prev;
	else
		h->lru_tail = b->prev;
	b->prev = b->next_lru = 0;
}

static void
lru_push(struct cache_hdr *h, uint32_t i)
{
	struct block *b = blk(h, i);

	b->prev = 0;
	b->next_lru = h->lru_head;
	if (h->lru_head)
		blk(h, h->lru_head)->prev = i;
	h->lru_head = i;
	if (h->lru_tail == 0)
		h->lru_tail = i;
}

/* Unlinks an entry from its hash chain and the LRU list and frees its blocks. */
static void
drop(struct cache_hdr *h, uint32_t i)
{
	struct block *b = blk(h, i);
	uint32_t *pp = &buckets(h)[hash_id(b->id, b->idlen) % h->nbuckets];

	while (*pp && *pp != i)
		pp = &blk(h, *pp)->hnext;
	if (*pp == i)
		*pp = b->hnext;
	lru_unlink(h, i);
	h->st.entries--;
	uint32_t cur = i;
	while (cur) {
		struct block *c = blk(h, cur);
		uint32_t next = c->next;
		c->head = 0;
		c->next = h->free_head;
		h->free_head = cur;
		h->nfree++;
		cur = next;
	}
}

static uint32_t
find(struct cache_hdr *h, const uint8_t *id, size_t idlen)
{
	uint32_t i = buckets(h)[hash_id(id, idlen) % h->nbuckets];

	while (i) {
		struct block *b = blk(h, i);
		if (b->idlen == idlen && memcmp(b->id, id, idlen) == 0)
			return i;
		i = b->hnext;
	}
	return 0;
}

/* Valid block index of a head block? A worker killed mid-update may have
 * left a half-written entry; reads check before they follow a link. */
static int
sane(struct cache_hdr *h, uint32_t i)
{
	return i >= 1 && i <= h->nblocks;
}

int
sslcache_store(void *mem, const uint8_t *id, size_t idlen, const uint8_t *data, size_t len,
    uint64_t expires, uint64_t now)
{
	struct cache_hdr *h = hdr(mem);
	size_t need;

	if (idlen == 0 || idlen > SSLCACHE_MAX_ID)
		return -1;
	if (len > SSLCACHE_MAX_DATA) {
		__atomic_fetch_add(&h->st.too_big, 1, __ATOMIC_RELAXED);
		return -1;
	}
	need = 1 + (len > HEAD_DATA ? (len - HEAD_DATA + CONT_DATA - 1) / CONT_DATA : 0);
	lock(h);
	if (need > h->nblocks) {
		shm_mutex_unlock(&h->lock);
		return -1;
	}
	uint32_t old = find(h, id, idlen);
	if (old)
		drop(h, old);
	/* Expired entries at the old end go first; then the oldest, expired or not. */
	while (h->nfree < need && h->lru_tail) {
		struct block *t = blk(h, h->lru_tail);
		if (t->expires <= now)
			h->st.expired++;
		else
			h->st.evictions++;
		drop(h, h->lru_tail);
	}
	uint32_t headi = h->free_head, cur = 0;
	for (size_t k = 0; k < need; k++) {
		uint32_t i = h->free_head;
		struct block *b = blk(h, i);
		h->free_head = b->next;
		h->nfree--;
		if (k == 0) {
			memset(b, 0, offsetof(struct block, data));
		} else {
			blk(h, cur)->next = i;
		}
		b->next = 0;
		cur = i;
	}
	struct block *b = blk(h, headi);
	b->head = 1;
	b->idlen = (uint8_t)idlen;
	memcpy(b->id, id, idlen);
	b->len = (uint16_t)len;
	b->expires = expires;
	size_t off = len < HEAD_DATA ? len : HEAD_DATA;
	memcpy(b->data, data, off);
	for (uint32_t c = b->next; c && off < len; c = blk(h, c)->next) {
		size_t n = len - off < CONT_DATA ? len - off : CONT_DATA;
		memcpy((uint8_t *)&blk(h, c)->expires, data + off, n);
		off += n;
	}
	uint32_t *bucket = &buckets(h)[hash_id(id, idlen) % h->nbuckets];
	b->hnext = *bucket;
	*bucket = headi;
	lru_push(h, headi);
	h->st.entries++;
	h->st.stores++;
	shm_mutex_unlock(&h->lock);
	return 0;
}

long
sslcache_fetch(void *mem, const uint8_t *id, size_t idlen, uint8_t *out, size_t outcap,
    uint64_t now)
{
	struct cache_hdr *h = hdr(mem);
	long rc = -1;

	if (idlen == 0 || idlen > SSLCACHE_MAX_ID)
		return -1;
	lock(h);
	uint32_t i = find(h, id, idlen);
	if (i == 0) {
		h->st.misses++;
		goto out;
	}
	struct block *b = blk(h, i);
	if (b->expires <= now) {
		h->st.expired++;
		h->st.misses++;
		drop(h, i);
		goto out;
	}
	if (b->len > outcap || b->len > SSLCACHE_MAX_DATA)
		goto out;
	size_t off = b->len < HEAD_DATA ? b->len : HEAD_DATA;
	memcpy(out, b->data, off);
	for (uint32_t c = b->next; c && off < b->len; c = blk(h, c)->next) {
		if (!sane(h, c))
			goto out;
		size_t n = b->len - off < CONT_DATA ? b->len - off : CONT_DATA;
		memcpy(out + off, (uint8_t *)&blk(h, c)->expires, n);
		off += n;
	}
	if (off != b->len)
		goto out;
	lru_unlink(h, i);
	lru_push(h, i);
	h->st.hits++;
	rc = (long)off;
out:
	shm_mutex_unlock(&h->lock);
	return rc;
}

void
sslcache_remove(void *mem, const uint8_t *id, size_t idlen)
{
	struct cache_hdr *h = hdr(mem);

	if (idlen == 0 || idlen > SSLCACHE_MAX_ID)
		return;
	lock(h);
	uint32_t i = find(h, id, idlen);
	if (i) {
		drop(h, i);
		h->st.removes++;
	}
	shm_mutex_unlock(&h->lock);
}

/* A key that could not be made at random is no key at all: never a guessable one. */
static int
new_key(struct ticket_key *k, uint64_t expires)
{
	struct ticket_key t;
	int ok = RAND_bytes(t.name, sizeof(t.name)) == 1 && RAND_bytes(t.aes, sizeof(t.aes)) == 1 &&
	    RAND_bytes(t.hmac, sizeof(t.hmac)) == 1;

	if (ok) {
		t.size = 80;
		t.expires = expires;
		*k = t;
	}
	OPENSSL_cleanse(&t, sizeof(t));
	return ok ? 0 : -1;
}

int
sslcache_ticket_keys(void *mem, uint64_t now, uint64_t lifetime, struct ticket_key keys[3])
{
	struct cache_hdr *h = hdr(mem);

	if (lifetime == 0)
		lifetime = 1;
	lock(h);
	/*
	 * keys[0] encrypts and lives one lifetime; it then becomes keys[1]
	 * (decrypt only) for one more, so a ticket stays valid as long as the
	 * session it carries.
	 */
	int n = 0;
	if (h->nkeys == 0) {
		if (new_key(&h->keys[0], now + lifetime) < 0)
			goto out;	/* no tickets: sessions resume from the cache */
		h->nkeys = 1;
	}
	while (h->keys[0].expires <= now) {
		struct ticket_key next;
		uint64_t exp = h->keys[0].expires + lifetime > now ? h->keys[0].expires + lifetime :
		    now + lifetime;
		if (new_key(&next, exp) < 0)
			goto out;	/* an expired key must not go on encrypting */
		h->keys[1] = h->keys[0];
		h->keys[0] = next;
		OPENSSL_cleanse(&next, sizeof(next));
		h->nkeys = 2;
	}
	if (h->nkeys == 2 && h->keys[1].expires + lifetime <= now)
		h->nkeys = 1;
	n = (int)h->nkeys;
	memcpy(keys, h->keys, (size_t)n * sizeof(*keys));
out:
	shm_mutex_unlock(&h->lock);
	return n;
}

int
sslcache_peek_stats(const void *mem, size_t size, struct sslcache_stats *st)
{
	const struct cache_hdr *h = mem;

	if (size < sizeof(*h) || __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != CACHE_MAGIC)
		return -1;
	*st = h->st;
	st->free_blocks = h->nfree;
	return 0;
}
