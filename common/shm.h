/*
 * Named shared-memory zones. The master creates them before forking workers;
 * each is a memfd ("mailproxy:NAME") mapped MAP_SHARED, so it can also be
 * handed to a new binary on upgrade and read by `mailproxy -s status` through
 * /proc/PID/fd. On reload a zone with the same name and size is kept with its
 * contents; zones the new configuration no longer names are dropped.
 */
#ifndef MP_SHM_H
#define MP_SHM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC 0x6d707a6f6e653031ULL	/* "mpzone01" */
/* A zone's data starts this far in: the header, padded so the data stays
 * cache-line aligned. Readers of another process's zone (-s status) skip it. */
#define SHM_HDR_SIZE 128

struct shm_header {
	uint64_t magic;
	uint64_t size;
	char name[64];
	uint32_t initialized;	/* set by the zone's user once it laid out its data */
	uint32_t pad;
};

struct shm_zone {
	struct shm_zone *next;
	char name[64];
	size_t size;		/* usable bytes after the header */
	int fd;
	struct shm_header *hdr;
	void *data;
	int used;		/* named by the configuration being built */
	int inherited;		/* came from the previous binary */
};

/* The zone name:size, creating it (zeroed) if needed. Master only. */
struct shm_zone *shm_zone_get(const char *name, size_t size, char *err, size_t errlen);
/* The zone name this process has mapped (a worker: as the master forked it), or NULL. */
struct shm_zone *shm_zone_find(const char *name);
void shm_mark_unused(void);
void shm_sweep_unused(void);
/* "name:size:fd;..." for the environment of a new binary; clears FD_CLOEXEC. */
int shm_export(char *buf, size_t len);
/* Adopts zones listed by a previous binary (they are kept only if used). */
void shm_import(const char *env);
void shm_close_all(void);

/* Process-shared robust mutexes: a holder that dies does not wedge the rest. */
int shm_mutex_init(pthread_mutex_t *m);
/* Returns 1 when the previous holder died: the guarded data may be half written. */
int shm_mutex_lock(pthread_mutex_t *m);
void shm_mutex_unlock(pthread_mutex_t *m);

/* Maps a zone read-only from another process's fd (for -s status). */
void *shm_map_readonly(int fd, size_t *size);

#endif
