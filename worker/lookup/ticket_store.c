/*
 * The fetches of ssl_session_ticket_key_store; see ticket_store.h. One
 * fetcher per ring (a ring per ssl_session_cache zone); servers that share
 * the zone share it, the first one's store settings win. Outages and
 * recoveries are logged once each, not per attempt: the connection's own
 * (redis.c), a refused or malformed answer, and the moment the keys that
 * encrypt switch between Redis's and local ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/ticketring.h"
#include "worker/event/timer.h"
#include "worker/lookup/redis.h"
#include "worker/lookup/ticket_store.h"
#include "worker/tls/tls.h"

#define MIN_TICK_MS 100
/* While fetches fail, ask this often (when the period allows less): Redis back is noticed soon. */
#define FAILING_TICK_MS 5000

struct fetcher {
	struct timer timer;	/* first member: the timer callback's way back */
	const struct ticket_store_conf *conf;
	void *ring;
	struct redis *r;
	struct redis_req *req;	/* the MGET in flight, or NULL */
	uint64_t period_sent;	/* p of that MGET */
	int failing;		/* the last fetch failed: logged once */
	uint32_t source;	/* what encrypts, as last logged */
	struct fetcher *next;
};

static struct fetcher *fetchers;

int
ticket_store_parse(const redisReply *rp, struct ticket_key keys[3], unsigned *have)
{
	struct ticket_key k[3];
	unsigned h = 0;

	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY || rp->elements != 3)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		const redisReply *e = rp->element[i];
		if (e == NULL)
			return -1;
		if (e->type == REDIS_REPLY_NIL)
			continue;
		if (e->type != REDIS_REPLY_STRING || e->len != TICKETRING_KEY_BYTES || e->str == NULL)
			return -1;
		ticketring_key_from_bytes(&k[i], (const uint8_t *)e->str);
		h |= 1u << i;
	}
	for (size_t i = 0; i < 3; i++)
		if (h >> i & 1)
			keys[i] = k[i];
	OPENSSL_cleanse(k, sizeof(k));
	*have = h;
	return 0;
}

static const char *
source_name(uint32_t s)
{
	return s == TICKET_SOURCE_REDIS ? "redis" : s == TICKET_SOURCE_LOCAL ? "local" : "none";
}

/* Takes the ring's keys as a handshake would, so that the source is current without one. */
static void
note_source(struct fetcher *f)
{
	struct ticket_key keys[TICKETRING_MAX_KEYS];
	struct ticketring_stats st;
	uint64_t version;

	ticketring_keys(f->ring, (uint64_t)time(NULL), f->conf->period / 1000, keys, &version);
	OPENSSL_cleanse(keys, sizeof(keys));
	if (ticketring_peek_stats(f->ring, TICKETRING_ZONE_SIZE, &st) < 0 || st.source == f->source)
		return;
	if (st.source == TICKET_SOURCE_REDIS)
		log_msg(f->source == TICKET_SOURCE_NONE ? LL_INFO : LL_NOTICE,
		    "ssl_session_ticket_key_store redis %s: tickets are encrypted with the fleet's key%s",
		    f->conf->redis.spec, f->source == TICKET_SOURCE_NONE ? "" : " again");
	else
		log_msg(LL_WARN, "ssl_session_ticket_key_store redis %s: no key from Redis for this "
		    "period, tickets are encrypted with a %s key (resumption on other nodes falls "
		    "back to full handshakes)", f->conf->redis.spec, source_name(st.source));
	f->source = st.source;
}

static void
fetched(struct fetcher *f, int ok, const char *why)
{
	ticketring_count(f->ring, ok);
	if (!ok && !f->failing)
		log_msg(LL_ERR, "ssl_session_ticket_key_store redis %s: fetching the ticket keys "
		    "failed: %s", f->conf->redis.spec, why);
	else if (ok && f->failing)
		log_msg(LL_NOTICE, "ssl_session_ticket_key_store redis %s: ticket keys fetched again",
		    f->conf->redis.spec);
	f->failing = !ok;
	note_source(f);
}

static void
on_mget(void *arg, const redisReply *rp)
{
	struct fetcher *f = arg;
	struct ticket_key keys[3];
	unsigned have = 0;
	char why[160];

	f->req = NULL;
	if (ticket_store_parse(rp, keys, &have) < 0) {
		if (rp == NULL)
			snprintf(why, sizeof(why), "no answer in time");
		else if (rp->type == REDIS_REPLY_ERROR)
			snprintf(why, sizeof(why), "%.120s", rp->str);
		else
			snprintf(why, sizeof(why), "an answer that is not 3 keys of %d bytes",
			    TICKETRING_KEY_BYTES);
		fetched(f, 0, why);
		return;
	}
	ticketring_put(f->ring, f->period_sent, keys, have);
	OPENSSL_cleanse(keys, sizeof(keys));
	/* The SETs went first: without the current key, they were refused. */
	fetched(f, (have & 2) != 0, "the key of this period is missing (are SET and MGET on the prefix allowed?)");
}

static void
key_name(char *buf, size_t len, const struct fetcher *f, uint64_t p)
{
	snprintf(buf, len, "%s%llu", f->conf->redis.prefix, (unsigned long long)p);
}

/* SET prefix<p> KEY NX EXAT <end of p+1>: the key lives while it may decrypt. */
static int
send_set(struct fetcher *f, uint64_t p, uint64_t period)
{
	uint8_t key[TICKETRING_KEY_BYTES];
	char name[96], exat[24];
	int rc = -1;

	if (RAND_bytes(key, sizeof(key)) == 1) {
		key_name(name, sizeof(name), f, p);
		snprintf(exat, sizeof(exat), "%llu", (unsigned long long)ticketring_period_end(p + 1, period));
		const char *argv[] = { "SET", name, (const char *)key, "NX", "EXAT", exat };
		size_t lens[] = { 3, strlen(name), sizeof(key), 2, 4, strlen(exat) };
		rc = redis_send(f->r, NULL, NULL, 6, argv, lens) != NULL ? 0 : -1;
	}
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

static void
tick(struct timer *t)
{
	struct fetcher *f = (struct fetcher *)t;
	uint64_t period = f->conf->period / 1000, tick_ms = f->conf->period / 8;

	if (f->failing && tick_ms > FAILING_TICK_MS)
		tick_ms = FAILING_TICK_MS;
	timer_set(&f->timer, tick_ms < MIN_TICK_MS ? MIN_TICK_MS : tick_ms, tick);
	if (f->req != NULL)
		return;		/* the last one is still out: its timeout answers it */
	if (f->r == NULL)
		f->r = redis_for(&f->conf->redis, "ssl_session_ticket_key_store", NULL, NULL);
	uint64_t p = ticketring_period((uint64_t)time(NULL), period);
	char names[3][96];
	for (int i = 0; i < 3; i++)
		key_name(names[i], sizeof(names[i]), f, p - 1 + (uint64_t)i);
	const char *argv[] = { "MGET", names[0], names[1], names[2] };
	if (f->r == NULL || send_set(f, p, period) < 0 || send_set(f, p + 1, period) < 0 ||
	    (f->req = redis_send(f->r, on_mget, f, 4, argv, NULL)) == NULL) {
		fetched(f, 0, "Redis is unreachable");
		return;
	}
	f->period_sent = p;
}

void
ticket_store_start(struct cycle *cy)
{
	for (size_t i = 0; cy->tls_srv != NULL && i < cy->cf->nservers; i++) {
		struct tls_srv *ts = &cy->tls_srv[i];
		struct fetcher *f;
		int dup = 0;
		if (ts->ring == NULL)
			continue;
		for (f = fetchers; f != NULL; f = f->next)
			dup |= f->ring == ts->ring;
		if (dup || (f = calloc(1, sizeof(*f))) == NULL)
			continue;
		f->conf = &ts->conf->ssl_session_ticket_key_store;
		f->ring = ts->ring;
		f->source = TICKET_SOURCE_NONE;
		f->next = fetchers;
		fetchers = f;
		timer_set(&f->timer, 0, tick);
	}
}

void
ticket_store_stop(void)
{
	while (fetchers != NULL) {
		struct fetcher *f = fetchers;
		fetchers = f->next;
		timer_cancel(&f->timer);
		redis_cancel(f->req);
		free(f);
	}
}
