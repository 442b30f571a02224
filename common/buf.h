/*
 * Byte buffer with read and write offsets. Storage is allocated on first
 * use and can be released when the buffer drains, so an idle session holds
 * no buffer memory. Functions return 0, or -1 when memory or the capacity
 * limit runs out; they never log.
 */
#ifndef MP_BUF_H
#define MP_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t cap;		/* allocated bytes */
	size_t r, w;		/* data is data[r..w) */
};

/*
 * Where the pointers of a buffer without storage point: NULL + 0 is undefined
 * in C (clang's UBSan stops on it), and so is memcpy(d, NULL, 0), yet callers
 * rightly pass an empty buffer's pointer with its length 0. Never written:
 * buf_room() is 0 until buf_reserve() allocates (a write would fault).
 */
extern const char buf_none[1];

static inline size_t buf_len(const struct buf *b) { return b->w - b->r; }
static inline size_t buf_room(const struct buf *b) { return b->cap - b->w; }

/* The unread data, buf_len() bytes; valid (never NULL) also without storage. */
static inline char *
buf_rptr(const struct buf *b)
{
	return b->data != NULL ? b->data + b->r : (char *)buf_none;
}

/* Where appending goes, buf_room() bytes; valid (never NULL) also without storage. */
static inline char *
buf_wptr(const struct buf *b)
{
	return b->data != NULL ? b->data + b->w : (char *)buf_none;
}

/* Makes room for n more bytes at the end without growing past max (0 = no limit). */
int buf_reserve(struct buf *b, size_t n, size_t max);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_release(struct buf *b);	/* frees the storage */
/* Finds the first LF in the unread data: offset from r, or -1. */
long buf_find_lf(const struct buf *b);

#endif
