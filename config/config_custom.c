/*
 * Directives with their own grammar: user, worker_processes, error_log,
 * listen, server_name, resolver, auth_http, set_real_ip_from, ssl_protocols
 * and ssl_session_cache. Each setter checks every argument and reports the
 * position of the offending one.
 */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "common/log.h"
#include "config/config_custom.h"

static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ---- user ---- */

int
set_user(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct main_conf *mc = (struct main_conf *)((char *)field - d->off);
	struct args a;

	if (get_args(ld, d, val, &a) < 0)
		return -1;
	if (a.n > 2)
		return lerr(ld, a.at[2], d->name, "expected \"user [group]\", got %zu values", a.n);
	mc->user = arena_strdup(&ld->cf->arena, a.v[0]);
	mc->group = a.n == 2 ? arena_strdup(&ld->cf->arena, a.v[1]) : NULL;
	return 0;
}

void
print_user(const struct directive *d, const void *field, struct buf *out)
{
	const struct main_conf *mc = (const struct main_conf *)((const char *)field - d->off);
	struct buf tmp = { 0 };

	/* A buf, not a fixed array: -T must not cut a long value short. */
	buf_printf(&tmp, "%s%s%s", mc->user, mc->group ? " " : "", mc->group ? mc->group : "");
	buf_append(&tmp, "", 1);
	print_quoted(out, tmp.data);
	buf_release(&tmp);
}

/* ---- worker_processes ---- */

int
set_worker_processes(struct loader *ld, const struct directive *d, void *field,
    const struct ynode *val)
{
	struct main_conf *mc = (struct main_conf *)((char *)field - d->off);
	const char *s;
	long v;

	if (get_scalar(ld, d, val, &s) < 0)
		return -1;
	if (strcmp(s, "auto") == 0) {
		mc->worker_processes_auto = 1;
		mc->worker_processes = 0;
		return 0;
	}
	if (parse_long(s, 1, 1024, &v) < 0)
		return lerr(ld, val, d->name, "expected a number from 1 to 1024 or auto, got \"%s\"", s);
	mc->worker_processes_auto = 0;
	mc->worker_processes = (int)v;
	return 0;
}

void
print_worker_processes(const struct directive *d, const void *field, struct buf *out)
{
	const struct main_conf *mc = (const struct main_conf *)((const char *)field - d->off);

	if (mc->worker_processes_auto)
		buf_puts(out, "auto");
	else
		buf_printf(out, "%d", mc->worker_processes);
}

/* ---- error_log ---- */

int
set_error_log(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct errlog_conf *el = field;
	size_t n = val->type == YN_SEQ ? val->n : 1;

	if (val->type == YN_MAP)
		return lerr(ld, val, d->name, "expected \"file [level]\" or a sequence of them");
	if (n == 0)
		return lerr(ld, val, d->name, "expected at least one \"file [level]\"");
	el->v = arena_calloc(&ld->cf->arena, n * sizeof(*el->v));
	el->n = 0;
	if (el->v == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct ynode *it = val->type == YN_SEQ ? val->kids[i] : val;
		struct args a;

		if (it->type != YN_SCALAR)
			return lerr(ld, it, d->name, "expected \"file [level]\"");
		if (get_args(ld, d, it, &a) < 0)
			return -1;
		if (a.n > 2)
			return lerr(ld, it, d->name, "expected \"file [level]\", got \"%s\"", it->str);
		int level = LL_ERR;
		if (a.n == 2 && (level = log_level_parse(a.v[1])) < 0)
			return lerr(ld, it, d->name,
			    "unknown level \"%s\" (expected debug, info, notice, warn, error, crit, alert or emerg)",
			    a.v[1]);
		if (strncmp(a.v[0], "syslog:", 7) == 0 && strstr(a.v[0], "server=") == NULL)
			return lerr(ld, it, d->name, "syslog target needs server=ADDR, got \"%s\"", a.v[0]);
		if (strncmp(a.v[0], "memory:", 7) == 0)
			return lerr(ld, it, d->name, "memory: logs are not supported");
		el->v[el->n].target = arena_strdup(&ld->cf->arena, a.v[0]);
		el->v[el->n].level = level;
		el->n++;
	}
	return 0;
}

void
print_error_log(const struct directive *d, const void *field, struct buf *out)
{
	const struct errlog_conf *el = field;

	(void)d;
	buf_puts(out, "[");
	for (size_t i = 0; i < el->n; i++) {
		struct buf tmp = { 0 };
		buf_printf(&tmp, "%s %s", el->v[i].target, log_level_name(el->v[i].level));
		buf_append(&tmp, "", 1);
		if (i)
			buf_puts(out, ", ");
		print_quoted(out, tmp.data);
		buf_release(&tmp);
	}
	buf_puts(out, "]");
}

/* ---- listen ---- */

static int
parse_keepalive(const char *s, struct listen_conf *l)
{
	int flag;
	long v[3] = { 0, 0, 0 };

	if (parse_flag(s, &flag) == 0) {
		l->so_keepalive = flag;
		return 0;
	}
	/* [idle]:[intvl]:[cnt], e.g. "30m::10" */
	const char *p = s;
	for (int i = 0; i < 3; i++) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		if ((i < 2 && colon == NULL) || (i == 2 && colon != NULL))
			return -1;
		if (n > 0) {
			char tmp[32];
			if (n >= sizeof(tmp))
				return -1;
			memcpy(tmp, p, n);
			tmp[n] = '\0';
			if (i == 2) {
				if (parse_long(tmp, 1, 127, &v[i]) < 0)
					return -1;
			} else {
				uint64_t ms;
				if (parse_msec(tmp, &ms) < 0 || ms < 1000 || ms > 32767000ULL)
					return -1;
				v[i] = (long)(ms / 1000);
			}
		}
		p = colon ? colon + 1 : p + n;
	}
	l->so_keepalive = 1;
	l->keepidle = (int)v[0];
	l->keepintvl = (int)v[1];
	l->keepcnt = (int)v[2];
	return 0;
}

/* Resolves the address part into one or more sockaddrs. */
static int
listen_addrs(struct loader *ld, const struct directive *d, const struct ynode *at,
    const char *spec, struct sockaddr_storage *out, socklen_t *outlen, size_t max, size_t *n)
{
	char err[256];
	const char *colon;

	*n = 0;
	if (strncmp(spec, "unix:", 5) == 0)
		return lerr(ld, at, d->name, "unix domain sockets are not supported, got \"%s\"", spec);
	/* "143" and "*:143" are the IPv4 wildcard, as in nginx. */
	if (isdigit((unsigned char)spec[0]) && strspn(spec, "0123456789") == strlen(spec)) {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "0.0.0.0:%s", spec);
		if (net_parse_hostport(tmp, -1, &out[0], &outlen[0], err, sizeof(err)) < 0)
			return lerr(ld, at, d->name, "%s", err);
		*n = 1;
		return 0;
	}
	if (spec[0] == '*' && spec[1] == ':') {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "0.0.0.0:%s", spec + 2);
		if (net_parse_hostport(tmp, -1, &out[0], &outlen[0], err, sizeof(err)) < 0)
			return lerr(ld, at, d->name, "%s", err);
		*n = 1;
		return 0;
	}
	if (net_parse_hostport(spec, -1, &out[0], &outlen[0], err, sizeof(err)) == 0) {
		*n = 1;
		return 0;
	}
	/* A host name: every address it resolves to, as nginx does. */
	colon = strrchr(spec, ':');
	if (spec[0] == '[' || colon == NULL || strchr(spec, ':') != colon)
		return lerr(ld, at, d->name, "%s", err);
	char host[256];
	size_t hl = (size_t)(colon - spec);
	if (hl == 0 || hl >= sizeof(host))
		return lerr(ld, at, d->name, "invalid address \"%s\"", spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	long port;
	if (parse_long(colon + 1, 1, 65535, &port) < 0)
		return lerr(ld, at, d->name, "invalid port in \"%s\" (expected 1-65535)", spec);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *r;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return lerr(ld, at, d->name, "host not found in \"%s\": %s", spec, gai_strerror(rc));
	for (r = res; r && *n < max; r = r->ai_next) {
		int dup = 0;
		for (size_t i = 0; i < *n; i++)
			if (memcmp(&out[i], r->ai_addr, r->ai_addrlen) == 0)
				dup = 1;
		if (dup)
			continue;
		memset(&out[*n], 0, sizeof(out[*n]));
		memcpy(&out[*n], r->ai_addr, r->ai_addrlen);
		outlen[*n] = (socklen_t)r->ai_addrlen;
		net_set_port((struct sockaddr *)&out[*n], (int)port);
		(*n)++;
	}
	freeaddrinfo(res);
	return *n ? 0 : lerr(ld, at, d->name, "host not found in \"%s\"", spec);
}

static int
parse_listen_item(struct loader *ld, const struct directive *d, const struct ynode *it,
    struct srv_conf *srv, size_t *cap)
{
	struct args a;
	struct listen_conf proto;
	struct sockaddr_storage addrs[16];
	socklen_t lens[16];
	size_t naddr;
	int implies_bind = 0;

	if (it->type != YN_SCALAR)
		return lerr(ld, it, d->name, "expected \"address:port [parameters]\"");
	if (get_args(ld, d, it, &a) < 0)
		return -1;
	memset(&proto, 0, sizeof(proto));
	proto.backlog = 511;
	proto.ipv6only = 1;
	proto.so_keepalive = -1;
	proto.text = arena_strdup(&ld->cf->arena, it->str);
	proto.file = ld->file;
	proto.line = it->line;
	proto.col = it->col;
	if (listen_addrs(ld, d, it, a.v[0], addrs, lens, 16, &naddr) < 0)
		return -1;

	for (size_t i = 1; i < a.n; i++) {
		const char *p = a.v[i];
		long v;
		size_t sz;

		if (strcmp(p, "ssl") == 0) {
			proto.ssl = 1;
		} else if (strcmp(p, "proxy_protocol") == 0) {
			proto.proxy_protocol = 1;
		} else if (strcmp(p, "bind") == 0) {
			proto.bind = 1;
		} else if (strcmp(p, "reuseport") == 0) {
			proto.reuseport = 1;
			implies_bind = 1;
		} else if (strcmp(p, "multipath") == 0) {
			proto.multipath = 1;
			implies_bind = 1;
		} else if (strncmp(p, "backlog=", 8) == 0) {
			if (parse_long(p + 8, 1, 1048576, &v) < 0)
				return lerr(ld, it, d->name, "invalid backlog \"%s\" (expected 1 to 1048576)", p + 8);
			proto.backlog = (int)v;
			implies_bind = 1;
		} else if (strncmp(p, "rcvbuf=", 7) == 0 || strncmp(p, "sndbuf=", 7) == 0) {
			if (parse_size(p + 7, &sz) < 0 || sz == 0 || sz > 1024 * 1024 * 1024)
				return lerr(ld, it, d->name, "invalid size in \"%s\"", p);
			if (p[0] == 'r')
				proto.rcvbuf = (int)sz;
			else
				proto.sndbuf = (int)sz;
			implies_bind = 1;
		} else if (strncmp(p, "ipv6only=", 9) == 0) {
			int f;
			if (parse_flag(p + 9, &f) < 0)
				return lerr(ld, it, d->name, "invalid ipv6only \"%s\" (expected on or off)", p + 9);
			if (addrs[0].ss_family != AF_INET6)
				return lerr(ld, it, d->name, "ipv6only applies to IPv6 addresses only");
			proto.ipv6only = f;
			implies_bind = 1;
		} else if (strncmp(p, "so_keepalive=", 13) == 0) {
			if (parse_keepalive(p + 13, &proto) < 0)
				return lerr(ld, it, d->name,
				    "invalid so_keepalive \"%s\" (expected on, off or [idle]:[intvl]:[cnt])", p + 13);
			implies_bind = 1;
		} else {
			return lerr(ld, it, d->name, "unknown parameter \"%s\" (expected ssl, proxy_protocol, "
			    "backlog=, rcvbuf=, sndbuf=, bind, ipv6only=, so_keepalive=, multipath or reuseport)", p);
		}
	}
	if (implies_bind)
		proto.bind = 1;

	for (size_t k = 0; k < naddr; k++) {
		if (srv->nlisten == *cap) {
			size_t nc = *cap ? *cap * 2 : 4;
			struct listen_conf *nl = arena_alloc(&ld->cf->arena, nc * sizeof(*nl));
			if (nl == NULL)
				return lerr(ld, it, d->name, "out of memory");
			if (srv->nlisten)
				memcpy(nl, srv->listen, srv->nlisten * sizeof(*nl));
			srv->listen = nl;
			*cap = nc;
		}
		struct listen_conf *l = &srv->listen[srv->nlisten];
		for (size_t j = 0; j < srv->nlisten; j++)
			if (net_addr_equal((struct sockaddr *)&srv->listen[j].addr,
			    (struct sockaddr *)&addrs[k]))
				return lerr(ld, it, d->name, "duplicate listen \"%s\" in the same server", a.v[0]);
		*l = proto;
		l->addr = addrs[k];
		l->addrlen = lens[k];
		srv->nlisten++;
	}
	return 0;
}

int
set_listen(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct srv_conf *srv = (struct srv_conf *)((char *)field - d->off);
	size_t cap = 0;

	srv->listen = NULL;
	srv->nlisten = 0;
	if (val->type == YN_MAP)
		return lerr(ld, val, d->name, "expected \"address:port [parameters]\" or a sequence of them");
	if (val->type == YN_SEQ) {
		if (val->n == 0)
			return lerr(ld, val, d->name, "expected at least one address");
		for (size_t i = 0; i < val->n; i++)
			if (parse_listen_item(ld, d, val->kids[i], srv, &cap) < 0)
				return -1;
		return 0;
	}
	const char *s;
	if (get_scalar(ld, d, val, &s) < 0)
		return -1;
	return parse_listen_item(ld, d, val, srv, &cap);
}

void
print_listen_item(const struct listen_conf *l, struct buf *out)
{
	char addr[NET_ADDRSTRLEN];

	net_ntop_port((const struct sockaddr *)&l->addr, addr, sizeof(addr));
	buf_puts(out, addr);
	if (l->ssl)
		buf_puts(out, " ssl");
	if (l->proxy_protocol)
		buf_puts(out, " proxy_protocol");
	if (l->backlog != 511)
		buf_printf(out, " backlog=%d", l->backlog);
	if (l->rcvbuf)
		buf_printf(out, " rcvbuf=%d", l->rcvbuf);
	if (l->sndbuf)
		buf_printf(out, " sndbuf=%d", l->sndbuf);
	if (l->bind)
		buf_puts(out, " bind");
	if (l->addr.ss_family == AF_INET6 && !l->ipv6only)
		buf_puts(out, " ipv6only=off");
	if (l->so_keepalive == 0)
		buf_puts(out, " so_keepalive=off");
	else if (l->so_keepalive == 1 && !l->keepidle && !l->keepintvl && !l->keepcnt)
		buf_puts(out, " so_keepalive=on");
	else if (l->so_keepalive == 1) {
		buf_puts(out, " so_keepalive=");
		if (l->keepidle)
			buf_printf(out, "%ds", l->keepidle);
		buf_puts(out, ":");
		if (l->keepintvl)
			buf_printf(out, "%ds", l->keepintvl);
		buf_puts(out, ":");
		if (l->keepcnt)
			buf_printf(out, "%d", l->keepcnt);
	}
	if (l->multipath)
		buf_puts(out, " multipath");
	if (l->reuseport)
		buf_puts(out, " reuseport");
}

void
print_listen(const struct directive *d, const void *field, struct buf *out)
{
	const struct srv_conf *srv = (const struct srv_conf *)((const char *)field - d->off);

	buf_puts(out, "[");
	for (size_t i = 0; i < srv->nlisten; i++) {
		struct buf tmp = { 0 };
		if (i)
			buf_puts(out, ", ");
		print_listen_item(&srv->listen[i], &tmp);
		buf_append(&tmp, "", 1);
		print_quoted(out, tmp.data);
		buf_release(&tmp);
	}
	buf_puts(out, "]");
}

/* ---- server_name ---- */

static int
valid_server_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253)
		return 0;
	if (strcmp(s, "_") == 0)
		return 1;
	if (s[0] == '*') {
		if (s[1] != '.' || s[2] == '\0')
			return 0;
		s += 2;
	} else if (s[0] == '.') {
		s++;
		if (*s == '\0')
			return 0;
	}
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '.' || *s == '_'))
			return 0;
	return 1;
}

int
set_server_name(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct strlist *l = field;
	struct args a;

	if (get_args(ld, d, val, &a) < 0)
		return -1;
	l->v = arena_alloc(&ld->cf->arena, a.n * sizeof(*l->v));
	if (l->v == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (size_t i = 0; i < a.n; i++) {
		if (!valid_server_name(a.v[i]))
			return lerr(ld, a.at[i], d->name,
			    "invalid name \"%s\" (expected a host name, *.domain, .domain or _)", a.v[i]);
		l->v[i] = arena_strdup(&ld->cf->arena, a.v[i]);
		for (char *p = l->v[i]; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	l->n = a.n;
	return 0;
}

void
print_server_name(const struct directive *d, const void *field, struct buf *out)
{
	const struct strlist *l = field;

	(void)d;
	buf_puts(out, "[");
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			buf_puts(out, ", ");
		print_quoted(out, l->v[i]);
	}
	buf_puts(out, "]");
}

/* ---- resolver ---- */

int
set_resolver(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct resolver_conf *r = field;
	struct args a;
	char err[256];

	if (get_args(ld, d, val, &a) < 0)
		return -1;
	memset(r, 0, sizeof(*r));
	r->ipv4 = r->ipv6 = 1;
	if (a.n == 1 && strcmp(a.v[0], "off") == 0)
		return 0;
	r->addrs = arena_calloc(&ld->cf->arena, a.n * sizeof(*r->addrs));
	if (r->addrs == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (size_t i = 0; i < a.n; i++) {
		const char *p = a.v[i];
		socklen_t len;

		if (strncmp(p, "valid=", 6) == 0) {
			if (parse_msec(p + 6, &r->valid) < 0)
				return lerr(ld, a.at[i], d->name, "invalid time in \"%s\"", p);
		} else if (strncmp(p, "ipv4=", 5) == 0) {
			if (parse_flag(p + 5, &r->ipv4) < 0)
				return lerr(ld, a.at[i], d->name, "invalid value in \"%s\" (expected on or off)", p);
		} else if (strncmp(p, "ipv6=", 5) == 0) {
			if (parse_flag(p + 5, &r->ipv6) < 0)
				return lerr(ld, a.at[i], d->name, "invalid value in \"%s\" (expected on or off)", p);
		} else if (strncmp(p, "status_zone=", 12) == 0) {
			/* nginx Plus statistics; accepted and ignored. */
		} else if (strcmp(p, "off") == 0) {
			return lerr(ld, a.at[i], d->name, "\"off\" must be the only value");
		} else {
			if (net_parse_hostport(p, 53, &r->addrs[r->n], &len, err, sizeof(err)) < 0)
				return lerr(ld, a.at[i], d->name, "%s (name servers must be IP addresses)", err);
			r->n++;
		}
	}
	if (r->n == 0)
		return lerr(ld, val, d->name, "no name server address given");
	if (!r->ipv4 && !r->ipv6)
		return lerr(ld, val, d->name, "ipv4=off and ipv6=off leave nothing to look up");
	return 0;
}

void
print_resolver(const struct directive *d, const void *field, struct buf *out)
{
	const struct resolver_conf *r = field;
	struct buf tmp = { 0 };

	(void)d;
	if (r->n == 0) {
		buf_puts(out, "off");
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		char a[NET_ADDRSTRLEN];
		net_ntop_port((const struct sockaddr *)&r->addrs[i], a, sizeof(a));
		buf_printf(&tmp, "%s%s", i ? " " : "", a);
	}
	if (r->valid) {
		buf_puts(&tmp, " valid=");
		print_msec(&tmp, r->valid);
	}
	if (!r->ipv4)
		buf_puts(&tmp, " ipv4=off");
	if (!r->ipv6)
		buf_puts(&tmp, " ipv6=off");
	buf_append(&tmp, "", 1);
	print_quoted(out, tmp.data);
	buf_release(&tmp);
}

/* ---- auth_http ---- */

int
set_auth_http(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct auth_http_url *u = field;
	const char *s, *p;
	char err[256];

	if (get_scalar(ld, d, val, &s) < 0)
		return -1;
	memset(u, 0, sizeof(*u));
	u->url = arena_strdup(&ld->cf->arena, s);
	p = s;
	if (strncasecmp(p, "https://", 8) == 0)
		return lerr(ld, val, d->name, "https is not supported (as in nginx); got \"%s\"", s);
	if (strncasecmp(p, "http://", 7) == 0)
		p += 7;
	else if (strstr(p, "://") != NULL)
		return lerr(ld, val, d->name, "unsupported scheme in \"%s\"", s);

	if (strncmp(p, "unix:", 5) == 0) {
		/* unix:/path/to/socket[:/uri] */
		struct sockaddr_un *sun = (struct sockaddr_un *)&u->addr;
		const char *path = p + 5, *uri = strchr(path, ':');
		size_t pl = uri ? (size_t)(uri - path) : strlen(path);
		if (pl == 0 || pl >= sizeof(sun->sun_path))
			return lerr(ld, val, d->name, "invalid unix socket path in \"%s\"", s);
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, pl);
		u->addrlen = sizeof(*sun);
		u->host = arena_strdup(&ld->cf->arena, "localhost");
		u->uri = arena_strdup(&ld->cf->arena, uri ? uri + 1 : "/");
		if (u->uri[0] != '/')
			return lerr(ld, val, d->name, "the URI in \"%s\" must start with /", s);
		return 0;
	}

	const char *slash = strchr(p, '/');
	size_t hp = slash ? (size_t)(slash - p) : strlen(p);
	char hostport[300], host[280];
	if (hp == 0 || hp >= sizeof(hostport))
		return lerr(ld, val, d->name, "no host in \"%s\"", s);
	memcpy(hostport, p, hp);
	hostport[hp] = '\0';
	u->uri = arena_strdup(&ld->cf->arena, slash ? slash : "/");
	for (const char *c = u->uri; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return lerr(ld, val, d->name, "the URI in \"%s\" contains a blank or control character", s);

	if (net_parse_hostport(hostport, 80, &u->addr, &u->addrlen, err, sizeof(err)) == 0) {
		/* Host header: the host as written, without the port (nginx). */
		const char *hend = hostport[0] == '[' ? strchr(hostport, ']') + 1 : strrchr(hostport, ':');
		size_t hl = hend ? (size_t)(hend - hostport) : strlen(hostport);
		u->host = arena_strndup(&ld->cf->arena, hostport, hl);
		return 0;
	}
	/* A host name, resolved now: the first address is used, as in nginx. */
	const char *colon = strrchr(hostport, ':');
	long port = 80;
	size_t hl = colon ? (size_t)(colon - hostport) : strlen(hostport);
	if (hostport[0] == '[' || (colon && strchr(hostport, ':') != colon))
		return lerr(ld, val, d->name, "%s", err);
	if (colon && parse_long(colon + 1, 1, 65535, &port) < 0)
		return lerr(ld, val, d->name, "invalid port in \"%s\" (expected 1-65535)", s);
	if (hl == 0)
		return lerr(ld, val, d->name, "no host in \"%s\"", s);
	/* hostport may hold 299 bytes, host fewer; a DNS name has at most 253. */
	if (hl >= sizeof(host))
		return lerr(ld, val, d->name, "host name too long in \"%.40s...\"", s);
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	for (const char *c = host; *c; c++)
		if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '.' || *c == '_'))
			return lerr(ld, val, d->name, "invalid host \"%s\"", host);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return lerr(ld, val, d->name, "host not found in \"%s\": %s", s, gai_strerror(rc));
	memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
	u->addrlen = (socklen_t)res->ai_addrlen;
	freeaddrinfo(res);
	net_set_port((struct sockaddr *)&u->addr, (int)port);
	u->host = arena_strdup(&ld->cf->arena, host);
	return 0;
}

void
print_auth_http(const struct directive *d, const void *field, struct buf *out)
{
	const struct auth_http_url *u = field;

	(void)d;
	print_quoted(out, u->url ? u->url : "");
}

/* ---- set_real_ip_from ---- */

int
set_cidrs(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct cidrlist *cl = field;
	struct args a;

	memset(cl, 0, sizeof(*cl));
	if (val->type == YN_SEQ && val->n == 0)
		return 0;
	if (get_args(ld, d, val, &a) < 0)
		return -1;
	cl->v = arena_calloc(&ld->cf->arena, a.n * sizeof(*cl->v));
	if (cl->v == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (size_t i = 0; i < a.n; i++) {
		if (strcmp(a.v[i], "unix:") == 0) {
			cl->v[cl->n].family = AF_UNIX;
		} else if (net_parse_cidr(a.v[i], &cl->v[cl->n]) < 0) {
			return lerr(ld, a.at[i], d->name,
			    "expected an address, CIDR or unix:, got \"%s\"", a.v[i]);
		}
		cl->n++;
	}
	return 0;
}

void
print_cidrs(const struct directive *d, const void *field, struct buf *out)
{
	const struct cidrlist *cl = field;

	(void)d;
	buf_puts(out, "[");
	for (size_t i = 0; i < cl->n; i++) {
		char tmp[80];
		if (cl->v[i].family == AF_UNIX)
			snprintf(tmp, sizeof(tmp), "unix:");
		else
			net_cidr_format(&cl->v[i], tmp, sizeof(tmp));
		buf_printf(out, "%s\"%s\"", i ? ", " : "", tmp);
	}
	buf_puts(out, "]");
}

/* ---- ssl_protocols ---- */

static const struct name_val ssl_proto_names[] = {
	{ "SSLv2", SSLP_SSLv2 }, { "SSLv3", SSLP_SSLv3 }, { "TLSv1", SSLP_TLSv1 },
	{ "TLSv1.1", SSLP_TLSv1_1 }, { "TLSv1.2", SSLP_TLSv1_2 }, { "TLSv1.3", SSLP_TLSv1_3 },
	{ 0, 0 },
};

int
set_ssl_protocols(struct loader *ld, const struct directive *d, void *field,
    const struct ynode *val)
{
	unsigned *m = field;
	struct args a;

	if (get_args(ld, d, val, &a) < 0)
		return -1;
	*m = 0;
	for (size_t i = 0; i < a.n; i++) {
		const struct name_val *nv;
		/* Case-insensitive, as nginx's bitmask slot. */
		for (nv = ssl_proto_names; nv->name; nv++)
			if (strcasecmp(a.v[i], nv->name) == 0)
				break;
		if (nv->name == NULL)
			return lerr(ld, a.at[i], d->name,
			    "unknown protocol \"%s\" (expected TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)", a.v[i]);
		if (nv->val == SSLP_SSLv2 || nv->val == SSLP_SSLv3)
			return lerr(ld, a.at[i], d->name,
			    "%s is broken and not supported; remove it (use TLSv1.2 TLSv1.3)", a.v[i]);
		if ((nv->val == SSLP_TLSv1 || nv->val == SSLP_TLSv1_1) && val->line > 0)
			lwarn(ld, a.at[i], d->name,
			    "%s is deprecated; OpenSSL refuses it at its default security level", a.v[i]);
		*m |= (unsigned)nv->val;
	}
	return 0;
}

void
print_ssl_protocols(const struct directive *d, const void *field, struct buf *out)
{
	unsigned m = *(const unsigned *)field;
	int first = 1;

	(void)d;
	buf_puts(out, "[");
	for (const struct name_val *nv = ssl_proto_names; nv->name; nv++)
		if (m & (unsigned)nv->val) {
			buf_printf(out, "%s%s", first ? "" : ", ", nv->name);
			first = 0;
		}
	buf_puts(out, "]");
}

/* ---- ssl_session_cache ---- */

int
set_ssl_session_cache(struct loader *ld, const struct directive *d, void *field,
    const struct ynode *val)
{
	struct ssl_cache_conf *c = field;
	struct args a;

	if (get_args(ld, d, val, &a) < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	c->builtin_size = -1;
	for (size_t i = 0; i < a.n; i++) {
		const char *p = a.v[i];

		if (strcmp(p, "off") == 0 || strcmp(p, "none") == 0) {
			if (a.n != 1)
				return lerr(ld, a.at[i], d->name, "\"%s\" must be the only value", p);
			c->mode = p[0] == 'o' ? SSL_CACHE_OFF : SSL_CACHE_NONE;
		} else if (strcmp(p, "builtin") == 0 || strncmp(p, "builtin:", 8) == 0) {
			if (c->mode & SSL_CACHE_BUILTIN)
				return lerr(ld, a.at[i], d->name, "builtin is given twice");
			c->mode |= SSL_CACHE_BUILTIN;
			if (p[7] == ':' && parse_long(p + 8, 1, 100000000, &c->builtin_size) < 0)
				return lerr(ld, a.at[i], d->name,
				    "invalid session count in \"%s\" (expected builtin:NUMBER)", p);
		} else if (strncmp(p, "shared:", 7) == 0) {
			const char *name = p + 7, *colon = strrchr(name, ':');
			size_t sz;
			if (c->mode & SSL_CACHE_SHARED)
				return lerr(ld, a.at[i], d->name, "only one shared zone per server");
			if (colon == NULL || colon == name)
				return lerr(ld, a.at[i], d->name, "expected shared:NAME:SIZE, got \"%s\"", p);
			for (const char *q = name; q < colon; q++)
				if (!(isalnum((unsigned char)*q) || *q == '_' || *q == '-'))
					return lerr(ld, a.at[i], d->name,
					    "invalid zone name in \"%s\" (letters, digits, _ and -)", p);
			if (parse_size(colon + 1, &sz) < 0)
				return lerr(ld, a.at[i], d->name, "invalid zone size in \"%s\"", p);
			if (sz < 8 * ld->cf->page_size)
				return lerr(ld, a.at[i], d->name,
				    "zone \"%.*s\" is too small (at least %zuk)", (int)(colon - name), name,
				    8 * ld->cf->page_size / 1024);
			if (sz > (size_t)4 * 1024 * 1024 * 1024)
				return lerr(ld, a.at[i], d->name, "zone \"%.*s\" is larger than 4g",
				    (int)(colon - name), name);
			c->mode |= SSL_CACHE_SHARED;
			c->shared_name = arena_strndup(&ld->cf->arena, name, (size_t)(colon - name));
			c->shared_size = sz;
		} else {
			return lerr(ld, a.at[i], d->name,
			    "expected off, none, builtin[:N] or shared:NAME:SIZE, got \"%s\"", p);
		}
	}
	return 0;
}

void
print_ssl_session_cache(const struct directive *d, const void *field, struct buf *out)
{
	const struct ssl_cache_conf *c = field;
	struct buf tmp = { 0 };

	(void)d;
	if (c->mode & SSL_CACHE_OFF)
		buf_puts(&tmp, "off");
	else if (c->mode & SSL_CACHE_NONE)
		buf_puts(&tmp, "none");
	if (c->mode & SSL_CACHE_BUILTIN) {
		buf_puts(&tmp, "builtin");
		if (c->builtin_size > 0)
			buf_printf(&tmp, ":%ld", c->builtin_size);
	}
	if (c->mode & SSL_CACHE_SHARED) {
		buf_printf(&tmp, "%sshared:%s:", (c->mode & SSL_CACHE_BUILTIN) ? " " : "", c->shared_name);
		print_size(&tmp, c->shared_size);
	}
	buf_append(&tmp, "", 1);
	print_quoted(out, tmp.data);
	buf_release(&tmp);
}
