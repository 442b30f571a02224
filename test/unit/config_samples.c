/*
 * YAML texts of values for the directives with a grammar of their own
 * (DT_CUSTOM), edge ones included: test_config_property.c loads each in every
 * context its directive allows and checks that -T prints it back loadably.
 * A new custom directive needs its line here.
 */
#include <stddef.h>
#include <string.h>

#include "test/unit/config_samples.h"

static const struct {
	const char *name;
	const char *v[CONFIG_SAMPLES_MAX];
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
	{ "sieve_capabilities", { "[]", "VERSION", "'\"VERSION 1.0\" \"SIEVE a  b\" X'", "[\"A\", \"A\"]",
	    "[\"IMPLEMENTATION my \\\"proxy\\\"\", \" NOTIFY\tmailto \", \"X \\u00e9\\u2028\"]" } },
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
	    "[\"127.0.0.1:1143\", \"127.0.0.2:1143 rcvbuf=1g\"]", "\"[::]:1143 ipv6only=on\"",
	    "\"127.0.0.1:1143 reuseport=off\"", "\"127.0.0.1:1143 ssl reuseport=cpu\"" } },
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

const char *const *
config_custom_samples(const char *name)
{
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].v;
	return NULL;
}
