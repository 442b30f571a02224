/*
 * libFuzzer harness: the ManageSieve machine before login
 * (worker/proto/sieve.c, its tokenizer sieve_parse.c and worker/sasl*.c)
 * fed by a fake client connection as session.c feeds it, once with reads
 * as large as the buffer allows and once cut where the input says;
 * fm_machine() in lib/fuzz_mail.c checks.
 */
#include <stddef.h>
#include <stdint.h>

#include "test/fuzz/lib/fuzz_mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fm_machine(MP_PROTO_SIEVE, data, size);
	return 0;
}
