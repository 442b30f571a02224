/*
 * nginx's configuration syntax (see config_nginx_parse.h): a lexer that
 * follows ngx_conf_read_token() state for state, and a parser that builds
 * a tree of directives, following includes as ngx_conf_parse() does, with
 * limits nginx lacks (nesting, include depth, files, nodes) so a hostile or
 * looping file gets an answer, not a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "config/config_nginx_parse.h"

static int
ferr(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
ferr(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n = line > 0 ? snprintf(err, errlen, "%s:%d: ", file, line) :
	    snprintf(err, errlen, "%s: ", file);

	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void
ngx_lexer_init(struct ngx_lexer *lx, const char *file, const char *text, size_t len)
{
	lx->file = file;
	lx->p = text;
	lx->end = text + len;
	lx->line = 1;
	lx->start_line = 1;
}

void
ngx_words_free(struct ngx_words *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
	memset(w, 0, sizeof(*w));
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The word in [start, stop) with nginx's escapes undone, appended to w. */
static int
add_word(struct ngx_lexer *lx, struct ngx_words *w, const char *start, const char *stop,
    char *err, size_t errlen)
{
	char *dst, *d;

	if ((size_t)(stop - start) > NGX_TOKEN_MAX)
		return ferr(err, errlen, lx->file, lx->line, "too long parameter \"%.10s...\" started",
		    start);
	if (w->n >= NGX_ARGS_MAX)
		return ferr(err, errlen, lx->file, lx->line, "more than %d parameters", NGX_ARGS_MAX);
	if (memchr(start, '\0', (size_t)(stop - start)) != NULL)
		return ferr(err, errlen, lx->file, lx->line, "a NUL byte in a parameter");
	d = dst = xmalloc((size_t)(stop - start) + 1);
	for (const char *s = start; s < stop;) {
		if (*s == '\\' && s + 1 < stop) {
			switch (s[1]) {
			case '"': case '\'': case '\\':
				s++;
				break;
			case 't': *d++ = '\t'; s += 2; continue;
			case 'r': *d++ = '\r'; s += 2; continue;
			case 'n': *d++ = '\n'; s += 2; continue;
			}
		}
		*d++ = *s++;
	}
	*d = '\0';
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 8;
		w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
	}
	w->v[w->n++] = dst;
	return 0;
}

int
ngx_lex(struct ngx_lexer *lx, struct ngx_words *w, char *err, size_t errlen)
{
	int last_space = 1, need_space = 0, sharp = 0, quoted = 0, sq = 0, dq = 0, variable = 0;
	int quote_line = 0;
	const char *start = lx->p;

	for (size_t i = 0; i < w->n; i++)
		free(w->v[i]);
	w->n = 0;
	for (;;) {
		char ch;

		if (lx->p >= lx->end) {
			if (sq || dq)
				return ferr(err, errlen, lx->file, lx->line,
				    "unexpected end of file in a quoted parameter (opened at line %d)",
				    quote_line);
			if (w->n > 0 || !last_space)
				return ferr(err, errlen, lx->file, lx->line,
				    "unexpected end of file, expecting \";\" or \"}\"");
			return NGX_TOK_EOF;
		}
		ch = *lx->p++;
		if (ch == '\n') {
			lx->line++;
			sharp = 0;
		}
		if (sharp)
			continue;
		if (quoted) {
			quoted = 0;
			continue;
		}
		if (need_space) {
			if (is_blank(ch)) {
				last_space = 1;
				need_space = 0;
				continue;
			}
			if (ch == ';')
				return NGX_TOK_DIRECTIVE;
			if (ch == '{')
				return NGX_TOK_BLOCK;
			if (ch == ')') {
				last_space = 1;
				need_space = 0;
			} else {
				return ferr(err, errlen, lx->file, lx->line, "unexpected \"%c\"", ch);
			}
		}
		if (last_space) {
			start = lx->p - 1;
			if (is_blank(ch))
				continue;
			if (w->n == 0)
				lx->start_line = lx->line;
			switch (ch) {
			case ';':
			case '{':
				if (w->n == 0)
					return ferr(err, errlen, lx->file, lx->line, "unexpected \"%c\"", ch);
				return ch == '{' ? NGX_TOK_BLOCK : NGX_TOK_DIRECTIVE;
			case '}':
				if (w->n != 0)
					return ferr(err, errlen, lx->file, lx->line, "unexpected \"}\"");
				return NGX_TOK_END;
			case '#':
				sharp = 1;
				continue;
			case '\\':
				quoted = 1;
				last_space = 0;
				continue;
			case '"':
			case '\'':
				start++;
				if (ch == '"')
					dq = 1;
				else
					sq = 1;
				quote_line = lx->line;
				last_space = 0;
				continue;
			case '$':
				variable = 1;
				last_space = 0;
				continue;
			default:
				last_space = 0;
			}
		} else {
			int found = 0;

			if (ch == '{' && variable)
				continue;
			variable = 0;
			if (ch == '\\') {
				quoted = 1;
				continue;
			}
			if (ch == '$') {
				variable = 1;
				continue;
			}
			if (dq) {
				if (ch == '"') {
					dq = 0;
					need_space = 1;
					found = 1;
				}
			} else if (sq) {
				if (ch == '\'') {
					sq = 0;
					need_space = 1;
					found = 1;
				}
			} else if (is_blank(ch) || ch == ';' || ch == '{') {
				last_space = 1;
				found = 1;
			}
			if (found) {
				if (add_word(lx, w, start, lx->p - 1, err, errlen) < 0)
					return NGX_TOK_ERROR;
				if (ch == ';')
					return NGX_TOK_DIRECTIVE;
				if (ch == '{')
					return NGX_TOK_BLOCK;
			}
		}
		if (!last_space && (size_t)(lx->p - start) > NGX_TOKEN_MAX + 2)
			return ferr(err, errlen, lx->file, lx->line, "too long parameter \"%.10s...\" started",
			    start);
	}
}

/* ---- the tree ---- */

static int parse_file(struct ngx_conf *nc, struct ngx_node *parent, const char *path,
    const char *from, int from_line, char *err, size_t errlen);

static enum ngx_ctx
child_ctx(enum ngx_ctx ctx, const char *name)
{
	if (ctx == NGX_CTX_MAIN && strcmp(name, "events") == 0)
		return NGX_CTX_EVENTS;
	if (ctx == NGX_CTX_MAIN && strcmp(name, "mail") == 0)
		return NGX_CTX_MAIL;
	if (ctx == NGX_CTX_MAIL && strcmp(name, "server") == 0)
		return NGX_CTX_SERVER;
	return NGX_CTX_SKIP;
}

static struct ngx_node *
add_node(struct ngx_conf *nc, struct ngx_node *parent, struct ngx_lexer *lx,
    struct ngx_words *w, int block, char *err, size_t errlen)
{
	struct ngx_node *n;

	if (++nc->nodes > NGX_NODES_MAX) {
		ferr(err, errlen, lx->file, lx->start_line, "more than %d directives", NGX_NODES_MAX);
		return NULL;
	}
	n = arena_calloc(&nc->arena, sizeof(*n));
	if (n == NULL || (n->args = arena_alloc(&nc->arena, w->n * sizeof(*n->args))) == NULL) {
		ferr(err, errlen, lx->file, lx->start_line, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < w->n; i++)
		if ((n->args[i] = arena_strdup(&nc->arena, w->v[i])) == NULL) {
			ferr(err, errlen, lx->file, lx->start_line, "out of memory");
			return NULL;
		}
	n->nargs = w->n;
	n->file = lx->file;
	n->line = lx->start_line;
	n->block = block;
	n->ctx = block ? child_ctx(parent->ctx, w->v[0]) : NGX_CTX_SKIP;
	if (parent->last != NULL)
		parent->last->next = n;
	else
		parent->kids = n;
	parent->last = n;
	return n;
}

/* include FILE|GLOB, relative to the main file's directory (nginx's conf prefix). */
static int
include(struct ngx_conf *nc, struct ngx_node *parent, struct ngx_lexer *lx,
    const char *arg, char *err, size_t errlen)
{
	char path[4096];
	glob_t g;
	int rc;

	/* Text without a directory (the fuzz harness) reads no file at all. */
	if (nc->dir == NULL)
		return ferr(err, errlen, lx->file, lx->start_line, "include: no directory to read from");
	if (arg[0] == '/')
		rc = snprintf(path, sizeof(path), "%s", arg);
	else
		rc = snprintf(path, sizeof(path), "%s/%s", nc->dir, arg);
	if (rc < 0 || (size_t)rc >= sizeof(path))
		return ferr(err, errlen, lx->file, lx->start_line, "include: path too long");
	if (strpbrk(path, "*?[") == NULL)
		return parse_file(nc, parent, path, lx->file, lx->start_line, err, errlen);
	/* As ngx_open_glob(): no match is no error; the matches in glob's (sorted) order. */
	rc = glob(path, 0, NULL, &g);
	if (rc == GLOB_NOMATCH)
		return 0;
	if (rc != 0)
		return ferr(err, errlen, lx->file, lx->start_line, "include \"%s\": glob failed", path);
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (parse_file(nc, parent, g.gl_pathv[i], lx->file, lx->start_line, err, errlen) < 0) {
			globfree(&g);
			return -1;
		}
	globfree(&g);
	return 0;
}

/* The directives up to the end of the file (block = 0) or the block's '}'. */
static int
parse_block(struct ngx_conf *nc, struct ngx_node *parent, struct ngx_lexer *lx, int block,
    char *err, size_t errlen)
{
	struct ngx_words w = { 0 };
	int rc = -1;

	if (++nc->depth > NGX_DEPTH_MAX) {
		ferr(err, errlen, lx->file, lx->line, "blocks nested deeper than %d", NGX_DEPTH_MAX);
		goto out;
	}
	for (;;) {
		int t = ngx_lex(lx, &w, err, errlen);
		struct ngx_node *n;

		if (t == NGX_TOK_ERROR)
			goto out;
		if (t == NGX_TOK_END) {
			if (!block) {
				ferr(err, errlen, lx->file, lx->line, "unexpected \"}\"");
				goto out;
			}
			break;
		}
		if (t == NGX_TOK_EOF) {
			if (block) {
				ferr(err, errlen, lx->file, lx->line,
				    "unexpected end of file, expecting \"}\"");
				goto out;
			}
			break;
		}
		if (strcmp(w.v[0], "include") == 0 && parent->ctx != NGX_CTX_SKIP) {
			if (t != NGX_TOK_DIRECTIVE || w.n != 2) {
				ferr(err, errlen, lx->file, lx->start_line, t != NGX_TOK_DIRECTIVE ?
				    "directive \"include\" is not terminated by \";\"" :
				    "invalid number of arguments in \"include\" directive");
				goto out;
			}
			if (include(nc, parent, lx, w.v[1], err, errlen) < 0)
				goto out;
			continue;
		}
		if ((n = add_node(nc, parent, lx, &w, t == NGX_TOK_BLOCK, err, errlen)) == NULL)
			goto out;
		if (t == NGX_TOK_BLOCK && parse_block(nc, n, lx, 1, err, errlen) < 0)
			goto out;
	}
	rc = 0;
out:
	nc->depth--;
	ngx_words_free(&w);
	return rc;
}

static int
parse_text(struct ngx_conf *nc, struct ngx_node *parent, const char *name, const char *text,
    size_t len, char *err, size_t errlen)
{
	struct ngx_lexer lx;
	const char *file = arena_strdup(&nc->arena, name);

	if (file == NULL)
		return ferr(err, errlen, name, 0, "out of memory");
	if (++nc->files > NGX_FILES_MAX)
		return ferr(err, errlen, name, 0, "more than %d files included", NGX_FILES_MAX);
	ngx_lexer_init(&lx, file, text, len);
	return parse_block(nc, parent, &lx, 0, err, errlen);
}

static int
parse_file(struct ngx_conf *nc, struct ngx_node *parent, const char *path, const char *from,
    int from_line, char *err, size_t errlen)
{
	struct stat st;
	char *data = NULL;
	size_t got = 0;
	int fd, rc = -1;

	if (nc->incdepth >= NGX_INCLUDE_DEPTH_MAX)
		return ferr(err, errlen, from, from_line, "includes nested deeper than %d (a loop?)",
		    NGX_INCLUDE_DEPTH_MAX);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return ferr(err, errlen, from ? from : path, from_line, "cannot open \"%s\": %s", path,
		    strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ferr(err, errlen, from ? from : path, from_line, "\"%s\" is not a regular file", path);
		goto out;
	}
	if (st.st_size > NGX_FILE_MAX) {
		ferr(err, errlen, from ? from : path, from_line, "\"%s\" is larger than %d MB", path,
		    NGX_FILE_MAX >> 20);
		goto out;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ferr(err, errlen, path, 0, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	nc->incdepth++;
	rc = parse_text(nc, parent, path, data, got, err, errlen);
	nc->incdepth--;
out:
	free(data);
	close(fd);
	return rc;
}

static void
conf_init(struct ngx_conf *nc)
{
	memset(nc, 0, sizeof(*nc));
	arena_init(&nc->arena, 16384);
	nc->root.ctx = NGX_CTX_MAIN;
}

int
ngx_conf_load(struct ngx_conf *nc, const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');

	conf_init(nc);
	if (slash == NULL)
		nc->dir = arena_strdup(&nc->arena, ".");
	else if (slash == path)
		nc->dir = arena_strdup(&nc->arena, "/");
	else
		nc->dir = arena_strndup(&nc->arena, path, (size_t)(slash - path));
	return parse_file(nc, &nc->root, path, NULL, 0, err, errlen);
}

int
ngx_conf_load_text(struct ngx_conf *nc, const char *name, const char *text, size_t len,
    const char *dir, char *err, size_t errlen)
{
	conf_init(nc);
	nc->dir = dir ? arena_strdup(&nc->arena, dir) : NULL;
	return parse_text(nc, &nc->root, name, text, len, err, errlen);
}

void
ngx_conf_free(struct ngx_conf *nc)
{
	arena_free(&nc->arena);
	memset(nc, 0, sizeof(*nc));
}
