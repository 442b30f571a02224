/*
 * The Redis side of the failed-login limits: three Lua scripts, loaded on
 * every new connection and run by their SHA-1, which do to a Redis hash
 * per key what common/limiter.c does to a zone entry: field t is the
 * bucket's theoretical arrival time (us), b the end of its block (ms), g
 * the end of a good pair's mark (ms), all on Redis's clock. A key expires
 * when none of them matters any more, so Redis holds only live keys.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "worker/lookup/limit_store.h"
#include "worker/lookup/redis.h"

/* KEYS: address, login, pair. ARGV: use1..3, look at the pair's good mark. */
static const char check_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local good = 0\n"
	"if ARGV[4] == '1' then\n"
	"  local g = tonumber(redis.call('HGET', KEYS[3], 'g')) or 0\n"
	"  if g > now then good = 1 end\n"
	"end\n"
	"for i = 3, 1, -1 do\n"
	"  if ARGV[i] == '1' and (good == 0 or i == 3) then\n"
	"    local b = tonumber(redis.call('HGET', KEYS[i], 'b')) or 0\n"
	"    if b > now then return {i, b - now, good} end\n"
	"  end\n"
	"end\n"
	"return {0, 0, good}\n";

/* KEYS: the keys with a rule. ARGV: interval_us, burst, block_ms per key. */
static const char fail_lua[] =
	"local t = redis.call('TIME')\n"
	"local sec, usec = tonumber(t[1]), tonumber(t[2])\n"
	"local now_us = sec * 1000000 + usec\n"
	"local now = sec * 1000 + math.floor(usec / 1000)\n"
	"local out = {}\n"
	"for i = 1, #KEYS do\n"
	"  local iv = tonumber(ARGV[3 * i - 2])\n"
	"  local burst = tonumber(ARGV[3 * i - 1])\n"
	"  local blk = tonumber(ARGV[3 * i])\n"
	"  local v = redis.call('HMGET', KEYS[i], 't', 'b', 'g')\n"
	"  local tat = tonumber(v[1]) or 0\n"
	"  local b = tonumber(v[2]) or 0\n"
	"  local g = tonumber(v[3]) or 0\n"
	"  if tat < now_us then tat = now_us end\n"
	"  tat = tat + iv\n"
	"  local excess = tat - now_us\n"
	"  local limit = burst * iv\n"
	"  local started = 0\n"
	"  if excess > limit then\n"
	"    local drain = math.ceil((tat - limit) / 1000)\n"
	"    if b <= now then\n"
	"      started = 1\n"
	"      if blk > 0 then b = now + blk else b = drain end\n"
	"    elseif blk == 0 and drain > b then\n"
	"      b = drain\n"
	"    end\n"
	"  end\n"
	"  redis.call('HSET', KEYS[i], 't', string.format('%.0f', tat), 'b', string.format('%.0f', b))\n"
	"  local keep = math.max(b - now, math.ceil(excess / 1000), g - now, 1000)\n"
	"  redis.call('PEXPIRE', KEYS[i], string.format('%.0f', keep))\n"
	"  local left = 0\n"
	"  if b > now then left = b - now end\n"
	"  out[#out + 1] = started\n"
	"  out[#out + 1] = math.ceil(excess / iv)\n"
	"  out[#out + 1] = left\n"
	"end\n"
	"return out\n";

/* KEYS: the pair. ARGV: how long it stays good, ms. */
static const char good_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"redis.call('HSET', KEYS[1], 't', '0', 'b', '0', 'g', string.format('%.0f', now + tonumber(ARGV[1])))\n"
	"redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
	"return 1\n";

enum { S_CHECK, S_FAIL, S_GOOD, S_MAX };

static const char *const scripts[S_MAX] = { check_lua, fail_lua, good_lua };
static char sha[S_MAX][41];

static void
load_scripts(struct redis *r, void *arg)
{
	(void)arg;
	for (int i = 0; i < S_MAX; i++) {
		const char *argv[3] = { "SCRIPT", "LOAD", scripts[i] };
		redis_send(r, NULL, NULL, 3, argv, NULL);
	}
}

/* The connection of c, with the scripts' SHA-1s known (EVALSHA names them). */
static struct redis *
conn(const struct limit_store_conf *c)
{
	if (sha[0][0] == '\0') {
		for (int i = 0; i < S_MAX; i++) {
			unsigned char md[EVP_MAX_MD_SIZE];
			unsigned int n = 0;
			if (!EVP_Digest(scripts[i], strlen(scripts[i]), md, &n, EVP_sha1(), NULL) || n != 20)
				return NULL;
			for (unsigned j = 0; j < n; j++)
				snprintf(sha[i] + 2 * j, 3, "%02x", md[j]);
		}
	}
	return redis_for(c, "login_limit_store", load_scripts, NULL);
}

/* prefix + 32 hex digits. */
#define KEY_MAX (64 + 2 * LIMIT_KEY_LEN + 1)

static void
key_text(const struct limit_store_conf *c, const struct limit_key *k, char out[KEY_MAX])
{
	size_t n = (size_t)snprintf(out, KEY_MAX, "%s", c->prefix);

	for (size_t i = 0; i < LIMIT_KEY_LEN && n + 2 < KEY_MAX; i++, n += 2)
		snprintf(out + n, 3, "%02x", k->b[i]);
}

/* An integer element of an array reply, or -1. */
static long long
elem(const redisReply *rp, size_t i)
{
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY || i >= rp->elements ||
	    rp->element[i]->type != REDIS_REPLY_INTEGER || rp->element[i]->integer < 0)
		return -1;
	return rp->element[i]->integer;
}

/* An error of each script logged until it answers again: once, not per login. */
static int error_logged[S_MAX];

/*
 * A reply that is no answer. An error is logged once (an ACL without the
 * scripts' commands, a read-only replica, a full memory); after SCRIPT
 * FLUSH on the server the scripts are loaded again.
 */
static void
no_answer(const struct limit_store_conf *c, const redisReply *rp, int script)
{
	struct redis *r;

	if (rp == NULL || rp->type != REDIS_REPLY_ERROR)
		return;
	if (strncmp(rp->str, "NOSCRIPT", 8) == 0 && (r = conn(c)) != NULL)
		load_scripts(r, NULL);
	if (!error_logged[script])
		log_msg(LL_ERR, "login_limit_store: Redis answered \"%.200s\"; the limits count "
		    "locally until it answers", rp->str);
	error_logged[script] = 1;
}

/* ---- check ---- */

int
limit_store_parse_check(const redisReply *rp, struct store_check *sc)
{
	long long which = elem(rp, 0), left = elem(rp, 1), good = elem(rp, 2);

	if (rp == NULL || rp->elements != 3 || which < 0 || which > STORE_NKEYS || left < 0 ||
	    good > 1 || good < 0)
		return -1;
	sc->blocked = (int)which - 1;
	sc->left_ms = (uint64_t)left;
	sc->good = good != 0;
	return 0;
}

static void
check_reply(void *arg, const redisReply *rp)
{
	struct store_check *sc = arg;

	sc->req = NULL;
	if (limit_store_parse_check(rp, sc) < 0) {
		no_answer(sc->c, rp, S_CHECK);
		sc->done(sc, 0);
		return;
	}
	error_logged[S_CHECK] = 0;
	sc->done(sc, 1);
}

int
limit_store_check(const struct limit_store_conf *c, const struct limit_key k[STORE_NKEYS],
    const int use[STORE_NKEYS], int pair_good, struct store_check *sc)
{
	struct redis *r = conn(c);
	char keys[STORE_NKEYS][KEY_MAX], flags[4][2];
	const char *argv[3 + STORE_NKEYS + 4];
	int n = 0;

	if (r == NULL)
		return -1;
	sc->c = c;
	argv[n++] = "EVALSHA";
	argv[n++] = sha[S_CHECK];
	argv[n++] = "3";
	for (int i = 0; i < STORE_NKEYS; i++) {
		key_text(c, &k[i], keys[i]);
		argv[n++] = keys[i];
	}
	for (int i = 0; i < 4; i++) {
		flags[i][0] = (i < STORE_NKEYS ? use[i] : pair_good) ? '1' : '0';
		flags[i][1] = '\0';
		argv[n++] = flags[i];
	}
	sc->req = redis_send(r, check_reply, sc, n, argv, NULL);
	return sc->req != NULL ? 0 : -1;
}

void
limit_store_check_cancel(struct store_check *sc)
{
	redis_cancel(sc->req);
	sc->req = NULL;
}

/* ---- fail ---- */

int
limit_store_parse_fail(const redisReply *rp, struct store_fail *sf)
{
	long long v[3 * STORE_NKEYS];
	size_t n = 0, j;

	for (int i = 0; i < STORE_NKEYS; i++)
		n += sf->sent & 1u << i ? 3 : 0;
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY || rp->elements != n)
		return -1;
	/* The whole answer is checked before any of it is written: refused, sf is as it was. */
	for (j = 0; j < n; j++)
		if ((v[j] = elem(rp, j)) < 0 || (j % 3 == 0 && v[j] > 1))
			return -1;
	j = 0;
	for (int i = 0; i < STORE_NKEYS; i++) {
		if (!(sf->sent & 1u << i))
			continue;
		sf->res[i].started = v[j] != 0;
		sf->res[i].level = v[j + 1] > UINT32_MAX ? UINT32_MAX : (unsigned)v[j + 1];
		sf->res[i].left_ms = (uint64_t)v[j + 2];
		j += 3;
	}
	return 0;
}

static void
fail_reply(void *arg, const redisReply *rp)
{
	struct store_fail *sf = arg;

	sf->req = NULL;
	if (limit_store_parse_fail(rp, sf) < 0) {
		no_answer(sf->c, rp, S_FAIL);
		sf->done(sf, 0);
		return;
	}
	error_logged[S_FAIL] = 0;
	sf->done(sf, 1);
}

int
limit_store_fail(const struct limit_store_conf *c, const struct limit_key k[STORE_NKEYS],
    const struct limit_rule *const r[STORE_NKEYS], struct store_fail *sf)
{
	struct redis *rc = conn(c);
	char keys[STORE_NKEYS][KEY_MAX], nums[STORE_NKEYS][3][24], nk[12];
	const char *argv[3 + STORE_NKEYS * 4];
	int n = 3, nkeys = 0;

	if (rc == NULL)
		return -1;
	sf->c = c;
	sf->sent = 0;
	for (int i = 0; i < STORE_NKEYS; i++) {
		memset(&sf->res[i], 0, sizeof(sf->res[i]));
		if (r[i] == NULL)
			continue;
		sf->sent |= 1u << i;
		key_text(c, &k[i], keys[i]);
		argv[n++] = keys[i];
		nkeys++;
	}
	if (nkeys == 0)
		return -1;
	for (int i = 0; i < STORE_NKEYS; i++) {
		if (r[i] == NULL)
			continue;
		snprintf(nums[i][0], sizeof(nums[i][0]), "%llu",
		    (unsigned long long)(r[i]->interval_us ? r[i]->interval_us : 1));
		snprintf(nums[i][1], sizeof(nums[i][1]), "%u", r[i]->burst);
		snprintf(nums[i][2], sizeof(nums[i][2]), "%llu", (unsigned long long)r[i]->block_ms);
		for (int j = 0; j < 3; j++)
			argv[n++] = nums[i][j];
	}
	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[0] = "EVALSHA";
	argv[1] = sha[S_FAIL];
	argv[2] = nk;
	sf->req = redis_send(rc, fail_reply, sf, n, argv, NULL);
	return sf->req != NULL ? 0 : -1;
}

/* ---- good ---- */

static void
good_reply(void *arg, const redisReply *rp)
{
	if (rp != NULL && rp->type == REDIS_REPLY_INTEGER)
		error_logged[S_GOOD] = 0;
	no_answer(arg, rp, S_GOOD);
}

void
limit_store_good(const struct limit_store_conf *c, const struct limit_key *pair, uint64_t ttl_ms)
{
	struct redis *r = conn(c);
	char key[KEY_MAX], ttl[24];
	const char *argv[5] = { "EVALSHA", sha[S_GOOD], "1", key, ttl };

	if (r == NULL)
		return;
	key_text(c, pair, key);
	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)ttl_ms);
	redis_send(r, good_reply, (void *)c, 5, argv, NULL);
}

void
limit_store_shutdown(void)
{
	redis_shutdown();
}
