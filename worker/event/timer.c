/* Min-heap timers; see timer.h. */
#include <stdlib.h>

#include "worker/event/timer.h"

static struct timer **heap;
static size_t heap_len, heap_cap;

static void
place(size_t i, struct timer *t)
{
	heap[i] = t;
	t->idx = i + 1;
}

static void
sift_up(size_t i)
{
	struct timer *t = heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (heap[parent]->when <= t->when)
			break;
		place(i, heap[parent]);
		i = parent;
	}
	place(i, t);
}

static void
sift_down(size_t i)
{
	struct timer *t = heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t mw = t->when;
		if (l < heap_len && heap[l]->when < mw) {
			m = l;
			mw = heap[l]->when;
		}
		if (r < heap_len && heap[r]->when < mw)
			m = r;
		if (m == i)
			break;
		place(i, heap[m]);
		i = m;
	}
	place(i, t);
}

int
timer_set(struct timer *t, uint64_t ms, timer_cb cb)
{
	uint64_t when = clock_now() + ms;

	t->cb = cb;
	if (t->idx) {
		size_t i = t->idx - 1;
		uint64_t old = t->when;
		t->when = when;
		if (when < old)
			sift_up(i);
		else if (when > old)
			sift_down(i);
		return 0;
	}
	if (heap_len == heap_cap) {
		size_t nc = heap_cap ? heap_cap * 2 : 1024;
		struct timer **h = realloc(heap, nc * sizeof(*h));
		if (h == NULL)
			return -1;
		heap = h;
		heap_cap = nc;
	}
	t->when = when;
	place(heap_len, t);
	heap_len++;
	sift_up(heap_len - 1);
	return 0;
}

void
timer_cancel(struct timer *t)
{
	size_t i;

	if (t->idx == 0)
		return;
	i = t->idx - 1;
	t->idx = 0;
	heap_len--;
	if (i == heap_len)
		return;
	struct timer *last = heap[heap_len];
	place(i, last);
	if (i > 0 && heap[(i - 1) / 2]->when > last->when)
		sift_up(i);
	else
		sift_down(i);
}

int
timer_next(int max_ms)
{
	if (heap_len == 0)
		return max_ms;
	uint64_t now = clock_now();
	if (heap[0]->when <= now)
		return 0;
	uint64_t d = heap[0]->when - now;
	if (max_ms >= 0 && d > (uint64_t)max_ms)
		return max_ms;
	return d > 0x7fffffff ? 0x7fffffff : (int)d;
}

void
timer_run(void)
{
	uint64_t now = clock_now();

	while (heap_len > 0 && heap[0]->when <= now) {
		struct timer *t = heap[0];
		timer_cancel(t);
		t->cb(t);
	}
}

size_t
timer_count(void)
{
	return heap_len;
}

void
timer_reset(void)
{
	for (size_t i = 0; i < heap_len; i++)
		heap[i]->idx = 0;
	heap_len = 0;
}
