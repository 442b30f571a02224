/* Building and freeing cycles (master only); see config/cycle.h. */
#ifndef MP_MASTER_CYCLE_H
#define MP_MASTER_CYCLE_H

#include <stddef.h>

#include "config/cycle.h"

/* Takes ownership of cf on success only. */
struct cycle *cycle_build(struct config *cf, struct cycle *old, unsigned generation,
    char *err, size_t errlen);
void cycle_free(struct cycle *cy);
void cycle_log_sets(const struct cycle *cy, const struct log_set **out, int *n, int max);

#endif
