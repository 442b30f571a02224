/*
 * epoll wrapper. An ev_io is embedded in its owner (connection, listener,
 * signalfd); its callback gets the epoll event bits. Connections register
 * once, edge-triggered, for both directions and keep readiness flags
 * themselves, so flow control never costs an epoll_ctl. Work that must run
 * again without a new edge (a read budget ran out) goes on the posted list,
 * which runs before the loop sleeps again.
 */
#ifndef MP_EVENT_H
#define MP_EVENT_H

#include <stdint.h>
#include <sys/epoll.h>

struct ev_io;
typedef void (*ev_cb)(struct ev_io *io, uint32_t events);

struct ev_io {
	int fd;
	ev_cb cb;
	struct ev_io *posted_next;
	unsigned posted:1;
};

int ev_init(void);		/* creates the epoll fd (after fork) */
void ev_close(void);
int ev_add(struct ev_io *io, uint32_t events);
int ev_mod(struct ev_io *io, uint32_t events);
void ev_del(struct ev_io *io);
/* Runs io->cb(io, 0) at the end of this loop turn, once. */
void ev_post(struct ev_io *io);
void ev_unpost(struct ev_io *io);
/*
 * Runs fn(arg) after the current batch of events: objects are freed there, so
 * an event of the same batch never sees freed memory (its owner only has to
 * check its own "closed" state).
 */
int ev_defer(void (*fn)(void *), void *arg);
/*
 * Descriptors this process's sessions hold (clients, backends, auth
 * requests, relay pipes), counted against worker_connections.
 */
void ev_fd_acquired(void);
void ev_fd_released(void);
unsigned ev_fds(void);
/* Waits up to timeout_ms (-1 forever) and dispatches; then posted work and timers. */
int ev_loop_once(int timeout_ms);

#endif
