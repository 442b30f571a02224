/*
 * libFuzzer harness: the resumable IMAP tokenizer (worker/proto/imap_parse.c).
 * Header: byte 0 picks the command limit, byte 1 (low 4 bits) how many
 * chunk sizes follow; the rest is commands, parsed one after another. Each
 * is parsed whole and again fed a growing prefix at the input's chunk
 * sizes, every call from a fresh exactly sized copy: result, bytes taken
 * and every token must agree, and the tokens must hold what their kind says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test/fuzz/lib/fuzz_mail.h"
#include "worker/proto/imap_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t limits[8] = { 4096, 64, 256, 40, 1024, 12, 65536, 100 };

/* Parses (or goes on parsing) the first n bytes of cmd, from a copy at a new address. */
static int
parse(struct imap_parser *p, const uint8_t *cmd, size_t n, size_t max)
{
	char *copy = malloc(n ? n : 1);
	int rc;

	if (copy == NULL)
		fm_fail("harness: out of memory");
	memcpy(copy, cmd, n);
	rc = imap_parse(p, copy, n, max);
	free(copy);
	return rc;
}

static void
same(const struct imap_parser *a, int ra, const struct imap_parser *b, int rb, size_t at)
{
	if (ra != rb || a->pos != b->pos || a->ntok != b->ntok || a->tag_len != b->tag_len ||
	    a->quit != b->quit || a->invalid != b->invalid)
		fm_fail("command at %zu: split parse gives result %d pos %u ntok %u tag %u quit %u "
		    "invalid %u; whole %d %u %u %u %u %u", at, rb, b->pos, b->ntok, b->tag_len, b->quit,
		    b->invalid, ra, a->pos, a->ntok, a->tag_len, a->quit, a->invalid);
	for (int i = 0; i < a->ntok; i++)
		if (a->tok[i].off != b->tok[i].off || a->tok[i].len != b->tok[i].len ||
		    a->tok[i].kind != b->tok[i].kind)
			fm_fail("command at %zu: token %d differs when split", at, i);
}

static int
tag_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.' || c == '_';
}

/* What a finished command's tokens must look like. */
static void
tokens(const struct imap_parser *p, int rc, const uint8_t *cmd, size_t n, size_t max)
{
	uint32_t end = 0;
	int depth = 0;

	if (p->pos > n || p->pos > max)
		fm_fail("parsed %u bytes of %zu (limit %zu)", p->pos, n, max);
	if (rc == IMAP_PARSE_AGAIN) {
		if (p->pos != (n < max ? n : max))
			fm_fail("needs more, yet stopped at %u of %zu", p->pos, n);
		return;
	}
	if (p->pos == 0 || cmd[p->pos - 1] != '\n')
		fm_fail("result %d does not end at a LF", rc);
	if (p->quit && rc != IMAP_PARSE_INVALID)
		fm_fail("quit on a valid command");
	if (rc != IMAP_PARSE_DONE)
		return;
	if (p->tag_len == 0 || p->tag_len > TAG_MAX || p->ntok == 0 || cmd[p->tag_len] != ' ')
		fm_fail("done with tag length %u and %u tokens", p->tag_len, p->ntok);
	for (size_t i = 0; i < p->tag_len; i++)
		if (!tag_char(cmd[i]))
			fm_fail("tag byte 0x%02x", cmd[i]);
	if (p->tok[0].kind != IMAP_TOK_ATOM || p->tok[0].off != (uint32_t)p->tag_len + 1 ||
	    p->tok[0].len == 0)
		fm_fail("the command name is not the atom after the tag");
	for (int t = 0; t < p->ntok; t++) {
		const struct imap_token *k = &p->tok[t];
		const uint8_t *s = cmd + k->off;
		size_t len;
		char *dup;

		if (k->off < end || k->off + k->len > p->pos)
			fm_fail("token %d at %u+%u overlaps or runs past %u", t, k->off, k->len, p->pos);
		end = k->off + k->len;
		switch (k->kind) {
		case IMAP_TOK_ATOM:
			for (uint32_t i = 0; i < k->len; i++)
				if (s[i] <= ' ' || s[i] == 0x7f || s[i] == '"' || s[i] == '(' || s[i] == ')')
					fm_fail("atom %d holds 0x%02x", t, s[i]);
			break;
		case IMAP_TOK_QUOTED:
			if (k->off == 0 || s[-1] != '"' || s[k->len] != '"')
				fm_fail("quoted %d is not between quotes", t);
			for (uint32_t i = 0; i < k->len; i++) {
				if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
					fm_fail("quoted %d holds CR, LF or NUL", t);
				if (s[i] == '\\' && (i + 1 == k->len || (s[i + 1] != '\\' && s[i + 1] != '"')))
					fm_fail("quoted %d has a bad escape", t);
				if (s[i] == '\\')
					i++;
			}
			break;
		case IMAP_TOK_LITERAL: {
			/* "{len}" or "{len+}", then CRLF or LF, then the bytes. */
			size_t i = k->off, v = 0, mul = 1;
			if (i >= 1 && s[-1] == '\n')
				i--;
			if (i >= 1 && cmd[i - 1] == '\r')
				i--;
			if (i < 1 || cmd[i - 1] != '}' || cmd[k->off - 1] != '\n')
				fm_fail("literal %d does not follow \"}\" and a line end", t);
			i--;
			if (cmd[i - 1] == '+')
				i--;
			while (i > 0 && cmd[i - 1] >= '0' && cmd[i - 1] <= '9') {
				v += (size_t)(cmd[i - 1] - '0') * mul;
				mul *= 10;
				i--;
			}
			if (i == 0 || cmd[i - 1] != '{' || v != k->len)
				fm_fail("literal %d holds %u bytes, announced otherwise", t, k->len);
			break;
		}
		case IMAP_TOK_LPAREN:
		case IMAP_TOK_RPAREN:
			depth += k->kind == IMAP_TOK_LPAREN ? 1 : -1;
			if (k->len != 1 || s[0] != (k->kind == IMAP_TOK_LPAREN ? '(' : ')') || depth < 0 ||
			    depth > 1)
				fm_fail("parenthesis %d out of place", t);
			break;
		default:
			fm_fail("token %d of kind %u", t, k->kind);
		}
		/* The copy the machines take of a token stays within it. */
		dup = imap_token_dup(p, (const char *)cmd, t, &len);
		if (dup == NULL || len > k->len || strlen(dup) > len)
			fm_fail("imap_token_dup of token %d", t);
		free(dup);
	}
	if (depth != 0)
		fm_fail("done with an open parenthesis");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max = limits[size > 0 ? data[0] & 7 : 0], nchunks = 0, off = 0;
	const uint8_t *chunks;

	if (size > 1)
		nchunks = data[1] & 15;
	data += size > 2 ? 2 : size;
	size -= size > 2 ? 2 : size;
	if (nchunks > size)
		nchunks = size;
	chunks = data;
	data += nchunks;
	size -= nchunks;

	/* An exact copy of the whole input: token checks read only within it. */
	uint8_t *in = malloc(size ? size : 1);
	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	for (size_t c = 0; off < size; c++) {
		const uint8_t *cmd = in + off;
		size_t n = size - off, k = 0, step = 0;
		struct imap_parser whole, split;
		int rw, rs = IMAP_PARSE_AGAIN;

		imap_parse_reset(&whole);
		rw = parse(&whole, cmd, n, max);
		imap_parse_need_continuation(&whole);
		imap_parse_reset(&split);
		while (k < n && k < max && rs == IMAP_PARSE_AGAIN) {
			k += nchunks ? (size_t)chunks[step++ % nchunks] + 1 : 1;
			if (k > n)
				k = n;
			rs = parse(&split, cmd, k, max);
			/* As the machine asks after each AGAIN: must not change the parse. */
			imap_parse_need_continuation(&split);
		}
		same(&whole, rw, &split, rs, off);
		tokens(&whole, rw, cmd, n, max);
		if (rw == IMAP_PARSE_AGAIN)
			break;
		off += whole.pos;
	}
	free(in);
	return 0;
}
