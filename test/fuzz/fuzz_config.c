/*
 * The YAML loader (config/, libyaml) and -T. The input is a configuration
 * file; if it loads, config_dump() prints it as -T does, the print must
 * load again and print identically (apart from its first line, which names
 * the file). Loading must not crash or leak, loaded or refused. Files a
 * configuration may name (cert.pem, cert.key, ca.pem, crl.pem, dh.pem,
 * pass.txt, ticket.key of 48 bytes, ticket80.key of 80) exist in a temporary
 * prefix made once; host names resolve only as IP literals or "localhost",
 * so no input waits on DNS.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "config/config.h"
#include "test/fuzz/lib/fuzzb_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The loader's getaddrinfo() (listen addresses, auth_http hosts): literals
 * and "localhost" only. Defined here, it takes the place of libc's in this
 * harness alone.
 */
int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	struct {
		struct addrinfo ai;
		struct sockaddr_storage ss;
	} *r;
	int family = hints ? hints->ai_family : AF_UNSPEC;

	(void)service;
	if (node == NULL || (r = calloc(1, sizeof(*r))) == NULL)
		return EAI_NONAME;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&r->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&r->ss;
	if (strcmp(node, "localhost") == 0)
		node = family == AF_INET6 ? "::1" : "127.0.0.1";
	if (family != AF_INET6 && inet_pton(AF_INET, node, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		r->ai.ai_addrlen = sizeof(*s4);
	} else if (family != AF_INET && inet_pton(AF_INET6, node, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		r->ai.ai_addrlen = sizeof(*s6);
	} else {
		free(r);
		return EAI_NONAME;
	}
	r->ai.ai_family = r->ss.ss_family;
	r->ai.ai_socktype = hints ? hints->ai_socktype : 0;
	r->ai.ai_addr = (struct sockaddr *)&r->ss;
	*res = &r->ai;
	return 0;
}

void
freeaddrinfo(struct addrinfo *res)
{
	free(res);	/* one block, made above */
}

static char dir[64], conf_path[128], dump_path[128];
static int verbose;

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	FUZZB_CHECK(f != NULL && fwrite(p, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

static const char *const files[] = { "cert.pem", "cert.key", "ca.pem", "crl.pem", "dh.pem",
	"pass.txt", "ticket.key", "ticket80.key", "t.yaml", "d.yaml" };

static void
cleanup(void)
{
	char path[256];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void
init_once(void)
{
	static const uint8_t key[80];
	char path[256];

	snprintf(dir, sizeof(dir), "/tmp/fuzzb-config-XXXXXX");
	FUZZB_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	atexit(cleanup);
	for (size_t i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		write_file(path, "x\n", 2);
	}
	snprintf(path, sizeof(path), "%s/ticket.key", dir);
	write_file(path, key, 48);
	snprintf(path, sizeof(path), "%s/ticket80.key", dir);
	write_file(path, key, 80);
	snprintf(conf_path, sizeof(conf_path), "%s/t.yaml", dir);
	snprintf(dump_path, sizeof(dump_path), "%s/d.yaml", dir);
}

/* The dump without its first line ("# effective configuration of FILE ..."). */
static const char *
body(const struct buf *b)
{
	const char *nl = memchr(buf_rptr(b), '\n', buf_len(b));

	FUZZB_CHECK(nl != NULL, "the dump has no first line");
	return nl + 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024];
	struct config *cf1, *cf2;
	struct buf d1 = { 0 }, d2 = { 0 };

	if (dir[0] == '\0') {
		init_once();
		verbose = getenv("FUZZB_VERBOSE") != NULL;	/* for choosing seeds */
	}
	write_file(conf_path, data, size);
	cf1 = config_load(conf_path, dir, NULL, err, sizeof(err));
	if (verbose)
		fprintf(stderr, "fuzz_config: %s\n", cf1 ? "loaded" : err);
	if (cf1 == NULL) {
		FUZZB_CHECK(err[0] != '\0', "refused without a message");
		return 0;
	}
	config_dump(cf1, &d1);
	FUZZB_CHECK(buf_append(&d1, "", 1) == 0, "out of memory");
	FUZZB_CHECK(strlen(buf_rptr(&d1)) == buf_len(&d1) - 1, "a NUL inside the dump");
	write_file(dump_path, buf_rptr(&d1), buf_len(&d1) - 1);
	cf2 = config_load(dump_path, dir, NULL, err, sizeof(err));
	if (cf2 == NULL)
		fuzzb_fail("-T prints what does not load: %s\n--- input\n%.*s\n--- -T\n%s", err,
		    (int)size, (const char *)data, buf_rptr(&d1));
	config_dump(cf2, &d2);
	FUZZB_CHECK(buf_append(&d2, "", 1) == 0, "out of memory");
	if (strcmp(body(&d1), body(&d2)) != 0)
		fuzzb_fail("-T of the -T output differs\n--- input\n%.*s\n--- -T\n%s\n--- -T again\n%s",
		    (int)size, (const char *)data, buf_rptr(&d1), buf_rptr(&d2));
	buf_release(&d1);
	buf_release(&d2);
	config_free(cf1);
	config_free(cf2);
	return 0;
}
