/*
 * auth_http_cache in the session: before an auth request, a login whose
 * answer is in the server's cache zone (common/authcache.h) is answered from
 * it; after a fresh answer, the answer is stored. A hit completes through
 * the same session_auth_done() as the service's answer, from a deferred
 * call (the lookup runs inside the protocol machine's loop, which must not
 * be re-entered), so the limits count a cached refusal as any other.
 * Only logins whose secret is the password itself (PLAIN, LOGIN, IMAP
 * LOGIN, USER/PASS) are cached: APOP and CRAM-MD5 answers hang on a salt
 * that is new every session. The client address is not in the key: an
 * auth service that answers per address says so with Auth-Cache-Valid: 0.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "common/authcache.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "worker/event/event.h"
#include "worker/session/session_int.h"

_Static_assert(sizeof(((struct preauth *)0)->cache_key) == AUTHCACHE_KEY_LEN, "cache key size");

static void *
zone_of(struct session *s)
{
	return s->cy->auth_cache != NULL ? s->cy->auth_cache[s->le->server] : NULL;
}

static int
cacheable(const struct creds *cr)
{
	return (cr->method == AUTHM_PLAIN || cr->method == AUTHM_LOGIN) && cr->login != NULL &&
	    cr->passwd != NULL;
}

/* The deferred half of a hit: the session may have closed in between. */
static void
hit_run(void *arg)
{
	struct session *s = arg;

	if (s->state != SS_AUTH || s->pa == NULL || !s->pa->cache_pending)
		return;
	s->pa->cache_pending = 0;
	session_auth_done(s, &s->pa->ar);
}

static int
fill_result(struct auth_result *ar, const struct authcache_answer *a)
{
	auth_result_clear(ar);
	if (!a->ok) {
		ar->status = AUTH_FAIL;
		snprintf(ar->text, sizeof(ar->text), "%s", a->text);
		snprintf(ar->code, sizeof(ar->code), "%s", a->code);
		ar->wait = a->wait;
		return 0;
	}
	ar->status = AUTH_OK;
	memcpy(&ar->server, &a->server, a->server_len);
	ar->have_server = ar->have_port = 1;
	ar->be_auth = a->be_auth;
	if ((a->have_user && (ar->user = strdup(a->user)) == NULL) ||
	    (a->have_pass && (ar->pass = strdup(a->pass)) == NULL)) {
		auth_result_clear(ar);
		return -1;
	}
	return 0;
}

int
session_cache_lookup(struct session *s)
{
	struct preauth *pa = s->pa;
	void *zone = zone_of(s);
	struct authcache_answer a;
	int rc = 0;

	pa->cache_keyed = 0;
	pa->cache_pending = 0;
	if (zone == NULL || !cacheable(&pa->ctx.cr))
		return 0;
	if (authcache_key(zone, pa->cache_key, (int)s->conf->protocol,
	    s->conf->auth_http.url ? s->conf->auth_http.url : "", pa->ctx.cr.login,
	    pa->ctx.cr.passwd) < 0)
		return 0;
	pa->cache_keyed = 1;
	pa->cache_epoch = authcache_epoch(zone);
	if (!authcache_get(zone, pa->cache_key, &a, clock_now()))
		return 0;
	if (fill_result(&pa->ar, &a) == 0 && ev_defer(hit_run, s) == 0) {
		pa->cache_pending = 1;
		pa->cache_keyed = 0;	/* a hit is not stored again */
		if (log_enabled(s->log, LL_DEBUG))
			session_log(s, LL_DEBUG, 0, "auth answer from auth_http_cache");
		rc = 1;
	}
	OPENSSL_cleanse(&a, sizeof(a));
	return rc;
}

void
session_cache_store(struct session *s, const struct auth_result *res)
{
	struct preauth *pa = s->pa;
	void *zone = zone_of(s);
	const struct auth_cache_conf *c = &s->conf->auth_http_cache;
	struct authcache_answer a;
	uint64_t ttl;

	if (zone == NULL || !pa->cache_keyed)
		return;
	pa->cache_keyed = 0;
	if (res->status != AUTH_OK && res->status != AUTH_FAIL)
		return;
	ttl = res->status == AUTH_OK ? c->valid : c->invalid;
	/* The service may shorten the time or forbid caching, never lengthen it. */
	if (res->have_cache_valid && (uint64_t)res->cache_valid * 1000 < ttl)
		ttl = (uint64_t)res->cache_valid * 1000;
	if (ttl == 0)
		return;
	memset(&a, 0, sizeof(a));
	a.ok = res->status == AUTH_OK;
	a.wait = res->wait;
	if (a.ok) {
		a.server_len = net_socklen((const struct sockaddr *)&res->server);
		memcpy(&a.server, &res->server, a.server_len);
		a.have_user = res->user != NULL;
		a.have_pass = res->pass != NULL;
		a.be_auth = res->be_auth;
		if ((res->user && strlen(res->user) >= sizeof(a.user)) ||
		    (res->pass && strlen(res->pass) >= sizeof(a.pass)))
			goto out;
		snprintf(a.user, sizeof(a.user), "%s", res->user ? res->user : "");
		snprintf(a.pass, sizeof(a.pass), "%s", res->pass ? res->pass : "");
	} else {
		if (strlen(res->text) >= sizeof(a.text))
			goto out;
		snprintf(a.text, sizeof(a.text), "%s", res->text);
		snprintf(a.code, sizeof(a.code), "%s", res->code);
	}
	/* An answer too long for an entry is simply not cached, nor one asked
	 * for before a flush (reload, -s flush-auth-cache) that came meanwhile. */
	authcache_put(zone, pa->cache_key, &a, clock_now() + ttl, clock_now(), pa->cache_epoch);
out:
	OPENSSL_cleanse(&a, sizeof(a));
}
