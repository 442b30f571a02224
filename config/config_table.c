/*
 * THE directive table: every directive mailproxy knows, with its contexts,
 * value shape, default (in nginx notation, parsed by the same setter as a
 * user's value), and a line for the reference page. Generic setters and
 * printers for the common shapes live here too; the few directives with
 * their own grammar are in config_custom.c (error_log, auth_http, ...),
 * config_listen.c (listen) and config_limits.c (the failed-login limits).
 */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "config/config_custom.h"
#include "config/config_int.h"
#include "config/config_vars.h"

#define MAIN	CTX_MAIN
#define EVENTS	CTX_EVENTS
#define MS	(CTX_MAIL | CTX_SERVER)
#define SRV	CTX_SERVER

#define SF(f) .off = offsetof(struct srv_conf, f), .size = sizeof(((struct srv_conf *)0)->f)
#define MF(f) .off = offsetof(struct main_conf, f), .size = sizeof(((struct main_conf *)0)->f)

_Static_assert(offsetof(struct srv_conf, error_log) == offsetof(struct main_conf, error_log),
    "error_log must sit at the same offset in main and server configuration");

static const struct name_val proto_names[] = {
	{ "imap", MP_PROTO_IMAP }, { "pop3", MP_PROTO_POP3 }, { "smtp", MP_PROTO_SMTP }, { 0, 0 } };
static const struct name_val starttls_names[] = {
	{ "off", STARTTLS_OFF }, { "on", STARTTLS_ON }, { "only", STARTTLS_ONLY }, { 0, 0 } };
static const struct name_val verify_names[] = {
	{ "off", VERIFY_OFF }, { "on", VERIFY_ON }, { "optional", VERIFY_OPTIONAL },
	{ "optional_no_ca", VERIFY_OPTIONAL_NO_CA }, { 0, 0 } };
static const struct name_val pp_names[] = {
	{ "off", PP_OFF }, { "on", PP_V1 }, { "v2", PP_V2 }, { 0, 0 } };
static const struct name_val imap_auth_names[] = {
	{ "plain", AUTHM_PLAIN }, { "login", AUTHM_LOGIN }, { "cram-md5", AUTHM_CRAM_MD5 },
	{ "external", AUTHM_EXTERNAL }, { "oauthbearer", AUTHM_OAUTHBEARER },
	{ "xoauth2", AUTHM_XOAUTH2 }, { 0, 0 } };
static const struct name_val pop3_auth_names[] = {
	{ "plain", AUTHM_PLAIN }, { "apop", AUTHM_APOP }, { "cram-md5", AUTHM_CRAM_MD5 },
	{ "external", AUTHM_EXTERNAL }, { "oauthbearer", AUTHM_OAUTHBEARER },
	{ "xoauth2", AUTHM_XOAUTH2 }, { 0, 0 } };
static const struct name_val smtp_auth_names[] = {
	{ "plain", AUTHM_PLAIN }, { "login", AUTHM_LOGIN }, { "cram-md5", AUTHM_CRAM_MD5 },
	{ "external", AUTHM_EXTERNAL }, { "none", AUTHM_NONE },
	{ "oauthbearer", AUTHM_OAUTHBEARER }, { "xoauth2", AUTHM_XOAUTH2 }, { 0, 0 } };

#define CUSTOM(fn) .type = DT_CUSTOM, .set = set_##fn, .print = print_##fn

const struct directive directives[] = {
	/* main context */
	{ "user", MAIN, CUSTOM(user), MF(user), .dflt = "nobody nogroup",
	  .syntax = "user [group]", .doc = "unprivileged user (and group) workers run as when started as root" },
	{ "worker_processes", MAIN, CUSTOM(worker_processes), MF(worker_processes), .dflt = "1",
	  .syntax = "number | auto", .doc = "number of worker processes; auto = the CPUs this process may run on "
	  "(its affinity, limited by a cgroup v2 cpu.max quota), at least 1" },
	{ "worker_rlimit_nofile", MAIN, DT_NUM, MF(worker_rlimit_nofile), .min = 1, .max = 1048576,
	  .syntax = "number", .doc = "RLIMIT_NOFILE for workers" },
	{ "worker_cpu_affinity", MAIN, CUSTOM(cpu_affinity), MF(cpu_affinity_text),
	  .syntax = "cpumask ... | auto [cpumask]",
	  .doc = "binds workers to CPUs: one mask per worker (rightmost bit = CPU 0; with fewer masks "
	  "than workers the last applies to the rest), or auto: worker i on the i-th CPU this process "
	  "may run on (wrapping), only among those of cpumask if given" },
	{ "worker_priority", MAIN, CUSTOM(priority), MF(worker_priority), .dflt = "0",
	  .syntax = "number", .doc = "nice value of the workers, -20 (highest) to 20 (setpriority)" },
	{ "worker_rlimit_core", MAIN, CUSTOM(rlimit_core), MF(worker_rlimit_core),
	  .syntax = "size", .doc = "RLIMIT_CORE for workers (largest core file); unset leaves it alone" },
	{ "working_directory", MAIN, DT_PATH, MF(working_directory),
	  .syntax = "directory", .doc = "current directory of the workers (where they dump core); "
	  "relative to the prefix" },
	{ "env", MAIN, CUSTOM(env), MF(env),
	  .syntax = "variable[=value] (or a sequence)", .doc = "environment of the workers: VAR keeps VAR "
	  "from the master's environment, VAR=VALUE sets it; every other variable is removed, except TZ "
	  "and mailproxy's own MAILPROXY_* (as nginx keeps TZ and NGINX)" },
	{ "timer_resolution", MAIN, DT_MSEC, MF(timer_resolution),
	  .syntax = "interval", .doc = "accepted for nginx configurations, no effect: the worker "
	  "already reads the clock once per event-loop turn, which is what nginx's setting buys" },
	{ "worker_shutdown_timeout", MAIN, DT_MSEC, MF(worker_shutdown_timeout),
	  .syntax = "time", .doc = "how long a gracefully stopping worker may keep sessions" },
	{ "status_listen", MAIN, CUSTOM(status_listen), MF(status_listen), .dflt = "off",
	  .flags = DF_MAILPROXY, .syntax = "address:port | off",
	  .doc = "HTTP status endpoint served by the workers: GET /metrics (Prometheus text format "
	  "0.0.4) and GET /status (the JSON of -s status); an IP address, never a name; see "
	  "status_allow" },
	{ "status_allow", MAIN, CUSTOM(cidrs), MF(status_allow), .dflt = "127.0.0.0/8 ::1",
	  .flags = DF_MAILPROXY, .syntax = "address | CIDR (or a sequence)",
	  .doc = "clients the status endpoint answers; others get 403 Forbidden. The default is "
	  "loopback only" },
	{ "error_log", MAIN | MS, CUSTOM(error_log), MF(error_log), .dflt = "logs/error.log error",
	  .syntax = "file [level] (or a sequence)", .doc = "error log: path, stderr or syslog:server=ADDR; level debug..emerg" },
	{ "pid", MAIN, DT_PATH, MF(pid), .dflt = "logs/mailproxy.pid",
	  .syntax = "file", .doc = "pid file of the master process" },
	{ "daemon", MAIN, DT_FLAG, MF(daemon), .dflt = "on",
	  .syntax = "on | off", .doc = "run in the background" },
	{ "master_process", MAIN, DT_FLAG, MF(master_process), .dflt = "on",
	  .syntax = "on | off", .doc = "off = one process serving everything (debugging)" },

	/* events */
	{ "worker_connections", EVENTS, DT_NUM, MF(worker_connections), .dflt = "512",
	  .min = 1, .max = 1048576, .syntax = "number", .doc = "connections per worker (client and backend sides count)" },
	{ "multi_accept", EVENTS, DT_FLAG, MF(multi_accept), .dflt = "off",
	  .syntax = "on | off", .doc = "accept all pending connections at once" },
	{ "use", EVENTS, CUSTOM(event_use), MF(use_epoll), .dflt = "epoll",
	  .syntax = "epoll", .doc = "event method; epoll is the only one on Linux (kqueue, poll... are refused)" },
	{ "accept_mutex", EVENTS, DT_FLAG, MF(accept_mutex), .dflt = "off",
	  .syntax = "on | off", .doc = "accepted, no effect: the listening sockets are registered with "
	  "EPOLLEXCLUSIVE, so the kernel wakes one worker per connection, as nginx does with it off" },
	{ "accept_mutex_delay", EVENTS, DT_MSEC, MF(accept_mutex_delay), .dflt = "500ms",
	  .syntax = "time", .doc = "accepted, no effect (see accept_mutex)" },

	/* mail core */
	{ "listen", SRV, CUSTOM(listen), SF(listen), .flags = DF_NOPRINT,
	  .syntax = "address:port [ssl] [proxy_protocol] [backlog=n] [rcvbuf=size] [sndbuf=size] [bind] [ipv6only=on|off] [so_keepalive=on|off|[idle]:[intvl]:[cnt]] [multipath] [reuseport] (or a sequence)",
	  .doc = "listening sockets of the server; reuseport is mailproxy only" },
	{ "protocol", SRV, DT_ENUM, SF(protocol), .names = proto_names,
	  .syntax = "imap | pop3 | smtp", .doc = "protocol of the server; by default from the port (143/993, 110/995, 25/465/587)" },
	{ "timeout", MS, DT_MSEC, SF(timeout), .dflt = "60s",
	  .syntax = "time", .doc = "idle timeout before login, and for the backend login" },
	{ "server_name", MS, CUSTOM(server_name), SF(server_name),
	  .syntax = "name ...", .doc = "name used in greetings and salts; more names select the server by SNI; default: the host name" },
	{ "resolver", MS, CUSTOM(resolver), SF(resolver), .dflt = "off",
	  .syntax = "address ... [valid=time] [ipv4=on|off] [ipv6=on|off] | off", .doc = "DNS servers for client host names (SMTP)" },
	{ "resolver_timeout", MS, DT_MSEC, SF(resolver_timeout), .dflt = "30s",
	  .syntax = "time", .doc = "DNS lookup timeout" },
	{ "max_errors", MS, DT_NUM, SF(max_errors), .dflt = "5", .min = 0, .max = 1000000,
	  .syntax = "number", .doc = "protocol errors before the connection is closed" },
	/* freenginx 1.25.5; nginx has no such cap. As there, 0 refuses the first command. */
	{ "max_commands", MS, DT_NUM, SF(max_commands), .dflt = "1000", .min = 0, .max = 1000000,
	  .syntax = "number",
	  .doc = "commands a client may send before login; the next is answered as an invalid command and the connection closed (freenginx)" },

	/* auth_http */
	{ "auth_http", MS, CUSTOM(auth_http), SF(auth_http),
	  .syntax = "URL | [URL, ...]",
	  .doc = "[http://|https://]host[:port][/uri] or unix:/path[:/uri] of the auth service; a list (mailproxy): servers tried in order, with failover" },
	{ "auth_http_header", MS, DT_KVLIST, SF(auth_http_header), .flags = DF_VARS,
	  .syntax = "{name: value} or [\"name value\", ...]",
	  .doc = "extra request headers to the auth service; values may hold $remote_addr, "
	  "$remote_port, $server_addr, $server_port, $ssl_server_name and $protocol ($name or "
	  "${name}; $$ is a literal $), unlike nginx's, which are verbatim" },
	/* access log: nginx stream's, per session */
	{ "log_format", CTX_MAIL, CUSTOM(log_format), SF(log_format),
	  .syntax = "{name: \"[escape=default|json|none] format\"} or [\"name [escape=...] format\", ...]",
	  .doc = "access log formats (nginx: stream context); variables $time_local $time_iso8601 $msec "
	  "$remote_addr $remote_port $server_addr $server_port $protocol $login $upstream_addr $status "
	  "$session_time $auth_time $upstream_connect_time $bytes_received $bytes_sent $ssl_protocol "
	  "$ssl_cipher $ssl_session_reused $ssl_server_name $connection $pid; \"combined\" is predefined "
	  "(README \"Access log\")" },
	{ "access_log", MS, CUSTOM(access_log), SF(access_log), .dflt = "off",
	  .syntax = "path [format [buffer=size] [flush=time] [if=condition]] (or a sequence) | off",
	  .doc = "one line per session at its end: a file or syslog:server=ADDR[,facility=,tag=,severity=]; "
	  "format defaults to combined; buffer= gathers lines (flush= bounds their wait); if= skips a "
	  "line whose condition is empty or \"0\"" },
	{ "auth_http_timeout", MS, DT_MSEC, SF(auth_http_timeout), .dflt = "60s",
	  .syntax = "time", .doc = "auth service timeout" },
	{ "auth_http_pass_client_cert", MS, DT_FLAG, SF(auth_http_pass_client_cert), .dflt = "off",
	  .syntax = "on | off", .doc = "send the client certificate in Auth-SSL-Cert" },
	{ "auth_http_keepalive", MS, DT_NUM, SF(auth_http_keepalive), .dflt = "0", .min = 0, .max = 10000,
	  .flags = DF_MAILPROXY, .syntax = "number",
	  .doc = "idle HTTP/1.1 connections kept per worker and auth service; 0 = nginx's HTTP/1.0, one request per connection" },
	{ "auth_http_fail_timeout", MS, DT_MSEC, SF(auth_http_fail_timeout), .dflt = "60s", .flags = DF_MAILPROXY,
	  .syntax = "time",
	  .doc = "with several auth_http servers: how long one that failed (connect, timeout, TLS, 5xx) is skipped before a request probes it again" },
	/* TLS towards an https:// auth service (mailproxy only; named as proxy_ssl_*) */
	{ "auth_http_ssl_verify", MS, DT_FLAG, SF(auth_http_ssl_verify), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "on | off", .doc = "verify the auth service's certificate and name" },
	{ "auth_http_ssl_verify_depth", MS, DT_NUM, SF(auth_http_ssl_verify_depth), .dflt = "1", .min = 0, .max = 100,
	  .flags = DF_MAILPROXY, .syntax = "number", .doc = "auth service certificate chain depth" },
	{ "auth_http_ssl_trusted_certificate", MS, DT_PATH, SF(auth_http_ssl_trusted_certificate), .flags = DF_MAILPROXY,
	  .syntax = "file", .doc = "CA certificates for auth_http_ssl_verify" },
	{ "auth_http_ssl_name", MS, DT_STR, SF(auth_http_ssl_name), .flags = DF_MAILPROXY,
	  .syntax = "name", .doc = "name verified and sent as SNI; default the host of the auth_http URL" },
	{ "auth_http_ssl_server_name", MS, DT_FLAG, SF(auth_http_ssl_server_name), .dflt = "on", .flags = DF_MAILPROXY,
	  .syntax = "on | off", .doc = "send the name as SNI (on by default, unlike proxy_ssl_server_name: an HTTPS client is expected to)" },
	{ "auth_http_ssl_session_reuse", MS, DT_FLAG, SF(auth_http_ssl_session_reuse), .dflt = "on", .flags = DF_MAILPROXY,
	  .syntax = "on | off", .doc = "resume TLS sessions with each auth service" },
	{ "auth_http_ssl_protocols", MS, CUSTOM(ssl_protocols), SF(auth_http_ssl_protocols), .dflt = "TLSv1.2 TLSv1.3",
	  .flags = DF_MAILPROXY, .syntax = "[TLSv1.2] [TLSv1.3] ...", .doc = "TLS versions towards the auth service" },
	{ "auth_http_ssl_ciphers", MS, DT_STR, SF(auth_http_ssl_ciphers), .dflt = "DEFAULT", .flags = DF_MAILPROXY,
	  .syntax = "ciphers", .doc = "TLS 1.2 ciphers towards the auth service" },
	{ "auth_http_ssl_certificate", MS, DT_PATH, SF(auth_http_ssl_certificate), .flags = DF_MAILPROXY,
	  .syntax = "file", .doc = "client certificate for the auth service" },
	{ "auth_http_ssl_certificate_key", MS, DT_PATH, SF(auth_http_ssl_certificate_key), .flags = DF_MAILPROXY,
	  .syntax = "file", .doc = "key of auth_http_ssl_certificate" },
	{ "auth_http_cache", MS, CUSTOM(auth_cache), SF(auth_http_cache), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "shared:name:size [valid=time] [invalid=time] | off",
	  .doc = "keep the auth service's answers to plain-password logins in a shared zone (at least 32k) for valid (default 60s; an OK) or invalid (default 10s; a refusal), so that a login seen lately skips the service; the key is an HMAC of protocol, login and password, the value the answer, Auth-Pass included; the service may shorten or forbid with Auth-Cache-Valid: seconds; emptied by reload and -s flush-auth-cache" },

	/* proxy */
	{ "proxy", MS, DT_FLAG, SF(proxy), .dflt = "off",
	  .syntax = "on | off", .doc = "accepted for compatibility; nginx ignores it too" },
	{ "proxy_buffer", MS, DT_SIZE, SF(proxy_buffer), .dflt = "page",
	  .syntax = "size", .doc = "relay buffer size per direction (allocated only while data flows)" },
	{ "proxy_timeout", MS, DT_MSEC, SF(proxy_timeout), .dflt = "24h",
	  .syntax = "time", .doc = "idle timeout of a relayed session" },
	{ "proxy_pass_error_message", MS, DT_FLAG, SF(proxy_pass_error_message), .dflt = "off",
	  .syntax = "on | off", .doc = "pass the backend's login error to the client" },
	{ "xclient", MS, DT_FLAG, SF(xclient), .dflt = "on",
	  .syntax = "on | off", .doc = "send XCLIENT to SMTP backends" },
	{ "proxy_smtp_auth", MS, DT_FLAG, SF(proxy_smtp_auth), .dflt = "off",
	  .syntax = "on | off", .doc = "AUTH PLAIN to the SMTP backend" },
	{ "proxy_protocol", MS, DT_ENUM, SF(proxy_protocol), .dflt = "off", .names = pp_names,
	  .syntax = "on | v2 | off", .doc = "send a PROXY protocol header to the backend" },
	{ "so_keepalive", MS, DT_FLAG, SF(so_keepalive), .dflt = "off", .flags = DF_SEED,
	  .syntax = "on | off", .doc = "SO_KEEPALIVE on backend sockets (from the seed; removed from nginx)" },

	/* imap */
	{ "imap_client_buffer", MS, DT_SIZE, SF(imap_client_buffer), .dflt = "page",
	  .syntax = "size", .doc = "longest IMAP command (and literal) before login" },
	{ "imap_capabilities", MS, DT_STRLIST, SF(imap_capabilities), .dflt = "IMAP4 IMAP4rev1 UIDPLUS",
	  .syntax = "extension ...", .doc = "CAPABILITY list before login" },
	{ "imap_auth", MS, DT_MASK, SF(imap_auth), .dflt = "plain", .names = imap_auth_names,
	  .syntax = "plain | login | cram-md5 | external | oauthbearer | xoauth2 ...",
	  .doc = "IMAP SASL mechanisms advertised (OAuth: the client buffer is at least 24k)" },
	{ "imap_id_forward", MS, DT_FLAG, SF(imap_id_forward), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "on | off", .doc = "send the client's ID fields and x-originating-ip/port, x-connected-ip/port to the backend before LOGIN (Dovecot trusted proxies)" },

	/* pop3 */
	{ "pop3_capabilities", MS, DT_STRLIST, SF(pop3_capabilities), .dflt = "TOP USER UIDL",
	  .syntax = "extension ...", .doc = "CAPA list" },
	{ "pop3_auth", MS, DT_MASK, SF(pop3_auth), .dflt = "plain", .names = pop3_auth_names,
	  .syntax = "plain | apop | cram-md5 | external | oauthbearer | xoauth2 ...",
	  .doc = "POP3 login methods allowed (OAuth: the client buffer is at least 24k)" },
	{ "pop3_client_buffer", MS, DT_SIZE, SF(pop3_client_buffer), .dflt = "page", .flags = DF_MAILPROXY,
	  .syntax = "size", .doc = "longest POP3 command before login (nginx: fixed 128 bytes)" },
	{ "auth", MS, DT_RENAMED, .dflt = NULL, .syntax = "-", .flags = DF_SEED | DF_NOPRINT,
	  .doc = "renamed to pop3_auth (nginx 0.5.15); refused" },

	/* smtp */
	{ "smtp_client_buffer", MS, DT_SIZE, SF(smtp_client_buffer), .dflt = "page",
	  .syntax = "size", .doc = "longest SMTP command before login" },
	{ "smtp_greeting_delay", MS, DT_MSEC, SF(smtp_greeting_delay), .dflt = "0",
	  .syntax = "time", .doc = "delay before the greeting; clients talking earlier are refused" },
	{ "smtp_capabilities", MS, DT_STRLIST, SF(smtp_capabilities),
	  .syntax = "extension ...", .doc = "EHLO extensions before AUTH/STARTTLS" },
	{ "smtp_auth", MS, DT_MASK, SF(smtp_auth), .dflt = "login plain", .names = smtp_auth_names,
	  .syntax = "plain | login | cram-md5 | external | none | oauthbearer | xoauth2 ...",
	  .doc = "SMTP AUTH mechanisms; none = relay without login (OAuth: the client buffer is at least 24k)" },

	/* realip */
	{ "set_real_ip_from", MS, CUSTOM(cidrs), SF(set_real_ip_from),
	  .syntax = "address | CIDR | unix: (or a sequence)", .doc = "peers trusted for the PROXY protocol source address" },

	/* ssl */
	{ "ssl", MS, DT_FLAG, SF(ssl), .dflt = "off", .flags = DF_SEED | DF_NOPRINT,
	  .syntax = "on | off", .doc = "TLS on every listen of the server (removed in nginx 1.25.1; use listen ... ssl)" },
	{ "starttls", MS, DT_ENUM, SF(starttls), .dflt = "off", .names = starttls_names,
	  .syntax = "on | off | only", .doc = "STARTTLS/STLS; only = no login before TLS" },
	{ "ssl_certificate", MS, DT_PATHLIST, SF(ssl_certificate),
	  .syntax = "file (or a sequence)", .doc = "PEM certificate chain(s), e.g. RSA and ECDSA" },
	{ "ssl_certificate_key", MS, DT_PATHLIST, SF(ssl_certificate_key),
	  .syntax = "file (or a sequence)", .doc = "PEM private key(s), in the order of ssl_certificate" },
	{ "ssl_password_file", MS, DT_PATH, SF(ssl_password_file),
	  .syntax = "file", .doc = "pass phrases for the keys, one per line" },
	{ "ssl_certificate_compression", MS, DT_FLAG, SF(ssl_certificate_compression), .dflt = "off",
	  .syntax = "on | off", .doc = "TLS 1.3 certificate compression" },
	{ "ssl_dhparam", MS, DT_PATH, SF(ssl_dhparam),
	  .syntax = "file", .doc = "DH parameters for DHE ciphers" },
	{ "ssl_ecdh_curve", MS, DT_STR, SF(ssl_ecdh_curve), .dflt = "auto",
	  .syntax = "curve[:curve...]", .doc = "ECDHE groups" },
	{ "ssl_protocols", MS, CUSTOM(ssl_protocols), SF(ssl_protocols), .dflt = "TLSv1.2 TLSv1.3",
	  .syntax = "TLSv1 | TLSv1.1 | TLSv1.2 | TLSv1.3 ...", .doc = "enabled protocols (SSLv2/SSLv3 refused)" },
	{ "ssl_ciphers", MS, DT_STR, SF(ssl_ciphers), .dflt = "HIGH:!aNULL:!MD5",
	  .syntax = "ciphers", .doc = "OpenSSL cipher list (TLS 1.2 and below)" },
	{ "ssl_prefer_server_ciphers", MS, DT_FLAG, SF(ssl_prefer_server_ciphers), .dflt = "off",
	  .syntax = "on | off", .doc = "server cipher order wins" },
	{ "ssl_session_cache", MS, CUSTOM(ssl_session_cache), SF(ssl_session_cache), .dflt = "none",
	  .syntax = "off | none | [builtin[:size]] [shared:name:size]", .doc = "TLS session cache; shared zones are seen by all workers" },
	{ "ssl_session_tickets", MS, DT_FLAG, SF(ssl_session_tickets), .dflt = "on",
	  .syntax = "on | off", .doc = "TLS session tickets" },
	{ "ssl_session_ticket_key", MS, DT_PATHLIST, SF(ssl_session_ticket_key),
	  .syntax = "file (or a sequence)", .doc = "48- or 80-byte ticket key files; the first encrypts, all decrypt" },
	{ "ssl_session_ticket_key_store", MS, CUSTOM(ticket_store), SF(ssl_session_ticket_key_store),
	  .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "redis address [db=number] [user=name] [password=secret] [timeout=time] [prefix=string] [period=time] | off",
	  .doc = "a Redis server through which every node of a fleet shares the session ticket keys: each period (default 1h, whole seconds) one node creates the next key (set if absent), all fetch it, the previous key decrypts for one more period; a node that cannot reach Redis keeps its keys while they last, then uses local ones (resumption across nodes falls back to full handshakes). Needs ssl_session_cache shared:, excludes ssl_session_ticket_key; keys start with prefix (default mailproxy:tickets:), timeout default 1s" },
	{ "ssl_session_timeout", MS, DT_MSEC, SF(ssl_session_timeout), .dflt = "5m",
	  .syntax = "time", .doc = "lifetime of cached sessions and tickets" },
	{ "ssl_verify_client", MS, DT_ENUM, SF(ssl_verify_client), .dflt = "off", .names = verify_names,
	  .syntax = "on | off | optional | optional_no_ca", .doc = "client certificate verification" },
	{ "ssl_verify_depth", MS, DT_NUM, SF(ssl_verify_depth), .dflt = "1", .min = 0, .max = 100,
	  .syntax = "number", .doc = "client certificate chain depth" },
	{ "ssl_client_certificate", MS, DT_PATH, SF(ssl_client_certificate),
	  .syntax = "file", .doc = "CAs for client certificates (sent to clients)" },
	{ "ssl_trusted_certificate", MS, DT_PATH, SF(ssl_trusted_certificate),
	  .syntax = "file", .doc = "CAs for client certificates (not sent)" },
	{ "ssl_crl", MS, DT_PATH, SF(ssl_crl),
	  .syntax = "file", .doc = "revocation lists for client certificates" },
	{ "ssl_conf_command", MS, DT_KVLIST, SF(ssl_conf_command),
	  .syntax = "{name: value} or [\"name value\", ...]", .doc = "raw OpenSSL SSL_CONF commands" },

	/* TLS towards backends (mailproxy only; names of nginx's stream proxy_ssl_*) */
	{ "proxy_ssl", MS, DT_FLAG, SF(proxy_ssl), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "on | off", .doc = "implicit TLS to the backend" },
	{ "proxy_starttls", MS, DT_FLAG, SF(proxy_starttls), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "on | off", .doc = "STARTTLS/STLS with the backend before logging in" },
	{ "proxy_ssl_verify", MS, DT_FLAG, SF(proxy_ssl_verify), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "on | off", .doc = "verify the backend's certificate and name" },
	{ "proxy_ssl_verify_depth", MS, DT_NUM, SF(proxy_ssl_verify_depth), .dflt = "1", .min = 0, .max = 100,
	  .flags = DF_MAILPROXY, .syntax = "number", .doc = "backend certificate chain depth" },
	{ "proxy_ssl_trusted_certificate", MS, DT_PATH, SF(proxy_ssl_trusted_certificate), .flags = DF_MAILPROXY,
	  .syntax = "file", .doc = "CAs the backend certificate must chain to" },
	{ "proxy_ssl_name", MS, DT_STR, SF(proxy_ssl_name), .flags = DF_MAILPROXY,
	  .syntax = "name", .doc = "name to verify (and send as SNI); default: the backend address" },
	{ "proxy_ssl_server_name", MS, DT_FLAG, SF(proxy_ssl_server_name), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "on | off", .doc = "send proxy_ssl_name as SNI" },
	{ "proxy_ssl_session_reuse", MS, DT_FLAG, SF(proxy_ssl_session_reuse), .dflt = "on", .flags = DF_MAILPROXY,
	  .syntax = "on | off", .doc = "resume TLS sessions with each backend" },
	{ "proxy_ssl_protocols", MS, CUSTOM(ssl_protocols), SF(proxy_ssl_protocols), .dflt = "TLSv1.2 TLSv1.3",
	  .flags = DF_MAILPROXY, .syntax = "TLSv1 | TLSv1.1 | TLSv1.2 | TLSv1.3 ...", .doc = "protocols towards backends" },
	{ "proxy_ssl_ciphers", MS, DT_STR, SF(proxy_ssl_ciphers), .dflt = "DEFAULT", .flags = DF_MAILPROXY,
	  .syntax = "ciphers", .doc = "OpenSSL cipher list towards backends" },
	{ "proxy_ssl_certificate", MS, DT_PATH, SF(proxy_ssl_certificate), .flags = DF_MAILPROXY,
	  .syntax = "file", .doc = "client certificate presented to backends" },
	{ "proxy_ssl_certificate_key", MS, DT_PATH, SF(proxy_ssl_certificate_key), .flags = DF_MAILPROXY,
	  .syntax = "file", .doc = "key of proxy_ssl_certificate" },

	/* login limits (mailproxy only): abuse control against credential stuffing */
	{ "login_limit_zone", MS, CUSTOM(limit_zone), SF(login_limit_zone), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "shared:name:size | off",
	  .doc = "shared zone (at least 32k) of the failed-login and session counters, which login_limit_addr, login_limit_user, login_limit_pair and the limit_sessions directives need" },
	{ "login_limit_store", MS, CUSTOM(limit_store), SF(login_limit_store), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "redis address [db=number] [user=name] [password=secret] [timeout=time] [prefix=string] | off",
	  .doc = "a Redis server (host:port, default port 6379, or unix:/path) through which every node shares its failed-login counters; login_limit_zone stays the local copy, which decides alone while Redis is down or slower than timeout (default 100ms); keys start with prefix (default mailproxy:)" },
	{ "login_limit_addr", MS, CUSTOM(limit_rule), SF(login_limit_addr), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "rate [burst=number] [block=time] | off",
	  .doc = "failed logins per client address: rate N/s, N/m or N/h, burst failures allowed above it, block = how long a client that went over is refused (0: until it drains)" },
	{ "login_limit_user", MS, CUSTOM(limit_rule), SF(login_limit_user), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "rate [burst=number] [block=time] | off",
	  .doc = "failed logins per login name, as login_limit_addr" },
	{ "login_limit_pair", MS, CUSTOM(limit_rule), SF(login_limit_pair), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "rate [burst=number] [block=time] | off",
	  .doc = "failed logins per client address and login name together, as login_limit_addr" },
	{ "login_limit_ipv6_prefix", MS, DT_NUM, SF(login_limit_ipv6_prefix), .dflt = "64", .min = 1, .max = 128,
	  .flags = DF_MAILPROXY, .syntax = "number",
	  .doc = "IPv6 clients are counted per network of this prefix length" },
	{ "login_limit_allow", MS, CUSTOM(cidrs), SF(login_limit_allow), .flags = DF_MAILPROXY,
	  .syntax = "address | CIDR | unix: (or a sequence)", .doc = "clients never limited" },
	{ "login_limit_dry_run", MS, DT_FLAG, SF(login_limit_dry_run), .dflt = "off", .flags = DF_MAILPROXY,
	  .syntax = "on | off", .doc = "log what the limits would block, block nothing" },
	{ "login_limit_log_level", MS, CUSTOM(log_level), SF(login_limit_log_level), .dflt = "warn",
	  .flags = DF_MAILPROXY, .syntax = "debug | info | notice | warn | error | crit | alert | emerg",
	  .doc = "level of the log lines about blocked (or, in dry run, would-be blocked) clients" },
	{ "login_limit_tarpit", MS, DT_MSEC, SF(login_limit_tarpit), .dflt = "2s", .flags = DF_MAILPROXY,
	  .syntax = "time", .doc = "delay before a blocked client gets its answer (at most timeout)" },
	{ "limit_sessions_user", MS, DT_NUM, SF(limit_sessions_user), .dflt = "0", .min = 0, .max = 1000000,
	  .flags = DF_MAILPROXY, .syntax = "number",
	  .doc = "relayed sessions at once per login name; 0 = no limit; needs login_limit_zone" },
	{ "limit_sessions_user_addr", MS, DT_NUM, SF(limit_sessions_user_addr), .dflt = "0", .min = 0,
	  .max = 1000000, .flags = DF_MAILPROXY, .syntax = "number",
	  .doc = "relayed sessions at once per login name and client address; 0 = no limit; needs login_limit_zone" },
};

const size_t ndirectives = sizeof(directives) / sizeof(directives[0]);

_Static_assert(sizeof(directives) / sizeof(directives[0]) <= CONF_DIRECTIVES_MAX,
    "raise CONF_DIRECTIVES_MAX");

const struct directive *
directive_find(const char *name)
{
	for (size_t i = 0; i < ndirectives; i++)
		if (strcmp(directives[i].name, name) == 0)
			return &directives[i];
	return NULL;
}

size_t
directive_index(const struct directive *d)
{
	return (size_t)(d - directives);
}

/* ---- generic setters ---- */

static int
set_num(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	const char *s;
	long v;

	if (get_scalar(ld, d, val, &s) < 0)
		return -1;
	if (parse_long(s, 0, LONG_MAX, &v) < 0)
		return lerr(ld, val, d->name, "expected a number, got \"%s\"", s);
	if (v < d->min || v > d->max)
		return lerr(ld, val, d->name, "%ld is out of range (%ld to %ld)", v, d->min, d->max);
	if (d->size == sizeof(long))
		*(long *)field = v;
	else
		*(unsigned *)field = (unsigned)v;
	return 0;
}

static int
copy_list(struct loader *ld, const struct directive *d, struct strlist *l,
    const struct args *a, int paths)
{
	(void)paths;
	l->v = arena_alloc(&ld->cf->arena, (a->n ? a->n : 1) * sizeof(*l->v));
	if (l->v == NULL)
		return lerr(ld, NULL, d->name, "out of memory");
	for (size_t i = 0; i < a->n; i++) {
		l->v[i] = arena_strdup(&ld->cf->arena, a->v[i]);
		if (l->v[i] == NULL)
			return lerr(ld, a->at[i], d->name, "out of memory");
	}
	l->n = a->n;
	return 0;
}

/*
 * A value of a DF_VARS directive, compiled; an error points at the column
 * of its '$' (exact for a one-line scalar without escapes before it).
 */
static int
compile_vars(struct loader *ld, const struct directive *d, const struct ynode *vn,
    const char *value, struct kv *kv)
{
	struct cvalue *cv = arena_calloc(&ld->cf->arena, sizeof(*cv));
	char msg[160];
	size_t pos = 0;

	if (cv == NULL)
		return lerr(ld, vn, d->name, "out of memory");
	if (cvalue_compile(value, &ld->cf->arena, cv, &pos, msg, sizeof(msg)) < 0) {
		struct ynode at = *vn;
		at.col += (vn->plain ? 0 : 1) + (int)(value - vn->str) + (int)pos;
		return lerr(ld, &at, d->name, "\"%s\": %s", kv->name, msg);
	}
	/* Text without a '$' goes out as written, with no compiled form to walk. */
	kv->cv = strchr(value, '$') != NULL ? cv : NULL;
	return 0;
}

static int
set_kvlist(struct loader *ld, const struct directive *d, struct kvlist *kl,
    const struct ynode *val)
{
	struct arena *ar = &ld->cf->arena;
	size_t n = val->type == YN_MAP ? val->n / 2 : val->type == YN_SEQ ? val->n : 1;

	kl->v = arena_calloc(ar, (n ? n : 1) * sizeof(*kl->v));
	kl->n = 0;
	if (kl->v == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct ynode *kn, *vn;
		const char *name, *value;
		size_t namelen;

		if (val->type == YN_MAP) {
			kn = val->kids[2 * i];
			vn = val->kids[2 * i + 1];
			if (kn->type != YN_SCALAR || vn->type != YN_SCALAR)
				return lerr(ld, kn, d->name, "expected name: value pairs");
			name = kn->str;
			namelen = kn->len;
			value = vn->str;
		} else {
			kn = vn = val->type == YN_SEQ ? val->kids[i] : val;
			if (kn->type != YN_SCALAR)
				return lerr(ld, kn, d->name, "expected \"name value\"");
			name = kn->str;
			namelen = strcspn(name, " \t");
			value = name + namelen;
			value += strspn(value, " \t");
			if (namelen == 0 || *value == '\0')
				return lerr(ld, kn, d->name, "expected \"name value\", got \"%s\"", kn->str);
		}
		if (namelen == 0)
			return lerr(ld, kn, d->name, "empty name");
		for (size_t j = 0; j < namelen; j++) {
			char c = name[j];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
				return lerr(ld, kn, d->name, "invalid character in name \"%.*s\"",
				    (int)namelen, name);
		}
		for (const char *p = value; *p; p++)
			if (*p == '\r' || *p == '\n' || *p == '\0')
				return lerr(ld, vn, d->name, "value contains a line break");
		/*
		 * -T prints each pair as one "name value" string, the form that
		 * lets a name repeat: the pair must mean the same read that way.
		 * Both nginx directives take two arguments; an empty one is no
		 * header value and no OpenSSL command value.
		 */
		if (config_is_null(vn) || *value == '\0')
			return lerr(ld, kn, d->name, "expected a value for \"%.*s\", got nothing",
			    (int)namelen, name);
		if (*value == ' ' || *value == '\t')
			return lerr(ld, vn, d->name, "the value of \"%.*s\" begins with a blank",
			    (int)namelen, name);
		if (namelen + 1 + strlen(value) > YTREE_MAX_SCALAR)
			return lerr(ld, vn, d->name, "\"%.*s\" and its value are longer than %d bytes",
			    (int)namelen, name, YTREE_MAX_SCALAR);
		kl->v[kl->n].name = arena_strndup(ar, name, namelen);
		kl->v[kl->n].value = arena_strdup(ar, value);
		if (kl->v[kl->n].name == NULL || kl->v[kl->n].value == NULL)
			return lerr(ld, kn, d->name, "out of memory");
		if ((d->flags & DF_VARS) && compile_vars(ld, d, vn, value, &kl->v[kl->n]) < 0)
			return -1;
		kl->n++;
	}
	return 0;
}

static const char *
names_list(const struct name_val *nv, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (; nv->name && o < len; nv++) {
		int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", nv->name);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	return buf;
}

int
directive_apply(struct loader *ld, const struct directive *d, void *conf,
    const struct ynode *val)
{
	void *field = (char *)conf + d->off;
	const struct name_val *nv;
	const char *s;
	struct args a;
	char list[256];

	switch (d->type) {
	case DT_FLAG:
		if (get_scalar(ld, d, val, &s) < 0)
			return -1;
		if (parse_flag(s, (int *)field) < 0)
			return lerr(ld, val, d->name, "expected on or off, got \"%s\"", s);
		return 0;
	case DT_MSEC:
		if (get_scalar(ld, d, val, &s) < 0)
			return -1;
		if (parse_msec(s, (uint64_t *)field) < 0)
			return lerr(ld, val, d->name,
			    "expected a time such as 60s, 500ms or 24h, got \"%s\"", s);
		return 0;
	case DT_SIZE:
		if (get_scalar(ld, d, val, &s) < 0)
			return -1;
		if (val->line == 0 && strcmp(s, "page") == 0) {
			*(size_t *)field = ld->cf->page_size;
			return 0;
		}
		if (parse_size(s, (size_t *)field) < 0)
			return lerr(ld, val, d->name, "expected a size such as 4k or 1m, got \"%s\"", s);
		if (*(size_t *)field < 64 || *(size_t *)field > 64 * 1024 * 1024)
			return lerr(ld, val, d->name, "%s is out of range (64 to 64m)", s);
		return 0;
	case DT_NUM:
		return set_num(ld, d, field, val);
	case DT_STR:
	case DT_PATH:
		if (get_scalar(ld, d, val, &s) < 0)
			return -1;
		if (s[0] == '\0')
			return lerr(ld, val, d->name, "expected a value, got an empty string");
		*(char **)field = arena_strdup(&ld->cf->arena, s);
		return *(char **)field ? 0 : lerr(ld, val, d->name, "out of memory");
	case DT_STRLIST:
	case DT_PATHLIST:
		if (val->type == YN_SEQ && val->n == 0) {
			memset(field, 0, sizeof(struct strlist));
			return 0;
		}
		if (get_args(ld, d, val, &a) < 0)
			return -1;
		return copy_list(ld, d, field, &a, d->type == DT_PATHLIST);
	case DT_ENUM:
		if (get_scalar(ld, d, val, &s) < 0)
			return -1;
		if ((nv = name_val_find(d->names, s)) == NULL)
			return lerr(ld, val, d->name, "expected one of %s, got \"%s\"",
			    names_list(d->names, list, sizeof(list)), s);
		*(int *)field = nv->val;
		return 0;
	case DT_MASK: {
		unsigned m = 0;
		if (get_args(ld, d, val, &a) < 0)
			return -1;
		for (size_t i = 0; i < a.n; i++) {
			if ((nv = name_val_find(d->names, a.v[i])) == NULL)
				return lerr(ld, a.at[i], d->name, "expected %s, got \"%s\"",
				    names_list(d->names, list, sizeof(list)), a.v[i]);
			m |= (unsigned)nv->val;
		}
		*(unsigned *)field = m;
		return 0;
	}
	case DT_KVLIST:
		if (val->type == YN_SEQ && val->n == 0) {
			memset(field, 0, sizeof(struct kvlist));
			return 0;
		}
		return set_kvlist(ld, d, field, val);
	case DT_CUSTOM:
		return d->set(ld, d, field, val);
	case DT_RENAMED:
		return lerr(ld, val, d->name, "this directive was renamed to \"pop3_auth\"");
	}
	return lerr(ld, val, d->name, "internal error: unknown directive type");
}

int
directive_apply_default(struct loader *ld, const struct directive *d, void *conf)
{
	struct ynode n;

	if (d->dflt == NULL)
		return 0;
	memset(&n, 0, sizeof(n));
	n.type = YN_SCALAR;
	n.plain = 1;
	n.str = (char *)d->dflt;
	n.len = strlen(d->dflt);
	return directive_apply(ld, d, conf, &n);
}

/* ---- printers (for -T) ---- */

static void
print_kvlist(const struct kvlist *kl, struct buf *out)
{
	buf_puts(out, "[");
	for (size_t i = 0; i < kl->n; i++) {
		if (i)
			buf_puts(out, ", ");
		print_quotedf(out, "%s %s", kl->v[i].name, kl->v[i].value);
	}
	buf_puts(out, "]");
}

void
config_print_directive(const struct directive *d, const void *conf, struct buf *out)
{
	const void *field = (const char *)conf + d->off;

	switch (d->type) {
	case DT_FLAG:
		buf_puts(out, *(const int *)field ? "on" : "off");
		break;
	case DT_MSEC:
		print_msec(out, *(const uint64_t *)field);
		break;
	case DT_SIZE:
		print_size(out, *(const size_t *)field);
		break;
	case DT_NUM:
		if (d->size == sizeof(long))
			buf_printf(out, "%ld", *(const long *)field);
		else
			buf_printf(out, "%u", *(const unsigned *)field);
		break;
	case DT_STR:
	case DT_PATH:
		print_quoted(out, *(char *const *)field ? *(char *const *)field : "");
		break;
	case DT_STRLIST:
	case DT_PATHLIST:
		print_strlist(out, field);
		break;
	case DT_ENUM:
		for (const struct name_val *nv = d->names; nv->name; nv++)
			if (nv->val == *(const int *)field) {
				buf_puts(out, nv->name);
				break;
			}
		break;
	case DT_MASK:
		print_mask(out, d->names, *(const unsigned *)field);
		break;
	case DT_KVLIST:
		print_kvlist(field, out);
		break;
	case DT_CUSTOM:
		d->print(d, field, out);
		break;
	case DT_RENAMED:
		break;
	}
}
