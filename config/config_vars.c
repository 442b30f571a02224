/*
 * nginx's variable syntax in a value: "$name" (letters, digits, '_') or
 * "${name}" where a letter or digit follows. nginx has no escape for '$';
 * here "$$" is one literal '$' (nginx refuses "$$", so no nginx value
 * changes meaning). A '$' followed by anything else is refused, as nginx
 * refuses it ("invalid variable name").
 */
#include <stdio.h>
#include <string.h>

#include "config/config_vars.h"

static const char *const names[CVAR_COUNT] = {
	[CVAR_REMOTE_ADDR] = "remote_addr",
	[CVAR_REMOTE_PORT] = "remote_port",
	[CVAR_SERVER_ADDR] = "server_addr",
	[CVAR_SERVER_PORT] = "server_port",
	[CVAR_SSL_SERVER_NAME] = "ssl_server_name",
	[CVAR_PROTOCOL] = "protocol",
};

const char *
cvar_name(enum cvar v)
{
	return v >= 0 && v < CVAR_COUNT ? names[v] : "";
}

int
cvalue_uses(const struct cvalue *cv, enum cvar v)
{
	for (size_t i = 0; cv != NULL && i < cv->n; i++)
		if (cv->parts[i].var == (int)v)
			return 1;
	return 0;
}

static int
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_';
}

static int
lookup(const char *name, size_t len)
{
	for (int i = 0; i < CVAR_COUNT; i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return i;
	return -1;
}

int
cvalue_compile(const char *s, struct arena *ar, struct cvalue *out, size_t *errpos,
    char *errbuf, size_t errlen)
{
	size_t slen = strlen(s), dollars = 0, lit = 0;
	char *text;

	for (const char *p = s; (p = strchr(p, '$')) != NULL; p++)
		dollars++;
	/* At most a literal before and after each variable. */
	out->parts = arena_alloc(ar, (2 * dollars + 1) * sizeof(*out->parts));
	text = arena_alloc(ar, slen + 1);
	out->n = 0;
	if (out->parts == NULL || text == NULL) {
		*errpos = 0;
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i <= slen; i++) {
		size_t start, end, next;
		int v;

		if (i < slen && s[i] != '$') {
			text[lit++] = s[i];
			continue;
		}
		if (i + 1 < slen && s[i + 1] == '$') {
			text[lit++] = '$';
			i++;
			continue;
		}
		if (lit > 0) {
			out->parts[out->n++] = (struct cpart){ CVAR_LITERAL, text, lit };
			text += lit;
			lit = 0;
		}
		if (i == slen)
			break;
		*errpos = i;
		if (s[i + 1] == '{') {
			start = i + 2;
			for (end = start; end < slen && name_char(s[end]); end++)
				;
			if (end == slen) {
				snprintf(errbuf, errlen, "\"${\" without its closing \"}\"");
				return -1;
			}
			if (s[end] != '}') {
				snprintf(errbuf, errlen, "invalid character in the variable name "
				    "\"${%.*s\"", (int)(end + 1 - start), s + start);
				return -1;
			}
			next = end + 1;
		} else {
			start = i + 1;
			for (end = start; end < slen && name_char(s[end]); end++)
				;
			next = end;
		}
		if (end == start) {
			snprintf(errbuf, errlen, "a variable name must follow \"$\" (\"$$\" is "
			    "a literal \"$\")");
			return -1;
		}
		if ((v = lookup(s + start, end - start)) < 0) {
			snprintf(errbuf, errlen, "unknown variable \"$%.*s\"", (int)(end - start),
			    s + start);
			return -1;
		}
		out->parts[out->n++] = (struct cpart){ v, NULL, 0 };
		i = next - 1;
	}
	return 0;
}
