/*
 * The directive reference: docs/directives.md must be exactly what
 * config_reference() prints from the table (regenerate it with
 * `./mailproxy --reference > docs/directives.md`), and the table must hold
 * every directive of nginx's mail module with nginx's contexts and default
 * (the nginx-mail reference, section 1). The seed's removed directives are
 * still accepted; the renamed one is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "test/unit/config_helpers.h"

TestSuite(config_reference, .init = th_setup, .fini = th_teardown);

static char *
reference_text(void)
{
	struct buf b = { 0 };
	char *s;

	config_reference(&b);
	s = malloc(buf_len(&b) + 1);
	cr_assert_not_null(s);
	memcpy(s, buf_rptr(&b), buf_len(&b));
	s[buf_len(&b)] = '\0';
	buf_release(&b);
	return s;
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_geq(n, 0);
	rewind(f);
	s = malloc((size_t)n + 1);
	cr_assert_not_null(s);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	s[n] = '\0';
	*len = (size_t)n;
	return s;
}

Test(config_reference, docs_page_matches_the_table)
{
	char path[4200];
	char *want = reference_text(), *have;
	size_t len;

	snprintf(path, sizeof(path), "%s/docs/directives.md", th_root());
	have = read_all(path, &len);
	int same = len == strlen(want) && memcmp(have, want, len) == 0;
	free(want);
	free(have);
	cr_assert(same, "docs/directives.md is stale: run make docs "
	    "(./mailproxy --reference > docs/directives.md) and commit it");
}

/*
 * Section 1 of the nginx-mail reference: every directive, its contexts as
 * mailproxy writes them, and nginx's default as the reference page shows it
 * ("—" where nginx has none or computes it; smtp_auth lists the same two
 * methods in table order).
 */
static const struct {
	const char *name, *ctx, *dflt;
} nginx_directives[] = {
	{ "listen", "server", "—" },
	{ "protocol", "server", "—" },
	{ "timeout", "mail, server", "60s" },
	{ "server_name", "mail, server", "—" },
	{ "error_log", "main, mail, server", "logs/error.log error" },
	{ "resolver", "mail, server", "off" },
	{ "resolver_timeout", "mail, server", "30s" },
	{ "max_errors", "mail, server", "5" },
	{ "auth_http", "mail, server", "—" },
	{ "auth_http_header", "mail, server", "—" },
	{ "auth_http_timeout", "mail, server", "60s" },
	{ "auth_http_pass_client_cert", "mail, server", "off" },
	{ "proxy", "mail, server", "off" },
	{ "proxy_buffer", "mail, server", "page size (4k)" },
	{ "proxy_timeout", "mail, server", "24h" },
	{ "proxy_pass_error_message", "mail, server", "off" },
	{ "xclient", "mail, server", "on" },
	{ "proxy_smtp_auth", "mail, server", "off" },
	{ "proxy_protocol", "mail, server", "off" },
	{ "imap_client_buffer", "mail, server", "page size (4k)" },
	{ "imap_capabilities", "mail, server", "IMAP4 IMAP4rev1 UIDPLUS" },
	{ "imap_auth", "mail, server", "plain" },
	{ "pop3_capabilities", "mail, server", "TOP USER UIDL" },
	{ "pop3_auth", "mail, server", "plain" },
	{ "smtp_client_buffer", "mail, server", "page size (4k)" },
	{ "smtp_greeting_delay", "mail, server", "0" },
	{ "smtp_capabilities", "mail, server", "—" },
	{ "smtp_auth", "mail, server", "login plain" },
	{ "sieve_client_buffer", "mail, server", "page size (4k)" },
	{ "sieve_auth", "mail, server", "plain" },
	{ "set_real_ip_from", "mail, server", "—" },
	{ "starttls", "mail, server", "off" },
	{ "ssl_certificate", "mail, server", "—" },
	{ "ssl_certificate_key", "mail, server", "—" },
	{ "ssl_password_file", "mail, server", "—" },
	{ "ssl_certificate_compression", "mail, server", "off" },
	{ "ssl_dhparam", "mail, server", "—" },
	{ "ssl_ecdh_curve", "mail, server", "auto" },
	{ "ssl_protocols", "mail, server", "TLSv1.2 TLSv1.3" },
	{ "ssl_ciphers", "mail, server", "HIGH:!aNULL:!MD5" },
	{ "ssl_prefer_server_ciphers", "mail, server", "off" },
	{ "ssl_session_cache", "mail, server", "none" },
	{ "ssl_session_tickets", "mail, server", "on" },
	{ "ssl_session_ticket_key", "mail, server", "—" },
	{ "ssl_session_timeout", "mail, server", "5m" },
	{ "ssl_verify_client", "mail, server", "off" },
	{ "ssl_verify_depth", "mail, server", "1" },
	{ "ssl_client_certificate", "mail, server", "—" },
	{ "ssl_trusted_certificate", "mail, server", "—" },
	{ "ssl_crl", "mail, server", "—" },
	{ "ssl_conf_command", "mail, server", "—" },
	/* The seed's directives nginx has removed since. */
	{ "ssl", "mail, server", "off" },
	{ "so_keepalive", "mail, server", "off" },
	/* nginx core, main and events context. */
	{ "user", "main", "nobody nogroup" },
	{ "worker_processes", "main", "1" },
	{ "pid", "main", "logs/mailproxy.pid" },
	{ "daemon", "main", "on" },
	{ "master_process", "main", "on" },
	{ "worker_connections", "events", "512" },
	{ "multi_accept", "events", "off" },
};

/* The cell after the context cell of a row: skip "syntax", return "default". */
static void
row_default(const char *row, char *out, size_t len)
{
	const char *p = row;

	/* | `name` | ctx | syntax | default | ... ; syntax may hold "\|". */
	for (int cell = 0; cell < 3; cell++) {
		do {
			p = strchr(p + 1, '|');
			cr_assert_not_null(p);
		} while (p[-1] == '\\');
	}
	p += 2;
	const char *e = p;
	while (!(e[0] == ' ' && e[1] == '|' && e[-1] != '\\'))
		e++;
	cr_assert_lt((size_t)(e - p), len);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
}

Test(config_reference, every_nginx_directive_with_contexts_and_default)
{
	char *ref = reference_text();
	char head[128], dflt[256];

	for (size_t i = 0; i < sizeof(nginx_directives) / sizeof(nginx_directives[0]); i++) {
		snprintf(head, sizeof(head), "\n| `%s` | %s | ", nginx_directives[i].name,
		    nginx_directives[i].ctx);
		const char *row = strstr(ref, head);
		cr_assert_not_null(row, "no row \"%s\" in the reference", head + 1);
		row_default(row + 1, dflt, sizeof(dflt));
		cr_assert_str_eq(dflt, nginx_directives[i].dflt, "default of %s", nginx_directives[i].name);
	}
	/* The seed rows (ssl, so_keepalive, and auth, refused) say so, and only they. */
	for (const char *p = strstr(ref, "\n| `"); p != NULL; p = strstr(p + 1, "\n| `")) {
		const char *eol = strchr(p + 1, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		char line[1024];
		cr_assert_lt(n, sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		int seed = strncmp(line, "\n| `ssl` ", 9) == 0 ||
		    strncmp(line, "\n| `so_keepalive` ", 18) == 0 ||
		    strncmp(line, "\n| `auth` ", 10) == 0;
		cr_assert_eq(strstr(line, "*(seed)*") != NULL, seed, "%s", line + 1);
	}
	free(ref);
}

/* freenginx's additions carry freenginx's contexts and default, and say where they come from. */
Test(config_reference, freenginx_max_commands)
{
	char *ref = reference_text();
	char dflt[256];
	const char *row = strstr(ref, "\n| `max_commands` | mail, server | ");

	cr_assert_not_null(row, "no max_commands row with mail and server context");
	row_default(row + 1, dflt, sizeof(dflt));
	cr_assert_str_eq(dflt, "1000");
	const char *eol = strchr(row + 1, '\n');
	cr_assert_not_null(eol);
	const char *fn = strstr(row, "(freenginx)");
	cr_assert(fn != NULL && fn < eol, "the row names freenginx");
	free(ref);
}

/* nginx's "mail" block and its "server" blocks are "mail:" and "mail.servers". */
Test(config_reference, mail_and_server_blocks)
{
	struct config *cf;

	LOAD_OK(cf, MINIMAL);
	cr_assert_eq(cf->has_mail, 1);
	cr_assert_eq(cf->nservers, 1);
	config_free(cf);
}

Test(config_reference, seed_directives)
{
	struct config *cf;

	th_certs();
	LOAD_OK(cf, MAIL_HEAD "  so_keepalive: on\n"
	    "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  servers:\n    - listen: \"993\"\n      ssl: on\n");
	cr_assert_eq(cf->servers[0].ssl, 1);
	cr_assert_eq(cf->servers[0].listen[0].ssl, 1);
	cr_assert_eq(cf->servers[0].so_keepalive, 1);
	config_free(cf);
	EXPECT_ERR(MAIL_HEAD "  auth: plain\n",
	    "t.yaml:3:9: \"auth\": this directive was renamed to \"pop3_auth\"");
	/* A renamed directive is never offered as a suggestion. */
	EXPECT_ERR(MAIL_HEAD "  aut: plain\n", "t.yaml:3:3: \"aut\": unknown directive in \"mail\"");
}
