/*
 * Shared counters: one slot per worker process in the "status" zone, written
 * only by that worker (so no lock), read by `mailproxy -s status` and by the
 * status endpoint (config/status_report.c). When a worker exits the master
 * folds its counters into the retired slot, so sums survive respawns and
 * reloads; the zone itself survives reloads and binary upgrades.
 */
#ifndef MP_STATS_H
#define MP_STATS_H

#include <stdint.h>

#define STATS_SLOTS 1024
#define STATS_ZONE "status"
#define STATS_MAGIC 0x6d7073746174733aULL

enum { SLOT_FREE, SLOT_RUNNING, SLOT_EXITING };

/*
 * Logins per protocol (imap, pop3, smtp, sieve: enum mail_proto - 1) and
 * result. A change of size makes a fresh zone: counters restart on a binary
 * upgrade from a build with another size.
 */
#define STATS_PROTOS 4
#define STATS_LOGIN_RESULTS(X) X(ok) X(failed) X(error) X(limited) X(backend_error)
enum {
#define LR_ENUM(r) LOGIN_##r,
	STATS_LOGIN_RESULTS(LR_ENUM)
#undef LR_ENUM
	STATS_NLOGIN
};

/* TLS versions, by the low byte of the wire version: 1.0, 1.1, 1.2, 1.3, other. */
#define STATS_TLS_VERSIONS(X) X("TLSv1") X("TLSv1.1") X("TLSv1.2") X("TLSv1.3") X("other")
#define STATS_NTLS 5
static inline unsigned
stats_tls_index(int version)
{
	return version >= 0x301 && version <= 0x304 ? (unsigned)(version - 0x301) : STATS_NTLS - 1;
}

/* Session states as worker/session names them (session_int.h's order). */
#define STATS_STATES(X) X("new") X("proxy_header") X("handshake") X("resolve") \
	X("greet_delay") X("preauth") X("auth") X("auth_wait") X("connect") X("backend_tls") \
	X("login") X("relay") X("closing") X("closed")
#define STATS_NSTATES 14

/*
 * A latency histogram with fixed bounds in milliseconds; counts[i] is
 * observations <= STATS_BUCKETS[i] and above the previous bound (not
 * cumulative: the report adds them up), counts[STATS_NBUCKETS] the rest.
 */
#define STATS_BUCKETS_MS(X) X(1) X(2) X(5) X(10) X(25) X(50) X(100) X(250) X(500) \
	X(1000) X(2500) X(5000) X(10000)
#define STATS_NBUCKETS 13
struct stats_hist {
	uint64_t counts[STATS_NBUCKETS + 1];
	uint64_t sum_ms;
	uint64_t count;
};

struct stats_slot {
	uint32_t state;
	int32_t pid;
	uint32_t generation;
	uint32_t pad;
	uint64_t start_time;	/* unix seconds */
	uint64_t accepted;	/* client connections accepted */
	uint64_t active;	/* sessions open now */
	uint64_t handled;	/* sessions finished */
	uint64_t bytes_in;	/* from clients, after login */
	uint64_t bytes_out;	/* to clients, after login */
	uint64_t auth_ok;
	uint64_t auth_fail;
	uint64_t auth_error;	/* auth service unreachable or invalid */
	uint64_t backend_error;
	uint64_t tls_handshakes;
	uint64_t tls_resumed;
	uint64_t tls_offloaded;	/* relayed TLS 1.3 sessions whose records moved out of OpenSSL */
	uint64_t limit_blocked;	/* logins login_limit_* refused without asking the auth service */
	uint64_t auth_reused;	/* auth_http requests sent on a kept-alive connection */
	/* The rest are arrays, walked by stats_fold() and the status report. */
	uint64_t logins[STATS_PROTOS][STATS_NLOGIN];	/* per protocol and result */
	uint64_t tls_full_v[STATS_NTLS];	/* client handshakes per TLS version */
	uint64_t tls_resumed_v[STATS_NTLS];
	struct stats_hist auth_ms;	/* auth_http request until answer */
	struct stats_hist backend_ms;	/* backend connect until logged in */
	uint64_t sessions[STATS_NSTATES];	/* gauge: sessions in each state now */
};

struct stats_zone {
	uint64_t magic;
	int32_t master_pid;
	uint32_t generation;
	uint64_t start_time;
	uint64_t reloads;
	uint64_t load_time;	/* unix seconds: the running configuration was loaded */
	uint64_t worker_restarts;	/* workers respawned after dying */
	uint64_t next_conn_id;	/* connection numbers in logs, unique across workers */
	struct stats_slot retired;
	struct stats_slot slots[STATS_SLOTS];
};

/*
 * The counters of a slot, each named once for everything that walks them
 * (folding into the retired slot, totals, `-s status`, later the metrics
 * endpoint). "active" is a gauge: it is not folded when a worker exits.
 */
#define STATS_COUNTERS(X) \
	X(accepted) X(handled) X(bytes_in) X(bytes_out) X(auth_ok) X(auth_fail) \
	X(auth_error) X(backend_error) X(tls_handshakes) X(tls_resumed) X(tls_offloaded) \
	X(limit_blocked) X(auth_reused)

/* The calling worker's slot (NULL in the master). */
extern struct stats_slot *stats_self;

#define STAT_ADD(field, n) do { \
	if (stats_self) __atomic_fetch_add(&stats_self->field, (n), __ATOMIC_RELAXED); \
} while (0)
#define STAT_SUB(field, n) do { \
	if (stats_self) __atomic_fetch_sub(&stats_self->field, (n), __ATOMIC_RELAXED); \
} while (0)
/* A login of protocol p (enum mail_proto) ended with result r (ok, failed, ...). */
#define STAT_LOGIN(p, r) do { \
	if ((p) >= 1 && (p) <= STATS_PROTOS) STAT_ADD(logins[(p) - 1][LOGIN_##r], 1); \
} while (0)
#define STAT_TLS(version, resumed) do { \
	unsigned i_ = stats_tls_index(version); \
	if (resumed) STAT_ADD(tls_resumed_v[i_], 1); else STAT_ADD(tls_full_v[i_], 1); \
} while (0)

static inline void
stats_observe(struct stats_hist *h, uint64_t ms)
{
	static const uint64_t bounds[] = {
#define B(ms) ms,
		STATS_BUCKETS_MS(B)
#undef B
	};
	unsigned i = 0;

	while (i < STATS_NBUCKETS && ms > bounds[i])
		i++;
	__atomic_fetch_add(&h->counts[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum_ms, ms, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
}
#define STAT_OBSERVE(hist, ms) do { if (stats_self) stats_observe(&stats_self->hist, (ms)); } while (0)

/* Adds src's counters (not its gauges) to dst: the retired slot, or totals. */
static inline void
stats_fold(struct stats_slot *dst, const struct stats_slot *src)
{
#define FOLD(f) __atomic_fetch_add(&dst->f, src->f, __ATOMIC_RELAXED);
	STATS_COUNTERS(FOLD)
#undef FOLD
	const uint64_t *a[] = { &src->logins[0][0], src->tls_full_v, src->tls_resumed_v,
	    src->auth_ms.counts, src->backend_ms.counts };
	uint64_t *b[] = { &dst->logins[0][0], dst->tls_full_v, dst->tls_resumed_v,
	    dst->auth_ms.counts, dst->backend_ms.counts };
	const size_t n[] = { STATS_PROTOS * STATS_NLOGIN, STATS_NTLS, STATS_NTLS,
	    STATS_NBUCKETS + 1, STATS_NBUCKETS + 1 };
	for (size_t k = 0; k < sizeof(n) / sizeof(n[0]); k++)
		for (size_t i = 0; i < n[k]; i++)
			__atomic_fetch_add(&b[k][i], a[k][i], __ATOMIC_RELAXED);
	__atomic_fetch_add(&dst->auth_ms.sum_ms, src->auth_ms.sum_ms, __ATOMIC_RELAXED);
	__atomic_fetch_add(&dst->auth_ms.count, src->auth_ms.count, __ATOMIC_RELAXED);
	__atomic_fetch_add(&dst->backend_ms.sum_ms, src->backend_ms.sum_ms, __ATOMIC_RELAXED);
	__atomic_fetch_add(&dst->backend_ms.count, src->backend_ms.count, __ATOMIC_RELAXED);
}

#endif
