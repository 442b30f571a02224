/*
 * struct session and what session.c, backend.c, relay.c and tls glue share.
 * A relayed session keeps only this struct (no buffers while idle); what is
 * needed before login lives in struct preauth, freed when relaying starts.
 */
#ifndef MP_SESSION_INT_H
#define MP_SESSION_INT_H

#include <netinet/in.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/clock.h"
#include "config/cycle.h"
#include "worker/event/conn.h"
#include "worker/event/timer.h"
#include "worker/lookup/auth_http.h"
#include "worker/lookup/limit_store.h"
#include "worker/proto/proto.h"

enum sess_state {
	SS_NEW,		/* accepted */
	SS_PROXY_HEADER,	/* reading the client's PROXY protocol header */
	SS_HANDSHAKE,	/* implicit TLS or STARTTLS handshake */
	SS_RESOLVE,	/* SMTP: looking up the client's host name */
	SS_GREET_DELAY,	/* SMTP: smtp_greeting_delay */
	SS_PREAUTH,	/* protocol dialogue before login */
	SS_AUTH,	/* waiting for the auth service */
	SS_AUTH_WAIT,	/* Auth-Wait pause */
	SS_CONNECT,	/* connecting to the backend */
	SS_BACKEND_TLS,	/* TLS handshake with the backend (proxy_ssl, proxy_starttls) */
	SS_LOGIN,	/* logging in to the backend */
	SS_RELAY,	/* moving bytes */
	SS_CLOSING,	/* flushing the last reply */
	SS_CLOSED,
};

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

struct preauth {
	struct proto_ctx ctx;
	struct buf in;		/* client bytes not yet consumed */
	struct buf out;		/* replies to the client */
	struct buf bin;		/* backend lines during the backend login */
	struct buf bout;	/* commands to the backend */
	struct auth_result ar;
	union sockaddr_any local;	/* see session_local_addr() */
	uint8_t local_known;
	uint8_t starttls_pending;	/* STARTTLS answered; handshake after the flush */
	uint8_t greet_prepared;	/* SMTP host lookup and greeting delay are done */
	uint8_t sasl_error_retry;	/* Auth-Error-SASL sent: may the client retry after the failure? */
	uint8_t be_starttls;	/* the backend handshake follows a STARTTLS */
	size_t out_mark;	/* client replies before the backend login; more is discarded on failure */
	char *client_host;		/* SMTP: resolved name or [UNAVAILABLE]/[TEMPUNAVAIL] */
	struct resolve_req *resolve;
	/* From a PROXY protocol header, for the Proxy-Protocol-* auth headers. */
	uint8_t have_pp;
	char pp_addr[NET_ADDRSTRLEN], pp_port[8], pp_server_addr[NET_ADDRSTRLEN], pp_server_port[8];
	/* login_limit_store asked before the auth request. */
	struct store_check limit_check;
	struct session *limit_owner;
	/* auth_http_cache (session_cache.c): this login's key, and a hit on its way. */
	uint8_t cache_key[32];
	uint64_t cache_epoch;	/* the cache's flushes when it was looked up */
	uint8_t cache_keyed;	/* cache_key is set: store the answer that comes */
	uint8_t cache_pending;	/* the answer in ar came from the cache; deferred */
};

/* How a session ended, for the access log's $status (session_log.c names them). */
enum sess_status {
	SST_NONE,		/* not decided yet: derived at close */
	SST_OK,			/* logged in and relayed */
	SST_AUTH_FAILED,	/* the auth service refused the last login */
	SST_AUTH_ERROR,		/* the auth service failed or answered nonsense */
	SST_BACKEND_ERROR,	/* connecting or logging in to the backend failed */
	SST_LIMITED,		/* login_limit_* or limit_sessions_* refused the login */
	SST_CLIENT_CLOSED,	/* the client went away (or quit) before logging in */
	SST_TIMEOUT,		/* the client was idle past "timeout" before logging in */
	SST_INTERNAL_ERROR,	/* out of memory, epoll, ... */
	SST_SHUTDOWN,		/* closed by the worker stopping */
};

/* What the access log says of a session; offsets are ms after start, plus 1 (0: never). */
struct sess_acct {
	uint64_t start;		/* clock_now() at accept */
	uint32_t auth_start, auth_end, connect_start, relay_at;
	uint64_t bytes_in, bytes_out;	/* from and to the client, TLS payload */
	const char *tls_protocol, *tls_cipher;	/* OpenSSL's own static names; NULL: no TLS */
	char *sni;
	char *login;		/* the client's login name (never a password), only with an access log */
	uint8_t status;		/* enum sess_status */
	uint8_t tls_reused;
};

/* One relay direction: bytes read but not yet written (only under backpressure). */
struct relay_pipe;

struct relay_dir {
	struct buf pend;	/* read/write path: bytes the other side could not take */
	struct relay_pipe *pipe;	/* splice path: borrowed while bytes are in flight */
	uint32_t in_pipe;	/* bytes in that pipe */
	uint8_t fin_sent;	/* EOF forwarded to the other side */
};

struct session {
	struct conn c;		/* client */
	struct conn b;		/* backend; io.fd < 0 until connecting */
	struct cycle *cy;
	const struct listen_entry *le;
	const struct srv_conf *conf;
	const struct proto *proto;
	const struct log_set *log;
	struct preauth *pa;
	struct auth_req *auth;
	struct timer timer;
	uint64_t id;
	uint64_t last_active;	/* relay: idle timeout is lazy */
	uint64_t stat_since;	/* entered SS_AUTH or SS_CONNECT: latency histograms */
	struct relay_dir up;	/* client -> backend */
	struct relay_dir down;	/* backend -> client */
	char *login;		/* for log lines after login */
	char *limit_user;	/* limit_sessions_* count this user (Auth-User) when not login */
	union sockaddr_any client;
	union sockaddr_any backend;
	uint8_t state;
	uint8_t greet_after_tls;	/* implicit TLS: greet once the handshake is done */
	uint8_t auth_retry;		/* Auth-Wait after "WAIT": ask again (not answer) */
	uint8_t limit_held;		/* counted by limit_sessions_*: given back at close */
	struct session *next, *prev;	/* all sessions of the worker */
	struct sess_acct acct;		/* for the access log */
};

/* session_log.c: the access log */
static inline uint32_t acct_mark(const struct session *s) { return (uint32_t)(clock_now() - s->acct.start) + 1; }
/* Records an outcome; a later one replaces it (a login may fail, then succeed). */
static inline void acct_status(struct session *s, enum sess_status st) { s->acct.status = (uint8_t)st; }
/* Whether the session's server writes an access log (then its login is kept). */
int session_alog_wanted(const struct session *s);
/* The session's line into each access_log of its server; called once, before its sockets close. */
void session_alog_write(struct session *s);
void session_alog_free(struct session *s);

/* session.c */
void session_close(struct session *s, int level, const char *why);
void session_log(const struct session *s, int level, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void session_set_state(struct session *s, enum sess_state st);
void session_arm_timeout(struct session *s, uint64_t ms);
/* Sends what waits in pa->out; -1 when the client is gone. */
int session_flush_client(struct session *s);
void session_internal_error(struct session *s, const char *why, int err);
/* The auth answer res, from the service or the cache: login, refusal or wait. */
void session_auth_done(void *arg, struct auth_result *res);
/* session_auth.c: the limits' check, then the auth request; a refusal's reply. */
void session_start_auth(struct session *s);
void session_auth_failed_queue(struct session *s, int retry);
void session_auth_failed_reply(struct session *s, int retry);
void session_run(struct session *s);
void session_greet(struct session *s);
/* SNI chose another server of the same socket: its settings from now on. */
void session_switch_server(struct session *s, const struct listen_entry *le);
/* The address the client connected to (getsockname() on a wildcard listener, once). */
const struct sockaddr *session_local_addr(struct session *s);
/* Frees what only the dialogue before login needed. */
void session_preauth_done(struct session *s);

/* session_pre.c: what happens before the greeting */
void session_proxy_header_run(struct session *s);
/* After the PROXY header (if any): TLS handshake or greeting. */
void session_after_proxy_header(struct session *s);
/* SMTP: host lookup and greeting delay; returns 1 when it took over. */
int session_prepare_greeting(struct session *s);
void session_greet_delay_run(struct session *s);

/* backend.c */
void backend_connect(struct session *s);
void backend_run(struct session *s);
/* The backend handshake finished: go on with the login. */
void backend_tls_done(struct session *s);
void backend_failed(struct session *s, const char *what, int err);

/* session_tls.c */
struct tls_hooks;
extern const struct tls_hooks session_tls_hooks;	/* SNI, backend sessions kept */
/* Starts the client handshake; greet: send the greeting once done. */
void session_tls_start(struct session *s, int greet);
void session_tls_handshake_run(struct session *s);
void session_tls_auth_params(struct session *s, struct auth_params *p);
void session_tls_shutdown(void);
/* TLS towards the backend (proxy_ssl, proxy_starttls). */
void backend_tls_start(struct session *s);
void backend_tls_handshake_run(struct session *s);
void backend_tls_forget(void);

/* session_limit.c: login_limit_* */
enum { LIMIT_PASS, LIMIT_BLOCKED, LIMIT_WAIT };
int session_limit_check(struct session *s);	/* LIMIT_BLOCKED: answer after the tarpit */
/* session_cache.c: 1 when the answer comes from auth_http_cache (deferred). */
int session_cache_lookup(struct session *s);
/* Stores a fresh answer of the service for the login looked up. */
void session_cache_store(struct session *s, const struct auth_result *res);
void session_limit_checked(struct session *s, int blocked);	/* session.c: after LIMIT_WAIT */
void session_limit_failed(struct session *s);
void session_limit_ok(struct session *s);
uint64_t session_limit_tarpit(const struct session *s);
int session_limit_take(struct session *s, const char *auth_user);	/* -1: limit_sessions_* reached */
void session_limit_release(struct session *s);

/* relay.c */
void relay_start(struct session *s);
void relay_run(struct session *s);
/* How long a relayed session may sit idle: proxy_timeout, or timeout once one side has closed. */
uint64_t relay_idle_limit(const struct session *s);
/* Gives back what a closing session still holds of the relay. */
void relay_release(struct session *s);
void relay_shutdown(void);

#endif
