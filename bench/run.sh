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

load() {  # load LABEL PORT PID: 1 and 32 clients, with the server's CPU time per command
  for c in 1 32; do
    "$BIN/strata-bench-lock" --endpoint "127.0.0.1:$2" --token bench-token --clients "$c" \
      --seconds "$SECONDS_PER_RUN" --label "$1" --server-pid "$3"
  done
}

# settle PID: waits (at most 3 minutes) until the process has used under 15%
# of a core for two seconds in a row; after a replay, RocksDB compacts what
# bulk loading left for a while, and that is not the cost of a command.
settle() {
  local quiet=0 before after
  for _ in $(seq 180); do
    before=$(awk '{print $14+$15}' "/proc/$1/stat")
    sleep 1
    after=$(awk '{print $14+$15}' "/proc/$1/stat")
    if [ $((after - before)) -lt 15 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    [ "$quiet" -ge 2 ] && return
  done
  echo "   (still busy after 3 minutes; measuring anyway)"
}

# serve LABEL DATADIR [strata-server flags...]: starts strata-server, lets it
# settle, runs the lock load against it, stops it.
serve() {
  local label=$1 data=$2; shift 2
  local started=$SECONDS
  "$BIN/strata-server" --tokens "$WORK/tokens.yaml" --data-dir "$data" --listen 127.0.0.1:0 "$@" \
    > "$WORK/$label.out" 2> "$WORK/$label.err" & PIDS+=($!)
  local pid=$! port
  port=$(wait_port "$WORK/$label.out")
  echo "   $label: serving after $((SECONDS - started)) s"
  settle "$pid"
  load "$label" "$port" "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1024/1024)" GiB"}'), $(uname -r)"

# The 100,000-object repository of the issue-18 figures: 1,000,000 check-out /
# check-in events over 100,000 objects (also the rebuild figure below).
echo "== rebuild: 1,000,000 events over 100,000 objects (embedded log), and the log the lock figures use"
"$BIN/strata-bench-rebuild" --backend embedded --events 1000000 --objects 100000 --dir "$WORK/rebuild"
mkdir -p "$WORK/embedded-100k" && cp -r "$WORK/rebuild/log" "$WORK/embedded-100k/log"

echo "== lock: check-out + undo round trips, strata-server (all four services), embedded log"
serve embedded.empty "$WORK/embedded-empty"
echo "   the same with 100,000 objects in the repository (startup replays the log first)"
serve embedded.100k "$WORK/embedded-100k"

echo "== lock: the same on Kafka via strata-devbroker (strata-server --kafka)"
"$BIN/strata-devbroker" --brokers 3 --partitions 8 --no-stdin > "$WORK/broker.out" & PIDS+=($!)
BROKER=$!
for _ in $(seq 100); do grep -q bootstrap "$WORK/broker.out" && break; sleep 0.1; done
serve kafka.empty "$WORK/kafka-empty" --kafka "$(sed -n 's/^bootstrap: //p' "$WORK/broker.out")"
kill "$BROKER"; wait "$BROKER" 2>/dev/null || true
# librdkafka's mock broker keeps ~5 MB per partition: 64 partitions hold the 1,000,000 events.
"$BIN/strata-devbroker" --brokers 3 --partitions 64 --no-stdin > "$WORK/broker64.out" & PIDS+=($!)
BROKER=$!
for _ in $(seq 100); do grep -q bootstrap "$WORK/broker64.out" && break; sleep 0.1; done
BOOT=$(sed -n 's/^bootstrap: //p' "$WORK/broker64.out")
"$BIN/strata-bench-rebuild" --backend kafka --bootstrap "$BOOT" --events 1000000 --objects 100000 --write-only \
  --dir "$WORK/kafka-writer"
echo "   the same with 100,000 objects in the repository (startup replays the log first)"
serve kafka.100k "$WORK/kafka-100k" --kafka "$BOOT"
kill "$BROKER"; wait "$BROKER" 2>/dev/null || true

echo "== rebuild: 1,000,000 events over 100,000 objects, Kafka"
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
awk -v pid="${PIDS[-1]}" '/VmRSS|VmHWM/ {printf "strata-server (100k objects) %s %d MB\n", $1, $2/1024;
  printf "figure: memory.server_100k.%s %d MB\n", ($1 == "VmRSS:" ? "rss" : "peak"), $2/1024}' "/proc/${PIDS[-1]}/status"

echo "== lock: instructions per command under callgrind (one client, embedded log; drift-free)"
bash bench/lock_instructions.sh "${1:-build}" 30

echo "== proof at check-in: 10,000 tables, then 200 check-ins of a 50-column table with and without --shadow-url"
"$BIN/strata-bench-proof" --bin-dir "$BIN" --dir "$WORK/proof" --objects 10000 --rounds 200 \
  --shadow-url "${STRATA_SHADOW_URL:-postgres://strata:strata@127.0.0.1:5432/postgres}"

echo "== reference data: a 100,000-row table, 5% changed: parse, diff, scripts; apply vs pg_dump --data-only + restore"
"$BIN/strata-bench-refdata" --runs 5 --pg-url "${STRATA_SHADOW_URL:-postgres://strata:strata@127.0.0.1:5432/postgres}"

echo "== policy at check-in: every rule on, a 50-column table; check-ins with and without a policy set"
"$BIN/strata-bench-policy" --bin-dir "$BIN" --dir "$WORK/policy" --iterations 2000 --rounds 400

echo "== strata lint: a 15,000-line schema dump, 20 rules on =="
bash bench/lint_bench.sh "${1:-build}" 5

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
echo "== console: pages with 100,000 objects, 10,000 check-outs, 1,000,000 audit records; live feed to 200 browsers"
"$BIN/strata-bench-console" --bin "$BIN" --dir "$WORK/console"
echo "== speed where users wait (issue 25): plan and drift of a 1,500-object release (also after a restart)"
"$BIN/strata-bench-deploy" --dir "$WORK/deploy1500" --no-sqitch --tables 750 --altered 500 --indexes 375 --views 375 \
  --pg-url "${STRATA_SHADOW_URL:-postgres://strata:strata@127.0.0.1:5432/postgres}"
echo "== lock round trips against two no-op gRPC calls on the same server (the floor)"
bash bench/lock_floor.sh "${1:-build}" --runs 3 --seconds 5 --work "$WORK/lock-floor"
echo "== cold start: strata-server on 1,000,000 events over 100,000 objects, until /readyz"
bash bench/cold_start.sh "${1:-build}" --runs 3 --work "$WORK/cold-start"
if [ -d ../shared/corpus/danbooru ] && command -v apgdiff >/dev/null; then
  echo "== schema diff of the last 40 danbooru pairs, against apgdiff and psql loading one side"
  PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-strata} PGPASSWORD=${PGPASSWORD:-strata} \
    bash bench/schemadiff_pairs.sh "${1:-build}" ../shared/corpus/danbooru --pairs 40 --runs 3
fi
echo "   (corpus figures: python3 ../shared/tools/schema-eval/eval.py CORPUS 'build/bin/strata schema diff {from} {to} --allow-data-loss -q' --pairs 100 [--reverse])"
