/*
 * Temporary-directory and load helpers for the configuration tests; see
 * config_helpers.h. Failures here are setup failures, reported through
 * Criterion so the test stops with the reason.
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/unit/config_helpers.h"

static char root[PATH_MAX];
static char dir[PATH_MAX];
static char err[4096];
static char shown[8192];

void
th_setup(void)
{
	char tmpl[] = "/tmp/mp-unit-XXXXXX";

	cr_assert_not_null(getcwd(root, sizeof(root)));
	cr_assert_not_null(mkdtemp(tmpl), "mkdtemp failed");
	/* The loader reports realpath()s; /tmp may itself be a symlink. */
	cr_assert_not_null(realpath(tmpl, dir));
	cr_assert_eq(chdir(dir), 0);
	/* Criterion skips .fini for a skipped test; the process exit still cleans up. */
	atexit(th_teardown);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
th_teardown(void)
{
	if (root[0] != '\0' && chdir(root) != 0)
		return;
	if (dir[0] != '\0')
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	dir[0] = '\0';		/* runs twice: as .fini and at exit */
}

const char *
th_root(void)
{
	return root;
}

const char *
th_dir(void)
{
	return dir;
}

void
th_write(const char *name, const char *data, long len)
{
	size_t n = len < 0 ? strlen(data) : (size_t)len;
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "cannot create %s", name);
	while (n > 0) {
		ssize_t w = write(fd, data, n);
		cr_assert_gt(w, 0, "cannot write %s", name);
		data += w;
		n -= (size_t)w;
	}
	close(fd);
}

static void
copy_from_root(const char *name)
{
	char src[PATH_MAX + 64], buf[16384];
	FILE *f;
	size_t n;

	snprintf(src, sizeof(src), "%s/%s", root, name);
	f = fopen(src, "rb");
	cr_assert_not_null(f, "%s is missing: run make first (it generates the test pair)", src);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	th_write(name, buf, (long)n);
}

void
th_certs(void)
{
	copy_from_root("cert.pem");
	copy_from_root("cert.key");
}

struct config *
th_load_file(const char *path, const char *prefix, const char *globals)
{
	return config_load(path, prefix, globals, err, sizeof(err));
}

struct config *
th_load_g(const char *yaml, const char *globals)
{
	th_write("t.yaml", yaml, -1);
	return th_load_file("t.yaml", dir, globals);
}

struct config *
th_load(const char *yaml)
{
	return th_load_g(yaml, NULL);
}

const char *
th_err(void)
{
	size_t dl = strlen(dir), o = 0;

	for (const char *p = err; *p && o + 4 < sizeof(shown);) {
		if (dl > 0 && strncmp(p, dir, dl) == 0) {
			memcpy(shown + o, "TMP", 3);
			o += 3;
			p += dl;
		} else {
			shown[o++] = *p++;
		}
	}
	shown[o] = '\0';
	return shown;
}
