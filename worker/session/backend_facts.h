/*
 * What logins have learned about each backend, kept per worker so the next
 * login to the same backend saves a round trip: whether a POP3 backend takes
 * pipelined commands (its CAPA lists PIPELINING, RFC 2449), and whether an
 * SMTP backend wants EHLO before XCLIENT. Facts expire after
 * BACKEND_FACTS_TTL_MS, so a backend that changes is learned again.
 */
#ifndef MP_BACKEND_FACTS_H
#define MP_BACKEND_FACTS_H

#include <stdint.h>
#include <sys/socket.h>

#include "worker/proto/proto.h"

#define BACKEND_FACTS_TTL_MS (5 * 60 * 1000)

/* The BF_* bits (proto/proto.h) known of sa (an AF_INET or AF_INET6 address) at now; 0 if none. */
unsigned backend_facts_get(const struct sockaddr *sa, uint64_t now);
/* Records what is known of sa at now, replacing what was there. */
void backend_facts_put(const struct sockaddr *sa, unsigned facts, uint64_t now);
/* Forgets everything (tests; a fresh worker starts empty anyway). */
void backend_facts_reset(void);

#endif
