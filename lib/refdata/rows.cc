#include "refdata/rows.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "model/object_id.h"
#include "sql/analyze.h"

namespace strata::refdata {
namespace {

struct Field {
  std::string text;
  bool quoted = false;
};
struct Record {
  int line = 0;  // where the record starts (1-based)
  std::vector<Field> fields;
};

// RFC 4180 records. INVALID_ARGUMENT for a quote left open.
absl::StatusOr<std::vector<Record>> Records(std::string_view csv) {
  std::vector<Record> out;
  int line = 1;
  size_t i = 0;
  while (i < csv.size()) {
    Record r;
    r.line = line;
    for (;;) {
      Field f;
      if (i < csv.size() && csv[i] == '"') {
        f.quoted = true;
        const int opened = line;
        ++i;
        for (;;) {
          if (i >= csv.size()) return absl::InvalidArgumentError(fmt::format("line {}: a quoted field is not closed", opened));
          if (csv[i] == '"') {
            if (i + 1 < csv.size() && csv[i + 1] == '"') {
              f.text.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (csv[i] == '\n') ++line;
          f.text.push_back(csv[i++]);
        }
      } else {
        while (i < csv.size() && csv[i] != ',' && csv[i] != '\n' && csv[i] != '\r') f.text.push_back(csv[i++]);
      }
      r.fields.push_back(std::move(f));
      if (i < csv.size() && csv[i] == ',') {
        ++i;
        continue;
      }
      if (i < csv.size() && csv[i] == '\r') ++i;
      if (i < csv.size() && csv[i] == '\n') {
        ++i;
        ++line;
      }
      break;
    }
    // A blank line (one empty unquoted field) is skipped.
    if (r.fields.size() == 1 && !r.fields[0].quoted && r.fields[0].text.empty()) continue;
    out.push_back(std::move(r));
  }
  return out;
}

std::string_view Strip(std::string_view v) {
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
  return v;
}

// The type's name without modifiers or array brackets, lower case.
std::string BaseType(const std::string& type) {
  std::string t = absl::AsciiStrToLower(type);
  t = t.substr(0, t.find('('));
  if (const size_t dot = t.rfind('.'); dot != std::string::npos) t = t.substr(dot + 1);
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t;
}

bool IsInteger(std::string_view v) {
  v = Strip(v);
  if (!v.empty() && (v[0] == '-' || v[0] == '+')) v.remove_prefix(1);
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

bool IsNumeric(std::string_view v) {
  std::string s(Strip(v));
  const std::string lower = absl::AsciiStrToLower(s);
  if (lower == "nan" || lower == "infinity" || lower == "-infinity") return true;
  char* end = nullptr;
  if (s.empty()) return false;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && s.find_first_of("xXpP") == std::string::npos;
}

bool IsBoolean(std::string_view v) {
  static const char* kWords[] = {"t", "true", "y", "yes", "on", "1", "f", "false", "n", "no", "off", "0"};
  const std::string lower = absl::AsciiStrToLower(std::string(Strip(v)));
  return std::any_of(std::begin(kWords), std::end(kWords), [&](const char* w) { return lower == w; });
}

bool IsDate(std::string_view v) {  // Y-M-D, as COPY, pg_dump and ISO 8601 write dates
  v = Strip(v);
  int parts[3] = {0, 0, 0}, digits[3] = {0, 0, 0}, at = 0;
  for (char c : v) {
    if (c == '-' && at < 2 && digits[at] > 0) {
      ++at;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c)) || digits[at] >= 6) return false;
    parts[at] = parts[at] * 10 + (c - '0');
    ++digits[at];
  }
  return at == 2 && digits[0] >= 4 && digits[1] <= 2 && digits[2] >= 1 && digits[2] <= 2 && parts[1] >= 1 &&
         parts[1] <= 12 && parts[2] >= 1 && parts[2] <= 31;
}

bool IsUuid(std::string_view v) {
  std::string hex;
  for (char c : Strip(v))
    if (c != '-' && c != '{' && c != '}') hex.push_back(c);
  return hex.size() == 32 && std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// "" when `value` suits `type` (or the type is not checked here), else what it should be.
std::string TypeProblem(const std::string& type, const std::string& value) {
  const std::string t = BaseType(type);
  if (t == "smallint" || t == "int2" || t == "integer" || t == "int" || t == "int4" || t == "bigint" || t == "int8")
    return IsInteger(value) ? "" : "an integer";
  if (t == "numeric" || t == "decimal" || t == "real" || t == "float4" || t == "float8" || t == "double precision")
    return IsNumeric(value) ? "" : "a number";
  if (t == "boolean" || t == "bool") return IsBoolean(value) ? "" : "a boolean (true/false, t/f, yes/no, on/off, 1/0)";
  if (t == "date") return IsDate(value) ? "" : "a date (YYYY-MM-DD)";
  if (t == "uuid") return IsUuid(value) ? "" : "a uuid";
  return "";
}

// A quoted literal, cast to its column's type when that is one of
// PostgreSQL's own; other types (enums, domains) are left to PostgreSQL,
// which coerces an untyped literal to the column it is written to or
// compared with, whatever the search_path of the deploying session.
std::string Literal(const Value& v, const std::string& type) {
  if (!v) return "NULL";
  std::string out = "'";
  for (char c : *v) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  std::string base = type.substr(0, type.find_first_of("(["));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  if (sql::IsBuiltinType(base)) absl::StrAppend(&out, "::", type);
  return out;
}

std::string KeyText(const std::vector<std::string>& key) { return absl::StrCat("(", absl::StrJoin(key, ", "), ")"); }

}  // namespace

std::vector<std::string> RowSet::KeyOf(const Row& row) const {
  std::vector<std::string> k;
  k.reserve(key.size());
  for (size_t c : key) k.push_back(row[c].value_or(""));
  return k;
}

absl::StatusOr<RowSet> ParseCsv(std::string_view csv, const std::vector<Column>& columns,
                                const std::vector<std::string>& key) {
  RowSet set;
  set.columns = columns;
  for (const auto& k : key) {
    auto it = std::find_if(columns.begin(), columns.end(), [&](const Column& c) { return c.name == k; });
    if (it == columns.end()) return absl::InvalidArgumentError(fmt::format("the table has no key column {}", k));
    set.key.push_back(static_cast<size_t>(it - columns.begin()));
  }
  if (set.key.empty()) return absl::InvalidArgumentError("the table has no key: reference data needs one");
  auto records = Records(csv);
  if (!records.ok()) return records.status();
  if (records->empty()) return absl::InvalidArgumentError("line 1: the CSV has no header");
  // Header: which table column each field fills.
  const Record& header = records->front();
  std::vector<size_t> target;
  std::vector<bool> named(columns.size(), false);
  for (size_t f = 0; f < header.fields.size(); ++f) {
    const std::string& name = header.fields[f].text;
    auto it = std::find_if(columns.begin(), columns.end(), [&](const Column& c) { return c.name == name; });
    if (it == columns.end())
      return absl::InvalidArgumentError(
          fmt::format("line {}, column {}: the table has no column \"{}\"", header.line, f + 1, name));
    const size_t c = static_cast<size_t>(it - columns.begin());
    if (named[c])
      return absl::InvalidArgumentError(fmt::format("line {}, column {}: column {} is named twice", header.line, f + 1, name));
    named[c] = true;
    target.push_back(c);
  }
  for (size_t k : set.key)
    if (!named[k])
      return absl::InvalidArgumentError(
          fmt::format("line {}: the header lacks key column {}", header.line, columns[k].name));
  if (records->size() - 1 > kMaxRows)
    return absl::ResourceExhaustedError(fmt::format(
        "{} rows: reference data is bounded to {} rows per table", records->size() - 1, kMaxRows));
  std::map<std::vector<std::string>, int> line_of;
  for (size_t r = 1; r < records->size(); ++r) {
    const Record& rec = (*records)[r];
    if (rec.fields.size() != header.fields.size())
      return absl::InvalidArgumentError(fmt::format("line {}: {} fields, the header has {}", rec.line, rec.fields.size(),
                                                    header.fields.size()));
    Row row(columns.size());
    for (size_t f = 0; f < rec.fields.size(); ++f) {
      const Field& field = rec.fields[f];
      const size_t c = target[f];
      if (!field.quoted && field.text.empty()) continue;  // NULL
      if (std::string want = TypeProblem(columns[c].type, field.text); !want.empty())
        return absl::InvalidArgumentError(fmt::format("line {}, column {} ({}): \"{}\" is not {}", rec.line, f + 1,
                                                      columns[c].name, field.text, want));
      row[c] = field.text;
    }
    for (size_t k : set.key)
      if (!row[k]) {
        const size_t f = static_cast<size_t>(std::find(target.begin(), target.end(), k) - target.begin());
        return absl::InvalidArgumentError(
            fmt::format("line {}, column {} ({}): a key column cannot be empty", rec.line, f + 1, columns[k].name));
      }
    auto k = set.KeyOf(row);
    if (auto [it, fresh] = line_of.emplace(k, rec.line); !fresh)
      return absl::InvalidArgumentError(fmt::format("line {}: key {} repeats line {}", rec.line, KeyText(k), it->second));
    set.rows.emplace(std::move(k), std::move(row));
  }
  return set;
}

void AppendQuotedCsv(const std::string& text, std::string* out) {
  out->push_back('"');
  for (char c : text) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

std::string Canonical(const RowSet& rows) {
  std::string out;
  for (size_t c = 0; c < rows.columns.size(); ++c) {
    if (c) out.push_back(',');
    AppendQuotedCsv(rows.columns[c].name, &out);
  }
  out.push_back('\n');
  for (const auto& [key, row] : rows.rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (c) out.push_back(',');
      if (row[c]) AppendQuotedCsv(*row[c], &out);
    }
    out.push_back('\n');
  }
  return out;
}

absl::StatusOr<RowDiff> Diff(const RowSet& from, const RowSet& to) {
  const bool same_shape = from.key == to.key && from.columns.size() == to.columns.size() &&
                          std::equal(from.columns.begin(), from.columns.end(), to.columns.begin(),
                                     [](const Column& a, const Column& b) { return a.name == b.name; });
  if (!same_shape) {
    // Another shape (a version read against another definition of the
    // table): compared in `to`'s columns; those `from` lacks are unknown.
    std::vector<std::string> from_key, to_key;
    for (size_t k : from.key) from_key.push_back(from.columns[k].name);
    for (size_t k : to.key) to_key.push_back(to.columns[k].name);
    if (from_key != to_key)
      return absl::InvalidArgumentError(fmt::format("the two versions have different keys ({} and {})",
                                                    absl::StrJoin(from_key, ", "), absl::StrJoin(to_key, ", ")));
    RowSet reshaped;
    reshaped.columns = to.columns;
    reshaped.key = to.key;
    std::vector<int> source(to.columns.size(), -1);
    std::vector<size_t> unknown;
    for (size_t c = 0; c < to.columns.size(); ++c) {
      for (size_t f = 0; f < from.columns.size(); ++f)
        if (from.columns[f].name == to.columns[c].name) source[c] = static_cast<int>(f);
      if (source[c] < 0) unknown.push_back(c);
    }
    for (const auto& [key, row] : from.rows) {
      Row r(to.columns.size());
      for (size_t c = 0; c < r.size(); ++c)
        if (source[c] >= 0) r[c] = row[static_cast<size_t>(source[c])];
      reshaped.rows.emplace(key, std::move(r));
    }
    auto d = Diff(reshaped, to);
    if (!d.ok() || unknown.empty()) return d;
    // Rows in both: the unknown columns are written whatever they hold.
    std::map<std::vector<std::string>, size_t> updated;
    for (size_t i = 0; i < d->updated.size(); ++i) updated[d->updated[i].key] = i;
    RowDiff out;
    out.inserted = std::move(d->inserted);
    out.deleted = std::move(d->deleted);
    for (const auto& [key, row] : to.rows) {
      auto before = reshaped.rows.find(key);
      if (before == reshaped.rows.end()) continue;
      RowChange change{key, before->second, row, {}};
      if (auto u = updated.find(key); u != updated.end()) change.changed = d->updated[u->second].changed;
      for (size_t c : unknown)
        if (std::find(change.changed.begin(), change.changed.end(), c) == change.changed.end()) change.changed.push_back(c);
      std::sort(change.changed.begin(), change.changed.end());
      out.updated.push_back(std::move(change));
    }
    return out;
  }
  RowDiff d;
  auto a = from.rows.begin(), b = to.rows.begin();
  while (a != from.rows.end() || b != to.rows.end()) {
    if (b == to.rows.end() || (a != from.rows.end() && a->first < b->first)) {
      d.deleted.push_back({a->first, a->second, {}, {}});
      ++a;
    } else if (a == from.rows.end() || b->first < a->first) {
      d.inserted.push_back({b->first, {}, b->second, {}});
      ++b;
    } else {
      RowChange change{a->first, a->second, b->second, {}};
      for (size_t c = 0; c < a->second.size(); ++c)
        if (a->second[c] != b->second[c]) change.changed.push_back(c);
      if (!change.changed.empty()) d.updated.push_back(std::move(change));
      ++a;
      ++b;
    }
  }
  return d;
}

absl::StatusOr<RowSet> Project(const RowSet& rows, const std::vector<std::string>& names) {
  RowSet out;
  std::vector<size_t> pick;
  for (const auto& n : names)
    for (size_t c = 0; c < rows.columns.size(); ++c)
      if (rows.columns[c].name == n) {
        pick.push_back(c);
        out.columns.push_back(rows.columns[c]);
      }
  for (size_t k : rows.key) {
    auto it = std::find(pick.begin(), pick.end(), k);
    if (it == pick.end())
      return absl::InvalidArgumentError(fmt::format("key column {} is not among the columns kept", rows.columns[k].name));
    out.key.push_back(static_cast<size_t>(it - pick.begin()));
  }
  for (const auto& [key, row] : rows.rows) {
    Row r;
    r.reserve(pick.size());
    for (size_t c : pick) r.push_back(row[c]);
    out.rows.emplace(key, std::move(r));
  }
  return out;
}

std::vector<std::string> Statements(const RowDiff& diff, const RowSet& shape, const std::string& table) {
  std::vector<std::string> names;
  for (const auto& c : shape.columns) names.push_back(model::QuoteIdentifier(c.name));
  auto where = [&](const Row& row) {
    std::vector<std::string> terms;
    for (size_t k : shape.key) terms.push_back(absl::StrCat(names[k], " = ", Literal(row[k], shape.columns[k].type)));
    return absl::StrJoin(terms, " AND ");
  };
  std::vector<std::string> out;
  for (const auto& c : diff.deleted) out.push_back(absl::StrCat("DELETE FROM ", table, " WHERE ", where(c.before)));
  for (const auto& c : diff.updated) {
    std::vector<std::string> sets;
    for (size_t col : c.changed) sets.push_back(absl::StrCat(names[col], " = ", Literal(c.after[col], shape.columns[col].type)));
    out.push_back(absl::StrCat("UPDATE ", table, " SET ", absl::StrJoin(sets, ", "), " WHERE ", where(c.before)));
  }
  // Inserts in batches of 500 rows.
  constexpr size_t kBatch = 500;
  for (size_t i = 0; i < diff.inserted.size(); i += kBatch) {
    // Identity columns GENERATED ALWAYS take the version's values too.
    std::string s = absl::StrCat("INSERT INTO ", table, " (", absl::StrJoin(names, ", "), ") OVERRIDING SYSTEM VALUE VALUES");
    for (size_t j = i; j < std::min(diff.inserted.size(), i + kBatch); ++j) {
      std::vector<std::string> values;
      const Row& row = diff.inserted[j].after;
      for (size_t col = 0; col < row.size(); ++col) values.push_back(Literal(row[col], shape.columns[col].type));
      absl::StrAppend(&s, j == i ? "\n  (" : ",\n  (", absl::StrJoin(values, ", "), ")");
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace strata::refdata
