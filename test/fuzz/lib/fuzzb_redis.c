/* Redis reply streams for the fuzz harnesses; see fuzzb_redis.h. */
#include <hiredis/read.h>

#include "test/fuzz/lib/fuzzb_redis.h"

#define MAX_COUNT 4096

int
fuzzb_redis_huge_count(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t c = 0;
		if (p[i] != '*')
			continue;
		for (size_t j = i + 1; j < n && p[j] >= '0' && p[j] <= '9' && c <= MAX_COUNT; j++)
			c = c * 10 + (uint64_t)(p[j] - '0');
		if (c > MAX_COUNT)
			return 1;
	}
	return 0;
}

void
fuzzb_redis_replies(const uint8_t *stream, size_t len, struct fuzzb_chunker *ch,
    void (*judge)(const redisReply *rp, void *arg), void *arg)
{
	redisReader *rd = redisReaderCreate();
	size_t pos = 0;

	FUZZB_CHECK(rd != NULL, "redisReaderCreate failed");
	while (pos < len) {
		size_t k = fuzzb_chunk(ch, len - pos);

		FUZZB_CHECK(redisReaderFeed(rd, (const char *)stream + pos, k) == REDIS_OK,
		    "redisReaderFeed: %s", rd->errstr);
		pos += k;
		for (;;) {
			void *rp = NULL;
			if (redisReaderGetReply(rd, &rp) != REDIS_OK) {
				FUZZB_CHECK(rp == NULL && rd->err == REDIS_ERR_PROTOCOL,
				    "reader error %d: %s", rd->err, rd->errstr);
				redisReaderFree(rd);
				return;
			}
			if (rp == NULL)
				break;
			judge(rp, arg);
			freeReplyObject(rp);
		}
	}
	redisReaderFree(rd);
}
