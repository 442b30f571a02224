/*
 * A cycle is one generation of the running server: a loaded configuration
 * plus what the master opened for it (listening sockets, log sets, shared
 * zones). The master builds a new cycle on reload and hands it to the new
 * workers; old workers keep theirs until they exit. Workers only read it.
 */
#ifndef MP_CYCLE_H
#define MP_CYCLE_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/log.h"
#include "config/config.h"

struct shm_zone;

struct listener;

/* One listen directive served through a socket. */
struct listen_entry {
	const struct listen_conf *lc;
	const struct srv_conf *srv;
	size_t server;		/* index in cf->servers */
	const struct listener *l;	/* the socket; its other entries are SNI alternatives */
};

struct listener {
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	/* reuseport: the worker index that accepts here, which is also the
	 * socket's index in the kernel's group; -1 = all. A worker past the
	 * cycle's last (a reload lowered worker_processes) is a retired
	 * socket: kept, not steered to, drained by every worker. */
	int worker;
	int reuseport;		/* LISTEN_*: SO_REUSEPORT set unless LISTEN_SHARED */
	int steer;		/* the group gets the steering program */
	/* Entries served here: ents[0] is the socket's own listen; further
	 * ones are exact addresses on a wildcard socket, told apart by
	 * getsockname() on each accepted connection. */
	struct listen_entry *ents;
	size_t nents;
	int kept;		/* taken over by the next cycle */
};

struct cycle {
	struct config *cf;
	unsigned generation;
	uid_t uid;			/* workers run as this user when started as root */
	gid_t gid;
	int workers_alive;		/* master: workers still running this cycle */
	struct listener *ls;
	size_t nls;
	int status_fd;			/* status_listen's socket; -1 none */
	int status_kept;		/* taken over by the next cycle */
	struct log_set log;		/* main error_log */
	struct log_set mail_log;	/* mail-level error_log */
	struct log_set *srv_log;	/* per server */
	struct log_set mail_alog;	/* mail-level access_log targets (t[i] is access_log entry i) */
	struct log_set *srv_alog;	/* per server: its access_log targets (a copy of mail_alog's if inherited) */
	struct shm_zone *stats_zone;
	void **auth_cache;		/* per server: its auth_http_cache table (common/authcache.h), or NULL */
	void **login_limit;		/* per server: its login_limit_zone's counters (common/limiter.h), or NULL */
	void **tls;			/* per server: its SSL_CTX (worker/tls/tls_ctx.c), or NULL */
	struct tls_srv *tls_srv;	/* per server: what the TLS callbacks need */
};

#endif
