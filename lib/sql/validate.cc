#include "sql/validate.h"

extern "C" {
#include <pg_query.h>
}

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace strata::sql {

LineColumn LineColumnAt(std::string_view text, int offset) {
  LineColumn lc;
  // pg_query reports cursor positions in characters; count UTF-8 code points.
  int chars = 0;
  for (size_t i = 0; i < text.size() && chars < offset - 1; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    ++chars;
    if (c == '\n') {
      ++lc.line;
      lc.column = 1;
    } else {
      ++lc.column;
    }
  }
  return lc;
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
