/* Privileges and process attributes: user/group switch, rlimits, titles. */
#ifndef MP_PRIVS_H
#define MP_PRIVS_H

#include <sys/types.h>

struct main_conf;

/* Resolves user/group of the configuration. Returns 0, or -1 with err. */
int privs_lookup(const struct main_conf *mc, uid_t *uid, gid_t *gid, char *err, size_t errlen);
/* In a worker started as root: initgroups, setgid, setuid. Fatal on failure. */
void privs_drop(const struct main_conf *mc, uid_t uid, gid_t gid);
void privs_set_nofile(long n);

/* Process titles as ps(1) shows them; call proctitle_init() first thing in main. */
void proctitle_init(int argc, char **argv);
extern char **proctitle_args, **proctitle_env;
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
