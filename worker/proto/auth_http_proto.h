/*
 * nginx's auth_http protocol, the pure half: the request text and the
 * response parsing, tested and fuzzed without a socket. The non-blocking
 * client that sends it is worker/lookup/auth_http.c.
 */
#ifndef MP_AUTH_HTTP_PROTO_H
#define MP_AUTH_HTTP_PROTO_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "config/config.h"

/* The most an auth service may answer (status line and headers); nginx allows 1 KB. */
#define AUTH_HTTP_MAX_RESPONSE 8192

struct auth_params {
	unsigned method;		/* AUTHM_* */
	const char *login, *passwd, *salt;
	enum mail_proto protocol;
	unsigned attempt;
	const char *client_ip;		/* after PROXY protocol from a trusted source: the real client */
	const char *client_port;	/* of the same address: Client-Port, $remote_port */
	const char *server_addr, *server_port;	/* where the client connected: $server_addr, $server_port */
	const char *client_host;	/* NULL: no Client-Host header */
	const char *smtp_helo, *smtp_from, *smtp_to;	/* method none */
	/* TLS facts of the client connection (NULL/0 when plaintext). */
	int ssl;
	const char *ssl_protocol, *ssl_cipher;
	const char *ssl_verify, *ssl_subject, *ssl_issuer, *ssl_serial, *ssl_fingerprint;
	const char *ssl_fingerprint_sha256;	/* freenginx 1.27.4 */
	const char *ssl_server_name;	/* SNI, NULL when none: $ssl_server_name */
	const char *ssl_cert;		/* PEM, when auth_http_pass_client_cert */
	/* PROXY protocol header the client side sent (NULL when none). */
	const char *pp_addr, *pp_port, *pp_server_addr, *pp_server_port;
};

enum auth_status {
	AUTH_OK,		/* log in to the backend */
	AUTH_FAIL,		/* refused: error text (and maybe a wait) */
	AUTH_WAIT,		/* "WAIT": ask again after wait seconds */
	AUTH_ERROR,		/* the service is down or answered nonsense */
};

/* The backend login an OK answer asks for (Auth-Method; SMTP with proxy_smtp_auth). */
enum be_auth {
	BE_AUTH_DEFAULT,	/* no Auth-Method: PLAIN, as nginx */
	BE_AUTH_PLAIN,
	BE_AUTH_LOGIN,		/* AUTH LOGIN (Exchange) */
	BE_AUTH_NONE,		/* no AUTH; XCLIENT carries the login */
	BE_AUTH_INVALID,	/* a value we do not know: an error for SMTP */
};

struct auth_result {
	enum auth_status status;
	char text[512];			/* Auth-Status error text */
	char code[32];			/* Auth-Error-Code (SMTP) */
	long wait;			/* Auth-Wait seconds, -1 when absent */
	long cache_valid;		/* Auth-Cache-Valid seconds (0: do not cache), if have_cache_valid */
	int have_cache_valid;
	struct sockaddr_storage server;	/* Auth-Server + Auth-Port */
	int have_server, have_port;
	char *user;			/* Auth-User override (heap) */
	char *pass;			/* Auth-Pass (heap) */
	int be_auth;			/* enum be_auth, from Auth-Method */
	char *sasl_error;		/* Auth-Error-SASL, base64 (heap; RFC 7628 3.2.2) */
	const char *reason;		/* for the log when AUTH_ERROR */
	int err;			/* errno behind reason, 0 if none */
	/* Framing, for auth_http_keepalive: may the connection serve again? */
	size_t header_len;		/* bytes up to and including the blank line */
	long content_length;		/* -1 when absent */
	int reusable;			/* HTTP/1.1 without "close", or 1.0 with keep-alive */
};

void auth_result_clear(struct auth_result *r);

/* %XX-escapes bytes below 0x20, space and '%' (nginx's NGX_ESCAPE_MAIL_AUTH). */
void auth_http_escape(struct buf *b, const char *s);
/*
 * The whole request. Returns 0, or -1 when a value would break the header
 * block. keepalive: HTTP/1.1 on a connection kept for more requests
 * (auth_http_keepalive); otherwise nginx's HTTP/1.0, one request per connection.
 */
int auth_http_build(struct buf *out, const struct srv_conf *conf, const struct auth_params *p,
    int keepalive);

enum { AUTH_PARSE_AGAIN = 1, AUTH_PARSE_DONE = 0, AUTH_PARSE_ERROR = -1 };
/*
 * Parses a response held in data[0..len). eof: no more bytes will come.
 * DONE fills res (status, fields); ERROR sets res->reason.
 */
int auth_http_parse(const char *data, size_t len, int eof, struct auth_result *res);
/* Applies nginx's rules to a parsed OK: server and port present, password when needed. */
int auth_http_check_ok(struct auth_result *res, enum mail_proto proto, unsigned method,
    int have_client_passwd);

#endif
