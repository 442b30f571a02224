#!/bin/sh
# make check's two integration passes, the plain build and the sanitizer build,
# at the same time, each in a network namespace of its own (run.py --netns) so
# that they share no port and no 127.0.0.x address. The suite spends most of
# its time waiting on peers and timeouts (a pass keeps about a third of this
# box's two CPUs busy), so together they take little more than the sanitizer
# pass alone. Where namespaces are not available (not root), the passes run
# one after the other, as `make integration asan` would.
#
# Usage: SAN_IT_ENV="ASAN_OPTIONS=... UBSAN_OPTIONS=..." \
#        scripts/integration-pair.sh PLAIN_BINARY SANITIZER_BINARY LOG_DIR
# (make check passes the Makefile's SAN_IT_ENV, the options `make asan` uses.)
# The plain pass prints as it goes; the sanitizer pass's lines follow when it is
# done (its log is LOG_DIR/integration-asan.log). Fails if either pass fails.
set -u
plain=$1 san=$2 logs=$3
run="${PYTHON:-python3} test/integration/run.py"
san_env=${SAN_IT_ENV:?"the sanitizer options, as make check passes them"}

# The same steps run.py --netns takes: a namespace, and its loopback up.
if ! unshare --net ip link set lo up 2>/dev/null; then
	echo "integration-pair: no network namespaces here (not root?): one pass after the other"
	$run --bin "$plain" || exit 1
	env $san_env $run --bin "$san" --sanitizer || exit 1
	exit 0
fi

mkdir -p "$logs"
env $san_env $run --bin "$san" --sanitizer --netns >"$logs/integration-asan.log" 2>&1 &
san_pid=$!
echo "== integration, plain build (the sanitizer pass runs alongside: $logs/integration-asan.log)"
$run --bin "$plain" --netns
plain_rc=$?
wait $san_pid
san_rc=$?
echo "== integration, sanitizer build (ASan + UBSan)"
cat "$logs/integration-asan.log"
echo "== integration: plain pass exit $plain_rc, sanitizer pass exit $san_rc"
[ $plain_rc -eq 0 ] && [ $san_rc -eq 0 ]
