/*
 * What happens to a session before its greeting: the PROXY protocol header
 * of a "listen ... proxy_protocol" socket (with set_real_ip_from deciding
 * whether its source address becomes the client's), and for SMTP the client
 * host lookup and smtp_greeting_delay, as nginx orders them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "common/log.h"
#include "worker/lookup/resolver.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/proxyproto.h"
#include "worker/session/session.h"
#include "worker/session/session_int.h"

static int
trusted(const struct session *s)
{
	const struct cidrlist *cl = &s->conf->set_real_ip_from;

	for (size_t i = 0; i < cl->n; i++)
		if (net_cidr_match(&cl->v[i], &s->client.sa))
			return 1;
	return 0;
}

void
session_proxy_header_run(struct session *s)
{
	unsigned char buf[PROXYPROTO_MAX];
	struct proxyproto_result r;
	size_t used = 0;
	ssize_t n;

	if (!conn_can_read(&s->c))
		return;
	/* Peek, so that exactly the header is taken and not a byte of what
	 * follows (a TLS ClientHello must stay in the socket for OpenSSL). */
	n = recv(s->c.io.fd, buf, sizeof(buf), MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		s->c.rd_wait = CONN_WAIT_READ;
		return;
	}
	if (n <= 0) {
		session_close(s, LL_INFO, n == 0 ? "client closed connection before the PROXY header" :
		    "recv() of the PROXY header failed");
		return;
	}
	int rc = proxyproto_parse(buf, (size_t)n, &used, &r);
	if (rc == PROXYPROTO_AGAIN && (size_t)n < sizeof(buf)) {
		s->c.rd_wait = CONN_WAIT_READ;
		return;
	}
	if (rc != PROXYPROTO_DONE) {
		session_close(s, LL_ERR, "broken header in PROXY protocol");
		return;
	}
	if (recv(s->c.io.fd, buf, used, 0) != (ssize_t)used) {
		session_close(s, LL_ERR, "recv() of the PROXY header failed");
		return;
	}
	if (!r.local) {
		struct preauth *pa = s->pa;
		int port;
		pa->have_pp = 1;
		proto_addr((struct sockaddr *)&r.src, pa->pp_addr, sizeof(pa->pp_addr), &port);
		snprintf(pa->pp_port, sizeof(pa->pp_port), "%d", port);
		proto_addr((struct sockaddr *)&r.dst, pa->pp_server_addr, sizeof(pa->pp_server_addr), &port);
		snprintf(pa->pp_server_port, sizeof(pa->pp_server_port), "%d", port);
		if (trusted(s)) {
			char from[NET_ADDRSTRLEN];
			net_ntop(&s->client.sa, from, sizeof(from));
			memcpy(&s->client, &r.src, net_socklen((struct sockaddr *)&r.src));
			session_log(s, LL_INFO, 0, "PROXY protocol: real client address from %s", from);
		}
	}
	session_set_state(s, SS_NEW);
	session_after_proxy_header(s);
}

static void
greet_now(struct session *s)
{
	s->pa->greet_prepared = 1;
	session_greet(s);
}

static void
after_resolve(struct session *s)
{
	if (s->conf->smtp_greeting_delay > 0) {
		session_set_state(s, SS_GREET_DELAY);
		session_arm_timeout(s, s->conf->smtp_greeting_delay);
		session_greet_delay_run(s);
		return;
	}
	greet_now(s);
}

static void
resolved(void *arg, const char *host)
{
	struct session *s = arg;
	struct preauth *pa = s->pa;

	pa->resolve = NULL;
	free(pa->client_host);
	pa->client_host = strdup(host);
	pa->ctx.client_host = pa->client_host;
	if (log_enabled(s->log, LL_DEBUG))
		session_log(s, LL_DEBUG, 0, "client host \"%s\"", host);
	session_arm_timeout(s, s->conf->timeout);
	after_resolve(s);
}

int
session_prepare_greeting(struct session *s)
{
	struct preauth *pa = s->pa;

	if (s->conf->protocol != MP_PROTO_SMTP || pa->greet_prepared)
		return 0;
	if (s->conf->resolver.n == 0) {
		/* No resolver: nginx says the name is unavailable. */
		pa->client_host = strdup(HOST_UNAVAILABLE);
		pa->ctx.client_host = pa->client_host;
		after_resolve(s);
		return 1;
	}
	session_set_state(s, SS_RESOLVE);
	pa->resolve = resolver_lookup(s->conf, &s->client.sa, resolved, s);
	if (pa->resolve == NULL)
		resolved(s, HOST_TEMPUNAVAIL);
	return 1;
}

/* 1: the client sent something, 0: it closed, -1: nothing yet, -2: error. */
static int
peek_one(struct session *s)
{
	char c;

	if (s->c.ssl != NULL) {
		int r = SSL_peek(s->c.ssl, &c, 1);
		if (r > 0)
			return 1;
		int e = SSL_get_error(s->c.ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			s->c.rd_wait = e == SSL_ERROR_WANT_READ ? CONN_WAIT_READ : CONN_WAIT_WRITE;
			return -1;
		}
		return e == SSL_ERROR_ZERO_RETURN ? 0 : -2;
	}
	ssize_t n = recv(s->c.io.fd, &c, 1, MSG_PEEK);
	if (n > 0)
		return 1;
	if (n == 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		s->c.rd_wait = CONN_WAIT_READ;
		return -1;
	}
	return -2;
}

/*
 * During smtp_greeting_delay a well-behaved client says nothing; one that
 * talks first is refused, as nginx refuses it.
 */
void
session_greet_delay_run(struct session *s)
{
	if (conn_can_read(&s->c)) {
		int r = peek_one(s);
		if (r == 1) {
			smtp_early_input(&s->pa->ctx);
			session_log(s, LL_INFO, 0, "%s", s->pa->ctx.reason);
			s->pa->ctx.reason = NULL;
			session_set_state(s, SS_CLOSING);
			session_run(s);
			return;
		}
		if (r == 0 || r == -2) {
			session_close(s, LL_INFO, "client closed connection before greeting");
			return;
		}
	}
	if (timer_armed(&s->timer))
		return;
	session_set_state(s, SS_NEW);
	greet_now(s);
}
