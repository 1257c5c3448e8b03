#!/bin/bash
# Server instructions under arena load, repeatable (BENCHMARKS.md "Server hot path").
# usage: benches/hotpath-callgrind.sh PLAZA_BIN LABEL [N=32] [SECONDS=10]
# The server runs under callgrind; counts are zeroed 10 s after the load starts
# (joins done, warm), dumped SECONDS later; /metrics gives the messages in/out
# over the same interval. Output: /tmp/cg.LABEL.<pid>.1 and /tmp/cg.LABEL.msgs.
set -u
BIN=$1; LABEL=$2; N=${3:-32}; SECS=${4:-10}; PORT=${PORT:-8197}
LT=${LOAD_BIN:-target/release/plaza-loadtest}
data=$(mktemp -d)
PLAZA_LIMITS__CONNECTIONS_PER_IP=1000000 PLAZA_LIMITS__MAX_CONNECTIONS=1000000 PLAZA_LOG=warn \
  valgrind --tool=callgrind --separate-threads=no --compress-strings=no --compress-pos=no \
  --callgrind-out-file=/tmp/cg.$LABEL.%p \
  "$BIN" serve --bind 127.0.0.1:$PORT --data-dir "$data" > /tmp/cg.$LABEL.log 2>&1 &
VPID=$!
for _ in $(seq 1 120); do curl -s -o /dev/null http://127.0.0.1:$PORT/metrics && break; sleep 0.5; done
"$LT" arena -n "$N" --url ws://127.0.0.1:$PORT/v1/ws --warmup 8 --duration $((SECS + 6)) --drain 1 \
  --quiet --json --max-wall-s 120 > /tmp/lt.$LABEL.json 2> /tmp/lt.$LABEL.err &
LPID=$!
sleep 10
m0=$(curl -s http://127.0.0.1:$PORT/metrics | grep -E '^plaza_messages_(in|out)_total')
callgrind_control -z $VPID > /dev/null
sleep "$SECS"
callgrind_control -d $VPID > /dev/null
m1=$(curl -s http://127.0.0.1:$PORT/metrics | grep -E '^plaza_messages_(in|out)_total')
wait $LPID
kill -INT $VPID; wait $VPID
{ echo "$m0"; echo "$m1"; } | tee /tmp/cg.$LABEL.msgs
grep -h '^summary' /tmp/cg.$LABEL.*.1
