/*
 * The status endpoint (status_listen): any worker accepts, reads one request
 * head of at most 4 KB within STATUS_TIMEOUT_MS, builds the whole answer in
 * memory from the shared zones (config/status_report.c) and writes it
 * without blocking, then closes. A client that is slow or hostile holds one
 * connection until the timeout, and at most STATUS_CONNS of them per worker
 * exist: past that new ones are closed at once, so mail sessions never wait.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/net.h"
#include "common/shm.h"
#include "config/cycle.h"
#include "config/status_report.h"
#include "worker/event/conn.h"
#include "worker/event/event.h"
#include "worker/event/timer.h"
#include "worker/proto/http_req.h"
#include "worker/status.h"

#define STATUS_TIMEOUT_MS 10000
#define STATUS_CONNS 32
#define STATUS_LINGER_MS 2000

struct sconn {
	struct conn c;
	struct timer timer;
	struct buf in, out;
	int writing;
	int lingering;	/* answer sent: reading what is left so close() sends no RST */
	int closed;
	struct sconn *next, *prev;
};

static struct cycle *scy;
static struct ev_io lio = { .fd = -1 };
static int lactive;
static struct sconn *all;
static unsigned nconns;

static void
sconn_free(void *p)
{
	struct sconn *s = p;

	buf_release(&s->in);
	buf_release(&s->out);
	free(s);
}

static void
sconn_close(struct sconn *s)
{
	if (s->closed)
		return;
	s->closed = 1;
	timer_cancel(&s->timer);
	ev_unpost(&s->c.io);
	conn_close(&s->c);
	if (s->prev)
		s->prev->next = s->next;
	else
		all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	nconns--;
	ev_defer(sconn_free, s);
}

static void sconn_timeout(struct timer *t);

static const void *
zone_of(void *ctx, const char *name, size_t *size)
{
	struct shm_zone *z = shm_zone_find(name);

	(void)ctx;
	if (z == NULL)
		return NULL;
	*size = z->size;
	return z->data;
}

static void
answer(struct sconn *s, int status, const char *type, const struct buf *body, int head)
{
	size_t len = body ? buf_len(body) : 0;

	buf_printf(&s->out, "HTTP/1.1 %d %s\r\nServer: mailproxy\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n%s\r\n",
	    status, http_reason(status), type, len,
	    status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (body && !head)
		buf_append(&s->out, buf_rptr(body), len);
	s->writing = 1;
}

static void
answer_error(struct sconn *s, int status)
{
	struct buf b = { 0 };

	buf_printf(&b, "%d %s\n", status, http_reason(status));
	answer(s, status, "text/plain; charset=utf-8", &b, 0);
	buf_release(&b);
}

static void
route(struct sconn *s, const struct http_req *r)
{
	struct buf b = { 0 };

	if (strcmp(r->path, "/metrics") == 0) {
		if (status_metrics(scy->cf, zone_of, NULL, &b) < 0)
			answer_error(s, 503);
		else
			answer(s, 200, "text/plain; version=0.0.4; charset=utf-8", &b, r->head);
	} else if (strcmp(r->path, "/status") == 0) {
		json_t *j = status_json(scy->cf, zone_of, NULL);
		char *t = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		if (t == NULL) {
			answer_error(s, 503);
		} else {
			buf_printf(&b, "%s\n", t);
			answer(s, 200, "application/json", &b, r->head);
		}
		free(t);
		json_decref(j);
	} else {
		answer_error(s, 404);
	}
	buf_release(&b);
}

/* Reads and drops the client's bytes until its FIN, after the answer. */
static void
linger(struct sconn *s)
{
	char tmp[4096];

	while (conn_can_read(&s->c)) {
		ssize_t n = conn_recv(&s->c, tmp, sizeof(tmp));
		if (n == CONN_AGAIN)
			return;
		if (n <= 0)
			break;
	}
	if (!conn_can_read(&s->c))
		return;
	sconn_close(s);
}

static void
run(struct sconn *s)
{
	if (s->lingering) {
		linger(s);
		return;
	}
	while (!s->writing) {
		struct http_req r;
		enum http_req_rc rc = http_req_parse(buf_rptr(&s->in), buf_len(&s->in), HTTP_REQ_MAX, &r);
		if (rc == HTTP_REQ_DONE) {
			route(s, &r);
			break;
		}
		if (rc == HTTP_REQ_ERROR) {
			answer_error(s, r.status);
			break;
		}
		if (!conn_can_read(&s->c))
			return;
		/* The parser answers a full HTTP_REQ_MAX itself, so room is left here. */
		size_t room = HTTP_REQ_MAX - buf_len(&s->in);
		if (buf_reserve(&s->in, room < 1024 ? room : 1024, HTTP_REQ_MAX) < 0) {
			answer_error(s, 500);
			break;
		}
		ssize_t n = conn_recv(&s->c, buf_wptr(&s->in), room < buf_room(&s->in) ? room : buf_room(&s->in));
		if (n == CONN_AGAIN)
			return;
		if (n <= 0) {
			sconn_close(s);
			return;
		}
		s->in.w += (size_t)n;
	}
	int rc = conn_send_buf(&s->c, &s->out);
	if (rc == CONN_AGAIN)
		return;
	if (rc == CONN_ERROR) {
		sconn_close(s);
		return;
	}
	conn_shutdown_write(&s->c);
	s->lingering = 1;
	timer_set(&s->timer, STATUS_LINGER_MS, sconn_timeout);
	linger(s);
}

static void
sconn_cb(struct ev_io *io, uint32_t events)
{
	struct sconn *s = (struct sconn *)io;

	conn_event(&s->c, events);
	if (!s->closed)
		run(s);
}

static void
sconn_timeout(struct timer *t)
{
	struct sconn *s = (struct sconn *)((char *)t - offsetof(struct sconn, timer));

	/* Too slow to send its request: one try at telling it so, then gone. */
	if (!s->writing && !s->lingering) {
		answer_error(s, 408);
		conn_send_buf(&s->c, &s->out);
	}
	sconn_close(s);
}

static int
allowed(const struct sockaddr *peer)
{
	const struct cidrlist *al = &scy->cf->main.status_allow;

	for (size_t i = 0; i < al->n; i++)
		if (net_cidr_match(&al->v[i], peer))
			return 1;
	return 0;
}

static void
accept_cb(struct ev_io *io, uint32_t events)
{
	(void)events;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(io->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED && errno != EINTR)
				log_errno(LL_ERR, errno, "accept4() on status_listen failed");
			if (errno == ECONNABORTED || errno == EINTR)
				continue;
			return;
		}
		struct sconn *s = nconns < STATUS_CONNS ? calloc(1, sizeof(*s)) : NULL;
		if (s == NULL) {
			close(fd);
			continue;
		}
		conn_init(&s->c, fd, sconn_cb);
		if (conn_register(&s->c) < 0) {
			close(fd);
			free(s);
			continue;
		}
		s->next = all;
		if (all)
			all->prev = s;
		all = s;
		nconns++;
		timer_set(&s->timer, STATUS_TIMEOUT_MS, sconn_timeout);
		if (!allowed((struct sockaddr *)&peer))
			answer_error(s, 403);
		/* Edge-triggered: the first readiness may already have passed. */
		ev_post(&s->c.io);
	}
}

int
status_start(struct cycle *cy)
{
	scy = cy;
	if (cy->status_fd < 0)
		return 0;
	lio.fd = cy->status_fd;
	lio.cb = accept_cb;
	if (ev_add(&lio, EPOLLIN | EPOLLEXCLUSIVE) < 0) {
		log_errno(LL_ALERT, errno, "epoll_ctl() on the status_listen socket failed");
		return -1;
	}
	lactive = 1;
	return 0;
}

void
status_stop_accepting(void)
{
	if (lactive)
		ev_del(&lio);
	lactive = 0;
	if (lio.fd >= 0)
		close(lio.fd);
	lio.fd = -1;
	if (scy != NULL)
		scy->status_fd = -1;
}

void
status_close_all(void)
{
	while (all != NULL)
		sconn_close(all);
}
