/*
 * bench_common.h: helpers shared by the benchmark programs in test/bench/
 * (fakeauth, fakebackend, loadgen). Everything is static inline so that each
 * program stays a single translation unit. Addresses are IPv4 and must lie in
 * the loopback range 127.0.0.0/8: the benchmark never sends traffic elsewhere.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BC_MAX_ADDRS 64

static volatile sig_atomic_t bc_stop;	/* SIGINT or SIGTERM seen */
static volatile sig_atomic_t bc_usr1;	/* SIGUSR1 seen */

static inline void
bc_on_signal(int sig)
{
	if (sig == SIGUSR1)
		bc_usr1 = 1;
	else
		bc_stop = 1;
}

/* SIGINT/SIGTERM/SIGUSR1 set flags and interrupt epoll_wait; SIGPIPE is ignored. */
static inline void
bc_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = bc_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static inline uint64_t
bc_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Raises RLIMIT_NOFILE to its hard limit; returns the resulting soft limit. */
static inline int
bc_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
}

/*
 * Parses "HOST:PORT" (or "HOST" when port_opt, giving port 0) into sa.
 * HOST must be a dotted IPv4 address in 127.0.0.0/8 ("localhost" is taken as
 * 127.0.0.1). Returns 0, or -1 with a message in err.
 */
static inline int
bc_parse_addr(const char *s, struct sockaddr_in *sa, int port_opt, char *err,
    size_t errlen)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	long port = 0;
	char *end;

	if (hl == 0 || hl >= sizeof host || (!colon && !port_opt)) {
		snprintf(err, errlen, "%s: expected HOST:PORT", s);
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (colon) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port < 0 || port > 65535) {
			snprintf(err, errlen, "%s: bad port", s);
			return -1;
		}
	}
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		snprintf(err, errlen, "%s: not an IPv4 address", s);
		return -1;
	}
	if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
		snprintf(err, errlen, "%s: only loopback addresses (127.0.0.0/8) "
		    "are allowed", s);
		return -1;
	}
	return 0;
}

/* Formats sa as "a.b.c.d:port" into buf (at least 32 bytes). */
static inline const char *
bc_addr_str(const struct sockaddr_in *sa, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof ip);
	snprintf(buf, len, "%s:%u", ip, ntohs(sa->sin_port));
	return buf;
}

static inline void
bc_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/*
 * Non-blocking listening socket with SO_REUSEADDR on sa; when sa's port is 0
 * the kernel's choice is written back into sa. Returns the fd, or -1 with err.
 */
static inline int
bc_listen(struct sockaddr_in *sa, int backlog, char *err, size_t errlen)
{
	int fd, one = 1;
	socklen_t sl = sizeof *sa;
	char a[32];

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	bc_nodelay(fd);
	if (bind(fd, (struct sockaddr *)sa, sizeof *sa) != 0 ||
	    listen(fd, backlog) != 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &sl) != 0) {
		snprintf(err, errlen, "listen %s: %s",
		    bc_addr_str(sa, a, sizeof a), strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Parses a count with an optional k/m/g suffix (binary multiples); -1 if bad. */
static inline long long
bc_parse_size(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	return *end ? -1 : v;
}

/* Index of arg in names[0..n), or exit(2) naming the option. */
static inline int
bc_pick(const char *arg, const char *const *names, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (strcmp(arg, names[i]) == 0)
			return i;
	fprintf(stderr, "%s: unknown value \"%s\"\n", what, arg);
	exit(2);
}

/* Appends the address arg to list (at most max entries), or exit(2). */
static inline void
bc_add_addr(struct sockaddr_in *list, int *n, int max, const char *arg, int port_opt,
    const char *what)
{
	char err[128];

	if (*n == max || bc_parse_addr(arg, &list[*n], port_opt, err,
	    sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", what, *n == max ?
		    "too many addresses" : err);
		exit(2);
	}
	(*n)++;
}

/* Replaces bytes that would need escaping in a JSON string with '?'. */
static inline void
bc_json_plain(char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ||
		    (unsigned char)*s >= 0x7f)
			*s = '?';
}

static inline int
bc_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v[0..n) and returns its q-quantile (0..1), nearest rank; 0 if n == 0.
 * Call with ascending q: the sort is done when q == 0 or on the first call. */
static inline uint32_t
bc_quantile(uint32_t *v, long long n, double q, int sort)
{
	if (n <= 0)
		return 0;
	if (sort)
		qsort(v, (size_t)n, sizeof v[0], bc_cmp_u32);
	return v[(long long)(q * (double)(n - 1) + 0.5)];
}

/* The first queued OpenSSL error (or errno) as text; clears the queue. */
static inline const char *
bc_tls_err(void)
{
	static char buf[120];
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof buf);
	else
		snprintf(buf, sizeof buf, "%s", errno ? strerror(errno) : "closed");
	ERR_clear_error();
	return buf;
}

/* Maps an SSL_* result: 0 would block (*wantw set if it must write first),
 * -1 error, -2 end of stream. */
static inline ssize_t
bc_tls_status(SSL *ssl, int r, uint8_t *wantw)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*wantw = 1;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -2;
	default:
		return -1;
	}
}

/* Non-blocking read from fd, through ssl when not NULL: >0 bytes, 0 would
 * block, -1 error, -2 end of stream. */
static inline ssize_t
bc_io_read(int fd, SSL *ssl, char *buf, size_t len, uint8_t *wantw)
{
	ssize_t n = ssl ? SSL_read(ssl, buf, (int)len) : recv(fd, buf, len, 0);

	if (n > 0)
		return n;
	if (ssl)
		return bc_tls_status(ssl, (int)n, wantw);
	return n == 0 ? -2 : errno == EAGAIN || errno == EINTR ? 0 : -1;
}

/* Non-blocking write: >0 bytes, 0 would block, -1 error. */
static inline ssize_t
bc_io_write(int fd, SSL *ssl, const char *buf, size_t len, uint8_t *wantw)
{
	ssize_t n = ssl ? SSL_write(ssl, buf, (int)len) :
	    send(fd, buf, len, MSG_NOSIGNAL);

	if (n > 0)
		return n;
	if (ssl)
		return bc_tls_status(ssl, (int)n, wantw) == 0 ? 0 : -1;
	return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

/* A TLS client context without certificate checks (benchmark targets use
 * self-signed certificates). version: 0 any (1.2 or 1.3), 1 only TLS 1.2,
 * 2 only TLS 1.3. notickets sets SSL_OP_NO_TICKET. NULL on failure. */
static inline SSL_CTX *
bc_tls_client_ctx(int version, int notickets)
{
	static const int ver[] = { 0, TLS1_2_VERSION, TLS1_3_VERSION };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_min_proto_version(ctx, version ? ver[version] : TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, ver[version]);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
	    (notickets ? SSL_OP_NO_TICKET : 0));
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

#endif /* BENCH_COMMON_H */
