/*
 * A harness for the IMAP, POP3 and SMTP machines (worker/imap*.c, pop3*.c, smtp*.c):
 * one server from a real configuration, its canned replies, and a fake
 * client connection that feeds the machine as session.c does - a buffer of
 * ctx.bufsize bytes refilled from what the "client" sent, optionally a few
 * bytes per read so that commands split anywhere. The suite must use
 * th_setup/th_teardown (a temporary directory for the YAML).
 */
#ifndef MP_TEST_MAIL_HELPERS_H
#define MP_TEST_MAIL_HELPERS_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "config/config.h"
#include "worker/proto/proto.h"

struct mh {
	const struct proto *proto;
	struct config *cf;
	struct srv_conf *conf;		/* cf->servers[0]; fields the replies do not depend on may be tweaked */
	struct proto_rt *rt;
	struct proto_ctx ctx;
	struct buf out, bout;		/* replies to the client, commands to the backend */
	struct buf in;			/* the client buffer (at most ctx.bufsize bytes) */
	struct buf pend;		/* sent by the client, not read yet */
	struct sockaddr_storage caddr, laddr;
	size_t chunk;			/* bytes per read; 0 = as much as fits */
	unsigned commands;		/* input() calls that consumed bytes */
};

/*
 * Loads a mail block with one server listening on port (its protocol
 * follows from the port) plus server_yaml (lines indented by six spaces)
 * and mail_yaml (two spaces), and prepares the context; mh_open() also
 * greets and checks nothing else was queued.
 */
void mh_load(struct mh *h, const char *port, const char *mail_yaml, const char *server_yaml);
void mh_open(struct mh *h, const char *port, const char *mail_yaml, const char *server_yaml);
/* IMAP: mh_open() on port 143 with server_yaml, the greeting read and checked. */
void mh_open_imap(struct mh *h, const char *server_yaml);
void mh_close(struct mh *h);

/* The client sends n bytes; runs the machine until it needs more or stops. */
enum proto_action mh_send(struct mh *h, const char *data, size_t n);
enum proto_action mh_sends(struct mh *h, const char *s);
/* Goes on with what is buffered (after a PA_AUTH was handled). */
enum proto_action mh_resume(struct mh *h);

/* Everything queued for the client since the last call (NUL-terminated copy). */
const char *mh_out(struct mh *h);
/* The same for the backend. */
const char *mh_bout(struct mh *h);
/* Bytes the machine has not consumed yet (buffered + not read). */
size_t mh_unread(const struct mh *h);

/* One backend line (without its CRLF). */
enum backend_action mh_be(struct mh *h, const char *line);

/* The client sends cmd; the machine must answer exactly reply and return PA_OK. */
void mh_say(struct mh *h, const char *cmd, const char *reply);
/* Sends in (n bytes); the action must be want and the client must get exactly out. */
void mh_expect_n(struct mh *h, const char *in, size_t n, enum proto_action want, const char *out);
void mh_expect(struct mh *h, const char *in, enum proto_action want, const char *out);
/* The same for string literals with NUL bytes in them. */
#define MH_EXPECT_BIN(h, lit, want, out) mh_expect_n((h), (lit), sizeof(lit) - 1, (want), (out))

/* base64 of n bytes of s (of the string s), in a rotating static buffer. */
const char *mh_b64n(const char *s, size_t n);
const char *mh_b64(const char *s);

/* Client address: "192.0.2.7" style IPv4 or IPv6 text. */
void mh_client(struct mh *h, const char *ip);

#endif
