/* The IMAP machine harness; see imap_helpers.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/imap_helpers.h"

void
ih_open(struct ih *h, const char *server_yaml)
{
	char yaml[4096];
	struct sockaddr_in *c = (struct sockaddr_in *)&h->caddr;
	struct sockaddr_in *l = (struct sockaddr_in *)&h->laddr;

	memset(h, 0, sizeof(*h));
	snprintf(yaml, sizeof(yaml), "%s%s", MINIMAL, server_yaml ? server_yaml : "");
	h->cf = th_load(yaml);
	cr_assert_not_null(h->cf, "config: %s", th_err());
	cr_assert_eq(h->cf->nservers, 1);
	h->conf = &h->cf->servers[0];
	cr_assert_eq(h->conf->protocol, MP_PROTO_IMAP);
	h->rt = proto_rt_build(h->cf);
	cr_assert_not_null(h->rt);

	c->sin_family = AF_INET;
	c->sin_port = htons(50123);
	inet_pton(AF_INET, "192.0.2.7", &c->sin_addr);
	l->sin_family = AF_INET;
	l->sin_port = htons(143);
	inet_pton(AF_INET, "198.51.100.1", &l->sin_addr);

	h->ctx.conf = h->conf;
	h->ctx.rt = &h->rt[0];
	h->ctx.out = &h->out;
	h->ctx.bout = &h->bout;
	h->ctx.bufsize = h->conf->imap_client_buffer;
	h->ctx.client_addr = (struct sockaddr *)&h->caddr;
	h->ctx.local_addr = (struct sockaddr *)&h->laddr;
	cr_assert_eq(imap_proto.greeting(&h->ctx), 0);
	cr_assert_str_eq(ih_out(h), "* OK IMAP4 ready\r\n");
}

void
ih_close(struct ih *h)
{
	imap_proto.free(&h->ctx);
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
ih_resume(struct ih *h)
{
	size_t cap = h->ctx.bufsize;
	enum proto_action a = PA_AGAIN;
	int spins = 0;

	for (;;) {
		while (buf_len(&h->in) > 0) {
			size_t used = 0, len = buf_len(&h->in);
			int full = len >= cap;
			a = imap_proto.input(&h->ctx, buf_rptr(&h->in), len, full, &used);
			cr_assert_leq(used, len, "consumed more than it was given");
			if (a == PA_AGAIN) {
				cr_assert_eq(used, 0, "PA_AGAIN with bytes consumed");
				cr_assert(!full, "PA_AGAIN on a full buffer: the session would spin");
			}
			buf_consume(&h->in, used);
			if (a == PA_AUTH || a == PA_CLOSE)
				return a;
			if (a == PA_STARTTLS) {
				/* session.c drops whatever was pipelined after STARTTLS. */
				buf_reset(&h->in);
				return a;
			}
			if (a == PA_AGAIN)
				break;
			cr_assert_lt(++spins, 100000, "the machine does not advance");
		}
		if (buf_len(&h->pend) == 0)
			return a;
		/* One read: at most what fits in the client buffer. */
		size_t n = buf_len(&h->pend), room = cap - buf_len(&h->in);
		if (h->chunk && n > h->chunk)
			n = h->chunk;
		if (n > room)
			n = room;
		cr_assert_gt(n, 0, "client buffer full and the machine waits");
		cr_assert_eq(buf_append(&h->in, buf_rptr(&h->pend), n), 0);
		buf_consume(&h->pend, n);
		h->reads++;
	}
}

enum proto_action
ih_send(struct ih *h, const char *data, size_t n)
{
	cr_assert_eq(buf_append(&h->pend, data, n), 0);
	return ih_resume(h);
}

enum proto_action
ih_sends(struct ih *h, const char *s)
{
	return ih_send(h, s, strlen(s));
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
ih_out(struct ih *h)
{
	return drain(&h->out);
}

const char *
ih_bout(struct ih *h)
{
	return drain(&h->bout);
}

size_t
ih_unread(const struct ih *h)
{
	return buf_len(&h->in) + buf_len(&h->pend);
}

void
ih_expect_n(struct ih *h, const char *in, size_t n, enum proto_action want, const char *out)
{
	enum proto_action a = ih_send(h, in, n);
	const char *got = ih_out(h);

	cr_assert_str_eq(got, out, "after \"%s\"", in);
	cr_assert_eq(a, want, "after \"%s\": action %d, want %d", in, a, want);
}

void
ih_expect(struct ih *h, const char *in, enum proto_action want, const char *out)
{
	ih_expect_n(h, in, strlen(in), want, out);
}
