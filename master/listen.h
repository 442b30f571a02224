/*
 * Listening sockets for a cycle: created from the configuration, taken over
 * from the previous cycle when the address (and reuseport) is unchanged, or
 * inherited from the previous binary after an upgrade.
 */
#ifndef MP_LISTEN_H
#define MP_LISTEN_H

#include <stddef.h>

#include "config/cycle.h"

#define LISTEN_ENV "MAILPROXY"

/* Builds cy->ls from cy->cf. old may be NULL. Returns 0, or -1 with err. */
int listen_open(struct cycle *cy, struct cycle *old, char *err, size_t errlen);
/* Closes the sockets of cy that the next cycle did not keep. */
void listen_close_unkept(struct cycle *cy);
void listen_close_all(struct cycle *cy);
/* Reads the sockets a previous binary handed over (MAILPROXY env). */
void listen_inherit_from_env(void);
void listen_close_inherited(void);
/* "fd;fd;...;" of cy's sockets; clears FD_CLOEXEC on them (in the child). */
int listen_export(const struct cycle *cy, char *buf, size_t len);
void listen_export_prepare(const struct cycle *cy);

#endif
