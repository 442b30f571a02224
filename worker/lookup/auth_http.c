/*
 * The non-blocking auth_http client. By default one HTTP/1.0 request per
 * connection, as nginx does; with auth_http_keepalive N (mailproxy only)
 * HTTP/1.1 and up to N idle connections per worker are kept and reused, which
 * saves a TCP connection per login. A request is bounded as a whole by
 * auth_http_timeout; its callback runs at most once, and never after
 * auth_http_cancel(). A request that finds its reused connection closed by
 * the server before any answer is sent again once on a fresh connection
 * (GET is idempotent).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"
#include "worker/event/conn.h"
#include "worker/event/timer.h"
#include "worker/lookup/auth_http.h"

#define AUTH_IDLE_MS 60000	/* an idle kept-alive connection is closed after this */

struct auth_req;

/* A connection to the auth service: owned by a request, or idle in the pool. */
struct auth_conn {
	struct conn c;		/* first member: the event callback casts back */
	struct auth_req *req;	/* NULL while idle */
	struct auth_conn *next, *prev;	/* the idle list */
	struct timer idle;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint8_t connected;
	uint8_t reused;		/* served a request before */
};

struct auth_req {
	struct auth_conn *ac;
	struct timer timer;
	struct buf out, in;
	size_t sent;
	auth_done_cb cb;
	void *arg;
	struct auth_result *res;
	const struct srv_conf *conf;
	uint8_t keepalive;
	uint8_t retried;
};

static struct auth_conn *idle_head;
static size_t nidle;

static void io_cb(struct ev_io *io, uint32_t events);

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
	nidle--;
	timer_cancel(&ac->idle);
}

static void
idle_expired(struct timer *t)
{
	struct auth_conn *ac = (struct auth_conn *)((char *)t - offsetof(struct auth_conn, idle));

	idle_unlink(ac);
	ac_close(ac);
}

/* After a request: back to the pool if it may serve again, else closed. */
static void
ac_release(struct auth_conn *ac, int reusable, unsigned limit)
{
	ac->req = NULL;
	if (!reusable || nidle >= limit || ac->c.eof || ac->c.err) {
		ac_close(ac);
		return;
	}
	ac->reused = 1;
	ac->next = idle_head;
	ac->prev = NULL;
	if (idle_head)
		idle_head->prev = ac;
	idle_head = ac;
	nidle++;
	timer_set(&ac->idle, AUTH_IDLE_MS, idle_expired);
}

static struct auth_conn *
ac_take_idle(const struct auth_http_url *u)
{
	for (struct auth_conn *ac = idle_head; ac; ac = ac->next)
		if (ac->addrlen == u->addrlen && memcmp(&ac->addr, &u->addr, u->addrlen) == 0) {
			idle_unlink(ac);
			return ac;
		}
	return NULL;
}

static struct auth_conn *
ac_open(const struct auth_http_url *u, struct auth_result *res)
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
	buf_release(&r->out);
	buf_release(&r->in);
	free(r);
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

	/* Reusable only with the whole answer read and nothing after it. */
	if (res->status != AUTH_ERROR && res->reusable && res->content_length >= 0 &&
	    buf_len(&r->in) == res->header_len + (size_t)res->content_length)
		reusable = 1;
	r->cb = NULL;
	req_end(r, reusable);
	if (cb)
		cb(arg, res);
}

static void
fail(struct auth_req *r, const char *reason)
{
	r->res->status = AUTH_ERROR;
	r->res->reason = reason;
	r->res->err = r->ac ? r->ac->c.last_errno : 0;
	finish(r);
}

static void
on_timeout(struct timer *t)
{
	struct auth_req *r = (struct auth_req *)((char *)t - offsetof(struct auth_req, timer));

	fail(r, "auth http server timed out");
}

static void run(struct auth_req *r);

/*
 * A kept-alive connection the server closed while it sat idle shows up as
 * EOF or a reset before any answer: send the request again, once, on a
 * fresh connection.
 */
static int
retry_stale(struct auth_req *r)
{
	if (!r->ac->reused || r->retried || buf_len(&r->in) > 0)
		return 0;
	r->retried = 1;
	ac_close(r->ac);
	r->ac = ac_open(&r->conf->auth_http, r->res);
	if (r->ac == NULL) {
		fail(r, r->res->reason);
		return 1;
	}
	r->ac->req = r;
	r->sent = 0;
	run(r);
	return 1;
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
			fail(r, "connect() to auth http server failed");
			return;
		}
		ac->connected = 1;
	}
	while (r->sent < buf_len(&r->out) && conn_can_write(&ac->c)) {
		ssize_t n = conn_send(&ac->c, buf_rptr(&r->out) + r->sent, buf_len(&r->out) - r->sent);
		if (n == CONN_ERROR) {
			if (!retry_stale(r))
				fail(r, "send() to auth http server failed");
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
			if (n == CONN_ERROR) {
				fail(r, "recv() from auth http server failed");
				return;
			}
		}
		if (n == CONN_AGAIN)
			return;
		if (n > 0)
			r->in.w += (size_t)n;
		int rc = auth_http_parse(buf_rptr(&r->in), buf_len(&r->in), n == 0, r->res);
		if (rc == AUTH_PARSE_AGAIN)
			continue;
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
	const struct auth_http_url *u = &conf->auth_http;
	struct auth_req *r;

	auth_result_clear(res);
	res->status = AUTH_ERROR;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		res->reason = "out of memory";
		return NULL;
	}
	r->keepalive = conf->auth_http_keepalive > 0;
	if (auth_http_build(&r->out, conf, p, r->keepalive) < 0 || r->out.data == NULL) {
		res->reason = "a value for the auth request contains CR or LF";
		req_free(r);
		return NULL;
	}
	r->ac = r->keepalive ? ac_take_idle(u) : NULL;
	if (r->ac == NULL)
		r->ac = ac_open(u, res);
	if (r->ac == NULL) {
		req_free(r);
		return NULL;
	}
	res->status = AUTH_OK;
	r->ac->req = r;
	r->cb = cb;
	r->arg = arg;
	r->res = res;
	r->conf = conf;
	timer_set(&r->timer, conf->auth_http_timeout, on_timeout);
	/* A reused connection is writable at once and no event will say so: it
	 * runs from the loop, once the caller holds the handle (a failure calls
	 * back, and the callback must not come before this returns). */
	if (r->ac->connected)
		ev_post(&r->ac->c.io);
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
}
