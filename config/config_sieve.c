/*
 * sieve_capabilities: the capability lines a ManageSieve greeting carries
 * (RFC 5804 1.7), each a name and maybe a value, which the machine quotes.
 * Unlike imap_capabilities a line holds a blank ("SIEVE fileinto vacation"),
 * so a scalar splits as nginx splits arguments (double quotes group words)
 * and each sequence item is one line; -T prints the sequence form.
 */
#include <string.h>
#include <strings.h>

#include "config/config_custom.h"

/* The chars of a capability name: RFC 5804's atoms, less what needs quoting. */
static int
name_char(char c)
{
	return c > ' ' && c < 0x7f && c != '"' && c != '\\' && c != '{' && c != '}' &&
	    c != '(' && c != ')';
}

/*
 * One line "NAME [value]" into its stored form: the name, and the value
 * after one blank. Control characters are refused: they would end up
 * inside a quoted string that may not hold them.
 */
static int
take_line(struct loader *ld, const struct directive *d, const struct ynode *at, const char *s,
    char **out)
{
	const char *n = s, *ne, *v;
	size_t vl;

	for (const char *c = s; *c; c++)
		if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f)
			return lerr(ld, at, d->name, "a control character in a capability line");
	while (*n == ' ' || *n == '\t')
		n++;
	for (ne = n; *ne && name_char(*ne); ne++)
		;
	if (ne == n || (*ne && *ne != ' ' && *ne != '\t'))
		return lerr(ld, at, d->name, "\"%s\": a capability name is letters, digits and "
		    "punctuation, then maybe a blank and its value", s);
	for (v = ne; *v == ' ' || *v == '\t'; v++)
		;
	vl = strlen(v);
	while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	for (size_t i = 0; i < vl; i++)
		if (v[i] == '\t')
			return lerr(ld, at, d->name, "\"%s\": a tab in the value", s);
	size_t nl = (size_t)(ne - n);
	if ((nl == 8 && strncasecmp(n, "STARTTLS", 8) == 0) || (nl == 4 && strncasecmp(n, "SASL", 4) == 0))
		return lerr(ld, at, d->name, "\"%.*s\" is computed from starttls and sieve_auth; "
		    "leave it out", (int)nl, n);
	*out = arena_alloc(&ld->cf->arena, nl + 1 + vl + 1);
	if (*out == NULL)
		return lerr(ld, at, d->name, "out of memory");
	memcpy(*out, n, nl);
	(*out)[nl] = '\0';
	if (vl > 0) {
		(*out)[nl] = ' ';
		memcpy(*out + nl + 1, v, vl);
		(*out)[nl + 1 + vl] = '\0';
	}
	return 0;
}

/* Splits a scalar as nginx splits arguments: blanks, and "..." groups. */
static size_t
split_scalar(const char *s, const char **w, size_t *wl, size_t max)
{
	size_t n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (*s == '\0')
			return n;
		const char *e;
		if (*s == '"') {
			s++;
			e = strchr(s, '"');
			if (e == NULL)
				return (size_t)-1;
		} else {
			for (e = s; *e && *e != ' ' && *e != '\t' && *e != '\n' && *e != '\r'; e++)
				;
		}
		if (n < max) {
			w[n] = s;
			wl[n] = (size_t)(e - s);
		}
		n++;
		s = *e == '"' ? e + 1 : e;
	}
}

#define SIEVE_CAPS_MAX 64

int
set_sieve_caps(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct strlist *l = field;
	const char *w[SIEVE_CAPS_MAX];
	size_t wl[SIEVE_CAPS_MAX], n;
	struct args a;

	memset(l, 0, sizeof(*l));
	if (val->type == YN_SEQ) {
		if (val->n == 0)
			return 0;
		if (get_args(ld, d, val, &a) < 0)
			return -1;
		n = a.n;
	} else {
		if (val->type != YN_SCALAR || config_is_null(val))
			return lerr(ld, val, d->name, "expected a value or a sequence of values");
		n = split_scalar(val->str, w, wl, SIEVE_CAPS_MAX);
		if (n == (size_t)-1)
			return lerr(ld, val, d->name, "a double quote is not closed");
		if (n == 0)
			return lerr(ld, val, d->name, "expected a value, got nothing");
	}
	if (n > SIEVE_CAPS_MAX)
		return lerr(ld, val, d->name, "more than %d capabilities", SIEVE_CAPS_MAX);
	l->v = arena_alloc(&ld->cf->arena, n * sizeof(*l->v));
	if (l->v == NULL)
		return lerr(ld, val, d->name, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *s = val->type == YN_SEQ ? a.v[i] : arena_strndup(&ld->cf->arena, w[i], wl[i]);
		if (s == NULL)
			return lerr(ld, val, d->name, "out of memory");
		if (take_line(ld, d, val->type == YN_SEQ ? a.at[i] : val, s, &l->v[i]) < 0)
			return -1;
	}
	l->n = n;
	return 0;
}

void
print_sieve_caps(const struct directive *d, const void *field, struct buf *out)
{
	(void)d;
	print_strlist(out, field);
}
