/*
 * The master process: owns the cycles, forks workers, and acts on signals.
 * Signals are blocked and taken synchronously with sigtimedwait(), so no
 * handler runs in the middle of anything. nginx's semantics: HUP reload,
 * QUIT graceful stop, TERM/INT fast stop, USR1 reopen logs, USR2 binary
 * upgrade, WINCH stop workers; a worker that dies is respawned.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/limiter.h"
#include "common/proc.h"
#include "common/shm.h"
#include "common/stats.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "master/cycle.h"
#include "master/listen.h"
#include "master/master.h"
#include "master/steer.h"
#include "worker/worker.h"

#define MAX_WORKERS 2048
#define KILL_AFTER_MS 5000

struct wproc {
	pid_t pid;
	struct cycle *cy;
	int index;		/* number within its cycle */
	int slot;		/* stats slot */
	int exiting;		/* sent QUIT/TERM: do not respawn */
	uint64_t started;	/* monotonic ms */
	int quick_deaths;	/* consecutive deaths within a second of starting */
	uint64_t respawn_at;	/* pending respawn (0 = none) */
};

static struct wproc procs[MAX_WORKERS];
static struct cycle *current;
static unsigned generation;
static const char *globals;
static char exe_path[PATH_MAX];
static char **saved_argv;
static char pid_path[PATH_MAX];
static pid_t new_master;	/* binary upgrade child */
static int stopping;		/* 0, or the signal that asked to stop */
static uint64_t stop_started;
static int noaccept;		/* WINCH: workers stopped on purpose */

static struct stats_zone *
stats(void)
{
	return current && current->stats_zone ? current->stats_zone->data : NULL;
}

static int
stats_slot_alloc(pid_t pid, unsigned gen)
{
	struct stats_zone *sz = stats();

	if (sz == NULL)
		return -1;
	for (int i = 0; i < STATS_SLOTS; i++) {
		struct stats_slot *s = &sz->slots[i];
		if (s->state != SLOT_FREE)
			continue;
		memset(s, 0, sizeof(*s));
		s->pid = (int32_t)pid;
		s->generation = gen;
		s->start_time = (uint64_t)time(NULL);
		s->state = SLOT_RUNNING;
		return i;
	}
	return -1;
}

/* Folds a dead worker's totals into the retired slot and frees its slot. */
static void
stats_slot_release(int slot)
{
	struct stats_zone *sz = stats();

	if (sz == NULL || slot < 0)
		return;
	struct stats_slot *s = &sz->slots[slot], *r = &sz->retired;
	stats_fold(r, s);
	memset(s, 0, sizeof(*s));
}

static void
write_pid_file(void)
{
	char tmp[PATH_MAX + 8], buf[32];
	int fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", pid_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_errno(LL_EMERG, errno, "open() \"%s\" failed", tmp);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n)
		log_errno(LL_ALERT, errno, "write() to \"%s\" failed", tmp);
	close(fd);
	if (rename(tmp, pid_path) < 0)
		log_errno(LL_EMERG, errno, "rename() \"%s\" to \"%s\" failed", tmp, pid_path);
}

/* Removes the pid file, or its .oldbin twin after an upgrade, if it is still ours. */
static void
remove_pid_file(void)
{
	char old[PATH_MAX + 8];
	const char *paths[2] = { pid_path, old };

	snprintf(old, sizeof(old), "%s.oldbin", pid_path);
	for (int i = 0; i < 2; i++) {
		char buf[32] = "";
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0 && atoi(buf) == (int)getpid())
			unlink(paths[i]);
	}
}

static void
stop_worker(struct wproc *w, int sig)
{
	w->exiting = 1;
	w->respawn_at = 0;
	if (w->pid > 0 && kill(w->pid, sig) < 0 && errno != ESRCH)
		log_errno(LL_ALERT, errno, "kill(%d, %d) failed", (int)w->pid, sig);
}

static void
spawn_worker(struct cycle *cy, int index, int quick_deaths)
{
	struct wproc *w = NULL;
	pid_t pid;

	for (int i = 0; i < MAX_WORKERS; i++)
		if (procs[i].pid == 0 && procs[i].respawn_at == 0) {
			w = &procs[i];
			break;
		}
	if (w == NULL) {
		log_msg(LL_ALERT, "too many worker processes, not starting another");
		return;
	}
	int slot = stats_slot_alloc(0, cy->generation);
	pid = fork();
	if (pid < 0) {
		log_errno(LL_ALERT, errno, "fork() failed while spawning \"worker process\"");
		stats_slot_release(slot);
		return;
	}
	if (pid == 0) {
		log_set_pid();
		exit(worker_main(cy, index, slot, 0));
	}
	if (slot >= 0)
		stats()->slots[slot].pid = (int32_t)pid;
	memset(w, 0, sizeof(*w));
	w->pid = pid;
	w->cy = cy;
	w->index = index;
	w->started = clock_now();
	w->quick_deaths = quick_deaths;
	w->slot = slot;
	cy->workers_alive++;
	log_msg(LL_NOTICE, "start worker process %d", (int)pid);
}

static void
spawn_workers(struct cycle *cy)
{
	steer_attach(cy);
	for (int i = 0; i < cy->cf->main.worker_processes; i++)
		spawn_worker(cy, i, 0);
}

static void
signal_workers(int sig, struct cycle *only)
{
	for (int i = 0; i < MAX_WORKERS; i++) {
		if (procs[i].pid > 0 && (only == NULL || procs[i].cy == only))
			stop_worker(&procs[i], sig);
		if (procs[i].respawn_at && (only == NULL || procs[i].cy == only))
			memset(&procs[i], 0, sizeof(procs[i]));
	}
}

static int
workers_running(void)
{
	int n = 0;

	for (int i = 0; i < MAX_WORKERS; i++)
		if (procs[i].pid > 0)
			n++;
	return n;
}

static void
close_unused_logs(void)
{
	const struct log_set *sets[4096];
	int n = 0;
	struct cycle *seen[MAX_WORKERS + 1];
	int nseen = 0;

	seen[nseen++] = current;
	cycle_log_sets(current, sets, &n, 4096);
	for (int i = 0; i < MAX_WORKERS; i++) {
		struct cycle *cy = procs[i].cy;
		int dup = 0;
		if (procs[i].pid <= 0 || cy == NULL)
			continue;
		for (int j = 0; j < nseen; j++)
			if (seen[j] == cy)
				dup = 1;
		if (!dup) {
			seen[nseen++] = cy;
			cycle_log_sets(cy, sets, &n, 4096);
		}
	}
	log_close_unused(sets, n);
}

static void
retire_cycle_if_done(struct cycle *cy)
{
	if (cy == current || cy->workers_alive > 0)
		return;
	log_msg(LL_INFO, "configuration generation %u retired", cy->generation);
	cycle_free(cy);
	close_unused_logs();
}

/*
 * A worker that did not end its sessions cannot give back what they count
 * in limit_sessions_*: every count of the zones it used starts again from
 * nothing (the caps fail open for a while rather than lock users out).
 */
static void
forget_sessions(struct cycle *cy)
{
	for (size_t i = 0; cy->login_limit != NULL && i < cy->cf->nservers; i++)
		if (cy->login_limit[i] != NULL && (cy->cf->servers[i].limit_sessions_user != 0 ||
		    cy->cf->servers[i].limit_sessions_user_addr != 0))
			limiter_sessions_forget(cy->login_limit[i]);
}

static void
worker_died(struct wproc *w, int status)
{
	struct cycle *cy = w->cy;
	uint64_t lived = clock_now() - w->started;
	int fatal = WIFEXITED(status) && WEXITSTATUS(status) == 2;

	if (WIFSIGNALED(status))
		log_msg(w->exiting ? LL_NOTICE : LL_ALERT, "worker process %d exited on signal %d%s",
		    (int)w->pid, WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
	else if (WEXITSTATUS(status) != 0)
		log_msg(LL_ALERT, "worker process %d exited with %scode %d", (int)w->pid,
		    fatal ? "fatal " : "", WEXITSTATUS(status));
	else
		log_msg(LL_NOTICE, "worker process %d exited with code 0", (int)w->pid);

	stats_slot_release(w->slot);
	if (WIFSIGNALED(status) || WEXITSTATUS(status) != 0)
		forget_sessions(cy);
	cy->workers_alive--;
	int respawn = !w->exiting && !stopping && !noaccept && cy == current &&
	    !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	int index = w->index, quick = lived < 1000 ? w->quick_deaths + 1 : 0;
	memset(w, 0, sizeof(*w));
	if (respawn && fatal) {
		log_msg(LL_ALERT, "worker exited with fatal code 2 and cannot be respawned");
		respawn = 0;
	}
	if (respawn) {
		if (stats() != NULL)
			__atomic_fetch_add(&stats()->worker_restarts, 1, __ATOMIC_RELAXED);
		if (quick <= 1) {
			spawn_worker(cy, index, quick);
		} else {
			/* A crash loop: back off 100 ms, 200 ms, ... up to 30 s. */
			uint64_t delay = 100ULL << (quick - 2 < 9 ? quick - 2 : 9);
			if (delay > 30000)
				delay = 30000;
			log_msg(LL_ALERT, "worker %d died %d times in a row right after start; "
			    "respawning in %llu ms", index, quick, (unsigned long long)delay);
			w->respawn_at = clock_now() + delay;
			w->cy = cy;
			w->index = index;
			w->quick_deaths = quick;
		}
	}
	retire_cycle_if_done(cy);
}

static void
rename_oldbin_back(void)
{
	char old[PATH_MAX + 8];

	snprintf(old, sizeof(old), "%s.oldbin", pid_path);
	if (access(old, F_OK) == 0 && rename(old, pid_path) < 0)
		log_errno(LL_ALERT, errno, "rename() \"%s\" back to \"%s\" failed", old, pid_path);
}

static void
reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == new_master) {
			log_msg(LL_ALERT, "new binary process %d exited with %s %d; "
			    "this master carries on", (int)pid,
			    WIFSIGNALED(status) ? "signal" : "code",
			    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			new_master = 0;
			rename_oldbin_back();
			continue;
		}
		for (int i = 0; i < MAX_WORKERS; i++)
			if (procs[i].pid == pid) {
				worker_died(&procs[i], status);
				break;
			}
	}
}

static void
respawn_due(void)
{
	uint64_t now = clock_now();

	for (int i = 0; i < MAX_WORKERS; i++) {
		struct wproc *w = &procs[i];
		if (w->respawn_at == 0 || w->respawn_at > now)
			continue;
		struct cycle *cy = w->cy;
		int index = w->index, quick = w->quick_deaths;
		memset(w, 0, sizeof(*w));
		if (!stopping && !noaccept && cy == current)
			spawn_worker(cy, index, quick);
	}
}

static void redirect_stderr(const struct cycle *cy);

static void
reload(void)
{
	char err[2048];
	struct config *cf;
	struct cycle *cy, *old = current;

	if (noaccept) {
		/* After WINCH, HUP brings the workers back with the same configuration. */
		noaccept = 0;
		log_msg(LL_NOTICE, "starting workers again after WINCH");
		spawn_workers(current);
		return;
	}
	log_msg(LL_NOTICE, "reconfiguring");
	cf = config_load(old->cf->file, old->cf->prefix, globals, err, sizeof(err));
	if (cf == NULL) {
		log_msg(LL_EMERG, "%s", err);
		log_msg(LL_ALERT, "reload failed; still running the previous configuration");
		return;
	}
	for (size_t i = 0; i < cf->warnings.n; i++)
		log_msg(LL_WARN, "%s", cf->warnings.v[i]);
	cy = cycle_build(cf, old, generation + 1, err, sizeof(err));
	if (cy == NULL) {
		log_msg(LL_EMERG, "%s", err);
		log_msg(LL_ALERT, "reload failed; still running the previous configuration");
		config_free(cf);
		return;
	}
	generation++;
	current = cy;
	log_set_global(&cy->log);
	if (cy->cf->main.daemon)
		redirect_stderr(cy);
	shm_sweep_unused();
	struct stats_zone *sz = stats();
	if (sz != NULL) {
		__atomic_fetch_add(&sz->reloads, 1, __ATOMIC_RELAXED);
		sz->load_time = (uint64_t)time(NULL);
	}
	/* The master's copies of sockets the new configuration dropped go
	 * first, so the new workers do not inherit them; the old workers keep
	 * their own copies until they stop accepting. */
	listen_close_unkept(old);
	spawn_workers(cy);
	signal_workers(SIGQUIT, old);
	retire_cycle_if_done(old);
	close_unused_logs();
	log_msg(LL_NOTICE, "configuration generation %u is running", generation);
}

static void
reopen_logs(void)
{
	log_msg(LL_NOTICE, "reopening logs");
	log_reopen();	/* stderr too, in the background (redirect_stderr) */
	if (geteuid() == 0)
		log_chown_files((int)current->uid, (int)current->gid);
	for (int i = 0; i < MAX_WORKERS; i++)
		if (procs[i].pid > 0 && kill(procs[i].pid, SIGUSR1) < 0 && errno != ESRCH)
			log_errno(LL_ALERT, errno, "kill(%d, USR1) failed", (int)procs[i].pid);
}

static void
upgrade(void)
{
	char old[PATH_MAX + 8], fds[4096], zenv[4096];
	pid_t pid;

	if (new_master > 0) {
		log_msg(LL_NOTICE, "a binary upgrade (process %d) is already running", (int)new_master);
		return;
	}
	snprintf(old, sizeof(old), "%s.oldbin", pid_path);
	if (rename(pid_path, old) < 0) {
		log_errno(LL_ALERT, errno, "rename() \"%s\" to \"%s\" failed; upgrade aborted",
		    pid_path, old);
		return;
	}
	pid = fork();
	if (pid < 0) {
		log_errno(LL_ALERT, errno, "fork() for the new binary failed");
		rename_oldbin_back();
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Sockets and zones lose close-on-exec in this child only. */
		if (listen_export(current, fds, sizeof(fds)) < 0 || shm_export(zenv, sizeof(zenv)) < 0) {
			log_msg(LL_ALERT, "too many sockets or zones to hand over; upgrade aborted");
			_exit(1);
		}
		listen_export_prepare(current);
		setenv(LISTEN_ENV, fds, 1);
		setenv("MAILPROXY_ZONES", zenv, 1);
		execv(exe_path, saved_argv);
		log_errno(LL_ALERT, errno, "execv() \"%s\" failed", exe_path);
		_exit(1);
	}
	new_master = pid;
	log_msg(LL_NOTICE, "started new binary process %d (%s)", (int)pid, exe_path);
}

static void
handle_signal(int sig)
{
	switch (sig) {
	case SIGCHLD:
		break;
	case SIGHUP:
		if (!stopping)
			reload();
		break;
	case SIGQUIT:
		if (!stopping) {
			log_msg(LL_NOTICE, "gracefully shutting down");
			stopping = SIGQUIT;
			stop_started = clock_now();
			signal_workers(SIGQUIT, NULL);
			/* No connection may wait in a backlog nobody will accept from. */
			listen_close_unkept(current);
		}
		break;
	case SIGTERM:
	case SIGINT:
		if (stopping != SIGTERM) {
			log_msg(LL_NOTICE, "exiting");
			stopping = SIGTERM;
			stop_started = clock_now();
			signal_workers(SIGTERM, NULL);
			listen_close_unkept(current);
		}
		break;
	case SIGUSR1:
		reopen_logs();
		break;
	case SIGUSR2:
		if (!stopping)
			upgrade();
		break;
	case SIGWINCH:
		if (!stopping && !noaccept) {
			log_msg(LL_NOTICE, "gracefully shutting down worker processes");
			noaccept = 1;
			signal_workers(SIGQUIT, NULL);
		}
		break;
	default:
		break;
	}
}

static void
noop_handler(int sig)
{
	(void)sig;
}

static const int master_signals[] = {
	SIGCHLD, SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGWINCH,
};

static void
block_signals(sigset_t *set)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop_handler;
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(master_signals) / sizeof(master_signals[0]); i++) {
		sigaddset(set, master_signals[i]);
		sigaction(master_signals[i], &sa, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_BLOCK, set, NULL);
}

static int
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0) {
		log_errno(LL_EMERG, errno, "fork() failed");
		return -1;
	}
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		log_errno(LL_EMERG, errno, "setsid() failed");
	umask(022);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (fd > 1)
			close(fd);
	}
	return 0;
}

/* stderr goes to the main error log once the server runs in the background. */
static void
redirect_stderr(const struct cycle *cy)
{
	for (size_t i = 0; i < cy->cf->main.error_log.n; i++) {
		const char *t = cy->cf->main.error_log.v[i].target;
		char path[PATH_MAX];
		if (strcmp(t, "stderr") == 0 || strncmp(t, "syslog:", 7) == 0)
			continue;
		log_stderr_to(config_path(cy->cf, t, path, sizeof(path)));
		return;
	}
	log_stderr_to(NULL);
}

/*
 * How long the master may sleep: until a delayed respawn is due or a fast
 * stop has waited long enough for SIGKILL; 0 when only a signal can bring
 * work (a worker's exit is SIGCHLD), so an idle master never wakes.
 */
static int
next_wake(struct timespec *ts)
{
	uint64_t now, until = UINT64_MAX;

	clock_update();	/* handling a signal (a reload) can take a while */
	now = clock_now();

	for (int i = 0; i < MAX_WORKERS; i++)
		if (procs[i].respawn_at != 0 && procs[i].respawn_at < until)
			until = procs[i].respawn_at;
	if (stopping == SIGTERM && stop_started + KILL_AFTER_MS + 1 < until)
		until = stop_started + KILL_AFTER_MS + 1;
	if (until == UINT64_MAX)
		return 0;
	uint64_t ms = until > now ? until - now : 0;
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
	return 1;
}

static void
master_loop(const sigset_t *set)
{
	siginfo_t info;

	for (;;) {
		struct timespec ts;
		int sig = next_wake(&ts) ? sigtimedwait(set, &info, &ts) : sigwaitinfo(set, &info);

		clock_update();
		if (sig > 0)
			handle_signal(sig);
		reap();
		respawn_due();
		if (stopping) {
			if (workers_running() == 0)
				break;
			if (clock_now() - stop_started > KILL_AFTER_MS && stopping == SIGTERM) {
				log_msg(LL_ALERT, "worker processes did not exit in time; sending SIGKILL");
				signal_workers(SIGKILL, NULL);
				stop_started = clock_now();
			}
		}
	}
	log_msg(LL_NOTICE, "exit");
}

/*
 * What nginx's ngx_os_status() logs once at start (not on reload), at
 * notice: the version, the compiler and OpenSSL it was built with (and the
 * OpenSSL it runs with when that differs), the OS and the fd limit.
 */
static void
os_status(void)
{
	const char *ssl = OpenSSL_version(OPENSSL_VERSION);
	struct utsname u;
	struct rlimit rl;

	log_msg(LL_NOTICE, "mailproxy/%s", MAILPROXY_VERSION);
#if defined(__clang__)
	log_msg(LL_NOTICE, "built by clang %s", __clang_version__);
#elif defined(__GNUC__)
	log_msg(LL_NOTICE, "built by gcc %s", __VERSION__);
#endif
	if (strcmp(ssl, OPENSSL_VERSION_TEXT) == 0)
		log_msg(LL_NOTICE, "built with %s", OPENSSL_VERSION_TEXT);
	else
		log_msg(LL_NOTICE, "built with %s (running with %s)", OPENSSL_VERSION_TEXT, ssl);
	if (uname(&u) == 0)
		log_msg(LL_NOTICE, "OS: %s %s %s %s", u.sysname, u.release, u.version, u.machine);
	/* nginx prints rlim_t signed: RLIM_INFINITY is -1. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_msg(LL_NOTICE, "getrlimit(RLIMIT_NOFILE): %lld:%lld", (long long)rl.rlim_cur,
		    (long long)rl.rlim_max);
}

int
master_main(struct config *cf, const char *g, int argc, char **argv)
{
	char err[2048];
	const struct main_conf *mc = &cf->main;
	ssize_t n;

	(void)argc;
	saved_argv = argv;
	/* From the start: a reload sent as soon as the pid file exists must not
	 * kill the master, and the first workers inherit the mask too. */
	sigset_t set;
	block_signals(&set);
	n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	if (n > 0)
		exe_path[n] = '\0';
	else
		snprintf(exe_path, sizeof(exe_path), "%s", argv[0]);
	globals = g;
	config_path(cf, mc->pid, pid_path, sizeof(pid_path));

	int inherited = getenv(LISTEN_ENV) != NULL;
	listen_inherit_from_env();
	const char *zenv = getenv("MAILPROXY_ZONES");
	if (zenv != NULL) {
		shm_import(zenv);
		unsetenv("MAILPROXY_ZONES");
	}

	current = cycle_build(cf, NULL, generation, err, sizeof(err));
	if (current == NULL) {
		fprintf(stderr, "mailproxy: [emerg] %s\n", err);
		listen_close_inherited();
		config_free(cf);
		return 1;
	}
	listen_close_inherited();
	shm_sweep_unused();
	for (size_t i = 0; i < cf->warnings.n; i++)
		log_write(&current->log, LL_WARN, 0, 0, "%s", cf->warnings.v[i]);

	if (mc->daemon && !inherited) {
		if (daemonize() < 0)
			return 1;
	}
	log_set_pid();
	log_set_global(&current->log);
	if (mc->daemon)
		redirect_stderr(current);
	write_pid_file();
	stats()->master_pid = (int32_t)getpid();
	stats()->load_time = (uint64_t)time(NULL);
	os_status();

	if (!mc->master_process) {
		proctitle_set("mailproxy: single process -c %s", cf->file);
		log_msg(LL_NOTICE, "mailproxy/%s started in single-process mode", MAILPROXY_VERSION);
		int rc = worker_main(current, 0, stats_slot_alloc((pid_t)getpid(), 0), 1);
		remove_pid_file();
		return rc;
	}
	proctitle_set("mailproxy: master process %s -c %s", exe_path, cf->file);
	log_msg(LL_NOTICE, "mailproxy started, master process %d%s", (int)getpid(),
	    inherited ? " (binary upgrade)" : "");
	clock_update();
	spawn_workers(current);
	master_loop(&set);
	remove_pid_file();
	shm_close_all();
	cycle_free(current);
	return 0;
}
