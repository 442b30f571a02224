/*
 * The process's notion of now: monotonic milliseconds, read from the kernel
 * once per event-loop turn (clock_update()) rather than on every use, as
 * nginx caches its time. The master and the workers both keep one.
 */
#ifndef MP_CLOCK_H
#define MP_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds as of the last clock_update() (the first call reads the clock). */
uint64_t clock_now(void);
/* Reads the clock again; call once per loop turn and after anything slow. */
void clock_update(void);

#endif
