/*
 * Error log in nginx's format: "2026/11/24 15:28:45 [info] 1234#1234: *7 text".
 * Targets are files (O_APPEND), stderr, or syslog over UDP; each line is one
 * write(2), nothing ever blocks beyond that. A log set is the list of targets
 * of one context (main, or a server with its own error_log); the global set is
 * used where no server is known. Before a configuration is loaded everything
 * goes to stderr.
 */
#ifndef MP_LOG_H
#define MP_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log_conf.h"

enum log_level {
	LL_EMERG, LL_ALERT, LL_CRIT, LL_ERR, LL_WARN, LL_NOTICE, LL_INFO, LL_DEBUG
};

struct log_file;

struct log_target {
	struct log_file *file;
	int level;
};

struct log_set {
	int n;
	int max_level;		/* highest level any target wants */
	struct log_target t[8];
};


const char *log_level_name(int level);
int log_level_parse(const char *s);	/* -1 if unknown */

/* Opens (or reuses) the targets of conf. Returns 0, or -1 with err filled. */
int log_set_open(struct log_set *ls, const struct errlog_conf *conf,
    const char *prefix, char *err, size_t errlen);
void log_set_global(const struct log_set *ls);
/*
 * One target (path, "stderr" or "syslog:..."), shared by path with every
 * set that names it, reopened by log_reopen(): the access log's files.
 * NULL with err filled on failure.
 */
struct log_file *log_file_open(const char *target, const char *prefix, char *err, size_t errlen);
int log_file_is_syslog(const struct log_file *f);
/*
 * Writes data (whole lines) with one write(2); to syslog, one line as one
 * datagram at the target's severity= (info by default).
 */
void log_file_write(const struct log_file *f, const char *data, size_t n);
/* Reopens every file target in place (dup2 onto the same fd). */
void log_reopen(void);
/*
 * Points stderr (what OpenSSL or the C library print) at path, /dev/null when
 * NULL, and keeps it there: log_reopen() opens path again, so after a log
 * rotation stderr follows in every process that reopens, workers included.
 */
void log_stderr_to(const char *path);
/* Files opened by log_set_open are chowned to uid/gid (master, before fork). */
void log_chown_files(int uid, int gid);
/* Closes files no longer referenced by the given sets (after a reload). */
void log_close_unused(const struct log_set *const *sets, int nsets);
/* Pid printed in each line; call after fork. */
void log_set_pid(void);

int log_enabled(const struct log_set *ls, int level);
void log_vwrite(const struct log_set *ls, int level, int err, uint64_t cid,
    const char *fmt, va_list ap);
void log_write(const struct log_set *ls, int level, int err, uint64_t cid,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define log_msg(level, ...) log_write(NULL, (level), 0, 0, __VA_ARGS__)
#define log_errno(level, err, ...) log_write(NULL, (level), (err), 0, __VA_ARGS__)

#endif
