/*
 * auth_http (worker/proto/auth_http_proto.c). First byte even: a response fed as
 * auth_http.c's run() feeds it (the buffer grows chunk by chunk, parsed
 * again each time, EOF last), split at fuzzer-chosen points and whole; both
 * must end alike, and what the result hands on (status text and error code
 * to the client, server and port, Auth-User/Auth-Pass to a backend) carries
 * no CR, LF or NUL. First byte odd: fuzzer strings as the untrusted request
 * values; a built request has exactly one header per line, and Auth-User/
 * Auth-Pass unescape to what was given, as does an auth_http_header with
 * variables. An OK's Auth-Method is one the SMTP backend login can follow.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/net.h"
#include "config/config_vars.h"
#include "test/fuzz/lib/fuzzb_input.h"
#include "worker/lookup/auth_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the response ---- */

/* Feeds msg as run() would: chunks from ch (all at once when ch is NULL), then EOF. */
static int
feed(const uint8_t *msg, size_t len, struct fuzzb_chunker *ch, struct auth_result *res)
{
	char *buf = malloc(AUTH_HTTP_MAX_RESPONSE + 1);
	size_t have = 0, given = 0;
	int rc;

	FUZZB_CHECK(buf != NULL, "out of memory");
	auth_result_clear(res);
	for (int calls = 0;; calls++) {
		size_t room = AUTH_HTTP_MAX_RESPONSE + 1 - have;
		size_t left = len - given < room ? len - given : room;
		size_t n = ch ? fuzzb_chunk(ch, left) : left;
		FUZZB_CHECK(room > 0, "the parser waits on a full buffer: auth_http.c fails it");
		FUZZB_CHECK(calls <= AUTH_HTTP_MAX_RESPONSE + 2, "the parser spins");
		memcpy(buf + have, msg + given, n);
		have += n;
		given += n;
		/* An exactly sized copy: a read past have is an ASan report. */
		char *copy = fuzzb_dup(buf, have);
		rc = auth_http_parse(copy, have, n == 0, res);
		free(copy);
		if (rc != AUTH_PARSE_AGAIN)
			break;
		FUZZB_CHECK(n > 0, "the parser still waits after EOF");
	}
	free(buf);
	FUZZB_CHECK(rc == AUTH_PARSE_DONE || rc == AUTH_PARSE_ERROR, "result %d", rc);
	FUZZB_CHECK((rc == AUTH_PARSE_ERROR) == (res->status == AUTH_ERROR && res->reason != NULL),
	    "result %d with status %d", rc, res->status);
	return rc;
}

/* A value that goes on the wire (a reply line, a backend command). */
static void
check_line_safe(const char *what, const char *v, size_t max)
{
	size_t n;

	if (v == NULL)
		return;
	n = strnlen(v, max);
	FUZZB_CHECK(n < max, "%s is not terminated", what);
	FUZZB_CHECK(strpbrk(v, "\r\n") == NULL, "%s carries CR or LF: \"%s\"", what, v);
}

static int
str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void
check_same(int rc1, const struct auth_result *a, int rc2, const struct auth_result *b)
{
	FUZZB_CHECK(rc1 == rc2, "split-fed %d, whole %d", rc1, rc2);
	FUZZB_CHECK(a->status == b->status, "status: split-fed %d, whole %d", a->status, b->status);
	if (rc1 == AUTH_PARSE_ERROR) {
		FUZZB_CHECK(strcmp(a->reason, b->reason) == 0, "error: split-fed \"%s\", whole \"%s\"",
		    a->reason, b->reason);
		return;
	}
	FUZZB_CHECK(strcmp(a->text, b->text) == 0 && strcmp(a->code, b->code) == 0 &&
	    a->wait == b->wait, "text/code/wait differ: \"%s\" \"%s\" %ld, whole \"%s\" \"%s\" %ld",
	    a->text, a->code, a->wait, b->text, b->code, b->wait);
	FUZZB_CHECK(a->have_server == b->have_server && a->have_port == b->have_port &&
	    memcmp(&a->server, &b->server, sizeof(a->server)) == 0, "server or port differ");
	FUZZB_CHECK(str_same(a->user, b->user) && str_same(a->pass, b->pass),
	    "Auth-User or Auth-Pass differ");
	FUZZB_CHECK(a->be_auth == b->be_auth, "Auth-Method differs");
	FUZZB_CHECK(a->header_len == b->header_len && a->content_length == b->content_length &&
	    a->reusable == b->reusable, "framing differs: %zu %ld %d, whole %zu %ld %d",
	    a->header_len, a->content_length, a->reusable, b->header_len, b->content_length,
	    b->reusable);
}

static void
check_done(const struct auth_result *r, size_t len)
{
	FUZZB_CHECK(r->status == AUTH_OK || r->status == AUTH_FAIL || r->status == AUTH_WAIT,
	    "status %d", r->status);
	FUZZB_CHECK(r->header_len > 0 && r->header_len <= len, "header_len %zu of %zu",
	    r->header_len, len);
	/* Auth-Status text goes to the client in a reply line, the code starts an SMTP one. */
	check_line_safe("Auth-Status text", r->text, sizeof(r->text));
	check_line_safe("Auth-Error-Code", r->code, sizeof(r->code));
	for (const char *c = r->code; *c; c++)
		FUZZB_CHECK(isdigit((unsigned char)*c) || *c == '.' || *c == ' ',
		    "Auth-Error-Code \"%s\"", r->code);
	check_line_safe("Auth-User", r->user, AUTH_HTTP_MAX_RESPONSE + 1);
	check_line_safe("Auth-Pass", r->pass, AUTH_HTTP_MAX_RESPONSE + 1);
	FUZZB_CHECK(r->wait >= -1 && r->wait <= 1000000, "Auth-Wait %ld", r->wait);
	FUZZB_CHECK(r->be_auth >= BE_AUTH_DEFAULT && r->be_auth <= BE_AUTH_INVALID,
	    "Auth-Method %d", r->be_auth);
	FUZZB_CHECK(r->content_length >= -2 && r->content_length <= 1000000000,
	    "Content-Length %ld", r->content_length);
	if (r->have_server)
		FUZZB_CHECK(r->server.ss_family == AF_INET || r->server.ss_family == AF_INET6,
		    "Auth-Server family %d", r->server.ss_family);
}

/* nginx's rules for an OK, for each protocol and method a session may ask with. */
static void
check_ok_rules(const struct auth_result *parsed)
{
	static const enum mail_proto protos[] = { MP_PROTO_IMAP, MP_PROTO_POP3, MP_PROTO_SMTP };
	static const unsigned methods[] = { AUTHM_PLAIN, AUTHM_APOP, AUTHM_CRAM_MD5, AUTHM_EXTERNAL,
		AUTHM_NONE };

	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 5; j++)
			for (int pw = 0; pw < 2; pw++) {
				struct auth_result r = *parsed;
				if (auth_http_check_ok(&r, protos[i], methods[j], pw) < 0) {
					FUZZB_CHECK(r.status == AUTH_ERROR && r.reason, "refused without a reason");
					continue;
				}
				int port = net_port((struct sockaddr *)&r.server);
				FUZZB_CHECK(r.have_server && r.have_port && port > 0 && port <= 65535 &&
				    (r.server.ss_family == AF_INET || r.server.ss_family == AF_INET6),
				    "an OK without a usable backend address (port %d)", port);
				/* What logs in to the backend: no CR, LF (or NUL, by construction). */
				check_line_safe("backend user", r.user, AUTH_HTTP_MAX_RESPONSE + 1);
				check_line_safe("backend password", r.pass, AUTH_HTTP_MAX_RESPONSE + 1);
				FUZZB_CHECK(protos[i] != MP_PROTO_SMTP || r.be_auth != BE_AUTH_INVALID,
				    "an SMTP OK with an Auth-Method the backend login cannot follow");
				FUZZB_CHECK(protos[i] == MP_PROTO_SMTP || r.pass != NULL || (pw &&
				    methods[j] != AUTHM_APOP && methods[j] != AUTHM_CRAM_MD5 &&
				    methods[j] != AUTHM_EXTERNAL), "an OK without a password to log in with");
			}
}

static void
fuzz_response(struct fuzzb_in *in)
{
	struct fuzzb_chunker ch;
	struct auth_result split, whole;
	int rc1, rc2;

	fuzzb_chunker_init(&ch, in);
	memset(&split, 0, sizeof(split));
	memset(&whole, 0, sizeof(whole));
	rc1 = feed(in->p, in->n, &ch, &split);
	rc2 = feed(in->p, in->n, NULL, &whole);
	check_same(rc1, &split, rc2, &whole);
	if (rc2 == AUTH_PARSE_DONE) {
		check_done(&whole, in->n);
		if (whole.status == AUTH_OK)
			check_ok_rules(&whole);
	}
	auth_result_clear(&split);
	auth_result_clear(&whole);
}

/* ---- the request ---- */

/* The next NUL-terminated string of the input (the rest when there is no NUL). */
static char *
next_string(struct fuzzb_in *in)
{
	const uint8_t *nul = memchr(in->p, 0, in->n);
	size_t n = nul ? (size_t)(nul - in->p) : in->n, got;
	const uint8_t *p = fuzzb_bytes(in, n, &got);
	char *s = malloc(got + 1);

	FUZZB_CHECK(s != NULL, "out of memory");
	memcpy(s, p, got);
	s[got] = '\0';
	if (nul)
		fuzzb_u8(in);
	return s;
}

static int
unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The value of the header name in the request, %XX-decoded, equals want. */
static void
check_escaped(const char *req, const char *name, const char *want)
{
	const char *v = strstr(req, name), *end;
	size_t i = 0;

	FUZZB_CHECK(v != NULL, "no %s header", name);
	v += strlen(name);
	end = strstr(v, "\r\n");
	for (; v < end; v++, i++) {
		char c = *v;
		/* nginx's escaping: bytes below 0x20, space and '%' never go out raw. */
		FUZZB_CHECK((unsigned char)c > 0x20, "%s: byte 0x%02x unescaped", name, (unsigned char)c);
		if (c == '%') {
			FUZZB_CHECK(end - v >= 3 && unhex(v[1]) >= 0 && unhex(v[2]) >= 0,
			    "%s: a bad escape", name);
			c = (char)(unhex(v[1]) << 4 | unhex(v[2]));
			v += 2;
		}
		FUZZB_CHECK(want[i] == c, "%s does not decode to what was given", name);
	}
	FUZZB_CHECK(want[i] == '\0', "%s is cut short", name);
}

/* Every line but the last ends in CRLF and is "Name: value" with no CR or LF inside. */
static void
check_request(const char *req, size_t len)
{
	static const char *const once[] = { "Host", "Auth-Method", "Auth-User", "Auth-Pass",
		"Auth-Salt", "Auth-Protocol", "Auth-Login-Attempt", "Client-IP", "Client-Host",
		"Auth-SMTP-Helo", "Auth-SMTP-From", "Auth-SMTP-To", "Auth-SSL", "Auth-SSL-Protocol",
		"Auth-SSL-Cipher", "Auth-SSL-Verify", "Auth-SSL-Subject", "Auth-SSL-Issuer",
		"Auth-SSL-Serial", "Auth-SSL-Fingerprint", "Auth-SSL-Cert", "Proxy-Protocol-Addr",
		"Proxy-Protocol-Port", "Proxy-Protocol-Server-Addr", "Proxy-Protocol-Server-Port",
		"Connection", "Client-Port", "Auth-SSL-Fingerprint-SHA256", "X-Vars" };
	int seen[sizeof(once) / sizeof(once[0])] = { 0 };
	const char *p = req, *end = req + len;

	FUZZB_CHECK(strlen(req) == len, "a NUL inside the request");
	FUZZB_CHECK(len >= 4 && memcmp(end - 4, "\r\n\r\n", 4) == 0, "the request does not end in a blank line");
	p = strstr(p, "\r\n") + 2;	/* the request line */
	while (p < end - 2) {
		const char *eol = strstr(p, "\r\n"), *colon = memchr(p, ':', (size_t)(eol - p));
		FUZZB_CHECK(eol != NULL && colon != NULL && colon > p, "a header line without a name");
		FUZZB_CHECK(memchr(p, '\r', (size_t)(eol - p)) == NULL && memchr(p, '\n', (size_t)(eol - p)) == NULL,
		    "CR or LF inside a header line");
		size_t i;
		for (i = 0; i < sizeof(once) / sizeof(once[0]); i++)
			if (strlen(once[i]) == (size_t)(colon - p) && memcmp(p, once[i], (size_t)(colon - p)) == 0)
				break;
		FUZZB_CHECK(i < sizeof(once) / sizeof(once[0]), "an unexpected header \"%.*s\"",
		    (int)(colon - p), p);
		FUZZB_CHECK(!seen[i]++, "header %s twice", once[i]);
		p = eol + 2;
	}
}

static void
fuzz_request(struct fuzzb_in *in)
{
	static struct srv_conf conf;
	static struct arena ar;
	static struct cvalue cv;
	static struct kv hdr = { "X-Vars", "<$ssl_server_name|${remote_addr}|$remote_port>", &cv };
	struct auth_params p;
	char *s[21];
	uint8_t flags = fuzzb_u8(in);
	struct buf b = { 0 };

	memset(&p, 0, sizeof(p));
	conf.auth_http.uri = "/auth";
	conf.auth_http.host = "127.0.0.1";
	if (cv.n == 0) {
		char err[128];
		size_t pos;
		arena_init(&ar, 1024);
		FUZZB_CHECK(cvalue_compile(hdr.value, &ar, &cv, &pos, err, sizeof(err)) == 0, "%s", err);
		conf.auth_http_header.n = 1;
		conf.auth_http_header.v = &hdr;
	}
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		s[i] = next_string(in);
	static const unsigned methods[] = { AUTHM_PLAIN, AUTHM_LOGIN, AUTHM_APOP, AUTHM_CRAM_MD5,
		AUTHM_EXTERNAL, AUTHM_NONE, AUTHM_PLAIN, AUTHM_NONE };
	p.method = methods[flags & 7];
	p.protocol = (flags >> 3 & 3) == 0 ? MP_PROTO_SMTP : (flags >> 3 & 3) == 1 ? MP_PROTO_IMAP :
	    MP_PROTO_POP3;
	p.ssl = flags >> 5 & 1;
	p.attempt = flags;
	p.login = s[0];
	p.passwd = s[1];
	p.salt = s[2];
	p.client_ip = s[3];
	p.client_host = flags & 0x40 ? s[4] : NULL;
	p.smtp_helo = s[5];
	p.smtp_from = s[6];
	p.smtp_to = s[7];
	p.ssl_protocol = s[8];
	p.ssl_cipher = s[9];
	p.ssl_verify = s[10];
	p.ssl_subject = s[11];
	p.ssl_issuer = s[12];
	p.ssl_serial = s[13];
	p.ssl_fingerprint = s[14];
	p.ssl_cert = s[15];
	p.client_port = s[18];
	p.ssl_server_name = s[19];
	p.ssl_fingerprint_sha256 = s[20];
	if (flags & 0x80) {
		p.pp_addr = s[16];
		p.pp_port = s[17];
		p.pp_server_addr = s[3];
		p.pp_server_port = s[17];
	}
	int rc = auth_http_build(&b, &conf, &p, flags & 1);
	FUZZB_CHECK(rc == 0 || rc == -1, "auth_http_build: %d", rc);
	if (rc == 0) {
		FUZZB_CHECK(buf_append(&b, "", 1) == 0, "out of memory");
		check_request(buf_rptr(&b), buf_len(&b) - 1);
		check_escaped(buf_rptr(&b), "\r\nAuth-User: ", p.login);
		check_escaped(buf_rptr(&b), "\r\nAuth-Pass: ",
		    p.method == AUTHM_EXTERNAL ? "" : p.passwd);
		/* Variables are escaped as Auth-User is: they decode to the values. */
		size_t wl = strlen(s[19]) + strlen(s[3]) + strlen(s[18]) + 5;
		char *want = malloc(wl);
		FUZZB_CHECK(want != NULL, "out of memory");
		snprintf(want, wl, "<%s|%s|%s>", s[19], s[3], s[18]);
		check_escaped(buf_rptr(&b), "\r\nX-Vars: ", want);
		free(want);
	}
	buf_release(&b);
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		free(s[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzzb_in in = { data, size };

	if (fuzzb_u8(&in) & 1)
		fuzz_request(&in);
	else
		fuzz_response(&in);
	return 0;
}
