/*
 * fakeauth: a fast nginx-style auth_http service for the benchmark.
 * One process, one epoll loop, level-triggered, non-blocking. Each connection
 * carries one HTTP/1.0 request ("GET /uri HTTP/1.0" + Auth-* headers); the
 * answer routes the login to a backend chosen round-robin per Auth-Protocol,
 * then the connection is closed. An HTTP/1.1 request (mailproxy's
 * auth_http_keepalive) gets "Content-Length: 0" and the connection stays open
 * for the next request. Connection state lives in a table indexed by
 * fd and allocated once at start: nothing is allocated per request.
 * With --require-pass, a login with any other password is refused, as an
 * auth service refuses a wrong guess (the credential-stuffing benchmark).
 * "GET /stats" answers the counters so far (and is not counted).
 */
#include "bench_common.h"

#include <getopt.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#define REQ_MAX 4096
#define PASS_MAX 256
#define FAIL_MAX 16

enum { P_IMAP, P_POP3, P_SMTP, P_SIEVE, P_N };
static const char *const proto_name[P_N] = { "imap", "pop3", "smtp", "sieve" };

struct backend {
	char resp[160];		/* "Auth-Status: OK ... Auth-Port: n\r\n" (no status line) */
	size_t len;
};

static char status_10[] = "HTTP/1.0 200 OK\r\n";
static char status_11[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";

struct aconn {
	int used;
	int keep;		/* HTTP/1.1: the connection serves the next request too */
	uint32_t len;		/* bytes in req */
	uint32_t outlen, outoff; /* pending response tail after a short write */
	uint64_t since;		/* accept time, for the idle timeout */
	char req[REQ_MAX];
	char out[512];
};

static struct backend backends[P_N][BC_MAX_ADDRS];
static unsigned nbackends[P_N], next_backend[P_N];
static const char *fail_users[FAIL_MAX];
static unsigned nfail_users;
static const char *fixed_pass = "secret";
static const char *require_pass;	/* --require-pass: the only password accepted */
static int send_pass;
static struct aconn *conns;
static int maxconns, epfd, lfd, lpaused;
static unsigned long long n_req, n_ok, n_fail, n_bad, n_timeout;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: fakeauth [--listen 127.0.0.1:PORT] [--imap H:P]... [--pop3 H:P]...\n"
	    "                [--smtp H:P]... [--sieve H:P]... [--fail-user NAME]...\n"
	    "                [--send-pass]\n"
	    "                [--password PASS] [--require-pass PASS] [--timeout SEC]\n"
	    "Answers nginx auth_http requests: Auth-Status OK with Auth-Server/Auth-Port\n"
	    "of a backend picked round-robin for the request's Auth-Protocol.\n"
	    "  --listen ADDR     listen address (default 127.0.0.1:9000; port 0 = any)\n"
	    "  --imap/--pop3/--smtp/--sieve ADDR  backend for that protocol (repeatable)\n"
	    "  --fail-user NAME  answer \"Invalid login or password\" for NAME (repeatable)\n"
	    "  --send-pass       always add Auth-Pass (the request's password for\n"
	    "                    method plain, else --password); apop, cram-md5 and\n"
	    "                    external always get Auth-Pass: --password\n"
	    "  --password PASS   password returned for apop/cram-md5/external (secret)\n"
	    "  --require-pass PASS  refuse a plain/login login whose password is not PASS\n"
	    "                    (\"Invalid login or password\", Auth-Wait: 0)\n"
	    "  --timeout SEC     close connections idle that long (default 30)\n");
}

static void
add_backend(int p, const char *arg)
{
	struct sockaddr_in sa;
	char err[128], ip[INET_ADDRSTRLEN];
	struct backend *b;

	if (bc_parse_addr(arg, &sa, 0, err, sizeof err) != 0) {
		fprintf(stderr, "fakeauth: --%s %s\n", proto_name[p], err);
		exit(2);
	}
	if (nbackends[p] == BC_MAX_ADDRS) {
		fprintf(stderr, "fakeauth: too many --%s backends\n", proto_name[p]);
		exit(2);
	}
	b = &backends[p][nbackends[p]++];
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
	b->len = (size_t)snprintf(b->resp, sizeof b->resp,
	    "Auth-Status: OK\r\nAuth-Server: %s\r\n"
	    "Auth-Port: %u\r\n", ip, ntohs(sa.sin_port));
}

static void
conn_close(int fd)
{
	conns[fd].used = 0;
	close(fd);
	if (lpaused) {		/* a slot is free again: resume accepting */
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };

		epoll_ctl(epfd, EPOLL_CTL_MOD, lfd, &ev);
		lpaused = 0;
	}
}

/* Finds header name (case-insensitive) in the request head; value is trimmed. */
static int
header(const char *head, const char *name, const char **val, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = strchr(head, '\n');

	for (int guard = 0; p && guard < 256; guard++) {
		const char *line = p + 1, *eol = strchr(line, '\n');

		if (!eol)
			break;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1, *e = eol;

			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
				e--;
			*val = v;
			*vlen = (size_t)(e - v);
			return 1;
		}
		p = eol;
	}
	*val = "";
	*vlen = 0;
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Writes "Auth-Pass: <pass>\r\n" into out, undoing nginx's %XX escaping when
 * that yields no control bytes; returns its length. */
static size_t
pass_line(char *out, size_t outsz, const char *p, size_t plen)
{
	size_t o = (size_t)snprintf(out, outsz, "Auth-Pass: "), i;

	for (i = 0; i < plen && o + 3 < outsz; i++) {
		int h, l;

		if (p[i] == '%' && i + 2 < plen && (h = hexval(p[i + 1])) >= 0 &&
		    (l = hexval(p[i + 2])) >= 0 && h * 16 + l >= 0x20) {
			out[o++] = (char)(h * 16 + l);
			i += 2;
		} else
			out[o++] = p[i];
	}
	out[o++] = '\r';
	out[o++] = '\n';
	return o;
}

/* 1 when the request's password (nginx's %XX escaping undone) is want. */
static int
pass_is(const char *p, size_t plen, const char *want)
{
	size_t wl = strlen(want), o = 0;

	for (size_t i = 0; i < plen; i++, o++) {
		int c = (unsigned char)p[i], h, l;

		if (c == '%' && i + 2 < plen && (h = hexval(p[i + 1])) >= 0 &&
		    (l = hexval(p[i + 2])) >= 0) {
			c = h * 16 + l;
			i += 2;
		}
		if (o >= wl || (unsigned char)want[o] != c)
			return 0;
	}
	return o == wl;
}

/* Sends iov; on a short write keeps the rest in c->out for EPOLLOUT. */
static void
respond(int fd, struct iovec *iov, int n)
{
	struct aconn *c = &conns[fd];
	size_t total = 0, done;
	ssize_t w;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	w = writev(fd, iov, n);
	done = w > 0 ? (size_t)w : 0;
	if (w < 0 && errno != EAGAIN) {
		conn_close(fd);
		return;
	}
	if (done == total) {
		if (c->keep)
			c->len = 0;	/* ready for the next request */
		else
			conn_close(fd);
		return;
	}
	c->outlen = 0;
	c->outoff = 0;
	for (int i = 0; i < n; i++) {
		size_t skip = done > iov[i].iov_len ? iov[i].iov_len : done;
		size_t rest = iov[i].iov_len - skip;

		done -= skip;
		if (rest > sizeof c->out - c->outlen)
			rest = sizeof c->out - c->outlen;
		memcpy(c->out + c->outlen, (char *)iov[i].iov_base + skip, rest);
		c->outlen += (uint32_t)rest;
	}
	struct epoll_event ev = { .events = EPOLLOUT, .data.fd = fd };
	epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void
respond_status(int fd, const char *status, const char *extra)
{
	char buf[256];
	struct iovec iov;

	iov.iov_base = buf;
	iov.iov_len = (size_t)snprintf(buf, sizeof buf, "%sAuth-Status: %s\r\n%s\r\n",
	    conns[fd].keep ? status_11 : status_10, status, extra);
	respond(fd, &iov, 1);
}

/* Handles one complete request head (NUL-terminated). */
static void
handle_request(int fd, char *head)
{
	const char *proto, *user, *pass, *method;
	size_t plen, ulen, pwlen, mlen;
	char pline[PASS_MAX + 16];
	struct iovec iov[4];
	int p, n = 2;
	struct backend *b;
	const char *eol = strchr(head, '\n');

	conns[fd].keep = eol != NULL && eol - head >= 9 &&
	    strncmp(eol - (eol[-1] == '\r' ? 9 : 8), "HTTP/1.1", 8) == 0;
	if (strncmp(head, "GET /stats ", 11) == 0) {	/* the counters, not counted */
		char st[320];

		iov[0].iov_base = st;
		iov[0].iov_len = (size_t)snprintf(st, sizeof st, "%s\r\n\r\nrequests=%llu ok=%llu "
		    "fail=%llu bad=%llu timeout=%llu\r\n", conns[fd].keep ?
		    "HTTP/1.1 200 OK\r\nConnection: close" : "HTTP/1.0 200 OK", n_req, n_ok,
		    n_fail, n_bad, n_timeout);
		conns[fd].keep = 0;
		respond(fd, iov, 1);
		return;
	}
	n_req++;
	if (strncmp(head, "GET ", 4) != 0) {
		static char bad[] = "HTTP/1.0 400 Bad Request\r\n\r\n";

		n_bad++;
		iov[0].iov_base = bad;
		iov[0].iov_len = sizeof bad - 1;
		respond(fd, iov, 1);
		return;
	}
	header(head, "Auth-Protocol", &proto, &plen);
	header(head, "Auth-User", &user, &ulen);
	header(head, "Auth-Pass", &pass, &pwlen);
	header(head, "Auth-Method", &method, &mlen);
	for (p = 0; p < P_N; p++)
		if (plen == strlen(proto_name[p]) && strncasecmp(proto, proto_name[p], plen) == 0)
			break;
	if (p == P_N) {
		n_bad++;
		respond_status(fd, "Unknown Auth-Protocol", "");
		return;
	}
	for (unsigned i = 0; i < nfail_users; i++)
		if (strlen(fail_users[i]) == ulen &&
		    memcmp(fail_users[i], user, ulen) == 0) {
			n_fail++;
			respond_status(fd, "Invalid login or password", "");
			return;
		}
	if (require_pass != NULL && (mlen == 0 || (mlen == 5 && strncasecmp(method, "plain", 5) == 0) ||
	    (mlen == 5 && strncasecmp(method, "login", 5) == 0)) &&
	    !pass_is(pass, pwlen, require_pass)) {
		n_fail++;
		respond_status(fd, "Invalid login or password", "Auth-Wait: 0\r\n");
		return;
	}
	if (nbackends[p] == 0) {
		n_bad++;
		respond_status(fd, "Temporary server problem, try again later", "");
		return;
	}
	b = &backends[p][next_backend[p]++ % nbackends[p]];
	iov[0].iov_base = conns[fd].keep ? status_11 : status_10;
	iov[0].iov_len = conns[fd].keep ? sizeof status_11 - 1 : sizeof status_10 - 1;
	iov[1].iov_base = b->resp;
	iov[1].iov_len = b->len;
	if (mlen >= 4 && strncasecmp(method, "plain", mlen) != 0 &&
	    strncasecmp(method, "none", mlen) != 0) {
		iov[n].iov_base = pline;	/* apop, cram-md5, external */
		iov[n++].iov_len = pass_line(pline, sizeof pline, fixed_pass,
		    strlen(fixed_pass));
	} else if (send_pass) {
		iov[n].iov_base = pline;
		iov[n++].iov_len = pass_line(pline, sizeof pline, pass, pwlen);
	}
	iov[n].iov_base = (char *)"\r\n";
	iov[n++].iov_len = 2;
	n_ok++;
	respond(fd, iov, n);
}

static void
on_readable(int fd)
{
	struct aconn *c = &conns[fd];
	char *end;

	for (int guard = 0; guard < 8; guard++) {
		ssize_t r = read(fd, c->req + c->len, REQ_MAX - 1 - c->len);

		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(fd);
			return;
		}
		if (r < 0)
			return;
		c->len += (uint32_t)r;
		c->req[c->len] = '\0';
		if ((end = strstr(c->req, "\r\n\r\n")) != NULL ||
		    (end = strstr(c->req, "\n\n")) != NULL) {
			end[*end == '\r' ? 2 : 1] = '\0';	/* keep the last header's LF */
			handle_request(fd, c->req);
			return;
		}
		if (c->len == REQ_MAX - 1) {
			static char big[] = "HTTP/1.0 400 Bad Request\r\n\r\n";
			struct iovec iov = { big, sizeof big - 1 };

			n_bad++;
			respond(fd, &iov, 1);
			return;
		}
	}
}

static void
on_writable(int fd)
{
	struct aconn *c = &conns[fd];
	ssize_t w = write(fd, c->out + c->outoff, c->outlen - c->outoff);

	if (w < 0 && errno == EAGAIN)
		return;
	if (w > 0)
		c->outoff += (uint32_t)w;
	if (w <= 0 || (c->outoff == c->outlen && !c->keep)) {
		conn_close(fd);
	} else if (c->outoff == c->outlen) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

		c->len = 0;
		epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
	}
}

static void
on_accept(uint64_t now)
{
	for (int i = 0; i < 512; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				ev.events = 0;	/* out of fds: pause until a close */
				ev.data.fd = lfd;
				epoll_ctl(epfd, EPOLL_CTL_MOD, lfd, &ev);
				lpaused = 1;
			}
			return;
		}
		if (fd >= maxconns) {
			close(fd);
			continue;
		}
		bc_nodelay(fd);
		conns[fd].used = 1;
		conns[fd].len = 0;
		conns[fd].since = now;
		ev.data.fd = fd;
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "imap", required_argument, NULL, 'i' },
		{ "pop3", required_argument, NULL, 'p' },
		{ "smtp", required_argument, NULL, 's' },
		{ "sieve", required_argument, NULL, 'S' },
		{ "fail-user", required_argument, NULL, 'f' },
		{ "send-pass", no_argument, NULL, 'P' },
		{ "password", required_argument, NULL, 'w' },
		{ "require-pass", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen_arg = "127.0.0.1:9000";
	struct sockaddr_in sa;
	struct epoll_event evs[512], ev = { .events = EPOLLIN };
	char err[160], a[32];
	uint64_t timeout_us = 30000000, last_sweep = 0;
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'l': listen_arg = optarg; break;
		case 'i': add_backend(P_IMAP, optarg); break;
		case 'p': add_backend(P_POP3, optarg); break;
		case 's': add_backend(P_SMTP, optarg); break;
		case 'S': add_backend(P_SIEVE, optarg); break;
		case 'P': send_pass = 1; break;
		case 'w': fixed_pass = optarg; break;
		case 'r': require_pass = optarg; break;
		case 't': timeout_us = (uint64_t)atoi(optarg) * 1000000u; break;
		case 'f':
			if (nfail_users < FAIL_MAX)
				fail_users[nfail_users++] = optarg;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || strlen(fixed_pass) > PASS_MAX || timeout_us == 0) {
		usage(stderr);
		return 2;
	}
	bc_signals();
	maxconns = bc_raise_nofile();
	if (bc_parse_addr(listen_arg, &sa, 0, err, sizeof err) != 0 ||
	    (lfd = bc_listen(&sa, 4096, err, sizeof err)) < 0) {
		fprintf(stderr, "fakeauth: %s\n", err);
		return 1;
	}
	conns = calloc((size_t)maxconns, sizeof *conns);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0) {
		fprintf(stderr, "fakeauth: out of memory or epoll: %s\n", strerror(errno));
		return 1;
	}
	ev.data.fd = lfd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	printf("listening on %s\n", bc_addr_str(&sa, a, sizeof a));
	fflush(stdout);

	while (!bc_stop) {
		int n = epoll_wait(epfd, evs, 512, 1000);
		uint64_t now = bc_now_us();

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd)
				on_accept(now);
			else if (!conns[fd].used)
				continue;
			else if (evs[i].events & EPOLLOUT)
				on_writable(fd);
			else
				on_readable(fd);
		}
		if (now - last_sweep >= 1000000) {	/* idle timeout, once a second */
			last_sweep = now;
			for (int fd = 0; fd < maxconns; fd++)
				if (conns[fd].used && now - conns[fd].since > timeout_us) {
					n_timeout++;
					conn_close(fd);
				}
		}
	}
	fprintf(stderr, "fakeauth: requests=%llu ok=%llu fail=%llu bad=%llu "
	    "timeout=%llu\n", n_req, n_ok, n_fail, n_bad, n_timeout);
	return 0;
}
