#!/usr/bin/env bash
# Puts the value recorded in docs/benchmarks.md beside each figure a benchmark
# prints, as it comes and in a table at the end:
#   bash bench/run.sh | bash bench/figures.sh [docs/benchmarks.md]
# Benchmarks print "figure: <key> <value> <unit>" (bench/figure.h); the
# recorded values are the rows "| `key` | value | unit | ..." of the table
# under "## Recorded figures" in docs/benchmarks.md. Units ending in "/s",
# and "x" (a ratio to a peer), are better when higher; the others when lower.
# This machine's speed drifts by up to 40% from minute to minute, so a figure
# is marked only when it is more than 1.4 times worse than recorded.
set -euo pipefail
DOC="${1:-$(dirname "$0")/../docs/benchmarks.md}"
awk -v doc="$DOC" '
BEGIN {
  # The recorded figures: rows of the table after "## Recorded figures".
  while ((getline line < doc) > 0) {
    if (line ~ /^## Recorded figures/) { in_table = 1; continue }
    if (in_table && line ~ /^## /) in_table = 0
    if (!in_table || line !~ /^\| `/) continue
    n = split(line, cell, "|")
    key = cell[2]; gsub(/[ `]/, "", key)
    value = cell[3]; gsub(/[ ,*]/, "", value)
    unit = cell[4]; gsub(/^ +| +$/, "", unit)
    recorded[key] = value; recorded_unit[key] = unit
  }
  close(doc)
}
function better_high(unit) { return unit ~ /\/s$/ || unit == "x" }
function verdict(key, value, unit,   r, ratio) {
  if (!(key in recorded)) return "not recorded yet"
  r = recorded[key] + 0
  if (r == 0 || value == 0) return "recorded " recorded[key] " " recorded_unit[key]
  ratio = better_high(unit) ? r / value : value / r   # > 1: worse than recorded
  return sprintf("recorded %s %s: %s%s", recorded[key], recorded_unit[key],
                 ratio > 1 ? sprintf("%.0f%% worse", 100 * (ratio - 1)) : sprintf("%.0f%% better", 100 * (1 / ratio - 1)),
                 ratio > 1.4 ? "  <-- REGRESSION?" : "")
}
{
  print
  if ($1 == "figure:") {
    key = $2; value = $3 + 0; unit = $4
    v = verdict(key, value, unit)
    printf "    %s = %s %s (%s)\n", key, $3, unit, v
    order[++count] = key; today[key] = $3; today_unit[key] = unit; said[key] = v
    fflush()
  }
}
END {
  if (count == 0) exit 0
  print ""
  print "== today beside docs/benchmarks.md (Recorded figures)"
  printf "%-48s %14s %14s  %s\n", "figure", "today", "recorded", "unit / verdict"
  for (i = 1; i <= count; ++i) {
    key = order[i]
    printf "%-48s %14s %14s  %s  %s\n", key, today[key], (key in recorded) ? recorded[key] : "-", today_unit[key], said[key]
  }
  for (key in recorded) if (!(key in today)) missing = missing "\n  " key
  if (missing != "") print "recorded but not measured in this run:" missing
}'
