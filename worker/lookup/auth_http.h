/*
 * The auth_http client: one non-blocking request per login, on a new or a
 * kept-alive connection (auth_http_keepalive). The request text and the
 * response parsing are the pure half, worker/proto/auth_http_proto.h.
 *
 * A request is cancellable: session_free() calls auth_http_cancel(), after
 * which the callback never runs.
 */
#ifndef MP_AUTH_HTTP_H
#define MP_AUTH_HTTP_H

#include "config/config.h"
#include "worker/proto/auth_http_proto.h"

struct auth_req;
typedef void (*auth_done_cb)(void *arg, struct auth_result *res);

/* Starts a request; NULL when it could not even start (res->reason explains). */
struct auth_req *auth_http_start(const struct srv_conf *conf, const struct auth_params *p,
    auth_done_cb cb, void *arg, struct auth_result *res);
void auth_http_cancel(struct auth_req *r);
/* Closes the kept-alive connections (worker exit). */
void auth_http_shutdown(void);

#endif
