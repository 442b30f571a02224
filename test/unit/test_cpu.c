/*
 * common/cpu.c and the environment a worker keeps (common/proc.c): the CPU
 * masks worker_cpu_affinity takes, auto's choice of CPU per worker, the
 * cgroup v2 cpu.max quota behind worker_processes auto, and env.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/cpu.h"
#include "common/proc.h"

static struct cpu_mask
mask(const char *s)
{
	struct cpu_mask m;
	char err[256];

	cr_assert_eq(cpu_mask_parse(s, &m, err, sizeof(err)), 0, "%s: %s", s, err);
	return m;
}

Test(cpu, mask_parse_valid)
{
	struct cpu_mask m = mask("0101");
	char hex[300];

	cr_assert_eq(cpu_mask_count(&m), 2);
	cr_assert(cpu_mask_isset(&m, 0) && cpu_mask_isset(&m, 2));
	cr_assert(!cpu_mask_isset(&m, 1) && !cpu_mask_isset(&m, 3));
	cpu_mask_hex(&m, hex, sizeof(hex));
	cr_assert_str_eq(hex, "0x5");
	m = mask("10");
	cr_assert(cpu_mask_isset(&m, 1) && cpu_mask_count(&m) == 1);

	char big[CPU_MASK_BITS + 1];
	memset(big, '0', CPU_MASK_BITS);
	big[0] = '1';
	big[CPU_MASK_BITS] = '\0';
	m = mask(big);
	cr_assert(cpu_mask_isset(&m, CPU_MASK_BITS - 1));
	cpu_mask_hex(&m, hex, sizeof(hex));
	cr_assert_eq(strlen(hex), 2 + CPU_MASK_BITS / 4);
	cr_assert_eq(hex[2], '8');
}

Test(cpu, mask_parse_invalid)
{
	struct cpu_mask m;
	char err[256], big[CPU_MASK_BITS + 2];

	memset(big, '1', CPU_MASK_BITS + 1);
	big[CPU_MASK_BITS + 1] = '\0';
	cr_assert_eq(cpu_mask_parse(big, &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "at most 1024") != NULL, "%s", err);
	cr_assert_eq(cpu_mask_parse("0000", &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "no 1 bit") != NULL, "%s", err);
	cr_assert_eq(cpu_mask_parse("0102", &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "\"2\"") != NULL, "%s", err);
	cr_assert_eq(cpu_mask_parse("0x3", &m, err, sizeof(err)), -1);
	cr_assert_eq(cpu_mask_parse("", &m, err, sizeof(err)), -1);
	cr_assert_eq(cpu_mask_parse("-1", &m, err, sizeof(err)), -1);
}

Test(cpu, auto_pick)
{
	struct cpu_mask allowed = mask("11111111"), only = mask("01100000"), out;

	/* auto: worker i on the i-th allowed CPU, wrapping. */
	for (unsigned i = 0; i < 20; i++) {
		cr_assert_eq(cpu_auto_pick(&allowed, NULL, i, &out), 0);
		cr_assert_eq(cpu_mask_count(&out), 1);
		cr_assert(cpu_mask_isset(&out, i % 8), "worker %u", i);
	}
	/* auto MASK: only the CPUs of MASK (5 and 6). */
	cr_assert_eq(cpu_auto_pick(&allowed, &only, 0, &out), 0);
	cr_assert(cpu_mask_isset(&out, 5));
	cr_assert_eq(cpu_auto_pick(&allowed, &only, 1, &out), 0);
	cr_assert(cpu_mask_isset(&out, 6));
	cr_assert_eq(cpu_auto_pick(&allowed, &only, 2, &out), 0);
	cr_assert(cpu_mask_isset(&out, 5));
	/* Allowed CPUs with gaps (a taskset -c 1,3 start). */
	allowed = mask("1010");
	cr_assert_eq(cpu_auto_pick(&allowed, NULL, 0, &out), 0);
	cr_assert(cpu_mask_isset(&out, 1));
	cr_assert_eq(cpu_auto_pick(&allowed, NULL, 1, &out), 0);
	cr_assert(cpu_mask_isset(&out, 3));
	/* A MASK with no allowed CPU. */
	only = mask("0101");
	cr_assert_eq(cpu_auto_pick(&allowed, &only, 0, &out), -1);
}

Test(cpu, quota_parse)
{
	cr_assert_eq(cpu_quota_parse("max 100000\n"), 0);
	cr_assert_eq(cpu_quota_parse("max 100000"), 0);
	cr_assert_eq(cpu_quota_parse("400000 100000\n"), 4);
	cr_assert_eq(cpu_quota_parse("150000 100000\n"), 2);
	cr_assert_eq(cpu_quota_parse("100000 100000"), 1);
	cr_assert_eq(cpu_quota_parse("1000 100000\n"), 1, "a fraction of a CPU is one");
	cr_assert_eq(cpu_quota_parse("6400000 100000\n"), 64);
	/* Garbage: no quota. */
	cr_assert_eq(cpu_quota_parse(""), 0);
	cr_assert_eq(cpu_quota_parse("garbage"), 0);
	cr_assert_eq(cpu_quota_parse("400000"), 0);
	cr_assert_eq(cpu_quota_parse("400000 0\n"), 0);
	cr_assert_eq(cpu_quota_parse("0 100000\n"), 0);
	cr_assert_eq(cpu_quota_parse("-400000 100000\n"), 0);
	cr_assert_eq(cpu_quota_parse("400000 100000 x\n"), 0);
	cr_assert_eq(cpu_quota_parse("400000  100000\n"), 0);
	cr_assert_eq(cpu_quota_parse("99999999999999999999 1\n"), 0);
}

Test(cpu, usable_is_at_least_one)
{
	struct cpu_mask m;

	cr_assert_eq(cpu_allowed(&m), 0);
	cr_assert_geq(cpu_usable(), 1);
	cr_assert_leq(cpu_usable(), cpu_mask_count(&m));
}

Test(cpu, env_build)
{
	char *old[] = { "PATH=/bin", "HOME=/root", "TZ=UTC", "MAILPROXY_UTLS=0", "SECRET=x", NULL };
	const char *list[] = { "HOME", "FOO=bar", "MISSING", "PATH=/usr/bin" };
	char **e = proc_env_build(old, list, 4);

	cr_assert_not_null(e);
	cr_assert_str_eq(e[0], "TZ=UTC");
	cr_assert_str_eq(e[1], "MAILPROXY_UTLS=0");
	cr_assert_str_eq(e[2], "HOME=/root");
	cr_assert_str_eq(e[3], "FOO=bar");
	cr_assert_str_eq(e[4], "PATH=/usr/bin");
	cr_assert_null(e[5]);
	free(e);

	/* No env: only TZ and MAILPROXY_* stay; a later entry replaces an earlier one. */
	const char *twice[] = { "A=1", "A=2", "TZ=Europe/Paris" };
	e = proc_env_build(old, twice, 3);
	cr_assert_str_eq(e[0], "TZ=Europe/Paris");
	cr_assert_str_eq(e[1], "MAILPROXY_UTLS=0");
	cr_assert_str_eq(e[2], "A=2");
	cr_assert_null(e[3]);
	free(e);
	e = proc_env_build(old, NULL, 0);
	cr_assert_str_eq(e[0], "TZ=UTC");
	cr_assert_str_eq(e[1], "MAILPROXY_UTLS=0");
	cr_assert_null(e[2]);
	free(e);
}
