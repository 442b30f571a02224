/*
 * config_load(): file -> YAML tree -> typed struct config. Walks the tree
 * along the schema (main keys, events:, mail:, mail.servers[]), looking every
 * key up in the directive table; then fills defaults, merges mail -> server
 * as nginx does, and runs the cross-field checks of config_check.c.
 * Either a complete configuration comes back or nothing does.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cpu.h"
#include "common/xalloc.h"
#include "config/config_int.h"

#define CONFIG_MAX_FILE (16 * 1024 * 1024)
/*
 * Bytes of values a configuration may apply, aliases counted at each use:
 * a 64 KB value aliased in every server is copied for each, and 66 KB of
 * file asked for gigabytes. Generous: the -T check below is the real limit.
 */
#define CONFIG_MAX_BYTES (4 * CONFIG_MAX_FILE)

static const char *
ctx_name(unsigned ctx)
{
	switch (ctx) {
	case CTX_MAIN: return "main";
	case CTX_EVENTS: return "events";
	case CTX_MAIL: return "mail";
	default: return "server";
	}
}

static void
ctx_names(unsigned mask, char *buf, size_t len)
{
	static const unsigned order[] = { CTX_MAIN, CTX_EVENTS, CTX_MAIL, CTX_SERVER };
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < 4; i++)
		if (mask & order[i]) {
			int n = snprintf(buf + o, len - o, "%s\"%s\"", o ? ", " : "", ctx_name(order[i]));
			if (n < 0 || (size_t)n >= len - o)
				break;
			o += (size_t)n;
		}
}

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

/* The closest name valid in ctx, if it is close enough to be a typo. */
static const char *
suggest(const char *key, unsigned ctx)
{
	static const char *const blocks[] = { "events", "mail", "servers" };
	static const unsigned block_ctx[] = { CTX_MAIN, CTX_MAIN, CTX_MAIL };
	const char *best = NULL;
	size_t bestd = 99, limit = strlen(key) <= 4 ? 1 : strlen(key) <= 8 ? 2 : 3;

	for (size_t i = 0; i < ndirectives; i++) {
		if (!(directives[i].ctx & ctx) || directives[i].type == DT_RENAMED)
			continue;
		size_t dd = edit_distance(key, directives[i].name);
		if (dd < bestd) {
			bestd = dd;
			best = directives[i].name;
		}
	}
	for (size_t i = 0; i < 3; i++) {
		if (!(block_ctx[i] & ctx))
			continue;
		size_t dd = edit_distance(key, blocks[i]);
		if (dd < bestd) {
			bestd = dd;
			best = blocks[i];
		}
	}
	return bestd <= limit ? best : NULL;
}

static int
unknown_key(struct loader *ld, const struct ynode *k, unsigned ctx)
{
	const struct directive *d = directive_find(k->str);
	const char *s;
	char where[128];

	if (d != NULL) {
		ctx_names(d->ctx, where, sizeof(where));
		return lerr(ld, k, k->str, "not allowed in \"%s\" (allowed in %s)", ctx_name(ctx), where);
	}
	if (strcmp(k->str, "servers") == 0)
		return lerr(ld, k, k->str, "not allowed in \"%s\" (allowed in \"mail\")", ctx_name(ctx));
	if (strcmp(k->str, "events") == 0 || strcmp(k->str, "mail") == 0)
		return lerr(ld, k, k->str, "not allowed in \"%s\" (allowed at the top level)",
		    ctx_name(ctx));
	if (strcmp(k->str, "server") == 0 && ctx == CTX_MAIL)
		return lerr(ld, k, k->str, "unknown directive in \"mail\" (servers are a sequence "
		    "under \"servers\")");
	s = suggest(k->str, ctx);
	if (s != NULL)
		return lerr(ld, k, k->str, "unknown directive in \"%s\" (did you mean \"%s\"?)",
		    ctx_name(ctx), s);
	return lerr(ld, k, k->str, "unknown directive in \"%s\"", ctx_name(ctx));
}

/*
 * Returns 0 for a directive key, 1 for an "x-..." key (ignored at every
 * level: a place to keep YAML anchors, as docker-compose does), -1 on error.
 */
static int
check_key(struct loader *ld, const struct ynode *k)
{
	if (++ld->visits > YTREE_MAX_NODES)
		return lerr(ld, k, NULL, "configuration too large (alias expansion?)");
	if (k->type != YN_SCALAR)
		return lerr(ld, k, NULL, "expected a directive name, got a %s",
		    k->type == YN_MAP ? "mapping" : "sequence");
	if (strncmp(k->str, "x-", 2) == 0)
		return 1;
	return 0;
}

/* Charges the scalars of a directive's value (one level deep) against CONFIG_MAX_BYTES. */
static int
charge(struct loader *ld, const struct ynode *k, const struct ynode *v)
{
	size_t n = v->type == YN_SCALAR ? v->len : 0;

	for (size_t i = 0; i < v->n; i++)
		n += v->kids[i]->len + 1;
	ld->bytes += n;
	if (ld->bytes > CONFIG_MAX_BYTES)
		return lerr(ld, k, k->str, "configuration too large (alias expansion?)");
	return 0;
}

/*
 * Applies one key of a mapping in context ctx to conf (struct main_conf or
 * struct srv_conf; both start with error_log, set[] and pos[]).
 */
static int
apply_key(struct loader *ld, unsigned ctx, void *conf, uint8_t *set, struct conf_pos *pos,
    const struct ynode *k, const struct ynode *v)
{
	const struct directive *d = directive_find(k->str);
	size_t idx;

	if (d == NULL || !(d->ctx & ctx))
		return unknown_key(ld, k, ctx);
	idx = directive_index(d);
	if (conf_isset(set, idx)) {
		if (pos[idx].line > 0)
			return lerr(ld, k, k->str, "duplicate directive (first at line %d)", pos[idx].line);
		return lerr(ld, k, k->str, "duplicate directive (also given with -g)");
	}
	if (charge(ld, k, v) < 0 || directive_apply(ld, d, conf, v) < 0)
		return -1;
	conf_mark(set, idx);
	pos[idx].line = k->line;
	pos[idx].col = k->col;
	return 0;
}


/*
 * A block must be a mapping; an empty one ("events:" followed by nothing but
 * comments, as nginx's "events {}") is accepted. A null has no kids, so
 * load_map() sees an empty mapping.
 */
static int
expect_map(struct loader *ld, const struct ynode *n, const char *what)
{
	if (n->type != YN_MAP && !(what != NULL && config_is_null(n)))
		return lerr(ld, n, what, "expected a mapping, got a %s",
		    n->type == YN_SEQ ? "sequence" : "scalar");
	return 0;
}

/*
 * A block inside a mapping (events, mail, servers): load_map() finds its key
 * among the directives, and the caller loads its value after them.
 */
struct block {
	const char *name;
	const struct ynode *key;	/* the first: "duplicate block" names its line, not its value's */
	const struct ynode *val;
};

static struct block *
block_find(struct block *b, const char *name)
{
	for (; b != NULL && b->name != NULL; b++)
		if (strcmp(b->name, name) == 0)
			return b;
	return NULL;
}

/*
 * Applies the directives of the mapping map, in context ctx, to conf (with
 * its set[] and pos[]); skips "x-" keys and keeps the keys of blocks (ended
 * by a NULL name, or NULL) for the caller to load. what names map in
 * messages, NULL at the top level.
 */
static int
load_map(struct loader *ld, const struct ynode *map, const char *what, unsigned ctx,
    void *conf, uint8_t *set, struct conf_pos *pos, struct block *blocks)
{
	if (expect_map(ld, map, what) < 0)
		return -1;
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kids[i], *v = map->kids[i + 1];
		struct block *b;
		int rc = check_key(ld, k);

		if (rc < 0)
			return -1;
		if (rc > 0)
			continue;
		if ((b = block_find(blocks, k->str)) == NULL) {
			if (apply_key(ld, ctx, conf, set, pos, k, v) < 0)
				return -1;
		} else if (b->key != NULL) {
			return lerr(ld, k, k->str, "duplicate block (first at line %d)", b->key->line);
		} else {
			b->key = k;
			b->val = v;
		}
	}
	return 0;
}

static int
load_server(struct loader *ld, const struct ynode *map, struct srv_conf *srv)
{
	*srv = ld->cf->mail;
	memset(srv->set, 0, sizeof(srv->set));
	srv->listen = NULL;
	srv->nlisten = 0;
	srv->protocol = MP_PROTO_NONE;
	srv->line = map->line;
	srv->col = map->col;
	return load_map(ld, map, "servers", CTX_SERVER, srv, srv->set, srv->pos, NULL);
}

static int
load_mail(struct loader *ld, const struct ynode *map)
{
	struct block blocks[] = { { .name = "servers" }, { .name = NULL } };
	const struct ynode *servers;
	struct config *cf = ld->cf;

	if (load_map(ld, map, "mail", CTX_MAIL, &cf->mail, cf->mail.set, cf->mail.pos, blocks) < 0)
		return -1;
	servers = blocks[0].val;
	if (servers == NULL)
		return 0;
	if (config_is_null(servers))
		return 0;
	if (servers->type != YN_SEQ)
		return lerr(ld, servers, "servers", "expected a sequence of server mappings");
	cf->servers = arena_calloc(&cf->arena, (servers->n ? servers->n : 1) * sizeof(*cf->servers));
	if (cf->servers == NULL)
		return lerr(ld, servers, "servers", "out of memory");
	for (size_t i = 0; i < servers->n; i++) {
		if (load_server(ld, servers->kids[i], &cf->servers[i]) < 0)
			return -1;
		cf->nservers++;
	}
	return 0;
}

static int load_globals(struct loader *ld, const char *globals);

static int
load_main(struct loader *ld, const struct ynode *root, const char *globals)
{
	struct block blocks[] = { { .name = "events" }, { .name = "mail" }, { .name = NULL } };
	const struct ynode *events, *mail;
	struct main_conf *mc = &ld->cf->main;

	/* "---" or "~" alone parse as a null scalar: that is an empty file too. */
	if (root == NULL || config_is_null(root))
		return lerr(ld, NULL, NULL, "the configuration is empty (expected a mapping)");
	if (load_map(ld, root, NULL, CTX_MAIN, mc, mc->set, mc->pos, blocks) < 0)
		return -1;
	events = blocks[0].val;
	mail = blocks[1].val;
	ld->cf->has_mail = mail != NULL;
	if (globals != NULL && globals[0] != '\0' && load_globals(ld, globals) < 0)
		return -1;
	if (events != NULL &&
	    load_map(ld, events, "events", CTX_EVENTS, mc, mc->set, mc->pos, NULL) < 0)
		return -1;
	/* The mail level inherits the main error_log unless it sets its own. */
	ld->cf->mail.error_log = mc->error_log;
	if (mail != NULL && load_mail(ld, mail) < 0)
		return -1;
	return 0;
}

/* -g "daemon: off" (a YAML mapping of main-context directives). */
static int
load_globals(struct loader *ld, const char *globals)
{
	struct ytree t;
	struct main_conf *mc = &ld->cf->main;
	const char *file = ld->file;
	int rc = 0;

	if (ytree_parse(&t, "-g", globals, strlen(globals), ld->err, ld->errlen) < 0) {
		ytree_free(&t);
		return -1;
	}
	ld->file = "-g";
	if (t.root == NULL || t.root->type != YN_MAP) {
		rc = lerr(ld, NULL, NULL, "expected \"key: value\" pairs, e.g. -g \"daemon: off\"");
		goto out;
	}
	for (size_t i = 0; i + 1 < t.root->n; i += 2) {
		const struct ynode *k = t.root->kids[i], *v = t.root->kids[i + 1];
		int kc = check_key(ld, k);
		if (kc < 0) {
			rc = -1;
			goto out;
		}
		if (kc > 0)
			continue;
		const struct directive *d = directive_find(k->str);
		/* "allowed at the top level" would be wrong here: -g is the top level. */
		if (strcmp(k->str, "events") == 0 || strcmp(k->str, "mail") == 0) {
			rc = lerr(ld, k, k->str, "blocks cannot be given with -g, only main-context "
			    "directives");
			goto out;
		}
		if (d == NULL || !(d->ctx & CTX_MAIN)) {
			rc = unknown_key(ld, k, CTX_MAIN);
			goto out;
		}
		size_t idx = directive_index(d);
		if (conf_isset(mc->set, idx)) {
			rc = mc->pos[idx].line > 0 ?
			    lerr(ld, k, k->str, "duplicate directive (also in %s at line %d)",
			    file, mc->pos[idx].line) :
			    lerr(ld, k, k->str, "duplicate directive");
			goto out;
		}
		if (charge(ld, k, v) < 0 || directive_apply(ld, d, mc, v) < 0) {
			rc = -1;
			goto out;
		}
		conf_mark(mc->set, idx);
		mc->pos[idx].line = 0;	/* given on the command line */
	}
out:
	ld->file = file;
	ytree_free(&t);
	return rc;
}

static int
apply_defaults(struct loader *ld)
{
	struct config *cf = ld->cf;

	for (size_t i = 0; i < ndirectives; i++) {
		const struct directive *d = &directives[i];
		void *conf = (d->ctx & (CTX_MAIN | CTX_EVENTS)) ? (void *)&cf->main : (void *)&cf->mail;
		if (d->ctx & (CTX_MAIN | CTX_EVENTS | CTX_MAIL))
			if (directive_apply_default(ld, d, conf) < 0)
				return -1;
	}
	return 0;
}

static void
finalize_main(struct config *cf)
{
	struct main_conf *mc = &cf->main;

	if (mc->worker_processes_auto) {
		unsigned n = cpu_usable();
		mc->worker_processes = n > 1024 ? 1024 : (int)n;
	}
}

static int
read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > CONFIG_MAX_FILE) {
		snprintf(err, errlen, "%s: file is larger than %d MB", path, CONFIG_MAX_FILE >> 20);
		close(fd);
		return -1;
	}
	*data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* Half a file could still parse, as a different configuration. */
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			free(*data);
			*data = NULL;
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	(*data)[got] = '\0';
	*len = got;
	return 0;
}

const char *
config_proto_name(enum mail_proto p)
{
	switch (p) {
	case MP_PROTO_IMAP: return "imap";
	case MP_PROTO_POP3: return "pop3";
	case MP_PROTO_SMTP: return "smtp";
	case MP_PROTO_SIEVE: return "sieve";
	default: return "none";
	}
}

const char *
config_path(const struct config *cf, const char *name, char *buf, size_t len)
{
	if (name[0] == '/' || cf->prefix == NULL)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s/%s", cf->prefix, name);
	return buf;
}

struct config *
config_load(const char *path, const char *prefix, const char *globals, char *err, size_t errlen)
{
	struct config *cf = xcalloc(1, sizeof(*cf));
	struct loader ld = { .cf = cf, .file = path, .err = err, .errlen = errlen };
	struct ytree t = { 0 };
	char *data = NULL, abs[PATH_MAX], why[1024];
	size_t len;
	long ps = sysconf(_SC_PAGESIZE);

	err[0] = '\0';
	arena_init(&cf->arena, 16384);
	cf->page_size = ps > 0 ? (size_t)ps : 4096;
	cf->file = arena_strdup(&cf->arena, realpath(path, abs) ? abs : path);
	/* No prefix: relative paths stay relative to the cwd (config_path()). */
	cf->prefix = prefix ? arena_strdup(&cf->arena, prefix) : NULL;

	if (read_file(path, &data, &len, err, errlen) < 0)
		goto fail;
	if (ytree_parse(&t, path, data, len, err, errlen) < 0)
		goto fail;
	if (apply_defaults(&ld) < 0)
		goto fail;
	/*
	 * The default server_name is the machine's host name, lowercased as
	 * nginx does (and as a server_name written in the file is).
	 */
	char host[256];
	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	cf->mail.server_name.v = arena_alloc(&cf->arena, sizeof(char *));
	cf->mail.server_name.v[0] = arena_strdup(&cf->arena, host);
	cf->mail.server_name.n = 1;

	if (load_main(&ld, t.root, globals) < 0)
		goto fail;
	finalize_main(cf);
	if (config_check(&ld) < 0)
		goto fail;
	/* -T must print what loads again; aliases can make that bigger than any file. */
	if (config_dump_check(cf, CONFIG_MAX_FILE, why, sizeof(why)) < 0) {
		lerr(&ld, NULL, NULL, "%s", why);
		goto fail;
	}
	ytree_free(&t);
	free(data);
	return cf;
fail:
	ytree_free(&t);
	free(data);
	config_free(cf);
	return NULL;
}

void
config_free(struct config *cf)
{
	if (cf == NULL)
		return;
	arena_free(&cf->arena);
	free(cf);
}
