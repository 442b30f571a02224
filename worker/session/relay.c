/*
 * The relay: bytes both ways without looking at them. Each turn reads first
 * into one per-worker scratch buffer and sends straight on; plaintext that
 * fills that first read is bulk, and the rest goes through splice(2) and a
 * pipe borrowed from a per-worker pool only while bytes are in flight. With
 * TLS on a side it is reads and writes throughout. Only bytes the other side
 * cannot take yet are kept (a per-direction buffer, or the pipe), so an idle
 * relayed session holds no buffer at all, and a direction with bytes in
 * flight stops reading (flow control). The client's EOF is forwarded as a
 * half-close; the backend's ends the session (see forward_fin).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "common/stats.h"
#include "worker/session/session.h"
#include "worker/session/session_int.h"
#include "worker/tls/utls.h"

#define RELAY_BUDGET (1024 * 1024)	/* bytes per direction before yielding */
#define SCRATCH_SIZE (64 * 1024)
#define PIPE_POOL_MAX 64		/* idle pipes kept for reuse */
#define FIRST_READ 4096		/* plaintext: past this, splice */
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

enum { PUMP_IDLE, PUMP_PROGRESS, PUMP_BUDGET, PUMP_ERROR, PUMP_NOPIPE };

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
	ev_fd_acquired();
	ev_fd_acquired();
	return p;
}

static void
pipe_close(struct relay_pipe *p)
{
	close(p->r);
	close(p->w);
	free(p);
	ev_fd_released();
	ev_fd_released();
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
	return !splice_off && !conn_tls(&s->c) && !conn_tls(&s->b);
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
 * Whether bytes from the client wait unread: inside OpenSSL or utls, or in
 * the socket. The wait flags alone are not proof: the client's event may
 * still be in this turn's batch, behind the backend's.
 */
static int
client_has_unread(const struct conn *c)
{
	char b;

	if (conn_can_read(c) && !c->rdhup && c->ssl == NULL && c->utls == NULL)
		return 1;	/* no read has hit EAGAIN since the last event */
	if ((c->ssl != NULL && SSL_has_pending(c->ssl)) || utls_has_unread(c))
		return 1;
	ssize_t n = recv(c->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n > 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/*
 * Forwards src's EOF to dst. When the other direction is over already the
 * session closes right after, and close() sends the FIN: no shutdown().
 * When the backend is the one that ended (LOGOUT, QUIT) and the client has
 * nothing unread, the session closes at once, as nginx's does: waiting for
 * the client's own FIN costs a wakeup per session and serves no one, since
 * nothing the client sends from here on has a reader. With input unread,
 * close() would answer with a RST and could discard the reply still queued
 * for the client, so that case half-closes and waits as before.
 */
static void
forward_fin(struct session *s, struct conn *dst, struct relay_dir *d, struct relay_dir *other)
{
	d->fin_sent = 1;
	if (other->fin_sent)
		return;
	if (dst == &s->c && other->in_pipe == 0 && buf_len(&other->pend) == 0 &&
	    !client_has_unread(&s->c)) {
		other->fin_sent = 1;
		return;
	}
	conn_shutdown_write(dst);
}

/*
 * Splices what is left in src after a full first read, until EAGAIN. A
 * short splice does not mean the socket is drained: the pipe also fills up
 * by slots, one per received segment, so many small segments stop it early
 * and the rest would wait for an edge that never comes.
 */
static int
splice_rest(struct conn *src, struct conn *dst, struct relay_dir *d, size_t *moved,
    int *progress)
{
	while (!src->eof && conn_can_read(src)) {
		if (*moved >= RELAY_BUDGET)
			return PUMP_BUDGET;
		if (d->pipe == NULL && (d->pipe = pipe_get()) == NULL)
			return PUMP_NOPIPE;	/* no descriptor for one: read/write instead */
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
		*progress = 1;
		if (pipe_flush(dst, d, progress) < 0)
			return PUMP_ERROR;
		if (d->in_pipe > 0)
			break;	/* the other side is full: stop reading */
	}
	if (d->pipe != NULL && d->in_pipe == 0) {
		pipe_put(d->pipe, 1);
		d->pipe = NULL;
	}
	return PUMP_IDLE;
}

/* Sends data to dst; what dst cannot take now waits in d->pend. */
static int
send_or_keep(struct conn *dst, struct relay_dir *d, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len && conn_can_write(dst)) {
		ssize_t w = conn_send(dst, data + off, len - off);
		if (w == CONN_AGAIN)
			break;
		if (w < 0)
			return -1;
		off += (size_t)w;
	}
	if (off < len && buf_append(&d->pend, data + off, len - off) < 0)
		return -1;
	return 0;
}

/*
 * Moves bytes from src to dst through d; *moved counts bytes read from src.
 * Leftovers go first, in order: bytes dst could not take, then a pipe's.
 * Each turn starts with a recv() into the scratch buffer: commands and
 * replies are small, and a short recv() proves the socket drained, so they
 * cost one recv() and one send(). Plaintext that fills the first read is
 * bulk, and the rest of it is spliced, never copied through user space.
 */
static int
pump(struct session *s, struct conn *src, struct conn *dst, struct relay_dir *d,
    struct relay_dir *other, size_t *moved)
{
	int splicing = use_splice(s), progress = 0;
	size_t chunk = splicing && chunk_size(s) > FIRST_READ ? FIRST_READ : chunk_size(s);

	if (utls_pending(dst)) {
		int r = utls_flush(dst);
		if (r == CONN_ERROR)
			return PUMP_ERROR;
		if (r == CONN_AGAIN)
			return PUMP_IDLE;
		progress = 1;
	}

	if (buf_len(&d->pend) > 0) {
		size_t before = buf_len(&d->pend);
		int r = conn_send_buf(dst, &d->pend);
		if (r == CONN_ERROR)
			return PUMP_ERROR;
		if (buf_len(&d->pend) < before)
			progress = 1;
		if (r == CONN_AGAIN)
			return progress ? PUMP_PROGRESS : PUMP_IDLE;
	}
	if (d->pend.data != NULL)
		buf_release(&d->pend);	/* drained: an idle direction holds nothing */
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
		ssize_t n = conn_recv(src, scratch, chunk);
		if (n == CONN_AGAIN || n == 0)
			break;
		if (n == CONN_ERROR)
			return PUMP_ERROR;
		*moved += (size_t)n;
		progress = 1;
		if (send_or_keep(dst, d, scratch, (size_t)n) < 0)
			return PUMP_ERROR;
		if (buf_len(&d->pend) > 0)
			break;	/* the other side is full: stop reading */
		if (conn_tls(src))
			continue;	/* a record at a time */
		if ((size_t)n < chunk) {
			/* Drained; with the FIN in already, nothing else can come. */
			if (src->rdhup)
				src->eof = 1;
			break;
		}
		if (splicing) {
			int r = splice_rest(src, dst, d, moved, &progress);
			if (r == PUMP_NOPIPE) {
				splicing = 0;
				chunk = chunk_size(s);
				continue;
			}
			if (r != PUMP_IDLE)
				return r;
			break;
		}
	}
	if (src->eof && !d->fin_sent && buf_len(&d->pend) == 0 && d->in_pipe == 0 &&
	    !utls_pending(dst)) {
		forward_fin(s, dst, d, other);
		progress = 1;
	}
	return progress ? PUMP_PROGRESS : PUMP_IDLE;
}

void
relay_run(struct session *s)
{
	size_t up = 0, down = 0;
	int half = s->up.fin_sent || s->down.fin_sent;

	for (;;) {
		int a = pump(s, &s->c, &s->b, &s->up, &s->down, &up);
		int b = pump(s, &s->b, &s->c, &s->down, &s->up, &down);

		if (a == PUMP_ERROR || b == PUMP_ERROR) {
			int err = s->c.err ? s->c.last_errno : s->b.last_errno;
			session_log(s, LL_INFO, err, "%s", s->c.err ? "client connection failed" :
			    "upstream connection failed");
			s->acct.bytes_in += up;	/* before the access log line */
			s->acct.bytes_out += down;
			session_close(s, LL_INFO, "proxied session done");
			goto out;
		}
		if (a == PUMP_BUDGET || b == PUMP_BUDGET) {
			/* Fairness: let other sessions run, come back this turn. */
			ev_post(&s->c.io);
			break;
		}
		if ((a == PUMP_IDLE && b == PUMP_IDLE) || (s->up.fin_sent && s->down.fin_sent))
			break;
	}
	if (s->up.fin_sent && s->down.fin_sent) {
		s->acct.bytes_in += up;
		s->acct.bytes_out += down;
		session_close(s, LL_INFO, "proxied session done");
		goto out;
	}
	if (up || down)
		s->last_active = clock_now();
	if (!half && (s->up.fin_sent || s->down.fin_sent))
		session_arm_timeout(s, relay_idle_limit(s));	/* half-closed: do not linger */
	if (s->c.ssl != NULL && s->c.utls != NULL)
		utls_take_over(&s->c);	/* OpenSSL held bytes at the start: now? */
out:
	STAT_ADD(bytes_in, up);
	STAT_ADD(bytes_out, down);
	if (s->state != SS_CLOSED) {
		s->acct.bytes_in += up;
		s->acct.bytes_out += down;
	}
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
	/* Replies still queued reach the client through the relay's pending bytes. */
	s->acct.bytes_out += buf_len(&pa->out) + buf_len(&pa->bin);
	s->acct.relay_at = acct_mark(s);
	acct_status(s, SST_OK);
	session_log(s, LL_INFO, 0, "client logged in");
	session_set_state(s, SS_RELAY);
	/* From here on nothing of the login dialogue is kept, and TLS 1.3
	 * goes on without OpenSSL's per-connection state when it can. */
	session_preauth_done(s);
	if (s->c.utls != NULL)
		utls_take_over(&s->c);
	s->last_active = clock_now();
	session_arm_timeout(s, s->conf->proxy_timeout);
	relay_run(s);
}
