#include "sql/parse.h"

extern "C" {
#include <pg_query.h>
}

#include "fmt/format.h"

namespace strata::sql {

absl::StatusOr<ParsedSql> ParsedSql::Parse(std::string_view sql) {
  ParsedSql parsed;
  parsed.source_ = std::make_unique<std::string>(sql);
  PgQueryProtobufParseResult result = pg_query_parse_protobuf(parsed.source_->c_str());
  absl::Status status = absl::OkStatus();
  if (result.error) {
    const LineColumn lc = LineColumnAt(*parsed.source_, result.error->cursorpos);
    status = absl::InvalidArgumentError(
        result.error->cursorpos > 0
            ? fmt::format("{} (line {}, column {})", result.error->message, lc.line, lc.column)
            : std::string(result.error->message));
  } else {
    parsed.tree_ = std::make_unique<pg_query::ParseResult>();
    if (!parsed.tree_->ParseFromArray(result.parse_tree.data, static_cast<int>(result.parse_tree.len)))
      status = absl::InternalError("libpg_query returned a parse tree that does not decode");
  }
  pg_query_free_protobuf_parse_result(result);
  if (!status.ok()) return status;
  return parsed;
}

int ParsedSql::StatementOffset(int i) const { return tree_->stmts(i).stmt_location(); }

std::string_view ParsedSql::StatementText(int i) const {
  const auto& raw = tree_->stmts(i);
  const size_t begin = static_cast<size_t>(raw.stmt_location());
  // stmt_len 0 means "to the end of the input".
  const size_t len = raw.stmt_len() == 0 ? std::string::npos : static_cast<size_t>(raw.stmt_len());
  return std::string_view(*source_).substr(begin, len);
}

LineColumn ParsedSql::StatementStart(int i) const {
  // The statement's location points at its start including leading comments
  // and blanks that follow the previous ';'; report the first real character.
  std::string_view text = StatementText(i);
  size_t skip = 0;
  while (skip < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[skip]))) {
      ++skip;
    } else if (text.substr(skip, 2) == "--") {
      const size_t nl = text.find('\n', skip);
      skip = nl == std::string_view::npos ? text.size() : nl + 1;
    } else if (text.substr(skip, 2) == "/*") {
      const size_t end = text.find("*/", skip + 2);
      skip = end == std::string_view::npos ? text.size() : end + 2;
    } else {
      break;
    }
  }
  return LineColumnAtByte(*source_, StatementOffset(i) + static_cast<int>(skip));
}

LineColumn LineColumnAtByte(std::string_view text, int byte_offset) {
  LineColumn lc;
  for (size_t i = 0; i < text.size() && i < static_cast<size_t>(byte_offset); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    if (c == '\n') {
      ++lc.line;
      lc.column = 1;
    } else {
      ++lc.column;
    }
  }
  return lc;
}

std::string WhereInText(std::string_view text, int byte_offset) {
  const LineColumn lc = LineColumnAtByte(text, byte_offset);
  return fmt::format("(line {}, column {})", lc.line, lc.column);
}

}  // namespace strata::sql
