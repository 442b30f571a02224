/*
 * Directives with their own grammar: user, worker_processes, error_log,
 * server_name, resolver, auth_http, set_real_ip_from, ssl_protocols and
 * ssl_session_cache (listen is in config_listen.c). Each setter checks every
 * argument and reports the position of the offending one.
 */
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "common/log.h"
#include "config/config_custom.h"

/* ---- user ---- */

/*
 * A name getpwnam()/getgrnam() could find: the passwd and group files
 * separate fields with ':' and entries with line breaks, and no tool
 * creates a name with a blank. Refusing them here also keeps -T exact:
 * "mil t" as one sequence item is not what the string "mil t" means.
 */
static int
valid_account_name(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == ':')
			return 0;
	return 1;
}

int
set_user(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct main_conf *mc = (struct main_conf *)((char *)field - d->off);
	struct args a;

	if (get_args(ld, d, val, &a) < 0)
		return -1;
	if (a.n > 2)
		return lerr(ld, a.at[2], d->name, "expected \"user [group]\", got %zu values", a.n);
	for (size_t i = 0; i < a.n; i++)
		if (!valid_account_name(a.v[i]))
			return lerr(ld, a.at[i], d->name, "invalid %s name \"%s\" (blanks, control "
			    "characters and ':' cannot be part of one)", i ? "group" : "user", a.v[i]);
	mc->user = arena_strdup(&ld->cf->arena, a.v[0]);
	mc->group = a.n == 2 ? arena_strdup(&ld->cf->arena, a.v[1]) : NULL;
	return 0;
}

/* A sequence, not "user group": together they may be longer than one YAML value may be. */
void
print_user(const struct directive *d, const void *field, struct buf *out)
{
	const struct main_conf *mc = (const struct main_conf *)((const char *)field - d->off);

	buf_puts(out, "[");
	print_quoted(out, mc->user);
	if (mc->group) {
		buf_puts(out, ", ");
		print_quoted(out, mc->group);
	}
	buf_puts(out, "]");
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

/* Room for " notice", the longest level name, in one YAML value. */
#define ERRLOG_TARGET_MAX (YTREE_MAX_SCALAR - 7)

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
		/* -T prints "target level" as one value, which YAML limits in length. */
		if (strlen(a.v[0]) > ERRLOG_TARGET_MAX)
			return lerr(ld, it, d->name, "target longer than %d bytes", ERRLOG_TARGET_MAX);
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
		if (i)
			buf_puts(out, ", ");
		print_quotedf(out, "%s %s", el->v[i].target, log_level_name(el->v[i].level));
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
	(void)d;
	print_strlist(out, field);
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

/* Addresses and options joined by sep; none of them needs YAML escaping. */
static void
resolver_join(const struct resolver_conf *r, const char *sep, struct buf *out)
{
	char a[NET_ADDRSTRLEN];

	for (size_t i = 0; i < r->n; i++) {
		net_ntop_port((const struct sockaddr *)&r->addrs[i], a, sizeof(a));
		buf_printf(out, "%s%s", i ? sep : "", a);
	}
	if (r->valid) {
		buf_printf(out, "%svalid=", sep);
		print_msec(out, r->valid);
	}
	if (!r->ipv4)
		buf_printf(out, "%sipv4=off", sep);
	if (!r->ipv6)
		buf_printf(out, "%sipv6=off", sep);
}

/*
 * One string, as nginx writes the directive; a sequence when that string
 * would be longer than one YAML value may be (thousands of servers).
 */
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
	resolver_join(r, " ", &tmp);
	if (buf_len(&tmp) <= YTREE_MAX_SCALAR) {
		buf_printf(out, "\"%.*s\"", (int)buf_len(&tmp), buf_rptr(&tmp));
	} else {
		buf_puts(out, "[\"");
		resolver_join(r, "\", \"", out);
		buf_puts(out, "\"]");
	}
	buf_release(&tmp);
}

/* ---- auth_http ---- */

/*
 * hostport ("IP", "IP:port", "[IPv6]:port", "name" or "name:port") into
 * *addr; a name is resolved now and its first address used, as nginx does
 * at load. *host (may be NULL) gets the host as written, without the port.
 * s is the whole value, for the messages. 0, or -1 after lerr().
 */
int
load_hostport(struct loader *ld, const struct ynode *val, const char *dname, const char *s,
    const char *hostport, int defport, struct sockaddr_storage *addr, socklen_t *addrlen,
    char **host_out)
{
	char err[256], host[280];

	if (net_parse_hostport(hostport, defport, addr, addrlen, err, sizeof(err)) == 0) {
		const char *hend = hostport[0] == '[' ? strchr(hostport, ']') + 1 : strrchr(hostport, ':');
		size_t hl = hend ? (size_t)(hend - hostport) : strlen(hostport);
		if (host_out != NULL)
			*host_out = arena_strndup(&ld->cf->arena, hostport, hl);
		return 0;
	}
	const char *colon = strrchr(hostport, ':');
	long port = defport;
	size_t hl = colon ? (size_t)(colon - hostport) : strlen(hostport);
	if (hostport[0] == '[' || (colon && strchr(hostport, ':') != colon))
		return lerr(ld, val, dname, "%s", err);
	if (colon && parse_long(colon + 1, 1, 65535, &port) < 0)
		return lerr(ld, val, dname, "invalid port in \"%s\" (expected 1-65535)", s);
	if (hl == 0)
		return lerr(ld, val, dname, "no host in \"%s\"", s);
	/* A DNS name has at most 253 bytes. */
	if (hl >= sizeof(host))
		return lerr(ld, val, dname, "host name too long in \"%.40s...\"", s);
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	for (const char *c = host; *c; c++)
		if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '.' || *c == '_'))
			return lerr(ld, val, dname, "invalid host \"%s\"", host);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return lerr(ld, val, dname, "host not found in \"%s\": %s", s, gai_strerror(rc));
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*addrlen = (socklen_t)res->ai_addrlen;
	freeaddrinfo(res);
	net_set_port((struct sockaddr *)addr, (int)port);
	if (host_out != NULL)
		*host_out = arena_strdup(&ld->cf->arena, host);
	return 0;
}


/* One URL into u: [http://|https://]host[:port][/uri] or unix:/path[:/uri]. */
static int
load_auth_url(struct loader *ld, const struct directive *d, const struct ynode *val,
    const char *s, struct auth_http_url *u)
{
	const char *p = s;
	int defport = 80;

	memset(u, 0, sizeof(*u));
	u->stat = -1;
	u->url = arena_strdup(&ld->cf->arena, s);
	if (strncasecmp(p, "https://", 8) == 0) {
		p += 8;
		u->ssl = 1;
		defport = 443;
	} else if (strncasecmp(p, "http://", 7) == 0) {
		p += 7;
	} else if (strstr(p, "://") != NULL) {
		return lerr(ld, val, d->name, "unsupported scheme in \"%s\" (http:// or https://)", s);
	}

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
	char hostport[300];
	if (hp == 0 || hp >= sizeof(hostport))
		return lerr(ld, val, d->name, "no host in \"%s\"", s);
	memcpy(hostport, p, hp);
	hostport[hp] = '\0';
	u->uri = arena_strdup(&ld->cf->arena, slash ? slash : "/");
	for (const char *c = u->uri; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return lerr(ld, val, d->name, "the URI in \"%s\" contains a blank or control character", s);

	return load_hostport(ld, val, d->name, s, hostport, defport, &u->addr, &u->addrlen, &u->host);
}

/*
 * auth_http: one URL as nginx, or a sequence of them (mailproxy): the
 * servers a request tries in order (worker/lookup/auth_http.c).
 */
int
set_auth_http(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct auth_http_url *first = field, *prev = NULL;

	if (val->type != YN_SEQ) {
		const char *s;
		if (get_scalar(ld, d, val, &s) < 0)
			return -1;
		return load_auth_url(ld, d, val, s, first);
	}
	if (val->n == 0)
		return lerr(ld, val, d->name, "an empty list names no auth service");
	if (val->n > AUTH_HTTP_MAX_SERVERS)
		return lerr(ld, val->kids[AUTH_HTTP_MAX_SERVERS], d->name,
		    "too many auth services (at most %d)", AUTH_HTTP_MAX_SERVERS);
	for (size_t i = 0; i < val->n; i++) {
		const struct ynode *k = val->kids[i];
		struct auth_http_url *u = i == 0 ? first : arena_alloc(&ld->cf->arena, sizeof(*u));
		if (u == NULL)
			return lerr(ld, k, d->name, "out of memory");
		if (k->type != YN_SCALAR || k->len == 0)
			return lerr(ld, k, d->name, "each auth service is a URL");
		if (load_auth_url(ld, d, k, k->str, u) < 0)
			return -1;
		for (const struct auth_http_url *o = first; i > 0 && o != NULL; o = o->next)
			if (strcmp(o->url, u->url) == 0)
				return lerr(ld, k, d->name, "duplicate auth service \"%s\"", u->url);
		if (prev != NULL)
			prev->next = u;
		prev = u;
	}
	return 0;
}

void
print_auth_http(const struct directive *d, const void *field, struct buf *out)
{
	const struct auth_http_url *u = field;

	(void)d;
	if (u->next == NULL) {
		print_quoted(out, u->url ? u->url : "");
		return;
	}
	buf_puts(out, "[");
	for (; u != NULL; u = u->next) {
		print_quoted(out, u->url);
		if (u->next)
			buf_puts(out, ", ");
	}
	buf_puts(out, "]");
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
		const struct name_val *nv = name_val_find(ssl_proto_names, a.v[i]);
		if (nv == NULL)
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
	(void)d;
	print_mask(out, ssl_proto_names, *(const unsigned *)field);
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
			if (c->mode & SSL_CACHE_SHARED)
				return lerr(ld, a.at[i], d->name, "only one shared zone per server");
			if (colon == NULL || colon == name)
				return lerr(ld, a.at[i], d->name, "expected shared:NAME:SIZE, got \"%s\"", p);
			if (set_zone_name_size(ld, a.at[i], d->name, p, name, (size_t)(colon - name),
			    8 * ld->cf->page_size, &c->shared_name, &c->shared_size) < 0)
				return -1;
			c->mode |= SSL_CACHE_SHARED;
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
