/*
 * common/reuseport.c: the steering program's shape, and what the kernel does
 * with it. A group of four loopback listeners with a program for two live
 * ones: every connection, from a client port bound here, must land on the
 * socket reuseport_hash() % 2 names, and never on the two retired ones.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/reuseport.h"

Test(reuseport, hash_is_fixed)
{
	/* The integration test recomputes these in Python: keep them in step. */
	cr_assert_eq(reuseport_hash(0x7f000001, 40000), 0x54b500f9u);
	cr_assert_eq(reuseport_hash(0x7f000001, 40002), 0x97e88ff4u);
}

Test(reuseport, spread_of_even_ports)
{
	/* Ephemeral ports step by 2: two and four workers still share evenly. */
	for (unsigned n = 2; n <= 8; n *= 2) {
		unsigned count[8] = { 0 };
		for (unsigned p = 32768; p < 32768 + 4000; p += 2)
			count[reuseport_hash(0x7f000001, (uint16_t)p) % n]++;
		for (unsigned i = 0; i < n; i++)
			cr_assert(count[i] * n < 2000 * 12 / 10 && count[i] * n > 2000 * 8 / 10,
			    "%u workers: worker %u got %u of 2000", n, i, count[i]);
	}
}

Test(reuseport, prog_sizes_and_refusals)
{
	struct sock_filter p[REUSEPORT_MAX_INSNS];
	int cpus[4] = { 0, 1, -1, 1 };

	size_t base = reuseport_prog(p, REUSEPORT_MAX_INSNS, 2, NULL, 0);
	cr_assert_gt(base, 10);
	cr_assert_eq(p[base - 1].code, BPF_RET | BPF_A);
	/* One compare and one return per CPU that has a worker. */
	cr_assert_eq(reuseport_prog(p, REUSEPORT_MAX_INSNS, 2, cpus, 4), base + 1 + 3 * 2);
	cr_assert_eq(p[0].k, (uint32_t)SKF_AD_OFF + SKF_AD_CPU);
	cr_assert_eq(reuseport_prog(p, REUSEPORT_MAX_INSNS, 0, NULL, 0), 0);
	cr_assert_eq(reuseport_prog(p, REUSEPORT_MAX_INSNS, 1, cpus, 4), 0, "index 1 of 1 worker");
	cr_assert_eq(reuseport_prog(p, base - 1, 2, NULL, 0), 0, "too small");
}

static socklen_t
loopback(int family, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons((uint16_t)port);
	a->sin6_addr = in6addr_loopback;
	return sizeof(*a);
}

static int
listener(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, port, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;

	cr_assert_geq(fd, 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	cr_assert_eq(listen(fd, 64), 0);
	return fd;
}

/* Four sockets, a program for two: where each connection from a known port lands. */
static void
follows_the_program(int family)
{
	struct sock_filter p[REUSEPORT_MAX_INSNS];
	struct sock_fprog fp;
	int ls[4], port = 0, got[4] = { 0 }, want[2] = { 0 };
	/* ::1 folds to 1 (the XOR of its four words). */
	uint32_t addr = family == AF_INET ? INADDR_LOOPBACK : 1;

	/* A free port: the first socket's bind tells. */
	for (int try = 0; try < 50 && port == 0; try++) {
		int cand = 20000 + (int)((getpid() * 7919 + try * 104729 + family) % 20000);
		ls[0] = listener(family, cand);
		if (ls[0] >= 0)
			port = cand;
	}
	cr_assert_neq(port, 0);
	for (int i = 1; i < 4; i++)
		cr_assert_geq(ls[i] = listener(family, port), 0);
	fp.len = (unsigned short)reuseport_prog(p, REUSEPORT_MAX_INSNS, 2, NULL, 0);
	fp.filter = p;
	cr_assert_eq(setsockopt(ls[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fp, sizeof(fp)), 0,
	    "%s", strerror(errno));

	int sent = 0;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage src, dst;
		int c = socket(family, SOCK_STREAM, 0), one = 1;
		uint16_t sport = (uint16_t)(port + 1 + i);
		socklen_t len = loopback(family, sport, &src);

		loopback(family, port, &dst);
		setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(c, (struct sockaddr *)&src, len) < 0) {
			close(c);
			continue;	/* that port is someone else's */
		}
		cr_assert_eq(connect(c, (struct sockaddr *)&dst, len), 0, "%s", strerror(errno));
		want[reuseport_hash(addr, sport) % 2]++;
		sent++;
		/* Accept it at once, to see which socket it came to. */
		int found = -1;
		for (int k = 0; k < 4 && found < 0; k++) {
			int a = accept(ls[k], NULL, NULL);
			if (a >= 0) {
				found = k;
				close(a);
			}
		}
		cr_assert_geq(found, 0, "connection %d accepted nowhere", i);
		cr_assert_eq((unsigned)found, reuseport_hash(addr, sport) % 2,
		    "client port %u went to socket %d", sport, found);
		got[found]++;
		close(c);
	}
	cr_assert_gt(sent, 32);
	cr_assert_eq(got[2] + got[3], 0);
	cr_assert_eq(got[0], want[0]);
	cr_assert_gt(got[0], 0);
	cr_assert_gt(got[1], 0);
	for (int i = 0; i < 4; i++)
		close(ls[i]);
}

Test(reuseport, kernel_follows_the_program_ipv4)
{
	follows_the_program(AF_INET);
}

Test(reuseport, kernel_follows_the_program_ipv6)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET6, 0, &ss);

	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0) {
		if (fd >= 0)
			close(fd);
		cr_skip_test("no IPv6 loopback here");
	}
	close(fd);
	follows_the_program(AF_INET6);
}
