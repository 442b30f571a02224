/*
 * Failed-login limits (login_limit_*): before a login goes to the auth
 * service, its client address, login name and the pair of both are looked
 * up in the server's shared counter zone (common/limiter.h); a blocked one
 * gets no auth request at all, a tarpit, then the protocol's temporary
 * failure. After the answer, a refusal counts against all three keys and a
 * success clears the pair and marks it good: a user who logged in from an
 * address keeps logging in from it while others' guesses block the address
 * or the account.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limiter.h"
#include "common/log.h"
#include "common/net.h"
#include "common/stats.h"
#include "worker/lookup/limit_store.h"
#include "worker/session/session_int.h"

/* How long a pair that logged in stays good: a day, past the blocks an operator sets (minutes to hours). */
#define PAIR_GOOD_MS (24ULL * 3600 * 1000)

enum { K_ADDR, K_USER, K_PAIR, K_MAX };

struct keys {
	struct limit_key k[K_MAX];
	const struct limit_rule_conf *rule[K_MAX];
	char addr[NET_ADDRSTRLEN + 8];	/* the address or network, for the log */
};

/* What the log line names: the login itself follows in every session line. */
static void
describe(const struct keys *ks, int which, char *out, size_t len)
{
	if (which == K_ADDR)
		snprintf(out, len, "address %s", ks->addr);
	else if (which == K_USER)
		snprintf(out, len, "login");
	else
		snprintf(out, len, "login from address %s", ks->addr);
}

static void *
zone_of(const struct session *s)
{
	return s->cy->login_limit != NULL ? s->cy->login_limit[s->le->server] : NULL;
}

/*
 * The client's address as a key: IPv4 whole, IPv6 cut to
 * login_limit_ipv6_prefix (a host has a /64 to pick from), an IPv4-mapped
 * IPv6 address as the IPv4 one it is.
 */
static size_t
addr_bytes(const struct session *s, uint8_t out[17], char *text, size_t textlen)
{
	const struct sockaddr *sa = &s->client.sa;

	if (sa->sa_family == AF_INET6) {
		const uint8_t *a = s->client.sin6.sin6_addr.s6_addr;
		unsigned bits = s->conf->login_limit_ipv6_prefix;

		if (!IN6_IS_ADDR_V4MAPPED(&s->client.sin6.sin6_addr)) {
			struct cidr c = { .family = AF_INET6, .bits = (int)bits };
			memset(out, 0, 17);
			for (unsigned i = 0; i < 16; i++) {
				unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
				out[i] = keep ? (uint8_t)(a[i] & (0xff << (8 - keep))) : 0;
			}
			out[16] = (uint8_t)bits;
			memcpy(c.addr, out, 16);
			net_cidr_format(&c, text, textlen);
			return 17;
		}
		memcpy(out, a + 12, 4);
		snprintf(text, textlen, "%u.%u.%u.%u", out[0], out[1], out[2], out[3]);
		return 4;
	}
	memcpy(out, &s->client.sin.sin_addr, 4);
	net_ntop(sa, text, textlen);
	return 4;
}

/* The login as the auth service sees it, ASCII case folded; 0 when there is none. */
static size_t
login_folded(const char *login, char *out, size_t max)
{
	size_t n = 0;

	if (login == NULL)
		return 0;
	for (; login[n] != '\0' && n < max; n++)
		out[n] = login[n] >= 'A' && login[n] <= 'Z' ? (char)(login[n] - 'A' + 'a') : login[n];
	return n;
}

/*
 * 0 with the keys of this address and login, or -1 when no limit applies:
 * no zone, or an allow-listed client. user/pair are the kinds of the login's
 * keys: failed logins and relayed sessions count apart.
 */
static int
make_keys(const struct session *s, const char *user, char kuser, char kpair, struct keys *ks)
{
	const struct srv_conf *c = s->conf;
	uint8_t addr[17], pair[17 + 1 + 512];
	char login[512];
	size_t al, ll;

	if (zone_of(s) == NULL)
		return -1;
	for (size_t i = 0; i < c->login_limit_allow.n; i++)
		if (net_cidr_match(&c->login_limit_allow.v[i], &s->client.sa))
			return -1;
	al = addr_bytes(s, addr, ks->addr, sizeof(ks->addr));
	ll = login_folded(user, login, sizeof(login));
	limit_key_make(&ks->k[K_ADDR], 'a', addr, al);
	limit_key_make(&ks->k[K_USER], kuser, login, ll);
	memcpy(pair, addr, al);
	pair[al] = '\0';
	memcpy(pair + al + 1, login, ll);
	limit_key_make(&ks->k[K_PAIR], kpair, pair, al + 1 + ll);
	ks->rule[K_ADDR] = &c->login_limit_addr;
	ks->rule[K_USER] = ll > 0 ? &c->login_limit_user : NULL;
	ks->rule[K_PAIR] = ll > 0 ? &c->login_limit_pair : NULL;
	return 0;
}

/* The keys of the failed-login limits, -1 when none applies. */
static int
login_keys(const struct session *s, struct keys *ks)
{
	if (!config_login_limited(s->conf))
		return -1;
	return make_keys(s, s->pa->ctx.cr.login, LIMIT_KIND_USER, LIMIT_KIND_PAIR, ks);
}

static void
to_rule(const struct limit_rule_conf *rc, struct limit_rule *r)
{
	r->interval_us = rc->interval_us;
	r->burst = rc->burst;
	r->block_ms = rc->block_ms;
}

static const struct limit_store_conf *
store_of(const struct session *s)
{
	return s->conf->login_limit_store.spec != NULL ? &s->conf->login_limit_store : NULL;
}

/* Key which is blocked for left more ms: logged once per block; 1 when refused. */
static int
refuse(struct session *s, const struct keys *ks, int which, uint64_t left, uint64_t now)
{
	void *zone = zone_of(s);

	if (limiter_should_log(zone, &ks->k[which], now)) {
		char what[NET_ADDRSTRLEN + 64];
		describe(ks, which, what, sizeof(what));
		session_log(s, s->conf->login_limit_log_level, 0,
		    "login limit: %s blocked for %llu s more%s", what,
		    (unsigned long long)(left + 999) / 1000,
		    s->conf->login_limit_dry_run ? " (dry run: let through)" : "");
	}
	if (s->conf->login_limit_dry_run)
		return 0;
	STAT_ADD(limit_blocked, 1);
	STAT_LOGIN(s->conf->protocol, limited);
	return 1;
}

/* The verdict of this node's zone; good: the store knows the pair as good. */
static int
decide_locally(struct session *s, const struct keys *ks, uint64_t now, int good)
{
	void *zone = zone_of(s);
	uint64_t left = 0;

	good = good || (ks->rule[K_PAIR] != NULL && limiter_is_good(zone, &ks->k[K_PAIR], now));
	for (int i = K_PAIR; i >= K_ADDR; i--) {
		if (ks->rule[i] == NULL || ks->rule[i]->interval_us == 0 || (good && i != K_PAIR))
			continue;
		if ((left = limiter_blocked(zone, &ks->k[i], now)) > 0)
			return refuse(s, ks, i, left, now);
	}
	return 0;
}

/* login_limit_store's answer, or its silence: the login goes on (session_limit_checked()). */
static void
store_checked(struct store_check *sc, int answered)
{
	struct preauth *pa = (struct preauth *)((char *)sc - offsetof(struct preauth, limit_check));
	struct session *s = pa->limit_owner;
	void *zone = zone_of(s);
	uint64_t now = clock_now();
	struct keys ks;
	int blocked = 0;

	if (login_keys(s, &ks) < 0) {
		session_limit_checked(s, 0);
		return;
	}
	limiter_count_store(zone, answered);
	if (answered && sc->blocked >= 0) {
		/* The zone keeps the block, for when Redis is away, and counts the
		 * refusal as its own (blocked_logins). */
		limiter_block(zone, &ks.k[sc->blocked], now + sc->left_ms, now);
		limiter_blocked(zone, &ks.k[sc->blocked], now);
		blocked = refuse(s, &ks, sc->blocked, sc->left_ms, now);
	} else {
		/* The failures this node saw count even when Redis has lost them (a
		 * restart, a script it refuses): the zone holds at most what Redis
		 * should, so its block stands. */
		blocked = decide_locally(s, &ks, now, answered && sc->good);
	}
	session_limit_checked(s, blocked);
}

/*
 * Before the auth request: LIMIT_BLOCKED when the login is blocked (the
 * session then waits out the tarpit and answers the temporary failure),
 * LIMIT_PASS to go on, LIMIT_WAIT while login_limit_store is asked (the
 * answer comes through session_limit_checked()).
 */
int
session_limit_check(struct session *s)
{
	const struct limit_store_conf *st = store_of(s);
	struct keys ks;

	if (s->pa->ctx.cr.method == AUTHM_NONE || login_keys(s, &ks) < 0)
		return LIMIT_PASS;
	if (st != NULL) {
		int use[K_MAX];
		for (int i = K_ADDR; i < K_MAX; i++)
			use[i] = ks.rule[i] != NULL && ks.rule[i]->interval_us != 0;
		s->pa->limit_check.done = store_checked;
		s->pa->limit_owner = s;
		if (limit_store_check(st, ks.k, use, ks.rule[K_PAIR] != NULL, &s->pa->limit_check) == 0)
			return LIMIT_WAIT;
		limiter_count_store(zone_of(s), 0);
	}
	return decide_locally(s, &ks, clock_now(), 0) ? LIMIT_BLOCKED : LIMIT_PASS;
}

/*
 * A failure counted in login_limit_store: its answer may come after the
 * session is gone, so it carries what the log line and the zone need.
 */
struct fail_note {
	struct store_fail sf;
	void *zone;
	struct limit_key k[K_MAX];
	const struct log_set *log;
	uint64_t id;
	int level, dry_run;
	int local_started[K_MAX];
	unsigned local_level[K_MAX];
	char what[K_MAX][NET_ADDRSTRLEN + 64];
	char where[2 * NET_ADDRSTRLEN + 600];	/* ", client: ..., server: ..., login: ..." */
};

static void
store_failed(struct store_fail *sf, int answered)
{
	struct fail_note *n = (struct fail_note *)sf;
	uint64_t now = clock_now();

	if (!answered)
		limiter_count_store(n->zone, 0);
	for (int i = K_ADDR; i < K_MAX; i++) {
		if (!(sf->sent & 1u << i))
			continue;
		if (!answered) {
			/* What this node's zone saw, as without a store. */
			if (n->local_started[i])
				log_write(n->log, n->level, 0, n->id,
				    "login limit: %s over the limit with %u failures%s%s", n->what[i],
				    n->local_level[i], n->dry_run ? " (dry run: not blocked)" : "", n->where);
			continue;
		}
		if (sf->res[i].left_ms > 0)
			limiter_block(n->zone, &n->k[i], now + sf->res[i].left_ms, now);
		if (sf->res[i].started)
			log_write(n->log, n->level, 0, n->id,
			    "login limit: %s over the limit with %u failures on all nodes%s%s", n->what[i],
			    sf->res[i].level, n->dry_run ? " (dry run: not blocked)" : "", n->where);
	}
	free(n);
}

/* Sends the failure to login_limit_store; 0 when it went (the answer logs), -1 when not. */
static int
fail_shared(struct session *s, const struct keys *ks, const struct limit_rule r[K_MAX],
    const int started[K_MAX], const unsigned level[K_MAX])
{
	const struct limit_rule *rp[K_MAX];
	struct fail_note *n;
	char client[NET_ADDRSTRLEN], server[NET_ADDRSTRLEN];
	const char *login = s->pa->ctx.cr.login;

	if (store_of(s) == NULL || (n = calloc(1, sizeof(*n))) == NULL)
		return -1;
	for (int i = K_ADDR; i < K_MAX; i++) {
		rp[i] = ks->rule[i] != NULL && ks->rule[i]->interval_us != 0 ? &r[i] : NULL;
		n->k[i] = ks->k[i];
		n->local_started[i] = started[i];
		n->local_level[i] = level[i];
		describe(ks, i, n->what[i], sizeof(n->what[i]));
	}
	n->sf.done = store_failed;
	n->zone = zone_of(s);
	n->log = s->log;
	n->id = s->id;
	n->level = s->conf->login_limit_log_level;
	n->dry_run = s->conf->login_limit_dry_run;
	net_ntop(&s->client.sa, client, sizeof(client));
	net_ntop_port((const struct sockaddr *)&s->le->lc->addr, server, sizeof(server));
	snprintf(n->where, sizeof(n->where), ", client: %s, server: %s%s%.500s%s", client, server,
	    login ? ", login: \"" : "", login ? login : "", login ? "\"" : "");
	if (limit_store_fail(store_of(s), ks->k, rp, &n->sf) < 0) {
		free(n);
		limiter_count_store(zone_of(s), 0);
		return -1;
	}
	return 0;
}

/*
 * The auth service refused the login, or the client sent SASL data that
 * does not decode: every key there is counts one failure (without a login
 * yet, the address alone).
 */
void
session_limit_failed(struct session *s)
{
	void *zone = zone_of(s);
	uint64_t now = clock_now();
	struct limit_rule r[K_MAX];
	struct keys ks;
	int started[K_MAX] = { 0 };
	unsigned level[K_MAX] = { 0 };

	if (login_keys(s, &ks) < 0)
		return;
	/* The zone counts too: it decides alone whenever Redis is away. */
	for (int i = K_ADDR; i < K_MAX; i++) {
		if (ks.rule[i] == NULL || ks.rule[i]->interval_us == 0)
			continue;
		to_rule(ks.rule[i], &r[i]);
		started[i] = limiter_fail(zone, &ks.k[i], &r[i], now, &level[i]) == 1;
	}
	/* With a store, its answer logs (or, without one, what the zone saw). */
	if (fail_shared(s, &ks, r, started, level) == 0)
		return;
	for (int i = K_ADDR; i < K_MAX; i++) {
		if (started[i]) {
			char what[NET_ADDRSTRLEN + 64];
			describe(&ks, i, what, sizeof(what));
			session_log(s, s->conf->login_limit_log_level, 0,
			    "login limit: %s over the limit with %u failures%s", what, level[i],
			    s->conf->login_limit_dry_run ? " (dry run: not blocked)" : "");
		}
	}
}

/* A good login: the pair starts again from nothing, and is known good. */
void
session_limit_ok(struct session *s)
{
	void *zone = zone_of(s);
	struct keys ks;

	if (s->pa->ctx.cr.method == AUTHM_NONE || login_keys(s, &ks) < 0 || ks.rule[K_PAIR] == NULL)
		return;
	limiter_mark_good(zone, &ks.k[K_PAIR], clock_now(), PAIR_GOOD_MS);
	if (store_of(s) != NULL)
		limit_store_good(store_of(s), &ks.k[K_PAIR], PAIR_GOOD_MS);
}

/* The tarpit: how long a blocked client waits for its answer (bounded by timeout). */
uint64_t
session_limit_tarpit(const struct session *s)
{
	uint64_t t = s->conf->login_limit_tarpit;

	return t < s->conf->timeout ? t : s->conf->timeout;
}

static const char *
session_limit_user(const struct session *s)
{
	return s->limit_user != NULL ? s->limit_user : s->login;
}

/* Kinds of the relayed-session counters: a login, and a login from an address. */
#define KIND_SESSIONS_USER 'S'
#define KIND_SESSIONS_PAIR 'T'

static int
sessions_capped(const struct srv_conf *c)
{
	return c->limit_sessions_user != 0 || c->limit_sessions_user_addr != 0;
}

/*
 * limit_sessions_user and limit_sessions_user_addr, after the auth service
 * said yes: 0 when the session may be relayed (it now counts, until
 * session_limit_release()), -1 when a cap is reached. The user counted is
 * the mailbox's: the auth service's Auth-User when it names one (aliases
 * of one account count together, as Dovecot counts its final user), else
 * the client's login.
 */
int
session_limit_take(struct session *s, const char *auth_user)
{
	const struct srv_conf *c = s->conf;
	void *zone = zone_of(s);
	uint64_t now = clock_now();
	struct keys ks;

	if (s->login == NULL || !sessions_capped(c))
		return 0;
	if (auth_user != NULL && strcmp(auth_user, s->login) != 0 &&
	    (s->limit_user = strdup(auth_user)) == NULL)
		return 0;	/* out of memory: the cap fails open */
	if (make_keys(s, session_limit_user(s), KIND_SESSIONS_USER, KIND_SESSIONS_PAIR, &ks) < 0)
		return 0;
	if (c->limit_sessions_user != 0 &&
	    !limiter_session_take(zone, &ks.k[K_USER], c->limit_sessions_user, now)) {
		session_log(s, c->login_limit_log_level, 0,
		    "login limit: %u sessions of this login are open (limit_sessions_user)",
		    c->limit_sessions_user);
		return -1;
	}
	if (c->limit_sessions_user_addr != 0 &&
	    !limiter_session_take(zone, &ks.k[K_PAIR], c->limit_sessions_user_addr, now)) {
		if (c->limit_sessions_user != 0)
			limiter_session_drop(zone, &ks.k[K_USER]);
		session_log(s, c->login_limit_log_level, 0,
		    "login limit: %u sessions of this login from %s are open (limit_sessions_user_addr)",
		    c->limit_sessions_user_addr, ks.addr);
		return -1;
	}
	s->limit_held = 1;
	return 0;
}

/* The session ends: what session_limit_take() counted is given back. */
void
session_limit_release(struct session *s)
{
	const struct srv_conf *c = s->conf;
	void *zone = zone_of(s);
	struct keys ks;

	if (s->pa != NULL && s->pa->limit_check.req != NULL)
		limit_store_check_cancel(&s->pa->limit_check);
	if (!s->limit_held)
		return;
	s->limit_held = 0;
	if (make_keys(s, session_limit_user(s), KIND_SESSIONS_USER, KIND_SESSIONS_PAIR, &ks) < 0)
		return;
	if (c->limit_sessions_user != 0)
		limiter_session_drop(zone, &ks.k[K_USER]);
	if (c->limit_sessions_user_addr != 0)
		limiter_session_drop(zone, &ks.k[K_PAIR]);
}
