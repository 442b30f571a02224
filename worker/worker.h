/* A worker process: one event loop serving the sessions of one cycle. */
#ifndef MP_WORKER_H
#define MP_WORKER_H

struct cycle;

/*
 * Runs the worker until it is told to stop and its sessions are done.
 * index: the worker's number in its cycle (selects its reuseport sockets);
 * slot: its counters in the status zone (-1: none);
 * single: master_process off (this process also handles the master signals).
 * Returns the exit status.
 */
int worker_main(struct cycle *cy, int index, int slot, int single);

#endif
