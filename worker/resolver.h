/*
 * Client host names for SMTP (Client-Host, XCLIENT NAME), non-blocking with
 * c-ares inside the worker's epoll loop: a PTR lookup of the client address,
 * then a forward lookup of that name that must give the address back, as
 * nginx does. The answer is a valid host name, "[UNAVAILABLE]" or
 * "[TEMPUNAVAIL]"; a PTR name with anything but letters, digits, '.' and '-'
 * is unavailable (nginx's CVE-2026-28753 was that injection).
 */
#ifndef MP_RESOLVER_H
#define MP_RESOLVER_H

#include <sys/socket.h>

#include "config/config.h"

#define HOST_UNAVAILABLE "[UNAVAILABLE]"
#define HOST_TEMPUNAVAIL "[TEMPUNAVAIL]"

struct resolve_req;
/* host is only valid during the call. */
typedef void (*resolve_cb)(void *arg, const char *host);

/* Starts a lookup; NULL when it could not start (the caller uses "[TEMPUNAVAIL]"). */
struct resolve_req *resolver_lookup(const struct srv_conf *conf, const struct sockaddr *addr,
    resolve_cb cb, void *arg);
/* After this the callback never runs. */
void resolver_cancel(struct resolve_req *r);
void resolver_shutdown(void);
/* Letters, digits, '.' and '-' only, 1..253 bytes. */
int resolver_valid_name(const char *name);

#endif
