#!/bin/sh
# Every #include points down or sideways within a layer (README, Layout):
#
#   common/           -> common/
#   config/           -> common/ config/
#   master/           -> common/ config/ master/, and worker/worker.h (the entry point)
#   worker/event/     -> common/ worker/event/
#   worker/proto/     -> common/buf.h common/net.h config/ worker/proto/, and no
#                        system header that does I/O, polls, resolves or speaks TLS
#   worker/tls/       -> common/ config/ worker/event/ worker/tls/
#   worker/lookup/    -> common/ config/ worker/event/ worker/proto/ worker/tls/ worker/lookup/
#   worker/session/   -> common/ config/ worker/{event,proto,tls,lookup,session}/
#   worker/worker.c   -> common/ config/ worker/
#
# Prints each include that breaks a rule as FILE:LINE and exits 1 if any does.
# Usage: scripts/check-includes.sh [ROOT]  (default: the repository this script is in)
set -eu

root=${1:-$(dirname "$0")/..}
cd "$root"

find common config master worker -name '*.[ch]' | sort | awk '
function allowed(file, inc,    dir) {
	dir = file
	sub(/\/[^\/]*$/, "", dir)
	if (dir == "common")
		return inc ~ /^common\//
	if (dir == "config")
		return inc ~ /^(common|config)\//
	if (dir == "master")
		return inc ~ /^(common|config|master)\// || inc == "worker/worker.h"
	if (dir == "worker/event")
		return inc ~ /^(common|worker\/event)\//
	if (dir == "worker/proto")
		return inc ~ /^(common\/buf\.h|common\/net\.h|config\/|worker\/proto\/)/
	if (dir == "worker/tls")
		return inc ~ /^(common|config|worker\/(event|tls))\//
	if (dir == "worker/lookup")
		return inc ~ /^(common|config|worker\/(event|proto|tls|lookup))\//
	if (dir == "worker/session")
		return inc ~ /^(common|config|worker\/(event|proto|tls|lookup|session))\//
	if (dir == "worker")
		return inc ~ /^(common|config|worker)\//
	return 0
}
# A pure protocol machine may not reach for sockets, polling, files,
# time-outs, DNS or TLS through the C library either.
function io_header(inc) {
	return inc ~ /^(unistd|fcntl|poll|signal|ares|netdb)\.h$/ ||
	    inc ~ /^sys\/(epoll|timerfd|signalfd|eventfd|uio|sendfile|ioctl)\.h$/ ||
	    inc ~ /^openssl\/(ssl|bio|tls1)\.h$/
}
{
	file = $0
	n = 0
	while ((getline line < file) > 0) {
		n++
		if (line !~ /^[ \t]*#[ \t]*include[ \t]*[<"]/)
			continue
		inc = line
		sub(/^[ \t]*#[ \t]*include[ \t]*[<"]/, "", inc)
		sub(/[>"].*$/, "", inc)
		if (line ~ /include[ \t]*"/) {
			if (!allowed(file, inc)) {
				printf "%s:%d: includes \"%s\", which its folder may not use\n", file, n, inc
				bad++
			}
		} else if (file ~ /^worker\/proto\// && io_header(inc)) {
			printf "%s:%d: includes <%s>: the protocol machines do no I/O\n", file, n, inc
			bad++
		}
	}
	close(file)
}
END {
	if (bad) {
		printf "%d include(s) point the wrong way (rules: scripts/check-includes.sh)\n", bad
		exit 1
	}
	print "includes: every dependency points down"
}'
