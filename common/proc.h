/* Process attributes: user switch, descriptor limit, titles. */
#ifndef MP_PROC_H
#define MP_PROC_H

#include <sys/types.h>

/* In a process started as root: setgid, initgroups(user), setuid. Fatal on failure. */
void proc_drop_privs(const char *user, uid_t uid, gid_t gid);
/* worker_rlimit_nofile: n <= 0 leaves the limit alone; a failure is logged. */
void proc_set_nofile(long n);

/* Process titles as ps(1) shows them; call proctitle_init() first thing in main. */
void proctitle_init(int argc, char **argv);
extern char **proctitle_args, **proctitle_env;
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
