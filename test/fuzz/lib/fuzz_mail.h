/*
 * Support for the libFuzzer harnesses of the mail machines (worker/imap*.c,
 * pop3*.c, smtp*.c, sasl*.c): loaded servers, a fake client connection that
 * feeds a machine exactly as session.c does (whole or split at points the
 * input chooses), a fake auth service and backend, and the checks every run
 * makes. Criterion-free; a failed property prints why and abort()s.
 */
#ifndef MP_FUZZ_MAIL_H
#define MP_FUZZ_MAIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "config/config.h"
#include "worker/proto/proto.h"

/* A property does not hold: prints to stderr and aborts (libFuzzer records the input). */
void fm_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Up to 200 bytes of p, C-escaped, for a failure message (static buffer). */
const char *fm_show(const char *p, size_t n);
/*
 * Checks that p[0..n) is whole protocol lines: every LF preceded by a CR,
 * every CR followed by an LF, nothing after the last CRLF, no NUL.
 */
void fm_check_lines(const char *what, const char *p, size_t n);
/* Same for one C string that must carry no CR or LF at all (a credential). */
void fm_check_field(const char *what, const char *s);

/*
 * Server `variant` (0..3) of protocol p, loaded once from YAML; *rt gets
 * its canned replies. The variants differ in the SASL methods they enable.
 */
const struct srv_conf *fm_server(enum mail_proto p, unsigned variant,
    const struct proto_rt **rt);

/*
 * How an input is read: four header bytes (configuration, auth answers),
 * a count k (low 4 bits) and k chunk sizes for the split feed, then the
 * stream. The stream falls into segments at FM_SEGMENT: what one party
 * sends before it waits for an answer (STARTTLS drops the rest of one).
 */
#define FM_SEGMENT "\xff\xff"

struct fm_input {
	uint8_t h[4];
	const uint8_t *chunks;
	size_t nchunks;
	const uint8_t *data;
	size_t len;
};

void fm_input(struct fm_input *in, const uint8_t *data, size_t size);
/* The i-th chunk size of the split feed (1..256): cycles through the sizes, 1 if none. */
size_t fm_chunk(const struct fm_input *in, size_t i);

struct fm;
/* Called when the fake auth service accepts a login; the backend login goes on there. */
typedef void (*fm_login_fn)(struct fm *m);

/* The backend side of a run (fuzz_mail_be.c). */
struct fm_be {
	struct buf bin;			/* backend bytes short of a whole line */
	struct buf sent;		/* every command sent, checked across writes */
	size_t checked;			/* bytes of sent already taken apart */
	struct buf replies;		/* the willing backend's answers not fed yet */
	size_t cont_at;			/* IMAP: the literal at this offset of sent had its "+" */
	unsigned facts;			/* BF_* known before the login */
	int offers;			/* the backend has LITERAL+ / PIPELINING */
	int willing;			/* answer every command (else the input's lines do) */
	size_t lines;
	unsigned logins, users, passes, auths, mails, rcpts, xclients;	/* verified */
	int login_step;			/* SMTP AUTH LOGIN: 1 user, 2 password expected next */
};

struct fm {
	const struct proto *proto;
	struct srv_conf conf;		/* a copy of the loaded server, tweaked by the header */
	struct proto_ctx ctx;
	struct buf out, bout, in;
	struct buf rec;			/* the transcript two runs must agree on */
	struct sockaddr_storage caddr, laddr;
	const struct fm_input *fi;
	int split;			/* feed in the input's chunk sizes, not as much as fits */
	int closed;			/* the session is over (close, relay or failure) */
	unsigned attempts;		/* logins asked of the auth service */
	size_t calls, fed;		/* machine calls, bytes handed to the buffer */
	size_t nchunk;			/* chunks taken so far */
	size_t segments;
	struct fm_be be;
	fm_login_fn on_login;
	void *arg;			/* for on_login */
	const char *auth_user, *auth_pass;	/* Auth-User / Auth-Pass the fake service returns */
};

/*
 * Prepares m for protocol p from the header of fi; split selects the feed.
 * The greeting is queued and recorded.
 */
void fm_open(struct fm *m, enum mail_proto p, const struct fm_input *fi, int split);
/* The client sends len bytes of data in segments; runs the machine as the session does. */
void fm_client(struct fm *m, const uint8_t *data, size_t len);
void fm_close(struct fm *m);
/* Appends to the transcript. */
void fm_rec(struct fm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Both transcripts must be equal; what names the runs in the message. */
void fm_same(const struct fm *a, const struct fm *b, const char *what);

/*
 * A pre-auth harness: the input's stream runs whole and split, the fake
 * auth service answering each login as the header says and a willing
 * backend taking the accepted ones; both runs must end the same.
 */
void fm_machine(enum mail_proto p, const uint8_t *data, size_t size);

/* fuzz_mail_be.c: the backend side. */

/*
 * Feeds fi's stream to the backend machine line by line as backend.c does,
 * read whole or in fi's chunk sizes (m->split), in segments as the client
 * stream; every command the machine sends is checked and recorded.
 * Returns the last action.
 */
enum backend_action fm_backend_feed(struct fm *m, const struct fm_input *fi);
/* A willing backend that answers whatever the machine sends; the login must succeed. */
void fm_backend_willing(struct fm *m);
/*
 * Checks the commands queued in m->bout: whole lines, no NUL, and the
 * credentials they carry are exactly be_login / be_passwd (and the SMTP
 * MAIL / RCPT lines the client gave). Records and drains them.
 */
void fm_backend_sent(struct fm *m);
/* Prepares ctx for the backend login after the auth service said yes. */
void fm_backend_begin(struct fm *m);

/* A client that logs in (through the machine) before the backend harness takes over. */
struct fm_script {
	unsigned variant;		/* fm_server() variant the script needs */
	const char *client;		/* what the client sends */
	const char *user, *pass;	/* Auth-User / Auth-Pass, or NULL */
};

/*
 * A backend-login harness: h[0] picks one of n scripts, h[1] and h[3] the
 * configuration (as for fm_machine), the stream is what the backend says,
 * whole and split; both runs must end the same.
 */
void fm_backend_machine(enum mail_proto p, const struct fm_script *s, size_t n,
    const uint8_t *data, size_t size);

#endif
