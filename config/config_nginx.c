/*
 * nginx configuration -> mailproxy YAML (config_nginx.h). The tree from
 * config_nginx_parse.c is walked context by context; each directive is
 * looked up in THE directive table (config_table.c), so whatever mailproxy
 * knows, including its own directives written in nginx syntax, is carried
 * and nothing else is. Values are written by libyaml's emitter (one line
 * each, quoted where YAML needs it); the layout and the comments are ours,
 * since the emitter writes no comments.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "config/config_int.h"
#include "config/config_nginx.h"
#include "config/config_nginx_parse.h"
#include "config/config_vars.h"

struct strv {
	size_t n, cap;
	char **v;
};

struct entry {
	const char *key;		/* NULL: a comment line */
	const struct directive *d;
	const struct ngx_node *at;	/* the first occurrence */
	int seq;			/* written as a sequence */
	struct strv items;
	char *comment;
};

/* Slots of slot[] past the directives': the events and mail blocks. */
#define SLOT_EVENTS	CONF_DIRECTIVES_MAX
#define SLOT_MAIL	(CONF_DIRECTIVES_MAX + 1)

struct entries {
	size_t n, cap;
	struct entry *v;
	size_t slot[CONF_DIRECTIVES_MAX + 2];	/* 1 + the index in v of each key, 0: none yet */
	size_t nservers, scap;
	const struct ngx_node **servers;	/* mail: the server {} blocks */
};

struct conv {
	struct arena *ar;
	struct buf *out;
	char *err;
	size_t errlen;
};

static int
cerr(struct conv *cv, const struct ngx_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
cerr(struct conv *cv, const struct ngx_node *n, const char *fmt, ...)
{
	va_list ap;
	int k = snprintf(cv->err, cv->errlen, "%s:%d: ", n->file, n->line);

	if (k >= 0 && (size_t)k < cv->errlen) {
		va_start(ap, fmt);
		vsnprintf(cv->err + k, cv->errlen - (size_t)k, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Grows an arena array of elem-sized items to hold one more; NULL when out of memory. */
static void *
grow(struct arena *ar, void *v, size_t n, size_t *cap, size_t elem)
{
	void *nv;

	if (n < *cap)
		return v;
	*cap = *cap ? 2 * *cap : 8;
	if ((nv = arena_alloc(ar, *cap * elem)) == NULL)
		return NULL;
	if (n)
		memcpy(nv, v, n * elem);
	return nv;
}

static int
strv_add(struct conv *cv, struct strv *s, const char *str)
{
	char **v = grow(cv->ar, s->v, s->n, &s->cap, sizeof(*s->v));

	if (v == NULL || (v[s->n] = arena_strdup(cv->ar, str)) == NULL)
		return -1;
	s->v = v;
	s->n++;
	return 0;
}

static struct entry *
entry_add(struct conv *cv, struct entries *e)
{
	struct entry *v = grow(cv->ar, e->v, e->n, &e->cap, sizeof(*e->v));

	if (v == NULL)
		return NULL;
	e->v = v;
	memset(&v[e->n], 0, sizeof(v[e->n]));
	return &v[e->n++];
}

/* Appends s to b as nginx would read it back, on one line (for comments). */
static void
put_word(struct buf *b, const char *s)
{
	int quote = s[0] == '\0' || strpbrk(s, " \t\r\n;{}#\"'\\$") != NULL;

	if (!quote) {
		buf_puts(b, s);
		return;
	}
	buf_puts(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			buf_puts(b, "\\n");
		else if (*p == '\t')
			buf_puts(b, "\\t");
		else if (*p == '\r')
			buf_puts(b, "\\r");
		else if (*p < 0x20 || *p == 0x7f)
			buf_puts(b, "?");
		else
			buf_append(b, p, 1);
	}
	buf_puts(b, "\"");
}

/* "name args [{ ... }]" of n, cut after about 100 bytes. */
static void
put_directive(struct buf *b, const struct ngx_node *n)
{
	size_t start = buf_len(b);

	for (size_t i = 0; i < n->nargs && buf_len(b) - start < 100; i++) {
		if (i)
			buf_puts(b, " ");
		put_word(b, n->args[i]);
	}
	if (buf_len(b) - start > 100) {
		b->w = b->r + start + 100;
		buf_puts(b, "...");
	}
	buf_puts(b, n->block ? " { ... }" : ";");
}

/* A comment must stay one line of valid UTF-8 whatever the file held. */
static void
sanitize(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			*p = '?';
}

static int
add_comment(struct conv *cv, struct entries *e, const struct ngx_node *n, const char *what,
    const char *why)
{
	struct entry *en = entry_add(cv, e);
	struct buf b = { 0 };

	if (en == NULL)
		return cerr(cv, n, "out of memory");
	buf_printf(&b, "%s: %s:%d: ", what, n->file, n->line);
	put_directive(&b, n);
	buf_printf(&b, " (%s)", why);
	buf_append(&b, "", 1);
	sanitize(buf_rptr(&b));
	en->comment = arena_strdup(cv->ar, buf_rptr(&b));
	buf_release(&b);
	return en->comment ? 0 : cerr(cv, n, "out of memory");
}

/* The entry of a key (a directive's index, or SLOT_*), found in constant time. */
static struct entry *
entry_find(struct entries *e, size_t slot)
{
	return e->slot[slot] ? &e->v[e->slot[slot] - 1] : NULL;
}

static struct entry *
entry_add_key(struct conv *cv, struct entries *e, size_t slot, const char *key,
    const struct ngx_node *at)
{
	struct entry *en = entry_add(cv, e);

	if (en == NULL)
		return NULL;
	en->key = key;
	en->at = at;
	e->slot[slot] = e->n;
	return en;
}

/* Directives whose value is one scalar: more arguments are nginx's "invalid number". */
static int
scalar_only(const struct directive *d)
{
	static const char *const custom[] = { "worker_processes", "worker_priority",
		"worker_rlimit_core", "use", "login_limit_zone", "login_limit_log_level", NULL };

	switch (d->type) {
	case DT_FLAG: case DT_MSEC: case DT_SIZE: case DT_NUM: case DT_STR: case DT_PATH:
	case DT_ENUM:
		return 1;
	default:
		break;
	}
	for (size_t i = 0; custom[i]; i++)
		if (strcmp(d->name, custom[i]) == 0)
			return 1;
	return 0;
}

/* REP_FORMAT: log_format's NAME [escape=E] STRING...: nginx glues the strings together. */
enum repeat { REP_NO, REP_JOIN, REP_TAKE1, REP_TAKE2, REP_FORMAT };

/* The directives nginx lets repeat in one context; each occurrence is an item. */
static enum repeat
repeatable(const char *name)
{
	static const struct { const char *name; enum repeat r; } rep[] = {
		{ "listen", REP_JOIN }, { "error_log", REP_JOIN },
		{ "ssl_certificate", REP_TAKE1 }, { "ssl_certificate_key", REP_TAKE1 },
		{ "ssl_session_ticket_key", REP_TAKE1 }, { "set_real_ip_from", REP_TAKE1 },
		{ "login_limit_allow", REP_TAKE1 }, { "env", REP_TAKE1 },
		{ "auth_http_header", REP_TAKE2 }, { "ssl_conf_command", REP_TAKE2 },
		{ "access_log", REP_JOIN }, { "log_format", REP_FORMAT },
	};

	for (size_t i = 0; i < sizeof(rep) / sizeof(rep[0]); i++)
		if (strcmp(rep[i].name, name) == 0)
			return rep[i].r;
	return REP_NO;
}

/*
 * A value of a directive with variables (auth_http_header): nginx sent it
 * verbatim; mailproxy expands the variables it knows. One naming a variable
 * mailproxy does not know is kept verbatim ("$" written "$$"), with a note.
 */
static int
check_vars(struct conv *cv, struct entries *e, const struct ngx_node *n, const char *value,
    char **out)
{
	struct cvalue c;
	struct arena tmp;
	char msg[160];
	size_t pos = 0, nd = 0;
	int rc;

	*out = NULL;
	if (strchr(value, '$') == NULL)
		return 0;
	arena_init(&tmp, 1024);
	rc = cvalue_compile(value, &tmp, &c, &pos, msg, sizeof(msg));
	arena_free(&tmp);
	if (rc == 0)
		return add_comment(cv, e, n, "note", "mailproxy expands the variables in this value; "
		    "nginx sent it verbatim");
	for (const char *p = value; *p; p++)
		nd += *p == '$';
	if ((*out = arena_alloc(cv->ar, strlen(value) + nd + 1)) == NULL)
		return cerr(cv, n, "out of memory");
	char *d = *out;
	for (const char *p = value; *p; p++) {
		if (*p == '$')
			*d++ = '$';
		*d++ = *p;
	}
	*d = '\0';
	return add_comment(cv, e, n, "note", "kept verbatim as nginx sent it (\"$\" written \"$$\"): "
	    "it names no variable mailproxy knows");
}

static int
has_blank(const char *s)
{
	return strpbrk(s, " \t\r\n") != NULL;
}

/* One directive the table knows, allowed in this context, into e. */
static int
add_directive(struct conv *cv, struct entries *e, const struct ngx_node *n,
    const struct directive *d)
{
	enum repeat r = repeatable(d->name);
	size_t slot = directive_index(d);
	struct entry *en = entry_find(e, slot);
	size_t nv = n->nargs - 1;
	char *const *a = n->args + 1;

	if (nv == 0 || (r == REP_TAKE1 && nv != 1) || (r == REP_TAKE2 && nv != 2) ||
	    (r == REP_FORMAT && (nv < 2 || (nv == 2 && strncmp(a[1], "escape=", 7) == 0))) ||
	    (r == REP_NO && scalar_only(d) && nv != 1))
		return cerr(cv, n, "invalid number of arguments in \"%s\" directive", d->name);
	if (en != NULL && r == REP_NO)
		return cerr(cv, n, "\"%s\" directive is duplicate (first at %s:%d)", d->name,
		    en->at->file, en->at->line);
	if (en == NULL) {
		if ((en = entry_add_key(cv, e, slot, d->name, n)) == NULL)
			return cerr(cv, n, "out of memory");
		en->d = d;
	}
	if (r == REP_NO && d->type == DT_STRLIST && nv == 1 && a[0][0] == '\0') {
		/* capabilities "": mailproxy's empty list, which nginx cannot write otherwise. */
		en->seq = 1;
		return 0;
	}
	if (r == REP_NO) {
		en->seq = !(nv == 1 && (scalar_only(d) || !has_blank(a[0])));
		for (size_t i = 0; i < nv; i++)
			if (strv_add(cv, &en->items, a[i]) < 0)
				return cerr(cv, n, "out of memory");
		return 0;
	}
	/* An item of a repeatable directive: its arguments as one "a b c" string. */
	struct buf b = { 0 };
	char *value = NULL;
	/* A lone "access_log off" is mailproxy's scalar off, not a log named "off". */
	en->seq = !(r == REP_JOIN && en->items.n == 0 && nv == 1 && strcmp(a[0], "off") == 0);
	if (r == REP_TAKE2 && (d->flags & DF_VARS) && check_vars(cv, e, n, a[1], &value) < 0)
		return -1;
	if (r == REP_FORMAT) {
		size_t i = strncmp(a[1], "escape=", 7) == 0 ? 2 : 1;
		buf_puts(&b, a[0]);
		if (i == 2)
			buf_printf(&b, " %s", a[1]);
		buf_puts(&b, " ");
		for (; i < nv; i++)
			buf_puts(&b, a[i]);
	} else {
		for (size_t i = 0; i < nv; i++)
			buf_printf(&b, "%s%s", i ? " " : "", i == 1 && value ? value : a[i]);
	}
	buf_append(&b, "", 1);
	/* check_vars() may have moved e->v: find the entry again. */
	en = entry_find(e, slot);
	int rc = strv_add(cv, &en->items, buf_rptr(&b));
	buf_release(&b);
	return rc < 0 ? cerr(cv, n, "out of memory") : 0;
}

static unsigned
table_ctx(enum ngx_ctx c)
{
	switch (c) {
	case NGX_CTX_MAIN: return CTX_MAIN;
	case NGX_CTX_EVENTS: return CTX_EVENTS;
	case NGX_CTX_MAIL: return CTX_MAIL;
	case NGX_CTX_SERVER: return CTX_SERVER;
	default: return 0;
	}
}

/* The directives of one block (ctx) into e: values, comments, the blocks under it. */
static int
collect(struct conv *cv, const struct ngx_node *first, enum ngx_ctx ctx, struct entries *e)
{
	for (const struct ngx_node *n = first; n != NULL; n = n->next) {
		const char *name = n->args[0];
		const struct directive *d;

		if (n->block && n->ctx != NGX_CTX_SKIP) {
			if (n->nargs != 1)
				return cerr(cv, n, "invalid number of arguments in \"%s\" directive", name);
			if (n->ctx == NGX_CTX_SERVER) {
				const struct ngx_node **v = grow(cv->ar, e->servers, e->nservers, &e->scap,
				    sizeof(*e->servers));
				if (v == NULL)
					return cerr(cv, n, "out of memory");
				e->servers = v;
				e->servers[e->nservers++] = n;
				continue;
			}
			size_t slot = n->ctx == NGX_CTX_EVENTS ? SLOT_EVENTS : SLOT_MAIL;
			struct entry *en = entry_find(e, slot);
			if (en != NULL)
				return cerr(cv, n, "\"%s\" directive is duplicate (first at %s:%d)", name,
				    en->at->file, en->at->line);
			if (entry_add_key(cv, e, slot, name, n) == NULL)
				return cerr(cv, n, "out of memory");
			continue;
		}
		if ((ctx == NGX_CTX_MAIN && (strcmp(name, "events") == 0 || strcmp(name, "mail") == 0)) ||
		    (ctx == NGX_CTX_MAIL && strcmp(name, "server") == 0))
			return cerr(cv, n, "directive \"%s\" has no opening \"{\"", name);
		d = directive_find(name);
		if (n->block) {
			if (d != NULL)
				return cerr(cv, n, "directive \"%s\" is not terminated by \";\"", name);
			if (add_comment(cv, e, n, "not carried", "a block mailproxy does not read") < 0)
				return -1;
			continue;
		}
		if (d == NULL || d->type == DT_RENAMED) {
			if (add_comment(cv, e, n, "not carried", d == NULL ? "not a mailproxy directive" :
			    "renamed to pop3_auth in nginx 0.5.15: write that") < 0)
				return -1;
			continue;
		}
		if (!(d->ctx & table_ctx(ctx)))
			return cerr(cv, n, "\"%s\" directive is not allowed here", name);
		if (add_directive(cv, e, n, d) < 0)
			return -1;
	}
	return 0;
}

/* ---- writing ---- */

static int
emit_out(void *data, unsigned char *p, size_t n)
{
	return buf_append(data, p, n) == 0;
}

static int
emit_scalar(yaml_emitter_t *em, const char *s)
{
	yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
	yaml_event_t ev;

	/*
	 * One line each, read back byte for byte: controls, non-ASCII (U+2028
	 * is a line break to YAML) double-quoted; what mailproxy takes for
	 * "nothing" (empty, ~, null) quoted.
	 */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	if (style == YAML_ANY_SCALAR_STYLE &&
	    (s[0] == '\0' || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0))
		style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, style);
	return yaml_emitter_emit(em, &ev);
}

/* Whether s is UTF-8 that YAML can hold (no overlong forms, surrogates or values past U+10FFFF). */
static int
utf8_ok(const unsigned char *s)
{
	while (*s) {
		unsigned cp;
		size_t n;

		if (*s < 0x80) {
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf)
			n = 1, cp = *s & 0x1fu;
		else if (*s >= 0xe0 && *s <= 0xef)
			n = 2, cp = *s & 0x0fu;
		else if (*s >= 0xf0 && *s <= 0xf4)
			n = 3, cp = *s & 0x07u;
		else
			return 0;
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3fu);
		}
		if ((n == 2 && cp < 0x800) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		s += n + 1;
	}
	return 1;
}

/* The value of en, on one line, by libyaml. */
static int
emit_value(struct conv *cv, const struct entry *en)
{
	struct buf b = { 0 };
	yaml_emitter_t em;
	yaml_event_t ev;
	int ok;

	for (size_t i = 0; i < en->items.n; i++)
		if (!utf8_ok((const unsigned char *)en->items.v[i]))
			return cerr(cv, en->at, "\"%s\": a value is not valid UTF-8", en->key);
	if (!yaml_emitter_initialize(&em))
		return cerr(cv, en->at, "out of memory");
	yaml_emitter_set_output(&em, emit_out, &b);
	yaml_emitter_set_width(&em, -1);
	yaml_emitter_set_unicode(&em, 1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = yaml_emitter_emit(&em, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	if (en->seq) {
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
		ok = ok && yaml_emitter_emit(&em, &ev);
	}
	for (size_t i = 0; ok && i < en->items.n; i++)
		ok = emit_scalar(&em, en->items.v[i]);
	if (en->seq && ok) {
		yaml_sequence_end_event_initialize(&ev);
		ok = yaml_emitter_emit(&em, &ev);
	}
	yaml_document_end_event_initialize(&ev, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	yaml_stream_end_event_initialize(&ev);
	ok = ok && yaml_emitter_emit(&em, &ev);
	if (!ok) {
		cerr(cv, en->at, "\"%s\": cannot write the value as YAML (%s)", en->key,
		    em.problem ? em.problem : "libyaml error");
		yaml_emitter_delete(&em);
		buf_release(&b);
		return -1;
	}
	yaml_emitter_delete(&em);
	while (buf_len(&b) > 0 && buf_rptr(&b)[buf_len(&b) - 1] == '\n')
		b.w--;
	ok = memchr(buf_rptr(&b), '\n', buf_len(&b)) == NULL;
	if (ok)
		buf_append(cv->out, buf_rptr(&b), buf_len(&b));
	buf_release(&b);
	return ok ? 0 : cerr(cv, en->at, "\"%s\": cannot write the value on one line", en->key);
}

static int emit_block(struct conv *cv, const struct ngx_node *first, enum ngx_ctx ctx,
    const char *indent, const char *first_indent);

static int
emit_entries(struct conv *cv, const struct entries *e, const char *indent,
    const char *first_indent)
{
	char deeper[64];

	snprintf(deeper, sizeof(deeper), "%s  ", indent);
	for (size_t i = 0; i < e->n; i++) {
		const struct entry *en = &e->v[i];
		const char *in = i == 0 ? first_indent : indent;

		if (en->key == NULL) {
			buf_printf(cv->out, "%s# %s\n", in, en->comment);
			continue;
		}
		buf_printf(cv->out, "%s%s:", in, en->key);
		if (en->d == NULL) {	/* events, mail */
			buf_puts(cv->out, "\n");
			if (emit_block(cv, en->at->kids, en->at->ctx, deeper, deeper) < 0)
				return -1;
			continue;
		}
		buf_puts(cv->out, " ");
		if (emit_value(cv, en) < 0)
			return -1;
		buf_puts(cv->out, "\n");
	}
	if (e->nservers == 0)
		return 0;
	buf_printf(cv->out, "%sservers:\n", e->n ? indent : first_indent);
	char item[64], inner[64];
	snprintf(item, sizeof(item), "%s  - ", indent);
	snprintf(inner, sizeof(inner), "%s    ", indent);
	for (size_t i = 0; i < e->nservers; i++) {
		const struct ngx_node *s = e->servers[i];
		if (s->kids == NULL) {
			/* An empty item: -t tells what it lacks (a listen). */
			buf_printf(cv->out, "%s  -\n", indent);
			continue;
		}
		if (emit_block(cv, s->kids, NGX_CTX_SERVER, inner, item) < 0)
			return -1;
	}
	return 0;
}

static int
emit_block(struct conv *cv, const struct ngx_node *first, enum ngx_ctx ctx, const char *indent,
    const char *first_indent)
{
	struct entries e = { 0 };

	if (collect(cv, first, ctx, &e) < 0)
		return -1;
	/* A server whose first line is a comment: the item starts on its own line. */
	if (e.n > 0 && e.v[0].key == NULL && strcmp(first_indent, indent) != 0) {
		buf_printf(cv->out, "%.*s\n", (int)strcspn(first_indent, "-") + 1, first_indent);
		first_indent = indent;
	}
	if (e.n == 0 && e.nservers == 0 && strcmp(first_indent, indent) != 0)
		buf_printf(cv->out, "%.*s\n", (int)strcspn(first_indent, "-") + 1, first_indent);
	return emit_entries(cv, &e, indent, first_indent);
}

static int
convert(struct ngx_conf *nc, const char *name, struct buf *out, char *err, size_t errlen)
{
	struct conv cv = { .ar = &nc->arena, .out = out, .err = err, .errlen = errlen };
	struct buf h = { 0 };
	size_t start = buf_len(out);

	buf_printf(&h, "%s", name);
	buf_append(&h, "", 1);
	sanitize(buf_rptr(&h));
	buf_printf(out, "# mailproxy configuration converted by \"mailproxy --from-nginx\" from %s\n"
	    "# Relative paths resolve against mailproxy's prefix (-p; default: this file's\n"
	    "# directory), not nginx's: run with -p set to the nginx.conf directory, or move the files.\n",
	    buf_rptr(&h));
	buf_release(&h);
	if (emit_block(&cv, nc->root.kids, NGX_CTX_MAIN, "", "") < 0) {
		out->w = out->r + start;
		return -1;
	}
	return 0;
}

int
config_from_nginx(const char *path, struct buf *out, char *err, size_t errlen)
{
	struct ngx_conf nc;
	int rc = -1;

	err[0] = '\0';
	if (ngx_conf_load(&nc, path, err, errlen) == 0)
		rc = convert(&nc, path, out, err, errlen);
	ngx_conf_free(&nc);
	return rc;
}

int
config_from_nginx_text(const char *name, const char *text, size_t len, const char *dir,
    struct buf *out, char *err, size_t errlen)
{
	struct ngx_conf nc;
	int rc = -1;

	err[0] = '\0';
	if (ngx_conf_load_text(&nc, name, text, len, dir, err, errlen) == 0)
		rc = convert(&nc, name, out, err, errlen);
	ngx_conf_free(&nc);
	return rc;
}
