#!/usr/bin/env bash
# The release story, end to end, with the strata CLI: an existing database
# is imported into Strata, two developers at two sites change it (and
# collide on one object), a release is planned and promoted dev -> qa -> uat
# -> prod (approved), and the four databases end up identical.
#
# Self-contained and re-runnable: it starts its own strata-server on port
# 7390 with a scratch data directory and uses its own databases demo_dev,
# demo_qa, demo_uat, demo_prod on the local PostgreSQL of `make up`
# (role strata, password strata). Run from the repository root after
# `make up` (or `make build pg`):
#   bash docs/demo/release-story.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/build/bin
PG=postgres://strata:strata@127.0.0.1:${STRATA_PG_PORT:-5432}
WORK=$(mktemp -d /tmp/strata-demo.XXXXXX)
export STRATA_ENDPOINT=127.0.0.1:7390
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }
as() { local who=$1; shift; say "($who) strata $*"; STRATA_TOKEN=$who-token "$BIN/strata" "$@"; }

cat > "$WORK/tokens.yaml" <<'YAML'
tokens:
  - {token: alice-token, user: alice, site: boston, roles: [developer]}
  - {token: bob-token, user: bob, site: london, roles: [developer]}
  - {token: dana-token, user: dana, site: hq, roles: [dba]}
  - {token: rita-token, user: rita, site: hq, roles: [release-manager]}
YAML
cat > "$WORK/secrets.yaml" <<YAML
environments: {dev: {password: strata}, qa: {password: strata}, uat: {password: strata}, prod: {password: strata}}
shadow_url: $PG/postgres
YAML
for env in dev qa uat prod; do
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS demo_$env WITH (FORCE)" -c "CREATE DATABASE demo_$env" 2>/dev/null
done
"$BIN/strata-server" --listen "$STRATA_ENDPOINT" --data-dir "$WORK/data" --tokens "$WORK/tokens.yaml" \
  --secrets-file "$WORK/secrets.yaml" --site hq > "$WORK/server.out" 2> "$WORK/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q listening "$WORK/server.out" && break; sleep 0.1; done

echo "== The team's existing database (dev) =="
psql -q "$PG/demo_dev" <<'SQL'
CREATE SCHEMA sales;
CREATE TABLE sales.customers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE sales.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES sales.customers (id),
  total numeric(12,2) NOT NULL CHECK (total >= 0)
);
CREATE VIEW sales.open_orders AS SELECT id, customer_id, total FROM sales.orders;
INSERT INTO sales.customers (name) VALUES ('Acme');
SQL

echo "== The pipeline =="
order=1
for env in dev qa uat prod; do
  flag=""; [ $env = prod ] && flag=--protected
  as dana env add $env --url "postgres://strata@127.0.0.1:${STRATA_PG_PORT:-5432}/demo_$env" --order $order $flag >/dev/null
  order=$((order + 1))
done
as dana env list
as dana import --env dev

echo "== Two developers, two sites =="
as alice checkout table:sales.orders -r "orders need a note"
STRATA_TOKEN=alice-token "$BIN/strata" show table:sales.orders --definition \
  | sed 's/    total numeric(12,2) NOT NULL$/    total numeric(12,2) NOT NULL,\n    note text/' > "$WORK/orders.sql"
as alice checkin table:sales.orders -f "$WORK/orders.sql" -m "note on orders"
as bob checkout table:sales.refunds view:sales.open_orders -r "refunds"
echo "CREATE TABLE sales.refunds (order_id bigint NOT NULL REFERENCES sales.orders (id), amount numeric(12,2) NOT NULL);" > "$WORK/refunds.sql"
as bob checkin table:sales.refunds -f "$WORK/refunds.sql" -m "refunds table"
as alice checkout view:sales.open_orders || echo "(refused: bob holds it)"
echo "CREATE VIEW sales.open_orders AS SELECT id, customer_id, total, note FROM sales.orders;" > "$WORK/view.sql"
as bob checkin view:sales.open_orders -f "$WORK/view.sql" -m "show the note"
as alice status

echo "== Release, plan, promote =="
echo "INSERT INTO sales.customers (name) VALUES ('Globex');" > "$WORK/globex.sql"
echo "DELETE FROM sales.customers WHERE name = 'Globex';" > "$WORK/globex-undo.sql"
as rita release create 2026.11-1 --data "$WORK/globex.sql:$WORK/globex-undo.sql" -d "refunds; notes on orders"
as alice plan 2026.11-1 --env dev
as alice deploy 2026.11-1 --env dev
as alice deploy 2026.11-1 --env uat || echo "(refused: not in qa yet)"
as alice deploy 2026.11-1 --env qa
as alice deploy 2026.11-1 --env uat
as rita deploy 2026.11-1 --env prod || echo "(refused: prod needs an approval)"
as rita approve 2026.11-1 --env prod -m "CAB 2026-11-25"
as rita deploy 2026.11-1 --env prod
as alice pipeline

echo "== Every environment now holds the release's state =="
for env in qa uat prod; do
  run "$BIN/strata" schema diff "$PG/demo_dev" "$PG/demo_$env" -q
done
as alice drift --env prod
psql -q "$PG/demo_prod" -c "SELECT name FROM sales.customers ORDER BY id"
for env in dev qa uat prod; do psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS demo_$env WITH (FORCE)"; done
