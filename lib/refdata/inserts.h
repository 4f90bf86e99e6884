// Reference data given as INSERT statements (`strata checkin TABLE --data
// rows.sql`): the rows of `INSERT INTO table [(columns)] VALUES (...), ...`
// read into a RowSet, as ParseCsv reads CSV.
//
// Contract: only INSERT ... VALUES into `table` with constants (numbers,
// strings, booleans, NULL, a constant with a cast) is read; anything else is
// INVALID_ARGUMENT naming the line and column of the SQL where it is, as
// are the errors ParseCsv finds (an unknown column, a missing key column, a
// duplicate or NULL key, a value of the wrong type). RESOURCE_EXHAUSTED
// above kMaxRows rows. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "refdata/rows.h"

namespace strata::refdata {

// Whether the text's first token (after blanks and comments) is INSERT.
bool LooksLikeInserts(std::string_view text);

// `table` as Strata spells it ("sales.codes"); the statements may name it
// with or without its schema.
absl::StatusOr<RowSet> ParseInserts(std::string_view sql, const std::string& table,
                                    const std::vector<Column>& columns, const std::vector<std::string>& key);

}  // namespace strata::refdata
