/* Process attributes: user switch, descriptor limit, titles. */
#ifndef MP_PROC_H
#define MP_PROC_H

#include <sys/types.h>

/* In a process started as root: setgid, initgroups(user), setuid. Fatal on failure. */
void proc_drop_privs(const char *user, uid_t uid, gid_t gid);
/* worker_rlimit_nofile: n <= 0 leaves the limit alone; a failure is logged. */
void proc_set_nofile(long n);
/* worker_rlimit_core: RLIMIT_CORE to n bytes; a failure is logged. */
void proc_set_core(long long n);
/* worker_priority: setpriority(nice) unless 0; a failure is logged. */
void proc_set_priority(int nice);
struct cpu_mask;
/* worker_cpu_affinity: logs "sched_setaffinity(0x...)" and applies m; a failure is logged. */
void proc_set_affinity(const struct cpu_mask *m);
/*
 * env: the environment a worker keeps from old. Each of list is "VAR"
 * (kept from old if there) or "VAR=VALUE" (set); TZ and MAILPROXY_* are kept
 * as well; everything else is left out. Returns a calloc'd array pointing
 * into old and list (NULL if out of memory).
 */
char **proc_env_build(char **old, const char *const *list, size_t n);

/* Process titles as ps(1) shows them; call proctitle_init() first thing in main. */
void proctitle_init(int argc, char **argv);
extern char **proctitle_args, **proctitle_env;
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
