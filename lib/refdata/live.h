// Reference data in a live PostgreSQL database (issue 22): reading a tracked
// table's rows, comparing them with a data version, and finding the rows of
// other tables that a delete would leave without their referenced row.
//
// Contract:
//  * `table` is a qualified name as Strata's ids spell it ("sales.codes",
//    identifiers quoted where PostgreSQL needs it); it is used in SQL as is.
//  * ReadRows reads the named columns as PostgreSQL prints them (its text
//    output), keyed by `key`. NOT_FOUND when the table does not exist;
//    INVALID_ARGUMENT naming a column the table lacks or a row whose key is
//    NULL; RESOURCE_EXHAUSTED above kMaxRows rows.
//  * CompareRows compares in the database, by each column's own type, so a
//    version written "1.5" equals a numeric(12,2) holding 1.50: the rows
//    missing there, those not expected, and the columns that differ, by key.
//    Types without an equality operator (json, xml, geometric) are compared
//    as text. INVALID_ARGUMENT when a value of the version does not fit its
//    column's type there.
//  * RowsReferencing counts, per foreign key that references the table,
//    the rows that reference one of `deleted` (the rows a delete removes).
//  * Failures of the connection are UNAVAILABLE (pg.h).
//
// Thread-safety: functions over a caller's session; a session is used by one
// thread at a time.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/pg.h"
#include "refdata/rows.h"

namespace strata::refdata {

// The table's columns (name, format_type) in order; NOT_FOUND when it does not exist.
absl::StatusOr<std::vector<Column>> LiveColumns(pg::Session& session, const std::string& table);

absl::StatusOr<RowSet> ReadRows(pg::Session& session, const std::string& table, const std::vector<Column>& columns,
                                const std::vector<std::string>& key);

struct RowDrift {
  size_t rows = 0;                 // rows that differ (missing, unexpected or changed)
  std::vector<std::string> lines;  // at most `limit`, in key order
};
absl::StatusOr<RowDrift> CompareRows(pg::Session& session, const std::string& table, const RowSet& expected,
                                     size_t limit);

struct Referencing {
  std::string constraint;  // the foreign key's name
  std::string table;       // the referencing table, as PostgreSQL names it
  std::string on_delete;   // "no action", "restrict", "cascade", "set null", "set default"
  long long rows = 0;      // its rows that reference a deleted row
};
absl::StatusOr<std::vector<Referencing>> RowsReferencing(pg::Session& session, const std::string& table,
                                                         const RowSet& shape, const std::vector<RowChange>& deleted);

// A PostgreSQL array literal of text values (NULL elements for nullopt).
std::string TextArray(const std::vector<Value>& values);

}  // namespace strata::refdata
