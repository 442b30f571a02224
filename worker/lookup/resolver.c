/* Reverse-then-forward client lookups with c-ares; see resolver.h. */
#include <arpa/inet.h>
#include <ares.h>
#include <netdb.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/net.h"
#include "worker/event/event.h"
#include "worker/event/timer.h"
#include "worker/lookup/resolver.h"

#define MAX_CHANNELS 16

struct chan_fd {
	struct ev_io io;
	struct channel *ch;
	struct chan_fd *next;
};

/* Servers with the same resolver settings share a channel; a channel outlives
 * the configuration it came from (reloads), so it keeps its own copy. */
struct channel {
	struct sockaddr_storage *addrs;
	size_t naddrs;
	uint64_t timeout;
	ares_channel ares;
	struct timer timer;
	struct chan_fd *fds;
};

struct resolve_req {
	struct channel *ch;
	resolve_cb cb;
	void *arg;
	struct timer timer;	/* resolver_timeout for the whole lookup */
	struct sockaddr_storage addr;
	int pending;		/* c-ares callbacks still to come */
	int done;		/* the answer was given (or cancelled) */
	int starting;		/* inside resolver_lookup(): answer later, not now */
	char name[256];		/* the PTR name, while its forward lookup runs */
	char host[256];
};

static struct channel channels[MAX_CHANNELS];
static size_t nchannels;
static int lib_ready;

int
resolver_valid_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 253)
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			return 0;
	return 1;
}

static void channel_rearm(struct channel *ch);

static void
fd_cb(struct ev_io *io, uint32_t events)
{
	struct chan_fd *f = (struct chan_fd *)io;
	struct channel *ch = f->ch;
	int fd = io->fd;

	ares_process_fd(ch->ares, (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD,
	    (events & EPOLLOUT) ? fd : ARES_SOCKET_BAD);
	channel_rearm(ch);
}

static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct channel *ch = data;
	struct chan_fd **pp = &ch->fds, *f;

	for (; (f = *pp) != NULL; pp = &f->next)
		if (f->io.fd == fd)
			break;
	if (!readable && !writable) {
		if (f != NULL) {
			ev_del(&f->io);
			*pp = f->next;
			/* The struct may still be in this turn's event batch. */
			f->io.fd = -1;
			ev_defer(free, f);
		}
		return;
	}
	uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	if (f == NULL) {
		f = calloc(1, sizeof(*f));
		if (f == NULL)
			return;
		f->io.fd = fd;
		f->io.cb = fd_cb;
		f->ch = ch;
		f->next = ch->fds;
		ch->fds = f;
		ev_add(&f->io, ev);
	} else {
		ev_mod(&f->io, ev);
	}
}

static void
channel_timeout(struct timer *t)
{
	struct channel *ch = (struct channel *)((char *)t - offsetof(struct channel, timer));

	ares_process_fd(ch->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	channel_rearm(ch);
}

static void
channel_rearm(struct channel *ch)
{
	struct timeval tv, *tvp = ares_timeout(ch->ares, NULL, &tv);

	if (tvp == NULL) {
		timer_cancel(&ch->timer);
		return;
	}
	timer_set(&ch->timer, (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000 + 1,
	    channel_timeout);
}

static struct channel *
channel_get(const struct srv_conf *conf)
{
	const struct resolver_conf *rc = &conf->resolver;
	struct ares_options o;
	struct ares_addr_port_node *nodes;

	if (rc->n == 0)
		return NULL;
	for (size_t i = 0; i < nchannels; i++)
		if (channels[i].naddrs == rc->n && channels[i].timeout == conf->resolver_timeout &&
		    memcmp(channels[i].addrs, rc->addrs, rc->n * sizeof(*rc->addrs)) == 0)
			return &channels[i];
	if (nchannels == MAX_CHANNELS) {
		/* Never another server's DNS: the lookup answers [TEMPUNAVAIL]. */
		static int warned;
		if (!warned++)
			log_msg(LL_ALERT, "more than %d different resolvers in one worker", MAX_CHANNELS);
		return NULL;
	}
	if (!lib_ready) {
		if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
			return NULL;
		lib_ready = 1;
	}
	struct channel *ch = &channels[nchannels];
	memset(ch, 0, sizeof(*ch));
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = ch;
	/* DNS only: neither /etc/hosts nor search domains, as nginx's resolver. */
	o.lookups = (char *)"b";
	o.flags = ARES_FLAG_NOSEARCH;
	o.timeout = (int)(conf->resolver_timeout / 2 > 0 ? conf->resolver_timeout / 2 : 1);
	o.tries = 2;
	if (ares_init_options(&ch->ares, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS |
	    ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS)
		return NULL;
	nodes = calloc(rc->n, sizeof(*nodes));
	if (nodes == NULL) {
		ares_destroy(ch->ares);
		return NULL;
	}
	for (size_t i = 0; i < rc->n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&rc->addrs[i];
		nodes[i].next = i + 1 < rc->n ? &nodes[i + 1] : NULL;
		nodes[i].family = sa->sa_family;
		nodes[i].udp_port = nodes[i].tcp_port = net_port(sa);
		if (sa->sa_family == AF_INET)
			memcpy(&nodes[i].addr.addr4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		else
			memcpy(&nodes[i].addr.addr6, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
	int rc2 = ares_set_servers_ports(ch->ares, nodes);
	free(nodes);
	if (rc2 != ARES_SUCCESS) {
		ares_destroy(ch->ares);
		return NULL;
	}
	ch->addrs = malloc(rc->n * sizeof(*rc->addrs));
	if (ch->addrs == NULL) {
		ares_destroy(ch->ares);
		return NULL;
	}
	memcpy(ch->addrs, rc->addrs, rc->n * sizeof(*rc->addrs));
	ch->naddrs = rc->n;
	ch->timeout = conf->resolver_timeout;
	nchannels++;
	return ch;
}

static void
deliver(struct timer *t)
{
	struct resolve_req *r = (struct resolve_req *)((char *)t - offsetof(struct resolve_req, timer));
	resolve_cb cb = r->cb;

	r->cb = NULL;
	if (cb)
		cb(r->arg, r->host);
	if (r->pending == 0)
		free(r);
}

static void
answer(struct resolve_req *r, const char *host)
{
	if (r->done)
		return;
	r->done = 1;
	snprintf(r->host, sizeof(r->host), "%s", host);
	/* Never call back from inside resolver_lookup(): the caller has no handle yet. */
	if (r->starting) {
		timer_set(&r->timer, 0, deliver);
		return;
	}
	timer_cancel(&r->timer);
	resolve_cb cb = r->cb;
	r->cb = NULL;
	if (cb)
		cb(r->arg, r->host);
}

static void
release(struct resolve_req *r)
{
	/* Freed once c-ares is done with it and the answer was delivered. */
	if (--r->pending == 0 && r->done && !timer_armed(&r->timer))
		free(r);
}

/*
 * What a DNS failure means for the client's name, as nginx tells them apart:
 * only "no such name" (NXDOMAIN, or NOERROR with an empty answer section,
 * which nginx's resolver reports as NXDOMAIN) is "[UNAVAILABLE]".
 */
static const char *
failure(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:	/* NXDOMAIN */
	case ARES_ENODATA:	/* NOERROR, no answers */
		return HOST_UNAVAILABLE;
	default:		/* SERVFAIL, REFUSED, timeouts, unreachable servers, bad messages */
		return HOST_TEMPUNAVAIL;
	}
}

/* The offset after the wire-format name at a[p], or -1 past the end. */
static long
skip_name(const unsigned char *a, long n, long p)
{
	for (int i = 0; i < 128 && p < n; i++) {
		unsigned l = a[p];
		if (l == 0)
			return p + 1;
		if ((l & 0xc0) == 0xc0)
			return p + 2 <= n ? p + 2 : -1;
		if (l & 0xc0)
			return -1;
		p += 1 + (long)l;
	}
	return -1;
}

/*
 * Whether the answer section has a PTR record with data, read as nginx's
 * resolver reads it (the first PTR counts; CNAMEs and other types are
 * passed over; a class other than IN stops it). nginx gives no answer for a
 * message without one, with an empty one, or cut short, and the lookup
 * ends as a timeout: a temporary failure, not "no such name".
 */
static int
has_ptr_data(const unsigned char *a, int alen)
{
	long n = alen, p = 12;

	if (n < 12)
		return 0;
	unsigned qd = (unsigned)a[4] << 8 | a[5], an = (unsigned)a[6] << 8 | a[7];
	for (unsigned i = 0; i < qd; i++) {
		if ((p = skip_name(a, n, p)) < 0 || p + 4 > n)
			return 0;
		p += 4;
	}
	for (unsigned i = 0; i < an; i++) {
		if ((p = skip_name(a, n, p)) < 0 || p + 10 > n)
			return 0;
		unsigned type = (unsigned)a[p] << 8 | a[p + 1];
		unsigned class = (unsigned)a[p + 2] << 8 | a[p + 3];
		long len = (long)a[p + 8] << 8 | a[p + 9];
		p += 10;
		if (class != 1 || p + len > n)
			return 0;
		if (type == 12 /* T_PTR */)
			return len > 0;
		p += len;
	}
	return 0;
}

const char *
resolver_ptr_answer(int status, const unsigned char *abuf, int alen, const struct sockaddr *addr,
    char *name, size_t len)
{
	struct hostent *h = NULL;
	const char *verdict;

	if (status != ARES_SUCCESS)
		return failure(status);
	if (!has_ptr_data(abuf, alen))
		return HOST_TEMPUNAVAIL;
	if (addr->sa_family == AF_INET)
		status = ares_parse_ptr_reply(abuf, alen,
		    &((const struct sockaddr_in *)addr)->sin_addr, 4, AF_INET, &h);
	else
		status = ares_parse_ptr_reply(abuf, alen,
		    &((const struct sockaddr_in6 *)addr)->sin6_addr, 16, AF_INET6, &h);
	if (status == ARES_EBADRESP || status == ARES_EBADNAME) {
		/* c-ares refuses a name that is no host name (nginx: invalid host). */
		verdict = HOST_UNAVAILABLE;
	} else if (status != ARES_SUCCESS) {
		/* A PTR for another owner than the one asked for, or out of memory. */
		verdict = HOST_TEMPUNAVAIL;
	} else if (h->h_name == NULL || !resolver_valid_name(h->h_name) ||
	    strlen(h->h_name) >= len) {
		verdict = HOST_UNAVAILABLE;
	} else {
		memcpy(name, h->h_name, strlen(h->h_name) + 1);
		verdict = NULL;
	}
	if (h != NULL)
		ares_free_hostent(h);
	return verdict;
}

const char *
resolver_forward_answer(int status, const unsigned char *abuf, int alen,
    const struct sockaddr *addr)
{
	struct hostent *h = NULL;
	const void *want;
	size_t wlen;
	int match = 0;

	if (status != ARES_SUCCESS)
		return failure(status);
	if (addr->sa_family == AF_INET) {
		want = &((const struct sockaddr_in *)addr)->sin_addr;
		wlen = 4;
		status = ares_parse_a_reply(abuf, alen, &h, NULL, NULL);
	} else {
		want = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		wlen = 16;
		status = ares_parse_aaaa_reply(abuf, alen, &h, NULL, NULL);
	}
	if (status != ARES_SUCCESS)
		return failure(status);
	for (char **a = h->h_addr_list; a && *a; a++)
		if ((size_t)h->h_length == wlen && memcmp(*a, want, wlen) == 0)
			match = 1;
	ares_free_hostent(h);
	return match ? NULL : HOST_UNAVAILABLE;
}

/*
 * The forward answer. The name given is the PTR name, as nginx keeps it: the
 * answer's own name may be a CNAME's target, which nothing has checked.
 */
static void
forward_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct resolve_req *r = arg;
	const char *fail;

	(void)timeouts;
	fail = resolver_forward_answer(status, abuf, alen, (const struct sockaddr *)&r->addr);
	answer(r, fail ? fail : r->name);
	release(r);
}

/*
 * The PTR answer, from a raw query so that the DNS error code is visible
 * (ares_gethostbyaddr reports SERVFAIL as "not found").
 */
static void
reverse_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct resolve_req *r = arg;
	const struct sockaddr *sa = (const struct sockaddr *)&r->addr;
	const char *fail;

	(void)timeouts;
	if (r->done) {
		release(r);
		return;
	}
	fail = resolver_ptr_answer(status, abuf, alen, sa, r->name, sizeof(r->name));
	if (fail != NULL) {
		answer(r, fail);
	} else {
		r->pending++;
		ares_query(r->ch->ares, r->name, 1 /* C_IN */,
		    sa->sa_family == AF_INET ? 1 /* T_A */ : 28 /* T_AAAA */, forward_cb, r);
	}
	release(r);
}

/* "4.3.2.1.in-addr.arpa" or the IPv6 nibble form under ip6.arpa. */
static void
ptr_name(const struct sockaddr *sa, char *out, size_t len)
{
	if (sa->sa_family == AF_INET) {
		const unsigned char *a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
		snprintf(out, len, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return;
	}
	const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 15; i >= 0 && o + 4 < len; i--) {
		out[o++] = hex[a[i] & 15];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	snprintf(out + o, len - o, "ip6.arpa");
}

static void
req_timeout(struct timer *t)
{
	struct resolve_req *r = (struct resolve_req *)((char *)t - offsetof(struct resolve_req, timer));

	answer(r, HOST_TEMPUNAVAIL);
}

struct resolve_req *
resolver_lookup(const struct srv_conf *conf, const struct sockaddr *addr, resolve_cb cb, void *arg)
{
	struct channel *ch;
	struct resolve_req *r;
	struct sockaddr_storage a;

	/* An IPv4-mapped address is looked up as IPv4. */
	memset(&a, 0, sizeof(a));
	if (addr->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)addr)->sin6_addr)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, &((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr[12], 4);
	} else if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) {
		memcpy(&a, addr, net_socklen(addr));
	} else {
		return NULL;
	}
	ch = channel_get(conf);
	if (ch == NULL)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->ch = ch;
	r->cb = cb;
	r->arg = arg;
	r->addr = a;
	r->pending = 1;
	r->starting = 1;
	timer_set(&r->timer, conf->resolver_timeout, req_timeout);
	char qname[80];
	ptr_name((const struct sockaddr *)&a, qname, sizeof(qname));
	ares_query(ch->ares, qname, 1 /* C_IN */, 12 /* T_PTR */, reverse_cb, r);
	r->starting = 0;
	channel_rearm(ch);
	return r;
}

void
resolver_cancel(struct resolve_req *r)
{
	if (r == NULL)
		return;
	r->cb = NULL;
	r->done = 1;
	timer_cancel(&r->timer);
	if (r->pending == 0)
		free(r);
}

void
resolver_shutdown(void)
{
	for (size_t i = 0; i < nchannels; i++) {
		timer_cancel(&channels[i].timer);
		/* Pending callbacks run now with ARES_EDESTRUCTION and free their requests. */
		ares_destroy(channels[i].ares);
		free(channels[i].addrs);
		channels[i].addrs = NULL;
		while (channels[i].fds) {
			struct chan_fd *f = channels[i].fds;
			channels[i].fds = f->next;
			free(f);
		}
	}
	nchannels = 0;
	if (lib_ready) {
		ares_library_cleanup();
		lib_ready = 0;
	}
}
