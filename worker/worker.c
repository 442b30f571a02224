/*
 * Worker process: drops privileges, listens on its cycle's sockets, runs the
 * event loop until told to stop. Signals arrive through a signalfd: QUIT and
 * WINCH (old generation) mean stop accepting and let sessions end, bounded by
 * worker_shutdown_timeout; TERM/INT mean exit now; USR1 reopens logs.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "common/cpu.h"
#include "common/log.h"
#include "common/net.h"
#include "common/proc.h"
#include "common/shm.h"
#include "common/stats.h"
#include "worker/event/event.h"
#include "worker/event/timer.h"
#include "worker/lookup/ticket_store.h"
#include "worker/session/session.h"
#include "worker/status.h"
#include "worker/tls/tls.h"
#include "worker/worker.h"

#define DRAIN_LOG_MS 60000
#define ACCEPT_RETRY_MS 500

struct wlistener {
	struct ev_io io;
	struct listener *l;
	int active;
};

struct stats_slot *stats_self;

static struct cycle *cy;
static struct wlistener *wls;
static size_t nwls;
static struct ev_io sigio;
static int draining, done, exit_code, accept_paused, is_single;
static struct timer drain_log_timer, shutdown_timer, accept_timer;

static void
listeners_enable(int on)
{
	for (size_t i = 0; i < nwls; i++) {
		struct wlistener *w = &wls[i];
		if (w->io.fd < 0 || w->active == on)
			continue;
		if (on) {
			if (ev_add(&w->io, EPOLLIN | EPOLLEXCLUSIVE) < 0) {
				log_errno(LL_ALERT, errno, "epoll_ctl() on a listening socket failed");
				continue;
			}
		} else {
			ev_del(&w->io);
		}
		w->active = on;
	}
}

static void
accept_resume(struct timer *t)
{
	(void)t;
	accept_paused = 0;
	if (!draining)
		listeners_enable(1);
}

/*
 * Accepting stopped at worker_connections starts again once a tenth of the
 * slots are free; checked after each loop turn, before epoll waits again.
 */
static void
accept_check_room(void)
{
	if (accept_paused == 1 && !draining &&
	    ev_fds() < cy->cf->main.worker_connections * 9 / 10) {
		accept_paused = 0;
		listeners_enable(1);
	}
}

static const struct listen_entry *
pick_entry(struct listener *l, int fd)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	/* Only a wildcard socket serves other addresses; on any socket the
	 * first entry of an address is its default server (SNI may switch). */
	if (l->nents == 1 || !net_is_wildcard((struct sockaddr *)&l->addr) ||
	    getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		return &l->ents[0];
	for (size_t i = 1; i < l->nents; i++)
		if (net_addr_equal((struct sockaddr *)&l->ents[i].lc->addr, (struct sockaddr *)&local))
			return &l->ents[i];
	return &l->ents[0];
}

/* One accept4() on w: 1 a session started, 0 nothing queued, -1 accepting stopped. */
static int
accept_one(struct wlistener *w)
{
	unsigned limit = cy->cf->main.worker_connections;

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd;

		/* A session can need two descriptors; keep room for its backend. */
		if (ev_fds() + 2 > limit) {
			/* Pooled pipes are only a cache: sessions come first. */
			if (session_release_idle_fds() > 0)
				continue;
			log_msg(LL_WARN, "%u worker_connections are not enough", limit);
			accept_paused = 1;
			listeners_enable(0);
			return -1;
		}
		fd = accept4(w->l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ECONNABORTED || errno == EINTR)
				continue;
			log_errno(LL_ALERT, errno, "accept4() failed");
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: stop listening a moment rather than spin. */
				accept_paused = 2;
				listeners_enable(0);
				timer_set(&accept_timer, ACCEPT_RETRY_MS, accept_resume);
			}
			return -1;
		}
		STAT_ADD(accepted, 1);
		session_start(cy, pick_entry(w->l, fd), fd, (struct sockaddr *)&peer, plen);
		return 1;
	}
}

static void
accept_cb(struct ev_io *io, uint32_t events)
{
	struct wlistener *w = (struct wlistener *)io;

	(void)events;
	while (accept_one(w) > 0 && cy->cf->main.multi_accept)
		;
}

/*
 * Connections already queued when draining starts are served, not reset: a
 * socket may close for good with this worker (the extra sockets of a binary
 * upgrade that is rolled back, or a stop), and its clients were told yes by
 * the handshake. At most a backlog's worth per socket: what comes later is
 * for whoever still holds the socket.
 */
static void
accept_queued(void)
{
	for (size_t i = 0; i < nwls; i++) {
		int n = wls[i].l->ents[0].lc->backlog;

		if (wls[i].io.fd < 0 || accept_paused)
			continue;
		while (n-- > 0 && accept_one(&wls[i]) > 0)
			;
	}
}

static void
close_listeners(void)
{
	for (size_t i = 0; i < nwls; i++) {
		if (wls[i].io.fd < 0)
			continue;
		if (wls[i].active)
			ev_del(&wls[i].io);
		close(wls[i].io.fd);
		wls[i].io.fd = -1;
		wls[i].active = 0;
	}
	/* The cycle's copies are the same descriptors, now closed. */
	for (size_t i = 0; i < cy->nls; i++)
		cy->ls[i].fd = -1;
	status_stop_accepting();
}

static void
drain_log(struct timer *t)
{
	log_msg(LL_NOTICE, "gracefully shutting down: %zu session(s) still active", session_count());
	timer_set(t, DRAIN_LOG_MS, drain_log);
}

static void
shutdown_timeout(struct timer *t)
{
	(void)t;
	log_msg(LL_NOTICE, "shutdown timeout: closing %zu session(s)", session_count());
	session_close_all();
}

static void
start_draining(void)
{
	if (draining)
		return;
	draining = 1;
	if (stats_self)
		stats_self->state = SLOT_EXITING;
	accept_queued();
	close_listeners();
	timer_cancel(&accept_timer);
	log_msg(LL_NOTICE, "gracefully shutting down");
	proctitle_set("mailproxy: worker process is shutting down");
	timer_set(&drain_log_timer, DRAIN_LOG_MS, drain_log);
	if (cy->cf->main.worker_shutdown_timeout)
		timer_set(&shutdown_timer, cy->cf->main.worker_shutdown_timeout, shutdown_timeout);
}

static void
signal_cb(struct ev_io *io, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGQUIT:
		case SIGWINCH:
			if (si.ssi_signo == SIGWINCH && is_single)
				break;
			start_draining();
			break;
		case SIGTERM:
		case SIGINT:
			log_msg(LL_NOTICE, "exiting");
			done = 1;
			break;
		case SIGUSR1:
			log_msg(LL_NOTICE, "reopening logs");
			session_alog_flush();	/* lines gathered so far go to the file being rotated */
			log_reopen();
			break;
		case SIGHUP:
			if (is_single)
				log_msg(LL_WARN, "reload is not supported with master_process off");
			break;
		default:
			break;
		}
	}
}

static int
setup_signals(void)
{
	sigset_t set;
	static const int sigs[] = { SIGQUIT, SIGWINCH, SIGTERM, SIGINT, SIGUSR1, SIGHUP, SIGUSR2 };

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* The master's SIGCHLD has nothing to do here. */
	signal(SIGCHLD, SIG_DFL);
	sigio.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	sigio.cb = signal_cb;
	if (sigio.fd < 0 || ev_add(&sigio, EPOLLIN) < 0) {
		log_errno(LL_EMERG, errno, "signalfd() failed");
		return -1;
	}
	return 0;
}

int
worker_cycle_prepare(struct cycle *c, char *err, size_t errlen)
{
	return tls_cycle_build(c, err, errlen);
}

void
worker_cycle_release(struct cycle *c)
{
	tls_cycle_free(c);
}

int
worker_config_test(const struct config *cf, char *err, size_t errlen)
{
	return tls_validate(cf, err, errlen);
}

/* worker_cpu_affinity for worker index: its mask, or auto's CPU among those allowed. */
static void
set_affinity(const struct main_conf *mc, int index)
{
	struct cpu_mask allowed, m;
	char hex[CPU_MASK_BITS / 4 + 3];

	if (mc->cpu_affinity_text.n == 0)
		return;
	if (cpu_allowed(&allowed) < 0) {
		log_errno(LL_ALERT, errno, "sched_getaffinity() failed");
		return;
	}
	if (mc->cpu_affinity_auto) {
		const struct cpu_mask *only = mc->ncpu_affinity ? &mc->cpu_affinity[0] : NULL;
		if (cpu_auto_pick(&allowed, only, (unsigned)index, &m) < 0) {
			cpu_mask_hex(only, hex, sizeof(hex));
			log_msg(LL_ALERT, "worker_cpu_affinity auto: none of the CPUs of mask %s is "
			    "allowed to this process, affinity left unchanged", hex);
			return;
		}
	} else {
		size_t i = (size_t)index < mc->ncpu_affinity ? (size_t)index : mc->ncpu_affinity - 1;
		unsigned common = 0;
		m = mc->cpu_affinity[i];
		for (size_t w = 0; w < sizeof(m.w) / sizeof(m.w[0]); w++)
			common += (unsigned)__builtin_popcountll(m.w[w] & allowed.w[w]);
		if (common == 0) {
			cpu_mask_hex(&m, hex, sizeof(hex));
			log_msg(LL_ALERT, "worker_cpu_affinity: the mask \"%s\" (%s) of worker %d has no "
			    "CPU this process is allowed to run on, affinity left unchanged",
			    mc->cpu_affinity_text.v[i], hex, index);
			return;
		}
	}
	proc_set_affinity(&m);
}

/* env: the workers' environment, as nginx's ngx_set_environment(). */
static void
set_environment(const struct main_conf *mc)
{
	extern char **environ;
	static char **env;	/* lives as long as the worker */
	char **e = proc_env_build(environ, (const char *const *)mc->env.v, mc->env.n);

	if (e == NULL) {
		log_msg(LL_ALERT, "out of memory building the environment, kept as is");
		return;
	}
	env = e;
	environ = env;
	/* Names only: values may be secrets. */
	char names[1024];
	size_t o = 0;
	names[0] = '\0';
	for (char **v = env; *v && o + 2 < sizeof(names); v++) {
		int n = snprintf(names + o, sizeof(names) - o, "%s%.*s", o ? " " : "",
		    (int)strcspn(*v, "="), *v);
		if (n < 0)
			break;
		o += (size_t)n < sizeof(names) - o ? (size_t)n : sizeof(names) - o - 1;
	}
	log_msg(LL_DEBUG, "worker environment: %s", names[0] ? names : "(empty)");
}

/* working_directory: nginx's chdir(), after the user switch. */
static void
set_working_directory(const struct config *cf)
{
	char path[4096];
	const char *dir;

	if (cf->main.working_directory == NULL)
		return;
	dir = config_path(cf, cf->main.working_directory, path, sizeof(path));
	if (chdir(dir) < 0)
		log_errno(LL_ALERT, errno, "chdir(\"%s\") failed", dir);
}

int
worker_main(struct cycle *c, int index, int slot, int single)
{
	struct stats_zone *sz = c->stats_zone ? c->stats_zone->data : NULL;

	cy = c;
	is_single = single;
	stats_self = sz && slot >= 0 ? &sz->slots[slot] : NULL;
	if (stats_self) {
		stats_self->pid = (int32_t)getpid();
		stats_self->state = SLOT_RUNNING;
	}
	if (!single) {
		proctitle_set("mailproxy: worker process");
		set_affinity(&cy->cf->main, index);
		proc_set_priority(cy->cf->main.worker_priority);
		if (cy->cf->main.worker_rlimit_core_set)
			proc_set_core(cy->cf->main.worker_rlimit_core);
	}
	proc_set_nofile(cy->cf->main.worker_rlimit_nofile);
	/* Anything that reads root-only files happens before the switch. */
	if (session_init(cy) < 0)
		return 2;
	if (!single) {
		/* After session_init: TLS is set up with the master's environment. */
		set_environment(&cy->cf->main);
		proc_drop_privs(cy->cf->main.user, cy->uid, cy->gid);
		set_working_directory(cy->cf);
	}
	timer_reset();
	clock_update();
	if (ev_init() < 0) {
		log_errno(LL_EMERG, errno, "epoll_create1() failed");
		return 2;
	}
	if (setup_signals() < 0)
		return 2;

	wls = calloc(cy->nls ? cy->nls : 1, sizeof(*wls));
	if (wls == NULL)
		return 2;
	nwls = cy->nls;
	for (size_t i = 0; i < nwls; i++) {
		wls[i].l = &cy->ls[i];
		wls[i].io.fd = cy->ls[i].fd;
		wls[i].io.cb = accept_cb;
		/* A reuseport socket of another live worker: ours to close, not to
		 * serve. Retired ones (past the last worker) every worker drains. */
		int w = cy->ls[i].worker;
		if (!single && w >= 0 && w != index && w < cy->cf->main.worker_processes) {
			close(wls[i].io.fd);
			wls[i].io.fd = -1;
			cy->ls[i].fd = -1;
		}
	}
	listeners_enable(1);
	if (status_start(cy) < 0)
		return 2;
	/* One worker per node talks to Redis for the ticket keys; all read them. */
	if (index == 0)
		ticket_store_start(cy);

	while (!done) {
		ev_loop_once(timer_next(-1));
		accept_check_room();
		if (draining && session_count() == 0)
			break;
	}
	close_listeners();
	session_close_all();
	status_close_all();
	ev_loop_once(0);	/* run deferred frees */
	ticket_store_stop();
	session_shutdown();
	ev_close();
	free(wls);
	if (stats_self)
		stats_self->active = 0;
	return exit_code;
}
