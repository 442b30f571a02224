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
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/authcache.h"
#include "common/authsrv.h"
#include "common/limiter.h"
#include "common/shm.h"
#include "common/sslcache.h"
#include "common/stats.h"
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

static json_t *
slot_json(const struct stats_slot *s)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "active", json_integer((json_int_t)s->active));
#define PUT(f) json_object_set_new(o, #f, json_integer((json_int_t)s->f));
	STATS_COUNTERS(PUT)
#undef PUT
	return o;
}

/* The zone name of the master pid, mapped read-only; NULL when it cannot be. */
static const char *
map_zone(pid_t pid, const char *name, size_t *size)
{
	int fd = find_zone_fd(pid, name);
	const char *h;

	if (fd < 0)
		return NULL;
	h = shm_map_readonly(fd, size);
	close(fd);
	return h;
}

static json_t *
cache_json(pid_t pid, const struct ssl_cache_conf *c)
{
	size_t size;
	struct sslcache_stats st;
	json_t *o = NULL;
	const char *h = map_zone(pid, c->shared_name, &size);

	if (h == NULL)
		return NULL;
	if (sslcache_peek_stats(h + SHM_HDR_SIZE, size - SHM_HDR_SIZE, &st) == 0)
		o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		    "size", (json_int_t)c->shared_size,
		    "entries", (json_int_t)st.entries,
		    "blocks", (json_int_t)st.blocks,
		    "free_blocks", (json_int_t)st.free_blocks,
		    "stores", (json_int_t)st.stores,
		    "hits", (json_int_t)st.hits,
		    "misses", (json_int_t)st.misses,
		    "evictions", (json_int_t)st.evictions,
		    "expired", (json_int_t)st.expired,
		    "removes", (json_int_t)st.removes);
	munmap((void *)h, size);
	return o;
}

static json_t *
limit_json(pid_t pid, const struct limit_zone_conf *lz)
{
	size_t size;
	struct limiter_stats st;
	json_t *o = NULL;
	const char *h = map_zone(pid, lz->name, &size);

	if (h == NULL)
		return NULL;
	if (limiter_peek_stats(h + SHM_HDR_SIZE, size - SHM_HDR_SIZE, &st) == 0)
		o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		    "size", (json_int_t)lz->size,
		    "entries", (json_int_t)st.entries,
		    "capacity", (json_int_t)st.capacity,
		    "failures", (json_int_t)st.fails,
		    "blocks", (json_int_t)st.blocks_started,
		    "blocked_logins", (json_int_t)st.blocked_checks,
		    "evictions", (json_int_t)st.evictions,
		    "expired", (json_int_t)st.expired,
		    "session_refusals", (json_int_t)st.session_refusals,
		    "store_answers", (json_int_t)st.store_answers,
		    "fallbacks", (json_int_t)st.fallbacks);
	munmap((void *)h, size);
	return o;
}

/* Each auth service the configuration names: its state and counts. */
static json_t *
auth_servers_json(pid_t pid, const struct config *cf)
{
	size_t size;
	const char *h = map_zone(pid, AUTHSRV_ZONE, &size);
	json_t *o = json_object();
	struct timespec ts;

	if (h == NULL || size < SHM_HDR_SIZE + sizeof(struct authsrv_zone)) {
		if (h != NULL)
			munmap((void *)h, size);
		return o;
	}
	const struct authsrv_zone *z = (const void *)(h + SHM_HDR_SIZE);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	for (size_t i = 0; z->magic == AUTHSRV_MAGIC && i < cf->nservers; i++) {
		for (const struct auth_http_url *u = &cf->servers[i].auth_http; u && u->url; u = u->next) {
			const struct authsrv_slot *s = authsrv_find(z, u->url);
			if (s == NULL || json_object_get(o, u->url))
				continue;
			uint64_t until = s->down_until;
			json_object_set_new(o, u->url, json_pack("{s:s,s:I,s:I,s:I,s:I}",
			    "state", until > now ? "backoff" : "up",
			    "backoff_left_ms", (json_int_t)(until > now ? until - now : 0),
			    "requests", (json_int_t)s->requests,
			    "failures", (json_int_t)s->failures,
			    "backoffs", (json_int_t)s->backoffs));
		}
	}
	munmap((void *)h, size);
	return o;
}

static json_t *
auth_cache_json(pid_t pid, const struct auth_cache_conf *ac)
{
	size_t size;
	struct shmhash_stats st;
	json_t *o = NULL;
	const char *h = map_zone(pid, ac->name, &size);

	if (h == NULL)
		return NULL;
	if (authcache_peek_stats(h + SHM_HDR_SIZE, size - SHM_HDR_SIZE, &st) == 0)
		o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		    "size", (json_int_t)ac->size,
		    "entries", (json_int_t)st.entries,
		    "capacity", (json_int_t)st.capacity,
		    "hits", (json_int_t)st.hits,
		    "misses", (json_int_t)st.misses,
		    "stores", (json_int_t)st.stores,
		    "evictions", (json_int_t)st.evictions,
		    "expired", (json_int_t)st.expired,
		    "flushes", (json_int_t)st.flushes);
	munmap((void *)h, size);
	return o;
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

static int
print_status(pid_t pid, const struct config *cf)
{
	int fd = find_zone_fd(pid, STATS_ZONE);
	size_t size;
	const struct shm_header *h;
	const struct stats_zone *sz;

	if (fd < 0) {
		fprintf(stderr, "mailproxy: [error] cannot open the status zone of process %d "
		    "(run as the same user or root)\n", (int)pid);
		return 1;
	}
	h = shm_map_readonly(fd, &size);
	close(fd);
	if (h == NULL || h->magic != SHM_MAGIC || size < SHM_HDR_SIZE + sizeof(*sz)) {
		fprintf(stderr, "mailproxy: [error] the status zone of process %d is unreadable\n", (int)pid);
		return 1;
	}
	sz = (const struct stats_zone *)((const char *)h + SHM_HDR_SIZE);
	json_t *root = json_object(), *workers = json_array();
	struct stats_slot total = sz->retired;
	total.active = 0;
	for (int i = 0; i < STATS_SLOTS; i++) {
		const struct stats_slot *s = &sz->slots[i];
		if (s->state == SLOT_FREE)
			continue;
		json_t *w = slot_json(s);
		json_object_set_new(w, "pid", json_integer(s->pid));
		json_object_set_new(w, "generation", json_integer(s->generation));
		json_object_set_new(w, "started", json_integer((json_int_t)s->start_time));
		json_object_set_new(w, "state", json_string(s->state == SLOT_RUNNING ? "running" : "exiting"));
		json_array_append_new(workers, w);
		total.active += s->active;
#define ADD(f) total.f += s->f;
		STATS_COUNTERS(ADD)
#undef ADD
	}
	json_object_set_new(root, "master_pid", json_integer(sz->master_pid));
	json_object_set_new(root, "generation", json_integer(sz->generation));
	json_object_set_new(root, "started", json_integer((json_int_t)sz->start_time));
	json_object_set_new(root, "reloads", json_integer((json_int_t)sz->reloads));
	json_object_set_new(root, "totals", slot_json(&total));
	json_object_set_new(root, "workers", workers);
	json_t *caches = json_object();
	for (size_t i = 0; i < cf->nservers; i++) {
		const struct ssl_cache_conf *c = &cf->servers[i].ssl_session_cache;
		if (!(c->mode & SSL_CACHE_SHARED) || json_object_get(caches, c->shared_name))
			continue;
		json_t *o = cache_json(pid, c);
		if (o != NULL)
			json_object_set_new(caches, c->shared_name, o);
	}
	json_object_set_new(root, "ssl_session_caches", caches);
	json_t *limits = json_object();
	for (size_t i = 0; i < cf->nservers; i++) {
		const struct limit_zone_conf *lz = &cf->servers[i].login_limit_zone;
		if (lz->name == NULL || json_object_get(limits, lz->name))
			continue;
		json_t *o = limit_json(pid, lz);
		if (o != NULL)
			json_object_set_new(limits, lz->name, o);
	}
	json_object_set_new(root, "login_limit_zones", limits);
	json_object_set_new(root, "auth_servers", auth_servers_json(pid, cf));
	json_t *acs = json_object();
	for (size_t i = 0; i < cf->nservers; i++) {
		const struct auth_cache_conf *ac = &cf->servers[i].auth_http_cache;
		if (ac->name == NULL || json_object_get(acs, ac->name))
			continue;
		json_t *o = auth_cache_json(pid, ac);
		if (o != NULL)
			json_object_set_new(acs, ac->name, o);
	}
	json_object_set_new(root, "auth_http_caches", acs);
	char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", out);
	free(out);
	json_decref(root);
	munmap((void *)h, size);
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
