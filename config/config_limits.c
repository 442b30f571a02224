/*
 * The failed-login limit directives with a grammar of their own:
 * login_limit_zone ("shared:NAME:SIZE" | off), the rules login_limit_addr,
 * login_limit_user and login_limit_pair ("10/m burst=20 block=15m" | off),
 * and login_limit_log_level (error_log's level names). Each setter reports
 * the position of the offending argument; each printer writes what its
 * setter reads back to the same value (-T).
 */
#include <string.h>
#include <sys/un.h>

#include "common/log.h"
#include "common/stats.h"
#include "config/config_custom.h"

#define LIMIT_ZONE_MIN		(32 * 1024)
#define LIMIT_RATE_MAX		1000000
#define LIMIT_BURST_MAX		1000000

/* ---- login_limit_zone ---- */

int
set_limit_zone(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct limit_zone_conf *z = field;
	const char *s, *name, *colon;
	size_t nlen;

	if (get_scalar(ld, d, val, &s) < 0)
		return -1;
	memset(z, 0, sizeof(*z));
	if (strcmp(s, "off") == 0)
		return 0;
	if (strncmp(s, "shared:", 7) != 0 || (colon = strrchr(s + 7, ':')) == NULL)
		return lerr(ld, val, d->name, "expected shared:NAME:SIZE or off, got \"%s\"", s);
	name = s + 7;
	nlen = (size_t)(colon - name);
	if (nlen == 0)
		return lerr(ld, val, d->name, "empty zone name in \"%s\"", s);
	/* The master's own counters live in a zone of that name. */
	if (nlen == strlen(STATS_ZONE) && memcmp(name, STATS_ZONE, nlen) == 0)
		return lerr(ld, val, d->name, "zone name \"%s\" is reserved for the server's counters",
		    STATS_ZONE);
	return set_zone_name_size(ld, val, d->name, s, name, nlen, LIMIT_ZONE_MIN, &z->name, &z->size);
}

void
print_limit_zone(const struct directive *d, const void *field, struct buf *out)
{
	const struct limit_zone_conf *z = field;
	struct buf tmp = { 0 };

	(void)d;
	if (z->name == NULL) {
		buf_puts(out, "off");
		return;
	}
	buf_printf(&tmp, "shared:%s:", z->name);
	print_size(&tmp, z->size);
	buf_append(&tmp, "", 1);
	print_quoted(out, buf_rptr(&tmp));
	buf_release(&tmp);
}

/* ---- login_limit_addr, login_limit_user, login_limit_pair ---- */

/* Microseconds per rate unit: N/s, N/m, N/h. */
static uint64_t
rate_unit_us(char u)
{
	switch (u) {
	case 's': return 1000000ULL;
	case 'm': return 60000000ULL;
	case 'h': return 3600000000ULL;
	default: return 0;
	}
}

/*
 * "N/s", "N/m" or "N/h" with N in 1..LIMIT_RATE_MAX into the interval
 * between two failures (rounded down, at least 1 us). Returns 0, -1 when
 * the text is no rate, -2 when N is out of range.
 */
static int
parse_rate(const char *p, uint64_t *interval_us)
{
	const char *slash = strchr(p, '/');
	size_t nlen = slash ? (size_t)(slash - p) : 0;
	uint64_t unit, n = 0;

	if (nlen == 0 || strspn(p, "0123456789") != nlen || slash[1] == '\0' || slash[2] != '\0' ||
	    (unit = rate_unit_us(slash[1])) == 0)
		return -1;
	for (size_t i = 0; i < nlen; i++) {
		n = n * 10 + (uint64_t)(p[i] - '0');
		if (n > LIMIT_RATE_MAX)
			return -2;
	}
	if (n == 0)
		return -2;
	*interval_us = unit / n ? unit / n : 1;
	return 0;
}

int
set_limit_rule(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct limit_rule_conf *r = field;
	int have_rate = 0, have_burst = 0, have_block = 0;
	struct args a;
	long v;

	if (get_args(ld, d, val, &a) < 0)
		return -1;
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < a.n; i++) {
		const char *p = a.v[i];
		int rc;

		if (strcmp(p, "off") == 0) {
			if (a.n != 1)
				return lerr(ld, a.at[i], d->name, "\"off\" must be the only value");
			return 0;
		}
		if (strncmp(p, "burst=", 6) == 0) {
			if (have_burst++)
				return lerr(ld, a.at[i], d->name, "burst is given twice");
			if (parse_long(p + 6, 0, LIMIT_BURST_MAX, &v) < 0)
				return lerr(ld, a.at[i], d->name,
				    "invalid burst in \"%s\" (expected burst=N with N from 0 to %d)", p,
				    LIMIT_BURST_MAX);
			r->burst = (unsigned)v;
		} else if (strncmp(p, "block=", 6) == 0) {
			if (have_block++)
				return lerr(ld, a.at[i], d->name, "block is given twice");
			if (parse_msec(p + 6, &r->block_ms) < 0)
				return lerr(ld, a.at[i], d->name,
				    "invalid time in \"%s\" (expected block=TIME such as 15m or 1h)", p);
		} else if (strchr(p, '/') != NULL && strchr(p, '=') == NULL) {
			if (have_rate++)
				return lerr(ld, a.at[i], d->name, "the rate is given twice");
			rc = parse_rate(p, &r->interval_us);
			if (rc == -1)
				return lerr(ld, a.at[i], d->name,
				    "invalid rate \"%s\" (expected N/s, N/m or N/h)", p);
			if (rc == -2)
				return lerr(ld, a.at[i], d->name,
				    "rate \"%s\" is out of range (N from 1 to %d)", p, LIMIT_RATE_MAX);
		} else if (p[strspn(p, "0123456789")] == '\0') {
			return lerr(ld, a.at[i], d->name,
			    "rate \"%s\" has no unit (expected %s/s, %s/m or %s/h)", p, p, p, p);
		} else {
			return lerr(ld, a.at[i], d->name, "unexpected \"%s\" (expected a rate N/s, N/m "
			    "or N/h, burst=N, block=TIME, or off)", p);
		}
	}
	if (!have_rate)
		return lerr(ld, val, d->name, "no rate given (expected N/s, N/m or N/h, "
		    "e.g. \"10/m burst=20\")");
	return 0;
}

/*
 * The rate as N/unit: the first unit whose N gives the same interval back
 * (the unit written may come back as another one: 60/m prints 1/s). One
 * always does: for I = U / n rounded down, U / (U / I) rounded down is I.
 */
static void
print_rate(struct buf *out, uint64_t interval_us)
{
	static const char units[] = "smh";

	for (size_t i = 0; i < 3; i++) {
		uint64_t u = rate_unit_us(units[i]), n = u / interval_us;
		if (n >= 1 && n <= LIMIT_RATE_MAX && u / n == interval_us) {
			buf_printf(out, "%llu/%c", (unsigned long long)n, units[i]);
			return;
		}
	}
	/* Not reached for intervals parse_rate() makes; keeps the value visible. */
	buf_printf(out, "%lluus", (unsigned long long)interval_us);
}

void
print_limit_rule(const struct directive *d, const void *field, struct buf *out)
{
	const struct limit_rule_conf *r = field;

	(void)d;
	if (r->interval_us == 0) {
		buf_puts(out, "off");
		return;
	}
	buf_puts(out, "\"");
	print_rate(out, r->interval_us);
	if (r->burst)
		buf_printf(out, " burst=%u", r->burst);
	if (r->block_ms) {
		buf_puts(out, " block=");
		print_msec(out, r->block_ms);
	}
	buf_puts(out, "\"");
}

/* ---- login_limit_log_level ---- */

int
set_log_level(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	const char *s;
	int level;

	if (get_scalar(ld, d, val, &s) < 0)
		return -1;
	if ((level = log_level_parse(s)) < 0)
		return lerr(ld, val, d->name,
		    "unknown level \"%s\" (expected debug, info, notice, warn, error, crit, alert or emerg)",
		    s);
	*(int *)field = level;
	return 0;
}

void
print_log_level(const struct directive *d, const void *field, struct buf *out)
{
	(void)d;
	buf_puts(out, log_level_name(*(const int *)field));
}

/* ---- login_limit_store ---- */

#define STORE_DB_MAX		65535
#define STORE_PREFIX_MAX	64
#define STORE_TIMEOUT_MAX	60000
#define STORE_PERIOD_DEFAULT	3600000ULL
#define STORE_PERIOD_MAX	(7 * 86400000ULL)

/* A user name, password or prefix goes into a Redis command as one argument:
 * anything but blanks and control characters. */
static int
store_word_ok(const char *v)
{
	if (*v == '\0')
		return 0;
	for (; *v; v++)
		if ((unsigned char)*v <= ' ' || *v == 0x7f)
			return 0;
	return 1;
}

static int
store_address(struct loader *ld, const struct directive *d, const struct ynode *at,
    const char *a, struct limit_store_conf *st)
{
	char hostport[300];
	size_t n = strlen(a);

	if (strncmp(a, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&st->addr;
		if (n == 5 || n - 5 >= sizeof(sun->sun_path))
			return lerr(ld, at, d->name, "invalid unix socket path in \"%s\"", a);
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, a + 5, n - 5);
		st->addrlen = sizeof(*sun);
		return 0;
	}
	if (n == 0 || n >= sizeof(hostport))
		return lerr(ld, at, d->name, "invalid address \"%.40s\"", a);
	memcpy(hostport, a, n + 1);
	return load_hostport(ld, at, d->name, a, hostport, 6379, &st->addr, &st->addrlen, NULL);
}

/*
 * "redis ADDRESS [key=value...]" or off, for login_limit_store and (with
 * period != NULL, which also takes period=) ssl_session_ticket_key_store.
 */
static int
store_parse(struct loader *ld, const struct directive *d, const struct ynode *val,
    struct limit_store_conf *st, uint64_t *period)
{
	struct arena *ar = &ld->cf->arena;
	const char *more = period ? " [period=TIME]" : "";
	struct args a;
	long v;

	if (get_args(ld, d, val, &a) < 0)
		return -1;
	memset(st, 0, sizeof(*st));
	if (a.n == 1 && strcmp(a.v[0], "off") == 0)
		return 0;
	if (strcmp(a.v[0], "redis") != 0)
		return lerr(ld, a.at[0], d->name, "expected \"redis ADDRESS [db=N] [user=NAME] "
		    "[password=SECRET] [timeout=TIME] [prefix=STRING]%s\" or off, got \"%s\"", more,
		    a.v[0]);
	if (a.n < 2)
		return lerr(ld, val, d->name, "no Redis address given (expected e.g. \"redis 127.0.0.1:6379\")");
	if (store_address(ld, d, a.at[1], a.v[1], st) < 0)
		return -1;
	/* A login waits for the limits; the ticket keys are fetched in the background. */
	st->timeout = period ? 1000 : 100;
	if (period)
		*period = STORE_PERIOD_DEFAULT;
	for (size_t i = 2; i < a.n; i++) {
		const char *p = a.v[i], *eq = strchr(p, '=');
		size_t kl = eq ? (size_t)(eq - p) : 0;
		const char *ov = eq ? eq + 1 : "";

#define STORE_KEY(k) (kl == sizeof(k) - 1 && memcmp(p, k, kl) == 0)
		if (STORE_KEY("db")) {
			if (parse_long(ov, 0, STORE_DB_MAX, &v) < 0)
				return lerr(ld, a.at[i], d->name, "invalid db in \"%s\" (expected 0 to %d)",
				    p, STORE_DB_MAX);
			st->db = (unsigned)v;
		} else if (STORE_KEY("user") || STORE_KEY("password") || STORE_KEY("prefix")) {
			char **slot = STORE_KEY("user") ? &st->user : STORE_KEY("password") ?
			    &st->password : &st->prefix;
			if (!store_word_ok(ov) || (slot == &st->prefix && strlen(ov) > STORE_PREFIX_MAX))
				return lerr(ld, a.at[i], d->name, "invalid %.*s (expected%s characters "
				    "without blanks or control characters)", (int)kl, p,
				    slot == &st->prefix ? " 1 to 64" : " one or more");
			if (*slot != NULL)
				return lerr(ld, a.at[i], d->name, "%.*s is given twice", (int)kl, p);
			*slot = arena_strdup(ar, ov);
		} else if (STORE_KEY("timeout")) {
			if (parse_msec(ov, &st->timeout) < 0 || st->timeout == 0 ||
			    st->timeout > STORE_TIMEOUT_MAX)
				return lerr(ld, a.at[i], d->name,
				    "invalid timeout in \"%s\" (expected a time from 1ms to 60s)", p);
		} else if (period != NULL && STORE_KEY("period")) {
			/* Whole seconds: the keys expire in Redis at a unix second (EXAT). */
			if (parse_msec(ov, period) < 0 || *period < 1000 || *period % 1000 != 0 ||
			    *period > STORE_PERIOD_MAX)
				return lerr(ld, a.at[i], d->name, "invalid period in \"%s\" (expected "
				    "whole seconds from 1s to 7d)", p);
		} else {
			return lerr(ld, a.at[i], d->name, "unexpected \"%s\" (expected db=N, user=NAME, "
			    "password=SECRET, timeout=TIME%s or prefix=STRING)", p,
			    period ? ", period=TIME" : "");
		}
#undef STORE_KEY
	}
	if (st->user != NULL && st->password == NULL)
		return lerr(ld, val, d->name, "user=%s needs a password=", st->user);
	if (st->prefix == NULL)
		st->prefix = arena_strdup(ar, period ? "mailproxy:tickets:" : "mailproxy:");
	if (period) {
		st->down_note = "the ticket keys stay as they are while their period lasts, then are made locally";
		st->up_note = "the ticket keys are shared again";
	} else {
		st->down_note = "the limits count locally until it is back";
		st->up_note = "the limits are shared again";
	}
	/* -T prints it as written, but for the parts in their canonical form. */
	st->spec = arena_strdup(ar, a.v[1]);
	return 0;
}

int
set_limit_store(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	return store_parse(ld, d, val, field, NULL);
}

int
set_ticket_store(struct loader *ld, const struct directive *d, void *field, const struct ynode *val)
{
	struct ticket_store_conf *ts = field;

	return store_parse(ld, d, val, &ts->redis, &ts->period);
}

static void
store_print(const struct limit_store_conf *st, const uint64_t *period, struct buf *out)
{
	if (st->spec == NULL) {
		buf_puts(out, "off");
		return;
	}
	struct buf tmp = { 0 };

	buf_printf(&tmp, "redis %s", st->spec);
	if (st->db)
		buf_printf(&tmp, " db=%u", st->db);
	if (st->user)
		buf_printf(&tmp, " user=%s", st->user);
	if (st->password)
		buf_printf(&tmp, " password=%s", st->password);
	buf_puts(&tmp, " timeout=");
	print_msec(&tmp, st->timeout);
	buf_printf(&tmp, " prefix=%s", st->prefix);
	if (period) {
		buf_puts(&tmp, " period=");
		print_msec(&tmp, *period);
	}
	buf_append(&tmp, "", 1);
	print_quoted(out, buf_rptr(&tmp));
	buf_release(&tmp);
}

void
print_limit_store(const struct directive *d, const void *field, struct buf *out)
{
	(void)d;
	store_print(field, NULL, out);
}

void
print_ticket_store(const struct directive *d, const void *field, struct buf *out)
{
	const struct ticket_store_conf *ts = field;

	(void)d;
	store_print(&ts->redis, &ts->period, out);
}
