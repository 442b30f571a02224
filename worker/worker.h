/* A worker process: one event loop serving the sessions of one cycle. */
#ifndef MP_WORKER_H
#define MP_WORKER_H

struct config;
struct cycle;

/*
 * Master, for each new cycle before its workers fork: builds what the
 * workers need made where a failure still refuses the reload (the TLS
 * contexts). 0, or -1 with err.
 */
int worker_cycle_prepare(struct cycle *cy, char *err, size_t errlen);
void worker_cycle_release(struct cycle *cy);
/* -t: what worker_cycle_prepare() would refuse in cf (bad keys, certificates). */
int worker_config_test(const struct config *cf, char *err, size_t errlen);

/*
 * Runs the worker until it is told to stop and its sessions are done.
 * index: the worker's number in its cycle (selects its reuseport sockets);
 * slot: its counters in the status zone (-1: none);
 * single: master_process off (this process also handles the master signals).
 * Returns the exit status.
 */
int worker_main(struct cycle *cy, int index, int slot, int single);

#endif
