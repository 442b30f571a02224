/*
 * Building and freeing cycles in the master: logs, shared zones, listening
 * sockets for one loaded configuration. A cycle is complete or not built at
 * all, so a failed reload leaves the running one untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/authcache.h"
#include "common/authsrv.h"
#include "common/limiter.h"
#include "common/shm.h"
#include "common/stats.h"
#include "common/xalloc.h"
#include "master/cycle.h"
#include "master/listen.h"
#include "master/privs.h"
#include "worker/worker.h"

/* The targets of one access_log; the set's level is unused. */
static int
open_access_set(struct log_set *ls, const struct access_log_conf *al, const char *prefix,
    char *err, size_t errlen)
{
	memset(ls, 0, sizeof(*ls));
	for (size_t i = 0; i < al->n && i < sizeof(ls->t) / sizeof(ls->t[0]); i++) {
		if ((ls->t[i].file = log_file_open(al->v[i].target, prefix, err, errlen)) == NULL)
			return -1;
		ls->n++;
	}
	return 0;
}

/*
 * Servers that inherit the mail level's access_log share its files through a
 * copy of its set, so only servers with their own access_log add sets that
 * close_unused_logs() must see.
 */
static int
open_access_logs(struct cycle *cy, char *err, size_t errlen)
{
	const struct config *cf = cy->cf;

	if (open_access_set(&cy->mail_alog, &cf->mail.access_log, cf->prefix, err, errlen) < 0)
		return -1;
	cy->srv_alog = xcalloc(cf->nservers ? cf->nservers : 1, sizeof(*cy->srv_alog));
	for (size_t i = 0; i < cf->nservers; i++) {
		if (cf->servers[i].access_log.v == cf->mail.access_log.v)
			cy->srv_alog[i] = cy->mail_alog;
		else if (open_access_set(&cy->srv_alog[i], &cf->servers[i].access_log, cf->prefix,
		    err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int
open_logs(struct cycle *cy, char *err, size_t errlen)
{
	const struct config *cf = cy->cf;

	if (log_set_open(&cy->log, &cf->main.error_log, cf->prefix, err, errlen) < 0 ||
	    log_set_open(&cy->mail_log, &cf->mail.error_log, cf->prefix, err, errlen) < 0)
		return -1;
	cy->srv_log = xcalloc(cf->nservers ? cf->nservers : 1, sizeof(*cy->srv_log));
	for (size_t i = 0; i < cf->nservers; i++)
		if (log_set_open(&cy->srv_log[i], &cf->servers[i].error_log, cf->prefix, err, errlen) < 0)
			return -1;
	return open_access_logs(cy, err, errlen);
}

/* The login_limit_zone of every server: kept across reloads by name and size. */
static int
open_limit_zones(struct cycle *cy, char *err, size_t errlen)
{
	const struct config *cf = cy->cf;

	if (cy->login_limit == NULL)
		cy->login_limit = xcalloc(cf->nservers ? cf->nservers : 1, sizeof(*cy->login_limit));
	for (size_t i = 0; i < cf->nservers; i++) {
		const struct srv_conf *srv = &cf->servers[i];
		const struct limit_zone_conf *lz = &srv->login_limit_zone;
		char e[256];

		if (lz->name == NULL)
			continue;
		struct shm_zone *z = shm_zone_get(lz->name, lz->size, e, sizeof(e));
		if (z == NULL || limiter_init(z->data, z->size) < 0) {
			snprintf(err, errlen, "%s:%d:%d: login_limit_zone \"%s\": %s", cf->file, srv->line,
			    srv->col, lz->name, z == NULL ? e : "too small for a counter table");
			return -1;
		}
		cy->login_limit[i] = z->data;
	}
	return 0;
}

/* The auth services' back-off and counters: every URL gets its slot, kept across reloads. */
static int
open_auth_zone(struct cycle *cy, char *err, size_t errlen)
{
	struct config *cf = cy->cf;
	struct shm_zone *z = shm_zone_get(AUTHSRV_ZONE, sizeof(struct authsrv_zone), err, errlen);

	if (z == NULL)
		return -1;
	authsrv_init(z->data);
	z->hdr->initialized = 1;
	authsrv_zone = z->data;
	for (size_t i = 0; i < cf->nservers; i++) {
		struct srv_conf *srv = &cf->servers[i];
		for (struct auth_http_url *u = &srv->auth_http; u != NULL && u->url != NULL; u = u->next) {
			u->stat = authsrv_register(z->data, u->url, cy->generation);
			if (u->stat < 0) {
				snprintf(err, errlen, "%s:%d:%d: auth_http: more than %d auth services in all",
				    cf->file, srv->line, srv->col, AUTHSRV_SLOTS);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * The auth_http_cache of every server. Unlike the TLS session cache and the
 * limit counters, it is emptied at every cycle: a reload is how an operator
 * makes changed passwords and routes count at once.
 */
static int
open_auth_caches(struct cycle *cy, char *err, size_t errlen)
{
	const struct config *cf = cy->cf;

	if (cy->auth_cache == NULL)
		cy->auth_cache = xcalloc(cf->nservers ? cf->nservers : 1, sizeof(*cy->auth_cache));
	for (size_t i = 0; i < cf->nservers; i++) {
		const struct srv_conf *srv = &cf->servers[i];
		const struct auth_cache_conf *ac = &srv->auth_http_cache;
		char e[256];

		if (ac->name == NULL)
			continue;
		struct shm_zone *z = shm_zone_get(ac->name, ac->size, e, sizeof(e));
		if (z == NULL || authcache_init(z->data, z->size) < 0) {
			snprintf(err, errlen, "%s:%d:%d: auth_http_cache \"%s\": %s", cf->file, srv->line,
			    srv->col, ac->name, z == NULL ? e : "too small for a cache table");
			return -1;
		}
		cy->auth_cache[i] = z->data;
	}
	return 0;
}

static int
open_zones(struct cycle *cy, char *err, size_t errlen)
{
	struct shm_zone *z = shm_zone_get(STATS_ZONE, sizeof(struct stats_zone), err, errlen);

	if (z == NULL)
		return -1;
	struct stats_zone *sz = z->data;
	if (!z->hdr->initialized) {
		sz->magic = STATS_MAGIC;
		sz->start_time = (uint64_t)time(NULL);
		z->hdr->initialized = 1;
	}
	sz->master_pid = (int32_t)getpid();
	sz->generation = cy->generation;
	cy->stats_zone = z;
	if (open_auth_zone(cy, err, errlen) < 0)
		return -1;
	if (open_limit_zones(cy, err, errlen) < 0)
		return -1;
	return open_auth_caches(cy, err, errlen);
}

/* Marks every zone cy uses as in use, so that a sweep keeps them. */
static void
mark_zones(struct cycle *cy)
{
	char ignored[256];

	open_zones(cy, ignored, sizeof(ignored));
	for (size_t i = 0; i < cy->cf->nservers; i++) {
		const struct ssl_cache_conf *c = &cy->cf->servers[i].ssl_session_cache;
		if (cy->tls_srv != NULL && (c->mode & SSL_CACHE_SHARED))
			shm_zone_get(c->shared_name, c->shared_size, ignored, sizeof(ignored));
	}
}

struct cycle *
cycle_build(struct config *cf, struct cycle *old, unsigned generation, char *err, size_t errlen)
{
	struct cycle *cy = xcalloc(1, sizeof(*cy));

	cy->cf = cf;
	cy->generation = generation;
	cy->status_fd = -1;
	if (privs_lookup(&cf->main, &cy->uid, &cy->gid, err, errlen) < 0)
		goto fail;
	if (open_logs(cy, err, errlen) < 0)
		goto fail;
	shm_mark_unused();
	if (open_zones(cy, err, errlen) < 0)
		goto fail;
	if (worker_cycle_prepare(cy, err, errlen) < 0)
		goto fail;
	if (listen_open(cy, old, err, errlen) < 0) {
		worker_cycle_release(cy);
		goto fail;
	}
	if (geteuid() == 0)
		log_chown_files((int)cy->uid, (int)cy->gid);
	return cy;
fail:
	/* Zones of the running cycle must survive a failed reload; zones this
	 * attempt made for itself go now, not at the next good reload. */
	if (old != NULL) {
		shm_mark_unused();
		mark_zones(old);
		shm_sweep_unused();
	}
	free(cy->srv_log);
	free(cy->srv_alog);
	free(cy->login_limit);
	free(cy->auth_cache);
	free(cy);
	return NULL;
}

void
cycle_free(struct cycle *cy)
{
	if (cy == NULL)
		return;
	listen_close_all(cy);
	worker_cycle_release(cy);
	free(cy->srv_log);
	free(cy->srv_alog);
	free(cy->login_limit);
	free(cy->auth_cache);
	config_free(cy->cf);
	free(cy);
}

void
cycle_log_sets(const struct cycle *cy, const struct log_set **out, int *n, int max)
{
	if (*n < max)
		out[(*n)++] = &cy->log;
	if (*n < max)
		out[(*n)++] = &cy->mail_log;
	for (size_t i = 0; i < cy->cf->nservers && *n < max; i++)
		out[(*n)++] = &cy->srv_log[i];
	if (*n < max)
		out[(*n)++] = &cy->mail_alog;
	for (size_t i = 0; i < cy->cf->nservers && *n < max; i++)
		if (cy->srv_alog != NULL && cy->cf->servers[i].access_log.v != cy->cf->mail.access_log.v)
			out[(*n)++] = &cy->srv_alog[i];
}
