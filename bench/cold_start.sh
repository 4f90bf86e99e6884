#!/usr/bin/env bash
# Cold start: a new strata-server (all four services, embedded log) on the
# log of `strata-bench-rebuild --events 1000000 --objects 100000`, with no
# projection stores: how long until /readyz answers 200, and the process's
# peak RSS (VmHWM) by then. With --before BIN the previous build's server
# runs in turn on the same log (A B A B ...), so the machine's drift hits both.
#
#   bench/cold_start.sh BUILD_DIR [--runs 3] [--before STRATA_SERVER_BIN] [--work DIR]
#
# Loopback only; each server is stopped once it is ready (or after 180 s).
set -euo pipefail

build=${1:?usage: $0 BUILD_DIR [--runs N] [--before BIN] [--work DIR]}
shift
runs=3 before="" work=/tmp/strata-cold-start
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$work"
if [ ! -d "$work/rebuild/log" ]; then
  "$build/bin/strata-bench-rebuild" --backend embedded --events 1000000 --objects 100000 --dir "$work/rebuild" \
    > "$work/rebuild.out"
fi
printf 'tokens:\n  - {token: bench-token, user: bench, site: bench, roles: [admin]}\n' > "$work/tokens.yaml"

# start SERVER_BIN LABEL: prints "seconds peak_mb"
start() {
  local bin=$1 label=$2 data="$work/data-$2" port
  rm -rf "$data" && mkdir -p "$data" && cp -r "$work/rebuild/log" "$data/log"
  sync
  port=$(( 20000 + RANDOM % 20000 ))
  local t0 t1 pid code=000
  t0=$(date +%s%N)
  "$bin" --tokens "$work/tokens.yaml" --data-dir "$data" --listen 127.0.0.1:0 --metrics-listen "127.0.0.1:$port" \
    > "$work/$label.out" 2> "$work/$label.err" &
  pid=$!
  for _ in $(seq 3600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
    [ "$code" = 200 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  t1=$(date +%s%N)
  local peak
  peak=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status" 2>/dev/null || echo 0)
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  [ "$code" = 200 ] || { echo "$label: not ready (last /readyz $code); see $work/$label.err" >&2; echo "nan $peak"; return; }
  awk -v a="$t0" -v b="$t1" -v p="$peak" 'BEGIN { printf "%.2f %d\n", (b - a) / 1e9, p }'
}

declare -a now_s now_mb old_s old_mb
for run in $(seq 1 "$runs"); do
  read -r s mb < <(start "$build/bin/strata-server" now)
  now_s+=("$s"); now_mb+=("$mb")
  line="run $run: strata-server ready after ${s} s, peak RSS ${mb} MB"
  if [ -n "$before" ]; then
    read -r s mb < <(start "$before" before)
    old_s+=("$s"); old_mb+=("$mb")
    line+="; before: ${s} s, ${mb} MB"
  fi
  echo "$line"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median of $runs: ready after $(median "${now_s[@]}") s, peak $(median "${now_mb[@]}") MB$(
  [ -n "$before" ] && echo "; before: $(median "${old_s[@]}") s, $(median "${old_mb[@]}") MB")"
echo "figure: cold_start.ready $(median "${now_s[@]}") s"
echo "figure: cold_start.peak_rss $(median "${now_mb[@]}") MB"
