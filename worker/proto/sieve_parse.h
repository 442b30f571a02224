/*
 * The ManageSieve command tokenizer (RFC 5804 4): an atom (the command
 * name), then strings - quoted with \" and \\ escapes, or literals {n+}
 * and {n} (the client never waits for a go-ahead in ManageSieve, so both
 * are read at once) - separated by blanks and ended by CRLF. Resumable:
 * the machine hands it the whole buffered command again and it goes on
 * where it stopped, so a command trickling in a byte at a time costs no
 * rescanning.
 */
#ifndef MP_SIEVE_PARSE_H
#define MP_SIEVE_PARSE_H

#include <stddef.h>

#include "worker/proto/proto.h"

enum { SIEVE_TOK_ATOM, SIEVE_TOK_QUOTED, SIEVE_TOK_LITERAL };

enum sieve_parse_result {
	SIEVE_PARSE_DONE,	/* a whole line: p->pos bytes, p->ntok tokens */
	SIEVE_PARSE_AGAIN,	/* read more */
	SIEVE_PARSE_INVALID,	/* a bad line, p->pos bytes through its LF; p->quit: close */
	SIEVE_PARSE_TOO_LONG,	/* a literal longer than the buffer can hold: close */
};

void sieve_parse_reset(struct sieve_parser *p);
/* data[0..len) is the command from its first byte; max: the client buffer. */
enum sieve_parse_result sieve_parse(struct sieve_parser *p, const char *data, size_t len, size_t max);
/*
 * Token t as a NUL-terminated heap string (quoted strings unescaped);
 * *n its length, which a literal's NUL bytes make longer than strlen().
 */
char *sieve_token_dup(const struct sieve_parser *p, const char *data, int t, size_t *n);
/*
 * Appends s[0..n) to b as a quoted string, the tokenizer's inverse. The caller
 * hands no CR, LF or NUL: a quoted string cannot hold them.
 */
void sieve_put_quoted(struct buf *b, const char *s, size_t n);

#endif
