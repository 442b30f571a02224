/*
 * PROXY protocol (v1 text, v2 binary), both ways: the header mailproxy sends
 * to a backend (proxy_protocol on|v2) and the parser for headers clients send
 * on a "listen ... proxy_protocol" socket. Pure functions.
 */
#ifndef MP_PROXYPROTO_H
#define MP_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/buf.h"

#define PROXYPROTO_V1_MAX 107		/* the longest v1 line, CRLF included */
#define PROXYPROTO_MAX 536		/* v2: 16-byte header + up to 520 bytes */

/* Appends a header for a connection from src to dst; version 1 or 2. */
int proxyproto_write(struct buf *out, int version, const struct sockaddr *src,
    const struct sockaddr *dst);

struct proxyproto_result {
	int version;
	int local;			/* v2 LOCAL or v1 UNKNOWN: no addresses */
	struct sockaddr_storage src, dst;
};

enum { PROXYPROTO_AGAIN = 1, PROXYPROTO_DONE = 0, PROXYPROTO_INVALID = -1 };
/* Parses a header at data[0..len); DONE sets *used to its length. */
int proxyproto_parse(const unsigned char *data, size_t len, size_t *used,
    struct proxyproto_result *r);

#endif
