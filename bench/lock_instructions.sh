#!/usr/bin/env bash
# Instructions strata-server executes per lock command (a check-out or an
# undo, one client, embedded log), counted by callgrind over a bounded load:
# a figure that does not drift with the machine's speed, for comparing two
# builds (docs/benchmarks.md). Loopback only; stops by itself.
#   bash bench/lock_instructions.sh [build-dir] [seconds]
set -euo pipefail
BIN="${1:-build}/bin"
SECS="${2:-30}"
WORK=$(mktemp -d /tmp/strata-instr.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
cat > "$WORK/tokens.yaml" <<'YAML'
tokens:
  - {token: bench-token, user: bench, site: bench, roles: [developer]}
YAML
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out" \
  "$BIN/strata-server" --tokens "$WORK/tokens.yaml" --data-dir "$WORK/data" --listen 127.0.0.1:0 \
  > "$WORK/server.out" 2> "$WORK/server.err" &
PID=$!
for _ in $(seq 1200); do grep -q "listening on" "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(grep -o 'listening on [0-9.]*:[0-9]*' "$WORK/server.out" | sed 's/.*://')
[ -n "$PORT" ] || { echo "server did not start" >&2; cat "$WORK/server.err" >&2; exit 1; }
# Warm up uncounted (first writes, RocksDB files, gRPC channels), then count.
"$BIN/strata-bench-lock" --endpoint "127.0.0.1:$PORT" --token bench-token --clients 1 --seconds 5 \
  --label warmup > /dev/null
callgrind_control -i on "$PID" > /dev/null 2>&1
"$BIN/strata-bench-lock" --endpoint "127.0.0.1:$PORT" --token bench-token --clients 1 --seconds "$SECS" \
  --label counted > "$WORK/load"
callgrind_control -d "$PID" > /dev/null 2>&1
callgrind_control -i off "$PID" > /dev/null 2>&1
DUMP=$(ls "$WORK"/cg.out* | grep -v '^$' | sort | tail -1)
IR=$(grep -m1 '^summary:' "$DUMP" | awk '{print $2}')
TRIPS=$(grep -o 'round_trips=[0-9]*' "$WORK/load" | head -1 | cut -d= -f2)
COMMANDS=$((TRIPS * 2))
echo "instructions: $IR over $COMMANDS commands ($TRIPS check-out + undo round trips)"
echo "figure: lock.instructions_per_command $((IR / COMMANDS)) instructions"
