/*
 * libFuzzer harness: the ManageSieve backend login
 * (worker/proto/sieve_backend.c). A client logs in through the ManageSieve
 * machine (one of the scripts below, picked by the first byte), then the
 * input speaks for the backend, line by line, whole and split;
 * fm_backend_machine() in lib/fuzz_mail_be.c checks.
 */
#include <stddef.h>
#include <stdint.h>

#include "test/fuzz/lib/fuzz_mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fm_script scripts[] = {
	{ 0, "AUTHENTICATE \"PLAIN\" \"AGJvYgBwYXNz\"\r\n", NULL, NULL },
	{ 0, "AUTHENTICATE {5+}\r\nPLAIN {12+}\r\nAGJvYgBwYXNz\r\n", NULL, NULL },
	{ 0, "AUTHENTICATE \"PLAIN\"\r\n\"AGrDtnJnIHgAcCJ3\"\r\n", NULL, NULL },
	{ 1, "AUTHENTICATE \"LOGIN\"\r\n\"Ym9i\"\r\n{8+}\r\nc2VjcmV0\r\n", NULL, NULL },
	{ 0, "AUTHENTICATE \"PLAIN\" \"AGJvYgBwYXNz\"\r\n", "bob@example.com", "master*se\"cret" },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fm_backend_machine(MP_PROTO_SIEVE, scripts, sizeof(scripts) / sizeof(scripts[0]), data, size);
	return 0;
}
