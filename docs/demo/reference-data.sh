#!/usr/bin/env bash
# Reference data, end to end, with the strata CLI: a lookup table's rows are
# tracked, imported as data version 1, changed by a developer who holds the
# table, released and promoted dev -> qa -> uat -> prod; a row deleted by
# hand in qa is drift that blocks the next deployment; a delete that other
# rows reference is a finding in the plan.
#
# Self-contained and re-runnable, like release-story.sh: its own
# strata-server on port 7391, its own databases refdemo_dev, refdemo_qa,
# refdemo_uat, refdemo_prod on the local PostgreSQL of `make up`. Run from
# the repository root after `make up` (or `make build pg`):
#   bash docs/demo/reference-data.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/build/bin
PG=postgres://strata:strata@127.0.0.1:${STRATA_PG_PORT:-5432}
WORK=$(mktemp -d /tmp/strata-refdemo.XXXXXX)
export STRATA_ENDPOINT=127.0.0.1:7391
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
as() { local who=$1; shift; say "($who) strata $*"; STRATA_TOKEN=$who-token "$BIN/strata" "$@"; }

cat > "$WORK/tokens.yaml" <<'YAML'
tokens:
  - {token: alice-token, user: alice, site: boston, roles: [developer]}
  - {token: dana-token, user: dana, site: hq, roles: [dba]}
  - {token: rita-token, user: rita, site: hq, roles: [release-manager]}
YAML
cat > "$WORK/secrets.yaml" <<YAML
environments: {dev: {password: strata}, qa: {password: strata}, uat: {password: strata}, prod: {password: strata}}
shadow_url: $PG/postgres
YAML
for env in dev qa uat prod; do
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS refdemo_$env WITH (FORCE)" -c "CREATE DATABASE refdemo_$env" 2>/dev/null
done
"$BIN/strata-server" --listen "$STRATA_ENDPOINT" --data-dir "$WORK/data" --tokens "$WORK/tokens.yaml" \
  --secrets-file "$WORK/secrets.yaml" --site hq > "$WORK/server.out" 2> "$WORK/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q listening "$WORK/server.out" && break; sleep 0.1; done

echo "== dev holds a lookup table and orders that use it =="
psql -q "$PG/refdemo_dev" <<'SQL'
CREATE SCHEMA ref;
CREATE TABLE ref.status (code text PRIMARY KEY, label text NOT NULL, rank integer NOT NULL);
CREATE TABLE ref.orders (id integer PRIMARY KEY, status text NOT NULL REFERENCES ref.status (code));
INSERT INTO ref.status VALUES ('new', 'New', 1), ('paid', 'Paid', 2), ('void', 'Void', 9);
INSERT INTO ref.orders VALUES (1, 'new'), (2, 'paid'), (3, 'void');
SQL
order=1
for env in dev qa uat prod; do
  flag=""; [ $env = prod ] && flag=--protected
  STRATA_TOKEN=dana-token "$BIN/strata" env add $env \
    --url "postgres://strata@127.0.0.1:${STRATA_PG_PORT:-5432}/refdemo_$env" --order $order $flag >/dev/null
  order=$((order + 1))
done
STRATA_TOKEN=dana-token "$BIN/strata" import --env dev > /dev/null

as dana data track ref.status
as dana import --env dev
as rita release create R1 > /dev/null
for env in dev qa uat; do STRATA_TOKEN=alice-token "$BIN/strata" deploy R1 --env $env > /dev/null; done

echo "== alice changes the rows =="
cat > "$WORK/status.csv" <<'CSV'
code,label,rank
new,New,1
paid,"Paid, in full",2
shipped,Shipped,3
void,Void,9
CSV
as alice checkout ref.status -r "a shipped status"
as alice checkin ref.status --data "$WORK/status.csv" -m "shipped; paid relabelled"
as alice data diff ref.status 1 2
as rita release create R2 > /dev/null
as alice plan R2 --env qa --script-only
as alice deploy R2 --env dev
as alice deploy R2 --env qa

echo "== a row deleted by hand in uat =="
psql -q "$PG/refdemo_uat" -c "DELETE FROM ref.status WHERE code = 'void'"
as alice drift --env uat || echo "(exit $?: drifted)"
as alice deploy R2 --env uat || echo "(refused: uat drifted)"

echo "== a delete that orders still reference =="
grep -v '^void' "$WORK/status.csv" > "$WORK/status3.csv"
as alice checkout ref.status
as alice checkin ref.status --data "$WORK/status3.csv" -m "void is gone"
as rita release create R3 > /dev/null
as alice plan R3 --env dev | grep -A2 "risk findings"
as alice deploy R3 --env dev || echo "(failed: nothing changed)"
psql -qAt "$PG/refdemo_dev" -c "SELECT string_agg(code, ',' ORDER BY rank) FROM ref.status"
