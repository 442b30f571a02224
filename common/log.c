/*
 * Error log; see log.h. File targets are shared by path across log sets so
 * that reopening (USR1) replaces one descriptor in place with dup2(): every
 * set that points at it follows without being touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"

enum { LF_FILE, LF_STDERR, LF_SYSLOG };

static char *stderr_path;	/* see log_stderr_to(); NULL: stderr left alone */

struct log_file {
	struct log_file *next;
	int kind;
	int fd;
	char *path;		/* file path, or the syslog spec */
	int facility;
	char tag[32];
	int nohostname;
	int severity;		/* syslog severity= (access log lines); -1: info */
};

static struct log_file stderr_file = { .kind = LF_STDERR, .fd = 2, .path = "stderr" };
static struct log_file *files;
static struct log_set stderr_set = {
	.n = 1, .max_level = LL_NOTICE, .t = { { &stderr_file, LL_NOTICE } },
};
static const struct log_set *global_set = &stderr_set;
static int log_pid;
static char hostname[64];

static const char *const level_names[] = {
	"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
};

const char *
log_level_name(int level)
{
	if (level < 0 || level > LL_DEBUG)
		return "?";
	return level_names[level];
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i <= LL_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void
log_set_pid(void)
{
	log_pid = (int)getpid();
}

static const struct {
	const char *name;
	int code;
} facilities[] = {
	{ "kern", 0 }, { "user", 1 }, { "mail", 2 }, { "daemon", 3 },
	{ "auth", 4 }, { "intern", 5 }, { "lpr", 6 }, { "news", 7 },
	{ "uucp", 8 }, { "clock", 9 }, { "authpriv", 10 }, { "ftp", 11 },
	{ "ntp", 12 }, { "audit", 13 }, { "alert", 14 }, { "cron", 15 },
	{ "local0", 16 }, { "local1", 17 }, { "local2", 18 }, { "local3", 19 },
	{ "local4", 20 }, { "local5", 21 }, { "local6", 22 }, { "local7", 23 },
};

/*
 * "syslog:server=ADDR[:PORT][,facility=F][,tag=T][,nohostname]", as nginx
 * writes it. Returns a connected non-blocking UDP socket.
 */
static int
open_syslog(struct log_file *f, const char *spec, char *err, size_t errlen)
{
	char *copy = strdup(spec + 7), *save = NULL, *tok;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	int fd;

	if (copy == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->facility = 23;	/* local7, nginx's default */
	f->severity = -1;
	snprintf(f->tag, sizeof(f->tag), "mailproxy");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "server=", 7) == 0) {
			if (net_parse_hostport(tok + 7, 514, &ss, &sslen, err, errlen) < 0)
				goto fail;
		} else if (strncmp(tok, "facility=", 9) == 0) {
			size_t i;
			for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
				if (strcmp(tok + 9, facilities[i].name) == 0)
					break;
			if (i == sizeof(facilities) / sizeof(facilities[0])) {
				snprintf(err, errlen, "unknown syslog facility \"%s\"", tok + 9);
				goto fail;
			}
			f->facility = facilities[i].code;
		} else if (strncmp(tok, "tag=", 4) == 0) {
			size_t n = strlen(tok + 4);
			if (n == 0 || n >= sizeof(f->tag)) {
				snprintf(err, errlen, "syslog tag must be 1 to %zu characters",
				    sizeof(f->tag) - 1);
				goto fail;
			}
			memcpy(f->tag, tok + 4, n + 1);
		} else if (strcmp(tok, "nohostname") == 0) {
			f->nohostname = 1;
		} else if (strncmp(tok, "severity=", 9) == 0) {
			/* Error log lines keep their own level; access log lines use it. */
			if ((f->severity = log_level_parse(tok + 9)) < 0) {
				snprintf(err, errlen, "unknown syslog severity \"%s\"", tok + 9);
				goto fail;
			}
		} else {
			snprintf(err, errlen, "unknown syslog parameter \"%s\"", tok);
			goto fail;
		}
	}
	if (sslen == 0) {
		snprintf(err, errlen, "syslog target needs server=ADDR");
		goto fail;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
		snprintf(err, errlen, "syslog socket: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	free(copy);
	f->fd = fd;
	return 0;
fail:
	free(copy);
	return -1;
}

static int
open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static struct log_file *
file_get(const char *target, const char *prefix, char *err, size_t errlen)
{
	struct log_file *f;
	char path[4096];

	if (strcmp(target, "stderr") == 0)
		return &stderr_file;
	if (strncmp(target, "syslog:", 7) == 0)
		snprintf(path, sizeof(path), "%s", target);
	else if (target[0] == '/' || prefix == NULL || prefix[0] == '\0')
		snprintf(path, sizeof(path), "%s", target);
	else
		snprintf(path, sizeof(path), "%s/%s", prefix, target);

	for (f = files; f; f = f->next)
		if (strcmp(f->path, path) == 0)
			return f;
	f = calloc(1, sizeof(*f));
	if (f == NULL || (f->path = strdup(path)) == NULL) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (strncmp(path, "syslog:", 7) == 0) {
		f->kind = LF_SYSLOG;
		if (open_syslog(f, path, err, errlen) < 0) {
			free(f->path);
			free(f);
			return NULL;
		}
	} else {
		f->kind = LF_FILE;
		f->fd = open_file(path);
		if (f->fd < 0) {
			snprintf(err, errlen, "open() \"%s\" failed: %s", path, strerror(errno));
			free(f->path);
			free(f);
			return NULL;
		}
	}
	f->next = files;
	files = f;
	return f;
}

struct log_file *
log_file_open(const char *target, const char *prefix, char *err, size_t errlen)
{
	return file_get(target, prefix, err, errlen);
}

int
log_file_is_syslog(const struct log_file *f)
{
	return f->kind == LF_SYSLOG;
}

int
log_set_open(struct log_set *ls, const struct errlog_conf *conf,
    const char *prefix, char *err, size_t errlen)
{
	memset(ls, 0, sizeof(*ls));
	for (size_t i = 0; i < conf->n && ls->n < (int)(sizeof(ls->t) / sizeof(ls->t[0])); i++) {
		struct log_file *f = file_get(conf->v[i].target, prefix, err, errlen);
		if (f == NULL)
			return -1;
		ls->t[ls->n].file = f;
		ls->t[ls->n].level = conf->v[i].level;
		if (conf->v[i].level > ls->max_level)
			ls->max_level = conf->v[i].level;
		ls->n++;
	}
	if (ls->n == 0) {
		ls->t[0].file = &stderr_file;
		ls->t[0].level = LL_ERR;
		ls->max_level = LL_ERR;
		ls->n = 1;
	}
	return 0;
}

void
log_set_global(const struct log_set *ls)
{
	global_set = ls ? ls : &stderr_set;
}

static void
stderr_reopen(void)
{
	int fd;

	if (stderr_path == NULL)
		return;
	fd = open(stderr_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;	/* stderr stays where it was: better than nowhere */
	dup2(fd, STDERR_FILENO);
	close(fd);
}

void
log_stderr_to(const char *path)
{
	char *p = strdup(path != NULL ? path : "/dev/null");

	if (p == NULL)
		return;
	free(stderr_path);
	stderr_path = p;
	stderr_reopen();
}

void
log_reopen(void)
{
	for (struct log_file *f = files; f; f = f->next) {
		if (f->kind != LF_FILE)
			continue;
		int fd = open_file(f->path);
		if (fd < 0) {
			log_errno(LL_ALERT, errno, "reopen() \"%s\" failed", f->path);
			continue;
		}
		/* dup3: dup2 would drop close-on-exec, and an upgraded binary inherit the log. */
		if (dup3(fd, f->fd, O_CLOEXEC) < 0)
			log_errno(LL_ALERT, errno, "dup2() for \"%s\" failed", f->path);
		close(fd);
	}
	stderr_reopen();
}

void
log_chown_files(int uid, int gid)
{
	for (struct log_file *f = files; f; f = f->next)
		if (f->kind == LF_FILE && fchown(f->fd, (uid_t)uid, (gid_t)gid) < 0)
			log_errno(LL_WARN, errno, "chown() \"%s\" failed", f->path);
}

void
log_close_unused(const struct log_set *const *sets, int nsets)
{
	struct log_file **pp = &files, *f;

	while ((f = *pp) != NULL) {
		int used = 0;
		for (int i = 0; i < nsets && !used; i++)
			for (int j = 0; sets[i] && j < sets[i]->n; j++)
				if (sets[i]->t[j].file == f)
					used = 1;
		if (used) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		close(f->fd);
		free(f->path);
		free(f);
	}
}

int
log_enabled(const struct log_set *ls, int level)
{
	if (ls == NULL)
		ls = global_set;
	return level <= ls->max_level;
}

static const char *
timestamp(char *buf, size_t len, struct tm *tmout)
{
	static time_t last;
	static char cached[32];
	static struct tm cached_tm;
	time_t now = time(NULL);

	if (now != last) {
		localtime_r(&now, &cached_tm);
		strftime(cached, sizeof(cached), "%Y/%m/%d %H:%M:%S", &cached_tm);
		last = now;
	}
	snprintf(buf, len, "%s", cached);
	*tmout = cached_tm;
	return buf;
}

void
log_vwrite(const struct log_set *ls, int level, int err, uint64_t cid,
    const char *fmt, va_list ap)
{
	char line[2048], ts[32];
	struct tm tm;
	size_t n, head;
	int rc;

	if (ls == NULL)
		ls = global_set;
	if (level > ls->max_level)
		return;
	if (log_pid == 0)
		log_pid = (int)getpid();
	timestamp(ts, sizeof(ts), &tm);
	rc = snprintf(line, sizeof(line), "%s [%s] %d#%d: ", ts,
	    log_level_name(level), log_pid, log_pid);
	head = rc > 0 ? (size_t)rc : 0;
	n = head;
	if (cid) {
		rc = snprintf(line + n, sizeof(line) - n, "*%llu ", (unsigned long long)cid);
		if (rc > 0)
			n += (size_t)rc;
	}
	rc = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (rc > 0)
		n += (size_t)rc;
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	if (err) {
		rc = snprintf(line + n, sizeof(line) - n, " (%d: %s)", err, strerror(err));
		if (rc > 0)
			n += (size_t)rc;
		if (n >= sizeof(line) - 1)
			n = sizeof(line) - 2;
	}
	/* Never let a logged value break the one-line-per-message rule. */
	for (size_t i = head; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';

	for (int i = 0; i < ls->n; i++) {
		struct log_file *f = ls->t[i].file;

		if (level > ls->t[i].level)
			continue;
		if (f->kind != LF_SYSLOG) {
			(void)!write(f->fd, line, n);
			continue;
		}
		char msg[2300];
		size_t skip = strlen(ts) + 1;	/* syslog carries its own time */
		static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
			"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
		if (hostname[0] == '\0' && gethostname(hostname, sizeof(hostname) - 1) < 0)
			snprintf(hostname, sizeof(hostname), "localhost");
		int m = snprintf(msg, sizeof(msg), "<%d>%s %2d %02d:%02d:%02d %s%s%s: %.*s",
		    f->facility * 8 + level, mon[tm.tm_mon], tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, f->nohostname ? "" : hostname,
		    f->nohostname ? "" : " ", f->tag, (int)(n - 1 - skip), line + skip);
		if (m > 0)
			(void)!send(f->fd, msg, (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1,
			    MSG_DONTWAIT);
	}
}

void
log_file_write(const struct log_file *f, const char *data, size_t n)
{
	struct tm tm;
	char ts[32], msg[4400];
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

	if (f->kind != LF_SYSLOG) {
		(void)!write(f->fd, data, n);
		return;
	}
	if (n > 0 && data[n - 1] == '\n')
		n--;
	timestamp(ts, sizeof(ts), &tm);
	if (hostname[0] == '\0' && gethostname(hostname, sizeof(hostname) - 1) < 0)
		snprintf(hostname, sizeof(hostname), "localhost");
	int m = snprintf(msg, sizeof(msg), "<%d>%s %2d %02d:%02d:%02d %s%s%s: %.*s",
	    f->facility * 8 + (f->severity >= 0 ? f->severity : LL_INFO), mon[tm.tm_mon],
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, f->nohostname ? "" : hostname,
	    f->nohostname ? "" : " ", f->tag, (int)(n > 4096 ? 4096 : n), data);
	if (m > 0)
		(void)!send(f->fd, msg, (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1,
		    MSG_DONTWAIT);
}

void
log_write(const struct log_set *ls, int level, int err, uint64_t cid,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(ls, level, err, cid, fmt, ap);
	va_end(ap);
}
