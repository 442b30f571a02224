/*
 * The failed-login counters of login_limit_store: the same leaky buckets
 * as the shared zone (common/limiter.h), kept in Redis so that every node
 * behind a load balancer counts every node's failures. Each call is one
 * Lua script run atomically on Redis's own clock, so nodes need not agree
 * on the time. A key in Redis is the prefix and the hex of the zone's key
 * (a SipHash of the address, login or pair), never the login itself.
 * The caller embeds the request and gets done() once, unless it cancels;
 * "not answered" means decide with the local zone.
 */
#ifndef MP_LIMIT_STORE_H
#define MP_LIMIT_STORE_H

#include <stdint.h>

#include "common/limiter.h"
#include "config/config.h"

/* Keys in this order: the client address, the login, the pair of both. */
#define STORE_NKEYS 3

struct redis_req;

struct store_check {
	void (*done)(struct store_check *sc, int answered);
	/* The answer: which key is blocked (-1: none) and for how long; the pair's good mark. */
	int blocked;
	uint64_t left_ms;
	int good;
	/* Ours. */
	struct redis_req *req;
	const struct limit_store_conf *c;
};

struct store_fail {
	void (*done)(struct store_fail *sf, int answered);
	/* Per key given a rule: this failure started its block; failures in its bucket; block left. */
	struct {
		int started;
		unsigned level;
		uint64_t left_ms;
	} res[STORE_NKEYS];
	/* Ours. */
	unsigned sent;		/* bit i: key i went to Redis */
	struct redis_req *req;
	const struct limit_store_conf *c;
};

/*
 * Is any key blocked? use[i]: key i has a rule; pair_good: look up the
 * pair's good mark, which lets it through the other two blocks.
 * Returns -1 when Redis is down or too far behind (done() is not called).
 */
int limit_store_check(const struct limit_store_conf *c, const struct limit_key k[STORE_NKEYS],
    const int use[STORE_NKEYS], int pair_good, struct store_check *sc);
void limit_store_check_cancel(struct store_check *sc);

/* Counts one failure of each key whose rule r[i] is not NULL. -1 as above. */
int limit_store_fail(const struct limit_store_conf *c, const struct limit_key k[STORE_NKEYS],
    const struct limit_rule *const r[STORE_NKEYS], struct store_fail *sf);

/* The pair logged in: its failures go and it is good for ttl_ms. No answer is awaited. */
void limit_store_good(const struct limit_store_conf *c, const struct limit_key *pair,
    uint64_t ttl_ms);

/*
 * The scripts' answers into sc or sf (sf->sent says which keys were sent):
 * 0, or -1 for anything but the exact shape, leaving sc or sf as it was
 * (the caller then decides alone). For the fuzzer; the callbacks use them.
 */
struct redisReply;
int limit_store_parse_check(const struct redisReply *rp, struct store_check *sc);
int limit_store_parse_fail(const struct redisReply *rp, struct store_fail *sf);

/* Worker exit. */
void limit_store_shutdown(void);

#endif
