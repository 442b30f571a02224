/*
 * Listening sockets; see listen.h. Grouping follows nginx: an exact address
 * without "bind" (or an option implying it) is served through the wildcard
 * socket of its port when there is one, and getsockname() tells the
 * connections apart. Sockets are reused across reloads by address, never
 * closed and re-bound, so no connection attempt is refused while reloading.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"
#include "common/xalloc.h"
#include "master/listen.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

struct inherited {
	int fd;
	struct sockaddr_storage addr;
	int reuseport;
	int taken;
};

static struct inherited *inh;
static size_t ninh;

static int
same_port_family(const struct sockaddr *a, const struct sockaddr *b)
{
	return a->sa_family == b->sa_family && net_port(a) == net_port(b);
}

static int
apply_options(int fd, const struct listen_conf *lc, char *err, size_t errlen)
{
	int one = 1;

	if (lc->rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &lc->rcvbuf, sizeof(int)) < 0)
		goto fail;
	if (lc->sndbuf && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &lc->sndbuf, sizeof(int)) < 0)
		goto fail;
	if (lc->so_keepalive >= 0) {
		int v = lc->so_keepalive;
		if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)) < 0)
			goto fail;
		if (lc->keepidle && setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &lc->keepidle, sizeof(int)) < 0)
			goto fail;
		if (lc->keepintvl && setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &lc->keepintvl, sizeof(int)) < 0)
			goto fail;
		if (lc->keepcnt && setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &lc->keepcnt, sizeof(int)) < 0)
			goto fail;
	}
	/* Replies before login are small and must not wait for a delayed ACK;
	 * accepted sockets inherit this from the listening one. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		goto fail;
	if (listen(fd, lc->backlog) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "setting up listen \"%s\" failed: %s", lc->text, strerror(errno));
	return -1;
}

/*
 * An address in use is tried again, as nginx does (5 tries, 500 ms apart):
 * right after a reload that dropped it, the previous generation's workers
 * may not have closed their copies yet, and a reload that brings it back
 * must not fail for that. Anything else, or still in use after 2 s, fails.
 */
#define BIND_TRIES 5
#define BIND_RETRY_MS 500

static int
bind_retrying(int fd, const struct sockaddr *addr)
{
	const struct timespec pause = { BIND_RETRY_MS / 1000, BIND_RETRY_MS % 1000 * 1000000L };
	char a[NET_ADDRSTRLEN];

	for (int tries = 1;; tries++) {
		if (bind(fd, addr, net_socklen(addr)) == 0)
			return 0;
		if (errno != EADDRINUSE || tries == BIND_TRIES)
			return -1;
		net_ntop_port(addr, a, sizeof(a));
		log_msg(LL_NOTICE, "bind() to %s failed: %s; trying again in %d ms", a,
		    strerror(EADDRINUSE), BIND_RETRY_MS);
		struct timespec left = pause;
		while (nanosleep(&left, &left) < 0 && errno == EINTR)
			;
	}
}

static int
open_socket(const struct listen_conf *lc, const struct sockaddr *addr, int reuseport, int do_listen,
    char *err, size_t errlen)
{
	int fd, one = 1;
	char a[NET_ADDRSTRLEN];

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    lc->multipath ? IPPROTO_MPTCP : 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket() for \"%s\" failed: %s%s", lc->text, strerror(errno),
		    lc->multipath ? " (is MPTCP enabled in the kernel?)" : "");
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (addr->sa_family == AF_INET6) {
		int v = lc->ipv6only;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)) < 0)
			goto fail;
	}
	if (bind_retrying(fd, addr) < 0)
		goto fail;
	if (do_listen && apply_options(fd, lc, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
fail:
	net_ntop_port(addr, a, sizeof(a));
	snprintf(err, errlen, "bind() to %s failed: %s", a, strerror(errno));
	close(fd);
	return -1;
}

static int
take_inherited(const struct sockaddr *addr, int reuseport)
{
	for (size_t i = 0; i < ninh; i++)
		if (!inh[i].taken && inh[i].reuseport == reuseport &&
		    net_addr_equal((struct sockaddr *)&inh[i].addr, addr)) {
			inh[i].taken = 1;
			return inh[i].fd;
		}
	return -1;
}

/* In old's order, which for a reuseport group is the kernel's. */
static int
take_old(struct cycle *old, const struct sockaddr *addr, int reuseport)
{
	if (old == NULL)
		return -1;
	for (size_t i = 0; i < old->nls; i++) {
		struct listener *l = &old->ls[i];
		if (!l->kept && (l->reuseport != 0) == reuseport &&
		    net_addr_equal((struct sockaddr *)&l->addr, addr)) {
			l->kept = 1;
			return l->fd;
		}
	}
	return -1;
}

/* Does this listen get a socket of its own? */
static int
binds_own_socket(const struct config *cf, const struct listen_conf *lc)
{
	if (lc->bind || net_is_wildcard((const struct sockaddr *)&lc->addr))
		return 1;
	for (size_t s = 0; s < cf->nservers; s++)
		for (size_t i = 0; i < cf->servers[s].nlisten; i++) {
			const struct listen_conf *o = &cf->servers[s].listen[i];
			if (net_is_wildcard((const struct sockaddr *)&o->addr) &&
			    same_port_family((const struct sockaddr *)&o->addr,
			    (const struct sockaddr *)&lc->addr))
				return 0;
		}
	return 1;
}

static void
add_entry(struct listener *l, const struct listen_conf *lc, const struct config *cf, size_t s)
{
	l->ents = xrealloc(l->ents, (l->nents + 1) * sizeof(*l->ents));
	l->ents[l->nents].lc = lc;
	l->ents[l->nents].srv = &cf->servers[s];
	l->ents[l->nents].server = s;
	l->nents++;
}

/* Sockets for addr (with SO_REUSEPORT or without) in old and from the previous binary. */
static size_t
count_existing(const struct cycle *old, const struct sockaddr *addr, int reuseport)
{
	size_t n = 0, m = 0;

	for (size_t i = 0; old != NULL && i < old->nls; i++)
		if ((old->ls[i].reuseport != 0) == reuseport &&
		    net_addr_equal((const struct sockaddr *)&old->ls[i].addr, addr))
			n++;
	for (size_t i = 0; i < ninh; i++)
		if (!inh[i].taken && inh[i].reuseport == reuseport &&
		    net_addr_equal((struct sockaddr *)&inh[i].addr, addr))
			m++;
	return n > m ? n : m;
}

/*
 * Nothing is bound to addr (a second instance started by mistake must fail
 * as with a shared socket, not join the first one's reuseport group). Once
 * this cycle has a socket on the port, its own probe already spoke for the
 * port, and a probe now would collide with it (a wildcard and an exact
 * address with bind, which reuseport lets share a port).
 */
static int
addr_free(const struct cycle *cy, const struct listen_conf *lc, char *err, size_t errlen)
{
	for (size_t i = 0; i < cy->nls; i++)
		if (same_port_family((const struct sockaddr *)&cy->ls[i].addr,
		    (const struct sockaddr *)&lc->addr))
			return 0;
	/* Bound but not listening: no connection can land on it. */
	int fd = open_socket(lc, (const struct sockaddr *)&lc->addr, 0, 0, err, errlen);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/*
 * The socket(s) of one address: one shared by every worker, or with
 * reuseport one per worker, index w for worker w in the kernel's group too
 * (a group orders its sockets by when they started listening, and none of
 * ours is closed while the address is configured). A group never shrinks:
 * after a reload to fewer workers the sockets past the last worker stay
 * open, out of the steering program's reach, for the live workers to drain.
 * The kind of socket an address already has wins over the configuration
 * until a restart (a new kind could not bind next to it).
 */
static int
open_group(struct cycle *cy, struct cycle *old, const struct listen_conf *lc,
    const struct config *cf, size_t s, size_t nworkers, size_t *cap, char *err, size_t errlen)
{
	const struct sockaddr *sa = (const struct sockaddr *)&lc->addr;
	int mode = lc->reuseport, rp = mode != LISTEN_SHARED;
	size_t have = count_existing(old, sa, rp), other = count_existing(old, sa, !rp);
	size_t n = rp ? (have > nworkers ? have : nworkers) : 1;
	int shared_group = 0;

	if (have == 0 && other > 0) {
		log_msg(LL_WARN, "listen \"%s\": keeping its %s socket%s until a restart; "
		    "reuseport=%s applies to sockets bound anew", lc->text,
		    rp ? "shared" : "reuseport", other > 1 ? "s" : "", rp ? "on" : "off");
		rp = !rp;
		mode = rp ? LISTEN_REUSEPORT : LISTEN_SHARED;
		n = other;
		/* A group kept for reuseport=off: every worker serves all of it. */
		shared_group = rp;
	} else if (rp && have == 0 && addr_free(cy, lc, err, errlen) < 0) {
		return -1;
	}
	for (size_t w = 0; w < n; w++) {
		int worker = rp && !shared_group ? (int)w : -1;
		int fd = take_old(old, sa, rp);

		if (fd < 0)
			fd = take_inherited(sa, rp);
		if (fd >= 0) {
			if (apply_options(fd, lc, err, errlen) < 0)
				return -1;
		} else if ((fd = open_socket(lc, sa, rp, 1, err, errlen)) < 0) {
			return -1;
		}
		if (cy->nls == *cap) {
			*cap = *cap ? *cap * 2 : 8;
			cy->ls = xrealloc(cy->ls, *cap * sizeof(*cy->ls));
		}
		struct listener *l = &cy->ls[cy->nls++];
		memset(l, 0, sizeof(*l));
		l->fd = fd;
		l->addr = lc->addr;
		l->addrlen = lc->addrlen;
		l->worker = worker;
		l->reuseport = rp ? mode : LISTEN_SHARED;
		l->steer = rp && !shared_group;
		add_entry(l, lc, cf, s);
	}
	return 0;
}

/*
 * The status endpoint's socket: kept from the previous cycle or binary by
 * address like the mail listeners, so scrapes go on through a reload.
 */
static int
status_open(struct cycle *cy, struct cycle *old, char *err, size_t errlen)
{
	const struct status_listen_conf *sl = &cy->cf->main.status_listen;
	const struct sockaddr *sa = (const struct sockaddr *)&sl->addr;
	struct listen_conf lc;

	cy->status_fd = -1;
	if (old != NULL)
		old->status_kept = 0;
	if (sl->text == NULL)
		return 0;
	memset(&lc, 0, sizeof(lc));
	lc.addr = sl->addr;
	lc.addrlen = sl->addrlen;
	lc.text = sl->text;
	lc.backlog = 128;
	lc.ipv6only = 1;
	lc.so_keepalive = -1;
	if (old != NULL && old->status_fd >= 0 &&
	    net_addr_equal((struct sockaddr *)&old->cf->main.status_listen.addr, sa)) {
		old->status_kept = 1;
		cy->status_fd = old->status_fd;
		return 0;
	}
	cy->status_fd = take_inherited(sa, 0);
	if (cy->status_fd >= 0)
		return apply_options(cy->status_fd, &lc, err, errlen);
	cy->status_fd = open_socket(&lc, sa, 0, 1, err, errlen);
	if (cy->status_fd < 0) {
		char tmp[512];
		snprintf(tmp, sizeof(tmp), "status_listen: %s", err);
		snprintf(err, errlen, "%s", tmp);
		return -1;
	}
	return 0;
}

int
listen_open(struct cycle *cy, struct cycle *old, char *err, size_t errlen)
{
	const struct config *cf = cy->cf;
	size_t cap = 0, nworkers = (size_t)cf->main.worker_processes;

	cy->ls = NULL;
	cy->nls = 0;
	if (old != NULL)
		for (size_t i = 0; i < old->nls; i++)
			old->ls[i].kept = 0;

	/* Pass 1: sockets of their own. */
	for (size_t s = 0; s < cf->nservers; s++)
		for (size_t i = 0; i < cf->servers[s].nlisten; i++) {
			const struct listen_conf *lc = &cf->servers[s].listen[i];
			const struct sockaddr *sa = (const struct sockaddr *)&lc->addr;
			int found = 0;

			if (!binds_own_socket(cf, lc))
				continue;
			/* Servers told apart by SNI share the socket(s) of the first. */
			for (size_t k = 0; k < cy->nls; k++)
				if (net_addr_equal((struct sockaddr *)&cy->ls[k].addr, sa)) {
					add_entry(&cy->ls[k], lc, cf, s);
					found = 1;
				}
			if (!found && open_group(cy, old, lc, cf, s, nworkers, &cap, err, errlen) < 0)
				goto fail;
		}

	/* Pass 2: exact addresses served through their port's wildcard socket(s). */
	for (size_t s = 0; s < cf->nservers; s++)
		for (size_t i = 0; i < cf->servers[s].nlisten; i++) {
			const struct listen_conf *lc = &cf->servers[s].listen[i];
			if (binds_own_socket(cf, lc))
				continue;
			for (size_t k = 0; k < cy->nls; k++) {
				struct listener *l = &cy->ls[k];
				if (!net_is_wildcard((struct sockaddr *)&l->addr) ||
				    !same_port_family((struct sockaddr *)&l->addr,
				    (const struct sockaddr *)&lc->addr))
					continue;
				l->ents = xrealloc(l->ents, (l->nents + 1) * sizeof(*l->ents));
				l->ents[l->nents].lc = lc;
				l->ents[l->nents].srv = &cf->servers[s];
				l->ents[l->nents].server = s;
				l->nents++;
			}
		}
	/* The arrays are final now: entries may point at their socket. */
	for (size_t k = 0; k < cy->nls; k++)
		for (size_t i = 0; i < cy->ls[k].nents; i++)
			cy->ls[k].ents[i].l = &cy->ls[k];
	if (status_open(cy, old, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	/* Give back what was taken; close only what this call opened. */
	for (size_t k = 0; k < cy->nls; k++) {
		int from_old = 0;
		if (old != NULL)
			for (size_t i = 0; i < old->nls; i++)
				if (old->ls[i].fd == cy->ls[k].fd)
					from_old = 1;
		for (size_t i = 0; i < ninh; i++)
			if (inh[i].fd == cy->ls[k].fd) {
				inh[i].taken = 0;
				from_old = 1;
			}
		if (!from_old)
			close(cy->ls[k].fd);
		free(cy->ls[k].ents);
	}
	if (old != NULL)
		for (size_t i = 0; i < old->nls; i++)
			old->ls[i].kept = 0;
	/* status_open() runs last: when it failed it opened nothing. */
	if (old != NULL)
		old->status_kept = 0;
	cy->status_fd = -1;
	free(cy->ls);
	cy->ls = NULL;
	cy->nls = 0;
	return -1;
}

void
listen_close_unkept(struct cycle *cy)
{
	if (!cy->status_kept && cy->status_fd >= 0)
		close(cy->status_fd);
	cy->status_fd = -1;
	for (size_t i = 0; i < cy->nls; i++) {
		if (!cy->ls[i].kept && cy->ls[i].fd >= 0)
			close(cy->ls[i].fd);
		cy->ls[i].fd = -1;
	}
}

void
listen_close_all(struct cycle *cy)
{
	if (cy->status_fd >= 0)
		close(cy->status_fd);
	cy->status_fd = -1;
	for (size_t i = 0; i < cy->nls; i++) {
		if (cy->ls[i].fd >= 0)
			close(cy->ls[i].fd);
		cy->ls[i].fd = -1;
		free(cy->ls[i].ents);
	}
	free(cy->ls);
	cy->ls = NULL;
	cy->nls = 0;
}

void
listen_inherit_from_env(void)
{
	const char *env = getenv(LISTEN_ENV);
	char *copy, *save = NULL, *tok;

	if (env == NULL || env[0] == '\0')
		return;
	copy = xstrdup(env);
	for (tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *end;
		long fd = strtol(tok, &end, 10);
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int rp = 0;
		socklen_t rl = sizeof(rp);

		if (*end != '\0' || fd < 3 || fd > 1000000)
			continue;
		if (getsockname((int)fd, (struct sockaddr *)&ss, &len) < 0)
			continue;
		getsockopt((int)fd, SOL_SOCKET, SO_REUSEPORT, &rp, &rl);
		fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		inh = xrealloc(inh, (ninh + 1) * sizeof(*inh));
		inh[ninh].fd = (int)fd;
		inh[ninh].addr = ss;
		inh[ninh].reuseport = rp != 0;
		inh[ninh].taken = 0;
		ninh++;
	}
	free(copy);
	unsetenv(LISTEN_ENV);
}

void
listen_close_inherited(void)
{
	for (size_t i = 0; i < ninh; i++)
		if (!inh[i].taken)
			close(inh[i].fd);
	free(inh);
	inh = NULL;
	ninh = 0;
}

int
listen_export(const struct cycle *cy, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < cy->nls; i++) {
		int n = snprintf(buf + o, len - o, "%d;", cy->ls[i].fd);
		if (n < 0 || (size_t)n >= len - o)
			return -1;
		o += (size_t)n;
	}
	if (cy->status_fd >= 0) {
		int n = snprintf(buf + o, len - o, "%d;", cy->status_fd);
		if (n < 0 || (size_t)n >= len - o)
			return -1;
	}
	return 0;
}

void
listen_export_prepare(const struct cycle *cy)
{
	for (size_t i = 0; i < cy->nls; i++) {
		int fl = fcntl(cy->ls[i].fd, F_GETFD);
		if (fl >= 0)
			fcntl(cy->ls[i].fd, F_SETFD, fl & ~FD_CLOEXEC);
	}
	if (cy->status_fd >= 0)
		fcntl(cy->status_fd, F_SETFD, fcntl(cy->status_fd, F_GETFD) & ~FD_CLOEXEC);
}
