/*
 * The status endpoint in a worker (status_listen): GET /metrics and
 * GET /status over plain HTTP, answered from the shared zones.
 */
#ifndef MP_STATUS_H
#define MP_STATUS_H

struct cycle;

/* Starts accepting on cy->status_fd if the configuration has one; -1 on failure. */
int status_start(struct cycle *cy);
/* Stops accepting and closes the socket (draining, exit). */
void status_stop_accepting(void);
/* Closes every status connection (exit). */
void status_close_all(void);

#endif
