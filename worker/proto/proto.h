/*
 * The contract between the session and a protocol's pure state machines.
 * A machine reads bytes the session hands it and writes replies into
 * ctx->out (to the client) or ctx->bout (to the backend); it calls no
 * socket, timer or TLS function. What the session must do next comes back
 * as an action code.
 */
#ifndef MP_PROTO_H
#define MP_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "config/config.h"

/* What the session does after a client command. */
enum proto_action {
	PA_OK,		/* replies queued; go on with the next command */
	PA_AGAIN,	/* the command is incomplete: read more */
	PA_AUTH,	/* credentials complete: ask the auth service */
	PA_STARTTLS,	/* flush replies, drop buffered input, TLS handshake */
	PA_CLOSE,	/* flush replies, then close */
	PA_AUTH_FAILED,	/* the dummy response to Auth-Error-SASL came: now send the failure */
};

/* What the session does after a backend line during the backend login. */
enum backend_action {
	BA_CONTINUE,	/* commands queued in bout (maybe); wait for the next line */
	BA_DONE,	/* logged in: send out to the client, then relay */
	BA_REFUSED,	/* the backend refused the login */
	BA_INVALID,	/* unexpected reply */
	BA_STARTTLS,	/* proxy_starttls: the backend agreed; handshake, then call again with NULL */
	BA_ERROR,	/* the login cannot go on (ctx->reason says why): internal error */
};

/* The credentials a client presented, owned by the context. */
struct creds {
	unsigned method;	/* AUTHM_* */
	char *login;
	char *passwd;		/* password, or the APOP/CRAM-MD5 digest */
	char *salt;		/* APOP/CRAM-MD5 challenge, "<...>" */
	char *helo;		/* SMTP */
	char *from;		/* SMTP, the whole MAIL FROM line, for smtp_auth none */
	char *to;		/* SMTP, the first RCPT TO line */
};

void creds_clear(struct creds *cr);
/* Frees one field, zeroed first (passwords do not linger in freed memory). */
void creds_drop(char **field);
/* Login, password and method go before a new attempt (nginx CVE-2025-53859). */
void creds_forget_login(struct creds *cr);
/* Replaces *dst with a copy of (s, n); refuses CR, LF and NUL. 0, -1 (bad), -2 (OOM). */
int creds_set(char **dst, const char *s, size_t n);

/* Canned replies of one server, built once per worker (see proto_rt.c). */
struct proto_rt {
	char *greeting;			/* without salt */
	char *caps_plain;		/* CAPABILITY/CAPA/EHLO body, on TLS or with starttls off */
	char *caps_starttls;		/* no TLS yet, starttls on */
	char *caps_starttls_only;	/* no TLS yet, starttls only */
	char *auth_list;		/* POP3 "AUTH" list / SMTP helper */
};

#define TAG_MAX 32
#define ID_FIELDS_MAX 30

struct imap_token {
	uint32_t off;		/* offset in the command */
	uint32_t len;
	uint8_t kind;		/* IMAP_TOK_* */
};

#define IMAP_TOKENS_MAX 66

struct imap_parser {
	int state;
	uint32_t pos;		/* bytes of the command parsed so far */
	uint32_t tok_start;
	uint32_t literal_left;
	uint8_t depth;		/* inside ( ) */
	uint8_t tag_len;
	uint8_t ntok;
	uint8_t literal_sync;
	uint8_t cont_sent;	/* "+ OK" sent for the current literal */
	uint8_t invalid;	/* skipping the rest of a bad line */
	uint8_t quit;		/* bad line ending in a literal we cannot skip */
	struct imap_token tok[IMAP_TOKENS_MAX];
};

struct imap_ctx {
	struct imap_parser p;
	char tag[TAG_MAX + 2];	/* with a trailing space, as nginx writes it */
	char *id;		/* client's ID list "(...)" re-encoded, for imap_id_forward */
	uint8_t literal_plus;	/* the backend announced LITERAL+ */
	uint8_t sasl_ir;	/* ... and SASL-IR */
};

/* ManageSieve tokens (sieve_parse.h): at most a command name and a few strings. */
#define SIEVE_TOKENS_MAX 8

struct sieve_parser {
	int state;
	uint32_t pos;		/* bytes of the command parsed so far */
	uint32_t tok_start;
	uint32_t literal_left;
	uint8_t ntok;
	uint8_t invalid;	/* skipping the rest of a bad line */
	uint8_t quit;		/* the bad line announced a literal: its bytes cannot be told from commands */
	uint8_t last;		/* the last byte of the line being skipped was '}' */
	struct imap_token tok[SIEVE_TOKENS_MAX];	/* kind: SIEVE_TOK_* */
};

struct sieve_ctx {
	struct sieve_parser p;
	uint8_t be_caps;	/* SIEVE_BE_* the backend announced */
};

struct pop3_ctx {
	char *salt;		/* the greeting's APOP timestamp; cr.salt is cleared after a failed login */
};

struct smtp_ctx {
	uint8_t ehlo;		/* the client's last greeting was EHLO (not HELO) */
	char *helo;		/* its argument, kept across a failed login (cr.helo is cleared) */
};

/*
 * What a backend login teaches about the backend (ctx->be_facts). The session
 * keeps the bits per backend address (session/backend_facts.h) so the next
 * login to it saves a round trip.
 */
#define BF_POP3_CAPA		0x01	/* CAPA was asked: the next bit is known */
#define BF_POP3_PIPELINING	0x02	/* USER and PASS may go in one write (RFC 2449) */
#define BF_SMTP_EHLO_FIRST	0x04	/* XCLIENT right after the greeting was refused */

struct proto_ctx {
	const struct srv_conf *conf;
	const struct proto_rt *rt;
	struct buf *out;	/* to the client */
	struct buf *bout;	/* to the backend, during the backend login */
	size_t bufsize;		/* the client buffer: longest command */
	const char *reason;	/* why the last action closes or errs, for the log */
	uint8_t tls;		/* the client connection is TLS now */
	uint8_t be_tls;		/* the backend connection is TLS now */
	uint8_t state;		/* machine state before login (per protocol) */
	uint8_t be_state;	/* backend login state (per protocol) */
	uint8_t be_facts;	/* BF_* known of this backend; the machine adds to it */
	uint8_t be_learned;	/* ... and sets this when it did, to be remembered */
	uint8_t be_lines;	/* lines of a multi-line backend reply so far */
	uint8_t sasl;		/* enum sasl_wait: what the next line answers */
	uint8_t guess;		/* the client's SASL data did not decode: a failed guess (login limits) */
	unsigned errors;
	unsigned commands;	/* taken before login, for max_commands; never reset */
	unsigned login_attempt;
	struct creds cr;
	/* Where the client came from, for XCLIENT and ID forwarding. */
	const struct sockaddr *client_addr;
	const struct sockaddr *local_addr;
	const char *client_host;	/* resolved name, or NULL */
	/* Filled from the auth service's answer for the backend login. */
	const char *be_login;
	const char *be_passwd;	/* NULL: none (APOP, CRAM-MD5, EXTERNAL without Auth-Pass) */
	uint8_t be_auth;	/* enum be_auth: the auth service's Auth-Method (SMTP) */
	unsigned be_mech;	/* AUTHM_OAUTHBEARER/XOAUTH2: that mechanism, be_passwd the token */
	/*
	 * Set by the session before auth_failed(): the auth service's
	 * Auth-Error-SASL, to send as a challenge first (sasl_exchange_error()).
	 */
	const char *sasl_error;
	unsigned sasl_error_method;
	union {
		struct imap_ctx imap;
		struct pop3_ctx pop3;
		struct smtp_ctx smtp;
		struct sieve_ctx sieve;
	} u;
};

struct proto {
	const char *name;
	/* Queues the greeting (and makes the salt when a method needs one). */
	int (*greeting)(struct proto_ctx *ctx);
	/*
	 * Consumes at most one command from data[0..len); *used = bytes to
	 * drop. full: the client buffer is full, so PA_AGAIN is not possible.
	 */
	enum proto_action (*input)(struct proto_ctx *ctx, const char *data, size_t len,
	    int full, size_t *used);
	/* The auth service said no: queue the answer; return PA_OK to let the client retry, PA_CLOSE otherwise. */
	enum proto_action (*auth_failed)(struct proto_ctx *ctx, const char *text, const char *code,
	    int retry);
	/*
	 * Backend login: one call per backend line (CRLF stripped); after a
	 * BA_STARTTLS, one call with line == NULL once TLS is up.
	 */
	enum backend_action (*backend_line)(struct proto_ctx *ctx, const char *line, size_t len);
	void (*free)(struct proto_ctx *ctx);
	/*
	 * After a STARTTLS handshake with the client: what the protocol sends
	 * unasked (ManageSieve: the capabilities again, RFC 5804 2.2), or NULL.
	 */
	int (*tls_up)(struct proto_ctx *ctx);
	/*
	 * A login the login limits refused: a temporary failure, with the
	 * response code clients take as "try later", not "wrong password"
	 * (IMAP [UNAVAILABLE], RFC 5530; POP3 [SYS/TEMP], RFC 3206; SMTP 454 4.7.0).
	 */
	const char *limited_text;
	const char *limited_code;	/* SMTP's reply code, NULL elsewhere */
	const char *internal_error;	/* canned line, then close */
	const char *cert_error;
	const char *no_cert;
};

extern const struct proto imap_proto, pop3_proto, smtp_proto, sieve_proto;

const struct proto *proto_for(enum mail_proto p);
/* Builds the canned replies of every server of cf; frees with proto_rt_free(). */
struct proto_rt *proto_rt_build(const struct config *cf);
void proto_rt_free(struct proto_rt *rt, size_t n);
/* nginx's salt: "<random.unixtime@server_name>" */
char *proto_make_salt(const struct srv_conf *conf);

#endif
