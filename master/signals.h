/* -s: finds the running master through the pid file and signals it. */
#ifndef MP_SIGNALS_H
#define MP_SIGNALS_H

int signal_master(const char *conf, const char *prefix, const char *globals, const char *name);

#endif
