/*
 * A fixed table addressed by a hash of the backend's address and port: a
 * newcomer takes its slot from whatever was there, which only costs that
 * backend a round trip at its next login. With thousands of backends per
 * worker the table still holds the busiest; the memory is fixed (48 KB) and
 * only the slots in use are ever touched.
 */
#include <netinet/in.h>
#include <string.h>

#include "worker/session/backend_facts.h"

#define SLOTS 2048	/* a power of two */

struct fact {
	uint8_t key[18];	/* port, then the IPv6 (or v4-mapped) address */
	uint8_t used;
	uint8_t facts;
	uint32_t learned_s;	/* when, in seconds of the monotonic clock */
};

static struct fact table[SLOTS];

static int
make_key(const struct sockaddr *sa, uint8_t key[18])
{
	memset(key, 0, 18);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		memcpy(key, &s4->sin_port, 2);
		key[12] = 0xff;
		key[13] = 0xff;
		memcpy(key + 14, &s4->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		memcpy(key, &s6->sin6_port, 2);
		memcpy(key + 2, &s6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

static struct fact *
slot(const uint8_t key[18])
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (int i = 0; i < 18; i++)
		h = (h ^ key[i]) * 16777619u;
	return &table[h & (SLOTS - 1)];
}

unsigned
backend_facts_get(const struct sockaddr *sa, uint64_t now)
{
	uint8_t key[18];
	struct fact *f;

	if (make_key(sa, key) < 0)
		return 0;
	f = slot(key);
	if (!f->used || memcmp(f->key, key, sizeof(key)) != 0)
		return 0;
	if (now / 1000 - f->learned_s >= BACKEND_FACTS_TTL_MS / 1000)
		return 0;
	return f->facts;
}

void
backend_facts_put(const struct sockaddr *sa, unsigned facts, uint64_t now)
{
	uint8_t key[18];
	struct fact *f;

	if (make_key(sa, key) < 0)
		return;
	f = slot(key);
	memcpy(f->key, key, sizeof(key));
	f->used = 1;
	f->facts = (uint8_t)facts;
	f->learned_s = (uint32_t)(now / 1000);
}

void
backend_facts_reset(void)
{
	memset(table, 0, sizeof(table));
}
