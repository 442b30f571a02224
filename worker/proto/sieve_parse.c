/* The ManageSieve tokenizer; see sieve_parse.h. */
#include <stdlib.h>
#include <string.h>

#include "worker/proto/sieve_parse.h"

enum {
	S_BETWEEN,	/* before a token, or between two */
	S_ATOM,
	S_QUOTED,
	S_QUOTED_ESC,
	S_LIT_NUM,	/* "{" and digits */
	S_LIT_PLUS,	/* "+" seen, "}" expected */
	S_LIT_CLOSE,	/* "}" seen, CRLF expected */
	S_LIT_LF,	/* CR seen */
	S_LIT_DATA,
	S_AFTER,	/* a string ended: a blank or the line's end */
	S_CR,		/* CR at the line's end */
	S_SKIP,		/* a bad line: to its LF */
};

void
sieve_parse_reset(struct sieve_parser *p)
{
	memset(p, 0, sizeof(*p));
}

/* RFC 5804's ATOM-CHAR: no blank, control, quote, brace, parenthesis, star, percent or backslash. */
static int
atom_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && !strchr("\"{}()*%\\", c);
}

static int
add_token(struct sieve_parser *p, uint8_t kind, uint32_t end)
{
	if (p->ntok == SIEVE_TOKENS_MAX)
		return -1;
	p->tok[p->ntok].off = p->tok_start;
	p->tok[p->ntok].len = end - p->tok_start;
	p->tok[p->ntok].kind = kind;
	p->ntok++;
	return 0;
}

static enum sieve_parse_result
bad(struct sieve_parser *p, const char *data, size_t len)
{
	p->invalid = 1;
	p->state = S_SKIP;
	/* What follows is the rest of the line; a literal announced on it ends the dialogue. */
	for (; p->pos < len; p->pos++) {
		char c = data[p->pos];
		if (c == '\n') {
			p->pos++;
			p->quit = p->last;
			return SIEVE_PARSE_INVALID;
		}
		if (c != '\r')
			p->last = c == '}';
	}
	return SIEVE_PARSE_AGAIN;
}

enum sieve_parse_result
sieve_parse(struct sieve_parser *p, const char *data, size_t len, size_t max)
{
	if (p->state == S_SKIP)
		return bad(p, data, len);
	while (p->pos < len) {
		unsigned char c = (unsigned char)data[p->pos];
		switch (p->state) {
		case S_BETWEEN:
			if (c == ' ')
				break;
			if (c == '\r') {
				p->state = S_CR;
				break;
			}
			if (c == '\n') {
				p->pos++;
				return SIEVE_PARSE_DONE;
			}
			p->tok_start = p->pos;
			if (c == '"') {
				p->tok_start++;
				p->state = S_QUOTED;
			} else if (c == '{') {
				p->literal_left = 0;
				p->state = S_LIT_NUM;
			} else if (atom_char(c)) {
				/* The command name, a number (HAVESPACE), or what the machine refuses. */
				p->state = S_ATOM;
			} else {
				return bad(p, data, len);
			}
			break;
		case S_ATOM:
			if (atom_char(c))
				break;
			if (add_token(p, SIEVE_TOK_ATOM, p->pos) < 0)
				return bad(p, data, len);
			p->state = S_AFTER;
			continue;	/* the byte ends the atom: look at it again */
		case S_QUOTED:
			if (c == '\\') {
				p->state = S_QUOTED_ESC;
			} else if (c == '"') {
				if (add_token(p, SIEVE_TOK_QUOTED, p->pos) < 0)
					return bad(p, data, len);
				p->state = S_AFTER;
			} else if (c == '\r' || c == '\n' || c == '\0') {
				return bad(p, data, len);
			}
			break;
		case S_QUOTED_ESC:
			if (c != '"' && c != '\\')
				return bad(p, data, len);
			p->state = S_QUOTED;
			break;
		case S_LIT_NUM:
			if (c >= '0' && c <= '9') {
				/* Longer than the buffer is refused once the number is read. */
				if (p->literal_left <= max)
					p->literal_left = p->literal_left * 10 + (c - '0');
			} else if (c == '+' && p->pos > p->tok_start + 1) {
				p->state = S_LIT_PLUS;
			} else if (c == '}' && p->pos > p->tok_start + 1) {
				p->state = S_LIT_CLOSE;
			} else {
				return bad(p, data, len);
			}
			break;
		case S_LIT_PLUS:
			if (c != '}')
				return bad(p, data, len);
			p->state = S_LIT_CLOSE;
			break;
		case S_LIT_CLOSE:
			if (c == '\r') {
				p->state = S_LIT_LF;
				break;
			}
			/* FALLTHROUGH */
		case S_LIT_LF:
			if (c != '\n')
				return bad(p, data, len);
			if (p->literal_left > max || p->pos + 1 + (size_t)p->literal_left > max)
				return SIEVE_PARSE_TOO_LONG;
			p->tok_start = p->pos + 1;
			if (p->literal_left == 0) {
				if (add_token(p, SIEVE_TOK_LITERAL, p->tok_start) < 0)
					return SIEVE_PARSE_TOO_LONG;
				p->state = S_AFTER;
			} else {
				p->state = S_LIT_DATA;
			}
			break;
		case S_LIT_DATA: {
			size_t take = len - p->pos;
			if (take > p->literal_left)
				take = p->literal_left;
			p->pos += (uint32_t)take;
			p->literal_left -= (uint32_t)take;
			if (p->literal_left > 0)
				return SIEVE_PARSE_AGAIN;
			/* A literal's bytes cannot be skipped as a line: too many strings end the dialogue. */
			if (add_token(p, SIEVE_TOK_LITERAL, p->pos) < 0)
				return SIEVE_PARSE_TOO_LONG;
			p->state = S_AFTER;
			continue;
		}
		case S_AFTER:
			if (c == ' ') {
				p->state = S_BETWEEN;
			} else if (c == '\r') {
				p->state = S_CR;
			} else if (c == '\n') {
				p->pos++;
				return SIEVE_PARSE_DONE;
			} else {
				return bad(p, data, len);
			}
			break;
		case S_CR:
			if (c != '\n')
				return bad(p, data, len);
			p->pos++;
			return SIEVE_PARSE_DONE;
		}
		p->pos++;
	}
	return SIEVE_PARSE_AGAIN;
}

char *
sieve_token_dup(const struct sieve_parser *p, const char *data, int t, size_t *n)
{
	const struct imap_token *tk = &p->tok[t];
	const char *s = data + tk->off;
	char *out = malloc(tk->len + 1);
	size_t k = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < tk->len; i++) {
		if (tk->kind == SIEVE_TOK_QUOTED && s[i] == '\\' && i + 1 < tk->len)
			i++;
		out[k++] = s[i];
	}
	out[k] = '\0';
	*n = k;
	return out;
}

void
sieve_put_quoted(struct buf *b, const char *s, size_t n)
{
	buf_puts(b, "\"");
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_puts(b, "\\");
		buf_append(b, s + i, 1);
	}
	buf_puts(b, "\"");
}
