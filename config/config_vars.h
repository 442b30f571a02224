/*
 * Values with variables (auth_http_header): "$name", "${name}" and "$$" for
 * a literal dollar, compiled once at load into literal and variable parts.
 * The worker expands them (worker/proto/auth_http_proto.c) from the values
 * of one session; nothing here knows a session.
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
	CVAR_PROTOCOL,		/* imap, pop3, smtp */
	CVAR_COUNT,
};

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
 * Compiles s into parts allocated from ar. Returns 0, or -1 with *err set
 * to a message and *errpos to the offset in s of the '$' it is about
 * (err is a static string or written into errbuf).
 */
int cvalue_compile(const char *s, struct arena *ar, struct cvalue *out, size_t *errpos,
    char *errbuf, size_t errlen);

#endif
