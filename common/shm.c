/* Named shared-memory zones; see shm.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/shm.h"


_Static_assert(sizeof(struct shm_header) <= SHM_HDR_SIZE, "header too large");

static struct shm_zone *zones;

static struct shm_zone *
zone_map(const char *name, size_t size, int fd, char *err, size_t errlen)
{
	struct shm_zone *z;
	void *p;

	p = mmap(NULL, size + SHM_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap() of zone \"%s\" failed: %s", name, strerror(errno));
		return NULL;
	}
	z = calloc(1, sizeof(*z));
	if (z == NULL) {
		munmap(p, size + SHM_HDR_SIZE);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(z->name, sizeof(z->name), "%s", name);
	z->size = size;
	z->fd = fd;
	z->hdr = p;
	z->data = (char *)p + SHM_HDR_SIZE;
	z->used = 1;
	z->next = zones;
	zones = z;
	return z;
}

struct shm_zone *
shm_zone_get(const char *name, size_t size, char *err, size_t errlen)
{
	struct shm_zone *z;
	char mname[96];
	int fd;

	/* Same name and size: kept with its contents. Same name with a new
	 * size: a fresh zone; the old one goes when unused zones are swept. */
	for (z = zones; z; z = z->next)
		if (strcmp(z->name, name) == 0 && z->size == size) {
			z->used = 1;
			return z;
		}
	if (strlen(name) >= sizeof(((struct shm_zone *)0)->name)) {
		snprintf(err, errlen, "zone name \"%s\" is too long", name);
		return NULL;
	}
	snprintf(mname, sizeof(mname), "mailproxy:%s", name);
	fd = memfd_create(mname, MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "memfd_create(\"%s\") failed: %s", mname, strerror(errno));
		return NULL;
	}
	if (ftruncate(fd, (off_t)(size + SHM_HDR_SIZE)) < 0) {
		snprintf(err, errlen, "ftruncate() of zone \"%s\" failed: %s", name, strerror(errno));
		close(fd);
		return NULL;
	}
	z = zone_map(name, size, fd, err, errlen);
	if (z == NULL) {
		close(fd);
		return NULL;
	}
	z->hdr->magic = SHM_MAGIC;
	z->hdr->size = size;
	snprintf(z->hdr->name, sizeof(z->hdr->name), "%s", name);
	return z;
}

struct shm_zone *
shm_zone_find(const char *name)
{
	for (struct shm_zone *z = zones; z; z = z->next)
		if (strcmp(z->name, name) == 0)
			return z;
	return NULL;
}

void
shm_mark_unused(void)
{
	for (struct shm_zone *z = zones; z; z = z->next)
		z->used = 0;
}

void
shm_sweep_unused(void)
{
	struct shm_zone **pp = &zones, *z;

	while ((z = *pp) != NULL) {
		if (z->used) {
			pp = &z->next;
			continue;
		}
		*pp = z->next;
		munmap(z->hdr, z->size + SHM_HDR_SIZE);
		close(z->fd);
		free(z);
	}
}

int
shm_export(char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (struct shm_zone *z = zones; z; z = z->next) {
		int n = snprintf(buf + o, len - o, "%s:%zu:%d;", z->name, z->size, z->fd);
		if (n < 0 || (size_t)n >= len - o)
			return -1;
		o += (size_t)n;
		int fl = fcntl(z->fd, F_GETFD);
		if (fl >= 0)
			fcntl(z->fd, F_SETFD, fl & ~FD_CLOEXEC);
	}
	return 0;
}

void
shm_import(const char *env)
{
	char *copy = strdup(env), *save = NULL, *item, err[256];

	if (copy == NULL)
		return;
	for (item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		char name[64];
		size_t size;
		int fd;
		struct stat st;

		if (sscanf(item, "%63[^:]:%zu:%d", name, &size, &fd) != 3)
			continue;
		if (fstat(fd, &st) < 0 || (size_t)st.st_size != size + SHM_HDR_SIZE) {
			log_msg(LL_WARN, "inherited zone \"%s\" (fd %d) is not usable, ignored", name, fd);
			continue;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		struct shm_zone *z = zone_map(name, size, fd, err, sizeof(err));
		if (z == NULL) {
			log_msg(LL_WARN, "inherited zone \"%s\": %s", name, err);
			close(fd);
			continue;
		}
		if (z->hdr->magic != SHM_MAGIC || z->hdr->size != size) {
			log_msg(LL_WARN, "inherited zone \"%s\" has a bad header, ignored", name);
			zones = z->next;	/* zone_map() put it at the head */
			munmap(z->hdr, z->size + SHM_HDR_SIZE);
			close(z->fd);
			free(z);
			continue;
		}
		z->inherited = 1;
		z->used = 0;
	}
	free(copy);
}

void
shm_close_all(void)
{
	shm_mark_unused();
	shm_sweep_unused();
}

int
shm_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int rc;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	rc = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return rc == 0 ? 0 : -1;
}

int
shm_mutex_lock(pthread_mutex_t *m)
{
	int rc = pthread_mutex_lock(m);

	if (rc == EOWNERDEAD) {
		/* The holder died mid-update: the lock is ours again, and the
		 * caller decides what to do with what it guarded. */
		log_msg(LL_WARN, "shared mutex owner died; recovering the lock");
		pthread_mutex_consistent(m);
		return 1;
	}
	return 0;
}

void
shm_mutex_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
}

void *
shm_map_readonly(int fd, size_t *size)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0 || (size_t)st.st_size < SHM_HDR_SIZE)
		return NULL;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	*size = (size_t)st.st_size;
	return p;
}
