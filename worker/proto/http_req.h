/*
 * The request head of the status endpoint (worker/status.c): HTTP/1.0 and
 * 1.1, GET and HEAD, parsed again from the start on every read (the head is
 * small and bounded), with the answer a bad request deserves.
 */
#ifndef MP_HTTP_REQ_H
#define MP_HTTP_REQ_H

#include <stddef.h>

#define HTTP_REQ_MAX 4096	/* the whole head, request line and headers */
#define HTTP_REQ_PATH_MAX 256

enum http_req_rc {
	HTTP_REQ_MORE,		/* the head is not complete yet */
	HTTP_REQ_DONE,		/* r->method, r->path are set */
	HTTP_REQ_ERROR,		/* answer r->status and close */
};

struct http_req {
	int head;		/* HEAD: the answer has no body */
	int minor;		/* HTTP/1.minor */
	int status;		/* HTTP_REQ_ERROR: 400, 405, 414, 431 or 505 */
	size_t head_len;	/* HTTP_REQ_DONE: bytes of the head, blank line included */
	char path[HTTP_REQ_PATH_MAX];	/* without the query string */
};

/* Parses data[0..len) (not NUL terminated); max bounds the head (<= HTTP_REQ_MAX). */
enum http_req_rc http_req_parse(const char *data, size_t len, size_t max, struct http_req *r);
/* The reason phrase of the statuses this endpoint sends. */
const char *http_reason(int status);

#endif
