/*
 * The auth_http round trip of a session: the login limits' verdict first,
 * then the request (or an auth_http_cache answer), and what the answer
 * makes of the session: a backend to log in to, a refusal with its
 * Auth-Wait, an OAuth error challenge, or an internal error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "common/stats.h"
#include "config/config_vars.h"
#include "worker/lookup/auth_http.h"
#include "worker/proto/sasl_oauth.h"
#include "worker/session/session_int.h"

/* The addresses an auth request names, as text; they live until it is built. */
struct auth_addrs {
	char ip[NET_ADDRSTRLEN], port[8];
	char server_ip[NET_ADDRSTRLEN], server_port[8];
};

/*
 * Client-IP, Client-Port, $remote_addr and $remote_port are one address: the
 * connection's peer, or the PROXY protocol source when it came from
 * set_real_ip_from. $server_addr/$server_port are where the client
 * connected (getsockname() on a wildcard listen, only when a header uses
 * them).
 */
static void
fill_auth_params(struct session *s, struct auth_params *p, struct auth_addrs *a)
{
	struct proto_ctx *ctx = &s->pa->ctx;
	const struct kvlist *hl = &s->conf->auth_http_header;

	memset(p, 0, sizeof(*p));
	net_ntop(&s->client.sa, a->ip, sizeof(a->ip));
	snprintf(a->port, sizeof(a->port), "%d", net_port(&s->client.sa));
	p->client_port = a->port;
	for (size_t i = 0; i < hl->n; i++) {
		if (!cvalue_uses(hl->v[i].cv, CVAR_SERVER_ADDR) &&
		    !cvalue_uses(hl->v[i].cv, CVAR_SERVER_PORT))
			continue;
		const struct sockaddr *local = session_local_addr(s);
		net_ntop(local, a->server_ip, sizeof(a->server_ip));
		snprintf(a->server_port, sizeof(a->server_port), "%d", net_port(local));
		p->server_addr = a->server_ip;
		p->server_port = a->server_port;
		break;
	}
	p->method = ctx->cr.method;
	p->login = ctx->cr.login;
	p->passwd = ctx->cr.passwd;
	p->salt = ctx->cr.salt;
	p->protocol = s->conf->protocol;
	p->attempt = ctx->login_attempt;
	p->client_ip = a->ip;
	p->client_host = s->pa->client_host;
	if (s->pa->have_pp) {
		p->pp_addr = s->pa->pp_addr;
		p->pp_port = s->pa->pp_port;
		p->pp_server_addr = s->pa->pp_server_addr;
		p->pp_server_port = s->pa->pp_server_port;
	}
	p->smtp_helo = ctx->cr.helo;
	p->smtp_from = ctx->cr.from;
	p->smtp_to = ctx->cr.to;
	session_tls_auth_params(s, p);
}


/*
 * A login the limits refused: no auth request; the answer is the protocol's
 * temporary failure, after the tarpit, and the client may try again later.
 */
static void
limited_reply(struct session *s, uint64_t tarpit)
{
	struct auth_result *ar = &s->pa->ar;

	acct_status(s, SST_LIMITED);
	snprintf(ar->text, sizeof(ar->text), "%s", s->proto->limited_text);
	snprintf(ar->code, sizeof(ar->code), "%s", s->proto->limited_code ? s->proto->limited_code : "");
	if (tarpit == 0) {
		session_auth_failed_reply(s, 1);
		return;
	}
	session_set_state(s, SS_AUTH_WAIT);
	s->auth_retry = 0;
	session_arm_timeout(s, tarpit);
}

static void
ask_auth(struct session *s)
{
	struct auth_params p;
	struct auth_addrs a;

	session_set_state(s, SS_AUTH);
	timer_cancel(&s->timer);	/* auth_http_timeout bounds this phase */
	s->acct.auth_start = acct_mark(s);
	s->acct.auth_end = 0;
	if (session_alog_wanted(s)) {
		free(s->acct.login);
		s->acct.login = strdup(s->pa->ctx.cr.login ? s->pa->ctx.cr.login : "");
	}
	if (session_cache_lookup(s))
		return;
	fill_auth_params(s, &p, &a);
	s->auth = auth_http_start(s->conf, &p, session_auth_done, s, &s->pa->ar);
	if (s->auth == NULL) {
		STAT_ADD(auth_error, 1);
		STAT_LOGIN(s->conf->protocol, error);
		acct_status(s, SST_AUTH_ERROR);
		session_internal_error(s, s->pa->ar.reason, s->pa->ar.err);
	}
}

void
session_start_auth(struct session *s)
{
	switch (session_limit_check(s)) {
	case LIMIT_BLOCKED:
		limited_reply(s, session_limit_tarpit(s));
		return;
	case LIMIT_WAIT:
		/* login_limit_store's timeout bounds this wait. */
		session_set_state(s, SS_AUTH);
		timer_cancel(&s->timer);
		return;
	}
	ask_auth(s);
}

void
session_limit_checked(struct session *s, int blocked)
{
	if (blocked)
		limited_reply(s, session_limit_tarpit(s));
	else
		ask_auth(s);
}

/*
 * Queues the failure; with Auth-Error-SASL (OAuth), the challenge first:
 * the machine then answers PA_AUTH_FAILED to the dummy response, and this
 * runs again for the failure itself, with the same retry.
 */
void
session_auth_failed_queue(struct session *s, int retry)
{
	struct preauth *pa = s->pa;
	const char *text = pa->ar.text[0] ? pa->ar.text : "Authentication failed";
	enum proto_action a;

	if (pa->ar.sasl_error != NULL && (pa->ctx.cr.method & AUTHM_OAUTH)) {
		pa->ctx.sasl_error = pa->ar.sasl_error;
		pa->ctx.sasl_error_method = pa->ctx.cr.method;
		pa->sasl_error_retry = (uint8_t)retry;
	}
	/* Stale credentials must not reach the next attempt (nginx CVE-2025-53859). */
	creds_clear(&pa->ctx.cr);
	a = s->proto->auth_failed(&pa->ctx, text, pa->ar.code[0] ? pa->ar.code : NULL, retry);
	pa->ctx.sasl_error = NULL;
	free(pa->ar.sasl_error);
	pa->ar.sasl_error = NULL;
	if (a == PA_CLOSE) {
		session_set_state(s, SS_CLOSING);
	} else {
		session_set_state(s, SS_PREAUTH);
		session_arm_timeout(s, s->conf->timeout);
	}
}

void
session_auth_failed_reply(struct session *s, int retry)
{
	session_auth_failed_queue(s, retry);
	session_run(s);
}

void
session_auth_done(void *arg, struct auth_result *res)
{
	struct session *s = arg;
	struct preauth *pa = s->pa;

	s->auth = NULL;
	STAT_OBSERVE(auth_ms, clock_now() - s->stat_since);
	s->acct.auth_end = acct_mark(s);
	switch (res->status) {
	case AUTH_OK:
		if (auth_http_check_ok(res, s->conf->protocol, pa->ctx.cr.method,
		    pa->ctx.cr.passwd != NULL) < 0) {
			STAT_ADD(auth_error, 1);
			STAT_LOGIN(s->conf->protocol, error);
			acct_status(s, SST_AUTH_ERROR);
			session_internal_error(s, res->reason, 0);
			return;
		}
		session_cache_store(s, res);
		STAT_ADD(auth_ok, 1);
		session_limit_ok(s);
		free(s->login);
		s->login = strdup(pa->ctx.cr.login ? pa->ctx.cr.login : "");
		if (session_limit_take(s, res->user) < 0) {
			STAT_ADD(limit_blocked, 1);
			STAT_LOGIN(s->conf->protocol, limited);
			limited_reply(s, 0);
			return;
		}
		pa->ctx.be_login = res->user ? res->user : pa->ctx.cr.login ? pa->ctx.cr.login : "";
		/* APOP and CRAM-MD5 digests and EXTERNAL are no password for the
		 * backend: Auth-Pass or none (NULL), as nginx. */
		pa->ctx.be_passwd = res->pass ? res->pass : pa->ctx.cr.method == AUTHM_APOP ||
		    pa->ctx.cr.method == AUTHM_CRAM_MD5 || pa->ctx.cr.method == AUTHM_EXTERNAL ?
		    NULL : pa->ctx.cr.passwd;
		pa->ctx.be_auth = (uint8_t)res->be_auth;
		/* Without Auth-Pass, a bearer token logs in with its own mechanism. */
		pa->ctx.be_mech = res->pass == NULL ? pa->ctx.cr.method & AUTHM_OAUTH : 0;
		memcpy(&s->backend, &res->server, net_socklen((struct sockaddr *)&res->server));
		backend_connect(s);
		return;
	case AUTH_WAIT:
		session_log(s, LL_INFO, 0, "auth http server asked to wait %ld s", res->wait > 0 ? res->wait : 0);
		session_set_state(s, SS_AUTH_WAIT);
		s->auth_retry = 1;	/* on wake-up: ask again */
		session_arm_timeout(s, res->wait > 0 ? (uint64_t)res->wait * 1000 : 0);
		return;
	case AUTH_FAIL:
		session_cache_store(s, res);
		STAT_ADD(auth_fail, 1);
		STAT_LOGIN(s->conf->protocol, failed);
		acct_status(s, SST_AUTH_FAILED);
		if (pa->ctx.cr.method != AUTHM_NONE)
			session_limit_failed(s);
		session_log(s, LL_INFO, 0, "client login failed: \"%s\"", res->text);
		if (res->wait > 0) {
			/* nginx: answer after the wait, then the client may try again;
			 * without a wait (or with Auth-Wait: 0) answer and close. */
			session_set_state(s, SS_AUTH_WAIT);
			s->auth_retry = 0;
			session_arm_timeout(s, (uint64_t)res->wait * 1000);
			return;
		}
		session_auth_failed_reply(s, 0);
		return;
	case AUTH_ERROR:
		STAT_ADD(auth_error, 1);
		STAT_LOGIN(s->conf->protocol, error);
		acct_status(s, SST_AUTH_ERROR);
		session_internal_error(s, res->reason, res->err);
		return;
	}
}
