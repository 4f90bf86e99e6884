#!/usr/bin/env bash
# Lock round trips (check-out + undo) against their floor on the same
# server: two gRPC calls that do no work (strata-bench-lock --noop, the gRPC
# health check through the same interceptors), run in turn (lock, floor,
# lock, floor, ...) so the machine's drift hits both. One client and 32, on
# the embedded log and on Kafka via strata-devbroker (3 brokers).
#
#   bench/lock_floor.sh BUILD_DIR [--runs 3] [--seconds 5] [--work DIR] [--before SERVER]
#
# Every run starts a new server (and, for Kafka, a new devbroker) on an empty
# log: librdkafka's mock cluster, which the devbroker is, finds a fetch's
# offset by walking the partition's message sets from the start, so on one
# broker every run would be slower than the one before (measured: one client,
# six 5 s runs, p50 1.70 -> 3.51 ms). --before SERVER (another strata-server
# binary, e.g. the previous commit's) is measured the same way, in turn with
# this build's, run by run.
#
# Loopback only; every process it starts is stopped at the end.
set -euo pipefail

build=${1:?usage: $0 BUILD_DIR [--runs N] [--seconds S] [--work DIR] [--before SERVER]}
shift
runs=3 seconds=5 work=/tmp/strata-lock-floor before=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
BIN="$build/bin"
rm -rf "$work" && mkdir -p "$work"
printf 'tokens:\n  - {token: bench-token, user: bench, site: bench, roles: [developer]}\n' > "$work/tokens.yaml"
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap stop_all EXIT

wait_port() {
  for _ in $(seq 300); do
    local p
    p=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1" | head -1)
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.1
  done
  echo "no port in $1" >&2; exit 1
}

# Starts SERVER on a new log of kind LOG in DIR; sets PORT. (Not in a
# subshell: PIDS must keep what it starts.)
start() {  # SERVER LOG DIR
  local server=$1 log=$2 dir=$3 kafka=()
  mkdir -p "$dir"
  if [ "$log" = kafka ]; then
    "$BIN/strata-devbroker" --brokers 3 --partitions 8 --no-stdin > "$dir/broker.out" 2>&1 & PIDS+=($!)
    for _ in $(seq 100); do grep -q bootstrap "$dir/broker.out" && break; sleep 0.1; done
    kafka=(--kafka "$(sed -n 's/^bootstrap: //p' "$dir/broker.out")")
  fi
  "$server" --tokens "$work/tokens.yaml" --data-dir "$dir/data" --listen 127.0.0.1:0 "${kafka[@]}" \
    > "$dir/server.out" 2> "$dir/server.err" & PIDS+=($!)
  PORT=$(wait_port "$dir/server.out")
}

# p50 of one bench run: "p50_ms commands_per_s"
one() {
  local out
  out=$("$BIN/strata-bench-lock" --endpoint "127.0.0.1:$1" --token bench-token --clients "$2" --seconds "$seconds" \
        --warmup 1 --label "$3" $4 2>&1 | grep -E 'p50=' | head -1)
  [ -n "$out" ] || { echo "strata-bench-lock gave no figure ($3)" >&2; exit 1; }
  echo "$out" | sed -E 's/.*p50=([0-9.]+)ms.*commands\/s=([0-9]+).*/\1 \2/'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A LOCK_P50 LOCK_CPS NOOP_P50 NOOP_CPS RATIO
# One run: a new server of build WHO on a new log, the lock run then the floor.
run_once() {  # WHO SERVER LOG CLIENTS RUN
  local who=$1 server=$2 log=$3 clients=$4 run=$5 lp lc np nc r k
  start "$server" "$log" "$work/$who-$log-c$clients-$run"
  read -r lp lc < <(one "$PORT" "$clients" "$log.lock" "")
  read -r np nc < <(one "$PORT" "$clients" "$log.noop" "--noop")
  stop_all
  r=$(awk -v a="$lp" -v b="$np" 'BEGIN { printf "%.2f", a / b }')
  k="$who $log $clients"
  LOCK_P50[$k]+="$lp "; LOCK_CPS[$k]+="$lc "; NOOP_P50[$k]+="$np "; NOOP_CPS[$k]+="$nc "; RATIO[$k]+="$r "
  echo "  $who $log c$clients run $run: check-out+undo p50 ${lp} ms, ${lc} commands/s; floor (2 no-op calls) p50 ${np} ms, ${nc} calls/s; ratio $r"
}

report() {  # WHO LOG CLIENTS
  local k="$1 $2 $3" prefix=lock_floor
  [ "$1" = before ] && prefix=lock_floor.before
  # shellcheck disable=SC2086
  echo "$1 $2 c$3 median of $runs: check-out+undo p50 $(median ${LOCK_P50[$k]}) ms, $(median ${LOCK_CPS[$k]}) commands/s; floor p50 $(median ${NOOP_P50[$k]}) ms, $(median ${NOOP_CPS[$k]}) calls/s; ratio $(median ${RATIO[$k]})"
  # shellcheck disable=SC2086
  {
    echo "figure: $prefix.$2.c$3.p50 $(median ${LOCK_P50[$k]}) ms"
    echo "figure: $prefix.$2.c$3.throughput $(median ${LOCK_CPS[$k]}) commands/s"
    echo "figure: $prefix.$2.c$3.ratio $(median ${RATIO[$k]}) x"
  }
}

for log in embedded kafka; do
  for clients in 1 32; do
    for run in $(seq 1 "$runs"); do
      run_once now "$BIN/strata-server" "$log" "$clients" "$run"
      if [ -n "$before" ]; then run_once before "$before" "$log" "$clients" "$run"; fi
    done
    report now "$log" "$clients"
    if [ -n "$before" ]; then report before "$log" "$clients"; fi
  done
done
