/* The master process: spawns workers, handles signals, reloads. */
#ifndef MP_MASTER_H
#define MP_MASTER_H

struct config;

/* Runs the server with cf (takes ownership). Returns the exit status. */
int master_main(struct config *cf, const char *globals, int argc, char **argv);

#endif
