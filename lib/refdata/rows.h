// Reference data (issue 22): the rows of a tracked table as a keyed set, read
// from CSV, compared with another version of the same table, and turned into
// the INSERT / UPDATE / DELETE statements that take a database from one to
// the other (and back, for rollback scripts).
//
// Contract:
//  * A RowSet holds the rows of one table: its columns (in the table's
//    order), which of them are the key, and each row's values as text in
//    PostgreSQL's input format (NULL as nullopt), ordered by key. Keys are
//    unique; a row has a value (or NULL) for every column.
//  * ParseCsv reads RFC 4180 CSV with a header (quoted fields may hold
//    commas, quotes doubled, line breaks; an unquoted empty field is NULL,
//    a quoted empty field is the empty string). Columns the header does not
//    name are NULL. INVALID_ARGUMENT names the line and column of what is
//    wrong: a header naming a column the table lacks or missing a key
//    column, a row with the wrong number of fields, a NULL or duplicate key,
//    a value its column's type cannot take (integers, numeric, boolean,
//    date, uuid are checked here; PostgreSQL checks the rest when the rows
//    are proven or deployed). RESOURCE_EXHAUSTED above kMaxRows rows.
//  * Canonical is a CSV text of the set (header, rows by key, every value
//    quoted, NULL as an unquoted empty field): equal sets give equal texts,
//    and ParseCsv(Canonical(s)) == s. Versions are stored, hashed and
//    compared in this form.
//  * Diff and Statements are pure; statements name the table as given
//    (qualified and quoted by the caller) and quote values as literals, cast
//    to the column's type when it is a built-in one (other types are
//    coerced by PostgreSQL to the column, under any search_path).
//
// Thread-safety: values and pure functions; no shared state.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::refdata {

inline constexpr size_t kMaxRows = 100000;

struct Column {
  std::string name;
  std::string type;  // as the table's definition says, e.g. "integer", "numeric(12,2)", "text"
};

using Value = std::optional<std::string>;  // nullopt: NULL
using Row = std::vector<Value>;            // one value per column, in column order

struct RowSet {
  std::vector<Column> columns;
  std::vector<size_t> key;  // indexes into columns
  // Rows by their key's values (in key order).
  std::map<std::vector<std::string>, Row> rows;

  std::vector<std::string> KeyOf(const Row& row) const;
};

absl::StatusOr<RowSet> ParseCsv(std::string_view csv, const std::vector<Column>& columns,
                                const std::vector<std::string>& key);

std::string Canonical(const RowSet& rows);

// Appends `text` as a quoted CSV field (quotes doubled), as Canonical writes values.
void AppendQuotedCsv(const std::string& text, std::string* out);

struct RowChange {
  std::vector<std::string> key;
  Row before, after;             // before: empty for an insert; after: empty for a delete
  std::vector<size_t> changed;   // updates: the columns whose values differ
};
struct RowDiff {
  std::vector<RowChange> inserted, updated, deleted;  // each in key order
  bool empty() const { return inserted.empty() && updated.empty() && deleted.empty(); }
};

// From `from` to `to` (the same key columns; INVALID_ARGUMENT otherwise).
// The changes are in `to`'s shape: when `from` has other columns (read
// against another definition of the table), its columns are matched by
// name, those only `from` has are ignored, and those only `to` has are
// written in every row both hold (their values there are unknown).
absl::StatusOr<RowDiff> Diff(const RowSet& from, const RowSet& to);

// `rows` with only the columns named in `names` (in that order; names it
// lacks are skipped). INVALID_ARGUMENT when a key column is not kept.
absl::StatusOr<RowSet> Project(const RowSet& rows, const std::vector<std::string>& names);

// The statements that apply `diff` to `table` (as SQL names it, e.g.
// "sales.status_codes"): deletes first, then updates, then inserts, so a
// key that moves from one row to another never collides. Inserts say
// OVERRIDING SYSTEM VALUE, so identity columns take the rows' values.
std::vector<std::string> Statements(const RowDiff& diff, const RowSet& shape, const std::string& table);

}  // namespace strata::refdata
