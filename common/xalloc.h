/*
 * Allocation helpers that cannot fail: they abort the process on OOM.
 * Only the master and the configuration code use them; a worker must close
 * the one affected session instead of dying.
 */
#ifndef MP_XALLOC_H
#define MP_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
