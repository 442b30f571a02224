/*
 * Defaults: a minimal configuration must come out with nginx's default for
 * every directive (the nginx-mail reference, section 1, and nginx's core
 * module), mail-level values must reach servers unless a server overrides
 * them, and the protocol must follow from the standard ports.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cpu.h"
#include "common/log.h"
#include "test/unit/config_helpers.h"

TestSuite(config_defaults, .init = th_setup, .fini = th_teardown);

static size_t
page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

static void
assert_strlist(const struct strlist *l, const char *const *want, size_t n)
{
	cr_assert_eq(l->n, n, "expected %zu values, got %zu", n, l->n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(l->v[i], want[i]);
}

/* Every directive of "mail"/"server" context at its nginx default. */
static void
assert_srv_defaults(const struct srv_conf *s)
{
	static const char *const imap_caps[] = { "IMAP4", "IMAP4rev1", "UIDPLUS" };
	static const char *const pop3_caps[] = { "TOP", "USER", "UIDL" };
	char host[256];

	/* core */
	cr_assert_eq(s->timeout, 60000);
	cr_assert_eq(gethostname(host, sizeof(host) - 1), 0);
	host[sizeof(host) - 1] = '\0';
	/* nginx lowercases the host name it uses (ngx_init_cycle). */
	for (char *p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	cr_assert_eq(s->server_name.n, 1);
	cr_assert_str_eq(s->server_name.v[0], host);
	cr_assert_eq(s->resolver.n, 0, "resolver defaults to off");
	cr_assert_eq(s->resolver_timeout, 30000);
	cr_assert_eq(s->max_errors, 5);
	cr_assert_eq(s->max_commands, 1000, "freenginx's default");

	/* auth_http */
	cr_assert_eq(s->auth_http_header.n, 0);
	cr_assert_eq(s->auth_http_timeout, 60000);
	cr_assert_eq(s->auth_http_pass_client_cert, 0);

	/* proxy */
	cr_assert_eq(s->proxy, 0);
	cr_assert_eq(s->proxy_buffer, page_size());
	cr_assert_eq(s->proxy_timeout, 24ULL * 3600 * 1000);
	cr_assert_eq(s->proxy_pass_error_message, 0);
	cr_assert_eq(s->xclient, 1);
	cr_assert_eq(s->proxy_smtp_auth, 0);
	cr_assert_eq(s->proxy_protocol, PP_OFF);
	cr_assert_eq(s->so_keepalive, 0);

	/* imap, pop3, smtp */
	cr_assert_eq(s->imap_client_buffer, page_size());
	assert_strlist(&s->imap_capabilities, imap_caps, 3);
	cr_assert_eq(s->imap_auth, AUTHM_PLAIN);
	assert_strlist(&s->pop3_capabilities, pop3_caps, 3);
	cr_assert_eq(s->pop3_auth, AUTHM_PLAIN);
	cr_assert_eq(s->smtp_client_buffer, page_size());
	cr_assert_eq(s->smtp_greeting_delay, 0);
	cr_assert_eq(s->smtp_capabilities.n, 0);
	cr_assert_eq(s->smtp_auth, AUTHM_LOGIN | AUTHM_PLAIN);

	/* realip */
	cr_assert_eq(s->set_real_ip_from.n, 0);

	/* ssl */
	cr_assert_eq(s->ssl, 0);
	cr_assert_eq(s->starttls, STARTTLS_OFF);
	cr_assert_eq(s->ssl_certificate.n, 0);
	cr_assert_eq(s->ssl_certificate_key.n, 0);
	cr_assert_null(s->ssl_password_file);
	cr_assert_eq(s->ssl_certificate_compression, 0);
	cr_assert_null(s->ssl_dhparam);
	cr_assert_str_eq(s->ssl_ecdh_curve, "auto");
	cr_assert_eq(s->ssl_protocols, SSLP_TLSv1_2 | SSLP_TLSv1_3);
	cr_assert_str_eq(s->ssl_ciphers, "HIGH:!aNULL:!MD5");
	cr_assert_eq(s->ssl_prefer_server_ciphers, 0);
	cr_assert_eq(s->ssl_session_cache.mode, SSL_CACHE_NONE);
	cr_assert_null(s->ssl_session_cache.shared_name);
	cr_assert_eq(s->ssl_session_tickets, 1);
	cr_assert_eq(s->ssl_session_ticket_key.n, 0);
	cr_assert_eq(s->ssl_session_timeout, 5 * 60 * 1000);
	cr_assert_eq(s->ssl_verify_client, VERIFY_OFF);
	cr_assert_eq(s->ssl_verify_depth, 1);
	cr_assert_null(s->ssl_client_certificate);
	cr_assert_null(s->ssl_trusted_certificate);
	cr_assert_null(s->ssl_crl);
	cr_assert_eq(s->ssl_conf_command.n, 0);

	/* error_log: inherited from main */
	cr_assert_eq(s->error_log.n, 1);
	cr_assert_str_eq(s->error_log.v[0].target, "logs/error.log");
	cr_assert_eq(s->error_log.v[0].level, LL_ERR);
}

Test(config_defaults, main_and_events)
{
	struct config *cf;

	LOAD_OK(cf, MINIMAL);
	const struct main_conf *m = &cf->main;
	cr_assert_str_eq(m->user, "nobody");
	cr_assert_str_eq(m->group, "nogroup");
	cr_assert_eq(m->worker_processes, 1);
	cr_assert_eq(m->worker_processes_auto, 0);
	cr_assert_eq(m->worker_rlimit_nofile, 0, "unset: the limit is left alone");
	cr_assert_eq(m->worker_shutdown_timeout, 0, "unset: no bound, as in nginx");
	cr_assert_str_eq(m->pid, "logs/mailproxy.pid");
	cr_assert_eq(m->daemon, 1);
	cr_assert_eq(m->master_process, 1);
	cr_assert_eq(m->worker_connections, 512);
	cr_assert_eq(m->multi_accept, 0);
	cr_assert_eq(m->error_log.n, 1);
	cr_assert_str_eq(m->error_log.v[0].target, "logs/error.log");
	cr_assert_eq(m->error_log.v[0].level, LL_ERR);
	cr_assert_eq(cf->page_size, page_size());
	cr_assert_eq(cf->has_mail, 1);
	cr_assert_eq(cf->warnings.n, 0);
	cr_assert_str_eq(cf->prefix, th_dir());
	config_free(cf);
}

Test(config_defaults, mail_level)
{
	struct config *cf;

	LOAD_OK(cf, MINIMAL);
	assert_srv_defaults(&cf->mail);
	cr_assert_str_eq(cf->mail.auth_http.url, "127.0.0.1:9000/auth");
	config_free(cf);
}

Test(config_defaults, server_level)
{
	struct config *cf;

	LOAD_OK(cf, MINIMAL);
	cr_assert_eq(cf->nservers, 1);
	const struct srv_conf *s = &cf->servers[0];
	assert_srv_defaults(s);
	cr_assert_str_eq(s->auth_http.url, "127.0.0.1:9000/auth");
	cr_assert_str_eq(s->auth_http.host, "127.0.0.1");
	cr_assert_str_eq(s->auth_http.uri, "/auth");
	cr_assert_eq(s->protocol, MP_PROTO_IMAP, "143 implies imap");
	cr_assert_eq(s->line, 4);
	cr_assert_eq(s->col, 7);
	config_free(cf);
}

Test(config_defaults, listen_parameters)
{
	struct config *cf;

	LOAD_OK(cf, MINIMAL);
	const struct listen_conf *l = &cf->servers[0].listen[0];
	cr_assert_eq(cf->servers[0].nlisten, 1);
	cr_assert_eq(l->addr.ss_family, AF_INET);
	cr_assert(net_is_wildcard((const struct sockaddr *)&l->addr));
	cr_assert_eq(net_port((const struct sockaddr *)&l->addr), 143);
	cr_assert_str_eq(l->text, "143");
	cr_assert_eq(l->line, 4);
	cr_assert_eq(l->col, 15);
	cr_assert_eq(l->ssl, 0);
	cr_assert_eq(l->proxy_protocol, 0);
	cr_assert_eq(l->bind, 0);
	cr_assert_eq(l->reuseport, LISTEN_REUSEPORT, "a socket per worker unless reuseport=off");
	cr_assert_eq(l->multipath, 0);
	cr_assert_eq(l->backlog, 511, "nginx's NGX_LISTEN_BACKLOG on Linux");
	cr_assert_eq(l->rcvbuf, 0);
	cr_assert_eq(l->sndbuf, 0);
	cr_assert_eq(l->ipv6only, 1);
	cr_assert_eq(l->so_keepalive, -1, "unset: the system default");
	config_free(cf);
}

/*
 * max_commands (freenginx, not nginx): mail and server level like
 * max_errors, 0 kept (freenginx refuses the first command then; it is not
 * "unlimited"), and a bad value refused at its position.
 */
Test(config_defaults, max_commands_values)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  max_commands: 20\n  servers:\n    - listen: \"143\"\n"
	    "    - listen: \"110\"\n      max_commands: 0\n");
	cr_assert_eq(cf->mail.max_commands, 20);
	cr_assert_eq(cf->servers[0].max_commands, 20, "inherited from mail");
	cr_assert_eq(cf->servers[1].max_commands, 0);
	config_free(cf);
	LOAD_OK(cf, SRV("      max_commands: 1000000\n"));
	cr_assert_eq(cf->servers[0].max_commands, 1000000);
	config_free(cf);

	EXPECT_ERR(SRV("      max_commands: 1000001\n"),
	    "t.yaml:5:21: \"max_commands\": 1000001 is out of range (0 to 1000000)");
	EXPECT_ERR(SRV("      max_commands: -1\n"),
	    "t.yaml:5:21: \"max_commands\": expected a number, got \"-1\"");
	EXPECT_ERR(MAILV("  max_commands: 1k\n"),
	    "t.yaml:3:17: \"max_commands\": expected a number, got \"1k\"");
	EXPECT_ERR(SRV("      max_commands: off\n"),
	    "t.yaml:5:21: \"max_commands\": expected a number, got \"off\"");
	EXPECT_ERR(SRV("      max_commands: [1, 2]\n"),
	    "t.yaml:5:21: \"max_commands\": expected a single value, got a sequence");
}

/* "mail:" alone, with no servers, is a valid (idle) configuration. */
Test(config_defaults, no_mail_block)
{
	struct config *cf;

	LOAD_OK(cf, "daemon: off\n");
	cr_assert_eq(cf->has_mail, 0);
	cr_assert_eq(cf->nservers, 0);
	cr_assert_eq(cf->main.daemon, 0);
	assert_srv_defaults(&cf->mail);
	cr_assert_null(cf->mail.auth_http.url);
	config_free(cf);
}

Test(config_defaults, worker_processes_auto)
{
	struct config *cf;
	struct cpu_mask m;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	LOAD_OK(cf, "worker_processes: auto\n");
	cr_assert_eq(cf->main.worker_processes_auto, 1);
	cr_assert_eq(cf->main.worker_processes, (int)cpu_usable());
	/* The CPUs this process may run on, not all those online. */
	cr_assert(cpu_allowed(&m) == 0);
	cr_assert_leq(cf->main.worker_processes, (int)cpu_mask_count(&m));
	cr_assert_leq(cf->main.worker_processes, n > 0 ? (int)n : 1);
	cr_assert_geq(cf->main.worker_processes, 1);
	config_free(cf);
}

Test(config_defaults, mail_value_reaches_servers)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD
	    "  timeout: 5s\n"
	    "  imap_capabilities: [IMAP4rev1]\n"
	    "  auth_http_header: {X-Key: k}\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n"
	    "      timeout: 7s\n"
	    "      imap_capabilities: [IMAP4rev1, IDLE]\n");
	cr_assert_eq(cf->nservers, 2);
	cr_assert_eq(cf->mail.timeout, 5000);
	cr_assert_eq(cf->servers[0].timeout, 5000, "inherited from mail");
	cr_assert_eq(cf->servers[1].timeout, 7000, "the server's own value wins");
	cr_assert_eq(cf->servers[0].imap_capabilities.n, 1);
	cr_assert_eq(cf->servers[1].imap_capabilities.n, 2);
	cr_assert_str_eq(cf->servers[1].imap_capabilities.v[1], "IDLE");
	cr_assert_eq(cf->servers[1].auth_http_header.n, 1);
	cr_assert_str_eq(cf->servers[1].auth_http_header.v[0].name, "X-Key");
	/* Untouched directives keep the default in both. */
	cr_assert_eq(cf->servers[0].proxy_timeout, 86400000);
	cr_assert_eq(cf->servers[1].proxy_timeout, 86400000);
	/* Nothing a server sets leaks back to the mail level. */
	cr_assert_eq(cf->mail.imap_capabilities.n, 1);
	config_free(cf);
}

Test(config_defaults, server_auth_http_overrides_mail)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "      auth_http: http://127.0.0.2:8080/other\n"
	    "    - listen: \"110\"\n");
	cr_assert_str_eq(cf->servers[0].auth_http.uri, "/other");
	cr_assert_eq(net_port((const struct sockaddr *)&cf->servers[0].auth_http.addr), 8080);
	cr_assert_str_eq(cf->servers[1].auth_http.uri, "/auth");
	cr_assert_eq(net_port((const struct sockaddr *)&cf->servers[1].auth_http.addr), 9000);
	config_free(cf);
}

/* auth_http only in a server is enough for that server (nginx merges per server). */
Test(config_defaults, auth_http_in_server_only)
{
	struct config *cf;

	LOAD_OK(cf, "mail:\n  servers:\n    - listen: \"143\"\n      auth_http: 127.0.0.1\n");
	cr_assert_null(cf->mail.auth_http.url);
	cr_assert_str_eq(cf->servers[0].auth_http.uri, "/");
	cr_assert_eq(net_port((const struct sockaddr *)&cf->servers[0].auth_http.addr), 80);
	config_free(cf);
}

Test(config_defaults, error_log_main_mail_server)
{
	struct config *cf;

	/* main only: mail and every server inherit it */
	LOAD_OK(cf, "error_log: logs/main.log info\n" MINIMAL);
	cr_assert_str_eq(cf->mail.error_log.v[0].target, "logs/main.log");
	cr_assert_eq(cf->mail.error_log.v[0].level, LL_INFO);
	cr_assert_str_eq(cf->servers[0].error_log.v[0].target, "logs/main.log");
	config_free(cf);

	/* main and mail: servers take the mail one, main keeps its own */
	LOAD_OK(cf, "error_log: logs/main.log info\n"
	    MAIL_HEAD
	    "  error_log: logs/mail.log warn\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n"
	    "      error_log: [stderr debug, logs/pop3.log]\n");
	cr_assert_str_eq(cf->main.error_log.v[0].target, "logs/main.log");
	cr_assert_str_eq(cf->mail.error_log.v[0].target, "logs/mail.log");
	cr_assert_eq(cf->mail.error_log.v[0].level, LL_WARN);
	cr_assert_str_eq(cf->servers[0].error_log.v[0].target, "logs/mail.log");
	cr_assert_eq(cf->servers[1].error_log.n, 2);
	cr_assert_str_eq(cf->servers[1].error_log.v[0].target, "stderr");
	cr_assert_eq(cf->servers[1].error_log.v[0].level, LL_DEBUG);
	cr_assert_str_eq(cf->servers[1].error_log.v[1].target, "logs/pop3.log");
	cr_assert_eq(cf->servers[1].error_log.v[1].level, LL_ERR, "level defaults to error");
	config_free(cf);

	/* error_log written after mail: in the file still reaches mail */
	LOAD_OK(cf, MINIMAL "error_log: stderr\n");
	cr_assert_str_eq(cf->servers[0].error_log.v[0].target, "stderr");
	config_free(cf);
}

Test(config_defaults, protocol_from_port)
{
	static const struct {
		const char *port;
		enum mail_proto proto;
	} cases[] = {
		{ "143", MP_PROTO_IMAP }, { "993", MP_PROTO_IMAP },
		{ "110", MP_PROTO_POP3 }, { "995", MP_PROTO_POP3 },
		{ "25", MP_PROTO_SMTP }, { "465", MP_PROTO_SMTP }, { "587", MP_PROTO_SMTP },
	};
	char yaml[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cf;
		snprintf(yaml, sizeof(yaml), MAIL_HEAD "  servers:\n    - listen: \"127.0.0.1:%s\"\n",
		    cases[i].port);
		LOAD_OK(cf, yaml);
		cr_assert_eq(cf->servers[0].protocol, cases[i].proto, "port %s", cases[i].port);
		config_free(cf);
	}
}

Test(config_defaults, protocol_explicit_wins)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  servers:\n    - listen: \"143\"\n      protocol: smtp\n"
	    "    - listen: \"2525\"\n      protocol: SMTP\n");
	cr_assert_eq(cf->servers[0].protocol, MP_PROTO_SMTP);
	cr_assert_eq(cf->servers[1].protocol, MP_PROTO_SMTP, "enum names are case-insensitive");
	cr_assert_str_eq(config_proto_name(cf->servers[0].protocol), "smtp");
	config_free(cf);
}

Test(config_defaults, protocol_from_several_listens)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  servers:\n    - listen: [\"110\", \"995\"]\n");
	cr_assert_eq(cf->servers[0].protocol, MP_PROTO_POP3);
	config_free(cf);
}

Test(config_defaults, prefix_paths)
{
	struct config *cf;
	char buf[4096], want[4096];

	LOAD_OK(cf, MINIMAL);
	snprintf(want, sizeof(want), "%s/logs/x.log", th_dir());
	cr_assert_str_eq(config_path(cf, "logs/x.log", buf, sizeof(buf)), want);
	cr_assert_str_eq(config_path(cf, "/abs/x.log", buf, sizeof(buf)), "/abs/x.log");
	config_free(cf);
}

/* Without a prefix, relative paths are relative to the working directory. */
Test(config_defaults, no_prefix)
{
	struct config *cf;
	char buf[4096];

	th_certs();
	th_write("t.yaml", MAIL_HEAD "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  servers:\n    - listen: \"993 ssl\"\n", -1);
	cf = th_load_file("t.yaml", NULL, NULL);
	cr_assert_not_null(cf, "%s", th_err());
	cr_assert_null(cf->prefix);
	cr_assert_str_eq(config_path(cf, "logs/x.log", buf, sizeof(buf)), "logs/x.log");
	config_free(cf);
}
