/*
 * mailproxy --from-nginx FILE: an nginx configuration (its main and events
 * directives and its mail {} block) as mailproxy YAML. Directives keep their
 * names (CONFIG.md), so the work is syntax: each one the directive table
 * knows in that context is carried; anything else (http {}, stream {},
 * load_module, unknown directives) becomes a "# not carried:" comment with
 * its file:line. A file nginx would refuse (unbalanced braces, unterminated
 * quotes, a duplicate, a directive in the wrong context) is refused.
 */
#ifndef MP_CONFIG_NGINX_H
#define MP_CONFIG_NGINX_H

#include <stddef.h>

#include "common/buf.h"

/* YAML for the nginx configuration at path into out: 0, or -1 with "file:line: message" in err. */
int config_from_nginx(const char *path, struct buf *out, char *err, size_t errlen);

/* The same for text named name, includes relative to dir, none when dir is NULL (tests). */
int config_from_nginx_text(const char *name, const char *text, size_t len, const char *dir,
    struct buf *out, char *err, size_t errlen);

#endif
