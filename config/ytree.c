/*
 * YAML event stream -> struct ynode tree; see ytree.h. A node under
 * construction sits on an explicit stack, so input depth never becomes C
 * recursion. Anchors are registered when their node is complete, which makes
 * a self-referencing alias an "unknown anchor" instead of a cycle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/ytree.h"

struct anchor {
	char *name;
	struct ynode *node;
};

struct builder {
	struct ytree *t;
	const char *name;
	char *err;
	size_t errlen;
	struct ynode *stack[YTREE_MAX_DEPTH + 1];
	char *stack_anchor[YTREE_MAX_DEPTH + 1];
	size_t cap[YTREE_MAX_DEPTH + 1];
	int depth;
	size_t nodes;
	struct anchor *anchors;
	size_t nanchors;
	int docs;
	size_t merge_work;	/* key comparisons spent on "<<", see expand_merge_keys() */
};

/*
 * Merging compares every merged key with the keys already in the mapping,
 * which is quadratic: two 50,000-key mappings took 20 s. Real configurations
 * merge a few dozen keys; past this budget the file is refused.
 */
#define YTREE_MAX_MERGE_WORK	10000000

static void
pos_of_offset(const char *data, size_t len, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/*
 * The byte at a libyaml mark (1-based line, column in characters), or -1
 * past the end. Used only to explain an error, so UTF-8 is walked loosely.
 */
static int
byte_at(const char *data, size_t len, int line, int col)
{
	size_t i = 0;

	for (int l = 1; l < line; l++) {
		const char *nl = memchr(data + i, '\n', len - i);
		if (nl == NULL)
			return -1;
		i = (size_t)(nl - data) + 1;
	}
	for (int c = 1; c < col && i < len; c++)
		do
			i++;
		while (i < len && ((unsigned char)data[i] & 0xc0) == 0x80);
	return i < len ? (unsigned char)data[i] : -1;
}

static int
fail_at(struct builder *b, int line, int col, const char *fmt, const char *arg)
{
	int n = snprintf(b->err, b->errlen, "%s:%d:%d: ", b->name, line, col);

	if (n > 0 && (size_t)n < b->errlen)
		snprintf(b->err + n, b->errlen - (size_t)n, fmt, arg);
	return -1;
}

static struct ynode *
node_new(struct builder *b, enum ynode_type type, const yaml_mark_t *m)
{
	struct ynode *n;

	if (++b->nodes > YTREE_MAX_NODES) {
		fail_at(b, (int)m->line + 1, (int)m->column + 1,
		    "YAML document has more than %s nodes", "2000000");
		return NULL;
	}
	n = arena_calloc(&b->t->arena, sizeof(*n));
	if (n == NULL) {
		fail_at(b, (int)m->line + 1, (int)m->column + 1, "%s", "out of memory");
		return NULL;
	}
	n->type = type;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

static int
add_kid(struct builder *b, struct ynode *parent, size_t *cap, struct ynode *kid)
{
	if (parent->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct ynode **k = arena_alloc(&b->t->arena, nc * sizeof(*k));
		if (k == NULL)
			return fail_at(b, kid->line, kid->col, "%s", "out of memory");
		if (parent->n)
			memcpy(k, parent->kids, parent->n * sizeof(*k));
		parent->kids = k;
		*cap = nc;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

static int
register_anchor(struct builder *b, const char *name, struct ynode *node)
{
	if (b->nanchors >= YTREE_MAX_ANCHORS)
		return fail_at(b, node->line, node->col, "more than %s anchors", "4096");
	if (b->nanchors % 64 == 0) {
		struct anchor *a = realloc(b->anchors, (b->nanchors + 64) * sizeof(*a));
		if (a == NULL)
			return fail_at(b, node->line, node->col, "%s", "out of memory");
		b->anchors = a;
	}
	char *copy = arena_strdup(&b->t->arena, name);
	if (copy == NULL)
		return fail_at(b, node->line, node->col, "%s", "out of memory");
	/* A later anchor of the same name shadows the earlier one (YAML 1.2). */
	b->anchors[b->nanchors].name = copy;
	b->anchors[b->nanchors].node = node;
	b->nanchors++;
	return 0;
}

static struct ynode *
find_anchor(struct builder *b, const char *name)
{
	for (size_t i = b->nanchors; i > 0; i--)
		if (strcmp(b->anchors[i - 1].name, name) == 0)
			return b->anchors[i - 1].node;
	return NULL;
}

static int
map_has_key(const struct ynode *map, const char *key, size_t upto)
{
	for (size_t i = 0; i + 1 < upto; i += 2)
		if (map->kids[i]->type == YN_SCALAR && strcmp(map->kids[i]->str, key) == 0)
			return 1;
	return 0;
}

/*
 * Expands "<<: *base" (or a sequence of them): keys of the merged maps that
 * the map does not set itself are appended. Explicit keys win.
 */
static int
expand_merge_keys(struct builder *b, struct ynode *map, size_t *cap)
{
	size_t n = map->n, out = 0;
	struct ynode *srcs[64];
	size_t nsrcs = 0;

	for (size_t i = 0; i + 1 < n; i += 2) {
		struct ynode *k = map->kids[i], *v = map->kids[i + 1];
		if (k->type == YN_SCALAR && k->plain && strcmp(k->str, "<<") == 0) {
			if (v->type == YN_MAP) {
				if (nsrcs == 64)
					return fail_at(b, v->line, v->col, "%s", "too many merge keys");
				srcs[nsrcs++] = v;
			} else if (v->type == YN_SEQ) {
				for (size_t j = 0; j < v->n; j++) {
					if (v->kids[j]->type != YN_MAP)
						return fail_at(b, v->kids[j]->line, v->kids[j]->col,
						    "%s", "\"<<\" merges mappings only");
					if (nsrcs == 64)
						return fail_at(b, v->line, v->col, "%s", "too many merge keys");
					srcs[nsrcs++] = v->kids[j];
				}
			} else {
				return fail_at(b, v->line, v->col, "%s", "\"<<\" merges mappings only");
			}
			continue;
		}
		map->kids[out++] = k;
		map->kids[out++] = v;
	}
	if (nsrcs == 0)
		return 0;
	map->n = out;
	for (size_t s = 0; s < nsrcs; s++) {
		b->merge_work += (srcs[s]->n / 2) * (map->n / 2 + srcs[s]->n / 2);
		if (b->merge_work > YTREE_MAX_MERGE_WORK)
			return fail_at(b, map->line, map->col, "%s",
			    "mappings merged with \"<<\" are too large");
		for (size_t i = 0; i + 1 < srcs[s]->n; i += 2) {
			struct ynode *k = srcs[s]->kids[i];
			if (k->type == YN_SCALAR && map_has_key(map, k->str, map->n))
				continue;
			if (add_kid(b, map, cap, k) < 0 || add_kid(b, map, cap, srcs[s]->kids[i + 1]) < 0)
				return -1;
		}
	}
	return 0;
}

/* Attaches a finished node to the parent on the stack, or makes it the root. */
static int
attach(struct builder *b, struct ynode *node, const char *anchor)
{
	if (anchor != NULL && register_anchor(b, anchor, node) < 0)
		return -1;
	if (b->depth == 0) {
		b->t->root = node;
		return 0;
	}
	return add_kid(b, b->stack[b->depth - 1], &b->cap[b->depth - 1], node);
}

static int
start_collection(struct builder *b, enum ynode_type type, const yaml_mark_t *m,
    const yaml_char_t *anchor)
{
	struct ynode *n;

	if (b->depth >= YTREE_MAX_DEPTH)
		return fail_at(b, (int)m->line + 1, (int)m->column + 1,
		    "nesting deeper than %s levels", "64");
	n = node_new(b, type, m);
	if (n == NULL)
		return -1;
	b->stack[b->depth] = n;
	b->cap[b->depth] = 0;
	b->stack_anchor[b->depth] = NULL;
	if (anchor != NULL) {
		b->stack_anchor[b->depth] = arena_strdup(&b->t->arena, (const char *)anchor);
		if (b->stack_anchor[b->depth] == NULL)
			return fail_at(b, n->line, n->col, "%s", "out of memory");
	}
	b->depth++;
	return 0;
}

static int
end_collection(struct builder *b)
{
	struct ynode *n = b->stack[b->depth - 1];
	char *anchor = b->stack_anchor[b->depth - 1];

	if (n->type == YN_MAP && expand_merge_keys(b, n, &b->cap[b->depth - 1]) < 0)
		return -1;
	b->depth--;
	return attach(b, n, anchor);
}

static int
handle_event(struct builder *b, yaml_event_t *ev)
{
	struct ynode *n;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++b->docs > 1)
			return fail_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			    "%s", "more than one YAML document in the file");
		return 0;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.length > YTREE_MAX_SCALAR)
			return fail_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			    "value longer than %s bytes", "65536");
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
			return fail_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			    "%s", "value contains a NUL byte");
		n = node_new(b, YN_SCALAR, &ev->start_mark);
		if (n == NULL)
			return -1;
		n->str = arena_strndup(&b->t->arena, (const char *)ev->data.scalar.value,
		    ev->data.scalar.length);
		if (n->str == NULL)
			return fail_at(b, n->line, n->col, "%s", "out of memory");
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		return attach(b, n, (const char *)ev->data.scalar.anchor);
	case YAML_ALIAS_EVENT:
		n = find_anchor(b, (const char *)ev->data.alias.anchor);
		if (n == NULL)
			return fail_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			    "unknown anchor \"%s\"", (const char *)ev->data.alias.anchor);
		if (++b->nodes > YTREE_MAX_NODES)
			return fail_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			    "YAML document has more than %s nodes", "2000000");
		return attach(b, n, NULL);
	case YAML_SEQUENCE_START_EVENT:
		return start_collection(b, YN_SEQ, &ev->start_mark, ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return start_collection(b, YN_MAP, &ev->start_mark, ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return end_collection(b);
	default:
		return 0;
	}
}

int
ytree_parse(struct ytree *t, const char *name, const char *data, size_t len,
    char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct builder b;
	int rc = 0, done = 0;

	memset(&b, 0, sizeof(b));
	arena_init(&t->arena, 16384);
	t->root = NULL;
	b.t = t;
	b.name = name;
	b.err = err;
	b.errlen = errlen;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: cannot initialize the YAML parser", name);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			int line, col;
			int eline, ecol;
			pos_of_offset(data, len, len, &eline, &ecol);
			if (parser.error == YAML_READER_ERROR) {
				pos_of_offset(data, len, parser.problem_offset, &line, &col);
			} else {
				line = (int)parser.problem_mark.line + 1;
				col = (int)parser.problem_mark.column + 1;
			}
			/*
			 * At the end of data without a final newline libyaml
			 * reports a line that does not exist; point at the end.
			 */
			if (line > eline) {
				line = eline;
				col = ecol;
			}
			char msg[256];
			snprintf(msg, sizeof(msg), "%s%s%s%s", parser.problem ? parser.problem : "error",
			    parser.context ? " " : "", parser.context ? parser.context : "",
			    byte_at(data, len, line, col) == '\t' ?
			    " (use spaces, not tabs)" : "");
			fail_at(&b, line, col, "YAML syntax error: %s", msg);
			rc = -1;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		rc = handle_event(&b, &ev);
		yaml_event_delete(&ev);
		if (rc < 0)
			break;
	}
	yaml_parser_delete(&parser);
	free(b.anchors);
	return rc;
}

void
ytree_free(struct ytree *t)
{
	arena_free(&t->arena);
	t->root = NULL;
}
