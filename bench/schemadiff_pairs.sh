#!/usr/bin/env bash
# Times `strata schema diff A.sql B.sql` on the last N consecutive pairs of a
# corpus folder (files sorted by name) side by side with apgdiff, psql
# loading B alone (the floor, see below) and, optionally, another strata
# binary (the previous commit's): for each pair
# the tools run one after the other, so a drift of the machine's speed hits
# all of them alike. Prints per run the mean wall time per pair of each tool
# and the ratios, then the median of the runs. Wall time is what a user
# waits for: strata's includes the PostgreSQL backends that load its shadow
# databases.
#
#   bench/schemadiff_pairs.sh BUILD_DIR CORPUS_DIR [--pairs 40] [--runs 3] [--before STRATA_BIN] [--reverse]
#
# The shadow server comes from the environment (PGHOST, PGUSER, PGPASSWORD,
# or STRATA_SHADOW_URL), as for `strata schema diff`; psql uses PG* too. Scripts are written to
# /dev/null here: whether they are right is schema-eval's question
# (../shared/tools/schema-eval/eval.py) and the tests'.
set -euo pipefail

build=${1:?usage: $0 BUILD_DIR CORPUS_DIR [--pairs N] [--runs N] [--before BIN] [--reverse]}
corpus=${2:?corpus folder}
shift 2
pairs=40 runs=3 before="" reverse=0
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    --reverse) reverse=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v apgdiff >/dev/null || { echo "apgdiff is not installed (scripts/install-deps.sh --bench)" >&2; exit 2; }
strata="$build/bin/strata"

mapfile -t files < <(ls "$corpus"/*.sql | sort)
n=${#files[@]}
first=$(( n - 1 - pairs )); [ $first -lt 0 ] && first=0

now_ns() { date +%s%N; }
# Runs a command, returns its wall time in ns on stdout (output discarded;
# a failing tool still counts its time, and is reported).
timed() {
  local t0 t1
  t0=$(now_ns)
  if ! "$@" >/dev/null 2>/tmp/schemadiff_pairs.err; then echo "  failed: $* ($(head -c 200 /tmp/schemadiff_pairs.err))" >&2; fi
  t1=$(now_ns)
  echo $(( t1 - t0 ))
}

# The floor of any diff that lets PostgreSQL canonicalize the schemas: psql
# loading the TO file alone, in one transaction rolled back, into a database
# kept for it (no shadow to create or drop, nothing else read).
floor_db=strata_bench_floor
psql -X -q -d postgres -c "CREATE DATABASE $floor_db TEMPLATE template0" >/dev/null 2>&1 || true
floor() { { echo "BEGIN; SET check_function_bodies = false;"; grep -v '^\\' "$1"; echo "ROLLBACK;"; } |
          psql -X -q -v ON_ERROR_STOP=1 -d "$floor_db" >/dev/null; }

tools=(strata apgdiff psql-floor)
[ -n "$before" ] && tools+=(before)
declare -A results
for run in $(seq 1 "$runs"); do
  declare -A total=()
  for t in "${tools[@]}"; do total[$t]=0; done
  for (( i = first; i < n - 1; i++ )); do
    a=${files[$i]} b=${files[$((i + 1))]}
    [ $reverse -eq 1 ] && { tmp=$a; a=$b; b=$tmp; }
    for t in "${tools[@]}"; do
      case $t in
        strata) ns=$(timed "$strata" schema diff "$a" "$b" --allow-data-loss -q) ;;
        before) ns=$(timed "$before" schema diff "$a" "$b" --allow-data-loss -q) ;;
        apgdiff) ns=$(timed apgdiff "$a" "$b") ;;
        psql-floor) ns=$(timed floor "$b") ;;
      esac
      total[$t]=$(( total[$t] + ns ))
    done
  done
  count=$(( n - 1 - first ))
  direction=""; [ $reverse -eq 1 ] && direction=", reverse"
  line="run $run ($count pairs$direction):"
  for t in "${tools[@]}"; do
    per=$(awk -v ns="${total[$t]}" -v c="$count" 'BEGIN { printf "%.3f", ns / c / 1e9 }')
    results[$t]+="$per "
    line+=" $t=${per}s/pair"
  done
  s=$(echo "${results[strata]}" | awk '{print $NF}'); p=$(echo "${results[apgdiff]}" | awk '{print $NF}')
  line+=" strata/apgdiff=$(awk -v s="$s" -v p="$p" 'BEGIN { printf "%.2f", s / p }')"
  if [ -n "$before" ]; then
    o=$(echo "${results[before]}" | awk '{print $NF}')
    line+=" before/strata=$(awk -v s="$s" -v o="$o" 'BEGIN { printf "%.2f", o / s }')"
  fi
  echo "$line"
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
line="median of $runs runs:"
for t in "${tools[@]}"; do line+=" $t=$(echo "${results[$t]}" | median)s/pair"; done
echo "$line"
ms=$(echo "${results[strata]}" | median)
echo "figure: schemadiff.pairs.strata $ms s/pair"
echo "figure: schemadiff.pairs.apgdiff $(echo "${results[apgdiff]}" | median) s/pair"
echo "figure: schemadiff.pairs.psql_floor $(echo "${results[psql-floor]}" | median) s/pair"
[ -n "$before" ] && echo "figure: schemadiff.pairs.before $(echo "${results[before]}" | median) s/pair"
exit 0
