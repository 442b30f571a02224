/*
 * The POP3 backend login of worker/proto/pop3_backend.c against scripted, refusing
 * and hostile backends: nginx's USER then PASS for a backend known not to
 * pipeline; CAPA at the first login to a backend, USER and PASS in one write
 * to one that lists PIPELINING, and what was learned reported back for the
 * next login (backend_facts). Exact bytes throughout.
 */
#include <stdio.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/proto/proto_util.h"
#include "worker/session/backend_facts.h"

TestSuite(pop3_backend, .init = th_setup, .fini = th_teardown);

/*
 * A POP3 session about to log in to its backend as login/passwd, knowing
 * facts (BF_*) of it. BF_POP3_CAPA alone: a backend known not to pipeline,
 * which gets nginx's USER, wait, PASS.
 */
static void
backend_ready_facts(struct mh *h, const char *login, const char *passwd, unsigned facts)
{
	mh_open(h, "110", NULL, NULL);
	cr_assert_str_eq(mh_out(h), "+OK POP3 ready\r\n");
	h->ctx.be_login = login;
	h->ctx.be_passwd = passwd;
	h->ctx.be_facts = (uint8_t)facts;
}

static void
backend_ready(struct mh *h, const char *login, const char *passwd)
{
	backend_ready_facts(h, login, passwd, BF_POP3_CAPA);
}

Test(pop3_backend, backend_login)
{
	struct mh h;

	backend_ready(&h, "bob", "secret");
	cr_assert_eq(pop3_backend_line(&h.ctx, NULL, 0), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "");
	cr_assert_eq(mh_be(&h, "+OK Dovecot ready."), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "USER bob\r\n");
	cr_assert_eq(mh_be(&h, "+OK"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "PASS secret\r\n");
	cr_assert_str_eq(mh_out(&h), "");
	cr_assert_eq(mh_be(&h, "+OK Logged in."), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "+OK Logged in.\r\n");
	cr_assert_str_eq(mh_bout(&h), "");
	mh_close(&h);
}

Test(pop3_backend, backend_login_with_spaces)
{
	struct mh h;

	backend_ready(&h, "John Doe", "pass word ");
	mh_be(&h, "+OK");
	cr_assert_str_eq(mh_bout(&h), "USER John Doe\r\n");
	mh_be(&h, "+OK");
	cr_assert_str_eq(mh_bout(&h), "PASS pass word \r\n");
	cr_assert_eq(mh_be(&h, "+OK"), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "+OK\r\n");
	mh_close(&h);
}

Test(pop3_backend, backend_refusals)
{
	for (int step = 0; step < 3; step++) {
		struct mh h;

		backend_ready(&h, "bob", "secret");
		for (int i = 0; i < step; i++)
			cr_assert_eq(mh_be(&h, "+OK"), BA_CONTINUE);
		cr_assert_eq(mh_be(&h, "-ERR [AUTH] Authentication failed."), BA_REFUSED, "step %d", step);
		cr_assert_str_eq(mh_out(&h), "");
		mh_close(&h);
	}
}

Test(pop3_backend, backend_hostile_replies)
{
	static const char *const bad[] = {
		"", "+", "+O", "+ok", "OK", "* OK IMAP4 ready", "220 smtp ready", "-ER", "HTTP/1.1 200 OK",
		"\x80\xff", " +OK",
	};

	for (int step = 0; step < 3; step++)
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct mh h;

			backend_ready(&h, "bob", "secret");
			for (int k = 0; k < step; k++)
				cr_assert_eq(mh_be(&h, "+OK"), BA_CONTINUE);
			mh_bout(&h);
			cr_assert_eq(mh_be(&h, bad[i]), BA_INVALID, "step %d line \"%s\"", step, bad[i]);
			cr_assert_str_eq(mh_bout(&h), "");
			cr_assert_str_eq(mh_out(&h), "");
			mh_close(&h);
		}
}

/* nginx looks at the first three bytes only. */
Test(pop3_backend, backend_ok_prefix)
{
	struct mh h;

	backend_ready(&h, "bob", "secret");
	cr_assert_eq(mh_be(&h, "+OKAY"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "USER bob\r\n");
	mh_close(&h);
}

/* The first login to a backend asks CAPA; PIPELINING there sends USER and PASS together. */
Test(pop3_backend, capa_then_pipelined_login)
{
	struct mh h;

	backend_ready_facts(&h, "bob", "secret", 0);
	cr_assert_eq(mh_be(&h, "+OK Dovecot ready."), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "CAPA\r\n");
	cr_assert_eq(mh_be(&h, "+OK"), BA_CONTINUE);
	cr_assert_eq(mh_be(&h, "CAPA"), BA_CONTINUE);
	cr_assert_eq(mh_be(&h, "TOP"), BA_CONTINUE);
	cr_assert_eq(mh_be(&h, "-ERR looks like an error but is a capability line"), BA_CONTINUE);
	cr_assert_eq(mh_be(&h, "pipelining"), BA_CONTINUE);
	cr_assert_eq(mh_be(&h, "SASL PLAIN"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "");
	cr_assert_eq(h.ctx.be_learned, 0, "nothing is known before the list ends");
	cr_assert_eq(mh_be(&h, "."), BA_CONTINUE);
	cr_assert_eq(h.ctx.be_learned, 1);
	cr_assert_eq(h.ctx.be_facts, BF_POP3_CAPA | BF_POP3_PIPELINING);
	cr_assert_str_eq(mh_bout(&h), "USER bob\r\nPASS secret\r\n");
	cr_assert_eq(mh_be(&h, "+OK"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "");
	cr_assert_eq(mh_be(&h, "+OK Logged in."), BA_DONE);
	cr_assert_str_eq(mh_out(&h), "+OK Logged in.\r\n");
	mh_close(&h);
}

/* Known to pipeline: no CAPA, one write; a refusal of USER ends it (PASS's answer is not awaited). */
Test(pop3_backend, known_pipelining_skips_capa)
{
	struct mh h;

	backend_ready_facts(&h, "bob", "secret", BF_POP3_CAPA | BF_POP3_PIPELINING);
	cr_assert_eq(mh_be(&h, "+OK ready"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "USER bob\r\nPASS secret\r\n");
	cr_assert_eq(mh_be(&h, "+OK"), BA_CONTINUE);
	cr_assert_eq(mh_be(&h, "+OK in"), BA_DONE);
	cr_assert_eq(h.ctx.be_learned, 0);
	mh_close(&h);

	backend_ready_facts(&h, "bob", "secret", BF_POP3_CAPA | BF_POP3_PIPELINING);
	mh_be(&h, "+OK ready");
	mh_bout(&h);
	cr_assert_eq(mh_be(&h, "-ERR no such user"), BA_REFUSED);
	cr_assert_str_eq(mh_bout(&h), "");
	mh_close(&h);
}

/* A list without PIPELINING, a server without CAPA, a lookalike tag: one command at a time. */
Test(pop3_backend, no_pipelining_learned)
{
	static const char *const lists[][4] = {
		{ "+OK", "TOP", "UIDL", "." },
		{ "-ERR unknown command", NULL, NULL, NULL },
		{ "+OK", "PIPELININGX", "X-PIPELINING", "." },
	};

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct mh h;

		/* What was known before does not survive a list that says otherwise. */
		backend_ready_facts(&h, "bob", "secret", BF_POP3_PIPELINING);
		mh_be(&h, "+OK ready");
		cr_assert_str_eq(mh_bout(&h), "CAPA\r\n");
		for (int k = 0; k < 4 && lists[i][k] != NULL; k++)
			cr_assert_eq(mh_be(&h, lists[i][k]), BA_CONTINUE, "list %zu line %d", i, k);
		cr_assert_eq(h.ctx.be_facts, BF_POP3_CAPA, "list %zu", i);
		cr_assert_eq(h.ctx.be_learned, 1);
		cr_assert_str_eq(mh_bout(&h), "USER bob\r\n");
		cr_assert_eq(mh_be(&h, "+OK"), BA_CONTINUE);
		cr_assert_str_eq(mh_bout(&h), "PASS secret\r\n");
		cr_assert_eq(mh_be(&h, "+OK"), BA_DONE);
		mh_close(&h);
	}
}

/* A CAPA answer that is neither +OK nor -ERR, or a list that never ends, is invalid. */
Test(pop3_backend, hostile_capa)
{
	struct mh h;
	char line[64];

	backend_ready_facts(&h, "bob", "secret", 0);
	mh_be(&h, "+OK ready");
	cr_assert_eq(mh_be(&h, "* OK IMAP4 ready"), BA_INVALID);
	mh_close(&h);

	backend_ready_facts(&h, "bob", "secret", 0);
	mh_be(&h, "+OK ready");
	cr_assert_str_eq(mh_bout(&h), "CAPA\r\n");
	cr_assert_eq(mh_be(&h, "+OK"), BA_CONTINUE);
	for (int i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), "X-CAP-%d", i);
		cr_assert_eq(mh_be(&h, line), BA_CONTINUE);
	}
	cr_assert_eq(mh_be(&h, "X-ONE-TOO-MANY"), BA_INVALID);
	cr_assert_str_eq(mh_bout(&h), "");
	mh_close(&h);
}

/* After STLS the capabilities are asked over TLS (RFC 2595), then the login. */
Test(pop3_backend, capa_after_stls)
{
	struct mh h;

	mh_open(&h, "110", "  proxy_starttls: on\n", NULL);
	h.ctx.be_login = "bob";
	h.ctx.be_passwd = "secret";
	mh_out(&h);
	cr_assert_eq(mh_be(&h, "+OK ready"), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "STLS\r\n");
	cr_assert_eq(mh_be(&h, "+OK Begin TLS"), BA_STARTTLS);
	h.ctx.be_tls = 1;
	cr_assert_eq(pop3_backend_line(&h.ctx, NULL, 0), BA_CONTINUE);
	cr_assert_str_eq(mh_bout(&h), "CAPA\r\n");
	mh_be(&h, "+OK");
	mh_be(&h, "PIPELINING");
	mh_be(&h, ".");
	cr_assert_str_eq(mh_bout(&h), "USER bob\r\nPASS secret\r\n");
	mh_close(&h);
}
