#!/bin/sh
# The protocol machines are pure, checked on the built objects: every symbol
# that worker/proto/*.o uses is defined in worker/proto/ itself, in
# common/buf.o or common/net.o, or is one of the C library's and OpenSSL's
# functions below that do no I/O. The include check (check-includes.sh) sees
# only direct includes; this also catches a call reached through a header
# that another header brought in.
# Usage: scripts/check-pure.sh BUILD   (after the objects are built)
set -eu

build=${1:-build}
proto=$(ls "$build"/worker/proto/*.o 2>/dev/null) || true
if [ -z "$proto" ]; then
	echo "check-pure: no objects in $build/worker/proto (build first)" >&2
	exit 2
fi

# Memory, strings, characters, formatting into memory, numbers, the salt's
# time and randomness; sanitizer and fortify hooks of instrumented builds.
libc='calloc|malloc|realloc|free|strdup|strndup|mem(chr|cmp|cpy|move|set|rchr)|bcmp|str(chr|rchr|cmp|ncmp|casecmp|ncasecmp|len|nlen|pbrk|spn|cspn|str|casestr|tok_r|tol|toul|toll|toull)|v?snprintf|__ctype_b_loc|__ctype_(tolower|toupper)_loc|tolower|toupper|time|rand|RAND_bytes|__stack_chk_fail|__.*_chk|__(a|u)san_.*|__ubsan_.*|__sanitizer_.*|__sancov_.*'
ours='config_proto_name'

defined=$(nm --defined-only "$build"/worker/proto/*.o "$build"/common/buf.o "$build"/common/net.o |
    awk 'NF == 3 { print $3 }' | sort -u)

# One pass: the defined names first, then each object's undefined ones.
for o in $proto; do
	nm -u "$o" | awk -v o="${o#"$build"/}" '{ print o, $NF }'
done | awk -v defined="$defined" -v allow="^($libc|$ours)\$" '
BEGIN { n = split(defined, d, "\n"); for (i = 1; i <= n; i++) def[d[i]] = 1 }
!($2 in def) && $2 !~ allow {
	printf "%s: uses %s, which a pure protocol machine may not\n", $1, $2
	bad++
}
END {
	if (bad) {
		printf "%d use(s) of I/O, logging, timers or TLS in worker/proto/ (rules: scripts/check-pure.sh)\n", bad
		exit 1
	}
	print "pure: worker/proto/ uses no I/O, log, timer or TLS function"
}'
