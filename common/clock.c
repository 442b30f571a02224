/* The cached monotonic clock; see clock.h. */
#include <time.h>

#include "common/clock.h"

static uint64_t now_ms;

uint64_t
clock_now(void)
{
	if (now_ms == 0)
		clock_update();
	return now_ms;
}

void
clock_update(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
