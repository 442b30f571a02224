/*
 * The backend side of the mail harnesses (see fuzz_mail.h): backend lines
 * handed to a backend-login machine as backend.c hands them, a willing
 * backend that answers every command, and the check of what the machine
 * sends - whole lines, no NUL, and the credentials exactly as the auth
 * service gave them (IMAP literals, USER/PASS, AUTH PLAIN, XCLIENT xtext).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "test/fuzz/lib/fuzz_mail.h"
#include "worker/proto/auth_http_proto.h"
#include "worker/proto/sasl.h"
#include "worker/session/backend_facts.h"

/*
 * backend.c reads into a buffer of at most 8192 bytes, so a line of up to
 * 8191 bytes before its LF passes however its bytes arrive, and 8192 bytes
 * of a line without its LF are refused.
 */
#define BE_LINE_MAX 8191

static const char *const ba_names[] = {
	"CONTINUE", "DONE", "REFUSED", "INVALID", "STARTTLS", "ERROR",
};

/* The password the backend must get; a command carrying one when there is none is wrong. */
static const char *
passwd(const struct fm *m)
{
	if (m->ctx.be_passwd == NULL)
		fm_fail("a password went to the backend, but the login has none");
	return m->ctx.be_passwd;
}

void
fm_backend_begin(struct fm *m)
{
	struct fm_be *be = &m->be;
	int known = m->fi->h[1] >> 5 & 1;

	be->offers = m->fi->h[1] >> 4 & 1;
	be->facts = 0;
	if (known && m->proto == &pop3_proto)
		be->facts = BF_POP3_CAPA | (be->offers ? BF_POP3_PIPELINING : 0);
	else if (known && m->proto == &smtp_proto)
		be->facts = BF_SMTP_EHLO_FIRST;
	m->ctx.be_facts = (uint8_t)be->facts;
	m->ctx.be_state = 0;
	m->ctx.be_lines = 0;
	buf_reset(&m->out);
	buf_reset(&m->bout);
}

static int
eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

static void
reply(struct fm *m, const char *text)
{
	if (m->be.willing)
		buf_puts(&m->be.replies, text);
}

/* ---- IMAP: commands with literals ---- */

/* "{n}" or "{n+}" at the end of line[0..n): the length, *brace where it starts; or -1. */
static long
literal_at_end(const char *line, size_t n, int *plus, size_t *brace)
{
	size_t i, end;
	long v = 0;

	if (n < 3 || line[n - 1] != '}')
		return -1;
	end = n - 1;
	*plus = line[end - 1] == '+';
	if (*plus)
		end--;
	i = end;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == 0 || i == end || line[i - 1] != '{' || end - i > 9)
		return -1;
	for (size_t k = i; k < end; k++)
		v = v * 10 + (line[k] - '0');
	*brace = i - 1;
	return v;
}

struct piece {
	const char *p;
	size_t n;
};

/* One whole IMAP command: texts[k] before literal k, texts[nlit] after the last. */
static void
imap_command(struct fm *m, const struct piece *texts, const struct piece *lits, int nlit)
{
	const char *ctag = m->ctx.u.imap.tag[0] ? m->ctx.u.imap.tag : "a ";
	const struct piece *t0 = &texts[0];
	size_t tl = strlen(ctag);
	char head[64];

	if (t0->n >= 5 && memcmp(t0->p, "mpst ", 5) == 0) {
		if (nlit != 0 || !eq(t0->p, t0->n, "mpst STARTTLS"))
			fm_fail("IMAP STARTTLS to the backend: \"%s\"", fm_show(t0->p, t0->n));
		reply(m, "mpst OK Begin TLS negotiation now\r\n");
		return;
	}
	if (t0->n >= 8 && memcmp(t0->p, "mpid ID ", 8) == 0) {
		if (nlit != 0)
			fm_fail("IMAP ID to the backend with a literal");
		reply(m, "* ID NIL\r\nmpid OK ID completed\r\n");
		return;
	}
	/* "TAG LOGIN {u}" login " {p}" password "" */
	snprintf(head, sizeof(head), "%sLOGIN ", ctag);
	if (nlit != 2 || !eq(t0->p, t0->n, head) || !eq(texts[1].p, texts[1].n, " ") ||
	    texts[2].n != 0)
		fm_fail("IMAP command to the backend is no LOGIN under the client's tag \"%.*s\": \"%s\"",
		    (int)tl - 1, ctag, fm_show(t0->p, t0->n));
	if (!eq(lits[0].p, lits[0].n, m->ctx.be_login) || !eq(lits[1].p, lits[1].n, passwd(m)))
		fm_fail("IMAP LOGIN literals are not the credentials: \"%s\"",
		    fm_show(lits[0].p, lits[0].n));
	m->be.logins++;
	reply(m, "* CAPABILITY IMAP4rev1 IDLE\r\n");
	reply(m, ctag);
	reply(m, "OK Logged in\r\n");
}

/* Takes apart the whole IMAP commands in sent; asks for the go-ahead of a waiting literal. */
static void
imap_sent(struct fm *m)
{
	struct fm_be *be = &m->be;

	for (;;) {
		const char *base = buf_rptr(&be->sent) + be->checked;
		size_t total = buf_len(&be->sent) - be->checked, i = 0;
		struct piece texts[4], lits[3];
		int nlit = 0;

		if (total == 0)
			return;
		for (;;) {
			const char *crlf = memmem(base + i, total - i, "\r\n", 2);
			size_t ll, brace = 0;
			long n;
			int plus = 0;

			if (crlf == NULL)
				return;	/* the rest follows a go-ahead */
			ll = (size_t)(crlf - (base + i));
			n = literal_at_end(base + i, ll, &plus, &brace);
			if (n < 0) {
				texts[nlit].p = base + i;
				texts[nlit].n = ll;
				i += ll + 2;
				break;
			}
			if (nlit == 2)
				fm_fail("IMAP command to the backend with three literals");
			texts[nlit].p = base + i;
			texts[nlit].n = brace;
			i += ll + 2;
			if (plus && (size_t)n > total - i)
				fm_fail("IMAP LITERAL+ command sent without its data");
			if (!plus && i == total) {
				/* A synchronizing literal: the machine waits for the go-ahead. */
				if (be->cont_at != be->checked + i) {
					be->cont_at = be->checked + i;
					reply(m, "+ go ahead\r\n");
				}
				return;
			}
			if ((size_t)n > total - i)
				fm_fail("IMAP literal sent short of its announced length");
			lits[nlit].p = base + i;
			lits[nlit].n = (size_t)n;
			nlit++;
			i += (size_t)n;
		}
		imap_command(m, texts, lits, nlit);
		be->checked += i;
	}
}

/* ---- POP3 and SMTP: one command per line ---- */

static void
pop3_command(struct fm *m, const char *l, size_t n)
{
	if (eq(l, n, "CAPA")) {
		reply(m, "+OK Capability list follows\r\nTOP\r\nUSER\r\n");
		reply(m, m->be.offers ? "PIPELINING\r\n.\r\n" : ".\r\n");
	} else if (eq(l, n, "STLS")) {
		reply(m, "+OK Begin TLS\r\n");
	} else if (n >= 5 && memcmp(l, "USER ", 5) == 0) {
		if (!eq(l + 5, n - 5, m->ctx.be_login))
			fm_fail("POP3 USER is not the login: \"%s\"", fm_show(l, n));
		m->be.users++;
		reply(m, "+OK\r\n");
	} else if (n >= 5 && memcmp(l, "PASS ", 5) == 0) {
		if (!eq(l + 5, n - 5, passwd(m)))
			fm_fail("POP3 PASS is not the password");
		m->be.passes++;
		reply(m, "+OK Logged in.\r\n");
	} else {
		fm_fail("unexpected POP3 command to the backend: \"%s\"", fm_show(l, n));
	}
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* RFC 1891 xtext of v[0..n) must decode to want, and use "+XX" exactly where needed. */
static void
check_xtext(const char *what, const char *v, size_t n, const char *want)
{
	size_t o = 0, wl = strlen(want);

	for (size_t i = 0; i < n; i++, o++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '+') {
			int hi = i + 2 < n ? hexval(v[i + 1]) : -1, lo = i + 2 < n ? hexval(v[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				fm_fail("XCLIENT %s: bad xtext \"%s\"", what, fm_show(v, n));
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			fm_fail("XCLIENT %s: unescaped byte in \"%s\"", what, fm_show(v, n));
		}
		if (o >= wl || (unsigned char)want[o] != c)
			fm_fail("XCLIENT %s does not decode to \"%s\"", what, want);
	}
	if (o != wl)
		fm_fail("XCLIENT %s does not decode to \"%s\"", what, want);
}

static const char *
client_helo(const struct fm *m)
{
	return m->ctx.cr.helo ? m->ctx.cr.helo : m->ctx.u.smtp.helo;
}

static void
smtp_xclient(struct fm *m, const char *l, size_t n)
{
	const char *helo = client_helo(m);
	size_t i = 8;

	while (i < n) {
		size_t s = i, eqs;
		while (i < n && l[i] != ' ')
			i++;
		const char *eqp = memchr(l + s, '=', i - s);
		if (eqp == NULL)
			fm_fail("XCLIENT attribute without '=': \"%s\"", fm_show(l, n));
		eqs = (size_t)(eqp - l);
		const char *v = eqp + 1;
		size_t vn = i - eqs - 1;
		if (eq(l + s, eqs - s, "LOGIN"))
			check_xtext("LOGIN", v, vn, m->ctx.be_login);
		else if (eq(l + s, eqs - s, "HELO"))
			check_xtext("HELO", v, vn, helo ? helo : "");
		else if (eq(l + s, eqs - s, "NAME"))
			check_xtext("NAME", v, vn, m->ctx.client_host ? m->ctx.client_host : "[UNAVAILABLE]");
		i++;
	}
	m->be.xclients++;
	reply(m, "220 backend.example ESMTP\r\n");
}

static void
smtp_command(struct fm *m, const char *l, size_t n)
{
	const char *helo = client_helo(m);

	if (m->be.login_step > 0) {
		/* AUTH LOGIN's answers: the user, then the password, each base64. */
		const char *want = m->be.login_step == 1 ? m->ctx.be_login : passwd(m);
		size_t wl = strlen(want);
		unsigned char *d = malloc(n / 4 * 3 + 3);
		long dl = d ? b64_decode(l, n, d) : -1;
		if (dl != (long)wl || memcmp(d, want, wl) != 0)
			fm_fail("SMTP AUTH LOGIN: line %d is not the credential", m->be.login_step);
		free(d);
		if (m->be.login_step++ == 2) {
			m->be.login_step = 0;
			m->be.auths++;
			reply(m, "235 2.7.0 Authentication successful\r\n");
		} else {
			reply(m, "334 UGFzc3dvcmQ6\r\n");
		}
	} else if (eq(l, n, "AUTH LOGIN")) {
		if (m->ctx.be_auth != BE_AUTH_LOGIN)
			fm_fail("SMTP AUTH LOGIN to the backend without Auth-Method: login");
		m->be.login_step = 1;
		reply(m, "334 VXNlcm5hbWU6\r\n");
	} else if ((n > 5 && (memcmp(l, "EHLO ", 5) == 0 || memcmp(l, "HELO ", 5) == 0))) {
		if (!eq(l + 5, n - 5, m->conf.server_name.v[0]) && !(helo && eq(l + 5, n - 5, helo)))
			fm_fail("SMTP greeting to the backend with neither name: \"%s\"", fm_show(l, n));
		reply(m, "250-backend.example\r\n250-XCLIENT NAME ADDR PROTO HELO LOGIN\r\n250 PIPELINING\r\n");
	} else if (n > 8 && memcmp(l, "XCLIENT ", 8) == 0) {
		smtp_xclient(m, l, n);
	} else if (eq(l, n, "STARTTLS")) {
		reply(m, "220 2.0.0 Ready to start TLS\r\n");
	} else if (n > 11 && memcmp(l, "AUTH PLAIN ", 11) == 0) {
		if (m->ctx.be_auth != BE_AUTH_DEFAULT && m->ctx.be_auth != BE_AUTH_PLAIN)
			fm_fail("SMTP AUTH PLAIN to the backend with Auth-Method %d", m->ctx.be_auth);
		size_t ul = strlen(m->ctx.be_login), pl = strlen(passwd(m));
		unsigned char *d = malloc((n - 11) / 4 * 3 + 3);
		long dl = d ? b64_decode(l + 11, n - 11, d) : -1;
		if (dl != (long)(ul + pl + 2) || d[0] != '\0' || memcmp(d + 1, m->ctx.be_login, ul) != 0 ||
		    d[ul + 1] != '\0' || memcmp(d + ul + 2, m->ctx.be_passwd, pl) != 0)
			fm_fail("SMTP AUTH PLAIN is not the credentials");
		free(d);
		m->be.auths++;
		reply(m, "235 2.7.0 Authentication successful\r\n");
	} else if (n > 5 && strncasecmp(l, "MAIL ", 5) == 0) {
		/* The client's own line, replayed verbatim (any case). */
		if (m->ctx.cr.from == NULL || !eq(l, n, m->ctx.cr.from))
			fm_fail("SMTP MAIL to the backend is not the client's");
		m->be.mails++;
		reply(m, "250 2.1.0 Ok\r\n");
	} else if (n > 5 && strncasecmp(l, "RCPT ", 5) == 0) {
		if (m->ctx.cr.to == NULL || !eq(l, n, m->ctx.cr.to))
			fm_fail("SMTP RCPT to the backend is not the client's");
		m->be.rcpts++;
		reply(m, "250 2.1.5 Ok\r\n");
	} else {
		fm_fail("unexpected SMTP command to the backend: \"%s\"", fm_show(l, n));
	}
}

/* ---- ManageSieve: one command per line, the PLAIN response quoted or a literal ---- */

static void
sieve_authenticate(struct fm *m, const char *l, size_t n, size_t *extra)
{
	static const char head[] = "AUTHENTICATE \"PLAIN\" ";
	const size_t hl = sizeof(head) - 1;
	const char *v;
	size_t vn;

	if (n < hl + 2 || memcmp(l, head, hl) != 0)
		fm_fail("ManageSieve AUTHENTICATE to the backend is not PLAIN: \"%s\"", fm_show(l, n));
	if (l[hl] == '"') {
		v = l + hl + 1;
		vn = n - hl - 2;
		if (l[n - 1] != '"' || memchr(v, '"', vn) != NULL)
			fm_fail("ManageSieve AUTHENTICATE: bad quoted string \"%s\"", fm_show(l, n));
	} else {
		/* {N+} CRLF and N bytes, then CRLF: the literal is the rest of the command. */
		char *e;
		unsigned long k = strtoul(l + hl + 1, &e, 10);
		if (l[hl] != '{' || e != l + n - 2 || e[0] != '+' || e[1] != '}')
			fm_fail("ManageSieve AUTHENTICATE: bad literal \"%s\"", fm_show(l, n));
		v = l + n + 2;
		vn = k;
		*extra = k + 2;
		if (v + vn + 2 > buf_rptr(&m->be.sent) + buf_len(&m->be.sent) || memcmp(v + vn, "\r\n", 2) != 0)
			fm_fail("ManageSieve AUTHENTICATE: literal short of its length");
	}
	size_t ul = strlen(m->ctx.be_login), pl = strlen(passwd(m));
	unsigned char *d = malloc(vn / 4 * 3 + 3);
	long dl = d ? b64_decode(v, vn, d) : -1;
	if (dl != (long)(ul + pl + 2) || d[0] != '\0' || memcmp(d + 1, m->ctx.be_login, ul) != 0 ||
	    d[ul + 1] != '\0' || memcmp(d + ul + 2, m->ctx.be_passwd, pl) != 0)
		fm_fail("ManageSieve AUTHENTICATE PLAIN is not the credentials");
	free(d);
	m->be.auths++;
	reply(m, "OK \"Logged in.\"\r\n");
}

static void
sieve_command(struct fm *m, const char *l, size_t n, size_t *extra)
{
	char want[128];

	if (eq(l, n, "STARTTLS")) {
		reply(m, "OK \"Begin TLS negotiation now.\"\r\n");
	} else if (n > 8 && memcmp(l, "XCLIENT ", 8) == 0) {
		snprintf(want, sizeof(want), "XCLIENT ADDR=%s PORT=50123",
		    m->caddr.ss_family == AF_INET6 ? "2001:db8::7" : "192.0.2.7");
		if (!eq(l, n, want))
			fm_fail("ManageSieve XCLIENT is not the client's address: \"%s\"", fm_show(l, n));
		m->be.xclients++;
		reply(m, "OK \"Updated\"\r\n");
	} else {
		sieve_authenticate(m, l, n, extra);
	}
}

void
fm_backend_sent(struct fm *m)
{
	struct fm_be *be = &m->be;
	size_t n = buf_len(&m->bout);

	if (n == 0)
		return;
	fm_check_lines("command to the backend", buf_rptr(&m->bout), n);
	buf_append(&be->sent, buf_rptr(&m->bout), n);
	buf_puts(&m->rec, "sent ");
	buf_append(&m->rec, buf_rptr(&m->bout), n);
	buf_reset(&m->bout);
	if (m->proto == &imap_proto) {
		imap_sent(m);
		return;
	}
	while (be->checked < buf_len(&be->sent)) {
		const char *l = buf_rptr(&be->sent) + be->checked;
		size_t ll = (size_t)((const char *)memchr(l, '\n', buf_len(&be->sent) - be->checked) - l);
		size_t extra = 0;
		if (m->proto == &pop3_proto)
			pop3_command(m, l, ll - 1);
		else if (m->proto == &sieve_proto)
			sieve_command(m, l, ll - 1, &extra);
		else
			smtp_command(m, l, ll - 1);
		be->checked += ll + 1 + extra;
	}
}

/* One backend line (NULL: TLS is up) to the machine, as backend.c's feed(). */
static enum backend_action
be_line(struct fm *m, const char *line, size_t n)
{
	char *copy = NULL;
	size_t mark = buf_len(&m->out);
	enum backend_action a;

	if (line != NULL && (copy = malloc(n ? n : 1)) == NULL)
		fm_fail("harness: out of memory");
	if (copy)
		memcpy(copy, line, n);
	a = m->proto->backend_line(&m->ctx, copy, n);
	free(copy);
	if ((unsigned)a > BA_ERROR)
		fm_fail("backend_line returned %d", a);
	m->ctx.be_learned = 0;
	m->be.lines++;
	buf_puts(&m->rec, "be ");
	if (line)
		buf_append(&m->rec, line, n);
	fm_rec(m, " -> %s facts=%u reason=%s", ba_names[a], m->ctx.be_facts,
	    a == BA_ERROR && m->ctx.reason ? m->ctx.reason : "-");
	if (buf_len(&m->out) > mark) {
		if (m->be.willing)
			fm_check_lines("backend reply passed to the client", buf_rptr(&m->out) + mark,
			    buf_len(&m->out) - mark);
		buf_puts(&m->rec, "client ");
		buf_append(&m->rec, buf_rptr(&m->out) + mark, buf_len(&m->out) - mark);
	}
	fm_backend_sent(m);
	return a;
}

/* After BA_STARTTLS with nothing left over: TLS is up, the machine goes on. */
static enum backend_action
be_tls(struct fm *m)
{
	m->ctx.be_tls = 1;
	return be_line(m, NULL, 0);
}

static const char *
greeting(const struct fm *m)
{
	if (m->proto == &imap_proto)
		return m->be.offers ? "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] Dovecot ready.\r\n" :
		    "* OK Dovecot ready.\r\n";
	if (m->proto == &pop3_proto)
		return "+OK Dovecot ready.\r\n";
	if (m->proto == &sieve_proto)
		return m->be.offers ? "\"IMPLEMENTATION\" \"Dovecot\"\r\n\"SASL\" \"PLAIN\"\r\n\"STARTTLS\"\r\n"
		    "\"XCLIENT\"\r\nOK \"Dovecot ready.\"\r\n" : "\"SASL\" \"PLAIN\"\r\nOK \"ready\"\r\n";
	return "220-backend.example ESMTP\r\n220 Postfix\r\n";
}

void
fm_backend_willing(struct fm *m)
{
	struct fm_be *be = &m->be;
	enum backend_action a = BA_CONTINUE;

	be->willing = 1;
	buf_puts(&be->replies, greeting(m));
	while (a != BA_DONE) {
		long lf = buf_find_lf(&be->replies);
		size_t n;

		if (lf < 0)
			fm_fail("the backend login waits, but the willing backend answered everything");
		if (be->lines > 100)
			fm_fail("the backend login does not end");
		n = (size_t)lf;
		a = be_line(m, buf_rptr(&be->replies), n > 0 ? n - 1 : 0);
		buf_consume(&be->replies, n + 1);
		if (a == BA_STARTTLS) {
			if (buf_len(&be->replies) > 0)
				fm_fail("the willing backend had more to say after agreeing to STARTTLS");
			/* ManageSieve: the capabilities again after the handshake (RFC 5804 2.2). */
			if (m->proto == &sieve_proto)
				buf_puts(&be->replies, be->offers ? "\"SASL\" \"PLAIN\"\r\n\"XCLIENT\"\r\n"
				    "OK \"TLS negotiation successful.\"\r\n" : "OK \"TLS ok\"\r\n");
			a = be_tls(m);
		}
		if (a == BA_ERROR && m->proto == &smtp_proto && m->conf.proxy_smtp_auth &&
		    m->ctx.be_passwd == NULL && m->ctx.cr.method != AUTHM_NONE &&
		    m->ctx.be_auth != BE_AUTH_NONE) {
			/* nginx's "no password available": AUTH PLAIN has nothing to send. */
			fm_rec(m, "backend login stops: %s", m->ctx.reason ? m->ctx.reason : "-");
			return;
		}
		if (a != BA_CONTINUE && a != BA_DONE)
			fm_fail("a willing backend's login ended in %s", ba_names[a]);
	}
	if (buf_len(&be->replies) > 0)
		fm_fail("logged in with backend replies left unread");
	/* Every credential went where it belongs, once. */
	if (m->proto == &imap_proto && be->logins != 1)
		fm_fail("IMAP backend login without exactly one LOGIN");
	if (m->proto == &pop3_proto && (be->users != 1 || be->passes != 1))
		fm_fail("POP3 backend login without one USER and one PASS");
	if (m->proto == &smtp_proto) {
		int none = m->ctx.cr.method == AUTHM_NONE;
		if (none && (be->mails != 1 || be->rcpts != 1))
			fm_fail("smtp_auth none: MAIL and RCPT not replayed once");
		if (!none && be->auths != (m->conf.proxy_smtp_auth &&
		    m->ctx.be_auth != BE_AUTH_NONE ? 1u : 0u))
			fm_fail("SMTP AUTH PLAIN sent %u times with proxy_smtp_auth %d", be->auths,
			    m->conf.proxy_smtp_auth);
		if (m->conf.xclient && be->xclients != 1)
			fm_fail("xclient on, but %u XCLIENT commands", be->xclients);
	}
	if (m->proto == &sieve_proto) {
		if (be->auths != 1)
			fm_fail("ManageSieve backend login without exactly one AUTHENTICATE");
		if (be->xclients != (m->conf.xclient && be->offers ? 1u : 0u))
			fm_fail("ManageSieve: %u XCLIENT commands, xclient %d, offered %d", be->xclients,
			    m->conf.xclient, be->offers);
	}
	fm_rec(m, "backend logged in");
}

enum backend_action
fm_backend_feed(struct fm *m, const struct fm_input *fi)
{
	struct fm_be *be = &m->be;
	const uint8_t *data = fi->data;
	size_t len = fi->len;
	enum backend_action a;

	for (;;) {
		const uint8_t *end = memmem(data, len, FM_SEGMENT, sizeof(FM_SEGMENT) - 1);
		size_t n = end ? (size_t)(end - data) : len, pos = 0;

		for (;;) {
			long lf;
			while ((lf = buf_find_lf(&be->bin)) >= 0) {
				size_t ll = (size_t)lf;
				const char *line = buf_rptr(&be->bin);
				if (ll > BE_LINE_MAX) {
					fm_rec(m, "backend line too long");
					return BA_INVALID;
				}
				a = be_line(m, line, ll > 0 && line[ll - 1] == '\r' ? ll - 1 : ll);
				buf_consume(&be->bin, ll + 1);
				if (a == BA_STARTTLS) {
					if (buf_len(&be->bin) > 0 || pos < n) {
						fm_rec(m, "backend sent data after agreeing to STARTTLS");
						return a;
					}
					a = be_tls(m);
				}
				if (a != BA_CONTINUE)
					return a;
			}
			if (buf_len(&be->bin) > BE_LINE_MAX) {
				fm_rec(m, "backend line too long");
				return BA_INVALID;
			}
			if (pos == n)
				break;
			size_t k = n - pos;
			if (m->split && k > fm_chunk(fi, m->nchunk))
				k = fm_chunk(fi, m->nchunk);
			m->nchunk++;
			buf_append(&be->bin, data + pos, k);
			pos += k;
		}
		if (end == NULL)
			break;
		data += n + sizeof(FM_SEGMENT) - 1;
		len -= n + sizeof(FM_SEGMENT) - 1;
	}
	fm_rec(m, "backend closed the connection");
	return BA_CONTINUE;
}

static void
backend_from_input(struct fm *m)
{
	enum backend_action a = fm_backend_feed(m, m->arg);

	fm_rec(m, "backend login ends: %s", ba_names[a]);
}

void
fm_backend_machine(enum mail_proto p, const struct fm_script *s, size_t n, const uint8_t *data,
    size_t size)
{
	struct fm_input fi, cfi;
	struct fm m[2];
	const struct fm_script *sc;

	fm_input(&fi, data, size);
	sc = &s[fi.h[0] % n];
	cfi = fi;
	cfi.h[0] = (uint8_t)sc->variant;	/* no STARTTLS, default buffer and limits */
	cfi.h[2] = 3;			/* the first login is accepted */
	cfi.h[3] = fi.h[3] & 0x7c;	/* client address, host name, Auth-Pass, Auth-Method */
	cfi.data = (const uint8_t *)sc->client;
	cfi.len = strlen(sc->client);
	for (int split = 0; split < 2; split++) {
		fm_open(&m[split], p, &cfi, split);
		m[split].auth_user = sc->user;
		m[split].auth_pass = sc->pass;
		m[split].on_login = backend_from_input;
		m[split].arg = &fi;
		fm_client(&m[split], cfi.data, cfi.len);
		if (m[split].attempts != 1)
			fm_fail("harness: script %u did not log in", (unsigned)(sc - s));
	}
	fm_same(&m[0], &m[1], "whole-fed and split-fed backend");
	fm_close(&m[0]);
	fm_close(&m[1]);
}
