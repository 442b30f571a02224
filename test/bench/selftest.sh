#!/usr/bin/env bash
# test/bench/selftest.sh: quick self-check of the benchmark tools, no proxy.
# Starts fakebackend and fakeauth on free 127.0.0.1 ports, runs loadgen
# "direct" against fakebackend (login for imap/pop3/smtp, stream down and up,
# idle, --rate, 200 --bind addresses) and against fakeauth (auth mode with
# --refusals and two --user, raw requests, a second fakeauth --require-pass
# and its /stats), then stops what it started, by PID. Checks results (counts,
# replies), never timings (except that --rate cannot finish early); prints the
# rates seen and ends with "N passed, N failed".
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

# a second auth service that accepts one password only (credential stuffing)
"$T/fakeauth" --listen 127.0.0.1:0 --imap "127.0.0.1:$IMAP" --require-pass "se cret" \
    > "$tmp/fa2.out" 2> "$tmp/fa2.err" &
fa2=$!; pids+=("$fa2")
wait_line "$tmp/fa2.out" '^listening on' || { echo "fakeauth --require-pass did not start"; cat "$tmp/fa2.err"; exit 1; }
AUTH2=$(awk '{ print $3; exit }' "$tmp/fa2.out")

# fakeauth: raw requests as nginx sends them
raw_auth() {	# raw_auth PROTO USER METHOD [PASS [ADDR]]
	python3 - "${5:-$AUTH}" "$1" "$2" "$3" "${4:-se%20cret}" <<'EOF'
import socket, sys
host, port = sys.argv[1].split(":")
proto, user, method, pw = sys.argv[2:6]
s = socket.create_connection((host, int(port)), timeout=5)
# Auth-Protocol comes last: the last header must be seen too
s.sendall(("GET /auth HTTP/1.0\r\nHost: localhost\r\nAuth-Method: %s\r\n"
           "Auth-User: %s\r\nAuth-Pass: %s\r\nAuth-Login-Attempt: 1\r\n"
           "Client-IP: 127.0.0.1\r\nAuth-Protocol: %s\r\n\r\n"
           % (method, user, pw, proto)).encode())
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
r=$(raw_auth imap alice plain se%20cret "$AUTH2")
check "fakeauth --require-pass right" "$([ "$r" = "HTTP/1.0 200 OK|Auth-Status: OK|Auth-Server: 127.0.0.1|Auth-Port: $IMAP||" ]; echo $?)" "$r"
r=$(raw_auth imap alice plain guess "$AUTH2")
check "fakeauth --require-pass wrong" "$([ "$r" = "HTTP/1.0 200 OK|Auth-Status: Invalid login or password|Auth-Wait: 0||" ]; echo $?)" "$r"

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

# credential-stuffing options: --user (repeated), --refusals, --rate, many --bind
"$T/loadgen" --mode auth --target "$AUTH" --user alice --user baduser --refusals \
    --count 2000 --concurrency 50 > "$tmp/ref.json" 2> "$tmp/ref.err"
check "loadgen --refusals, two users" "$([ "$(json "$tmp/ref.json" '"%d %d %d" % (d["ok"], d["refused"], d["errors"])' 2>/dev/null)" = "1000 1000 0" ]; echo $?)" \
    "$(json "$tmp/ref.json" '"ok=%d refused=%d errors=%d" % (d["ok"], d["refused"], d["errors"])' 2>/dev/null)"
"$T/loadgen" --mode auth --target "$AUTH2" --pass guess --refusals --count 500 \
    > "$tmp/ref2.json" 2> "$tmp/ref2.err"
st=$(python3 -c 'import socket, sys
h, p = sys.argv[1].split(":")
s = socket.create_connection((h, int(p)), timeout=5)
s.sendall(b"GET /stats HTTP/1.0\r\n\r\n")
d = b""
while True:
    c = s.recv(4096)
    if not c:
        break
    d += c
print(d.decode().split("\r\n\r\n", 1)[1].strip())' "$AUTH2")
check "fakeauth /stats" "$([ "$st" = "requests=502 ok=1 fail=501 bad=0 timeout=0" ] && [ "$(json "$tmp/ref2.json" 'd["refused"]' 2>/dev/null)" = 500 ]; echo $?)" "$st"
run_loadgen login-rate --proto imap --target "127.0.0.1:$IMAP" --count 500 --rate 1000
secs=$(json "$tmp/login-rate.json" 'd["seconds"]' 2>/dev/null)
check "loadgen --rate 1000: 500 sessions in about 0.5 s" \
    "$(awk -v s="${secs:-0}" 'BEGIN { exit !(s >= 0.45 && s < 10) }'; echo $?)" "${secs:-?} s"
binds=()
for i in $(seq 200); do binds+=(--bind "127.0.1.$i"); done
run_loadgen login-200-binds --proto imap --target "127.0.0.1:$IMAP" "${binds[@]}" --count 2000 --concurrency 100

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
