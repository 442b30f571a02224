/*
 * CPU sets for worker_cpu_affinity and worker_processes auto: the bit masks
 * nginx writes ("0101", rightmost character = CPU 0), the CPUs this process
 * may run on (sched_getaffinity, limited by a cgroup v2 cpu.max quota), and
 * which CPU "auto" gives worker i. The parsers are pure, for unit tests.
 */
#ifndef MP_CPU_H
#define MP_CPU_H

#include <stddef.h>
#include <stdint.h>

#define CPU_MASK_BITS	1024	/* glibc's CPU_SETSIZE */

struct cpu_mask {
	uint64_t w[CPU_MASK_BITS / 64];
};

static inline int cpu_mask_isset(const struct cpu_mask *m, unsigned c) { return (m->w[c / 64] >> (c % 64)) & 1; }
static inline void cpu_mask_set(struct cpu_mask *m, unsigned c) { m->w[c / 64] |= (uint64_t)1 << (c % 64); }
unsigned cpu_mask_count(const struct cpu_mask *m);

/*
 * A mask as nginx writes it: '0' and '1' only, at most CPU_MASK_BITS of
 * them, at least one '1'. Returns 0, or -1 with the reason in err.
 */
int cpu_mask_parse(const char *s, struct cpu_mask *m, char *err, size_t errlen);
/* "0x..." of m, for the log (the shortest hex that holds the highest bit). */
void cpu_mask_hex(const struct cpu_mask *m, char *buf, size_t len);

/*
 * The CPUs a cgroup v2 cpu.max allows: "QUOTA PERIOD" gives ceil(QUOTA /
 * PERIOD), at least 1; "max PERIOD" and anything unreadable give 0 (no quota).
 */
unsigned cpu_quota_parse(const char *cpu_max);

/* The CPUs this process may run on (sched_getaffinity); 0 if unknown. */
int cpu_allowed(struct cpu_mask *m);
/*
 * worker_processes auto: the allowed CPUs, further limited by the cpu.max
 * quota of this process' cgroup and of its ancestors; at least 1.
 */
unsigned cpu_usable(void);
/*
 * worker_cpu_affinity auto [MASK]: worker index's CPU, the index-th (wrapping)
 * of allowed & restrict (restrict NULL = all). Returns -1 if none is left.
 */
int cpu_auto_pick(const struct cpu_mask *allowed, const struct cpu_mask *restrict_to,
    unsigned index, struct cpu_mask *out);

#endif
