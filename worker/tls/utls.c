/*
 * TLS 1.3 record protection for relayed sessions; see utls.h. The AEAD
 * contexts are per worker (one each way per cipher suite), keyed again for
 * every record, so a session holds keys and sequence numbers only, and
 * buffers only while a record is half read or the socket would not take a
 * whole one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/buf.h"
#include "common/stats.h"
#include "worker/tls/utls.h"

#define HDR 5
#define TAG 16
#define PLAIN_MAX 16384			/* RFC 8446 5.1 */
#define CIPHER_MAX (PLAIN_MAX + 256)	/* RFC 8446 5.2 */
#define REC_MAX (HDR + CIPHER_MAX)
#define QUIET_MAX 32			/* records in a row without data (OpenSSL's MAX_EMPTY_RECORDS) */
#define OUT_MAX (1024 * 1024)		/* sealed bytes kept back, at most */

enum { CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPDATA = 23 };
#define HS_KEY_UPDATE 24

struct utls_dir {
	uint8_t secret[48];
	uint8_t key[32];
	uint8_t iv[12];
	uint64_t seq;
};

struct utls {
	struct utls_dir rd, wr;
	const struct suite *suite;
	uint8_t hashlen;
	uint8_t have;		/* 1: the client's traffic secret, 2: the server's */
	uint8_t refuse;		/* something came that the capture cannot follow */
	uint8_t update_owed;	/* the peer asked for our KeyUpdate */
	uint8_t failed;		/* an error after bytes already handed out: next call says so */
	uint8_t quiet;		/* records in a row without data (QUIET_MAX), across calls */
	struct buf raw;		/* received bytes not yet opened (a partial record) */
	struct buf plain;	/* opened bytes the caller had no room for */
	struct buf out;		/* sealed bytes the socket did not take */
};

/* The TLS 1.3 suites taken over, with this worker's contexts for them. */
struct suite {
	uint16_t id;
	uint8_t keylen;
	const char *cipher;
	const EVP_MD *(*md)(void);	/* the suite's hash, for HKDF */
	EVP_CIPHER_CTX *seal, *open;	/* made at first use, cipher set, no key */
};

static struct suite suites[] = {
	{ 0x1301, 16, "AES-128-GCM", EVP_sha256, NULL, NULL },
	{ 0x1302, 32, "AES-256-GCM", EVP_sha384, NULL, NULL },
	{ 0x1303, 32, "ChaCha20-Poly1305", EVP_sha256, NULL, NULL },
};

static int conn_index = -1;	/* SSL ex_data: the struct conn */
static const struct conn_layer utls_layer = {
	.recv = utls_recv,
	.send = utls_send,
	.flush = utls_flush,
	.pending = utls_pending,
	.close_notify = utls_close_notify,
	.free = utls_free,
};
static void keylog_cb(const SSL *ssl, const char *line);
static int disabled;

int
utls_init(void)
{
	const char *e = getenv("MAILPROXY_UTLS");

	disabled = e != NULL && e[0] == '0';
	if (conn_index < 0)
		conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return conn_index < 0 ? -1 : 0;
}

void
utls_shutdown(void)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		EVP_CIPHER_CTX_free(suites[i].seal);
		EVP_CIPHER_CTX_free(suites[i].open);
		suites[i].seal = suites[i].open = NULL;
	}
}

/* The suite of protocol id, its contexts ready; NULL if not taken over. */
static struct suite *
suite_for(uint16_t id)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		struct suite *su = &suites[i];
		if (su->id != id)
			continue;
		if (su->seal == NULL) {
			EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, su->cipher, NULL);
			EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();
			if (c == NULL || e == NULL || d == NULL ||
			    EVP_EncryptInit_ex(e, c, NULL, NULL, NULL) != 1 ||
			    EVP_DecryptInit_ex(d, c, NULL, NULL, NULL) != 1) {
				EVP_CIPHER_free(c);
				EVP_CIPHER_CTX_free(e);
				EVP_CIPHER_CTX_free(d);
				return NULL;
			}
			EVP_CIPHER_free(c);	/* the contexts keep their reference */
			su->seal = e;
			su->open = d;
		}
		return su;
	}
	return NULL;
}

/* The conn whose SSL this is, if it still is. */
static struct conn *
conn_of(const SSL *ssl)
{
	struct conn *c = conn_index >= 0 ? SSL_get_ex_data(ssl, conn_index) : NULL;

	return c != NULL && c->ssl == ssl ? c : NULL;
}

static struct utls *
capture_of(const SSL *ssl)
{
	struct conn *c = conn_of(ssl);

	return c != NULL ? c->utls : NULL;
}

/* Counts records per direction; each side's Finished starts its traffic keys. */
static void
msg_cb(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
    void *arg)
{
	struct utls *u = capture_of(ssl);

	(void)version;
	(void)arg;
	if (u == NULL)
		return;
	if (content_type == SSL3_RT_HEADER) {
		if (write_p)
			u->wr.seq++;
		else
			u->rd.seq++;
		return;
	}
	if (content_type != SSL3_RT_HANDSHAKE || len == 0)
		return;
	switch (((const uint8_t *)buf)[0]) {
	case SSL3_MT_FINISHED:
		if (write_p)
			u->wr.seq = 0;
		else
			u->rd.seq = 0;
		break;
	case HS_KEY_UPDATE:
		u->refuse = 1;	/* the key log does not show updated secrets */
		break;
	}
}

void
utls_attach(struct conn *c)
{
	if (disabled || c->ssl == NULL || conn_index < 0)
		return;
	c->utls = calloc(1, sizeof(*c->utls));
	if (c->utls == NULL)
		return;
	c->layer = &utls_layer;
	SSL_set_ex_data(c->ssl, conn_index, c);
	SSL_set_msg_callback(c->ssl, msg_cb);
}

void
utls_handshake_step(struct conn *c)
{
	if (c->ssl != NULL)
		SSL_CTX_set_keylog_callback(SSL_get_SSL_CTX(c->ssl), c->utls != NULL ? keylog_cb : NULL);
}

/* Does the ClientHello's supported_versions list TLS 1.3? */
static int
offers_tls13(SSL *ssl)
{
	const unsigned char *p;
	size_t len;

	if (SSL_get_max_proto_version(ssl) != 0 && SSL_get_max_proto_version(ssl) < TLS1_3_VERSION)
		return 0;
	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_versions, &p, &len) || len < 1 ||
	    (size_t)p[0] + 1 > len)
		return 0;
	for (size_t i = 1; i + 1 < (size_t)p[0] + 1; i += 2)
		if (p[i] == 0x03 && p[i + 1] == 0x04)
			return 1;
	return 0;
}

int
utls_client_hello_cb(SSL *ssl, int *alert, void *arg)
{
	struct conn *c = conn_of(ssl);

	(void)alert;
	(void)arg;
	if (c != NULL && c->utls != NULL && !offers_tls13(ssl)) {
		SSL_set_msg_callback(ssl, NULL);
		utls_free(c);
		utls_handshake_step(c);
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

static int
unhex(const char *s, uint8_t *out, size_t max, size_t *n)
{
	size_t i = 0;

	for (; s[0] && s[0] != ' '; s += 2) {
		int hi, lo;
		if (!s[1] || i == max)
			return -1;
		hi = OPENSSL_hexchar2int((unsigned char)s[0]);
		lo = OPENSSL_hexchar2int((unsigned char)s[1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i++] = (uint8_t)(hi << 4 | lo);
	}
	*n = i;
	return 0;
}

static void
keylog_cb(const SSL *ssl, const char *line)
{
	struct utls *u = capture_of(ssl);
	struct utls_dir *d;
	const char *p;
	size_t n;
	int bit;

	if (u == NULL)
		return;
	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0) {
		d = &u->rd;
		bit = 1;
	} else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0) {
		d = &u->wr;
		bit = 2;
	} else {
		return;
	}
	p = strchr(line + 24, ' ');	/* past the client random */
	if (p == NULL || unhex(p + 1, d->secret, sizeof(d->secret), &n) < 0) {
		u->refuse = 1;
		return;
	}
	u->hashlen = (uint8_t)n;
	u->have |= (uint8_t)bit;
}

/* HKDF-Expand-Label(secret, label, "", len) for len <= the hash length (RFC 8446 7.1). */
static int
expand_label(const struct utls *u, const uint8_t *secret, const char *label, uint8_t *out,
    size_t len)
{
	uint8_t info[2 + 1 + 6 + 16 + 1 + 1], t[EVP_MAX_MD_SIZE];
	size_t ll = strlen(label), n = 0;
	unsigned tl = 0;

	if (ll > 16 || len > u->hashlen)
		return -1;
	info[n++] = (uint8_t)(len >> 8);
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0;	/* no context */
	info[n++] = 1;	/* HKDF-Expand's first block is all it takes */
	if (HMAC(u->suite->md(), secret, u->hashlen, info, n, t, &tl) == NULL || tl < len)
		return -1;
	memcpy(out, t, len);
	OPENSSL_cleanse(t, sizeof(t));
	return 0;
}

static int
derive(const struct utls *u, struct utls_dir *d)
{
	if (expand_label(u, d->secret, "key", d->key, u->suite->keylen) < 0 ||
	    expand_label(u, d->secret, "iv", d->iv, sizeof(d->iv)) < 0)
		return -1;
	return 0;
}

/* RFC 8446 7.2: the next generation of a direction's secret; sequence back to 0. */
static int
key_update(const struct utls *u, struct utls_dir *d)
{
	uint8_t next[48];

	if (expand_label(u, d->secret, "traffic upd", next, u->hashlen) < 0)
		return -1;
	memcpy(d->secret, next, u->hashlen);
	OPENSSL_cleanse(next, sizeof(next));
	d->seq = 0;
	return derive(u, d);
}

/* The suite's contexts and both directions' keys from the captured secrets. */
static int
keys_ready(struct utls *u, uint16_t suite_id)
{
	if ((u->suite = suite_for(suite_id)) == NULL ||
	    (size_t)EVP_MD_get_size(u->suite->md()) != u->hashlen ||
	    derive(u, &u->rd) < 0 || derive(u, &u->wr) < 0)
		return -1;
	return 0;
}

int
utls_install(struct conn *c, uint16_t suite_id, const uint8_t *client_secret,
    const uint8_t *server_secret, size_t len)
{
	struct utls *u;

	if (c->ssl != NULL || c->utls != NULL || len > sizeof(u->rd.secret))
		return -1;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -1;
	memcpy(u->rd.secret, client_secret, len);
	memcpy(u->wr.secret, server_secret, len);
	u->hashlen = (uint8_t)len;
	c->utls = u;
	c->layer = &utls_layer;
	if (keys_ready(u, suite_id) < 0) {
		utls_free(c);
		return -1;
	}
	return 0;
}

static void
drop_capture(struct conn *c)
{
	if (c->ssl != NULL)
		SSL_set_msg_callback(c->ssl, NULL);
	utls_free(c);
}

int
utls_take_over(struct conn *c)
{
	struct utls *u = c->utls;
	const SSL_CIPHER *ciph;

	if (u == NULL || c->ssl == NULL)
		return -1;
	if (SSL_version(c->ssl) != TLS1_3_VERSION || u->refuse || u->have != 3 ||
	    (ciph = SSL_get_current_cipher(c->ssl)) == NULL) {
		drop_capture(c);
		return -1;
	}
	/* Bytes inside OpenSSL (a record half read, plaintext not taken, a
	 * record half written) would be lost: not now. */
	if (SSL_has_pending(c->ssl) || c->ssl_wpend || strcmp(SSL_rstate_string(c->ssl), "RH") != 0)
		return 0;	/* "RH": not even a record header half read (and counted) */
	if (keys_ready(u, SSL_CIPHER_get_protocol_id(ciph)) < 0) {
		drop_capture(c);
		return -1;
	}
	SSL_set_msg_callback(c->ssl, NULL);
	/* Freed without a shutdown, OpenSSL would drop the session from the
	 * caches as a bad one: this is a good end as far as it is concerned. */
	SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);	/* the socket BIO does not close the descriptor */
	c->ssl = NULL;
	STAT_ADD(tls_offloaded, 1);
	return 1;
}

static void
nonce(const struct utls_dir *d, uint8_t out[12])
{
	memcpy(out, d->iv, 12);
	for (int i = 0; i < 8; i++)
		out[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

/* Seals data + type into one record at out (room for HDR + len + 1 + TAG). */
static int
seal(struct utls *u, uint8_t type, const uint8_t *data, size_t len, uint8_t *out)
{
	uint8_t iv[12];
	size_t clen = len + 1 + TAG;
	int n, f;

	if (u->wr.seq == UINT64_MAX)
		return -1;
	out[0] = CT_APPDATA;
	out[1] = 3;
	out[2] = 3;
	out[3] = (uint8_t)(clen >> 8);
	out[4] = (uint8_t)clen;
	memcpy(out + HDR, data, len);
	out[HDR + len] = type;
	nonce(&u->wr, iv);
	EVP_CIPHER_CTX *a = u->suite->seal;
	if (EVP_EncryptInit_ex(a, NULL, NULL, u->wr.key, iv) != 1 ||
	    EVP_EncryptUpdate(a, NULL, &n, out, HDR) != 1 ||
	    EVP_EncryptUpdate(a, out + HDR, &n, out + HDR, (int)len + 1) != 1 ||
	    EVP_EncryptFinal_ex(a, out + HDR + n, &f) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a, EVP_CTRL_AEAD_GET_TAG, TAG, out + HDR + len + 1) != 1)
		return -1;
	u->wr.seq++;
	return 0;
}

/* Appends one sealed record of data to u->out. */
static int
queue_record(struct utls *u, uint8_t type, const uint8_t *data, size_t len)
{
	if (buf_reserve(&u->out, HDR + len + 1 + TAG, OUT_MAX) < 0)
		return -1;
	if (seal(u, type, data, len, (uint8_t *)buf_wptr(&u->out)) < 0)
		return -1;
	u->out.w += HDR + len + 1 + TAG;
	return 0;
}

/* Opens the record at rec (its header says clen bytes follow) in place; the
 * content ends at *len, its type in *type. */
static int
open_in_place(struct utls *u, uint8_t *rec, size_t clen, uint8_t *type, size_t *len)
{
	uint8_t iv[12], *body = rec + HDR;
	int n, f;

	if (u->rd.seq == UINT64_MAX)
		return -1;
	nonce(&u->rd, iv);
	EVP_CIPHER_CTX *a = u->suite->open;
	if (EVP_DecryptInit_ex(a, NULL, NULL, u->rd.key, iv) != 1 ||
	    EVP_DecryptUpdate(a, NULL, &n, rec, HDR) != 1 ||
	    EVP_DecryptUpdate(a, body, &n, body, (int)(clen - TAG)) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a, EVP_CTRL_AEAD_SET_TAG, TAG, body + clen - TAG) != 1 ||
	    EVP_DecryptFinal_ex(a, body + n, &f) != 1)
		return -1;	/* bad_record_mac */
	u->rd.seq++;
	/* The real type is the last byte that is not padding. */
	size_t i = clen - TAG;
	while (i > 0 && body[i - 1] == 0)
		i--;
	if (i == 0 || i - 1 > PLAIN_MAX)
		return -1;	/* no type, or record_overflow */
	*type = body[i - 1];
	*len = i - 1;
	return 0;
}

/*
 * A handshake record after the switch: one KeyUpdate, which must end its
 * record (RFC 8446 4.6.3, 5.1). An answer asked for is owed once however
 * often it is asked, and goes out before our next record (answer_update).
 */
static int
handshake(struct conn *c, const uint8_t *p, size_t len)
{
	struct utls *u = c->utls;

	if (len != 5 || p[0] != HS_KEY_UPDATE || p[1] != 0 || p[2] != 0 || p[3] != 1 || p[4] > 1)
		return -1;
	if (key_update(u, &u->rd) < 0)
		return -1;
	if (p[4] == 1 && !c->shut_wr)
		u->update_owed = 1;	/* nothing is sent after our close_notify */
	return 0;
}

/* Our KeyUpdate, under the current keys, then the keys switch. */
static int
answer_update(struct utls *u)
{
	static const uint8_t ku[5] = { HS_KEY_UPDATE, 0, 0, 1, 0 };

	if (!u->update_owed)
		return 0;
	u->update_owed = 0;
	if (queue_record(u, CT_HANDSHAKE, ku, sizeof(ku)) < 0 || key_update(u, &u->wr) < 0)
		return -1;
	return 0;
}

/*
 * Opens the first record in u->raw if it is all there: 1 done (its content,
 * if any, copied to out or kept in u->plain), 0 not all there, 2 close_notify,
 * -1 an error.
 */
static int
take_record(struct conn *c, uint8_t *out, size_t room, size_t *got)
{
	struct utls *u = c->utls;
	uint8_t *rec = (uint8_t *)buf_rptr(&u->raw), type;
	size_t have = buf_len(&u->raw), clen, len;

	if (have < HDR)
		return 0;
	clen = (size_t)rec[3] << 8 | rec[4];
	if (rec[0] != CT_APPDATA || rec[1] != 3 || clen < TAG + 1 || clen > CIPHER_MAX)
		return -1;
	if (have < HDR + clen)
		return 0;
	if (open_in_place(u, rec, clen, &type, &len) < 0)
		return -1;
	const uint8_t *body = rec + HDR;
	if (type == CT_APPDATA) {
		size_t n = len < room ? len : room;
		memcpy(out, body, n);
		*got += n;
		if (n < len && buf_append(&u->plain, body + n, len - n) < 0)
			return -1;
	} else if (type == CT_ALERT) {
		buf_consume(&u->raw, HDR + clen);
		if (len == 2 && body[1] == 90)
			return 1;	/* user_canceled: a close_notify follows */
		return len == 2 && body[1] == 0 ? 2 : -1;	/* close_notify, or the end */
	} else if (type != CT_HANDSHAKE || handshake(c, body, len) < 0) {
		return -1;
	}
	buf_consume(&u->raw, HDR + clen);
	return 1;
}

/* Plaintext kept back, or a whole record not opened yet, or an error to tell. */
static int
more_kept(const struct utls *u)
{
	const uint8_t *rec = (const uint8_t *)buf_rptr(&u->raw);
	size_t have = buf_len(&u->raw);

	return u->failed || buf_len(&u->plain) > 0 ||
	    (have >= HDR && have >= HDR + ((size_t)rec[3] << 8 | rec[4]));
}

/* Errors stick: a caller that reads again is not served records past one. */
static ssize_t
recv_failed(struct conn *c, int err)
{
	c->utls->failed = 1;
	c->last_errno = err;
	c->err = 1;
	return CONN_ERROR;
}

ssize_t
utls_recv(struct conn *c, void *buf, size_t len)
{
	struct utls *u = c->utls;
	size_t got = 0;

	if (u->failed)
		return recv_failed(c, EPROTO);
	for (;;) {
		if (buf_len(&u->plain) > 0) {
			size_t n = buf_len(&u->plain) < len - got ? buf_len(&u->plain) : len - got;
			memcpy((char *)buf + got, buf_rptr(&u->plain), n);
			buf_consume(&u->plain, n);
			got += n;
			if (buf_len(&u->plain) == 0)
				buf_release(&u->plain);
		}
		while (got < len && buf_len(&u->plain) == 0) {
			size_t before = got;
			int r = take_record(c, (uint8_t *)buf + got, len - got, &got);
			if (r == 0)
				break;
			if (r == 2) {
				c->eof = 1;
				return (ssize_t)got;
			}
			/* Records that carry nothing (KeyUpdate, empty data) come in
			 * reason; a stream of them is a client keeping the worker busy.
			 * Only those in a row count, as OpenSSL counts its empty records
			 * and KeyUpdates: a KeyUpdate before every command is fine. The
			 * count lives in u, so a stream cut into reads is still one. */
			if (r == 1 && got == before && ++u->quiet > QUIET_MAX)
				r = -1;
			else if (got > before)
				u->quiet = 0;
			if (r < 0) {
				if (got == 0)
					return recv_failed(c, EPROTO);
				u->failed = 1;	/* hand out what came before it first */
				c->rd_wait = CONN_WAIT_NONE;
				return (ssize_t)got;
			}
		}
		if (buf_len(&u->raw) == 0)
			buf_release(&u->raw);
		if (answer_update(u) < 0)
			return recv_failed(c, EPROTO);
		if (buf_len(&u->out) > 0 && utls_flush(c) == CONN_ERROR)
			return CONN_ERROR;
		if (got > 0) {
			/* A short read above may have said "drained"; what is kept here
			 * must still be handed out without waiting for another edge. */
			if (more_kept(u))
				c->rd_wait = CONN_WAIT_NONE;
			return (ssize_t)got;
		}
		/* Room for the rest of one record at most: a session idle in the
		 * middle of a record holds no more than that. */
		if (buf_reserve(&u->raw, REC_MAX - buf_len(&u->raw), REC_MAX) < 0 ||
		    buf_room(&u->raw) == 0)
			return recv_failed(c, ENOMEM);
		/* A short read earlier in this loop proved the socket drained. */
		ssize_t n = conn_can_read(c) ?
		    conn_recv_plain(c, buf_wptr(&u->raw), buf_room(&u->raw)) : CONN_AGAIN;
		if (n > 0) {
			u->raw.w += (size_t)n;
			continue;
		}
		if (n == 0 && buf_len(&u->raw) > 0)
			return recv_failed(c, EPROTO);	/* a record cut short */
		if (buf_len(&u->raw) == 0)
			buf_release(&u->raw);
		return n;	/* 0 at the end (c->eof), CONN_AGAIN, CONN_ERROR */
	}
}

int
utls_flush(struct conn *c)
{
	struct utls *u = c->utls;

	while (buf_len(&u->out) > 0) {
		ssize_t n = conn_send_plain(c, buf_rptr(&u->out), buf_len(&u->out));
		if (n < 0)
			return (int)n;	/* CONN_AGAIN or CONN_ERROR */
		buf_consume(&u->out, (size_t)n);
	}
	buf_release(&u->out);
	if (c->fin_owed) {
		/* conn_shutdown_write() waited for the close_notify to be out. */
		c->fin_owed = 0;
		shutdown(c->io.fd, SHUT_WR);
	}
	return 0;
}

ssize_t
utls_send(struct conn *c, const void *buf, size_t len)
{
	struct utls *u = c->utls;
	size_t done = 0;
	int r;

	if ((r = utls_flush(c)) != 0)
		return r;
	if (answer_update(u) < 0) {
		c->err = 1;
		return CONN_ERROR;
	}
	/* Up to four full records per call: one send() for all of them. */
	while (done < len && done < 4 * PLAIN_MAX) {
		size_t n = len - done < PLAIN_MAX ? len - done : PLAIN_MAX;
		if (queue_record(u, CT_APPDATA, (const uint8_t *)buf + done, n) < 0) {
			c->err = 1;
			return CONN_ERROR;
		}
		done += n;
	}
	/* What the socket does not take now stays sealed in u->out. */
	if (utls_flush(c) == CONN_ERROR)
		return CONN_ERROR;
	return (ssize_t)done;
}

int
utls_pending(const struct conn *c)
{
	return c->utls != NULL && c->ssl == NULL && buf_len(&c->utls->out) > 0;
}

int
utls_has_unread(const struct conn *c)
{
	return c->utls != NULL && c->ssl == NULL &&
	    (buf_len(&c->utls->raw) > 0 || buf_len(&c->utls->plain) > 0);
}

void
utls_close_notify(struct conn *c)
{
	static const uint8_t close_notify[2] = { 1, 0 };

	if (c->utls == NULL || c->ssl != NULL)
		return;
	if (queue_record(c->utls, CT_ALERT, close_notify, sizeof(close_notify)) == 0)
		utls_flush(c);
}

void
utls_free(struct conn *c)
{
	struct utls *u = c->utls;

	if (u == NULL)
		return;
	buf_release(&u->raw);
	buf_release(&u->plain);
	buf_release(&u->out);
	OPENSSL_cleanse(u, sizeof(*u));
	free(u);
	c->utls = NULL;
	c->layer = NULL;
}
