/*
 * The non-blocking auth_http client: one HTTP/1.0 request per connection, as
 * nginx does, bounded as a whole by auth_http_timeout. The callback runs at
 * most once; after auth_http_cancel() it never runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/auth_http.h"
#include "worker/conn.h"
#include "worker/session.h"
#include "worker/timer.h"

struct auth_req {
	struct conn c;		/* first member: the event callback casts back */
	struct timer timer;
	struct buf out, in;
	auth_done_cb cb;
	void *arg;
	struct auth_result *res;
	int connected;
};

static size_t active;

size_t
auth_http_active(void)
{
	return active;
}

static void
req_free(void *p)
{
	struct auth_req *r = p;

	buf_release(&r->out);
	buf_release(&r->in);
	free(r);
}

static void
req_close(struct auth_req *r)
{
	timer_cancel(&r->timer);
	if (r->c.io.fd >= 0) {
		conn_close(&r->c);
		active--;
		session_fd_released();
	}
	/* Passwords were in the request text. */
	if (r->out.data)
		memset(r->out.data, 0, r->out.cap);
	ev_defer(req_free, r);
}

static void
finish(struct auth_req *r)
{
	auth_done_cb cb = r->cb;
	void *arg = r->arg;
	struct auth_result *res = r->res;

	r->cb = NULL;
	req_close(r);
	if (cb)
		cb(arg, res);
}

static void
fail(struct auth_req *r, const char *reason)
{
	r->res->status = AUTH_ERROR;
	r->res->reason = reason;
	r->res->err = r->c.last_errno;
	finish(r);
}

static void
on_timeout(struct timer *t)
{
	struct auth_req *r = (struct auth_req *)((char *)t - offsetof(struct auth_req, timer));

	fail(r, "auth http server timed out");
}

static void
run(struct auth_req *r)
{
	if (!r->connected) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (!conn_can_write(&r->c) && !r->c.ev_err)
			return;
		if (r->c.ev_err) {
			if (getsockopt(r->c.io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
			r->c.last_errno = err ? err : ECONNREFUSED;
			fail(r, "connect() to auth http server failed");
			return;
		}
		r->connected = 1;
	}
	while (buf_len(&r->out) > 0 && conn_can_write(&r->c)) {
		ssize_t n = conn_send(&r->c, buf_rptr(&r->out), buf_len(&r->out));
		if (n == CONN_ERROR) {
			fail(r, "send() to auth http server failed");
			return;
		}
		if (n > 0)
			buf_consume(&r->out, (size_t)n);
	}
	if (buf_len(&r->out) > 0)
		return;
	while (conn_can_read(&r->c)) {
		size_t room = AUTH_HTTP_MAX_RESPONSE + 1 - buf_len(&r->in);
		if (room == 0 || buf_reserve(&r->in, room < 2048 ? room : 2048,
		    AUTH_HTTP_MAX_RESPONSE + 1) < 0) {
			fail(r, "auth http server sent a too large response");
			return;
		}
		ssize_t n = conn_recv(&r->c, buf_wptr(&r->in), buf_room(&r->in));
		if (n == CONN_ERROR) {
			fail(r, "recv() from auth http server failed");
			return;
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
	struct auth_req *r = (struct auth_req *)io;

	if (r->c.io.fd < 0 || r->cb == NULL)
		return;
	conn_event(&r->c, events);
	run(r);
}

struct auth_req *
auth_http_start(const struct srv_conf *conf, const struct auth_params *p,
    auth_done_cb cb, void *arg, struct auth_result *res)
{
	const struct auth_http_url *u = &conf->auth_http;
	struct auth_req *r;
	int fd;

	auth_result_clear(res);
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		res->status = AUTH_ERROR;
		res->reason = "out of memory";
		return NULL;
	}
	if (auth_http_build(&r->out, conf, p) < 0 || r->out.data == NULL) {
		res->status = AUTH_ERROR;
		res->reason = "a value for the auth request contains CR or LF";
		req_free(r);
		return NULL;
	}
	fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		res->status = AUTH_ERROR;
		res->reason = "socket() for auth http server failed";
		req_free(r);
		return NULL;
	}
	conn_init(&r->c, fd, io_cb);
	r->cb = cb;
	r->arg = arg;
	r->res = res;
	active++;
	session_fd_acquired();
	if (connect(fd, (const struct sockaddr *)&u->addr, u->addrlen) < 0 && errno != EINPROGRESS) {
		res->err = errno;
		res->status = AUTH_ERROR;
		res->reason = "connect() to auth http server failed";
		r->cb = NULL;
		req_close(r);
		return NULL;
	}
	if (conn_register(&r->c) < 0) {
		res->status = AUTH_ERROR;
		res->reason = "epoll_ctl() failed";
		r->cb = NULL;
		req_close(r);
		return NULL;
	}
	timer_set(&r->timer, conf->auth_http_timeout, on_timeout);
	return r;
}

void
auth_http_cancel(struct auth_req *r)
{
	if (r == NULL)
		return;
	r->cb = NULL;
	req_close(r);
}
