/*
 * A harness for the IMAP machines (worker/imap.c, worker/imap_backend.c):
 * a server from a real configuration, its canned replies, and a fake client
 * connection that feeds the machine the way session.c does - a buffer of
 * ctx.bufsize bytes, refilled from the bytes the "client" sent, optionally
 * a few at a time to split commands anywhere.
 * The suite must use th_setup/th_teardown (a temp dir for the YAML).
 */
#ifndef MP_TEST_IMAP_HELPERS_H
#define MP_TEST_IMAP_HELPERS_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "config/config.h"
#include "worker/proto.h"

struct ih {
	struct config *cf;
	struct srv_conf *conf;		/* cf->servers[0], tweakable */
	struct proto_rt *rt;
	struct proto_ctx ctx;
	struct buf out, bout;		/* replies to the client, commands to the backend */
	struct buf in;			/* the client buffer (at most ctx.bufsize bytes) */
	struct buf pend;		/* sent by the client, not read yet */
	struct sockaddr_storage caddr, laddr;
	size_t chunk;			/* bytes per read; 0 = as many as fit */
	unsigned reads;			/* reads so far */
};

/* Loads MINIMAL plus server_yaml (lines indented by 6 spaces), greets. */
void ih_open(struct ih *h, const char *server_yaml);
void ih_close(struct ih *h);

/* The client sends n bytes; runs the machine until it needs more or stops. */
enum proto_action ih_send(struct ih *h, const char *data, size_t n);
enum proto_action ih_sends(struct ih *h, const char *s);
/* Goes on with what is buffered (after PA_AUTH was handled). */
enum proto_action ih_resume(struct ih *h);

/* Everything queued for the client since the last call (NUL-terminated copy). */
const char *ih_out(struct ih *h);
/* The same for the backend. */
const char *ih_bout(struct ih *h);
/* Bytes the machine has not consumed yet (buffered + not read). */
size_t ih_unread(const struct ih *h);

/* Sends in (n bytes); the action must be want and the client must get exactly out. */
void ih_expect_n(struct ih *h, const char *in, size_t n, enum proto_action want, const char *out);
void ih_expect(struct ih *h, const char *in, enum proto_action want, const char *out);
/* The same for string literals with NUL bytes in them. */
#define IH_EXPECT_BIN(h, lit, want, out) ih_expect_n((h), (lit), sizeof(lit) - 1, (want), (out))

#endif
