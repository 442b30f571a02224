/*
 * Client host names for SMTP (Client-Host, XCLIENT NAME), non-blocking with
 * c-ares inside the worker's epoll loop: a PTR lookup of the client address,
 * then a forward lookup of that name that must give the address back, as
 * nginx does. The answer is a valid host name, "[UNAVAILABLE]" (no such
 * name, a forward lookup that does not lead back, a PTR name with anything
 * but letters, digits, '.' and '-': nginx's CVE-2026-28753 was that
 * injection) or "[TEMPUNAVAIL]" (any other failure, an answer with no PTR
 * record or an empty one among them).
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
/*
 * The two answers of a lookup, as pure functions of c-ares' status and the
 * raw DNS message (tests and the fuzz harness call them): NULL when the
 * step succeeded, else HOST_UNAVAILABLE or HOST_TEMPUNAVAIL. The PTR step
 * for addr copies a valid name (resolver_valid_name) to name[len); the
 * forward step (A for IPv4, AAAA for IPv6) succeeds when it lists addr.
 */
const char *resolver_ptr_answer(int status, const unsigned char *abuf, int alen,
    const struct sockaddr *addr, char *name, size_t len);
const char *resolver_forward_answer(int status, const unsigned char *abuf, int alen,
    const struct sockaddr *addr);

#endif
