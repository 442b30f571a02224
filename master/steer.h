/*
 * The steering program of each reuseport group (common/reuseport.h) for the
 * cycle whose workers are about to start: new connections go to its live
 * workers' sockets only, by the client's hash, or with reuseport=cpu to the
 * worker worker_cpu_affinity pinned on the CPU that received the SYN.
 */
#ifndef MP_STEER_H
#define MP_STEER_H

#include "config/cycle.h"

/* Attaches it to every group of cy; a failure is logged and leaves the
 * kernel's own hash over the whole group (retired sockets included, which
 * the live workers drain anyway). */
void steer_attach(const struct cycle *cy);

#endif
