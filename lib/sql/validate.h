// strata_sql: SQL checks built on libpg_query, PostgreSQL's own parser.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace strata::sql {

// Parses `sql` as PostgreSQL would. OK when it is one or more valid
// statements; INVALID_ARGUMENT otherwise, with the parser's message and the
// 1-based line and column of the error, e.g.
//   "syntax error at or near \"FROM\" (line 3, column 7)".
absl::Status ValidateSql(std::string_view sql);

// 1-based line and column of a 1-based character offset into `text`.
struct LineColumn {
  int line = 1;
  int column = 1;
};
LineColumn LineColumnAt(std::string_view text, int offset);

}  // namespace strata::sql
