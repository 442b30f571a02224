/*
 * log_format and access_log, nginx stream's access log in YAML: formats are
 * compiled here (config_vars.c) so a worker only fills values in; an
 * access_log names its format, resolved by config_log_check() once every
 * format of the file is known. The master opens the targets (cycle.c), the
 * worker writes the lines (worker/session/session_log.c).
 */
#include <stdio.h>
#include <string.h>

#include "config/config_custom.h"
#include "config/config_int.h"
#include "config/config_log.h"
#include "config/config_vars.h"

const char *const log_format_default_text =
    "$remote_addr:$remote_port [$time_local] $protocol \"$login\" $status "
    "$bytes_received $bytes_sent $session_time \"$upstream_addr\"";

#define ACCESS_LOG_BUFFER_DEFAULT (64 * 1024)	/* nginx's, when only flush= is given */
#define ACCESS_LOG_BUFFER_MAX (16 * 1024 * 1024)

/* An error at offset off of the scalar vn (exact for a one-line scalar without escapes). */
static int
lerr_at(struct loader *ld, const struct ynode *vn, size_t off, const char *key, const char *what,
    const char *msg)
{
	struct ynode at = *vn;

	at.col += (vn->plain ? 0 : 1) + (int)off;
	return lerr(ld, &at, key, "%s: %s", what, msg);
}

/* Compiles text, which starts at offset off of the scalar vn (for the error's column). */
static int
compile_at(struct loader *ld, const struct ynode *vn, const char *text, size_t off,
    const char *key, const char *what, const struct cvalue **out)
{
	struct cvalue *cv = arena_calloc(&ld->cf->arena, sizeof(*cv));
	char msg[160];
	size_t pos = 0;

	if (cv == NULL)
		return lerr(ld, vn, key, "out of memory");
	if (cvalue_compile_log(text, &ld->cf->arena, cv, &pos, msg, sizeof(msg)) < 0) {
		return lerr_at(ld, vn, off + pos, key, what, msg);
	}
	*out = cv;
	return 0;
}

static int
valid_name(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

/*
 * One format: name, and text that may start with "escape=X " (nginx's
 * order). vn is the scalar the text is in, for error columns.
 */
static int
add_format(struct loader *ld, const struct directive *d, struct log_format_list *fl,
    const struct ynode *at, const char *name, size_t nlen, const struct ynode *vn,
    const char *text)
{
	struct arena *ar = &ld->cf->arena;
	struct log_format *f;
	int esc = CESC_DEFAULT;

	if (!valid_name(name, nlen))
		return lerr(ld, at, d->name, "invalid format name \"%.*s\" (letters, digits, '_', "
		    "'-' and '.', at most 64)", (int)(nlen > 80 ? 80 : nlen), name);
	if (nlen == strlen(LOG_FORMAT_DEFAULT) && memcmp(name, LOG_FORMAT_DEFAULT, nlen) == 0)
		return lerr(ld, at, d->name, "\"%s\" is the predefined format and cannot be redefined",
		    LOG_FORMAT_DEFAULT);
	for (size_t i = 0; i < fl->n; i++)
		if (strlen(fl->v[i].name) == nlen && memcmp(fl->v[i].name, name, nlen) == 0)
			return lerr(ld, at, d->name, "duplicate format name \"%.*s\"", (int)nlen, name);
	if (strncmp(text, "escape=", 7) == 0) {
		size_t w = strcspn(text + 7, " \t");
		char word[16];

		snprintf(word, sizeof(word), "%.*s", (int)(w < 15 ? w : 15), text + 7);
		if (w >= sizeof(word) || (esc = cesc_parse(word)) < 0)
			return lerr(ld, at, d->name, "unknown escape \"%.*s\" (expected default, json or "
			    "none)", (int)(w > 40 ? 40 : w), text + 7);
		text += 7 + w;
		text += strspn(text, " \t");
	}
	if (*text == '\0')
		return lerr(ld, at, d->name, "format \"%.*s\" has no text", (int)nlen, name);
	f = &fl->v[fl->n];
	f->name = arena_strndup(ar, name, nlen);
	f->text = arena_strdup(ar, text);
	f->escape = esc;
	if (f->name == NULL || f->text == NULL)
		return lerr(ld, at, d->name, "out of memory");
	/* text is inside the scalar vn, or joined pieces (each checked alone before). */
	size_t off = text >= vn->str && text <= vn->str + vn->len ? (size_t)(text - vn->str) : 0;
	if (compile_at(ld, vn, text, off, d->name, f->name, &f->cv) < 0)
		return -1;
	fl->n++;
	return 0;
}

/* A mapping value: a scalar, or a sequence of scalars joined as nginx joins its strings. */
static const char *
join_value(struct loader *ld, const struct directive *d, const struct ynode *v,
    const struct ynode **vn)
{
	struct buf b = { 0 };
	char *s;

	*vn = v;
	if (v->type == YN_SCALAR)
		return v->str;
	if (v->type != YN_SEQ || v->n == 0) {
		lerr(ld, v, d->name, "expected the format as a string or a sequence of strings");
		return NULL;
	}
	for (size_t i = 0; i < v->n; i++) {
		if (v->kids[i]->type != YN_SCALAR) {
			buf_release(&b);
			lerr(ld, v->kids[i], d->name, "expected a string");
			return NULL;
		}
		/* Each piece alone first: an error then names its own column. */
		const struct cvalue *cv;
		if (compile_at(ld, v->kids[i], v->kids[i]->str, 0, d->name, "format", &cv) < 0) {
			buf_release(&b);
			return NULL;
		}
		buf_puts(&b, v->kids[i]->str);
	}
	s = arena_strndup(&ld->cf->arena, buf_rptr(&b), buf_len(&b));
	buf_release(&b);
	if (s == NULL)
		lerr(ld, v, d->name, "out of memory");
	*vn = v->kids[0];
	return s;
}

int
set_log_format(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct log_format_list *fl = field;
	size_t n = val->type == YN_MAP ? val->n / 2 : val->type == YN_SEQ ? val->n : 1;

	fl->n = 0;
	fl->v = arena_calloc(&ld->cf->arena, (n ? n : 1) * sizeof(*fl->v));
	if (fl->v == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct ynode *it, *vn;
		const char *text;

		if (val->type == YN_MAP) {
			it = val->kids[2 * i];
			if ((text = join_value(ld, d, val->kids[2 * i + 1], &vn)) == NULL)
				return -1;
			if (add_format(ld, d, fl, it, it->str, it->len, vn, text) < 0)
				return -1;
			continue;
		}
		it = val->type == YN_SEQ ? val->kids[i] : val;
		if (it->type != YN_SCALAR)
			return lerr(ld, it, d->name, "expected \"name [escape=...] format\"");
		size_t nlen = strcspn(it->str, " \t");
		text = it->str + nlen + strspn(it->str + nlen, " \t");
		if (add_format(ld, d, fl, it, it->str, nlen, it, text) < 0)
			return -1;
	}
	return 0;
}

void
print_log_format(const struct directive *d, const void *field, struct buf *out)
{
	const struct log_format_list *fl = field;

	(void)d;
	buf_puts(out, "{");
	for (size_t i = 0; i < fl->n; i++) {
		buf_puts(out, i ? ", " : "");
		print_quoted(out, fl->v[i].name);
		buf_puts(out, ": ");
		if (fl->v[i].escape != CESC_DEFAULT)
			print_quotedf(out, "escape=%s %s", cesc_name(fl->v[i].escape), fl->v[i].text);
		else
			print_quoted(out, fl->v[i].text);
	}
	buf_puts(out, "}");
}

/* One access_log item: PATH [FORMAT] [buffer=SIZE] [flush=TIME] [if=CONDITION]. */
static int
parse_entry(struct loader *ld, const struct directive *d, const struct ynode *it,
    struct access_log_entry *e)
{
	struct arena *ar = &ld->cf->arena;
	struct args a;
	int has_buffer = 0;

	if (it->type != YN_SCALAR)
		return lerr(ld, it, d->name, "expected \"path [format [buffer=size] [flush=time] "
		    "[if=condition]]\"");
	if (get_args(ld, d, it, &a) < 0)
		return -1;
	memset(e, 0, sizeof(*e));
	e->line = it->line;
	e->col = it->col;
	if (strcmp(a.v[0], "off") == 0)
		return lerr(ld, it, d->name, "\"off\" cannot be one of several logs");
	if (strncmp(a.v[0], "syslog:", 7) == 0 && strstr(a.v[0], "server=") == NULL)
		return lerr(ld, it, d->name, "syslog target needs server=ADDR, got \"%s\"", a.v[0]);
	if (strncmp(a.v[0], "memory:", 7) == 0)
		return lerr(ld, it, d->name, "memory: logs are not supported");
	e->target = arena_strdup(ar, a.v[0]);
	e->format_name = LOG_FORMAT_DEFAULT;
	for (size_t i = 1; i < a.n; i++) {
		const char *v = a.v[i];
		if (i == 1 && strchr(v, '=') == NULL) {
			e->format_name = arena_strdup(ar, v);
		} else if (strncmp(v, "buffer=", 7) == 0) {
			if (parse_size(v + 7, &e->buffer) < 0 || e->buffer == 0 ||
			    e->buffer > ACCESS_LOG_BUFFER_MAX)
				return lerr(ld, it, d->name, "invalid buffer size \"%s\" (1 to 16m)", v + 7);
			has_buffer = 1;
		} else if (strncmp(v, "flush=", 6) == 0) {
			if (parse_msec(v + 6, &e->flush) < 0 || e->flush == 0)
				return lerr(ld, it, d->name, "invalid flush time \"%s\"", v + 6);
		} else if (strncmp(v, "if=", 3) == 0) {
			if (v[3] == '\0')
				return lerr(ld, it, d->name, "if= needs a condition");
			const char *at = strstr(it->str, v);
			e->cond_text = arena_strdup(ar, v + 3);
			if (e->cond_text == NULL ||
			    compile_at(ld, it, e->cond_text, at ? (size_t)(at - it->str) + 3 : 0, d->name,
			    "if", &e->cond) < 0)
				return -1;
		} else if (strncmp(v, "gzip", 4) == 0) {
			return lerr(ld, it, d->name, "gzip is not supported");
		} else {
			return lerr(ld, it, d->name, "unknown parameter \"%s\" (expected buffer=, flush= "
			    "or if=)", v);
		}
	}
	if (e->target == NULL || e->format_name == NULL)
		return lerr(ld, it, d->name, "out of memory");
	if (strncmp(e->target, "syslog:", 7) == 0 && (has_buffer || e->flush))
		return lerr(ld, it, d->name, "buffer= and flush= are not supported with syslog");
	if (e->flush && !has_buffer)
		e->buffer = ACCESS_LOG_BUFFER_DEFAULT;
	return 0;
}

int
set_access_log(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct access_log_conf *al = field;
	size_t n = val->type == YN_SEQ ? val->n : 1;
	int off;

	al->n = 0;
	al->v = NULL;
	if (val->type == YN_SCALAR && parse_flag(val->str, &off) == 0 && !off)
		return 0;
	if (val->type == YN_MAP || n == 0)
		return lerr(ld, val, d->name, "expected \"path [format ...]\", a sequence of them, or off");
	if (n > ACCESS_LOG_MAX)
		return lerr(ld, val, d->name, "at most %d logs", ACCESS_LOG_MAX);
	al->v = arena_calloc(&ld->cf->arena, n * sizeof(*al->v));
	if (al->v == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (parse_entry(ld, d, val->type == YN_SEQ ? val->kids[i] : val, &al->v[i]) < 0)
			return -1;
		al->n++;
	}
	return 0;
}

void
print_access_log(const struct directive *d, const void *field, struct buf *out)
{
	const struct access_log_conf *al = field;

	(void)d;
	if (al->n == 0) {
		buf_puts(out, "off");
		return;
	}
	buf_puts(out, "[");
	for (size_t i = 0; i < al->n; i++) {
		const struct access_log_entry *e = &al->v[i];
		struct buf b = { 0 };

		buf_printf(&b, "%s %s", e->target, e->format_name);
		if (e->buffer)
			buf_printf(&b, " buffer=%zu", e->buffer);
		if (e->flush)
			buf_printf(&b, " flush=%llums", (unsigned long long)e->flush);
		if (e->cond_text)
			buf_printf(&b, " if=%s", e->cond_text);
		buf_puts(out, i ? ", " : "");
		print_quotedf(out, "%.*s", (int)buf_len(&b), buf_rptr(&b));
		buf_release(&b);
	}
	buf_puts(out, "]");
}

static const struct log_format *
find_format(const struct log_format_list *fl, const char *name)
{
	for (size_t i = 0; i < fl->n; i++)
		if (strcmp(fl->v[i].name, name) == 0)
			return &fl->v[i];
	return NULL;
}

static int
resolve(struct loader *ld, struct access_log_conf *al, const struct log_format *dflt)
{
	const struct log_format_list *fl = &ld->cf->mail.log_format;

	for (size_t i = 0; i < al->n; i++) {
		struct access_log_entry *e = &al->v[i];
		if (strcmp(e->format_name, LOG_FORMAT_DEFAULT) == 0)
			e->format = dflt;
		else if ((e->format = find_format(fl, e->format_name)) == NULL) {
			struct ynode at = { .line = e->line, .col = e->col };
			return lerr(ld, &at, "access_log", "unknown log format \"%s\"", e->format_name);
		}
	}
	return 0;
}

int
config_log_check(struct loader *ld)
{
	struct config *cf = ld->cf;
	struct log_format *dflt = arena_calloc(&cf->arena, sizeof(*dflt));
	struct cvalue *cv = arena_calloc(&cf->arena, sizeof(*cv));
	char msg[160];
	size_t pos;

	if (dflt == NULL || cv == NULL ||
	    cvalue_compile_log(log_format_default_text, &cf->arena, cv, &pos, msg, sizeof(msg)) < 0)
		return lerr(ld, NULL, "log_format", "cannot compile the predefined format");
	dflt->name = LOG_FORMAT_DEFAULT;
	dflt->text = (char *)log_format_default_text;
	dflt->cv = cv;
	if (resolve(ld, &cf->mail.access_log, dflt) < 0)
		return -1;
	for (size_t i = 0; i < cf->nservers; i++)
		if (resolve(ld, &cf->servers[i].access_log, dflt) < 0)
			return -1;
	return 0;
}
