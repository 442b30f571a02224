/* Setters and printers of the directives with a grammar of their own. */
#ifndef MP_CONFIG_CUSTOM_H
#define MP_CONFIG_CUSTOM_H

#include "config/config_int.h"

#define CUSTOM_DECL(fn) \
	int set_##fn(struct loader *, const struct directive *, void *, const struct ynode *); \
	void print_##fn(const struct directive *, const void *, struct buf *)

CUSTOM_DECL(user);
CUSTOM_DECL(worker_processes);
CUSTOM_DECL(error_log);
CUSTOM_DECL(listen);
CUSTOM_DECL(status_listen);
CUSTOM_DECL(server_name);
CUSTOM_DECL(resolver);
CUSTOM_DECL(auth_http);
CUSTOM_DECL(cidrs);
CUSTOM_DECL(ssl_protocols);
CUSTOM_DECL(ssl_session_cache);
/* config_limits.c */
CUSTOM_DECL(limit_zone);
CUSTOM_DECL(limit_rule);
CUSTOM_DECL(log_level);

CUSTOM_DECL(limit_store);
CUSTOM_DECL(ticket_store);
/* config_authcache.c */
CUSTOM_DECL(auth_cache);
/* config_log.c */
CUSTOM_DECL(log_format);
CUSTOM_DECL(access_log);
/* config_proc.c */
CUSTOM_DECL(cpu_affinity);
CUSTOM_DECL(priority);
CUSTOM_DECL(rlimit_core);
CUSTOM_DECL(env);
CUSTOM_DECL(event_use);

/* "IP[:port]", "[IPv6]:port" or "name[:port]" (resolved now) into an address. */
int load_hostport(struct loader *ld, const struct ynode *val, const char *dname, const char *s,
    const char *hostport, int defport, struct sockaddr_storage *addr, socklen_t *addrlen,
    char **host_out);

/* One listen item as written, for -T. */
void print_listen_item(const struct listen_conf *l, struct buf *out);

#endif
