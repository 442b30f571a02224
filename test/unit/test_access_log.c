/*
 * The access log's pure parts: log_format compiled by config_vars.c (bad
 * '$', unknown variables, the log-only variables auth_http_header refuses),
 * escape= values, the rendering with nginx's default escape, JSON and none
 * against hostile values, and the log_format/access_log directives with
 * their errors at file:line:column and -T's round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "config/config_log.h"
#include "config/config_vars.h"
#include "test/unit/config_helpers.h"

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

TestSuite(alog_fmt, .init = ar_init, .fini = ar_fini);
TestSuite(alog_conf, .init = th_setup, .fini = th_teardown);

static struct cvalue
fmt_ok(const char *s)
{
	struct cvalue cv;
	char err[160] = "";
	size_t pos = 99;

	cr_assert_eq(cvalue_compile_log(s, &ar, &cv, &pos, err, sizeof(err)), 0, "%s: %s", s, err);
	return cv;
}

static void
fmt_bad(const char *s, size_t want_pos, const char *want)
{
	struct cvalue cv;
	char err[160] = "";
	size_t pos = 99;

	cr_assert_eq(cvalue_compile_log(s, &ar, &cv, &pos, err, sizeof(err)), -1, "%s compiled", s);
	cr_assert_eq(pos, want_pos, "%s: error at %zu, want %zu", s, pos, want_pos);
	cr_assert_str_eq(err, want, "%s", s);
}

/* Renders s with every variable's value from vals (by name, NULL: empty). */
static char *
render(const char *s, int esc, const char *const *vals)
{
	static char out[512];
	struct cvalue cv = fmt_ok(s);
	size_t n = cvalue_render(&cv, esc, vals, out, sizeof(out) - 1);

	out[n] = '\0';
	return out;
}

Test(alog_fmt, every_log_variable_compiles)
{
	for (int v = 0; v < CVAR_COUNT; v++) {
		char s[64];
		snprintf(s, sizeof(s), "[$%s] ${%s}", cvar_name(v), cvar_name(v));
		struct cvalue cv = fmt_ok(s);
		cr_assert_eq(cv.n, 4, "%s", s);
		cr_assert_eq(cv.parts[1].var, v);
		cr_assert_eq(cv.parts[3].var, v);
	}
}

Test(alog_fmt, malformed_and_unknown)
{
	fmt_bad("$", 0, "a variable name must follow \"$\" (\"$$\" is a literal \"$\")");
	fmt_bad("ok $ x", 3, "a variable name must follow \"$\" (\"$$\" is a literal \"$\")");
	fmt_bad("${login", 0, "\"${\" without its closing \"}\"");
	fmt_bad("a ${log-in}", 2, "invalid character in the variable name \"${log-\"");
	fmt_bad("$status $request", 8, "unknown variable \"$request\"");
	fmt_bad("$remote_user", 0, "unknown variable \"$remote_user\"");
	fmt_bad("$Login", 0, "unknown variable \"$Login\"");
}

Test(alog_fmt, log_variables_are_not_for_auth_headers)
{
	struct cvalue cv;
	char err[160];
	size_t pos;

	cr_assert_eq(cvalue_compile("x $login", &ar, &cv, &pos, err, sizeof(err)), -1);
	cr_assert_eq(pos, 2);
	cr_assert_str_eq(err, "unknown variable \"$login\" (only log_format has it)");
	cr_assert_eq(cvalue_compile("$status", &ar, &cv, &pos, err, sizeof(err)), -1);
	cr_assert_eq(cvalue_compile("$remote_addr", &ar, &cv, &pos, err, sizeof(err)), 0);
}

Test(alog_fmt, escape_names)
{
	cr_assert_eq(cesc_parse("default"), CESC_DEFAULT);
	cr_assert_eq(cesc_parse("json"), CESC_JSON);
	cr_assert_eq(cesc_parse("none"), CESC_NONE);
	cr_assert_eq(cesc_parse("JSON"), -1);
	cr_assert_eq(cesc_parse(""), -1);
	cr_assert_eq(cesc_parse("jsonx"), -1);
	cr_assert_str_eq(cesc_name(CESC_JSON), "json");
}

Test(alog_fmt, default_escape_is_nginx_hex)
{
	const char *vals[CVAR_COUNT] = { 0 };

	vals[CVAR_LOGIN] = "a\"b\\c\x01\x1f\x7f\xc3\xa9 ~d\n";
	vals[CVAR_STATUS] = "ok";
	cr_assert_str_eq(render("\"$login\" $status \"lit\\\"", CESC_DEFAULT, vals),
	    "\"a\\x22b\\x5Cc\\x01\\x1F\\x7F\\xC3\\xA9 ~d\\x0A\" ok \"lit\\\"",
	    "literals are written as they are, values escaped");
}

Test(alog_fmt, empty_values_are_a_dash_except_json)
{
	const char *vals[CVAR_COUNT] = { 0 };

	vals[CVAR_SSL_PROTOCOL] = "";
	cr_assert_str_eq(render("$login|$ssl_protocol|$upstream_addr", CESC_DEFAULT, vals), "-|-|-");
	cr_assert_str_eq(render("$login|$ssl_protocol", CESC_NONE, vals), "-|-");
	cr_assert_str_eq(render("\"$login\"", CESC_JSON, vals), "\"\"");
}

Test(alog_fmt, json_escape)
{
	const char *vals[CVAR_COUNT] = { 0 };

	vals[CVAR_LOGIN] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	cr_assert_str_eq(render("{\"l\":\"$login\"}", CESC_JSON, vals),
	    "{\"l\":\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001F\\u007F \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
	    "valid UTF-8 passes, controls are escaped");
	/* Bytes that are not UTF-8 (a lone continuation, overlong, surrogate, cut) stay valid JSON. */
	vals[CVAR_LOGIN] = "\x80|\xc0\xaf|\xed\xa0\x80|\xf5\x80\x80\x80|\xe2\x82";
	cr_assert_str_eq(render("$login", CESC_JSON, vals),
	    "\\u0080|\\u00C0\\u00AF|\\u00ED\\u00A0\\u0080|\\u00F5\\u0080\\u0080\\u0080|\\u00E2\\u0082");
}

Test(alog_fmt, none_is_verbatim)
{
	const char *vals[CVAR_COUNT] = { 0 };

	vals[CVAR_LOGIN] = "a\"b\\\x01";
	cr_assert_str_eq(render("[$login]", CESC_NONE, vals), "[a\"b\\\x01]");
}

Test(alog_fmt, long_lines_are_cut_at_the_buffer)
{
	const char *vals[CVAR_COUNT] = { 0 };
	char big[3000], out[100];
	struct cvalue cv = fmt_ok("start $login end");

	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	vals[CVAR_LOGIN] = big;
	cr_assert_eq(cvalue_render(&cv, CESC_DEFAULT, vals, out, sizeof(out)), sizeof(out));
	cr_assert_eq(memcmp(out, "start \\x22\\x22", 14), 0);
	cr_assert_eq(cvalue_render(&cv, CESC_JSON, vals, out, sizeof(out)), sizeof(out));
	cr_assert_eq(cvalue_render(&cv, CESC_NONE, vals, out, 3), 3);
	cr_assert_eq(cvalue_render(NULL, CESC_NONE, vals, out, sizeof(out)), 0);
}

/* ---- the directives ---- */

Test(alog_conf, formats_and_logs_load)
{
	struct config *cf;
	struct buf out = { 0 };

	LOAD_OK(cf, MAILV("  log_format: {j: 'escape=json {\"l\":\"$login\"}', "
	    "m: [\"$remote_addr \", \"$status\"]}\n"
	    "  access_log: [\"/tmp/a.log j buffer=4k flush=2s if=$login\", /tmp/b.log]\n"));
	const struct srv_conf *m = &cf->mail;
	cr_assert_eq(m->log_format.n, 2);
	cr_assert_eq(m->log_format.v[0].escape, CESC_JSON);
	cr_assert_str_eq(m->log_format.v[0].text, "{\"l\":\"$login\"}");
	cr_assert_str_eq(m->log_format.v[1].text, "$remote_addr $status", "strings joined as nginx");
	cr_assert_eq(m->access_log.n, 2);
	cr_assert_eq(m->access_log.v[0].format, &m->log_format.v[0]);
	cr_assert_eq(m->access_log.v[0].buffer, 4096);
	cr_assert_eq(m->access_log.v[0].flush, 2000);
	cr_assert_not_null(m->access_log.v[0].cond);
	cr_assert_str_eq(m->access_log.v[1].format->name, LOG_FORMAT_DEFAULT);
	cr_assert_str_eq(m->access_log.v[1].format->text, log_format_default_text);
	cr_assert_eq(m->access_log.v[1].buffer, 0, "unbuffered by default, as nginx");
	cr_assert_eq(cf->servers[0].access_log.v, m->access_log.v, "the server inherits");
	config_dump(cf, &out);
	cr_assert_eq(buf_append(&out, "", 1), 0);
	cr_assert_not_null(strstr(out.data, "\"/tmp/a.log j buffer=4096 flush=2000ms if=$login\""),
	    "%s", out.data);
	cr_assert_not_null(strstr(out.data, "\"j\": \"escape=json {\\\"l\\\":\\\"$login\\\"}\""),
	    "%s", out.data);
	buf_release(&out);
	config_free(cf);
}

Test(alog_conf, flush_alone_gets_nginx_buffer_and_off_disables)
{
	struct config *cf;

	LOAD_OK(cf, MAIL_HEAD "  access_log: \"/tmp/a.log combined flush=1s\"\n"
	    "  servers:\n    - listen: \"143\"\n      access_log: off\n");
	cr_assert_eq(cf->mail.access_log.v[0].buffer, 64 * 1024);
	cr_assert_eq(cf->servers[0].access_log.n, 0);
	config_free(cf);
	LOAD_OK(cf, MINIMAL);
	cr_assert_eq(cf->servers[0].access_log.n, 0, "off by default, as nginx stream");
	config_free(cf);
}

Test(alog_conf, errors_name_file_line_column)
{
	EXPECT_ERR(MAILV("  log_format: {x: \"$remote_addr $nosuch\"}\n"),
	    "t.yaml:3:33: \"log_format\": x: unknown variable \"$nosuch\"");
	EXPECT_ERR(MAILV("  log_format: [\"x a $ b\"]\n"),
	    "t.yaml:3:21: \"log_format\": x: a variable name must follow \"$\" (\"$$\" is a literal \"$\")");
	EXPECT_ERR(MAILV("  log_format: [\"x escape=json x $bad\"]\n"),
	    "t.yaml:3:33: \"log_format\": x: unknown variable \"$bad\"");
	EXPECT_ERR(MAILV("  access_log: [\"/tmp/a.log combined if=$zz\"]\n"),
	    "t.yaml:3:40: \"access_log\": if: unknown variable \"$zz\"");
	EXPECT_ERR(MAILV("  log_format: {x: [\"ok \", \"bad ${x\"]}\n"),
	    "t.yaml:3:32: \"log_format\": format: \"${\" without its closing \"}\"");
	EXPECT_ERR(MAILV("  log_format: {x: \"escape=yaml $login\"}\n"),
	    "t.yaml:3:16: \"log_format\": unknown escape \"yaml\" (expected default, json or none)");
	EXPECT_ERR(MAILV("  log_format: {x: \"escape=json\"}\n"),
	    "t.yaml:3:16: \"log_format\": format \"x\" has no text");
	EXPECT_ERR(MAILV("  log_format: {combined: \"$login\"}\n"),
	    "t.yaml:3:16: \"log_format\": \"combined\" is the predefined format and cannot be redefined");
	EXPECT_ERR(MAILV("  log_format: [\"x $login\", \"x $status\"]\n"),
	    "t.yaml:3:28: \"log_format\": duplicate format name \"x\"");
	EXPECT_ERR(MAILV("  log_format: {\"a b\": \"$login\"}\n"),
	    "t.yaml:3:16: \"log_format\": invalid format name \"a b\" (letters, digits, '_', '-' and '.', at most 64)");
	EXPECT_ERR(SRV("      log_format: {x: \"$login\"}\n"),
	    "t.yaml:5:7: \"log_format\": not allowed in \"server\" (allowed in \"mail\")");
	EXPECT_ERR(MAILV("  access_log: /tmp/x.log nosuch\n"),
	    "t.yaml:3:15: \"access_log\": unknown log format \"nosuch\"");
	EXPECT_ERR(MAILV("  access_log: \"/tmp/x.log combined buffer=0\"\n"),
	    "t.yaml:3:15: \"access_log\": invalid buffer size \"0\" (1 to 16m)");
	EXPECT_ERR(MAILV("  access_log: \"/tmp/x.log combined flush=soon\"\n"),
	    "t.yaml:3:15: \"access_log\": invalid flush time \"soon\"");
	EXPECT_ERR(MAILV("  access_log: \"/tmp/x.log combined gzip=1\"\n"),
	    "t.yaml:3:15: \"access_log\": gzip is not supported");
	EXPECT_ERR(MAILV("  access_log: \"/tmp/x.log combined if=$nope\"\n"),
	    "t.yaml:3:39: \"access_log\": if: unknown variable \"$nope\"");
	EXPECT_ERR(MAILV("  access_log: \"/tmp/x.log combined bogus=1\"\n"),
	    "t.yaml:3:15: \"access_log\": unknown parameter \"bogus=1\" (expected buffer=, flush= or if=)");
	EXPECT_ERR(MAILV("  access_log: \"syslog:server=127.0.0.1 combined buffer=4k\"\n"),
	    "t.yaml:3:15: \"access_log\": buffer= and flush= are not supported with syslog");
	EXPECT_ERR(MAILV("  access_log: \"syslog:tag=x\"\n"),
	    "t.yaml:3:15: \"access_log\": syslog target needs server=ADDR, got \"syslog:tag=x\"");
	EXPECT_ERR(MAILV("  access_log: [/tmp/a.log, \"off\"]\n"),
	    "t.yaml:3:28: \"access_log\": \"off\" cannot be one of several logs");
	EXPECT_ERR(MAILV("  access_log: [a, b, c, d, e, f, g, h, i]\n"),
	    "t.yaml:3:15: \"access_log\": at most 8 logs");
	EXPECT_ERR(MAILV("  access_log: {a: b}\n"),
	    "t.yaml:3:15: \"access_log\": expected \"path [format ...]\", a sequence of them, or off");
	EXPECT_ERR(MAILV("  auth_http_header: {X-U: \"$login\"}\n"),
	    "t.yaml:3:28: \"auth_http_header\": \"X-U\": unknown variable \"$login\" (only log_format has it)");
}
