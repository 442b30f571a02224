/*
 * libFuzzer harness: the IMAP backend login (worker/proto/imap_backend.c). A
 * client logs in through the IMAP machine (one of the scripts below, picked
 * by the first byte), then the input speaks for the backend, line by line,
 * whole and split; fm_backend_machine() in lib/fuzz_mail_be.c checks.
 */
#include <stddef.h>
#include <stdint.h>

#include "test/fuzz/lib/fuzz_mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fm_script scripts[] = {
	{ 0, "a LOGIN bob pass\r\n", NULL, NULL },
	{ 0, "t7 LOGIN \"j\xc3\xb6rg x\" \"p\\\"w\"\r\n", NULL, NULL },
	{ 0, "Z.9 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n", NULL, NULL },
	{ 1, "x ID (\"name\" \"Thunder\\\"bird\" \"version\" NIL)\r\nx1 LOGIN {3}\r\nbob {0}\r\n\r\n",
	    NULL, NULL },
	{ 0, "A LOGIN bob pass\r\n", "bob@example.com", "master*secret" },
	{ 1, "c AUTHENTICATE EXTERNAL Ym9i\r\n", NULL, "from-auth" },
	{ 1, "d AUTHENTICATE LOGIN\r\nYm9i\r\nc2VjcmV0\r\n", NULL, NULL },
	{ 1, "e LOGIN {40+}\r\nthe-login-is-forty-bytes-long-@example.o \"\"\r\n", NULL, NULL },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fm_backend_machine(MP_PROTO_IMAP, scripts, sizeof(scripts) / sizeof(scripts[0]), data, size);
	return 0;
}
