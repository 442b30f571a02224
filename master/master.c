#include <stdio.h>
#include "master/master.h"
#include "master/signals.h"
#include "config/config.h"
int master_main(struct config *cf, int argc, char **argv) { (void)cf; (void)argc; (void)argv; fprintf(stderr, "TEMP\n"); return 1; }
int signal_master(const char *conf, const char *prefix, const char *globals, const char *name) { (void)conf; (void)prefix; (void)globals; (void)name; return 1; }
