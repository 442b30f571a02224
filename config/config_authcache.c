/*
 * auth_http_cache ("shared:NAME:SIZE [valid=TIME] [invalid=TIME]" | off):
 * the auth cache's zone and how long a good and a refused answer are kept.
 * The printer writes what the setter reads back to the same value (-T).
 */
#include <string.h>

#include "common/stats.h"
#include "config/config_custom.h"

#define AUTH_CACHE_ZONE_MIN	(32 * 1024)
#define AUTH_CACHE_VALID	(60 * 1000)
#define AUTH_CACHE_INVALID	(10 * 1000)
/* A day: longer would keep a changed password working for too long. */
#define AUTH_CACHE_TIME_MAX	(86400ULL * 1000)

int
set_auth_cache(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct auth_cache_conf *c = field;
	const char *s, *name, *colon;
	struct args a;
	size_t nlen;

	if (get_args(ld, d, val, &a) < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	if (a.n == 1 && strcmp(a.v[0], "off") == 0)
		return 0;
	s = a.v[0];
	if (strncmp(s, "shared:", 7) != 0 || (colon = strrchr(s + 7, ':')) == NULL)
		return lerr(ld, a.at[0], d->name,
		    "expected \"shared:NAME:SIZE [valid=TIME] [invalid=TIME]\" or off, got \"%s\"", s);
	name = s + 7;
	nlen = (size_t)(colon - name);
	if (nlen == 0)
		return lerr(ld, a.at[0], d->name, "empty zone name in \"%s\"", s);
	if (nlen == strlen(STATS_ZONE) && memcmp(name, STATS_ZONE, nlen) == 0)
		return lerr(ld, a.at[0], d->name, "zone name \"%s\" is reserved for the server's counters",
		    STATS_ZONE);
	if (set_zone_name_size(ld, a.at[0], d->name, s, name, nlen, AUTH_CACHE_ZONE_MIN, &c->name,
	    &c->size) < 0)
		return -1;
	c->valid = AUTH_CACHE_VALID;
	c->invalid = AUTH_CACHE_INVALID;
	for (size_t i = 1; i < a.n; i++) {
		const char *p = a.v[i];
		uint64_t *slot = strncmp(p, "valid=", 6) == 0 ? &c->valid :
		    strncmp(p, "invalid=", 8) == 0 ? &c->invalid : NULL;
		if (slot == NULL)
			return lerr(ld, a.at[i], d->name, "unknown parameter \"%s\" (expected valid= or invalid=)",
			    p);
		if (parse_msec(strchr(p, '=') + 1, slot) < 0 || *slot > AUTH_CACHE_TIME_MAX)
			return lerr(ld, a.at[i], d->name, "invalid time in \"%s\" (0 to 1d)", p);
	}
	return 0;
}

void
print_auth_cache(const struct directive *d, const void *field, struct buf *out)
{
	const struct auth_cache_conf *c = field;
	struct buf tmp = { 0 };

	(void)d;
	if (c->name == NULL) {
		buf_puts(out, "off");
		return;
	}
	buf_printf(&tmp, "shared:%s:", c->name);
	print_size(&tmp, c->size);
	buf_puts(&tmp, " valid=");
	print_msec(&tmp, c->valid);
	buf_puts(&tmp, " invalid=");
	print_msec(&tmp, c->invalid);
	buf_append(&tmp, "", 1);
	print_quoted(out, buf_rptr(&tmp));
	buf_release(&tmp);
}
