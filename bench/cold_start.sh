#!/usr/bin/env bash
# Cold start: a new strata-server (all four services, embedded log) on the
# log of `strata-bench-rebuild --events 1000000 --objects 100000`, with no
# projection stores: how long until /readyz answers 200, and the process's
# peak RSS (VmHWM) by then. With --before BIN the previous build's server
# runs in turn on the same log (A B A B ...), so the machine's drift hits both.
#
#   bench/cold_start.sh BUILD_DIR [--runs 3] [--before STRATA_SERVER_BIN] [--work DIR] [--args "ARGS"]
#
# --args: more flags for this build's server only (e.g. "--parallel-replays 1").
#
# Loopback only; each server is stopped once it is ready (or after 180 s).
set -euo pipefail

build=${1:?usage: $0 BUILD_DIR [--runs N] [--before BIN] [--work DIR]}
shift
runs=3 before="" work=/tmp/strata-cold-start args=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --args) args=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$work"
if [ ! -d "$work/rebuild/log" ]; then
  "$build/bin/strata-bench-rebuild" --backend embedded --events 1000000 --objects 100000 --dir "$work/rebuild" \
    > "$work/rebuild.out"
fi
printf 'tokens:\n  - {token: bench-token, user: bench, site: bench, roles: [admin]}\n' > "$work/tokens.yaml"

# start SERVER_BIN LABEL [FLAGS]: prints "seconds peak_mb cpu_seconds" (cpu: the
# process's user + system time until ready, every thread)
start() {
  local bin=$1 label=$2 extra=${3:-} data="$work/data-$2" port
  rm -rf "$data" && mkdir -p "$data" && cp -r "$work/rebuild/log" "$data/log"
  sync
  port=$(( 20000 + RANDOM % 20000 ))
  local t0 t1 pid code=000
  t0=$(date +%s%N)
  "$bin" --tokens "$work/tokens.yaml" --data-dir "$data" --listen 127.0.0.1:0 --metrics-listen "127.0.0.1:$port" $extra \
    > "$work/$label.out" 2> "$work/$label.err" &
  pid=$!
  for _ in $(seq 3600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
    [ "$code" = 200 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  t1=$(date +%s%N)
  local peak cpu
  peak=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status" 2>/dev/null || echo 0)
  cpu=$(awk -v tck="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.1f", ($12 + $13) / tck }' "/proc/$pid/stat" 2>/dev/null || echo 0)
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  [ "$code" = 200 ] || { echo "$label: not ready (last /readyz $code); see $work/$label.err" >&2; echo "nan $peak $cpu"; return; }
  awk -v a="$t0" -v b="$t1" -v p="$peak" -v c="$cpu" 'BEGIN { printf "%.2f %d %s\n", (b - a) / 1e9, p, c }'
}

declare -a now_s now_mb now_cpu old_s old_mb old_cpu
for run in $(seq 1 "$runs"); do
  read -r s mb cpu < <(start "$build/bin/strata-server" now "$args")
  now_s+=("$s"); now_mb+=("$mb"); now_cpu+=("$cpu")
  line="run $run: strata-server ready after ${s} s, peak RSS ${mb} MB, CPU ${cpu} s"
  if [ -n "$before" ]; then
    read -r s mb cpu < <(start "$before" before)
    old_s+=("$s"); old_mb+=("$mb"); old_cpu+=("$cpu")
    line+="; before: ${s} s, ${mb} MB, CPU ${cpu} s"
  fi
  echo "$line"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median of $runs: ready after $(median "${now_s[@]}") s, peak $(median "${now_mb[@]}") MB, CPU $(median "${now_cpu[@]}") s$(
  [ -n "$before" ] && echo "; before: $(median "${old_s[@]}") s, $(median "${old_mb[@]}") MB, CPU $(median "${old_cpu[@]}") s")"
echo "figure: cold_start.ready $(median "${now_s[@]}") s"
echo "figure: cold_start.peak_rss $(median "${now_mb[@]}") MB"
