/*
 * Shared by the harnesses of Redis answers (store_reply, ticket_reply): a
 * reply stream fed to a hiredis reader in fuzzer-chosen chunks, as the
 * connection feeds it, each complete reply handed to the harness's judge.
 */
#ifndef MP_FUZZB_REDIS_H
#define MP_FUZZB_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "test/fuzz/lib/fuzzb_input.h"

/*
 * Whether the stream announces an array of more than 4096 elements anywhere:
 * hiredis 0.14 allocates the element pointers when it reads the count (10^9
 * costs 8 GB before any element came). Not ours to test: such inputs are
 * skipped.
 */
int fuzzb_redis_huge_count(const uint8_t *p, size_t n);

/*
 * Feeds stream[0..len) in chunks from ch and calls judge(reply, arg) for each
 * complete reply. A protocol error ends the stream, as the connection would
 * drop; any other reader failure violates the property.
 */
void fuzzb_redis_replies(const uint8_t *stream, size_t len, struct fuzzb_chunker *ch,
    void (*judge)(const redisReply *rp, void *arg), void *arg);

#endif
