#include "refdata/live.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "fmt/format.h"
#include "model/object_id.h"

namespace strata::refdata {
namespace {

// Types PostgreSQL cannot compare with '=': compared as their text.
bool ComparedAsText(const std::string& type) {
  static const char* kNoEquality[] = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"};
  for (const char* t : kNoEquality)
    if (type == t || type.rfind(std::string(t) + "[", 0) == 0) return true;
  return false;
}

std::string KeyText(const std::vector<std::string>& key) { return absl::StrCat("(", absl::StrJoin(key, ", "), ")"); }

std::string Shown(const Value& v) {
  if (!v) return "NULL";
  std::string s = *v;
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return absl::StrCat("'", s, "'");
}

const Column* Find(const std::vector<Column>& columns, const std::string& name) {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

std::string TextArray(const std::vector<Value>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    if (!values[i]) {
      out += "NULL";
      continue;
    }
    out.push_back('"');
    for (char c : *values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

absl::StatusOr<std::vector<Column>> LiveColumns(pg::Session& session, const std::string& table) {
  auto rows = session.Query(
      "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
      "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
      {table});
  if (!rows.ok()) return rows.status();
  if (rows->size() == 0) return absl::NotFoundError(fmt::format("the database has no table {}", table));
  std::vector<Column> out;
  for (int r = 0; r < rows->size(); ++r) out.push_back({rows->text(r, 0), rows->text(r, 1)});
  return out;
}

absl::StatusOr<RowSet> ReadRows(pg::Session& session, const std::string& table, const std::vector<Column>& columns,
                                const std::vector<std::string>& key) {
  auto live = LiveColumns(session, table);
  if (!live.ok()) return live.status();
  RowSet set;
  set.columns = columns;
  std::vector<std::string> select;
  for (const auto& c : columns) {
    if (!Find(*live, c.name))
      return absl::InvalidArgumentError(fmt::format("table {} there has no column {}", table, c.name));
    select.push_back(model::QuoteIdentifier(c.name));
  }
  for (const auto& k : key) {
    auto it = std::find_if(columns.begin(), columns.end(), [&](const Column& c) { return c.name == k; });
    if (it == columns.end()) return absl::InvalidArgumentError(fmt::format("the key column {} is not read", k));
    set.key.push_back(static_cast<size_t>(it - columns.begin()));
  }
  auto rows = session.Query(fmt::format("SELECT {} FROM {} LIMIT {}", absl::StrJoin(select, ", "), table, kMaxRows + 1));
  if (!rows.ok()) return rows.status();
  if (static_cast<size_t>(rows->size()) > kMaxRows)
    return absl::ResourceExhaustedError(fmt::format(
        "table {} holds more than {} rows: reference data is bounded to {} rows per table", table, kMaxRows, kMaxRows));
  for (int r = 0; r < rows->size(); ++r) {
    Row row(columns.size());
    for (size_t c = 0; c < columns.size(); ++c) row[c] = rows->at(r, static_cast<int>(c));
    for (size_t k : set.key)
      if (!row[k])
        return absl::InvalidArgumentError(
            fmt::format("table {} has a row whose key column {} is NULL; a key must tell rows apart", table,
                        columns[k].name));
    auto k = set.KeyOf(row);
    if (!set.rows.emplace(k, std::move(row)).second)
      return absl::InvalidArgumentError(fmt::format("table {} holds key {} twice", table, KeyText(k)));
  }
  return set;
}

absl::StatusOr<RowDrift> CompareRows(pg::Session& session, const std::string& table, const RowSet& expected,
                                     size_t limit) {
  auto live = LiveColumns(session, table);
  if (!live.ok()) return live.status();
  RowDrift drift;
  std::vector<std::string> e_cols, l_cols, u_cols, on, differs, keys_out, details;
  std::vector<std::string> params;
  const size_t n = expected.columns.size();
  for (size_t c = 0; c < n; ++c) {
    const Column* col = Find(*live, expected.columns[c].name);
    if (!col) {
      drift.rows = expected.rows.size();
      drift.lines.push_back(fmt::format("column {} is missing: no row can hold what Strata expects", expected.columns[c].name));
      return drift;
    }
    const std::string type = ComparedAsText(col->type) ? "text" : col->type;
    const std::string name = model::QuoteIdentifier(col->name);
    std::vector<Value> values;
    values.reserve(expected.rows.size());
    for (const auto& [key, row] : expected.rows) values.push_back(row[c]);
    params.push_back(TextArray(values));
    u_cols.push_back(fmt::format("${}::text[]", c + 1));
    e_cols.push_back(fmt::format("u.c{}::{} AS c{}", c, type, c));
    l_cols.push_back(fmt::format("t.{}::{} AS c{}", name, type, c));
  }
  std::vector<std::string> aliases;
  for (size_t c = 0; c < n; ++c) aliases.push_back(fmt::format("c{}", c));
  for (size_t k : expected.key) {
    on.push_back(fmt::format("e.c{} = l.c{}", k, k));
    keys_out.push_back(fmt::format("coalesce(e.c{}, l.c{})::text", k, k));
  }
  std::vector<std::string> e_rest, l_rest;
  for (size_t c = 0; c < n; ++c) {
    if (std::find(expected.key.begin(), expected.key.end(), c) != expected.key.end()) continue;
    e_rest.push_back(fmt::format("e.c{}", c));
    l_rest.push_back(fmt::format("l.c{}", c));
    details.push_back(fmt::format("e.c{} IS DISTINCT FROM l.c{}, l.c{}::text, e.c{}::text", c, c, c, c));
  }
  const std::string changed =
      e_rest.empty() ? "false" : fmt::format("ROW({}) IS DISTINCT FROM ROW({})", absl::StrJoin(e_rest, ", "),
                                             absl::StrJoin(l_rest, ", "));
  const std::string sql = fmt::format(
      "SELECT e.p IS NULL, l.p IS NULL, count(*) OVER (), {keys}{details} "
      "FROM (SELECT {ecols}, true AS p FROM unnest({ucols}) AS u({aliases})) e "
      "FULL JOIN (SELECT {lcols}, true AS p FROM {table} t) l ON {on} "
      "WHERE e.p IS NULL OR l.p IS NULL OR {changed} ORDER BY {order} LIMIT {limit}",
      fmt::arg("keys", absl::StrJoin(keys_out, ", ")),
      fmt::arg("details", details.empty() ? "" : ", " + absl::StrJoin(details, ", ")),
      fmt::arg("ecols", absl::StrJoin(e_cols, ", ")), fmt::arg("ucols", absl::StrJoin(u_cols, ", ")),
      fmt::arg("aliases", absl::StrJoin(aliases, ", ")), fmt::arg("lcols", absl::StrJoin(l_cols, ", ")),
      fmt::arg("table", table), fmt::arg("on", absl::StrJoin(on, " AND ")), fmt::arg("changed", changed),
      fmt::arg("order", absl::StrJoin(keys_out, ", ")), fmt::arg("limit", std::max<size_t>(limit, 1)));
  auto rows = session.Query(sql, params);
  if (!rows.ok()) return rows.status();
  const size_t nkey = expected.key.size();
  for (int r = 0; r < rows->size(); ++r) {
    drift.rows = static_cast<size_t>(rows->number(r, 2));
    std::vector<std::string> key;
    for (size_t k = 0; k < nkey; ++k) key.push_back(rows->text(r, static_cast<int>(3 + k)));
    if (rows->is_true(r, 1)) {
      drift.lines.push_back(fmt::format("row {}: missing", KeyText(key)));
      continue;
    }
    if (rows->is_true(r, 0)) {
      drift.lines.push_back(fmt::format("row {}: not expected", KeyText(key)));
      continue;
    }
    std::vector<std::string> what;
    int col = static_cast<int>(3 + nkey);
    for (size_t c = 0; c < n; ++c) {
      if (std::find(expected.key.begin(), expected.key.end(), c) != expected.key.end()) continue;
      if (rows->is_true(r, col))
        what.push_back(fmt::format("column {} is {}, expected {}", expected.columns[c].name,
                                   Shown(rows->at(r, col + 1)), Shown(rows->at(r, col + 2))));
      col += 3;
    }
    drift.lines.push_back(fmt::format("row {}: {}", KeyText(key), absl::StrJoin(what, "; ")));
  }
  if (drift.rows > drift.lines.size() && limit > 0)
    drift.lines.push_back(fmt::format("... and {} more rows", drift.rows - drift.lines.size()));
  return drift;
}

absl::StatusOr<std::vector<Referencing>> RowsReferencing(pg::Session& session, const std::string& table,
                                                         const RowSet& shape, const std::vector<RowChange>& deleted) {
  std::vector<Referencing> out;
  if (deleted.empty()) return out;
  auto fks = session.Query(
      "SELECT c.conname, c.conrelid::regclass::text, c.confdeltype::text, "
      "  (SELECT string_agg(a.attname, E'\\x1f' ORDER BY k.o) FROM unnest(c.conkey) WITH ORDINALITY k(n, o) "
      "   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n), "
      "  (SELECT string_agg(a.attname, E'\\x1f' ORDER BY k.o) FROM unnest(c.confkey) WITH ORDINALITY k(n, o) "
      "   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) "
      "FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = to_regclass($1) ORDER BY 2, 1",
      {table});
  if (!fks.ok()) return fks.status();
  if (fks->size() == 0) return out;
  auto live = LiveColumns(session, table);
  if (!live.ok()) return live.status();
  static const std::map<std::string, std::string> kAction = {
      {"a", "no action"}, {"r", "restrict"}, {"c", "cascade"}, {"n", "set null"}, {"d", "set default"}};
  for (int f = 0; f < fks->size(); ++f) {
    const std::vector<std::string> from = absl::StrSplit(fks->text(f, 3), '\x1f');
    const std::vector<std::string> to = absl::StrSplit(fks->text(f, 4), '\x1f');
    if (from.size() != to.size()) continue;
    std::vector<std::string> params, unnest, aliases, casts, cols;
    bool known = true;
    for (size_t i = 0; i < to.size() && known; ++i) {
      auto it = std::find_if(shape.columns.begin(), shape.columns.end(), [&](const Column& c) { return c.name == to[i]; });
      const Column* type = Find(*live, to[i]);
      if (it == shape.columns.end() || !type) {
        known = false;
        break;
      }
      const size_t c = static_cast<size_t>(it - shape.columns.begin());
      std::vector<Value> values;
      for (const auto& d : deleted) values.push_back(d.before[c]);
      params.push_back(TextArray(values));
      unnest.push_back(fmt::format("${}::text[]", i + 1));
      aliases.push_back(fmt::format("v{}", i));
      casts.push_back(fmt::format("u.v{}::{}", i, type->type));
      cols.push_back(model::QuoteIdentifier(from[i]));
    }
    if (!known) continue;
    const std::string child = fks->text(f, 1);
    auto count = session.Query(fmt::format("SELECT count(*) FROM {} WHERE ({}) IN (SELECT {} FROM unnest({}) AS u({}))",
                                           child, absl::StrJoin(cols, ", "), absl::StrJoin(casts, ", "),
                                           absl::StrJoin(unnest, ", "), absl::StrJoin(aliases, ", ")),
                               params);
    if (!count.ok()) return count.status();
    const long long n = count->number(0, 0);
    if (n == 0) continue;
    auto action = kAction.find(fks->text(f, 2));
    out.push_back({fks->text(f, 0), child, action == kAction.end() ? fks->text(f, 2) : action->second, n});
  }
  return out;
}

}  // namespace strata::refdata
