/* Connection I/O over plaintext or TLS; see conn.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "worker/event/conn.h"

void
conn_init(struct conn *c, int fd, ev_cb cb)
{
	memset(c, 0, sizeof(*c));
	c->io.fd = fd;
	c->io.cb = cb;
}

int
conn_register(struct conn *c)
{
	if (ev_add(&c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		c->last_errno = errno;
		return -1;
	}
	c->registered = 1;
	return 0;
}

int
conn_connect(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	if (connect(c->io.fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	c->wr_wait = CONN_WAIT_WRITE;
	return 0;
}

void
conn_event(struct conn *c, uint32_t events)
{
	if (events & (EPOLLRDHUP | EPOLLHUP))
		c->rdhup = 1;
	if (events & EPOLLERR)
		c->ev_err = 1;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		if (c->rd_wait == CONN_WAIT_READ)
			c->rd_wait = CONN_WAIT_NONE;
		if (c->wr_wait == CONN_WAIT_READ)
			c->wr_wait = CONN_WAIT_NONE;
		if (c->hs_wait == CONN_WAIT_READ)
			c->hs_wait = CONN_WAIT_NONE;
	}
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
		if (c->rd_wait == CONN_WAIT_WRITE)
			c->rd_wait = CONN_WAIT_NONE;
		if (c->wr_wait == CONN_WAIT_WRITE)
			c->wr_wait = CONN_WAIT_NONE;
		if (c->hs_wait == CONN_WAIT_WRITE)
			c->hs_wait = CONN_WAIT_NONE;
	}
}

/* Maps an SSL result onto the wait flag of the operation; returns the conn result. */
static ssize_t
ssl_result(struct conn *c, int rc, uint8_t *wait)
{
	int e = SSL_get_error(c->ssl, rc);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*wait = CONN_WAIT_READ;
		return CONN_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*wait = CONN_WAIT_WRITE;
		return CONN_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		c->eof = 1;
		return 0;
	case SSL_ERROR_SYSCALL:
		c->last_errno = errno;
		if (ERR_peek_error() == 0 && errno == 0) {
			/* EOF without close_notify: treat as end of stream. */
			c->eof = 1;
			ERR_clear_error();
			return 0;
		}
		c->err = 1;
		return CONN_ERROR;
	default:
		c->last_errno = 0;
		c->err = 1;
		return CONN_ERROR;
	}
}

ssize_t
conn_recv_plain(struct conn *c, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(c->io.fd, buf, len, 0);
		if (n > 0) {
			/* A short read drained the socket: the next bytes bring a new
			 * edge, so no recv() just to hear EAGAIN (unless a FIN is
			 * pending, which brings no further edge). */
			if ((size_t)n < len && !c->rdhup)
				c->rd_wait = CONN_WAIT_READ;
			return n;
		}
		if (n == 0) {
			c->eof = 1;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->rd_wait = CONN_WAIT_READ;
			return CONN_AGAIN;
		}
		c->last_errno = errno;
		c->err = 1;
		return CONN_ERROR;
	}
}

ssize_t
conn_recv(struct conn *c, void *buf, size_t len)
{
	if (c->ssl != NULL) {
		ERR_clear_error();
		int rc = SSL_read(c->ssl, buf, len > 0x7fffffff ? 0x7fffffff : (int)len);
		if (rc > 0)
			return rc;
		return ssl_result(c, rc, &c->rd_wait);
	}
	if (c->layer != NULL)
		return c->layer->recv(c, buf, len);
	return conn_recv_plain(c, buf, len);
}

ssize_t
conn_send_plain(struct conn *c, const void *buf, size_t len)
{
	for (;;) {
		ssize_t n = send(c->io.fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->wr_wait = CONN_WAIT_WRITE;
			return CONN_AGAIN;
		}
		c->last_errno = errno;
		c->err = 1;
		return CONN_ERROR;
	}
}

ssize_t
conn_send(struct conn *c, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (c->ssl != NULL) {
		ERR_clear_error();
		int rc = SSL_write(c->ssl, buf, len > 0x7fffffff ? 0x7fffffff : (int)len);
		if (rc > 0) {
			c->ssl_wpend = 0;
			return rc;
		}
		ssize_t n = ssl_result(c, rc, &c->wr_wait);
		if (n == CONN_AGAIN && c->wr_wait == CONN_WAIT_WRITE)
			c->ssl_wpend = 1;
		return n == 0 ? CONN_ERROR : n;
	}
	if (c->layer != NULL)
		return c->layer->send(c, buf, len);
	return conn_send_plain(c, buf, len);
}

int
conn_send_buf(struct conn *c, struct buf *b)
{
	while (buf_len(b) > 0) {
		if (!conn_can_write(c))
			return CONN_AGAIN;
		ssize_t n = conn_send(c, buf_rptr(b), buf_len(b));
		if (n == CONN_AGAIN)
			return CONN_AGAIN;
		if (n < 0)
			return CONN_ERROR;
		buf_consume(b, (size_t)n);
	}
	return 0;
}

void
conn_shutdown_write(struct conn *c)
{
	if (c->shut_wr || c->io.fd < 0)
		return;
	c->shut_wr = 1;
	if (c->ssl != NULL) {
		ERR_clear_error();
		SSL_shutdown(c->ssl);
	} else if (c->layer != NULL) {
		c->layer->close_notify(c);
		if (c->layer->pending(c)) {
			c->fin_owed = 1;	/* the FIN follows the bytes (the layer's flush) */
			return;
		}
	}
	shutdown(c->io.fd, SHUT_WR);
}

void
conn_close(struct conn *c)
{
	if (c->io.fd < 0)
		return;
	/* close() takes the descriptor out of epoll: no epoll_ctl() needed. */
	if (c->registered)
		ev_unpost(&c->io);
	if (c->ssl != NULL) {
		/* A normal end says close_notify (RFC 8446 6.1; nginx does); after an
		 * error nothing more is written. Nobody waits for the peer's. */
		if (c->err || c->shut_wr)
			SSL_set_quiet_shutdown(c->ssl, 1);
		ERR_clear_error();
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	} else if (c->layer != NULL && !c->err) {
		/* What is still queued, and close_notify: as much as goes now. */
		if (!c->shut_wr)
			c->layer->close_notify(c);
		else
			c->layer->flush(c);
	}
	if (c->layer != NULL)
		c->layer->free(c);
	close(c->io.fd);
	c->io.fd = -1;
	c->registered = 0;
}

const char *
conn_strerror(const struct conn *c)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (c->last_errno)
		return strerror(c->last_errno);
	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		return buf;
	}
	return c->eof ? "connection closed" : "error";
}
