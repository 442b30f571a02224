/*
 * Valid values: every directive of the table is accepted in each context it
 * belongs to, in the notations CONFIG.md promises (scalar and sequence forms,
 * flags, nginx times and sizes), and each lands in struct config with the
 * meaning nginx gives it. The sample list is checked against the generated
 * reference, so a directive added to the table without a case here fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <netinet/in.h>

#include "common/buf.h"
#include "common/log.h"
#include "test/unit/config_helpers.h"

TestSuite(config_values, .init = th_setup, .fini = th_teardown);


#define CTXM 1	/* main */
#define CTXE 2	/* events */
#define CTXMS 4	/* mail and server */
#define CTXS 8	/* server only */

/* One valid value per directive, in the notation a user would write. */
static const struct sample {
	const char *name;
	const char *value;
	int ctx;
} samples[] = {
	{ "user", "www-data www-data", CTXM },
	{ "worker_processes", "2", CTXM },
	{ "worker_rlimit_nofile", "4096", CTXM },
	{ "worker_shutdown_timeout", "10s", CTXM },
	{ "error_log", "logs/e.log info", CTXM | CTXMS },
	{ "pid", "run/mp.pid", CTXM },
	{ "daemon", "off", CTXM },
	{ "master_process", "off", CTXM },
	{ "worker_connections", "1024", CTXE },
	{ "multi_accept", "on", CTXE },
	{ "listen", "\"127.0.0.1:1143\"", CTXS },
	{ "protocol", "imap", CTXS },
	{ "timeout", "30s", CTXMS },
	{ "server_name", "mail.example.com", CTXMS },
	{ "resolver", "127.0.0.1", CTXMS },
	{ "resolver_timeout", "5s", CTXMS },
	{ "max_errors", "3", CTXMS },
	{ "auth_http", "http://127.0.0.1:9001/a", CTXMS },
	{ "auth_http_header", "{X-Auth-Key: secret}", CTXMS },
	{ "auth_http_timeout", "5s", CTXMS },
	{ "auth_http_pass_client_cert", "on", CTXMS },
	{ "proxy", "on", CTXMS },
	{ "proxy_buffer", "16k", CTXMS },
	{ "proxy_timeout", "1h", CTXMS },
	{ "proxy_pass_error_message", "on", CTXMS },
	{ "xclient", "off", CTXMS },
	{ "proxy_smtp_auth", "on", CTXMS },
	{ "proxy_protocol", "on", CTXMS },
	{ "so_keepalive", "on", CTXMS },
	{ "imap_client_buffer", "8k", CTXMS },
	{ "imap_capabilities", "[IMAP4rev1, IDLE]", CTXMS },
	{ "imap_auth", "[plain, login]", CTXMS },
	{ "pop3_capabilities", "TOP USER", CTXMS },
	{ "pop3_auth", "plain apop", CTXMS },
	{ "smtp_client_buffer", "8k", CTXMS },
	{ "smtp_greeting_delay", "1s", CTXMS },
	{ "smtp_capabilities", "[\"SIZE 10485760\", VRFY]", CTXMS },
	{ "smtp_auth", "[login, plain, cram-md5]", CTXMS },
	{ "set_real_ip_from", "10.0.0.0/8", CTXMS },
	{ "ssl", "off", CTXMS },
	{ "starttls", "off", CTXMS },
	{ "ssl_certificate", "cert.pem", CTXMS },
	{ "ssl_certificate_key", "cert.key", CTXMS },
	{ "ssl_password_file", "pass.txt", CTXMS },
	{ "ssl_certificate_compression", "on", CTXMS },
	{ "ssl_dhparam", "dh.pem", CTXMS },
	{ "ssl_ecdh_curve", "X25519:prime256v1", CTXMS },
	{ "ssl_protocols", "TLSv1.3", CTXMS },
	{ "ssl_ciphers", "ECDHE+AESGCM", CTXMS },
	{ "ssl_prefer_server_ciphers", "on", CTXMS },
	{ "ssl_session_cache", "\"builtin:1000 shared:MAIL:10m\"", CTXMS },
	{ "ssl_session_tickets", "off", CTXMS },
	{ "ssl_session_ticket_key", "ticket.key", CTXMS },
	{ "ssl_session_timeout", "10m", CTXMS },
	{ "ssl_verify_client", "optional_no_ca", CTXMS },
	{ "ssl_verify_depth", "2", CTXMS },
	{ "ssl_client_certificate", "ca.pem", CTXMS },
	{ "ssl_trusted_certificate", "ca.pem", CTXMS },
	{ "ssl_crl", "crl.pem", CTXMS },
	{ "ssl_conf_command", "[\"Options SessionTicket\", \"Options -ServerPreference\"]", CTXMS },
};

#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

static const struct sample *
sample_find(const char *name)
{
	for (size_t i = 0; i < NSAMPLES; i++)
		if (strcmp(samples[i].name, name) == 0)
			return &samples[i];
	return NULL;
}

/* The directive names of the table, from the generated reference rows "| `name` |". */
static size_t
table_names(char names[][64], size_t max)
{
	struct buf b = { 0 };
	size_t n = 0;

	config_reference(&b);
	buf_append(&b, "", 1);
	for (const char *p = b.data; (p = strstr(p, "\n| `")) != NULL && n < max; p++) {
		const char *s = p + 4, *e = strchr(s, '`');
		cr_assert_not_null(e);
		cr_assert_lt((size_t)(e - s), (size_t)64);
		memcpy(names[n], s, (size_t)(e - s));
		names[n][e - s] = '\0';
		n++;
	}
	buf_release(&b);
	return n;
}

Test(config_values, every_table_directive_has_a_sample)
{
	char names[200][64];
	size_t n = table_names(names, 200);

	cr_assert_gt(n, 50);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "auth") == 0)
			continue;	/* renamed: refused, see test_config_errors.c */
		cr_assert_not_null(sample_find(names[i]),
		    "directive \"%s\" has no valid-value case in samples[]", names[i]);
	}
}

/* Every sample, alone, in every context it is allowed in. */
Test(config_values, every_directive_accepted_in_its_contexts)
{
	char yaml[2048];

	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];
		struct config *cf;

		if (s->ctx & CTXM) {
			snprintf(yaml, sizeof(yaml), "%s: %s\n" MINIMAL, s->name, s->value);
			cf = th_load(yaml);
			cr_assert_not_null(cf, "main %s: %s", s->name, th_err());
			config_free(cf);
		}
		if (s->ctx & CTXE) {
			snprintf(yaml, sizeof(yaml), "events:\n  %s: %s\n" MINIMAL, s->name, s->value);
			cf = th_load(yaml);
			cr_assert_not_null(cf, "events %s: %s", s->name, th_err());
			config_free(cf);
		}
		if (s->ctx & CTXMS) {
			if (strcmp(s->name, "auth_http") == 0)
				snprintf(yaml, sizeof(yaml), "mail:\n  auth_http: %s\n"
				    "  servers:\n    - listen: \"143\"\n", s->value);
			else
				snprintf(yaml, sizeof(yaml), MAILV("  %s: %s\n"), s->name, s->value);
			cf = th_load(yaml);
			cr_assert_not_null(cf, "mail %s: %s", s->name, th_err());
			cr_assert_eq(cf->nservers, 1);
			config_free(cf);
		}
		if (s->ctx & (CTXMS | CTXS)) {
			if (strcmp(s->name, "listen") == 0)
				snprintf(yaml, sizeof(yaml), MAIL_HEAD "  servers:\n    - listen: %s\n"
				    "      protocol: imap\n", s->value);
			else
				snprintf(yaml, sizeof(yaml), SRV("      %s: %s\n"), s->name, s->value);
			cf = th_load(yaml);
			cr_assert_not_null(cf, "server %s: %s", s->name, th_err());
			config_free(cf);
		}
	}
}

Test(config_values, flags)
{
	static const struct {
		const char *text;
		int v;
	} cases[] = {
		{ "on", 1 }, { "off", 0 }, { "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 },
		{ "On", 1 }, { "OFF", 0 }, { "True", 1 }, { "\"on\"", 1 },
	};
	char yaml[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cf;
		snprintf(yaml, sizeof(yaml), "daemon: %s\n" SRV("      proxy: %s\n"),
		    cases[i].text, cases[i].text);
		LOAD_OK(cf, yaml);
		cr_assert_eq(cf->main.daemon, cases[i].v, "daemon: %s", cases[i].text);
		cr_assert_eq(cf->servers[0].proxy, cases[i].v, "proxy: %s", cases[i].text);
		config_free(cf);
	}
}

Test(config_values, times)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} cases[] = {
		{ "500ms", 500 }, { "5s", 5000 }, { "1h30m", 5400000 }, { "\"1h 30m\"", 5400000 },
		{ "30", 30000 }, { "0", 0 }, { "2d", 172800000 }, { "1w", 604800000 },
		{ "90m", 5400000 }, { "1m 1s 1ms", 61001 }, { "24h", 86400000 },
	};
	char yaml[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cf;
		snprintf(yaml, sizeof(yaml), SRV("      timeout: %s\n"), cases[i].text);
		LOAD_OK(cf, yaml);
		cr_assert_eq(cf->servers[0].timeout, cases[i].ms, "timeout: %s gave %llu ms",
		    cases[i].text, (unsigned long long)cf->servers[0].timeout);
		config_free(cf);
	}
}

Test(config_values, every_time_directive)
{
	struct config *cf;

	LOAD_OK(cf, "worker_shutdown_timeout: 1m\n"
	    MAILV("  timeout: 1s\n  resolver_timeout: 2s\n  auth_http_timeout: 3s\n"
	    "  proxy_timeout: 4s\n  smtp_greeting_delay: 5s\n  ssl_session_timeout: 6s\n"));
	cr_assert_eq(cf->main.worker_shutdown_timeout, 60000);
	const struct srv_conf *s = &cf->servers[0];
	cr_assert_eq(s->timeout, 1000);
	cr_assert_eq(s->resolver_timeout, 2000);
	cr_assert_eq(s->auth_http_timeout, 3000);
	cr_assert_eq(s->proxy_timeout, 4000);
	cr_assert_eq(s->smtp_greeting_delay, 5000);
	cr_assert_eq(s->ssl_session_timeout, 6000);
	config_free(cf);
}

Test(config_values, sizes)
{
	static const struct {
		const char *text;
		size_t sz;
	} cases[] = {
		{ "4k", 4096 }, { "4K", 4096 }, { "1m", 1048576 }, { "8192", 8192 },
		{ "64", 64 }, { "64m", 64 * 1048576 },
	};
	char yaml[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cf;
		snprintf(yaml, sizeof(yaml), SRV("      proxy_buffer: %s\n      imap_client_buffer: %s\n"
		    "      smtp_client_buffer: %s\n"), cases[i].text, cases[i].text, cases[i].text);
		LOAD_OK(cf, yaml);
		cr_assert_eq(cf->servers[0].proxy_buffer, cases[i].sz, "%s", cases[i].text);
		cr_assert_eq(cf->servers[0].imap_client_buffer, cases[i].sz, "%s", cases[i].text);
		cr_assert_eq(cf->servers[0].smtp_client_buffer, cases[i].sz, "%s", cases[i].text);
		config_free(cf);
	}
}

Test(config_values, numbers)
{
	struct config *cf;

	LOAD_OK(cf, "worker_processes: 1024\nworker_rlimit_nofile: 1048576\n"
	    "events:\n  worker_connections: 2\n"
	    SRV("      max_errors: 0\n      ssl_verify_depth: 100\n"));
	cr_assert_eq(cf->main.worker_processes, 1024);
	cr_assert_eq(cf->main.worker_rlimit_nofile, 1048576);
	cr_assert_eq(cf->main.worker_connections, 2);
	cr_assert_eq(cf->servers[0].max_errors, 0);
	cr_assert_eq(cf->servers[0].ssl_verify_depth, 100);
	config_free(cf);

	LOAD_OK(cf, "events:\n  worker_connections: 1048576\n"
	    SRV("      max_errors: 1000000\n      ssl_verify_depth: 0\n"));
	cr_assert_eq(cf->main.worker_connections, 1048576);
	cr_assert_eq(cf->servers[0].max_errors, 1000000);
	cr_assert_eq(cf->servers[0].ssl_verify_depth, 0);
	config_free(cf);
}

Test(config_values, enums)
{
	struct config *cf;

	th_certs();
	LOAD_OK(cf, MAIL_HEAD "  starttls: only\n  proxy_protocol: v2\n"
	    "  ssl_verify_client: optional_no_ca\n"
	    "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n      starttls: on\n      proxy_protocol: on\n"
	    "    - listen: \"25\"\n      starttls: off\n      proxy_protocol: off\n"
	    "      ssl_verify_client: off\n");
	cr_assert_eq(cf->servers[0].starttls, STARTTLS_ONLY);
	cr_assert_eq(cf->servers[0].proxy_protocol, PP_V2);
	cr_assert_eq(cf->servers[0].ssl_verify_client, VERIFY_OPTIONAL_NO_CA);
	cr_assert_eq(cf->servers[1].starttls, STARTTLS_ON);
	cr_assert_eq(cf->servers[1].proxy_protocol, PP_V1);
	cr_assert_eq(cf->servers[2].starttls, STARTTLS_OFF);
	cr_assert_eq(cf->servers[2].proxy_protocol, PP_OFF);
	cr_assert_eq(cf->servers[2].ssl_verify_client, VERIFY_OFF);
	config_free(cf);
}

/* Rule 3: a multi-argument directive takes a sequence or one space-separated string. */
Test(config_values, masks_scalar_and_sequence)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "      imap_auth: plain login cram-md5 external\n"
	    "      pop3_auth: [plain, apop, cram-md5, external]\n"
	    "      smtp_auth: \"none\"\n"
	    "    - listen: \"110\"\n"
	    "      imap_auth: [LOGIN]\n"
	    "      pop3_auth: apop\n"
	    "      smtp_auth: login plain cram-md5 external none\n");
	const struct srv_conf *a = &cf->servers[0], *b = &cf->servers[1];
	cr_assert_eq(a->imap_auth, AUTHM_PLAIN | AUTHM_LOGIN | AUTHM_CRAM_MD5 | AUTHM_EXTERNAL);
	cr_assert_eq(a->pop3_auth, AUTHM_PLAIN | AUTHM_APOP | AUTHM_CRAM_MD5 | AUTHM_EXTERNAL);
	cr_assert_eq(a->smtp_auth, AUTHM_NONE);
	cr_assert_eq(b->imap_auth, AUTHM_LOGIN);
	cr_assert_eq(b->pop3_auth, AUTHM_APOP);
	cr_assert_eq(b->smtp_auth, AUTHM_LOGIN | AUTHM_PLAIN | AUTHM_CRAM_MD5 | AUTHM_EXTERNAL | AUTHM_NONE);
	/* "none" outside SMTP is legal but pointless: a warning, not an error. */
	cr_assert_eq(cf->warnings.n, 2);
	cr_assert_str_eq(cf->warnings.v[0],
	    "t.yaml:7:7: \"smtp_auth\": \"none\" only matters for SMTP servers");
	cr_assert_str_eq(cf->warnings.v[1],
	    "t.yaml:11:7: \"smtp_auth\": \"none\" only matters for SMTP servers");
	config_free(cf);
}

Test(config_values, capability_lists)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD
	    "  smtp_capabilities: [\"SIZE 10485760\", VRFY, 8BITMIME]\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "      imap_capabilities: \"IMAP4rev1  UIDPLUS\tIDLE\"\n"
	    "      pop3_capabilities: [TOP, USER, UIDL, \"SASL PLAIN\"]\n"
	    "    - listen: \"25\"\n"
	    "      smtp_capabilities: []\n"
	    "      imap_capabilities: IMAP4rev1\n");
	const struct srv_conf *a = &cf->servers[0], *b = &cf->servers[1];
	cr_assert_eq(a->imap_capabilities.n, 3, "blanks (spaces, tabs) split a scalar");
	cr_assert_str_eq(a->imap_capabilities.v[2], "IDLE");
	cr_assert_eq(a->pop3_capabilities.n, 4);
	cr_assert_str_eq(a->pop3_capabilities.v[3], "SASL PLAIN", "a sequence item keeps its spaces");
	cr_assert_eq(a->smtp_capabilities.n, 3);
	cr_assert_str_eq(a->smtp_capabilities.v[0], "SIZE 10485760");
	cr_assert_eq(b->smtp_capabilities.n, 0, "[] empties an inherited list");
	cr_assert_eq(b->imap_capabilities.n, 1);
	config_free(cf);
}

Test(config_values, user)
{
	struct config *cf;

	LOAD_OK(cf, "user: mail\n");
	cr_assert_str_eq(cf->main.user, "mail");
	cr_assert_null(cf->main.group, "no group: the user's primary group, as in nginx");
	config_free(cf);

	LOAD_OK(cf, "user: [mail, staff]\n");
	cr_assert_str_eq(cf->main.user, "mail");
	cr_assert_str_eq(cf->main.group, "staff");
	config_free(cf);
}

Test(config_values, main_strings)
{
	struct config *cf;

	LOAD_OK(cf, "pid: /run/mailproxy.pid\nworker_processes: \"4\"\nmaster_process: off\n"
	    "events:\n  multi_accept: yes\n");
	cr_assert_str_eq(cf->main.pid, "/run/mailproxy.pid");
	cr_assert_eq(cf->main.worker_processes, 4);
	cr_assert_eq(cf->main.master_process, 0);
	cr_assert_eq(cf->main.multi_accept, 1);
	config_free(cf);
}

static const struct listen_conf *
only_listen(const struct config *cf)
{
	cr_assert_eq(cf->nservers, 1);
	cr_assert_eq(cf->servers[0].nlisten, 1);
	return &cf->servers[0].listen[0];
}

Test(config_values, listen_every_parameter)
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
	cr_assert_eq(l->reuseport, 1);
	cr_assert_eq(l->line, 7);
	cr_assert_eq(l->col, 15);
	config_free(cf);
}

Test(config_values, listen_implied_bind_and_keepalive)
{
	static const struct {
		const char *text;
		int bind, keepalive, idle, intvl, cnt;
	} cases[] = {
		{ "127.0.0.1:143", 0, -1, 0, 0, 0 },
		{ "127.0.0.1:143 bind", 1, -1, 0, 0, 0 },
		{ "127.0.0.1:143 backlog=5", 1, -1, 0, 0, 0 },
		{ "127.0.0.1:143 rcvbuf=8k", 1, -1, 0, 0, 0 },
		{ "127.0.0.1:143 sndbuf=8k", 1, -1, 0, 0, 0 },
		{ "127.0.0.1:143 multipath", 1, -1, 0, 0, 0 },
		{ "127.0.0.1:143 reuseport", 1, -1, 0, 0, 0 },
		{ "127.0.0.1:143 ssl", 0, -1, 0, 0, 0 },
		{ "127.0.0.1:143 proxy_protocol", 0, -1, 0, 0, 0 },
		{ "127.0.0.1:143 so_keepalive=on", 1, 1, 0, 0, 0 },
		{ "127.0.0.1:143 so_keepalive=off", 1, 0, 0, 0, 0 },
		{ "127.0.0.1:143 so_keepalive=1m:10s:3", 1, 1, 60, 10, 3 },
		{ "127.0.0.1:143 so_keepalive=:30s:", 1, 1, 0, 30, 0 },
		{ "127.0.0.1:143 so_keepalive=::5", 1, 1, 0, 0, 5 },
		{ "127.0.0.1:143 so_keepalive=2h::", 1, 1, 7200, 0, 0 },
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
		cr_assert_str_eq(l->text, cases[i].text);
		config_free(cf);
	}
}

Test(config_values, listen_addresses)
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

Test(config_values, listen_host_name_resolves)
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

Test(config_values, auth_http_forms)
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

Test(config_values, auth_http_unix)
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

Test(config_values, auth_http_host_name_resolves)
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

Test(config_values, name_value_lists)
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

Test(config_values, ssl_session_cache_variants)
{
	static const struct {
		const char *text;
		unsigned mode;
		long builtin;
		const char *name;
		size_t size;
	} cases[] = {
		{ "off", SSL_CACHE_OFF, -1, NULL, 0 },
		{ "none", SSL_CACHE_NONE, -1, NULL, 0 },
		{ "builtin", SSL_CACHE_BUILTIN, -1, NULL, 0 },
		{ "builtin:1000", SSL_CACHE_BUILTIN, 1000, NULL, 0 },
		{ "shared:MAIL:10m", SSL_CACHE_SHARED, -1, "MAIL", 10 * 1048576 },
		{ "\"builtin:1000 shared:MAIL:10m\"", SSL_CACHE_BUILTIN | SSL_CACHE_SHARED, 1000, "MAIL",
		  10 * 1048576 },
		{ "[\"shared:a_b-1:1m\", builtin]", SSL_CACHE_BUILTIN | SSL_CACHE_SHARED, -1, "a_b-1",
		  1048576 },
		{ "shared:z:64m", SSL_CACHE_SHARED, -1, "z", 64 * 1048576 },
	};
	char yaml[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cf;
		snprintf(yaml, sizeof(yaml), SRV("      ssl_session_cache: %s\n"), cases[i].text);
		LOAD_OK(cf, yaml);
		const struct ssl_cache_conf *c = &cf->servers[0].ssl_session_cache;
		cr_assert_eq(c->mode, cases[i].mode, "%s", cases[i].text);
		cr_assert_eq(c->builtin_size, cases[i].builtin, "%s", cases[i].text);
		if (cases[i].name) {
			cr_assert_str_eq(c->shared_name, cases[i].name);
			cr_assert_eq(c->shared_size, cases[i].size, "%s", cases[i].text);
		}
		config_free(cf);
	}
}

/* The smallest zone: eight pages. */
Test(config_values, smallest_shared_zone)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t min = 8 * (ps > 0 ? (size_t)ps : 4096);
	char yaml[512];
	struct config *cf;

	snprintf(yaml, sizeof(yaml), SRV("      ssl_session_cache: shared:z:%zu\n"), min);
	LOAD_OK(cf, yaml);
	cr_assert_eq(cf->servers[0].ssl_session_cache.shared_size, min);
	config_free(cf);
}

/* Two servers may share a zone when they agree on its size. */
Test(config_values, shared_zone_in_two_servers)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  ssl_session_cache: shared:MAIL:1m\n"
	    "  servers:\n    - listen: \"143\"\n    - listen: \"110\"\n"
	    "      ssl_session_cache: \"builtin shared:MAIL:1m\"\n");
	cr_assert_str_eq(cf->servers[1].ssl_session_cache.shared_name, "MAIL");
	config_free(cf);
}

Test(config_values, error_log_variants)
{
	static const struct {
		const char *text;
		const char *target;
		int level;
	} cases[] = {
		{ "logs/error.log", "logs/error.log", LL_ERR },
		{ "/var/log/mp.log debug", "/var/log/mp.log", LL_DEBUG },
		{ "stderr", "stderr", LL_ERR },
		{ "stderr info", "stderr", LL_INFO },
		{ "syslog:server=127.0.0.1", "syslog:server=127.0.0.1", LL_ERR },
		{ "\"syslog:server=127.0.0.1:514,facility=mail,tag=mp notice\"",
		  "syslog:server=127.0.0.1:514,facility=mail,tag=mp", LL_NOTICE },
		{ "[\"logs/a.log emerg\"]", "logs/a.log", LL_EMERG },
		{ "logs/b.log alert", "logs/b.log", LL_ALERT },
		{ "logs/c.log crit", "logs/c.log", LL_CRIT },
		{ "logs/d.log warn", "logs/d.log", LL_WARN },
	};
	char yaml[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cf;
		snprintf(yaml, sizeof(yaml), "error_log: %s\n", cases[i].text);
		LOAD_OK(cf, yaml);
		cr_assert_eq(cf->main.error_log.n, 1);
		cr_assert_str_eq(cf->main.error_log.v[0].target, cases[i].target);
		cr_assert_eq(cf->main.error_log.v[0].level, cases[i].level, "%s", cases[i].text);
		config_free(cf);
	}
}

Test(config_values, error_log_sequence)
{
	struct config *cf;

	LOAD_OK(cf, "error_log: [logs/mail.log info, \"syslog:server=127.0.0.1:514 warn\", stderr]\n");
	const struct errlog_conf *el = &cf->main.error_log;
	cr_assert_eq(el->n, 3);
	cr_assert_str_eq(el->v[0].target, "logs/mail.log");
	cr_assert_eq(el->v[0].level, LL_INFO);
	cr_assert_str_eq(el->v[1].target, "syslog:server=127.0.0.1:514");
	cr_assert_eq(el->v[1].level, LL_WARN);
	cr_assert_str_eq(el->v[2].target, "stderr");
	cr_assert_eq(el->v[2].level, LL_ERR);
	config_free(cf);
}

Test(config_values, resolver_variants)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  resolver: \"127.0.0.1 [::1]:5353 valid=30s ipv6=off\"\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n      resolver: off\n"
	    "    - listen: \"25\"\n      resolver: [10.0.0.1, \"ipv4=off\", status_zone=dns]\n");
	const struct resolver_conf *r = &cf->servers[0].resolver;
	cr_assert_eq(r->n, 2);
	cr_assert_eq(r->addrs[0].ss_family, AF_INET);
	cr_assert_eq(net_port((const struct sockaddr *)&r->addrs[0]), 53, "port 53 by default");
	cr_assert_eq(r->addrs[1].ss_family, AF_INET6);
	cr_assert_eq(net_port((const struct sockaddr *)&r->addrs[1]), 5353);
	cr_assert_eq(r->valid, 30000);
	cr_assert_eq(r->ipv4, 1);
	cr_assert_eq(r->ipv6, 0);
	cr_assert_eq(cf->servers[1].resolver.n, 0, "off overrides the mail value");
	r = &cf->servers[2].resolver;
	cr_assert_eq(r->n, 1);
	cr_assert_eq(r->ipv4, 0);
	cr_assert_eq(r->ipv6, 1);
	cr_assert_eq(r->valid, 0, "0: the record's TTL");
	config_free(cf);
}

Test(config_values, set_real_ip_from)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  set_real_ip_from: 192.168.1.0/24\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n"
	    "      set_real_ip_from: [10.0.0.0/8, 127.0.0.1, \"2001:db8::/32\", \"::1\", \"unix:\"]\n"
	    "    - listen: \"25\"\n"
	    "      set_real_ip_from: []\n");
	const struct cidrlist *c = &cf->servers[0].set_real_ip_from;
	cr_assert_eq(c->n, 1);
	cr_assert_eq(c->v[0].family, AF_INET);
	cr_assert_eq(c->v[0].bits, 24);
	c = &cf->servers[1].set_real_ip_from;
	cr_assert_eq(c->n, 5);
	cr_assert_eq(c->v[0].bits, 8);
	cr_assert_eq(c->v[1].bits, 32, "a bare address is a /32");
	cr_assert_eq(c->v[2].family, AF_INET6);
	cr_assert_eq(c->v[2].bits, 32);
	cr_assert_eq(c->v[3].bits, 128);
	cr_assert_eq(c->v[4].family, AF_UNIX);
	cr_assert_eq(cf->servers[2].set_real_ip_from.n, 0);
	config_free(cf);
}

Test(config_values, server_name_variants)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  server_name: Mail.Example.COM\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n      server_name: \"a.example.org *.example.org .example.net _\"\n"
	    "    - listen: \"25\"\n      server_name: [smtp.example.org, mx_1.example.org]\n");
	cr_assert_eq(cf->servers[0].server_name.n, 1);
	cr_assert_str_eq(cf->servers[0].server_name.v[0], "mail.example.com", "names are lowercased");
	cr_assert_eq(cf->servers[1].server_name.n, 4);
	cr_assert_str_eq(cf->servers[1].server_name.v[1], "*.example.org");
	cr_assert_str_eq(cf->servers[1].server_name.v[2], ".example.net");
	cr_assert_str_eq(cf->servers[1].server_name.v[3], "_");
	cr_assert_eq(cf->servers[2].server_name.n, 2);
	cr_assert_str_eq(cf->servers[2].server_name.v[1], "mx_1.example.org");
	config_free(cf);
}

Test(config_values, ssl_protocols_and_strings)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD
	    "  ssl_protocols: [TLSv1.2]\n"
	    "  ssl_ciphers: \"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\"\n"
	    "  ssl_ecdh_curve: X25519:prime256v1\n"
	    "  servers:\n"
	    "    - listen: \"143\"\n"
	    "    - listen: \"110\"\n      ssl_protocols: \"TLSv1 TLSv1.1 TLSv1.2 TLSv1.3\"\n");
	cr_assert_eq(cf->servers[0].ssl_protocols, SSLP_TLSv1_2);
	cr_assert_str_eq(cf->servers[0].ssl_ciphers,
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
	cr_assert_str_eq(cf->servers[0].ssl_ecdh_curve, "X25519:prime256v1");
	cr_assert_eq(cf->servers[1].ssl_protocols,
	    SSLP_TLSv1 | SSLP_TLSv1_1 | SSLP_TLSv1_2 | SSLP_TLSv1_3);
	/* Old protocols are accepted as in nginx, with a warning. */
	cr_assert_eq(cf->warnings.n, 2);
	cr_assert_str_eq(cf->warnings.v[0], "t.yaml:9:22: \"ssl_protocols\": TLSv1 is deprecated; "
	    "OpenSSL refuses it at its default security level");
	cr_assert_str_eq(cf->warnings.v[1], "t.yaml:9:22: \"ssl_protocols\": TLSv1.1 is deprecated; "
	    "OpenSSL refuses it at its default security level");
	config_free(cf);
}

/* A complete TLS server: every file directive pointing at a real file. */
Test(config_values, tls_files)
{
	struct config *cf;
	char key48[48], key80[80];

	th_certs();
	memset(key48, 'k', sizeof(key48));
	memset(key80, 'K', sizeof(key80));
	th_write("t48.key", key48, sizeof(key48));
	th_write("t80.key", key80, sizeof(key80));
	th_write("pass.txt", "secret\n", -1);
	th_write("dh.pem", "dh\n", -1);
	th_write("ca.pem", "ca\n", -1);
	th_write("crl.pem", "crl\n", -1);
	LOAD_OK(cf, MAIL_HEAD
	    "  ssl_certificate: [cert.pem, cert.pem]\n"
	    "  ssl_certificate_key: [cert.key, cert.key]\n"
	    "  ssl_password_file: pass.txt\n"
	    "  ssl_dhparam: dh.pem\n"
	    "  ssl_client_certificate: ca.pem\n"
	    "  ssl_trusted_certificate: ca.pem\n"
	    "  ssl_crl: crl.pem\n"
	    "  ssl_verify_client: on\n"
	    "  ssl_verify_depth: 3\n"
	    "  ssl_session_ticket_key: [t80.key, t48.key]\n"
	    "  ssl_session_tickets: on\n"
	    "  ssl_prefer_server_ciphers: on\n"
	    "  ssl_certificate_compression: on\n"
	    "  auth_http_pass_client_cert: on\n"
	    "  servers:\n"
	    "    - listen: \"993 ssl\"\n"
	    "    - listen: \"143\"\n      starttls: only\n      ssl_verify_client: optional\n");
	const struct srv_conf *s = &cf->servers[0];
	cr_assert_eq(s->listen[0].ssl, 1);
	cr_assert_eq(s->ssl_certificate.n, 2);
	cr_assert_str_eq(s->ssl_certificate.v[0], "cert.pem", "paths are kept as written");
	cr_assert_eq(s->ssl_certificate_key.n, 2);
	cr_assert_str_eq(s->ssl_password_file, "pass.txt");
	cr_assert_str_eq(s->ssl_dhparam, "dh.pem");
	cr_assert_str_eq(s->ssl_client_certificate, "ca.pem");
	cr_assert_str_eq(s->ssl_trusted_certificate, "ca.pem");
	cr_assert_str_eq(s->ssl_crl, "crl.pem");
	cr_assert_eq(s->ssl_verify_client, VERIFY_ON);
	cr_assert_eq(s->ssl_verify_depth, 3);
	cr_assert_eq(s->ssl_session_ticket_key.n, 2);
	cr_assert_str_eq(s->ssl_session_ticket_key.v[1], "t48.key");
	cr_assert_eq(s->ssl_session_tickets, 1);
	cr_assert_eq(s->ssl_prefer_server_ciphers, 1);
	cr_assert_eq(s->ssl_certificate_compression, 1);
	cr_assert_eq(s->auth_http_pass_client_cert, 1);
	cr_assert_eq(cf->servers[1].starttls, STARTTLS_ONLY);
	cr_assert_eq(cf->servers[1].ssl_verify_client, VERIFY_OPTIONAL);
	config_free(cf);
}

/* Seed directives: "ssl: on" still works (TLS on every listen), with a warning. */
Test(config_values, seed_ssl_and_so_keepalive)
{
	struct config *cf;

	th_certs();
	LOAD_OK(cf, MAIL_HEAD "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  so_keepalive: on\n"
	    "  servers:\n"
	    "    - listen: [\"993\", \"127.0.0.1:1993\"]\n"
	    "      protocol: imap\n"
	    "      ssl: on\n"
	    "    - listen: \"143\"\n"
	    "      so_keepalive: off\n");
	cr_assert_eq(cf->servers[0].ssl, 1);
	cr_assert_eq(cf->servers[0].listen[0].ssl, 1);
	cr_assert_eq(cf->servers[0].listen[1].ssl, 1);
	cr_assert_eq(cf->servers[1].listen[0].ssl, 0);
	cr_assert_eq(cf->servers[0].so_keepalive, 1);
	cr_assert_eq(cf->servers[1].so_keepalive, 0);
	cr_assert_eq(cf->warnings.n, 1);
	cr_assert_str_eq(cf->warnings.v[0], "t.yaml:9:7: \"ssl\": the \"ssl\" directive is deprecated, "
	    "use \"listen ... ssl\" instead");
	config_free(cf);
}

/* -g: main-context directives from the command line, merged with the file. */
Test(config_values, globals_override)
{
	struct config *cf;

	cf = th_load_g(MINIMAL, "daemon: off");
	cr_assert_not_null(cf, "%s", th_err());
	cr_assert_eq(cf->main.daemon, 0);
	cr_assert_eq(cf->main.master_process, 1);
	config_free(cf);

	cf = th_load_g("pid: file.pid\n" MINIMAL,
	    "{worker_processes: 3, master_process: off, x-note: ignored}");
	cr_assert_not_null(cf, "%s", th_err());
	cr_assert_eq(cf->main.worker_processes, 3);
	cr_assert_eq(cf->main.master_process, 0);
	cr_assert_str_eq(cf->main.pid, "file.pid");
	config_free(cf);

	/* A -g error_log is the main one, so mail and servers inherit it. */
	cf = th_load_g(MINIMAL, "error_log: stderr debug");
	cr_assert_not_null(cf, "%s", th_err());
	cr_assert_str_eq(cf->servers[0].error_log.v[0].target, "stderr");
	cr_assert_eq(cf->servers[0].error_log.v[0].level, LL_DEBUG);
	config_free(cf);

	/* Empty -g is no -g. */
	cf = th_load_g(MINIMAL, "");
	cr_assert_not_null(cf, "%s", th_err());
	config_free(cf);
}

Test(config_values, quoted_and_block_scalars)
{
	struct config *cf;

	LOAD_OK(cf, "pid: 'logs/it''s.pid'\n"
	    MAIL_HEAD "  imap_capabilities: >\n    IMAP4rev1\n    IDLE\n"
	    "  servers:\n    - listen: \"143\"\n");
	cr_assert_str_eq(cf->main.pid, "logs/it's.pid");
	cr_assert_eq(cf->servers[0].imap_capabilities.n, 2, "folded scalar splits on blanks");
	cr_assert_str_eq(cf->servers[0].imap_capabilities.v[1], "IDLE");
	config_free(cf);
}

/* An empty block, like nginx's "events {}", is a null in YAML: accepted. */
Test(config_values, empty_blocks)
{
	struct config *cf;

	LOAD_OK(cf, "events:\n  # worker_connections: 1024\nmail:\n");
	cr_assert_eq(cf->main.worker_connections, 512);
	cr_assert_eq(cf->has_mail, 1);
	cr_assert_eq(cf->nservers, 0);
	config_free(cf);
	LOAD_OK(cf, "events: ~\nmail:\n  auth_http: 127.0.0.1\n  servers:\n");
	cr_assert_eq(cf->nservers, 0);
	config_free(cf);
}

Test(config_values, ssl_protocols_any_case)
{
	struct config *cf;

	LOAD_OK(cf, SRV("      ssl_protocols: tlsv1.2 TLSV1.3\n"));
	cr_assert_eq(cf->servers[0].ssl_protocols, SSLP_TLSv1_2 | SSLP_TLSv1_3);
	config_free(cf);
}
