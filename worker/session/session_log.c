/*
 * The access log: one line per session, written when it closes, in each
 * access_log of its server (nginx stream's access_log). The values are
 * gathered here from what the session recorded (struct sess_acct) and the
 * line is built by the compiled format (config_vars.c). Files were opened by
 * the master (cycle.c) and are reopened in place by log_reopen() on USR1.
 * Without buffer= each line is one write(2), as nginx; with it, lines wait
 * in a per-worker buffer until it fills, flush= passes, USR1 or exit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "config/config_vars.h"
#include "worker/session/session.h"
#include "worker/session/session_int.h"

#define LINE_MAX_BYTES 8192	/* a longer line is cut (the newline kept) */

struct alog_buf {
	struct timer timer;	/* first member: the flush= timer's callback finds its buffer */
	const struct log_file *f;
	char *data;
	size_t len, cap;
	uint64_t flush;
};

static struct cycle *alog_cy;
static char alog_pid[16];	/* $pid: the worker's, set once at its start */
static struct alog_buf *bufs;	/* [(server + 1) * ACCESS_LOG_MAX + i]; slot 0..: the mail level's */
static size_t nbufs;

static const char *const status_names[] = {
	[SST_NONE] = "-", [SST_OK] = "ok", [SST_AUTH_FAILED] = "auth-failed",
	[SST_AUTH_ERROR] = "auth-error", [SST_BACKEND_ERROR] = "backend-error",
	[SST_LIMITED] = "limited", [SST_CLIENT_CLOSED] = "client-closed",
	[SST_TIMEOUT] = "timeout", [SST_INTERNAL_ERROR] = "internal-error",
	[SST_SHUTDOWN] = "shutdown",
};

int
session_alog_wanted(const struct session *s)
{
	return s->conf->access_log.n > 0;
}

void
session_alog_free(struct session *s)
{
	free(s->acct.sni);
	free(s->acct.login);
	s->acct.sni = s->acct.login = NULL;
}

static void
buf_flush(struct alog_buf *b)
{
	timer_cancel(&b->timer);
	if (b->len > 0)
		log_file_write(b->f, b->data, b->len);
	b->len = 0;
}

static void
flush_timer(struct timer *t)
{
	buf_flush((struct alog_buf *)t);
}

void
session_alog_flush(void)
{
	for (size_t i = 0; i < nbufs; i++)
		buf_flush(&bufs[i]);
}

void
session_alog_shutdown(void)
{
	session_alog_flush();
	for (size_t i = 0; i < nbufs; i++)
		free(bufs[i].data);
	free(bufs);
	bufs = NULL;
	nbufs = 0;
}

/* The buffer of entry i of s's access_log (the mail level's when inherited), or NULL. */
static struct alog_buf *
buffer_for(const struct session *s, size_t i)
{
	const struct access_log_entry *e = &s->conf->access_log.v[i];
	const struct config *cf = alog_cy->cf;
	size_t slot;

	if (e->buffer == 0)
		return NULL;
	if (bufs == NULL) {
		nbufs = (cf->nservers + 1) * ACCESS_LOG_MAX;
		if ((bufs = calloc(nbufs, sizeof(*bufs))) == NULL) {
			nbufs = 0;
			return NULL;
		}
	}
	slot = (s->conf->access_log.v == cf->mail.access_log.v ? 0 : s->le->server + 1) *
	    ACCESS_LOG_MAX + i;
	struct alog_buf *b = &bufs[slot];
	if (b->data == NULL) {
		if ((b->data = malloc(e->buffer)) == NULL)
			return NULL;
		b->cap = e->buffer;
		b->flush = e->flush;
		b->f = alog_cy->srv_alog[s->le->server].t[i].file;
	}
	return b;
}

static void
emit(struct session *s, size_t i, const char *line, size_t n)
{
	const struct log_file *f = s->cy->srv_alog[s->le->server].t[i].file;
	struct alog_buf *b;

	if (f == NULL)
		return;
	if ((b = buffer_for(s, i)) == NULL) {
		log_file_write(f, line, n);
		return;
	}
	if (b->len + n > b->cap)
		buf_flush(b);
	if (n > b->cap) {
		log_file_write(f, line, n);
		return;
	}
	memcpy(b->data + b->len, line, n);
	b->len += n;
	if (b->len == n && b->flush > 0)
		timer_set(&b->timer, b->flush, flush_timer);
}

/* $time_local and $time_iso8601 of this second, formatted once per second. */
static void
times(const char **local, const char **iso)
{
	static time_t last = -1;
	static char l[40], o[40];
	time_t now = time(NULL);

	if (now != last) {
		struct tm tm;
		char z[8];

		localtime_r(&now, &tm);
		strftime(l, sizeof(l), "%d/%b/%Y:%H:%M:%S %z", &tm);
		strftime(o, sizeof(o), "%Y-%m-%dT%H:%M:%S", &tm);
		strftime(z, sizeof(z), "%z", &tm);
		snprintf(o + strlen(o), sizeof(o) - strlen(o), "%.3s:%.2s", z, z + 3);
		last = now;
	}
	*local = l;
	*iso = o;
}

static void
secs(char *out, size_t len, uint64_t ms)
{
	snprintf(out, len, "%llu.%03llu", (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000));
}

/* The local address: the listen address, or getsockname() on a wildcard listen. */
static void
server_addr(struct session *s, char *addr, size_t alen, char *port, size_t plen)
{
	union sockaddr_any local;
	socklen_t ll = sizeof(local);
	const struct sockaddr *sa = (const struct sockaddr *)&s->le->lc->addr;

	if (s->pa != NULL)
		sa = session_local_addr(s);
	else if (net_is_wildcard(sa) && s->c.io.fd >= 0 && getsockname(s->c.io.fd, &local.sa, &ll) == 0)
		sa = &local.sa;
	net_ntop(sa, addr, alen);
	snprintf(port, plen, "%d", net_port(sa));
}

void
session_alog_write(struct session *s)
{
	const struct access_log_conf *al = &s->conf->access_log;
	struct sess_acct *a = &s->acct;
	const char *vals[CVAR_COUNT] = { 0 };
	char raddr[NET_ADDRSTRLEN], rport[8], saddr[NET_ADDRSTRLEN], sport[8], up[NET_ADDRSTRLEN];
	char stime[32], atime[32], ctime_[32], bin[24], bout[24], conn[24], msec[32];
	static char line[LINE_MAX_BYTES];
	struct timespec ts;

	if (al->n == 0 || s->cy->srv_alog == NULL)
		return;
	if (a->status == SST_NONE)
		a->status = s->state == SS_RELAY ? SST_OK : SST_CLIENT_CLOSED;
	net_ntop(&s->client.sa, raddr, sizeof(raddr));
	snprintf(rport, sizeof(rport), "%d", net_port(&s->client.sa));
	vals[CVAR_REMOTE_ADDR] = raddr;
	vals[CVAR_REMOTE_PORT] = rport;
	for (size_t i = 0; i < al->n; i++)
		if (cvalue_uses(al->v[i].format->cv, CVAR_SERVER_ADDR) ||
		    cvalue_uses(al->v[i].format->cv, CVAR_SERVER_PORT)) {
			server_addr(s, saddr, sizeof(saddr), sport, sizeof(sport));
			vals[CVAR_SERVER_ADDR] = saddr;
			vals[CVAR_SERVER_PORT] = sport;
			break;
		}
	vals[CVAR_SSL_SERVER_NAME] = a->sni;
	vals[CVAR_PROTOCOL] = config_proto_name(s->conf->protocol);
	times(&vals[CVAR_TIME_LOCAL], &vals[CVAR_TIME_ISO8601]);
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(msec, sizeof(msec), "%lld.%03ld", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	vals[CVAR_MSEC] = msec;
	vals[CVAR_LOGIN] = a->login;
	if (a->connect_start) {
		net_ntop_port(&s->backend.sa, up, sizeof(up));
		vals[CVAR_UPSTREAM_ADDR] = up;
	}
	vals[CVAR_STATUS] = status_names[a->status];
	secs(stime, sizeof(stime), clock_now() - a->start);
	vals[CVAR_SESSION_TIME] = stime;
	if (a->auth_start && a->auth_end >= a->auth_start) {
		secs(atime, sizeof(atime), a->auth_end - a->auth_start);
		vals[CVAR_AUTH_TIME] = atime;
	}
	if (a->connect_start && a->relay_at >= a->connect_start) {
		secs(ctime_, sizeof(ctime_), a->relay_at - a->connect_start);
		vals[CVAR_UPSTREAM_CONNECT_TIME] = ctime_;
	}
	snprintf(bin, sizeof(bin), "%llu", (unsigned long long)a->bytes_in);
	snprintf(bout, sizeof(bout), "%llu", (unsigned long long)a->bytes_out);
	vals[CVAR_BYTES_RECEIVED] = bin;
	vals[CVAR_BYTES_SENT] = bout;
	vals[CVAR_SSL_PROTOCOL] = a->tls_protocol;
	vals[CVAR_SSL_CIPHER] = a->tls_cipher;
	vals[CVAR_SSL_SESSION_REUSED] = a->tls_protocol ? (a->tls_reused ? "r" : ".") : NULL;
	snprintf(conn, sizeof(conn), "%llu", (unsigned long long)s->id);
	vals[CVAR_CONNECTION] = conn;
	vals[CVAR_PID] = alog_pid;

	for (size_t i = 0; i < al->n; i++) {
		const struct access_log_entry *e = &al->v[i];
		size_t n;

		if (e->cond != NULL) {
			/* nginx's if=: no line when the condition is empty or "0". */
			n = cvalue_render(e->cond, CESC_JSON, vals, line, 16);
			if (n == 0 || (n == 1 && line[0] == '0'))
				continue;
		}
		n = cvalue_render(e->format->cv, e->format->escape, vals, line, sizeof(line) - 1);
		line[n++] = '\n';
		emit(s, i, line, n);
	}
}

void
session_alog_init(struct cycle *cy)
{
	alog_cy = cy;
	snprintf(alog_pid, sizeof(alog_pid), "%d", (int)getpid());
}
