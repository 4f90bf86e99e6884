#include "refdata/inserts.h"

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fmt/format.h"
#include "model/object_id.h"
#include "sql/parse.h"

namespace strata::refdata {
namespace {

// A constant's text as ParseCsv takes it (nullopt: NULL); false when the
// node is not a constant.
bool ConstantText(const pg_query::Node& n, Value* out, int* location) {
  if (n.has_type_cast()) return ConstantText(n.type_cast().arg(), out, location);
  if (n.has_a_const()) {
    const auto& c = n.a_const();
    *location = c.location();
    if (c.isnull()) {
      *out = std::nullopt;
    } else if (c.has_ival()) {
      *out = std::to_string(c.ival().ival());
    } else if (c.has_fval()) {
      *out = c.fval().fval();
    } else if (c.has_sval()) {
      *out = c.sval().sval();
    } else if (c.has_boolval()) {
      *out = c.boolval().boolval() ? "true" : "false";
    } else if (c.has_bsval()) {
      *out = c.bsval().bsval();
    } else {
      *out = std::nullopt;
    }
    return true;
  }
  // -1, -2.5: a unary minus of a number.
  if (n.has_a_expr() && !n.a_expr().has_lexpr() && n.a_expr().name_size() == 1 &&
      n.a_expr().name(0).string().sval() == "-" && n.a_expr().rexpr().has_a_const()) {
    Value v;
    if (!ConstantText(n.a_expr().rexpr(), &v, location) || !v) return false;
    *out = "-" + *v;
    *location = n.a_expr().location();
    return true;
  }
  return false;
}

// Where a value that is not a constant starts (-1: unknown).
int NodeLocation(const pg_query::Node& n) {
  if (n.has_func_call()) return n.func_call().location();
  if (n.has_column_ref()) return n.column_ref().location();
  if (n.has_a_expr()) return n.a_expr().location();
  if (n.has_type_cast()) return n.type_cast().location();
  if (n.has_sub_link()) return n.sub_link().location();
  if (n.has_param_ref()) return n.param_ref().location();
  return -1;
}

}  // namespace

bool LooksLikeInserts(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
    } else if (text.substr(i, 2) == "--") {
      i = text.find('\n', i);
      if (i == std::string_view::npos) return false;
    } else if (text.substr(i, 2) == "/*") {
      i = text.find("*/", i);
      if (i == std::string_view::npos) return false;
      i += 2;
    } else {
      break;
    }
  }
  static constexpr std::string_view kInsert = "insert";
  if (i + kInsert.size() > text.size()) return false;
  for (size_t k = 0; k < kInsert.size(); ++k)
    if (std::tolower(static_cast<unsigned char>(text[i + k])) != kInsert[k]) return false;
  return (
      i + 6 == text.size() || !std::isalnum(static_cast<unsigned char>(text[i + 6])));
}

absl::StatusOr<RowSet> ParseInserts(std::string_view sql, const std::string& table,
                                    const std::vector<Column>& columns, const std::vector<std::string>& key) {
  auto parsed = sql::ParsedSql::Parse(sql);
  if (!parsed.ok()) return parsed.status();
  auto names = model::SplitIdentifiers(table);
  if (!names.ok() || names->size() != 2) return absl::InvalidArgumentError(fmt::format("bad table name {}", table));
  // The rows become CSV (every value quoted, NULL unquoted and empty); the
  // SQL line of each CSV line turns ParseCsv's errors into the SQL's.
  std::string csv;
  std::vector<int> sql_line = {0, 0};  // by CSV line (1-based; line 1 is the header)
  std::vector<std::string> header;
  const sql::LineIndex lines(sql);
  auto where = [&](int statement, int location) {
    const int offset = parsed->StatementOffset(statement) + std::max(location, 0);
    const auto lc = lines.At(offset);
    return fmt::format("line {}, column {}", lc.line, lc.column);
  };
  for (int i = 0; i < parsed->size(); ++i) {
    const pg_query::Node& stmt = parsed->statement(i);
    const auto start = lines.At(parsed->StatementStartOffset(i));
    if (!stmt.has_insert_stmt() || !stmt.insert_stmt().has_select_stmt() ||
        stmt.insert_stmt().select_stmt().select_stmt().values_lists().empty())
      return absl::InvalidArgumentError(fmt::format(
          "line {}: only INSERT INTO {} ... VALUES statements are read as rows", start.line, table));
    const auto& ins = stmt.insert_stmt();
    const std::string schema = ins.relation().schemaname();
    if (ins.relation().relname() != (*names)[1] || (!schema.empty() && schema != (*names)[0]))
      return absl::InvalidArgumentError(fmt::format("line {}: the statement inserts into {}, not {}", start.line,
                                                    schema.empty() ? ins.relation().relname()
                                                                   : schema + "." + ins.relation().relname(),
                                                    table));
    std::vector<std::string> cols;
    for (const auto& c : ins.cols()) cols.push_back(c.res_target().name());
    if (cols.empty())
      for (const auto& c : columns) cols.push_back(c.name);
    if (header.empty()) {
      header = cols;
      for (size_t c = 0; c < cols.size(); ++c) {
        if (c) csv.push_back(',');
        AppendQuotedCsv(cols[c], &csv);
      }
      csv.push_back('\n');
      sql_line[1] = start.line;
    } else if (cols != header) {
      return absl::InvalidArgumentError(fmt::format(
          "line {}: every statement must name the same columns, in the same order, as the first", start.line));
    }
    for (const auto& list : ins.select_stmt().select_stmt().values_lists()) {
      const auto& items = list.list().items();
      int row_location = -1;
      std::string line;
      for (int c = 0; c < items.size(); ++c) {
        Value v;
        int location = -1;
        if (!ConstantText(items[c], &v, &location))
          return absl::InvalidArgumentError(fmt::format("{}: only constants are read as rows (value {} of the row)",
                                                        where(i, NodeLocation(items[c])), c + 1));
        if (row_location < 0) row_location = location;
        if (c) line.push_back(',');
        if (v) AppendQuotedCsv(*v, &line);
      }
      csv += line;
      csv.push_back('\n');
      sql_line.push_back(lines.At(parsed->StatementOffset(i) + std::max(row_location, 0)).line);
      if (sql_line.size() > kMaxRows + 2)
        return absl::ResourceExhaustedError(
            fmt::format("more than {} rows: reference data is bounded to {} rows per table", kMaxRows, kMaxRows));
    }
  }
  if (header.empty()) return absl::InvalidArgumentError("no INSERT statement: no rows were given");
  auto rows = ParseCsv(csv, columns, key);
  if (rows.ok()) return rows;
  // "line N..." of the CSV is line sql_line[N] of the SQL.
  std::string message(rows.status().message());
  int n = 0;
  size_t digits = 0;
  if (message.rfind("line ", 0) == 0) {
    while (5 + digits < message.size() && std::isdigit(static_cast<unsigned char>(message[5 + digits]))) ++digits;
    if (digits && absl::SimpleAtoi(message.substr(5, digits), &n) && n > 0 && static_cast<size_t>(n) < sql_line.size()) {
      std::string rest = message.substr(5 + digits);
      // "column K" of the CSV is the K-th value of the row.
      if (rest.rfind(", column ", 0) == 0) rest = ", value " + rest.substr(9);
      // "key (a) repeats line M": M too.
      if (size_t at = rest.find("repeats line "); at != std::string::npos) {
        int m = 0;
        if (absl::SimpleAtoi(rest.substr(at + 13), &m) && m > 0 && static_cast<size_t>(m) < sql_line.size())
          rest = absl::StrCat(rest.substr(0, at + 13), sql_line[static_cast<size_t>(m)]);
      }
      message = absl::StrCat("line ", sql_line[static_cast<size_t>(n)], rest);
    }
  }
  return absl::Status(rows.status().code(), message);
}

}  // namespace strata::refdata
