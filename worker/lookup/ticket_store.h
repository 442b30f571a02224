/*
 * ssl_session_ticket_key_store: one worker per node keeps the ticket key
 * ring (common/ticketring.h) in step with Redis. Every period/8 it sends,
 * on its own connection and without waiting in between,
 *   SET prefix<p> KEY NX EXAT <end of p+1>
 *   SET prefix<p+1> KEY NX EXAT <end of p+2>
 *   MGET prefix<p-1> prefix<p> prefix<p+1>
 * (p: the current period, KEY: 80 fresh random bytes): the first node to
 * ask makes each period's key, every node then reads the same ones. The
 * handshakes never wait for Redis: they read the ring.
 */
#ifndef MP_TICKET_STORE_H
#define MP_TICKET_STORE_H

#include "common/sslcache.h"
#include "config/cycle.h"

struct redisReply;

/* Starts the fetches for every ring of cy (the calling worker does them all). */
void ticket_store_start(struct cycle *cy);
/* Worker exit: stops the timers and forgets pending answers. */
void ticket_store_stop(void);

/*
 * The MGET answer: exactly 3 elements, each nil (no key: bit off in *have)
 * or an 80-byte string (the key, bit on). 0, or -1 for anything else, with
 * keys and *have untouched. Pure, for the fuzzer and the unit tests.
 */
int ticket_store_parse(const struct redisReply *rp, struct ticket_key keys[3], unsigned *have);

#endif
