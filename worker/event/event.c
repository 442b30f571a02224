/* epoll loop; see event.h. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/event/event.h"
#include "worker/event/timer.h"

#define EV_BATCH 512

static int epfd = -1;
static struct ev_io *posted_head, **posted_tail = &posted_head;
static struct ev_io *running;	/* this turn's posted ios not run yet */
static unsigned nfds;

void ev_fd_acquired(void) { nfds++; }
void ev_fd_released(void) { nfds--; }
unsigned ev_fds(void) { return nfds; }

struct deferred {
	void (*fn)(void *);
	void *arg;
};
static struct deferred *deferred;
static size_t ndeferred, deferred_cap;

int
ev_defer(void (*fn)(void *), void *arg)
{
	if (ndeferred == deferred_cap) {
		size_t nc = deferred_cap ? deferred_cap * 2 : 64;
		struct deferred *d = realloc(deferred, nc * sizeof(*d));
		if (d == NULL) {
			/* Better a late free than a use-after-free: leak it. */
			log_msg(LL_ALERT, "out of memory deferring a free");
			return -1;
		}
		deferred = d;
		deferred_cap = nc;
	}
	deferred[ndeferred].fn = fn;
	deferred[ndeferred].arg = arg;
	ndeferred++;
	return 0;
}

static void
run_deferred(void)
{
	/* A deferred function may defer more; run until the list is empty. */
	for (size_t i = 0; i < ndeferred; i++)
		deferred[i].fn(deferred[i].arg);
	ndeferred = 0;
}

int
ev_init(void)
{
	if (epfd >= 0)
		close(epfd);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	posted_head = NULL;
	posted_tail = &posted_head;
	return epfd < 0 ? -1 : 0;
}

void
ev_close(void)
{
	if (epfd >= 0)
		close(epfd);
	epfd = -1;
}

int
ev_add(struct ev_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

int
ev_mod(struct ev_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	return epoll_ctl(epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

void
ev_del(struct ev_io *io)
{
	if (io->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, io->fd, NULL);
	ev_unpost(io);
}

void
ev_post(struct ev_io *io)
{
	if (io->posted)
		return;
	io->posted = 1;
	io->posted_next = NULL;
	*posted_tail = io;
	posted_tail = &io->posted_next;
}

void
ev_unpost(struct ev_io *io)
{
	struct ev_io **pp;

	if (!io->posted)
		return;
	for (pp = &posted_head; *pp; pp = &(*pp)->posted_next)
		if (*pp == io) {
			*pp = io->posted_next;
			if (posted_tail == &io->posted_next)
				posted_tail = pp;
			goto out;
		}
	/* Not yet run in this turn: unlinked so that the rest still runs. */
	for (pp = &running; *pp; pp = &(*pp)->posted_next)
		if (*pp == io) {
			*pp = io->posted_next;
			break;
		}
out:
	io->posted = 0;
	io->posted_next = NULL;
}

static void
run_posted(void)
{
	/* Only what was posted before this turn runs now; re-posts wait. */
	running = posted_head;
	posted_head = NULL;
	posted_tail = &posted_head;
	while (running) {
		struct ev_io *io = running;
		running = io->posted_next;
		io->posted = 0;
		io->posted_next = NULL;
		io->cb(io, 0);
	}
}

int
ev_loop_once(int timeout_ms)
{
	struct epoll_event evs[EV_BATCH];
	int n;

	if (posted_head != NULL)
		timeout_ms = 0;
	n = epoll_wait(epfd, evs, EV_BATCH, timeout_ms);
	clock_update();
	if (n < 0) {
		if (errno != EINTR)
			log_errno(LL_ALERT, errno, "epoll_wait() failed");
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		struct ev_io *io = evs[i].data.ptr;
		io->cb(io, evs[i].events);
	}
	run_deferred();
	run_posted();
	run_deferred();
	timer_run();
	run_deferred();
	return n;
}
