/*
 * The auth cache (auth_http_cache): answers of the auth service kept in a
 * shared zone so that a login seen lately skips the service. The key is an
 * HMAC-SHA256, under a random key kept in the zone, of the protocol, the
 * auth_http address, the login and the password: neither the login nor the
 * password is stored. The value is the answer: OK with backend address,
 * Auth-User and Auth-Pass (a backend password, stored in the zone in
 * clear), or a refusal with its text, code and wait. The zone is an
 * anonymous memfd, never written to disk. The master empties it at every
 * cycle (start, reload); `-s flush-auth-cache` empties it too.
 */
#ifndef MP_AUTHCACHE_H
#define MP_AUTHCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/shmhash.h"

#define AUTHCACHE_KEY_LEN 32
/* The serialized answer: anything longer is not cached. */
#define AUTHCACHE_VALUE_MAX 384
#define AUTHCACHE_KIND 0x61757468u	/* "auth" */

struct authcache_answer {
	int ok;			/* 1: Auth-Status OK; 0: a refusal */
	long wait;		/* Auth-Wait seconds of a refusal, -1 when none */
	struct sockaddr_storage server;	/* OK: Auth-Server and Auth-Port */
	socklen_t server_len;
	char user[256];		/* Auth-User, "" when none */
	char pass[256];		/* Auth-Pass, "" when none */
	int have_user, have_pass;
	int be_auth;		/* OK: the Auth-Method for an SMTP backend (enum be_auth, 0..7) */
	char text[256];		/* refusal: Auth-Status text */
	char code[32];		/* refusal: Auth-Error-Code */
};

size_t authcache_capacity(size_t size);
/* Lays out the table (kept when it is there) and empties it. Master only. */
int authcache_init(void *mem, size_t size);

/*
 * The key of one login: HMAC-SHA256 under the zone's secret of the fields,
 * each length-prefixed so that no two tuples run together. scope tells
 * apart the servers that share a zone (their auth_http). Returns -1 when
 * OpenSSL fails (then do not cache).
 */
int authcache_key(const void *mem, uint8_t key[AUTHCACHE_KEY_LEN], int protocol,
    const char *scope, const char *login, const char *pass);

/* 1 and *a filled on a hit, 0 on a miss. The caller wipes a->pass after use. */
int authcache_get(void *mem, const uint8_t key[AUTHCACHE_KEY_LEN], struct authcache_answer *a,
    uint64_t now_ms);
/*
 * Stores a until expires_ms, unless the cache was emptied since epoch
 * (authcache_epoch() before the lookup: an answer asked before a flush is not
 * kept after it). 0 stored, 1 not (a flush came), -1 too long for an entry.
 */
int authcache_put(void *mem, const uint8_t key[AUTHCACHE_KEY_LEN], const struct authcache_answer *a,
    uint64_t expires_ms, uint64_t now_ms, uint64_t epoch);
uint64_t authcache_epoch(const void *mem);
void authcache_flush(void *mem);
int authcache_peek_stats(const void *mem, size_t size, struct shmhash_stats *st);

#endif
