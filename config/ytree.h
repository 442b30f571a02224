/*
 * A YAML document as a small tree of scalars, sequences and mappings, each
 * node with its 1-based line and column. Built from libyaml's event stream so
 * that limits are ours: nesting depth, node count, scalar size. Aliases point
 * at the anchored node (shared, not copied); "<<" merge keys are expanded.
 * Only config/ uses this.
 */
#ifndef MP_YTREE_H
#define MP_YTREE_H

#include <stddef.h>

#include "common/arena.h"

#define YTREE_MAX_DEPTH		64
#define YTREE_MAX_NODES		2000000
#define YTREE_MAX_SCALAR	65536
#define YTREE_MAX_ANCHORS	4096

enum ynode_type { YN_SCALAR, YN_SEQ, YN_MAP };

struct ynode {
	enum ynode_type type;
	int line, col;
	int plain;		/* scalar written without quotes */
	char *str;		/* scalar text, NUL-terminated */
	size_t len;
	struct ynode **kids;	/* seq items; map: key, value, key, value... */
	size_t n;		/* number of kids (2 per map pair) */
};

struct ytree {
	struct arena arena;
	struct ynode *root;	/* NULL for an empty document */
};

/*
 * Parses data (len bytes) named name. Returns 0, or -1 with
 * "name:line:col: message" in err. ytree_free() in both cases.
 */
int ytree_parse(struct ytree *t, const char *name, const char *data, size_t len,
    char *err, size_t errlen);
void ytree_free(struct ytree *t);

#endif
