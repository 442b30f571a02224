/*
 * Shared counters: one slot per worker process in the "status" zone, written
 * only by that worker (so no lock), read by `mailproxy -s status` and later
 * by the status endpoint. When a worker exits the master folds its totals
 * into the retired slot, so sums survive respawns and reloads.
 */
#ifndef MP_STATS_H
#define MP_STATS_H

#include <stdint.h>

#define STATS_SLOTS 1024
#define STATS_ZONE "status"
#define STATS_MAGIC 0x6d7073746174733aULL

enum { SLOT_FREE, SLOT_RUNNING, SLOT_EXITING };

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
};

struct stats_zone {
	uint64_t magic;
	int32_t master_pid;
	uint32_t generation;
	uint64_t start_time;
	uint64_t reloads;
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
	X(limit_blocked)

/* The calling worker's slot (NULL in the master). */
extern struct stats_slot *stats_self;

#define STAT_ADD(field, n) do { \
	if (stats_self) __atomic_fetch_add(&stats_self->field, (n), __ATOMIC_RELAXED); \
} while (0)
#define STAT_SUB(field, n) do { \
	if (stats_self) __atomic_fetch_sub(&stats_self->field, (n), __ATOMIC_RELAXED); \
} while (0)

#endif
