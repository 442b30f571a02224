/*
 * auth_http_header values with variables (config/config_vars.c, #14 item 3):
 * the compiled parts, every malformed '$' refused with the column of its
 * '$', the expansion in the request (worker/proto/auth_http_proto.c) with
 * hostile values %-escaped; and the other request and answer extras of
 * #14: Client-Port, Auth-SSL-Fingerprint-SHA256, and Auth-Method in an OK
 * answer for the SMTP backend login.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_vars.h"
#include "test/unit/config_helpers.h"
#include "worker/lookup/auth_http.h"

TestSuite(auth_vars, .init = th_setup, .fini = th_teardown);

/* ---- compiling ---- */

static struct arena ar;

static void
ar_init(void)
{
	th_setup();
	arena_init(&ar, 4096);
}

static void
ar_fini(void)
{
	arena_free(&ar);
	th_teardown();
}

TestSuite(cvalue, .init = ar_init, .fini = ar_fini);

static struct cvalue
compile_ok(const char *s)
{
	struct cvalue cv;
	char err[160] = "";
	size_t pos = 99;

	cr_assert_eq(cvalue_compile(s, &ar, &cv, &pos, err, sizeof(err)), 0, "%s: %s", s, err);
	return cv;
}

static void
compile_bad(const char *s, size_t want_pos, const char *want)
{
	struct cvalue cv;
	char err[160] = "";
	size_t pos = 99;

	cr_assert_eq(cvalue_compile(s, &ar, &cv, &pos, err, sizeof(err)), -1, "%s compiled", s);
	cr_assert_eq(pos, want_pos, "%s: error at %zu, want %zu", s, pos, want_pos);
	cr_assert_str_eq(err, want, "%s", s);
}

static void
lit_is(const struct cpart *p, const char *want)
{
	cr_assert_eq(p->var, CVAR_LITERAL);
	cr_assert_eq(p->len, strlen(want));
	cr_assert_eq(memcmp(p->text, want, p->len), 0, "%.*s != %s", (int)p->len, p->text, want);
}

Test(cvalue, plain_text_is_one_literal)
{
	struct cvalue cv = compile_ok("secret string");

	cr_assert_eq(cv.n, 1);
	lit_is(&cv.parts[0], "secret string");
}

Test(cvalue, every_variable_both_forms)
{
	static const struct { const char *name; int var; } vars[] = {
		{ "remote_addr", CVAR_REMOTE_ADDR }, { "remote_port", CVAR_REMOTE_PORT },
		{ "server_addr", CVAR_SERVER_ADDR }, { "server_port", CVAR_SERVER_PORT },
		{ "ssl_server_name", CVAR_SSL_SERVER_NAME }, { "protocol", CVAR_PROTOCOL },
	};
	char s[64];

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		cr_assert_str_eq(cvar_name(vars[i].var), vars[i].name);
		snprintf(s, sizeof(s), "$%s", vars[i].name);
		struct cvalue cv = compile_ok(s);
		cr_assert_eq(cv.n, 1);
		cr_assert_eq(cv.parts[0].var, vars[i].var);
		snprintf(s, sizeof(s), "a${%s}b", vars[i].name);
		cv = compile_ok(s);
		cr_assert_eq(cv.n, 3);
		lit_is(&cv.parts[0], "a");
		cr_assert_eq(cv.parts[1].var, vars[i].var);
		lit_is(&cv.parts[2], "b");
	}
}

Test(cvalue, name_ends_at_a_non_name_character)
{
	struct cvalue cv = compile_ok("$remote_addr:$remote_port/${protocol}x$server_port.");

	cr_assert_eq(cv.n, 8);
	cr_assert_eq(cv.parts[0].var, CVAR_REMOTE_ADDR);
	lit_is(&cv.parts[1], ":");
	cr_assert_eq(cv.parts[2].var, CVAR_REMOTE_PORT);
	lit_is(&cv.parts[3], "/");
	cr_assert_eq(cv.parts[4].var, CVAR_PROTOCOL);
	lit_is(&cv.parts[5], "x");
	cr_assert_eq(cv.parts[6].var, CVAR_SERVER_PORT);
	lit_is(&cv.parts[7], ".");
}

Test(cvalue, double_dollar_is_a_literal_dollar)
{
	struct cvalue cv = compile_ok("pa$$word$$$protocol$$");

	cr_assert_eq(cv.n, 3);
	lit_is(&cv.parts[0], "pa$word$");
	cr_assert_eq(cv.parts[1].var, CVAR_PROTOCOL);
	lit_is(&cv.parts[2], "$");
	cv = compile_ok("$$");
	cr_assert_eq(cv.n, 1);
	lit_is(&cv.parts[0], "$");
	cv = compile_ok("$$remote_addr");
	cr_assert_eq(cv.n, 1, "$$ then text, not a variable");
	lit_is(&cv.parts[0], "$remote_addr");
}

#define NO_NAME "a variable name must follow \"$\" (\"$$\" is a literal \"$\")"

Test(cvalue, malformed_dollars)
{
	compile_bad("$", 0, NO_NAME);
	compile_bad("abc$", 3, NO_NAME);
	compile_bad("a $ b", 2, NO_NAME);
	compile_bad("$-x", 0, NO_NAME);
	compile_bad("x$$$", 3, NO_NAME);
	compile_bad("${}", 0, NO_NAME);
	compile_bad("ok $protocol ${remote_addr", 13, "\"${\" without its closing \"}\"");
	compile_bad("${", 0, "\"${\" without its closing \"}\"");
	compile_bad("${remote addr}", 0, "invalid character in the variable name \"${remote \"");
	compile_bad("${remote-addr}", 0, "invalid character in the variable name \"${remote-\"");
	compile_bad("$remote_adr", 0, "unknown variable \"$remote_adr\"");
	compile_bad("x${host}", 1, "unknown variable \"$host\"");
	compile_bad("$Remote_Addr", 0, "unknown variable \"$Remote_Addr\"");
	compile_bad("$1", 0, "unknown variable \"$1\"");
}

Test(cvalue, long_values)
{
	size_t n = 60000;
	char *s = malloc(n + 1);

	/* "$protocol" over and over: thousands of parts. */
	for (size_t i = 0; i < n; i++)
		s[i] = "$protocol-"[i % 10];
	s[n] = '\0';
	struct cvalue cv = compile_ok(s);
	cr_assert_eq(cv.n, 2 * (n / 10));
	cr_assert_eq(cv.parts[cv.n - 2].var, CVAR_PROTOCOL);
	lit_is(&cv.parts[cv.n - 1], "-");
	/* A long unknown name: the message is cut, not overflowed. */
	memset(s, 'a', n);
	s[0] = '$';
	char err[64];
	size_t pos = 99;
	cr_assert_eq(cvalue_compile(s, &ar, &cv, &pos, err, sizeof(err)), -1);
	cr_assert_eq(pos, 0);
	cr_assert_eq(strncmp(err, "unknown variable \"$aaaa", 23), 0, "%s", err);
	/* A long literal with one variable at its very end. */
	memset(s, 'b', n);
	memcpy(s + n - 9, "$protocol", 9);
	cv = compile_ok(s);
	cr_assert_eq(cv.n, 2);
	cr_assert_eq(cv.parts[0].len, n - 9);
	free(s);
}

/* ---- in the configuration ---- */

Test(auth_vars, config_errors_point_at_the_dollar)
{
	EXPECT_ERR(SRV("      auth_http_header: {X-Port: $remote_prt}\n"),
	    "t.yaml:5:34: \"auth_http_header\": \"X-Port\": unknown variable \"$remote_prt\"");
	EXPECT_ERR(SRV("      auth_http_header: {X-Port: \"at ${remote_port\"}\n"),
	    "t.yaml:5:38: \"auth_http_header\": \"X-Port\": \"${\" without its closing \"}\"");
	EXPECT_ERR(SRV("      auth_http_header: [\"X-Key pa$word\"]\n"),
	    "t.yaml:5:35: \"auth_http_header\": \"X-Key\": unknown variable \"$word\"");
	EXPECT_ERR(SRV("      auth_http_header: \"X-Key  cost 5$\"\n"),
	    "t.yaml:5:39: \"auth_http_header\": \"X-Key\": " NO_NAME);
	EXPECT_ERR(MAILV("  auth_http_header:\n    X-A: ok\n    X-B: '${}'\n"),
	    "t.yaml:5:11: \"auth_http_header\": \"X-B\": " NO_NAME);
}

Test(auth_vars, config_keeps_the_value_as_written)
{
	struct config *cf;
	struct buf out = { 0 };

	LOAD_OK(cf, SRV("      auth_http_header: {X-Client: \"$remote_addr:${remote_port}\", "
	    "X-Key: \"pa$$word\", X-Plain: text}\n"));
	const struct kvlist *h = &cf->servers[0].auth_http_header;
	cr_assert_eq(h->n, 3);
	cr_assert_str_eq(h->v[0].value, "$remote_addr:${remote_port}");
	cr_assert_not_null(h->v[0].cv);
	cr_assert_eq(h->v[0].cv->n, 3);
	cr_assert_str_eq(h->v[1].value, "pa$$word", "-T prints $$ as written");
	cr_assert_not_null(h->v[1].cv, "$$ needs the compiled form");
	cr_assert_null(h->v[2].cv, "text without '$' goes out as written");
	cr_assert(cvalue_uses(h->v[0].cv, CVAR_REMOTE_PORT));
	cr_assert(!cvalue_uses(h->v[0].cv, CVAR_SERVER_ADDR), "no getsockname() for it");
	cr_assert(!cvalue_uses(NULL, CVAR_REMOTE_ADDR));
	config_dump(cf, &out);
	cr_assert_eq(buf_append(&out, "", 1), 0);
	cr_assert_not_null(strstr(out.data, "\"X-Client $remote_addr:${remote_port}\""), "%s", out.data);
	cr_assert_not_null(strstr(out.data, "\"X-Key pa$$word\""), "%s", out.data);
	buf_release(&out);
	config_free(cf);
}

Test(auth_vars, ssl_conf_command_keeps_dollars_verbatim)
{
	struct config *cf;

	LOAD_OK(cf, SRV("      ssl_conf_command: {Options: \"$x\"}\n"));
	cr_assert_str_eq(cf->servers[0].ssl_conf_command.v[0].value, "$x");
	cr_assert_null(cf->servers[0].ssl_conf_command.v[0].cv);
	config_free(cf);
}

/* ---- expanding, in the request ---- */

static struct config *
conf_with(const char *server_yaml)
{
	struct config *cf = th_load(server_yaml);

	cr_assert_not_null(cf, "config: %s", th_err());
	return cf;
}

static char *
build(const struct config *cf, const struct auth_params *p, int rc)
{
	struct buf b = { 0 };

	cr_assert_eq(auth_http_build(&b, &cf->servers[0], p, 0), rc);
	cr_assert_eq(buf_append(&b, "", 1), 0);
	char *s = strdup(b.data);
	buf_release(&b);
	return s;
}

static const struct auth_params base = {
	.method = AUTHM_PLAIN, .login = "bob", .passwd = "pw", .protocol = MP_PROTO_SMTP,
	.attempt = 1, .client_ip = "192.0.2.7", .client_port = "51234",
	.server_addr = "198.51.100.1", .server_port = "587", .ssl = 1,
	.ssl_protocol = "TLSv1.3", .ssl_cipher = "C", .ssl_server_name = "mail.example.org",
};

Test(auth_vars, every_variable_expanded)
{
	struct config *cf = conf_with(SRV("      auth_http_header:\n"
	    "        X-Client: \"$remote_addr:${remote_port}\"\n"
	    "        X-Server: \"[$server_addr]:$server_port\"\n"
	    "        X-Sni: \"sni=$ssl_server_name\"\n"
	    "        X-Proto: \"${protocol}s\"\n"
	    "        X-Key: \"pa$$word plain\"\n"));
	char *req = build(cf, &base, 0);

	cr_assert_not_null(strstr(req, "\r\nClient-IP: 192.0.2.7\r\nClient-Port: 51234\r\n"), "%s", req);
	cr_assert_not_null(strstr(req, "\r\nAuth-SSL: on\r\nAuth-SSL-Protocol: TLSv1.3\r\n"
	    "Auth-SSL-Cipher: C\r\n"
	    "X-Client: 192.0.2.7:51234\r\n"
	    "X-Server: [198.51.100.1]:587\r\n"
	    "X-Sni: sni=mail.example.org\r\n"
	    "X-Proto: smtps\r\n"
	    "X-Key: pa$word plain\r\n\r\n"), "%s", req);
	free(req);
	config_free(cf);
}

/* nginx's Client-Host stays right after Client-IP; Client-Port follows both. */
Test(auth_vars, client_port_after_nginx_headers)
{
	struct config *cf = conf_with(MINIMAL);
	struct auth_params p = base;

	p.client_host = "[UNAVAILABLE]";
	char *req = build(cf, &p, 0);
	cr_assert_not_null(strstr(req, "\r\nClient-IP: 192.0.2.7\r\nClient-Host: [UNAVAILABLE]\r\n"
	    "Client-Port: 51234\r\n"), "%s", req);
	free(req);
	p.client_port = NULL;	/* a caller without one: no header */
	req = build(cf, &p, 0);
	cr_assert_null(strstr(req, "Client-Port"), "%s", req);
	free(req);
	config_free(cf);
}

Test(auth_vars, missing_values_expand_to_nothing)
{
	struct config *cf = conf_with(SRV("      auth_http_header: {X-Sni: \"<$ssl_server_name>\"}\n"));
	struct auth_params p = base;

	p.ssl = 0;
	p.ssl_server_name = NULL;
	char *req = build(cf, &p, 0);
	cr_assert_not_null(strstr(req, "\r\nX-Sni: <>\r\n\r\n"), "%s", req);
	free(req);
	config_free(cf);
}

/* A client's SNI is the one client-chosen variable: its CR, LF, blanks and % are escaped. */
Test(auth_vars, hostile_values_are_escaped)
{
	struct config *cf = conf_with(SRV("      auth_http_header: {X-Sni: \"$ssl_server_name!\"}\n"));
	struct auth_params p = base;

	p.ssl_server_name = "a\r\nAuth-Status: OK\r\n\r\nx %41\x01";
	char *req = build(cf, &p, 0);
	cr_assert_not_null(strstr(req, "\r\nX-Sni: a%0D%0AAuth-Status:%20OK%0D%0A%0D%0Ax%20%2541%01!"
	    "\r\n\r\n"), "%s", req);
	cr_assert_null(strstr(req, "\r\nAuth-Status"), "%s", req);
	free(req);
	config_free(cf);
}

Test(auth_vars, long_values_expand_whole)
{
	size_t n = 30000;
	char *yaml = malloc(n * 2 + 256), *want = malloc(n * 2 + 64);
	int o = sprintf(yaml, SRV("      auth_http_header: {X-Long: \""));

	for (size_t i = 0; i < n / 10; i++)
		o += sprintf(yaml + o, "$protocol-");
	sprintf(yaml + o, "\"}\n");
	struct config *cf = conf_with(yaml);
	o = sprintf(want, "\r\nX-Long: ");
	for (size_t i = 0; i < n / 10; i++)
		o += sprintf(want + o, "smtp-");
	sprintf(want + o, "\r\n\r\n");
	char *req = build(cf, &base, 0);
	cr_assert_not_null(strstr(req, want));
	free(req);
	free(yaml);
	free(want);
	config_free(cf);
}

Test(auth_vars, ssl_fingerprint_sha256_follows_sha1)
{
	struct config *cf = conf_with(MINIMAL);
	struct auth_params p = base;

	p.ssl_verify = "SUCCESS";
	p.ssl_fingerprint = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
	p.ssl_fingerprint_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	char *req = build(cf, &p, 0);
	cr_assert_not_null(strstr(req, "\r\nAuth-SSL-Verify: SUCCESS\r\n"
	    "Auth-SSL-Fingerprint: a94a8fe5ccb19ba61c4c0873d391e987982fbbd3\r\n"
	    "Auth-SSL-Fingerprint-SHA256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	    "\r\n\r\n"), "%s", req);
	free(req);
	p.ssl_verify = NULL;	/* no client certificate asked for: neither */
	req = build(cf, &p, 0);
	cr_assert_null(strstr(req, "Fingerprint"), "%s", req);
	free(req);
	config_free(cf);
}

/* ---- Auth-Method in an OK answer ---- */

static int
parse_ok(const char *method_line, enum mail_proto proto, struct auth_result *r)
{
	char resp[512];

	memset(r, 0, sizeof(*r));
	auth_result_clear(r);
	snprintf(resp, sizeof(resp), "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\n"
	    "Auth-Port: 25\r\n%s\r\n", method_line);
	cr_assert_eq(auth_http_parse(resp, strlen(resp), 1, r), AUTH_PARSE_DONE, "%s", resp);
	return auth_http_check_ok(r, proto, AUTHM_PLAIN, 1);
}

Test(auth_vars, auth_method_in_the_answer)
{
	static const struct { const char *line; int want; } cases[] = {
		{ "", BE_AUTH_DEFAULT },
		{ "Auth-Method: plain\r\n", BE_AUTH_PLAIN },
		{ "Auth-Method: login\r\n", BE_AUTH_LOGIN },
		{ "auth-method:   LOGIN  \r\n", BE_AUTH_LOGIN },
		{ "Auth-Method: None\r\n", BE_AUTH_NONE },
		{ "Auth-Method: none\r\nAuth-Method: login\r\n", BE_AUTH_LOGIN },
	};
	struct auth_result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(parse_ok(cases[i].line, MP_PROTO_SMTP, &r), 0, "%s", cases[i].line);
		cr_assert_eq(r.be_auth, cases[i].want, "%s", cases[i].line);
		auth_result_clear(&r);
	}
}

Test(auth_vars, unknown_auth_method_is_an_error_for_smtp_only)
{
	static const char *const bad[] = {
		"Auth-Method: cram-md5\r\n", "Auth-Method: loginx\r\n", "Auth-Method: logi\r\n",
		"Auth-Method:\r\n", "Auth-Method: login plain\r\n", "Auth-Method: xoauth2\r\n",
	};
	struct auth_result r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse_ok(bad[i], MP_PROTO_SMTP, &r), -1, "%s", bad[i]);
		cr_assert_eq(r.status, AUTH_ERROR);
		cr_assert_str_eq(r.reason, "auth http server sent invalid Auth-Method");
		auth_result_clear(&r);
		/* IMAP and POP3 have no backend choice: the header means nothing there. */
		cr_assert_eq(parse_ok(bad[i], MP_PROTO_IMAP, &r), 0, "%s", bad[i]);
		cr_assert_eq(r.status, AUTH_OK);
		auth_result_clear(&r);
	}
}
