/*
 * A Redis connection per worker, driven by hiredis's asynchronous API inside
 * the worker's epoll loop, never blocking it. It connects on first use,
 * authenticates and selects the database, and gives every command an
 * answer within the configured timeout: the reply, or none (NULL) when
 * Redis is slow, down or talks nonsense. Down, it refuses new commands at
 * once (the caller decides without Redis) and tries again every second.
 * It knows nothing of sessions: callbacks only.
 */
#ifndef MP_REDIS_H
#define MP_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "config/config.h"

struct redis;
struct redis_req;

/* Exactly once per accepted command, unless cancelled; r NULL: no answer in time. */
typedef void (*redis_cb)(void *arg, const redisReply *r);

/* Sent first on every new connection, after AUTH and SELECT (script loads). */
typedef void (*redis_on_connect)(struct redis *r, void *arg);

/* One connection per distinct conf in this process, made on first use; what: the directive, for the log. */
struct redis *redis_for(const struct limit_store_conf *c, const char *what, redis_on_connect on_connect,
    void *arg);

/*
 * Queues one command (argv with lengths). NULL when Redis is down or too
 * far behind: cb is then never called. cb may be NULL (no one waits).
 */
struct redis_req *redis_send(struct redis *r, redis_cb cb, void *arg, int argc, const char **argv,
    const size_t *lens);

/* The caller goes away: cb will not be called for q. */
void redis_cancel(struct redis_req *q);

/* Closes every connection (worker exit); waiting callers get NULL. */
void redis_shutdown(void);

#endif
