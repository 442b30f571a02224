/*
 * What `mailproxy -s status` prints and the status endpoint serves, built in
 * one place from the shared zones: the JSON of -s status, and the same
 * counters in the Prometheus text exposition format 0.0.4. The caller says
 * how a zone is found: -s status maps the running master's zones through
 * /proc, a worker already has them mapped.
 */
#ifndef MP_STATUS_REPORT_H
#define MP_STATUS_REPORT_H

#include <jansson.h>
#include <stddef.h>

struct buf;
struct config;

/* The data of zone name (after its header) and its size, or NULL. */
typedef const void *(*status_zone_fn)(void *ctx, const char *name, size_t *size);

/* The -s status document; NULL when the status zone is missing or unreadable. */
json_t *status_json(const struct config *cf, status_zone_fn zone, void *ctx);
/* The exposition; 0, or -1 when the status zone is missing or memory ran out. */
int status_metrics(const struct config *cf, status_zone_fn zone, void *ctx, struct buf *out);
/* v as a label value: backslash, double quote and newline escaped (0.0.4). */
int status_label_escape(struct buf *out, const char *v);

#endif
