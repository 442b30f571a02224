/*
 * Main and events directives about the worker processes themselves, with a
 * grammar of their own: worker_cpu_affinity, worker_priority,
 * worker_rlimit_core, env and events' "use". The worker applies them right
 * after fork (worker/worker.c); the loader only checks and stores them.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config/config_custom.h"

#define MC(field, d) ((struct main_conf *)((char *)(field) - (d)->off))
#define CMC(field, d) ((const struct main_conf *)((const char *)(field) - (d)->off))

/* ---- worker_cpu_affinity: auto [MASK] | MASK... ---- */

int
set_cpu_affinity(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct main_conf *mc = MC(field, d);
	struct arena *ar = &ld->cf->arena;
	struct args a;
	char err[256];
	size_t first = 0;

	if (get_args(ld, d, val, &a) < 0)
		return -1;
	mc->cpu_affinity_auto = strcmp(a.v[0], "auto") == 0;
	if (mc->cpu_affinity_auto) {
		first = 1;
		if (a.n > 2)
			return lerr(ld, a.at[2], d->name, "expected \"auto [mask]\", got %zu values", a.n);
	}
	mc->ncpu_affinity = a.n - first;
	mc->cpu_affinity = arena_calloc(ar, (a.n ? a.n : 1) * sizeof(*mc->cpu_affinity));
	mc->cpu_affinity_text.v = arena_alloc(ar, a.n * sizeof(char *));
	if (mc->cpu_affinity == NULL || mc->cpu_affinity_text.v == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (size_t i = first; i < a.n; i++)
		if (cpu_mask_parse(a.v[i], &mc->cpu_affinity[i - first], err, sizeof(err)) < 0)
			return lerr(ld, a.at[i], d->name, "%s", err);
	for (size_t i = 0; i < a.n; i++)
		if ((mc->cpu_affinity_text.v[i] = arena_strdup(ar, a.v[i])) == NULL)
			return lerr(ld, a.at[i], d->name, "out of memory");
	mc->cpu_affinity_text.n = a.n;
	return 0;
}

void
print_cpu_affinity(const struct directive *d, const void *field, struct buf *out)
{
	print_strlist(out, &CMC(field, d)->cpu_affinity_text);
}

/* ---- worker_priority: -20..20, as nginx "+N" is N ---- */

int
set_priority(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	const char *s;
	long v;
	int neg;

	if (get_scalar(ld, d, val, &s) < 0)
		return -1;
	neg = s[0] == '-';
	if (parse_long(s + (s[0] == '-' || s[0] == '+'), 0, 20, &v) < 0)
		return lerr(ld, val, d->name, "expected a nice value from -20 to 20, got \"%s\"", s);
	*(int *)field = neg ? (int)-v : (int)v;
	return 0;
}

void
print_priority(const struct directive *d, const void *field, struct buf *out)
{
	(void)d;
	buf_printf(out, "%d", *(const int *)field);
}

/* ---- worker_rlimit_core: a size, as nginx's (k, m, g; 0 = no core) ---- */

int
set_rlimit_core(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	const char *s;
	size_t sz;

	if (get_scalar(ld, d, val, &s) < 0)
		return -1;
	if (parse_size(s, &sz) < 0)
		return lerr(ld, val, d->name, "expected a size such as 0, 500m or 2g, got \"%s\"", s);
	*(long long *)field = (long long)sz;
	MC(field, d)->worker_rlimit_core_set = 1;
	return 0;
}

void
print_rlimit_core(const struct directive *d, const void *field, struct buf *out)
{
	(void)d;
	print_size(out, (size_t)*(const long long *)field);
}

/* ---- env: VAR | VAR=VALUE, repeatable; a scalar is one item ---- */

static int
valid_env(const char *s)
{
	size_t n = strcspn(s, "=");

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

int
set_env(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct strlist *l = field;
	struct arena *ar = &ld->cf->arena;
	size_t n;

	if (val->type == YN_MAP)
		return lerr(ld, val, d->name, "expected \"VAR\" or \"VAR=VALUE\", or a sequence of them");
	n = val->type == YN_SEQ ? val->n : 1;
	l->n = 0;
	l->v = arena_alloc(ar, (n ? n : 1) * sizeof(*l->v));
	if (l->v == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct ynode *it = val->type == YN_SEQ ? val->kids[i] : val;
		if (it->type != YN_SCALAR)
			return lerr(ld, it, d->name, "expected \"VAR\" or \"VAR=VALUE\"");
		if (!valid_env(it->str) || strlen(it->str) != it->len)
			return lerr(ld, it, d->name, "expected \"VAR\" or \"VAR=VALUE\" (a name without "
			    "blanks or control characters), got \"%s\"", it->str);
		if ((l->v[l->n++] = arena_strdup(ar, it->str)) == NULL)
			return lerr(ld, it, d->name, "out of memory");
	}
	return 0;
}

void
print_env(const struct directive *d, const void *field, struct buf *out)
{
	(void)d;
	print_strlist(out, field);
}

/* ---- events "use": epoll, the one method of Linux ---- */

int
set_event_use(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	static const char *const others[] = { "select", "poll", "kqueue", "eventport", "/dev/poll",
		"rtsig", "devpoll", "iocp", NULL };
	const char *s;

	if (get_scalar(ld, d, val, &s) < 0)
		return -1;
	if (strcmp(s, "epoll") == 0) {
		*(int *)field = 1;
		return 0;
	}
	for (size_t i = 0; others[i]; i++)
		if (strcmp(s, others[i]) == 0)
			return lerr(ld, val, d->name, "the \"%s\" method is not supported: mailproxy "
			    "runs on Linux and its event loop is built on epoll (use epoll or leave "
			    "\"use\" out)", s);
	return lerr(ld, val, d->name, "unknown event method \"%s\" (expected epoll)", s);
}

void
print_event_use(const struct directive *d, const void *field, struct buf *out)
{
	(void)d;
	(void)field;
	buf_puts(out, "epoll");
}
