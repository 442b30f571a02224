/*
 * Cross-field validation, run once the whole file is loaded: what no single
 * directive can know alone. Each error points at the directive (or server)
 * it concerns. Also the nginx-style finishing touches: the protocol from the
 * port, "ssl on" applied to every listen.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "config/config_int.h"
#include "config/config_log.h"

static const struct ynode *
at_pos(struct ynode *tmp, const struct srv_conf *srv, const char *name)
{
	const struct directive *d = directive_find(name);
	size_t idx = directive_index(d);

	memset(tmp, 0, sizeof(*tmp));
	if (srv->pos[idx].line > 0) {
		tmp->line = srv->pos[idx].line;
		tmp->col = srv->pos[idx].col;
	} else {
		tmp->line = srv->line;
		tmp->col = srv->col;
	}
	return tmp;
}

static const struct ynode *
at_listen(struct ynode *tmp, const struct listen_conf *l)
{
	memset(tmp, 0, sizeof(*tmp));
	tmp->line = l->line;
	tmp->col = l->col;
	return tmp;
}

static int
port_protocol(int port)
{
	switch (port) {
	case 143: case 993: return MP_PROTO_IMAP;
	case 110: case 995: return MP_PROTO_POP3;
	case 25: case 465: case 587: return MP_PROTO_SMTP;
	default: return MP_PROTO_NONE;
	}
}

static int
check_readable(struct loader *ld, const struct srv_conf *srv, const char *dname, const char *file)
{
	char path[4096];
	struct ynode tmp;
	struct stat st;

	config_path(ld->cf, file, path, sizeof(path));
	if (access(path, R_OK) < 0 || stat(path, &st) < 0)
		return lerr(ld, at_pos(&tmp, srv, dname), dname, "cannot read \"%s\": %s", path,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return lerr(ld, at_pos(&tmp, srv, dname), dname, "\"%s\" is not a regular file", path);
	return 0;
}

static int
check_tls(struct loader *ld, struct srv_conf *srv, int uses_tls)
{
	struct ynode tmp;

	if (!uses_tls)
		return 0;
	if (srv->ssl_session_ticket_key_store.redis.spec != NULL) {
		if (srv->ssl_session_ticket_key.n > 0)
			return lerr(ld, at_pos(&tmp, srv, "ssl_session_ticket_key_store"),
			    "ssl_session_ticket_key_store", "cannot be used with \"ssl_session_ticket_key\": "
			    "the keys come either from Redis or from files (for a fleet without Redis, "
			    "rotate the files as the README says)");
		if (!(srv->ssl_session_cache.mode & SSL_CACHE_SHARED))
			return lerr(ld, at_pos(&tmp, srv, "ssl_session_ticket_key_store"),
			    "ssl_session_ticket_key_store", "needs \"ssl_session_cache shared:NAME:SIZE\" "
			    "(the workers keep the fetched keys beside that zone)");
	}
	if (srv->ssl_certificate.n == 0) {
		const char *why = srv->starttls != STARTTLS_OFF ? "starttls" : srv->ssl ? "ssl" : "listen";
		return lerr(ld, at_pos(&tmp, srv, why), why,
		    "TLS is enabled but no \"ssl_certificate\" is defined for this server");
	}
	if (srv->ssl_certificate_key.n != srv->ssl_certificate.n)
		return lerr(ld, at_pos(&tmp, srv, srv->ssl_certificate_key.n ? "ssl_certificate_key" :
		    "ssl_certificate"), "ssl_certificate_key",
		    "%zu certificate(s) but %zu key(s); give one key per certificate",
		    srv->ssl_certificate.n, srv->ssl_certificate_key.n);
	for (size_t i = 0; i < srv->ssl_certificate.n; i++)
		if (check_readable(ld, srv, "ssl_certificate", srv->ssl_certificate.v[i]) < 0 ||
		    check_readable(ld, srv, "ssl_certificate_key", srv->ssl_certificate_key.v[i]) < 0)
			return -1;
	if (srv->ssl_password_file && check_readable(ld, srv, "ssl_password_file", srv->ssl_password_file) < 0)
		return -1;
	if (srv->ssl_dhparam && check_readable(ld, srv, "ssl_dhparam", srv->ssl_dhparam) < 0)
		return -1;
	if (srv->ssl_client_certificate &&
	    check_readable(ld, srv, "ssl_client_certificate", srv->ssl_client_certificate) < 0)
		return -1;
	if (srv->ssl_trusted_certificate &&
	    check_readable(ld, srv, "ssl_trusted_certificate", srv->ssl_trusted_certificate) < 0)
		return -1;
	if (srv->ssl_crl && check_readable(ld, srv, "ssl_crl", srv->ssl_crl) < 0)
		return -1;
	if ((srv->ssl_verify_client == VERIFY_ON || srv->ssl_verify_client == VERIFY_OPTIONAL) &&
	    srv->ssl_client_certificate == NULL && srv->ssl_trusted_certificate == NULL)
		return lerr(ld, at_pos(&tmp, srv, "ssl_verify_client"), "ssl_verify_client",
		    "needs \"ssl_client_certificate\" or \"ssl_trusted_certificate\"");
	for (size_t i = 0; i < srv->ssl_session_ticket_key.n; i++) {
		char path[4096];
		struct stat st;
		if (check_readable(ld, srv, "ssl_session_ticket_key", srv->ssl_session_ticket_key.v[i]) < 0)
			return -1;
		config_path(ld->cf, srv->ssl_session_ticket_key.v[i], path, sizeof(path));
		if (stat(path, &st) == 0 && st.st_size != 48 && st.st_size != 80)
			return lerr(ld, at_pos(&tmp, srv, "ssl_session_ticket_key"), "ssl_session_ticket_key",
			    "\"%s\" is %lld bytes; a key file must be 48 or 80 bytes", path,
			    (long long)st.st_size);
	}
	return 0;
}

/*
 * The failed-login rules and the session limits count in the shared zone of
 * login_limit_zone: one of them on without a zone is an error at its line.
 */
static int
check_limits(struct loader *ld, const struct srv_conf *srv)
{
	const struct {
		const char *name;
		int on;
	} uses[] = {
		{ "login_limit_addr", srv->login_limit_addr.interval_us != 0 },
		{ "login_limit_user", srv->login_limit_user.interval_us != 0 },
		{ "login_limit_pair", srv->login_limit_pair.interval_us != 0 },
		{ "limit_sessions_user", srv->limit_sessions_user != 0 },
		{ "limit_sessions_user_addr", srv->limit_sessions_user_addr != 0 },
		{ "login_limit_store", srv->login_limit_store.spec != NULL },
	};
	struct ynode tmp;

	if (srv->login_limit_zone.name != NULL)
		return 0;
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
		if (uses[i].on)
			return lerr(ld, at_pos(&tmp, srv, uses[i].name), uses[i].name,
			    "needs \"login_limit_zone\" (its counters live in that shared zone)");
	return 0;
}

static int
check_server(struct loader *ld, struct srv_conf *srv)
{
	struct ynode tmp;
	int uses_tls;

	if (srv->nlisten == 0) {
		memset(&tmp, 0, sizeof(tmp));
		tmp.line = srv->line;
		tmp.col = srv->col;
		return lerr(ld, &tmp, "servers", "a server needs at least one \"listen\"");
	}
	if (srv->protocol == MP_PROTO_NONE) {
		for (size_t i = 0; i < srv->nlisten; i++) {
			int port = net_port((struct sockaddr *)&srv->listen[i].addr);
			int p = port_protocol(port);
			if (p == MP_PROTO_NONE)
				return lerr(ld, at_listen(&tmp, &srv->listen[i]), "protocol",
				    "not set, and port %d does not imply one (set protocol: imap, pop3 or smtp)",
				    port);
			/* Each port implies one, but not the same one: say so. */
			if (srv->protocol != MP_PROTO_NONE && (int)srv->protocol != p)
				return lerr(ld, at_listen(&tmp, &srv->listen[i]), "protocol",
				    "not set, and ports %d and %d imply different protocols "
				    "(set protocol: imap, pop3 or smtp)",
				    net_port((struct sockaddr *)&srv->listen[0].addr), port);
			srv->protocol = (enum mail_proto)p;
		}
	}
	if (srv->ssl) {
		if (conf_isset(srv->set, directive_index(directive_find("ssl"))))
			lwarn(ld, at_pos(&tmp, srv, "ssl"), "ssl",
			    "the \"ssl\" directive is deprecated, use \"listen ... ssl\" instead");
		for (size_t i = 0; i < srv->nlisten; i++)
			srv->listen[i].ssl = 1;
	}
	if (srv->auth_http.url == NULL)
		return lerr(ld, at_pos(&tmp, srv, "auth_http"), "auth_http",
		    "no \"auth_http\" is defined for this server (or for \"mail\")");
	uses_tls = srv->starttls != STARTTLS_OFF;
	for (size_t i = 0; i < srv->nlisten; i++)
		if (srv->listen[i].ssl)
			uses_tls = 1;
	if (check_tls(ld, srv, uses_tls) < 0 || check_limits(ld, srv) < 0)
		return -1;
	if (srv->protocol != MP_PROTO_SMTP && (srv->smtp_auth & AUTHM_NONE) &&
	    conf_isset(srv->set, directive_index(directive_find("smtp_auth"))))
		lwarn(ld, at_pos(&tmp, srv, "smtp_auth"), "smtp_auth",
		    "\"none\" only matters for SMTP servers");
	return 0;
}

/*
 * The two cross-server checks below sort references instead of comparing
 * every pair of servers: a generated configuration may hold tens of
 * thousands of servers, and the pairwise loops took 17 s for 50,000.
 * Ties sort by server order, so the error names the same pair the pairwise
 * scan would: the earliest server that repeats something, and the first
 * server that had it.
 */
struct lref {
	const struct listen_conf *l;
	size_t srv, idx;
};

static int
lref_cmp(const void *pa, const void *pb)
{
	const struct lref *a = pa, *b = pb;
	const struct sockaddr *x = (const struct sockaddr *)&a->l->addr;
	const struct sockaddr *y = (const struct sockaddr *)&b->l->addr;
	int c = 0;

	if (x->sa_family != y->sa_family)
		return x->sa_family < y->sa_family ? -1 : 1;
	if (net_port(x) != net_port(y))
		return net_port(x) < net_port(y) ? -1 : 1;
	if (x->sa_family == AF_INET)
		c = memcmp(&((const struct sockaddr_in *)x)->sin_addr,
		    &((const struct sockaddr_in *)y)->sin_addr, sizeof(struct in_addr));
	else if (x->sa_family == AF_INET6)
		c = memcmp(&((const struct sockaddr_in6 *)x)->sin6_addr,
		    &((const struct sockaddr_in6 *)y)->sin6_addr, sizeof(struct in6_addr));
	if (c != 0)
		return c;
	if (a->srv != b->srv)
		return a->srv < b->srv ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int
lref_before(const struct lref *a, const struct lref *b)
{
	return a->srv < b->srv || (a->srv == b->srv && a->idx < b->idx);
}

static int
server_uses_tls(const struct srv_conf *srv, const struct listen_conf *l)
{
	return l->ssl || srv->starttls != STARTTLS_OFF;
}

static int
names_overlap(const struct srv_conf *a, const struct srv_conf *b, const char **name)
{
	for (size_t i = 0; i < a->server_name.n; i++)
		for (size_t j = 0; j < b->server_name.n; j++)
			if (strcmp(a->server_name.v[i], b->server_name.v[j]) == 0 &&
			    strcmp(a->server_name.v[i], "_") != 0) {
				*name = a->server_name.v[i];
				return 1;
			}
	return 0;
}

/*
 * Servers may share one address:port (nginx's mail module refuses it) when
 * the client's TLS SNI can tell them apart: same protocol and listen flags,
 * TLS on every one of them, and no server name claimed twice. Returns NULL
 * when the group [s, e) is fine, else why not, with *at the listen to blame
 * and *with the earlier one it clashes with.
 */
static const char *
sni_group_problem(const struct config *cf, const struct lref *v, size_t s, size_t e,
    const char **name, size_t *at, size_t *with)
{
	const struct srv_conf *first = &cf->servers[v[s].srv];

	/* A problem with the first listen itself is reported at the second. */
	*at = s + 1;
	*with = s;
	for (size_t i = s; i < e; i++) {
		const struct srv_conf *srv = &cf->servers[v[i].srv];
		if (i > s)
			*at = i;
		if (srv->protocol != first->protocol)
			return "servers sharing an address must speak the same protocol";
		if (!server_uses_tls(srv, v[i].l))
			return "servers may share an address only with TLS, told apart by SNI";
		if (v[i].l->ssl != v[s].l->ssl || v[i].l->proxy_protocol != v[s].l->proxy_protocol)
			return "servers sharing an address need the same ssl and proxy_protocol parameters";
		for (size_t j = s; j < i; j++)
			if (names_overlap(&cf->servers[v[j].srv], srv, name)) {
				*with = j;
				return "a server name is claimed twice";
			}
	}
	return NULL;
}

/* The same address:port in two servers is refused, as in nginx, unless SNI tells them apart. */
static int
check_listen_pairs(struct loader *ld)
{
	struct config *cf = ld->cf;
	const struct lref *dup = NULL, *first = NULL;
	const char *why = NULL, *name = NULL;
	struct lref *v;
	struct ynode tmp;
	size_t n = 0, k = 0;

	for (size_t i = 0; i < cf->nservers; i++)
		n += cf->servers[i].nlisten;
	if (n < 2)
		return 0;
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < cf->nservers; i++)
		for (size_t a = 0; a < cf->servers[i].nlisten; a++)
			v[k++] = (struct lref){ &cf->servers[i].listen[a], i, a };
	qsort(v, n, sizeof(*v), lref_cmp);
	/* Within a server duplicates were refused already, so v[s + 1] is in a later server. */
	for (size_t s = 0, e; s < n; s = e) {
		const char *w, *nm = NULL;
		size_t at, with;
		for (e = s + 1; e < n && net_addr_equal((const struct sockaddr *)&v[s].l->addr,
		    (const struct sockaddr *)&v[e].l->addr); e++)
			;
		if (e == s + 1 || (w = sni_group_problem(cf, v, s, e, &nm, &at, &with)) == NULL)
			continue;
		if (dup == NULL || lref_before(&v[at], dup)) {
			dup = &v[at];
			first = &v[with];
			why = w;
			name = nm;
		}
	}
	if (dup != NULL) {
		char addr[NET_ADDRSTRLEN];
		net_ntop_port((const struct sockaddr *)&dup->l->addr, addr, sizeof(addr));
		if (name != NULL)
			lerr(ld, at_listen(&tmp, dup->l), "listen",
			    "server name \"%s\" is used by two servers on \"%s\" (first at line %d)",
			    name, addr, first->l->line);
		else
			lerr(ld, at_listen(&tmp, dup->l), "listen",
			    "duplicate address and port pair \"%s\" (first at line %d; %s)", addr,
			    first->l->line, why);
	}
	free(v);
	return dup != NULL ? -1 : 0;
}

/* A shared zone a server names: its TLS session cache or its login-limit counters. */
struct zref {
	const char *name;
	size_t size;
	size_t srv;
	int kind;		/* 0 ssl_session_cache, 1 login_limit_zone, 2 auth_http_cache */
	const char *dname;	/* the directive naming it */
};

static int
zref_cmp(const void *pa, const void *pb)
{
	const struct zref *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	if (a->srv != b->srv)
		return a->srv < b->srv ? -1 : 1;
	return a->kind - b->kind;
}

static int
same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The same ssl_session_ticket_key_store (both off, or the same settings)? */
static int
same_ticket_store(const struct ticket_store_conf *a, const struct ticket_store_conf *b)
{
	return same_str(a->redis.spec, b->redis.spec) && (a->redis.spec == NULL ||
	    (a->redis.db == b->redis.db && a->redis.timeout == b->redis.timeout &&
	    a->period == b->period && same_str(a->redis.user, b->redis.user) &&
	    same_str(a->redis.password, b->redis.password) &&
	    same_str(a->redis.prefix, b->redis.prefix)));
}

/*
 * Servers naming the same shared zone must agree on its size (and on its
 * use: a TLS session cache and login-limit counters cannot share a zone,
 * as nginx refuses a zone "already declared for a different use").
 */
static int
check_zones(struct loader *ld)
{
	struct config *cf = ld->cf;
	const struct zref *bad = NULL, *first = NULL;
	struct zref *v;
	struct ynode tmp;
	size_t n = 0;

	v = xcalloc(3 * (cf->nservers ? cf->nservers : 1), sizeof(*v));
	for (size_t i = 0; i < cf->nservers; i++) {
		const struct srv_conf *srv = &cf->servers[i];
		if (srv->ssl_session_cache.mode & SSL_CACHE_SHARED)
			v[n++] = (struct zref){ srv->ssl_session_cache.shared_name,
			    srv->ssl_session_cache.shared_size, i, 0, "ssl_session_cache" };
		if (srv->login_limit_zone.name != NULL)
			v[n++] = (struct zref){ srv->login_limit_zone.name, srv->login_limit_zone.size, i,
			    1, "login_limit_zone" };
		if (srv->auth_http_cache.name != NULL)
			v[n++] = (struct zref){ srv->auth_http_cache.name, srv->auth_http_cache.size, i,
			    2, "auth_http_cache" };
	}
	qsort(v, n, sizeof(*v), zref_cmp);
	/* Per name, the first server to differ from the first declaration. */
	for (size_t s = 0, e; s < n; s = e) {
		for (e = s + 1; e < n && strcmp(v[s].name, v[e].name) == 0; e++)
			if ((v[e].size != v[s].size || v[e].kind != v[s].kind) &&
			    (bad == NULL || v[e].srv < bad->srv)) {
				bad = &v[e];
				first = &v[s];
			}
	}
	/* The servers of one session cache share its ticket keys, so their source too. */
	for (size_t s = 0, e; bad == NULL && s < n; s = e)
		for (e = s + 1; e < n && strcmp(v[s].name, v[e].name) == 0; e++)
			if (bad == NULL && v[s].kind == 0 && v[e].kind == 0 &&
			    !same_ticket_store(&cf->servers[v[s].srv].ssl_session_ticket_key_store,
			    &cf->servers[v[e].srv].ssl_session_ticket_key_store)) {
				const struct srv_conf *srv = &cf->servers[v[e].srv];
				const char *d = conf_isset(srv->set, directive_index(directive_find(
				    "ssl_session_ticket_key_store"))) ? "ssl_session_ticket_key_store" :
				    "ssl_session_cache";
				free(v);
				return lerr(ld, at_pos(&tmp, srv, d), d, "zone \"%s\" is shared with a server "
				    "that has another \"ssl_session_ticket_key_store\" (the servers of one "
				    "session cache share its ticket keys)", srv->ssl_session_cache.shared_name);
			}
	if (bad != NULL && bad->kind != first->kind)
		lerr(ld, at_pos(&tmp, &cf->servers[bad->srv], bad->dname), bad->dname,
		    "zone \"%s\" is already used by \"%s\" (a shared zone serves one directive)",
		    bad->name, first->dname);
	else if (bad != NULL)
		lerr(ld, at_pos(&tmp, &cf->servers[bad->srv], bad->dname), bad->dname,
		    "zone \"%s\" is declared with two sizes (%zu and %zu bytes)",
		    bad->name, first->size, bad->size);
	free(v);
	return bad != NULL ? -1 : 0;
}

int
config_check(struct loader *ld)
{
	struct config *cf = ld->cf;

	if (cf->main.worker_connections < 2) {
		const struct conf_pos *p = &cf->main.pos[directive_index(directive_find("worker_connections"))];
		struct ynode tmp = { .line = p->line, .col = p->col };
		return lerr(ld, &tmp, "worker_connections", "must be at least 2 (a session uses two)");
	}
	/* Servers inherit "ssl" without it in their own set: warn for the mail level here. */
	if (cf->has_mail && conf_isset(cf->mail.set, directive_index(directive_find("ssl")))) {
		struct ynode tmp;
		lwarn(ld, at_pos(&tmp, &cf->mail, "ssl"), "ssl",
		    "the \"ssl\" directive is deprecated, use \"listen ... ssl\" instead");
	}
	for (size_t i = 0; i < cf->nservers; i++)
		if (check_server(ld, &cf->servers[i]) < 0)
			return -1;
	if (check_listen_pairs(ld) < 0 || check_zones(ld) < 0 || config_log_check(ld) < 0)
		return -1;
	return 0;
}
