#include "sql/validate.h"

#include "sql/parse.h"

extern "C" {
#include <pg_query.h>
}

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace strata::sql {

LineColumn LineColumnAt(std::string_view text, int offset) {
  // pg_query reports cursor positions in characters (1-based).
  return LineColumnAtByte(text, offset > 0 ? CharPosToByte(text, offset) : 0);
}

absl::Status ValidateSql(std::string_view sql) {
  const std::string text(sql);
  PgQueryParseResult result = pg_query_parse(text.c_str());
  absl::Status status = absl::OkStatus();
  if (result.error) {
    const LineColumn lc = LineColumnAt(text, result.error->cursorpos);
    status = absl::InvalidArgumentError(
        result.error->cursorpos > 0
            ? fmt::format("{} (line {}, column {})", result.error->message, lc.line, lc.column)
            : std::string(result.error->message));
  } else {
    auto tree = nlohmann::json::parse(result.parse_tree, nullptr, /*allow_exceptions=*/false);
    if (tree.is_discarded() || !tree.contains("stmts") || tree["stmts"].empty())
      status = absl::InvalidArgumentError("the definition contains no SQL statement");
  }
  pg_query_free_parse_result(result);
  return status;
}

}  // namespace strata::sql
