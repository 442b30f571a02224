/* Byte buffer; see buf.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

const char buf_none[1] = "";

int
buf_reserve(struct buf *b, size_t n, size_t max)
{
	size_t len = buf_len(b);

	if (b->cap - b->w >= n)
		return 0;
	if (b->r > 0 && b->cap - len >= n) {
		memmove(b->data, b->data + b->r, len);
		b->r = 0;
		b->w = len;
		return 0;
	}
	if (len + n < len)
		return -1;
	size_t want = len + n;
	if (max && want > max)
		return -1;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want) {
		if (cap > SIZE_MAX / 2)
			return -1;	/* doubling would wrap to 0 and spin */
		cap *= 2;
	}
	if (max && cap > max)
		cap = max;
	char *p;
	if (b->r == 0) {
		p = realloc(b->data, cap);
		if (p == NULL)
			return -1;
	} else {
		p = malloc(cap);
		if (p == NULL)
			return -1;
		memcpy(p, b->data + b->r, len);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	b->r = 0;
	b->w = len;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n, 0) < 0)
		return -1;
	memcpy(b->data + b->w, p, n);
	b->w += n;
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || buf_reserve(b, (size_t)n + 1, 0) < 0)
		return -1;
	vsnprintf(b->data + b->w, (size_t)n + 1, fmt, ap);
	b->w += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->r += n;
	if (b->r >= b->w)
		b->r = b->w = 0;
}

void
buf_reset(struct buf *b)
{
	b->r = b->w = 0;
}

void
buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->cap = b->r = b->w = 0;
}

long
buf_find_lf(const struct buf *b)
{
	if (b->data == NULL)
		return -1;
	const char *p = memchr(b->data + b->r, '\n', buf_len(b));
	return p ? (long)(p - (b->data + b->r)) : -1;
}
