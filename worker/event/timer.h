/*
 * Timers in a binary min-heap, one heap per process. A timer is embedded in
 * its owner and knows its heap index, so arming, re-arming and cancelling are
 * O(log n) with no allocation; 100,000 timers cost 800 KB of heap slots.
 * Owners that move a deadline forward often (idle timeouts) should keep the
 * real deadline themselves and re-arm only when the timer fires early.
 */
#ifndef MP_TIMER_H
#define MP_TIMER_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"

struct timer;
typedef void (*timer_cb)(struct timer *t);

struct timer {
	uint64_t when;		/* monotonic ms */
	size_t idx;		/* heap slot + 1; 0 when not armed */
	timer_cb cb;
};

/* (Re)arms t to fire after ms. Returns -1 only when the heap cannot grow. */
int timer_set(struct timer *t, uint64_t ms, timer_cb cb);
void timer_cancel(struct timer *t);
static inline int timer_armed(const struct timer *t) { return t->idx != 0; }

/* Milliseconds until the earliest timer (capped at max_ms), -1 if none and max_ms < 0. */
int timer_next(int max_ms);
/* Runs every expired timer; a callback may arm or cancel any timer. */
void timer_run(void);
size_t timer_count(void);
void timer_reset(void);	/* forgets every timer (after fork) */

#endif
