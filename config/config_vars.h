/*
 * Values with variables (auth_http_header, log_format, access_log if=):
 * "$name", "${name}" and "$$" for a literal dollar, compiled once at load
 * into literal and variable parts. The worker expands them from the values
 * of one session (worker/proto/auth_http_proto.c, cvalue_render() for log
 * lines); nothing here knows a session.
 */
#ifndef MP_CONFIG_VARS_H
#define MP_CONFIG_VARS_H

#include <stddef.h>

#include "common/arena.h"

enum cvar {
	CVAR_REMOTE_ADDR,	/* the client, after PROXY protocol as Client-IP */
	CVAR_REMOTE_PORT,
	CVAR_SERVER_ADDR,	/* the address the client connected to */
	CVAR_SERVER_PORT,
	CVAR_SSL_SERVER_NAME,	/* SNI, empty without one */
	CVAR_PROTOCOL,		/* imap, pop3, smtp, sieve */
	/* Only in log_format and access_log if= (known when a session ends). */
	CVAR_TIME_LOCAL,
	CVAR_TIME_ISO8601,
	CVAR_MSEC,
	CVAR_LOGIN,
	CVAR_UPSTREAM_ADDR,
	CVAR_STATUS,
	CVAR_SESSION_TIME,
	CVAR_AUTH_TIME,
	CVAR_UPSTREAM_CONNECT_TIME,
	CVAR_BYTES_RECEIVED,
	CVAR_BYTES_SENT,
	CVAR_SSL_PROTOCOL,
	CVAR_SSL_CIPHER,
	CVAR_SSL_SESSION_REUSED,
	CVAR_CONNECTION,
	CVAR_PID,
	CVAR_COUNT,
};

/* The variables auth_http_header may use: the first ones of enum cvar. */
#define CVAR_HEADER_COUNT	(CVAR_PROTOCOL + 1)

/* log_format escape=: how a variable's value is written. */
enum cesc { CESC_DEFAULT, CESC_JSON, CESC_NONE };

#define CVAR_LITERAL	(-1)

struct cpart {
	int var;		/* enum cvar, or CVAR_LITERAL */
	const char *text;	/* the literal ($$ already one $) */
	size_t len;
};

struct cvalue {
	size_t n;
	struct cpart *parts;
};

/* Whether cv has a part that is the variable v. */
int cvalue_uses(const struct cvalue *cv, enum cvar v);

/* The variable's name without "$" ("remote_addr"). */
const char *cvar_name(enum cvar v);

/*
 * Compiles s into parts allocated from ar, knowing only the auth_http_header
 * variables. Returns 0, or -1 with a message in errbuf and *errpos set to
 * the offset in s of the '$' it is about.
 */
int cvalue_compile(const char *s, struct arena *ar, struct cvalue *out, size_t *errpos,
    char *errbuf, size_t errlen);
/* The same, knowing every variable (log_format, access_log if=). */
int cvalue_compile_log(const char *s, struct arena *ar, struct cvalue *out, size_t *errpos,
    char *errbuf, size_t errlen);

/* "default", "json" or "none"; -1 for anything else. */
int cesc_parse(const char *s);
const char *cesc_name(int esc);

/*
 * Writes cv into out (at most cap bytes, no NUL), each variable's value
 * from vals[] escaped as esc says: default as nginx ("\xHH" for '"', '\',
 * bytes below 0x20 and from 0x7f), json (JSON string escapes; a byte that
 * is not part of valid UTF-8 becomes \u00HH), none (verbatim). An empty or
 * NULL value is written "-", except with json (nothing), as nginx does.
 * Returns the bytes written; a line longer than cap is cut at cap.
 */
size_t cvalue_render(const struct cvalue *cv, int esc, const char *const vals[CVAR_COUNT],
    char *out, size_t cap);

#endif
