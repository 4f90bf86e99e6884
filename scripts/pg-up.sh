#!/usr/bin/env bash
# Starts a local PostgreSQL (Debian's cluster) and creates the four
# environment databases of the default pipeline: strata_dev, strata_qa,
# strata_uat, strata_prod, owned by role `strata` (password `strata`).
# Idempotent. Prints the connection URLs.
set -euo pipefail

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
PGPORT="${STRATA_PG_PORT:-5432}"

ver=$(ls /usr/lib/postgresql/ | sort -V | tail -1)
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$ver main$"; then
  $SUDO pg_createcluster "$ver" main --port "$PGPORT" >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
  $SUDO pg_ctlcluster "$ver" main start
fi
PGPORT=$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $3}')

psql_admin() { $SUDO -u postgres psql -p "$PGPORT" -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ "$(id -u)" -eq 0 ]; then psql_admin() { runuser -u postgres -- psql -p "$PGPORT" -v ON_ERROR_STOP=1 -qAt "$@"; }; fi

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname='strata'")" != "1" ]; then
  psql_admin -c "CREATE ROLE strata LOGIN CREATEDB CREATEROLE PASSWORD 'strata'"
fi
# This is a local development cluster: role strata is also the shadow server
# role of `strata schema diff`, which loads whole dumps (extensions, comments
# on them, C-language functions), and that takes a superuser.
psql_admin -c "ALTER ROLE strata SUPERUSER" >/dev/null
for env in dev qa uat prod; do
  db="strata_$env"
  if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname='$db'")" != "1" ]; then
    psql_admin -c "CREATE DATABASE $db OWNER strata"
  fi
  echo "postgres://strata:strata@127.0.0.1:$PGPORT/$db"
done
