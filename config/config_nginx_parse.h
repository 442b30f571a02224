/*
 * Reading an nginx configuration as nginx does (ngx_conf_file.c): words
 * split on blanks, ';' ends a directive, '{' opens a block and '}' closes
 * it, '#' starts a comment at the beginning of a word, "..." and '...'
 * quote, a backslash escapes (\" \' \\ kept, \n \r \t translated), "${"
 * stays inside a word. "include" is followed, with a glob, relative to the
 * main file's directory, in the contexts mailproxy carries (main, events,
 * mail, server); inside other blocks nothing is followed.
 * Used by --from-nginx (config_nginx.c) only.
 */
#ifndef MP_CONFIG_NGINX_PARSE_H
#define MP_CONFIG_NGINX_PARSE_H

#include <stddef.h>

#include "common/arena.h"

#define NGX_TOKEN_MAX		4096	/* nginx's NGX_CONF_BUFFER */
#define NGX_ARGS_MAX		1024
#define NGX_DEPTH_MAX		64	/* nested blocks */
#define NGX_INCLUDE_DEPTH_MAX	16
#define NGX_FILES_MAX		1024
#define NGX_FILE_MAX		(16 * 1024 * 1024)
#define NGX_NODES_MAX		(1024 * 1024)

/* What mailproxy reads in a block (where includes are followed). */
enum ngx_ctx { NGX_CTX_MAIN, NGX_CTX_EVENTS, NGX_CTX_MAIL, NGX_CTX_SERVER, NGX_CTX_SKIP };

struct ngx_node {
	const char *file;	/* as opened */
	int line;		/* of the first word */
	size_t nargs;
	char **args;		/* args[0]: the name; NUL-free */
	int block;		/* ended by '{' */
	enum ngx_ctx ctx;	/* of its block's contents */
	struct ngx_node *kids, *last, *next;
};

struct ngx_conf {
	struct arena arena;
	struct ngx_node root;	/* its kids: the main context */
	char *dir;		/* of the main file: includes resolve against it */
	size_t files, nodes, depth, incdepth;
};

/* The lexer over one file's bytes. */
struct ngx_lexer {
	const char *file;
	const char *p, *end;
	int line;
	int start_line;		/* of the current directive's first word */
};

struct ngx_words {
	size_t n, cap;
	char **v;		/* malloc'ed */
};

enum { NGX_TOK_ERROR = -1, NGX_TOK_DIRECTIVE, NGX_TOK_BLOCK, NGX_TOK_END, NGX_TOK_EOF };

void ngx_lexer_init(struct ngx_lexer *lx, const char *file, const char *text, size_t len);
/*
 * The next directive's words into w (replacing what it held): NGX_TOK_DIRECTIVE
 * (ended by ';'), NGX_TOK_BLOCK ('{'), NGX_TOK_END ('}'), NGX_TOK_EOF, or
 * NGX_TOK_ERROR with "file:line: message" in err.
 */
int ngx_lex(struct ngx_lexer *lx, struct ngx_words *w, char *err, size_t errlen);
void ngx_words_free(struct ngx_words *w);

/*
 * The file at path (or text, named name, with includes relative to dir;
 * dir NULL refuses includes) as a tree in nc. 0, or -1 with "file:line: message" in err; ngx_conf_free()
 * in both cases.
 */
int ngx_conf_load(struct ngx_conf *nc, const char *path, char *err, size_t errlen);
int ngx_conf_load_text(struct ngx_conf *nc, const char *name, const char *text, size_t len,
    const char *dir, char *err, size_t errlen);
void ngx_conf_free(struct ngx_conf *nc);

#endif
