/*
 * The relay: bytes both ways without looking at them. Reads go into one
 * per-worker scratch buffer and straight out to the other side; only bytes
 * the other side cannot take yet are copied into a per-direction buffer, so
 * an idle relayed session holds no buffer at all. A direction whose pending
 * bytes reach proxy_buffer stops reading (flow control). EOF is forwarded as
 * a half-close; the session ends when both directions are done.
 */
#include <stdlib.h>
#include <string.h>

#include "common/stats.h"
#include "worker/session.h"
#include "worker/session_int.h"

#define RELAY_BUDGET (1024 * 1024)	/* bytes per direction before yielding */
#define SCRATCH_SIZE (64 * 1024)

static char scratch[SCRATCH_SIZE];

size_t
relay_scratch_size(void)
{
	return SCRATCH_SIZE;
}

enum { PUMP_IDLE, PUMP_PROGRESS, PUMP_BUDGET, PUMP_ERROR };

/* Moves bytes from src to dst through d; *moved counts bytes read from src. */
static int
pump(struct session *s, struct conn *src, struct conn *dst, struct relay_dir *d, size_t *moved)
{
	size_t chunk = s->conf->proxy_buffer < SCRATCH_SIZE ? s->conf->proxy_buffer : SCRATCH_SIZE;
	int progress = 0;

	while (buf_len(&d->pend) > 0) {
		if (!conn_can_write(dst))
			return PUMP_IDLE;
		ssize_t n = conn_send(dst, buf_rptr(&d->pend), buf_len(&d->pend));
		if (n == CONN_AGAIN)
			return progress ? PUMP_PROGRESS : PUMP_IDLE;
		if (n < 0)
			return PUMP_ERROR;
		buf_consume(&d->pend, (size_t)n);
		progress = 1;
	}
	if (d->pend.data != NULL)
		buf_release(&d->pend);	/* drained: an idle direction holds nothing */

	while (!src->eof && conn_can_read(src)) {
		if (*moved >= RELAY_BUDGET)
			return PUMP_BUDGET;
		ssize_t n = conn_recv(src, scratch, chunk);
		if (n == CONN_AGAIN)
			break;
		if (n == CONN_ERROR)
			return PUMP_ERROR;
		if (n == 0)
			break;
		*moved += (size_t)n;
		progress = 1;
		size_t off = 0;
		while (off < (size_t)n && conn_can_write(dst)) {
			ssize_t w = conn_send(dst, scratch + off, (size_t)n - off);
			if (w == CONN_AGAIN)
				break;
			if (w < 0)
				return PUMP_ERROR;
			off += (size_t)w;
		}
		if (off < (size_t)n) {
			/* The other side is full: keep the rest and stop reading. */
			if (buf_append(&d->pend, scratch + off, (size_t)n - off) < 0)
				return PUMP_ERROR;
			break;
		}
	}
	if (src->eof && !d->fin_sent && buf_len(&d->pend) == 0) {
		conn_shutdown_write(dst);
		d->fin_sent = 1;
		progress = 1;
	}
	return progress ? PUMP_PROGRESS : PUMP_IDLE;
}

void
relay_run(struct session *s)
{
	size_t up = 0, down = 0;

	for (;;) {
		int a = pump(s, &s->c, &s->b, &s->up, &up);
		int b = pump(s, &s->b, &s->c, &s->down, &down);

		if (a == PUMP_ERROR || b == PUMP_ERROR) {
			int err = s->c.err ? s->c.last_errno : s->b.last_errno;
			session_log(s, LL_INFO, err, "%s", s->c.err ? "client connection failed" :
			    "upstream connection failed");
			session_close(s, LL_INFO, "proxied session done");
			goto out;
		}
		if (a == PUMP_BUDGET || b == PUMP_BUDGET) {
			/* Fairness: let other sessions run, come back this turn. */
			ev_post(&s->c.io);
			break;
		}
		if (a == PUMP_IDLE && b == PUMP_IDLE)
			break;
	}
	if (s->up.fin_sent && s->down.fin_sent) {
		session_close(s, LL_INFO, "proxied session done");
		goto out;
	}
	if (up || down) {
		s->last_active = timer_now();
		if ((s->up.fin_sent || s->down.fin_sent) && s->conf->timeout < s->conf->proxy_timeout)
			session_arm_timeout(s, s->conf->timeout);	/* half-closed: do not linger */
	}
out:
	STAT_ADD(bytes_in, up);
	STAT_ADD(bytes_out, down);
}

void
relay_start(struct session *s)
{
	struct preauth *pa = s->pa;

	/* The backend's last login reply (and anything after it) goes to the
	 * client; commands the client pipelined behind its login go to the
	 * backend, as nginx does. */
	if (buf_append(&s->down.pend, buf_rptr(&pa->out), buf_len(&pa->out)) < 0 ||
	    buf_append(&s->down.pend, buf_rptr(&pa->bin), buf_len(&pa->bin)) < 0 ||
	    buf_append(&s->up.pend, buf_rptr(&pa->in), buf_len(&pa->in)) < 0) {
		session_internal_error(s, "out of memory", 0);
		return;
	}
	if (buf_len(&pa->in))
		memset(pa->in.data, 0, pa->in.cap);
	session_log(s, LL_INFO, 0, "client logged in");
	session_set_state(s, SS_RELAY);
	/* From here on nothing of the login dialogue is kept. */
	session_preauth_done(s);
	s->last_active = timer_now();
	session_arm_timeout(s, s->conf->proxy_timeout);
	relay_run(s);
}
