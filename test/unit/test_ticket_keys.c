/*
 * ssl_session_ticket_key_store's pure parts: the period arithmetic, the key
 * ring in its shared zone (common/ticketring.c) as periods go by with and
 * without Redis's keys, and the parser of Redis's MGET answer
 * (worker/lookup/ticket_store.c) on good and bad replies, and the directive's
 * values and refusals. The ring lives in a MAP_SHARED anonymous mapping, as
 * the zone does after the master forks.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "common/ticketring.h"
#include "config/config.h"
#include "test/unit/config_helpers.h"
#include "worker/lookup/ticket_store.h"

TestSuite(ticket_keys);

#define PERIOD 3600
/* A unix second inside period P0, not at its start. */
#define P0 ((uint64_t)490000)
#define T0 (P0 * PERIOD + 1234)

static void *
ring(void)
{
	void *p = mmap(NULL, TICKETRING_ZONE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(ticketring_init(p, TICKETRING_ZONE_SIZE), 0);
	return p;
}

/* A recognisable key: every byte of it is tag. */
static struct ticket_key
mk(uint8_t tag)
{
	struct ticket_key k;
	uint8_t b[TICKETRING_KEY_BYTES];

	memset(b, tag, sizeof(b));
	ticketring_key_from_bytes(&k, b);
	return k;
}

/* Is the key of that tag (all 16 name bytes) among keys? */
static int
is(const struct ticket_key *k, uint8_t tag)
{
	struct ticket_key t = mk(tag);

	return memcmp(k->name, t.name, 16) == 0;
}

static int
has(const struct ticket_key *keys, int n, uint8_t tag)
{
	for (int i = 0; i < n; i++)
		if (is(&keys[i], tag))
			return 1;
	return 0;
}

static int
has_name(const struct ticket_key *keys, int n, const uint8_t name[16])
{
	for (int i = 0; i < n; i++)
		if (memcmp(keys[i].name, name, 16) == 0)
			return 1;
	return 0;
}

static uint32_t
source(void *r)
{
	struct ticketring_stats st;

	cr_assert_eq(ticketring_peek_stats(r, TICKETRING_ZONE_SIZE, &st), 0);
	return st.source;
}

Test(ticket_keys, period_math)
{
	cr_assert_eq(ticketring_period(0, 3600), 0);
	cr_assert_eq(ticketring_period(3599, 3600), 0);
	cr_assert_eq(ticketring_period(3600, 3600), 1);
	cr_assert_eq(ticketring_period(T0, PERIOD), P0);
	cr_assert_eq(ticketring_period_end(P0, PERIOD), (P0 + 1) * PERIOD);
	/* The key of p lives in Redis until p+1 ends: its last moment to decrypt. */
	cr_assert_eq(ticketring_period_end(P0 + 1, PERIOD), T0 - 1234 + 2 * PERIOD);
	cr_assert_eq(ticketring_period(1767225601, 2), 883612800);
}

Test(ticket_keys, key_bytes_are_nginx_80_byte_layout)
{
	uint8_t b[TICKETRING_KEY_BYTES], out[TICKETRING_KEY_BYTES];
	struct ticket_key k;

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)i;
	ticketring_key_from_bytes(&k, b);
	cr_assert_eq(k.size, 80);
	cr_assert_eq(k.name[0], 0);
	cr_assert_eq(k.name[15], 15);
	cr_assert_eq(k.hmac[0], 16, "name, then the HMAC key");
	cr_assert_eq(k.hmac[31], 47);
	cr_assert_eq(k.aes[0], 48, "then the AES-256 key");
	cr_assert_eq(k.aes[31], 79);
	ticketring_key_to_bytes(&k, out);
	cr_assert_arr_eq(b, out, sizeof(b));
}

Test(ticket_keys, empty_ring_makes_a_local_key_per_period)
{
	void *r = ring();
	struct ticket_key k[TICKETRING_MAX_KEYS], k2[TICKETRING_MAX_KEYS];
	uint64_t v1, v2;

	cr_assert_eq(source(r), TICKET_SOURCE_NONE);
	int n = ticketring_keys(r, T0, PERIOD, k, &v1);
	cr_assert_eq(n, 1);
	cr_assert_eq(source(r), TICKET_SOURCE_LOCAL);
	cr_assert_eq(k[0].size, 80);
	cr_assert_eq(k[0].expires, (P0 + 1) * PERIOD, "a worker asks again when the period ends");
	/* The same key all period long, in every worker. */
	cr_assert_eq(ticketring_keys(r, T0 + 100, PERIOD, k2, &v2), 1);
	cr_assert_arr_eq(k[0].name, k2[0].name, 16);
	cr_assert_eq(v1, v2, "nothing changed");
	/* Next period: a new local key encrypts, the old one still decrypts. */
	n = ticketring_keys(r, T0 + PERIOD, PERIOD, k2, &v2);
	cr_assert_eq(n, 2);
	cr_assert_neq(memcmp(k[0].name, k2[0].name, 16), 0);
	cr_assert_arr_eq(k[0].name, k2[1].name, 16);
	cr_assert_neq(v1, v2);
	/* Two periods on, the first is gone. */
	n = ticketring_keys(r, T0 + 3 * PERIOD, PERIOD, k2, &v2);
	cr_assert_eq(n, 1);
	cr_assert_neq(memcmp(k[0].name, k2[0].name, 16), 0);
}

Test(ticket_keys, redis_keys_encrypt_with_current_and_decrypt_with_neighbours)
{
	void *r = ring();
	struct ticket_key in[3] = { mk(0xa1), mk(0xa2), mk(0xa3) }, k[TICKETRING_MAX_KEYS];
	uint64_t v0 = ticketring_version(r), v;

	ticketring_put(r, P0, in, 7);
	cr_assert_gt(ticketring_version(r), v0, "workers see the change");
	int n = ticketring_keys(r, T0, PERIOD, k, &v);
	cr_assert_eq(n, 3);
	cr_assert(is(&k[0], 0xa2), "the key of the current period encrypts");
	cr_assert(has(k, n, 0xa1) && has(k, n, 0xa3));
	cr_assert_eq(source(r), TICKET_SOURCE_REDIS);
	cr_assert_eq(v, ticketring_version(r));
}

/* The ring rotates on its own: next becomes current, current previous, without a fetch. */
Test(ticket_keys, ring_rotation_without_a_new_fetch)
{
	void *r = ring();
	struct ticket_key in[3] = { mk(0xa1), mk(0xa2), mk(0xa3) }, k[TICKETRING_MAX_KEYS];
	uint64_t v;

	ticketring_put(r, P0, in, 7);
	int n = ticketring_keys(r, T0 + PERIOD, PERIOD, k, &v);
	cr_assert(is(&k[0], 0xa3), "next is now current");
	cr_assert(has(k, n, 0xa2), "the previous period's key decrypts");
	cr_assert(!has(k, n, 0xa1), "two periods old: gone");
	cr_assert_eq(source(r), TICKET_SOURCE_REDIS);
	/* Redis gone for longer than its keys cover: a local key, the last Redis one decrypts. */
	n = ticketring_keys(r, T0 + 2 * PERIOD, PERIOD, k, &v);
	cr_assert_eq(source(r), TICKET_SOURCE_LOCAL);
	cr_assert(!is(&k[0], 0xa3) && has(k, n, 0xa3));
	struct ticket_key local = k[0];
	/* Redis back in that period: its key encrypts, the local one still decrypts
	 * (tickets this node issued meanwhile keep resuming here). */
	struct ticket_key in2[3] = { mk(0xa3), mk(0xa4), mk(0xa5) };
	ticketring_put(r, P0 + 2, in2, 7);
	n = ticketring_keys(r, T0 + 2 * PERIOD + 5, PERIOD, k, &v);
	cr_assert(is(&k[0], 0xa4));
	cr_assert_eq(source(r), TICKET_SOURCE_REDIS);
	cr_assert(has(k, n, 0xa3) && has(k, n, 0xa5));
	cr_assert(has_name(k, n, local.name));
	cr_assert_leq(n, TICKETRING_MAX_KEYS);
}

Test(ticket_keys, missing_key_in_an_answer_keeps_the_one_the_ring_has)
{
	void *r = ring();
	struct ticket_key in[3] = { mk(0xb1), mk(0xb2), mk(0xb3) }, k[TICKETRING_MAX_KEYS];
	uint64_t v;

	ticketring_put(r, P0, in, 7);
	/* Redis lost its data: only the next period's key came back, a new one. */
	struct ticket_key in2[3] = { mk(0), mk(0), mk(0xc3) };
	ticketring_put(r, P0, in2, 4);
	int n = ticketring_keys(r, T0, PERIOD, k, &v);
	cr_assert(is(&k[0], 0xb2));
	cr_assert(has(k, n, 0xb1) && has(k, n, 0xc3) && !has(k, n, 0xb3),
	    "the answer's key for a period replaces the ring's");
}

Test(ticket_keys, only_the_previous_period_from_redis_gives_a_local_key)
{
	void *r = ring();
	struct ticket_key in[3] = { mk(0xd1), mk(0), mk(0) }, k[TICKETRING_MAX_KEYS];
	uint64_t v;

	ticketring_put(r, P0, in, 1);
	int n = ticketring_keys(r, T0, PERIOD, k, &v);
	cr_assert_eq(source(r), TICKET_SOURCE_LOCAL);
	cr_assert(!is(&k[0], 0xd1) && has(k, n, 0xd1));
}

Test(ticket_keys, fetch_counters_and_a_kept_ring)
{
	void *r = ring();
	struct ticketring_stats st;
	struct ticket_key in[3] = { mk(0xe1), mk(0xe2), mk(0xe3) }, k[TICKETRING_MAX_KEYS];
	uint64_t v;

	ticketring_count(r, 1);
	ticketring_count(r, 1);
	ticketring_count(r, 0);
	ticketring_put(r, P0, in, 7);
	/* A reload or an upgrade initialises the zone again: the keys stay. */
	cr_assert_eq(ticketring_init(r, TICKETRING_ZONE_SIZE), 0);
	cr_assert_eq(ticketring_peek_stats(r, TICKETRING_ZONE_SIZE, &st), 0);
	cr_assert_eq(st.fetch_ok, 2);
	cr_assert_eq(st.fetch_error, 1);
	cr_assert_eq(ticketring_keys(r, T0, PERIOD, k, &v), 3);
	cr_assert(is(&k[0], 0xe2));
	cr_assert_eq(ticketring_peek_stats(r, 16, &st), -1, "too small to be a ring");
	cr_assert_eq(ticketring_init(r, 16), -1);
}

/* ---- the MGET answer ---- */

static redisReply *
str(const char *s, size_t len)
{
	redisReply *e = calloc(1, sizeof(*e));

	e->type = REDIS_REPLY_STRING;
	e->str = malloc(len + 1);
	memcpy(e->str, s, len);
	e->str[len] = '\0';
	e->len = len;
	return e;
}

static redisReply *
typed(int type)
{
	redisReply *e = calloc(1, sizeof(*e));

	e->type = type;
	if (type == REDIS_REPLY_ERROR || type == REDIS_REPLY_STATUS)
		e->str = strdup("ERR no"), e->len = 6;
	return e;
}

static redisReply *
arr(size_t n, redisReply **els)
{
	redisReply *a = calloc(1, sizeof(*a));

	a->type = REDIS_REPLY_ARRAY;
	a->elements = n;
	a->element = calloc(n ? n : 1, sizeof(*a->element));
	if (n > 0)
		memcpy(a->element, els, n * sizeof(*els));
	return a;
}

static redisReply *
key80(char c)
{
	char b[TICKETRING_KEY_BYTES];

	memset(b, c, sizeof(b));
	return str(b, sizeof(b));
}

/* parse rp; refused answers must leave keys and have as they were. */
static int
parse(redisReply *rp, struct ticket_key keys[3], unsigned *have)
{
	struct ticket_key before[3];
	unsigned hb;

	memset(keys, 0x5a, 3 * sizeof(*keys));
	*have = 99;
	memcpy(before, keys, sizeof(before));
	hb = *have;
	int rc = ticket_store_parse(rp, keys, have);
	if (rc < 0) {
		cr_assert_arr_eq(keys, before, sizeof(before), "a refused answer changed the keys");
		cr_assert_eq(*have, hb);
	}
	if (rp != NULL)
		freeReplyObject(rp);
	return rc;
}

Test(ticket_keys, parse_good_answers)
{
	struct ticket_key k[3];
	unsigned have;

	redisReply *e[] = { key80('a'), key80('b'), key80('c') };
	cr_assert_eq(parse(arr(3, e), k, &have), 0);
	cr_assert_eq(have, 7);
	cr_assert_eq(k[0].name[0], 'a');
	cr_assert_eq(k[1].hmac[0], 'b');
	cr_assert_eq(k[2].aes[31], 'c');
	cr_assert_eq(k[1].size, 80);

	redisReply *e2[] = { typed(REDIS_REPLY_NIL), key80('b'), typed(REDIS_REPLY_NIL) };
	cr_assert_eq(parse(arr(3, e2), k, &have), 0);
	cr_assert_eq(have, 2);
	cr_assert_eq(k[1].name[0], 'b');
	cr_assert_eq(k[0].name[0], 0x5a, "a nil leaves its slot alone");

	redisReply *e3[] = { typed(REDIS_REPLY_NIL), typed(REDIS_REPLY_NIL), typed(REDIS_REPLY_NIL) };
	cr_assert_eq(parse(arr(3, e3), k, &have), 0);
	cr_assert_eq(have, 0);
}

Test(ticket_keys, parse_refuses_bad_answers)
{
	struct ticket_key k[3];
	unsigned have;
	char big[1 << 16];

	memset(big, 'x', sizeof(big));
	cr_assert_eq(parse(NULL, k, &have), -1, "no answer in time");
	cr_assert_eq(parse(typed(REDIS_REPLY_ERROR), k, &have), -1, "an error reply");
	cr_assert_eq(parse(typed(REDIS_REPLY_NIL), k, &have), -1, "a nil reply");
	cr_assert_eq(parse(typed(REDIS_REPLY_STATUS), k, &have), -1);
	cr_assert_eq(parse(key80('a'), k, &have), -1, "a string, not an array");
	redisReply *two[] = { key80('a'), key80('b') };
	cr_assert_eq(parse(arr(2, two), k, &have), -1, "too few elements");
	redisReply *four[] = { key80('a'), key80('b'), key80('c'), key80('d') };
	cr_assert_eq(parse(arr(4, four), k, &have), -1, "too many elements");
	cr_assert_eq(parse(arr(0, NULL), k, &have), -1, "empty");
	redisReply *short1[] = { key80('a'), str("0123456789", 10), key80('c') };
	cr_assert_eq(parse(arr(3, short1), k, &have), -1, "wrong length");
	char b79[79], b81[81], b48[48];
	memset(b79, 'q', sizeof(b79));
	memset(b81, 'q', sizeof(b81));
	memset(b48, 'q', sizeof(b48));
	redisReply *l79[] = { key80('a'), key80('b'), str(b79, 79) };
	cr_assert_eq(parse(arr(3, l79), k, &have), -1, "79 bytes");
	redisReply *l81[] = { str(b81, 81), key80('b'), key80('c') };
	cr_assert_eq(parse(arr(3, l81), k, &have), -1, "81 bytes");
	redisReply *l48[] = { key80('a'), str(b48, 48), key80('c') };
	cr_assert_eq(parse(arr(3, l48), k, &have), -1, "48 bytes (a file's AES-128 key is not stored)");
	redisReply *huge[] = { key80('a'), str(big, sizeof(big)), key80('c') };
	cr_assert_eq(parse(arr(3, huge), k, &have), -1, "oversized");
	redisReply *err[] = { key80('a'), typed(REDIS_REPLY_ERROR), key80('c') };
	cr_assert_eq(parse(arr(3, err), k, &have), -1, "an error element");
	redisReply *integer[] = { key80('a'), typed(REDIS_REPLY_INTEGER), key80('c') };
	cr_assert_eq(parse(arr(3, integer), k, &have), -1, "an integer element");
	redisReply *inner[] = { key80('x'), key80('y'), key80('z') };
	redisReply *nested[] = { key80('a'), arr(3, inner), key80('c') };
	cr_assert_eq(parse(arr(3, nested), k, &have), -1, "an array element");
	redisReply *status[] = { key80('a'), typed(REDIS_REPLY_STATUS), key80('c') };
	cr_assert_eq(parse(arr(3, status), k, &have), -1, "a status element");
}

/* ---- the directive ---- */

TestSuite(ticket_store_config, .init = th_setup, .fini = th_teardown);

#define TLS "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
#define STORE(v) "  ssl_session_ticket_key_store: \"" v "\"\n"

Test(ticket_store_config, defaults_and_values)
{
	struct config *cf;

	th_certs();
	LOAD_OK(cf, MAIL_HEAD TLS "  ssl_session_cache: shared:TK:1m\n"
	    STORE("redis 127.0.0.1") "  servers:\n    - listen: \"993 ssl\"\n");
	const struct ticket_store_conf *t = &cf->servers[0].ssl_session_ticket_key_store;
	cr_assert_str_eq(t->redis.spec, "127.0.0.1");
	cr_assert_eq(t->period, 3600000, "1h by default");
	cr_assert_eq(t->redis.timeout, 1000, "1s by default: nothing waits for it");
	cr_assert_str_eq(t->redis.prefix, "mailproxy:tickets:");
	cr_assert_not_null(strstr(t->redis.down_note, "ticket keys"));
	config_free(cf);
	/* Servers of one cache zone with the same store (inherited) load. */
	LOAD_OK(cf, MAIL_HEAD TLS "  ssl_session_cache: shared:TK:1m\n"
	    STORE("redis unix:/run/r.sock db=2 user=u password=p timeout=50ms prefix=x: period=2s")
	    "  servers:\n    - listen: \"993 ssl\"\n    - listen: \"995 ssl\"\n");
	t = &cf->servers[1].ssl_session_ticket_key_store;
	cr_assert_eq(t->period, 2000);
	cr_assert_eq(t->redis.timeout, 50);
	cr_assert_eq(t->redis.db, 2);
	cr_assert_str_eq(t->redis.prefix, "x:");
	config_free(cf);
	/* Off, and nothing else is needed. */
	LOAD_OK(cf, SRV("      ssl_session_ticket_key_store: off\n"));
	cr_assert_null(cf->servers[0].ssl_session_ticket_key_store.redis.spec);
	config_free(cf);
}

Test(ticket_store_config, refusals_have_positions)
{
	th_certs();
	th_write("t80.key", "0123456789012345678901234567890123456789012345678901234567890123456789012345678\n", -1);
	EXPECT_ERR(MAIL_HEAD TLS STORE("redis 127.0.0.1") "  servers:\n    - listen: \"993 ssl\"\n",
	    "t.yaml:5:3: \"ssl_session_ticket_key_store\": needs \"ssl_session_cache "
	    "shared:NAME:SIZE\" (the workers keep the fetched keys beside that zone)");
	EXPECT_ERR(MAIL_HEAD TLS "  ssl_session_cache: shared:TK:1m\n" STORE("redis 127.0.0.1")
	    "  ssl_session_ticket_key: t80.key\n  servers:\n    - listen: \"993 ssl\"\n",
	    "t.yaml:6:3: \"ssl_session_ticket_key_store\": cannot be used with "
	    "\"ssl_session_ticket_key\": the keys come either from Redis or from files (for a fleet "
	    "without Redis, rotate the files as the README says)");
	EXPECT_ERR(MAIL_HEAD TLS "  ssl_session_cache: shared:TK:1m\n" STORE("redis 127.0.0.1")
	    "  servers:\n    - listen: \"993 ssl\"\n    - listen: \"995 ssl\"\n"
	    "      ssl_session_ticket_key_store: \"redis 127.0.0.1 period=2h\"\n",
	    "t.yaml:10:7: \"ssl_session_ticket_key_store\": zone \"TK\" is shared with a server "
	    "that has another \"ssl_session_ticket_key_store\" (the servers of one session cache "
	    "share its ticket keys)");
	static const char *const bad_period[] = { "0s", "500ms", "1500ms", "8d", "x" };
	for (size_t i = 0; i < sizeof(bad_period) / sizeof(bad_period[0]); i++) {
		char yaml[512], want[256];
		snprintf(yaml, sizeof(yaml), SRV("      ssl_session_ticket_key_store: \"redis 127.0.0.1 "
		    "period=%s\"\n"), bad_period[i]);
		snprintf(want, sizeof(want), "t.yaml:5:37: \"ssl_session_ticket_key_store\": invalid period "
		    "in \"period=%s\" (expected whole seconds from 1s to 7d)", bad_period[i]);
		EXPECT_ERR(yaml, want);
	}
	/* period= belongs to the ticket keys only. */
	EXPECT_ERR(MAILV("  login_limit_zone: shared:lz:1m\n"
	    "  login_limit_store: \"redis 127.0.0.1 period=1h\"\n"),
	    "t.yaml:4:22: \"login_limit_store\": unexpected \"period=1h\" (expected db=N, user=NAME, "
	    "password=SECRET, timeout=TIME or prefix=STRING)");
	EXPECT_ERR(SRV("      ssl_session_ticket_key_store: \"memcached 127.0.0.1\"\n"),
	    "t.yaml:5:37: \"ssl_session_ticket_key_store\": expected \"redis ADDRESS [db=N] [user=NAME] "
	    "[password=SECRET] [timeout=TIME] [prefix=STRING] [period=TIME]\" or off, got \"memcached\"");
}
