/*
 * CPU masks, the usable CPU count and worker_cpu_affinity auto's choice (see
 * cpu.h). Called by the config loader (worker_processes auto, the masks) and
 * by each worker right after fork (its affinity).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpu.h"

unsigned
cpu_mask_count(const struct cpu_mask *m)
{
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(m->w) / sizeof(m->w[0]); i++)
		n += (unsigned)__builtin_popcountll(m->w[i]);
	return n;
}

int
cpu_mask_parse(const char *s, struct cpu_mask *m, char *err, size_t errlen)
{
	size_t len = strlen(s);

	memset(m, 0, sizeof(*m));
	if (len == 0) {
		snprintf(err, errlen, "empty CPU mask");
		return -1;
	}
	if (len > CPU_MASK_BITS) {
		snprintf(err, errlen, "CPU mask \"%.16s...\" has %zu bits, at most %d are supported",
		    s, len, CPU_MASK_BITS);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[len - 1 - i];
		if (c == '1')
			cpu_mask_set(m, (unsigned)i);
		else if (c != '0') {
			snprintf(err, errlen, "invalid character \"%c\" in CPU mask \"%s\" "
			    "(expected 0 and 1, the rightmost for CPU 0)", c, s);
			return -1;
		}
	}
	if (cpu_mask_count(m) == 0) {
		snprintf(err, errlen, "CPU mask \"%s\" has no CPU (no 1 bit)", s);
		return -1;
	}
	return 0;
}

void
cpu_mask_hex(const struct cpu_mask *m, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int top = CPU_MASK_BITS / 4 - 1;
	size_t o = 0;

	while (top > 0 && ((m->w[top / 16] >> ((top % 16) * 4)) & 0xf) == 0)
		top--;
	if (len < 4) {
		if (len)
			buf[0] = '\0';
		return;
	}
	buf[o++] = '0';
	buf[o++] = 'x';
	for (int i = top; i >= 0 && o + 1 < len; i--)
		buf[o++] = hex[(m->w[i / 16] >> ((i % 16) * 4)) & 0xf];
	buf[o] = '\0';
}

/* A decimal number of 1 to 18 digits at *p (no sign), advancing p. */
static int
read_num(const char **p, unsigned long long *v)
{
	const char *s = *p;
	size_t n = 0;

	*v = 0;
	while (isdigit((unsigned char)s[n]) && n < 18)
		*v = *v * 10 + (unsigned)(s[n++] - '0');
	if (n == 0 || isdigit((unsigned char)s[n]))
		return -1;
	*p = s + n;
	return 0;
}

unsigned
cpu_quota_parse(const char *s)
{
	unsigned long long quota, period, n;

	if (read_num(&s, &quota) < 0 || *s++ != ' ' || read_num(&s, &period) < 0)
		return 0;
	if (*s == '\n')
		s++;
	if (*s != '\0' || quota == 0 || period == 0)
		return 0;
	n = (quota + period - 1) / period;
	return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

int
cpu_allowed(struct cpu_mask *m)
{
	cpu_set_t set;

	memset(m, 0, sizeof(*m));
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -1;
	for (unsigned c = 0; c < CPU_MASK_BITS && c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpu_mask_set(m, c);
	return 0;
}

static int
read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* The smallest cpu.max quota of the cgroup v2 path and its ancestors; 0 = none. */
static unsigned
cgroup_quota(void)
{
	char line[4096], path[PATH_MAX], val[128];
	char *cg = NULL;
	unsigned best = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			cg = line + 3;
			cg[strcspn(cg, "\n")] = '\0';
			break;
		}
	fclose(f);
	if (cg == NULL || cg[0] != '/' || strstr(cg, "/..") != NULL)
		return 0;
	for (;;) {
		if ((size_t)snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max",
		    strcmp(cg, "/") == 0 ? "" : cg) < sizeof(path) &&
		    read_small(path, val, sizeof(val)) == 0) {
			unsigned q = cpu_quota_parse(val);
			if (q && (best == 0 || q < best))
				best = q;
		}
		char *slash = strrchr(cg, '/');
		if (slash == NULL || slash == cg)
			break;
		*slash = '\0';
	}
	return best;
}

unsigned
cpu_usable(void)
{
	struct cpu_mask m;
	unsigned n = 0, q;

	if (cpu_allowed(&m) == 0)
		n = cpu_mask_count(&m);
	q = cgroup_quota();
	if (q && (n == 0 || q < n))
		n = q;
	return n ? n : 1;
}

int
cpu_auto_pick(const struct cpu_mask *allowed, const struct cpu_mask *restrict_to,
    unsigned index, struct cpu_mask *out)
{
	struct cpu_mask m = *allowed;
	unsigned n, k = 0;

	memset(out, 0, sizeof(*out));
	if (restrict_to)
		for (size_t i = 0; i < sizeof(m.w) / sizeof(m.w[0]); i++)
			m.w[i] &= restrict_to->w[i];
	if ((n = cpu_mask_count(&m)) == 0)
		return -1;
	index %= n;
	for (unsigned c = 0; c < CPU_MASK_BITS; c++)
		if (cpu_mask_isset(&m, c) && k++ == index) {
			cpu_mask_set(out, c);
			return 0;
		}
	return -1;
}
