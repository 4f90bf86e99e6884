#!/usr/bin/env bash
# Runs every Strata benchmark on this machine and prints the figures that go
# into docs/benchmarks.md. Everything runs on loopback, bounded in time.
#   make bench            (or: bash bench/run.sh [build-dir])
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-build}/bin"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
WORK=$(mktemp -d /tmp/strata-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

cat > "$WORK/tokens.yaml" <<'YAML'
tokens:
  - {token: bench-token, user: bench, site: bench, roles: [developer]}
YAML

# wait_port FILE: prints the port once the server's stdout says it listens.
wait_port() {
  for _ in $(seq 600); do
    if grep -q "listening on" "$1" 2>/dev/null; then grep -o 'listening on [0-9.]*:[0-9]*' "$1" | sed 's/.*://'; return; fi
    sleep 0.1
  done
  echo "server did not start" >&2; cat "$1" >&2; exit 1
}

load() {  # load LABEL PORT
  for c in 1 32; do
    "$BIN/strata-bench-lock" --endpoint "127.0.0.1:$2" --token bench-token --clients "$c" \
      --seconds "$SECONDS_PER_RUN" --label "$1"
  done
}

echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1024/1024)" GiB"}'), $(uname -r)"

echo "== latency and throughput: embedded log (strata-server)"
"$BIN/strata-server" --tokens "$WORK/tokens.yaml" --data-dir "$WORK/embedded" --listen 127.0.0.1:0 \
  > "$WORK/server.out" 2> "$WORK/server.err" & PIDS+=($!)
load embedded "$(wait_port "$WORK/server.out")"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

echo "== latency and throughput: Kafka via strata-devbroker (strata-lock)"
"$BIN/strata-devbroker" --brokers 3 --partitions 8 --no-stdin > "$WORK/broker.out" & PIDS+=($!)
for _ in $(seq 100); do grep -q bootstrap "$WORK/broker.out" && break; sleep 0.1; done
BOOT=$(sed -n 's/^bootstrap: //p' "$WORK/broker.out")
"$BIN/strata-lock" --kafka "$BOOT" --tokens "$WORK/tokens.yaml" --data-dir "$WORK/kafka" \
  --listen 127.0.0.1:0 > "$WORK/lock.out" 2> "$WORK/lock.err" & PIDS+=($!)
load kafka "$(wait_port "$WORK/lock.out")"
kill "${PIDS[-1]}" "${PIDS[-2]}"; wait 2>/dev/null || true

echo "== rebuild: 1,000,000 events over 100,000 objects"
"$BIN/strata-bench-rebuild" --backend embedded --events 1000000 --objects 100000 --dir "$WORK/rebuild"
# librdkafka's mock broker keeps ~5 MB per partition: 64 partitions hold the whole log.
"$BIN/strata-bench-rebuild" --backend kafka --events 1000000 --objects 100000 --partitions 64 --dir "$WORK/rebuild-kafka"

echo "== history: 1,000,000 events over 100,000 objects (rebuild, audit query, export)"
"$BIN/strata-bench-history" --events 1000000 --objects 100000 --queries 500 --dir "$WORK/history"

echo "== impact: SQL analysis of 15,000-line dumps; graph of 100,000 objects (rebuild, transitive dependents)"
"$BIN/strata-bench-impact" --objects 100000 --queries 1000 --parse-runs 10 --dir "$WORK/impact"

echo "== memory: strata-server holding 100,000 objects (the embedded log above)"
"$BIN/strata-server" --tokens "$WORK/tokens.yaml" --data-dir "$WORK/rebuild" --listen 127.0.0.1:0 \
  > "$WORK/rss.out" 2> "$WORK/rss.err" & PIDS+=($!)
PORT=$(wait_port "$WORK/rss.out")
"$BIN/strata" --endpoint "127.0.0.1:$PORT" --token bench-token show table:bench.t99999 > /dev/null
"$BIN/strata" --endpoint "127.0.0.1:$PORT" --token bench-token locks > /dev/null
"$BIN/strata-bench-lock" --endpoint "127.0.0.1:$PORT" --token bench-token --clients 8 --seconds 3 --label "with-100k-objects"
awk -v pid="${PIDS[-1]}" '/VmRSS|VmHWM/ {printf "strata-server (100k objects) %s %d MB\n", $1, $2/1024}' "/proc/${PIDS[-1]}/status"

echo "== schema diff: 5,000 tables x 20 columns + 1,000 views, 500 changes (shadow databases on the local server)"
if command -v apgdiff >/dev/null; then PEER=(--peer apgdiff); else PEER=(); fi
"$BIN/strata-bench-schemadiff" --runs 3 --verify --dir "$WORK/schemadiff" \
  --shadow-url "${STRATA_SHADOW_URL:-postgres://strata:strata@127.0.0.1:5432/postgres}" "${PEER[@]}"
echo "== deploy: a release of 1,000 changed objects, plan + apply; Sqitch deploying the same 1,000 changes"
if command -v sqitch >/dev/null; then SQITCH=(); else SQITCH=(--no-sqitch); fi
"$BIN/strata-bench-deploy" --dir "$WORK/deploy" "${SQITCH[@]}" \
  --pg-url "${STRATA_SHADOW_URL:-postgres://strata:strata@127.0.0.1:5432/postgres}"
echo "== guard: 1,000 ALTERs without/with the guard (3 rounds), check-out -> database propagation (200 check-outs)"
"$BIN/strata-bench-guard" --dir "$WORK/guard" \
  --pg-url "${STRATA_SHADOW_URL:-postgres://strata:strata@127.0.0.1:5432/postgres}"
echo "   (corpus figures: python3 ../shared/tools/schema-eval/eval.py CORPUS 'build/bin/strata schema diff {from} {to} --allow-data-loss -q' --pairs 100 [--reverse])"
