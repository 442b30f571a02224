/*
 * The listen directive: nginx's address forms (port, *:port, IPv4, [IPv6],
 * host names resolved to every address) and its parameters, plus reuseport=
 * (on by default: a socket per worker; off: nginx's one shared socket).
 * Each listen item keeps its position for the cross-server checks and -T.
 * Split from config_custom.c along the directive's own grammar.
 */
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "config/config_custom.h"

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
	const char *colon, *wildport = NULL;

	*n = 0;
	if (strncmp(spec, "unix:", 5) == 0)
		return lerr(ld, at, d->name, "unix domain sockets are not supported, got \"%s\"", spec);
	/* "143" and "*:143" are the IPv4 wildcard, as in nginx. */
	if (isdigit((unsigned char)spec[0]) && strspn(spec, "0123456789") == strlen(spec))
		wildport = spec;
	else if (spec[0] == '*' && spec[1] == ':')
		wildport = spec + 2;
	if (wildport != NULL) {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "0.0.0.0:%s", wildport);
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
	proto.reuseport = LISTEN_REUSEPORT;
	proto.text = arena_strdup(&ld->cf->arena, it->str);
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
		} else if (strcmp(p, "reuseport") == 0 || strncmp(p, "reuseport=", 10) == 0) {
			const char *m = p[9] ? p + 10 : "on";
			if (strcmp(m, "on") == 0)
				proto.reuseport = LISTEN_REUSEPORT;
			else if (strcmp(m, "off") == 0)
				proto.reuseport = LISTEN_SHARED;
			else if (strcmp(m, "cpu") == 0)
				proto.reuseport = LISTEN_REUSEPORT_CPU;
			else
				return lerr(ld, it, d->name, "invalid reuseport \"%s\" (expected on, off or cpu)", m);
			/* As nginx's reuseport; off is nginx's default, which does not. */
			if (proto.reuseport != LISTEN_SHARED)
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
			    "backlog=, rcvbuf=, sndbuf=, bind, ipv6only=, so_keepalive=, multipath or reuseport[=on|off|cpu])", p);
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
	if (l->reuseport == LISTEN_SHARED)
		buf_puts(out, " reuseport=off");
	else if (l->reuseport == LISTEN_REUSEPORT_CPU)
		buf_puts(out, " reuseport=cpu");
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

/* ---- status_listen: one IP:port, no names (the master binds it before any lookup could matter) ---- */

int
set_status_listen(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct status_listen_conf *sl = field;
	const char *s;
	char err[256];

	memset(sl, 0, sizeof(*sl));
	if (get_scalar(ld, d, val, &s) < 0)
		return -1;
	if (strcmp(s, "off") == 0)
		return 0;
	if (net_parse_hostport(s, -1, &sl->addr, &sl->addrlen, err, sizeof(err)) < 0)
		return lerr(ld, val, d->name, "expected off or IP:port such as 127.0.0.1:9191, got \"%s\" (%s)",
		    s, err);
	sl->text = arena_strdup(&ld->cf->arena, s);
	return sl->text ? 0 : lerr(ld, val, d->name, "out of memory");
}

void
print_status_listen(const struct directive *d, const void *field, struct buf *out)
{
	const struct status_listen_conf *sl = field;

	(void)d;
	print_quoted(out, sl->text ? sl->text : "off");
}
