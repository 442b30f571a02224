#!/bin/sh
# Runs the libFuzzer harnesses built from test/fuzz/fuzz_*.c.
#   scripts/fuzz.sh replay BINDIR             every committed corpus file once (make check)
#   scripts/fuzz.sh run BINDIR SECONDS JOBS   coverage-guided fuzzing, JOBS harnesses at a time
# A harness fuzz_NAME reads test/fuzz/corpus/NAME/ and, when present, the
# dictionary test/fuzz/NAME.dict. Fuzzing writes new inputs to build-fuzz/corpus/NAME
# (the committed corpus stays small: copy in by hand what is worth keeping) and
# crashes to build-fuzz/crashes/; each harness's log is build-fuzz/logs/NAME.log.
set -eu

mode=${1:?usage: fuzz.sh replay|run BINDIR [SECONDS JOBS]}
bindir=${2:?usage: fuzz.sh replay|run BINDIR [SECONDS JOBS]}
corpus_root=test/fuzz/corpus
ls "$bindir"/fuzz_* >/dev/null 2>&1 || { echo "fuzz.sh: no harness in $bindir" >&2; exit 1; }

# Sanitizer reports end the run with a non-zero status; leaks count too.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

replay() {
	status=0 total=0 passed=0 failed=0
	for bin in "$bindir"/fuzz_*; do
		name=${bin##*/fuzz_}
		dir=$corpus_root/$name
		n=$(find "$dir" -type f 2>/dev/null | wc -l)
		if [ "$n" -eq 0 ]; then
			echo "FAIL fuzz_$name: no committed corpus in $dir" >&2
			status=1 failed=$((failed + 1))
			continue
		fi
		log=$(mktemp)
		# Files given one by one: each runs exactly once, no mutation.
		if find "$dir" -type f -print0 | xargs -0 "$bin" -runs=1 >"$log" 2>&1; then
			echo "PASS fuzz_$name ($n inputs)"
			passed=$((passed + 1))
		else
			echo "FAIL fuzz_$name" >&2
			tail -40 "$log" >&2
			status=1 failed=$((failed + 1))
		fi
		rm -f "$log"
		total=$((total + n))
	done
	echo "fuzz corpora replayed: $total inputs"
	echo "fuzz: $passed passed, $failed failed"
	return $status
}

run_one() {
	bin=$1 secs=$2
	name=${bin##*/fuzz_}
	work=build-fuzz/corpus/$name
	mkdir -p "$work" build-fuzz/crashes build-fuzz/logs
	dict=""
	[ -f "test/fuzz/$name.dict" ] && dict="-dict=test/fuzz/$name.dict"
	# The first corpus directory receives new inputs; the committed one is read only.
	# shellcheck disable=SC2086
	if "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="build-fuzz/crashes/$name-" $dict \
		"$work" "$corpus_root/$name" >"build-fuzz/logs/$name.log" 2>&1; then
		echo "fuzz_$name: $(grep -E '^stat::number_of_executed_units' "build-fuzz/logs/$name.log" | awk '{print $2}') runs," \
			"$(grep -oE 'cov: [0-9]+' "build-fuzz/logs/$name.log" | tail -1), no crash"
	else
		echo "fuzz_$name: CRASH, see build-fuzz/logs/$name.log and build-fuzz/crashes/" >&2
		return 1
	fi
}

run() {
	secs=${1:-60} jobs=${2:-2}
	status=0
	set -- "$bindir"/fuzz_*
	while [ $# -gt 0 ]; do
		pids=""
		i=0
		while [ $i -lt "$jobs" ] && [ $# -gt 0 ]; do
			run_one "$1" "$secs" &
			pids="$pids $!"
			shift
			i=$((i + 1))
		done
		for p in $pids; do
			wait "$p" || status=1
		done
	done
	return $status
}

case $mode in
replay) replay ;;
run) shift 2; run "$@" ;;
*) echo "usage: fuzz.sh replay|run BINDIR [SECONDS JOBS]" >&2; exit 2 ;;
esac
