/*
 * hiredis's asynchronous context on the worker's own epoll loop: hiredis
 * asks for read and write interest through its ev hooks and we call its
 * handlers when the descriptor is ready. hiredis 0.14 has no timeouts of
 * its own, so every request carries a timer: when it fires, the caller gets
 * its "no answer" at once and the late reply is dropped when it comes. A
 * Redis that stops answering altogether (alive but stuck, or a peer that
 * sends half a reply) is cut off once its oldest request is far overdue,
 * and too many requests in flight are refused rather than queued: a slow
 * Redis costs the logins that wait for it, never the loop or its memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <hiredis/async.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "worker/event/event.h"
#include "worker/event/timer.h"
#include "worker/lookup/redis.h"

/* Between two connection attempts to a Redis that is down. */
#define RETRY_MS 1000
/* Requests in flight on one connection beyond which new ones are refused. */
#define MAX_INFLIGHT 4096
/* A request this many timeouts old (and at least STUCK_MIN_MS) means Redis is stuck. */
#define STUCK_FACTOR 10
#define STUCK_MIN_MS 1000

struct redis_req {
	struct redis *r;
	redis_cb cb;		/* NULL once answered, timed out or cancelled */
	void *arg;
	struct timer timer;
	uint64_t sent;
	struct redis_req *prev, *next;	/* in flight, oldest first */
};

struct redis {
	const struct limit_store_conf *conf;
	redisAsyncContext *ac;	/* NULL while down */
	struct ev_io io;
	uint32_t events;	/* epoll interest hiredis asked for */
	int registered;
	int failed;		/* the last attempt or connection failed: logged once */
	uint64_t retry_at;	/* no new connection before this */
	redis_on_connect on_connect;
	void *on_connect_arg;
	struct redis_req *head, *tail;
	size_t inflight;
	char name[128];		/* for the log: address:port or unix:path */
	const char *what;	/* the directive, for the log */
	struct redis *next_conn;
};

static struct redis *conns;

static void cut_off(struct redis *r, const char *why);
static void redis_connect(struct redis *r);

/* ---- hiredis's event hooks ---- */

static void
set_events(struct redis *r, uint32_t ev)
{
	if (r->ac == NULL || ev == r->events)
		return;
	r->events = ev;
	r->io.fd = r->ac->c.fd;
	if (!r->registered) {
		if (ev_add(&r->io, ev) == 0)
			r->registered = 1;
	} else {
		ev_mod(&r->io, ev);
	}
}

static void add_read(void *p) { struct redis *r = p; set_events(r, r->events | EPOLLIN); }
static void del_read(void *p) { struct redis *r = p; set_events(r, r->events & ~(uint32_t)EPOLLIN); }
static void add_write(void *p) { struct redis *r = p; set_events(r, r->events | EPOLLOUT); }
static void del_write(void *p) { struct redis *r = p; set_events(r, r->events & ~(uint32_t)EPOLLOUT); }

static void
cleanup(void *p)
{
	struct redis *r = p;

	if (r->registered)
		ev_del(&r->io);
	r->registered = 0;
	r->events = 0;
}

static void
on_io(struct ev_io *io, uint32_t events)
{
	struct redis *r = (struct redis *)((char *)io - offsetof(struct redis, io));
	int broken = (events & (EPOLLERR | EPOLLHUP)) != 0;

	/* Either handler may end the context (EOF, garbage): r->ac is then NULL. */
	if (r->ac != NULL && (events & EPOLLOUT || (broken && r->events & EPOLLOUT)))
		redisAsyncHandleWrite(r->ac);
	if (r->ac != NULL && (events & EPOLLIN || broken))
		redisAsyncHandleRead(r->ac);
}

/* ---- requests ---- */

static void
unlink_req(struct redis_req *q)
{
	struct redis *r = q->r;

	if (q->prev)
		q->prev->next = q->next;
	else
		r->head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		r->tail = q->prev;
	q->prev = q->next = NULL;
	r->inflight--;
}

/* Gives the caller its answer (or none) once; the request itself lives on until hiredis lets go. */
static void
answer(struct redis_req *q, const redisReply *reply)
{
	redis_cb cb = q->cb;

	q->cb = NULL;
	timer_cancel(&q->timer);
	if (cb != NULL)
		cb(q->arg, reply);
}

static void
on_timeout(struct timer *t)
{
	struct redis_req *q = (struct redis_req *)((char *)t - offsetof(struct redis_req, timer));
	struct redis *r = q->r;
	uint64_t now = clock_now(), stuck = r->conf->timeout * STUCK_FACTOR;

	answer(q, NULL);
	if (stuck < STUCK_MIN_MS)
		stuck = STUCK_MIN_MS;
	/* Replies come in order: the oldest request far overdue means none will come. */
	if (now - r->head->sent >= stuck) {
		cut_off(r, "no answer in time");
		return;
	}
	/* q's timer stays, to notice that moment when no newer request does. */
	if (now - q->sent < stuck)
		timer_set(&q->timer, stuck - (now - q->sent), on_timeout);
}

/* hiredis's reply callback: reply NULL when the context goes away. */
static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_req *q = privdata;
	const redisReply *rp = reply;

	(void)ac;
	answer(q, rp);
	unlink_req(q);
	free(q);
}

struct redis_req *
redis_send(struct redis *r, redis_cb cb, void *arg, int argc, const char **argv, const size_t *lens)
{
	struct redis_req *q;

	if (r->ac == NULL) {
		if (clock_now() < r->retry_at)
			return NULL;
		redis_connect(r);
		if (r->ac == NULL)
			return NULL;
	}
	if (r->inflight >= MAX_INFLIGHT || (q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->sent = clock_now();
	if (redisAsyncCommandArgv(r->ac, on_reply, q, argc, argv, lens) != REDIS_OK) {
		free(q);
		return NULL;
	}
	q->prev = r->tail;
	if (r->tail)
		r->tail->next = q;
	else
		r->head = q;
	r->tail = q;
	r->inflight++;
	timer_set(&q->timer, r->conf->timeout, on_timeout);
	return q;
}

void
redis_cancel(struct redis_req *q)
{
	if (q == NULL)
		return;
	q->cb = NULL;
	/* The timer stays armed only to notice a stuck Redis. */
}

/* ---- the connection ---- */

static void
went_down(struct redis *r, const char *why)
{
	r->retry_at = clock_now() + RETRY_MS;
	if (!r->failed)
		log_msg(LL_ERR, "%s redis %s: %s; %s", r->what, r->name, why, r->conf->down_note);
	r->failed = 1;
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct redis *r = ac->ev.data;

	if (status != REDIS_OK) {
		/* hiredis frees the context after this. */
		r->ac = NULL;
		went_down(r, ac->errstr[0] ? ac->errstr : "cannot connect");
		return;
	}
	if (r->failed)
		log_msg(LL_NOTICE, "%s redis %s: connected, %s", r->what, r->name, r->conf->up_note);
	r->failed = 0;
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redis *r = ac->ev.data;

	(void)status;
	r->ac = NULL;
	went_down(r, ac->err ? ac->errstr : "connection closed");
}

/* The answer to AUTH or SELECT: a refusal is the operator's to fix, and it is logged as such. */
static void
on_setup(void *arg, const redisReply *rp)
{
	struct redis *r = arg;

	if (rp != NULL && rp->type == REDIS_REPLY_ERROR) {
		char why[200];
		snprintf(why, sizeof(why), "refused the login or database: %.150s", rp->str);
		cut_off(r, why);
	}
}

static void
redis_connect(struct redis *r)
{
	const struct limit_store_conf *c = r->conf;
	redisAsyncContext *ac;

	if (c->addr.ss_family == AF_UNIX) {
		ac = redisAsyncConnectUnix(((const struct sockaddr_un *)&c->addr)->sun_path);
	} else {
		char ip[NET_ADDRSTRLEN];
		net_ntop((const struct sockaddr *)&c->addr, ip, sizeof(ip));
		ac = redisAsyncConnect(ip, net_port((const struct sockaddr *)&c->addr));
	}
	if (ac == NULL) {
		went_down(r, "out of memory");
		return;
	}
	if (ac->err) {
		char why[200];
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		went_down(r, why);
		return;
	}
	r->ac = ac;
	r->io.cb = on_io;
	ac->ev.data = r;
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	/* Ordered on the connection: these go first, whatever is queued next. */
	if (c->password != NULL) {
		const char *argv[3] = { "AUTH", c->user ? c->user : c->password, c->password };
		redis_send(r, on_setup, r, c->user ? 3 : 2, argv, NULL);
	}
	if (r->ac != NULL && c->db != 0) {
		char db[16];
		const char *argv[2] = { "SELECT", db };
		snprintf(db, sizeof(db), "%u", c->db);
		redis_send(r, on_setup, r, 2, argv, NULL);
	}
	if (r->ac != NULL && r->on_connect != NULL)
		r->on_connect(r, r->on_connect_arg);
}

/* Drops the connection now: every waiting caller gets its "no answer". */
static void
cut_off(struct redis *r, const char *why)
{
	redisAsyncContext *ac = r->ac;

	if (ac == NULL)
		return;
	r->ac = NULL;
	went_down(r, why);
	/* Inside a hiredis callback this only marks the context; hiredis frees it on return. */
	redisAsyncFree(ac);
}

struct redis *
redis_for(const struct limit_store_conf *c, const char *what, redis_on_connect on_connect, void *arg)
{
	struct redis *r;

	for (r = conns; r != NULL; r = r->next_conn)
		if (r->conf == c)
			return r;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->conf = c;
	r->what = what;
	r->io.fd = -1;
	r->on_connect = on_connect;
	r->on_connect_arg = arg;
	if (c->addr.ss_family == AF_UNIX)
		snprintf(r->name, sizeof(r->name), "unix:%.100s",
		    ((const struct sockaddr_un *)&c->addr)->sun_path);
	else
		net_ntop_port((const struct sockaddr *)&c->addr, r->name, sizeof(r->name));
	r->next_conn = conns;
	conns = r;
	return r;
}

void
redis_shutdown(void)
{
	while (conns != NULL) {
		struct redis *r = conns;
		conns = r->next_conn;
		r->failed = 1;	/* an exit is no outage: nothing to log */
		if (r->ac != NULL)
			redisAsyncFree(r->ac);
		/* Requests hiredis no longer holds: only their timers remain. */
		while (r->head != NULL) {
			struct redis_req *q = r->head;
			answer(q, NULL);
			unlink_req(q);
			free(q);
		}
		free(r);
	}
}
