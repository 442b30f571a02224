/* The status endpoint's request head; see http_req.h. */
#include <string.h>

#include "worker/proto/http_req.h"

static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum http_req_rc
fail(struct http_req *r, int status)
{
	r->status = status;
	return HTTP_REQ_ERROR;
}

/* The request line line[0..n), without its line end. */
static enum http_req_rc
request_line(const char *line, size_t n, struct http_req *r)
{
	size_t m = 0, t, tl;

	while (m < n && is_tchar((unsigned char)line[m]))
		m++;
	if (m == 0 || m == n || line[m] != ' ')
		return fail(r, 400);
	t = m + 1;
	const char *sp = memchr(line + t, ' ', n - t);
	if (sp == NULL)
		return fail(r, 400);
	tl = (size_t)(sp - (line + t));
	const char *v = sp + 1;
	size_t vl = n - (size_t)(v - line);
	if (vl != 8 || memcmp(v, "HTTP/1.", 7) != 0) {
		/* "HTTP/2.0", "HTTP/1.10": a version we do not speak. */
		return fail(r, vl >= 5 && memcmp(v, "HTTP/", 5) == 0 ? 505 : 400);
	}
	if (v[7] != '0' && v[7] != '1')
		return fail(r, 505);
	r->minor = v[7] - '0';
	for (size_t i = 0; i < tl; i++) {
		unsigned char c = (unsigned char)line[t + i];
		if (c <= ' ' || c >= 0x7f)
			return fail(r, 400);
	}
	if (tl == 0 || line[t] != '/')
		return fail(r, 400);
	size_t pl = tl;
	const char *q = memchr(line + t, '?', tl);
	if (q != NULL)
		pl = (size_t)(q - (line + t));
	if (pl >= sizeof(r->path))
		return fail(r, 414);
	memcpy(r->path, line + t, pl);
	r->path[pl] = '\0';
	if (m == 3 && memcmp(line, "GET", 3) == 0)
		r->head = 0;
	else if (m == 4 && memcmp(line, "HEAD", 4) == 0)
		r->head = 1;
	else
		return fail(r, 405);
	return HTTP_REQ_DONE;
}

/* One header line; its value is not needed, only its shape is checked. */
static int
header_ok(const char *line, size_t n)
{
	size_t m = 0;

	while (m < n && is_tchar((unsigned char)line[m]))
		m++;
	if (m == 0 || m == n || line[m] != ':')
		return 0;
	for (size_t i = m + 1; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < ' ' && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

enum http_req_rc
http_req_parse(const char *data, size_t len, size_t max, struct http_req *r)
{
	size_t pos = 0;
	int first = 1;
	enum http_req_rc rc = HTTP_REQ_MORE;

	memset(r, 0, sizeof(*r));
	if (max > HTTP_REQ_MAX)
		max = HTTP_REQ_MAX;
	for (;;) {
		const char *lf = memchr(data + pos, '\n', len - pos);
		if (lf == NULL)
			break;
		size_t end = (size_t)(lf - data), n = end - pos;
		if (end >= max)
			return fail(r, 431);
		if (n > 0 && data[end - 1] == '\r')
			n--;
		if (memchr(data + pos, '\r', n) != NULL || memchr(data + pos, '\0', n) != NULL)
			return fail(r, 400);
		if (first) {
			/* A blank line before the request line is tolerated (RFC 9112 2.2). */
			if (n == 0 && pos == 0) {
				pos = end + 1;
				continue;
			}
			rc = request_line(data + pos, n, r);
			if (rc == HTTP_REQ_ERROR)
				return rc;
			first = 0;
		} else if (n == 0) {
			r->head_len = end + 1;
			return HTTP_REQ_DONE;
		} else if (!header_ok(data + pos, n)) {
			return fail(r, 400);
		}
		pos = end + 1;
	}
	if (len >= max)
		return fail(r, first ? 414 : 431);
	(void)rc;
	return HTTP_REQ_MORE;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}
