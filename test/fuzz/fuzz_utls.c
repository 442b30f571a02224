/*
 * utls record opening (worker/tls/utls.c) over a socket pair: conn A takes a
 * client's records, sealed by test/fuzz/lib/fuzzb_tls13.c, in chunks cut at
 * fuzzer-chosen points and read with a fuzzer-chosen room; what A seals (its
 * data and its KeyUpdate answers) conn B, a second utls, opens. Modes, by
 * the first byte: 0 a valid stream of data, padding and KeyUpdates (asked
 * or not): A must open exactly what was sealed, and B exactly what A sent;
 * 1 raw bytes as records; 2 hostile records (any inner type, content and
 * outer header, forged bytes): A rejects or opens, never more than sealed,
 * never spins, never waits at EOF. Then: suite, read room, chunking, ops.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "test/fuzz/lib/fuzzb_input.h"
#include "test/fuzz/lib/fuzzb_tls13.h"
#include "worker/event/conn.h"
#include "worker/tls/utls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/*
 * Every input makes keys and buffers afresh (OpenSSL's HKDF contexts, utls's
 * 16 KB record buffer per read): with ASan's 256 MB quarantine nearly all
 * of it is new memory, page faults are most of the time, and the harness
 * runs 3-4 times slower. A use after free within an input is still seen.
 */
const char *
__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}

#define WIRE_MAX (128 * 1024)	/* client records per input, at most */
#define QUIET_RUN 16		/* records without data in a row, at most (utls allows 32) */
#define ASKED_MAX 8		/* KeyUpdates A may owe B before A sends data again */

struct run {
	int mode;
	int sv[2];
	struct conn a, b;
	struct fuzzb_tls13 cli;		/* the client's keys: what A opens */
	struct fuzzb_chunker ch;
	size_t room;			/* A's read buffer */
	struct buf wire;		/* client bytes not delivered yet */
	size_t sealed;			/* client bytes made so far */
	struct buf want_a, got_a;	/* plaintext sealed for A, opened by A */
	struct buf want_b, got_b;	/* what A sent, what B opened */
	int a_dead, a_eof, closed;
	unsigned quiet, asked;
};

static uint8_t rbuf[70000];

static void
append(struct buf *b, const void *p, size_t n)
{
	FUZZB_CHECK(buf_append(b, p, n) == 0, "out of memory");
}

/* got is a prefix of want (the whole of it when whole); bytes before from are checked. */
static void
check_prefix(const char *who, const struct buf *got, const struct buf *want, size_t from,
    int whole)
{
	FUZZB_CHECK(buf_len(got) <= buf_len(want), "%s opened %zu bytes, only %zu were sealed", who,
	    buf_len(got), buf_len(want));
	FUZZB_CHECK(buf_len(got) == from || memcmp(buf_rptr(got) + from, buf_rptr(want) + from,
	    buf_len(got) - from) == 0, "%s opened other bytes than were sealed", who);
	FUZZB_CHECK(!whole || buf_len(got) == buf_len(want),
	    "%s opened %zu bytes of %zu sealed: the rest is stuck", who, buf_len(got), buf_len(want));
}

/* B takes what A sent (its data and KeyUpdates); a valid stream, always. */
static void
drain_b(struct run *r)
{
	r->b.rd_wait = CONN_WAIT_NONE;
	for (int i = 0; conn_can_read(&r->b); i++) {
		FUZZB_CHECK(i < 100000, "B spins");
		ssize_t n = conn_recv(&r->b, rbuf, sizeof(rbuf));
		if (n == CONN_AGAIN)
			break;
		FUZZB_CHECK(n > 0, "B fails on what A sealed: %zd (errno %d)", n, r->b.last_errno);
		append(&r->got_b, rbuf, (size_t)n);
		check_prefix("B", &r->got_b, &r->want_b, buf_len(&r->got_b) - (size_t)n, 0);
	}
	/* The socket has room again: A's kept-back records may go. */
	r->a.wr_wait = CONN_WAIT_NONE;
	if (utls_pending(&r->a))
		FUZZB_CHECK(utls_flush(&r->a) != CONN_ERROR, "A cannot flush");
}

/* A reads as relay.c does after an edge: until CONN_AGAIN or the end (c->eof). */
static void
read_a(struct run *r)
{
	if (r->a_dead || r->a_eof)
		return;
	r->a.rd_wait = CONN_WAIT_NONE;
	for (int i = 0; !r->a.eof && conn_can_read(&r->a); i++) {
		FUZZB_CHECK(i < 4 * WIRE_MAX, "A spins");
		ssize_t n = conn_recv(&r->a, rbuf, r->room);
		if (n == CONN_AGAIN)
			break;
		if (n == CONN_ERROR) {
			FUZZB_CHECK(r->mode != 0, "A refuses a valid stream (errno %d) after %zu bytes",
			    r->a.last_errno, buf_len(&r->got_a));
			r->a_dead = 1;
			break;
		}
		FUZZB_CHECK(n > 0 || r->a.eof, "A returns 0 without eof");
		FUZZB_CHECK((size_t)n <= r->room, "A returns %zd bytes into %zu", n, r->room);
		append(&r->got_a, rbuf, (size_t)n);
		check_prefix("A", &r->got_a, &r->want_a, buf_len(&r->got_a) - (size_t)n, 0);
	}
	if (r->a.eof) {
		FUZZB_CHECK(r->closed, "A sees an end that was not sent");
		r->a_eof = 1;
	}
	drain_b(r);
}

/* The client's pending bytes into the socket, in chunks, A reading after each. */
static void
deliver(struct run *r)
{
	size_t least = buf_len(&r->wire) / 256;

	/* A that failed or ended is closed by its session: nothing more reaches it. */
	while (buf_len(&r->wire) > 0 && !r->a_dead && !r->a_eof) {
		/* At most about 256 chunks: byte by byte through 16 KB records finds
		 * nothing that a few hundred cuts do not, at a thousand times the cost. */
		size_t n = fuzzb_chunk(&r->ch, buf_len(&r->wire));
		n = n > least ? n : least < buf_len(&r->wire) ? least : buf_len(&r->wire);
		for (int full = 0; n > 0;) {
			ssize_t w = send(r->sv[1], buf_rptr(&r->wire), n, MSG_NOSIGNAL);
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				/* A read until CONN_AGAIN: the socket must have room now. */
				FUZZB_CHECK(full++ == 0, "the socket stays full: A does not read");
				read_a(r);
				if (r->a_dead || r->a_eof)
					break;
				continue;
			}
			full = 0;
			FUZZB_CHECK(w > 0, "send: %s", strerror(errno));
			buf_consume(&r->wire, (size_t)w);
			n -= (size_t)w;
		}
		read_a(r);
	}
	buf_release(&r->wire);
}

static void
seal(struct run *r, const uint8_t *hdr, uint8_t type, const uint8_t *p, size_t len, size_t pad)
{
	size_t need = 5 + len + 1 + pad + 16;

	FUZZB_CHECK(buf_reserve(&r->wire, need, 0) == 0, "out of memory");
	r->wire.w += fuzzb_tls13_seal(&r->cli, hdr, type, p, len, pad, (uint8_t *)buf_wptr(&r->wire));
	r->sealed += need;
}

static void
key_update(struct run *r, int ask)
{
	const uint8_t ku[5] = { 24, 0, 0, 1, (uint8_t)ask };

	seal(r, NULL, 22, ku, sizeof(ku), 0);
	fuzzb_tls13_update(&r->cli);
}

/* A sends n bytes; B must open them. */
static void
a_send(struct run *r, const uint8_t *p, size_t n)
{
	size_t done = 0;

	append(&r->want_b, p, n);
	for (int i = 0; done < n; i++) {
		FUZZB_CHECK(i < 100000, "A's send spins");
		ssize_t w = conn_send(&r->a, p + done, n - done);
		if (w == CONN_AGAIN) {
			drain_b(r);
			continue;
		}
		FUZZB_CHECK(w > 0, "A cannot send: %zd", w);
		done += (size_t)w;
	}
	drain_b(r);
	if (n > 0)
		r->asked = 0;	/* data ends B's run of KeyUpdates (utls allows 32 in a row) */
}

/* A valid stream: the plaintext A opens must be exactly what was sealed. */
static void
ops_valid(struct run *r, struct fuzzb_in *in)
{
	static uint8_t big[16384], sendbuf[65536];

	while (in->n > 0 && r->sealed < WIRE_MAX) {
		uint8_t op = fuzzb_u8(in);
		size_t len, pad = op >> 3, at;
		const uint8_t *p;

		switch (op & 7) {
		case 0: case 1: case 2:	/* data, maybe empty, maybe padded */
			p = fuzzb_bytes(in, fuzzb_u8(in), &len);
			if (len == 0 && r->quiet >= QUIET_RUN) {
				p = (const uint8_t *)"q";	/* keeps the stream valid */
				len = 1;
			}
			seal(r, NULL, 23, p, len, pad);
			append(&r->want_a, p, len);
			r->quiet = len == 0 ? r->quiet + 1 : 0;
			break;
		case 3:	/* a large record, up to the limit with its padding */
			len = 1 + fuzzb_u16(in) % sizeof(big);
			memset(big, op, len);
			big[0] = fuzzb_u8(in);
			pad = len + 1 + pad <= 16385 ? pad : 16385 - len - 1;
			seal(r, NULL, 23, big, len, pad);
			append(&r->want_a, big, len);
			r->quiet = 0;
			break;
		case 4: {	/* KeyUpdate, update_requested or not */
			int ask = (op >> 3 & 1) && r->asked < ASKED_MAX;
			if (r->quiet >= QUIET_RUN)
				break;
			key_update(r, ask);
			r->asked += (unsigned)ask;
			r->quiet++;
			break;
		}
		case 5:	/* A sends to B (its KeyUpdate answers go first), up to 64 KB */
			deliver(r);
			len = op & 0x80 ? fuzzb_u16(in) : fuzzb_u8(in) + 1u;
			p = fuzzb_bytes(in, len, &at);
			memcpy(sendbuf, p, at);
			memset(sendbuf + at, op, len - at);
			a_send(r, sendbuf, len);
			break;
		case 6:	/* what is sealed so far reaches A now */
			deliver(r);
			break;
		case 7:	/* user_canceled (a close_notify must follow), or padding only */
			if (r->quiet >= QUIET_RUN)
				break;
			if (op & 0x08)
				seal(r, NULL, 21, (const uint8_t *)"\001\132", 2, 0);
			else
				seal(r, NULL, 23, NULL, 0, fuzzb_u8(in));
			r->quiet++;
			break;
		}
	}
}

/* Hostile records: any inner type and content, outer headers, forged bytes. */
static void
ops_hostile(struct run *r, struct fuzzb_in *in)
{
	while (in->n > 0 && r->sealed < WIRE_MAX) {
		uint8_t op = fuzzb_u8(in), hdr[3], type;
		size_t len, at;
		const uint8_t *p;

		switch (op & 3) {
		case 0: {	/* inner type, content, padding and perhaps the outer header chosen */
			uint8_t c[257], real;
			size_t end;
			int update;

			type = fuzzb_u8(in);
			p = fuzzb_bytes(in, fuzzb_u8(in), &len);
			memcpy(c, p, len);
			if (op & 0x10) {
				hdr[0] = fuzzb_u8(in);
				hdr[1] = fuzzb_u8(in);
				hdr[2] = fuzzb_u8(in);
			}
			/* As the opener reads it: the type is the last byte that is not 0. */
			c[len] = type;
			end = len + 1;
			while (end > 0 && c[end - 1] == 0)
				end--;
			real = end > 0 ? c[end - 1] : 0;
			update = real == 22 && end == 6 && c[0] == 24 && c[1] == 0 && c[2] == 0 &&
			    c[3] == 1 && c[4] <= 1;
			if (update && c[4] == 1 && r->asked++ >= ASKED_MAX)
				c[4] = 0;
			seal(r, op & 0x10 ? hdr : NULL, type, c, len, op >> 5);
			if (real == 23)
				append(&r->want_a, c, end - 1);
			if (real == 21)
				r->closed = 1;	/* perhaps a close_notify: an end may come */
			if (update)
				fuzzb_tls13_update(&r->cli);
			break;
		}
		case 1:	/* a data record with one byte changed: it must not open */
			p = fuzzb_bytes(in, fuzzb_u8(in), &len);
			at = buf_len(&r->wire);
			seal(r, NULL, 23, p, len, 0);
			at += fuzzb_u16(in) % (buf_len(&r->wire) - at);
			r->wire.data[r->wire.r + at] ^= (char)(fuzzb_u8(in) | 1);
			break;
		case 2:	/* raw bytes */
			p = fuzzb_bytes(in, fuzzb_u8(in), &len);
			append(&r->wire, p, len);
			r->sealed += len;
			break;
		case 3:
			deliver(r);
			break;
		}
	}
}

static void
setup(struct run *r, uint16_t suite)
{
	uint8_t cs[48], ss[48];

	for (size_t i = 0; i < sizeof(cs); i++) {
		cs[i] = (uint8_t)(0x11 + i * 7);
		ss[i] = (uint8_t)(0x80 ^ i * 13);
	}
	FUZZB_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, r->sv) == 0, "socketpair: %s", strerror(errno));
	fcntl(r->sv[0], F_SETFL, O_NONBLOCK);
	fcntl(r->sv[1], F_SETFL, O_NONBLOCK);
	conn_init(&r->a, r->sv[0], NULL);
	conn_init(&r->b, r->sv[1], NULL);
	FUZZB_CHECK(utls_init() == 0, "utls_init");
	fuzzb_tls13_init(&r->cli, suite, cs);
	FUZZB_CHECK(utls_install(&r->a, suite, cs, ss, r->cli.hashlen) == 0 &&
	    utls_install(&r->b, suite, ss, cs, r->cli.hashlen) == 0, "utls_install");
}

static void
teardown(struct run *r)
{
	utls_free(&r->a);
	utls_free(&r->b);
	close(r->sv[0]);
	close(r->sv[1]);
	buf_release(&r->wire);
	buf_release(&r->want_a);
	buf_release(&r->got_a);
	buf_release(&r->want_b);
	buf_release(&r->got_b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t suites[] = { 0x1301, 0x1302, 0x1303 };
	struct fuzzb_in in = { data, size };
	struct run r;
	uint8_t room;

	memset(&r, 0, sizeof(r));
	r.mode = fuzzb_u8(&in) % 3;
	setup(&r, suites[fuzzb_u8(&in) % 3]);
	room = fuzzb_u8(&in);
	r.room = room == 0 ? 65536 : (size_t)room * room / 4 + 1;
	fuzzb_chunker_init(&r.ch, &in);
	if (r.mode == 0) {
		ops_valid(&r, &in);
		/* close_notify: A must hand out everything, then the end. */
		seal(&r, NULL, 21, (const uint8_t *)"\001\000", 2, 0);
		r.closed = 1;
		deliver(&r);
		read_a(&r);
		FUZZB_CHECK(r.a_eof, "A did not see the close_notify (dead %d, %zu of %zu bytes opened)",
		    r.a_dead, buf_len(&r.got_a), buf_len(&r.want_a));
		check_prefix("A", &r.got_a, &r.want_a, buf_len(&r.got_a), 1);
	} else {
		if (r.mode == 1)
			append(&r.wire, in.p, in.n);
		else
			ops_hostile(&r, &in);
		deliver(&r);
		/* The client's FIN: A ends (cleanly only after a close_notify) or fails. */
		shutdown(r.sv[1], SHUT_WR);
		r.closed = 1;
		read_a(&r);
		FUZZB_CHECK(r.a_dead || r.a_eof, "A waits for more after the end");
		check_prefix("A", &r.got_a, &r.want_a, buf_len(&r.got_a), 0);
	}
	drain_b(&r);
	check_prefix("B", &r.got_b, &r.want_b, buf_len(&r.got_b), 1);
	teardown(&r);
	return 0;
}
