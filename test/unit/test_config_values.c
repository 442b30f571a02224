/*
 * Valid values: every directive of the table is accepted in each context it
 * belongs to, in the notations CONFIG.md promises (scalar and sequence forms,
 * flags, nginx times and sizes), and each lands in struct config with the
 * meaning nginx gives it. The sample list is checked against the generated
 * reference, so a directive added to the table without a case here fails.
 * listen/auth_http values are in test_config_net.c, TLS ones in
 * test_config_tls.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "test/unit/config_helpers.h"

TestSuite(config_values, .init = th_setup, .fini = th_teardown);

#define CTXM 1	/* main */
#define CTXE 2	/* events */
#define CTXMS 4	/* mail and server */
#define CTXS 8	/* server only */
#define CTXMAIL 16	/* mail only */

/* One valid value per directive, in the notation a user would write. */
static const struct sample {
	const char *name;
	const char *value;
	int ctx;
} samples[] = {
	{ "user", "www-data www-data", CTXM },
	{ "worker_processes", "2", CTXM },
	{ "worker_rlimit_nofile", "4096", CTXM },
	{ "worker_cpu_affinity", "\"0101 1010\"", CTXM },
	{ "worker_priority", "-5", CTXM },
	{ "status_listen", "127.0.0.1:9191", CTXM },
	{ "status_allow", "[127.0.0.1/32, \"::1\", 10.0.0.0/8]", CTXM },
	{ "worker_rlimit_core", "500m", CTXM },
	{ "working_directory", "/var/tmp", CTXM },
	{ "env", "[TZ, \"LANG=C\"]", CTXM },
	{ "timer_resolution", "100ms", CTXM },
	{ "worker_shutdown_timeout", "10s", CTXM },
	{ "error_log", "logs/e.log info", CTXM | CTXMS },
	{ "pid", "run/mp.pid", CTXM },
	{ "daemon", "off", CTXM },
	{ "master_process", "off", CTXM },
	{ "worker_connections", "1024", CTXE },
	{ "multi_accept", "on", CTXE },
	{ "use", "epoll", CTXE },
	{ "accept_mutex", "on", CTXE },
	{ "accept_mutex_delay", "100ms", CTXE },
	{ "listen", "\"127.0.0.1:1143\"", CTXS },
	{ "protocol", "imap", CTXS },
	{ "timeout", "30s", CTXMS },
	{ "server_name", "mail.example.com", CTXMS },
	{ "resolver", "127.0.0.1", CTXMS },
	{ "resolver_timeout", "5s", CTXMS },
	{ "max_errors", "3", CTXMS },
	{ "max_commands", "50", CTXMS },
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
	{ "ssl_session_ticket_key_store", "\"redis 127.0.0.1:6379 db=3 period=1h\"", CTXMS },
	{ "ssl_session_timeout", "10m", CTXMS },
	{ "ssl_verify_client", "optional_no_ca", CTXMS },
	{ "ssl_verify_depth", "2", CTXMS },
	{ "ssl_client_certificate", "ca.pem", CTXMS },
	{ "ssl_trusted_certificate", "ca.pem", CTXMS },
	{ "ssl_crl", "crl.pem", CTXMS },
	{ "ssl_conf_command", "[\"Options SessionTicket\", \"Options -ServerPreference\"]", CTXMS },
	{ "imap_id_forward", "on", CTXMS },
	{ "auth_http_keepalive", "32", CTXMS },
	{ "auth_http_fail_timeout", "10s", CTXMS },
	{ "auth_http_ssl_verify", "on", CTXMS },
	{ "auth_http_ssl_verify_depth", "3", CTXMS },
	{ "auth_http_ssl_trusted_certificate", "ca.pem", CTXMS },
	{ "auth_http_ssl_name", "auth.example.com", CTXMS },
	{ "auth_http_ssl_server_name", "off", CTXMS },
	{ "auth_http_ssl_session_reuse", "off", CTXMS },
	{ "auth_http_ssl_protocols", "TLSv1.3", CTXMS },
	{ "auth_http_ssl_ciphers", "HIGH", CTXMS },
	{ "auth_http_ssl_certificate", "client.pem", CTXMS },
	{ "auth_http_ssl_certificate_key", "client.key", CTXMS },
	{ "pop3_client_buffer", "8k", CTXMS },
	{ "proxy_ssl", "on", CTXMS },
	{ "proxy_starttls", "on", CTXMS },
	{ "proxy_ssl_verify", "on", CTXMS },
	{ "proxy_ssl_verify_depth", "3", CTXMS },
	{ "proxy_ssl_trusted_certificate", "ca.pem", CTXMS },
	{ "proxy_ssl_name", "mail.example.com", CTXMS },
	{ "proxy_ssl_server_name", "on", CTXMS },
	{ "proxy_ssl_session_reuse", "off", CTXMS },
	{ "proxy_ssl_protocols", "TLSv1.3", CTXMS },
	{ "proxy_ssl_ciphers", "HIGH", CTXMS },
	{ "proxy_ssl_certificate", "client.pem", CTXMS },
	{ "proxy_ssl_certificate_key", "client.key", CTXMS },
	{ "login_limit_zone", "shared:logins:10m", CTXMS },
	{ "log_format", "{m: \"$remote_addr $status\"}", CTXMAIL },
	{ "access_log", "\"/tmp/a.log combined buffer=4k flush=1s\"", CTXMS },
	{ "auth_http_cache", "\"shared:authc:1m valid=30s invalid=5s\"", CTXMS },
	{ "login_limit_store", "\"redis 127.0.0.1:6379 db=2\"", CTXMS },
	{ "login_limit_addr", "\"10/m burst=20 block=15m\"", CTXMS },
	{ "login_limit_user", "[5/m, burst=3]", CTXMS },
	{ "login_limit_pair", "1/s", CTXMS },
	{ "login_limit_ipv6_prefix", "56", CTXMS },
	{ "login_limit_allow", "[127.0.0.1/32, \"::1\"]", CTXMS },
	{ "login_limit_dry_run", "on", CTXMS },
	{ "login_limit_log_level", "notice", CTXMS },
	{ "login_limit_tarpit", "1s", CTXMS },
	{ "limit_sessions_user", "10", CTXMS },
	{ "limit_sessions_user_addr", "3", CTXMS },
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
		    "directive \"%s\" has no valid-value case: add one to samples[] in "
		    "test/unit/test_config_values.c", names[i]);
	}
}

/* The limits that count in a shared zone are refused without one (test_config_limits.c). */
static const char *
zone_for(const char *name, const char *indent)
{
	static char line[64];

	if (strcmp(name, "login_limit_addr") != 0 && strcmp(name, "login_limit_user") != 0 &&
	    strcmp(name, "login_limit_pair") != 0 && strcmp(name, "login_limit_store") != 0 &&
	    strncmp(name, "limit_sessions_", 15) != 0)
		return "";
	snprintf(line, sizeof(line), "%slogin_limit_zone: shared:lz:1m\n", indent);
	return line;
}

/* Every sample, alone (but for the zone a limit needs), in every context it is allowed in. */
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
		if (s->ctx & (CTXMS | CTXMAIL)) {
			if (strcmp(s->name, "auth_http") == 0)
				snprintf(yaml, sizeof(yaml), "mail:\n  auth_http: %s\n"
				    "  servers:\n    - listen: \"143\"\n", s->value);
			else
				snprintf(yaml, sizeof(yaml), MAILV("%s  %s: %s\n"), zone_for(s->name, "  "),
				    s->name, s->value);
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
				snprintf(yaml, sizeof(yaml), SRV("%s      %s: %s\n"),
				    zone_for(s->name, "      "), s->name, s->value);
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
