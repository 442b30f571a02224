/*
 * The helpers the machines share (worker/proto/proto_util.c, sasl.c) on
 * their own: the POP3/SMTP verb and argument splitting by nginx's rules,
 * word matching, the error count behind every invalid-command reply, and
 * the credential and digest checks of the SASL decoders and APOP.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl.h"

TestSuite(proto_util);

static size_t
verb(const char *line)
{
	return proto_verb_len(line, strlen(line));
}

Test(proto_util, verb_is_letters_up_to_a_space_or_the_end)
{
	cr_assert_eq(verb("NOOP"), 4);
	cr_assert_eq(verb("user bob"), 4);
	cr_assert_eq(verb("STARTTLS"), 8);
	cr_assert_eq(verb(""), 0);
	cr_assert_eq(verb(" NOOP"), 0);
	/* Anything else after the letters: no verb at all. */
	cr_assert_eq(verb("NOOP\t"), 0);
	cr_assert_eq(verb("NO0P"), 0);
	cr_assert_eq(verb("MAIL:"), 0);
	cr_assert_eq(proto_verb_len("QUIT\0x", 6), 0);
}

static int
split(const char *s, int rest, int max, struct proto_args *a)
{
	return proto_split_args(s, strlen(s), rest, max, a);
}

static void
arg_is(const struct proto_args *a, int i, const char *want)
{
	cr_assert_eq(a->l[i], strlen(want), "argument %d: %zu bytes, not %zu", i, a->l[i],
	    strlen(want));
	cr_assert_eq(memcmp(a->v[i], want, a->l[i]), 0, "argument %d", i);
}

Test(proto_util, arguments_split_at_runs_of_spaces)
{
	struct proto_args a;

	cr_assert_eq(split("", 0, 3, &a), 0);
	cr_assert_eq(a.n, 0);
	cr_assert_eq(split("   ", 0, 3, &a), 0);
	cr_assert_eq(a.n, 0);
	cr_assert_eq(split(" a  bc   d ", 0, 3, &a), 0);
	cr_assert_eq(a.n, 3);
	arg_is(&a, 0, "a");
	arg_is(&a, 1, "bc");
	arg_is(&a, 2, "d");
	/* Tabs are no separators. */
	cr_assert_eq(split(" a\tb", 0, 3, &a), 0);
	cr_assert_eq(a.n, 1);
	arg_is(&a, 0, "a\tb");
}

Test(proto_util, one_argument_past_max_is_refused)
{
	struct proto_args a;

	cr_assert_eq(split(" a b c", 0, 3, &a), 0);
	cr_assert_eq(split(" a b c d", 0, 3, &a), -1);
	cr_assert_eq(split(" a b c ", 0, 3, &a), 0, "trailing spaces are no argument");
	cr_assert_eq(split(" 1 2 3 4 5 6 7 8 9 10 11", 0, PROTO_ARGS_MAX, &a), 0);
	cr_assert_eq(a.n, PROTO_ARGS_MAX);
	cr_assert_eq(split(" 1 2 3 4 5 6 7 8 9 10 11 12", 0, PROTO_ARGS_MAX, &a), -1);
	cr_assert_eq(split(" a", 0, 0, &a), -1);
	cr_assert_eq(split("  ", 0, 0, &a), 0);
}

Test(proto_util, rest_keeps_the_spaces_of_the_line)
{
	struct proto_args a;

	cr_assert_eq(split("  my pass  word ", 1, 3, &a), 0);
	cr_assert_eq(a.n, 1);
	arg_is(&a, 0, "my pass  word ");
	cr_assert_eq(split("   ", 1, 3, &a), 0);
	cr_assert_eq(a.n, 0);
}

Test(proto_util, words_match_in_any_case_and_whole)
{
	cr_assert(proto_word_is("nil", 3, "NIL"));
	cr_assert(proto_word_is("Cram-Md5", 8, "CRAM-MD5"));
	cr_assert(proto_word_is("NOOPX", 4, "NOOP"));
	cr_assert(!proto_word_is("NOO", 3, "NOOP"));
	cr_assert(!proto_word_is("NOOPS", 5, "NOOP"));
	cr_assert(!proto_word_is("", 0, "NOOP"));
	cr_assert(proto_word_is("", 0, ""));
}

Test(proto_util, errors_count_up_to_max_errors)
{
	struct srv_conf conf = { .max_errors = 2 };
	struct buf out = { 0 };
	struct proto_ctx ctx = { .conf = &conf, .out = &out, .state = 1 };

	cr_assert_eq(proto_count_error(&ctx, "why"), PA_OK);
	cr_assert_eq(ctx.errors, 1);
	cr_assert_eq(ctx.state, 0, "back to the start state");
	cr_assert_str_eq(ctx.reason, "why");
	cr_assert_eq(buf_len(&out), 0, "the caller queues the reply");
	cr_assert_eq(proto_invalid(&ctx, "-ERR x\r\n", NULL), PA_CLOSE);
	cr_assert_eq(ctx.errors, 2);
	cr_assert_str_eq(ctx.reason, "client sent too many invalid commands");
	cr_assert_eq(buf_len(&out), 8);
	cr_assert_eq(memcmp(buf_rptr(&out), "-ERR x\r\n", 8), 0);
	buf_release(&out);
}

Test(proto_util, sasl_set_maps_creds_set)
{
	char *s = NULL;

	cr_assert_eq(sasl_set(&s, "bob", 3), SASL_OK);
	cr_assert_str_eq(s, "bob");
	cr_assert_eq(sasl_set(&s, "b\rb", 3), SASL_HOSTILE);
	cr_assert_eq(sasl_set(&s, "b\0b", 3), SASL_HOSTILE);
	free(s);
}

Test(proto_util, md5_hex_is_32_hex_digits_in_any_case)
{
	cr_assert(sasl_md5_hex("0123456789abcdefABCDEF0123456789", 32));
	cr_assert(!sasl_md5_hex("0123456789abcdefABCDEF012345678", 31));
	cr_assert(!sasl_md5_hex("0123456789abcdefABCDEF01234567890", 33));
	cr_assert(!sasl_md5_hex("0123456789abcdefABCDEF012345678g", 32));
	cr_assert(!sasl_md5_hex("0123456789abcdef ABCDEF012345678", 32));
	cr_assert(!sasl_md5_hex("", 0));
}
