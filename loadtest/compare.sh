#!/usr/bin/env bash
# Colyseus 0.18 and Plaza on the same workload, back to back, with the same
# pinning (server `taskset -c 0`, load generator `taskset -c 1`) and a fresh
# server per run; writes a table with Plaza/Colyseus ratios. Loopback only,
# every process bounded by `timeout`.
#
#   loadtest/compare.sh                                # arena at N = 1000
#   NS="500 1000 2000 3000" loadtest/compare.sh        # a sweep (max N with p99 < 100 ms)
#   MODES="arena idle storm" REPEAT=2 loadtest/compare.sh
#
# Env knobs:
#   NS="1000"  MODES="arena"  REPEAT=1  D=30  WARMUP=5  PIN=1 (0 = unpinned)
#   IDLE_N=4000  IDLE_ARGS="" (e.g. --no-join: authenticated, in no room; the file is then idle_nojoin_N*.json)
#   STORM_N=2000  STORM_C=50  HANDSHAKE=headers (headers|ticket|challenge)
#   NICE=0 (e.g. -10 as root: run servers and load generators ahead of other work on a shared machine)
#   LAZY_MS=200 (arena: 15 of 16 clients read their socket only every LAZY_MS ms, 0 = every
#             client reads eagerly; given to Plaza's load tool as --lazy-ms and to the floor's as
#             LAZY, because how clients read changes the server's kernel time: eager readers
#             cost Plaza ~10 % less server CPU at N = 1000 than lazy ones)
#   FLOOR=1 (also run the I/O floor of ../shared/bench/floor at each arena N; FLOOR_SRC, FLOOR_DIR, PORT_FLOOR=2700)
#   SKIP_COLYSEUS=0  SKIP_PLAZA=0  SKIP_BUILD=0  PLAZA_LOG=warn (the server's log filter; its
#             default, info, writes a line per connection, which a connect storm would measure)
#   PLAZA_BIN=target/release/plaza  LOAD_BIN=target/release/plaza-loadtest  LOAD_ARGS=""
#   COLYSEUS_SRC=<shared>/bench/colyseus  COLYSEUS_DIR=${TMPDIR:-/tmp}/plaza-compare-colyseus
#   OUT=loadtest/results/<UTC timestamp>  PORT_COLYSEUS=2567  PORT_PLAZA=8090  MAXWALL=300
#   PROFILE=0 (1: `perf record` the Plaza server for 10 s of each arena window, top symbols
#             to $OUT/plaza/r<i>/profile_*_N<n>.txt)  PROFILE_DELAY=15 (perf starts WARMUP + this many s after the load: inside the window while the join phase takes < 15 s)
# Output: $OUT/compare.md (tables), $OUT/env.txt, and every run's JSON under
# $OUT/colyseus/r<i>/ and $OUT/plaza/r<i>/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

NS="${NS:-1000}"; MODES="${MODES:-arena}"; REPEAT="${REPEAT:-1}"
D="${D:-30}"; WARMUP="${WARMUP:-5}"; PIN="${PIN:-1}"
IDLE_N="${IDLE_N:-4000}"; STORM_N="${STORM_N:-2000}"; STORM_C="${STORM_C:-50}"; HANDSHAKE="${HANDSHAKE:-headers}"
SKIP_COLYSEUS="${SKIP_COLYSEUS:-0}"; SKIP_PLAZA="${SKIP_PLAZA:-0}"; SKIP_BUILD="${SKIP_BUILD:-0}"
PLAZA_BIN="${PLAZA_BIN:-$ROOT/target/release/plaza}"; LOAD_BIN="${LOAD_BIN:-$ROOT/target/release/plaza-loadtest}"
LAZY_MS="${LAZY_MS:-200}"; LOAD_ARGS="${LOAD_ARGS:-}"; IDLE_ARGS="${IDLE_ARGS:-}"; IDLE_TAG=""
case " $IDLE_ARGS " in *" --no-join "*) IDLE_TAG="_nojoin" ;; esac
 PROFILE="${PROFILE:-0}"; PROFILE_DELAY="${PROFILE_DELAY:-15}"
if [ -z "${COLYSEUS_SRC:-}" ]; then
  for c in "$ROOT/../shared/bench/colyseus" "/work/shared/bench/colyseus"; do
    [ -f "$c/run.sh" ] && { COLYSEUS_SRC="$c"; break; }
  done
fi
COLYSEUS_DIR="${COLYSEUS_DIR:-${TMPDIR:-/tmp}/plaza-compare-colyseus}"
if [ -z "${FLOOR_SRC:-}" ]; then
  for c in "$ROOT/../shared/bench/floor" "/work/shared/bench/floor"; do
    [ -f "$c/run.sh" ] && { FLOOR_SRC="$c"; break; }
  done
fi
FLOOR_DIR="${FLOOR_DIR:-${TMPDIR:-/tmp}/plaza-compare-floor}"; FLOOR="${FLOOR:-1}"; PORT_FLOOR="${PORT_FLOOR:-2700}"
OUT="${OUT:-$ROOT/loadtest/results/$(date -u +%Y%m%dT%H%M%SZ)}"
PORT_COLYSEUS="${PORT_COLYSEUS:-2567}"; PORT_PLAZA="${PORT_PLAZA:-8090}"; MAXWALL="${MAXWALL:-300}"
mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"

if [ "$PIN" = "1" ]; then SRV_PIN=(taskset -c 0); LOAD_PIN=(taskset -c 1); else SRV_PIN=(); LOAD_PIN=(); fi
# On a machine shared with other work, NICE=-10 (root) gives the measured
# processes, servers and load generators alike, priority over everything else.
NICE="${NICE:-0}"; if [ "$NICE" != "0" ]; then NICE_CMD=(nice -n "$NICE"); else NICE_CMD=(); fi
# Each side holds N sockets: raise the soft fd limit to the hard one.
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

log() { echo "[compare $(date -u +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------- Plaza
if [ "$SKIP_PLAZA" != "1" ] && [ "$SKIP_BUILD" != "1" ]; then
  log "building release binaries"
  cargo build --release -q -p plaza -p plaza-loadtest
fi

SPID=""
stop_server() {
  [ -n "$SPID" ] || return 0
  kill -TERM "$SPID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  SPID=""
}
trap stop_server EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_plaza() { # $1 = log file
  local data; data="$(mktemp -d)"
  # Loopback load comes from one IP with thousands of sockets: lift the
  # per-IP and total connection caps for the benchmark (and only there).
  PLAZA_LIMITS__CONNECTIONS_PER_IP=1000000 PLAZA_LIMITS__MAX_CONNECTIONS=1000000 \
  PLAZA_LOG="${PLAZA_LOG:-warn}" \
    "${NICE_CMD[@]}" "${SRV_PIN[@]}" "$PLAZA_BIN" serve --bind "127.0.0.1:$PORT_PLAZA" --data-dir "$data" > "$1" 2>&1 &
  SPID=$!
  for _ in $(seq 1 100); do
    port_open "$PORT_PLAZA" && return 0
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  log "plaza did not start:"; cat "$1" >&2; exit 1
}

plaza_load() { # $1 = out json, rest = scenario args
  local out="$1"; shift
  # shellcheck disable=SC2086
  timeout --kill-after=10 "$MAXWALL" "${NICE_CMD[@]}" "${LOAD_PIN[@]}" "$LOAD_BIN" "$@" \
      --url "ws://127.0.0.1:$PORT_PLAZA/v1/ws" --server-pid "$SPID" --handshake "$HANDSHAKE" \
      --max-wall-s "$((MAXWALL - 5))" --out "$out" --quiet $LOAD_ARGS > "${out%.json}.txt" \
    || log "plaza-loadtest failed rc=$? ($out)"
}

plaza_arena() { # $1 = N, $2 = dir
  start_plaza "$2/move_N$1.server.log"
  sleep 1
  local prof=""
  if [ "$PROFILE" = "1" ]; then
    # perf samples the server for 10 s in the middle of the window (this run's
    # CPU figures then include perf's own overhead: use them for the profile only).
    ( sleep "$((WARMUP + PROFILE_DELAY))"; timeout 30 perf record -q -F 999 -g -p "$SPID" -o "$2/perf_N$1.data" -- sleep 10 \
        > /dev/null 2>&1 ) &
    prof=$!
  fi
  plaza_load "$2/move_N$1.json" arena -n "$1" --duration "$D" --warmup "$WARMUP" --lazy-ms "$LAZY_MS" --label "plaza_N$1"
  if [ -n "$prof" ]; then
    wait "$prof" || true
    perf report -i "$2/perf_N$1.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep '%' | head -60 > "$2/profile_self_N$1.txt" || true
    perf report -i "$2/perf_N$1.data" --children --sort sym --stdio -g none 2>/dev/null | grep '%' | head -60 > "$2/profile_children_N$1.txt" || true
    rm -f "$2/perf_N$1.data"
  fi
  stop_server; sleep 3
}
plaza_idle() {
  start_plaza "$1/idle${IDLE_TAG}_N$IDLE_N.server.log"
  sleep 2
  # shellcheck disable=SC2086
  plaza_load "$1/idle${IDLE_TAG}_N$IDLE_N.json" idle -n "$IDLE_N" --settle 5 --duration 10 --label "plaza_idle_N$IDLE_N" $IDLE_ARGS
  stop_server; sleep 3
}
plaza_storm() {
  start_plaza "$1/storm_N${STORM_N}_C$STORM_C.server.log"
  sleep 1
  plaza_load "$1/storm_N${STORM_N}_C$STORM_C.json" storm -n "$STORM_N" --join-concurrency "$STORM_C" --bursts 2 \
      --label "plaza_storm_N${STORM_N}_C$STORM_C"
  stop_server; sleep 3
}

# ---------------------------------------------------------------- Colyseus
prepare_colyseus() {
  [ -n "${COLYSEUS_SRC:-}" ] || { log "no Colyseus harness found (set COLYSEUS_SRC)"; exit 1; }
  if [ ! -d "$COLYSEUS_DIR/node_modules/@colyseus/core" ]; then
    log "copying $COLYSEUS_SRC to $COLYSEUS_DIR and installing (npm ci)"
    mkdir -p "$COLYSEUS_DIR"
    (cd "$COLYSEUS_SRC" && tar --exclude=./node_modules --exclude=./results -cf - .) | (cd "$COLYSEUS_DIR" && tar -xf -)
    (cd "$COLYSEUS_DIR" && npm ci --legacy-peer-deps --no-audit --no-fund > /dev/null)
  fi
}
colyseus() { # $1 = out dir, rest = run.sh args; knobs through env
  local out="$1"; shift
  (cd "$COLYSEUS_DIR" && OUT="$out" PORT="$PORT_COLYSEUS" PIN="$PIN" D="$D" WARMUP="$WARMUP" MAXWALL="$MAXWALL" \
     "${NICE_CMD[@]}" ./run.sh "$@" > "$out/run.log" 2>&1) || log "colyseus run.sh $* failed (see $out/run.log)"
  sleep 3
}

# ---------------------------------------------------------------- I/O floor
prepare_floor() {
  [ -n "${FLOOR_SRC:-}" ] || { log "no I/O floor found (set FLOOR_SRC)"; exit 1; }
  if [ ! -x "$FLOOR_DIR/target/release/load" ]; then
    log "copying $FLOOR_SRC to $FLOOR_DIR and building it"
    mkdir -p "$FLOOR_DIR"
    (cd "$FLOOR_SRC" && tar --exclude=./target --exclude=./results -cf - .) | (cd "$FLOOR_DIR" && tar -xf -)
    (cd "$FLOOR_DIR" && cargo build --release -q)
  fi
}
floor() { # $1 = out dir, $2 = N (its own 20 s window and load generator; per-client-second figures compare)
  (cd "$FLOOR_DIR" && OUT="$1" PORT="$PORT_FLOOR" WARMUP="$WARMUP" LAZY="$LAZY_MS" "${NICE_CMD[@]}" ./run.sh one "$2" > "$1/floor_N$2.log" 2>&1) \
    || log "floor run.sh one $2 failed (see $1/floor_N$2.log)"
  [ -f "$1/one_N$2.json" ] && mv "$1/one_N$2.json" "$1/floor_N$2.json"
  sleep 2
}

# ---------------------------------------------------------------- runs
{
  echo "---"; echo "date: $(date -u +%FT%TZ)"; echo "kernel: $(uname -r)"; echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "mem: $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}')"
  echo "rustc: $(rustc --version 2>/dev/null || echo -)"; echo "node: $(node -v 2>/dev/null || echo -)"
  echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo -)"
  echo "NS=$NS MODES=$MODES REPEAT=$REPEAT D=$D WARMUP=$WARMUP PIN=$PIN IDLE_N=$IDLE_N STORM_N=$STORM_N STORM_C=$STORM_C HANDSHAKE=$HANDSHAKE LAZY_MS=$LAZY_MS LOAD_ARGS=$LOAD_ARGS PLAZA_LOG=${PLAZA_LOG:-warn} NICE=$NICE"
} >> "$OUT/env.txt"   # appended: several invocations may share one OUT

[ "$SKIP_COLYSEUS" = "1" ] || prepare_colyseus
case " $MODES " in *" arena "*) [ "$FLOOR" = "1" ] && prepare_floor ;; esac
for r in $(seq 1 "$REPEAT"); do
  CO="$OUT/colyseus/r$r"; PO="$OUT/plaza/r$r"; mkdir -p "$CO" "$PO"
  for mode in $MODES; do
    case "$mode" in
      arena)
        for n in $NS; do
          [ "$SKIP_COLYSEUS" = "1" ] || { log "r$r colyseus arena N=$n"; colyseus "$CO" one "$n"; }
          [ "$SKIP_PLAZA" = "1" ] || { log "r$r plaza arena N=$n"; plaza_arena "$n" "$PO"; }
          [ "$FLOOR" != "1" ] || { mkdir -p "$OUT/floor/r$r"; log "r$r I/O floor N=$n"; floor "$OUT/floor/r$r" "$n"; }
        done ;;
      idle)
        [ "$SKIP_COLYSEUS" = "1" ] || { log "r$r colyseus idle N=$IDLE_N"; IDLE_NS="$IDLE_N" colyseus "$CO" idle; }
        [ "$SKIP_PLAZA" = "1" ] || { log "r$r plaza idle N=$IDLE_N"; plaza_idle "$PO"; } ;;
      storm)
        [ "$SKIP_COLYSEUS" = "1" ] || { log "r$r colyseus join burst N=$STORM_N C=$STORM_C"; JOIN_N="$STORM_N" JOIN_CS="$STORM_C" colyseus "$CO" join; }
        [ "$SKIP_PLAZA" = "1" ] || { log "r$r plaza storm N=$STORM_N C=$STORM_C"; plaza_storm "$PO"; } ;;
      *) log "unknown mode $mode"; exit 2 ;;
    esac
  done
done

python3 "$ROOT/loadtest/summarize.py" "$OUT" > "$OUT/compare.md"
cat "$OUT/compare.md"
