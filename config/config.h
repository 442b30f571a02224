/*
 * The typed configuration: plain structs the master and workers read. It is
 * built by config_load() from YAML (the only code that touches YAML), never
 * modified afterwards, and freed as a whole by config_free(). Every string
 * and array lives in the config's arena.
 *
 * Times are milliseconds (fields named *_us: microseconds), sizes bytes.
 * Directives allowed in both "mail" and "server" context live in struct
 * srv_conf; each server's copy is merged from the mail level as nginx merges
 * (server value, else mail value, else default).
 */
#ifndef MP_CONFIG_H
#define MP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/arena.h"
#include "common/cpu.h"
#include "common/log_conf.h"
#include "common/net.h"

#define CONF_DIRECTIVES_MAX 128

enum mail_proto { MP_PROTO_NONE, MP_PROTO_IMAP, MP_PROTO_POP3, MP_PROTO_SMTP };
enum starttls_mode { STARTTLS_OFF, STARTTLS_ON, STARTTLS_ONLY };
enum verify_client { VERIFY_OFF, VERIFY_ON, VERIFY_OPTIONAL, VERIFY_OPTIONAL_NO_CA };
enum proxy_protocol_mode { PP_OFF, PP_V1, PP_V2 };

/* SASL / login methods, as bits (imap_auth, pop3_auth, smtp_auth). */
#define AUTHM_PLAIN	0x01
#define AUTHM_LOGIN	0x02
#define AUTHM_APOP	0x04
#define AUTHM_CRAM_MD5	0x08
#define AUTHM_EXTERNAL	0x10
#define AUTHM_NONE	0x20
#define AUTHM_OAUTHBEARER	0x40	/* RFC 7628 */
#define AUTHM_XOAUTH2	0x80
#define AUTHM_OAUTH	(AUTHM_OAUTHBEARER | AUTHM_XOAUTH2)

/* ssl_protocols bits */
#define SSLP_SSLv2	0x01
#define SSLP_SSLv3	0x02
#define SSLP_TLSv1	0x04
#define SSLP_TLSv1_1	0x08
#define SSLP_TLSv1_2	0x10
#define SSLP_TLSv1_3	0x20

struct strlist {
	size_t n;
	char **v;
};

struct cvalue;

struct kv {
	char *name;
	char *value;			/* as written (-T prints it) */
	const struct cvalue *cv;	/* auth_http_header: compiled (config_vars.h), else NULL */
};

struct kvlist {
	size_t n;
	struct kv *v;
};

struct cidrlist {
	size_t n;
	struct cidr *v;
};

/* log_format NAME [escape=default|json|none] STRING (config_log.c). */
struct log_format {
	char *name;
	char *text;			/* the format as written, for -T */
	int escape;			/* enum cesc (config_vars.h) */
	const struct cvalue *cv;
};

struct log_format_list {
	size_t n;
	struct log_format *v;
};

#define ACCESS_LOG_MAX 8	/* access_log entries per server */

/* access_log PATH [FORMAT [buffer=SIZE] [flush=TIME] [if=CONDITION]]. */
struct access_log_entry {
	char *target;			/* path or "syslog:server=..." */
	char *format_name;
	const struct log_format *format;	/* resolved by the check pass */
	size_t buffer;			/* 0: one write(2) per line */
	uint64_t flush;			/* ms; 0: only when the buffer fills */
	char *cond_text;		/* if=, as written; NULL without */
	const struct cvalue *cond;
	int line, col;
};

struct access_log_conf {
	size_t n;			/* 0: off */
	struct access_log_entry *v;
};

struct listen_conf {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char *text;		/* as written, for messages */
	int line, col;
	unsigned ssl:1, proxy_protocol:1, bind:1, reuseport:1, multipath:1;
	int backlog;		/* default 511 */
	int rcvbuf, sndbuf;	/* 0 = system default */
	int ipv6only;		/* 1 by default */
	int so_keepalive;	/* -1 unset, 0 off, 1 on */
	int keepidle, keepintvl, keepcnt;	/* 0 = system default */
};

/*
 * An auth service; several form a list (auth_http given a sequence), tried
 * in order with failover (worker/lookup/auth_http.c). The srv_conf holds the
 * first, so code that knows one server reads conf->auth_http as before.
 */
#define AUTH_HTTP_MAX_SERVERS 16

struct auth_http_url {
	char *url;		/* as written */
	char *host;		/* Host header value */
	char *uri;		/* request target, "/" by default */
	struct sockaddr_storage addr;	/* first address, resolved at load */
	socklen_t addrlen;
	int ssl;		/* https:// */
	int stat;		/* its slot in the auth_servers zone (common/authsrv.h); -1 none */
	struct auth_http_url *next;	/* the next server to try; NULL after the last */
};

#define SSL_CACHE_OFF		0x01
#define SSL_CACHE_NONE		0x02
#define SSL_CACHE_BUILTIN	0x04
#define SSL_CACHE_SHARED	0x08

struct ssl_cache_conf {
	unsigned mode;
	long builtin_size;	/* -1: OpenSSL default */
	char *shared_name;
	size_t shared_size;
};

struct resolver_conf {
	size_t n;		/* 0 = off */
	struct sockaddr_storage *addrs;
	uint64_t valid;		/* ms, 0 = use the record TTL */
	int ipv4, ipv6;
};

/* A failed-login limit: a leaky bucket per key (client address, login, or both). */
struct limit_rule_conf {
	uint64_t interval_us;	/* one failure per interval is the sustained rate; 0 = this limit is off */
	unsigned burst;		/* failures allowed above the rate before the key is blocked */
	uint64_t block_ms;	/* how long a key that went over stays blocked; 0 = until it drains below the burst */
};

/* auth_http_cache: answers of the auth service kept in a shared zone. */
struct auth_cache_conf {
	char *name;		/* NULL = off */
	size_t size;
	uint64_t valid;		/* ms an OK answer is kept (default 60s) */
	uint64_t invalid;	/* ms a refusal is kept (default 10s) */
};

struct limit_zone_conf {
	char *name;		/* NULL = off */
	size_t size;
};

/* login_limit_store: a Redis server that nodes share their failed-login counters through. */
struct limit_store_conf {
	char *spec;		/* as written; NULL = off */
	struct sockaddr_storage addr;	/* TCP, resolved at load, or AF_UNIX */
	socklen_t addrlen;
	char *user;		/* ACL user (AUTH user password); NULL = none */
	char *password;		/* NULL = no AUTH */
	unsigned db;		/* SELECT db when not 0 */
	uint64_t timeout;	/* ms a login waits for an answer before deciding alone (default 100ms) */
	char *prefix;		/* key prefix, default "mailproxy:" */
	const char *down_note;	/* what an outage means, for the log (set by the directive) */
	const char *up_note;	/* ... and the end of one */
};

/* ssl_session_ticket_key_store: ticket keys a fleet shares and rotates through Redis. */
struct ticket_store_conf {
	struct limit_store_conf redis;	/* redis.spec NULL = off */
	uint64_t period;	/* ms, whole seconds: one key encrypts for this long */
};

/* Where a directive was written: line 0 means a default or the command line. */
struct conf_pos {
	int line, col;
};

/* Everything allowed in "mail" and "server" context (and server-only keys). */
struct srv_conf {
	struct errlog_conf error_log;	/* first member: shared offset with main_conf */
	uint8_t set[CONF_DIRECTIVES_MAX / 8];
	struct conf_pos pos[CONF_DIRECTIVES_MAX];
	int line, col;			/* of the server mapping */

	/* core */
	struct listen_conf *listen;
	size_t nlisten;
	enum mail_proto protocol;
	uint64_t timeout;
	struct strlist server_name;	/* first = the server's name */
	struct resolver_conf resolver;
	uint64_t resolver_timeout;
	unsigned max_errors;
	unsigned max_commands;		/* freenginx: commands before login */

	/* auth_http */
	struct auth_http_url auth_http;
	struct kvlist auth_http_header;
	uint64_t auth_http_timeout;
	int auth_http_pass_client_cert;
	unsigned auth_http_keepalive;
	uint64_t auth_http_fail_timeout;	/* back-off of a failing server (several servers) */
	/* TLS towards an https:// auth service (mailproxy only; proxy_ssl_* names) */
	int auth_http_ssl_verify;
	unsigned auth_http_ssl_verify_depth;
	char *auth_http_ssl_trusted_certificate;
	char *auth_http_ssl_name;
	int auth_http_ssl_server_name;
	int auth_http_ssl_session_reuse;
	unsigned auth_http_ssl_protocols;
	char *auth_http_ssl_ciphers;
	char *auth_http_ssl_certificate;
	char *auth_http_ssl_certificate_key;
	struct auth_cache_conf auth_http_cache;	/* mailproxy only; "off" by default */

	/* access log (nginx stream's log_format/access_log; log_format: mail level only) */
	struct log_format_list log_format;
	struct access_log_conf access_log;

	/* proxy */
	int proxy;
	size_t proxy_buffer;
	uint64_t proxy_timeout;
	int proxy_pass_error_message;
	int xclient;
	int proxy_smtp_auth;
	int proxy_protocol;
	int so_keepalive;

	/* imap */
	size_t imap_client_buffer;
	struct strlist imap_capabilities;
	unsigned imap_auth;
	int imap_id_forward;

	/* pop3 */
	struct strlist pop3_capabilities;
	unsigned pop3_auth;
	size_t pop3_client_buffer;

	/* smtp */
	size_t smtp_client_buffer;
	uint64_t smtp_greeting_delay;
	struct strlist smtp_capabilities;
	unsigned smtp_auth;

	/* realip */
	struct cidrlist set_real_ip_from;

	/* ssl */
	int ssl;
	int starttls;
	struct strlist ssl_certificate;
	struct strlist ssl_certificate_key;
	char *ssl_password_file;
	int ssl_certificate_compression;
	char *ssl_dhparam;
	char *ssl_ecdh_curve;
	unsigned ssl_protocols;
	char *ssl_ciphers;
	int ssl_prefer_server_ciphers;
	struct ssl_cache_conf ssl_session_cache;
	int ssl_session_tickets;
	struct strlist ssl_session_ticket_key;
	struct ticket_store_conf ssl_session_ticket_key_store;
	uint64_t ssl_session_timeout;
	int ssl_verify_client;
	unsigned ssl_verify_depth;
	char *ssl_client_certificate;
	char *ssl_trusted_certificate;
	char *ssl_crl;
	struct kvlist ssl_conf_command;

	/* TLS towards backends (mailproxy only) */
	int proxy_ssl;
	int proxy_starttls;
	int proxy_ssl_verify;
	unsigned proxy_ssl_verify_depth;
	char *proxy_ssl_trusted_certificate;
	char *proxy_ssl_name;
	int proxy_ssl_server_name;
	int proxy_ssl_session_reuse;
	unsigned proxy_ssl_protocols;
	char *proxy_ssl_ciphers;
	char *proxy_ssl_certificate;
	char *proxy_ssl_certificate_key;

	/* login limits (mailproxy only) */
	struct limit_zone_conf login_limit_zone;	/* "shared:NAME:SIZE" | "off" (default off) */
	struct limit_store_conf login_limit_store;	/* "redis ADDRESS [db= user= password= timeout= prefix=]" | off */
	struct limit_rule_conf login_limit_addr;	/* per client address */
	struct limit_rule_conf login_limit_user;	/* per login name */
	struct limit_rule_conf login_limit_pair;	/* per address + login */
	unsigned login_limit_ipv6_prefix;		/* default 64, 1..128: IPv6 clients grouped by this prefix */
	struct cidrlist login_limit_allow;		/* never limited; default none */
	int login_limit_dry_run;			/* flag, default off: log what would be blocked, block nothing */
	int login_limit_log_level;			/* error_log level name (info, notice, warn, error...), default "warn"; use the same level names/parser as error_log */
	uint64_t login_limit_tarpit;			/* time, default 2s: delay before a blocked client's answer (the worker bounds it by "timeout") */
	unsigned limit_sessions_user;			/* 0 = off: relayed sessions per login name */
	unsigned limit_sessions_user_addr;		/* 0 = off: relayed sessions per login + client address */
};

/* status_listen: the HTTP status endpoint's address (text NULL = off). */
struct status_listen_conf {
	char *text;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

struct main_conf {
	struct errlog_conf error_log;	/* first member: shared offset with srv_conf */
	uint8_t set[CONF_DIRECTIVES_MAX / 8];
	struct conf_pos pos[CONF_DIRECTIVES_MAX];
	char *user, *group;
	int worker_processes;		/* 0 = auto, resolved at load */
	int worker_processes_auto;
	long worker_rlimit_nofile;	/* 0 = unchanged */
	long long worker_rlimit_core;	/* bytes, if worker_rlimit_core_set */
	int worker_rlimit_core_set;
	int worker_priority;		/* nice value, -20..20, default 0 */
	int cpu_affinity_auto;		/* worker_cpu_affinity auto [MASK] */
	size_t ncpu_affinity;		/* masks; with auto, 0 or 1 */
	struct cpu_mask *cpu_affinity;
	struct strlist cpu_affinity_text;	/* as written, for -T; n == 0: unset */
	char *working_directory;	/* NULL = unchanged */
	struct strlist env;		/* "VAR" (kept) or "VAR=VALUE" (set) */
	uint64_t timer_resolution;	/* accepted, no effect (see the reference) */
	uint64_t worker_shutdown_timeout;	/* 0 = none */
	char *pid;
	int daemon;
	int master_process;
	unsigned worker_connections;
	int multi_accept;
	int use_epoll;			/* events "use": epoll is the only method */
	int accept_mutex;		/* accepted; EPOLLEXCLUSIVE does its work */
	uint64_t accept_mutex_delay;
	struct status_listen_conf status_listen;
	struct cidrlist status_allow;	/* clients the status endpoint answers */
};

struct config {
	struct arena arena;
	char *file;		/* configuration file, absolute */
	char *prefix;		/* directory relative paths resolve against */
	struct main_conf main;
	struct srv_conf mail;	/* the mail level, defaults for servers */
	int has_mail;
	struct srv_conf *servers;
	size_t nservers;
	size_t page_size;
	struct strlist warnings;	/* "file:line:col: text", for the log */
};

/*
 * Loads and validates path. Returns the configuration, or NULL with a
 * message "file:line:col: ..." in err.
 */
struct config *config_load(const char *path, const char *prefix,
    const char *globals, char *err, size_t errlen);
void config_free(struct config *cf);

/* Absolute path of a file named in the configuration (static buffer). */
const char *config_path(const struct config *cf, const char *name, char *buf, size_t len);

const char *config_proto_name(enum mail_proto p);

/* A failed-login limit is on in c: a zone and at least one rule. */
static inline int
config_login_limited(const struct srv_conf *c)
{
	return c->login_limit_zone.name != NULL && (c->login_limit_addr.interval_us != 0 ||
	    c->login_limit_user.interval_us != 0 || c->login_limit_pair.interval_us != 0);
}

struct buf;
/* -T: the effective configuration, every default filled in, as YAML that loads again. */
void config_dump(const struct config *cf, struct buf *out);
/* The directive reference (Markdown), generated from the directive table. */
void config_reference(struct buf *out);
/* The same reference as the mailproxy.yaml(5) man page (roff). */
void config_reference_man(struct buf *out);
#endif
