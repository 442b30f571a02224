/*
 * The client side of the mail machine harnesses (see fuzz_mail.h): servers
 * loaded once, a fake connection that hands the machine a client buffer of
 * ctx.bufsize bytes exactly as session.c's preauth_run() does, and a fake
 * auth service that checks what a login would send it and answers as the
 * input's header says. Everything a run shows is written to a transcript so
 * a whole and a split run can be compared byte for byte.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/fuzz/lib/fuzz_mail.h"
#include "worker/lookup/auth_http.h"
#include "worker/proto/sasl.h"

void
fm_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz property violated: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

const char *
fm_show(const char *p, size_t n)
{
	static char s[1024];
	size_t o = 0;

	for (size_t i = 0; i < n && i < 200 && o + 5 < sizeof(s); i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r' || c == '\n') {
			s[o++] = '\\';
			s[o++] = c == '\r' ? 'r' : 'n';
		} else if (c < 0x20 || c >= 0x7f || c == '\\') {
			o += (size_t)snprintf(s + o, sizeof(s) - o, "\\x%02x", c);
		} else {
			s[o++] = (char)c;
		}
	}
	s[o] = '\0';
	return s;
}

void
fm_check_lines(const char *what, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\0')
			fm_fail("%s: NUL at byte %zu of \"%s\"", what, i, fm_show(p, n));
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			fm_fail("%s: bare CR at byte %zu of \"%s\"", what, i, fm_show(p, n));
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			fm_fail("%s: bare LF at byte %zu of \"%s\"", what, i, fm_show(p, n));
	}
	if (n > 0 && p[n - 1] != '\n')
		fm_fail("%s: does not end in CRLF: \"%s\"", what, fm_show(p, n));
}

void
fm_check_field(const char *what, const char *s)
{
	if (s != NULL && strpbrk(s, "\r\n") != NULL)
		fm_fail("%s carries CR or LF: \"%s\"", what, fm_show(s, strlen(s)));
}

/* ---- servers ---- */

/* Per protocol: the port that selects it and four sets of methods. */
static const struct {
	const char *port;
	const char *methods[4];
} yaml_of[] = {
	[MP_PROTO_IMAP] = { "143", { NULL,
	    "      imap_auth: [plain, login, cram-md5, external]\n"
	    "      imap_capabilities: [IMAP4rev1, SASL-IR, ID, LITERAL+]\n",
	    "      imap_auth: [login, cram-md5]\n",
	    "      imap_auth: external\n" } },
	[MP_PROTO_POP3] = { "110", { NULL,
	    "      pop3_auth: [plain, apop, cram-md5, external]\n",
	    "      pop3_auth: apop\n",
	    "      pop3_auth: [cram-md5, external]\n" } },
	[MP_PROTO_SMTP] = { "25", { NULL,
	    "      smtp_auth: [login, plain, cram-md5, external, none]\n",
	    "      smtp_auth: none\n",
	    "      smtp_auth: [plain, cram-md5]\n" } },
	[MP_PROTO_SIEVE] = { "4190", { NULL,
	    "      sieve_auth: [plain, login]\n",
	    "      sieve_auth: login\n      sieve_capabilities: [VERSION]\n",
	    "      sieve_capabilities: []\n" } },
};

static struct config *servers[MP_PROTO_SIEVE + 1][4];
static struct proto_rt *rts[MP_PROTO_SIEVE + 1][4];

static struct config *
load(enum mail_proto p, unsigned v)
{
	char dir[] = "/tmp/mp-fuzz-XXXXXX", path[64], yaml[1024], err[1024];
	struct config *cf;
	FILE *f;

	if (mkdtemp(dir) == NULL)
		fm_fail("harness: mkdtemp failed");
	snprintf(path, sizeof(path), "%s/t.yaml", dir);
	snprintf(yaml, sizeof(yaml), "mail:\n  auth_http: 127.0.0.1:9000/auth\n"
	    "  server_name: mx.example.com\n  servers:\n    - listen: \"%s\"\n%s",
	    yaml_of[p].port, yaml_of[p].methods[v] ? yaml_of[p].methods[v] : "");
	if ((f = fopen(path, "w")) == NULL || fputs(yaml, f) < 0 || fclose(f) != 0)
		fm_fail("harness: cannot write %s", path);
	cf = config_load(path, dir, NULL, err, sizeof(err));
	unlink(path);
	rmdir(dir);
	if (cf == NULL || cf->nservers != 1 || cf->servers[0].protocol != p)
		fm_fail("harness: server %d/%u does not load: %s", p, v, cf ? "" : err);
	return cf;
}

const struct srv_conf *
fm_server(enum mail_proto p, unsigned variant, const struct proto_rt **rt)
{
	variant &= 3;
	if (servers[p][variant] == NULL) {
		servers[p][variant] = load(p, variant);
		rts[p][variant] = proto_rt_build(servers[p][variant]);
		if (rts[p][variant] == NULL)
			fm_fail("harness: proto_rt_build failed");
	}
	*rt = rts[p][variant];
	return &servers[p][variant]->servers[0];
}

/* ---- input ---- */

void
fm_input(struct fm_input *in, const uint8_t *data, size_t size)
{
	size_t k;

	memset(in, 0, sizeof(*in));
	for (k = 0; k < 4 && k < size; k++)
		in->h[k] = data[k];
	data += k;
	size -= k;
	if (size > 0) {
		in->nchunks = data[0] & 15;
		data++;
		size--;
	}
	if (in->nchunks > size)
		in->nchunks = size;
	in->chunks = data;
	in->data = data + in->nchunks;
	in->len = size - in->nchunks;
}

size_t
fm_chunk(const struct fm_input *in, size_t i)
{
	return in->nchunks ? (size_t)in->chunks[i % in->nchunks] + 1 : 1;
}

/* ---- transcript ---- */

void
fm_rec(struct fm *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&m->rec, fmt, ap);
	va_end(ap);
	buf_puts(&m->rec, "\n");
}

void
fm_same(const struct fm *a, const struct fm *b, const char *what)
{
	/* FM_TRACE=1 shows what a run did (to see what a corpus file exercises). */
	if (getenv("FM_TRACE") != NULL)
		fprintf(stderr, "%.*s", (int)buf_len(&a->rec), buf_rptr(&a->rec));
	size_t n = buf_len(&a->rec) < buf_len(&b->rec) ? buf_len(&a->rec) : buf_len(&b->rec), i;
	const char *x = buf_rptr(&a->rec), *y = buf_rptr(&b->rec);

	if (buf_len(&a->rec) == buf_len(&b->rec) && (n == 0 || memcmp(x, y, n) == 0))
		return;
	for (i = 0; i < n && x[i] == y[i]; i++)
		;
	i = i > 80 ? i - 80 : 0;
	fprintf(stderr, "first run from byte %zu: \"%s\"\n", i, fm_show(x + i, buf_len(&a->rec) - i));
	fprintf(stderr, "other run from byte %zu: \"%s\"\n", i, fm_show(y + i, buf_len(&b->rec) - i));
	fm_fail("%s runs differ", what);
}

/*
 * Records replies with the random salt (raw and in base64) replaced, so
 * two runs compare; IMAP's literal go-ahead "+ OK" is left out, as it
 * depends on where the reads fall by design.
 */
static void
rec_replies(struct fm *m, const char *p, size_t n)
{
	const char *salts[2] = { m->ctx.cr.salt, NULL };
	char *pat[4] = { NULL };
	struct buf text = { 0 };
	size_t npat = 0;

	if (n == 0)
		return;
	if (m->proto == &pop3_proto)
		salts[1] = m->ctx.u.pop3.salt;
	for (int i = 0; i < 2; i++)
		if (salts[i] != NULL && salts[i][0] != '\0') {
			pat[npat++] = strdup(salts[i]);
			pat[npat++] = b64_encode_dup(salts[i], strlen(salts[i]));
		}
	for (size_t i = 0; i < n;) {
		const char *lf = memchr(p + i, '\n', n - i);
		size_t ll = lf ? (size_t)(lf - (p + i)) + 1 : n - i;
		if (m->proto == &imap_proto && ll == 6 && memcmp(p + i, "+ OK\r\n", 6) == 0) {
			i += ll;
			continue;
		}
		for (size_t end = i + ll; i < end;) {
			size_t k, pl = 0;
			for (k = 0; k < npat; k++) {
				pl = pat[k] ? strlen(pat[k]) : 0;
				if (pl > 0 && pl <= end - i && memcmp(p + i, pat[k], pl) == 0)
					break;
			}
			if (k < npat) {
				buf_puts(&text, "<SALT>");
				i += pl;
			} else {
				buf_append(&text, p + i, 1);
				i++;
			}
		}
	}
	if (buf_len(&text) > 0) {
		buf_puts(&m->rec, "out ");
		buf_append(&m->rec, buf_rptr(&text), buf_len(&text));
		buf_puts(&m->rec, "\n");
	}
	buf_release(&text);
	for (size_t k = 0; k < npat; k++)
		free(pat[k]);
}

/* What the machine queued for the client since mark: whole clean lines; recorded, drained. */
static void
replies(struct fm *m, size_t mark, const char *after)
{
	size_t n = buf_len(&m->out) - mark;
	char what[96];

	snprintf(what, sizeof(what), "reply to the client after %s", after);
	fm_check_lines(what, buf_rptr(&m->out) + mark, n);
	rec_replies(m, buf_rptr(&m->out) + mark, n);
	buf_reset(&m->out);
}

/* ---- opening ---- */

void
fm_open(struct fm *m, enum mail_proto p, const struct fm_input *fi, int split)
{
	static const size_t bufsizes[] = { 0, 256, 64, 24 };
	static const unsigned max_errors[] = { 0, 1, 3, 1000 };
	static const unsigned max_commands[] = { 0, 0, 2, 10 };
	struct sockaddr_in *c4 = (struct sockaddr_in *)&m->caddr, *l4 = (struct sockaddr_in *)&m->laddr;
	struct sockaddr_in6 *c6 = (struct sockaddr_in6 *)&m->caddr;
	const struct proto_rt *rt;
	const struct srv_conf *base = fm_server(p, fi->h[0] & 3, &rt);
	struct proto_ctx *ctx = &m->ctx;

	memset(m, 0, sizeof(*m));
	m->proto = proto_for(p);
	m->fi = fi;
	m->split = split;
	m->on_login = fm_backend_willing;
	m->conf = *base;
	/* h[0]: methods, starttls (off, on, only, implicit TLS), buffer, max_errors. */
	m->conf.starttls = (fi->h[0] >> 2 & 3) == 0 ? STARTTLS_OFF :
	    (fi->h[0] >> 2 & 3) == 2 ? STARTTLS_ONLY : STARTTLS_ON;
	if (max_errors[fi->h[0] >> 6])
		m->conf.max_errors = max_errors[fi->h[0] >> 6];
	/* h[1]: the backend side (fuzz_mail_be.c reads bits 4 and 5). */
	m->conf.imap_id_forward = fi->h[1] & 1;
	m->conf.xclient = fi->h[1] >> 1 & 1;
	m->conf.proxy_smtp_auth = fi->h[1] >> 2 & 1;
	m->conf.proxy_starttls = fi->h[1] >> 3 & 1;
	/* h[3]: max_commands, the client's address and host name (bit 4: see auth_ok()). */
	if (fi->h[3] & 3)
		m->conf.max_commands = max_commands[fi->h[3] & 3];

	if (fi->h[3] & 4) {
		c6->sin6_family = AF_INET6;
		c6->sin6_port = htons(50123);
		inet_pton(AF_INET6, "2001:db8::7", &c6->sin6_addr);
	} else {
		c4->sin_family = AF_INET;
		c4->sin_port = htons(50123);
		inet_pton(AF_INET, "192.0.2.7", &c4->sin_addr);
	}
	l4->sin_family = AF_INET;
	l4->sin_port = htons(143);
	inet_pton(AF_INET, "198.51.100.1", &l4->sin_addr);

	ctx->conf = &m->conf;
	ctx->rt = rt;
	ctx->out = &m->out;
	ctx->bout = &m->bout;
	ctx->bufsize = p == MP_PROTO_IMAP ? m->conf.imap_client_buffer :
	    p == MP_PROTO_POP3 ? m->conf.pop3_client_buffer :
	    p == MP_PROTO_SIEVE ? m->conf.sieve_client_buffer : m->conf.smtp_client_buffer;
	if (bufsizes[fi->h[0] >> 4 & 3])
		ctx->bufsize = bufsizes[fi->h[0] >> 4 & 3];
	ctx->tls = (fi->h[0] >> 2 & 3) == 3;
	ctx->client_addr = (struct sockaddr *)&m->caddr;
	ctx->local_addr = (struct sockaddr *)&m->laddr;
	ctx->client_host = fi->h[3] & 8 ? "client.example.org" : NULL;

	if (m->proto->greeting(ctx) < 0)
		fm_fail("the greeting failed");
	replies(m, 0, "the greeting");
	if (buf_len(&m->bout) != 0)
		fm_fail("the greeting sent something to the backend");
}

void
fm_close(struct fm *m)
{
	m->proto->free(&m->ctx);
	creds_clear(&m->ctx.cr);
	buf_release(&m->out);
	buf_release(&m->bout);
	buf_release(&m->in);
	buf_release(&m->rec);
	buf_release(&m->be.bin);
	buf_release(&m->be.sent);
	buf_release(&m->be.replies);
}

/* ---- the fake auth service ---- */

static int
is_hex32(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') ||
		    (s[n] >= 'A' && s[n] <= 'F')))
			return 0;
	return n == 32;
}

/*
 * What the session would hand auth_http_start(): no CR or LF anywhere (a
 * NUL cannot be seen in a C string, but the request text is checked), the
 * fields each method needs, and a request auth_http_build() accepts.
 */
static void
check_auth_request(struct fm *m)
{
	const struct creds *cr = &m->ctx.cr;
	struct auth_params p;
	struct buf req = { 0 };

	fm_check_field("login for auth_http", cr->login);
	fm_check_field("password for auth_http", cr->passwd);
	fm_check_field("salt for auth_http", cr->salt);
	fm_check_field("SMTP HELO for auth_http", cr->helo);
	fm_check_field("SMTP MAIL for auth_http", cr->from);
	fm_check_field("SMTP RCPT for auth_http", cr->to);
	switch (cr->method) {
	case AUTHM_PLAIN:
	case AUTHM_LOGIN:
		if (cr->login == NULL || cr->passwd == NULL)
			fm_fail("plain login without a login or a password");
		break;
	case AUTHM_APOP:
	case AUTHM_CRAM_MD5:
		if (cr->login == NULL || cr->passwd == NULL || cr->salt == NULL || !is_hex32(cr->passwd))
			fm_fail("APOP/CRAM-MD5 login without login, salt or 32-digit digest");
		break;
	case AUTHM_EXTERNAL:
		if (cr->login == NULL)
			fm_fail("EXTERNAL login without a login");
		break;
	case AUTHM_NONE:
		if (m->proto != &smtp_proto || cr->from == NULL || cr->to == NULL)
			fm_fail("smtp_auth none without MAIL and RCPT");
		break;
	default:
		fm_fail("login with method %u", cr->method);
	}
	memset(&p, 0, sizeof(p));
	p.method = cr->method;
	p.login = cr->login;
	p.passwd = cr->passwd;
	p.salt = cr->salt;
	p.protocol = m->conf.protocol;
	p.attempt = m->ctx.login_attempt;
	p.client_ip = m->caddr.ss_family == AF_INET6 ? "2001:db8::7" : "192.0.2.7";
	p.client_host = m->ctx.client_host;
	p.smtp_helo = cr->helo;
	p.smtp_from = cr->from;
	p.smtp_to = cr->to;
	if (auth_http_build(&req, &m->conf, &p, m->attempts & 1) < 0)
		fm_fail("auth_http_build refused the login's request");
	fm_check_lines("auth_http request", buf_rptr(&req), buf_len(&req));
	buf_release(&req);
	fm_rec(m, "auth method=%u login=%s pass=%s salt=%s helo=%s from=%s to=%s attempt=%u",
	    cr->method, cr->login ? cr->login : "-", cr->passwd ? cr->passwd : "-",
	    cr->salt ? "<SALT>" : "-", cr->helo ? cr->helo : "-", cr->from ? cr->from : "-",
	    cr->to ? cr->to : "-", m->ctx.login_attempt);
}

/* The auth service said no; as session.c's auth_failed_reply(). */
static void
auth_failed(struct fm *m, const char *text, const char *code, int retry)
{
	enum proto_action a;

	creds_clear(&m->ctx.cr);
	a = m->proto->auth_failed(&m->ctx, text, code, retry);
	replies(m, 0, "a failed login");
	fm_rec(m, "auth failed retry=%d -> %d", retry, a);
	if (a == PA_CLOSE)
		m->closed = 1;
	else if (a != PA_OK)
		fm_fail("auth_failed returned %d", a);
}

/* The service's OK, through auth_http_check_ok() as session.c's auth_done(). */
static void
auth_ok(struct fm *m)
{
	struct auth_result res;
	const struct creds *cr = &m->ctx.cr;
	int no_pw = cr->method == AUTHM_APOP || cr->method == AUTHM_CRAM_MD5 ||
	    cr->method == AUTHM_EXTERNAL;

	memset(&res, 0, sizeof(res));
	res.status = AUTH_OK;
	res.have_server = res.have_port = 1;
	res.wait = -1;
	/* Auth-Pass where the client gave no password, unless h[3] bit 4 says the service forgets. */
	res.user = (char *)m->auth_user;
	res.pass = (char *)(m->auth_pass ? m->auth_pass :
	    no_pw && !(m->fi->h[3] & 16) ? "pass-from-auth" : NULL);
	if (auth_http_check_ok(&res, m->conf.protocol, cr->method, cr->passwd != NULL) < 0) {
		fm_rec(m, "auth ok refused: %s", res.reason);
		m->closed = 1;
		return;
	}
	/* As session.c's auth_done(): a digest or EXTERNAL is no password for the backend. */
	m->ctx.be_login = res.user ? res.user : cr->login ? cr->login : "";
	m->ctx.be_passwd = res.pass ? res.pass : no_pw ? NULL : cr->passwd;
	/* SMTP: the service's Auth-Method, h[3] bits 5-6: none given, plain, login, none. */
	if (m->conf.protocol == MP_PROTO_SMTP)
		m->ctx.be_auth = (uint8_t)(m->fi->h[3] >> 5 & 3);
	fm_rec(m, "auth ok user=%s pass=%s", m->ctx.be_login,
	    m->ctx.be_passwd ? m->ctx.be_passwd : "(none)");
	fm_backend_begin(m);
	m->on_login(m);
	m->closed = 1;
}

/*
 * h[2] answers the logins, two bits each, cycling after four: fail and let
 * the client retry; Auth-Wait, then the same; fail and close; OK.
 */
static void
auth(struct fm *m)
{
	unsigned d = m->fi->h[2] >> (2 * (m->attempts++ % 4)) & 3;

	m->ctx.login_attempt++;
	check_auth_request(m);
	switch (d) {
	case 0:
		auth_failed(m, "Authentication failed", NULL, 1);
		break;
	case 1:
		/* Auth-Status: WAIT: the same credentials are asked for again. */
		check_auth_request(m);
		auth_failed(m, "Temporary failure, try later", "451 4.3.0", 1);
		break;
	case 2:
		auth_failed(m, "Go away", "535 5.7.8", 0);
		break;
	default:
		auth_ok(m);
		break;
	}
}

/* ---- feeding the client's bytes ---- */

enum { RUN_MORE, RUN_STARTTLS };

static const char *const action_names[] = { "OK", "AGAIN", "AUTH", "STARTTLS", "CLOSE" };

/* preauth_run()'s inner loop: the machine takes commands until it waits for more. */
static int
run(struct fm *m)
{
	size_t cap = m->ctx.bufsize;

	while (buf_len(&m->in) > 0 && !m->closed) {
		size_t len = buf_len(&m->in), used = 0;
		int full = len >= cap;
		/* An exactly sized copy at a new place each call: reads past it or
		 * pointers kept into the last one show up under ASan. */
		char *copy = malloc(len);
		enum proto_action a;

		if (copy == NULL)
			fm_fail("harness: out of memory");
		memcpy(copy, buf_rptr(&m->in), len);
		a = m->proto->input(&m->ctx, copy, len, full, &used);
		free(copy);
		if ((unsigned)a > PA_CLOSE)
			fm_fail("input returned %d", a);
		if (++m->calls > 2 * m->fed + m->segments + 64)
			fm_fail("the machine spins: %zu calls for %zu bytes", m->calls, m->fed);
		replies(m, 0, action_names[a]);
		if (used > len)
			fm_fail("input consumed %zu of %zu bytes", used, len);
		if (a == PA_AGAIN) {
			if (used != 0)
				fm_fail("PA_AGAIN with %zu bytes consumed", used);
			if (full)
				fm_fail("PA_AGAIN on a full buffer (%zu bytes): the session would spin", len);
			return RUN_MORE;
		}
		if (used == 0 && a != PA_CLOSE)
			fm_fail("action %s with nothing consumed: the session would spin", action_names[a]);
		buf_consume(&m->in, used);
		fm_rec(m, "%s reason=%s", action_names[a], m->ctx.reason ? m->ctx.reason : "-");
		m->ctx.reason = NULL;
		switch (a) {
		case PA_CLOSE:
			m->closed = 1;
			break;
		case PA_STARTTLS:
			return RUN_STARTTLS;
		case PA_AUTH:
			auth(m);
			break;
		default:
			break;
		}
	}
	return RUN_MORE;
}

/* One segment: read as the session reads (all that fits, or the input's chunk sizes). */
static void
segment(struct fm *m, const uint8_t *seg, size_t n)
{
	size_t pos = 0, cap = m->ctx.bufsize;

	m->segments++;
	while (!m->closed) {
		if (run(m) == RUN_STARTTLS) {
			/* session.c drops what was pipelined after STARTTLS; the rest of
			 * the segment would have been the handshake. */
			buf_reset(&m->in);
			m->ctx.tls = 1;
			if (m->proto->tls_up != NULL) {
				if (m->proto->tls_up(&m->ctx) < 0)
					fm_fail("tls_up failed");
				replies(m, 0, "the STARTTLS handshake");
			}
			return;
		}
		if (m->closed || pos == n)
			return;
		size_t k = n - pos, room = cap - buf_len(&m->in);
		if (m->split && k > fm_chunk(m->fi, m->nchunk))
			k = fm_chunk(m->fi, m->nchunk);
		m->nchunk++;
		if (k > room)
			k = room;
		if (k == 0)
			fm_fail("the client buffer is full and the machine waits for more");
		if (buf_append(&m->in, seg + pos, k) < 0)
			fm_fail("harness: out of memory");
		pos += k;
		m->fed += k;
	}
}

void
fm_client(struct fm *m, const uint8_t *data, size_t len)
{
	const struct proto_ctx *ctx = &m->ctx;

	while (!m->closed) {
		const uint8_t *end = memmem(data, len, FM_SEGMENT, sizeof(FM_SEGMENT) - 1);
		size_t n = end ? (size_t)(end - data) : len;

		segment(m, data, n);
		if (end == NULL)
			break;
		data += n + sizeof(FM_SEGMENT) - 1;
		len -= n + sizeof(FM_SEGMENT) - 1;
	}
	fm_rec(m, "end closed=%d state=%u sasl=%u errors=%u attempts=%u tls=%u unread=%zu tag=%s",
	    m->closed, ctx->state, ctx->sasl, ctx->errors, ctx->login_attempt, ctx->tls,
	    m->closed ? 0 : buf_len(&m->in),
	    m->proto == &imap_proto ? ctx->u.imap.tag : "-");
}

void
fm_machine(enum mail_proto p, const uint8_t *data, size_t size)
{
	struct fm_input fi;
	struct fm whole, split;

	fm_input(&fi, data, size);
	fm_open(&whole, p, &fi, 0);
	fm_client(&whole, fi.data, fi.len);
	fm_open(&split, p, &fi, 1);
	fm_client(&split, fi.data, fi.len);
	fm_same(&whole, &split, "whole-fed and split-fed");
	fm_close(&whole);
	fm_close(&split);
}
