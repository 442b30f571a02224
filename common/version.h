/* Version string; the build flags come from the Makefile. */
#ifndef MP_VERSION_H
#define MP_VERSION_H

#define MAILPROXY_VERSION "0.1.0"
#ifndef MAILPROXY_BUILD_FLAGS
#define MAILPROXY_BUILD_FLAGS "unknown"
#endif

#endif
