/*
 * The status endpoint's request head parser (worker/proto/http_req.c), fed
 * as worker/status.c feeds it: the growing prefix of what arrived, re-parsed
 * after each read, at most HTTP_REQ_MAX bytes. Checks: the first answer that
 * is not MORE equals the whole-input answer (a prefix never decides
 * differently from the whole); a full buffer never waits; an error carries a
 * status the endpoint sends; a parsed path starts with '/', holds no
 * control byte nor '?', and the head it reports ends with a line feed
 * inside the input. Input: 3 bytes of chunking (fuzzb_input.h), then the head.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/lib/fuzzb_input.h"
#include "worker/proto/http_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum http_req_rc
parse_copy(const uint8_t *p, size_t len, struct http_req *r)
{
	char *copy = fuzzb_dup(p, len);
	enum http_req_rc rc = http_req_parse(copy, len, HTTP_REQ_MAX, r);

	free(copy);
	return rc;
}

static void
check(enum http_req_rc rc, const struct http_req *r, const uint8_t *msg, size_t len)
{
	FUZZB_CHECK(rc == HTTP_REQ_MORE || rc == HTTP_REQ_DONE || rc == HTTP_REQ_ERROR, "result %d", rc);
	if (rc == HTTP_REQ_ERROR)
		FUZZB_CHECK(r->status == 400 || r->status == 405 || r->status == 414 ||
		    r->status == 431 || r->status == 505, "status %d", r->status);
	if (rc != HTTP_REQ_DONE)
		return;
	size_t pl = strnlen(r->path, sizeof(r->path));
	FUZZB_CHECK(pl > 0 && pl < sizeof(r->path) && r->path[0] == '/', "path \"%.*s\"", (int)pl, r->path);
	for (size_t i = 0; i < pl; i++)
		FUZZB_CHECK((unsigned char)r->path[i] > ' ' && (unsigned char)r->path[i] < 0x7f &&
		    r->path[i] != '?', "path byte 0x%02x", (unsigned char)r->path[i]);
	FUZZB_CHECK(r->head_len > 0 && r->head_len <= len && msg[r->head_len - 1] == '\n',
	    "head of %zu bytes in %zu", r->head_len, len);
	FUZZB_CHECK(r->minor == 0 || r->minor == 1, "HTTP/1.%d", r->minor);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzzb_in in = { data, size };
	struct fuzzb_chunker ch;
	struct http_req whole, part;
	size_t have = 0, len;
	const uint8_t *msg;
	enum http_req_rc wrc, rc = HTTP_REQ_MORE;

	fuzzb_chunker_init(&ch, &in);
	msg = fuzzb_bytes(&in, HTTP_REQ_MAX, &len);
	wrc = parse_copy(msg, len, &whole);
	check(wrc, &whole, msg, len);
	FUZZB_CHECK(len < HTTP_REQ_MAX || wrc != HTTP_REQ_MORE, "a full buffer of %zu bytes still waits", len);
	while (have < len) {
		have += fuzzb_chunk(&ch, len - have);
		rc = parse_copy(msg, have, &part);
		check(rc, &part, msg, have);
		if (rc == HTTP_REQ_MORE)
			continue;
		FUZZB_CHECK(rc == wrc, "after %zu of %zu bytes: %d, whole input: %d", have, len, rc, wrc);
		if (rc == HTTP_REQ_ERROR)
			FUZZB_CHECK(part.status == whole.status, "after %zu bytes: %d, whole input: %d",
			    have, part.status, whole.status);
		else
			FUZZB_CHECK(strcmp(part.path, whole.path) == 0 && part.head == whole.head &&
			    part.head_len == whole.head_len, "a prefix parses as another request");
		break;
	}
	if (rc == HTTP_REQ_MORE)
		FUZZB_CHECK(wrc == HTTP_REQ_MORE, "split-fed waits, whole input: %d", wrc);
	return 0;
}
