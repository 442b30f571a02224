/*
 * A non-blocking connection, plaintext or TLS. Registered once with epoll,
 * edge-triggered, for both directions; rd_wait/wr_wait remember which
 * readiness an operation is waiting for, so SSL_ERROR_WANT_* never leaves
 * this file and callers simply retry when conn_can_read()/conn_can_write().
 */
#ifndef MP_CONN_H
#define MP_CONN_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "worker/event/event.h"

typedef struct ssl_st SSL;

#define CONN_WAIT_NONE	0
#define CONN_WAIT_READ	1	/* needs EPOLLIN */
#define CONN_WAIT_WRITE	2	/* needs EPOLLOUT */

/* Results besides a byte count. */
#define CONN_AGAIN	(-1)
#define CONN_ERROR	(-2)

struct utls;
struct conn;

/*
 * A record layer that takes a TLS connection over from OpenSSL after the
 * handshake (tls/utls.c, as nginx swaps c->recv/c->send): with c->ssl gone,
 * conn_recv()/conn_send() and the close go through it. It is set with
 * c->utls and cleared by its free().
 */
struct conn_layer {
	ssize_t (*recv)(struct conn *c, void *buf, size_t len);
	ssize_t (*send)(struct conn *c, const void *buf, size_t len);
	int (*flush)(struct conn *c);		/* 0 when nothing is left queued */
	int (*pending)(const struct conn *c);	/* sealed bytes still queued */
	void (*close_notify)(struct conn *c);
	void (*free)(struct conn *c);
};

struct conn {
	struct ev_io io;
	SSL *ssl;
	struct utls *utls;	/* TLS 1.3 records without SSL once ssl is NULL (utls.h) */
	const struct conn_layer *layer;	/* utls's entry points while c->utls is set */
	uint8_t rd_wait;
	uint8_t wr_wait;
	uint8_t hs_wait;	/* TLS handshake */
	uint8_t eof:1;		/* peer closed its side */
	uint8_t err:1;		/* fatal error seen */
	uint8_t shut_wr:1;	/* we sent FIN / close_notify */
	uint8_t registered:1;
	uint8_t rdhup:1;	/* epoll saw the peer's FIN: reads go on until 0 */
	uint8_t ev_err:1;	/* epoll reported EPOLLERR (a failed connect, say) */
	uint8_t ssl_wpend:1;	/* SSL_write wants to be called again: a record is half out */
	uint8_t fin_owed:1;	/* utls: FIN after the sealed bytes still queued */
	int last_errno;
};

void conn_init(struct conn *c, int fd, ev_cb cb);
int conn_register(struct conn *c);	/* EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET */
/*
 * Non-blocking connect(); 0 once started (or done), -1 with errno. Until the
 * connection is up, conn_can_write() is false: EPOLLOUT (or an error) says
 * when it is.
 */
int conn_connect(struct conn *c, const struct sockaddr *sa, socklen_t len);
/* Updates the wait flags from epoll event bits; call first in the callback. */
void conn_event(struct conn *c, uint32_t events);
static inline int conn_can_read(const struct conn *c) { return c->rd_wait == CONN_WAIT_NONE; }
static inline int conn_can_write(const struct conn *c) { return c->wr_wait == CONN_WAIT_NONE; }
/* TLS of either kind: reads return a record at a time, short reads prove nothing. */
static inline int conn_tls(const struct conn *c) { return c->ssl != NULL || c->layer != NULL; }

/* > 0 bytes, 0 end of stream, CONN_AGAIN, CONN_ERROR. */
ssize_t conn_recv(struct conn *c, void *buf, size_t len);
/* > 0 bytes written, CONN_AGAIN, CONN_ERROR. */
ssize_t conn_send(struct conn *c, const void *buf, size_t len);
/*
 * Sends b until it is empty (0) or c would block (CONN_AGAIN: the rest stays
 * in b for the next EPOLLOUT); CONN_ERROR on an error. Sent bytes leave b.
 */
struct buf;
int conn_send_buf(struct conn *c, struct buf *b);
/* conn_recv()/conn_send() on the socket itself, TLS or not (for utls.c). */
ssize_t conn_recv_plain(struct conn *c, void *buf, size_t len);
ssize_t conn_send_plain(struct conn *c, const void *buf, size_t len);
/* Half-close our side (FIN, or close_notify then FIN for TLS). */
void conn_shutdown_write(struct conn *c);
void conn_close(struct conn *c);
/* Reason text of the last error, for logs. */
const char *conn_strerror(const struct conn *c);

#endif
