// Parsing SQL with libpg_query: PostgreSQL's raw parse tree as protobuf
// messages (package pg_query), with statement boundaries and errors that
// carry the line and column of the problem.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/arena.h>

#include "absl/status/statusor.h"
#include "pg_query/pg_query.pb.h"
#include "sql/validate.h"

namespace strata::sql {

class ParsedSql {
 public:
  // Parses `sql` as PostgreSQL 15 would. INVALID_ARGUMENT carries the
  // parser's message and the 1-based line and column of the error.
  //
  // Long texts (dumps) are split into statements with PostgreSQL's scanner
  // and the statements parsed one by one, on several threads: libpg_query's
  // protobuf output costs more than linear time in the size of one parse.
  // Locations inside a statement's tree are relative to the statement.
  static absl::StatusOr<ParsedSql> Parse(std::string_view sql);

  // Parsing in parts (for pipelines): statement boundaries by PostgreSQL's
  // scanner as (byte offset, length) pairs, then any range of them parsed
  // on any thread, then the parts merged in order. A part that does not
  // parse on its own is INVALID_ARGUMENT; parse the whole text then (it may
  // hold BEGIN ATOMIC bodies the scanner split wrongly, or a real error).
  using Piece = std::pair<int, int>;
  static absl::StatusOr<std::vector<Piece>> SplitStatements(const std::string& sql);
  static absl::StatusOr<ParsedSql> ParsePieces(std::shared_ptr<const std::string> source,
                                               const std::vector<Piece>& pieces, size_t begin, size_t end);
  static ParsedSql Merge(std::vector<ParsedSql> parts);

  ParsedSql(ParsedSql&&) = default;
  ParsedSql& operator=(ParsedSql&&) = default;
  ~ParsedSql();

  int size() const { return static_cast<int>(statements_.size()); }
  const pg_query::Node& statement(int i) const { return *statements_[i].node; }
  // Byte offset and source text of statement i (without the ';').
  int StatementOffset(int i) const;
  std::string_view StatementText(int i) const;
  // Line and column where statement i begins (skipping leading blanks and comments
  // is the parser's doing: it reports where the statement's first token is).
  LineColumn StatementStart(int i) const;
  // The byte offset in the source where statement i's first token is.
  int StatementStartOffset(int i) const;
  // Line and column in the source of the 1-based character position
  // `char_pos` in statement i (PostgreSQL's error position when that
  // statement ran alone); where the statement begins when char_pos <= 0.
  LineColumn ErrorLocation(int i, int char_pos) const;
  const std::string& source() const { return *source_; }

 private:
  ParsedSql() = default;
  // Parses the whole text in one call (short texts, and the fallback when a
  // statement does not parse on its own, e.g. BEGIN ATOMIC bodies).
  absl::Status ParseWhole();
  // Splits with the scanner and parses statement by statement.
  absl::Status ParseStatements();

  struct Statement {
    const pg_query::Node* node;
    int offset, length;  // in source_; length -1: to the end
  };
  std::shared_ptr<const std::string> source_;
  std::vector<std::unique_ptr<google::protobuf::Arena>> arenas_;
  std::vector<Statement> statements_;
};

// The names a node spells (a List of Strings, a String, ObjectWithArgs'
// name, a TypeName, a RangeVar), as the parser folded them.
std::vector<std::string> NamesOf(const pg_query::Node& n);
std::vector<std::string> RangeVarNames(const pg_query::RangeVar& rv);

// Byte offset of the `char_pos`-th character (1-based) of `text`; the end
// of the text when it has fewer characters.
int CharPosToByte(std::string_view text, int char_pos);

// Whether a statement creates an object (CREATE TABLE, VIEW, FUNCTION, ...).
bool IsDefinitionStatement(const pg_query::Node& stmt);

// Whether an expression calls a function whose result differs per row
// (random(), gen_random_uuid(), clock_timestamp(), nextval(), ...).
bool CallsVolatileFunction(const google::protobuf::Message& expr);

// Line and column of a byte offset into `text` (columns count characters).
LineColumn LineColumnAtByte(std::string_view text, int byte_offset);

// Line and column of byte offsets in one text, each in O(log lines) (as
// LineColumnAtByte, which scans from the start). Keeps a view of `text`.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text);
  LineColumn At(int byte_offset) const;

 private:
  std::string_view text_;
  std::vector<size_t> starts_;  // byte offset of each line's start
};

// "(line L, column C)" for a byte offset into `text`.
std::string WhereInText(std::string_view text, int byte_offset);

}  // namespace strata::sql
