/*
 * fakebackend: a fast fake IMAP/POP3/SMTP backend for the benchmark. One
 * process, one level-triggered epoll loop, non-blocking sockets. It logs in
 * anyone and offers XSTREAM (download) and XSINK (upload) commands for
 * throughput runs. Per-connection state is a fixed table indexed by fd; input,
 * output and the assembled IMAP command each have a fixed buffer, and a line
 * is only handled when the output buffer has room for its reply, so memory
 * stays bounded whatever the client sends.
 */
#include "bench_common.h"

#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <strings.h>
#include <sys/epoll.h>

#define RBUF 2048
#define WBUF 2048
#define WROOM 640		/* free wbuf needed before handling a line */
#define CMD_MAX 2048		/* IMAP command assembled across literals */
#define PAT_LEN (256 * 1024)
#define MAX_LISTEN 32
#define LTAG (1ull << 40)	/* epoll data tag for listeners */

enum proto { P_IMAP, P_POP3, P_SMTP };
enum state {
	IS_PRE, IS_AUTH, IS_IDLE,	/* IMAP */
	PS_USER, PS_PASS, PS_TRANS,	/* POP3 */
	SS_CMD, SS_AUTH, SS_DATA	/* SMTP */
};
enum lit { LIT_NONE, LIT_COPY, LIT_SINK, LIT_SINK_END, LIT_DROP, LIT_DROP_END };

struct conn {
	int used;
	uint8_t proto, st, lit, closing, discard, dmatch;
	uint32_t ev;			/* epoll interest currently set */
	uint32_t rpos, rlen, woff, wlen, clen;
	uint64_t lit_left, stream_left;
	char tag[40];
	char rbuf[RBUF], wbuf[WBUF], cmd[CMD_MAX + 1];
};

/* A command: fn runs it, or (fn NULL) the canned reply is sent, formatted
 * with the IMAP tag, then the state becomes next (-1: unchanged). */
struct cmd {
	const char *name;
	unsigned states;		/* bit mask of enum state */
	void (*fn)(struct conn *c, const char *arg, size_t alen);
	const char *reply;
	int next, close;
};
#define B(s) (1u << (s))
#define FN(name, states, fn) { name, states, fn, NULL, -1, 0 }
#define RE(name, states, reply, next, close) { name, states, NULL, reply, next, close }

static const char *const proto_name[] = { "imap", "pop3", "smtp" };
static struct conn *conns;
static int maxconns, epfd, literal_plus;
static char pattern[PAT_LEN], scratch[PAT_LEN];
static unsigned long long n_accept, n_login[3], n_streamed, n_sunk;

static void
out(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->woff) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	va_start(ap, fmt);
	n = vsnprintf(c->wbuf + c->wlen, WBUF - c->wlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->wlen += (uint32_t)n < WBUF - c->wlen ? (uint32_t)n : WBUF - 1 - c->wlen;
}

static void
stream_end(struct conn *c)
{
	out(c, c->proto == P_IMAP ? "\r\n%s OK XSTREAM done\r\n" : "\r\n.\r\n",
	    c->tag);
}

/* XSTREAM <n> (IMAP and POP3): n bytes of pattern, written by conn_flush. */
static void
cmd_xstream(struct conn *c, const char *arg, size_t alen)
{
	char *end;
	unsigned long long n = strtoull(arg, &end, 10);

	if (alen < 2 || end == arg || *end || n > (1ull << 40)) {
		out(c, c->proto == P_IMAP ? "%s BAD XSTREAM <nbytes>\r\n" :
		    "-ERR XSTREAM <nbytes>\r\n", c->tag);
		return;
	}
	out(c, c->proto == P_IMAP ? "* XSTREAM {%llu}\r\n" : "+OK\r\n", n);
	c->stream_left = n;
	if (n == 0)
		stream_end(c);
}

/* ---- IMAP ---- */

/* Skips one IMAP token (atom, "quoted", {n}/{n+} literal or (list)) after an
 * optional space. Returns 1, 0 at the end, -1 on a syntax error. */
static int
imap_token(const char **pp, const char *end)
{
	const char *p = *pp, *start;
	char *e;
	int depth = 0;

	if (p < end && *p == ' ')
		p++;
	if (p >= end)
		return 0;
	start = p;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++)
			if (*p == '\\')
				p++;
		if (p >= end)
			return -1;
		p++;
	} else if (*p == '{') {
		unsigned long long n = strtoull(p + 1, &e, 10);

		if (e == p + 1)
			return -1;
		if (*e == '+')
			e++;
		if (end - e < 3 || memcmp(e, "}\r\n", 3) != 0 ||
		    n > (unsigned long long)(end - e - 3))
			return -1;
		p = e + 3 + n;
	} else if (*p == '(') {
		for (; p < end; p++) {
			if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0)
				break;
		}
		if (p >= end)
			return -1;
		p++;
	} else {
		while (p < end && *p != ' ' && (unsigned char)*p > 0x20 &&
		    *p != '(' && *p != ')' && *p != '"' && *p != '{')
			p++;
		if (p == start)
			return -1;
	}
	*pp = p;
	return 1;
}

/* Copies the tag at s into c->tag; -1 if it is not a valid IMAP tag. */
static int
imap_tag(struct conn *c, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i] != ' '; i++)
		if (i >= sizeof c->tag - 1 || (unsigned char)s[i] <= 0x20 ||
		    (unsigned char)s[i] >= 0x7f || strchr("(){%*\"\\+", s[i]))
			return -1;
	if (i == 0)
		return -1;
	memcpy(c->tag, s, i);
	c->tag[i] = '\0';
	return 0;
}

static void
imap_capability(struct conn *c, const char *arg, size_t alen)
{
	(void)arg, (void)alen;
	out(c, "* CAPABILITY IMAP4rev1%s IDLE ID XSTREAM XSINK\r\n"
	    "%s OK CAPABILITY completed\r\n", literal_plus ? " LITERAL+" : "", c->tag);
}

static void
imap_login(struct conn *c, const char *arg, size_t alen)
{
	const char *p = arg, *end = arg + alen;

	if (imap_token(&p, end) == 1 && imap_token(&p, end) == 1 && p == end) {
		out(c, "%s OK LOGIN completed\r\n", c->tag);
		c->st = IS_AUTH;
		n_login[P_IMAP]++;
	} else
		out(c, "%s BAD LOGIN expects user and password\r\n", c->tag);
}

static const struct cmd imap_cmds[] = {
	FN("CAPABILITY", B(IS_PRE) | B(IS_AUTH), imap_capability),
	RE("NOOP", B(IS_PRE) | B(IS_AUTH), "%s OK NOOP completed", -1, 0),
	RE("LOGOUT", B(IS_PRE) | B(IS_AUTH),
	    "* BYE logging out\r\n%s OK LOGOUT completed", -1, 1),
	RE("ID", B(IS_PRE) | B(IS_AUTH), "* ID NIL\r\n%s OK ID completed", -1, 0),
	FN("LOGIN", B(IS_PRE), imap_login),
	RE("IDLE", B(IS_AUTH), "+ idling", IS_IDLE, 0),
	RE("SELECT", B(IS_AUTH), "* 0 EXISTS\r\n* 0 RECENT\r\n"
	    "%s OK [READ-WRITE] SELECT completed", -1, 0),
	FN("XSTREAM", B(IS_AUTH), cmd_xstream),
	RE("XSINK", B(IS_AUTH), "%s BAD XSINK expects a literal: XSINK {n}", -1, 0),
};

/* Runs cmd from table on the word [verb, verb+vlen); arg is the rest. */
static int
dispatch(struct conn *c, const struct cmd *tab, size_t n, const char *verb,
    size_t vlen, const char *arg, size_t alen)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(tab[i].name) != vlen || strncasecmp(tab[i].name, verb, vlen))
			continue;
		if (!(tab[i].states & B(c->st)))
			return -2;
		if (tab[i].fn)
			tab[i].fn(c, arg, alen);
		else {
			out(c, tab[i].reply, c->tag);
			out(c, "\r\n");
		}
		if (tab[i].next >= 0)
			c->st = (uint8_t)tab[i].next;
		if (tab[i].next == SS_DATA)
			c->dmatch = 2;	/* as if just after a CRLF */
		c->closing |= (uint8_t)tab[i].close;
		return 0;
	}
	return -1;
}

static size_t
word_len(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && s[i] != ' ')
		i++;
	return i;
}

/* A complete IMAP command (literals inline as {n}\r\n<bytes>). */
static void
imap_command(struct conn *c, const char *buf, size_t len)
{
	size_t tl, vl;
	int r;

	if (imap_tag(c, buf, len) < 0) {
		out(c, "* BAD invalid tag\r\n");
		return;
	}
	tl = strlen(c->tag);
	if (tl + 1 >= len) {
		out(c, "%s BAD missing command\r\n", c->tag);
		return;
	}
	vl = word_len(buf + tl + 1, len - tl - 1);
	r = dispatch(c, imap_cmds, sizeof imap_cmds / sizeof imap_cmds[0],
	    buf + tl + 1, vl, buf + tl + 1 + vl, len - tl - 1 - vl);
	if (r == -1)
		out(c, "%s BAD unknown command\r\n", c->tag);
	else if (r == -2)
		out(c, "%s BAD command not valid in this state\r\n", c->tag);
}

/* If line ends with {n} or {n+}, returns n and sets *sync; else -1. */
static long long
trailing_literal(const char *line, size_t len, int *sync)
{
	size_t i, d;

	if (len < 3 || line[len - 1] != '}')
		return -1;
	i = len - 1;
	*sync = line[i - 1] != '+';
	if (!*sync)
		i--;
	for (d = i; d > 0 && isdigit((unsigned char)line[d - 1]); d--)
		;
	if (d == i || d == 0 || line[d - 1] != '{' || i - d > 13)
		return -1;
	return strtoll(line + d, NULL, 10);
}

static void
lit_done(struct conn *c)
{
	if (c->lit == LIT_COPY)
		c->lit = LIT_NONE;
	else if (c->lit == LIT_SINK)
		c->lit = LIT_SINK_END;
	else if (c->lit == LIT_DROP)
		c->lit = LIT_DROP_END;
}

static void
lit_start(struct conn *c, int mode, long long n)
{
	c->lit = (uint8_t)mode;
	c->lit_left = (uint64_t)n;
	if (n == 0)
		lit_done(c);
}

static void
imap_line(struct conn *c, char *line, size_t len)
{
	long long lit;
	int sync;
	const char *first;

	if (c->st == IS_IDLE) {
		if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
			out(c, "%s OK IDLE terminated\r\n", c->tag);
		else
			out(c, "%s BAD expected DONE\r\n", c->tag);
		c->st = IS_AUTH;
		return;
	}
	if (c->lit == LIT_SINK_END || c->lit == LIT_DROP_END) {
		out(c, c->lit == LIT_SINK_END ? "%s OK XSINK done\r\n" :
		    "%s BAD literal too large\r\n", c->tag);
		c->lit = LIT_NONE;
		c->clen = 0;
		return;
	}
	if ((lit = trailing_literal(line, len, &sync)) >= 0) {
		if (c->clen == 0 && imap_tag(c, line, len) < 0) {
			out(c, "* BAD invalid tag\r\n");
			return;
		}
		first = c->clen ? c->cmd : line;
		first += strlen(c->tag) + 1;
		if (c->st == IS_AUTH && strncasecmp(first, "XSINK ", 6) == 0)
			lit_start(c, LIT_SINK, lit);
		else if (c->clen + len + 2 + (unsigned long long)lit > CMD_MAX) {
			if (sync) {
				out(c, "%s BAD literal too large\r\n", c->tag);
				c->clen = 0;
				return;
			}
			lit_start(c, LIT_DROP, lit);
		} else {
			memcpy(c->cmd + c->clen, line, len);
			c->clen += (uint32_t)len + 2;
			memcpy(c->cmd + c->clen - 2, "\r\n", 2);
			lit_start(c, LIT_COPY, lit);
		}
		if (sync)
			out(c, "+ OK\r\n");
		return;
	}
	if (c->clen) {
		if (c->clen + len > CMD_MAX) {
			out(c, "%s BAD command too long\r\n", c->tag);
			c->clen = 0;
			return;
		}
		memcpy(c->cmd + c->clen, line, len);
		len += c->clen;
		c->cmd[len] = '\0';
		line = c->cmd;
		c->clen = 0;
	}
	imap_command(c, line, len);
}

/* ---- POP3 ---- */

#define PS_ANY (B(PS_USER) | B(PS_PASS) | B(PS_TRANS))

static void
pop_login(struct conn *c, const char *arg, size_t alen)
{
	(void)arg;
	if (alen < 2) {
		out(c, "-ERR argument expected\r\n");
		return;
	}
	out(c, "+OK logged in\r\n");
	c->st = PS_TRANS;
	n_login[P_POP3]++;
}

static const struct cmd pop_cmds[] = {
	RE("USER", B(PS_USER) | B(PS_PASS), "+OK", PS_PASS, 0),
	FN("PASS", B(PS_PASS), pop_login),
	FN("APOP", B(PS_USER), pop_login),
	RE("CAPA", PS_ANY, "+OK capability list follows\r\nUSER\r\n"
	    "PIPELINING\r\nXSTREAM\r\n.", -1, 0),
	RE("NOOP", PS_ANY, "+OK", -1, 0),
	RE("RSET", B(PS_TRANS), "+OK", -1, 0),
	RE("STAT", B(PS_TRANS), "+OK 0 0", -1, 0),
	RE("LIST", B(PS_TRANS), "+OK 0 messages\r\n.", -1, 0),
	RE("UIDL", B(PS_TRANS), "+OK 0 messages\r\n.", -1, 0),
	RE("QUIT", PS_ANY, "+OK bye", -1, 1),
	FN("XSTREAM", B(PS_TRANS), cmd_xstream),
};

/* ---- SMTP ---- */

static void
smtp_auth(struct conn *c, const char *arg, size_t alen)
{
	if (alen < 6 || strncasecmp(arg, " PLAIN", 6) != 0 ||
	    (arg[6] != '\0' && arg[6] != ' ')) {
		out(c, "504 5.5.4 Unrecognized authentication type\r\n");
	} else if (arg[6] == ' ' && arg[7] != '\0') {
		out(c, "235 2.7.0 Authentication successful\r\n");
		n_login[P_SMTP]++;
	} else {
		out(c, "334 \r\n");
		c->st = SS_AUTH;
	}
}

static const struct cmd smtp_cmds[] = {
	RE("EHLO", B(SS_CMD), "250-fake\r\n250-XCLIENT NAME ADDR PROTO HELO LOGIN"
	    "\r\n250-AUTH PLAIN\r\n250-PIPELINING\r\n250 8BITMIME", -1, 0),
	FN("AUTH", B(SS_CMD), smtp_auth),
	RE("DATA", B(SS_CMD), "354 End data with <CR><LF>.<CR><LF>", SS_DATA, 0),
	RE("QUIT", B(SS_CMD), "221 2.0.0 Bye", -1, 1),
	RE("HELO", B(SS_CMD), "250 fake", -1, 0),
	RE("XCLIENT", B(SS_CMD), "220 fake ESMTP", -1, 0),
	RE("MAIL", B(SS_CMD), "250 2.1.0 Ok", -1, 0),
	RE("RCPT", B(SS_CMD), "250 2.1.5 Ok", -1, 0),
	RE("RSET", B(SS_CMD), "250 2.0.0 Ok", -1, 0),
	RE("NOOP", B(SS_CMD), "250 2.0.0 Ok", -1, 0),
	RE("VRFY", B(SS_CMD), "252 2.0.0 maybe", -1, 0),
	RE("STARTTLS", B(SS_CMD), "454 4.7.0 TLS not available", -1, 0),
};

/* Consumes DATA bytes up to and including CRLF.CRLF; 1 when it was found. */
static int
smtp_data_scan(struct conn *c)
{
	static const char pat[] = "\r\n.\r\n";
	char *p = c->rbuf + c->rpos, *end = c->rbuf + c->rlen, *q;

	while (p < end) {
		if (c->dmatch == 0) {
			if ((q = memchr(p, '\r', (size_t)(end - p))) == NULL) {
				p = end;
				break;
			}
			p = q;
		}
		if (*p == pat[c->dmatch])
			c->dmatch++;
		else
			c->dmatch = *p == '\r';
		p++;
		if (c->dmatch == 5) {
			c->rpos = (uint32_t)(p - c->rbuf);
			c->dmatch = 0;
			return 1;
		}
	}
	c->rpos = c->rlen;
	return 0;
}

/* A POP3 or SMTP line: verb, then " arg" handed to the command. */
static void
simple_line(struct conn *c, char *line, size_t len)
{
	size_t vl = word_len(line, len);
	int r;

	if (c->proto == P_SMTP && c->st == SS_AUTH) {
		if (len == 1 && line[0] == '*')
			out(c, "501 5.7.0 Authentication aborted\r\n");
		else {
			out(c, "235 2.7.0 Authentication successful\r\n");
			n_login[P_SMTP]++;
		}
		c->st = SS_CMD;
		return;
	}
	if (c->proto == P_POP3)
		r = dispatch(c, pop_cmds, sizeof pop_cmds / sizeof pop_cmds[0],
		    line, vl, line + vl, len - vl);
	else
		r = dispatch(c, smtp_cmds, sizeof smtp_cmds / sizeof smtp_cmds[0],
		    line, vl, line + vl, len - vl);
	if (r == -1)
		out(c, c->proto == P_POP3 ? "-ERR unknown command\r\n" :
		    "502 5.5.2 Error: command not recognized\r\n");
	else if (r == -2)
		out(c, c->proto == P_POP3 ? "-ERR command not valid in this state\r\n" :
		    "503 5.5.1 Error: bad sequence of commands\r\n");
}

/* ---- connection I/O ---- */

/* Handles buffered input until it runs out or output must drain first. */
static void
conn_process(struct conn *c)
{
	for (int guard = 0; guard < 4096; guard++) {
		uint32_t avail = c->rlen - c->rpos;
		char *line, *eol;
		size_t len;

		if (c->closing || c->stream_left || c->wlen - c->woff > WBUF - WROOM)
			break;
		if (c->lit_left) {
			uint32_t n = c->lit_left < avail ? (uint32_t)c->lit_left : avail;

			if (n == 0)
				break;
			if (c->lit == LIT_COPY)
				memcpy(c->cmd + c->clen, c->rbuf + c->rpos, n), c->clen += n;
			else
				n_sunk += n;
			c->rpos += n;
			if ((c->lit_left -= n) == 0)
				lit_done(c);
			continue;
		}
		if (c->proto == P_SMTP && c->st == SS_DATA) {
			if (!smtp_data_scan(c))
				break;
			out(c, "250 2.0.0 Ok: queued as FAKE\r\n");
			c->st = SS_CMD;
			continue;
		}
		line = c->rbuf + c->rpos;
		if ((eol = memchr(line, '\n', avail)) == NULL) {
			if (c->rpos == 0 && c->rlen == RBUF) {	/* line too long */
				if (!c->discard)
					out(c, c->proto == P_IMAP ? "* BAD line too long\r\n" :
					    c->proto == P_POP3 ? "-ERR line too long\r\n" :
					    "500 5.5.0 Line too long\r\n");
				c->discard = 1;
				c->rlen = 0;
			}
			break;
		}
		c->rpos = (uint32_t)(eol + 1 - c->rbuf);
		len = (size_t)(eol - line);
		if (len && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if (c->discard) {
			c->discard = 0;
			continue;
		}
		if (c->proto == P_IMAP)
			imap_line(c, line, len);
		else
			simple_line(c, line, len);
	}
	if (c->rpos) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
}

/* Writes queued replies, then stream data; -1 when the peer is gone. */
static int
conn_flush(struct conn *c, int fd)
{
	for (int guard = 0; guard < 64; guard++) {
		ssize_t n;

		if (c->woff < c->wlen) {
			n = send(fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
			c->woff += (uint32_t)n;
			if (c->woff == c->wlen)
				c->woff = c->wlen = 0;
		} else if (c->stream_left) {
			size_t k = c->stream_left < PAT_LEN ? (size_t)c->stream_left : PAT_LEN;

			n = send(fd, pattern, k, MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
			c->stream_left -= (uint64_t)n;
			n_streamed += (uint64_t)n;
			if (c->stream_left == 0)
				stream_end(c);
		} else
			break;
	}
	return 0;
}

static void
conn_close(struct conn *c, int fd)
{
	c->used = 0;
	close(fd);
}

/* Processes input and flushes output until neither makes progress. */
static void
conn_run(struct conn *c, int fd)
{
	struct epoll_event ev = { .data.u64 = (uint64_t)fd };

	for (int guard = 0; guard < 16; guard++) {
		uint32_t before = c->rlen;

		conn_process(c);
		if (conn_flush(c, fd) < 0) {
			conn_close(c, fd);
			return;
		}
		if (c->closing && c->woff == c->wlen && !c->stream_left) {
			conn_close(c, fd);
			return;
		}
		if (c->rlen == 0 || c->rlen == before || c->woff < c->wlen ||
		    c->stream_left)
			break;
	}
	ev.events = (!c->closing && c->rlen < RBUF ? EPOLLIN : 0) |
	    (c->woff < c->wlen || c->stream_left ? EPOLLOUT : 0);
	if (ev.events != c->ev) {
		epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
		c->ev = ev.events;
	}
}

static void
conn_read(struct conn *c, int fd)
{
	ssize_t n;

	if (c->lit_left && c->lit != LIT_COPY && c->rpos == c->rlen) {
		size_t k = c->lit_left < PAT_LEN ? (size_t)c->lit_left : PAT_LEN;

		n = read(fd, scratch, k);	/* XSINK payload: straight to scratch */
		if (n > 0) {
			n_sunk += (uint64_t)n;
			if ((c->lit_left -= (uint64_t)n) == 0)
				lit_done(c);
		}
	} else if ((n = read(fd, c->rbuf + c->rlen, RBUF - c->rlen)) > 0)
		c->rlen += (uint32_t)n;
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c, fd);
	else
		conn_run(c, fd);
}

static void
on_accept(int lfd, int proto)
{
	static const char *const greet[] = {
		"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n", "+OK fake ready\r\n",
		"220 fake ESMTP\r\n",
	};
	for (int i = 0; i < 512; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;	/* EAGAIN, or EMFILE: the backlog waits */
		}
		if (fd >= maxconns) {
			close(fd);
			continue;
		}
		n_accept++;
		bc_nodelay(fd);
		c = &conns[fd];
		memset(c, 0, offsetof(struct conn, rbuf));
		c->used = 1;
		c->proto = (uint8_t)proto;
		c->st = proto == P_IMAP ? IS_PRE : proto == P_POP3 ? PS_USER : SS_CMD;
		c->ev = EPOLLIN;
		if (proto == P_IMAP && literal_plus)
			out(c, "* OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] ready\r\n");
		else
			out(c, "%s", greet[proto]);
		ev.data.u64 = (uint64_t)fd;
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
		conn_run(c, fd);
	}
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: fakebackend [--imap H:P]... [--pop3 H:P]... [--smtp H:P]...\n"
	    "                   [--literal-plus]\n"
	    "Fake mail backend that logs in anyone; options repeat to listen on several\n"
	    "addresses (port 0: any free port). Prints \"listening on PROTO HOST:PORT\"\n"
	    "per listener, then \"ready\". IMAP adds XSTREAM <n> and XSINK {n}, POP3\n"
	    "XSTREAM <n>. --literal-plus advertises LITERAL+ in the IMAP greeting.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "imap", required_argument, NULL, 'i' },
		{ "pop3", required_argument, NULL, 'p' },
		{ "smtp", required_argument, NULL, 's' },
		{ "literal-plus", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct { const char *arg; int proto, fd; } ls[MAX_LISTEN];
	struct epoll_event evs[512];
	int nls = 0, o;
	char err[160], a[32];

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'i': case 'p': case 's':
			if (nls == MAX_LISTEN) {
				fprintf(stderr, "fakebackend: too many listeners\n");
				return 2;
			}
			ls[nls].arg = optarg;
			ls[nls++].proto = o == 'i' ? P_IMAP : o == 'p' ? P_POP3 : P_SMTP;
			break;
		case 'L': literal_plus = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || nls == 0) {
		usage(stderr);
		return 2;
	}
	bc_signals();
	maxconns = bc_raise_nofile();
	conns = calloc((size_t)maxconns, sizeof *conns);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0) {
		fprintf(stderr, "fakebackend: out of memory or epoll: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < PAT_LEN; i++)	/* 78 'x' + CRLF per line */
		pattern[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : 'x';
	for (int i = 0; i < nls; i++) {
		struct sockaddr_in sa;
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = LTAG | (uint64_t)i };

		if (bc_parse_addr(ls[i].arg, &sa, 0, err, sizeof err) != 0 ||
		    (ls[i].fd = bc_listen(&sa, 4096, err, sizeof err)) < 0) {
			fprintf(stderr, "fakebackend: %s\n", err);
			return 1;
		}
		epoll_ctl(epfd, EPOLL_CTL_ADD, ls[i].fd, &ev);
		printf("listening on %s %s\n", proto_name[ls[i].proto],
		    bc_addr_str(&sa, a, sizeof a));
	}
	printf("ready\n");
	fflush(stdout);

	while (!bc_stop) {
		int n = epoll_wait(epfd, evs, 512, 1000);

		for (int i = 0; i < n; i++) {
			uint64_t d = evs[i].data.u64;
			int fd = (int)(d & 0xffffffffu);
			struct conn *c;

			if (d & LTAG) {
				on_accept(ls[fd].fd, ls[fd].proto);
				continue;
			}
			c = &conns[fd];
			if (!c->used)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_read(c, fd);
			else
				conn_run(c, fd);
		}
	}
	fprintf(stderr, "fakebackend: accepted=%llu logins imap=%llu pop3=%llu "
	    "smtp=%llu streamed=%llu sunk=%llu\n", n_accept, n_login[P_IMAP],
	    n_login[P_POP3], n_login[P_SMTP], n_streamed, n_sunk);
	return 0;
}
