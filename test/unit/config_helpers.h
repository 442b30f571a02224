/*
 * Shared helpers for the configuration unit tests: each test gets a fresh
 * temporary directory (mkdtemp) as its working directory and prefix, writes
 * its YAML there as "t.yaml" and loads it. Error messages come back with the
 * temporary directory replaced by "TMP", so tests can compare them exactly.
 * Criterion runs every test in its own process, so the chdir is private.
 */
#ifndef MP_TEST_CONFIG_HELPERS_H
#define MP_TEST_CONFIG_HELPERS_H

#include <stddef.h>

#include <criterion/criterion.h>

#include "config/config.h"

/* Suite hooks: create and enter the temporary directory; leave and remove it. */
void th_setup(void);
void th_teardown(void);

/* The directory the tests started in (the repository root under `make unit`). */
const char *th_root(void);
/* The temporary directory (absolute). */
const char *th_dir(void);

/* Writes len bytes (or strlen(data) when len is -1) to name in the temp dir. */
void th_write(const char *name, const char *data, long len);
/* Copies the repository's cert.pem and cert.key into the temp dir. */
void th_certs(void);

/* Writes yaml to t.yaml and loads it (prefix = temp dir, no -g). */
struct config *th_load(const char *yaml);
/* Same, with -g globals. */
struct config *th_load_g(const char *yaml, const char *globals);
/* Loads an existing file (relative to the temp dir or absolute). */
struct config *th_load_file(const char *path, const char *prefix, const char *globals);
/* The last error, with the temp dir replaced by "TMP". */
const char *th_err(void);

/* The message a load must fail with, checked in the test body for a useful line. */
#define EXPECT_ERR(yaml, expected) do {					\
	struct config *cf_ = th_load(yaml);				\
	cr_assert_null(cf_, "loaded, but expected: %s", (expected));	\
	cr_assert_str_eq(th_err(), (expected));				\
} while (0)

#define EXPECT_ERR_G(yaml, globals, expected) do {			\
	struct config *cf_ = th_load_g((yaml), (globals));		\
	cr_assert_null(cf_, "loaded, but expected: %s", (expected));	\
	cr_assert_str_eq(th_err(), (expected));				\
} while (0)

/* A load that must succeed; fails the test with the loader's message. */
#define LOAD_OK(cf, yaml) do {						\
	(cf) = th_load(yaml);						\
	cr_assert_not_null((cf), "unexpected error: %s", th_err());	\
} while (0)

/* Why two plain-text servers may not share an address:port (only SNI can tell TLS ones apart). */
#define NOT_SNI "servers may share an address only with TLS, told apart by SNI"

/* The smallest valid mail block: an auth service and one IMAP server. */
#define MAIL_HEAD "mail:\n  auth_http: 127.0.0.1:9000/auth\n"
#define MINIMAL MAIL_HEAD "  servers:\n    - listen: \"143\"\n"
/* MINIMAL plus lines in its server (indented by six spaces, from line 5). */
#define SRV(lines) MINIMAL lines
/* Lines at the mail level (indented by two spaces, from line 3), then MINIMAL's server. */
#define MAILV(lines) MAIL_HEAD lines "  servers:\n    - listen: \"143\"\n"

#endif
