/*
 * The generic shared cache (common/shmhash.c) and the auth cache on it
 * (common/authcache.c): insert, lookup, replace, expiry, LRU eviction in a
 * full table, flush, hostile sizes, keys that never hold the login or the
 * password (the zone's bytes are scanned for them), answers too long for an
 * entry, a kept table reused, the lock shared by forked processes; and the
 * Auth-Cache-Valid header of the auth_http parser, malformed values too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <criterion/criterion.h>

#include "common/authcache.h"
#include "common/shmhash.h"
#include "worker/proto/auth_http_proto.h"

TestSuite(authcache);

static void *
zone(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	return p;
}

static void
verify(void *t)
{
	char err[200] = "";

	cr_assert_eq(shmhash_verify(t, err, sizeof(err)), 0, "table inconsistent: %s", err);
}

static void
key_of(uint8_t k[8], unsigned n)
{
	memset(k, 0, 8);
	memcpy(k, &n, sizeof(n));
}

static struct shmhash_stats
stats(void *t, size_t size)
{
	struct shmhash_stats st;

	cr_assert_eq(shmhash_peek_stats(t, size, 7, &st), 0);
	return st;
}

Test(authcache, shmhash_insert_lookup_replace_remove)
{
	size_t size = 64 * 1024;
	void *t = zone(size);
	uint8_t k[8], v[32];

	cr_assert_eq(shmhash_init(t, size, 7, 8, 32), 0);
	key_of(k, 1);
	cr_assert_eq(shmhash_get(t, k, v, 0), -1);
	cr_assert_eq(shmhash_put(t, k, "hello", 5, 1000, 0), 0);
	cr_assert_eq(shmhash_get(t, k, v, 10), 5);
	cr_assert_eq(memcmp(v, "hello", 5), 0);
	cr_assert_eq(shmhash_put(t, k, "hi", 2, 1000, 0), 0);
	cr_assert_eq(shmhash_get(t, k, v, 10), 2);
	cr_assert_eq(memcmp(v, "hi", 2), 0);
	cr_assert_eq(stats(t, size).entries, 1);
	/* a value longer than the table's room is refused, nothing changes */
	uint8_t big[33] = { 0 };
	cr_assert_eq(shmhash_put(t, k, big, sizeof(big), 1000, 0), -1);
	cr_assert_eq(shmhash_get(t, k, v, 10), 2);
	shmhash_remove(t, k);
	cr_assert_eq(shmhash_get(t, k, v, 10), -1);
	struct shmhash_stats st = stats(t, size);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(st.hits, 3);
	cr_assert_eq(st.misses, 2);
	cr_assert_eq(st.removes, 1);
	verify(t);
	/* another kind is not this table */
	cr_assert_eq(shmhash_peek_stats(t, size, 8, &st), -1);
	munmap(t, size);
}

Test(authcache, shmhash_expiry)
{
	size_t size = 64 * 1024;
	void *t = zone(size);
	uint8_t k[8], v[32];

	cr_assert_eq(shmhash_init(t, size, 7, 8, 32), 0);
	key_of(k, 1);
	cr_assert_eq(shmhash_put(t, k, "x", 1, 1000, 0), 0);
	cr_assert_eq(shmhash_get(t, k, v, 999), 1);
	cr_assert_eq(shmhash_get(t, k, v, 1000), -1, "an entry is gone at its expiry time");
	struct shmhash_stats st = stats(t, size);
	cr_assert_eq(st.expired, 1);
	cr_assert_eq(st.entries, 0);
	verify(t);
	munmap(t, size);
}

Test(authcache, shmhash_full_table_evicts_least_recently_used)
{
	size_t size = 16 * 1024;
	void *t = zone(size);
	uint8_t k[8], v[32];
	size_t cap = shmhash_capacity(size, 8, 32);

	cr_assert_eq(shmhash_init(t, size, 7, 8, 32), 0);
	cr_assert_gt(cap, 16);
	cr_assert_eq(stats(t, size).capacity, cap);
	for (unsigned i = 0; i < cap; i++) {
		key_of(k, i);
		cr_assert_eq(shmhash_put(t, k, &i, sizeof(i), 100000, 0), 0);
	}
	/* key 0 used again: key 1 is now the oldest */
	key_of(k, 0);
	cr_assert_eq(shmhash_get(t, k, v, 1), (long)sizeof(unsigned));
	key_of(k, 100000);
	cr_assert_eq(shmhash_put(t, k, "n", 1, 100000, 1), 0);
	struct shmhash_stats st = stats(t, size);
	cr_assert_eq(st.entries, cap);
	cr_assert_eq(st.evictions, 1);
	key_of(k, 1);
	cr_assert_eq(shmhash_get(t, k, v, 2), -1, "the least recently used went");
	key_of(k, 0);
	cr_assert_eq(shmhash_get(t, k, v, 2), (long)sizeof(unsigned));
	verify(t);
	/* a flood of new keys keeps the table consistent and full */
	for (unsigned i = 0; i < 5 * cap; i++) {
		key_of(k, 200000 + i);
		cr_assert_eq(shmhash_put(t, k, &i, sizeof(i), 100000, 2), 0);
	}
	cr_assert_eq(stats(t, size).entries, cap);
	verify(t);
	shmhash_flush(t);
	st = stats(t, size);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(st.flushes, 1);
	key_of(k, 200000 + 5 * (unsigned)cap - 1);
	cr_assert_eq(shmhash_get(t, k, v, 3), -1);
	verify(t);
	munmap(t, size);
}

Test(authcache, shmhash_hostile_sizes)
{
	size_t size = 64 * 1024;
	void *t = zone(size);

	cr_assert_eq(shmhash_init(t, 0, 7, 8, 32), -1);
	cr_assert_eq(shmhash_init(t, 100, 7, 8, 32), -1);
	cr_assert_eq(shmhash_init(t, 400, 7, 8, 32), -1, "fewer than 8 entries");
	cr_assert_eq(shmhash_init(t, size, 7, 0, 32), -1);
	cr_assert_eq(shmhash_init(t, size, 7, SHMHASH_MAX_KEY + 1, 32), -1);
	cr_assert_eq(shmhash_init(t, size, 7, 8, SHMHASH_MAX_VALUE + 1), -1);
	cr_assert_eq(shmhash_init(t, size, 7, 8, SHMHASH_MAX_VALUE), 0);
	cr_assert_eq(shmhash_capacity(SIZE_MAX, 8, 32), UINT32_MAX / 4);
	cr_assert_eq(shmhash_capacity(size, 0, 32), 0);
	/* every size from tiny up lays out a consistent table or refuses */
	for (size_t s = 0; s < 8192; s += 37) {
		memset(t, 0, size);
		if (shmhash_init(t, s, 7, 32, 100) == 0) {
			cr_assert_geq(shmhash_capacity(s, 32, 100), 8);
			verify(t);
		}
	}
	munmap(t, size);
}

Test(authcache, shmhash_kept_table_keeps_entries_unless_layout_changes)
{
	size_t size = 64 * 1024;
	void *t = zone(size);
	uint8_t k[8], v[32];

	cr_assert_eq(shmhash_init(t, size, 7, 8, 32), 0);
	key_of(k, 5);
	cr_assert_eq(shmhash_put(t, k, "kept", 4, 1000, 0), 0);
	uint8_t secret[SHMHASH_SECRET_LEN];
	memcpy(secret, shmhash_secret(t), sizeof(secret));
	cr_assert_eq(shmhash_init(t, size, 7, 8, 32), 0);
	cr_assert_eq(shmhash_get(t, k, v, 1), 4);
	cr_assert_eq(memcmp(secret, shmhash_secret(t), sizeof(secret)), 0);
	cr_assert_eq(shmhash_init(t, size, 7, 8, 40), 0);
	cr_assert_eq(shmhash_get(t, k, v, 1), -1, "a new layout starts empty");
	munmap(t, size);
}

Test(authcache, shmhash_shared_by_forked_processes)
{
	size_t size = 256 * 1024;
	void *t = zone(size);
	uint8_t k[8], v[32];

	cr_assert_eq(shmhash_init(t, size, 7, 8, 32), 0);
	for (int c = 0; c < 4; c++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			for (unsigned i = 0; i < 2000; i++) {
				uint8_t kk[8], vv[32];
				key_of(kk, (unsigned)c * 100000 + i % 300);
				shmhash_put(t, kk, &i, sizeof(i), 100000, 0);
				shmhash_get(t, kk, vv, 1);
			}
			_exit(0);
		}
	}
	for (int c = 0; c < 4; c++) {
		int st;
		cr_assert_gt(wait(&st), 0);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	verify(t);
	key_of(k, 3 * 100000 + 1999 % 300);
	cr_assert_eq(shmhash_get(t, k, v, 1), (long)sizeof(unsigned));
	munmap(t, size);
}

Test(authcache, shmhash_holder_dies_with_the_lock)
{
	size_t size = 64 * 1024;
	void *t = zone(size);
	uint8_t k[8], v[32];

	cr_assert_eq(shmhash_init(t, size, 7, 8, 32), 0);
	key_of(k, 1);
	cr_assert_eq(shmhash_put(t, k, "x", 1, 1000, 0), 0);
	pid_t pid = fork();
	if (pid == 0) {
		shmhash_test_lock(t);	/* and die with it, as a crashed worker */
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	/* the next user gets the lock back, with an emptied, consistent table */
	cr_assert_eq(shmhash_get(t, k, v, 1), -1);
	verify(t);
	cr_assert_eq(shmhash_put(t, k, "y", 1, 1000, 0), 0);
	cr_assert_eq(shmhash_get(t, k, v, 1), 1);
	munmap(t, size);
}

static void *
auth_table(size_t size)
{
	void *t = zone(size);

	cr_assert_eq(authcache_init(t, size), 0);
	return t;
}

static int
contains(const void *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle)) != NULL;
}

Test(authcache, key_depends_on_every_field_and_never_holds_them)
{
	size_t size = 64 * 1024;
	void *t = auth_table(size);
	uint8_t a[AUTHCACHE_KEY_LEN], b[AUTHCACHE_KEY_LEN];

	cr_assert_eq(authcache_key(t, a, 1, "127.0.0.1:9000/auth", "alice", "secret-pw"), 0);
	cr_assert_eq(authcache_key(t, b, 1, "127.0.0.1:9000/auth", "alice", "secret-pw"), 0);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0);
	cr_assert_eq(authcache_key(t, b, 2, "127.0.0.1:9000/auth", "alice", "secret-pw"), 0);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0, "protocol");
	cr_assert_eq(authcache_key(t, b, 1, "127.0.0.1:9001/auth", "alice", "secret-pw"), 0);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0, "auth_http");
	cr_assert_eq(authcache_key(t, b, 1, "127.0.0.1:9000/auth", "alice", "secret-pX"), 0);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0, "password");
	/* the fields are length-prefixed: shifting bytes between them is another key */
	cr_assert_eq(authcache_key(t, a, 1, "s", "alicesecret", "pw"), 0);
	cr_assert_eq(authcache_key(t, b, 1, "s", "alice", "secretpw"), 0);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
	/* another zone (another random secret): another key for the same login */
	void *u = auth_table(size);
	cr_assert_eq(authcache_key(u, b, 1, "s", "alicesecret", "pw"), 0);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0);

	struct authcache_answer ans = { .ok = 0, .wait = 3 };
	snprintf(ans.text, sizeof(ans.text), "Invalid login or password");
	for (int i = 0; i < 50; i++) {
		char login[32], pw[32];
		snprintf(login, sizeof(login), "user-login-%02d", i);
		snprintf(pw, sizeof(pw), "pass-word-%02d", i);
		cr_assert_eq(authcache_key(t, a, 1, "s", login, pw), 0);
		cr_assert_eq(authcache_put(t, a, &ans, 100000, 0, authcache_epoch(t)), 0);
	}
	for (int i = 0; i < 50; i++) {
		char login[32], pw[32];
		snprintf(login, sizeof(login), "user-login-%02d", i);
		snprintf(pw, sizeof(pw), "pass-word-%02d", i);
		cr_assert(!contains(t, size, login), "login %s in the zone", login);
		cr_assert(!contains(t, size, pw), "password %s in the zone", pw);
	}
	cr_assert(contains(t, size, "Invalid login or password"));
	munmap(t, size);
	munmap(u, size);
}

Test(authcache, answers_round_trip)
{
	size_t size = 64 * 1024;
	void *t = auth_table(size);
	uint8_t k1[AUTHCACHE_KEY_LEN], k2[AUTHCACHE_KEY_LEN];
	struct authcache_answer in, out;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&in.server;

	memset(&in, 0, sizeof(in));
	in.ok = 1;
	in.wait = -1;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(2143);
	inet_pton(AF_INET6, "::1", &sin6->sin6_addr);
	in.server_len = sizeof(*sin6);
	in.have_user = in.have_pass = 1;
	in.be_auth = 2;		/* BE_AUTH_LOGIN: an SMTP backend's Auth-Method */
	snprintf(in.user, sizeof(in.user), "backend-user");
	snprintf(in.pass, sizeof(in.pass), "backend-pass");
	authcache_key(t, k1, 1, "s", "alice", "pw");
	cr_assert_eq(authcache_put(t, k1, &in, 1000, 0, authcache_epoch(t)), 0);
	cr_assert_eq(authcache_get(t, k1, &out, 1), 1);
	cr_assert_eq(out.ok, 1);
	cr_assert_eq(out.wait, -1);
	cr_assert_eq(out.server_len, sizeof(*sin6));
	cr_assert_eq(memcmp(&out.server, sin6, sizeof(*sin6)), 0);
	cr_assert(out.have_user && out.have_pass);
	cr_assert_eq(out.be_auth, 2, "the Auth-Method survives the cache");
	cr_assert_str_eq(out.user, "backend-user");
	cr_assert_str_eq(out.pass, "backend-pass");

	memset(&in, 0, sizeof(in));
	in.wait = 0;
	snprintf(in.text, sizeof(in.text), "Temporary failure");
	snprintf(in.code, sizeof(in.code), "451 4.3.0");
	authcache_key(t, k2, 3, "s", "bob", "x");
	cr_assert_eq(authcache_put(t, k2, &in, 1000, 0, authcache_epoch(t)), 0);
	cr_assert_eq(authcache_get(t, k2, &out, 999), 1);
	cr_assert_eq(out.ok, 0);
	cr_assert_eq(out.wait, 0);
	cr_assert(!out.have_user && !out.have_pass);
	cr_assert_str_eq(out.text, "Temporary failure");
	cr_assert_str_eq(out.code, "451 4.3.0");
	cr_assert_eq(authcache_get(t, k2, &out, 1000), 0, "expired");
	munmap(t, size);
}

Test(authcache, answer_too_long_is_not_cached)
{
	size_t size = 64 * 1024;
	void *t = auth_table(size);
	uint8_t k[AUTHCACHE_KEY_LEN];
	struct authcache_answer in, out;

	memset(&in, 0, sizeof(in));
	in.ok = 1;
	in.have_user = in.have_pass = 1;
	memset(in.user, 'u', 200);
	memset(in.pass, 'p', 200);
	authcache_key(t, k, 1, "s", "alice", "pw");
	cr_assert_eq(authcache_put(t, k, &in, 1000, 0, authcache_epoch(t)), -1);
	cr_assert_eq(authcache_get(t, k, &out, 1), 0);
	cr_assert_eq(out.ok, 0, "a miss leaves nothing behind");
	munmap(t, size);
}

Test(authcache, init_empties_a_kept_table)
{
	size_t size = 64 * 1024;
	void *t = auth_table(size);
	uint8_t k[AUTHCACHE_KEY_LEN];
	struct authcache_answer in = { .ok = 0, .wait = -1 }, out;
	struct shmhash_stats st;

	authcache_key(t, k, 1, "s", "alice", "pw");
	cr_assert_eq(authcache_put(t, k, &in, 100000, 0, authcache_epoch(t)), 0);
	cr_assert_eq(authcache_init(t, size), 0);
	cr_assert_eq(authcache_get(t, k, &out, 1), 0, "a reload empties the cache");
	cr_assert_eq(authcache_peek_stats(t, size, &st), 0);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(authcache_init(t, 1024), -1, "too small");
	munmap(t, size);
}

Test(authcache, answer_asked_before_a_flush_is_not_stored_after_it)
{
	size_t size = 64 * 1024;
	void *t = auth_table(size);
	uint8_t k[AUTHCACHE_KEY_LEN];
	struct authcache_answer in = { .ok = 0, .wait = -1 }, out;

	authcache_key(t, k, 1, "s", "alice", "pw");
	uint64_t epoch = authcache_epoch(t);
	cr_assert_eq(authcache_get(t, k, &out, 1), 0);
	authcache_flush(t);	/* -s flush-auth-cache while the service is asked */
	cr_assert_eq(authcache_put(t, k, &in, 100000, 0, epoch), 1);
	cr_assert_eq(authcache_get(t, k, &out, 1), 0);
	cr_assert_eq(authcache_put(t, k, &in, 100000, 0, authcache_epoch(t)), 0);
	cr_assert_eq(authcache_get(t, k, &out, 1), 1);
	munmap(t, size);
}

static struct auth_result
parse(const char *resp)
{
	struct auth_result r;

	memset(&r, 0, sizeof(r));
	auth_result_clear(&r);
	cr_assert_eq(auth_http_parse(resp, strlen(resp), 1, &r), AUTH_PARSE_DONE, "%s", resp);
	return r;
}

Test(authcache, auth_cache_valid_header)
{
	struct auth_result r = parse("HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\n"
	    "Auth-Port: 143\r\nAuth-Cache-Valid: 30\r\n\r\n");
	cr_assert(r.have_cache_valid);
	cr_assert_eq(r.cache_valid, 30);
	auth_result_clear(&r);
	r = parse("HTTP/1.0 200 OK\r\nAuth-Status: OK\r\n\r\n");
	cr_assert(!r.have_cache_valid, "absent");
	r = parse("Auth-Status: no\r\nauth-cache-valid: 0\r\n\r\n");
	cr_assert(r.have_cache_valid && r.cache_valid == 0);
	/* anything but digits forbids caching */
	static const char *const bad[] = { "", "-5", "5s", "1 0", "0x10", "+3" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char resp[128];
		snprintf(resp, sizeof(resp), "Auth-Status: OK\r\nAuth-Cache-Valid: %s\r\n\r\n", bad[i]);
		r = parse(resp);
		cr_assert(r.have_cache_valid, "\"%s\"", bad[i]);
		cr_assert_eq(r.cache_valid, 0, "\"%s\" gave %ld", bad[i], r.cache_valid);
	}
	/* huge: saturates, then valid= caps it */
	r = parse("Auth-Status: OK\r\nAuth-Cache-Valid: 99999999999999999999999999999\r\n\r\n");
	cr_assert(r.cache_valid >= 1000000 && r.cache_valid < 100000000, "%ld", r.cache_valid);
}
