/*
 * Valid network values: listen with every parameter and address form,
 * auth_http in each notation nginx accepts (with or without http://, IPv6
 * literals, unix: sockets, host names resolved at load), and the
 * "name value" lists (auth_http_header, ssl_conf_command).
 */
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <netinet/in.h>

#include "test/unit/config_helpers.h"

TestSuite(config_net, .init = th_setup, .fini = th_teardown);

static const struct listen_conf *
only_listen(const struct config *cf)
{
	cr_assert_eq(cf->nservers, 1);
	cr_assert_eq(cf->servers[0].nlisten, 1);
	return &cf->servers[0].listen[0];
}

Test(config_net, listen_every_parameter)
{
	struct config *cf;

	th_certs();
	LOAD_OK(cf, MAIL_HEAD "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  servers:\n    - protocol: imap\n      listen: \"127.0.0.1:1993 ssl proxy_protocol "
	    "backlog=128 rcvbuf=64k sndbuf=32768 bind so_keepalive=30m::10 multipath reuseport\"\n");
	const struct listen_conf *l = only_listen(cf);
	cr_assert_eq(l->addr.ss_family, AF_INET);
	cr_assert_eq(net_port((const struct sockaddr *)&l->addr), 1993);
	cr_assert_eq(l->ssl, 1);
	cr_assert_eq(l->proxy_protocol, 1);
	cr_assert_eq(l->backlog, 128);
	cr_assert_eq(l->rcvbuf, 65536);
	cr_assert_eq(l->sndbuf, 32768);
	cr_assert_eq(l->bind, 1);
	cr_assert_eq(l->so_keepalive, 1);
	cr_assert_eq(l->keepidle, 1800);
	cr_assert_eq(l->keepintvl, 0);
	cr_assert_eq(l->keepcnt, 10);
	cr_assert_eq(l->multipath, 1);
	cr_assert_eq(l->reuseport, LISTEN_REUSEPORT);
	cr_assert_eq(l->line, 7);
	cr_assert_eq(l->col, 15);
	config_free(cf);
}

Test(config_net, listen_implied_bind_and_keepalive)
{
	static const struct {
		const char *text;
		int bind, keepalive, idle, intvl, cnt, reuseport;
	} cases[] = {
		{ "127.0.0.1:143", 0, -1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 bind", 1, -1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 backlog=5", 1, -1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 rcvbuf=8k", 1, -1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 sndbuf=8k", 1, -1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 multipath", 1, -1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 reuseport", 1, -1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 reuseport=on", 1, -1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 reuseport=cpu", 1, -1, 0, 0, 0, LISTEN_REUSEPORT_CPU },
		{ "127.0.0.1:143 reuseport=off", 0, -1, 0, 0, 0, LISTEN_SHARED },
		{ "127.0.0.1:143 ssl", 0, -1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 proxy_protocol", 0, -1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 so_keepalive=on", 1, 1, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 so_keepalive=off", 1, 0, 0, 0, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 so_keepalive=1m:10s:3", 1, 1, 60, 10, 3, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 so_keepalive=:30s:", 1, 1, 0, 30, 0, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 so_keepalive=::5", 1, 1, 0, 0, 5, LISTEN_REUSEPORT },
		{ "127.0.0.1:143 so_keepalive=2h::", 1, 1, 7200, 0, 0, LISTEN_REUSEPORT },
	};
	char yaml[512];

	th_certs();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cf;
		snprintf(yaml, sizeof(yaml), MAIL_HEAD
		    "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
		    "  servers:\n    - listen: \"%s\"\n", cases[i].text);
		LOAD_OK(cf, yaml);
		const struct listen_conf *l = only_listen(cf);
		cr_assert_eq(l->bind, cases[i].bind, "%s: bind", cases[i].text);
		cr_assert_eq(l->so_keepalive, cases[i].keepalive, "%s: so_keepalive", cases[i].text);
		cr_assert_eq(l->keepidle, cases[i].idle, "%s: idle", cases[i].text);
		cr_assert_eq(l->keepintvl, cases[i].intvl, "%s: intvl", cases[i].text);
		cr_assert_eq(l->keepcnt, cases[i].cnt, "%s: cnt", cases[i].text);
		cr_assert_eq(l->reuseport, cases[i].reuseport, "%s: reuseport", cases[i].text);
		cr_assert_str_eq(l->text, cases[i].text);
		config_free(cf);
	}
}

Test(config_net, listen_addresses)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  servers:\n    - listen: \"[::1]:143\"\n");
	const struct listen_conf *l = only_listen(cf);
	cr_assert_eq(l->addr.ss_family, AF_INET6);
	cr_assert_eq(net_port((const struct sockaddr *)&l->addr), 143);
	cr_assert_eq(l->ipv6only, 1);
	config_free(cf);

	LOAD_OK(cf, MAIL_HEAD "  servers:\n    - listen: \"[::]:143 ipv6only=off\"\n");
	l = only_listen(cf);
	cr_assert_eq(l->addr.ss_family, AF_INET6);
	cr_assert(net_is_wildcard((const struct sockaddr *)&l->addr));
	cr_assert_eq(l->ipv6only, 0);
	cr_assert_eq(l->bind, 1, "ipv6only= implies bind, as in nginx");
	config_free(cf);

	LOAD_OK(cf, MAIL_HEAD "  servers:\n    - listen: \"*:143\"\n");
	l = only_listen(cf);
	cr_assert_eq(l->addr.ss_family, AF_INET);
	cr_assert(net_is_wildcard((const struct sockaddr *)&l->addr));
	cr_assert_eq(net_port((const struct sockaddr *)&l->addr), 143);
	config_free(cf);

	/* Scalar form (rule 4 also allows a single item) and sequence form. */
	LOAD_OK(cf, MAIL_HEAD "  servers:\n    - listen: 143\n"
	    "    - listen: [\"127.0.0.1:110\", \"[::1]:110\", \"127.0.0.2:995\"]\n");
	cr_assert_eq(cf->servers[0].nlisten, 1);
	cr_assert_eq(net_port((const struct sockaddr *)&cf->servers[0].listen[0].addr), 143);
	cr_assert_eq(cf->servers[1].nlisten, 3);
	cr_assert_eq(cf->servers[1].listen[1].addr.ss_family, AF_INET6);
	cr_assert_eq(cf->servers[1].listen[2].line, 5);
	cr_assert_eq(cf->servers[1].listen[2].col, 46);
	cr_assert_eq(cf->servers[1].protocol, MP_PROTO_POP3);
	config_free(cf);

	/* A wildcard and a specific address on the same port are different sockets. */
	LOAD_OK(cf, MAIL_HEAD "  servers:\n    - listen: \"143\"\n    - listen: \"127.0.0.1:143\"\n");
	cr_assert_eq(cf->nservers, 2);
	config_free(cf);
}

Test(config_net, listen_host_name_resolves)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  servers:\n    - listen: \"localhost:1143\"\n      protocol: imap\n");
	cr_assert_geq(cf->servers[0].nlisten, 1);
	for (size_t i = 0; i < cf->servers[0].nlisten; i++) {
		const struct listen_conf *l = &cf->servers[0].listen[i];
		cr_assert(l->addr.ss_family == AF_INET || l->addr.ss_family == AF_INET6);
		cr_assert_eq(net_port((const struct sockaddr *)&l->addr), 1143);
		cr_assert_str_eq(l->text, "localhost:1143");
	}
	config_free(cf);
}

Test(config_net, auth_http_forms)
{
	static const struct {
		const char *url, *host, *uri;
		int family, port;
	} cases[] = {
		{ "127.0.0.1:9000/auth", "127.0.0.1", "/auth", AF_INET, 9000 },
		{ "http://127.0.0.1:9000/mail/auth", "127.0.0.1", "/mail/auth", AF_INET, 9000 },
		{ "HTTP://127.0.0.1/x?y=1", "127.0.0.1", "/x?y=1", AF_INET, 80 },
		{ "127.0.0.1", "127.0.0.1", "/", AF_INET, 80 },
		{ "[::1]:9000/auth", "[::1]", "/auth", AF_INET6, 9000 },
		{ "http://[::1]/auth", "[::1]", "/auth", AF_INET6, 80 },
	};
	char yaml[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cf;
		snprintf(yaml, sizeof(yaml), "mail:\n  auth_http: \"%s\"\n  servers:\n    - listen: \"143\"\n",
		    cases[i].url);
		LOAD_OK(cf, yaml);
		const struct auth_http_url *u = &cf->servers[0].auth_http;
		cr_assert_str_eq(u->url, cases[i].url);
		cr_assert_str_eq(u->host, cases[i].host, "%s", cases[i].url);
		cr_assert_str_eq(u->uri, cases[i].uri, "%s", cases[i].url);
		cr_assert_eq(u->addr.ss_family, cases[i].family, "%s", cases[i].url);
		cr_assert_eq(net_port((const struct sockaddr *)&u->addr), cases[i].port, "%s", cases[i].url);
		config_free(cf);
	}
}

Test(config_net, auth_http_unix)
{
	struct config *cf;

	LOAD_OK(cf, "mail:\n  auth_http: unix:/run/auth.sock:/mail/auth\n"
	    "  servers:\n    - listen: \"143\"\n      auth_http: http://unix:/run/other.sock\n");
	const struct auth_http_url *m = &cf->mail.auth_http, *s = &cf->servers[0].auth_http;
	cr_assert_eq(m->addr.ss_family, AF_UNIX);
	cr_assert_str_eq(((const struct sockaddr_un *)&m->addr)->sun_path, "/run/auth.sock");
	cr_assert_str_eq(m->host, "localhost", "Host for unix: is localhost, as in nginx");
	cr_assert_str_eq(m->uri, "/mail/auth");
	cr_assert_eq(s->addr.ss_family, AF_UNIX);
	cr_assert_str_eq(((const struct sockaddr_un *)&s->addr)->sun_path, "/run/other.sock");
	cr_assert_str_eq(s->uri, "/");
	config_free(cf);
}

Test(config_net, auth_http_host_name_resolves)
{
	struct config *cf;

	LOAD_OK(cf, "mail:\n  auth_http: localhost:9000/auth\n  servers:\n    - listen: \"143\"\n");
	const struct auth_http_url *u = &cf->mail.auth_http;
	cr_assert(u->addr.ss_family == AF_INET || u->addr.ss_family == AF_INET6);
	cr_assert_eq(net_port((const struct sockaddr *)&u->addr), 9000);
	cr_assert_str_eq(u->host, "localhost");
	cr_assert_str_eq(u->uri, "/auth");
	config_free(cf);
}

Test(config_net, name_value_lists)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD
	    "  auth_http_header: {X-Auth-Key: \"secret string\", X-Other: 1}\n"
	    "  ssl_conf_command: {Options: SessionTicket}\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n"
	    "      auth_http_header: [\"X-A one\", \"X-A two  words\"]\n"
	    "      ssl_conf_command: [\"Options SessionTicket\", \"Options -ServerPreference\"]\n"
	    "    - listen: \"25\"\n"
	    "      auth_http_header: \"X-Single value\"\n"
	    "      ssl_conf_command: []\n");
	const struct kvlist *h = &cf->servers[0].auth_http_header;
	cr_assert_eq(h->n, 2);
	cr_assert_str_eq(h->v[0].name, "X-Auth-Key");
	cr_assert_str_eq(h->v[0].value, "secret string");
	cr_assert_str_eq(h->v[1].name, "X-Other");
	cr_assert_str_eq(h->v[1].value, "1");
	cr_assert_eq(cf->servers[0].ssl_conf_command.n, 1);
	cr_assert_str_eq(cf->servers[0].ssl_conf_command.v[0].value, "SessionTicket");

	h = &cf->servers[1].auth_http_header;
	cr_assert_eq(h->n, 2, "a name may repeat in the sequence form");
	cr_assert_str_eq(h->v[0].name, "X-A");
	cr_assert_str_eq(h->v[0].value, "one");
	cr_assert_str_eq(h->v[1].value, "two  words");
	cr_assert_eq(cf->servers[1].ssl_conf_command.n, 2);
	cr_assert_str_eq(cf->servers[1].ssl_conf_command.v[1].value, "-ServerPreference");

	h = &cf->servers[2].auth_http_header;
	cr_assert_eq(h->n, 1);
	cr_assert_str_eq(h->v[0].name, "X-Single");
	cr_assert_str_eq(h->v[0].value, "value");
	cr_assert_eq(cf->servers[2].ssl_conf_command.n, 0);
	config_free(cf);
}
