/*
 * The -T property: every configuration config_load() accepts, config_dump()
 * prints as YAML that config_load() accepts again and that prints the same
 * (a fixed point after one print). Configurations come from the directive
 * table (every directive, in each of its contexts, with edge values), then
 * from a seeded PRNG combining them, so a run is deterministic. Loading the
 * print must not warn about more than the original did. The cases the
 * property found are pinned one by one in test_config_roundtrip.c and
 * test_config_errors.c (values_dump_could_not_keep).
 */
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
/* Private to config/, but the directive table is what the values are generated from. */
#include "config/config_int.h"
#include "test/unit/config_helpers.h"

TestSuite(config_property, .init = th_setup, .fini = th_teardown);

enum where { W_MAIN, W_EVENTS, W_MAIL, W_SERVER };

#define MAXVALS 128

/* YAML texts of values for one directive. */
struct vals {
	size_t n;
	char *v[MAXVALS];
};

static void
vadd(struct vals *vs, const char *fmt, ...)
{
	va_list ap;
	char *s;

	cr_assert_lt(vs->n, (size_t)MAXVALS, "raise MAXVALS");
	va_start(ap, fmt);
	cr_assert_geq(vasprintf(&s, fmt, ap), 0);
	va_end(ap);
	vs->v[vs->n++] = s;
}

static void
vfree(struct vals *vs)
{
	for (size_t i = 0; i < vs->n; i++)
		free(vs->v[i]);
	vs->n = 0;
}

/*
 * Scalars that need quoting or escaping when printed, as YAML source: YAML
 * indicators, blanks, escapes, line separators YAML folds (U+0085, U+2028),
 * code points libyaml refuses raw (C1 controls, U+FFFE), astral ones.
 * None is empty or holds a line break, so each is also a valid list item.
 */
static const char *const odd[] = {
	"x", "plain-word", "\"two words\"", "'single quoted'", "\"a: b\"", "\"a:b\"", "\"# hash\"",
	"\"a #b\"", "\"-dash\"", "\"- dash\"", "\"--\"", "\"h\\u00e9llo\"", "h\xc3\xa9llo",
	"\"\\u2028\"", "\"a\\u2029b\"", "\"a\\u0085b\"", "\"a\\Nb\"", "\"\\x80\"", "\"\\x9f\"",
	"\"\\uFEFF\"", "\"x\\uFFFE\"", "\"\\uFFFF\"", "\"\\U0001F600\"", "\"\xf0\x9f\x98\x80\"",
	"\"tab\\there\"", "\"\\x01\"", "\"\\x7f\"", "\"\\e\"", "\"back\\\\slash\"", "\"quo\\\"te\"",
	"\" lead\"", "\"trail \"", "\"[x]\"", "\"{x: y}\"", "\"&a\"", "\"*a\"", "\"!t\"", "\"|\"",
	"\">\"", "\"%\"", "\"@\"", "\"`\"", "\"~\"", "\"null\"", "\"true\"", "\"0x10\"", "\"1e3\"",
	"\"...\"", "\"---\"", "\"'\"", "'it''s'", "\",\"", "\"?\"", "\"a\\u00a0b\"", "\"\\u3000\"",
	"\"\\t\"", "\"\\_\"",
};
#define NODD (sizeof(odd) / sizeof(odd[0]))

/* Scalars with a line break: one value may hold them, a list item may not. */
static const char *const odd_lb[] = { "\"a\\nb\"", "\"\\r\"", "\"x\\r\\ny\"", "\"a\\Lb\"" };

/* Whether odd[i] begins with a blank once parsed ("\t" and " lead"). */
static int
odd_leading_blank(const char *s)
{
	return strncmp(s, "\" ", 2) == 0 || strncmp(s, "\"\\t", 3) == 0;
}

/* Files the path values name, created in the test directory. */
static const char *const files[][2] = {
	{ "cert.pem", "\"cert.pem\"" }, { "c e r t.pem", "\"c e r t.pem\"" },
	{ "#h\xc3\xa9.pem", "\"#h\\u00e9.pem\"" }, { "-x:y.pem", "\"-x:y.pem\"" },
};

/*
 * Where the configurations are written: thousands of small files, so a
 * memory file system when there is one (on this CI's disk they took 15 s
 * instead of 2), else the test's temporary directory.
 */
static char work[PATH_MAX];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
work_cleanup(void)
{
	if (strncmp(work, "/dev/shm/", 9) == 0)
		nftw(work, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	work[0] = '\0';
}

/* Writes data to name in the work directory. */
static void
wwrite(const char *name, const void *data, size_t len)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", work, name);
	f = fopen(path, "wb");
	cr_assert_not_null(f, "cannot create %s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void
wcopy(const char *from, const char *to)
{
	char path[PATH_MAX + 64], data[16384];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", th_root(), from);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s is missing: run make first (it generates the test pair)", path);
	n = fread(data, 1, sizeof(data), f);
	fclose(f);
	wwrite(to, data, n);
}

/* The work directory, with the files the path values name. */
static void
make_files(void)
{
	char t80[80];

	snprintf(work, sizeof(work), "/dev/shm/mp-prop-XXXXXX");
	if (mkdtemp(work) == NULL)
		snprintf(work, sizeof(work), "%s", th_dir());
	else
		atexit(work_cleanup);
	wcopy("cert.key", "cert.key");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		wcopy("cert.pem", files[i][0]);
	memset(t80, 'k', sizeof(t80));
	wwrite("ticket.key", "0123456789abcdef0123456789abcdef0123456789abcdef", 48);
	wwrite("t k.key", t80, sizeof(t80));
}

static struct config *
wload(const char *name)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", work, name);
	return th_load_file(path, work, NULL);
}

/* Values of the directives with a grammar of their own (DT_CUSTOM). */
static int
custom_values(const char *name, struct vals *vs)
{
	static const struct {
		const char *name;
		const char *v[16];
	} t[] = {
		{ "user", { "nobody", "\"nobody nogroup\"", "[mail, staff]", "_apt", "\"h\\u00e9\"",
		    "\"-dash\"", "a.b", "[\"#x\", \"!y\"]", "1000", "[\"1000\", \"1000\"]",
		    "\"a\\u00a0b\"" } },
		{ "worker_processes", { "1", "1024", "auto", "\"7\"" } },
		{ "worker_cpu_affinity", { "auto", "\"auto 0110\"", "\"01 10\"", "[\"0101\", \"1010\"]",
		    "\"00000001 10000000 1\"", "[auto, \"1\"]" } },
		{ "worker_priority", { "0", "-20", "20", "\"+5\"", "-1", "\"7\"" } },
		{ "status_allow", { "[]", "127.0.0.1", "10.0.0.0/8", "\"::1\"", "[127.0.0.0/8, \"::1/128\"]" } },
		{ "status_listen", { "off", "\"127.0.0.1:9191\"", "\"[::1]:9191\"", "\"127.0.0.5:1\"" } },
		{ "worker_rlimit_core", { "0", "1", "500m", "2g", "\"4096\"", "64k" } },
		{ "env", { "[]", "TZ", "\"LANG=C\"", "[A, \"B=x y\", \"C=\"]", "\"X=a=b\"",
		    "[\"MAILPROXY_UTLS=0\", PATH]" } },
		{ "use", { "epoll", "\"epoll\"" } },
		{ "log_format", { "{}", "{m: \"$remote_addr $status\"}", "{j: 'escape=json {\"l\":\"$login\"}'}",
		    "[\"a $login\", \"b escape=none [$time_local] $$\"]", "{x: [\"$msec \", \"${pid}\"]}",
		    "\"n escape=default \\u00e9 $ssl_cipher\"", "{q: \"\\\\ \\\" \\t $status\"}" } },
		{ "access_log", { "off", "logs/a.log", "\"logs/a.log combined\"",
		    "\"logs/a.log combined buffer=4k flush=1s if=$login\"", "[logs/a.log, \"logs/b.log combined flush=5s\"]",
		    "\"syslog:server=127.0.0.1,severity=notice combined\"", "\"logs/h\\u00e9.log\"",
		    "[\"logs/a.log combined buffer=1\", \"logs/a.log\"]" } },
		{ "error_log", { "stderr", "\"stderr debug\"", "logs/x.log", "[stderr, \"logs/a.log info\"]",
		    "\"syslog:server=127.0.0.1 warn\"", "\"syslog:server=[::1]:514,facility=local7 emerg\"",
		    "\"logs/#x.log\"", "\"logs/h\\u00e9.log notice\"", "[\"logs/a:b.log\", \"-dash.log alert\"]",
		    "\"logs/\\u2028.log\"", "\"logs/\\x01.log crit\"", "\"logs/\\u0085\\tinfo\"" } },
		{ "listen", { "\"1143\"", "\"*:1143\"", "\"127.0.0.1:1143\"", "\"[::1]:1143\"",
		    "\"[::]:1143 ipv6only=off\"", "\"127.0.0.1:1143 ssl\"",
		    "\"127.0.0.1:1143 proxy_protocol backlog=10 rcvbuf=64k sndbuf=1000 bind "
		    "so_keepalive=on multipath reuseport\"", "\"127.0.0.1:1143 so_keepalive=30m:10s:5\"",
		    "\"127.0.0.1:1143 so_keepalive=::\"", "\"127.0.0.1:1143 so_keepalive=1500ms:: backlog=511\"",
		    "[\"127.0.0.1:1143\", \"[::1]:1143 ssl so_keepalive=off\"]", "\"localhost:1143\"",
		    "[\"127.0.0.1:1143\", \"127.0.0.2:1143 rcvbuf=1g\"]", "\"[::]:1143 ipv6only=on\"" } },
		{ "server_name", { "mail.example.com", "Mail.Example.COM", "\"*.example.com\"", ".example.com",
		    "_", "[a.b, c-d.e_f]", "\"x y z\"", "\"123\"" } },
		{ "resolver", { "off", "127.0.0.1", "\"127.0.0.1:5353 [::1] valid=30s ipv4=off\"",
		    "\"[::1]:53 ipv6=on status_zone=z valid=1h\"", "[127.0.0.1, \"10.0.0.1:54\", valid=1500ms]",
		    "\"127.0.0.1 valid=0s\"" } },
		{ "auth_http", { "127.0.0.1:9000", "http://127.0.0.1/", "\"unix:/tmp/a b.sock\"",
		    "\"unix:/tmp/x.sock:/auth?x=1\"", "\"[::1]:80/a\"", "localhost:9000/x",
		    "HTTP://127.0.0.1:1/p%20q", "\"http://127.0.0.1:9000/#frag\"", "\"unix:/tmp/\\u00e9\"",
		    "https://127.0.0.1:9443/a", "[127.0.0.1:9000, \"https://[::1]/x\", \"unix:/tmp/a.sock\"]" } },
		{ "set_real_ip_from", { "[]", "10.0.0.0/8", "10.1.2.3/8", "\"::1\"", "\"unix:\"",
		    "2001:db8::/32", "0.0.0.0/0", "[192.168.1.1, \"::ffff:1.2.3.4/128\", \"unix:\"]",
		    "\"10.0.0.1 10.0.0.2\"" } },
		{ "ssl_protocols", { "TLSv1.2", "tlsv1.3", "[TLSv1, TLSv1.1, TLSv1.2, TLSv1.3]",
		    "\"TLSv1.3 TLSv1.3\"" } },
		{ "proxy_ssl_protocols", { "TLSv1.2", "tlsv1.3", "[TLSv1, TLSv1.1, TLSv1.2, TLSv1.3]",
		    "\"TLSv1.3 TLSv1.3\"" } },
		{ "auth_http_ssl_protocols", { "TLSv1.2", "tlsv1.3", "[TLSv1.2, TLSv1.3]",
		    "\"TLSv1.3 TLSv1.3\"" } },
		{ "ssl_session_cache", { "off", "none", "builtin", "builtin:1", "\"shared:Z:1m\"",
		    "\"builtin:100 shared:a-b_c:32k\"", "[builtin, \"shared:x:10m\"]", "\"shared:Z:1048577\"",
		    "\"shared:Q:4g\"" } },
		/* One name and size: a random configuration's servers must agree on a zone. */
		{ "auth_http_cache", { "off", "\"shared:AC:64k\"", "\"shared:AC:64k valid=1s\"",
		    "[\"shared:AC:64k\", invalid=0, valid=1d]", "\"shared:AC:64k  invalid=500ms\"",
		    "\"shared:AC:65536 valid=90s invalid=1h\"" } },
		{ "login_limit_zone", { "off", "\"shared:L:32k\"", "shared:a-b_C9:10m", "\"shared:Q:4g\"",
		    "\"shared:x:1048577\"", "shared:lz:32768" } },
		{ "login_limit_addr", { "off", "10/m", "\"10/m burst=20 block=15m\"", "[1/s, burst=0]",
		    "1000000/s", "1/h", "7/s", "61/m", "\"block=1h burst=1000000 3600/h\"",
		    "\"10/m block=0s\"", "[5/m, \"block=1h 30m\"]", "\"1000000/h burst=5\"",
		    "\"  2/s  \"", "00010/m", "[999999/m, block=100y]" } },
		{ "login_limit_store", { "off", "\"redis 127.0.0.1\"", "\"redis 127.0.0.1:6380 db=15\"",
		    "\"redis [::1]:1 user=u password=p timeout=1ms prefix=x\"", "[redis, \"unix:/run/r.sock\"]",
		    "\"redis 10.1.2.3:65535 timeout=60s password=a\\\"b db=65535\"",
		    "\"redis localhost prefix=mailproxy:limits:v2:\"" } },
		{ "ssl_session_ticket_key_store", { "off", "\"redis 127.0.0.1:6380 db=15 period=2s\"",
		    "\"redis [::1]:1 user=u password=p timeout=1ms prefix=x period=7d\"", "[redis, \"unix:/r\", period=90m]" } },
		{ "login_limit_user", { "off", "10/m", "\"7/h burst=3 block=1500ms\"", "[59/m, burst=1]" } },
		{ "login_limit_pair", { "off", "1/s", "\"1000000/m block=1d\"", "[3/h, block=0]" } },
		{ "login_limit_allow", { "[]", "10.0.0.0/8", "10.1.2.3/8", "\"::1\"", "\"unix:\"",
		    "2001:db8::/32", "0.0.0.0/0", "[192.168.1.1, \"::ffff:1.2.3.4/128\", \"unix:\"]",
		    "\"10.0.0.1 10.0.0.2\"" } },
		{ "login_limit_log_level", { "debug", "info", "notice", "warn", "error", "crit", "alert",
		    "emerg", "\"warn\"" } },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].name, name) == 0) {
			for (size_t j = 0; j < 16 && t[i].v[j]; j++)
				vadd(vs, "%s", t[i].v[j]);
			return 0;
		}
	return -1;
}

/* Valid values for d (each must load in a plain-text server), edge ones included. */
static void
gen_values(const struct directive *d, struct vals *vs)
{
	static const char *const flags[] = { "on", "off", "yes", "no", "true", "false", "ON", "Off" };
	static const char *const msecs[] = { "0", "1", "0s", "1ms", "500ms", "59999ms", "\"1h 30m\"",
		"\"1y 2M 3w 4d 5h 6m 7s 8ms\"", "100y", "2d", "90061001ms", "\"  5s  \"" };
	static const char *const sizes[] = { "64", "65", "1000", "4k", "4K", "1m", "64m", "65536",
		"1048575", "\"1023\"" };

	switch (d->type) {
	case DT_FLAG:
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
			vadd(vs, "%s", flags[i]);
		break;
	case DT_MSEC:
		for (size_t i = 0; i < sizeof(msecs) / sizeof(msecs[0]); i++)
			vadd(vs, "%s", msecs[i]);
		break;
	case DT_SIZE:
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			vadd(vs, "%s", sizes[i]);
		break;
	case DT_NUM: {
		/* config_check() wants two connections: one client, one backend. */
		long lo = strcmp(d->name, "worker_connections") == 0 ? 2 : d->min;
		vadd(vs, "%ld", lo);
		vadd(vs, "%ld", d->max);
		vadd(vs, "%ld", lo + (d->max - lo) / 2);
		vadd(vs, "\"%ld\"", d->max - 1);
		vadd(vs, "0%ld", lo + 1);
		break;
	}
	case DT_ENUM:
		for (const struct name_val *nv = d->names; nv->name; nv++) {
			vadd(vs, "%s", nv->name);
			vadd(vs, "\"%s\"", nv->name);
			vs->v[vs->n - 1][1] = (char)(vs->v[vs->n - 1][1] & ~0x20);	/* "Imap" */
		}
		break;
	case DT_MASK: {
		struct buf all = { 0 };
		for (const struct name_val *nv = d->names; nv->name; nv++) {
			vadd(vs, "%s", nv->name);
			buf_printf(&all, "%s%s", all.w ? ", " : "", nv->name);
		}
		buf_append(&all, "", 1);
		vadd(vs, "[%s]", all.data);
		vadd(vs, "\"%s %s\"", d->names[1].name ? d->names[1].name : d->names[0].name,
		    d->names[0].name);
		vadd(vs, "[%s, %s]", d->names[0].name, d->names[0].name);
		buf_release(&all);
		break;
	}
	case DT_STR:
	case DT_PATH:
		for (size_t i = 0; i < NODD; i++)
			vadd(vs, "%s", odd[i]);
		for (size_t i = 0; i < sizeof(odd_lb) / sizeof(odd_lb[0]); i++)
			vadd(vs, "%s", odd_lb[i]);
		break;
	case DT_STRLIST:
	case DT_PATHLIST:
		vadd(vs, "[]");
		vadd(vs, "A");
		vadd(vs, "\"A  B\\tC\"");
		vadd(vs, "[A, \"B C\", D, A]");
		for (size_t i = 0; i < NODD; i++)
			vadd(vs, "[%s]", odd[i]);
		break;
	case DT_KVLIST:
		vadd(vs, "[]");
		vadd(vs, "{X-A: v}");
		vadd(vs, "{X-A: \"two  words\", X_b.2: 1}");
		vadd(vs, "[\"X-A one\", \"X-A \\ttwo  words \", \"X-A \\u2028\"]");
		vadd(vs, "\"X-Single value\"");
		vadd(vs, "{Options: a, Options: b}");
		for (size_t i = 0; i < NODD; i++)
			if (!odd_leading_blank(odd[i]))
				vadd(vs, "{X-K: %s}", odd[i]);
		break;
	case DT_CUSTOM:
		cr_assert_eq(custom_values(d->name, vs), 0,
		    "no values for \"%s\": add them to custom_values()", d->name);
		break;
	case DT_RENAMED:
		break;
	}
}

/* Values a directive may well refuse; whatever it accepts must still print loadably. */
static void
gen_hostile(struct vals *vs)
{
	static const char *const h[] = {
		"", "~", "null", "\"\"", "\" \"", "\"\\t\"", "\"\\0\"", "[]", "{}", "[[]]", "[\"\"]",
		"[~]", "[null]", "{X}", "{X: }", "{X: ~}", "{X: \"\"}", "{X: \" v\"}", "{X: \"\\tv\"}",
		"{: v}", "{\"\": v}", "[\" \"]", "\"X \"", "[\"X \"]", "{X: [v]}", "[\"a\\nb\"]",
		"[\"mil t\", saff]", "[\"a\\tb\"]", "\"a\\u0085b\"", "[\"a\\u2028b\"]", "{X: \"\\u2028\"}",
		"[\"a:b\", c]", "\"\\x01\"", "[\"\\x01\"]", "-1", "99999999999999999999", "1.5",
		"0x10", "\"1 2\"", "[1, 2]", "[a, b, c]", "{X: 1, Y: 2}", "&a x", "!!str x",
	};

	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
		vadd(vs, "%s", h[i]);
	for (size_t i = 0; i < sizeof(odd_lb) / sizeof(odd_lb[0]); i++) {
		vadd(vs, "[%s]", odd_lb[i]);
		vadd(vs, "{X: %s}", odd_lb[i]);
	}
}

/* Directives that need login_limit_zone once they are on (config_check.c). */
static int
needs_limit_zone(const char *name)
{
	return (strncmp(name, "login_limit_", 12) == 0 && strcmp(name, "login_limit_zone") != 0) ||
	    strncmp(name, "limit_sessions_", 15) == 0;
}

/* The whole configuration around one directive written at where. */
static void
build(struct buf *b, const char *name, const char *val, enum where where)
{
	if (where == W_MAIN)
		buf_printf(b, "%s: %s\n", name, val);
	if (where == W_EVENTS)
		buf_printf(b, "events:\n  %s: %s\n", name, val);
	buf_puts(b, "mail:\n");
	if (where != W_MAIL || strcmp(name, "auth_http") != 0)
		buf_puts(b, "  auth_http: 127.0.0.1:9000/auth\n");
	if (where != W_MAIL || strncmp(name, "ssl_certificate", 15) != 0)
		buf_puts(b, "  ssl_certificate: cert.pem\n  ssl_certificate_key: cert.key\n");
	if (needs_limit_zone(name))
		buf_puts(b, "  login_limit_zone: \"shared:pz:1m\"\n");
	if (where == W_MAIL)
		buf_printf(b, "  %s: %s\n", name, val);
	buf_puts(b, "  servers:\n");
	if (where == W_SERVER && strcmp(name, "listen") == 0) {
		buf_printf(b, "    - listen: %s\n      protocol: imap\n", val);
		return;
	}
	buf_puts(b, "    - listen: \"143\"\n");
	if (where == W_SERVER)
		buf_printf(b, "      %s: %s\n", name, val);
}

static char *
dump(const struct config *cf)
{
	struct buf b = { 0 };
	char *s;

	config_dump(cf, &b);
	s = strndup(buf_rptr(&b), buf_len(&b));
	cr_assert_not_null(s);
	buf_release(&b);
	return s;
}

/* The dump without its first line, the comment naming the file. */
static const char *
body(const char *d)
{
	const char *nl = strchr(d, '\n');

	cr_assert_not_null(nl);
	return nl + 1;
}

/* Line number and text of the first line where a and b differ. */
static void
first_difference(const char *a, const char *b, int *line, char *out, size_t len)
{
	const char *sol = a;

	*line = 1;
	for (; *a && *a == *b; a++, b++)
		if (*a == '\n') {
			(*line)++;
			sol = a + 1;
		}
	snprintf(out, len, "%.*s", (int)strcspn(sol, "\n"), sol);
}

/*
 * Loads yaml; when it loads, checks the property. Returns whether it
 * loaded. must_load: a refusal fails the test (the value is meant valid).
 */
static int
fixed_point(const char *yaml, int must_load)
{
	struct config *cf1, *cf2;
	char *d1, *d2, diff[512];
	int line;

	wwrite("t.yaml", yaml, strlen(yaml));
	cf1 = wload("t.yaml");
	if (cf1 == NULL) {
		cr_assert(!must_load, "a valid configuration was refused: %s\n--- input:\n%.3000s",
		    th_err(), yaml);
		return 0;
	}
	d1 = dump(cf1);
	wwrite("dump.yaml", d1, strlen(d1));
	cf2 = wload("dump.yaml");
	cr_assert_not_null(cf2, "-t accepts this, but not what -T prints for it: %s\n"
	    "--- input:\n%.3000s\n--- -T:\n%.6000s", th_err(), yaml, d1);
	d2 = dump(cf2);
	cr_assert_leq(cf2->warnings.n, cf1->warnings.n, "-T output warns about more than its "
	    "input (%s)\n--- input:\n%.3000s\n--- -T:\n%.6000s",
	    cf2->warnings.n ? cf2->warnings.v[0] : "", yaml, d1);
	if (strcmp(body(d1), body(d2)) != 0) {
		first_difference(body(d1), body(d2), &line, diff, sizeof(diff));
		cr_assert_fail("-T of -T differs from -T at line %d (\"%s\")\n--- input:\n%.3000s\n"
		    "--- -T:\n%.6000s\n--- -T of that:\n%.6000s", line + 1, diff, yaml, d1, d2);
	}
	free(d1);
	free(d2);
	config_free(cf1);
	config_free(cf2);
	return 1;
}

static void
contexts(const struct directive *d, enum where *w, size_t *n)
{
	*n = 0;
	if (d->ctx & CTX_MAIN)
		w[(*n)++] = W_MAIN;
	if (d->ctx & CTX_EVENTS)
		w[(*n)++] = W_EVENTS;
	if (d->ctx & CTX_MAIL)
		w[(*n)++] = W_MAIL;
	if (d->ctx & CTX_SERVER)
		w[(*n)++] = W_SERVER;
}

/* Every directive of the table, in each context it allows, with each of its values. */
Test(config_property, every_directive_every_context)
{
	size_t loads = 0;

	make_files();
	for (size_t i = 0; i < ndirectives; i++) {
		const struct directive *d = &directives[i];
		struct vals vs = { 0 };
		enum where w[4];
		size_t nw;

		if (d->type == DT_RENAMED)
			continue;
		gen_values(d, &vs);
		cr_assert_geq(vs.n, 2, "\"%s\" has fewer than two values", d->name);
		contexts(d, w, &nw);
		for (size_t c = 0; c < nw; c++)
			for (size_t v = 0; v < vs.n; v++) {
				struct buf b = { 0 };
				build(&b, d->name, vs.v[v], w[c]);
				buf_append(&b, "", 1);
				loads += (size_t)fixed_point(b.data, 1);
				buf_release(&b);
			}
		vfree(&vs);
	}
	cr_assert_gt(loads, 1000);
}

/* Values a directive may refuse: what it accepts still reaches a fixed point. */
Test(config_property, hostile_values_every_directive)
{
	size_t loads = 0, tries = 0;
	struct vals vs = { 0 };

	make_files();
	gen_hostile(&vs);
	for (size_t i = 0; i < ndirectives; i++) {
		const struct directive *d = &directives[i];
		enum where w[4];
		size_t nw;

		contexts(d, w, &nw);
		for (size_t v = 0; v < vs.n; v++) {
			struct buf b = { 0 };
			build(&b, d->name, vs.v[v], w[nw - 1]);
			buf_append(&b, "", 1);
			loads += (size_t)fixed_point(b.data, 0);
			tries++;
			buf_release(&b);
		}
	}
	vfree(&vs);
	/* Not vacuous: many of these are valid for some directive. */
	cr_assert_gt(loads, tries / 20, "only %zu of %zu loaded", loads, tries);
}

/* ---- random combinations ---- */

/* xorshift64*: small, and the same sequence on every machine. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static size_t
pick(uint64_t *s, size_t n)
{
	return (size_t)(rnd(s) % n);
}

/* Pieces of random strings, as YAML double-quoted text. */
static const char *const pieces[] = {
	"a", "Z", "0", "9", ".", "_", " ", ":", "#", "-", "'", "\\\"", "\\\\", "{", "[", ",", "&",
	"*", "!", "|", ">", "%", "@", "`", "?", "~", "\\t", "\\x01", "\\x7f", "\\x80", "\\u0085",
	"\\u00a0", "\\u2028", "\\u2029", "\\uFEFF", "\\uFFFE", "\\U0001F600", "\xc3\xa9", "/",
};

/* A random non-empty string without line breaks; lead_blank: it may start with a blank. */
static void
rand_str(uint64_t *s, struct buf *b, int lead_blank)
{
	size_t n = 1 + pick(s, 10);

	buf_puts(b, "\"");
	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[pick(s, sizeof(pieces) / sizeof(pieces[0]))];
		if (i == 0 && !lead_blank && (strcmp(p, " ") == 0 || strcmp(p, "\\t") == 0))
			p = "x";
		buf_puts(b, p);
	}
	buf_puts(b, "\"");
}

static void
rand_msec(uint64_t *s, struct buf *b)
{
	static const char *const units[] = { "y", "M", "w", "d", "h", "m", "s", "ms" };
	int any = 0;

	buf_puts(b, "\"");
	for (size_t i = 0; i < 8; i++)
		if (pick(s, 3) == 0 || (i == 7 && !any)) {
			buf_printf(b, "%s%zu%s", any ? " " : "", pick(s, i < 2 ? 20 : 1000), units[i]);
			any = 1;
		}
	buf_puts(b, "\"");
}

static void
rand_listen(uint64_t *s, struct buf *b, int port)
{
	static const char *const addrs[] = { "127.0.0.1:%d", "[::1]:%d", "[::]:%d", "%d", "*:%d" };
	size_t a = pick(s, 5);

	buf_puts(b, "\"");
	buf_printf(b, addrs[a], port);
	if (pick(s, 4) == 0)
		buf_puts(b, " ssl");
	if (pick(s, 4) == 0)
		buf_puts(b, " proxy_protocol");
	if (pick(s, 4) == 0)
		buf_printf(b, " backlog=%zu", 1 + pick(s, 1000));
	if (pick(s, 4) == 0)
		buf_printf(b, " rcvbuf=%zuk", 1 + pick(s, 1000));
	if (pick(s, 4) == 0)
		buf_printf(b, " sndbuf=%zu", 1 + pick(s, 100000));
	if (pick(s, 4) == 0)
		buf_puts(b, " bind");
	if (pick(s, 3) == 0) {
		static const char *const ka[] = { "on", "off", "::", "30m::10", "1s:2s:3", ":5m:" };
		buf_printf(b, " so_keepalive=%s", ka[pick(s, 6)]);
	}
	if (a == 2 && pick(s, 2) == 0)
		buf_printf(b, " ipv6only=%s", pick(s, 2) ? "on" : "off");
	if (pick(s, 5) == 0)
		buf_puts(b, " multipath");
	if (pick(s, 5) == 0)
		buf_puts(b, " reuseport");
	buf_puts(b, "\"");
}

/* A random value for d, valid by construction where that is easy. */
static void
rand_value(uint64_t *s, const struct directive *d, struct buf *b)
{
	struct vals vs = { 0 };
	size_t n;

	switch (d->type) {
	case DT_MSEC:
		rand_msec(s, b);
		return;
	case DT_SIZE:
		n = pick(s, 3);
		if (n == 0)
			buf_printf(b, "%zu", 64 + pick(s, 1000000));
		else
			buf_printf(b, "%zu%c", 1 + pick(s, 64), n == 1 ? 'm' : 'k');
		return;
	case DT_NUM: {
		long lo = strcmp(d->name, "worker_connections") == 0 ? 2 : d->min;
		buf_printf(b, "%ld", lo + (long)pick(s, (size_t)(d->max - lo) + 1));
		return;
	}
	case DT_MASK:
		buf_puts(b, "[");
		n = 0;
		for (const struct name_val *nv = d->names; nv->name; nv++)
			if (pick(s, 2) == 0 || (nv[1].name == NULL && n == 0))
				buf_printf(b, "%s%s", n++ ? ", " : "", nv->name);
		buf_puts(b, "]");
		return;
	case DT_STR:
		rand_str(s, b, 1);
		return;
	case DT_PATH:
		buf_puts(b, files[pick(s, sizeof(files) / sizeof(files[0]))][1]);
		return;
	case DT_PATHLIST:
		if (strcmp(d->name, "ssl_session_ticket_key") == 0)
			buf_puts(b, pick(s, 2) ? "[ticket.key, \"t k.key\"]" : "ticket.key");
		else
			buf_printf(b, "[%s]", files[pick(s, sizeof(files) / sizeof(files[0]))][1]);
		return;
	case DT_STRLIST:
		buf_puts(b, "[");
		for (size_t i = 0, k = pick(s, 4); i < k; i++) {
			buf_puts(b, i ? ", " : "");
			rand_str(s, b, 1);
		}
		buf_puts(b, "]");
		return;
	case DT_KVLIST:
		buf_puts(b, pick(s, 2) ? "{" : "[");
		n = b->data[b->w - 1] == '{';
		for (size_t i = 0, k = 1 + pick(s, 3); i < k; i++) {
			buf_puts(b, i ? ", " : "");
			if (n) {
				buf_printf(b, "X-M%zu: ", pick(s, 3));
				rand_str(s, b, 0);
			} else {
				buf_printf(b, "\"X-L%zu v%zu\"", pick(s, 3), pick(s, 1000));
			}
		}
		buf_puts(b, n ? "}" : "]");
		return;
	default:
		break;
	}
	gen_values(d, &vs);
	buf_puts(b, vs.v[pick(s, vs.n)]);
	vfree(&vs);
}

/* Directives rand_config() writes itself, or that need files a random value would miss. */
static int
fixed_by_base(const struct directive *d)
{
	return d->type == DT_RENAMED || strcmp(d->name, "listen") == 0 ||
	    strcmp(d->name, "auth_http") == 0 || strncmp(d->name, "ssl_certificate", 15) == 0 ||
	    strcmp(d->name, "login_limit_zone") == 0;
}

static void
rand_block(uint64_t *s, unsigned ctx, const char *indent, size_t one_in, struct buf *b)
{
	for (size_t i = 0; i < ndirectives; i++) {
		const struct directive *d = &directives[i];
		if (!(d->ctx & ctx) || fixed_by_base(d) || pick(s, one_in) != 0)
			continue;
		if (ctx == CTX_SERVER && strcmp(d->name, "protocol") == 0)
			continue;
		buf_printf(b, "%s%s: ", indent, d->name);
		rand_value(s, d, b);
		buf_puts(b, "\n");
	}
}

static void
rand_config(uint64_t *s, struct buf *b)
{
	size_t nsrv = 1 + pick(s, 3), merge = pick(s, 3) == 0;

	/* Sometimes a block every server merges, as a YAML user keeps common settings. */
	if (merge) {
		buf_puts(b, "x-common: &common\n");
		rand_block(s, CTX_SERVER, "  ", 8, b);
		buf_puts(b, "  x-none: 1\n");
	}
	rand_block(s, CTX_MAIN, "", 3, b);
	buf_puts(b, "events:\n");
	rand_block(s, CTX_EVENTS, "  ", 2, b);
	buf_puts(b, "mail:\n  auth_http: 127.0.0.1:9000/auth\n");
	buf_printf(b, "  ssl_certificate: [%s]\n  ssl_certificate_key: cert.key\n",
	    files[pick(s, sizeof(files) / sizeof(files[0]))][1]);
	/* The login limits a block may turn on need a zone; one size for every server. */
	buf_printf(b, "  login_limit_zone: \"shared:rz:%zuk\"\n", 32 + pick(s, 1000));
	rand_block(s, CTX_MAIL, "  ", 6, b);
	buf_puts(b, "  servers:\n");
	for (size_t i = 0; i < nsrv; i++) {
		static const char *const protos[] = { "imap", "pop3", "smtp" };
		buf_puts(b, "    - listen: [");
		for (size_t k = 0, nl = 1 + pick(s, 2); k < nl; k++) {
			buf_puts(b, k ? ", " : "");
			rand_listen(s, b, (int)(20000 + 10 * i + k));
		}
		buf_printf(b, "]\n      protocol: %s\n", protos[pick(s, 3)]);
		if (merge)
			buf_puts(b, "      <<: *common\n");
		rand_block(s, CTX_SERVER, "      ", 10, b);
	}
}

/* Seeded combinations of everything above: several directives and servers at once. */
Test(config_property, random_configurations)
{
	uint64_t seed = 0x6d61696c70726f78ULL;	/* "mailprox" */
	size_t loads = 0, n = 400;

	make_files();
	for (size_t i = 0; i < n; i++) {
		struct buf b = { 0 };
		rand_config(&seed, &b);
		buf_append(&b, "", 1);
		loads += (size_t)fixed_point(b.data, 0);
		buf_release(&b);
	}
	/* Refusals (TLS without a CA for ssl_verify_client) must stay the exception. */
	cr_assert_geq(loads, n * 3 / 4, "only %zu of %zu random configurations loaded", loads, n);
}
