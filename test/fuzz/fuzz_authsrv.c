/*
 * The 5xx test on the first bytes of an auth service's answer
 * (common/authsrv.c authsrv_is_5xx()), which decides whether a request may go
 * to the next service. Fed every prefix of the input as the buffer grows in
 * auth_http.c: an exactly sized copy (a read past it is an ASan report), and
 * the answer, once known, never changes as more bytes come: a request is
 * never judged retryable on a prefix and not on the whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/authsrv.h"
#include "test/fuzz/lib/fuzzb_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int known = -1;

	if (size > 4096)
		size = 4096;
	for (size_t n = 0; n <= size; n++) {
		char *copy = fuzzb_dup((const char *)data, n);
		int r = authsrv_is_5xx(copy, n);
		free(copy);
		FUZZB_CHECK(r >= -1 && r <= 1, "result %d", r);
		if (known >= 0)
			FUZZB_CHECK(r == known, "decided %d on %zu bytes, %d on %zu", known, n - 1, r, n);
		if (r >= 0)
			known = r;
		if (r == 1)
			FUZZB_CHECK(n >= 10 && memcmp(data, "HTTP/", 5) == 0 && data[9] == '5',
			    "5xx without a status line");
	}
	return 0;
}
