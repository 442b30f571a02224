/*
 * worker/tls/utls.c against a client written here from RFC 8446 (HKDF through
 * OpenSSL's HKDF, records sealed with EVP, not with utls.c's code), over a
 * socket pair: data both ways for each suite, records cut into single bytes,
 * padding, KeyUpdate asked once and many times (one answer), and hostile
 * input: forged tags, wrong outer types, oversized and undersized records,
 * two KeyUpdates in one record, empty handshake records, a stream of records
 * without data (counted in a row, across reads; a KeyUpdate before every
 * command is fine), a record without a type, EOF inside a record;
 * close_notify and user_canceled.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/event/conn.h"
#include "worker/tls/utls.h"

struct side {
	uint8_t secret[48], key[32], iv[12];
	uint64_t seq;
};

struct peer {
	uint16_t suite;
	const EVP_CIPHER *cipher;
	const EVP_MD *md;
	size_t keylen, hashlen;
	struct side c, s;	/* the client's keys (what utls opens), the server's (what it seals) */
};

static struct conn conn;
static int sv[2];
static struct peer P;

static void
hkdf_label(const struct peer *p, const uint8_t *secret, const char *label, uint8_t *out, size_t olen)
{
	uint8_t info[64];
	size_t n = 0, ll = strlen(label);
	EVP_PKEY_CTX *k = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);

	info[n++] = (uint8_t)(olen >> 8);
	info[n++] = (uint8_t)olen;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, ll);
	n += 6 + ll;
	info[n++] = 0;
	cr_assert_not_null(k);
	cr_assert_eq(EVP_PKEY_derive_init(k), 1);
	cr_assert_eq(EVP_PKEY_CTX_set_hkdf_mode(k, EVP_PKEY_HKDEF_MODE_EXPAND_ONLY), 1);
	cr_assert_eq(EVP_PKEY_CTX_set_hkdf_md(k, p->md), 1);
	cr_assert_eq(EVP_PKEY_CTX_set1_hkdf_key(k, secret, (int)p->hashlen), 1);
	cr_assert_eq(EVP_PKEY_CTX_add1_hkdf_info(k, info, (int)n), 1);
	cr_assert_eq(EVP_PKEY_derive(k, out, &olen), 1);
	EVP_PKEY_CTX_free(k);
}

static void
side_keys(const struct peer *p, struct side *d)
{
	hkdf_label(p, d->secret, "key", d->key, p->keylen);
	hkdf_label(p, d->secret, "iv", d->iv, 12);
	d->seq = 0;
}

static void
side_update(const struct peer *p, struct side *d)
{
	uint8_t next[48];

	hkdf_label(p, d->secret, "traffic upd", next, p->hashlen);
	memcpy(d->secret, next, p->hashlen);
	side_keys(p, d);
}

static void
setup_suite(uint16_t suite)
{
	uint8_t cs[48], ss[48];

	memset(&P, 0, sizeof(P));
	P.suite = suite;
	P.cipher = suite == 0x1301 ? EVP_aes_128_gcm() : suite == 0x1302 ? EVP_aes_256_gcm() :
	    EVP_chacha20_poly1305();
	P.md = suite == 0x1302 ? EVP_sha384() : EVP_sha256();
	P.keylen = suite == 0x1301 ? 16 : 32;
	P.hashlen = (size_t)EVP_MD_get_size(P.md);
	for (size_t i = 0; i < P.hashlen; i++) {
		cs[i] = (uint8_t)(0x11 + i);
		ss[i] = (uint8_t)(0x80 + i);
	}
	memcpy(P.c.secret, cs, P.hashlen);
	memcpy(P.s.secret, ss, P.hashlen);
	side_keys(&P, &P.c);
	side_keys(&P, &P.s);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	conn_init(&conn, sv[0], NULL);
	cr_assert_eq(utls_init(), 0);
	cr_assert_eq(utls_install(&conn, suite, cs, ss, P.hashlen), 0);
}

static void setup(void) { setup_suite(0x1301); }

static void
teardown(void)
{
	utls_free(&conn);
	close(sv[0]);
	close(sv[1]);
	utls_shutdown();
}

TestSuite(utls, .init = setup, .fini = teardown);

static void
nonce(const struct side *d, uint8_t iv[12])
{
	memcpy(iv, d->iv, 12);
	for (int i = 0; i < 8; i++)
		iv[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

/* A record from the client: inner = data, type, pad zeros; returns its size. */
static size_t
seal_rec(uint8_t type, const void *data, size_t len, size_t pad, uint8_t *out)
{
	uint8_t iv[12], inner[20000];
	size_t il = len + 1 + pad, clen = il + 16;
	int n, f;
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();

	memcpy(inner, data, len);
	inner[len] = type;
	memset(inner + len + 1, 0, pad);
	out[0] = 23;
	out[1] = 3;
	out[2] = 3;
	out[3] = (uint8_t)(clen >> 8);
	out[4] = (uint8_t)clen;
	nonce(&P.c, iv);
	cr_assert_eq(EVP_EncryptInit_ex(x, P.cipher, NULL, P.c.key, iv), 1);
	cr_assert_eq(EVP_EncryptUpdate(x, NULL, &n, out, 5), 1);
	cr_assert_eq(EVP_EncryptUpdate(x, out + 5, &n, inner, (int)il), 1);
	cr_assert_eq(EVP_EncryptFinal_ex(x, out + 5 + n, &f), 1);
	cr_assert_eq(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + il), 1);
	EVP_CIPHER_CTX_free(x);
	P.c.seq++;
	return 5 + clen;
}

static void
client_send(const void *p, size_t n)
{
	cr_assert_eq(write(sv[1], p, n), (ssize_t)n);
}

static void
client_record(uint8_t type, const void *data, size_t len)
{
	uint8_t rec[20000];

	client_send(rec, seal_rec(type, data, len, 0, rec));
}

/* Reads and opens the next record from the proxy; returns the content length. */
static size_t
server_record(uint8_t *type, uint8_t *out)
{
	uint8_t hdr[5], body[20000], iv[12];
	size_t clen;
	int n, f;
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();

	cr_assert_eq(recv(sv[1], hdr, 5, MSG_WAITALL), 5);
	cr_assert_eq(hdr[0], 23);
	clen = (size_t)hdr[3] << 8 | hdr[4];
	cr_assert_eq(recv(sv[1], body, clen, MSG_WAITALL), (ssize_t)clen);
	nonce(&P.s, iv);
	cr_assert_eq(EVP_DecryptInit_ex(x, P.cipher, NULL, P.s.key, iv), 1);
	cr_assert_eq(EVP_DecryptUpdate(x, NULL, &n, hdr, 5), 1);
	cr_assert_eq(EVP_DecryptUpdate(x, out, &n, body, (int)(clen - 16)), 1);
	cr_assert_eq(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, body + clen - 16), 1);
	cr_assert_eq(EVP_DecryptFinal_ex(x, out + n, &f), 1, "the proxy's record does not open");
	EVP_CIPHER_CTX_free(x);
	P.s.seq++;
	size_t i = clen - 16;
	while (i > 0 && out[i - 1] == 0)
		i--;
	cr_assert_gt(i, 0);
	*type = out[i - 1];
	return i - 1;
}

static int
nothing_from_server(void)
{
	char b;
	return recv(sv[1], &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

static ssize_t
proxy_read(char *buf, size_t len)
{
	conn.rd_wait = CONN_WAIT_NONE;
	return conn_recv(&conn, buf, len);
}

static const uint8_t KU_REQ[5] = { 24, 0, 0, 1, 1 }, KU[5] = { 24, 0, 0, 1, 0 };

static void
both_ways(void)
{
	char buf[64];
	uint8_t type, out[20000];

	client_record(23, "a NOOP\r\n", 8);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), 8);
	cr_assert_eq(memcmp(buf, "a NOOP\r\n", 8), 0);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_AGAIN);
	cr_assert_eq(conn_send(&conn, "a OK\r\n", 6), 6);
	cr_assert_eq(server_record(&type, out), 6);
	cr_assert_eq(type, 23);
	cr_assert_eq(memcmp(out, "a OK\r\n", 6), 0);
}

Test(utls, data_both_ways_aes128) { both_ways(); }
Test(utls, data_both_ways_aes256) { teardown(); setup_suite(0x1302); both_ways(); }
Test(utls, data_both_ways_chacha20) { teardown(); setup_suite(0x1303); both_ways(); }

Test(utls, unknown_suite_refused)
{
	struct conn c2;
	uint8_t s[32] = { 0 };

	conn_init(&c2, -1, NULL);
	cr_assert_eq(utls_install(&c2, 0x1304, s, s, 32), -1);
	cr_assert_null(c2.utls);
}

/* Big data goes out as several full records; a record arrives one byte at a time. */
Test(utls, big_data_and_single_bytes)
{
	static char big[40000], back[40000];
	uint8_t rec[20000], type, out[20000];
	char buf[64];
	size_t got = 0, n;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	cr_assert_eq(conn_send(&conn, big, sizeof(big)), (ssize_t)sizeof(big));
	while (got < sizeof(big)) {
		n = server_record(&type, out);
		cr_assert_leq(n, 16384);
		memcpy(back + got, out, n);
		got += n;
	}
	cr_assert_eq(memcmp(big, back, sizeof(big)), 0);

	n = seal_rec(23, "b NOOP\r\n", 8, 3, rec);	/* with padding */
	for (size_t i = 0; i + 1 < n; i++) {
		client_send(rec + i, 1);
		cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_AGAIN, "byte %zu", i);
	}
	client_send(rec + n - 1, 1);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), 8);
	cr_assert_eq(memcmp(buf, "b NOOP\r\n", 8), 0);
}

/* A reader with less room than a record gets the rest at the next call. */
Test(utls, small_reads)
{
	char buf[4];

	client_record(23, "0123456789", 10);
	cr_assert_eq(proxy_read(buf, 4), 4);
	cr_assert_eq(memcmp(buf, "0123", 4), 0);
	cr_assert_eq(proxy_read(buf, 4), 4);
	cr_assert_eq(proxy_read(buf, 4), 2);
	cr_assert_eq(memcmp(buf, "89", 2), 0);
	cr_assert_eq(proxy_read(buf, 4), CONN_AGAIN);
}

/* What the reader had no room for is read again without a new edge (the relay
 * reads only while conn_can_read()). */
Test(utls, kept_bytes_keep_the_conn_readable)
{
	uint8_t rec[2][200];
	size_t a = seal_rec(23, "0123456789", 10, 0, rec[0]), b = seal_rec(23, "ab", 2, 0, rec[1]);
	char buf[16];

	client_send(rec[0], a);
	client_send(rec[1], b);
	cr_assert_eq(proxy_read(buf, 4), 4);
	cr_assert(conn_can_read(&conn), "plaintext kept back");
	cr_assert_eq(conn_recv(&conn, buf, 6), 6);
	cr_assert(conn_can_read(&conn), "a whole record not opened yet");
	cr_assert_eq(conn_recv(&conn, buf, sizeof(buf)), 2);
	cr_assert_eq(memcmp(buf, "ab", 2), 0);
}

/* KeyUpdate asked three times: the client's keys move three times, ours once. */
Test(utls, key_update_asked_answered_once)
{
	uint8_t type, out[20000];
	char buf[64];

	for (int i = 0; i < 3; i++) {
		client_record(22, KU_REQ, 5);
		side_update(&P, &P.c);
	}
	client_record(23, "c NOOP\r\n", 8);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), 8);
	cr_assert_eq(memcmp(buf, "c NOOP\r\n", 8), 0);
	cr_assert_eq(server_record(&type, out), 5);
	cr_assert_eq(type, 22);
	cr_assert_eq(memcmp(out, KU, 5), 0);
	cr_assert(nothing_from_server(), "one answer for three requests");
	side_update(&P, &P.s);
	cr_assert_eq(conn_send(&conn, "c OK\r\n", 6), 6);
	cr_assert_eq(server_record(&type, out), 6);
	cr_assert_eq(type, 23);
	/* Not asked: no answer, and the keys the client uses move on. */
	client_record(22, KU, 5);
	side_update(&P, &P.c);
	client_record(23, "d\r\n", 3);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), 3);
	cr_assert(nothing_from_server());
}

Test(utls, close_notify_and_user_canceled)
{
	char buf[64];
	static const uint8_t canceled[2] = { 1, 90 }, close_notify[2] = { 1, 0 };

	client_record(21, canceled, 2);
	client_record(23, "e\r\n", 3);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), 3);
	client_record(21, close_notify, 2);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), 0);
	cr_assert(conn.eof);
	cr_assert(!conn.err);
}

/* Data ahead of a bad record is handed out; the error comes at the next call. */
Test(utls, data_then_bad_record)
{
	uint8_t rec[2][200];
	size_t a = seal_rec(23, "f\r\n", 3, 0, rec[0]), b = seal_rec(23, "g\r\n", 3, 0, rec[1]);
	char buf[64];

	rec[1][b - 1] ^= 1;
	client_send(rec[0], a);
	client_send(rec[1], b);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), 3);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_ERROR);
	cr_assert(conn.err);
}

static void
expect_error(const uint8_t *bytes, size_t n, const char *what)
{
	char buf[64];

	client_send(bytes, n);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_ERROR, "%s", what);
	cr_assert(conn.err, "%s", what);
}

Test(utls, hostile_forged_tag)
{
	uint8_t rec[200];
	size_t n = seal_rec(23, "h\r\n", 3, 0, rec);

	rec[n - 5] ^= 0x40;
	expect_error(rec, n, "forged tag");
}

Test(utls, hostile_forged_header)
{
	uint8_t rec[200];
	size_t n = seal_rec(23, "h\r\n", 3, 0, rec);

	rec[2] = 1;	/* the header is authenticated data */
	expect_error(rec, n, "header changed");
}

Test(utls, hostile_plaintext_types)
{
	static const uint8_t plain_hs[] = { 22, 3, 3, 0, 20, 1, 0, 0, 16 };
	expect_error(plain_hs, sizeof(plain_hs), "outer type 22");
}

Test(utls, hostile_sizes)
{
	static const uint8_t too_big[5] = { 23, 3, 3, 0x41, 0x01 };	/* 16641 */
	static const uint8_t too_small[] = { 23, 3, 3, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

	expect_error(too_big, sizeof(too_big), "longer than 2^14 + 256");
	teardown();
	setup();
	expect_error(too_small, sizeof(too_small), "shorter than a tag and a type");
}

Test(utls, hostile_two_key_updates_in_one_record)
{
	uint8_t two[10], rec[200];

	memcpy(two, KU, 5);
	memcpy(two + 5, KU, 5);
	expect_error(rec, seal_rec(22, two, 10, 0, rec), "KeyUpdate not last in its record");
}

Test(utls, hostile_empty_handshake_and_unknown_message)
{
	static const uint8_t fin[8] = { 20, 0, 0, 4, 1, 2, 3, 4 };
	uint8_t rec[200];

	expect_error(rec, seal_rec(22, "", 0, 0, rec), "empty handshake record");
	teardown();
	setup();
	expect_error(rec, seal_rec(22, fin, 8, 0, rec), "Finished after the handshake");
}

Test(utls, hostile_record_without_type)
{
	uint8_t rec[200], iv[12], zeros[8] = { 0 };
	int n, f;
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();

	/* All-zero inner plaintext: no content type anywhere. */
	rec[0] = 23, rec[1] = 3, rec[2] = 3, rec[3] = 0, rec[4] = 8 + 16;
	nonce(&P.c, iv);
	EVP_EncryptInit_ex(x, P.cipher, NULL, P.c.key, iv);
	EVP_EncryptUpdate(x, NULL, &n, rec, 5);
	EVP_EncryptUpdate(x, rec + 5, &n, zeros, 8);
	EVP_EncryptFinal_ex(x, rec + 5 + n, &f);
	EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, rec + 13);
	EVP_CIPHER_CTX_free(x);
	expect_error(rec, 5 + 24, "no type");
}

/* Records without data, one after another, past a bound: the client is cut off. */
Test(utls, hostile_stream_of_empty_records)
{
	uint8_t rec[200];
	char buf[64];

	for (int i = 0; i < 10; i++)
		client_send(rec, seal_rec(23, "", 0, 0, rec));
	client_record(23, "i\r\n", 3);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), 3, "a few empty records are fine");
	for (int i = 0; i < 40; i++) {
		client_send(rec, seal_rec(22, KU_REQ, 5, 0, rec));
		side_update(&P, &P.c);
	}
	cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_ERROR);
}

/*
 * A KeyUpdate before every command (what a client rotating its keys often
 * sends): many pairs in one segment, more than QUIET_MAX, all opened in order.
 */
Test(utls, key_update_with_every_command_in_one_segment)
{
	enum { PAIRS = 1000 };
	static uint8_t burst[PAIRS * 80];
	static char want[PAIRS * 16], back[PAIRS * 16];
	size_t n = 0, wn = 0, got = 0;

	for (int i = 0; i < PAIRS; i++) {
		char cmd[16];
		int l = snprintf(cmd, sizeof(cmd), "a%d NOOP\r\n", i);
		n += seal_rec(22, KU, 5, 0, burst + n);
		side_update(&P, &P.c);
		n += seal_rec(23, cmd, (size_t)l, 0, burst + n);
		memcpy(want + wn, cmd, (size_t)l);
		wn += (size_t)l;
	}
	cr_assert_gt(n, 16384 + 256 + 5, "more than one read's worth");
	client_send(burst, n);
	for (int calls = 0; got < wn && calls < 2 * PAIRS; calls++) {
		ssize_t r = proxy_read(back + got, sizeof(back) - got);
		cr_assert_gt(r, 0, "read %d returned %zd after %zu of %zu bytes", calls, r, got, wn);
		got += (size_t)r;
	}
	cr_assert_eq(got, wn);
	cr_assert_eq(memcmp(back, want, wn), 0);
	cr_assert_eq(proxy_read(back, sizeof(back)), CONN_AGAIN);
	cr_assert(!conn.err);
	cr_assert(nothing_from_server(), "no KeyUpdate was asked for");
}

/* QUIET_MAX records in a row is the most: one more, even in a later read, ends it. */
Test(utls, records_without_data_count_in_a_row_across_reads)
{
	uint8_t rec[200];
	char buf[64];

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 32; i++) {
			client_send(rec, seal_rec(22, KU, 5, 0, rec));
			side_update(&P, &P.c);
			if (i % 8 == 7)
				cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_AGAIN, "round %d", round);
		}
		client_record(23, "k\r\n", 3);
		cr_assert_eq(proxy_read(buf, sizeof(buf)), 3, "32 in a row, then data: round %d", round);
	}
	for (int i = 0; i < 32; i++) {
		client_send(rec, seal_rec(23, "", 0, 0, rec));
		cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_AGAIN, "empty record %d", i);
	}
	client_send(rec, seal_rec(22, KU, 5, 0, rec));
	cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_ERROR, "the 33rd in a row, a read later");
	cr_assert(conn.err);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_ERROR, "and it stays an error");
}

Test(utls, eof_inside_a_record)
{
	uint8_t rec[200];
	size_t n = seal_rec(23, "j\r\n", 3, 0, rec);
	char buf[64];

	client_send(rec, n - 4);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_AGAIN);
	shutdown(sv[1], SHUT_WR);
	cr_assert_eq(proxy_read(buf, sizeof(buf)), CONN_ERROR);
}

/* A FIN asked for while sealed bytes wait follows them; close_notify goes first. */
Test(utls, shutdown_after_close_notify)
{
	uint8_t type, out[20000];

	conn_shutdown_write(&conn);
	cr_assert_eq(server_record(&type, out), 2);
	cr_assert_eq(type, 21);
	cr_assert_eq(out[0], 1);
	cr_assert_eq(out[1], 0);
	cr_assert_eq(recv(sv[1], out, 1, 0), 0, "FIN after close_notify");
}
