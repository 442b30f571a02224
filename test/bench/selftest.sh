#!/usr/bin/env bash
# test/bench/selftest.sh: quick self-check of the benchmark tools, no proxy.
# Starts fakebackend and fakeauth on free 127.0.0.1 ports, runs loadgen
# "direct" against fakebackend (login for imap/pop3/smtp, stream down and up,
# idle) and against fakeauth (auth mode, plus raw requests), then stops what
# it started, by PID. Checks results (counts, replies), never timings; prints
# the rates seen and ends with "N passed, N failed".
# Usage: test/bench/selftest.sh [TOOLS_DIR]   (default build/bench; run
# `make bench-tools` first). Env: COUNT (20000), IDLE (5000), STREAM_MB (64).
set -u
cd "$(dirname "$0")/../.."
T=${1:-build/bench}
COUNT=${COUNT:-20000}
IDLE=${IDLE:-5000}
STREAM_MB=${STREAM_MB:-64}
tmp=$(mktemp -d)
pids=()
pass=0
fail=0

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

check() {	# check NAME CONDITION-EXIT-STATUS [detail]
	if [ "$2" = 0 ]; then
		pass=$((pass + 1)); echo "ok   $1 ${3:-}"
	else
		fail=$((fail + 1)); echo "FAIL $1 ${3:-}"
	fi
}

# wait_line FILE REGEX: up to 10 s for a line to appear
wait_line() {
	for _ in $(seq 100); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# cpu PID: CPU seconds (user+system) the process has used so far
cpu() {
	awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"
}

rss() { awk '/VmRSS/ { print $2 " kB" }' "/proc/$1/status"; }

# json FILE EXPR: evaluates EXPR (Python, d = the JSON result) on FILE's last line
json() {
	python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(eval(sys.argv[2]))' "$1" "$2"
}

# run_loadgen NAME ARGS...: runs loadgen, checks ok == --count and no errors
run_loadgen() {
	local name=$1 out=$tmp/$1.json; shift
	local TIMEFORMAT='%U %S'
	local t
	t=$( { time "$T/loadgen" "$@" > "$out" 2> "$tmp/$name.err"; } 2>&1 )
	local good
	good=$(json "$out" 'int(d["errors"] == 0 and d["ok"] == d["count"])' 2>/dev/null)
	check "$name" "$([ "$good" = 1 ]; echo $?)" \
	    "$(json "$out" '"ok=%d errors=%d rate=%.0f/s p50=%.2fms p99=%.2fms %s" % (d["ok"], d["errors"], d["rate"], d["p50_ms"], d["p99_ms"], ("%.0f MB/s" % d["mbps"]) if d["bytes"] else "")' 2>/dev/null) loadgen-cpu(user sys)=$t"
	[ "$good" = 1 ] || cat "$tmp/$name.err"
}

"$T/fakebackend" --imap 127.0.0.1:0 --pop3 127.0.0.1:0 --smtp 127.0.0.1:0 \
    > "$tmp/fb.out" 2> "$tmp/fb.err" &
fb=$!; pids+=("$fb")
wait_line "$tmp/fb.out" '^ready' || { echo "fakebackend did not start"; cat "$tmp/fb.err"; exit 1; }
port() { awk -v p="$1" '$3 == p { split($4, a, ":"); print a[2] }' "$tmp/fb.out"; }
IMAP=$(port imap); POP3=$(port pop3); SMTP=$(port smtp)

"$T/fakeauth" --listen 127.0.0.1:0 --imap "127.0.0.1:$IMAP" --pop3 "127.0.0.1:$POP3" \
    --smtp "127.0.0.1:$SMTP" --fail-user baduser > "$tmp/fa.out" 2> "$tmp/fa.err" &
fa=$!; pids+=("$fa")
wait_line "$tmp/fa.out" '^listening on' || { echo "fakeauth did not start"; cat "$tmp/fa.err"; exit 1; }
AUTH=$(awk '{ print $3; exit }' "$tmp/fa.out")
echo "fakebackend imap=$IMAP pop3=$POP3 smtp=$SMTP; fakeauth $AUTH"

# fakeauth: raw requests as nginx sends them
raw_auth() {	# raw_auth PROTO USER METHOD
	python3 - "$AUTH" "$@" <<'EOF'
import socket, sys
host, port = sys.argv[1].split(":")
proto, user, method = sys.argv[2:5]
s = socket.create_connection((host, int(port)), timeout=5)
# Auth-Protocol comes last: the last header must be seen too
s.sendall(("GET /auth HTTP/1.0\r\nHost: localhost\r\nAuth-Method: %s\r\n"
           "Auth-User: %s\r\nAuth-Pass: se%%20cret\r\nAuth-Login-Attempt: 1\r\n"
           "Client-IP: 127.0.0.1\r\nAuth-Protocol: %s\r\n\r\n"
           % (method, user, proto)).encode())
data = b""
for _ in range(100):
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode().replace("\r\n", "|"))
EOF
}
r=$(raw_auth imap alice plain)
check "fakeauth imap OK" "$([ "$r" = "HTTP/1.0 200 OK|Auth-Status: OK|Auth-Server: 127.0.0.1|Auth-Port: $IMAP||" ]; echo $?)" "$r"
r=$(raw_auth smtp bob plain)
check "fakeauth smtp OK" "$([ "$r" = "HTTP/1.0 200 OK|Auth-Status: OK|Auth-Server: 127.0.0.1|Auth-Port: $SMTP||" ]; echo $?)" "$r"
r=$(raw_auth pop3 carol apop)
check "fakeauth apop gets Auth-Pass" "$(echo "$r" | grep -q "Auth-Port: $POP3|Auth-Pass: secret||"; echo $?)" "$r"
r=$(raw_auth imap baduser plain)
check "fakeauth --fail-user" "$([ "$r" = "HTTP/1.0 200 OK|Auth-Status: Invalid login or password||" ]; echo $?)" "$r"

fb0=$(cpu "$fb"); fa0=$(cpu "$fa")
run_loadgen auth-imap --mode auth --proto imap --target "$AUTH" --count "$COUNT" --concurrency 200
fa1=$(cpu "$fa")
run_loadgen login-imap --proto imap --target "127.0.0.1:$IMAP" --count "$COUNT" --concurrency 200
run_loadgen login-imap-literal --proto imap --literal --target "127.0.0.1:$IMAP" --count "$COUNT" --concurrency 200
run_loadgen login-pop3 --proto pop3 --target "127.0.0.1:$POP3" --count "$COUNT" --concurrency 200
run_loadgen login-smtp --proto smtp --target "127.0.0.1:$SMTP" --count "$COUNT" --concurrency 200
fb1=$(cpu "$fb")
run_loadgen stream-down --mode stream --target "127.0.0.1:$IMAP" --streams 4 --bytes "${STREAM_MB}m"
run_loadgen stream-up --mode stream --upload --target "127.0.0.1:$IMAP" --streams 4 --bytes "${STREAM_MB}m"
fb2=$(cpu "$fb")

# idle: IDLE sessions held open; RSS read while they are held
"$T/loadgen" --mode idle --proto imap --target "127.0.0.1:$IMAP" --count "$IDLE" \
    --concurrency 500 --seconds 60 > "$tmp/idle.json" 2> "$tmp/idle.err" &
lg=$!; pids+=("$lg")
if wait_line "$tmp/idle.json" '^holding'; then
	held=$(awk '/^holding/ { print $2 }' "$tmp/idle.json")
	mem="fakebackend rss $(rss "$fb"), loadgen rss $(rss "$lg"), fds $(ls /proc/"$fb"/fd | wc -l)"
	kill -USR1 "$lg"
fi
wait "$lg"
check "idle $IDLE" "$([ "$(json "$tmp/idle.json" 'd["held"]' 2>/dev/null)" = "$IDLE" ] && [ "${held:-0}" = "$IDLE" ]; echo $?)" \
    "holding ${held:-0} in $(json "$tmp/idle.json" '"%.2fs" % d["seconds"]' 2>/dev/null); ${mem:-}"

echo "cpu seconds: fakeauth $(awk -v a="$fa0" -v b="$fa1" 'BEGIN { print b - a }') for $COUNT auth requests;" \
    "fakebackend $(awk -v a="$fb0" -v b="$fb1" 'BEGIN { print b - a }') for $((4 * COUNT)) logins," \
    "$(awk -v a="$fb1" -v b="$fb2" 'BEGIN { print b - a }') for 2 x 4 x ${STREAM_MB} MB"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
