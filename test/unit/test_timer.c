/*
 * The min-heap timers (worker/event/timer.c). Each timer knows its heap slot
 * (idx), which lets the tests check the heap invariant directly and take
 * timers off the top in order without waiting for the clock. Criterion runs
 * every test in its own process, so each starts with an empty heap.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "worker/event/timer.h"

TestSuite(timer);

static void
never(struct timer *t)
{
	(void)t;
	cr_assert_fail("a timer fired that should not have");
}

/* Every armed timer has a distinct slot in 1..count and no child is earlier than its parent. */
static void
check_heap(struct timer *const *ts, size_t n)
{
	size_t count = timer_count();
	struct timer **slot = calloc(count + 1, sizeof(*slot));
	size_t armed = 0;

	cr_assert_not_null(slot);
	for (size_t i = 0; i < n; i++) {
		if (!timer_armed(ts[i]))
			continue;
		size_t k = ts[i]->idx;
		cr_assert(k >= 1 && k <= count, "slot %zu of %zu", k, count);
		cr_assert_null(slot[k], "two timers in slot %zu", k);
		slot[k] = ts[i];
		armed++;
	}
	cr_assert_eq(armed, count, "%zu armed, heap holds %zu", armed, count);
	for (size_t k = 2; k <= count; k++)
		cr_assert_leq(slot[k / 2]->when, slot[k]->when, "slot %zu is earlier than its parent", k);
	free(slot);
}

static int
by_when(const void *a, const void *b)
{
	const struct timer *x = *(struct timer *const *)a, *y = *(struct timer *const *)b;

	return x->when < y->when ? -1 : x->when > y->when;
}

/* Takes every armed timer off the top: they must come in deadline order. */
static void
drain_in_order(struct timer **ts, size_t n)
{
	struct timer **s = malloc(n * sizeof(*s));
	size_t m = 0;
	uint64_t now = clock_now();

	for (size_t i = 0; i < n; i++)
		if (timer_armed(ts[i]))
			s[m++] = ts[i];
	cr_assert_eq(m, timer_count());
	qsort(s, m, sizeof(*s), by_when);
	for (size_t i = 0; i < m; i++) {
		/* Among equal deadlines any may be on top. */
		size_t j = i;
		while (j < m && s[j]->when == s[i]->when && s[j]->idx != 1)
			j++;
		cr_assert(j < m && s[j]->when == s[i]->when, "top is not the earliest at step %zu", i);
		struct timer *top = s[j];
		s[j] = s[i];
		s[i] = top;
		uint64_t d = top->when - now;
		cr_assert_eq(timer_next(-1), d > INT_MAX ? INT_MAX : (int)d);
		timer_cancel(top);
		cr_assert(!timer_armed(top));
		cr_assert_eq(timer_count(), m - i - 1);
	}
	cr_assert_eq(timer_next(-1), -1);
	free(s);
}

static struct timer *
alloc_timers(size_t n)
{
	struct timer *t = calloc(n, sizeof(*t));

	cr_assert_not_null(t);
	return t;
}

static struct timer **
ptrs(struct timer *t, size_t n)
{
	struct timer **p = malloc(n * sizeof(*p));

	for (size_t i = 0; i < n; i++)
		p[i] = &t[i];
	return p;
}

Test(timer, now_is_cached_until_updated)
{
	struct timespec ts = { 0, 3 * 1000 * 1000 };
	uint64_t a = clock_now();

	cr_assert_gt(a, 0);
	nanosleep(&ts, NULL);
	cr_assert_eq(clock_now(), a, "clock_now() must not read the clock");
	clock_update();
	cr_assert_geq(clock_now(), a + 3);
}

Test(timer, hundred_thousand_random_timers_come_out_in_order)
{
	const size_t n = 100000;
	struct timer *t = alloc_timers(n);
	struct timer **p = ptrs(t, n);

	srand(42);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(timer_set(&t[i], (uint64_t)rand() % 10000000, never), 0);
	cr_assert_eq(timer_count(), n);
	check_heap(p, n);
	drain_in_order(p, n);
	free(p);
	free(t);
}

Test(timer, equal_deadlines_and_sorted_inputs)
{
	const size_t n = 5000;
	struct timer *t = alloc_timers(n);
	struct timer **p = ptrs(t, n);

	/* Ascending, descending and equal deadlines are the heap's worst shapes. */
	for (size_t i = 0; i < n; i++)
		timer_set(&t[i], i < n / 3 ? i : i < 2 * n / 3 ? n - i : 777, never);
	check_heap(p, n);
	drain_in_order(p, n);
	free(p);
	free(t);
}

Test(timer, cancel_in_the_middle)
{
	const size_t n = 20000;
	struct timer *t = alloc_timers(n);
	struct timer **p = ptrs(t, n);

	srand(9);
	for (size_t i = 0; i < n; i++)
		timer_set(&t[i], (uint64_t)rand() % 100000, never);
	for (size_t i = 0; i < n; i += 3) {
		size_t k = (size_t)rand() % n;
		timer_cancel(&t[k]);
		cr_assert(!timer_armed(&t[k]));
		timer_cancel(&t[k]);	/* twice is harmless */
	}
	check_heap(p, n);
	/* The last slot and the first one. */
	for (size_t i = 0; i < n; i++)
		if (t[i].idx == timer_count()) {
			timer_cancel(&t[i]);
			break;
		}
	for (size_t i = 0; i < n; i++)
		if (t[i].idx == 1) {
			timer_cancel(&t[i]);
			break;
		}
	check_heap(p, n);
	drain_in_order(p, n);
	free(p);
	free(t);
}

Test(timer, rearm_earlier_and_later)
{
	const size_t n = 3000;
	struct timer *t = alloc_timers(n);
	struct timer **p = ptrs(t, n);

	srand(5);
	for (size_t i = 0; i < n; i++)
		timer_set(&t[i], 1000 + (uint64_t)rand() % 100000, never);
	/* Earlier than everything: it goes to the top. */
	cr_assert_eq(timer_set(&t[n / 2], 10, never), 0);
	cr_assert_eq(t[n / 2].idx, 1);
	cr_assert_eq(timer_next(-1), 10);
	cr_assert_eq(timer_count(), n, "re-arming does not add");
	check_heap(p, n);
	/* Later than everything: it leaves the top. */
	cr_assert_eq(timer_set(&t[n / 2], 10000000, never), 0);
	cr_assert_neq(t[n / 2].idx, 1);
	cr_assert_geq(timer_next(-1), 1000);
	check_heap(p, n);
	/* Many random re-arms, some to the same deadline. */
	for (size_t i = 0; i < 20000; i++) {
		size_t k = (size_t)rand() % n;
		timer_set(&t[k], rand() % 4 ? (uint64_t)rand() % 200000 : t[k].when - clock_now(), never);
	}
	cr_assert_eq(timer_count(), n);
	check_heap(p, n);
	drain_in_order(p, n);
	free(p);
	free(t);
}

/* ---- timer_run ---- */

static uint64_t fired_when[200];
static struct timer *fired[200];
static size_t nfired;

static void
record(struct timer *t)
{
	cr_assert(!timer_armed(t), "a timer is disarmed before its callback");
	cr_assert_lt(nfired, 200);
	fired[nfired] = t;
	fired_when[nfired++] = t->when;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

Test(timer, run_fires_expired_timers_in_order)
{
	struct timer t[100], late;

	memset(t, 0, sizeof(t));
	memset(&late, 0, sizeof(late));
	srand(11);
	for (size_t i = 0; i < 100; i++)
		timer_set(&t[i], (uint64_t)rand() % 20, record);
	timer_set(&late, 600000, never);
	timer_run();	/* the cached clock has not moved: only 0 ms timers are due */
	for (size_t i = 0; i < nfired; i++)
		cr_assert_eq(fired_when[i], clock_now());
	sleep_ms(25);
	clock_update();
	timer_run();
	cr_assert_eq(nfired, 100);
	for (size_t i = 1; i < nfired; i++)
		cr_assert_leq(fired_when[i - 1], fired_when[i], "fired out of order at %zu", i);
	cr_assert_eq(timer_count(), 1);
	cr_assert(timer_armed(&late));
	cr_assert_gt(timer_next(-1), 500000);
}

static struct timer victim, spawned, self_rearm;
static int self_runs;

static void
cancel_victim(struct timer *t)
{
	record(t);
	timer_cancel(&victim);
	timer_set(&spawned, 100000, never);
}

static void
rearm_later(struct timer *t)
{
	self_runs++;
	timer_set(t, 100000, never);
}

Test(timer, callbacks_may_cancel_and_arm)
{
	struct timer first;

	memset(&first, 0, sizeof(first));
	timer_set(&first, 0, cancel_victim);
	timer_set(&victim, 1, never);
	timer_set(&self_rearm, 0, rearm_later);
	sleep_ms(3);
	clock_update();
	timer_run();
	cr_assert_eq(nfired, 1);
	cr_assert_eq(self_runs, 1);
	cr_assert(!timer_armed(&victim));
	cr_assert(timer_armed(&spawned));
	cr_assert(timer_armed(&self_rearm));
	cr_assert_eq(timer_count(), 2);
}

Test(timer, next_and_caps)
{
	struct timer a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	cr_assert_eq(timer_next(-1), -1);
	cr_assert_eq(timer_next(500), 500);
	timer_set(&a, 1000, never);
	cr_assert_eq(timer_next(-1), 1000);
	cr_assert_eq(timer_next(100), 100);
	cr_assert_eq(timer_next(5000), 1000);
	cr_assert_eq(timer_next(0), 0);
	/* Far in the future: capped at INT_MAX. */
	timer_cancel(&a);
	timer_set(&a, (uint64_t)INT_MAX * 4, never);
	cr_assert_eq(timer_next(-1), INT_MAX);
	timer_set(&b, 0, never);
	cr_assert_eq(timer_next(-1), 0, "a due timer means no sleep");
	cr_assert_eq(timer_next(5000), 0);
}

Test(timer, reset_forgets_everything)
{
	struct timer t[10];

	memset(t, 0, sizeof(t));
	for (int i = 0; i < 10; i++)
		timer_set(&t[i], 0, never);
	timer_reset();
	cr_assert_eq(timer_count(), 0);
	for (int i = 0; i < 10; i++)
		cr_assert(!timer_armed(&t[i]));
	timer_run();	/* nothing fires */
	cr_assert_eq(timer_next(-1), -1);
	/* The heap is usable again. */
	timer_set(&t[3], 5, never);
	cr_assert_eq(timer_count(), 1);
	cr_assert_eq(t[3].idx, 1);
}
