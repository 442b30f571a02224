/* The user and group of the "user" directive (master; see common/proc.h for the switch). */
#ifndef MP_PRIVS_H
#define MP_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

struct main_conf;

/* Resolves user/group of the configuration. Returns 0, or -1 with err. */
int privs_lookup(const struct main_conf *mc, uid_t *uid, gid_t *gid, char *err, size_t errlen);

#endif
