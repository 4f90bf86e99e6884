// Parsing SQL with libpg_query: PostgreSQL's raw parse tree as protobuf
// messages (package pg_query), with statement boundaries and errors that
// carry the line and column of the problem.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pg_query/pg_query.pb.h"
#include "sql/validate.h"

namespace strata::sql {

class ParsedSql {
 public:
  // Parses `sql` as PostgreSQL 15 would. INVALID_ARGUMENT carries the
  // parser's message and the 1-based line and column of the error.
  static absl::StatusOr<ParsedSql> Parse(std::string_view sql);

  int size() const { return tree_->stmts_size(); }
  const pg_query::Node& statement(int i) const { return tree_->stmts(i).stmt(); }
  // Byte offset and source text of statement i (without the ';').
  int StatementOffset(int i) const;
  std::string_view StatementText(int i) const;
  // Line and column where statement i begins (skipping leading blanks and comments
  // is the parser's doing: it reports where the statement's first token is).
  LineColumn StatementStart(int i) const;
  const std::string& source() const { return *source_; }

 private:
  std::unique_ptr<std::string> source_;
  std::unique_ptr<pg_query::ParseResult> tree_;
};

// Whether an expression calls a function whose result differs per row
// (random(), gen_random_uuid(), clock_timestamp(), nextval(), ...).
bool CallsVolatileFunction(const google::protobuf::Message& expr);

// Line and column of a byte offset into `text` (columns count characters).
LineColumn LineColumnAtByte(std::string_view text, int byte_offset);

// "(line L, column C)" for a byte offset into `text`.
std::string WhereInText(std::string_view text, int byte_offset);

}  // namespace strata::sql
