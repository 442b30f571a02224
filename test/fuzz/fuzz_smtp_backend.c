/*
 * libFuzzer harness: the SMTP backend login (worker/proto/smtp_backend.c). A
 * client logs in through the SMTP machine (one of the scripts below, picked
 * by the first byte), then the input speaks for the backend, line by line,
 * whole and split; fm_backend_machine() in lib/fuzz_mail_be.c checks.
 */
#include <stddef.h>
#include <stdint.h>

#include "test/fuzz/lib/fuzz_mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fm_script scripts[] = {
	{ 0, "EHLO client.example\r\nAUTH PLAIN AGJvYgBwdw==\r\n", NULL, NULL },
	{ 1, "HELO h\r\nAUTH LOGIN Ym9i\r\ncHc=\r\n", NULL, NULL },
	{ 2, "EHLO c.example\r\nMAIL FROM:<a@example.org> SIZE=100\r\nRCPT TO:<b@example.org>\r\n",
	    NULL, NULL },
	{ 0, "AUTH PLAIN AGJvYgBwdw==\r\n", NULL, NULL },
	{ 1, "EHLO c\r\nAUTH EXTERNAL Ym9i\r\n", NULL, NULL },
	{ 0, "EHLO x+y=z\r\nAUTH PLAIN AGJvYgBwdw==\r\n", "user with space", "p" },
	{ 1, "HELO old\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster>\r\n", NULL, NULL },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fm_backend_machine(MP_PROTO_SMTP, scripts, sizeof(scripts) / sizeof(scripts[0]), data, size);
	return 0;
}
