/*
 * auth_http request text and response parsing, exactly as nginx speaks it
 * (see reference/nginx-mail.md section 2), with two hardenings: every value
 * that is not %-escaped is checked for CR/LF, and the response may be up to
 * AUTH_HTTP_MAX_RESPONSE bytes instead of nginx's 1 KB.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/net.h"
#include "config/config_vars.h"
#include "worker/proto/auth_http_proto.h"
#include "worker/proto/sasl_oauth.h"

void
auth_result_clear(struct auth_result *r)
{
	if (r->pass != NULL)
		memset(r->pass, 0, strlen(r->pass));
	free(r->user);
	free(r->pass);
	free(r->sasl_error);
	memset(r, 0, sizeof(*r));
	r->wait = -1;
}

void
auth_http_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == ' ' || c == '%') {
			char e[3] = { '%', hex[c >> 4], hex[c & 0xf] };
			buf_append(b, e, 3);
		} else {
			buf_append(b, s, 1);
		}
	}
}

static int
safe(const char *v)
{
	return v != NULL && strpbrk(v, "\r\n") == NULL;
}

static int
header(struct buf *b, const char *name, const char *value)
{
	if (!safe(value))
		return -1;
	return buf_printf(b, "%s: %s\r\n", name, value);
}

static const char *
method_name(unsigned m)
{
	switch (m) {
	case AUTHM_APOP: return "apop";
	case AUTHM_CRAM_MD5: return "cram-md5";
	case AUTHM_EXTERNAL: return "external";
	case AUTHM_NONE: return "none";
	case AUTHM_OAUTHBEARER: return "oauthbearer";
	case AUTHM_XOAUTH2: return "xoauth2";
	default: return "plain";	/* PLAIN, LOGIN, IMAP LOGIN, USER/PASS */
	}
}

/*
 * An auth_http_header line; variables are %-escaped as Auth-User is, so a
 * client's SNI cannot break the header block or add a header.
 */
static int
header_vars(struct buf *b, const struct kv *h, const struct auth_params *p)
{
	const char *vals[CVAR_COUNT] = {
		[CVAR_REMOTE_ADDR] = p->client_ip,
		[CVAR_REMOTE_PORT] = p->client_port,
		[CVAR_SERVER_ADDR] = p->server_addr,
		[CVAR_SERVER_PORT] = p->server_port,
		[CVAR_SSL_SERVER_NAME] = p->ssl_server_name,
		[CVAR_PROTOCOL] = config_proto_name(p->protocol),
	};
	int bad = 0;

	if (h->cv == NULL)
		return header(b, h->name, h->value);
	buf_printf(b, "%s: ", h->name);
	for (size_t i = 0; i < h->cv->n; i++) {
		const struct cpart *c = &h->cv->parts[i];
		if (c->var == CVAR_LITERAL) {
			bad |= memchr(c->text, '\r', c->len) != NULL || memchr(c->text, '\n', c->len) != NULL;
			buf_append(b, c->text, c->len);
		} else if (c->var >= 0 && c->var < CVAR_COUNT && vals[c->var] != NULL) {
			auth_http_escape(b, vals[c->var]);
		}
	}
	buf_puts(b, "\r\n");
	return bad ? -1 : 0;
}

int
auth_http_build(struct buf *out, const struct srv_conf *conf, const struct auth_params *p,
    int keepalive)
{
	const struct auth_http_url *u = &conf->auth_http;
	int bad = 0;

	buf_printf(out, "GET %s HTTP/1.%d\r\n", u->uri, keepalive ? 1 : 0);
	bad |= header(out, "Host", u->host);
	bad |= header(out, "Auth-Method", method_name(p->method));
	buf_puts(out, "Auth-User: ");
	auth_http_escape(out, p->login ? p->login : "");
	buf_puts(out, "\r\nAuth-Pass: ");
	/* The digest of APOP/CRAM-MD5 travels as the password; EXTERNAL has none. */
	auth_http_escape(out, p->passwd && p->method != AUTHM_EXTERNAL ? p->passwd : "");
	buf_puts(out, "\r\n");
	if ((p->method == AUTHM_APOP || p->method == AUTHM_CRAM_MD5) && p->salt)
		bad |= header(out, "Auth-Salt", p->salt);
	bad |= header(out, "Auth-Protocol", config_proto_name(p->protocol));
	buf_printf(out, "Auth-Login-Attempt: %u\r\n", p->attempt);
	bad |= header(out, "Client-IP", p->client_ip);
	if (p->client_host)
		bad |= header(out, "Client-Host", p->client_host);
	/* Ours: after nginx's two, so their order stays nginx's. */
	if (p->client_port)
		bad |= header(out, "Client-Port", p->client_port);
	if (p->pp_addr) {
		bad |= header(out, "Proxy-Protocol-Addr", p->pp_addr);
		bad |= header(out, "Proxy-Protocol-Port", p->pp_port);
		bad |= header(out, "Proxy-Protocol-Server-Addr", p->pp_server_addr);
		bad |= header(out, "Proxy-Protocol-Server-Port", p->pp_server_port);
	}
	if (p->method == AUTHM_NONE) {
		bad |= header(out, "Auth-SMTP-Helo", p->smtp_helo ? p->smtp_helo : "");
		bad |= header(out, "Auth-SMTP-From", p->smtp_from ? p->smtp_from : "");
		bad |= header(out, "Auth-SMTP-To", p->smtp_to ? p->smtp_to : "");
	}
	if (p->ssl) {
		buf_puts(out, "Auth-SSL: on\r\n");
		if (p->ssl_protocol)
			bad |= header(out, "Auth-SSL-Protocol", p->ssl_protocol);
		if (p->ssl_cipher)
			bad |= header(out, "Auth-SSL-Cipher", p->ssl_cipher);
		if (p->ssl_verify) {
			bad |= header(out, "Auth-SSL-Verify", p->ssl_verify);
			if (p->ssl_subject)
				bad |= header(out, "Auth-SSL-Subject", p->ssl_subject);
			if (p->ssl_issuer)
				bad |= header(out, "Auth-SSL-Issuer", p->ssl_issuer);
			if (p->ssl_serial)
				bad |= header(out, "Auth-SSL-Serial", p->ssl_serial);
			if (p->ssl_fingerprint)
				bad |= header(out, "Auth-SSL-Fingerprint", p->ssl_fingerprint);
			if (p->ssl_fingerprint_sha256)
				bad |= header(out, "Auth-SSL-Fingerprint-SHA256", p->ssl_fingerprint_sha256);
			if (p->ssl_cert) {
				buf_puts(out, "Auth-SSL-Cert: ");
				auth_http_escape(out, p->ssl_cert);
				buf_puts(out, "\r\n");
			}
		}
	}
	for (size_t i = 0; i < conf->auth_http_header.n; i++)
		bad |= header_vars(out, &conf->auth_http_header.v[i], p);
	if (keepalive)
		buf_puts(out, "Connection: keep-alive\r\n");
	buf_puts(out, "\r\n");
	return bad ? -1 : 0;
}

static int
parse_error(struct auth_result *res, const char *reason)
{
	res->status = AUTH_ERROR;
	res->reason = reason;
	return AUTH_PARSE_ERROR;
}

static char *
dup_value(const char *v, size_t n)
{
	char *s = malloc(n + 1);

	if (s != NULL) {
		memcpy(s, v, n);
		s[n] = '\0';
	}
	return s;
}

/* Applies one "Name: value" header to res. */
static int
apply_header(struct auth_result *res, const char *name, size_t nl, const char *v, size_t vl,
    int *have_status)
{
#define NAME(s) (nl == sizeof(s) - 1 && strncasecmp(name, s, nl) == 0)
	if (memchr(v, '\0', vl))
		return parse_error(res, "auth http server sent a NUL byte");
	/* Framing headers only matter for a kept-alive connection. */
	if (NAME("Content-Length")) {
		long n = 0;
		size_t i;
		for (i = 0; i < vl && isdigit((unsigned char)v[i]) && n < 100000000; i++)
			n = n * 10 + (v[i] - '0');
		res->content_length = i == vl && vl > 0 ? n : -2;	/* -2: unusable */
		return AUTH_PARSE_DONE;
	}
	if (NAME("Connection")) {
		if (vl == 5 && strncasecmp(v, "close", 5) == 0)
			res->reusable = 0;
		else if (vl == 10 && strncasecmp(v, "keep-alive", 10) == 0)
			res->reusable = 1;
		return AUTH_PARSE_DONE;
	}
	if (NAME("Transfer-Encoding")) {
		res->content_length = -2;	/* chunked bodies are not read: close after */
		return AUTH_PARSE_DONE;
	}
	if (NAME("Auth-Status")) {
		*have_status = 1;
		if (vl == 2 && memcmp(v, "OK", 2) == 0) {
			res->status = AUTH_OK;
		} else if (vl == 4 && memcmp(v, "WAIT", 4) == 0) {
			res->status = AUTH_WAIT;
		} else {
			res->status = AUTH_FAIL;
			snprintf(res->text, sizeof(res->text), "%.*s", (int)vl, v);
		}
	} else if (NAME("Auth-Server")) {
		char ip[INET6_ADDRSTRLEN + 1];
		socklen_t len;
		int port = net_port((struct sockaddr *)&res->server);
		if (vl == 0 || vl >= sizeof(ip))
			return parse_error(res, "auth http server sent invalid server address");
		memcpy(ip, v, vl);
		ip[vl] = '\0';
		if (net_parse_ip(ip, &res->server, &len) < 0)
			return parse_error(res, "auth http server sent invalid server address");
		net_set_port((struct sockaddr *)&res->server, port);
		res->have_server = 1;
	} else if (NAME("Auth-Port")) {
		long port = 0;
		if (vl == 0 || vl > 5)
			return parse_error(res, "auth http server sent invalid server port");
		for (size_t i = 0; i < vl; i++) {
			if (!isdigit((unsigned char)v[i]))
				return parse_error(res, "auth http server sent invalid server port");
			port = port * 10 + (v[i] - '0');
		}
		if (port < 1 || port > 65535)
			return parse_error(res, "auth http server sent invalid server port");
		if (res->server.ss_family == 0)
			res->server.ss_family = AF_INET;	/* placeholder until Auth-Server */
		net_set_port((struct sockaddr *)&res->server, (int)port);
		res->have_port = 1;
	} else if (NAME("Auth-Wait")) {
		long w = 0;
		size_t i;
		for (i = 0; i < vl && isdigit((unsigned char)v[i]) && w < 100000; i++)
			w = w * 10 + (v[i] - '0');
		if (i == vl && vl > 0)
			res->wait = w;	/* nginx ignores a value that is not a number */
	} else if (NAME("Auth-Cache-Valid")) {
		/* mailproxy's auth_http_cache: seconds this answer may be reused.
		 * Anything but digits forbids caching, the safe reading. */
		long c = 0;
		size_t i;
		for (i = 0; i < vl && isdigit((unsigned char)v[i]); i++)
			c = c >= 1000000 ? c : c * 10 + (v[i] - '0');	/* capped later by valid= */
		res->cache_valid = i == vl && vl > 0 ? c : 0;
		res->have_cache_valid = 1;
	} else if (NAME("Auth-Error-Code")) {
		/* It becomes the start of an SMTP reply line: digits, dots and spaces only. */
		if (vl == 0 || vl >= sizeof(res->code))
			return parse_error(res, "auth http server sent invalid Auth-Error-Code");
		for (size_t i = 0; i < vl; i++)
			if (!isdigit((unsigned char)v[i]) && v[i] != '.' && v[i] != ' ')
				return parse_error(res, "auth http server sent invalid Auth-Error-Code");
		snprintf(res->code, sizeof(res->code), "%.*s", (int)vl, v);
	} else if (NAME("Auth-Method")) {
		/* The backend login for SMTP with proxy_smtp_auth (nginx #155, #601). */
		static const struct { const char *name; int m; } bem[] = {
			{ "plain", BE_AUTH_PLAIN }, { "login", BE_AUTH_LOGIN }, { "none", BE_AUTH_NONE } };
		res->be_auth = BE_AUTH_INVALID;
		for (size_t i = 0; i < sizeof(bem) / sizeof(bem[0]); i++)
			if (vl == strlen(bem[i].name) && strncasecmp(v, bem[i].name, vl) == 0)
				res->be_auth = bem[i].m;
	} else if (NAME("Auth-User")) {
		free(res->user);
		if ((res->user = dup_value(v, vl)) == NULL)
			return parse_error(res, "out of memory");
	} else if (NAME("Auth-Error-SASL")) {
		/* It becomes a challenge line: strict, bounded base64 only. */
		if (!sasl_oauth_error_valid(v, vl))
			return parse_error(res, "auth http server sent invalid Auth-Error-SASL");
		free(res->sasl_error);
		if ((res->sasl_error = dup_value(v, vl)) == NULL)
			return parse_error(res, "out of memory");
	} else if (NAME("Auth-Pass")) {
		free(res->pass);
		if ((res->pass = dup_value(v, vl)) == NULL)
			return parse_error(res, "out of memory");
	}
#undef NAME
	return AUTH_PARSE_DONE;
}

int
auth_http_parse(const char *data, size_t len, int eof, struct auth_result *res)
{
	size_t i = 0;
	int have_status = 0;

	if (len > AUTH_HTTP_MAX_RESPONSE)
		len = AUTH_HTTP_MAX_RESPONSE;
	res->content_length = -1;
	res->reusable = 0;
	/* An optional status line; its code is ignored, as nginx ignores it. */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		const char *lf = memchr(data, '\n', len);
		if (lf == NULL)
			goto again;
		i = (size_t)(lf - data) + 1;
		/* HTTP/1.1 keeps the connection unless told otherwise. */
		res->reusable = len >= 8 && memcmp(data, "HTTP/1.1", 8) == 0;
	} else if (len < 5 && memcmp(data, "HTTP/", len) == 0 && !eof) {
		return AUTH_PARSE_AGAIN;
	}
	for (;;) {
		const char *line = data + i, *lf = memchr(line, '\n', len - i);
		size_t ll, nl, vs, ve;

		if (lf == NULL)
			goto again;
		ll = (size_t)(lf - line);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		i += (size_t)(lf - line) + 1;
		if (ll == 0)
			break;	/* end of headers */
		/* As nginx: a name starts with a letter or digit, and a CR only ends a line. */
		if (!isalnum((unsigned char)line[0]) || memchr(line, '\r', ll) != NULL)
			return parse_error(res, "auth http server sent invalid header in response");
		for (nl = 0; nl < ll && line[nl] != ':'; nl++)
			if (!isalnum((unsigned char)line[nl]) && line[nl] != '-')
				return parse_error(res, "auth http server sent invalid header in response");
		if (nl == 0 || nl == ll)
			return parse_error(res, "auth http server sent invalid header in response");
		for (vs = nl + 1; vs < ll && line[vs] == ' '; vs++)
			;
		for (ve = ll; ve > vs && line[ve - 1] == ' '; ve--)
			;
		if (apply_header(res, line, nl, line + vs, ve - vs, &have_status) < 0)
			return AUTH_PARSE_ERROR;
	}
	if (!have_status)
		return parse_error(res, "auth http server sent no Auth-Status header");
	res->header_len = i;
	if (res->content_length < -1)
		res->reusable = 0;
	return AUTH_PARSE_DONE;
again:
	if (eof)
		return parse_error(res, "auth http server closed the connection before the end of headers");
	if (len >= AUTH_HTTP_MAX_RESPONSE)
		return parse_error(res, "auth http server sent a too large response");
	return AUTH_PARSE_AGAIN;
}

int
auth_http_check_ok(struct auth_result *res, enum mail_proto proto, unsigned method,
    int have_client_passwd)
{
	if (!res->have_server || !res->have_port) {
		res->status = AUTH_ERROR;
		res->reason = "auth http server did not send server or port";
		return -1;
	}
	/* APOP, CRAM-MD5 and EXTERNAL leave no password to log in to the backend
	 * with; an OAuth bearer token counts as one (the backend gets the mechanism). */
	int client_pw = have_client_passwd && method != AUTHM_APOP && method != AUTHM_CRAM_MD5 &&
	    method != AUTHM_EXTERNAL;
	if (proto != MP_PROTO_SMTP && res->pass == NULL && !client_pw) {
		res->status = AUTH_ERROR;
		res->reason = "auth http server did not send password";
		return -1;
	}
	if (proto == MP_PROTO_SMTP && res->be_auth == BE_AUTH_INVALID) {
		res->status = AUTH_ERROR;
		res->reason = "auth http server sent invalid Auth-Method";
		return -1;
	}
	if ((res->user && strpbrk(res->user, "\r\n")) || (res->pass && strpbrk(res->pass, "\r\n"))) {
		res->status = AUTH_ERROR;
		res->reason = "auth http server sent CR or LF in Auth-User or Auth-Pass";
		return -1;
	}
	return 0;
}
