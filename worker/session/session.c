/*
 * Session lifecycle and the dialogue before login: accept, greeting, feeding
 * client bytes to the protocol machine and acting on what it asks (auth,
 * TLS, close). The auth round trip is in session_auth.c, the backend login
 * in backend.c, relaying in relay.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/shm.h"
#include "common/stats.h"
#include "worker/lookup/resolver.h"
#include "worker/proto/sasl_oauth.h"
#include "worker/session/session.h"
#include "worker/session/session_int.h"
#include "worker/tls/tls.h"
#include "worker/tls/utls.h"

#define OUT_HIGH_WATER (64 * 1024)	/* stop reading commands while replies pile up */

static struct proto_rt *rts;
static size_t nrts;
static struct session *all;
static size_t nsessions;
static uint64_t local_ids;

size_t session_count(void) { return nsessions; }

int
session_init(struct cycle *cy)
{
	rts = proto_rt_build(cy->cf);
	nrts = cy->cf->nservers;
	if (rts == NULL) {
		log_msg(LL_EMERG, "cannot build protocol replies (out of memory)");
		return -1;
	}
	if (utls_init() < 0) {
		log_msg(LL_EMERG, "cannot set up TLS record handling (out of memory)");
		return -1;
	}
	tls_set_hooks(&session_tls_hooks);
	session_alog_init(cy);
	return 0;
}

void
session_shutdown(void)
{
	session_alog_shutdown();
	proto_rt_free(rts, nrts);
	rts = NULL;
	resolver_shutdown();
	relay_shutdown();
	auth_http_shutdown();
	limit_store_shutdown();
	session_tls_shutdown();
	utls_shutdown();
	tls_set_hooks(NULL);
}

static size_t
client_buffer(const struct srv_conf *c)
{
	size_t n;
	unsigned auth;

	switch (c->protocol) {
	case MP_PROTO_IMAP:
		n = c->imap_client_buffer, auth = c->imap_auth;
		break;
	case MP_PROTO_POP3:
		n = c->pop3_client_buffer, auth = c->pop3_auth;
		break;
	case MP_PROTO_SIEVE:
		n = c->sieve_client_buffer, auth = c->sieve_auth;
		break;
	default:
		n = c->smtp_client_buffer, auth = c->smtp_auth;
		break;
	}
	/* A 16 KB bearer token must fit the line that carries it. */
	if ((auth & AUTHM_OAUTH) && n < SASL_OAUTH_LINE_MAX)
		n = SASL_OAUTH_LINE_MAX;
	return n;
}

static const char *const state_names[] = {
	"new", "proxy_header", "handshake", "resolve", "greet_delay", "preauth", "auth", "auth_wait",
	"connect", "backend_tls", "login", "relay", "closing", "closed",
};

_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == STATS_NSTATES,
    "common/stats.h names the session states too");

/*
 * The sessions-per-state gauges, when the latency histograms start, and a
 * login that reached the relay: each login attempt ends counted once, as ok
 * here or as failed, error, limited or backend_error where it failed.
 */
static void
state_stats(struct session *s, enum sess_state st)
{
	STAT_SUB(sessions[s->state], 1);
	if (st != SS_CLOSED)
		STAT_ADD(sessions[st], 1);
	if (st == SS_AUTH || (st == SS_CONNECT && s->state != SS_CONNECT)) {
		s->stat_since = clock_now();
	} else if (st == SS_RELAY && s->state != SS_RELAY) {
		STAT_OBSERVE(backend_ms, clock_now() - s->stat_since);
		STAT_LOGIN(s->conf->protocol, ok);
	}
}

void
session_set_state(struct session *s, enum sess_state st)
{
	state_stats(s, st);
	if (log_enabled(s->log, LL_DEBUG))
		log_write(s->log, LL_DEBUG, 0, s->id, "state %s -> %s", state_names[s->state],
		    state_names[st]);
	s->state = (uint8_t)st;
}

void
session_log(const struct session *s, int level, int err, const char *fmt, ...)
{
	char msg[1024], client[NET_ADDRSTRLEN], server[NET_ADDRSTRLEN], up[NET_ADDRSTRLEN + 16] = "";
	va_list ap;

	if (!log_enabled(s->log, level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	net_ntop(&s->client.sa, client, sizeof(client));
	net_ntop_port((const struct sockaddr *)&s->le->lc->addr, server, sizeof(server));
	if (s->b.io.fd >= 0) {
		char a[NET_ADDRSTRLEN];
		net_ntop_port(&s->backend.sa, a, sizeof(a));
		snprintf(up, sizeof(up), ", upstream: %s", a);
	}
	const char *login = s->login ? s->login : s->pa && s->pa->ctx.cr.login ? s->pa->ctx.cr.login : NULL;
	if (login)
		log_write(s->log, level, err, s->id, "%s, client: %s, server: %s, login: \"%s\"%s",
		    msg, client, server, login, up);
	else
		log_write(s->log, level, err, s->id, "%s, client: %s, server: %s%s", msg, client,
		    server, up);
}

static void
session_free(void *p)
{
	struct session *s = p;

	free(s->login);
	free(s->limit_user);
	session_alog_free(s);
	free(s);
}

static void
preauth_free(struct session *s)
{
	struct preauth *pa = s->pa;

	if (pa == NULL)
		return;
	if (s->proto->free)
		s->proto->free(&pa->ctx);
	creds_clear(&pa->ctx.cr);
	auth_result_clear(&pa->ar);
	resolver_cancel(pa->resolve);
	free(pa->client_host);
	if (pa->in.data)
		memset(pa->in.data, 0, pa->in.cap);	/* may hold a password */
	buf_release(&pa->in);
	buf_release(&pa->out);
	buf_release(&pa->bin);
	if (pa->bout.data)
		memset(pa->bout.data, 0, pa->bout.cap);
	buf_release(&pa->bout);
	free(pa);
	s->pa = NULL;
}

void
session_switch_server(struct session *s, const struct listen_entry *le)
{
	struct proto_ctx *ctx = &s->pa->ctx;

	s->le = le;
	s->conf = le->srv;
	s->log = &s->cy->srv_log[le->server];
	ctx->conf = s->conf;
	ctx->rt = &rts[le->server];
	ctx->bufsize = client_buffer(s->conf);
	if (log_enabled(s->log, LL_DEBUG))
		session_log(s, LL_DEBUG, 0, "SNI selected server %zu", le->server);
}

const struct sockaddr *
session_local_addr(struct session *s)
{
	struct preauth *pa = s->pa;
	socklen_t ll = sizeof(pa->local);

	if (!pa->local_known && getsockname(s->c.io.fd, &pa->local.sa, &ll) == 0)
		pa->local_known = 1;
	return &pa->local.sa;
}

void
session_preauth_done(struct session *s)
{
	preauth_free(s);
}

void
session_close(struct session *s, int level, const char *why)
{
	if (s->state == SS_CLOSED)
		return;
	if (why != NULL)
		session_log(s, level, 0, "%s", why);
	session_alog_write(s);
	auth_http_cancel(s->auth);
	s->auth = NULL;
	timer_cancel(&s->timer);
	ev_unpost(&s->c.io);
	ev_unpost(&s->b.io);
	if (s->c.io.fd >= 0) {
		conn_close(&s->c);
		ev_fd_released();
	}
	if (s->b.io.fd >= 0) {
		conn_close(&s->b);
		ev_fd_released();
	}
	session_limit_release(s);
	preauth_free(s);
	relay_release(s);
	state_stats(s, SS_CLOSED);
	s->state = SS_CLOSED;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	nsessions--;
	STAT_SUB(active, 1);
	STAT_ADD(handled, 1);
	ev_defer(session_free, s);
}

void
session_close_all(void)
{
	while (all != NULL) {
		if (all->acct.status == SST_NONE && all->state != SS_RELAY)
			acct_status(all, SST_SHUTDOWN);
		session_close(all, LL_INFO, "session closed by shutdown");
	}
}

static void
on_timeout(struct timer *t)
{
	struct session *s = (struct session *)((char *)t - offsetof(struct session, timer));

	if (s->state == SS_RELAY) {
		uint64_t idle = clock_now() - s->last_active, limit = relay_idle_limit(s);
		if (idle < limit) {
			timer_set(&s->timer, limit - idle, on_timeout);
			return;
		}
		session_close(s, LL_INFO, limit == s->conf->proxy_timeout ?
		    "upstream timed out (proxy_timeout)" : "half-closed session timed out");
		return;
	}
	if (s->state == SS_AUTH_WAIT) {
		session_run(s);	/* the wait is over */
		return;
	}
	if (s->state == SS_GREET_DELAY) {
		session_greet_delay_run(s);
		return;
	}
	if (s->state == SS_CONNECT || s->state == SS_BACKEND_TLS || s->state == SS_LOGIN) {
		/* nginx answers a backend that times out with the internal error. */
		backend_failed(s, s->state == SS_CONNECT ? "upstream timed out while connecting" :
		    s->state == SS_BACKEND_TLS ? "upstream timed out in the TLS handshake" :
		    "upstream timed out while logging in", ETIMEDOUT);
		return;
	}
	if (s->acct.status == SST_NONE)
		acct_status(s, SST_TIMEOUT);
	session_close(s, LL_INFO, "client timed out");
}

void
session_arm_timeout(struct session *s, uint64_t ms)
{
	timer_set(&s->timer, ms, on_timeout);
}

int
session_flush_client(struct session *s)
{
	struct buf *out = &s->pa->out;
	size_t before = buf_len(out);
	int r = conn_send_buf(&s->c, out);

	s->acct.bytes_out += before - buf_len(out);
	if (r == CONN_ERROR)
		return -1;
	if (r == CONN_AGAIN)
		return 0;
	if (out->cap > 4096)
		buf_release(out);	/* a burst of replies does not pin memory */
	return 0;
}

void
session_internal_error(struct session *s, const char *why, int err)
{
	if (why != NULL)
		session_log(s, LL_ERR, err, "%s", why);
	if (s->acct.status == SST_NONE)
		acct_status(s, SST_INTERNAL_ERROR);
	if (s->pa != NULL) {
		buf_puts(&s->pa->out, s->proto->internal_error);
		session_set_state(s, SS_CLOSING);
		session_run(s);
	} else {
		session_close(s, LL_ERR, NULL);
	}
}

static int
act(struct session *s, enum proto_action a)
{
	struct proto_ctx *ctx = &s->pa->ctx;

	if (ctx->guess) {
		/* Bad SASL data is a guess too, though no auth request was made. */
		ctx->guess = 0;
		session_limit_failed(s);
	}
	switch (a) {
	case PA_OK:
	case PA_AGAIN:
		if (ctx->reason) {
			session_log(s, LL_INFO, 0, "%s", ctx->reason);
			ctx->reason = NULL;
		}
		return 0;
	case PA_AUTH:
		ctx->login_attempt++;
		session_start_auth(s);
		return 1;
	case PA_AUTH_FAILED:
		session_auth_failed_queue(s, s->pa->sasl_error_retry);
		return 1;
	case PA_STARTTLS:
		s->pa->starttls_pending = 1;
		/* Bytes pipelined after STARTTLS are dropped (CVE-2011-0411 class). */
		buf_reset(&s->pa->in);
		return 1;
	case PA_CLOSE:
		if (ctx->reason)
			session_log(s, LL_INFO, 0, "%s", ctx->reason);
		ctx->reason = NULL;
		session_set_state(s, SS_CLOSING);
		return 1;
	}
	return 1;
}

static void
preauth_run(struct session *s)
{
	struct preauth *pa = s->pa;
	size_t cap = pa->ctx.bufsize;

	for (;;) {
		while (s->state == SS_PREAUTH && !pa->starttls_pending && buf_len(&pa->in) > 0 &&
		    buf_len(&pa->out) < OUT_HIGH_WATER) {
			size_t used = 0;
			enum proto_action a = s->proto->input(&pa->ctx, buf_rptr(&pa->in), buf_len(&pa->in),
			    buf_len(&pa->in) >= cap, &used);
			buf_consume(&pa->in, used);
			if (act(s, a))
				break;
			if (a == PA_AGAIN)
				break;
		}
		if (s->state == SS_CLOSED)
			return;
		if (session_flush_client(s) < 0) {
			session_close(s, LL_INFO, "client closed connection while sending a reply");
			return;
		}
		if (s->state == SS_CLOSING) {
			if (buf_len(&pa->out) == 0)
				session_close(s, LL_INFO, NULL);
			else if (!timer_armed(&s->timer))
				/* The last reply to a client that does not read is not waited for forever. */
				session_arm_timeout(s, s->conf->timeout);
			return;
		}
		if (pa->starttls_pending) {
			if (buf_len(&pa->out) > 0)
				return;
			pa->starttls_pending = 0;
			session_tls_start(s, 0);
			return;
		}
		if (s->state != SS_PREAUTH)
			return;
		if (buf_len(&pa->out) >= OUT_HIGH_WATER || !conn_can_read(&s->c))
			return;
		if (buf_len(&pa->in) >= cap)
			continue;	/* the machine must decide on a full buffer */
		if (buf_reserve(&pa->in, cap - buf_len(&pa->in), cap) < 0) {
			session_internal_error(s, "out of memory", 0);
			return;
		}
		ssize_t n = conn_recv(&s->c, buf_wptr(&pa->in), cap - buf_len(&pa->in));
		if (n == CONN_AGAIN)
			return;
		if (n == 0) {
			session_close(s, LL_INFO, "client closed connection");
			return;
		}
		if (n < 0) {
			session_log(s, LL_INFO, s->c.last_errno, "client read failed: %s", conn_strerror(&s->c));
			session_close(s, LL_INFO, NULL);
			return;
		}
		pa->in.w += (size_t)n;
		s->acct.bytes_in += (uint64_t)n;
		session_arm_timeout(s, s->conf->timeout);
	}
}

void
session_run(struct session *s)
{
	switch (s->state) {
	case SS_NEW:
	case SS_RESOLVE:
		return;
	case SS_PROXY_HEADER:
		session_proxy_header_run(s);
		return;
	case SS_GREET_DELAY:
		session_greet_delay_run(s);
		return;
	case SS_HANDSHAKE:
		session_tls_handshake_run(s);
		return;
	case SS_PREAUTH:
	case SS_CLOSING:
		preauth_run(s);
		return;
	case SS_AUTH:
		/* Replies are flushed; the client is not read while the auth service decides. */
		if (session_flush_client(s) < 0 || s->c.eof || s->c.err)
			session_close(s, LL_INFO, "client closed connection during authentication");
		return;
	case SS_AUTH_WAIT:
		if (timer_armed(&s->timer)) {
			if (session_flush_client(s) < 0)
				session_close(s, LL_INFO, "client closed connection during authentication");
			return;
		}
		if (s->auth_retry) {
			s->auth_retry = 0;
			session_start_auth(s);	/* Auth-Status: WAIT */
		} else {
			session_auth_failed_reply(s, 1);
		}
		return;
	case SS_CONNECT:
	case SS_LOGIN:
		backend_run(s);
		return;
	case SS_BACKEND_TLS:
		backend_tls_handshake_run(s);
		return;
	case SS_RELAY:
		relay_run(s);
		return;
	case SS_CLOSED:
		return;
	}
}

static void
client_cb(struct ev_io *io, uint32_t events)
{
	struct session *s = (struct session *)((char *)io - offsetof(struct session, c));

	if (s->state == SS_CLOSED)
		return;
	conn_event(&s->c, events);
	/* A client that is gone while it waits for us: stop working for it. */
	if ((events & (EPOLLHUP | EPOLLERR)) && (s->state == SS_AUTH ||
	    s->state == SS_AUTH_WAIT || s->state == SS_CONNECT || s->state == SS_BACKEND_TLS ||
	    s->state == SS_LOGIN)) {
		session_close(s, LL_INFO, "client closed connection");
		return;
	}
	session_run(s);
}

void
session_start(struct cycle *cy, const struct listen_entry *le, int fd,
    const struct sockaddr *peer, socklen_t peerlen)
{
	struct session *s = calloc(1, sizeof(*s));
	struct preauth *pa = s ? calloc(1, sizeof(*pa)) : NULL;

	if (s == NULL || pa == NULL) {
		log_msg(LL_ALERT, "out of memory accepting a connection");
		free(pa);
		free(s);
		close(fd);
		return;
	}
	ev_fd_acquired();
	conn_init(&s->c, fd, client_cb);
	s->acct.start = clock_now();
	s->b.io.fd = -1;
	s->cy = cy;
	s->le = le;
	s->conf = le->srv;
	s->proto = proto_for(le->srv->protocol);
	s->log = &cy->srv_log[le->server];
	s->pa = pa;
	if (peerlen <= sizeof(s->client))
		memcpy(&s->client, peer, peerlen);
	/* The local address is the listen address, unless that is a wildcard:
	 * then getsockname() later, and only if ID forwarding or a PROXY
	 * header needs it (see session_local_addr). */
	memcpy(&pa->local, &le->lc->addr, net_socklen((const struct sockaddr *)&le->lc->addr));
	pa->local_known = !net_is_wildcard((const struct sockaddr *)&le->lc->addr);
	struct stats_zone *sz = cy->stats_zone ? cy->stats_zone->data : NULL;
	s->id = sz ? __atomic_add_fetch(&sz->next_conn_id, 1, __ATOMIC_RELAXED) : ++local_ids;
	s->next = all;
	if (all)
		all->prev = s;
	all = s;
	nsessions++;
	STAT_ADD(active, 1);
	STAT_ADD(sessions[SS_NEW], 1);

	struct proto_ctx *ctx = &pa->ctx;
	ctx->conf = s->conf;
	ctx->rt = &rts[le->server];
	ctx->out = &pa->out;
	ctx->bout = &pa->bout;
	ctx->client_addr = &s->client.sa;
	ctx->local_addr = &pa->local.sa;
	ctx->bufsize = client_buffer(s->conf);

	if (conn_register(&s->c) < 0) {
		session_close(s, LL_ALERT, "epoll_ctl() failed");
		return;
	}
	session_log(s, LL_INFO, 0, "client connected");
	session_arm_timeout(s, s->conf->timeout);
	if (le->lc->proxy_protocol) {
		session_set_state(s, SS_PROXY_HEADER);
		session_proxy_header_run(s);
		return;
	}
	session_after_proxy_header(s);
}

void
session_after_proxy_header(struct session *s)
{
	if (s->le->lc->ssl) {
		session_tls_start(s, 1);
		return;
	}
	session_greet(s);
}

void
session_greet(struct session *s)
{
	if (session_prepare_greeting(s))
		return;
	if (s->proto->greeting(&s->pa->ctx) < 0) {
		session_internal_error(s, "out of memory", 0);
		return;
	}
	session_set_state(s, SS_PREAUTH);
	session_run(s);
}
