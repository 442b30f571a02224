/*
 * What the protocol machines share: credentials handling, the salt, and the
 * canned replies (greeting, CAPABILITY/CAPA/EHLO variants) composed once
 * per server exactly as nginx composes them at configuration time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "worker/proto/proto.h"
#include "worker/proto/sieve_parse.h"

void
creds_drop(char **field)
{
	if (*field != NULL) {
		memset(*field, 0, strlen(*field));
		free(*field);
		*field = NULL;
	}
}

void
creds_clear(struct creds *cr)
{
	char **fields[] = { &cr->login, &cr->passwd, &cr->salt, &cr->helo, &cr->from, &cr->to };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		creds_drop(fields[i]);
	cr->method = 0;
}

void
creds_forget_login(struct creds *cr)
{
	creds_drop(&cr->login);
	creds_drop(&cr->passwd);
	cr->method = 0;
}

int
creds_set(char **dst, const char *s, size_t n)
{
	char *p;

	for (size_t i = 0; i < n; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return -1;
	p = malloc(n + 1);
	if (p == NULL)
		return -2;
	memcpy(p, s, n);
	p[n] = '\0';
	if (*dst != NULL) {
		memset(*dst, 0, strlen(*dst));
		free(*dst);
	}
	*dst = p;
	return 0;
}

const struct proto *
proto_for(enum mail_proto p)
{
	switch (p) {
	case MP_PROTO_IMAP: return &imap_proto;
	case MP_PROTO_POP3: return &pop3_proto;
	case MP_PROTO_SMTP: return &smtp_proto;
	case MP_PROTO_SIEVE: return &sieve_proto;
	default: return NULL;
	}
}

char *
proto_make_salt(const struct srv_conf *conf)
{
	unsigned int r = 0;
	char buf[512];

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (unsigned int)rand();
	snprintf(buf, sizeof(buf), "<%u.%lld@%s>", r, (long long)time(NULL), conf->server_name.v[0]);
	return strdup(buf);
}

/* Mechanism names in nginx's order; "" where a protocol has no SASL name. */
/* cap is in list, in any case. */
static int
has_cap(const struct strlist *list, const char *cap)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcasecmp(list->v[i], cap) == 0)
			return 1;
	return 0;
}

static const struct {
	unsigned bit;
	const char *imap, *pop3, *smtp;
} mechs[] = {
	{ AUTHM_PLAIN, "AUTH=PLAIN", "PLAIN", "PLAIN" },
	{ AUTHM_LOGIN, "AUTH=LOGIN", "LOGIN", "LOGIN" },
	{ AUTHM_APOP, "", "", "" },
	{ AUTHM_CRAM_MD5, "AUTH=CRAM-MD5", "CRAM-MD5", "CRAM-MD5" },
	{ AUTHM_EXTERNAL, "AUTH=EXTERNAL", "EXTERNAL", "EXTERNAL" },
	{ AUTHM_NONE, "", "", "" },
	{ AUTHM_OAUTHBEARER, "AUTH=OAUTHBEARER", "OAUTHBEARER", "OAUTHBEARER" },
	{ AUTHM_XOAUTH2, "AUTH=XOAUTH2", "XOAUTH2", "XOAUTH2" },
};

static char *
finish(struct buf *b)
{
	char *s;

	if (buf_append(b, "", 1) < 0) {
		buf_release(b);
		return NULL;
	}
	s = b->data;
	b->data = NULL;
	buf_release(b);
	return s;
}

static void
build_imap(const struct srv_conf *c, struct proto_rt *rt)
{
	struct buf base = { 0 }, b = { 0 };

	rt->greeting = strdup("* OK IMAP4 ready\r\n");
	buf_puts(&base, "* CAPABILITY");
	for (size_t i = 0; i < c->imap_capabilities.n; i++)
		buf_printf(&base, " %s", c->imap_capabilities.v[i]);

	buf_append(&b, base.data, buf_len(&base));
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if ((c->imap_auth & mechs[i].bit) && mechs[i].imap[0])
			buf_printf(&b, " %s", mechs[i].imap);
	char *with_auth = finish(&b);

	if (with_auth == NULL) {
		buf_release(&base);
		return;		/* proto_rt_build() sees the missing replies */
	}
	buf_printf(&b, "%s\r\n", with_auth);
	rt->caps_plain = finish(&b);
	buf_printf(&b, "%s STARTTLS\r\n", with_auth);
	rt->caps_starttls = finish(&b);
	buf_append(&b, base.data, buf_len(&base));
	buf_puts(&b, " STARTTLS LOGINDISABLED\r\n");
	rt->caps_starttls_only = finish(&b);
	free(with_auth);
	buf_release(&base);
}

static void
build_pop3(const struct srv_conf *c, struct proto_rt *rt)
{
	struct buf b = { 0 };
	unsigned auth = c->pop3_auth;
	int sasl = 0;

	/* pop3_auth plain enables AUTH LOGIN as well (nginx). */
	if (auth & AUTHM_PLAIN)
		auth |= AUTHM_LOGIN;
	rt->greeting = strdup("+OK POP3 ready");

	/* caps_plain: the list without the final ".", the variants add their tail. */
	for (int variant = 0; variant < 3; variant++) {
		buf_puts(&b, "+OK Capability list follows\r\n");
		for (size_t i = 0; i < c->pop3_capabilities.n; i++) {
			if (variant == 2 && strcmp(c->pop3_capabilities.v[i], "USER") == 0)
				continue;
			buf_printf(&b, "%s\r\n", c->pop3_capabilities.v[i]);
		}
		/* Login limits answer [SYS/TEMP]: say that response codes come (RFC 2449). */
		if (config_login_limited(c) && !has_cap(&c->pop3_capabilities, "RESP-CODES"))
			buf_puts(&b, "RESP-CODES\r\n");
		if (variant < 2) {
			struct buf s = { 0 };
			sasl = 0;
			buf_puts(&s, "SASL");
			for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
				if ((auth & mechs[i].bit) && mechs[i].pop3[0]) {
					buf_printf(&s, " %s", mechs[i].pop3);
					sasl = 1;
				}
			if (sasl)
				buf_printf(&b, "%.*s\r\n", (int)buf_len(&s), s.data);
			buf_release(&s);
		}
		if (variant >= 1)
			buf_puts(&b, "STLS\r\n");
		buf_puts(&b, ".\r\n");
		if (variant == 0)
			rt->caps_plain = finish(&b);
		else if (variant == 1)
			rt->caps_starttls = finish(&b);
		else
			rt->caps_starttls_only = finish(&b);
	}

	buf_puts(&b, "+OK methods supported:\r\n");
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if ((auth & mechs[i].bit) && mechs[i].pop3[0])
			buf_printf(&b, "%s\r\n", mechs[i].pop3);
	buf_puts(&b, ".\r\n");
	rt->auth_list = finish(&b);
}

/* EHLO reply lines; the last line gets "250 ", the others "250-". */
static char *
ehlo_reply(const struct srv_conf *c, int with_auth, int with_starttls)
{
	struct buf b = { 0 }, mech = { 0 };
	const char *lines[256];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if ((c->smtp_auth & mechs[i].bit) && mechs[i].smtp[0])
			buf_printf(&mech, " %s", mechs[i].smtp);
	buf_append(&mech, "", 1);
	lines[n++] = c->server_name.v[0];
	for (size_t i = 0; i < c->smtp_capabilities.n && n < 250; i++)
		lines[n++] = c->smtp_capabilities.v[i];
	char *auth_line = NULL;
	if (with_auth && mech.data[0] != '\0') {
		size_t l = strlen(mech.data) + 5;
		auth_line = malloc(l);
		if (auth_line != NULL) {
			snprintf(auth_line, l, "AUTH%s", mech.data);
			lines[n++] = auth_line;
		}
	}
	if (with_starttls)
		lines[n++] = "STARTTLS";
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "250%c%s\r\n", i + 1 == n ? ' ' : '-', lines[i]);
	free(auth_line);
	buf_release(&mech);
	return finish(&b);
}

static void
build_smtp(const struct srv_conf *c, struct proto_rt *rt)
{
	struct buf b = { 0 };

	buf_printf(&b, "220 %s ESMTP ready\r\n", c->server_name.v[0]);
	rt->greeting = finish(&b);
	rt->caps_plain = ehlo_reply(c, 1, 0);
	rt->caps_starttls = ehlo_reply(c, 1, 1);
	rt->caps_starttls_only = ehlo_reply(c, 0, 1);
	buf_printf(&b, "250 %s\r\n", c->server_name.v[0]);
	rt->auth_list = finish(&b);	/* the HELO reply */
}

/*
 * The capability block of RFC 5804 1.7, one "NAME" ["value"] line each:
 * the configured lines, with SASL and STARTTLS (as the variant has them)
 * before VERSION, where Dovecot puts them. mechs == NULL: no SASL line;
 * "": an empty one, as before STARTTLS with starttls only (1.7 allows it).
 */
static char *
sieve_caps(const struct srv_conf *c, const char *mechs, int starttls)
{
	struct buf b = { 0 };
	int added = 0;

	for (size_t i = 0; i <= c->sieve_capabilities.n; i++) {
		const char *line = i < c->sieve_capabilities.n ? c->sieve_capabilities.v[i] : NULL;
		if (!added && (line == NULL || strncasecmp(line, "VERSION", 7) == 0)) {
			if (mechs != NULL)
				buf_printf(&b, "\"SASL\" \"%s\"\r\n", mechs);
			if (starttls)
				buf_puts(&b, "\"STARTTLS\"\r\n");
			added = 1;
		}
		if (line == NULL)
			break;
		const char *sp = strchr(line, ' ');
		sieve_put_quoted(&b, line, sp ? (size_t)(sp - line) : strlen(line));
		if (sp != NULL) {
			buf_puts(&b, " ");
			sieve_put_quoted(&b, sp + 1, strlen(sp + 1));
		}
		buf_puts(&b, "\r\n");
	}
	return finish(&b);
}

static void
build_sieve(const struct srv_conf *c, struct proto_rt *rt)
{
	static const struct { unsigned bit; const char *name; } sm[] = {
		{ AUTHM_PLAIN, "PLAIN" }, { AUTHM_LOGIN, "LOGIN" },
		{ AUTHM_OAUTHBEARER, "OAUTHBEARER" }, { AUTHM_XOAUTH2, "XOAUTH2" },
	};
	struct buf m = { 0 };

	for (size_t i = 0; i < sizeof(sm) / sizeof(sm[0]); i++)
		if (c->sieve_auth & sm[i].bit)
			buf_printf(&m, "%s%s", buf_len(&m) ? " " : "", sm[i].name);
	char *mechs = finish(&m);
	if (mechs == NULL)
		return;
	rt->greeting = strdup("OK \"ManageSieve ready.\"\r\n");
	rt->caps_plain = sieve_caps(c, mechs, 0);
	rt->caps_starttls = sieve_caps(c, mechs, 1);
	rt->caps_starttls_only = sieve_caps(c, "", 1);
	free(mechs);
}

struct proto_rt *
proto_rt_build(const struct config *cf)
{
	struct proto_rt *rt = calloc(cf->nservers ? cf->nservers : 1, sizeof(*rt));

	if (rt == NULL)
		return NULL;
	for (size_t i = 0; i < cf->nservers; i++) {
		const struct srv_conf *c = &cf->servers[i];
		if (c->protocol == MP_PROTO_IMAP)
			build_imap(c, &rt[i]);
		else if (c->protocol == MP_PROTO_POP3)
			build_pop3(c, &rt[i]);
		else if (c->protocol == MP_PROTO_SIEVE)
			build_sieve(c, &rt[i]);
		else
			build_smtp(c, &rt[i]);
		if (rt[i].greeting == NULL || rt[i].caps_plain == NULL ||
		    rt[i].caps_starttls == NULL || rt[i].caps_starttls_only == NULL ||
		    ((c->protocol == MP_PROTO_POP3 || c->protocol == MP_PROTO_SMTP) &&
		    rt[i].auth_list == NULL)) {
			proto_rt_free(rt, i + 1);
			return NULL;
		}
	}
	return rt;
}

void
proto_rt_free(struct proto_rt *rt, size_t n)
{
	if (rt == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rt[i].greeting);
		free(rt[i].caps_plain);
		free(rt[i].caps_starttls);
		free(rt[i].caps_starttls_only);
		free(rt[i].auth_list);
	}
	free(rt);
}
