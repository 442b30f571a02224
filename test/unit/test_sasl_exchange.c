/*
 * The SASL exchange shared by the IMAP, POP3 and SMTP machines
 * (worker/proto/sasl_exchange.c), on its own: every mechanism with and without an
 * initial response, the challenges it queues, disabled and unknown
 * mechanisms, hostile and malformed answers, a step with nothing pending.
 * Also proto_take_line() (worker/proto/proto_util.c), the POP3/SMTP line splitter.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/buf.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl_exchange.h"

TestSuite(sasl_exchange);

static struct srv_conf conf;
static char *names[] = { "mail.example" };
static struct buf out;
static struct proto_ctx ctx;

static void
reset(void)
{
	buf_release(&out);
	creds_clear(&ctx.cr);
	memset(&ctx, 0, sizeof(ctx));
	conf.server_name.n = 1;
	conf.server_name.v = names;
	ctx.conf = &conf;
	ctx.out = &out;
}

/* What was queued for the client since the last call. */
static char *
queued(void)
{
	static char s[512];
	size_t n = buf_len(&out) < sizeof(s) - 1 ? buf_len(&out) : sizeof(s) - 1;

	if (n > 0)	/* an empty buf may have no storage at all */
		memcpy(s, buf_rptr(&out), n);
	s[n] = '\0';
	buf_reset(&out);
	return s;
}

static int
begin(unsigned enabled, const char *mech, const char *ir)
{
	return sasl_exchange_begin(&ctx, "334 ", enabled, mech, strlen(mech), ir,
	    ir ? strlen(ir) : 0);
}

static int
step(const char *line)
{
	return sasl_exchange_step(&ctx, "334 ", line, strlen(line));
}

static void
fini(void)
{
	buf_release(&out);
	creds_clear(&ctx.cr);
}

/* "\0alice\0secret" */
#define PLAIN_ALICE "AGFsaWNlAHNlY3JldA=="
#define B64_ALICE "YWxpY2U="
#define B64_SECRET "c2VjcmV0"

Test(sasl_exchange, plain_with_initial_response, .init = reset, .fini = fini)
{
	cr_assert_eq(begin(0, "plain", PLAIN_ALICE), SASL_DONE);
	cr_assert_str_eq(ctx.cr.login, "alice");
	cr_assert_str_eq(ctx.cr.passwd, "secret");
	cr_assert_eq(ctx.cr.method, AUTHM_PLAIN);
	cr_assert_str_eq(queued(), "");
	cr_assert_eq(ctx.sasl, SASL_WAIT_NONE);
}

Test(sasl_exchange, plain_after_an_empty_challenge, .init = reset, .fini = fini)
{
	cr_assert_eq(begin(0, "PLAIN", NULL), SASL_CHALLENGE);
	cr_assert_str_eq(queued(), "334 \r\n");
	cr_assert_eq(ctx.sasl, SASL_WAIT_PLAIN);
	cr_assert_eq(step(PLAIN_ALICE), SASL_DONE);
	cr_assert_str_eq(ctx.cr.login, "alice");
	cr_assert_eq(ctx.sasl, SASL_WAIT_NONE);
}

Test(sasl_exchange, login_asks_user_then_password, .init = reset, .fini = fini)
{
	cr_assert_eq(begin(0, "Login", NULL), SASL_CHALLENGE);
	cr_assert_str_eq(queued(), "334 VXNlcm5hbWU6\r\n");
	cr_assert_eq(step(B64_ALICE), SASL_CHALLENGE);
	cr_assert_str_eq(queued(), "334 UGFzc3dvcmQ6\r\n");
	cr_assert_eq(ctx.sasl, SASL_WAIT_LOGIN_PASS);
	cr_assert_eq(step(B64_SECRET), SASL_DONE);
	cr_assert_str_eq(ctx.cr.login, "alice");
	cr_assert_str_eq(ctx.cr.passwd, "secret");
	/* nginx reports LOGIN to the auth service as "plain". */
	cr_assert_eq(ctx.cr.method, AUTHM_PLAIN);
}

Test(sasl_exchange, login_with_the_user_name_up_front, .init = reset, .fini = fini)
{
	cr_assert_eq(begin(0, "LOGIN", B64_ALICE), SASL_CHALLENGE);
	cr_assert_str_eq(queued(), "334 UGFzc3dvcmQ6\r\n");
	cr_assert_eq(step(B64_SECRET), SASL_DONE);
	cr_assert_str_eq(ctx.cr.login, "alice");
}

Test(sasl_exchange, cram_md5_only_when_enabled_and_without_initial_response,
    .init = reset, .fini = fini)
{
	cr_assert_eq(begin(AUTHM_PLAIN, "CRAM-MD5", NULL), SASL_REFUSED);
	cr_assert_str_eq(queued(), "");
	cr_assert_eq(begin(AUTHM_CRAM_MD5, "CRAM-MD5", "abc"), SASL_REFUSED);
	cr_assert_eq(begin(AUTHM_CRAM_MD5, "cram-md5", NULL), SASL_CHALLENGE);
	cr_assert_eq(ctx.sasl, SASL_WAIT_CRAM_MD5);
	cr_assert_not_null(ctx.cr.salt);
	cr_assert(strstr(ctx.cr.salt, "@mail.example>") != NULL);
	/* The challenge is the salt, base64. */
	const char *c = queued();
	unsigned char salt[256];
	cr_assert_eq(strncmp(c, "334 ", 4), 0);
	cr_assert_eq(strcmp(c + strlen(c) - 2, "\r\n"), 0);
	long n = b64_decode(c + 4, strlen(c) - 6, salt);
	cr_assert_eq(n, (long)strlen(ctx.cr.salt));
	cr_assert_eq(memcmp(salt, ctx.cr.salt, (size_t)n), 0);

	/* "alice 0123456789abcdef0123456789abcdef" */
	const char *resp = "YWxpY2UgMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
	cr_assert_eq(step(resp), SASL_DONE);
	cr_assert_eq(ctx.cr.method, AUTHM_CRAM_MD5);
	cr_assert_str_eq(ctx.cr.login, "alice");
	cr_assert_str_eq(ctx.cr.passwd, "0123456789abcdef0123456789abcdef");
}

Test(sasl_exchange, external_only_when_enabled, .init = reset, .fini = fini)
{
	cr_assert_eq(begin(AUTHM_PLAIN | AUTHM_CRAM_MD5, "EXTERNAL", NULL), SASL_REFUSED);
	cr_assert_eq(begin(AUTHM_PLAIN | AUTHM_CRAM_MD5, "EXTERNAL", B64_ALICE), SASL_REFUSED);
	cr_assert_eq(begin(AUTHM_EXTERNAL, "EXTERNAL", B64_ALICE), SASL_DONE);
	cr_assert_eq(ctx.cr.method, AUTHM_EXTERNAL);
	cr_assert_str_eq(ctx.cr.login, "alice");
	creds_clear(&ctx.cr);
	cr_assert_eq(begin(AUTHM_EXTERNAL, "EXTERNAL", NULL), SASL_CHALLENGE);
	cr_assert_str_eq(queued(), "334 VXNlcm5hbWU6\r\n");
	/* An empty identity ("=" stands for it on the wire; here an empty line). */
	cr_assert_eq(step(""), SASL_DONE);
	cr_assert_eq(ctx.cr.method, AUTHM_EXTERNAL);
}

Test(sasl_exchange, unknown_and_near_miss_mechanisms_are_refused, .init = reset, .fini = fini)
{
	const unsigned all = AUTHM_PLAIN | AUTHM_LOGIN | AUTHM_CRAM_MD5 | AUTHM_EXTERNAL;
	const char *bad[] = { "", "PLAINX", "PLAI", "LOGIN ", "DIGEST-MD5", "XOAUTH2",
	    "CRAM-MD", "EXTERNALS", "GSSAPI" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(begin(all, bad[i], NULL), SASL_REFUSED, "%s", bad[i]);
		cr_assert_eq(ctx.sasl, SASL_WAIT_NONE);
	}
	cr_assert_str_eq(queued(), "");
}

Test(sasl_exchange, bad_answers_end_the_exchange, .init = reset, .fini = fini)
{
	cr_assert_eq(begin(0, "PLAIN", NULL), SASL_CHALLENGE);
	cr_assert_eq(step("not base64!"), SASL_INVALID);
	cr_assert_eq(ctx.sasl, SASL_WAIT_NONE);
	cr_assert_eq(ctx.cr.method, 0);

	/* "*" is how a client cancels; it is not base64 either. */
	cr_assert_eq(begin(0, "LOGIN", NULL), SASL_CHALLENGE);
	cr_assert_eq(step("*"), SASL_INVALID);

	/* "\0al\nice\0pw": a LF in the user name never reaches the auth service. */
	cr_assert_eq(begin(0, "PLAIN", "AGFsCmljZQBwdw=="), SASL_HOSTILE);
	cr_assert_null(ctx.cr.login);

	/* LOGIN's empty user name. */
	cr_assert_eq(begin(0, "LOGIN", NULL), SASL_CHALLENGE);
	queued();
	cr_assert_eq(step(""), SASL_INVALID);
	cr_assert_str_eq(queued(), "");
}

Test(sasl_exchange, a_step_with_nothing_pending_is_invalid, .init = reset, .fini = fini)
{
	cr_assert_eq(step(PLAIN_ALICE), SASL_INVALID);
	cr_assert_null(ctx.cr.login);
}

Test(sasl_exchange, a_new_begin_forgets_a_pending_exchange, .init = reset, .fini = fini)
{
	cr_assert_eq(begin(0, "LOGIN", NULL), SASL_CHALLENGE);
	cr_assert_eq(begin(0, "GSSAPI", NULL), SASL_REFUSED);
	cr_assert_eq(ctx.sasl, SASL_WAIT_NONE);
}

/* ---- proto_take_line ---- */

Test(sasl_exchange, take_line_by_nginx_rules)
{
	size_t used;

	cr_assert_eq(proto_take_line("NOOP\r\nQUIT\r\n", 12, 0, &used), 4);
	cr_assert_eq(used, 6);
	cr_assert_eq(proto_take_line("NOOP\nX", 6, 0, &used), 4);	/* bare LF ends a line */
	cr_assert_eq(used, 5);
	cr_assert_eq(proto_take_line("\r\n", 2, 0, &used), 0);
	cr_assert_eq(used, 2);
	cr_assert_eq(proto_take_line("NOO", 3, 0, &used), PROTO_LINE_AGAIN);
	cr_assert_eq(used, 0);
	cr_assert_eq(proto_take_line("NOOP\r", 5, 0, &used), PROTO_LINE_AGAIN);
	cr_assert_eq(proto_take_line("NOOPNOOP", 8, 1, &used), PROTO_LINE_LONG);
	cr_assert_eq(used, 8);
	cr_assert_eq(proto_take_line("NO\rOP\r\n", 7, 0, &used), PROTO_LINE_BARE_CR);
	cr_assert_eq(used, 7);
	cr_assert_eq(proto_take_line("NOOP\r\r\n", 7, 0, &used), PROTO_LINE_BARE_CR);
	cr_assert_eq(proto_take_line("", 0, 0, &used), PROTO_LINE_AGAIN);
}
