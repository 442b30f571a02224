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
	    "rcvbuf=65536 sndbuf=1000 bind so_keepalive=1800s::10 multipath reuseport\", "
	    "\"[::]:1993 ssl bind ipv6only=off\"]\n"));
	cr_assert_not_null(strstr(d, "\n      ssl_session_cache: \"off\"\n"));
	cr_assert_not_null(strstr(d, "\n      pop3_capabilities: []\n"));
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
