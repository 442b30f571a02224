/*
 * The relay: bytes both ways without looking at them. Plaintext on both sides
 * goes through splice(2) and a pipe borrowed from a per-worker pool only while
 * bytes are in flight; with TLS on a side, reads go into one per-worker
 * scratch buffer and straight out, and only bytes the other side cannot take
 * yet are copied into a per-direction buffer. Either way an idle relayed
 * session holds no buffer at all, and a direction with proxy_buffer bytes in
 * flight stops reading (flow control). EOF is forwarded as a half-close; the
 * session ends when both directions are done.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stats.h"
#include "worker/session.h"
#include "worker/session_int.h"

#define RELAY_BUDGET (1024 * 1024)	/* bytes per direction before yielding */
#define SCRATCH_SIZE (64 * 1024)
#define PIPE_POOL_MAX 64		/* idle pipes kept for reuse */
#ifndef SPLICE_CHUNK
#define SPLICE_CHUNK (64 * 1024)	/* a pipe's default capacity */
#endif

struct relay_pipe {
	int r, w;
	struct relay_pipe *next;
};

static char scratch[SCRATCH_SIZE];
static struct relay_pipe *pipe_pool;
static unsigned pipe_pool_len;
static int splice_off;			/* MAILPROXY_SPLICE=0: read/write only (measurements) */
static int splice_checked;

enum { PUMP_IDLE, PUMP_PROGRESS, PUMP_BUDGET, PUMP_ERROR };

static struct relay_pipe *
pipe_get(void)
{
	struct relay_pipe *p = pipe_pool;
	int fds[2];

	if (p != NULL) {
		pipe_pool = p->next;
		pipe_pool_len--;
		return p;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return NULL;
	if (SPLICE_CHUNK > 64 * 1024)
		fcntl(fds[1], F_SETPIPE_SZ, SPLICE_CHUNK);
	p = malloc(sizeof(*p));
	if (p == NULL) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	p->r = fds[0];
	p->w = fds[1];
	session_fd_acquired();
	session_fd_acquired();
	return p;
}

static void
pipe_close(struct relay_pipe *p)
{
	close(p->r);
	close(p->w);
	free(p);
	session_fd_released();
	session_fd_released();
}

/* An empty pipe goes back to the pool; one with bytes in it is closed. */
static void
pipe_put(struct relay_pipe *p, int empty)
{
	if (!empty || pipe_pool_len >= PIPE_POOL_MAX) {
		pipe_close(p);
		return;
	}
	p->next = pipe_pool;
	pipe_pool = p;
	pipe_pool_len++;
}

static int
use_splice(const struct session *s)
{
	if (!splice_checked) {
		const char *e = getenv("MAILPROXY_SPLICE");
		splice_off = e != NULL && e[0] == '0';
		splice_checked = 1;
	}
	return !splice_off && s->c.ssl == NULL && s->b.ssl == NULL;
}

static size_t
chunk_size(const struct session *s)
{
	return s->conf->proxy_buffer < SCRATCH_SIZE ? s->conf->proxy_buffer : SCRATCH_SIZE;
}

/* Empties the pipe of d into dst; -1 on error. */
static int
pipe_flush(struct conn *dst, struct relay_dir *d, int *progress)
{
	while (d->in_pipe > 0 && conn_can_write(dst)) {
		ssize_t n = splice(d->pipe->r, NULL, dst->io.fd, NULL, d->in_pipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->in_pipe -= (uint32_t)n;
			*progress = 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			dst->wr_wait = CONN_WAIT_WRITE;
			break;
		}
		dst->last_errno = n < 0 ? errno : EPIPE;
		dst->err = 1;
		return -1;
	}
	return 0;
}

/*
 * Forwards src's EOF to dst. When the other direction is over already the
 * session closes right after, and close() sends the FIN: no shutdown().
 */
static void
forward_fin(struct conn *dst, struct relay_dir *d, const struct relay_dir *other)
{
	if (!other->fin_sent)
		conn_shutdown_write(dst);
	d->fin_sent = 1;
}

static int
pump_splice(struct conn *src, struct conn *dst, struct relay_dir *d, const struct relay_dir *other,
    size_t *moved)
{
	int progress = 0;

	if (d->pipe != NULL) {
		if (pipe_flush(dst, d, &progress) < 0)
			return PUMP_ERROR;
		if (d->in_pipe > 0)
			return progress ? PUMP_PROGRESS : PUMP_IDLE;
		pipe_put(d->pipe, 1);
		d->pipe = NULL;
	}
	while (!src->eof && conn_can_read(src)) {
		if (*moved >= RELAY_BUDGET)
			return PUMP_BUDGET;
		if (d->pipe == NULL && (d->pipe = pipe_get()) == NULL)
			return PUMP_ERROR;
		/* Spliced bytes never touch user memory: proxy_buffer (a user-space
		 * buffer size) does not apply; a pipe holds at most SPLICE_CHUNK. */
		ssize_t n = splice(src->io.fd, NULL, d->pipe->w, NULL, SPLICE_CHUNK,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The pipe is empty here, so it is the socket that has nothing. */
			src->rd_wait = CONN_WAIT_READ;
			break;
		}
		if (n < 0) {
			src->last_errno = errno;
			src->err = 1;
			return PUMP_ERROR;
		}
		if (n == 0) {
			src->eof = 1;
			break;
		}
		d->in_pipe = (uint32_t)n;
		*moved += (size_t)n;
		progress = 1;
		/* As with recv(): a short splice drained the socket. */
		if ((size_t)n < SPLICE_CHUNK && !src->rdhup)
			src->rd_wait = CONN_WAIT_READ;
		if (pipe_flush(dst, d, &progress) < 0)
			return PUMP_ERROR;
		if (d->in_pipe > 0)
			break;	/* the other side is full: stop reading */
	}
	if (d->pipe != NULL && d->in_pipe == 0) {
		pipe_put(d->pipe, 1);
		d->pipe = NULL;
	}
	if (src->eof && !d->fin_sent && d->in_pipe == 0) {
		forward_fin(dst, d, other);
		progress = 1;
	}
	return progress ? PUMP_PROGRESS : PUMP_IDLE;
}

/* Moves bytes from src to dst through d; *moved counts bytes read from src. */
static int
pump(struct session *s, struct conn *src, struct conn *dst, struct relay_dir *d,
    const struct relay_dir *other, size_t *moved)
{
	size_t chunk = chunk_size(s);
	int progress = 0;

	if (use_splice(s))
		return pump_splice(src, dst, d, other, moved);
	while (buf_len(&d->pend) > 0) {
		if (!conn_can_write(dst))
			return PUMP_IDLE;
		ssize_t n = conn_send(dst, buf_rptr(&d->pend), buf_len(&d->pend));
		if (n == CONN_AGAIN)
			return progress ? PUMP_PROGRESS : PUMP_IDLE;
		if (n < 0)
			return PUMP_ERROR;
		buf_consume(&d->pend, (size_t)n);
		progress = 1;
	}
	if (d->pend.data != NULL)
		buf_release(&d->pend);	/* drained: an idle direction holds nothing */

	while (!src->eof && conn_can_read(src)) {
		if (*moved >= RELAY_BUDGET)
			return PUMP_BUDGET;
		ssize_t n = conn_recv(src, scratch, chunk);
		if (n == CONN_AGAIN)
			break;
		if (n == CONN_ERROR)
			return PUMP_ERROR;
		if (n == 0)
			break;
		*moved += (size_t)n;
		progress = 1;
		size_t off = 0;
		while (off < (size_t)n && conn_can_write(dst)) {
			ssize_t w = conn_send(dst, scratch + off, (size_t)n - off);
			if (w == CONN_AGAIN)
				break;
			if (w < 0)
				return PUMP_ERROR;
			off += (size_t)w;
		}
		if (off < (size_t)n) {
			/* The other side is full: keep the rest and stop reading. */
			if (buf_append(&d->pend, scratch + off, (size_t)n - off) < 0)
				return PUMP_ERROR;
			break;
		}
	}
	if (src->eof && !d->fin_sent && buf_len(&d->pend) == 0) {
		forward_fin(dst, d, other);
		progress = 1;
	}
	return progress ? PUMP_PROGRESS : PUMP_IDLE;
}

/* Bytes that came before the relay (login replies, pipelined commands) go
 * through the buffers first, whichever path follows. */
static int
flush_pending(struct conn *dst, struct relay_dir *d)
{
	while (buf_len(&d->pend) > 0 && conn_can_write(dst)) {
		ssize_t n = conn_send(dst, buf_rptr(&d->pend), buf_len(&d->pend));
		if (n == CONN_AGAIN)
			break;
		if (n < 0)
			return -1;
		buf_consume(&d->pend, (size_t)n);
	}
	return 0;
}

void
relay_run(struct session *s)
{
	size_t up = 0, down = 0;
	int half = s->up.fin_sent || s->down.fin_sent;

	if (use_splice(s) && (buf_len(&s->up.pend) > 0 || buf_len(&s->down.pend) > 0)) {
		if (flush_pending(&s->b, &s->up) < 0 || flush_pending(&s->c, &s->down) < 0) {
			session_close(s, LL_INFO, "proxied session done");
			return;
		}
		if (buf_len(&s->up.pend) > 0 || buf_len(&s->down.pend) > 0)
			return;	/* wait for the other side to take them */
		buf_release(&s->up.pend);
		buf_release(&s->down.pend);
	}
	for (;;) {
		int a = pump(s, &s->c, &s->b, &s->up, &s->down, &up);
		int b = pump(s, &s->b, &s->c, &s->down, &s->up, &down);

		if (a == PUMP_ERROR || b == PUMP_ERROR) {
			int err = s->c.err ? s->c.last_errno : s->b.last_errno;
			session_log(s, LL_INFO, err, "%s", s->c.err ? "client connection failed" :
			    "upstream connection failed");
			session_close(s, LL_INFO, "proxied session done");
			goto out;
		}
		if (a == PUMP_BUDGET || b == PUMP_BUDGET) {
			/* Fairness: let other sessions run, come back this turn. */
			ev_post(&s->c.io);
			break;
		}
		if (a == PUMP_IDLE && b == PUMP_IDLE)
			break;
	}
	if (s->up.fin_sent && s->down.fin_sent) {
		session_close(s, LL_INFO, "proxied session done");
		goto out;
	}
	if (up || down)
		s->last_active = timer_now();
	if (!half && (s->up.fin_sent || s->down.fin_sent))
		session_arm_timeout(s, relay_idle_limit(s));	/* half-closed: do not linger */
out:
	STAT_ADD(bytes_in, up);
	STAT_ADD(bytes_out, down);
}

uint64_t
relay_idle_limit(const struct session *s)
{
	const struct srv_conf *c = s->conf;

	if ((s->up.fin_sent || s->down.fin_sent) && c->timeout < c->proxy_timeout)
		return c->timeout;
	return c->proxy_timeout;
}

void
relay_release(struct session *s)
{
	struct relay_dir *dirs[2] = { &s->up, &s->down };

	for (int i = 0; i < 2; i++) {
		buf_release(&dirs[i]->pend);
		if (dirs[i]->pipe != NULL) {
			pipe_put(dirs[i]->pipe, dirs[i]->in_pipe == 0);
			dirs[i]->pipe = NULL;
			dirs[i]->in_pipe = 0;
		}
	}
}

unsigned
session_release_idle_fds(void)
{
	unsigned n = pipe_pool_len;

	while (pipe_pool != NULL) {
		struct relay_pipe *p = pipe_pool;
		pipe_pool = p->next;
		pipe_close(p);
	}
	pipe_pool_len = 0;
	return n;
}

void
relay_shutdown(void)
{
	session_release_idle_fds();
}

void
relay_start(struct session *s)
{
	struct preauth *pa = s->pa;

	/* The backend's last login reply (and anything after it) goes to the
	 * client; commands the client pipelined behind its login go to the
	 * backend, as nginx does. */
	if (buf_append(&s->down.pend, buf_rptr(&pa->out), buf_len(&pa->out)) < 0 ||
	    buf_append(&s->down.pend, buf_rptr(&pa->bin), buf_len(&pa->bin)) < 0 ||
	    buf_append(&s->up.pend, buf_rptr(&pa->in), buf_len(&pa->in)) < 0) {
		session_internal_error(s, "out of memory", 0);
		return;
	}
	if (buf_len(&pa->in))
		memset(pa->in.data, 0, pa->in.cap);
	session_log(s, LL_INFO, 0, "client logged in");
	session_set_state(s, SS_RELAY);
	/* From here on nothing of the login dialogue is kept. */
	session_preauth_done(s);
	s->last_active = timer_now();
	session_arm_timeout(s, s->conf->proxy_timeout);
	relay_run(s);
}
