/*
 * The pure half of auth_http (worker/proto/auth_http_proto.c): the request text
 * compared byte for byte with what nginx sends (header order, %-escaping
 * of Auth-User/Auth-Pass/Auth-SSL-Cert), the response parser (nginx's
 * rules: optional status line, exact "OK"/"WAIT", case-insensitive names,
 * IP-literal servers, ports 1-65535; strict on garbage; bounded), and the
 * checks applied to an OK answer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net.h"
#include "test/unit/config_helpers.h"
#include "worker/lookup/auth_http.h"

TestSuite(auth_http, .init = th_setup, .fini = th_teardown);

/* ---- the request ---- */

static struct config *
conf_with(const char *server_yaml)
{
	char yaml[2048];
	struct config *cf;

	snprintf(yaml, sizeof(yaml), "%s%s", MINIMAL, server_yaml ? server_yaml : "");
	cf = th_load(yaml);
	cr_assert_not_null(cf, "config: %s", th_err());
	return cf;
}

static void
build_is(const struct config *cf, const struct auth_params *p, int rc, const char *want)
{
	struct buf b = { 0 };

	cr_assert_eq(auth_http_build(&b, &cf->servers[0], p, 0), rc);
	cr_assert_not_null(b.data);
	cr_assert_eq(buf_append(&b, "", 1), 0);
	cr_assert_str_eq(b.data, want);
	buf_release(&b);
}

#define HEAD "GET /auth HTTP/1.0\r\nHost: 127.0.0.1\r\n"

Test(auth_http, build_plain)
{
	struct config *cf = conf_with(NULL);
	struct auth_params p = {
		.method = AUTHM_PLAIN, .login = "bob", .passwd = "s3cret", .protocol = MP_PROTO_IMAP,
		.attempt = 1, .client_ip = "192.0.2.7",
	};

	build_is(cf, &p, 0, HEAD
	    "Auth-Method: plain\r\n"
	    "Auth-User: bob\r\n"
	    "Auth-Pass: s3cret\r\n"
	    "Auth-Protocol: imap\r\n"
	    "Auth-Login-Attempt: 1\r\n"
	    "Client-IP: 192.0.2.7\r\n"
	    "\r\n");
	config_free(cf);
}

Test(auth_http, build_login_is_sent_as_plain)
{
	struct config *cf = conf_with(NULL);
	struct auth_params p = {
		.method = AUTHM_LOGIN, .login = "bob", .passwd = "x", .protocol = MP_PROTO_POP3,
		.attempt = 3, .client_ip = "2001:db8::7",
	};

	build_is(cf, &p, 0, HEAD
	    "Auth-Method: plain\r\nAuth-User: bob\r\nAuth-Pass: x\r\nAuth-Protocol: pop3\r\n"
	    "Auth-Login-Attempt: 3\r\nClient-IP: 2001:db8::7\r\n\r\n");
	config_free(cf);
}

Test(auth_http, build_cram_md5_with_salt)
{
	struct config *cf = conf_with(NULL);
	struct auth_params p = {
		.method = AUTHM_CRAM_MD5, .login = "bob", .passwd = "0123456789abcdef0123456789abcdef",
		.salt = "<3145.1700000000@mail.example.com>", .protocol = MP_PROTO_IMAP, .attempt = 2,
		.client_ip = "192.0.2.7",
	};

	build_is(cf, &p, 0, HEAD
	    "Auth-Method: cram-md5\r\n"
	    "Auth-User: bob\r\n"
	    "Auth-Pass: 0123456789abcdef0123456789abcdef\r\n"
	    "Auth-Salt: <3145.1700000000@mail.example.com>\r\n"
	    "Auth-Protocol: imap\r\n"
	    "Auth-Login-Attempt: 2\r\n"
	    "Client-IP: 192.0.2.7\r\n"
	    "\r\n");
	config_free(cf);
}

Test(auth_http, build_apop_with_salt_and_plain_without)
{
	struct config *cf = conf_with(NULL);
	struct auth_params p = {
		.method = AUTHM_APOP, .login = "bob", .passwd = "d41d8cd98f00b204e9800998ecf8427e",
		.salt = "<1.2@h>", .protocol = MP_PROTO_POP3, .attempt = 1, .client_ip = "10.1.1.1",
	};

	build_is(cf, &p, 0, HEAD
	    "Auth-Method: apop\r\nAuth-User: bob\r\nAuth-Pass: d41d8cd98f00b204e9800998ecf8427e\r\n"
	    "Auth-Salt: <1.2@h>\r\nAuth-Protocol: pop3\r\nAuth-Login-Attempt: 1\r\n"
	    "Client-IP: 10.1.1.1\r\n\r\n");
	/* A salt made for the greeting is not sent with a plain login. */
	p.method = AUTHM_PLAIN;
	p.passwd = "pw";
	build_is(cf, &p, 0, HEAD
	    "Auth-Method: plain\r\nAuth-User: bob\r\nAuth-Pass: pw\r\nAuth-Protocol: pop3\r\n"
	    "Auth-Login-Attempt: 1\r\nClient-IP: 10.1.1.1\r\n\r\n");
	config_free(cf);
}

Test(auth_http, build_external_has_no_password)
{
	struct config *cf = conf_with(NULL);
	struct auth_params p = {
		.method = AUTHM_EXTERNAL, .login = "bob", .passwd = "ignored", .protocol = MP_PROTO_IMAP,
		.attempt = 1, .client_ip = "192.0.2.7",
	};

	build_is(cf, &p, 0, HEAD
	    "Auth-Method: external\r\nAuth-User: bob\r\nAuth-Pass: \r\nAuth-Protocol: imap\r\n"
	    "Auth-Login-Attempt: 1\r\nClient-IP: 192.0.2.7\r\n\r\n");
	config_free(cf);
}

Test(auth_http, build_smtp_none)
{
	struct config *cf = conf_with(NULL);
	struct auth_params p = {
		.method = AUTHM_NONE, .protocol = MP_PROTO_SMTP, .attempt = 1, .client_ip = "192.0.2.7",
		.client_host = "client.example.org", .smtp_helo = "client.example.org",
		.smtp_from = "MAIL FROM:<a@example.org> SIZE=100", .smtp_to = "RCPT TO:<b@example.net>",
	};

	build_is(cf, &p, 0, HEAD
	    "Auth-Method: none\r\n"
	    "Auth-User: \r\n"
	    "Auth-Pass: \r\n"
	    "Auth-Protocol: smtp\r\n"
	    "Auth-Login-Attempt: 1\r\n"
	    "Client-IP: 192.0.2.7\r\n"
	    "Client-Host: client.example.org\r\n"
	    "Auth-SMTP-Helo: client.example.org\r\n"
	    "Auth-SMTP-From: MAIL FROM:<a@example.org> SIZE=100\r\n"
	    "Auth-SMTP-To: RCPT TO:<b@example.net>\r\n"
	    "\r\n");
	/* Nothing known yet: the headers are still sent, empty. */
	p.smtp_helo = p.smtp_from = p.smtp_to = NULL;
	p.client_host = "[UNAVAILABLE]";
	build_is(cf, &p, 0, HEAD
	    "Auth-Method: none\r\nAuth-User: \r\nAuth-Pass: \r\nAuth-Protocol: smtp\r\n"
	    "Auth-Login-Attempt: 1\r\nClient-IP: 192.0.2.7\r\nClient-Host: [UNAVAILABLE]\r\n"
	    "Auth-SMTP-Helo: \r\nAuth-SMTP-From: \r\nAuth-SMTP-To: \r\n\r\n");
	config_free(cf);
}

Test(auth_http, build_escapes_login_and_password)
{
	struct config *cf = conf_with(NULL);
	struct auth_params p = {
		.method = AUTHM_PLAIN, .login = "bob smith%\r\n\t", .passwd = "p w%41\x01\x1f\x7f\xc3\xa9+:",
		.protocol = MP_PROTO_IMAP, .attempt = 1, .client_ip = "192.0.2.7",
	};

	/* Space, '%' and bytes below 0x20 become %XX; DEL and 8-bit bytes do not (nginx). */
	build_is(cf, &p, 0, HEAD
	    "Auth-Method: plain\r\n"
	    "Auth-User: bob%20smith%25%0D%0A%09\r\n"
	    "Auth-Pass: p%20w%2541%01%1F\x7f\xc3\xa9+:\r\n"
	    "Auth-Protocol: imap\r\n"
	    "Auth-Login-Attempt: 1\r\n"
	    "Client-IP: 192.0.2.7\r\n"
	    "\r\n");
	config_free(cf);
}

Test(auth_http, build_with_auth_http_header_extras)
{
	struct config *cf = conf_with("      auth_http_header: {X-Auth-Key: \"secret key\", X-Second: 2}\n");
	struct auth_params p = {
		.method = AUTHM_PLAIN, .login = "bob", .passwd = "pw", .protocol = MP_PROTO_IMAP,
		.attempt = 1, .client_ip = "192.0.2.7",
	};

	build_is(cf, &p, 0, HEAD
	    "Auth-Method: plain\r\nAuth-User: bob\r\nAuth-Pass: pw\r\nAuth-Protocol: imap\r\n"
	    "Auth-Login-Attempt: 1\r\nClient-IP: 192.0.2.7\r\n"
	    "X-Auth-Key: secret key\r\nX-Second: 2\r\n"
	    "\r\n");
	config_free(cf);
}

Test(auth_http, build_uri_and_unix_socket_host)
{
	struct config *cf = th_load("mail:\n  auth_http: unix:/run/auth.sock:/mail/auth?x=1\n"
	    "  servers:\n    - listen: \"143\"\n");
	struct auth_params p = {
		.method = AUTHM_PLAIN, .login = "u", .passwd = "p", .protocol = MP_PROTO_IMAP,
		.attempt = 1, .client_ip = "192.0.2.7",
	};

	cr_assert_not_null(cf, "config: %s", th_err());
	build_is(cf, &p, 0, "GET /mail/auth?x=1 HTTP/1.0\r\nHost: localhost\r\n"
	    "Auth-Method: plain\r\nAuth-User: u\r\nAuth-Pass: p\r\nAuth-Protocol: imap\r\n"
	    "Auth-Login-Attempt: 1\r\nClient-IP: 192.0.2.7\r\n\r\n");
	config_free(cf);
}

Test(auth_http, build_tls_facts)
{
	struct config *cf = conf_with(NULL);
	struct auth_params p = {
		.method = AUTHM_PLAIN, .login = "bob", .passwd = "pw", .protocol = MP_PROTO_IMAP,
		.attempt = 1, .client_ip = "192.0.2.7", .ssl = 1, .ssl_protocol = "TLSv1.3",
		.ssl_cipher = "TLS_AES_256_GCM_SHA384",
	};

	build_is(cf, &p, 0, HEAD
	    "Auth-Method: plain\r\nAuth-User: bob\r\nAuth-Pass: pw\r\nAuth-Protocol: imap\r\n"
	    "Auth-Login-Attempt: 1\r\nClient-IP: 192.0.2.7\r\n"
	    "Auth-SSL: on\r\nAuth-SSL-Protocol: TLSv1.3\r\nAuth-SSL-Cipher: TLS_AES_256_GCM_SHA384\r\n"
	    "\r\n");
	p.ssl_verify = "SUCCESS";
	p.ssl_subject = "CN=bob,O=Example";
	p.ssl_issuer = "CN=CA";
	p.ssl_serial = "0A1B";
	p.ssl_fingerprint = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
	p.ssl_cert = "-----BEGIN CERTIFICATE-----\nMII A%B\n-----END CERTIFICATE-----\n";
	build_is(cf, &p, 0, HEAD
	    "Auth-Method: plain\r\nAuth-User: bob\r\nAuth-Pass: pw\r\nAuth-Protocol: imap\r\n"
	    "Auth-Login-Attempt: 1\r\nClient-IP: 192.0.2.7\r\n"
	    "Auth-SSL: on\r\nAuth-SSL-Protocol: TLSv1.3\r\nAuth-SSL-Cipher: TLS_AES_256_GCM_SHA384\r\n"
	    "Auth-SSL-Verify: SUCCESS\r\n"
	    "Auth-SSL-Subject: CN=bob,O=Example\r\n"
	    "Auth-SSL-Issuer: CN=CA\r\n"
	    "Auth-SSL-Serial: 0A1B\r\n"
	    "Auth-SSL-Fingerprint: a94a8fe5ccb19ba61c4c0873d391e987982fbbd3\r\n"
	    "Auth-SSL-Cert: -----BEGIN%20CERTIFICATE-----%0AMII%20A%25B%0A-----END%20CERTIFICATE-----%0A\r\n"
	    "\r\n");
	config_free(cf);
}

Test(auth_http, build_header_order_matches_nginx)
{
	struct config *cf = conf_with("      auth_http_header: {X-Key: k}\n");
	struct auth_params p = {
		.method = AUTHM_NONE, .protocol = MP_PROTO_SMTP, .attempt = 1, .client_ip = "192.0.2.7",
		.client_host = "c.example", .smtp_helo = "h", .smtp_from = "MAIL FROM:<>",
		.smtp_to = "RCPT TO:<t@x>", .ssl = 1, .ssl_protocol = "TLSv1.2", .ssl_cipher = "C",
		.pp_addr = "203.0.113.5", .pp_port = "41000", .pp_server_addr = "198.51.100.1",
		.pp_server_port = "25",
	};

	/* ngx_mail_auth_http_create_request: Client-Host, Proxy-Protocol-*, Auth-SMTP-*, Auth-SSL*, extras. */
	build_is(cf, &p, 0, HEAD
	    "Auth-Method: none\r\nAuth-User: \r\nAuth-Pass: \r\nAuth-Protocol: smtp\r\n"
	    "Auth-Login-Attempt: 1\r\n"
	    "Client-IP: 192.0.2.7\r\n"
	    "Client-Host: c.example\r\n"
	    "Proxy-Protocol-Addr: 203.0.113.5\r\n"
	    "Proxy-Protocol-Port: 41000\r\n"
	    "Proxy-Protocol-Server-Addr: 198.51.100.1\r\n"
	    "Proxy-Protocol-Server-Port: 25\r\n"
	    "Auth-SMTP-Helo: h\r\nAuth-SMTP-From: MAIL FROM:<>\r\nAuth-SMTP-To: RCPT TO:<t@x>\r\n"
	    "Auth-SSL: on\r\nAuth-SSL-Protocol: TLSv1.2\r\nAuth-SSL-Cipher: C\r\n"
	    "X-Key: k\r\n"
	    "\r\n");
	config_free(cf);
}

Test(auth_http, build_refuses_values_that_break_the_header_block)
{
	struct config *cf = conf_with(NULL);
	struct auth_params p = {
		.method = AUTHM_NONE, .protocol = MP_PROTO_SMTP, .attempt = 1, .client_ip = "192.0.2.7",
		.smtp_helo = "evil\r\nAuth-Status: OK", .smtp_from = "MAIL FROM:<>", .smtp_to = "RCPT TO:<a@b>",
	};
	struct buf b = { 0 };

	cr_assert_eq(auth_http_build(&b, &cf->servers[0], &p, 0), -1);
	buf_release(&b);
	p.smtp_helo = "h";
	p.client_host = "x\ny";
	cr_assert_eq(auth_http_build(&b, &cf->servers[0], &p, 0), -1);
	buf_release(&b);
	p.client_host = NULL;
	p.method = AUTHM_CRAM_MD5;
	p.salt = "<1.2@h>\r\n";
	cr_assert_eq(auth_http_build(&b, &cf->servers[0], &p, 0), -1);
	buf_release(&b);
	p.salt = "<1.2@h>";
	cr_assert_eq(auth_http_build(&b, &cf->servers[0], &p, 0), 0);
	buf_release(&b);
	config_free(cf);
}

Test(auth_http, escape_every_byte)
{
	struct buf b = { 0 };
	char in[256], want[1024];
	size_t o = 0;

	for (int c = 1; c < 256; c++) {
		in[c - 1] = (char)c;
		if (c < 0x20 || c == ' ' || c == '%')
			o += (size_t)sprintf(want + o, "%%%02X", c);
		else
			want[o++] = (char)c;
	}
	in[255] = '\0';
	want[o] = '\0';
	auth_http_escape(&b, in);
	cr_assert_eq(buf_len(&b), o);
	cr_assert_eq(memcmp(b.data, want, o), 0);
	buf_release(&b);
	auth_http_escape(&b, "");
	cr_assert_eq(buf_len(&b), 0);
	buf_release(&b);
}

/* ---- the response ---- */

struct pcase {
	const char *name;
	const char *in;
	size_t len;		/* 0: strlen(in) */
	int eof;
	int rc;
	enum auth_status status;
	const char *text;	/* FAIL text; NULL: not checked */
	long wait;
	const char *code;
	const char *server;	/* NULL: no Auth-Server */
	int port;		/* 0: no Auth-Port */
	const char *user, *pass;	/* NULL: absent */
};

/* The fields a refused or unfinished response leaves unchecked. */
#define P_ERROR AUTH_PARSE_ERROR, AUTH_ERROR, NULL, 0, NULL, NULL, 0, NULL, NULL
#define P_AGAIN AUTH_PARSE_AGAIN, AUTH_ERROR, NULL, 0, NULL, NULL, 0, NULL, NULL

#define OKH "Auth-Status: OK\r\nAuth-Server: 10.0.0.2\r\nAuth-Port: 143\r\n"

static const struct pcase pcases[] = {
	{ "ok with every field",
	  "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 10.0.0.2\r\nAuth-Port: 143\r\n"
	  "Auth-User: bob@example.com\r\nAuth-Pass: p w:x\r\nAuth-Wait: 3\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, 3, "", "10.0.0.2", 143, "bob@example.com", "p w:x" },
	{ "ok without a status line", OKH "\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 143, NULL, NULL },
	{ "status line code is ignored", "HTTP/1.1 500 Internal Server Error\r\n" OKH "\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 143, NULL, NULL },
	{ "status line without reason", "HTTP/1.0 204\n" OKH "\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 143, NULL, NULL },
	{ "wait", "HTTP/1.0 200 OK\r\nAuth-Status: WAIT\r\nAuth-Wait: 2\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_WAIT, NULL, 2, "", NULL, 0, NULL, NULL },
	{ "error text with Auth-Wait", "HTTP/1.0 200 OK\r\nAuth-Status: Invalid login or password\r\n"
	  "Auth-Wait: 3\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_FAIL, "Invalid login or password", 3, "", NULL, 0, NULL, NULL },
	{ "error text without Auth-Wait", "Auth-Status: Temporary failure, try later\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_FAIL, "Temporary failure, try later", -1, "", NULL, 0, NULL, NULL },
	{ "OK is case-sensitive", "Auth-Status: ok\r\nAuth-Server: 10.0.0.2\r\nAuth-Port: 143\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_FAIL, "ok", -1, "", "10.0.0.2", 143, NULL, NULL },
	{ "WAIT is case-sensitive", "Auth-Status: Wait\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_FAIL, "Wait", -1, "", NULL, 0, NULL, NULL },
	{ "OK with more text is an error", "Auth-Status: OK then\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_FAIL, "OK then", -1, "", NULL, 0, NULL, NULL },
	{ "empty status is an error text", "Auth-Status:\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_FAIL, "", -1, "", NULL, 0, NULL, NULL },
	{ "valid Auth-Error-Code", "Auth-Status: Bad\r\nAuth-Error-Code: 535 5.7.8\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_FAIL, "Bad", -1, "535 5.7.8", NULL, 0, NULL, NULL },
	{ "Auth-Error-Code with letters", "Auth-Status: Bad\r\nAuth-Error-Code: 535 evil\r\n\r\n",
	  0, 0, P_ERROR },
	{ "empty Auth-Error-Code", "Auth-Status: Bad\r\nAuth-Error-Code:\r\n\r\n", 0, 0, P_ERROR },
	{ "too long Auth-Error-Code", "Auth-Status: Bad\r\nAuth-Error-Code: 535 5.7.8 5.7.8 5.7.8 5.7.8 5.7.8\r\n\r\n",
	  0, 0, P_ERROR },
	{ "names in any case", "aUTH-sTATUS: OK\r\nauth-server: 10.0.0.2\r\nAUTH-PORT: 993\r\n"
	  "auth-user: u\r\nAUTH-PASS: p\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 993, "u", "p" },
	{ "LF-only line ends", "HTTP/1.0 200 OK\nAuth-Status: OK\nAuth-Server: 10.0.0.2\nAuth-Port: 110\n\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 110, NULL, NULL },
	{ "spaces around values", "Auth-Status:    OK   \r\nAuth-Server:  10.0.0.2  \r\nAuth-Port: 143 \r\n"
	  "Auth-Pass:  a b  \r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 143, NULL, "a b" },
	{ "missing Auth-Status", "HTTP/1.0 200 OK\r\nAuth-Server: 10.0.0.2\r\nAuth-Port: 143\r\n\r\n",
	  0, 0, P_ERROR },
	{ "no headers at all", "HTTP/1.0 200 OK\r\n\r\n", 0, 0, P_ERROR },
	{ "underscore in a name", "Auth_Status: OK\r\n\r\n", 0, 0, P_ERROR },
	{ "space in a name", "Auth Status: OK\r\n\r\n", 0, 0, P_ERROR },
	{ "space before the colon", "Auth-Status : OK\r\n\r\n", 0, 0, P_ERROR },
	{ "no colon", "Auth-Status OK\r\n\r\n", 0, 0, P_ERROR },
	{ "empty name", ": OK\r\n\r\n", 0, 0, P_ERROR },
	{ "name starting with a dash", "Auth-Status: OK\r\n-X: y\r\n\r\n", 0, 0, P_ERROR },
	{ "folded header", "Auth-Status: Invalid\r\n login\r\n\r\n", 0, 0, P_ERROR },
	{ "8-bit name", "Auth-St\xc3\xa4tus: OK\r\n\r\n", 0, 0, P_ERROR },
	{ "NUL in a value", "Auth-Status: O\0K\r\n\r\n", 20, 0, P_ERROR },
	{ "NUL in a name", "Auth-\0Status: OK\r\n\r\n", 21, 0, P_ERROR },
	{ "bare CR in a value", "Auth-Status: Invalid\rlogin\r\n\r\n", 0, 0, P_ERROR },
	{ "bare CR in an ignored header", OKH "X-Note: a\rb\r\n\r\n", 0, 0, P_ERROR },
	{ "CR CR LF", "Auth-Status: OK\r\r\n\r\n", 0, 0, P_ERROR },
	{ "Auth-Server host name refused", "Auth-Status: OK\r\nAuth-Server: localhost\r\nAuth-Port: 143\r\n\r\n",
	  0, 0, P_ERROR },
	{ "Auth-Server with port refused", "Auth-Status: OK\r\nAuth-Server: 10.0.0.2:143\r\n\r\n",
	  0, 0, P_ERROR },
	{ "Auth-Server in brackets refused", "Auth-Status: OK\r\nAuth-Server: [::1]\r\n\r\n",
	  0, 0, P_ERROR },
	{ "empty Auth-Server", "Auth-Status: OK\r\nAuth-Server:\r\n\r\n", 0, 0, P_ERROR },
	{ "short IPv4 refused", "Auth-Status: OK\r\nAuth-Server: 10.2\r\n\r\n", 0, 0, P_ERROR },
	{ "IPv6 Auth-Server", "Auth-Status: OK\r\nAuth-Server: 2001:db8::25\r\nAuth-Port: 143\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "2001:db8::25", 143, NULL, NULL },
	{ "Auth-Port before Auth-Server", "Auth-Status: OK\r\nAuth-Port: 1143\r\nAuth-Server: ::1\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "::1", 1143, NULL, NULL },
	{ "Auth-Port 65535", "Auth-Status: OK\r\nAuth-Server: 10.0.0.2\r\nAuth-Port: 65535\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 65535, NULL, NULL },
	{ "Auth-Port 1", "Auth-Status: OK\r\nAuth-Server: 10.0.0.2\r\nAuth-Port: 1\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 1, NULL, NULL },
	{ "Auth-Port 0", "Auth-Status: OK\r\nAuth-Server: 10.0.0.2\r\nAuth-Port: 0\r\n\r\n", 0, 0, P_ERROR },
	{ "Auth-Port 65536", "Auth-Status: OK\r\nAuth-Server: 10.0.0.2\r\nAuth-Port: 65536\r\n\r\n",
	  0, 0, P_ERROR },
	{ "Auth-Port abc", "Auth-Status: OK\r\nAuth-Server: 10.0.0.2\r\nAuth-Port: abc\r\n\r\n",
	  0, 0, P_ERROR },
	{ "Auth-Port -1", "Auth-Status: OK\r\nAuth-Port: -1\r\n\r\n", 0, 0, P_ERROR },
	{ "Auth-Port 14a", "Auth-Status: OK\r\nAuth-Port: 14a\r\n\r\n", 0, 0, P_ERROR },
	{ "Auth-Port 000143", "Auth-Status: OK\r\nAuth-Port: 000143\r\n\r\n", 0, 0, P_ERROR },
	{ "empty Auth-Port", "Auth-Status: OK\r\nAuth-Port:\r\n\r\n", 0, 0, P_ERROR },
	{ "Auth-Wait not a number is ignored", "Auth-Status: No\r\nAuth-Wait: soon\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_FAIL, "No", -1, "", NULL, 0, NULL, NULL },
	{ "Auth-Wait 0", "Auth-Status: WAIT\r\nAuth-Wait: 0\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_WAIT, NULL, 0, "", NULL, 0, NULL, NULL },
	{ "truncated headers with eof", "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Ser", 0, 1, P_ERROR },
	{ "no blank line with eof", OKH, 0, 1, P_ERROR },
	{ "truncated status line with eof", "HTTP/1.0 200", 0, 1, P_ERROR },
	{ "truncated headers wait for more", "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Ser", 0, 0, P_AGAIN },
	{ "half a status line waits", "HTT", 0, 0, P_AGAIN },
	{ "empty response with eof", "", 0, 1, P_ERROR },
	{ "empty response waits", "", 0, 0, P_AGAIN },
	{ "blank line only", "\r\n", 0, 0, P_ERROR },
	{ "binary garbage", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, 0, P_ERROR },
	{ "HTML error page", "<html><body>502 Bad Gateway</body></html>\r\n\r\n", 0, 1, P_ERROR },
	{ "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, 0, P_ERROR },
	{ "body after the blank line is ignored", OKH "\r\nAuth-Status: no\r\n\x01\x02garbage\0",
	  0, 1, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 143, NULL, NULL },
	{ "duplicate headers: the last wins",
	  "Auth-Status: Invalid\r\nAuth-Server: 10.0.0.1\r\nAuth-Port: 110\r\nAuth-User: a\r\nAuth-Pass: 1\r\n"
	  "Auth-Status: OK\r\nAuth-Server: 10.0.0.3\r\nAuth-Port: 995\r\nAuth-User: b\r\nAuth-Pass: 2\r\n"
	  "Auth-Wait: 5\r\nAuth-Wait: 6\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, 6, "", "10.0.0.3", 995, "b", "2" },
	{ "unknown headers are ignored", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nX-Trace-1: a:b:c\r\n"
	  "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n" OKH "Connection: close\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 143, NULL, NULL },
	{ "empty Auth-User and Auth-Pass", OKH "Auth-User:\r\nAuth-Pass:\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_OK, NULL, -1, "", "10.0.0.2", 143, "", "" },
	{ "8-bit values are kept", "Auth-Status: Ung\xc3\xbcltig\r\n\r\n",
	  0, 0, AUTH_PARSE_DONE, AUTH_FAIL, "Ung\xc3\xbcltig", -1, "", NULL, 0, NULL, NULL },
};

static void
run_case(const struct pcase *c)
{
	struct auth_result r;
	size_t len = c->len ? c->len : strlen(c->in);
	char *copy = malloc(len ? len : 1);
	char ip[NET_ADDRSTRLEN];

	/* An exactly sized copy: the sanitizer sees any read past the end. */
	memcpy(copy, c->in, len);
	memset(&r, 0, sizeof(r));
	auth_result_clear(&r);
	int rc = auth_http_parse(copy, len, c->eof, &r);
	cr_assert_eq(rc, c->rc, "%s: rc %d, want %d (%s)", c->name, rc, c->rc, r.reason ? r.reason : "");
	if (rc == AUTH_PARSE_ERROR) {
		cr_assert_eq(r.status, AUTH_ERROR, "%s", c->name);
		cr_assert_not_null(r.reason, "%s: no reason for the log", c->name);
	}
	if (rc == AUTH_PARSE_DONE) {
		cr_assert_eq(r.status, c->status, "%s: status %d, want %d", c->name, r.status, c->status);
		if (c->text)
			cr_assert_str_eq(r.text, c->text, "%s", c->name);
		cr_assert_eq(r.wait, c->wait, "%s: wait %ld", c->name, r.wait);
		cr_assert_str_eq(r.code, c->code, "%s", c->name);
		cr_assert_eq(r.have_server, c->server != NULL, "%s: have_server", c->name);
		if (c->server) {
			net_ntop((struct sockaddr *)&r.server, ip, sizeof(ip));
			cr_assert_str_eq(ip, c->server, "%s", c->name);
		}
		cr_assert_eq(r.have_port, c->port != 0, "%s: have_port", c->name);
		if (c->port)
			cr_assert_eq(net_port((struct sockaddr *)&r.server), c->port, "%s", c->name);
		if (c->user)
			cr_assert_str_eq(r.user ? r.user : "(null)", c->user, "%s", c->name);
		else
			cr_assert_null(r.user, "%s", c->name);
		if (c->pass)
			cr_assert_str_eq(r.pass ? r.pass : "(null)", c->pass, "%s", c->name);
		else
			cr_assert_null(r.pass, "%s", c->name);
	}
	auth_result_clear(&r);
	cr_assert_null(r.user);
	cr_assert_eq(r.wait, -1);
	free(copy);
}

Test(auth_http, parse_cases)
{
	size_t n = sizeof(pcases) / sizeof(pcases[0]);

	cr_assert_geq(n, 30);
	for (size_t i = 0; i < n; i++)
		run_case(&pcases[i]);
}

/* The client feeds what it has read so far: every prefix must wait, then the whole parses. */
Test(auth_http, parse_every_prefix_waits)
{
	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *c = &pcases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		if (c->rc != AUTH_PARSE_DONE)
			continue;
		/* Where the header block ends: the body may be anything. */
		const char *end = strstr(c->in, "\r\n\r\n");
		size_t hdr = end ? (size_t)(end - c->in) + 4 : (size_t)(strstr(c->in, "\n\n") - c->in) + 2;
		for (size_t k = 0; k < hdr; k++) {
			struct auth_result r;
			char *copy = malloc(k ? k : 1);
			memcpy(copy, c->in, k);
			memset(&r, 0, sizeof(r));
			auth_result_clear(&r);
			int rc = auth_http_parse(copy, k, 0, &r);
			cr_assert_eq(rc, AUTH_PARSE_AGAIN, "%s: prefix %zu gave %d", c->name, k, rc);
			auth_result_clear(&r);
			memset(&r, 0, sizeof(r));
			auth_result_clear(&r);
			cr_assert_eq(auth_http_parse(copy, k, 1, &r), AUTH_PARSE_ERROR,
			    "%s: prefix %zu at eof", c->name, k);
			auth_result_clear(&r);
			free(copy);
		}
		(void)len;
	}
}

/* OKH, filler headers, then tail: exactly total bytes. */
static int
parse_big(size_t total, int eof, const char *tail)
{
	struct auth_result r;
	size_t tl = strlen(tail);
	char *b = malloc(total);
	size_t o = 0;
	int rc;

	o += (size_t)sprintf(b, OKH);
	while (o + 80 + tl <= total)
		o += (size_t)sprintf(b + o, "X-Pad: %030d\r\n", 7);
	memcpy(b + o, "X-Fill: ", 8);
	memset(b + o + 8, 'y', total - o - 8 - tl);
	memcpy(b + total - tl, tail, tl);
	memset(&r, 0, sizeof(r));
	auth_result_clear(&r);
	rc = auth_http_parse(b, total, eof, &r);
	if (rc == AUTH_PARSE_DONE)
		cr_assert_eq(r.status, AUTH_OK);
	auth_result_clear(&r);
	free(b);
	return rc;
}

Test(auth_http, response_size_bound)
{
	const size_t max = AUTH_HTTP_MAX_RESPONSE;
	struct auth_result r;

	/* nginx reads 1 KB; mailproxy allows more (auth_http.h). */
	cr_assert_eq(max, 8192);
	/* The blank line ends exactly at the bound: fine. */
	cr_assert_eq(parse_big(max, 0, "\r\n\r\n"), AUTH_PARSE_DONE);
	cr_assert_eq(parse_big(max, 0, "\r\nX: a\r\n\n"), AUTH_PARSE_DONE);
	/* One byte more: refused, whether more may come or not. */
	cr_assert_eq(parse_big(max + 1, 0, "\r\n\r\n"), AUTH_PARSE_ERROR);
	cr_assert_eq(parse_big(max + 1, 1, "\r\n\r\n"), AUTH_PARSE_ERROR);
	cr_assert_eq(parse_big(max + 5000, 1, "\r\n\r\n"), AUTH_PARSE_ERROR);
	/* Headers not finished inside the bound. */
	cr_assert_eq(parse_big(max, 0, "\r\nX: a"), AUTH_PARSE_ERROR);
	cr_assert_eq(parse_big(max - 1, 0, "\r\nX: a"), AUTH_PARSE_AGAIN);
	cr_assert_eq(parse_big(max - 1, 1, "\r\nX: a"), AUTH_PARSE_ERROR);

	/* A long body after short headers is not looked at. */
	char *b = malloc(20000);
	size_t h = (size_t)sprintf(b, OKH "\r\n");
	memset(b + h, 0, 20000 - h);
	memset(&r, 0, sizeof(r));
	auth_result_clear(&r);
	cr_assert_eq(auth_http_parse(b, 20000, 1, &r), AUTH_PARSE_DONE);
	auth_result_clear(&r);
	/* A huge status line alone. */
	memcpy(b, "HTTP/1.0 ", 9);
	memset(b + 9, 'x', 20000 - 9);
	cr_assert_eq(auth_http_parse(b, 20000, 0, &r), AUTH_PARSE_ERROR);
	auth_result_clear(&r);
	free(b);
}

Test(auth_http, random_garbage_never_crashes)
{
	unsigned char buf[512];
	struct auth_result r;

	srand(7);
	for (int round = 0; round < 3000; round++) {
		size_t len = (size_t)rand() % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			/* Mostly header-ish bytes, so the parser gets deep. */
			static const char alpha[] = "Auth-Status: OK\r\nServer Port Pass User Wait Error-Code 10.0.0.1 :\0\x80";
			buf[i] = (rand() % 4) ? (unsigned char)alpha[rand() % (sizeof(alpha) - 1)] : (unsigned char)rand();
		}
		unsigned char *copy = malloc(len ? len : 1);
		memcpy(copy, buf, len);
		memset(&r, 0, sizeof(r));
		auth_result_clear(&r);
		int rc = auth_http_parse((char *)copy, len, round & 1, &r);
		cr_assert(rc == AUTH_PARSE_AGAIN || rc == AUTH_PARSE_DONE || rc == AUTH_PARSE_ERROR);
		if (rc == AUTH_PARSE_AGAIN)
			cr_assert_eq(round & 1, 0, "AGAIN at eof");
		if (rc == AUTH_PARSE_DONE)
			cr_assert_neq(r.status, AUTH_ERROR);
		auth_result_clear(&r);
		free(copy);
	}
}

/* ---- auth_http_check_ok ---- */

static void
ok_result(struct auth_result *r, int server, int port, const char *pass)
{
	memset(r, 0, sizeof(*r));
	auth_result_clear(r);
	r->status = AUTH_OK;
	r->have_server = server;
	r->have_port = port;
	if (pass)
		r->pass = strdup(pass);
}

Test(auth_http, check_ok_needs_server_and_port)
{
	struct auth_result r;

	ok_result(&r, 0, 1, "x");
	cr_assert_eq(auth_http_check_ok(&r, MP_PROTO_IMAP, AUTHM_PLAIN, 1), -1);
	cr_assert_eq(r.status, AUTH_ERROR);
	cr_assert_str_eq(r.reason, "auth http server did not send server or port");
	auth_result_clear(&r);
	ok_result(&r, 1, 0, "x");
	cr_assert_eq(auth_http_check_ok(&r, MP_PROTO_SMTP, AUTHM_NONE, 0), -1);
	cr_assert_eq(r.status, AUTH_ERROR);
	auth_result_clear(&r);
	ok_result(&r, 1, 1, NULL);
	cr_assert_eq(auth_http_check_ok(&r, MP_PROTO_IMAP, AUTHM_PLAIN, 1), 0);
	cr_assert_eq(r.status, AUTH_OK);
	auth_result_clear(&r);
}

Test(auth_http, check_ok_password_rules)
{
	static const struct {
		enum mail_proto proto;
		unsigned method;
		int client_pw;
		const char *pass;
		int rc;
	} rules[] = {
		/* IMAP/POP3: the client's password is used when it has one. */
		{ MP_PROTO_IMAP, AUTHM_PLAIN, 1, NULL, 0 },
		{ MP_PROTO_IMAP, AUTHM_LOGIN, 1, NULL, 0 },
		{ MP_PROTO_POP3, AUTHM_PLAIN, 1, NULL, 0 },
		{ MP_PROTO_IMAP, AUTHM_PLAIN, 0, NULL, -1 },
		/* ...but APOP, CRAM-MD5 and EXTERNAL leave none: Auth-Pass is required. */
		{ MP_PROTO_IMAP, AUTHM_CRAM_MD5, 1, NULL, -1 },
		{ MP_PROTO_IMAP, AUTHM_EXTERNAL, 0, NULL, -1 },
		{ MP_PROTO_IMAP, AUTHM_EXTERNAL, 1, NULL, -1 },
		{ MP_PROTO_POP3, AUTHM_APOP, 1, NULL, -1 },
		{ MP_PROTO_POP3, AUTHM_CRAM_MD5, 1, NULL, -1 },
		{ MP_PROTO_IMAP, AUTHM_CRAM_MD5, 1, "real", 0 },
		{ MP_PROTO_POP3, AUTHM_APOP, 1, "real", 0 },
		{ MP_PROTO_IMAP, AUTHM_EXTERNAL, 0, "", 0 },
		/* SMTP needs none. */
		{ MP_PROTO_SMTP, AUTHM_CRAM_MD5, 1, NULL, 0 },
		{ MP_PROTO_SMTP, AUTHM_NONE, 0, NULL, 0 },
		{ MP_PROTO_SMTP, AUTHM_EXTERNAL, 0, NULL, 0 },
	};
	struct auth_result r;

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		ok_result(&r, 1, 1, rules[i].pass);
		int rc = auth_http_check_ok(&r, rules[i].proto, rules[i].method, rules[i].client_pw);
		cr_assert_eq(rc, rules[i].rc, "rule %zu: %d", i, rc);
		if (rc < 0)
			cr_assert_str_eq(r.reason, "auth http server did not send password");
		auth_result_clear(&r);
	}
}

Test(auth_http, check_ok_refuses_cr_lf_in_user_or_pass)
{
	struct auth_result r;

	ok_result(&r, 1, 1, "a\nb");
	cr_assert_eq(auth_http_check_ok(&r, MP_PROTO_IMAP, AUTHM_PLAIN, 1), -1);
	auth_result_clear(&r);
	ok_result(&r, 1, 1, "ok");
	r.user = strdup("bob\r");
	cr_assert_eq(auth_http_check_ok(&r, MP_PROTO_POP3, AUTHM_PLAIN, 1), -1);
	cr_assert_eq(r.status, AUTH_ERROR);
	auth_result_clear(&r);
}

Test(auth_http, parse_then_check)
{
	struct auth_result r;
	const char *resp = "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 10.0.0.2\r\n\r\n";

	memset(&r, 0, sizeof(r));
	auth_result_clear(&r);
	cr_assert_eq(auth_http_parse(resp, strlen(resp), 0, &r), AUTH_PARSE_DONE);
	cr_assert_eq(auth_http_check_ok(&r, MP_PROTO_IMAP, AUTHM_PLAIN, 1), -1, "no port");
	auth_result_clear(&r);
}
