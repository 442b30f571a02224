/*
 * loadgen_script.h: part of loadgen.c, included once after its types and
 * globals: what each session sends and what it expects back. build_script()
 * turns --mode, --proto and the credentials into one script per --user (a
 * list of steps: a line to send, the reply that completes the step);
 * on_line() judges each reply line against the session's current step.
 * (The Makefile's bench rule tracks only bench_common.h: after editing this
 * file, touch loadgen.c or remove build/bench/loadgen.)
 */
#ifndef LOADGEN_SCRIPT_H
#define LOADGEN_SCRIPT_H

/* Judges one reply line: 1 step done, 0 keep waiting, -1 unexpected;
 * with --refusals, on the login step, 2 refused, 3 refused temporarily
 * (IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP], SMTP 4xx; auth mode: an
 * Auth-Status other than OK is a refusal). */
static int
on_line(struct sess *s, const char *line, size_t len)
{
	const struct step *st = &script[s->ui][s->step];
	const char *brace;

	if (opt.refusals && (st->flags & F_LOGIN)) {
		if (st->exp == X_TAG && line[0] == st->tag && strncmp(line + 1, " NO", 3) == 0)
			return strstr(line, "[UNAVAILABLE]") ? 3 : 2;
		if (st->exp == X_POP_OK && strncmp(line, "-ERR", 4) == 0)
			return strstr(line, "[SYS/TEMP]") ? 3 : 2;
		if (st->exp == X_SMTP && len >= 3 && (line[0] == '4' || line[0] == '5') &&
		    atoi(line) != st->code)
			return line[3] == '-' ? 0 : line[0] == '4' ? 3 : 2;
		if (st->exp == X_HTTP && strncasecmp(line, "Auth-Status:", 12) == 0 &&
		    strcmp(line + 12 + strspn(line + 12, " \t"), "OK") != 0)
			return 2;
	}
	switch (st->exp) {
	case X_IMAP_GREET:
		return strncmp(line, "* OK", 4) == 0 || strncmp(line, "* PREAUTH", 9) == 0
		    ? 1 : -1;
	case X_CONT:
		return line[0] == '+' ? 1 : line[0] == '*' ? 0 : -1;
	case X_TAG:
		if (len == 0)
			return 0;
		if (line[0] == '*') {	/* untagged; may announce a literal */
			if (line[len - 1] == '}' && (brace = memrchr(line, '{', len)))
				s->raw_left = strtoull(brace + 1, NULL, 10);
			return 0;
		}
		return line[0] == st->tag && strncmp(line + 1, " OK", 3) == 0 ? 1 : -1;
	case X_POP_OK:
		return strncmp(line, "+OK", 3) == 0 ? 1 : -1;
	case X_HTTP:		/* auth_http answer: only Auth-Status counts */
		if (strncasecmp(line, "Auth-Status:", 12) != 0)
			return 0;
		return strcmp(line + 12 + strspn(line + 12, " \t"), "OK") == 0 ? 1 : -1;
	case X_SMTP:
		if (len < 3 || atoi(line) != st->code)
			return -1;
		return line[3] == '-' ? 0 : 1;
	case X_EOF:
		return 0;
	default:
		return 1;
	}
}

static void
add_step(const char *send, int exp, int flags, int code, char tag)
{
	script[build_ui][nsteps++] = (struct step){ send ? strdup(send) : NULL,
	    send ? strlen(send) : 0, exp, flags, code, tag };
}

/* An IMAP astring: s itself when it is an atom, else a quoted string. */
static const char *
imap_astring(const char *s, char *buf, size_t len)
{
	size_t o = 1;
	int atom = *s != '\0';

	for (buf[0] = '"'; *s && o + 3 < len; s++) {
		atom &= (unsigned char)*s > 0x20 && *s != 0x7f && !strchr("(){%*\"\\]", *s);
		if (*s == '"' || *s == '\\')
			buf[o++] = '\\';
		buf[o++] = *s;
	}
	buf[o] = '"';
	buf[o + 1] = '\0';
	if (atom)
		buf[o] = '\0';
	return atom ? buf + 1 : buf;
}

static void
build_script_for(const char *user)
{
	char b[1200], qu[520], qp[520];
	unsigned char plain[520], b64[720];
	size_t ul = strlen(user), pl = strlen(opt.pass);

	if (opt.mode == M_TLS) {	/* handshake, then any greeting line: timed to the greeting */
		add_step(NULL, X_ANY, F_LOGIN, 0, 0);
		return;
	}
	if (opt.mode == M_AUTH) {	/* one auth_http request, as nginx sends it */
		snprintf(b, sizeof b, "GET %s HTTP/1.0\r\nHost: localhost\r\n"
		    "Auth-Method: plain\r\nAuth-User: %s\r\nAuth-Pass: %s\r\n"
		    "Auth-Protocol: %s\r\nAuth-Login-Attempt: 1\r\n"
		    "Client-IP: 127.0.0.1\r\n\r\n", opt.uri, user, opt.pass,
		    proto_name[opt.proto]);
		add_step(b, X_HTTP, F_LOGIN, 0, 0);
		add_step(NULL, X_EOF, 0, 0, 0);
		return;
	}
	if (opt.proto == P_IMAP) {
		add_step(NULL, X_IMAP_GREET, 0, 0, 0);
		if (opt.lplus) {
			snprintf(b, sizeof b, "a LOGIN {%zu+}\r\n%s {%zu+}\r\n%s\r\n",
			    ul, user, pl, opt.pass);
			add_step(b, X_TAG, F_LOGIN, 0, 'a');
		} else if (opt.literal) {
			snprintf(b, sizeof b, "a LOGIN {%zu}\r\n", ul);
			add_step(b, X_CONT, 0, 0, 0);
			snprintf(b, sizeof b, "%s {%zu}\r\n", user, pl);
			add_step(b, X_CONT, 0, 0, 0);
			snprintf(b, sizeof b, "%s\r\n", opt.pass);
			add_step(b, X_TAG, F_LOGIN, 0, 'a');
		} else {
			snprintf(b, sizeof b, "a LOGIN %s %s\r\n", imap_astring(user,
			    qu, sizeof qu), imap_astring(opt.pass, qp, sizeof qp));
			add_step(b, X_TAG, F_LOGIN, 0, 'a');
		}
		if (opt.mode == M_STREAM && opt.upload) {
			snprintf(b, sizeof b, "s XSINK {%lld}\r\n", opt.bytes);
			add_step(b, X_CONT, 0, 0, 0);
			add_step("\r\n", X_TAG, F_UPLOAD, 0, 's');
		} else if (opt.mode == M_STREAM) {
			snprintf(b, sizeof b, "s XSTREAM %lld\r\n", opt.bytes);
			add_step(b, X_TAG, 0, 0, 's');
		}
		add_step("b LOGOUT\r\n", X_TAG, 0, 0, 'b');
	} else if (opt.proto == P_POP3) {
		add_step(NULL, X_POP_OK, 0, 0, 0);
		snprintf(b, sizeof b, "USER %s\r\n", user);
		add_step(b, X_POP_OK, 0, 0, 0);
		snprintf(b, sizeof b, "PASS %s\r\n", opt.pass);
		add_step(b, X_POP_OK, F_LOGIN, 0, 0);
		add_step("QUIT\r\n", X_POP_OK, 0, 0, 0);
	} else {
		add_step(NULL, X_SMTP, 0, 220, 0);
		snprintf(b, sizeof b, "EHLO %s\r\n", opt.ehlo);
		add_step(b, X_SMTP, 0, 250, 0);
		plain[0] = '\0';
		memcpy(plain + 1, user, ul);
		plain[ul + 1] = '\0';
		memcpy(plain + ul + 2, opt.pass, pl);
		EVP_EncodeBlock(b64, plain, (int)(ul + pl + 2));
		snprintf(b, sizeof b, "AUTH PLAIN %s\r\n", (char *)b64);
		add_step(b, X_SMTP, F_LOGIN, 235, 0);
		add_step("QUIT\r\n", X_SMTP, 0, 221, 0);
	}
	add_step(NULL, X_EOF, 0, 0, 0);
}

/* One script per --user, all of the same steps; sessions take them in turn. */
static void
build_script(void)
{
	for (build_ui = 0; build_ui < opt.nusers; build_ui++) {
		nsteps = 0;
		build_script_for(opt.users[build_ui]);
	}
}

#endif /* LOADGEN_SCRIPT_H */
