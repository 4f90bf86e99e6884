// Canonical form of a definition, so that whitespace, comments and the case
// of keywords and unquoted names are not changes.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace strata::sql {

// The definition's tokens as PostgreSQL's scanner reads them, joined by one
// space: comments dropped, keywords and unquoted identifiers in lower case,
// a trailing ';' dropped. The bodies of CREATE FUNCTION / PROCEDURE / DO
// (dollar-quoted) are normalized the same way, so reindenting a PL/pgSQL
// body is not a change either. Literals are kept exactly: 'A' and 'a'
// differ. INVALID_ARGUMENT when the text does not scan (e.g. an unterminated
// quote), with line and column.
absl::StatusOr<std::string> NormalizeSql(std::string_view sql);

// SHA-256 (lowercase hex) of NormalizeSql(sql): equal for definitions that
// differ only in layout and comments.
absl::StatusOr<std::string> Fingerprint(std::string_view sql);

}  // namespace strata::sql
