/* Address helpers; see net.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net.h"

int
net_parse_ip(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

static int
parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int
net_parse_hostport(const char *s, int default_port, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *p, *port = NULL;
	size_t hl;
	int portnum = default_port;

	if (s[0] == '[') {
		p = strchr(s, ']');
		if (p == NULL) {
			snprintf(err, errlen, "missing \"]\" in \"%s\"", s);
			return -1;
		}
		hl = (size_t)(p - s - 1);
		if (p[1] == ':')
			port = p + 2;
		else if (p[1] != '\0') {
			snprintf(err, errlen, "invalid address \"%s\"", s);
			return -1;
		}
		s++;
	} else {
		p = strrchr(s, ':');
		if (p != NULL && strchr(s, ':') != p) {
			snprintf(err, errlen, "IPv6 address \"%s\" must be written in brackets", s);
			return -1;
		}
		hl = p ? (size_t)(p - s) : strlen(s);
		if (p)
			port = p + 1;
	}
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "invalid address \"%s\"", s);
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (port != NULL && parse_port(port, &portnum) < 0) {
		snprintf(err, errlen, "invalid port \"%s\" (expected 1-65535)", port);
		return -1;
	}
	if (portnum < 0) {
		snprintf(err, errlen, "no port in \"%s\"", s);
		return -1;
	}
	if (net_parse_ip(host, ss, len) < 0) {
		snprintf(err, errlen, "\"%s\" is not an IP address", host);
		return -1;
	}
	net_set_port((struct sockaddr *)ss, portnum);
	return 0;
}

void
net_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)len);
		else
			inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	} else if (sa->sa_family == AF_UNIX) {
		snprintf(buf, len, "unix:");
	} else {
		snprintf(buf, len, "?");
	}
}

void
net_ntop_port(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	net_ntop(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET6 && strchr(ip, ':'))
		snprintf(buf, len, "[%s]:%d", ip, net_port(sa));
	else if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		snprintf(buf, len, "%s:%d", ip, net_port(sa));
	else
		snprintf(buf, len, "%s", ip);
}

int
net_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

void
net_set_port(struct sockaddr *sa, int port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
}

socklen_t
net_socklen(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int
net_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family || net_port(a) != net_port(b))
		return 0;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return 0;
}

int
net_is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

int
net_parse_cidr(const char *s, struct cidr *c)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	if (n == 0 || n >= sizeof(ip))
		return -1;
	memcpy(ip, s, n);
	ip[n] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, ip, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, ip, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	c->bits = max;
	if (slash) {
		char *end;
		long b;
		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		b = strtol(slash + 1, &end, 10);
		if (*end != '\0' || b < 0 || b > max)
			return -1;
		c->bits = (int)b;
	}
	/* Clear host bits so matching is a plain prefix compare. */
	for (int i = c->bits; i < max; i++)
		c->addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return 0;
}

int
net_cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const uint8_t *a;

	if (sa->sa_family == AF_INET && c->family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (c->family == AF_INET6)
			a = in6->s6_addr;
		else if (IN6_IS_ADDR_V4MAPPED(in6))
			a = &in6->s6_addr[12];
		else
			return 0;
	} else {
		return 0;
	}
	int full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(a, c->addr, (size_t)full) != 0)
		return 0;
	if (rest && ((a[full] ^ c->addr[full]) & (0xff00u >> rest)))
		return 0;
	return 1;
}

void
net_cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, ip, sizeof(ip));
	snprintf(buf, len, "%s/%d", ip, c->bits);
}
