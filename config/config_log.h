/*
 * The access log's configuration (config_log.c): the predefined format and
 * the check pass that resolves each access_log's format by name.
 */
#ifndef MP_CONFIG_LOG_H
#define MP_CONFIG_LOG_H

#define LOG_FORMAT_DEFAULT "combined"	/* used by an access_log that names no format */

extern const char *const log_format_default_text;

struct loader;

/* Points every access_log at its format; 0, or -1 with "unknown log format" at its line. */
int config_log_check(struct loader *ld);

#endif
