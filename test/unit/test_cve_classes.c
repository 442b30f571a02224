/*
 * Published CVE classes of mail proxies, proven where they live: the pure
 * protocol machines (driven as session.c drives them, see mail_helpers.h)
 * and the auth_http request text; the resolver's answer handling is in
 * test_cve_dns.c. Each test is named after its CVE; the whole-binary halves,
 * with real clients, TLS and DNS, are in
 * test/integration/test_cve_regressions.py. Buffers handed to the code
 * under test are exactly sized, so the sanitizer build catches a read past
 * them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/config_helpers.h"
#include "test/unit/mail_helpers.h"
#include "worker/lookup/auth_http.h"
#include "worker/proto/proto_util.h"
#include "worker/proto/sasl.h"
#include "worker/proto/sasl_exchange.h"

TestSuite(cve, .init = th_setup, .fini = th_teardown);

#define IMAP_BAD(tag) tag " BAD invalid command\r\n"
#define POP3_INV "-ERR invalid command\r\n"
#define SMTP_INV "500 5.5.1 Invalid command\r\n"
#define SMTP_OK "250 2.0.0 OK\r\n"
#define SMTP_BAD_SEQ "503 5.5.1 Bad sequence of commands\r\n"
#define DIGEST1 "0123456789abcdef0123456789abcdef"
#define DIGEST2 "fedcba9876543210fedcba9876543210"

/* One call of the machine on exactly len bytes; returns the action, sets *used. */
static enum proto_action
input_once(struct mh *h, const char *in, size_t len, size_t *used)
{
	char *copy = malloc(len ? len : 1);
	enum proto_action a;

	cr_assert_not_null(copy);
	memcpy(copy, in, len);
	*used = 0;
	a = h->proto->input(&h->ctx, copy, len, 0, used);
	free(copy);
	return a;
}

/* The challenge after prefix ("+ ", "334 ") decoded: the salt, "<...>". */
static void
challenge_salt(const char *out, const char *prefix, char *salt, size_t len)
{
	const char *b = out + strlen(prefix);
	size_t n = strcspn(b, "\r");
	unsigned char dec[512];
	long dn;

	cr_assert(strncmp(out, prefix, strlen(prefix)) == 0, "not a challenge: %s", out);
	cr_assert_lt(n, sizeof(dec));
	dn = b64_decode(b, n, dec);
	cr_assert_gt(dn, 2, "challenge %s", out);
	cr_assert_lt((size_t)dn, len);
	memcpy(salt, dec, (size_t)dn);
	salt[dn] = '\0';
	cr_assert(salt[0] == '<' && salt[dn - 1] == '>', "salt %s", salt);
}

/* The auth_http request session.c would send for the machine's credentials. */
static char *
request_for(struct mh *h, unsigned attempt, const char *client_host)
{
	struct auth_params p = {
		.method = h->ctx.cr.method, .login = h->ctx.cr.login, .passwd = h->ctx.cr.passwd,
		.salt = h->ctx.cr.salt, .protocol = h->conf->protocol, .attempt = attempt,
		.client_ip = "192.0.2.7", .client_host = client_host,
		.smtp_helo = h->ctx.cr.helo, .smtp_from = h->ctx.cr.from, .smtp_to = h->ctx.cr.to,
	};
	struct buf b = { 0 };

	cr_assert_eq(auth_http_build(&b, h->conf, &p, 0), 0);
	cr_assert_eq(buf_append(&b, "", 1), 0);
	return b.data;
}

/* What session.c does when the auth service refuses with Auth-Wait. */
static void
refused_with_retry(struct mh *h, const char *want)
{
	creds_clear(&h->ctx.cr);
	cr_assert_eq(h->proto->auth_failed(&h->ctx, "Invalid login or password", NULL, 1), PA_OK);
	cr_assert_str_eq(mh_out(h), want);
}

/* ======================================================= CVE-2014-3556 */
/*
 * Commands pipelined behind STARTTLS: the machine takes the STARTTLS line
 * only (session.c then drops the buffer), whatever the read sizes, and what
 * was said before TLS is forgotten.
 */

static void
starttls_line_only(const char *port, const char *yaml, const char *in, size_t line,
    const char *reply, const char *after, const char *after_reply)
{
	for (size_t chunk = 0; chunk <= strlen(in); chunk++) {
		struct mh h;
		size_t used;

		mh_open(&h, port, NULL, yaml);
		mh_out(&h);
		h.conf->starttls = STARTTLS_ON;
		if (chunk == 0) {
			/* One read with everything: exactly the STARTTLS line is used. */
			cr_assert_eq(input_once(&h, in, strlen(in), &used), PA_STARTTLS);
			cr_assert_eq(used, line, "used %zu of %s", used, in);
		} else {
			h.chunk = chunk;
			cr_assert_eq(mh_sends(&h, in), PA_STARTTLS, "chunk %zu", chunk);
			cr_assert_eq(mh_unread(&h), 0);
		}
		cr_assert_str_eq(mh_out(&h), reply, "chunk %zu", chunk);
		cr_assert_null(h.ctx.cr.login);
		cr_assert_null(h.ctx.cr.passwd);
		cr_assert_null(h.ctx.cr.from);
		cr_assert_eq(h.ctx.cr.method, 0);
		h.ctx.tls = 1;
		h.chunk = 0;
		mh_expect(&h, after, PA_OK, after_reply);
		mh_close(&h);
	}
}

Test(cve, cve_2014_3556_imap_starttls_takes_its_line_only)
{
	starttls_line_only("143", NULL, "a STARTTLS\r\nb LOGIN alice alicepw\r\nc LOGOUT\r\n", 12,
	    "a OK completed\r\n", "d NOOP\r\n", "d OK completed\r\n");
}

Test(cve, cve_2014_3556_pop3_stls_takes_its_line_only)
{
	/* Had USER been taken, PASS would ask the auth service for mallory. */
	starttls_line_only("110", NULL, "STLS\r\nUSER mallory\r\n", 6, "+OK\r\n",
	    "PASS alicepw\r\n", POP3_INV);
}

Test(cve, cve_2014_3556_sieve_starttls_takes_its_line_only)
{
	/* Had AUTHENTICATE been taken, the string after TLS would answer its challenge. */
	starttls_line_only("4190", NULL, "STARTTLS\r\nAUTHENTICATE \"PLAIN\"\r\n", 10,
	    "OK \"Begin TLS negotiation now.\"\r\n", "\"AGFsaWNlAHB3\"\r\n",
	    "NO \"Error in MANAGESIEVE command.\"\r\n");
}

Test(cve, cve_2014_3556_smtp_starttls_takes_its_line_only)
{
	/* Had MAIL been taken, RCPT would start a login (smtp_auth none). */
	starttls_line_only("25", "      smtp_auth: [none, plain]\n",
	    "STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.org>\r\n", 10,
	    "220 2.0.0 Start TLS\r\n", "RCPT TO:<bob@example.org>\r\n", SMTP_BAD_SEQ);
}

Test(cve, cve_2014_3556_smtp_forgets_helo_and_mail_from_before_tls)
{
	struct mh h;
	char *req;

	mh_open(&h, "25", NULL, "      smtp_auth: [none, plain]\n");
	mh_out(&h);
	h.conf->starttls = STARTTLS_ON;
	cr_assert_eq(mh_sends(&h, "EHLO before.example\r\n"), PA_OK);
	cr_assert_not_null(strstr(mh_out(&h), "STARTTLS"));
	mh_say(&h, "MAIL FROM:<before@example.org>\r\n", SMTP_OK);
	cr_assert_eq(mh_sends(&h, "STARTTLS\r\n"), PA_STARTTLS);
	mh_out(&h);
	h.ctx.tls = 1;
	mh_say(&h, "MAIL FROM:<after@example.org>\r\n", SMTP_OK);
	cr_assert_eq(mh_sends(&h, "RCPT TO:<bob@example.org>\r\n"), PA_AUTH);
	req = request_for(&h, 1, "[UNAVAILABLE]");
	cr_assert_null(strstr(req, "before"), "%s", req);
	cr_assert_not_null(strstr(req, "Auth-SMTP-Helo: \r\nAuth-SMTP-From: MAIL FROM:<after@example.org>\r\n"),
	    "%s", req);
	free(req);
	mh_close(&h);
}

/* ======================================================= CVE-2025-53859 */
/*
 * smtp_auth none: whatever AUTH left behind (a refused login, an exchange
 * abandoned at any step, malformed data) never reaches the none request,
 * which is exactly the client's HELO, MAIL and RCPT, for long and odd
 * arguments and at every read size.
 */

struct none_case {
	const char *helo, *mail, *rcpt;
};

static void
auth_leftovers(struct mh *h)
{
	char line[1024];

	/* A complete PLAIN the auth service refuses (Auth-Wait: the client goes on). */
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", mh_b64n("authz\0mallory\0s3cret-pw", 23));
	cr_assert_eq(mh_sends(h, line), PA_AUTH);
	cr_assert_str_eq(h->ctx.cr.login, "mallory");
	refused_with_retry(h, "535 5.7.0 Invalid login or password\r\n");
	/* LOGIN abandoned after the user name. */
	mh_say(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("mallory-login"));
	mh_say(h, line, "334 UGFzc3dvcmQ6\r\n");
	mh_say(h, "*not base64*\r\n", SMTP_INV);
	/* LOGIN with the user as initial response, then garbage. */
	snprintf(line, sizeof(line), "AUTH LOGIN %s\r\n", mh_b64("mallory-ir"));
	mh_say(h, line, "334 UGFzc3dvcmQ6\r\n");
	mh_say(h, "!!!!\r\n", SMTP_INV);
	/* CRAM-MD5 answered with something that is not "user digest". */
	cr_assert_eq(mh_sends(h, "AUTH CRAM-MD5\r\n"), PA_OK);
	cr_assert(strncmp(mh_out(h), "334 ", 4) == 0);
	snprintf(line, sizeof(line), "%s\r\n", mh_b64("mallory-cram"));
	mh_say(h, line, SMTP_INV);
	/* PLAIN without its password, PLAIN with a NUL in the password. */
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", mh_b64n("\0mallory-plain", 14));
	mh_say(h, line, SMTP_INV);
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", mh_b64n("\0mallory\0pw\0tail", 16));
	mh_say(h, line, SMTP_INV);
}

static void
none_request_is_exact(const struct none_case *c, size_t chunk)
{
	struct mh h;
	char line[8192], want[16384];
	char *req;

	mh_open(&h, "25", NULL, "      smtp_auth: [none, plain, login, cram-md5]\n      max_errors: 100\n");
	mh_out(&h);
	snprintf(line, sizeof(line), "EHLO %s\r\n", c->helo);
	cr_assert_eq(mh_sends(&h, line), PA_OK);
	mh_out(&h);
	auth_leftovers(&h);
	mh_say(&h, "MAIL FROM:<first@example.org>\r\n", SMTP_OK);
	mh_say(&h, "RSET\r\n", SMTP_OK);
	h.chunk = chunk;
	snprintf(line, sizeof(line), "%s\r\n%s\r\n", c->mail, c->rcpt);
	cr_assert_eq(mh_sends(&h, line), PA_AUTH, "chunk %zu", chunk);
	cr_assert_str_eq(mh_out(&h), SMTP_OK);
	cr_assert_eq(h.ctx.cr.method, AUTHM_NONE);
	cr_assert_null(h.ctx.cr.login);
	cr_assert_null(h.ctx.cr.passwd);
	req = request_for(&h, 2, "[UNAVAILABLE]");
	snprintf(want, sizeof(want), "GET /auth HTTP/1.0\r\nHost: 127.0.0.1\r\n"
	    "Auth-Method: none\r\nAuth-User: \r\nAuth-Pass: \r\nAuth-Protocol: smtp\r\n"
	    "Auth-Login-Attempt: 2\r\nClient-IP: 192.0.2.7\r\nClient-Host: [UNAVAILABLE]\r\n"
	    "Auth-SMTP-Helo: %s\r\nAuth-SMTP-From: %s\r\nAuth-SMTP-To: %s\r\n\r\n",
	    c->helo, c->mail, c->rcpt);
	cr_assert_str_eq(req, want);
	free(req);
	mh_close(&h);
}

Test(cve, cve_2025_53859_smtp_auth_none_request_is_what_the_client_said)
{
	static char long_helo[1001], long_mail[4001], long_rcpt[4001];
	const struct none_case cases[] = {
		{ "client.example", "MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.org>" },
		{ "h\xc3\xa9llo.example", "MAIL FROM:<s+t@example.org>   SIZE=12345   BODY=8BITMIME",
		  "RCPT TO:<\"odd local\"@example.org> NOTIFY=NEVER" },
		{ "[127.0.0.1]", "MAIL FROM:<>", "RCPT TO:<postmaster>" },
		{ "%41%0d%0a\x7f\xff", "MAIL FROM:<%0d%0aX-Evil:@example.org>", "RCPT TO:<\x01\x02@x>" },
		{ long_helo, long_mail, long_rcpt },
	};

	memset(long_helo, 'h', sizeof(long_helo) - 1);
	snprintf(long_mail, sizeof(long_mail), "MAIL FROM:<%03900d@example.org>", 0);
	snprintf(long_rcpt, sizeof(long_rcpt), "RCPT TO:<%03900d@example.org>", 7);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		none_request_is_exact(&cases[i], 0);
	for (size_t chunk = 1; chunk <= 9; chunk++)
		none_request_is_exact(&cases[1], chunk);
}

/* ======================================================= CVE-2026-27651 */
/*
 * CRAM-MD5 and APOP after a refusal with Auth-Wait (the client tries again
 * on the same connection): each attempt carries the salt of its own
 * challenge (APOP: the greeting's), its own digest, and nothing stale; and
 * an Auth-Status WAIT (the same request again) builds the same request.
 */

static void
cram_round(struct mh *h, const char *start, const char *prefix, const char *user, const char *digest,
    char *salt, size_t saltlen)
{
	char line[256];

	cr_assert_eq(mh_sends(h, start), PA_OK);
	challenge_salt(mh_out(h), prefix, salt, saltlen);
	snprintf(line, sizeof(line), "%s %s", user, digest);
	snprintf(line, sizeof(line), "%s\r\n", mh_b64(line));
	cr_assert_eq(mh_sends(h, line), PA_AUTH);
	cr_assert_str_eq(mh_out(h), "");
	cr_assert_eq(h->ctx.cr.method, AUTHM_CRAM_MD5);
	cr_assert_str_eq(h->ctx.cr.login, user);
	cr_assert_str_eq(h->ctx.cr.passwd, digest);
	cr_assert_str_eq(h->ctx.cr.salt, salt, "the salt of this exchange's challenge");
}

/* Auth-Status: WAIT asks again with what the machine holds: the same request. */
static void
wait_retry_is_identical(struct mh *h, unsigned attempt)
{
	char *a = request_for(h, attempt, NULL), *b = request_for(h, attempt, NULL);

	cr_assert_str_eq(a, b);
	cr_assert_not_null(strstr(a, "Auth-Salt: <"), "%s", a);
	free(a);
	free(b);
}

static void
cram_retry(const char *port, const char *yaml, const char *a_start, const char *b_start,
    const char *prefix, const char *refused_a, const char *refused_b, const char *login_cmd)
{
	struct mh h;
	char salt1[256], salt2[256];

	mh_open(&h, port, NULL, yaml);
	mh_out(&h);
	cram_round(&h, a_start, prefix, "alice", DIGEST1, salt1, sizeof(salt1));
	wait_retry_is_identical(&h, 1);
	refused_with_retry(&h, refused_a);
	cr_assert_null(h.ctx.cr.passwd);
	cram_round(&h, b_start, prefix, "alice", DIGEST2, salt2, sizeof(salt2));
	wait_retry_is_identical(&h, 2);
	/* A plain login after a refused CRAM-MD5 carries no salt. */
	refused_with_retry(&h, refused_b);
	cr_assert_eq(mh_sends(&h, login_cmd), PA_AUTH);
	mh_out(&h);
	cr_assert_eq(h.ctx.cr.method, AUTHM_PLAIN);
	char *req = request_for(&h, 3, NULL);
	cr_assert_null(strstr(req, "Auth-Salt"), "%s", req);
	cr_assert_not_null(strstr(req, "Auth-Method: plain\r\nAuth-User: alice\r\nAuth-Pass: alicepw\r\n"),
	    "%s", req);
	free(req);
	mh_close(&h);
}

Test(cve, cve_2026_27651_imap_cram_md5_retry_after_auth_wait)
{
	cram_retry("143", "      imap_auth: [plain, login, cram-md5]\n", "a AUTHENTICATE CRAM-MD5\r\n",
	    "b authenticate cram-md5\r\n", "+ ", "a NO Invalid login or password\r\n",
	    "b NO Invalid login or password\r\n", "c LOGIN alice alicepw\r\n");
}

Test(cve, cve_2026_27651_smtp_cram_md5_retry_after_auth_wait)
{
	cram_retry("25", "      smtp_auth: [plain, login, cram-md5]\n", "AUTH CRAM-MD5\r\n",
	    "auth cram-md5\r\n", "334 ", "535 5.7.0 Invalid login or password\r\n",
	    "535 5.7.0 Invalid login or password\r\n", "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n");
}

Test(cve, cve_2026_27651_pop3_apop_and_cram_md5_retry_after_auth_wait)
{
	struct mh h;
	char greeting_salt[256], salt[256];
	const char *out;

	mh_open(&h, "110", NULL, "      pop3_auth: [plain, apop, cram-md5]\n");
	out = mh_out(&h);
	cr_assert(strncmp(out, "+OK POP3 ready <", 16) == 0, "%s", out);
	snprintf(greeting_salt, sizeof(greeting_salt), "%.*s", (int)strcspn(out + 15, "\r"), out + 15);
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(mh_sends(&h, "APOP alice " DIGEST1 "\r\n"), PA_AUTH);
		cr_assert_eq(h.ctx.cr.method, AUTHM_APOP);
		cr_assert_str_eq(h.ctx.cr.salt, greeting_salt, "round %d", round);
		cr_assert_str_eq(h.ctx.cr.passwd, DIGEST1);
		wait_retry_is_identical(&h, 1);
		refused_with_retry(&h, "-ERR Invalid login or password\r\n");
		cram_round(&h, "AUTH CRAM-MD5\r\n", "+ ", "alice", DIGEST2, salt, sizeof(salt));
		wait_retry_is_identical(&h, 2);
		refused_with_retry(&h, "-ERR Invalid login or password\r\n");
		/* The greeting's timestamp is back for the next APOP. */
		cr_assert_str_eq(h.ctx.cr.salt, greeting_salt);
	}
	mh_close(&h);
}

/* ======================================================= CVE-2026-27857 / CVE-2026-42006 */
/*
 * Parentheses and braces before login: a flood that fits the buffer is one
 * BAD, consumed whole, with the parser back at rest, at every read size; one
 * that does not fit closes; literals cannot stack up more than the command
 * allows.
 */

static void
flood_is_one_bad(const char *cmd, size_t chunk)
{
	struct mh h;

	mh_open_imap(&h, "      max_errors: 1000\n");
	h.chunk = chunk;
	mh_expect(&h, cmd, PA_OK, IMAP_BAD("a"));
	cr_assert_eq(mh_unread(&h), 0, "chunk %zu", chunk);
	cr_assert_eq(h.ctx.errors, 1);
	cr_assert_eq(h.ctx.u.imap.p.depth, 0);
	cr_assert_eq(h.ctx.u.imap.p.ntok, 0);
	cr_assert_eq(h.ctx.u.imap.p.pos, 0);
	mh_expect(&h, "n NOOP\r\n", PA_OK, "n OK completed\r\n");
	mh_close(&h);
}

static char *
repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * n + tl + 1), *p = s;

	cr_assert_not_null(s);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

Test(cve, cve_2026_27857_imap_parenthesis_floods)
{
	const size_t counts[] = { 2, 3, 64, 65, 66, 67, 255, 256, 257, 1000, 4000 };

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		const char *heads[] = { "a ID ", "a LOGIN ", "a ", "a ID (\"k\" " };
		for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++) {
			char *s = repeat(heads[k], "(", counts[i], "\r\n");
			flood_is_one_bad(s, 0);
			free(s);
		}
		char *s = repeat("a ID ", "()", counts[i] / 2, ")\r\n");
		flood_is_one_bad(s, 0);
		free(s);
	}
	for (size_t chunk = 1; chunk <= 7; chunk++) {
		char *s = repeat("a ID ", "(", 300, "\r\n");
		flood_is_one_bad(s, chunk);
		free(s);
	}
	flood_is_one_bad("a ID ((\"name\" \"x\"))\r\n", 0);
	flood_is_one_bad("a ID (\"name\" (\"x\"))\r\n", 0);
}

Test(cve, cve_2026_27857_imap_flood_longer_than_the_buffer_closes)
{
	struct mh h;
	char *s = repeat("a ID ", "(", 20000, "\r\n");

	mh_open_imap(&h, NULL);
	cr_assert_eq(mh_sends(&h, s), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), IMAP_BAD("a"));
	cr_assert_str_eq(h.ctx.reason, "client sent too long command");
	free(s);
	mh_close(&h);
}

Test(cve, cve_2026_42006_imap_brace_floods)
{
	/* Literal lengths that cannot fit or overflow: BAD, the line is done. */
	flood_is_one_bad("a ID ({5000}\r\n", 0);
	flood_is_one_bad("a ID ({4294967296}\r\n", 0);
	flood_is_one_bad("a ID {99999999999999999999999999999999999999}\r\n", 0);
	flood_is_one_bad("a ID ({}\r\n", 0);
	flood_is_one_bad("a ID ({1\r\n", 0);
	char *s = repeat("a ID (", "{1}", 1000, ")\r\n");
	flood_is_one_bad(s, 0);
	free(s);

	/* Synchronizing literals one by one: "+ OK" each, until the command has
	 * more tokens than any valid one (IMAP_TOKENS_MAX): BAD, never more. */
	struct mh h;
	char lit[64];
	int conts = 0;

	mh_open_imap(&h, "      max_errors: 1000\n");
	cr_assert_eq(mh_sends(&h, "a ID ("), PA_AGAIN);
	for (int i = 0; i < 200; i++) {
		snprintf(lit, sizeof(lit), "\"k%d\" {1}\r\n", i);
		enum proto_action a = mh_sends(&h, lit);
		const char *out = mh_out(&h);
		if (a == PA_AGAIN) {
			cr_assert_str_eq(out, "+ OK\r\n");
			conts++;
			cr_assert_eq(mh_sends(&h, "v "), PA_AGAIN);
			continue;
		}
		cr_assert_eq(a, PA_OK);
		cr_assert_str_eq(out, IMAP_BAD("a"));
		break;
	}
	cr_assert_gt(conts, 10);
	cr_assert_lt(conts, IMAP_TOKENS_MAX, "%d literals taken", conts);
	cr_assert_eq(h.ctx.u.imap.p.ntok, 0);
	mh_close(&h);

	/* A bad line that announced a non-synchronizing literal cannot be skipped. */
	mh_open_imap(&h, NULL);
	s = repeat("a ID ((", "\"k\" {1+}\r\nv ", 50, "))\r\n");
	cr_assert_eq(mh_sends(&h, s), PA_CLOSE);
	cr_assert_str_eq(mh_out(&h), IMAP_BAD("a"));
	free(s);
	mh_close(&h);
}

/* ======================================================= CVE-2025-59028 */
/*
 * Invalid base64 in a SASL exchange: the error comes back in the same call
 * (never PA_AGAIN on a complete line, never a login), the machine is back at
 * its start and the next command is served, at every read size.
 */

/* Not base64 by any reading: bad characters, padding in the middle, lengths
 * no encoding has. */
static const char *const garbage[] = {
	"!!!not base64!!!", "====", "Q", "QUFBQ", "Q=Q=", "AGFsaWNl=AGFsaWNlcHc=",
	"\x80\xff\xfe", "QUFB\tQUFB", "QUFB QUFB", "AAAAAAAA!", "*",
};

struct sasl_proto {
	const char *port, *yaml, *start, *prompt, *error, *noop, *noop_reply;
};

static const struct sasl_proto sasl_protos[] = {
	{ "143", NULL, "a AUTHENTICATE PLAIN\r\n", "+ \r\n", IMAP_BAD("a"), "n NOOP\r\n", "n OK completed\r\n" },
	{ "110", NULL, "AUTH PLAIN\r\n", "+ \r\n", POP3_INV, "NOOP\r\n", "+OK\r\n" },
	{ "25", NULL, "AUTH PLAIN\r\n", "334 \r\n", SMTP_INV, "NOOP\r\n", SMTP_OK },
};

static void
garbage_is_refused_at_once(const struct sasl_proto *sp, const char *junk, size_t chunk)
{
	struct mh h;
	char line[4096];

	mh_open(&h, sp->port, NULL, "      max_errors: 1000\n");
	mh_out(&h);
	mh_say(&h, sp->start, sp->prompt);
	h.chunk = chunk;
	snprintf(line, sizeof(line), "%s\r\n", junk);
	mh_expect(&h, line, PA_OK, sp->error);
	cr_assert_eq(h.ctx.state, 0, "%s: back at the start", sp->port);
	cr_assert_eq(h.ctx.sasl, SASL_WAIT_NONE);
	cr_assert_null(h.ctx.cr.login);
	cr_assert_null(h.ctx.cr.passwd);
	cr_assert_eq(buf_len(&h.bout), 0);
	cr_assert_eq(h.ctx.errors, 1);
	mh_expect(&h, sp->noop, PA_OK, sp->noop_reply);
	mh_close(&h);
}

Test(cve, cve_2025_59028_invalid_base64_in_sasl_is_refused_at_once)
{
	static char long_junk[3001];

	memset(long_junk, '*', sizeof(long_junk) - 1);
	for (size_t p = 0; p < sizeof(sasl_protos) / sizeof(sasl_protos[0]); p++) {
		for (size_t g = 0; g < sizeof(garbage) / sizeof(garbage[0]); g++)
			garbage_is_refused_at_once(&sasl_protos[p], garbage[g], 0);
		garbage_is_refused_at_once(&sasl_protos[p], long_junk, 0);
		for (size_t chunk = 1; chunk <= 5; chunk++)
			garbage_is_refused_at_once(&sasl_protos[p], "!!!not base64!!!", chunk);
	}
}

Test(cve, cve_2025_59028_invalid_base64_in_every_sasl_step)
{
	/* LOGIN's user and password steps, CRAM-MD5's answer, EXTERNAL, for IMAP. */
	const char *const starts[] = {
		"a AUTHENTICATE LOGIN\r\n", "a AUTHENTICATE CRAM-MD5\r\n", "a AUTHENTICATE EXTERNAL\r\n",
	};
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		for (size_t g = 0; g < sizeof(garbage) / sizeof(garbage[0]); g++) {
			struct mh h;
			char line[256];

			mh_open_imap(&h, "      imap_auth: [plain, login, cram-md5, external]\n"
			    "      max_errors: 1000\n");
			cr_assert_eq(mh_sends(&h, starts[i]), PA_OK);
			cr_assert(strncmp(mh_out(&h), "+ ", 2) == 0);
			snprintf(line, sizeof(line), "%s\r\n", garbage[g]);
			mh_expect(&h, line, PA_OK, IMAP_BAD("a"));
			cr_assert_eq(h.ctx.state, 0);
			mh_expect(&h, "n NOOP\r\n", PA_OK, "n OK completed\r\n");
			mh_close(&h);
		}
	}
	/* ... and the password step of LOGIN, after a good user name. */
	for (size_t g = 0; g < sizeof(garbage) / sizeof(garbage[0]); g++) {
		struct mh h;
		char line[256];

		mh_open_imap(&h, NULL);
		mh_say(&h, "a AUTHENTICATE LOGIN\r\n", "+ VXNlcm5hbWU6\r\n");
		snprintf(line, sizeof(line), "%s\r\n", mh_b64("alice"));
		mh_say(&h, line, "+ UGFzc3dvcmQ6\r\n");
		snprintf(line, sizeof(line), "%s\r\n", garbage[g]);
		mh_expect(&h, line, PA_OK, IMAP_BAD("a"));
		cr_assert_eq(h.ctx.state, 0);
		mh_close(&h);
	}
}
