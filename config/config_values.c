/*
 * Scalar value syntax shared by the setters: nginx times, sizes, flags and
 * names, argument lists; and the quoting used when printing a configuration
 * back, with the list and bit-mask printers the table's generic printers
 * share with config_custom.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/shm.h"
#include "config/config_int.h"

/*
 * nginx's time syntax: "500ms", "5s", "1h 30m", "2d"; a bare number is
 * seconds. Units ms s m h d w M(30d) y(365d), each at most once and from
 * the largest down, as ngx_parse_time() requires ("30m 1h" and "1s 1s" are
 * errors). Values past ~100 years fail.
 */
int
parse_msec(const char *s, uint64_t *ms)
{
	uint64_t total = 0;
	int any = 0, last = -1, rank;
	const uint64_t limit = 100ULL * 365 * 86400 * 1000;

	while (*s) {
		uint64_t v = 0, mult;
		const char *start;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		start = s;
		while (isdigit((unsigned char)*s)) {
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > limit)
				return -1;
			s++;
		}
		if (s == start)
			return -1;
		if (s[0] == 'm' && s[1] == 's') {
			mult = 1;
			rank = 7;
			s += 2;
		} else {
			switch (*s) {
			case 's': mult = 1000; rank = 6; s++; break;
			case 'm': mult = 60000; rank = 5; s++; break;
			case 'h': mult = 3600000; rank = 4; s++; break;
			case 'd': mult = 86400000; rank = 3; s++; break;
			case 'w': mult = 7ULL * 86400000; rank = 2; s++; break;
			case 'M': mult = 30ULL * 86400000; rank = 1; s++; break;
			case 'y': mult = 365ULL * 86400000; rank = 0; s++; break;
			case '\0': case ' ':
				/* A bare number is seconds, and only alone. */
				if (any)
					return -1;
				while (*s == ' ')
					s++;
				if (*s != '\0')
					return -1;
				mult = 1000;
				rank = 6;
				break;
			default:
				return -1;
			}
		}
		if (rank <= last)
			return -1;
		last = rank;
		if (v > limit / mult)
			return -1;
		total += v * mult;
		if (total > limit)
			return -1;
		any = 1;
	}
	if (!any)
		return -1;
	*ms = total;
	return 0;
}

/* A decimal in [min, max], digits only (no sign, no blanks). */
int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* "4096", "4k", "10m", "1g" (either case). */
int
parse_size(const char *s, size_t *sz)
{
	char *end;
	unsigned long long v, mult = 1;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'k': case 'K': mult = 1024; end++; break;
	case 'm': case 'M': mult = 1024 * 1024; end++; break;
	case 'g': case 'G': mult = 1024ULL * 1024 * 1024; end++; break;
	}
	if (*end != '\0')
		return -1;
	if (v > (unsigned long long)(SIZE_MAX / 2) / mult)
		return -1;
	*sz = (size_t)(v * mult);
	return 0;
}

int
parse_flag(const char *s, int *v)
{
	static const char *const on[] = { "on", "true", "yes", NULL };
	static const char *const off[] = { "off", "false", "no", NULL };

	for (int i = 0; on[i]; i++)
		if (strcasecmp(s, on[i]) == 0) {
			*v = 1;
			return 0;
		}
	for (int i = 0; off[i]; i++)
		if (strcasecmp(s, off[i]) == 0) {
			*v = 0;
			return 0;
		}
	return -1;
}

/* The entry of nv named s, in any case as nginx's enum and bitmask slots; NULL if none. */
const struct name_val *
name_val_find(const struct name_val *nv, const char *s)
{
	for (; nv->name; nv++)
		if (strcasecmp(s, nv->name) == 0)
			return nv;
	return NULL;
}

static void
vlerr(struct loader *ld, char *dst, size_t dstlen, const struct ynode *at, const char *key,
    const char *fmt, va_list ap)
{
	int n;

	if (at != NULL && at->line > 0)
		n = snprintf(dst, dstlen, "%s:%d:%d: ", ld->file, at->line, at->col);
	else
		n = snprintf(dst, dstlen, "%s: ", ld->file);
	if (n < 0 || (size_t)n >= dstlen)
		return;
	if (key != NULL) {
		int m = snprintf(dst + n, dstlen - (size_t)n, "\"%s\": ", key);
		if (m < 0 || (size_t)(n + m) >= dstlen)
			return;
		n += m;
	}
	vsnprintf(dst + n, dstlen - (size_t)n, fmt, ap);
}

int
lerr(struct loader *ld, const struct ynode *at, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlerr(ld, ld->err, ld->errlen, at, key, fmt, ap);
	va_end(ap);
	return -1;
}

void
lwarn(struct loader *ld, const struct ynode *at, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	struct strlist *w = &ld->cf->warnings;

	va_start(ap, fmt);
	vlerr(ld, msg, sizeof(msg), at, key, fmt, ap);
	va_end(ap);
	char **v = arena_alloc(&ld->cf->arena, (w->n + 1) * sizeof(*v));
	char *copy = arena_strdup(&ld->cf->arena, msg);
	if (v == NULL || copy == NULL)
		return;
	if (w->n)
		memcpy(v, w->v, w->n * sizeof(*v));
	v[w->n++] = copy;
	w->v = v;
}

static const char *
type_name(enum ynode_type t)
{
	return t == YN_MAP ? "a mapping" : t == YN_SEQ ? "a sequence" : "a scalar";
}

int
config_is_null(const struct ynode *n)
{
	return n->type == YN_SCALAR && n->plain &&
	    (n->len == 0 || strcmp(n->str, "~") == 0 || strcasecmp(n->str, "null") == 0);
}

int
get_scalar(struct loader *ld, const struct directive *d, const struct ynode *val,
    const char **s)
{
	if (val->type != YN_SCALAR)
		return lerr(ld, val, d->name, "expected a single value, got %s", type_name(val->type));
	if (config_is_null(val))
		return lerr(ld, val, d->name, "expected a value, got nothing");
	*s = val->str;
	return 0;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next word at or after *p, with *p moved to its end; NULL when only blanks are left. */
static const char *
next_word(const char **p)
{
	const char *w = *p, *e;

	while (is_blank(*w))
		w++;
	if (*w == '\0')
		return NULL;
	e = w;
	while (*e && !is_blank(*e))
		e++;
	*p = e;
	return w;
}

int
get_args(struct loader *ld, const struct directive *d, const struct ynode *val,
    struct args *a)
{
	struct arena *ar = &ld->cf->arena;

	memset(a, 0, sizeof(*a));
	if (val->type == YN_MAP)
		return lerr(ld, val, d->name, "expected a value or a sequence of values, got a mapping");
	if (val->type == YN_SEQ) {
		/*
		 * As nginx's 1MORE: an empty list would leave user unset or no
		 * mechanism, protocol or name. Lists that may be empty ([] for
		 * capabilities, certificates...) are handled before this.
		 */
		if (val->n == 0)
			return lerr(ld, val, d->name, "expected at least one value, got []");
		a->v = arena_alloc(ar, (val->n + 1) * sizeof(*a->v));
		a->at = arena_alloc(ar, (val->n + 1) * sizeof(*a->at));
		if (a->v == NULL || a->at == NULL)
			return lerr(ld, val, d->name, "out of memory");
		for (size_t i = 0; i < val->n; i++) {
			const struct ynode *it = val->kids[i];
			if (++ld->visits > YTREE_MAX_NODES)
				return lerr(ld, it, d->name, "too many values (alias expansion?)");
			if (it->type != YN_SCALAR)
				return lerr(ld, it, d->name, "expected a value, got %s", type_name(it->type));
			if (it->len == 0)
				return lerr(ld, it, d->name, "empty value");
			/* Values end up in protocol lines (capabilities) and headers. */
			if (strpbrk(it->str, "\r\n") != NULL)
				return lerr(ld, it, d->name, "value contains a line break");
			a->v[a->n] = it->str;
			a->at[a->n] = it;
			a->n++;
		}
		return 0;
	}
	/*
	 * A scalar: split on blanks, as nginx would split its arguments. Line
	 * breaks count as blanks: a folded or literal block scalar ends in one,
	 * and it must not end up inside a capability or a mechanism name.
	 */
	size_t cnt = 0;
	const char *p, *w;
	if (config_is_null(val))
		return lerr(ld, val, d->name, "expected a value, got nothing");
	for (p = val->str; next_word(&p) != NULL;)
		cnt++;
	if (cnt == 0)
		return lerr(ld, val, d->name, "expected a value, got nothing");
	a->v = arena_alloc(ar, cnt * sizeof(*a->v));
	a->at = arena_alloc(ar, cnt * sizeof(*a->at));
	if (a->v == NULL || a->at == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (p = val->str; (w = next_word(&p)) != NULL;) {
		a->v[a->n] = arena_strndup(ar, w, (size_t)(p - w));
		if (a->v[a->n] == NULL)
			return lerr(ld, val, d->name, "out of memory");
		a->at[a->n] = val;
		a->n++;
	}
	return 0;
}

/*
 * The code point of the UTF-8 sequence at p and its length, or 0 when p
 * does not start a valid sequence.
 */
static size_t
utf8_decode(const unsigned char *p, unsigned *cp)
{
	size_t n;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		*cp = p[0] & 0x1fu;
		n = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		*cp = p[0] & 0x0fu;
		n = 3;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		*cp = p[0] & 0x07u;
		n = 4;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (p[i] & 0x3fu);
	}
	return n;
}

/*
 * Double-quoted YAML scalar that libyaml reads back byte for byte. Besides
 * '"', '\\', C0 controls and DEL, it escapes what libyaml refuses raw (C1
 * controls, U+FFFE, U+FFFF: "control characters are not allowed"), what
 * it folds to a space inside quotes as a line break (U+0085, U+2028,
 * U+2029), and U+FEFF, which readers take for a byte order mark. Values
 * come from YAML, so they are valid UTF-8; a stray byte is copied as is.
 */
void
print_quoted(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	buf_append(out, "\"", 1);
	while (*p) {
		unsigned cp;
		size_t n = utf8_decode(p, &cp);

		if (n == 0) {
			buf_append(out, p, 1);
			p++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			char e[2] = { '\\', (char)cp };
			buf_append(out, e, 2);
		} else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			buf_printf(out, "\\x%02x", cp);
		} else if (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
		    cp == 0xffff) {
			buf_printf(out, "\\u%04x", cp);
		} else {
			buf_append(out, p, n);
		}
		p += n;
	}
	buf_append(out, "\"", 1);
}

void
print_msec(struct buf *out, uint64_t ms)
{
	if (ms == 0)
		buf_puts(out, "0s");
	else if (ms % 86400000 == 0)
		buf_printf(out, "%llud", (unsigned long long)(ms / 86400000));
	else if (ms % 3600000 == 0)
		buf_printf(out, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		buf_printf(out, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		buf_printf(out, "%llus", (unsigned long long)(ms / 1000));
	else
		buf_printf(out, "%llums", (unsigned long long)ms);
}

void
print_size(struct buf *out, size_t sz)
{
	if (sz != 0 && sz % (1024 * 1024) == 0)
		buf_printf(out, "%zum", sz / (1024 * 1024));
	else if (sz != 0 && sz % 1024 == 0)
		buf_printf(out, "%zuk", sz / 1024);
	else
		buf_printf(out, "%zu", sz);
}

/*
 * print_quoted() of a formatted string: -T's one-value form of an item of
 * two arguments ("name value", "target level"). A buf, not a fixed array:
 * a value may be up to 64 KB long.
 */
void
print_quotedf(struct buf *out, const char *fmt, ...)
{
	struct buf tmp = { 0 };
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&tmp, fmt, ap);
	va_end(ap);
	buf_append(&tmp, "", 1);
	print_quoted(out, buf_rptr(&tmp));
	buf_release(&tmp);
}

/* A flow sequence of quoted strings: ["IMAP4rev1", "IDLE"]; [] when empty. */
void
print_strlist(struct buf *out, const struct strlist *l)
{
	buf_puts(out, "[");
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			buf_puts(out, ", ");
		print_quoted(out, l->v[i]);
	}
	buf_puts(out, "]");
}

/* The names of the bits set in m, in the order of nv: "[plain, login]". */
void
print_mask(struct buf *out, const struct name_val *nv, unsigned m)
{
	int first = 1;

	buf_puts(out, "[");
	for (; nv->name; nv++)
		if (m & (unsigned)nv->val) {
			buf_printf(out, "%s%s", first ? "" : ", ", nv->name);
			first = 0;
		}
	buf_puts(out, "]");
}

int
set_zone_name_size(struct loader *ld, const struct ynode *at, const char *key, const char *text,
    const char *name, size_t nlen, size_t min, char **out_name, size_t *out_size)
{
	size_t sz;

	for (const char *q = name; q < name + nlen; q++)
		if (!(isalnum((unsigned char)*q) || *q == '_' || *q == '-'))
			return lerr(ld, at, key, "invalid zone name in \"%s\" (letters, digits, _ and -)",
			    text);
	/* shm_zone_get() would refuse it only when the master starts. */
	if (nlen >= sizeof(((struct shm_zone *)0)->name))
		return lerr(ld, at, key, "zone name \"%.*s...\" is longer than %zu characters", 16,
		    name, sizeof(((struct shm_zone *)0)->name) - 1);
	if (parse_size(name + nlen + 1, &sz) < 0)
		return lerr(ld, at, key, "invalid zone size in \"%s\"", text);
	if (sz < min)
		return lerr(ld, at, key, "zone \"%.*s\" is too small (at least %zuk)", (int)nlen, name,
		    min / 1024);
	if (sz > (size_t)4 * 1024 * 1024 * 1024)
		return lerr(ld, at, key, "zone \"%.*s\" is larger than 4g", (int)nlen, name);
	if ((*out_name = arena_strndup(&ld->cf->arena, name, nlen)) == NULL)
		return lerr(ld, at, key, "out of memory");
	*out_size = sz;
	return 0;
}
