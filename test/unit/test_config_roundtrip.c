/*
 * -T round trip: the effective configuration config_dump() prints is YAML
 * that config_load() accepts again and that dumps identically (apart from
 * the comment naming the file). Run on mailproxy.yaml.example and on
 * test/fixtures/config_full.yaml, which exercises every printer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "test/unit/config_helpers.h"

TestSuite(config_roundtrip, .init = th_setup, .fini = th_teardown);

/* The dump as a NUL-terminated string (caller frees). */
static char *
dump(const struct config *cf)
{
	struct buf b = { 0 };
	char *s;

	config_dump(cf, &b);
	s = malloc(buf_len(&b) + 1);
	cr_assert_not_null(s);
	memcpy(s, buf_rptr(&b), buf_len(&b));
	s[buf_len(&b)] = '\0';
	buf_release(&b);
	return s;
}

static const char *
after_first_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	cr_assert_not_null(nl);
	return nl + 1;
}

/* Loads rel (relative to the repository root), dumps, reloads the dump, dumps again. */
static void
round_trip(const char *rel)
{
	char path[4200], want[4300];
	struct config *cf1, *cf2, *cf3;
	char *d1, *d2, *d3;

	snprintf(path, sizeof(path), "%s/%s", th_root(), rel);
	cf1 = th_load_file(path, th_root(), NULL);
	cr_assert_not_null(cf1, "%s (run make first: it generates cert.pem)", th_err());
	d1 = dump(cf1);
	snprintf(want, sizeof(want), "# effective configuration of %s (defaults filled in)\n", path);
	cr_assert_eq(strncmp(d1, want, strlen(want)), 0, "first line of:\n%s", d1);

	th_write("dump1.yaml", d1, -1);
	cf2 = th_load_file("dump1.yaml", th_root(), NULL);
	cr_assert_not_null(cf2, "the dump does not load: %s\n%s", th_err(), d1);
	d2 = dump(cf2);
	cr_assert_str_eq(after_first_line(d2), after_first_line(d1));

	/* And once more: a dump of a dump is a fixed point. */
	th_write("dump2.yaml", d2, -1);
	cf3 = th_load_file("dump2.yaml", th_root(), NULL);
	cr_assert_not_null(cf3, "%s", th_err());
	d3 = dump(cf3);
	cr_assert_str_eq(after_first_line(d3), after_first_line(d2));

	cr_assert_eq(cf2->nservers, cf1->nservers);
	free(d1);
	free(d2);
	free(d3);
	config_free(cf1);
	config_free(cf2);
	config_free(cf3);
}

Test(config_roundtrip, example)
{
	round_trip("mailproxy.yaml.example");
}

Test(config_roundtrip, every_printer)
{
	round_trip("test/fixtures/config_full.yaml");
}

/* What the dump says about a few values that are easy to print wrong. */
Test(config_roundtrip, dump_details)
{
	char path[4200];
	struct config *cf;
	char *d;

	snprintf(path, sizeof(path), "%s/test/fixtures/config_full.yaml", th_root());
	cf = th_load_file(path, th_root(), NULL);
	cr_assert_not_null(cf, "%s", th_err());
	d = dump(cf);
	cr_assert_not_null(strstr(d, "\nworker_processes: auto\n"), "%s", d);
	cr_assert_not_null(strstr(d, "\nworker_shutdown_timeout: 90s\n"));
	cr_assert_not_null(strstr(d, "\n  timeout: 1500ms\n"));
	cr_assert_not_null(strstr(d, "\n  server_name: [\"mail.example.com\", \"*.example.com\"]\n"));
	cr_assert_not_null(strstr(d, "\n  resolver: \"127.0.0.1:53 [::1]:5353 valid=30s ipv6=off\"\n"));
	cr_assert_not_null(strstr(d, "\n  ssl_ciphers: \"ECDHE+AESGCM:\\\"odd\\\\chars\\\"\"\n"));
	cr_assert_not_null(strstr(d, "\n    - listen: [\"127.0.0.1:1993 ssl proxy_protocol backlog=128 "
	    "rcvbuf=65536 sndbuf=1000 bind so_keepalive=1800s::10 multipath\", "
	    "\"[::]:1993 ssl bind ipv6only=off\"]\n"));
	cr_assert_not_null(strstr(d, "\n      ssl_session_cache: \"off\"\n"));
	cr_assert_not_null(strstr(d, "\n      pop3_capabilities: []\n"));
	cr_assert_not_null(strstr(d, "\n  login_limit_zone: \"shared:logins:10m\"\n"));
	cr_assert_not_null(strstr(d, "\n  login_limit_addr: \"10/m burst=20 block=15m\"\n"));
	cr_assert_not_null(strstr(d, "\n  login_limit_user: \"1/s burst=5\"\n"));
	cr_assert_not_null(strstr(d, "\n  login_limit_allow: [\"127.0.0.1/32\", \"::1/128\", \"unix:\"]\n"));
	cr_assert_not_null(strstr(d, "\n      login_limit_pair: \"3/h block=1d\"\n"));
	cr_assert_not_null(strstr(d, "\n      login_limit_addr: off\n"));
	free(d);
	config_free(cf);
}

/* Long values are printed whole (the printers used fixed buffers once). */
Test(config_roundtrip, long_values)
{
	size_t n = 20000, o = 0;
	char *yaml = malloc(4 * n + 512), *d1, *d2;
	struct config *cf1, *cf2;

	cr_assert_not_null(yaml);
	o += (size_t)sprintf(yaml + o, "user: ");
	memset(yaml + o, 'u', 600);
	o += 600;
	o += (size_t)sprintf(yaml + o, "\nerror_log: logs/");
	memset(yaml + o, 'e', 5000);
	o += 5000;
	o += (size_t)sprintf(yaml + o, ".log\nmail:\n  auth_http_header: {X-Long: ");
	memset(yaml + o, 'v', n);
	o += n;
	sprintf(yaml + o, "}\n");
	cf1 = th_load(yaml);
	cr_assert_not_null(cf1, "%s", th_err());
	d1 = dump(cf1);
	th_write("dump1.yaml", d1, -1);
	cf2 = th_load_file("dump1.yaml", th_dir(), NULL);
	cr_assert_not_null(cf2, "%s", th_err());
	d2 = dump(cf2);
	cr_assert_str_eq(after_first_line(d2), after_first_line(d1));
	cr_assert_eq(strlen(cf2->main.user), 600);
	cr_assert_eq(strlen(cf2->main.error_log.v[0].target), 5009);
	cr_assert_eq(strlen(cf2->mail.auth_http_header.v[0].value), n);
	free(yaml);
	free(d1);
	free(d2);
	config_free(cf1);
	config_free(cf2);
}

/* Loads yaml, dumps it, loads the dump and checks it dumps the same; returns both configs. */
static void
reload(const char *yaml, struct config **cf1, struct config **cf2)
{
	char *d1, *d2;

	*cf1 = th_load(yaml);
	cr_assert_not_null(*cf1, "%s", th_err());
	d1 = dump(*cf1);
	th_write("dump1.yaml", d1, -1);
	*cf2 = th_load_file("dump1.yaml", th_dir(), NULL);
	cr_assert_not_null(*cf2, "the dump does not load: %s\n%.4000s", th_err(), d1);
	d2 = dump(*cf2);
	cr_assert_str_eq(after_first_line(d2), after_first_line(d1));
	free(d1);
	free(d2);
}

/*
 * Code points libyaml refuses raw (C1 controls, U+FFFE, U+FFFF) or folds
 * to a space inside quotes (U+0085, U+2028, U+2029) are printed escaped,
 * so every value comes back byte for byte. They used to be printed raw:
 * the dump was refused ("control characters are not allowed") or held
 * other values.
 */
Test(config_roundtrip, code_points_yaml_would_not_read_back)
{
	static const char *const cps[][2] = {
		{ "\\u0085", "\xc2\x85" }, { "\\u2028", "\xe2\x80\xa8" }, { "\\u2029", "\xe2\x80\xa9" },
		{ "\\x80", "\xc2\x80" }, { "\\x9f", "\xc2\x9f" }, { "\\uFEFF", "\xef\xbb\xbf" },
		{ "\\uFFFE", "\xef\xbf\xbe" }, { "\\uFFFF", "\xef\xbf\xbf" }, { "\\x7f", "\x7f" }, { "\\e", "\x1b" }, { "\\U0001F600", "\xf0\x9f\x98\x80" },
		{ "\\u00e9", "\xc3\xa9" }, { "\\u00a0", "\xc2\xa0" },
	};

	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		char yaml[1024], want[64];
		struct config *cf1, *cf2;

		snprintf(yaml, sizeof(yaml), "error_log: \"logs/a%sb.log info\"\n" MAIL_HEAD
		    "  ssl_ciphers: \"a%sb\"\n  smtp_capabilities: [\"x%sy\"]\n"
		    "  auth_http_header: {X-A: \"v%sw\"}\n  servers:\n    - listen: \"143\"\n",
		    cps[i][0], cps[i][0], cps[i][0], cps[i][0]);
		reload(yaml, &cf1, &cf2);
		snprintf(want, sizeof(want), "a%sb", cps[i][1]);
		cr_assert_str_eq(cf1->mail.ssl_ciphers, want, "%s", cps[i][0]);
		cr_assert_str_eq(cf2->mail.ssl_ciphers, want, "%s", cps[i][0]);
		snprintf(want, sizeof(want), "x%sy", cps[i][1]);
		cr_assert_str_eq(cf2->mail.smtp_capabilities.v[0], want, "%s", cps[i][0]);
		snprintf(want, sizeof(want), "v%sw", cps[i][1]);
		cr_assert_str_eq(cf2->mail.auth_http_header.v[0].value, want, "%s", cps[i][0]);
		snprintf(want, sizeof(want), "logs/a%sb.log", cps[i][1]);
		cr_assert_str_eq(cf2->main.error_log.v[0].target, want, "%s", cps[i][0]);
		config_free(cf1);
		config_free(cf2);
	}
}

/* A string of n copies of c (caller frees). */
static char *
rep(char c, size_t n)
{
	char *s = malloc(n + 1);

	cr_assert_not_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/*
 * One YAML value holds at most YTREE_MAX_SCALAR (65536) bytes. The dump
 * used to join values a file may give apart ("user group", the resolver's
 * addresses, "file level", "name value") into one string that could pass
 * that limit, and so not load.
 */
Test(config_roundtrip, values_at_the_yaml_length_limit)
{
	char *u = rep('u', 65536), *g = rep('g', 65536), *t = rep('e', 65529 - 9);
	char *v = rep('v', 65535), *yaml;
	struct config *cf1, *cf2;
	struct buf b = { 0 };

	/* user and group as two values of 64 KB each. */
	cr_assert_geq(asprintf(&yaml, "user: [%s, %s]\n", u, g), 0);
	reload(yaml, &cf1, &cf2);
	cr_assert_eq(strlen(cf2->main.user), 65536);
	cr_assert_eq(strlen(cf2->main.group), 65536);
	free(yaml);
	config_free(cf1);
	config_free(cf2);

	/* 6000 name servers: more than 64 KB as "a b c ...", so a sequence. */
	buf_puts(&b, MAIL_HEAD "  resolver: [");
	for (int i = 0; i < 6000; i++)
		buf_printf(&b, "%s\"127.0.%d.%d:5353\"", i ? ", " : "", i / 250, i % 250);
	buf_puts(&b, ", valid=30s, ipv6=off]\n  servers:\n    - listen: \"143\"\n");
	buf_append(&b, "", 1);
	reload(b.data, &cf1, &cf2);
	cr_assert_eq(cf2->mail.resolver.n, 6000);
	cr_assert_eq(cf2->mail.resolver.valid, 30000);
	cr_assert_eq(cf2->mail.resolver.ipv6, 0);
	buf_release(&b);
	config_free(cf1);
	config_free(cf2);

	/* The longest error_log target that still fits with " notice"; one more is refused. */
	cr_assert_geq(asprintf(&yaml, "error_log: logs/%s.log\n", t), 0);
	reload(yaml, &cf1, &cf2);
	cr_assert_eq(strlen(cf2->main.error_log.v[0].target), 65529);
	free(yaml);
	config_free(cf1);
	config_free(cf2);
	cr_assert_geq(asprintf(&yaml, "error_log: logs/%se.log\n", t), 0);
	cr_assert_null(th_load(yaml));
	cr_assert_str_eq(th_err(), "t.yaml:1:12: \"error_log\": target longer than 65529 bytes");
	free(yaml);

	/* "X " and a value filling one YAML value exactly; one byte more is refused. */
	cr_assert_geq(asprintf(&yaml, MAIL_HEAD "  auth_http_header: {X: %s}\n  servers:\n"
	    "    - listen: \"143\"\n", v + 1), 0);
	reload(yaml, &cf1, &cf2);
	cr_assert_eq(strlen(cf2->mail.auth_http_header.v[0].value), 65534);
	free(yaml);
	config_free(cf1);
	config_free(cf2);
	cr_assert_geq(asprintf(&yaml, MAIL_HEAD "  auth_http_header: {X: %s}\n  servers:\n"
	    "    - listen: \"143\"\n", v), 0);
	cr_assert_null(th_load(yaml));
	cr_assert_str_eq(th_err(), "t.yaml:3:25: \"auth_http_header\": \"X\" and its value are "
	    "longer than 65536 bytes");
	free(yaml);
	free(u);
	free(g);
	free(t);
	free(v);
}

/*
 * Servers list only what they do not inherit from mail. In full, -T grew
 * with servers x directives: 10,000 servers printed 17 MB, more than the
 * 16 MB a file may have, so -t refused -T's output.
 */
Test(config_roundtrip, many_servers)
{
	struct buf b = { 0 };
	struct config *cf1, *cf2;
	char *d;

	buf_puts(&b, MAIL_HEAD "  servers:\n");
	for (int i = 0; i < 10000; i++)
		buf_printf(&b, "    - {listen: \"127.0.%d.%d:1143\", protocol: imap}\n", i / 250,
		    i % 250 + 1);
	buf_append(&b, "", 1);
	reload(b.data, &cf1, &cf2);
	cr_assert_eq(cf2->nservers, 10000);
	d = dump(cf2);
	cr_assert_lt(strlen(d), (size_t)1024 * 1024, "%zu bytes", strlen(d));
	free(d);
	buf_release(&b);
	config_free(cf1);
	config_free(cf2);
}

/* What a server block of -T holds: its listen, its protocol, and what differs from mail. */
Test(config_roundtrip, servers_print_what_they_do_not_inherit)
{
	struct config *cf;
	char *d;

	cf = th_load(MAIL_HEAD "  timeout: 5s\n  imap_capabilities: [IMAP4rev1]\n  servers:\n"
	    "    - listen: \"143\"\n      timeout: 5s\n      proxy_timeout: 1h\n"
	    "    - listen: \"110\"\n      imap_capabilities: [IMAP4rev1, IDLE]\n");
	cr_assert_not_null(cf, "%s", th_err());
	d = dump(cf);
	cr_assert_not_null(strstr(d, "\n    - listen: [\"0.0.0.0:143\"]\n      protocol: imap\n"
	    "      proxy_timeout: 1h\n    - listen: [\"0.0.0.0:110\"]\n      protocol: pop3\n"
	    "      imap_capabilities: [\"IMAP4rev1\", \"IDLE\"]\n"), "%s", d);
	cr_assert_not_null(strstr(d, "\n  timeout: 5s\n"));
	cr_assert_not_null(strstr(d, "\n  proxy_timeout: 1d\n"));
	free(d);
	config_free(cf);
}

/*
 * Loading -T's output warns about nothing the original did not: "ssl" is
 * folded into the listens (it printed "ssl: off", which warned as
 * deprecated), and a mail-level value is not repeated in every server.
 */
Test(config_roundtrip, dump_adds_no_warnings)
{
	struct config *cf1, *cf2;

	th_certs();
	reload(MAIL_HEAD "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n"
	    "  ssl_protocols: [TLSv1.1, TLSv1.2]\n  servers:\n    - listen: \"993\"\n      ssl: on\n"
	    "    - listen: \"995 ssl\"\n", &cf1, &cf2);
	cr_assert_eq(cf1->warnings.n, 2, "TLSv1.1 and ssl");
	cr_assert_eq(cf2->warnings.n, 1, "TLSv1.1 once");
	cr_assert_not_null(strstr(cf2->warnings.v[0], "TLSv1.1 is deprecated"), "%s", cf2->warnings.v[0]);
	cr_assert_eq(cf2->servers[0].listen[0].ssl, 1);
	config_free(cf1);
	config_free(cf2);
}

/*
 * A small file whose aliases expand past what -T can print as one file
 * (66 KB asked for 1.8 GB of -T output) is refused at load, and so is one
 * that makes the loader copy gigabytes of aliased values.
 */
Test(config_roundtrip, alias_expansion_past_a_file)
{
	struct buf b = { 0 };
	char *s = rep('a', 60000);

	buf_printf(&b, "x-s: &s %s\nx-l: &l [*s", s);
	for (int i = 1; i < 300; i++)
		buf_puts(&b, ", *s");
	buf_puts(&b, "]\n" MAIL_HEAD "  smtp_capabilities: *l\n  servers:\n");
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "    - {listen: \"127.0.0.%d:1143\", protocol: imap}\n", i + 1);
	buf_append(&b, "", 1);
	cr_assert_null(th_load(b.data));
	cr_assert_str_eq(th_err(), "t.yaml: the configuration expands to more than -T can "
	    "print as one file (16 MB; alias expansion?)");

	buf_reset(&b);
	buf_printf(&b, "x-s: &s %s\nx-l: &l {smtp_capabilities: [*s", s);
	for (int i = 1; i < 300; i++)
		buf_puts(&b, ", *s");
	buf_puts(&b, "]}\n" MAIL_HEAD "  servers:\n");
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "    - {<<: *l, listen: \"127.0.0.%d:1143\", protocol: imap}\n", i + 1);
	buf_append(&b, "", 1);
	cr_assert_null(th_load(b.data));
	cr_assert_str_eq(th_err(), "t.yaml:2:10: \"smtp_capabilities\": configuration too large "
	    "(alias expansion?)");
	buf_release(&b);
	free(s);
}
