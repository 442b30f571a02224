/*
 * A TLS 1.3 IMAP client for test_tls_offload.py (which builds it with cc into
 * its temp dir): it logs in, then seals COUNT pairs of KeyUpdate + "kN NOOP"
 * into memory, writes them in one burst as fast as the socket takes them, and
 * reads until every NOOP is answered. Python's ssl module cannot send a KeyUpdate.
 *
 *	keyupdate_client PORT USER PASSWORD COUNT SECONDS
 *
 * Exits 0 after printing "answered COUNT of COUNT" when every kN got its OK, in
 * order, and a LOGOUT after them was answered too; otherwise says why on stderr
 * and exits 1. Everything is bounded by SECONDS.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static double deadline;
static int fd = -1;
static SSL *ssl;

/* The line being received, and how the lines so far went. */
static char line[4096];
static size_t linelen;
static long answered, count;

static _Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "keyupdate_client: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (%ld of %ld answered)\n", answered, count);
	va_end(ap);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until fd is ready for ev, or fails at the deadline. */
static void
wait_fd(short ev, const char *what)
{
	struct pollfd p = { .fd = fd, .events = ev };
	double left = deadline - now();

	if (left <= 0)
		fail("timed out %s", what);
	if (poll(&p, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
		fail("poll: %s", strerror(errno));
}

/* After an SSL call returned rc <= 0: waits for what it wants, or fails. */
static void
ssl_wait(int rc, const char *what)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		wait_fd(POLLIN, what);
		break;
	case SSL_ERROR_WANT_WRITE:
		wait_fd(POLLOUT, what);
		break;
	case SSL_ERROR_ZERO_RETURN:
		fail("the proxy closed the session (close_notify) %s", what);
	case SSL_ERROR_SYSCALL:
		fail("the connection ended %s: %s", what, errno ? strerror(errno) : "EOF");
	default:
		fail("TLS error %s (errno %s)", what, strerror(errno));
	}
}

static void
ssl_write_all(const char *s)
{
	int rc;

	while ((rc = SSL_write(ssl, s, (int)strlen(s))) <= 0)
		ssl_wait(rc, "writing");
}

/*
 * Reads what has arrived and hands each complete line to on_line, which
 * returns 1 when the caller's wait is over. Returns 1 then, 0 when nothing
 * more is there now.
 */
static int
read_lines(int (*on_line)(const char *))
{
	char buf[16384];
	int rc, done = 0;

	while (!done) {
		rc = SSL_read(ssl, buf, sizeof(buf));
		if (rc <= 0) {
			if (SSL_get_error(ssl, rc) == SSL_ERROR_WANT_READ)
				return 0;
			ssl_wait(rc, "reading");	/* fails unless WANT_WRITE */
			continue;
		}
		for (int i = 0; i < rc; i++) {
			if (linelen == sizeof(line) - 1)
				fail("a line longer than %zu bytes", sizeof(line));
			line[linelen++] = buf[i];
			if (buf[i] != '\n')
				continue;
			line[linelen] = '\0';
			linelen = 0;
			if (on_line(line)) {
				done = 1;	/* nothing more is expected */
				break;
			}
		}
	}
	return 1;
}

static void
read_until(int (*on_line)(const char *), const char *what)
{
	while (!read_lines(on_line))
		wait_fd(POLLIN, what);
}

static int
greeting(const char *l)
{
	if (strncmp(l, "* OK", 4) != 0)
		fail("greeting: %s", l);
	return 1;
}

static int
login_done(const char *l)
{
	if (l[0] == '*')
		return 0;
	if (strncmp(l, "a OK", 4) != 0)
		fail("login: %s", l);
	return 1;
}

/* "kN OK ..." for N = 0, 1, ... in order; untagged lines may come between. */
static int
noop_answer(const char *l)
{
	char want[32];
	int n = snprintf(want, sizeof(want), "k%ld OK", answered);

	if (l[0] == '*')
		return 0;
	if (strncmp(l, want, (size_t)n) != 0)
		fail("expected \"%s\", got: %s", want, l);
	return ++answered == count;
}

static int
logout_done(const char *l)
{
	if (l[0] == '*')
		return 0;
	if (strncmp(l, "z OK", 4) != 0)
		fail("logout: %s", l);
	return 1;
}

/* The records of the burst: KeyUpdate, then the NOOP, COUNT times over. */
static unsigned char *
seal_burst(size_t *len)
{
	BIO *mem = BIO_new(BIO_s_mem()), *sock = SSL_get_wbio(ssl);
	unsigned char *out;
	char *p;
	long n;
	size_t recs = 0, i = 0;

	if (mem == NULL || BIO_up_ref(sock) != 1)
		fail("BIO");
	SSL_set0_wbio(ssl, mem);
	for (long k = 0; k < count; k++) {
		char cmd[32];
		snprintf(cmd, sizeof(cmd), "k%ld NOOP\r\n", k);
		if (SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1)
			fail("SSL_key_update %ld", k);
		if (SSL_write(ssl, cmd, (int)strlen(cmd)) != (int)strlen(cmd))
			fail("sealing %ld", k);
	}
	n = BIO_get_mem_data(mem, &p);
	if (n <= 0 || (out = malloc((size_t)n)) == NULL)
		fail("no burst");
	memcpy(out, p, (size_t)n);
	SSL_set0_wbio(ssl, sock);	/* frees mem */
	*len = (size_t)n;
	/* Outer headers only: each KeyUpdate must be a record of its own. */
	while (i + 5 <= *len) {
		if (out[i] != 23)
			fail("record %zu has outer type %d", recs, out[i]);
		i += 5 + ((size_t)out[i + 3] << 8 | out[i + 4]);
		recs++;
	}
	if (i != *len || recs != 2 * (size_t)count)
		fail("%zu records in %zu bytes, want %ld", recs, *len, 2 * count);
	return out;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	SSL_CTX *ctx;
	unsigned char *burst;
	size_t len, off = 0;
	char login[512];
	int one = 1, rc;

	if (argc != 6) {
		fprintf(stderr, "usage: keyupdate_client PORT USER PASSWORD COUNT SECONDS\n");
		return 2;
	}
	count = atol(argv[4]);
	deadline = now() + atof(argv[5]);
	if (count <= 0 || snprintf(login, sizeof(login), "a LOGIN %s %s\r\n", argv[2],
	    argv[3]) >= (int)sizeof(login))
		fail("bad arguments");
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		fail("connect: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    (ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, "localhost") != 1)
		fail("TLS setup");
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	while ((rc = SSL_connect(ssl)) != 1)
		ssl_wait(rc, "in the handshake");
	read_until(greeting, "for the greeting");
	ssl_write_all(login);
	read_until(login_done, "for the login");

	burst = seal_burst(&len);
	/* Writing and reading at once: the answers must be taken while the
	 * burst goes out, or both sides' buffers fill and nothing moves. */
	while (answered < count) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (off < len ? POLLOUT : 0) };
		double left = deadline - now();
		if (left <= 0)
			fail("timed out with %zu of %zu bytes written", off, len);
		if (poll(&p, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		if (off < len && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = send(fd, burst + off, len - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (errno != EAGAIN && errno != EINTR)
				fail("send after %zu of %zu bytes: %s", off, len, strerror(errno));
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP))
			read_lines(noop_answer);
	}
	if (off != len)
		fail("all answered with %zu of %zu bytes written", off, len);
	free(burst);
	ssl_write_all("z LOGOUT\r\n");
	read_until(logout_done, "for the logout");
	printf("answered %ld of %ld (%zu bytes, %ld records)\n", answered, count, len, 2 * count);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return 0;
}
