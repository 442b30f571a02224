/* PROXY protocol v1/v2; see proxyproto.h and haproxy's proxy-protocol.txt. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net.h"
#include "worker/proto/proxyproto.h"

static const unsigned char v2sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};

/* An IPv4-mapped IPv6 address as plain IPv4, so both ends share a family. */
static void
unmap(const struct sockaddr *in, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (in->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)in)->sin6_addr)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)out;
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)in;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		s4->sin_port = s6->sin6_port;
		return;
	}
	memcpy(out, in, in->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    in->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr));
}

int
proxyproto_write(struct buf *out, int version, const struct sockaddr *src_in,
    const struct sockaddr *dst_in)
{
	struct sockaddr_storage src, dst;

	unmap(src_in, &src);
	unmap(dst_in, &dst);
	int known = (src.ss_family == AF_INET || src.ss_family == AF_INET6) &&
	    src.ss_family == dst.ss_family;

	if (version == 1) {
		char a[NET_ADDRSTRLEN], b[NET_ADDRSTRLEN];
		if (!known)
			return buf_puts(out, "PROXY UNKNOWN\r\n");
		net_ntop((struct sockaddr *)&src, a, sizeof(a));
		net_ntop((struct sockaddr *)&dst, b, sizeof(b));
		return buf_printf(out, "PROXY %s %s %s %d %d\r\n",
		    src.ss_family == AF_INET ? "TCP4" : "TCP6", a, b,
		    net_port((struct sockaddr *)&src), net_port((struct sockaddr *)&dst));
	}

	unsigned char h[16 + 36];
	size_t alen = 0;
	memcpy(h, v2sig, 12);
	h[12] = 0x21;	/* version 2, PROXY */
	if (!known) {
		h[13] = 0x00;	/* AF_UNSPEC */
	} else if (src.ss_family == AF_INET) {
		const struct sockaddr_in *s = (void *)&src, *d = (void *)&dst;
		h[13] = 0x11;	/* TCP over IPv4 */
		memcpy(h + 16, &s->sin_addr, 4);
		memcpy(h + 20, &d->sin_addr, 4);
		memcpy(h + 24, &s->sin_port, 2);
		memcpy(h + 26, &d->sin_port, 2);
		alen = 12;
	} else {
		const struct sockaddr_in6 *s = (void *)&src, *d = (void *)&dst;
		h[13] = 0x21;	/* TCP over IPv6 */
		memcpy(h + 16, &s->sin6_addr, 16);
		memcpy(h + 32, &d->sin6_addr, 16);
		memcpy(h + 48, &s->sin6_port, 2);
		memcpy(h + 50, &d->sin6_port, 2);
		alen = 36;
	}
	h[14] = (unsigned char)(alen >> 8);
	h[15] = (unsigned char)alen;
	return buf_append(out, h, 16 + alen);
}

static int
parse_v1(const unsigned char *data, size_t len, size_t *used, struct proxyproto_result *r)
{
	char line[PROXYPROTO_V1_MAX + 1], *f[7], *save = NULL;
	const unsigned char *lf;
	size_t n;
	int nf = 0;

	lf = memchr(data, '\n', len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX);
	if (lf == NULL)
		return len >= PROXYPROTO_V1_MAX ? PROXYPROTO_INVALID : PROXYPROTO_AGAIN;
	n = (size_t)(lf - data);
	if (n == 0 || data[n - 1] != '\r')
		return PROXYPROTO_INVALID;
	memcpy(line, data, n - 1);
	line[n - 1] = '\0';
	if (memchr(line, '\0', n - 1) != NULL)
		return PROXYPROTO_INVALID;
	/* Fields are separated by exactly one space (but UNKNOWN may carry anything). */
	int spaces_ok = strstr(line, "  ") == NULL && (n < 2 || line[n - 2] != ' ');
	for (char *t = strtok_r(line, " ", &save); t && nf < 7; t = strtok_r(NULL, " ", &save))
		f[nf++] = t;
	if (nf < 2 || strcmp(f[0], "PROXY") != 0)
		return PROXYPROTO_INVALID;
	r->version = 1;
	*used = n + 1;
	if (strcmp(f[1], "UNKNOWN") == 0) {
		r->local = 1;
		return PROXYPROTO_DONE;
	}
	if (nf != 6 || !spaces_ok || (strcmp(f[1], "TCP4") != 0 && strcmp(f[1], "TCP6") != 0))
		return PROXYPROTO_INVALID;
	socklen_t l;
	struct sockaddr_storage *sa[2] = { &r->src, &r->dst };
	for (int i = 0; i < 2; i++) {
		char *end;
		long port;
		if (net_parse_ip(f[2 + i], sa[i], &l) < 0 ||
		    (sa[i]->ss_family == AF_INET) != (f[1][3] == '4'))
			return PROXYPROTO_INVALID;
		if (f[4 + i][0] < '0' || f[4 + i][0] > '9' || (f[4 + i][0] == '0' && f[4 + i][1]))
			return PROXYPROTO_INVALID;
		port = strtol(f[4 + i], &end, 10);
		if (*end != '\0' || port < 0 || port > 65535)
			return PROXYPROTO_INVALID;
		net_set_port((struct sockaddr *)sa[i], (int)port);
	}
	return PROXYPROTO_DONE;
}

static int
parse_v2(const unsigned char *data, size_t len, size_t *used, struct proxyproto_result *r)
{
	size_t alen;

	if (len < 16)
		return PROXYPROTO_AGAIN;
	if ((data[12] & 0xf0) != 0x20)
		return PROXYPROTO_INVALID;
	alen = ((size_t)data[14] << 8) | data[15];
	if (16 + alen > PROXYPROTO_MAX)
		return PROXYPROTO_INVALID;
	if (len < 16 + alen)
		return PROXYPROTO_AGAIN;
	r->version = 2;
	*used = 16 + alen;
	switch (data[12] & 0x0f) {
	case 0x0:	/* LOCAL: the proxy's own connection (health check) */
		r->local = 1;
		return PROXYPROTO_DONE;
	case 0x1:
		break;
	default:
		return PROXYPROTO_INVALID;
	}
	switch (data[13]) {
	case 0x11: {	/* TCP4 */
		struct sockaddr_in *s = (void *)&r->src, *d = (void *)&r->dst;
		if (alen < 12)
			return PROXYPROTO_INVALID;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, data + 16, 4);
		memcpy(&d->sin_addr, data + 20, 4);
		memcpy(&s->sin_port, data + 24, 2);
		memcpy(&d->sin_port, data + 26, 2);
		return PROXYPROTO_DONE;
	}
	case 0x21: {	/* TCP6 */
		struct sockaddr_in6 *s = (void *)&r->src, *d = (void *)&r->dst;
		if (alen < 36)
			return PROXYPROTO_INVALID;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, data + 16, 16);
		memcpy(&d->sin6_addr, data + 32, 16);
		memcpy(&s->sin6_port, data + 48, 2);
		memcpy(&d->sin6_port, data + 50, 2);
		return PROXYPROTO_DONE;
	}
	case 0x00:	/* UNSPEC */
		r->local = 1;
		return PROXYPROTO_DONE;
	default:
		/* UDP or unix: nothing a mail client can be. */
		return PROXYPROTO_INVALID;
	}
}

int
proxyproto_parse(const unsigned char *data, size_t len, size_t *used,
    struct proxyproto_result *r)
{
	memset(r, 0, sizeof(*r));
	if (len == 0)
		return PROXYPROTO_AGAIN;
	if (data[0] == 0x0D) {
		size_t n = len < 12 ? len : 12;
		if (memcmp(data, v2sig, n) != 0)
			return PROXYPROTO_INVALID;
		return n < 12 ? PROXYPROTO_AGAIN : parse_v2(data, len, used, r);
	}
	if (data[0] == 'P') {
		size_t n = len < 6 ? len : 6;
		if (memcmp(data, "PROXY ", n) != 0)
			return PROXYPROTO_INVALID;
		return n < 6 ? PROXYPROTO_AGAIN : parse_v1(data, len, used, r);
	}
	return PROXYPROTO_INVALID;
}
