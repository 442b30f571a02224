/*
 * --from-nginx (config/config_nginx*.c) on the input as an nginx
 * configuration, includes refused (no directory: no file is read). Either
 * it is refused with "t.conf:LINE: message", or the YAML comes out: one
 * header, every line of it either a comment or YAML that libyaml (the
 * loader's ytree) reads, and converting the same input again gives the
 * same bytes. Never a crash or a leak (ASan, LeakSanitizer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "config/config_nginx.h"
#include "config/ytree.h"
#include "test/fuzz/lib/fuzzb_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a = { 0 }, b = { 0 };
	char err[2048], err2[2048], yerr[1024];
	int rc = config_from_nginx_text("t.conf", (const char *)data, size, NULL, &a, err, sizeof(err));
	int rc2 = config_from_nginx_text("t.conf", (const char *)data, size, NULL, &b, err2,
	    sizeof(err2));

	FUZZB_CHECK(rc == rc2, "two conversions of one input disagree");
	if (rc < 0) {
		unsigned line;
		FUZZB_CHECK(buf_len(&a) == 0, "a refusal left output behind");
		FUZZB_CHECK(sscanf(err, "t.conf:%u: ", &line) == 1 && line >= 1 && strchr(err, '\n') == NULL,
		    "a refusal without file:line: %s", err);
		FUZZB_CHECK(strcmp(err, err2) == 0, "two refusals differ");
		buf_release(&a);
		buf_release(&b);
		return 0;
	}
	FUZZB_CHECK(buf_len(&a) == buf_len(&b) && memcmp(buf_rptr(&a), buf_rptr(&b), buf_len(&a)) == 0,
	    "two conversions of one input differ");
	FUZZB_CHECK(memchr(buf_rptr(&a), '\0', buf_len(&a)) == NULL, "a NUL in the YAML");
	FUZZB_CHECK(strncmp(buf_rptr(&a), "# mailproxy configuration converted", 35) == 0, "no header");
	struct ytree t;
	if (ytree_parse(&t, "out.yaml", buf_rptr(&a), buf_len(&a), yerr, sizeof(yerr)) < 0) {
		/* Our own limits (nesting, scalar length) may refuse; libyaml may not. */
		FUZZB_CHECK(strstr(yerr, "too") != NULL || strstr(yerr, "longer") != NULL ||
		    strstr(yerr, "limit") != NULL,
		    "the YAML does not parse: %s\n--- input\n%.*s\n--- YAML\n%.*s", yerr, (int)size,
		    (const char *)data, (int)buf_len(&a), buf_rptr(&a));
	}
	ytree_free(&t);
	buf_release(&a);
	buf_release(&b);
	return 0;
}
