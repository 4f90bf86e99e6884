#include "sql/validate.h"

#include "sql/parse.h"

extern "C" {
#include <pg_query.h>
}

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace strata::sql {

LineColumn LineColumnAt(std::string_view text, int offset) {
  // pg_query reports cursor positions in characters (1-based); find the byte.
  int chars = 0;
  size_t byte = 0;
  for (; byte < text.size() && chars < offset - 1; ++byte)
    if ((static_cast<unsigned char>(text[byte]) & 0xC0) != 0x80) ++chars;
  while (byte < text.size() && (static_cast<unsigned char>(text[byte]) & 0xC0) == 0x80) ++byte;
  return LineColumnAtByte(text, static_cast<int>(byte));
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
