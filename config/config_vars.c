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
	[CVAR_TIME_LOCAL] = "time_local",
	[CVAR_TIME_ISO8601] = "time_iso8601",
	[CVAR_MSEC] = "msec",
	[CVAR_LOGIN] = "login",
	[CVAR_UPSTREAM_ADDR] = "upstream_addr",
	[CVAR_STATUS] = "status",
	[CVAR_SESSION_TIME] = "session_time",
	[CVAR_AUTH_TIME] = "auth_time",
	[CVAR_UPSTREAM_CONNECT_TIME] = "upstream_connect_time",
	[CVAR_BYTES_RECEIVED] = "bytes_received",
	[CVAR_BYTES_SENT] = "bytes_sent",
	[CVAR_SSL_PROTOCOL] = "ssl_protocol",
	[CVAR_SSL_CIPHER] = "ssl_cipher",
	[CVAR_SSL_SESSION_REUSED] = "ssl_session_reused",
	[CVAR_CONNECTION] = "connection",
	[CVAR_PID] = "pid",
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
lookup(const char *name, size_t len, int nvars)
{
	for (int i = 0; i < nvars; i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return i;
	return -1;
}

static int
compile(const char *s, int nvars, struct arena *ar, struct cvalue *out, size_t *errpos,
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
		if ((v = lookup(s + start, end - start, nvars)) < 0) {
			snprintf(errbuf, errlen, "unknown variable \"$%.*s\"%s", (int)(end - start),
			    s + start, lookup(s + start, end - start, CVAR_COUNT) >= 0 ?
			    " (only log_format has it)" : "");
			return -1;
		}
		out->parts[out->n++] = (struct cpart){ v, NULL, 0 };
		i = next - 1;
	}
	return 0;
}

int
cvalue_compile(const char *s, struct arena *ar, struct cvalue *out, size_t *errpos,
    char *errbuf, size_t errlen)
{
	return compile(s, CVAR_HEADER_COUNT, ar, out, errpos, errbuf, errlen);
}

int
cvalue_compile_log(const char *s, struct arena *ar, struct cvalue *out, size_t *errpos,
    char *errbuf, size_t errlen)
{
	return compile(s, CVAR_COUNT, ar, out, errpos, errbuf, errlen);
}

static const char *const esc_names[] = { "default", "json", "none" };

int
cesc_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, esc_names[i]) == 0)
			return i;
	return -1;
}

const char *
cesc_name(int esc)
{
	return esc >= 0 && esc < 3 ? esc_names[esc] : "";
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if there is none. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned min;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, min = 0x80;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	unsigned cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

struct out {
	char *p;
	size_t len, cap;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
put_escaped(struct out *o, const char *v, int esc)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)v;
	size_t n = strlen(v);

	for (size_t i = 0; i < n && o->len < o->cap; i++) {
		unsigned char c = p[i];
		char e[6];

		if (esc == CESC_JSON) {
			size_t u = utf8_len(p + i, n - i);
			if (u > 1 || (u == 1 && c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)) {
				put(o, v + i, u);
				i += u - 1;
				continue;
			}
			if (c == '"' || c == '\\') {
				put(o, (const char[]){ '\\', (char)c }, 2);
				continue;
			}
			const char *short_form = c == '\n' ? "\\n" : c == '\r' ? "\\r" :
			    c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
			if (short_form != NULL) {
				put(o, short_form, 2);
				continue;
			}
			put(o, "\\u00", 4);
			put(o, (const char[]){ hex[c >> 4], hex[c & 15] }, 2);
			continue;
		}
		if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
			e[0] = '\\', e[1] = 'x', e[2] = hex[c >> 4], e[3] = hex[c & 15];
			put(o, e, 4);
			continue;
		}
		put(o, v + i, 1);
	}
}

size_t
cvalue_render(const struct cvalue *cv, int esc, const char *const vals[CVAR_COUNT],
    char *out, size_t cap)
{
	struct out o = { out, 0, cap };

	for (size_t i = 0; cv != NULL && i < cv->n; i++) {
		const struct cpart *c = &cv->parts[i];
		const char *v;

		if (c->var == CVAR_LITERAL) {
			put(&o, c->text, c->len);
			continue;
		}
		v = c->var >= 0 && c->var < CVAR_COUNT ? vals[c->var] : NULL;
		if (v == NULL || v[0] == '\0') {
			if (esc != CESC_JSON)
				put(&o, "-", 1);
		} else if (esc == CESC_NONE) {
			put(&o, v, strlen(v));
		} else {
			put_escaped(&o, v, esc);
		}
	}
	return o.len;
}
