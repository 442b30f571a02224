/*
 * -s stop|quit|reopen|reload|status|flush-auth-cache: find the running master
 * through the pid file of the configuration and signal it, or (status) read
 * its counters zone through /proc/PID/fd and print them as JSON, or
 * (flush-auth-cache) map its auth cache zones writable the same way and
 * empty them under their own lock: no signal, so nothing in the master.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/authcache.h"
#include "common/shm.h"
#include "common/stats.h"
#include "config/status_report.h"
#include "config/config.h"
#include "master/signals.h"

static pid_t
read_pid(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "mailproxy: [error] open() \"%s\" failed (%d: %s); is mailproxy running?\n",
		    path, errno, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	char *end;
	long pid = n > 0 ? strtol(buf, &end, 10) : 0;
	if (n <= 0 || pid <= 0 || (*end != '\n' && *end != '\0')) {
		fprintf(stderr, "mailproxy: [error] invalid PID number \"%.*s\" in \"%s\"\n",
		    n > 0 ? (int)strcspn(buf, "\n") : 0, buf, path);
		return -1;
	}
	return (pid_t)pid;
}

/* A pid file can outlive its process, and the pid can be reused. */
static int
is_mailproxy(pid_t pid, const char *path)
{
	char p[64], comm[64] = "";
	int fd;
	ssize_t n;

	if (kill(pid, 0) < 0 && errno == ESRCH) {
		fprintf(stderr, "mailproxy: [error] no process %d (stale pid file \"%s\")\n", (int)pid, path);
		return 0;
	}
	snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, comm, sizeof(comm) - 1);
		close(fd);
		if (n > 0) {
			comm[n] = '\0';
			if (strstr(comm, "mailproxy") == NULL) {
				fprintf(stderr, "mailproxy: [error] process %d is not mailproxy "
				    "(stale pid file \"%s\")\n", (int)pid, path);
				return 0;
			}
		}
	}
	return 1;
}

/* Opens the memfd "mailproxy:<zone>" the master holds, read-only; -1 if absent. */
static int
find_zone_fd_mode(pid_t pid, const char *zone, int mode)
{
	char dir[64], link[PATH_MAX], target[PATH_MAX];
	DIR *d;
	struct dirent *e;
	int fd = -1;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		char want[128];
		size_t wl = (size_t)snprintf(want, sizeof(want), "/memfd:mailproxy:%s", zone);
		if (strncmp(target, want, wl) == 0 && (target[wl] == '\0' || target[wl] == ' ')) {
			fd = open(link, mode | O_CLOEXEC);
			break;
		}
	}
	closedir(d);
	return fd;
}

static int
find_zone_fd(pid_t pid, const char *zone)
{
	return find_zone_fd_mode(pid, zone, O_RDONLY);
}

/* Empties every auth_http_cache zone of the master pid; 0, or 1 with a message. */
static int
flush_auth_caches(pid_t pid, const struct config *cf)
{
	int n = 0;

	for (size_t i = 0; i < cf->nservers; i++) {
		const struct auth_cache_conf *ac = &cf->servers[i].auth_http_cache;
		int dup = 0;
		if (ac->name == NULL)
			continue;
		for (size_t j = 0; j < i; j++)
			dup |= cf->servers[j].auth_http_cache.name != NULL &&
			    strcmp(cf->servers[j].auth_http_cache.name, ac->name) == 0;
		if (dup)
			continue;
		int fd = find_zone_fd_mode(pid, ac->name, O_RDWR);
		struct stat st;
		char *p = MAP_FAILED;
		if (fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size > SHM_HDR_SIZE)
			p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (fd >= 0)
			close(fd);
		struct shmhash_stats hs;
		if (p == MAP_FAILED || authcache_peek_stats(p + SHM_HDR_SIZE,
		    (size_t)st.st_size - SHM_HDR_SIZE, &hs) < 0) {
			fprintf(stderr, "mailproxy: [error] cannot open the auth cache zone \"%s\" of "
			    "process %d (run as the same user or root)\n", ac->name, (int)pid);
			if (p != MAP_FAILED)
				munmap(p, (size_t)st.st_size);
			return 1;
		}
		authcache_flush(p + SHM_HDR_SIZE);
		munmap(p, (size_t)st.st_size);
		n++;
	}
	if (n == 0) {
		fprintf(stderr, "mailproxy: [error] no auth_http_cache is configured\n");
		return 1;
	}
	return 0;
}

/* The zones of a running master, mapped read-only on demand for status_json(). */
struct mapped {
	pid_t pid;
	size_t n;
	struct {
		char name[64];
		const char *h;
		size_t size;
	} z[64];
};

static const void *
map_zone(void *ctx, const char *name, size_t *size)
{
	struct mapped *m = ctx;
	const struct shm_header *h;

	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->z[i].name, name) == 0) {
			*size = m->z[i].size - SHM_HDR_SIZE;
			return m->z[i].h + SHM_HDR_SIZE;
		}
	int fd = find_zone_fd(m->pid, name);
	if (fd < 0 || m->n == sizeof(m->z) / sizeof(m->z[0])) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	h = shm_map_readonly(fd, size);
	close(fd);
	if (h == NULL)
		return NULL;
	if (h->magic != SHM_MAGIC || *size < SHM_HDR_SIZE) {
		munmap((void *)h, *size);
		return NULL;
	}
	snprintf(m->z[m->n].name, sizeof(m->z[0].name), "%s", name);
	m->z[m->n].h = (const char *)h;
	m->z[m->n].size = *size;
	m->n++;
	*size -= SHM_HDR_SIZE;
	return (const char *)h + SHM_HDR_SIZE;
}

static int
print_status(pid_t pid, const struct config *cf)
{
	struct mapped *m = calloc(1, sizeof(*m));
	int fd = find_zone_fd(pid, STATS_ZONE);

	if (fd < 0 || m == NULL) {
		fprintf(stderr, "mailproxy: [error] cannot open the status zone of process %d "
		    "(run as the same user or root)\n", (int)pid);
		if (fd >= 0)
			close(fd);
		free(m);
		return 1;
	}
	close(fd);
	m->pid = pid;
	json_t *root = status_json(cf, map_zone, m);
	for (size_t i = 0; i < m->n; i++)
		munmap((void *)m->z[i].h, m->z[i].size);
	free(m);
	if (root == NULL) {
		fprintf(stderr, "mailproxy: [error] the status zone of process %d is unreadable\n", (int)pid);
		return 1;
	}
	char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", out);
	free(out);
	json_decref(root);
	return 0;
}

int
signal_master(const char *conf, const char *prefix, const char *globals, const char *name)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {
		{ "stop", SIGTERM }, { "quit", SIGQUIT }, { "reopen", SIGUSR1 },
		{ "reload", SIGHUP }, { "status", 0 }, { "flush-auth-cache", 0 },
	};
	char err[2048], path[PATH_MAX];
	size_t i;
	int sig = -1;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcmp(name, sigs[i].name) == 0)
			sig = sigs[i].sig;
	if (sig < 0) {
		fprintf(stderr, "mailproxy: invalid option: \"-s %s\" "
		    "(expected stop, quit, reopen, reload, status or flush-auth-cache)\n", name);
		return 1;
	}
	struct config *cf = config_load(conf, prefix, globals, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "mailproxy: %s\n", err);
		return 1;
	}
	config_path(cf, cf->main.pid, path, sizeof(path));
	pid_t pid = read_pid(path);
	if (pid < 0 || !is_mailproxy(pid, path)) {
		config_free(cf);
		return 1;
	}
	if (sig == 0) {
		int rc = strcmp(name, "status") == 0 ? print_status(pid, cf) : flush_auth_caches(pid, cf);
		config_free(cf);
		return rc;
	}
	config_free(cf);
	if (kill(pid, sig) < 0) {
		fprintf(stderr, "mailproxy: [alert] kill(%d, %d) failed (%d: %s)\n", (int)pid, sig,
		    errno, strerror(errno));
		return 1;
	}
	return 0;
}
