/*
 * Bump allocator: many small allocations, one free. The configuration
 * snapshot lives in one arena, so copying a directive value from the mail
 * level to a server is a plain struct copy and config_free() is one call.
 * arena_alloc() returns NULL on OOM (the caller decides whether that is fatal).
 */
#ifndef MP_ARENA_H
#define MP_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t chunk_size;
	size_t total;		/* bytes handed out, for accounting */
};

void arena_init(struct arena *a, size_t chunk_size);
void *arena_alloc(struct arena *a, size_t n);
void *arena_calloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
void arena_free(struct arena *a);

#endif
