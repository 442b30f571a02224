/* The -s status JSON and the Prometheus exposition; see status_report.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/authcache.h"
#include "common/authsrv.h"
#include "common/buf.h"
#include "common/limiter.h"
#include "common/sslcache.h"
#include "common/stats.h"
#include "common/ticketring.h"
#include "config/status_report.h"
#include "config/config.h"

#define NS "mailproxy_"
#define ZFIELDS 12

/* One field of a zone's statistics: its JSON key, and its metric if it has one. */
struct zfield {
	const char *key;
	const char *metric;	/* after NS and the kind's prefix; NULL: JSON only */
	const char *type;
	const char *help;
};

enum { ZK_SSL, ZK_LIMIT, ZK_AUTHCACHE, ZK_N };

static const struct zfield ssl_fields[] = {
	{ "size", "size_bytes", "gauge", "Configured size of the zone" },
	{ "entries", "entries", "gauge", "Sessions stored now" },
	{ "blocks", NULL, NULL, NULL },
	{ "free_blocks", NULL, NULL, NULL },
	{ "stores", "stores_total", "counter", "Sessions stored" },
	{ "hits", "hits_total", "counter", "Lookups that found a session" },
	{ "misses", "misses_total", "counter", "Lookups that found none" },
	{ "evictions", "evictions_total", "counter", "Sessions dropped to make room" },
	{ "expired", "expired_total", "counter", "Sessions dropped on expiry" },
	{ "removes", "removes_total", "counter", "Sessions removed on request" },
	{ NULL, NULL, NULL, NULL },
};

static const struct zfield limit_fields[] = {
	{ "size", "size_bytes", "gauge", "Configured size of the zone" },
	{ "entries", "entries", "gauge", "Keys counted now" },
	{ "capacity", "capacity", "gauge", "Keys the zone can hold" },
	{ "failures", "failures_total", "counter", "Failed logins counted" },
	{ "blocks", "blocks_total", "counter", "Blocks started" },
	{ "blocked_logins", "blocked_logins_total", "counter", "Logins refused while blocked" },
	{ "evictions", "evictions_total", "counter", "Keys dropped to make room" },
	{ "expired", "expired_total", "counter", "Keys dropped on expiry" },
	{ "session_refusals", "session_refusals_total", "counter", "Logins refused by limit_sessions_*" },
	{ "store_answers", "store_answers_total", "counter", "Verdicts taken from login_limit_store" },
	{ "fallbacks", "fallbacks_total", "counter", "Checks decided locally because the store failed" },
	{ NULL, NULL, NULL, NULL },
};

static const struct zfield authcache_fields[] = {
	{ "size", "size_bytes", "gauge", "Configured size of the zone" },
	{ "entries", "entries", "gauge", "Answers cached now" },
	{ "capacity", "capacity", "gauge", "Answers the zone can hold" },
	{ "hits", "hits_total", "counter", "Logins answered from the cache" },
	{ "misses", "misses_total", "counter", "Logins the cache could not answer" },
	{ "stores", "stores_total", "counter", "Answers stored" },
	{ "evictions", "evictions_total", "counter", "Answers dropped to make room" },
	{ "expired", "expired_total", "counter", "Answers dropped on expiry" },
	{ "flushes", "flushes_total", "counter", "Times the cache was emptied" },
	{ NULL, NULL, NULL, NULL },
};

static const struct {
	const struct zfield *f;
	const char *json;	/* key of the -s status document */
	const char *prefix;	/* of the metrics */
} zkinds[ZK_N] = {
	{ ssl_fields, "ssl_session_caches", "ssl_session_cache_" },
	{ limit_fields, "login_limit_zones", "login_limit_" },
	{ authcache_fields, "auth_http_caches", "auth_cache_" },
};

struct zrow {
	const char *name;
	uint64_t v[ZFIELDS];
};

/* The zone name and size of kind k that server srv uses, or NULL. */
static const char *
zone_name(const struct srv_conf *srv, int k, uint64_t *size)
{
	switch (k) {
	case ZK_SSL:
		*size = srv->ssl_session_cache.shared_size;
		return srv->ssl_session_cache.mode & SSL_CACHE_SHARED ?
		    srv->ssl_session_cache.shared_name : NULL;
	case ZK_LIMIT:
		*size = srv->login_limit_zone.size;
		return srv->login_limit_zone.name;
	default:
		*size = srv->auth_http_cache.size;
		return srv->auth_http_cache.name;
	}
}

static int
zone_values(int k, const void *mem, size_t size, uint64_t *v)
{
	struct sslcache_stats ss;
	struct limiter_stats ls;
	struct shmhash_stats hs;

	switch (k) {
	case ZK_SSL:
		if (sslcache_peek_stats(mem, size, &ss) < 0)
			return -1;
		uint64_t sv[] = { ss.entries, ss.blocks, ss.free_blocks, ss.stores, ss.hits,
		    ss.misses, ss.evictions, ss.expired, ss.removes };
		memcpy(v + 1, sv, sizeof(sv));
		return 0;
	case ZK_LIMIT:
		if (limiter_peek_stats(mem, size, &ls) < 0)
			return -1;
		uint64_t lv[] = { ls.entries, ls.capacity, ls.fails, ls.blocks_started,
		    ls.blocked_checks, ls.evictions, ls.expired, ls.session_refusals,
		    ls.store_answers, ls.fallbacks };
		memcpy(v + 1, lv, sizeof(lv));
		return 0;
	default:
		if (authcache_peek_stats(mem, size, &hs) < 0)
			return -1;
		uint64_t hv[] = { hs.entries, hs.capacity, hs.hits, hs.misses, hs.stores,
		    hs.evictions, hs.expired, hs.flushes };
		memcpy(v + 1, hv, sizeof(hv));
		return 0;
	}
}

/* The readable zones of kind k, each once, in the order servers name them. */
static size_t
zone_rows(const struct config *cf, int k, status_zone_fn zone, void *ctx, struct zrow *rows)
{
	size_t n = 0;

	for (size_t i = 0; i < cf->nservers; i++) {
		uint64_t zsize;
		const char *name = zone_name(&cf->servers[i], k, &zsize);
		int dup = 0;
		if (name == NULL)
			continue;
		for (size_t j = 0; j < n; j++)
			dup |= strcmp(rows[j].name, name) == 0;
		size_t size;
		const void *mem = dup ? NULL : zone(ctx, name, &size);
		if (mem == NULL)
			continue;
		memset(&rows[n], 0, sizeof(rows[n]));
		rows[n].name = name;
		rows[n].v[0] = zsize;
		if (zone_values(k, mem, size, rows[n].v) == 0)
			n++;
	}
	return n;
}

static const struct stats_zone *
stats_zone_of(status_zone_fn zone, void *ctx)
{
	size_t size;
	const struct stats_zone *sz = zone(ctx, STATS_ZONE, &size);

	return sz != NULL && size >= sizeof(*sz) && sz->magic == STATS_MAGIC ? sz : NULL;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Each auth service the configuration names, once, with its shared slot. */
static size_t
auth_services(const struct config *cf, status_zone_fn zone, void *ctx,
    const struct authsrv_slot **out, size_t max)
{
	size_t size, n = 0;
	const struct authsrv_zone *z = zone(ctx, AUTHSRV_ZONE, &size);

	if (z == NULL || size < sizeof(*z) || z->magic != AUTHSRV_MAGIC)
		return 0;
	for (size_t i = 0; i < cf->nservers; i++)
		for (const struct auth_http_url *u = &cf->servers[i].auth_http; u && u->url; u = u->next) {
			const struct authsrv_slot *s = authsrv_find(z, u->url);
			int dup = 0;
			for (size_t j = 0; j < n; j++)
				dup |= out[j] == s;
			if (s != NULL && !dup && n < max)
				out[n++] = s;
		}
	return n;
}

static const char *const login_results[] = {
#define LR_NAME(r) #r,
	STATS_LOGIN_RESULTS(LR_NAME)
#undef LR_NAME
};
static const char *const protos[] = { "imap", "pop3", "smtp" };
static const char *const tls_versions[] = {
#define TV(v) v,
	STATS_TLS_VERSIONS(TV)
#undef TV
};
static const char *const state_names[] = {
#define SN(v) v,
	STATS_STATES(SN)
#undef SN
};
static const uint64_t bucket_ms[] = {
#define B(ms) ms,
	STATS_BUCKETS_MS(B)
#undef B
};

/* ---- JSON ---- */

static json_t *ticket_json(const struct config *cf, status_zone_fn zone, void *ctx);

static json_t *
slot_json(const struct stats_slot *s)
{
	json_t *o = json_object(), *logins = json_object();

	json_object_set_new(o, "active", json_integer((json_int_t)s->active));
#define PUT(f) json_object_set_new(o, #f, json_integer((json_int_t)s->f));
	STATS_COUNTERS(PUT)
#undef PUT
	for (int p = 0; p < STATS_PROTOS; p++) {
		json_t *r = json_object();
		for (int i = 0; i < STATS_NLOGIN; i++)
			json_object_set_new(r, login_results[i], json_integer((json_int_t)s->logins[p][i]));
		json_object_set_new(logins, protos[p], r);
	}
	json_object_set_new(o, "logins", logins);
	return o;
}

json_t *
status_json(const struct config *cf, status_zone_fn zone, void *ctx)
{
	const struct stats_zone *sz = stats_zone_of(zone, ctx);

	if (sz == NULL)
		return NULL;
	json_t *root = json_object(), *workers = json_array();
	struct stats_slot total, *tp = calloc(1, sizeof(*tp));
	if (tp == NULL || root == NULL || workers == NULL) {
		free(tp);
		json_decref(root);
		json_decref(workers);
		return NULL;
	}
	stats_fold(tp, &sz->retired);
	for (int i = 0; i < STATS_SLOTS; i++) {
		struct stats_slot s = sz->slots[i];
		if (s.state == SLOT_FREE)
			continue;
		json_t *w = slot_json(&s);
		/* The worker label of the metrics. */
		json_object_set_new(w, "slot", json_integer(i));
		json_object_set_new(w, "pid", json_integer(s.pid));
		json_object_set_new(w, "generation", json_integer(s.generation));
		json_object_set_new(w, "started", json_integer((json_int_t)s.start_time));
		json_object_set_new(w, "state", json_string(s.state == SLOT_RUNNING ? "running" : "exiting"));
		json_array_append_new(workers, w);
		tp->active += s.active;
		stats_fold(tp, &s);
	}
	total = *tp;
	free(tp);
	json_object_set_new(root, "master_pid", json_integer(sz->master_pid));
	json_object_set_new(root, "generation", json_integer(sz->generation));
	json_object_set_new(root, "started", json_integer((json_int_t)sz->start_time));
	json_object_set_new(root, "reloads", json_integer((json_int_t)sz->reloads));
	json_object_set_new(root, "load_time", json_integer((json_int_t)sz->load_time));
	json_object_set_new(root, "worker_restarts", json_integer((json_int_t)sz->worker_restarts));
	json_object_set_new(root, "totals", slot_json(&total));
	json_object_set_new(root, "workers", workers);
	struct zrow *rows = calloc(cf->nservers + 1, sizeof(*rows));
	for (int k = 0; k < ZK_N; k++) {
		json_t *o = json_object();
		size_t n = rows ? zone_rows(cf, k, zone, ctx, rows) : 0;
		for (size_t r = 0; r < n; r++) {
			json_t *z = json_object();
			for (size_t f = 0; zkinds[k].f[f].key; f++)
				json_object_set_new(z, zkinds[k].f[f].key, json_integer((json_int_t)rows[r].v[f]));
			json_object_set_new(o, rows[r].name, z);
		}
		json_object_set_new(root, zkinds[k].json, o);
		if (k == ZK_LIMIT) {
			/* -s status has always listed the auth services here. */
			const struct authsrv_slot *as[AUTHSRV_SLOTS];
			size_t na = auth_services(cf, zone, ctx, as, AUTHSRV_SLOTS);
			uint64_t now = now_ms();
			json_t *ao = json_object();
			for (size_t i = 0; i < na; i++) {
				uint64_t until = as[i]->down_until;
				json_object_set_new(ao, as[i]->url, json_pack("{s:s,s:I,s:I,s:I,s:I}",
				    "state", until > now ? "backoff" : "up",
				    "backoff_left_ms", (json_int_t)(until > now ? until - now : 0),
				    "requests", (json_int_t)as[i]->requests,
				    "failures", (json_int_t)as[i]->failures,
				    "backoffs", (json_int_t)as[i]->backoffs));
			}
			json_object_set_new(root, "auth_servers", ao);
		}
	}
	free(rows);
	json_object_set_new(root, "ticket_keys", ticket_json(cf, zone, ctx));
	return root;
}

/* ---- Prometheus text exposition 0.0.4 ---- */

int
status_label_escape(struct buf *out, const char *v)
{
	for (; *v; v++) {
		const char *e = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
		if ((e ? buf_puts(out, e) : buf_append(out, v, 1)) < 0)
			return -1;
	}
	return 0;
}

static int
family(struct buf *o, const char *name, const char *type, const char *help)
{
	return buf_printf(o, "# HELP " NS "%s %s\n# TYPE " NS "%s %s\n", name, help, name, type);
}

/* One sample; labels are "k", "v" pairs, values escaped here. */
static int
sample(struct buf *o, const char *name, const char *const *labels, size_t nl, const char *value)
{
	int rc = buf_printf(o, NS "%s", name);

	for (size_t i = 0; i + 1 < nl; i += 2) {
		rc |= buf_printf(o, "%s%s=\"", i ? "," : "{", labels[i]);
		rc |= status_label_escape(o, labels[i + 1]);
		rc |= buf_puts(o, "\"");
	}
	return rc | buf_printf(o, "%s %s\n", nl ? "}" : "", value);
}

static int
sample_u(struct buf *o, const char *name, const char *const *labels, size_t nl, uint64_t v)
{
	char t[24];

	snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
	return sample(o, name, labels, nl, t);
}

/* The worker slots to report: the live ones, then "retired" for counters. */
struct wslots {
	struct stats_slot *s;	/* snapshots */
	char (*name)[16];
	size_t n, live;
};

static const struct {
	const char *name, *type, *help;
	size_t off;
} slot_metrics[] = {
#define SM(n, t, f, h) { n, t, h, offsetof(struct stats_slot, f) }
	SM("connections_accepted_total", "counter", accepted, "Client connections accepted"),
	SM("connections_active", "gauge", active, "Client sessions open now"),
	SM("connections_handled_total", "counter", handled, "Client sessions finished"),
	SM("bytes_received_total", "counter", bytes_in, "Bytes relayed from clients after login"),
	SM("bytes_sent_total", "counter", bytes_out, "Bytes relayed to clients after login"),
	SM("backend_errors_total", "counter", backend_error, "Backend connects or logins that failed"),
	SM("tls_handshakes_total", "counter", tls_handshakes, "Client TLS handshakes done"),
	SM("tls_offloaded_total", "counter", tls_offloaded, "TLS 1.3 sessions relayed without OpenSSL"),
	SM("login_limit_blocked_total", "counter", limit_blocked, "Logins refused by the login limits"),
	SM("auth_http_keepalive_reused_total", "counter", auth_reused,
	    "auth_http requests sent on a kept-alive connection"),
#undef SM
};

static int
put_hist(struct buf *o, const char *name, const char *help, const struct wslots *w,
    size_t hoff)
{
	char n[96], le[24], t[32];
	int rc = family(o, name, "histogram", help);

	for (size_t i = 0; i < w->n; i++) {
		const struct stats_hist *h = (const void *)((const char *)&w->s[i] + hoff);
		uint64_t cum = 0;
		for (int b = 0; b <= STATS_NBUCKETS; b++) {
			cum += h->counts[b];
			if (b < STATS_NBUCKETS)
				snprintf(le, sizeof(le), "%g", (double)bucket_ms[b] / 1000);
			else
				snprintf(le, sizeof(le), "+Inf");
			const char *l[] = { "worker", w->name[i], "le", le };
			snprintf(n, sizeof(n), "%s_bucket", name);
			rc |= sample_u(o, n, l, 4, cum);
		}
		const char *l[] = { "worker", w->name[i] };
		snprintf(n, sizeof(n), "%s_sum", name);
		snprintf(t, sizeof(t), "%.3f", (double)h->sum_ms / 1000);
		rc |= sample(o, n, l, 2, t);
		snprintf(n, sizeof(n), "%s_count", name);
		rc |= sample_u(o, n, l, 2, cum);
	}
	return rc;
}

static int
put_slots(struct buf *o, const struct wslots *w)
{
	int rc = 0;

	rc |= family(o, "worker_info", "gauge", "Worker slots in use: pid, configuration generation, state");
	for (size_t i = 0; i < w->live; i++) {
		char pid[16], gen[16];
		snprintf(pid, sizeof(pid), "%d", (int)w->s[i].pid);
		snprintf(gen, sizeof(gen), "%u", (unsigned)w->s[i].generation);
		const char *l[] = { "worker", w->name[i], "pid", pid, "generation", gen,
		    "state", w->s[i].state == SLOT_RUNNING ? "running" : "exiting" };
		rc |= sample(o, "worker_info", l, 8, "1");
	}
	for (size_t m = 0; m < sizeof(slot_metrics) / sizeof(slot_metrics[0]); m++) {
		int gauge = slot_metrics[m].type[0] == 'g';
		rc |= family(o, slot_metrics[m].name, slot_metrics[m].type, slot_metrics[m].help);
		for (size_t i = 0; i < (gauge ? w->live : w->n); i++) {
			const char *l[] = { "worker", w->name[i] };
			rc |= sample_u(o, slot_metrics[m].name, l, 2,
			    *(const uint64_t *)((const char *)&w->s[i] + slot_metrics[m].off));
		}
	}
	rc |= family(o, "sessions", "gauge", "Client sessions now, by state");
	for (size_t i = 0; i < w->live; i++)
		for (int st = 0; st < STATS_NSTATES - 1; st++) {
			const char *l[] = { "worker", w->name[i], "state", state_names[st] };
			rc |= sample_u(o, "sessions", l, 4, w->s[i].sessions[st]);
		}
	rc |= family(o, "logins_total", "counter", "Login attempts by protocol and result: ok "
	    "(logged in to the backend), failed (refused), error (auth service), limited, backend_error");
	for (size_t i = 0; i < w->n; i++)
		for (int p = 0; p < STATS_PROTOS; p++)
			for (int r = 0; r < STATS_NLOGIN; r++) {
				const char *l[] = { "worker", w->name[i], "protocol", protos[p],
				    "result", login_results[r] };
				rc |= sample_u(o, "logins_total", l, 6, w->s[i].logins[p][r]);
			}
	rc |= family(o, "tls_sessions_total", "counter",
	    "Client TLS handshakes by version, full or resumed");
	for (size_t i = 0; i < w->n; i++)
		for (int v = 0; v < STATS_NTLS; v++)
			for (int res = 0; res < 2; res++) {
				const char *l[] = { "worker", w->name[i], "version", tls_versions[v],
				    "handshake", res ? "resumed" : "full" };
				rc |= sample_u(o, "tls_sessions_total", l, 6,
				    res ? w->s[i].tls_resumed_v[v] : w->s[i].tls_full_v[v]);
			}
	rc |= put_hist(o, "auth_http_duration_seconds", "auth_http request until its answer",
	    w, offsetof(struct stats_slot, auth_ms));
	rc |= put_hist(o, "backend_login_duration_seconds",
	    "Backend connect until logged in (successful logins)", w,
	    offsetof(struct stats_slot, backend_ms));
	return rc;
}

/* The ticket keys of one ssl_session_cache zone: where they come from, and the store's fetches. */
struct tkrow {
	const char *name;
	const char *source;	/* "redis", "local" or "file" */
	int store;		/* ssl_session_ticket_key_store on, its ring readable */
	struct ticketring_stats st;
};

/* One row per cache zone whose servers issue tickets, in the order servers name them. */
static size_t
ticket_rows(const struct config *cf, status_zone_fn zone, void *ctx, struct tkrow *rows)
{
	size_t n = 0;

	for (size_t i = 0; i < cf->nservers; i++) {
		const struct srv_conf *srv = &cf->servers[i];
		uint64_t zsize;
		const char *name = zone_name(srv, ZK_SSL, &zsize);
		int dup = 0;
		if (name == NULL || !srv->ssl_session_tickets)
			continue;
		for (size_t j = 0; j < n; j++)
			dup |= strcmp(rows[j].name, name) == 0;
		if (dup)
			continue;
		struct tkrow *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->name = name;
		r->source = srv->ssl_session_ticket_key.n > 0 ? "file" : "local";
		if (srv->ssl_session_ticket_key_store.redis.spec != NULL) {
			char rname[128];
			size_t size;
			ticketring_zone_name(rname, sizeof(rname), name);
			const void *mem = zone(ctx, rname, &size);
			r->store = mem != NULL && ticketring_peek_stats(mem, size, &r->st) == 0;
			if (r->store && r->st.source == TICKET_SOURCE_REDIS)
				r->source = "redis";
		}
	}
	return n;
}

/* -s status: "ticket_keys": {zone: {source, fetches_ok, fetches_error}}. */
static json_t *
ticket_json(const struct config *cf, status_zone_fn zone, void *ctx)
{
	struct tkrow *rows = calloc(cf->nservers + 1, sizeof(*rows));
	size_t n = rows ? ticket_rows(cf, zone, ctx, rows) : 0;
	json_t *o = json_object();

	for (size_t i = 0; i < n; i++) {
		json_t *z = json_pack("{s:s}", "source", rows[i].source);
		if (rows[i].store) {
			json_object_set_new(z, "fetches_ok", json_integer((json_int_t)rows[i].st.fetch_ok));
			json_object_set_new(z, "fetches_error",
			    json_integer((json_int_t)rows[i].st.fetch_error));
		}
		json_object_set_new(o, rows[i].name, z);
	}
	free(rows);
	return o;
}

/* The same as metrics, each family's samples together. */
static int
put_ticket_keys(struct buf *o, const struct config *cf, status_zone_fn zone, void *ctx)
{
	static const char *const sources[] = { "redis", "local", "file" };
	struct tkrow *rows = calloc(cf->nservers + 1, sizeof(*rows));
	size_t n = rows ? ticket_rows(cf, zone, ctx, rows) : 0, nstore = 0;
	int rc = rows == NULL ? -1 : 0;

	if (n > 0)
		rc |= family(o, "ticket_key_source", "gauge",
		    "Where the session ticket keys that encrypt now come from (1: this source)");
	for (size_t i = 0; i < n; i++) {
		nstore += rows[i].store;
		for (size_t k = 0; k < 3; k++) {
			const char *l[] = { "zone", rows[i].name, "source", sources[k] };
			rc |= sample_u(o, "ticket_key_source", l, 4, strcmp(rows[i].source, sources[k]) == 0);
		}
	}
	if (nstore > 0)
		rc |= family(o, "ticket_key_store_fetches_total", "counter",
		    "Fetches of the ticket keys from ssl_session_ticket_key_store, by result");
	for (size_t i = 0; i < n; i++) {
		if (!rows[i].store)
			continue;
		const char *lo[] = { "zone", rows[i].name, "result", "ok" };
		const char *le[] = { "zone", rows[i].name, "result", "error" };
		rc |= sample_u(o, "ticket_key_store_fetches_total", lo, 4, rows[i].st.fetch_ok);
		rc |= sample_u(o, "ticket_key_store_fetches_total", le, 4, rows[i].st.fetch_error);
	}
	free(rows);
	return rc;
}

static int
put_zones(struct buf *o, const struct config *cf, status_zone_fn zone, void *ctx)
{
	struct zrow *rows = calloc(cf->nservers + 1, sizeof(*rows));
	int rc = rows == NULL ? -1 : 0;

	for (int k = 0; rows != NULL && k < ZK_N; k++) {
		size_t n = zone_rows(cf, k, zone, ctx, rows);
		for (size_t f = 0; n > 0 && zkinds[k].f[f].key; f++) {
			char name[96];
			if (zkinds[k].f[f].metric == NULL)
				continue;
			snprintf(name, sizeof(name), "%s%s", zkinds[k].prefix, zkinds[k].f[f].metric);
			rc |= family(o, name, zkinds[k].f[f].type, zkinds[k].f[f].help);
			for (size_t r = 0; r < n; r++) {
				const char *l[] = { "zone", rows[r].name };
				rc |= sample_u(o, name, l, 2, rows[r].v[f]);
			}
		}
	}
	free(rows);
	rc |= put_ticket_keys(o, cf, zone, ctx);

	const struct authsrv_slot *as[AUTHSRV_SLOTS];
	size_t na = auth_services(cf, zone, ctx, as, AUTHSRV_SLOTS);
	static const struct {
		const char *name, *type, *help;
	} af[] = {
		{ "auth_service_up", "gauge", "1 when the auth service is not backed off" },
		{ "auth_service_requests_total", "counter", "Requests sent to the auth service" },
		{ "auth_service_failures_total", "counter", "Requests to the auth service that failed" },
		{ "auth_service_backoffs_total", "counter", "Times the auth service was backed off" },
	};
	uint64_t now = now_ms();
	for (size_t f = 0; na > 0 && f < 4; f++) {
		rc |= family(o, af[f].name, af[f].type, af[f].help);
		for (size_t i = 0; i < na; i++) {
			const char *l[] = { "server", as[i]->url };
			uint64_t v = f == 0 ? as[i]->down_until <= now : f == 1 ? as[i]->requests :
			    f == 2 ? as[i]->failures : as[i]->backoffs;
			rc |= sample_u(o, af[f].name, l, 2, v);
		}
	}
	return rc;
}

int
status_metrics(const struct config *cf, status_zone_fn zone, void *ctx, struct buf *out)
{
	const struct stats_zone *sz = stats_zone_of(zone, ctx);
	struct wslots w = { 0 };
	int rc = 0;

	if (sz == NULL)
		return -1;
	w.s = malloc((STATS_SLOTS + 1) * sizeof(*w.s));
	w.name = malloc((STATS_SLOTS + 1) * sizeof(*w.name));
	if (w.s == NULL || w.name == NULL) {
		free(w.s);
		free(w.name);
		return -1;
	}
	for (int i = 0; i < STATS_SLOTS; i++) {
		if (sz->slots[i].state == SLOT_FREE)
			continue;
		w.s[w.n] = sz->slots[i];
		snprintf(w.name[w.n++], sizeof(w.name[0]), "%d", i);
	}
	w.live = w.n;
	w.s[w.n] = sz->retired;
	snprintf(w.name[w.n++], sizeof(w.name[0]), "retired");

	static const struct {
		const char *name, *type, *help;
		size_t off;
	} zm[] = {
		{ "start_time_seconds", "gauge", "When the first master of this zone started (unix time)",
		  offsetof(struct stats_zone, start_time) },
		{ "config_load_time_seconds", "gauge", "When the running configuration was loaded (unix time)",
		  offsetof(struct stats_zone, load_time) },
		{ "reloads_total", "counter", "Configuration reloads",
		  offsetof(struct stats_zone, reloads) },
		{ "worker_restarts_total", "counter", "Workers respawned after dying",
		  offsetof(struct stats_zone, worker_restarts) },
	};
	for (size_t i = 0; i < sizeof(zm) / sizeof(zm[0]); i++) {
		rc |= family(out, zm[i].name, zm[i].type, zm[i].help);
		rc |= sample_u(out, zm[i].name, NULL, 0,
		    *(const uint64_t *)((const char *)sz + zm[i].off));
	}
	rc |= family(out, "config_generation", "gauge", "Configuration generation running now");
	rc |= sample_u(out, "config_generation", NULL, 0, sz->generation);
	rc |= put_slots(out, &w);
	rc |= put_zones(out, cf, zone, ctx);
	free(w.s);
	free(w.name);
	return rc < 0 ? -1 : 0;
}
