/*
 * The resumable IMAP tokenizer (worker/proto/imap_parse.c). Every command is also
 * fed one prefix at a time and in two pieces split at every offset: the
 * result, the bytes consumed and every token must be the same as when the
 * command arrives whole. Commands are copied to exactly sized heap buffers
 * so the sanitizer build catches a read past the bytes handed over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "worker/proto/imap_parse.h"

#define BIG 65536

/* What a parse left behind. */
struct snap {
	int rc;
	uint32_t pos;
	uint8_t ntok, tag_len, quit, invalid;
	struct imap_token tok[IMAP_TOKENS_MAX];
};

static void
take(struct snap *s, const struct imap_parser *p, int rc)
{
	memset(s, 0, sizeof(*s));
	s->rc = rc;
	s->pos = p->pos;
	s->ntok = p->ntok;
	s->tag_len = p->tag_len;
	s->quit = p->quit;
	s->invalid = p->invalid;
	memcpy(s->tok, p->tok, sizeof(s->tok[0]) * p->ntok);
}

static void
same(const struct snap *a, const struct snap *b, const char *how, size_t at)
{
	cr_assert_eq(a->rc, b->rc, "%s %zu: result %d, whole %d", how, at, b->rc, a->rc);
	cr_assert_eq(a->pos, b->pos, "%s %zu: pos %u, whole %u", how, at, b->pos, a->pos);
	cr_assert_eq(a->ntok, b->ntok, "%s %zu: %u tokens, whole %u", how, at, b->ntok, a->ntok);
	cr_assert_eq(a->tag_len, b->tag_len, "%s %zu: tag", how, at);
	cr_assert_eq(a->quit, b->quit, "%s %zu: quit", how, at);
	cr_assert_eq(a->invalid, b->invalid, "%s %zu: invalid", how, at);
	for (int i = 0; i < a->ntok; i++) {
		cr_assert_eq(a->tok[i].off, b->tok[i].off, "%s %zu: token %d offset", how, at, i);
		cr_assert_eq(a->tok[i].len, b->tok[i].len, "%s %zu: token %d length", how, at, i);
		cr_assert_eq(a->tok[i].kind, b->tok[i].kind, "%s %zu: token %d kind", how, at, i);
	}
}

/*
 * Parses cmd[0..len) whole, then one prefix at a time, then in two pieces
 * at every offset; all must agree. Returns the whole parse, and in *conts
 * how many "+ OK" continuations the byte-at-a-time feed asked for.
 */
static struct snap
check(const char *cmd_in, size_t len, size_t max, int *conts)
{
	struct imap_parser p;
	struct snap whole, s;
	char *cmd = malloc(len ? len : 1);
	int rc, n = 0;

	cr_assert_not_null(cmd);
	memcpy(cmd, cmd_in, len);

	imap_parse_reset(&p);
	rc = imap_parse(&p, cmd, len, max);
	take(&whole, &p, rc);

	/* One more byte each time, like a client typing. */
	imap_parse_reset(&p);
	rc = IMAP_PARSE_AGAIN;
	size_t k;
	for (k = 0; k <= len; k++) {
		rc = imap_parse(&p, cmd, k, max);
		if (imap_parse_need_continuation(&p)) {
			n++;
			cr_assert_eq(imap_parse_need_continuation(&p), 0, "continuation asked twice");
		}
		if (rc != IMAP_PARSE_AGAIN)
			break;
	}
	take(&s, &p, rc);
	if (rc != IMAP_PARSE_AGAIN)
		cr_assert_eq(k, whole.pos, "prefix feed finished at %zu, whole at %u", k, whole.pos);
	same(&whole, &s, "prefix", k);

	/* Two pieces. */
	for (size_t cut = 0; cut <= len; cut++) {
		imap_parse_reset(&p);
		rc = imap_parse(&p, cmd, cut, max);
		if (rc == IMAP_PARSE_AGAIN) {
			(void)imap_parse_need_continuation(&p);
			rc = imap_parse(&p, cmd, len, max);
		} else {
			cr_assert_geq(cut, whole.pos, "split %zu finished early", cut);
		}
		take(&s, &p, rc);
		same(&whole, &s, "split", cut);
	}
	free(cmd);
	if (conts)
		*conts = n;
	return whole;
}

static struct snap
check_s(const char *cmd, int *conts)
{
	return check(cmd, strlen(cmd), BIG, conts);
}

/* Token t of cmd, unescaped, compared with want (want_len bytes). */
static void
tok_is(const struct snap *s, const char *cmd, int t, int kind, const char *want, size_t want_len)
{
	struct imap_parser p;
	size_t n;
	char *v;

	cr_assert_lt(t, s->ntok, "no token %d (%u tokens)", t, s->ntok);
	cr_assert_eq(s->tok[t].kind, kind, "token %d: kind %u, want %d", t, s->tok[t].kind, kind);
	memset(&p, 0, sizeof(p));
	memcpy(p.tok, s->tok, sizeof(p.tok));
	p.ntok = s->ntok;
	v = imap_token_dup(&p, cmd, t, &n);
	cr_assert_not_null(v);
	cr_assert_eq(n, want_len, "token %d: length %zu, want %zu (\"%s\")", t, n, want_len, v);
	cr_assert_eq(memcmp(v, want, n), 0, "token %d: \"%s\", want \"%s\"", t, v, want);
	cr_assert_eq(v[n], '\0');
	free(v);
}

#define TOK(s, cmd, t, kind, want) tok_is(&(s), (cmd), (t), (kind), (want), sizeof(want) - 1)

static void
done_with(const struct snap *s, const char *cmd, size_t tag_len, int ntok)
{
	cr_assert_eq(s->rc, IMAP_PARSE_DONE, "\"%s\": result %d", cmd, s->rc);
	cr_assert_eq(s->pos, strlen(cmd));
	cr_assert_eq(s->tag_len, tag_len);
	cr_assert_eq(s->ntok, ntok, "\"%s\": %u tokens, want %d", cmd, s->ntok, ntok);
	cr_assert_eq(s->quit, 0);
}

static void
invalid_at(const struct snap *s, size_t pos, int quit)
{
	cr_assert_eq(s->rc, IMAP_PARSE_INVALID, "result %d, want INVALID", s->rc);
	cr_assert_eq(s->pos, pos, "skipped %u bytes, want %zu", s->pos, pos);
	cr_assert_eq(s->quit, quit);
	cr_assert_eq(s->invalid, 1);
}

/* cmd is one invalid line, skipped whole. */
static void
inv(const char *cmd, int quit)
{
	struct snap s = check_s(cmd, NULL);

	invalid_at(&s, strlen(cmd), quit);
}

/* An invalid line: the first skip bytes of cmd. */
static void
inv_n(const char *cmd, size_t skip, int quit)
{
	struct snap s = check_s(cmd, NULL);

	invalid_at(&s, skip, quit);
}

TestSuite(imap_parse);

Test(imap_parse, simple_commands)
{
	const char *c1 = "a1 NOOP\r\n", *c2 = "A.b-c_9 capability\n", *c3 = "x LOGOUT \r\n";
	struct snap s;

	s = check_s(c1, NULL);
	done_with(&s, c1, 2, 1);
	TOK(s, c1, 0, IMAP_TOK_ATOM, "NOOP");

	s = check_s(c2, NULL);
	done_with(&s, c2, 7, 1);
	TOK(s, c2, 0, IMAP_TOK_ATOM, "capability");

	/* A space before CRLF is tolerated, as nginx tolerates it. */
	s = check_s(c3, NULL);
	done_with(&s, c3, 1, 1);
	TOK(s, c3, 0, IMAP_TOK_ATOM, "LOGOUT");
}

Test(imap_parse, login_atoms)
{
	const char *c = "a LOGIN user secret\r\n";
	struct snap s = check_s(c, NULL);

	done_with(&s, c, 1, 3);
	TOK(s, c, 0, IMAP_TOK_ATOM, "LOGIN");
	TOK(s, c, 1, IMAP_TOK_ATOM, "user");
	TOK(s, c, 2, IMAP_TOK_ATOM, "secret");
}

Test(imap_parse, login_quoted_with_escapes)
{
	const char *c = "t LOGIN \"us er\" \"p\\\"a\\\\ss\"\r\n";
	struct snap s = check_s(c, NULL);

	done_with(&s, c, 1, 3);
	TOK(s, c, 1, IMAP_TOK_QUOTED, "us er");
	TOK(s, c, 2, IMAP_TOK_QUOTED, "p\"a\\ss");
}

Test(imap_parse, quoted_empty_and_specials)
{
	const char *c = "t LOGIN \"\" \"(){}% *]\"\r\n";
	struct snap s = check_s(c, NULL);

	done_with(&s, c, 1, 3);
	TOK(s, c, 1, IMAP_TOK_QUOTED, "");
	TOK(s, c, 2, IMAP_TOK_QUOTED, "(){}% *]");
}

Test(imap_parse, quoted_escape_at_the_end)
{
	const char *c = "t LOGIN \"a\\\\\" \"\\\"\"\r\n";
	struct snap s = check_s(c, NULL);

	done_with(&s, c, 1, 3);
	TOK(s, c, 1, IMAP_TOK_QUOTED, "a\\");
	TOK(s, c, 2, IMAP_TOK_QUOTED, "\"");
}

Test(imap_parse, quoted_bad_escape_is_invalid)
{
	/* Only \" and \\ are quoted-specials (RFC 3501). */
	const char *c = "t LOGIN \"a\\x\" p\r\nb NOOP\r\n";
	struct snap s = check_s(c, NULL);

	invalid_at(&s, strlen("t LOGIN \"a\\x\" p\r\n"), 0);
	cr_assert_eq(s.tag_len, 1);
}

Test(imap_parse, quoted_with_cr_lf_or_nul_is_invalid)
{
	struct snap s;

	s = check("t LOGIN \"a\rb\" p\r\n", 17, BIG, NULL);
	invalid_at(&s, 17, 0);
	s = check("t LOGIN \"a\nb\" p\r\n", 17, BIG, NULL);
	invalid_at(&s, strlen("t LOGIN \"a\n"), 0);
	s = check("t LOGIN \"a\0b\" p\r\n", 17, BIG, NULL);
	invalid_at(&s, 17, 0);
	/* Unterminated at the end of the line. */
	s = check_s("t LOGIN \"abc\r\n", NULL);
	invalid_at(&s, 14, 0);
}

Test(imap_parse, quoted_must_be_followed_by_space_or_eol)
{
	inv("t LOGIN \"a\"\"b\"\r\n", 0);
	inv("t LOGIN \"a\"b\r\n", 0);
	inv("t LOGIN (\"a\")x\r\n", 0);
}

Test(imap_parse, synchronizing_literals)
{
	const char *c = "a LOGIN {4}\r\nuser {6}\r\nse\r\nt\"\r\n";
	int conts;
	struct snap s = check_s(c, &conts);

	done_with(&s, c, 1, 3);
	TOK(s, c, 1, IMAP_TOK_LITERAL, "user");
	TOK(s, c, 2, IMAP_TOK_LITERAL, "se\r\nt\"");
	/* Byte by byte, each literal asks for "+ OK" exactly once. */
	cr_assert_eq(conts, 2);
}

Test(imap_parse, continuation_only_when_the_data_is_not_there_yet)
{
	const char *c = "a LOGIN {4}\r\nuser pass\r\n";
	struct imap_parser p;

	imap_parse_reset(&p);
	/* The client sent the literal without waiting: no "+ OK". */
	cr_assert_eq(imap_parse(&p, c, strlen(c), BIG), IMAP_PARSE_DONE);
	cr_assert_eq(imap_parse_need_continuation(&p), 0);

	imap_parse_reset(&p);
	cr_assert_eq(imap_parse(&p, c, 13, BIG), IMAP_PARSE_AGAIN);
	cr_assert_eq(imap_parse_need_continuation(&p), 1);
	cr_assert_eq(imap_parse_need_continuation(&p), 0, "asked twice");
	cr_assert_eq(imap_parse(&p, c, 15, BIG), IMAP_PARSE_AGAIN);
	cr_assert_eq(imap_parse_need_continuation(&p), 0, "asked again mid-literal");
	cr_assert_eq(imap_parse(&p, c, strlen(c), BIG), IMAP_PARSE_DONE);

	/* Bare LF after the size. */
	imap_parse_reset(&p);
	cr_assert_eq(imap_parse(&p, "a LOGIN {1}\n", 12, BIG), IMAP_PARSE_AGAIN);
	cr_assert_eq(imap_parse_need_continuation(&p), 1);
}

Test(imap_parse, non_synchronizing_literals)
{
	const char *c = "a LOGIN {4+}\r\nuser {4+}\r\npass\r\n";
	int conts;
	struct snap s = check_s(c, &conts);

	done_with(&s, c, 1, 3);
	TOK(s, c, 1, IMAP_TOK_LITERAL, "user");
	TOK(s, c, 2, IMAP_TOK_LITERAL, "pass");
	cr_assert_eq(conts, 0, "no \"+ OK\" for {n+}");
}

Test(imap_parse, mixed_argument_kinds)
{
	const char *c = "a LOGIN {3+}\r\nb c \"d e\"\r\n";
	struct snap s = check_s(c, NULL);

	cr_assert_eq(s.rc, IMAP_PARSE_DONE);
	TOK(s, c, 1, IMAP_TOK_LITERAL, "b c");
	TOK(s, c, 2, IMAP_TOK_QUOTED, "d e");
}

Test(imap_parse, empty_literals)
{
	const char *c = "a LOGIN {0}\r\n {0}\r\n\r\n";
	int conts;
	struct snap s = check_s(c, &conts);

	done_with(&s, c, 1, 3);
	TOK(s, c, 1, IMAP_TOK_LITERAL, "");
	TOK(s, c, 2, IMAP_TOK_LITERAL, "");
	/* A client that sent "{0}" waits for "+ OK" like for any other size. */
	cr_assert_eq(conts, 2);

	const char *c2 = "a LOGIN {0+}\r\n {0+}\r\n\r\n";
	s = check_s(c2, &conts);
	done_with(&s, c2, 1, 3);
	TOK(s, c2, 2, IMAP_TOK_LITERAL, "");
	cr_assert_eq(conts, 0);
}

Test(imap_parse, literal_with_nul_and_8bit_data)
{
	const char c[] = "a LOGIN {3}\r\nu\0v {2}\r\n\xc3\xa9\r\n";
	struct snap s = check(c, sizeof(c) - 1, BIG, NULL);

	cr_assert_eq(s.rc, IMAP_PARSE_DONE);
	tok_is(&s, c, 1, IMAP_TOK_LITERAL, "u\0v", 3);
	tok_is(&s, c, 2, IMAP_TOK_LITERAL, "\xc3\xa9", 2);
}

Test(imap_parse, literal_must_be_followed_by_space_or_eol)
{
	inv("a LOGIN {4}\r\nuserX pass\r\n", 0);
	inv("a LOGIN {4}\r\nuser\"p\"\r\n", 0);
	inv("a LOGIN {4}\r\nuser{1}\r\n", 0);
}

Test(imap_parse, malformed_literal_announcements)
{
	inv("a LOGIN {}\r\n", 0);
	inv("a LOGIN {4a}\r\n", 0);
	/* It ends like a non-synchronizing literal: closing is the safe side. */
	inv("a LOGIN {+}\r\n", 1);
	inv("a LOGIN {4} x\r\n", 0);
	inv("a LOGIN {4}\rx\r\n", 0);
	inv("a LOGIN {-1}\r\n", 0);
	/* A bad line ending in "{n+}": the data follows at once and cannot be skipped. */
	inv_n("a LOGIN {4++}\r\nuser\r\n", strlen("a LOGIN {4++}\r\n"), 1);
}

Test(imap_parse, literal_over_the_buffer_is_refused_at_once)
{
	const char *c = "a LOGIN {100}\r\n";
	struct snap s = check(c, strlen(c), 64, NULL);

	/* A synchronizing literal is refused before the client sends it. */
	invalid_at(&s, strlen(c), 0);
	cr_assert_eq(s.tag_len, 1);

	/* A non-synchronizing one is already on its way: the connection must go. */
	c = "a LOGIN {100+}\r\n";
	s = check(c, strlen(c), 64, NULL);
	invalid_at(&s, strlen(c), 1);
}

Test(imap_parse, literal_size_overflow_is_refused)
{
	inv("a LOGIN {99999999999999999999999}\r\n", 0);
	inv("a LOGIN {4294967296+}\r\n", 1);
	inv("a LOGIN {4294967295}\r\n", 0);
	inv("a LOGIN {18446744073709551617}\r\n", 0);
}

Test(imap_parse, literal_at_the_buffer_bound)
{
	/* "a LOGIN {N}\r\n" is 14 bytes with a two-digit N. */
	const size_t max = 64, head = 14;
	char c[128];
	struct imap_parser p;

	/* The largest literal after which " x\r\n" still fits: the command is exactly max bytes. */
	size_t n = max - head - 4;
	snprintf(c, sizeof(c), "a LOGIN {%zu}\r\n", n);
	cr_assert_eq(strlen(c), head);
	memset(c + head, 'u', n);
	memcpy(c + head + n, " x\r\n", 4);
	struct snap s = check(c, max, max, NULL);
	cr_assert_eq(s.rc, IMAP_PARSE_DONE);
	cr_assert_eq(s.pos, max);
	cr_assert_eq(s.tok[1].len, n);

	/* A literal that would end exactly at the bound is announced fine... */
	n = max - head;
	snprintf(c, sizeof(c), "a LOGIN {%zu}\r\n", n);
	memset(c + head, 'u', n);
	imap_parse_reset(&p);
	cr_assert_eq(imap_parse(&p, c, head, max), IMAP_PARSE_AGAIN);
	cr_assert_eq(imap_parse_need_continuation(&p), 1);
	/* ...but the line cannot end inside the buffer. */
	cr_assert_eq(imap_parse(&p, c, max, max), IMAP_PARSE_AGAIN);
	cr_assert_eq(p.pos, max);

	/* One more byte is refused at the announcement. */
	n = max - head + 1;
	snprintf(c, sizeof(c), "a LOGIN {%zu}\r\n", n);
	s = check(c, head, max, NULL);
	invalid_at(&s, head, 0);
}

Test(imap_parse, bytes_past_max_are_not_looked_at)
{
	const char *c = "a NOOP\r\n";
	struct imap_parser p;

	imap_parse_reset(&p);
	cr_assert_eq(imap_parse(&p, c, strlen(c), 4), IMAP_PARSE_AGAIN);
	cr_assert_eq(p.pos, 4);
	cr_assert_eq(imap_parse(&p, c, strlen(c), 8), IMAP_PARSE_DONE);
}

Test(imap_parse, id_lists)
{
	const char *c = "a ID (\"name\" \"x y\" \"version\" NIL)\r\n";
	struct snap s = check_s(c, NULL);

	done_with(&s, c, 1, 7);
	TOK(s, c, 0, IMAP_TOK_ATOM, "ID");
	TOK(s, c, 1, IMAP_TOK_LPAREN, "(");
	TOK(s, c, 2, IMAP_TOK_QUOTED, "name");
	TOK(s, c, 3, IMAP_TOK_QUOTED, "x y");
	TOK(s, c, 4, IMAP_TOK_QUOTED, "version");
	TOK(s, c, 5, IMAP_TOK_ATOM, "NIL");
	TOK(s, c, 6, IMAP_TOK_RPAREN, ")");

	const char *c2 = "a ID ({4}\r\nname {1}\r\nv)\r\n";
	s = check_s(c2, NULL);
	done_with(&s, c2, 1, 5);
	TOK(s, c2, 2, IMAP_TOK_LITERAL, "name");
	TOK(s, c2, 3, IMAP_TOK_LITERAL, "v");
	TOK(s, c2, 4, IMAP_TOK_RPAREN, ")");

	const char *c3 = "a ID ()\r\n";
	s = check_s(c3, NULL);
	done_with(&s, c3, 1, 3);

	const char *c4 = "a ID NIL\r\n";
	s = check_s(c4, NULL);
	done_with(&s, c4, 1, 2);
	TOK(s, c4, 1, IMAP_TOK_ATOM, "NIL");
}

Test(imap_parse, parentheses_one_level_balanced)
{
	inv("a ID ((\"a\" \"b\"))\r\n", 0);
	inv("a ID (\"a\" \"b\"\r\n", 0);
	inv("a ID (\"a\" \"b\"\n", 0);
	inv("a ID )\r\n", 0);
	inv("a ID (\"a\" \"b\"))\r\n", 0);
}

Test(imap_parse, tags)
{
	char c[128];
	struct snap s;

	/* 32 characters: the longest tag. */
	memset(c, 't', 32);
	strcpy(c + 32, " NOOP\r\n");
	s = check_s(c, NULL);
	done_with(&s, c, 32, 1);

	memset(c, 't', 33);
	strcpy(c + 33, " NOOP\r\n");
	s = check_s(c, NULL);
	invalid_at(&s, strlen(c), 0);
	cr_assert_eq(s.tag_len, 0, "no tag to answer with");

	static const char *const bad[] = {
		"a+b NOOP\r\n", "a*b NOOP\r\n", "* NOOP\r\n", "+ NOOP\r\n", "a\"b NOOP\r\n",
		"{1} NOOP\r\n", "a(b NOOP\r\n", "a%b NOOP\r\n", "\xc3\xa9 NOOP\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = check_s(bad[i], NULL);
		invalid_at(&s, strlen(bad[i]), 0);
		cr_assert_eq(s.tag_len, 0, "\"%s\"", bad[i]);
	}
}

Test(imap_parse, missing_or_malformed_command)
{
	static const char *const bad[] = {
		"\r\n", "\n", " NOOP\r\n", "a\r\n", "a \r\n", "a  NOOP\r\n", "a NO0P\r\n",
		"a NO-OP\r\n", "a NOOP\rX\r\n", "a NOOP\r\r\n", "a \"NOOP\"\r\n",
	};
	struct snap s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = check_s(bad[i], NULL);
		invalid_at(&s, strlen(bad[i]), 0);
	}

	/* Command names are letters, at most 32 of them. */
	char c[128];
	memcpy(c, "a ", 2);
	memset(c + 2, 'X', 32);
	strcpy(c + 34, "\r\n");
	s = check_s(c, NULL);
	done_with(&s, c, 1, 1);
	memset(c + 2, 'X', 33);
	strcpy(c + 35, "\r\n");
	s = check_s(c, NULL);
	invalid_at(&s, strlen(c), 0);
	cr_assert_eq(s.tag_len, 1, "the tag is known");
}

Test(imap_parse, atoms_refuse_controls_and_accept_8bit)
{
	const char *c = "a LOGIN \xc3\xbc\xc3\x9f""er p%*]{x\r\n";
	struct snap s = check_s(c, NULL);

	done_with(&s, c, 1, 3);
	TOK(s, c, 1, IMAP_TOK_ATOM, "\xc3\xbc\xc3\x9f""er");
	TOK(s, c, 2, IMAP_TOK_ATOM, "p%*]{x");

	s = check("a LOGIN u\0 p\r\n", 14, BIG, NULL);
	invalid_at(&s, 14, 0);
	inv("a LOGIN u\x01 p\r\n", 0);
	inv("a LOGIN u\x7f p\r\n", 0);
	inv("a LOGIN u\tv p\r\n", 0);
	inv("a LOGIN u\"v p\r\n", 0);
	inv("a LOGIN u(v p\r\n", 0);
	inv("a LOGIN \x01 p\r\n", 0);
}

Test(imap_parse, lf_only_line_ends)
{
	const char *c = "a LOGIN {2}\nab \"c\"\n";
	int conts;
	struct snap s = check_s(c, &conts);

	done_with(&s, c, 1, 3);
	TOK(s, c, 1, IMAP_TOK_LITERAL, "ab");
	TOK(s, c, 2, IMAP_TOK_QUOTED, "c");
	cr_assert_eq(conts, 1);
}

Test(imap_parse, pipelined_commands_one_at_a_time)
{
	const char *c = "a NOOP\r\nb LOGIN {1+}\r\nx y\r\nc LOGOUT\r\n";
	struct imap_parser p;
	size_t off = 0;
	const char *names[] = { "NOOP", "LOGIN", "LOGOUT" };

	for (int i = 0; i < 3; i++) {
		struct snap s = check(c + off, strlen(c + off), BIG, NULL);
		cr_assert_eq(s.rc, IMAP_PARSE_DONE);
		tok_is(&s, c + off, 0, IMAP_TOK_ATOM, names[i], strlen(names[i]));
		off += s.pos;
	}
	cr_assert_eq(off, strlen(c));

	/* An invalid line is skipped through its LF, and the next one parses. */
	const char *d = "a BAD\x01LINE\r\nb NOOP\r\n";
	imap_parse_reset(&p);
	cr_assert_eq(imap_parse(&p, d, strlen(d), BIG), IMAP_PARSE_INVALID);
	cr_assert_eq(p.pos, 12);
	imap_parse_reset(&p);
	cr_assert_eq(imap_parse(&p, d + 12, strlen(d + 12), BIG), IMAP_PARSE_DONE);
}

Test(imap_parse, invalid_line_ending_in_a_nonsync_literal_forces_close)
{
	inv_n("a BAD\x01 {5+}\r\nhello\r\n", strlen("a BAD\x01 {5+}\r\n"), 1);
	inv_n("a BAD\x01 {5+}\nhello\r\n", strlen("a BAD\x01 {5+}\n"), 1);
	inv_n("* LOGIN {5+}\r\nhello\r\n", strlen("* LOGIN {5+}\r\n"), 1);
	inv_n("a LOGIN \"x\\q\" {5+}\r\nhe\nlo\r\n", strlen("a LOGIN \"x\\q\" {5+}\r\n"), 1);
	/* A synchronizing literal is never sent after the BAD. */
	inv_n("a BAD\x01 {5}\r\nhello\r\n", strlen("a BAD\x01 {5}\r\n"), 0);
	inv("a BAD\x01 x\r\n", 0);
}

Test(imap_parse, too_many_tokens)
{
	char c[1024];
	size_t o = 0;
	struct snap s;

	o += (size_t)sprintf(c + o, "a X");
	for (int i = 0; i < IMAP_TOKENS_MAX - 1; i++)
		o += (size_t)sprintf(c + o, " a");
	strcpy(c + o, "\r\n");
	s = check_s(c, NULL);
	done_with(&s, c, 1, IMAP_TOKENS_MAX);

	o = 0;
	o += (size_t)sprintf(c + o, "a X");
	for (int i = 0; i < IMAP_TOKENS_MAX; i++)
		o += (size_t)sprintf(c + o, " a");
	strcpy(c + o, "\r\n");
	s = check_s(c, NULL);
	invalid_at(&s, strlen(c), 0);
}

Test(imap_parse, truncated_commands_wait)
{
	static const char *const part[] = {
		"a", "a ", "a NO", "a NOOP", "a NOOP\r", "a LOGIN \"us", "a LOGIN \"u\\",
		"a LOGIN {", "a LOGIN {12", "a LOGIN {1+", "a LOGIN {1}\r", "a LOGIN {3}\r\nab",
		"a ID (", "a ID (\"a\" NIL)",
	};

	for (size_t i = 0; i < sizeof(part) / sizeof(part[0]); i++) {
		struct snap s = check_s(part[i], NULL);
		cr_assert_eq(s.rc, IMAP_PARSE_AGAIN, "\"%s\"", part[i]);
		cr_assert_eq(s.pos, strlen(part[i]));
	}
}

Test(imap_parse, token_dup_unescapes_only_quoted)
{
	const char *c = "a LOGIN a\\b \"a\\\\b\"\r\n";
	struct snap s = check_s(c, NULL);

	cr_assert_eq(s.rc, IMAP_PARSE_DONE);
	TOK(s, c, 1, IMAP_TOK_ATOM, "a\\b");
	TOK(s, c, 2, IMAP_TOK_QUOTED, "a\\b");
}
