/*
 * Socket address helpers: parse and format IPv4/IPv6 literals with ports,
 * compare addresses, CIDR matching. They never resolve names and never log;
 * errors come back through (err, errlen).
 */
#ifndef MP_NET_H
#define MP_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NET_ADDRSTRLEN 64	/* "[ffff:...:ffff]:65535" fits */

/* "1.2.3.4", "::1" (no brackets, no port). Returns 0 or -1. */
int net_parse_ip(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* "1.2.3.4[:port]" or "[v6][:port]"; default_port < 0 means the port is required. */
int net_parse_hostport(const char *s, int default_port, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen);
/* Address only: "1.2.3.4" or "2001:db8::1" (unmapped IPv4 shown as IPv4). */
void net_ntop(const struct sockaddr *sa, char *buf, size_t len);
/* "1.2.3.4:25" or "[2001:db8::1]:25". */
void net_ntop_port(const struct sockaddr *sa, char *buf, size_t len);
int net_port(const struct sockaddr *sa);
void net_set_port(struct sockaddr *sa, int port);
socklen_t net_socklen(const struct sockaddr *sa);
int net_addr_equal(const struct sockaddr *a, const struct sockaddr *b);	/* addr+port */
int net_is_wildcard(const struct sockaddr *sa);

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	int bits;
	uint8_t addr[16];
};

/* "10.0.0.0/8", "::1", "2001:db8::/32". */
int net_parse_cidr(const char *s, struct cidr *c);
int net_cidr_match(const struct cidr *c, const struct sockaddr *sa);
void net_cidr_format(const struct cidr *c, char *buf, size_t len);


#endif
