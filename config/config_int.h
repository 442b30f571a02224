/*
 * Private to config/: the directive table and the loader state the generic
 * setters share. Nothing outside config/ includes this.
 */
#ifndef MP_CONFIG_INT_H
#define MP_CONFIG_INT_H

#include <stdio.h>

#include "common/buf.h"
#include "config/config.h"
#include "config/ytree.h"

#define CTX_MAIN	0x01
#define CTX_EVENTS	0x02
#define CTX_MAIL	0x04
#define CTX_SERVER	0x08

#define DF_MAILPROXY	0x01	/* mailproxy only, not in nginx */
#define DF_SEED		0x02	/* from the seed document, since removed from nginx */
#define DF_NOPRINT	0x04	/* not printed by -T (folded into other settings) */
#define DF_VARS		0x08	/* DT_KVLIST values may hold variables (config_vars.h) */

enum dir_type {
	DT_FLAG, DT_MSEC, DT_SIZE, DT_NUM, DT_STR, DT_PATH, DT_STRLIST, DT_PATHLIST,
	DT_ENUM, DT_MASK, DT_KVLIST, DT_CUSTOM, DT_RENAMED,
};

struct name_val {
	const char *name;
	int val;
};

struct loader;
struct directive;

typedef int (*dir_set_fn)(struct loader *ld, const struct directive *d, void *field,
    const struct ynode *val);
typedef void (*dir_print_fn)(const struct directive *d, const void *field, struct buf *out);

struct directive {
	const char *name;
	unsigned ctx;
	enum dir_type type;
	size_t off;
	size_t size;
	const char *dflt;		/* nginx notation; NULL = unset */
	const struct name_val *names;	/* DT_ENUM, DT_MASK */
	long min, max;			/* DT_NUM */
	dir_set_fn set;			/* DT_CUSTOM */
	dir_print_fn print;		/* DT_CUSTOM */
	unsigned flags;
	const char *syntax;		/* for the reference page */
	const char *doc;
};

extern const struct directive directives[];
extern const size_t ndirectives;

struct loader {
	struct config *cf;
	const char *file;	/* name used in messages */
	char *err;
	size_t errlen;
	size_t visits;
	size_t bytes;		/* of the values applied, aliases counted each time */
};

/* Formats "file:line:col: "key": message" into ld->err; returns -1. */
int lerr(struct loader *ld, const struct ynode *at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void lwarn(struct loader *ld, const struct ynode *at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Arguments of a directive: a scalar split on blanks, or a sequence of scalars. */
struct args {
	size_t n;
	const char **v;
	const struct ynode **at;
};
int get_args(struct loader *ld, const struct directive *d, const struct ynode *val,
    struct args *a);
/* The single scalar of a one-argument directive. */
/* A plain empty, "~" or "null" scalar: YAML's null, "nothing" for a directive. */
int config_is_null(const struct ynode *n);
int get_scalar(struct loader *ld, const struct directive *d, const struct ynode *val,
    const char **s);

int parse_msec(const char *s, uint64_t *ms);
int parse_size(const char *s, size_t *sz);
/*
 * The NAME and SIZE of a "shared:NAME:SIZE" zone: name[0..nlen) is followed
 * by ':' and the size. Checked as shm_zone_get() will need them, SIZE at
 * least min bytes; text (the whole value) names them in messages. 0, or -1
 * reported at at.
 */
int set_zone_name_size(struct loader *ld, const struct ynode *at, const char *key, const char *text,
    const char *name, size_t nlen, size_t min, char **out_name, size_t *out_size);
int parse_long(const char *s, long min, long max, long *out);
int parse_flag(const char *s, int *v);
const struct name_val *name_val_find(const struct name_val *nv, const char *s);

void print_quoted(struct buf *out, const char *s);
void print_msec(struct buf *out, uint64_t ms);
void print_size(struct buf *out, size_t sz);
void print_quotedf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void print_strlist(struct buf *out, const struct strlist *l);
void print_mask(struct buf *out, const struct name_val *nv, unsigned m);

const struct directive *directive_find(const char *name);
size_t directive_index(const struct directive *d);
int directive_apply(struct loader *ld, const struct directive *d, void *conf,
    const struct ynode *val);
int directive_apply_default(struct loader *ld, const struct directive *d, void *conf);

int config_check(struct loader *ld);
void config_print_directive(const struct directive *d, const void *conf, struct buf *out);
/*
 * Whether config_dump()'s output fits what config_load() reads (at most max
 * bytes, the loader's node and value limits). Returns 0, or -1 with the
 * reason in err.
 */
int config_dump_check(const struct config *cf, size_t max, char *err, size_t errlen);

static inline int conf_isset(const uint8_t *set, size_t i) { return set[i / 8] & (1u << (i % 8)); }
static inline void conf_mark(uint8_t *set, size_t i) { set[i / 8] |= (uint8_t)(1u << (i % 8)); }

#endif
