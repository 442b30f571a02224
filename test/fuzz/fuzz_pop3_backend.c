/*
 * libFuzzer harness: the POP3 backend login (worker/proto/pop3_backend.c). A
 * client logs in through the POP3 machine (one of the scripts below, picked
 * by the first byte), then the input speaks for the backend, line by line,
 * whole and split; fm_backend_machine() in lib/fuzz_mail_be.c checks.
 */
#include <stddef.h>
#include <stdint.h>

#include "test/fuzz/lib/fuzz_mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fm_script scripts[] = {
	{ 0, "USER bob\r\nPASS secret\r\n", NULL, NULL },
	{ 0, "USER  b o b \r\nPASS  p w \r\n", NULL, NULL },
	{ 0, "AUTH PLAIN AGJvYgBwdw==\r\n", NULL, NULL },
	{ 1, "APOP bob 0123456789abcdef0123456789abcdef\r\n", NULL, NULL },
	{ 0, "USER bob\r\nPASS secret\r\n", "alice", "other" },
	{ 1, "AUTH EXTERNAL\r\nYm9i\r\n", NULL, "from-auth" },
	{ 1, "AUTH LOGIN Ym9i\r\n=\r\n", NULL, NULL },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fm_backend_machine(MP_PROTO_POP3, scripts, sizeof(scripts) / sizeof(scripts[0]), data, size);
	return 0;
}
