#!/usr/bin/env bash
# Runs every libFuzzer target of a STRATA_FUZZ build for a bounded time each.
#   tools/fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET
# Each fuzzer starts from its committed corpus (copied, so the tree stays
# clean) and writes crashes to BUILD_DIR/fuzz-out/<target>/. A crash fails the
# run and says where the input is: fix the bug, then commit the input into the
# target's corpus directory, where `make test` replays it from then on.
set -uo pipefail
build=${1:?build dir}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
declare -A corpus=(
  [fuzz_event_decode]=lib/events/fuzz/corpus
  [fuzz_ddl_parse]="lib/sql/fuzz/corpus lib/sql/testdata"
  [fuzz_token_file]=lib/auth/fuzz/corpus
  [fuzz_refdata_csv]=lib/refdata/fuzz/corpus
)
failed=0
for target in fuzz_event_decode fuzz_ddl_parse fuzz_token_file fuzz_refdata_csv; do
  out="$build/fuzz-out/$target"
  rm -rf "$out"; mkdir -p "$out/corpus" "$out/crashes"
  for dir in ${corpus[$target]}; do cp "$root/$dir"/* "$out/corpus/"; done
  echo "== $target: ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$root/tools/fuzz/lsan.supp" "$build/bin/$target" "$out/corpus" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 -artifact_prefix="$out/crashes/" \
      >"$out/log" 2>&1; then
    failed=1
    echo "   CRASH: $(ls "$out/crashes" | head -3 | tr '\n' ' ')(log: $out/log)"
    grep -m3 -E "ERROR|SUMMARY" "$out/log" | sed 's/^/   /'
  fi
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|cov: " "$out/log" | tail -3 | sed 's/^/   /'
done
exit $failed
