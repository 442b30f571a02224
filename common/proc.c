/*
 * Process attributes both kinds of process set: the user switch and the
 * descriptor limit of a worker, and process titles as ps(1) shows them. The
 * title is written over the argv (and environ) area, as nginx and sendmail
 * do, after moving environ somewhere safe; prctl() sets the short name too.
 */
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/cpu.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/xalloc.h"

extern char **environ;

static char *title_start, *title_end;
/* Keeps the moved arguments reachable for the process' life (external, so the
 * compiler cannot drop the only store and leave LeakSanitizer a "leak"). */
char **proctitle_args;
char **proctitle_env;	/* the same for the environment (unsetenv() forgets entries) */

void
proc_drop_privs(const char *user, uid_t uid, gid_t gid)
{
	if (geteuid() != 0)
		return;
	if (setgid(gid) < 0) {
		log_errno(LL_EMERG, errno, "setgid(%d) failed", (int)gid);
		exit(2);
	}
	if (initgroups(user, gid) < 0) {
		log_errno(LL_EMERG, errno, "initgroups(%s, %d) failed", user, (int)gid);
		exit(2);
	}
	if (setuid(uid) < 0) {
		log_errno(LL_EMERG, errno, "setuid(%d) failed", (int)uid);
		exit(2);
	}
	/* setuid() clears the dumpable flag; keep core dumps possible. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

void
proc_set_nofile(long n)
{
	struct rlimit rl = { (rlim_t)n, (rlim_t)n };

	if (n <= 0)
		return;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		struct rlimit cur;
		getrlimit(RLIMIT_NOFILE, &cur);
		log_errno(LL_ALERT, errno, "setrlimit(RLIMIT_NOFILE, %ld) failed, current limit is %llu",
		    n, (unsigned long long)cur.rlim_cur);
	}
}

void
proc_set_core(long long n)
{
	struct rlimit rl = { (rlim_t)n, (rlim_t)n };

	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		log_errno(LL_ALERT, errno, "setrlimit(RLIMIT_CORE, %lld) failed", n);
}

void
proc_set_priority(int nice)
{
	if (nice != 0 && setpriority(PRIO_PROCESS, 0, nice) < 0)
		log_errno(LL_ALERT, errno, "setpriority(%d) failed", nice);
}

void
proc_set_affinity(const struct cpu_mask *m)
{
	cpu_set_t set;
	char hex[CPU_MASK_BITS / 4 + 3];

	CPU_ZERO(&set);
	for (unsigned c = 0; c < CPU_MASK_BITS && c < CPU_SETSIZE; c++)
		if (cpu_mask_isset(m, c))
			CPU_SET(c, &set);
	cpu_mask_hex(m, hex, sizeof(hex));
	log_msg(LL_NOTICE, "sched_setaffinity(%s)", hex);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		log_errno(LL_ALERT, errno, "sched_setaffinity(%s) failed%s", hex,
		    errno == EINVAL ? ": the mask has no CPU this process may run on" : "");
}

/* Whether env names var (as "VAR" or "VAR=..."). */
static int
env_names(const char *entry, const char *var, size_t vlen)
{
	return strncmp(entry, var, vlen) == 0 && (entry[vlen] == '\0' || entry[vlen] == '=');
}

char **
proc_env_build(char **old, const char *const *list, size_t n)
{
	size_t cap = n + 2, k = 0;
	char **env;

	for (char **e = old; e && *e; e++)
		cap++;
	env = calloc(cap, sizeof(*env));
	if (env == NULL)
		return NULL;
	/* TZ and MAILPROXY_* are kept as nginx keeps TZ and NGINX. */
	for (char **e = old; e && *e; e++)
		if (strncmp(*e, "TZ=", 3) == 0 || strncmp(*e, "MAILPROXY_", 10) == 0)
			env[k++] = *e;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(list[i], '=');
		size_t vlen = eq ? (size_t)(eq - list[i]) : strlen(list[i]);
		size_t j;
		/* A later entry for a variable replaces an earlier one. */
		for (j = 0; j < k && !env_names(env[j], list[i], vlen); j++)
			;
		char *val = NULL;
		if (eq)
			val = (char *)list[i];
		else
			for (char **e = old; e && *e && val == NULL; e++)
				if (env_names(*e, list[i], vlen) && (*e)[vlen] == '=')
					val = *e;
		if (val == NULL)
			continue;
		env[j < k ? j : k++] = val;
	}
	env[k] = NULL;
	return env;
}

void
proctitle_init(int argc, char **argv)
{
	size_t n = 0;
	char *start, *end;

	if (argc == 0 || argv[0] == NULL)
		return;
	start = argv[0];
	end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	for (char **e = environ; *e; e++) {
		if (*e == end)
			end = *e + strlen(*e) + 1;
		n++;
	}
	/* Move the environment and the arguments out of the way before the
	 * title is written over them; argv stays valid for a binary upgrade. */
	/* The array stays ours (static) when env later installs another. */
	static char **newenv;
	newenv = xcalloc(n + 1, sizeof(*newenv));
	proctitle_env = xcalloc(n + 1, sizeof(*proctitle_env));
	for (size_t i = 0; i < n; i++)
		newenv[i] = proctitle_env[i] = xstrdup(environ[i]);
	environ = newenv;
	proctitle_args = xcalloc((size_t)argc + 1, sizeof(*proctitle_args));
	for (int i = 0; i < argc; i++)
		argv[i] = proctitle_args[i] = xstrdup(argv[i]);
	title_start = start;
	title_end = end;
}

void
proctitle_set(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	prctl(PR_SET_NAME, buf, 0, 0, 0);
	if (title_start == NULL)
		return;
	size_t room = (size_t)(title_end - title_start);
	size_t n = strlen(buf);
	if (n >= room)
		n = room - 1;
	memcpy(title_start, buf, n);
	memset(title_start + n, '\0', room - n);
}
