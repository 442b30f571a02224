/*
 * Resumable IMAP command tokenizer: tag, command name, atoms, quoted strings
 * with \" and \\ escapes, literals {n} and {n+}, and one level of ( ) for ID.
 * The parser keeps its state in struct imap_parser and token positions as
 * offsets from the start of the command, so the caller may feed a growing
 * (and moving) buffer one byte or one megabyte at a time.
 */
#ifndef MP_IMAP_PARSE_H
#define MP_IMAP_PARSE_H

#include <stddef.h>

#include "worker/proto/proto.h"

enum { IMAP_TOK_ATOM, IMAP_TOK_QUOTED, IMAP_TOK_LITERAL, IMAP_TOK_LPAREN, IMAP_TOK_RPAREN };

enum imap_parse_result {
	IMAP_PARSE_AGAIN,	/* need more bytes; see need_continuation */
	IMAP_PARSE_DONE,	/* a whole command: p->pos bytes, CRLF included */
	IMAP_PARSE_INVALID,	/* a bad line: skip p->pos bytes (through its LF) */
};

void imap_parse_reset(struct imap_parser *p);
/*
 * Parses data[p->pos .. len) of the command that starts at data[0].
 * max bounds the whole command (literals included).
 */
enum imap_parse_result imap_parse(struct imap_parser *p, const char *data, size_t len, size_t max);
/* True once when a synchronizing literal waits for "+ OK". */
int imap_parse_need_continuation(struct imap_parser *p);

/* Copies token t of the command (unescaping a quoted string) into a new heap string. */
char *imap_token_dup(const struct imap_parser *p, const char *cmd, int t, size_t *len);

#endif
