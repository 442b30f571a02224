/*
 * Connecting to the backend the auth service named and logging in there:
 * non-blocking connect bounded by `timeout`, then the protocol's backend
 * machine fed one line at a time. On success the session turns into a relay.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/stats.h"
#include "worker/proto/proxyproto.h"
#include "worker/session/backend_facts.h"
#include "worker/session/session.h"
#include "worker/session/session_int.h"
#include "worker/tls/tls.h"

#define BACKEND_LINE_MAX 8192

static void
backend_cb(struct ev_io *io, uint32_t events)
{
	struct session *s = (struct session *)((char *)io - offsetof(struct session, b));

	if (s->state == SS_CLOSED)
		return;
	conn_event(&s->b, events);
	session_run(s);
}

/*
 * A login that went wrong (an invalid reply, a timeout) after a shortcut that
 * facts allowed: forget them, so the next login asks again instead of
 * trusting, say, PIPELINING from a server that answered it before a change.
 */
static void
forget_facts(struct session *s)
{
	if (s->pa != NULL && s->state == SS_LOGIN && s->pa->ctx.be_facts != 0)
		backend_facts_put(&s->backend.sa, 0, clock_now());
}

void
backend_failed(struct session *s, const char *what, int err)
{
	forget_facts(s);
	STAT_ADD(backend_error, 1);
	STAT_LOGIN(s->conf->protocol, backend_error);
	acct_status(s, SST_BACKEND_ERROR);
	if (s->pa != NULL && buf_len(&s->pa->out) > s->pa->out_mark)
		s->pa->out.w = s->pa->out.r + s->pa->out_mark;
	session_internal_error(s, what, err);
}

void
backend_connect(struct session *s)
{
	int fd, one = 1;
	const struct sockaddr *sa = &s->backend.sa;

	s->acct.connect_start = acct_mark(s);
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		backend_failed(s, "socket() for upstream failed", errno);
		return;
	}
	ev_fd_acquired();
	conn_init(&s->b, fd, backend_cb);
	/* What the backend machine queues for the client (untagged lines before
	 * the result) goes out only if the login succeeds. */
	s->pa->out_mark = buf_len(&s->pa->out);
	s->pa->ctx.be_facts = (uint8_t)backend_facts_get(sa, clock_now());
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (s->conf->so_keepalive)
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	session_set_state(s, SS_CONNECT);
	if (conn_connect(&s->b, sa, net_socklen(sa)) < 0) {
		backend_failed(s, "connect() to upstream failed", errno);
		return;
	}
	if (conn_register(&s->b) < 0) {
		backend_failed(s, "epoll_ctl() failed", errno);
		return;
	}
	if (s->conf->imap_id_forward)
		session_local_addr(s);
	if (s->conf->proxy_protocol != PP_OFF &&
	    proxyproto_write(&s->pa->bout, s->conf->proxy_protocol, &s->client.sa,
	    session_local_addr(s)) < 0) {
		backend_failed(s, "cannot build the PROXY protocol header", 0);
		return;
	}
	session_arm_timeout(s, s->conf->timeout);
}

static void
login_failed(struct session *s, enum backend_action a, const char *line, size_t len)
{
	if (a == BA_INVALID)
		forget_facts(s);
	STAT_ADD(backend_error, 1);
	STAT_LOGIN(s->conf->protocol, backend_error);
	acct_status(s, SST_BACKEND_ERROR);
	session_log(s, LL_ERR, 0, "upstream %s: \"%.*s\"",
	    a == BA_REFUSED ? "refused the login" : "sent invalid response",
	    (int)(len > 200 ? 200 : len), line);
	if (buf_len(&s->pa->out) > s->pa->out_mark)
		s->pa->out.w = s->pa->out.r + s->pa->out_mark;
	if (s->conf->proxy_pass_error_message) {
		buf_printf(&s->pa->out, "%.*s\r\n", (int)len, line);
		session_set_state(s, SS_CLOSING);
		session_run(s);
		return;
	}
	session_internal_error(s, NULL, 0);
}

/* One backend line (NULL: TLS is up) to the machine; what it learned is kept. */
static enum backend_action
feed(struct session *s, const char *line, size_t len)
{
	struct proto_ctx *ctx = &s->pa->ctx;
	enum backend_action a = s->proto->backend_line(ctx, line, len);

	if (ctx->be_learned) {
		backend_facts_put(&s->backend.sa, ctx->be_facts, clock_now());
		ctx->be_learned = 0;
	}
	return a;
}

/* Feeds complete lines to the machine; returns 1 when the session moved on. */
static int
lines(struct session *s)
{
	struct preauth *pa = s->pa;

	for (;;) {
		long lf = buf_find_lf(&pa->bin);
		if (lf < 0)
			return 0;
		const char *line = buf_rptr(&pa->bin);
		size_t len = (size_t)lf, skip = (size_t)lf + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		enum backend_action a = feed(s, line, len);
		if (a == BA_CONTINUE) {
			buf_consume(&pa->bin, skip);
			continue;
		}
		if (a == BA_DONE) {
			buf_consume(&pa->bin, skip);
			relay_start(s);
			return 1;
		}
		if (a == BA_STARTTLS) {
			buf_consume(&pa->bin, skip);
			if (buf_len(&pa->bin) > 0) {
				/* Bytes after the go-ahead were not protected: refuse them. */
				backend_failed(s, "upstream sent data after agreeing to STARTTLS", 0);
				return 1;
			}
			pa->be_starttls = 1;
			backend_tls_start(s);
			return 1;
		}
		if (a == BA_ERROR) {
			STAT_ADD(backend_error, 1);
			STAT_LOGIN(s->conf->protocol, backend_error);
			session_internal_error(s, pa->ctx.reason, 0);
			return 1;
		}
		login_failed(s, a, line, len);
		return 1;
	}
}

void
backend_tls_done(struct session *s)
{
	struct preauth *pa = s->pa;

	session_set_state(s, SS_LOGIN);
	session_arm_timeout(s, s->conf->timeout);
	/* After STARTTLS the machine resumes where it asked for TLS. */
	if (pa->be_starttls) {
		pa->be_starttls = 0;
		enum backend_action a = feed(s, NULL, 0);
		if (a == BA_DONE) {
			relay_start(s);
			return;
		}
		if (a != BA_CONTINUE) {
			backend_failed(s, "upstream login failed after STARTTLS", 0);
			return;
		}
	}
	backend_run(s);
}

void
backend_run(struct session *s)
{
	struct preauth *pa = s->pa;

	if (s->state == SS_CONNECT) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (!conn_can_write(&s->b) && !s->b.ev_err)
			return;
		/* Only a reported error costs a getsockopt(): writable means connected. */
		if (s->b.ev_err && getsockopt(s->b.io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (s->b.ev_err) {
			backend_failed(s, "connect() to upstream failed", err ? err : ECONNREFUSED);
			return;
		}
		if (s->conf->proxy_ssl) {
			/* A PROXY protocol header goes before the handshake, in the clear;
			 * what does not go now goes when writable (still SS_CONNECT). */
			int r = conn_send_buf(&s->b, &pa->bout);
			if (r == CONN_AGAIN)
				return;
			if (r == CONN_ERROR) {
				backend_failed(s, "send() of the PROXY header failed", s->b.last_errno);
				return;
			}
			backend_tls_start(s);
			return;
		}
		session_set_state(s, SS_LOGIN);
		session_arm_timeout(s, s->conf->timeout);
	}
	for (;;) {
		if (conn_send_buf(&s->b, &pa->bout) == CONN_ERROR) {
			backend_failed(s, "send() to upstream failed", s->b.last_errno);
			return;
		}
		if (!conn_can_read(&s->b))
			return;
		/* Room up to the cap, not a fixed 1 KB more: whether a line fits must
		 * not depend on how its bytes arrive. */
		size_t have = buf_len(&pa->bin);
		size_t more = BACKEND_LINE_MAX - have < 1024 ? BACKEND_LINE_MAX - have : 1024;
		if (have >= BACKEND_LINE_MAX || buf_reserve(&pa->bin, more, BACKEND_LINE_MAX) < 0) {
			backend_failed(s, "upstream sent too long response line", 0);
			return;
		}
		ssize_t n = conn_recv(&s->b, buf_wptr(&pa->bin), buf_room(&pa->bin));
		if (n == CONN_AGAIN)
			return;
		if (n == 0) {
			backend_failed(s, "upstream prematurely closed connection", 0);
			return;
		}
		if (n < 0) {
			backend_failed(s, "recv() from upstream failed", s->b.last_errno);
			return;
		}
		pa->bin.w += (size_t)n;
		if (lines(s))
			return;
	}
}
