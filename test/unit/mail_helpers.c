/* The IMAP/POP3/SMTP machine harness; see mail_helpers.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/sasl.h"

void
mh_client(struct mh *h, const char *ip)
{
	struct sockaddr_in *c4 = (struct sockaddr_in *)&h->caddr;
	struct sockaddr_in6 *c6 = (struct sockaddr_in6 *)&h->caddr;

	memset(&h->caddr, 0, sizeof(h->caddr));
	if (strchr(ip, ':') != NULL) {
		c6->sin6_family = AF_INET6;
		c6->sin6_port = htons(50123);
		cr_assert_eq(inet_pton(AF_INET6, ip, &c6->sin6_addr), 1);
	} else {
		c4->sin_family = AF_INET;
		c4->sin_port = htons(50123);
		cr_assert_eq(inet_pton(AF_INET, ip, &c4->sin_addr), 1);
	}
}

void
mh_load(struct mh *h, const char *port, const char *mail_yaml, const char *server_yaml)
{
	char yaml[4096];
	struct sockaddr_in *l = (struct sockaddr_in *)&h->laddr;

	memset(h, 0, sizeof(*h));
	snprintf(yaml, sizeof(yaml), MAIL_HEAD "  server_name: mx.example.com\n%s"
	    "  servers:\n    - listen: \"%s\"\n%s", mail_yaml ? mail_yaml : "", port,
	    server_yaml ? server_yaml : "");
	h->cf = th_load(yaml);
	cr_assert_not_null(h->cf, "config: %s", th_err());
	cr_assert_eq(h->cf->nservers, 1);
	h->conf = &h->cf->servers[0];
	h->proto = proto_for(h->conf->protocol);
	cr_assert_not_null(h->proto, "no machine for the protocol");
	h->rt = proto_rt_build(h->cf);
	cr_assert_not_null(h->rt);

	mh_client(h, "192.0.2.7");
	l->sin_family = AF_INET;
	l->sin_port = htons((uint16_t)atoi(port));
	inet_pton(AF_INET, "198.51.100.1", &l->sin_addr);

	h->ctx.conf = h->conf;
	h->ctx.rt = &h->rt[0];
	h->ctx.out = &h->out;
	h->ctx.bout = &h->bout;
	h->ctx.bufsize = h->conf->protocol == MP_PROTO_IMAP ? h->conf->imap_client_buffer :
	    h->conf->protocol == MP_PROTO_POP3 ? h->conf->pop3_client_buffer :
	    h->conf->protocol == MP_PROTO_SIEVE ? h->conf->sieve_client_buffer :
	    h->conf->smtp_client_buffer;
	h->ctx.client_addr = (struct sockaddr *)&h->caddr;
	h->ctx.local_addr = (struct sockaddr *)&h->laddr;
}

void
mh_open(struct mh *h, const char *port, const char *mail_yaml, const char *server_yaml)
{
	mh_load(h, port, mail_yaml, server_yaml);
	cr_assert_eq(h->proto->greeting(&h->ctx), 0);
	cr_assert_eq(buf_len(&h->bout), 0);
}

void
mh_open_imap(struct mh *h, const char *server_yaml)
{
	mh_open(h, "143", NULL, server_yaml);
	cr_assert_eq(h->conf->protocol, MP_PROTO_IMAP);
	cr_assert_str_eq(mh_out(h), "* OK IMAP4 ready\r\n");
}

void
mh_close(struct mh *h)
{
	h->proto->free(&h->ctx);
	creds_clear(&h->ctx.cr);
	buf_release(&h->out);
	buf_release(&h->bout);
	buf_release(&h->in);
	buf_release(&h->pend);
	proto_rt_free(h->rt, h->cf->nservers);
	config_free(h->cf);
	memset(h, 0, sizeof(*h));
}

enum proto_action
mh_resume(struct mh *h)
{
	size_t cap = h->ctx.bufsize;
	enum proto_action a = PA_AGAIN;
	int spins = 0;

	for (;;) {
		while (buf_len(&h->in) > 0) {
			size_t used = 0, len = buf_len(&h->in);
			int full = len >= cap;
			/* An exactly sized copy: the sanitizer catches a read past it. */
			char *copy = malloc(len);
			cr_assert_not_null(copy);
			memcpy(copy, buf_rptr(&h->in), len);
			a = h->proto->input(&h->ctx, copy, len, full, &used);
			free(copy);
			cr_assert_leq(used, len, "consumed more than it was given");
			if (a == PA_AGAIN) {
				cr_assert_eq(used, 0, "PA_AGAIN with bytes consumed");
				cr_assert(!full, "PA_AGAIN on a full buffer: the session would spin");
			} else {
				/* A close may leave the rest (IMAP's too-long line): the session ends. */
				if (a != PA_CLOSE)
					cr_assert_gt(used, 0, "a command was handled but nothing consumed");
				h->commands++;
			}
			buf_consume(&h->in, used);
			if (a == PA_AUTH || a == PA_CLOSE)
				return a;
			if (a == PA_STARTTLS) {
				/* session.c drops whatever was pipelined after STARTTLS. */
				buf_reset(&h->in);
				buf_reset(&h->pend);
				return a;
			}
			if (a == PA_AGAIN)
				break;
			cr_assert_lt(++spins, 100000, "the machine does not advance");
		}
		if (buf_len(&h->pend) == 0)
			return a;
		size_t n = buf_len(&h->pend), room = cap - buf_len(&h->in);
		if (h->chunk && n > h->chunk)
			n = h->chunk;
		if (n > room)
			n = room;
		cr_assert_gt(n, 0, "client buffer full and the machine waits");
		cr_assert_eq(buf_append(&h->in, buf_rptr(&h->pend), n), 0);
		buf_consume(&h->pend, n);
	}
}

enum proto_action
mh_send(struct mh *h, const char *data, size_t n)
{
	cr_assert_eq(buf_append(&h->pend, data, n), 0);
	return mh_resume(h);
}

enum proto_action
mh_sends(struct mh *h, const char *s)
{
	return mh_send(h, s, strlen(s));
}

static const char *
drain(struct buf *b)
{
	static char copy[2][1 << 17];
	static int which;
	char *c = copy[which ^= 1];
	size_t n = buf_len(b);

	cr_assert_lt(n, sizeof(copy[0]), "reply too long for the harness");
	if (n)
		memcpy(c, buf_rptr(b), n);
	c[n] = '\0';
	buf_reset(b);
	return c;
}

const char *
mh_out(struct mh *h)
{
	return drain(&h->out);
}

const char *
mh_bout(struct mh *h)
{
	return drain(&h->bout);
}

size_t
mh_unread(const struct mh *h)
{
	return buf_len(&h->in) + buf_len(&h->pend);
}

enum backend_action
mh_be(struct mh *h, const char *line)
{
	size_t n = strlen(line);
	/* Exactly n bytes, no NUL: the machine must stay within len. */
	char *copy = malloc(n ? n : 1);
	enum backend_action a;

	cr_assert_not_null(copy);
	memcpy(copy, line, n);
	a = h->proto->backend_line(&h->ctx, copy, n);
	free(copy);
	return a;
}

void
mh_say(struct mh *h, const char *cmd, const char *reply)
{
	cr_assert_eq(mh_sends(h, cmd), PA_OK, "command %s", cmd);
	cr_assert_str_eq(mh_out(h), reply, "command %s", cmd);
}

void
mh_expect_n(struct mh *h, const char *in, size_t n, enum proto_action want, const char *out)
{
	enum proto_action a = mh_send(h, in, n);
	const char *got = mh_out(h);

	cr_assert_str_eq(got, out, "after \"%s\"", in);
	cr_assert_eq(a, want, "after \"%s\": action %d, want %d", in, a, want);
}

void
mh_expect(struct mh *h, const char *in, enum proto_action want, const char *out)
{
	mh_expect_n(h, in, strlen(in), want, out);
}

const char *
mh_b64n(const char *s, size_t n)
{
	static char out[4][1024];
	static int which;
	char *o = out[which = (which + 1) % 4];

	cr_assert_lt(4 * ((n + 2) / 3) + 1, sizeof(out[0]));
	b64_encode(s, n, o);
	return o;
}

const char *
mh_b64(const char *s)
{
	return mh_b64n(s, strlen(s));
}
