/*
 * A client session, from accept to close: it owns the sockets, buffers,
 * timers and TLS objects, drives the protocol machine before login, asks the
 * auth service, logs in to the backend and then relays bytes both ways.
 * It is the only place that does I/O for a mail session.
 */
#ifndef MP_SESSION_H
#define MP_SESSION_H

#include <stddef.h>
#include <sys/socket.h>

#include "config/cycle.h"

/* Per-worker setup (canned replies, TLS contexts); -1 on failure. */
int session_init(struct cycle *cy);
void session_shutdown(void);
/* Takes the accepted fd; never fails visibly (a session that cannot start is closed). */
void session_start(struct cycle *cy, const struct listen_entry *le, int fd,
    const struct sockaddr *peer, socklen_t peerlen);
size_t session_count(void);
/* Closes the idle relay pipes kept for reuse (they count as connections); how many. */
unsigned session_release_idle_fds(void);
void session_close_all(void);
/* Access log buffers (buffer=) written out now: before a reopen (USR1). */
void session_alog_flush(void);
/* session_log.c, from session_init()/session_shutdown(). */
void session_alog_init(struct cycle *cy);
void session_alog_shutdown(void);

#endif
