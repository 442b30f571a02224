/*
 * loadgen: the benchmark's load generator. One process, one level-triggered
 * epoll loop, thousands of non-blocking client sessions. Every session runs
 * a script (send a line, wait for the expected reply), built once at start
 * for the chosen --mode and --proto, one per --user (loadgen_script.h);
 * optional implicit TLS wraps it. Bounded by --count sessions, --seconds of
 * wall time and optionally --rate; prints one JSON line on stdout at the end
 * and a human summary on stderr.
 */
#include "bench_common.h"

#include <getopt.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <strings.h>
#include <sys/epoll.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define RBUF 2048
#define CHUNK (256 * 1024)
#define MAX_STEPS 16
#define SPOOL 1024		/* TLS sessions kept for --resume */
#define MAX_BINDS 256		/* --bind addresses */
#define MAX_USERS 16		/* --user names */

enum mode { M_LOGIN, M_IDLE, M_STREAM, M_TLS, M_AUTH };
enum proto { P_IMAP, P_POP3, P_SMTP };
enum phase { PH_FREE, PH_CONNECT, PH_HANDSHAKE, PH_RUN, PH_HELD };
enum exp { X_IMAP_GREET, X_CONT, X_TAG, X_POP_OK, X_SMTP, X_HTTP, X_EOF, X_ANY };
enum err { E_CONNECT, E_TIMEOUT, E_CLOSED, E_PROTO, E_TLS, E_N };

static const char *const mode_name[] = { "login", "idle", "stream", "tls", "auth" };
static const char *const proto_name[] = { "imap", "pop3", "smtp" };
static const char *const err_name[E_N] = { "connect", "timeout", "closed", "proto", "tls" };

#define F_LOGIN 1		/* this step's reply completes the login */
#define F_UPLOAD 2		/* send --bytes of payload before this step's line */

struct step {
	char *send;		/* sent when the step starts, or NULL */
	size_t sendlen;
	int exp, flags, code;	/* expected reply; SMTP code */
	char tag;		/* IMAP tag of the awaited tagged reply */
};

struct sess {
	int fd;
	uint8_t phase, step, again, wantw, ui;	/* ui: index of the session's --user */
	uint32_t rlen, ev;
	SSL *ssl;
	size_t woff;		/* bytes of the step's line already sent */
	uint64_t raw_left;	/* payload bytes still to swallow */
	uint64_t up_left;	/* payload bytes still to send */
	uint64_t t0, deadline;
	char rbuf[RBUF];
};

static struct {
	int mode, proto, tls, resume, notickets, tlsver, retry, literal, lplus, upload;
	int refusals;		/* a refused login is counted, not an error */
	long long count, conc, bytes;
	double seconds, timeout, hold, rate;
	const char *users[MAX_USERS], *pass, *ehlo, *sni, *uri;
	struct sockaddr_in targets[BC_MAX_ADDRS], binds[MAX_BINDS];
	int ntargets, nbinds, nusers;
} opt = {
	.count = -1, .conc = 100, .bytes = 64 << 20, .seconds = 60, .timeout = 10,
	.pass = "pass", .ehlo = "loadgen.test", .uri = "/auth",
};

static struct step script[MAX_USERS][MAX_STEPS];	/* one script per --user */
static int nsteps, build_ui, epfd, nfree, nagain;
static struct sess *pool, **free_list, **again_list;
static SSL_CTX *ctx;
static SSL_SESSION *spool[SPOOL], *last_sess;
static int nspool;
static uint32_t *lat;		/* login (or handshake) latencies, microseconds */
static uint32_t *rlat;		/* --refusals: connect to the refusal, microseconds */
static long long nlat, nrlat, refused, refused_temp;
static long long started, active, ok, errs[E_N], nerr, retries, held, dropped;
static long long aborted, handshakes, resumed;
static uint64_t now, timeout_us, bytes_total;
static char first_error[160], scratch[CHUNK], upload[CHUNK];

#include "loadgen_script.h"	/* the scripts and the reply judge */

/* Closes s and returns its slot; success counts it in "ok". */
static void
sess_end(struct sess *s, int success)
{
	if (s->ssl) {
		if (success)
			SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->phase = PH_FREE;
	s->again = 0;
	free_list[nfree++] = s;
	active--;
	ok += success;
}

static void
sess_fail(struct sess *s, int e, const char *why)
{
	errs[e]++;
	nerr++;
	if (!first_error[0]) {
		snprintf(first_error, sizeof first_error, "%s: %s", err_name[e], why);
		bc_json_plain(first_error);
	}
	if (opt.retry && retries < 10 * opt.count) {
		retries++;
		started--;
	}
	sess_end(s, 0);
}

static void
record_latency(struct sess *s)
{
	if (nlat < opt.count)
		lat[nlat++] = (uint32_t)(bc_now_us() - s->t0);
}

static void
step_begin(struct sess *s)
{
	s->woff = 0;
	if (script[s->ui][s->step].flags & F_UPLOAD)
		s->up_left = (uint64_t)opt.bytes;
}

/* --refusals: the login was refused (temp: the temporary failure the login
 * limits answer); the session is closed and counted apart, not as an error. */
static void
sess_refused(struct sess *s, int temp)
{
	refused++;
	refused_temp += temp;
	if (nrlat < opt.count)
		rlat[nrlat++] = (uint32_t)(bc_now_us() - s->t0);
	sess_end(s, 0);
}

/* The current step got its reply: go on; -1 when the session has ended. */
static int
sess_advance(struct sess *s)
{
	if (script[s->ui][s->step].flags & F_LOGIN) {
		record_latency(s);
		if (opt.mode == M_IDLE) {
			s->phase = PH_HELD;
			held++;
			return 0;
		}
	}
	if (++s->step == nsteps) {
		sess_end(s, 1);
		return -1;
	}
	step_begin(s);
	return 0;
}

/* Handles buffered reply bytes; -1 when the session has ended. */
static int
sess_parse(struct sess *s)
{
	size_t pos = 0;

	while (pos < s->rlen && s->phase == PH_RUN) {
		char *line = s->rbuf + pos, *eol;
		size_t len;
		int r;

		if (s->raw_left) {
			uint64_t k = s->rlen - pos < s->raw_left ? s->rlen - pos : s->raw_left;

			pos += k;
			s->raw_left -= k;
			bytes_total += k;
			continue;
		}
		if ((eol = memchr(line, '\n', s->rlen - pos)) == NULL)
			break;
		len = (size_t)(eol - line);
		pos += len + 1;
		if (len && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if ((r = on_line(s, line, len)) < 0) {
			sess_fail(s, E_PROTO, line);
			return -1;
		}
		if (r >= 2) {
			sess_refused(s, r == 3);
			return -1;
		}
		if (r > 0 && sess_advance(s) < 0)
			return -1;
	}
	if (s->phase == PH_HELD)
		pos = s->rlen;
	memmove(s->rbuf, s->rbuf + pos, s->rlen - pos);
	s->rlen -= (uint32_t)pos;
	if (s->rlen == RBUF) {
		sess_fail(s, E_PROTO, "reply line too long");
		return -1;
	}
	return 0;
}

/* Reads once; 1 progress, 0 nothing to read, -1 the session has ended. */
static int
sess_read(struct sess *s)
{
	int raw = s->raw_left && s->rlen == 0;
	size_t len = raw ? (s->raw_left < CHUNK ? s->raw_left : CHUNK) : RBUF - s->rlen;
	ssize_t n = bc_io_read(s->fd, s->ssl, raw ? scratch : s->rbuf + s->rlen, len,
	    &s->wantw);

	if (n == 0)
		return 0;
	if (n < 0 && s->phase == PH_HELD) {
		dropped++;
		sess_end(s, 0);
		return -1;
	}
	if (n == -2 && script[s->ui][s->step].exp == X_EOF) {
		sess_end(s, 1);
		return -1;
	}
	if (n < 0) {
		sess_fail(s, s->phase == PH_HANDSHAKE ? E_TLS : E_CLOSED,
		    n == -2 ? "connection closed by peer" :
		    s->ssl ? bc_tls_err() : strerror(errno));
		return -1;
	}
	s->deadline = now + timeout_us;
	if (s->phase == PH_HELD)
		return 1;	/* unsolicited data while held: ignored */
	if (raw) {
		s->raw_left -= (uint64_t)n;
		bytes_total += (uint64_t)n;
		return 1;
	}
	s->rlen += (uint32_t)n;
	return sess_parse(s) < 0 ? -1 : 1;
}

/* Writes what the step has to send; 1 progress, 0 none, -1 ended. */
static int
sess_write(struct sess *s)
{
	const struct step *st = &script[s->ui][s->step];
	int progress = 0;

	for (int guard = 0; guard < 64; guard++) {
		ssize_t n;

		if (s->up_left)
			n = bc_io_write(s->fd, s->ssl, upload, s->up_left < CHUNK ?
			    s->up_left : CHUNK, &s->wantw);
		else if (s->woff < st->sendlen)
			n = bc_io_write(s->fd, s->ssl, st->send + s->woff,
			    st->sendlen - s->woff, &s->wantw);
		else
			break;
		if (n < 0) {
			sess_fail(s, E_CLOSED, s->ssl ? bc_tls_err() : strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		progress = 1;
		s->deadline = now + timeout_us;
		if (s->up_left) {
			s->up_left -= (uint64_t)n;
			bytes_total += (uint64_t)n;
		} else
			s->woff += (size_t)n;
	}
	return progress;
}

/* Continues the TLS handshake; 1 done, 0 waiting, -1 the session failed. */
static int
sess_handshake(struct sess *s)
{
	int r = SSL_do_handshake(s->ssl);

	if (r != 1) {
		if (bc_tls_status(s->ssl, r, &s->wantw) == 0)
			return 0;
		sess_fail(s, E_TLS, bc_tls_err());
		return -1;
	}
	handshakes++;
	resumed += SSL_session_reused(s->ssl) ? 1 : 0;
	s->phase = PH_RUN;
	step_begin(s);
	return 1;
}

static void
sess_interest(struct sess *s)
{
	const struct step *st = &script[s->ui][s->step];
	struct epoll_event ev = { .data.ptr = s };

	ev.events = s->phase == PH_CONNECT ? EPOLLOUT : EPOLLIN;
	if (s->wantw || (s->phase == PH_RUN && (s->up_left || s->woff < st->sendlen)))
		ev.events |= EPOLLOUT;
	if (ev.events != s->ev) {
		epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
		s->ev = ev.events;
	}
}

/* Makes all the progress possible now: handshake, write, read. */
static void
sess_drive(struct sess *s)
{
	int guard, progress, r;

	for (guard = 0; guard < 64; guard++) {
		progress = 0;
		s->wantw = 0;
		if (s->phase == PH_HANDSHAKE) {
			if ((r = sess_handshake(s)) < 0)
				return;
			if (r == 0)
				break;
			progress = 1;
		}
		if (s->phase == PH_RUN) {
			if ((r = sess_write(s)) < 0)
				return;
			progress |= r;
		}
		if ((r = sess_read(s)) < 0)
			return;
		if (!(progress | r))
			break;
	}
	if (guard == 64 && !s->again) {	/* TLS may hold data epoll can't see */
		s->again = 1;
		again_list[nagain++] = s;
	}
	sess_interest(s);
}

static void
sess_connected(struct sess *s)
{
	int err = 0;
	socklen_t l = sizeof err;

	getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
	if (err) {
		sess_fail(s, E_CONNECT, strerror(err));
		return;
	}
	if (!opt.tls) {
		s->phase = PH_RUN;
		step_begin(s);
		return;
	}
	if (!(s->ssl = SSL_new(ctx)) || !SSL_set_fd(s->ssl, s->fd)) {
		sess_fail(s, E_TLS, bc_tls_err());
		return;
	}
	if (opt.sni)
		SSL_set_tlsext_host_name(s->ssl, opt.sni);
	if (opt.resume && nspool > 0) {	/* an unused ticket first */
		SSL_set_session(s->ssl, spool[--nspool]);
		SSL_SESSION_free(spool[nspool]);
	} else if (opt.resume && last_sess)
		SSL_set_session(s->ssl, last_sess);
	SSL_set_connect_state(s->ssl);
	s->phase = PH_HANDSHAKE;
}

static void
sess_start(void)
{
	static unsigned long long nconn;	/* every (target, bind) pair in turn */
	struct sess *s = free_list[--nfree];
	unsigned npairs = (unsigned)opt.ntargets * (unsigned)(opt.nbinds ? opt.nbinds : 1);
	const struct sockaddr_in *dst = &opt.targets[nconn % (unsigned)opt.ntargets];
	const struct sockaddr_in *src = &opt.binds[nconn / (unsigned)opt.ntargets %
	    (unsigned)(opt.nbinds ? opt.nbinds : 1)];
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = s };
	int one = 1;

	memset(s, 0, offsetof(struct sess, rbuf));
	s->ui = (uint8_t)(nconn++ / npairs % (unsigned)opt.nusers);	/* then the next user */
	started++;
	active++;
	s->phase = PH_CONNECT;
	s->ev = EPOLLOUT;
	s->t0 = bc_now_us();
	s->deadline = s->t0 + timeout_us;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		sess_fail(s, E_CONNECT, strerror(errno));
		return;
	}
	if (opt.nbinds) {
		setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(s->fd, (const struct sockaddr *)src, sizeof *src) != 0) {
			sess_fail(s, E_CONNECT, strerror(errno));
			return;
		}
	}
	bc_nodelay(s->fd);
	if (connect(s->fd, (const struct sockaddr *)dst, sizeof *dst) != 0 &&
	    errno != EINPROGRESS) {
		sess_fail(s, E_CONNECT, strerror(errno));
		return;
	}
	epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

/* TLS client sessions handed out by OpenSSL, kept for --resume: a stack of
 * unused ones (newest first) and the latest, reused when the stack is empty. */
static int
on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	if (last_sess)
		SSL_SESSION_free(last_sess);
	last_sess = sess;	/* our reference from returning 1 */
	if (nspool < SPOOL && SSL_SESSION_up_ref(sess))
		spool[nspool++] = sess;
	return 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: loadgen --target H:P [options]\n"
	    "  --mode login|idle|stream|tls|auth (login)  --proto imap|pop3|smtp (imap)\n"
	    "  auth:   one auth_http request per session; --uri PATH (/auth)\n"
	    "  --target H:P   server, repeatable (round-robin)\n"
	    "  --bind ADDR    local source address, repeatable (round-robin)\n"
	    "  --count N      sessions in all (1000; stream: --streams)\n"
	    "  --concurrency N  sessions at once (100; idle: ones logging in at once)\n"
	    "  --seconds S    hard time limit (60)   --timeout S  per-session inactivity (10)\n"
	    "  --user U --pass P   (user/pass; --user repeatable: sessions take the\n"
	    "                 users in turn, each over all (target, bind) pairs)\n"
	    "  --ehlo NAME (loadgen.test)\n"
	    "  --rate R       start at most R sessions per second (0: no limit)\n"
	    "  --refusals     a refused login (IMAP NO, POP3 -ERR, SMTP 4xx/5xx) is no\n"
	    "                 error: the session closes, counted in refused/refused_temp\n"
	    "  --literal      IMAP LOGIN with {n} literals   --literal-plus  with {n+}\n"
	    "  --retry        start a new session for each failed one\n"
	    "  idle:   --hold S  keep sessions open S seconds after \"holding N\" (0: until\n"
	    "          --seconds, SIGUSR1, SIGINT or SIGTERM)\n"
	    "  stream: --streams N (4)  --bytes N[k|m|g] (64m)  --upload (XSINK)\n"
	    "  TLS:    --tls (implicit TLS in any mode)  --resume  --tickets on|off\n"
	    "          --tls-version 1.2|1.3|any  --sni NAME\n"
	    "Prints \"holding N\" (idle) and one JSON line of results on stdout.\n");
}

static void
report(uint64_t t_start, uint64_t t_end)
{
	double secs = (double)(t_end - t_start) / 1e6, mean = 0;
	long long done = opt.mode == M_IDLE ? held : ok, e = nerr;
	uint32_t p50, p90, p99, pmax, r50, r99;

	for (long long i = 0; i < nlat; i++)
		mean += lat[i];
	mean = nlat ? mean / (double)nlat / 1000 : 0;
	p50 = bc_quantile(lat, nlat, 0.5, 1);
	p90 = bc_quantile(lat, nlat, 0.9, 0);
	p99 = bc_quantile(lat, nlat, 0.99, 0);
	pmax = bc_quantile(lat, nlat, 1, 0);
	r50 = bc_quantile(rlat, nrlat, 0.5, 1);
	r99 = bc_quantile(rlat, nrlat, 0.99, 0);
	if (secs <= 0)
		secs = 1e-6;
	printf("{\"mode\":\"%s\",\"proto\":\"%s\",\"tls\":%s,\"count\":%lld,"
	    "\"concurrency\":%lld,\"ok\":%lld,\"errors\":%lld,\"err_connect\":%lld,"
	    "\"err_timeout\":%lld,\"err_closed\":%lld,\"err_proto\":%lld,"
	    "\"err_tls\":%lld,\"aborted\":%lld,\"retries\":%lld,\"seconds\":%.3f,"
	    "\"rate\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
	    "\"max_ms\":%.3f,\"mean_ms\":%.3f,\"bytes\":%llu,\"mbps\":%.1f,"
	    "\"handshakes\":%lld,\"resumed\":%lld,\"resume_rate\":%.4f,"
	    "\"held\":%lld,\"dropped\":%lld,\"refused\":%lld,\"refused_temp\":%lld,"
	    "\"refused_p50_ms\":%.3f,\"refused_p99_ms\":%.3f,\"first_error\":\"%s\"}\n",
	    mode_name[opt.mode], proto_name[opt.proto], opt.tls ? "true" : "false",
	    opt.count, opt.conc, done, e, errs[E_CONNECT], errs[E_TIMEOUT],
	    errs[E_CLOSED], errs[E_PROTO], errs[E_TLS], aborted, retries, secs,
	    (double)done / secs, p50 / 1e3, p90 / 1e3, p99 / 1e3, pmax / 1e3, mean,
	    (unsigned long long)bytes_total, (double)bytes_total / 1e6 / secs,
	    handshakes, resumed, handshakes > 1 ? (double)resumed / (double)(handshakes - 1) : 0.0,
	    held, dropped, refused, refused_temp, r50 / 1e3, r99 / 1e3, first_error);
	fflush(stdout);
	fprintf(stderr, "loadgen: %s %s%s: ok=%lld errors=%lld in %.2fs = %.0f/s, "
	    "p50=%.2fms p99=%.2fms, %.1f MB/s, resumed %lld/%lld, refused %lld "
	    "(temporary %lld)%s%s\n",
	    mode_name[opt.mode], proto_name[opt.proto], opt.tls ? "+tls" : "", done,
	    e, secs, (double)done / secs, p50 / 1e3, p99 / 1e3,
	    (double)bytes_total / 1e6 / secs, resumed, handshakes, refused, refused_temp,
	    first_error[0] ? ", first error " : "", first_error);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", 1, NULL, 'm' }, { "proto", 1, NULL, 'P' },
		{ "target", 1, NULL, 't' }, { "bind", 1, NULL, 'b' },
		{ "count", 1, NULL, 'n' }, { "concurrency", 1, NULL, 'c' },
		{ "seconds", 1, NULL, 's' }, { "timeout", 1, NULL, 'T' },
		{ "user", 1, NULL, 'u' }, { "pass", 1, NULL, 'p' },
		{ "ehlo", 1, NULL, 'e' }, { "literal", 0, NULL, 'l' },
		{ "literal-plus", 0, NULL, 'L' }, { "retry", 0, NULL, 'r' },
		{ "hold", 1, NULL, 'H' }, { "streams", 1, NULL, 'S' },
		{ "bytes", 1, NULL, 'B' }, { "upload", 0, NULL, 'U' },
		{ "tls", 0, NULL, 'x' }, { "resume", 0, NULL, 'R' },
		{ "tickets", 1, NULL, 'k' }, { "tls-version", 1, NULL, 'v' },
		{ "sni", 1, NULL, 'N' }, { "uri", 1, NULL, 'I' },
		{ "rate", 1, NULL, 'a' }, { "refusals", 0, NULL, 'F' },
		{ "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const onoff[] = { "on", "off" }, *const vers[] = { "any", "1.2", "1.3" };
	long long streams = -1;
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'm': opt.mode = bc_pick(optarg, mode_name, 5, "--mode"); break;
		case 'P': opt.proto = bc_pick(optarg, proto_name, 3, "--proto"); break;
		case 't': bc_add_addr(opt.targets, &opt.ntargets, BC_MAX_ADDRS, optarg, 0,
		    "--target"); break;
		case 'b': bc_add_addr(opt.binds, &opt.nbinds, MAX_BINDS, optarg, 1, "--bind"); break;
		case 'n': opt.count = bc_parse_size(optarg); break;
		case 'c': opt.conc = bc_parse_size(optarg); break;
		case 's': opt.seconds = atof(optarg); break;
		case 'T': opt.timeout = atof(optarg); break;
		case 'u':
			if (opt.nusers == MAX_USERS || strlen(optarg) > 255) {
				fprintf(stderr, "loadgen: too many --user, or one too long\n");
				exit(2);
			}
			opt.users[opt.nusers++] = optarg;
			break;
		case 'a': opt.rate = atof(optarg); break;
		case 'F': opt.refusals = 1; break;
		case 'p': opt.pass = optarg; break;
		case 'e': opt.ehlo = optarg; break;
		case 'l': opt.literal = 1; break;
		case 'L': opt.lplus = 1; break;
		case 'r': opt.retry = 1; break;
		case 'H': opt.hold = atof(optarg); break;
		case 'S': streams = bc_parse_size(optarg); break;
		case 'B': opt.bytes = bc_parse_size(optarg); break;
		case 'U': opt.upload = 1; break;
		case 'x': opt.tls = 1; break;
		case 'R': opt.resume = 1; break;
		case 'k': opt.notickets = bc_pick(optarg, onoff, 2, "--tickets"); break;
		case 'v': opt.tlsver = bc_pick(optarg, vers, 3, "--tls-version"); break;
		case 'N': opt.sni = optarg; break;
		case 'I': opt.uri = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (opt.mode == M_STREAM) {
		opt.conc = streams > 0 ? streams : 4;
		if (opt.count < 0)
			opt.count = opt.conc;
	}
	if (opt.count < 0)
		opt.count = 1000;
	if (opt.nusers == 0)
		opt.users[opt.nusers++] = "user";
	opt.tls |= opt.mode == M_TLS;
	if (optind != argc || opt.ntargets == 0 || opt.count <= 0 || opt.conc <= 0 ||
	    opt.bytes < 0 || opt.seconds <= 0 || opt.timeout <= 0 || opt.rate < 0 ||
	    strlen(opt.pass) > 255 || strlen(opt.uri) > 200 ||
	    (opt.mode == M_STREAM && opt.proto != P_IMAP)) {
		fprintf(stderr, "loadgen: bad arguments (stream needs --proto imap; "
		    "--target is required)\n");
		usage(stderr);
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[1024];
	uint64_t t_start, t_stop, t_held = 0, last_sweep = 0;
	long long npool, limit;
	int holding = 0;

	parse_args(argc, argv);
	bc_signals();
	limit = bc_raise_nofile() - 32;
	npool = opt.mode == M_IDLE ? opt.count : opt.conc < opt.count ? opt.conc : opt.count;
	if (npool > limit) {
		fprintf(stderr, "loadgen: %lld sessions need more than the open-file "
		    "limit allows (%lld)\n", npool, limit);
		return 2;
	}
	if (npool / (opt.nbinds ? opt.nbinds : 1) / opt.ntargets > 12000)
		fprintf(stderr, "loadgen: hint: connect() slows down past ~14,000 "
		    "connections per source and target; add --bind 127.0.0.2 ...\n");
	build_script();
	if (opt.tls && !(ctx = bc_tls_client_ctx(opt.tlsver, opt.notickets))) {
		fprintf(stderr, "loadgen: SSL_CTX_new: %s\n", bc_tls_err());
		return 1;
	}
	if (opt.resume) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	}
	timeout_us = (uint64_t)(opt.timeout * 1e6);
	pool = calloc((size_t)npool, sizeof *pool);
	free_list = calloc((size_t)npool, sizeof *free_list);
	again_list = calloc((size_t)npool * 2, sizeof *again_list);
	lat = calloc((size_t)opt.count, sizeof *lat);
	rlat = calloc(opt.refusals ? (size_t)opt.count : 1, sizeof *rlat);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!pool || !free_list || !again_list || !lat || !rlat || epfd < 0) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	for (long long i = npool - 1; i >= 0; i--)
		free_list[nfree++] = &pool[i];
	memset(upload, 'x', sizeof upload);
	t_start = now = bc_now_us();
	t_stop = t_start + (uint64_t)(opt.seconds * 1e6);
	while (!bc_stop && now < t_stop) {
		long long cap = opt.resume && ok + held + nerr == 0 ? 1 : opt.conc;
		int n;

		/* --rate: no more sessions started than the rate allows by now */
		long long due = opt.rate > 0 ? 1 + (long long)((double)(now - t_start) *
		    opt.rate / 1e6) : opt.count;

		for (int k = 0; k < 256 && started < opt.count && started < due &&
		    nfree > 0 && active - held < cap; k++)
			sess_start();
		if (opt.mode != M_IDLE && started >= opt.count && active == 0)
			break;
		if (opt.mode == M_IDLE && !holding && started >= opt.count &&
		    active == held) {
			holding = 1;
			t_held = now;
			printf("holding %lld\n", held);
			fflush(stdout);
		}
		if (holding && (bc_usr1 || (opt.hold > 0 &&
		    now - t_held >= (uint64_t)(opt.hold * 1e6))))
			break;
		n = epoll_wait(epfd, evs, 1024, nagain ? 0 : opt.rate > 0 ? 2 : 50);
		now = bc_now_us();
		for (int i = 0; i < n; i++) {
			struct sess *s = evs[i].data.ptr;

			if (s->phase == PH_CONNECT)
				sess_connected(s);
			if (s->phase != PH_FREE && s->phase != PH_CONNECT)
				sess_drive(s);
		}
		n = nagain;	/* drives may append entries past n */
		for (int i = 0; i < n; i++) {
			struct sess *s = again_list[i];

			if (s->again && s->phase != PH_FREE) {
				s->again = 0;
				sess_drive(s);
			}
		}
		nagain -= n;
		memmove(again_list, again_list + n, (size_t)nagain * sizeof *again_list);
		if (now - last_sweep >= 100000) {
			last_sweep = now;
			for (long long i = 0; i < npool; i++)
				if (pool[i].phase != PH_FREE && pool[i].phase != PH_HELD &&
				    now > pool[i].deadline)
					sess_fail(&pool[i], E_TIMEOUT, "no progress");
		}
	}
	now = bc_now_us();
	for (long long i = 0; i < npool; i++) {	/* whatever is still open */
		if (pool[i].phase == PH_FREE)
			continue;
		aborted += pool[i].phase != PH_HELD;
		sess_end(&pool[i], 0);
	}
	report(t_start, opt.mode == M_IDLE && holding ? t_held : now);
	return 0;
}
