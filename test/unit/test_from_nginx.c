/*
 * --from-nginx: the tokenizer against nginx's rules (ngx_conf_read_token:
 * quotes, escapes, comments, "${", errors at their line), includes with
 * globs relative to the main file's directory, the refusals nginx makes,
 * hostile input (nesting, long words, NUL bytes, include loops), and every
 * directive of the table written in nginx syntax converting to YAML that
 * loads into the same configuration as the YAML written by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "config/config_nginx.h"
#include "config/config_nginx_parse.h"
#include "test/unit/config_helpers.h"

TestSuite(from_nginx, .init = th_setup, .fini = th_teardown);

/* ---- the lexer ---- */

static int
lex1(const char *text, struct ngx_words *w, char *err, size_t errlen)
{
	struct ngx_lexer lx;

	ngx_lexer_init(&lx, "t.conf", text, strlen(text));
	return ngx_lex(&lx, w, err, errlen);
}

/* text must lex to one directive ended by ';' with the words given (NULL-ended). */
static void
expect_words(const char *text, const char *const *want)
{
	struct ngx_words w = { 0 };
	char err[256] = "";
	size_t n = 0;

	cr_assert_eq(lex1(text, &w, err, sizeof(err)), NGX_TOK_DIRECTIVE, "%s: %s", text, err);
	while (want[n])
		n++;
	cr_assert_eq(w.n, n, "%s: %zu words, want %zu", text, w.n, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(w.v[i], want[i], "%s: word %zu", text, i);
	ngx_words_free(&w);
}

Test(from_nginx, lexer_words_quotes_escapes)
{
	expect_words("a b\tc\r\nd;", (const char *[]){ "a", "b", "c", "d", NULL });
	expect_words("a \"b c\" 'd e';", (const char *[]){ "a", "b c", "d e", NULL });
	/* \" \' \\ lose the backslash; \n \r \t become the control; others keep it. */
	expect_words("a \"x\\\"y\" 'p\\'q' r\\\\s;",
	    (const char *[]){ "a", "x\"y", "p'q", "r\\s", NULL });
	expect_words("a \"1\\n2\\t3\\r\" \\x\\;;", (const char *[]){ "a", "1\n2\t3\r", "\\x\\;", NULL });
	/* ';', '{' and '#' inside quotes are text; '}' and '#' inside a word too. */
	expect_words("a \"b;c{d}#e\" f} g#h;", (const char *[]){ "a", "b;c{d}#e", "f}", "g#h", NULL });
	/* "${" does not open a block. */
	expect_words("a ${var}x $y;", (const char *[]){ "a", "${var}x", "$y", NULL });
	/* An escaped quote at the start of a word is no quote. */
	expect_words("a \\\"b;", (const char *[]){ "a", "\"b", NULL });
	/* Comments to the end of the line, at the start of a word only. */
	expect_words("# c1 ; {\n a # c2 }\n b;", (const char *[]){ "a", "b", NULL });
	/* An empty quoted word is a word; ')' after a quote is allowed, as nginx does. */
	expect_words("a \"\" '';", (const char *[]){ "a", "", "", NULL });
	expect_words("a \"b\");", (const char *[]){ "a", "b", ")", NULL });
}

Test(from_nginx, lexer_blocks_and_lines)
{
	struct ngx_lexer lx;
	struct ngx_words w = { 0 };
	char err[256];
	const char *t = "mail {\n\n  server\n  {\n listen 1;\n}\n}\n";

	ngx_lexer_init(&lx, "t.conf", t, strlen(t));
	cr_assert_eq(ngx_lex(&lx, &w, err, sizeof(err)), NGX_TOK_BLOCK);
	cr_assert_eq(lx.start_line, 1);
	cr_assert_eq(ngx_lex(&lx, &w, err, sizeof(err)), NGX_TOK_BLOCK);
	cr_assert_str_eq(w.v[0], "server");
	cr_assert_eq(lx.start_line, 3);
	cr_assert_eq(ngx_lex(&lx, &w, err, sizeof(err)), NGX_TOK_DIRECTIVE);
	cr_assert_eq(lx.start_line, 5);
	cr_assert_eq(ngx_lex(&lx, &w, err, sizeof(err)), NGX_TOK_END);
	cr_assert_eq(ngx_lex(&lx, &w, err, sizeof(err)), NGX_TOK_END);
	cr_assert_eq(ngx_lex(&lx, &w, err, sizeof(err)), NGX_TOK_EOF);
	ngx_words_free(&w);
}

static void
expect_lex_err(const char *text, const char *msg)
{
	struct ngx_words w = { 0 };
	struct ngx_lexer lx;
	char err[256] = "";
	int t;

	ngx_lexer_init(&lx, "t.conf", text, strlen(text));
	while ((t = ngx_lex(&lx, &w, err, sizeof(err))) != NGX_TOK_ERROR && t != NGX_TOK_EOF)
		;
	ngx_words_free(&w);
	cr_assert_eq(t, NGX_TOK_ERROR, "%s: no error", text);
	cr_assert_str_eq(err, msg, "%s", text);
}

Test(from_nginx, lexer_errors)
{
	expect_lex_err("a \"b", "t.conf:1: unexpected end of file in a quoted parameter (opened at line 1)");
	expect_lex_err("a\n'b\n\n", "t.conf:4: unexpected end of file in a quoted parameter (opened at line 2)");
	expect_lex_err("a b", "t.conf:1: unexpected end of file, expecting \";\" or \"}\"");
	expect_lex_err("a b\\", "t.conf:1: unexpected end of file, expecting \";\" or \"}\"");
	expect_lex_err("a\n\"b\"c;", "t.conf:2: unexpected \"c\"");
	expect_lex_err("\n;", "t.conf:2: unexpected \";\"");
	expect_lex_err("{", "t.conf:1: unexpected \"{\"");
	expect_lex_err("a }", "t.conf:1: unexpected \"}\"");
}

Test(from_nginx, lexer_hostile)
{
	char *big = malloc(NGX_TOKEN_MAX + 100);
	struct ngx_words w = { 0 };
	char err[256];

	/* A word past nginx's buffer. */
	memset(big, 'x', NGX_TOKEN_MAX + 10);
	memcpy(big + NGX_TOKEN_MAX + 10, ";", 2);
	cr_assert_eq(lex1(big, &w, err, sizeof(err)), NGX_TOK_ERROR);
	cr_assert(strstr(err, "t.conf:1: too long parameter \"xxxxxxxxxx...\" started") != NULL, "%s", err);
	/* The same quoted, never closed. */
	big[0] = '"';
	cr_assert_eq(lex1(big, &w, err, sizeof(err)), NGX_TOK_ERROR);
	free(big);
	/* A NUL byte inside a word. */
	struct ngx_lexer lx;
	ngx_lexer_init(&lx, "t.conf", "a b\0c;", 6);
	cr_assert_eq(ngx_lex(&lx, &w, err, sizeof(err)), NGX_TOK_ERROR);
	cr_assert_str_eq(err, "t.conf:1: a NUL byte in a parameter");
	/* Every split of a file: errors or directives, never a crash or a read past the end. */
	const char *t = "a \"b\\\"c\" 'd' ${e} # f\n g { h i; } \\;;";
	for (size_t cut = 0; cut <= strlen(t); cut++) {
		char *part = malloc(cut ? cut : 1);
		memcpy(part, t, cut);
		ngx_lexer_init(&lx, "t.conf", part, cut);
		int k, guard = 0;
		while ((k = ngx_lex(&lx, &w, err, sizeof(err))) != NGX_TOK_ERROR && k != NGX_TOK_EOF)
			cr_assert_lt(++guard, 10);
		free(part);
	}
	ngx_words_free(&w);
}

/* ---- conversion ---- */

static char conv_err[2048];

/* The YAML for nginx text (name t.conf, includes relative to the temp dir); NULL on error. */
static char *
convert(const char *text)
{
	struct buf b = { 0 };

	if (config_from_nginx_text("t.conf", text, strlen(text), th_dir(), &b, conv_err,
	    sizeof(conv_err)) < 0) {
		cr_assert_eq(buf_len(&b), 0);
		buf_release(&b);
		return NULL;
	}
	buf_append(&b, "", 1);
	char *s = strdup(buf_rptr(&b));
	buf_release(&b);
	return s;
}

static void
expect_conv_err(const char *text, const char *msg)
{
	char *y = convert(text);

	cr_assert_null(y, "converted, but expected %s:\n%s", msg, y);
	cr_assert_str_eq(conv_err, msg, "%s", text);
}

static void
expect_in(const char *yaml, const char *line)
{
	cr_assert(strstr(yaml, line) != NULL, "no \"%s\" in:\n%s", line, yaml);
}

Test(from_nginx, mapping)
{
	char *y = convert(
	    "user mail;\nload_module m.so;\nhttp { server { listen 80; } }\n"
	    "events { worker_connections 64; debug_connection 1.2.3.4; }\n"
	    "mail {\n  auth_http 127.0.0.1:9/a;\n  smtp_capabilities \"SIZE 10\" VRFY;\n"
	    "  imap_capabilities \"A B\";\n  pop3_auth plain;\n  error_log stderr; error_log x.log info;\n"
	    "  auth_http_header X-K \"a b\";\n  auth_http_header X-C $remote_addr;\n"
	    "  auth_http_header X-D $unknown;\n  smtp_greeting_delay \"1h 30m\"; pop3_capabilities \"\";\n"
	    "  server { listen 127.0.0.1:1143 ssl; listen 1144; protocol imap; ssl_stapling on; }\n"
	    "  server { # only a comment\n  }\n}\n");

	cr_assert_not_null(y, "%s", conv_err);
	expect_in(y, "\nuser: mail\n");
	expect_in(y, "\n# not carried: t.conf:2: load_module m.so; (not a mailproxy directive)\n");
	expect_in(y, "\n# not carried: t.conf:3: http { ... } (a block mailproxy does not read)\n");
	expect_in(y, "\nevents:\n  worker_connections: 64\n  # not carried: t.conf:4: debug_connection");
	expect_in(y, "\n  smtp_capabilities: [SIZE 10, VRFY]\n");
	/* One argument with a blank stays one capability, as nginx has it. */
	expect_in(y, "\n  imap_capabilities: [A B]\n");
	expect_in(y, "\n  pop3_auth: plain\n");
	expect_in(y, "\n  error_log: [stderr, x.log info]\n");
	expect_in(y, "\n  auth_http_header: [X-K a b, X-C $remote_addr, X-D $$unknown]\n");
	expect_in(y, "# note: t.conf:12: auth_http_header X-C \"$remote_addr\"; (mailproxy expands");
	expect_in(y, "# note: t.conf:13: auth_http_header X-D \"$unknown\"; (kept verbatim");
	expect_in(y, "\n  smtp_greeting_delay: 1h 30m\n");
	/* An empty capability list, which nginx's syntax has no other way to say. */
	expect_in(y, "\n  pop3_capabilities: []\n");
	expect_in(y, "\n  servers:\n    - listen: ['127.0.0.1:1143 ssl', 1144]\n      protocol: imap\n"
	    "      # not carried: t.conf:15: ssl_stapling on;");
	expect_in(y, "\n    -\n");
	free(y);
	/* nginx's old name of pop3_auth, which mailproxy refuses as nginx does. */
	y = convert("mail { auth plain apop; }");
	cr_assert_not_null(y, "%s", conv_err);
	expect_in(y, "\nmail:\n  # not carried: t.conf:1: auth plain apop; (renamed to pop3_auth in nginx "
	    "0.5.15: write that)\n");
	free(y);
}

/* nginx glues log_format's strings together; escape= stays a word of its own. */
Test(from_nginx, log_format_strings_glued_as_nginx)
{
	char *y = convert("mail {\n  auth_http 127.0.0.1:9/a;\n"
	    "  log_format m '$remote_addr ' \"[$time_local] \"\n    '$status';\n"
	    "  log_format j escape=json '{\"a\":\"$login\"}';\n"
	    "  access_log /tmp/a.log m buffer=4k; access_log /tmp/b.log j;\n"
	    "  server { listen 143; protocol imap; }\n}\n");

	cr_assert_not_null(y, "%s", conv_err);
	expect_in(y, "log_format: ['m $remote_addr [$time_local] $status', "
	    "'j escape=json {\"a\":\"$login\"}']\n");
	expect_in(y, "access_log: [/tmp/a.log m buffer=4k, /tmp/b.log j]\n");
	free(y);
	cr_assert_null(convert("mail { log_format m escape=json; }"), "a format without its text");
	y = convert("mail { auth_http 127.0.0.1:9/a; access_log off;\n"
	    "  server { listen 143; protocol imap; access_log /tmp/c.log; } }\n");
	cr_assert_not_null(y, "%s", conv_err);
	expect_in(y, "  access_log: off\n");
	expect_in(y, "      access_log: [/tmp/c.log]\n");
	free(y);
}

Test(from_nginx, values_yaml_must_quote)
{
	char *y = convert("mail { ssl_ciphers 'a: #b'; server_name null \"\" '~' \"x\\ny\" '[z]'"
	    " \"\xc3\xa9\"; }\n");

	cr_assert_not_null(y, "%s", conv_err);
	expect_in(y, "\n  ssl_ciphers: 'a: #b'\n");
	expect_in(y, "\n  server_name: ['null', '', '~', \"x\\ny\", '[z]', \"\xc3\xa9\"]\n");
	free(y);
	/* Bytes that are not UTF-8 cannot be YAML. */
	expect_conv_err("mail { server_name \"\xff\"; }", "t.conf:1: \"server_name\": a value is not valid UTF-8");
	expect_conv_err("mail { server_name \"\xed\xa0\x80\"; }", "t.conf:1: \"server_name\": a value is not valid UTF-8");
	expect_conv_err("mail { server_name \"\xc0\xaf\"; }", "t.conf:1: \"server_name\": a value is not valid UTF-8");
}

Test(from_nginx, refusals_as_nginx)
{
	expect_conv_err("events { } events { }",
	    "t.conf:1: \"events\" directive is duplicate (first at t.conf:1)");
	expect_conv_err("mail {\n}\nmail {\n}", "t.conf:3: \"mail\" directive is duplicate (first at t.conf:1)");
	expect_conv_err("mail { timeout 1s;\ntimeout 2s; }",
	    "t.conf:2: \"timeout\" directive is duplicate (first at t.conf:1)");
	expect_conv_err("timeout 5s;", "t.conf:1: \"timeout\" directive is not allowed here");
	expect_conv_err("mail { listen 143; }", "t.conf:1: \"listen\" directive is not allowed here");
	expect_conv_err("mail { server { }", "t.conf:1: unexpected end of file, expecting \"}\"");
	expect_conv_err("mail { timeout 1s 2s; }", "t.conf:1: invalid number of arguments in \"timeout\" directive");
	expect_conv_err("mail { auth_http_header X; }",
	    "t.conf:1: invalid number of arguments in \"auth_http_header\" directive");
	expect_conv_err("mail { ssl_certificate a b; }",
	    "t.conf:1: invalid number of arguments in \"ssl_certificate\" directive");
	expect_conv_err("mail;", "t.conf:1: directive \"mail\" has no opening \"{\"");
	expect_conv_err("mail x { }", "t.conf:1: invalid number of arguments in \"mail\" directive");
	expect_conv_err("mail { timeout 1s { } }", "t.conf:1: directive \"timeout\" is not terminated by \";\"");
	expect_conv_err("events {", "t.conf:1: unexpected end of file, expecting \"}\"");
	expect_conv_err("events { }\n}", "t.conf:2: unexpected \"}\"");
	expect_conv_err("include;", "t.conf:1: invalid number of arguments in \"include\" directive");
	expect_conv_err("include a b;", "t.conf:1: invalid number of arguments in \"include\" directive");
}

Test(from_nginx, hostile_nesting_and_loops)
{
	char deep[400] = "";

	for (int i = 0; i < 100; i++)
		strcat(deep, "a{");
	expect_conv_err(deep, "t.conf:1: blocks nested deeper than 64");
	th_write("loop.conf", "include loop.conf;\n", -1);
	char *y = convert("include loop.conf;");
	cr_assert_null(y);
	cr_assert(strstr(conv_err, "includes nested deeper than 16 (a loop?)") != NULL, "%s", conv_err);
}

Test(from_nginx, include_glob_relative_to_main_dir)
{
	char *y;

	mkdir("conf.d", 0755);
	mkdir("sub", 0755);
	th_write("conf.d/20-b.conf", "worker_rlimit_nofile 4096;\n", -1);
	th_write("conf.d/10-a.conf", "worker_processes 3;\n", -1);
	th_write("conf.d/skip.txt", "broken {\n", -1);
	/* Nested includes resolve against the main file's directory, not their own. */
	th_write("sub/mail.inc", "mail { include sub/servers/*.inc; include none-*.inc; }\n", -1);
	mkdir("sub/servers", 0755);
	th_write("sub/servers/a.inc", "server { listen 1143; protocol imap; }\n", -1);
	th_write("sub/servers/b.inc", "server { listen 1110; protocol pop3; }\n", -1);
	/* Inside blocks not carried nothing is followed: a missing file is no error. */
	y = convert("include conf.d/*.conf;\nhttp { include /nonexistent/mime.types; }\n"
	    "include sub/mail.inc;\n");
	cr_assert_not_null(y, "%s", conv_err);
	expect_in(y, "\nworker_processes: 3\nworker_rlimit_nofile: 4096\n");
	expect_in(y, "\nmail:\n  servers:\n    - listen: [1143]\n      protocol: imap\n"
	    "    - listen: [1110]\n      protocol: pop3\n");
	free(y);
	/* A single file must exist; its errors carry its own name. */
	cr_assert_null(convert("include missing.conf;"));
	cr_assert(strncmp(conv_err, "t.conf:1: cannot open \"", 23) == 0 &&
	    strstr(conv_err, "/missing.conf\": No such file or directory") != NULL, "%s", conv_err);
	th_write("bad.inc", "\n\nuser \"x;\n", -1);
	cr_assert_null(convert("include bad.inc;"));
	cr_assert(strstr(conv_err, "/bad.inc:4: unexpected end of file in a quoted parameter "
	    "(opened at line 3)") != NULL, "%s", conv_err);
}

/* ---- every directive of the table, in nginx syntax ---- */

#define C_MAIN 1
#define C_EVENTS 2
#define C_MAIL 4
#define C_SERVER 8

/* Each directive as nginx arguments and as the YAML a user would write, in one context. */
static const struct nsample {
	const char *name, *nginx, *yaml;
	int ctx;
} nsamples[] = {
	{ "user", "www-data www-data", "www-data www-data", C_MAIN },
	{ "worker_processes", "auto", "auto", C_MAIN },
	{ "worker_rlimit_nofile", "4096", "4096", C_MAIN },
	{ "worker_cpu_affinity", "0101 1010", "[\"0101\", \"1010\"]", C_MAIN },
	{ "worker_priority", "-5", "-5", C_MAIN },
	{ "worker_rlimit_core", "500m", "500m", C_MAIN },
	{ "working_directory", "/var/tmp", "/var/tmp", C_MAIN },
	{ "env", "TZ", "[TZ]", C_MAIN },
	{ "timer_resolution", "100ms", "100ms", C_MAIN },
	{ "worker_shutdown_timeout", "\"1m 30s\"", "90s", C_MAIN },
	{ "error_log", "logs/e.log info", "logs/e.log info", C_MAIN | C_MAIL | C_SERVER },
	{ "pid", "'run/mp.pid'", "run/mp.pid", C_MAIN },
	{ "daemon", "off", "off", C_MAIN },
	{ "master_process", "off", "off", C_MAIN },
	{ "worker_connections", "1024", "1024", C_EVENTS },
	{ "multi_accept", "on", "on", C_EVENTS },
	{ "use", "epoll", "epoll", C_EVENTS },
	{ "accept_mutex", "on", "on", C_EVENTS },
	{ "accept_mutex_delay", "100ms", "100ms", C_EVENTS },
	{ "listen", "127.0.0.1:1143 proxy_protocol backlog=10 so_keepalive=30m::10", "\"127.0.0.1:1143 proxy_protocol backlog=10 so_keepalive=30m::10\"", C_SERVER },
	{ "protocol", "pop3", "pop3", C_SERVER },
	{ "timeout", "30s", "30s", C_MAIL | C_SERVER },
	{ "server_name", "mail.example.com \"*.example.com\"", "[mail.example.com, \"*.example.com\"]", C_MAIL | C_SERVER },
	{ "resolver", "127.0.0.1 valid=30s", "127.0.0.1 valid=30s", C_MAIL | C_SERVER },
	{ "resolver_timeout", "5s", "5s", C_MAIL | C_SERVER },
	{ "max_errors", "3", "3", C_MAIL | C_SERVER },
	{ "max_commands", "50", "50", C_MAIL | C_SERVER },
	{ "auth_http", "http://127.0.0.1:9001/a http://127.0.0.2:9001/a", "[\"http://127.0.0.1:9001/a\", \"http://127.0.0.2:9001/a\"]", C_MAIL | C_SERVER },
	{ "auth_http_header", "X-Auth-Key \"two words\"", "{X-Auth-Key: two words}", C_MAIL | C_SERVER },
	{ "auth_http_timeout", "5s", "5s", C_MAIL | C_SERVER },
	{ "auth_http_pass_client_cert", "on", "on", C_MAIL | C_SERVER },
	{ "proxy", "on", "on", C_MAIL | C_SERVER },
	{ "proxy_buffer", "16k", "16k", C_MAIL | C_SERVER },
	{ "proxy_timeout", "1h", "1h", C_MAIL | C_SERVER },
	{ "proxy_pass_error_message", "on", "on", C_MAIL | C_SERVER },
	{ "xclient", "off", "off", C_MAIL | C_SERVER },
	{ "proxy_smtp_auth", "on", "on", C_MAIL | C_SERVER },
	{ "proxy_protocol", "v2", "v2", C_MAIL | C_SERVER },
	{ "so_keepalive", "on", "on", C_MAIL | C_SERVER },
	{ "imap_client_buffer", "8k", "8k", C_MAIL | C_SERVER },
	{ "imap_capabilities", "\"IMAP4rev1\" \"IDLE\"", "[IMAP4rev1, IDLE]", C_MAIL | C_SERVER },
	{ "imap_auth", "plain login", "[plain, login]", C_MAIL | C_SERVER },
	{ "imap_id_forward", "on", "on", C_MAIL | C_SERVER },
	{ "pop3_capabilities", "TOP USER", "TOP USER", C_MAIL | C_SERVER },
	{ "pop3_auth", "plain apop", "plain apop", C_MAIL | C_SERVER },
	{ "pop3_client_buffer", "8k", "8k", C_MAIL | C_SERVER },
	{ "smtp_client_buffer", "8k", "8k", C_MAIL | C_SERVER },
	{ "smtp_greeting_delay", "1s", "1s", C_MAIL | C_SERVER },
	{ "smtp_capabilities", "\"SIZE 10485760\" VRFY", "[\"SIZE 10485760\", VRFY]", C_MAIL | C_SERVER },
	{ "smtp_auth", "login plain cram-md5", "[login, plain, cram-md5]", C_MAIL | C_SERVER },
	{ "set_real_ip_from", "10.0.0.0/8", "10.0.0.0/8", C_MAIL | C_SERVER },
	{ "ssl", "off", "off", C_MAIL | C_SERVER },
	{ "starttls", "off", "off", C_MAIL | C_SERVER },
	{ "ssl_certificate", "cert.pem", "cert.pem", C_MAIL | C_SERVER },
	{ "ssl_certificate_key", "cert.key", "cert.key", C_MAIL | C_SERVER },
	{ "ssl_password_file", "pass.txt", "pass.txt", C_MAIL | C_SERVER },
	{ "ssl_certificate_compression", "on", "on", C_MAIL | C_SERVER },
	{ "ssl_dhparam", "dh.pem", "dh.pem", C_MAIL | C_SERVER },
	{ "ssl_ecdh_curve", "X25519:prime256v1", "X25519:prime256v1", C_MAIL | C_SERVER },
	{ "ssl_protocols", "TLSv1.2 TLSv1.3", "[TLSv1.2, TLSv1.3]", C_MAIL | C_SERVER },
	{ "ssl_ciphers", "'ECDHE+AESGCM:!aNULL'", "ECDHE+AESGCM:!aNULL", C_MAIL | C_SERVER },
	{ "ssl_prefer_server_ciphers", "on", "on", C_MAIL | C_SERVER },
	{ "ssl_session_cache", "builtin:1000 shared:MAIL:10m", "\"builtin:1000 shared:MAIL:10m\"", C_MAIL | C_SERVER },
	{ "ssl_session_tickets", "off", "off", C_MAIL | C_SERVER },
	{ "ssl_session_ticket_key", "ticket.key", "ticket.key", C_MAIL | C_SERVER },
	/* mailproxy only: nginx has no such directive, so no nginx.conf has it; written by hand, it is carried over. */
	{ "ssl_session_ticket_key_store", "redis 127.0.0.1:6379 period=1h",
	  "\"redis 127.0.0.1:6379 period=1h\"", C_MAIL | C_SERVER },
	{ "ssl_session_timeout", "10m", "10m", C_MAIL | C_SERVER },
	{ "ssl_verify_client", "optional_no_ca", "optional_no_ca", C_MAIL | C_SERVER },
	{ "ssl_verify_depth", "2", "2", C_MAIL | C_SERVER },
	{ "ssl_client_certificate", "ca.pem", "ca.pem", C_MAIL | C_SERVER },
	{ "ssl_trusted_certificate", "ca.pem", "ca.pem", C_MAIL | C_SERVER },
	{ "ssl_crl", "crl.pem", "crl.pem", C_MAIL | C_SERVER },
	{ "ssl_conf_command", "Options SessionTicket", "[\"Options SessionTicket\"]", C_MAIL | C_SERVER },
	{ "auth_http_keepalive", "32", "32", C_MAIL | C_SERVER },
	{ "auth_http_fail_timeout", "10s", "10s", C_MAIL | C_SERVER },
	{ "auth_http_ssl_verify", "on", "on", C_MAIL | C_SERVER },
	{ "auth_http_ssl_verify_depth", "3", "3", C_MAIL | C_SERVER },
	{ "auth_http_ssl_trusted_certificate", "ca.pem", "ca.pem", C_MAIL | C_SERVER },
	{ "auth_http_ssl_name", "auth.example.com", "auth.example.com", C_MAIL | C_SERVER },
	{ "auth_http_ssl_server_name", "off", "off", C_MAIL | C_SERVER },
	{ "auth_http_ssl_session_reuse", "off", "off", C_MAIL | C_SERVER },
	{ "auth_http_ssl_protocols", "TLSv1.3", "TLSv1.3", C_MAIL | C_SERVER },
	{ "auth_http_ssl_ciphers", "HIGH", "HIGH", C_MAIL | C_SERVER },
	{ "auth_http_ssl_certificate", "client.pem", "client.pem", C_MAIL | C_SERVER },
	{ "auth_http_ssl_certificate_key", "client.key", "client.key", C_MAIL | C_SERVER },
	{ "auth_http_cache", "shared:ac:1m valid=30s", "\"shared:ac:1m valid=30s\"", C_MAIL | C_SERVER },
	{ "status_listen", "127.0.0.1:9191", "\"127.0.0.1:9191\"", C_MAIN },
	{ "status_allow", "127.0.0.1/32 10.0.0.0/8", "[127.0.0.1/32, 10.0.0.0/8]", C_MAIN },
	{ "log_format", "m escape=json '$remote_addr $status'", "[\"m escape=json $remote_addr $status\"]", C_MAIL },
	{ "access_log", "/tmp/a.log combined buffer=4k flush=1s", "\"/tmp/a.log combined buffer=4k flush=1s\"", C_MAIL | C_SERVER },
	{ "proxy_ssl", "on", "on", C_MAIL | C_SERVER },
	{ "proxy_starttls", "on", "on", C_MAIL | C_SERVER },
	{ "proxy_ssl_verify", "on", "on", C_MAIL | C_SERVER },
	{ "proxy_ssl_verify_depth", "3", "3", C_MAIL | C_SERVER },
	{ "proxy_ssl_trusted_certificate", "ca.pem", "ca.pem", C_MAIL | C_SERVER },
	{ "proxy_ssl_name", "mail.example.com", "mail.example.com", C_MAIL | C_SERVER },
	{ "proxy_ssl_server_name", "on", "on", C_MAIL | C_SERVER },
	{ "proxy_ssl_session_reuse", "off", "off", C_MAIL | C_SERVER },
	{ "proxy_ssl_protocols", "TLSv1.3", "TLSv1.3", C_MAIL | C_SERVER },
	{ "proxy_ssl_ciphers", "HIGH", "HIGH", C_MAIL | C_SERVER },
	{ "proxy_ssl_certificate", "client.pem", "client.pem", C_MAIL | C_SERVER },
	{ "proxy_ssl_certificate_key", "client.key", "client.key", C_MAIL | C_SERVER },
	{ "login_limit_zone", "shared:logins:10m", "shared:logins:10m", C_MAIL | C_SERVER },
	{ "login_limit_store", "redis 127.0.0.1:6379 db=2", "\"redis 127.0.0.1:6379 db=2\"", C_MAIL | C_SERVER },
	{ "login_limit_addr", "10/m burst=20 block=15m", "\"10/m burst=20 block=15m\"", C_MAIL | C_SERVER },
	{ "login_limit_user", "5/m burst=3", "[5/m, burst=3]", C_MAIL | C_SERVER },
	{ "login_limit_pair", "1/s", "1/s", C_MAIL | C_SERVER },
	{ "login_limit_ipv6_prefix", "56", "56", C_MAIL | C_SERVER },
	{ "login_limit_allow", "127.0.0.1/32", "[127.0.0.1/32]", C_MAIL | C_SERVER },
	{ "login_limit_dry_run", "on", "on", C_MAIL | C_SERVER },
	{ "login_limit_log_level", "notice", "notice", C_MAIL | C_SERVER },
	{ "login_limit_tarpit", "1s", "1s", C_MAIL | C_SERVER },
	{ "limit_sessions_user", "10", "10", C_MAIL | C_SERVER },
	{ "limit_sessions_user_addr", "3", "3", C_MAIL | C_SERVER },
};

#define NNSAMPLES (sizeof(nsamples) / sizeof(nsamples[0]))

Test(from_nginx, every_table_directive_has_an_nginx_sample)
{
	struct buf b = { 0 };
	size_t n = 0;

	config_reference(&b);
	buf_append(&b, "", 1);
	for (const char *p = b.data; (p = strstr(p, "\n| `")) != NULL; p++) {
		char name[64];
		const char *s = p + 4, *e = strchr(s, '`');
		cr_assert(e != NULL && e - s < 64);
		memcpy(name, s, (size_t)(e - s));
		name[e - s] = '\0';
		n++;
		if (strcmp(name, "auth") == 0)
			continue;	/* renamed: refused by the loader, carried as written */
		size_t i = 0;
		while (i < NNSAMPLES && strcmp(nsamples[i].name, name) != 0)
			i++;
		cr_assert_lt(i, NNSAMPLES, "directive \"%s\" has no case in nsamples[] of "
		    "test/unit/test_from_nginx.c", name);
	}
	cr_assert_gt(n, 50);
	buf_release(&b);
}

/* -T's output without its first line (which names the file). */
static char *
dump_of(struct config *cf)
{
	struct buf b = { 0 };

	config_dump(cf, &b);
	buf_append(&b, "", 1);
	char *s = strdup(strchr(buf_rptr(&b), '\n'));
	buf_release(&b);
	config_free(cf);
	return s;
}

static const char *
zone_line(const char *name, int yaml)
{
	if (strncmp(name, "login_limit_", 12) != 0 && strncmp(name, "limit_sessions_", 15) != 0)
		return "";
	if (strcmp(name, "login_limit_zone") == 0 || strcmp(name, "login_limit_allow") == 0 ||
	    strcmp(name, "login_limit_ipv6_prefix") == 0 || strcmp(name, "login_limit_dry_run") == 0 ||
	    strcmp(name, "login_limit_log_level") == 0 || strcmp(name, "login_limit_tarpit") == 0)
		return "";
	return yaml ? "  login_limit_zone: shared:lz:1m\n" : "  login_limit_zone shared:lz:1m;\n";
}

/* nginx text and YAML text give the same -T. */
static void
same_config(const char *what, const char *nginx, const char *yaml)
{
	struct config *cf;
	char *y = convert(nginx), *a, *b;

	cr_assert_not_null(y, "%s: %s", what, conv_err);
	th_write("n.yaml", y, -1);
	cf = th_load_file("n.yaml", th_dir(), NULL);
	cr_assert_not_null(cf, "%s: the converted YAML does not load: %s\n%s", what, th_err(), y);
	b = dump_of(cf);
	cf = th_load(yaml);
	cr_assert_not_null(cf, "%s: %s", what, th_err());
	a = dump_of(cf);
	cr_assert_str_eq(b, a, "%s:\n%s", what, y);
	free(a);
	free(b);
	free(y);
}

Test(from_nginx, every_directive_converts_to_what_yaml_says)
{
	char ng[2048], ym[2048];

	th_certs();
	for (size_t i = 0; i < NNSAMPLES; i++) {
		const struct nsample *s = &nsamples[i];
		const char *mail_ng = "mail {\n  auth_http 127.0.0.1:9000/auth;\n%s%s";
		const char *mail_ym = "mail:\n  auth_http: 127.0.0.1:9000/auth\n%s%s";

		if (s->ctx & C_MAIN) {
			snprintf(ng, sizeof(ng), "%s %s;\nmail { auth_http 127.0.0.1:9000/auth; "
			    "server { listen 143; } }\n", s->name, s->nginx);
			snprintf(ym, sizeof(ym), "%s: %s\n" MINIMAL, s->name, s->yaml);
			same_config(s->name, ng, ym);
		}
		if (s->ctx & C_EVENTS) {
			snprintf(ng, sizeof(ng), "events { %s %s; }\nmail { auth_http 127.0.0.1:9000/auth; "
			    "server { listen 143; } }\n", s->name, s->nginx);
			snprintf(ym, sizeof(ym), "events:\n  %s: %s\n" MINIMAL, s->name, s->yaml);
			same_config(s->name, ng, ym);
		}
		if ((s->ctx & C_MAIL) && strcmp(s->name, "auth_http") != 0) {
			char line[512];
			size_t o = (size_t)snprintf(ng, sizeof(ng), mail_ng, zone_line(s->name, 0), "");
			snprintf(line, sizeof(line), "  %s %s;\n  server { listen 143; }\n}\n", s->name, s->nginx);
			snprintf(ng + o, sizeof(ng) - o, "%s", line);
			o = (size_t)snprintf(ym, sizeof(ym), mail_ym, zone_line(s->name, 1), "");
			snprintf(ym + o, sizeof(ym) - o, "  %s: %s\n  servers:\n    - listen: \"143\"\n",
			    s->name, s->yaml);
			same_config(s->name, ng, ym);
		}
		if (s->ctx & C_SERVER) {
			size_t o = (size_t)snprintf(ng, sizeof(ng), mail_ng, zone_line(s->name, 0), "");
			snprintf(ng + o, sizeof(ng) - o, "  server {\n    %s%s;\n    %s %s;\n  }\n}\n",
			    strcmp(s->name, "listen") ? "listen 143" : "protocol imap",
			    "", s->name, s->nginx);
			o = (size_t)snprintf(ym, sizeof(ym), mail_ym, zone_line(s->name, 1), "");
			snprintf(ym + o, sizeof(ym) - o, "  servers:\n    - %s\n      %s: %s\n",
			    strcmp(s->name, "listen") ? "listen: \"143\"" : "protocol: imap", s->name, s->yaml);
			same_config(s->name, ng, ym);
		}
	}
}

Test(from_nginx, text_without_directory_reads_no_file)
{
	struct buf b = { 0 };
	char err[256];
	const char *t = "user x;\ninclude /etc/hostname;\n";

	th_write("x.conf", "user y;\n", -1);
	cr_assert_eq(config_from_nginx_text("t.conf", t, strlen(t), NULL, &b, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "t.conf:2: include: no directory to read from");
	cr_assert_eq(buf_len(&b), 0);
	buf_release(&b);
}

/* Big files stay linear: 100,000 repeated and unknown directives interleaved. */
Test(from_nginx, many_directives_linear, .timeout = 60)
{
	struct buf in = { 0 };
	char *y;

	buf_puts(&in, "mail {\n");
	for (int i = 0; i < 50000; i++)
		buf_printf(&in, "  set_real_ip_from 10.%d.%d.0/24;\n  unknown_%d x;\n", i / 256, i % 256, i);
	buf_puts(&in, "}\n");
	buf_append(&in, "", 1);
	y = convert(buf_rptr(&in));
	cr_assert_not_null(y, "%s", conv_err);
	expect_in(y, "\n  set_real_ip_from: [10.0.0.0/24, 10.0.1.0/24, ");
	expect_in(y, "\n  # not carried: t.conf:100001: unknown_49999 x; (not a mailproxy directive)\n");
	free(y);
	buf_release(&in);
}
