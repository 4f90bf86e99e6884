#!/usr/bin/env bash
# `strata lint` over a generated 15,000-line schema dump (tables with keys,
# foreign keys, indexes, comments, views, functions), every rule on: wall and
# CPU time of each run, and whether every run printed the same findings.
# Target (issue 23): under 1 s, stable. No server, no database.
#   bash bench/lint_bench.sh [build-dir] [runs]
set -euo pipefail
BIN="${1:-build}/bin"
RUNS="${2:-5}"
WORK=$(mktemp -d /tmp/strata-lint.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
python3 - "$WORK/dump.sql" "$WORK/policy.yaml" <<'PY'
import sys
out = []
i = 0
while len(out) < 15000:
    t = "t%d" % i
    out += ["CREATE TABLE app.%s (" % t,
            "    id bigint GENERATED ALWAYS AS IDENTITY,",
            "    parent_id bigint,",
            "    name character varying(80) NOT NULL,",
            "    created timestamp without time zone DEFAULT now() NOT NULL,",
            "    price %s," % ("money" if i % 7 == 0 else "numeric(12,2)"),
            "    code %s" % ("character(3)" if i % 5 == 0 else "text"),
            ");",
            "ALTER TABLE ONLY app.%s ADD CONSTRAINT %s_pkey PRIMARY KEY (id);" % (t, t),
            "ALTER TABLE ONLY app.%s ADD CONSTRAINT %s_parent_fkey FOREIGN KEY (parent_id) REFERENCES app.t%d(id);"
            % (t, t, max(i - 1, 0)),
            "COMMENT ON TABLE app.%s IS 'table %d';" % (t, i)]
    if i % 2 == 0:
        out.append("CREATE INDEX ix_%s_parent_id ON app.%s USING btree (parent_id);" % (t, t))
    if i % 10 == 0:
        out += ["CREATE VIEW app.v%d AS" % i, " SELECT * FROM app.%s;" % t,
                "CREATE FUNCTION app.f%d(x integer) RETURNS integer" % i,
                "    LANGUAGE sql SECURITY DEFINER",
                "    AS $$ SELECT x + 1 $$;"]
    out.append("")
    i += 1
open(sys.argv[1], "w").write("\n".join(out) + "\n")
codes = ["naming-table", "naming-column", "naming-view", "naming-function", "naming-index", "naming-primary-key",
         "naming-foreign-key", "naming-max-length", "naming-reserved-word", "require-primary-key", "require-fk-index",
         "prefer-timestamptz", "prefer-identity", "ban-money-type", "ban-char-field", "prefer-text-field",
         "ban-select-star", "security-definer-search-path", "require-table-comment", "require-column-comment"]
open(sys.argv[2], "w").write("rules:\n" + "".join("  %s: error\n" % c for c in codes))
PY
lines=$(wc -l < "$WORK/dump.sql")
first=""
for run in $(seq "$RUNS"); do
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$BIN/strata" lint --policy "$WORK/policy.yaml" "$WORK/dump.sql" \
    > "$WORK/out.$run" 2>/dev/null || true
  read -r wall user sys rss < <(tail -1 "$WORK/time")
  sum=$(sha256sum < "$WORK/out.$run" | cut -c1-16)
  [ -z "$first" ] && first=$sum
  echo "run $run: $lines lines, $(wc -l < "$WORK/out.$run") findings, ${wall} s wall, $(echo "$user + $sys" | bc) s CPU, ${rss} KB peak, output $sum"
  echo "$wall" >> "$WORK/walls"
  [ "$sum" = "$first" ] || { echo "findings differ between runs" >&2; exit 1; }
done
median=$(sort -n "$WORK/walls" | sed -n "$(( (RUNS + 1) / 2 ))p")
echo "figure: lint.dump_15k_lines.wall $median s"
