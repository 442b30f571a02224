/*
 * The targets of one error_log context as the configuration lists them: data
 * only, so the configuration can hold it without seeing the log functions.
 */
#ifndef MP_LOG_CONF_H
#define MP_LOG_CONF_H

#include <stddef.h>

struct errlog_entry {
	char *target;		/* path, "stderr" or "syslog:..." */
	int level;		/* enum log_level */
};

struct errlog_conf {
	size_t n;
	struct errlog_entry *v;
};

#endif
