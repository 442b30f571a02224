/* Small helpers the protocol machines share (pure, no I/O). */
#ifndef MP_PROTO_UTIL_H
#define MP_PROTO_UTIL_H

#include "worker/proto/proto.h"

/*
 * Counts an invalid command, whose reply the caller queues, and goes back
 * to the start state (0 in every machine); PA_CLOSE once max_errors is reached.
 */
enum proto_action proto_count_error(struct proto_ctx *ctx, const char *reason);
/* The POP3/SMTP invalid-command reply, counted by proto_count_error(). */
enum proto_action proto_invalid(struct proto_ctx *ctx, const char *reply, const char *reason);
/* The internal-error reply, then close. */
enum proto_action proto_internal_error(struct proto_ctx *ctx, const char *reply);
/* A machine's invalid-command answer (IMAP's is tagged). */
typedef enum proto_action (*proto_invalid_fn)(struct proto_ctx *ctx, const char *reason);
/*
 * freenginx's max_commands: counts one command line the machine parsed (a
 * SASL answer too; not a line the tokenizer refuses, which is an error).
 * PA_OK within the cap; the command past it is answered with invalid()
 * instead of being served, and PA_CLOSE returned.
 */
enum proto_action proto_count_command(struct proto_ctx *ctx, proto_invalid_fn invalid);
/*
 * A sasl_exchange_*() result as the machines answer it: PA_AUTH, PA_OK in
 * sasl_state (waiting for the next answer), invalid(), or the internal error.
 */
enum proto_action proto_sasl_outcome(struct proto_ctx *ctx, int rc, uint8_t sasl_state,
    proto_invalid_fn invalid, const char *internal_reply);
/*
 * For auth_failed(): with ctx->sasl_error set, queues it as a challenge
 * and enters sasl_state; returns 1 then (the failure comes after the
 * dummy response), 0 otherwise.
 */
int proto_sasl_error(struct proto_ctx *ctx, const char *prefix, uint8_t sasl_state);
/* CAPABILITY / CAPA / EHLO as the connection stands (TLS, starttls on|only|off). */
const char *proto_caps(const struct proto_ctx *ctx);
/* "starttls only" and no TLS yet: logins are refused. */
int proto_starttls_only_blocks(const struct proto_ctx *ctx);

/* What proto_take_line() finds besides a line. */
#define PROTO_LINE_AGAIN	(-1)	/* no LF yet, and room for more */
#define PROTO_LINE_LONG		(-2)	/* the buffer is full and holds no LF: all of it is used */
#define PROTO_LINE_BARE_CR	(-3)	/* a CR inside the line: the line is used */
/*
 * One POP3 or SMTP command line off data, by nginx's rules: its length
 * without the CR LF, with *used set to what it took; or a PROTO_LINE_* code.
 */
long proto_take_line(const char *data, size_t len, int full, size_t *used);
/* A PROTO_LINE_* code as the machines answer it (nginx: too long closes). */
enum proto_action proto_line_refused(struct proto_ctx *ctx, long code, proto_invalid_fn invalid);

#define PROTO_ARGS_MAX 11	/* the most a machine takes (SMTP's) */

/* The arguments of a POP3 or SMTP command, pointing into its line. */
struct proto_args {
	int n;
	const char *v[PROTO_ARGS_MAX];
	size_t l[PROTO_ARGS_MAX];
};

/*
 * The verb of a POP3 or SMTP command line as nginx's parsers read it:
 * letters up to a space or the line's end. Its length, or 0 when any other
 * byte ends it (no verb is empty, so 0 matches none).
 */
size_t proto_verb_len(const char *line, size_t n);
/*
 * Splits what follows the verb as nginx does: runs of spaces separate the
 * arguments; with rest, the first one runs to the line's end, spaces kept.
 * 0, or -1 when there are more than max (at most PROTO_ARGS_MAX).
 */
int proto_split_args(const char *s, size_t n, int rest, int max, struct proto_args *a);
/* s[0..n) is word, in any case: a command, a mechanism, NIL. */
int proto_word_is(const char *s, size_t n, const char *word);

/* Queues prefix + base64(salt) + CRLF, making the salt first if needed. */
int proto_cram_challenge(struct proto_ctx *ctx, const char *prefix);
/* Appends s as an IMAP quoted string. -1 if s cannot be quoted (CR, LF, NUL). */
int proto_imap_quote(struct buf *b, const char *s);
/* Takes the tag of the command at data (or clears it when none was parsed). */
void proto_imap_set_tag(struct proto_ctx *ctx, const char *data);
/* "1.2.3.4" and the port of a socket address, for ID and XCLIENT. */
void proto_addr(const struct sockaddr *sa, char *ip, size_t iplen, int *port);

enum backend_action imap_backend_line(struct proto_ctx *ctx, const char *line, size_t len);
enum backend_action pop3_backend_line(struct proto_ctx *ctx, const char *line, size_t len);
enum backend_action smtp_backend_line(struct proto_ctx *ctx, const char *line, size_t len);
enum backend_action sieve_backend_line(struct proto_ctx *ctx, const char *line, size_t len);

/* Client bytes before the SMTP greeting: queues nginx's 503 refusal; returns PA_CLOSE. */
enum proto_action smtp_early_input(struct proto_ctx *ctx);
/* Appends s as RFC 1891 xtext ("+XX" for bytes < 33, > 126, '+' and '='). */
int smtp_xtext(struct buf *b, const char *s);

#endif
