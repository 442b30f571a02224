/* Shared auth service state and the failover choice; see authsrv.h. */
#include <string.h>

#include "common/authsrv.h"

struct authsrv_zone *authsrv_zone;

void
authsrv_init(struct authsrv_zone *z)
{
	if (z->magic != AUTHSRV_MAGIC) {
		memset(z, 0, sizeof(*z));
		z->magic = AUTHSRV_MAGIC;
	}
}

int
authsrv_register(struct authsrv_zone *z, const char *url, uint32_t gen)
{
	int free_slot = -1, oldest = -1;

	if (url[0] == '\0')
		return -1;
	for (int i = 0; i < AUTHSRV_SLOTS; i++) {
		struct authsrv_slot *s = &z->slot[i];
		if (s->url[0] == '\0') {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (strncmp(s->url, url, AUTHSRV_URL_MAX - 1) == 0) {
			s->generation = gen;
			return i;
		}
		if (s->generation != gen && (oldest < 0 || s->generation < z->slot[oldest].generation))
			oldest = i;
	}
	if (free_slot < 0)
		free_slot = oldest;
	if (free_slot < 0)
		return -1;
	/* The master writes it before any worker that uses it exists. */
	memset(&z->slot[free_slot], 0, sizeof(z->slot[free_slot]));
	strncpy(z->slot[free_slot].url, url, AUTHSRV_URL_MAX - 1);
	z->slot[free_slot].generation = gen;
	return free_slot;
}

const struct authsrv_slot *
authsrv_find(const struct authsrv_zone *z, const char *url)
{
	for (int i = 0; i < AUTHSRV_SLOTS; i++)
		if (z->slot[i].url[0] != '\0' && strncmp(z->slot[i].url, url, AUTHSRV_URL_MAX - 1) == 0)
			return &z->slot[i];
	return NULL;
}

enum authsrv_claim
authsrv_claim(struct authsrv_slot *s, uint64_t now, uint64_t fail_timeout)
{
	uint64_t until = __atomic_load_n(&s->down_until, __ATOMIC_RELAXED);

	if (until == 0)
		return AUTHSRV_USE;
	if (now < until)
		return AUTHSRV_SKIP;
	if (__atomic_compare_exchange_n(&s->down_until, &until, now + (fail_timeout ? fail_timeout : 1),
	    0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return AUTHSRV_PROBE;
	return AUTHSRV_SKIP;
}

void
authsrv_failed(struct authsrv_slot *s, uint64_t now, uint64_t fail_timeout)
{
	__atomic_fetch_add(&s->failures, 1, __ATOMIC_RELAXED);
	/* Counted once per outage, not for each probe that finds it still down. */
	if (__atomic_exchange_n(&s->down_until, now + (fail_timeout ? fail_timeout : 1),
	    __ATOMIC_RELAXED) == 0)
		__atomic_fetch_add(&s->backoffs, 1, __ATOMIC_RELAXED);
}

void
authsrv_answered(struct authsrv_slot *s)
{
	__atomic_store_n(&s->down_until, 0, __ATOMIC_RELAXED);
}

int
authsrv_pick(struct authsrv_slot *const *s, size_t n, uint32_t tried, uint64_t now,
    uint64_t fail_timeout)
{
	int first = -1;

	for (size_t i = 0; i < n && i < 32; i++) {
		if (tried & (1u << i))
			continue;
		if (first < 0)
			first = (int)i;
		if (s[i] == NULL || authsrv_claim(s[i], now, fail_timeout) != AUTHSRV_SKIP)
			return (int)i;
	}
	return first;
}

int
authsrv_is_5xx(const char *data, size_t len)
{
	/* "HTTP/1.x NNN": the code is bytes 9-11. */
	static const char prefix[] = "HTTP/";
	size_t pl = sizeof(prefix) - 1;

	if (memcmp(data, prefix, len < pl ? len : pl) != 0)
		return 0;
	if (len < 10)
		return -1;
	return data[8] == ' ' && data[9] == '5';
}
