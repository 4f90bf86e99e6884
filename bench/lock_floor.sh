#!/usr/bin/env bash
# Lock round trips (check-out + undo) against their floor on the same
# server: two gRPC calls that do no work (strata-bench-lock --noop, the gRPC
# health check through the same interceptors), run in turn (lock, floor,
# lock, floor, ...) so the machine's drift hits both. One client and 32, on
# the embedded log and on Kafka via strata-devbroker (3 brokers).
#
#   bench/lock_floor.sh BUILD_DIR [--runs 3] [--seconds 5] [--work DIR]
#
# Loopback only; every process it starts is stopped at the end.
set -euo pipefail

build=${1:?usage: $0 BUILD_DIR [--runs N] [--seconds S] [--work DIR]}
shift
runs=3 seconds=5 work=/tmp/strata-lock-floor
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
BIN="$build/bin"
rm -rf "$work" && mkdir -p "$work"
printf 'tokens:\n  - {token: bench-token, user: bench, site: bench, roles: [developer]}\n' > "$work/tokens.yaml"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

wait_port() {
  for _ in $(seq 300); do
    local p
    p=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1" | head -1)
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.1
  done
  echo "no port in $1" >&2; exit 1
}

# p50 of one bench run: "p50_ms commands_per_s"
one() {
  local out
  out=$("$BIN/strata-bench-lock" --endpoint "127.0.0.1:$1" --token bench-token --clients "$2" --seconds "$seconds" \
        --warmup 1 --label "$3" $4 2>&1 | grep -E 'p50=' | head -1)
  echo "$out" | sed -E 's/.*p50=([0-9.]+)ms.*commands\/s=([0-9]+).*/\1 \2/'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

measure() {  # LABEL PORT
  local label=$1 port=$2
  for clients in 1 32; do
    local lock_p50=() lock_cps=() noop_p50=() noop_cps=() ratio=()
    for run in $(seq 1 "$runs"); do
      read -r lp lc < <(one "$port" "$clients" "$label.lock" "")
      read -r np nc < <(one "$port" "$clients" "$label.noop" "--noop")
      lock_p50+=("$lp"); lock_cps+=("$lc"); noop_p50+=("$np"); noop_cps+=("$nc")
      ratio+=("$(awk -v a="$lp" -v b="$np" 'BEGIN { printf "%.2f", a / b }')")
      echo "  $label c$clients run $run: check-out+undo p50 ${lp} ms, ${lc} commands/s; floor (2 no-op calls) p50 ${np} ms, ${nc} calls/s; ratio ${ratio[-1]}"
    done
    echo "$label c$clients median of $runs: check-out+undo p50 $(median "${lock_p50[@]}") ms, $(median "${lock_cps[@]}") commands/s; floor p50 $(median "${noop_p50[@]}") ms, $(median "${noop_cps[@]}") calls/s; ratio $(median "${ratio[@]}")"
    echo "figure: lock_floor.$label.c$clients.p50 $(median "${lock_p50[@]}") ms"
    echo "figure: lock_floor.$label.c$clients.throughput $(median "${lock_cps[@]}") commands/s"
    echo "figure: lock_floor.$label.c$clients.ratio $(median "${ratio[@]}") x"
  done
}

"$BIN/strata-server" --tokens "$work/tokens.yaml" --data-dir "$work/embedded" --listen 127.0.0.1:0 \
  > "$work/embedded.out" 2> "$work/embedded.err" & PIDS+=($!)
measure embedded "$(wait_port "$work/embedded.out")"

"$BIN/strata-devbroker" --brokers 3 --partitions 8 --no-stdin > "$work/broker.out" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do grep -q bootstrap "$work/broker.out" && break; sleep 0.1; done
"$BIN/strata-server" --tokens "$work/tokens.yaml" --data-dir "$work/kafka" --listen 127.0.0.1:0 \
  --kafka "$(sed -n 's/^bootstrap: //p' "$work/broker.out")" > "$work/kafka.out" 2> "$work/kafka.err" & PIDS+=($!)
measure kafka "$(wait_port "$work/kafka.out")"
