/* IMAP tokenizer; see imap_parse.h. Byte-at-a-time, like nginx's, but resumable by offsets. */
#include <stdlib.h>
#include <string.h>

#include "worker/proto/imap_parse.h"

enum {
	S_START, S_TAG, S_CMD, S_ARG_START, S_ARG_END, S_ATOM, S_QUOTED, S_QUOTED_ESC,
	S_LIT_LEN, S_LIT_PLUS, S_LIT_CR, S_LIT_LF, S_LIT_DATA, S_CR, S_INVALID,
};

void
imap_parse_reset(struct imap_parser *p)
{
	memset(p, 0, sizeof(*p));
}

static int
tag_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.' || c == '_';
}

static int
add_token(struct imap_parser *p, uint32_t off, uint32_t len, uint8_t kind)
{
	if (p->ntok >= IMAP_TOKENS_MAX)
		return -1;
	p->tok[p->ntok].off = off;
	p->tok[p->ntok].len = len;
	p->tok[p->ntok].kind = kind;
	p->ntok++;
	return 0;
}

/* The token that began at tok_start ends before byte i. */
static int
end_token(struct imap_parser *p, size_t i, uint8_t kind)
{
	return add_token(p, p->tok_start, (uint32_t)i - p->tok_start, kind);
}

/* A ')' at byte i: closes the open list, if there is one. */
static int
close_paren(struct imap_parser *p, size_t i)
{
	if (p->depth == 0 || add_token(p, (uint32_t)i, 1, IMAP_TOK_RPAREN) < 0)
		return -1;
	p->depth--;
	return 0;
}

int
imap_parse_need_continuation(struct imap_parser *p)
{
	if (p->state == S_LIT_DATA && p->literal_sync && !p->cont_sent) {
		p->cont_sent = 1;
		return 1;
	}
	return 0;
}

/* Marks the line invalid; an unfinished non-synchronizing literal cannot be skipped. */
static void
go_invalid(struct imap_parser *p)
{
	p->state = S_INVALID;
	p->invalid = 1;
}

enum imap_parse_result
imap_parse(struct imap_parser *p, const char *data, size_t len, size_t max)
{
	size_t i = p->pos;

	if (len > max)
		len = max;
	while (i < len) {
		unsigned char c = (unsigned char)data[i];

		switch (p->state) {
		case S_START:
			if (!tag_char(c)) {
				go_invalid(p);
				continue;
			}
			p->state = S_TAG;
			break;
		case S_TAG:
			if (c == ' ') {
				p->tag_len = (uint8_t)i;
				p->tok_start = (uint32_t)i + 1;
				p->state = S_CMD;
			} else if (!tag_char(c) || i >= TAG_MAX) {
				go_invalid(p);
				continue;
			}
			break;
		case S_CMD:
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
				if (i - p->tok_start >= 32) {
					go_invalid(p);
					continue;
				}
				break;
			}
			if (i == p->tok_start || (c != ' ' && c != '\r' && c != '\n')) {
				go_invalid(p);
				continue;
			}
			end_token(p, i, IMAP_TOK_ATOM);
			p->state = c == ' ' ? S_ARG_START : S_CR;
			if (c == '\n') {
				p->pos = (uint32_t)i + 1;
				return IMAP_PARSE_DONE;
			}
			break;
		case S_ARG_START:
			if (c == ' ') {
				break;
			} else if (c == '\r') {
				p->state = S_CR;
			} else if (c == '\n' && !p->depth) {
				p->pos = (uint32_t)i + 1;
				return IMAP_PARSE_DONE;
			} else if (c == '"') {
				p->tok_start = (uint32_t)i + 1;
				p->state = S_QUOTED;
			} else if (c == '{') {
				p->literal_left = 0;
				p->tok_start = (uint32_t)i + 1;
				p->state = S_LIT_LEN;
			} else if (c == '(') {
				if (p->depth >= 1 || add_token(p, (uint32_t)i, 1, IMAP_TOK_LPAREN) < 0) {
					go_invalid(p);
					continue;
				}
				p->depth++;
			} else if (c == ')') {
				if (close_paren(p, i) < 0) {
					go_invalid(p);
					continue;
				}
				p->state = S_ARG_END;
			} else if (c < 0x20 || c == 0x7f) {
				go_invalid(p);
				continue;
			} else {
				p->tok_start = (uint32_t)i;
				p->state = S_ATOM;
			}
			break;
		case S_ATOM:
			if (c == ' ' || c == '\r' || c == '\n' || c == ')') {
				if (end_token(p, i, IMAP_TOK_ATOM) < 0) {
					go_invalid(p);
					continue;
				}
				p->state = S_ARG_END;
				continue;	/* S_ARG_END looks at this byte again */
			}
			if (c < 0x20 || c == 0x7f || c == '"' || c == '(') {
				go_invalid(p);
				continue;
			}
			break;
		case S_QUOTED:
			if (c == '\\') {
				p->state = S_QUOTED_ESC;
			} else if (c == '"') {
				if (end_token(p, i, IMAP_TOK_QUOTED) < 0) {
					go_invalid(p);
					continue;
				}
				p->state = S_ARG_END;
			} else if (c == '\r' || c == '\n' || c == '\0') {
				go_invalid(p);
				continue;
			}
			break;
		case S_QUOTED_ESC:
			if (c != '"' && c != '\\') {
				go_invalid(p);
				continue;
			}
			p->state = S_QUOTED;
			break;
		case S_ARG_END:
			/* After a token: a space, a closing parenthesis or the end of line. */
			if (c == ' ') {
				p->state = S_ARG_START;
			} else if (c == ')') {
				if (close_paren(p, i) < 0) {
					go_invalid(p);
					continue;
				}
			} else if (c == '\r') {
				p->state = S_CR;
			} else if (c == '\n') {
				if (p->depth) {
					go_invalid(p);
					continue;
				}
				p->pos = (uint32_t)i + 1;
				return IMAP_PARSE_DONE;
			} else {
				go_invalid(p);
				continue;
			}
			break;
		case S_LIT_LEN:
			if (c >= '0' && c <= '9') {
				if (p->literal_left > (uint32_t)(max / 10)) {
					/* Longer than the buffer can ever hold. */
					p->literal_left = (uint32_t)max + 1;
				} else {
					p->literal_left = p->literal_left * 10 + (c - '0');
				}
				break;
			}
			if (i == p->tok_start || (c != '}' && c != '+')) {
				go_invalid(p);
				continue;
			}
			p->literal_sync = c == '}';
			p->state = c == '}' ? S_LIT_CR : S_LIT_PLUS;
			break;
		case S_LIT_PLUS:
			if (c != '}') {
				go_invalid(p);
				continue;
			}
			p->state = S_LIT_CR;
			break;
		case S_LIT_CR:
			if (c == '\r') {
				p->state = S_LIT_LF;
				break;
			}
			if (c != '\n') {
				go_invalid(p);
				continue;
			}
			/* A bare LF ends the line too. */
			__attribute__((fallthrough));
		case S_LIT_LF:
			if (c != '\n') {
				go_invalid(p);
				continue;
			}
			if ((size_t)p->literal_left > max - (i + 1)) {
				/* Cannot fit: refuse now; a non-synchronizing literal is
				 * already on its way and cannot be skipped. */
				p->pos = (uint32_t)i + 1;
				if (!p->literal_sync)
					p->quit = 1;
				p->invalid = 1;
				return IMAP_PARSE_INVALID;
			}
			p->tok_start = (uint32_t)i + 1;
			p->cont_sent = 0;
			/* Even "{0}" waits for "+ OK": the client sends the rest of the line after it. */
			p->state = S_LIT_DATA;
			if (p->literal_sync && i + 1 == len) {
				p->pos = (uint32_t)i + 1;
				return IMAP_PARSE_AGAIN;	/* "+ OK" goes out now */
			}
			/* The client sent the data without waiting: no "+ OK" then. */
			p->cont_sent = 1;
			break;
		case S_LIT_DATA: {
			size_t take = len - i;
			if (take > p->literal_left)
				take = p->literal_left;
			p->literal_left -= (uint32_t)take;
			i += take;
			if (p->literal_left == 0) {
				if (end_token(p, i, IMAP_TOK_LITERAL) < 0) {
					go_invalid(p);
					continue;
				}
				p->literal_sync = 0;
				p->state = S_ARG_END;
			}
			continue;
		}
		case S_CR:
			if (c != '\n' || p->depth) {
				go_invalid(p);
				continue;
			}
			p->pos = (uint32_t)i + 1;
			return IMAP_PARSE_DONE;
		case S_INVALID:
			if (c == '\n') {
				/* A bad line that announced a literal {n+}: its data follows
				 * and cannot be told from commands, so the client must go. */
				if (i >= 2 && data[i - 1] == '\r' && data[i - 2] == '}' && i >= 3 &&
				    data[i - 3] == '+')
					p->quit = 1;
				else if (i >= 1 && data[i - 1] == '}' && i >= 2 && data[i - 2] == '+')
					p->quit = 1;
				p->pos = (uint32_t)i + 1;
				return IMAP_PARSE_INVALID;
			}
			break;
		}
		i++;
	}
	p->pos = (uint32_t)i;
	return IMAP_PARSE_AGAIN;
}

char *
imap_token_dup(const struct imap_parser *p, const char *cmd, int t, size_t *len)
{
	const struct imap_token *tk = &p->tok[t];
	char *s = malloc(tk->len + 1);
	size_t o = 0;

	if (s == NULL)
		return NULL;
	for (uint32_t i = 0; i < tk->len; i++) {
		char c = cmd[tk->off + i];
		if (tk->kind == IMAP_TOK_QUOTED && c == '\\' && i + 1 < tk->len)
			c = cmd[tk->off + ++i];
		s[o++] = c;
	}
	s[o] = '\0';
	if (len != NULL)
		*len = o;
	return s;
}
