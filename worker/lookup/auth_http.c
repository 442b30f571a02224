/*
 * The non-blocking auth_http client. By default one HTTP/1.0 request per
 * connection, as nginx does; with auth_http_keepalive N (mailproxy only)
 * HTTP/1.1 and up to N idle connections per worker and auth service are
 * kept and reused, which saves a TCP connection (and a TLS handshake) per
 * login. https:// services are reached over TLS (auth_http_ssl_*).
 *
 * With several services (auth_http given a list) a request tries them in
 * order and goes to the next on a connect or TLS failure, a timeout with
 * nothing answered, or a whole 5xx status line; a service that failed is
 * skipped by every worker for auth_http_fail_timeout (common/authsrv.h).
 * A request whose answer had begun otherwise is never sent again: a login
 * must not be checked twice because a service broke mid-answer.
 *
 * A request is bounded as a whole by auth_http_timeout; each try gets an
 * equal share of what is left among the services not yet tried, so one
 * silent service cannot use up the time of the next. The callback runs at
 * most once, and never after auth_http_cancel(). A request that finds its
 * reused connection closed by the server before any answer is sent again
 * once on a fresh connection to the same service (GET is idempotent).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/authsrv.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "common/stats.h"
#include "worker/event/conn.h"
#include "worker/event/timer.h"
#include "worker/lookup/auth_http.h"
#include "worker/lookup/auth_http_tls.h"
#include "worker/tls/tls.h"

#define AUTH_IDLE_MS 60000	/* an idle kept-alive connection is closed after this */

struct auth_req;

/* A connection to an auth service: owned by a request, or idle in the pool. */
struct auth_conn {
	struct conn c;		/* first member: the event callback casts back */
	struct auth_req *req;	/* NULL while idle */
	struct auth_conn *next, *prev;	/* the idle list */
	struct timer idle;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int slot;		/* the service's authsrv slot: pools are per service */
	SSL_CTX *ctx;		/* NULL: plain HTTP */
	uint8_t connected;
	uint8_t tls_done;
	uint8_t reused;		/* served a request before */
};

struct auth_req {
	struct auth_conn *ac;
	struct timer timer;	/* this try */
	struct buf base;	/* the request as built for the first service */
	size_t line_end;	/* its request line's end, where the headers start */
	size_t host, host_end;	/* its Host line */
	struct buf out, in;
	size_t sent;
	auth_done_cb cb;
	void *arg;
	struct auth_result *res;
	const struct srv_conf *conf;
	const struct auth_http_url *srv[AUTH_HTTP_MAX_SERVERS];
	struct authsrv_slot *slot[AUTH_HTTP_MAX_SERVERS];
	size_t n;
	int cur;		/* the service being tried */
	uint32_t tried;
	uint64_t deadline;	/* of the whole request */
	uint8_t keepalive;
	uint8_t retried;
};

static struct auth_conn *idle_head;

static void io_cb(struct ev_io *io, uint32_t events);
static void run(struct auth_req *r);

static void
conn_free(void *p)
{
	free(p);
}

static void
ac_close(struct auth_conn *ac)
{
	timer_cancel(&ac->idle);
	if (ac->c.io.fd >= 0) {
		conn_close(&ac->c);
		ev_fd_released();
	}
	ev_defer(conn_free, ac);
}

static void
idle_unlink(struct auth_conn *ac)
{
	if (ac->prev)
		ac->prev->next = ac->next;
	else
		idle_head = ac->next;
	if (ac->next)
		ac->next->prev = ac->prev;
	ac->next = ac->prev = NULL;
	timer_cancel(&ac->idle);
}

static void
idle_expired(struct timer *t)
{
	struct auth_conn *ac = (struct auth_conn *)((char *)t - offsetof(struct auth_conn, idle));

	idle_unlink(ac);
	ac_close(ac);
}

static int
ac_matches(const struct auth_conn *ac, const struct auth_http_url *u, int slot, SSL_CTX *ctx)
{
	return ac->slot == slot && ac->ctx == ctx && ac->addrlen == u->addrlen &&
	    memcmp(&ac->addr, &u->addr, u->addrlen) == 0;
}

/* After a request: back to its service's pool if it may serve again, else closed. */
static void
ac_release(struct auth_conn *ac, int reusable, unsigned limit)
{
	unsigned n = 0;

	ac->req = NULL;
	for (struct auth_conn *o = idle_head; o; o = o->next)
		if (o->slot == ac->slot && o->ctx == ac->ctx && o->addrlen == ac->addrlen &&
		    memcmp(&o->addr, &ac->addr, ac->addrlen) == 0)
			n++;
	if (!reusable || n >= limit || ac->c.eof || ac->c.err) {
		ac_close(ac);
		return;
	}
	ac->reused = 1;
	ac->next = idle_head;
	ac->prev = NULL;
	if (idle_head)
		idle_head->prev = ac;
	idle_head = ac;
	timer_set(&ac->idle, AUTH_IDLE_MS, idle_expired);
}

static struct auth_conn *
ac_take_idle(const struct auth_http_url *u, SSL_CTX *ctx)
{
	for (struct auth_conn *ac = idle_head; ac; ac = ac->next)
		if (ac_matches(ac, u, u->stat, ctx)) {
			idle_unlink(ac);
			return ac;
		}
	return NULL;
}

static struct auth_conn *
ac_open(const struct auth_http_url *u, SSL_CTX *ctx, struct auth_result *res)
{
	struct auth_conn *ac = calloc(1, sizeof(*ac));
	int fd;

	if (ac == NULL) {
		res->reason = "out of memory";
		return NULL;
	}
	fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		res->err = errno;
		res->reason = "socket() for auth http server failed";
		free(ac);
		return NULL;
	}
	conn_init(&ac->c, fd, io_cb);
	memcpy(&ac->addr, &u->addr, u->addrlen);
	ac->addrlen = u->addrlen;
	ac->slot = u->stat;
	ac->ctx = ctx;
	ev_fd_acquired();
	if (conn_connect(&ac->c, (const struct sockaddr *)&u->addr, u->addrlen) < 0) {
		res->err = errno;
		res->reason = "connect() to auth http server failed";
		ac_close(ac);
		return NULL;
	}
	if (conn_register(&ac->c) < 0) {
		res->err = errno;
		res->reason = "epoll_ctl() failed";
		ac_close(ac);
		return NULL;
	}
	return ac;
}

static void
req_free(void *p)
{
	struct auth_req *r = p;

	/* Passwords were in the request text. */
	if (r->out.data)
		memset(r->out.data, 0, r->out.cap);
	if (r->base.data)
		memset(r->base.data, 0, r->base.cap);
	buf_release(&r->out);
	buf_release(&r->base);
	buf_release(&r->in);
	free(r);
}

static SSL_CTX *
req_ctx(const struct auth_req *r, const struct auth_http_url *u)
{
	return u->ssl ? tls_auth_ctx(r->conf) : NULL;
}

/* Ends the request; the connection goes to the pool or is closed. */
static void
req_end(struct auth_req *r, int reusable)
{
	timer_cancel(&r->timer);
	if (r->ac != NULL) {
		ac_release(r->ac, reusable && r->keepalive,
		    r->conf ? r->conf->auth_http_keepalive : 0);
		r->ac = NULL;
	}
	ev_defer(req_free, r);
}

static void
finish(struct auth_req *r)
{
	auth_done_cb cb = r->cb;
	void *arg = r->arg;
	struct auth_result *res = r->res;
	int reusable = 0;

	if (res->status != AUTH_ERROR && r->ac != NULL) {
		if (r->cur >= 0 && r->slot[r->cur] != NULL)
			authsrv_answered(r->slot[r->cur]);
		if (r->conf->auth_http_ssl_session_reuse)
			auth_tls_keep_session(&r->ac->c, r->ac->slot);
	}
	/* Reusable only with the whole answer read and nothing after it. */
	if (res->status != AUTH_ERROR && res->reusable && res->content_length >= 0 &&
	    buf_len(&r->in) == res->header_len + (size_t)res->content_length)
		reusable = 1;
	r->cb = NULL;
	req_end(r, reusable);
	if (cb)
		cb(arg, res);
}

/* The service being tried failed: it goes into back-off. */
static void
mark_failed(struct auth_req *r)
{
	if (r->cur >= 0 && r->slot[r->cur] != NULL)
		authsrv_failed(r->slot[r->cur], clock_now(), r->conf->auth_http_fail_timeout);
}

/* The request fails as a whole, not sent anywhere else. */
static void
fail(struct auth_req *r, const char *reason)
{
	mark_failed(r);
	r->res->status = AUTH_ERROR;
	r->res->reason = reason;
	r->res->err = r->ac ? r->ac->c.last_errno : 0;
	finish(r);
}

static void on_timeout(struct timer *t);

/* The untried services, this one included. */
static unsigned
tries_left(const struct auth_req *r)
{
	unsigned n = 0;

	for (size_t i = 0; i < r->n; i++)
		if (!(r->tried & (1u << i)))
			n++;
	return n;
}

/* The request line's end and the Host line of the request as built: 0, or -1. */
static int
split_request(struct auth_req *r)
{
	const char *t = buf_rptr(&r->base);
	size_t len = buf_len(&r->base);
	const char *lf = memchr(t, '\n', len);

	if (lf == NULL)
		return -1;
	r->line_end = (size_t)(lf + 1 - t);
	for (size_t i = r->line_end; i < len;) {
		const char *e = memchr(t + i, '\n', len - i);
		if (e == NULL || (size_t)(e - (t + i)) <= 1)
			return -1;	/* the end of the headers, and no Host */
		size_t next = (size_t)(e + 1 - t);
		if (strncasecmp(t + i, "Host:", 5) == 0) {
			r->host = i;
			r->host_end = next;
			return 0;
		}
		i = next;
	}
	return -1;
}

/* The request text for service u: the first service's with u's request line and Host. */
static int
build_for(struct auth_req *r, const struct auth_http_url *u)
{
	const char *t = buf_rptr(&r->base);

	if (r->out.data)
		memset(r->out.data, 0, r->out.cap);
	buf_release(&r->out);
	buf_printf(&r->out, "GET %s HTTP/1.%d\r\nHost: %s\r\n", u->uri, r->keepalive ? 1 : 0, u->host);
	if (buf_append(&r->out, t + r->line_end, r->host - r->line_end) < 0 ||
	    buf_append(&r->out, t + r->host_end, buf_len(&r->base) - r->host_end) < 0 ||
	    r->out.data == NULL)
		return -1;
	return 0;
}

/*
 * Starts the next try: a service picked by authsrv_pick(), on a pooled or a
 * new connection. 0 when a try is under way, -1 when none could start
 * (res->reason says why; the callback has not run).
 */
static int
start_try(struct auth_req *r)
{
	for (;;) {
		uint64_t now = clock_now();
		int i = authsrv_pick(r->slot, r->n, r->tried, now, r->conf->auth_http_fail_timeout);
		if (i < 0)
			return -1;
		if (now >= r->deadline) {
			r->res->reason = "auth http server timed out";
			return -1;
		}
		const struct auth_http_url *u = r->srv[i];
		SSL_CTX *ctx = req_ctx(r, u);
		unsigned left = tries_left(r);
		r->cur = i;
		r->tried |= 1u << i;
		if (u->ssl && ctx == NULL) {
			r->res->reason = "no TLS context for the https auth http server";
			return -1;
		}
		if (build_for(r, u) < 0) {
			r->res->reason = "out of memory";
			return -1;
		}
		buf_reset(&r->in);
		r->sent = 0;
		r->retried = 0;
		if (r->slot[i] != NULL)
			__atomic_fetch_add(&r->slot[i]->requests, 1, __ATOMIC_RELAXED);
		r->ac = r->keepalive ? ac_take_idle(u, ctx) : NULL;
		if (r->ac != NULL)
			STAT_ADD(auth_reused, 1);
		else
			r->ac = ac_open(u, ctx, r->res);
		if (r->ac == NULL) {
			mark_failed(r);
			if (r->n > 1)
				log_errno(LL_WARN, r->res->err, "%s (%s), trying the next", r->res->reason, u->url);
			continue;
		}
		r->ac->req = r;
		timer_cancel(&r->timer);
		timer_set(&r->timer, (r->deadline - now + left - 1) / left, on_timeout);
		/* A reused connection is writable at once and no event will say
		 * so: it runs from the loop (the callback never runs inside
		 * auth_http_start()). */
		if (r->ac->connected)
			ev_post(&r->ac->c.io);
		return 0;
	}
}

/*
 * The service being tried failed before its answer began: in back-off, and
 * the request goes to the next one, or fails with reason when none is left.
 */
static void
try_next(struct auth_req *r, const char *reason)
{
	int err = r->ac ? r->ac->c.last_errno : 0;
	const struct auth_http_url *u = r->srv[r->cur];

	mark_failed(r);
	if (r->ac != NULL) {
		ac_release(r->ac, 0, 0);
		r->ac = NULL;
	}
	if (tries_left(r) > 0 && clock_now() < r->deadline) {
		log_errno(LL_WARN, err, "%s (%s), trying the next", reason, u->url);
		if (start_try(r) == 0)
			return;
		reason = r->res->reason;
		err = r->res->err;
	}
	r->cur = -1;	/* already counted */
	r->res->status = AUTH_ERROR;
	r->res->reason = reason;
	r->res->err = err;
	finish(r);
}

static void
on_timeout(struct timer *t)
{
	struct auth_req *r = (struct auth_req *)((char *)t - offsetof(struct auth_req, timer));

	/* An answer that began is not asked again elsewhere. */
	if (buf_len(&r->in) > 0)
		fail(r, "auth http server timed out");
	else
		try_next(r, "auth http server timed out");
}

/*
 * A kept-alive connection the server closed while it sat idle shows up as
 * EOF or a reset before any answer: send the request again, once, on a
 * fresh connection.
 */
static int
retry_stale(struct auth_req *r)
{
	const struct auth_http_url *u = r->srv[r->cur];

	if (!r->ac->reused || r->retried || buf_len(&r->in) > 0)
		return 0;
	r->retried = 1;
	ac_close(r->ac);
	r->ac = ac_open(u, req_ctx(r, u), r->res);
	if (r->ac == NULL) {
		try_next(r, r->res->reason);
		return 1;
	}
	r->ac->req = r;
	r->sent = 0;
	run(r);
	return 1;
}

/* The TLS handshake of a new https connection: 1 done, 0 waiting, -1 the try failed. */
static int
tls_step(struct auth_req *r, struct auth_conn *ac)
{
	const char *reason = "cannot create a TLS connection to the auth http server";
	int rc = -1;

	if (ac->c.ssl != NULL || auth_tls_begin(&ac->c, ac->ctx, r->conf, r->srv[r->cur], ac->slot) == 0)
		rc = auth_tls_step(&ac->c, &reason);
	if (rc < 0)
		try_next(r, reason);
	else if (rc > 0)
		ac->tls_done = 1;
	return rc;
}

static void
run(struct auth_req *r)
{
	struct auth_conn *ac = r->ac;

	if (!ac->connected) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (!conn_can_write(&ac->c) && !ac->c.ev_err)
			return;
		if (ac->c.ev_err) {
			if (getsockopt(ac->c.io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
			ac->c.last_errno = err ? err : ECONNREFUSED;
			try_next(r, "connect() to auth http server failed");
			return;
		}
		ac->connected = 1;
	}
	if (ac->ctx != NULL && !ac->tls_done && tls_step(r, ac) <= 0)
		return;
	while (r->sent < buf_len(&r->out) && conn_can_write(&ac->c)) {
		ssize_t n = conn_send(&ac->c, buf_rptr(&r->out) + r->sent, buf_len(&r->out) - r->sent);
		if (n == CONN_ERROR) {
			if (!retry_stale(r))
				try_next(r, "send() to auth http server failed");
			return;
		}
		if (n > 0)
			r->sent += (size_t)n;
	}
	if (r->sent < buf_len(&r->out))
		return;
	while (conn_can_read(&ac->c)) {
		size_t room = AUTH_HTTP_MAX_RESPONSE + 1 - buf_len(&r->in);
		if (room == 0 || buf_reserve(&r->in, room < 2048 ? room : 2048,
		    AUTH_HTTP_MAX_RESPONSE + 1) < 0) {
			fail(r, "auth http server sent a too large response");
			return;
		}
		ssize_t n = conn_recv(&ac->c, buf_wptr(&r->in), buf_room(&r->in));
		if (n == CONN_ERROR || (n == 0 && buf_len(&r->in) == 0)) {
			if (retry_stale(r))
				return;
			/* Nothing of an answer: the request may go elsewhere. */
			if (buf_len(&r->in) == 0) {
				try_next(r, n == CONN_ERROR ? "recv() from auth http server failed" :
				    "auth http server closed the connection before answering");
				return;
			}
			if (n == CONN_ERROR) {
				fail(r, "recv() from auth http server failed");
				return;
			}
		}
		if (n == CONN_AGAIN)
			return;
		if (n > 0)
			r->in.w += (size_t)n;
		/* A whole 5xx status line: the service did not take the request,
		 * another may. The last service's answer is read as nginx reads
		 * it, whatever its status. */
		if (tries_left(r) > 0 && authsrv_is_5xx(buf_rptr(&r->in), buf_len(&r->in)) == 1 &&
		    memchr(buf_rptr(&r->in), '\n', buf_len(&r->in)) != NULL) {
			try_next(r, "auth http server answered with a 5xx status");
			return;
		}
		int rc = auth_http_parse(buf_rptr(&r->in), buf_len(&r->in), n == 0, r->res);
		if (rc == AUTH_PARSE_AGAIN)
			continue;
		if (rc == AUTH_PARSE_ERROR)
			mark_failed(r);
		finish(r);
		return;
	}
}

static void
io_cb(struct ev_io *io, uint32_t events)
{
	struct auth_conn *ac = (struct auth_conn *)io;

	if (ac->c.io.fd < 0)
		return;
	conn_event(&ac->c, events);
	if (ac->req == NULL) {
		/* Idle and writable again (the last request's bytes were acked):
		 * nothing to do, the connection stays in the pool. */
		if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			return;
		/* Idle: the server closed it, or sent what nobody asked for. */
		idle_unlink(ac);
		ac_close(ac);
		return;
	}
	if (ac->req->cb == NULL)
		return;
	run(ac->req);
}

struct auth_req *
auth_http_start(const struct srv_conf *conf, const struct auth_params *p,
    auth_done_cb cb, void *arg, struct auth_result *res)
{
	struct auth_req *r;

	auth_result_clear(res);
	res->status = AUTH_ERROR;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		res->reason = "out of memory";
		return NULL;
	}
	r->keepalive = conf->auth_http_keepalive > 0;
	r->conf = conf;
	r->res = res;
	r->cur = -1;
	if (auth_http_build(&r->base, conf, p, r->keepalive) < 0 || r->base.data == NULL) {
		res->reason = "a value for the auth request contains CR or LF";
		req_free(r);
		return NULL;
	}
	/* The request line and Host are rewritten for each service tried. */
	if (split_request(r) < 0) {
		res->reason = "cannot build the auth request";
		req_free(r);
		return NULL;
	}
	for (const struct auth_http_url *u = &conf->auth_http; u && r->n < AUTH_HTTP_MAX_SERVERS; u = u->next) {
		r->srv[r->n] = u;
		r->slot[r->n] = authsrv_zone != NULL && u->stat >= 0 && u->stat < AUTHSRV_SLOTS ?
		    &authsrv_zone->slot[u->stat] : NULL;
		r->n++;
	}
	r->deadline = clock_now() + conf->auth_http_timeout;
	if (start_try(r) < 0) {
		res->status = AUTH_ERROR;
		req_free(r);
		return NULL;
	}
	res->status = AUTH_OK;
	r->cb = cb;
	r->arg = arg;
	return r;
}

void
auth_http_cancel(struct auth_req *r)
{
	if (r == NULL)
		return;
	r->cb = NULL;
	/* The answer (if any) would come for a request nobody waits for. */
	req_end(r, 0);
}

void
auth_http_shutdown(void)
{
	while (idle_head != NULL) {
		struct auth_conn *ac = idle_head;
		idle_unlink(ac);
		ac_close(ac);
	}
	auth_tls_shutdown();
}
