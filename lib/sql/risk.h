// What a proposed change to one object does, and how risky it is to run on a
// live database, in the spirit of PostgreSQL migration linters (squawk,
// strong_migrations): each finding has a code, a severity and a one-line
// reason.
//
// A proposal is either a new full definition of the object (CREATE ... /
// CREATE OR REPLACE ...), compared with the current one, or migration
// statements about the object (ALTER TABLE, DROP, RENAME, CREATE INDEX).
//
// Rules (code: severity):
//   drop-table, drop-column                         high   data is lost
//   drop-object                                     medium a view, function, type ... is dropped
//   narrow-column-type                              high   values may not fit; rewrite
//   change-column-type                              high   rewrite under ACCESS EXCLUSIVE lock
//                                                   low    when PostgreSQL needs no rewrite
//                                                          (varchar(n) -> varchar(m>n), -> text, ...)
//   add-not-null-without-default                    high   fails on a table with rows
//   set-not-null                                    medium full scan under ACCESS EXCLUSIVE lock
//   volatile-default-rewrite                        high   ADD COLUMN ... DEFAULT random() rewrites
//   index-without-concurrently                      medium blocks writes while it builds
//   constraint-without-not-valid                    medium validates every row under lock
//   rename-column, rename-object                    medium clients using the old name break
//   function-return-type-change                     medium needs DROP + CREATE
//   enum-value-removed                              high   needs the type rebuilt
// With the object's dependents (DependentUse), BreakingDependents adds:
//   rename-breaks-dependents                        high   bodies that use the old name break
//   drop-function-in-use                            high   views or triggers still call it
//   drop-in-use                                     high   other objects still use what is dropped
//   column-change-breaks-dependents                 high   dependents use a dropped/changed column
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sql/analyze.h"

namespace strata::sql {

enum class Severity { kLow, kMedium, kHigh };
const char* SeverityName(Severity s);

struct Finding {
  std::string code;
  Severity severity = Severity::kLow;
  std::string object;  // object id
  std::string reason;  // one line
};

struct ColumnTypeChange {
  std::string column, from, to;
  bool narrowing = false;
  bool rewrite = true;
};

struct ProposedChange {
  model::ObjectId object;
  bool creates = false;       // the object does not exist yet
  bool drops_object = false;
  std::string renamed_to;     // the object's new name (RENAME TO)
  std::vector<std::string> dropped_columns;
  std::vector<std::pair<std::string, std::string>> renamed_columns;  // old, new
  std::vector<ColumnTypeChange> type_changes;
  bool return_type_changed = false;
  // The object's model after the change, when it still exists.
  std::optional<ObjectInfo> after;
  std::vector<Finding> findings;
};

// Describes `proposed` (see above) against `before`, the object's current
// model (null: the object does not exist yet). INVALID_ARGUMENT when it does
// not parse (line, column) or is about another object.
absl::StatusOr<ProposedChange> DescribeChange(const model::ObjectId& object, const ObjectInfo* before,
                                              std::string_view proposed, const AnalyzeOptions& options = {});

// A new full definition against the current one, both analyzed already
// (what DescribeChange does for a CREATE, without parsing either again).
ProposedChange DescribeDefinitionChange(const ObjectInfo& before, const ObjectInfo& after);

// Dropping `object` (what `DROP ...` about it describes), with its finding.
ProposedChange DropChange(const model::ObjectId& object);

// The statements that rename `object` to `to` ("name", or "schema.name" to
// move it to another schema): ALTER ... SET SCHEMA and/or ALTER ... RENAME
// TO. INVALID_ARGUMENT for kinds PostgreSQL renames otherwise (indexes,
// triggers and constraints go with their table) or an empty name.
absl::StatusOr<std::vector<std::string>> RenameStatements(const model::ObjectId& object, std::string_view to);

// How one dependent uses the changed object (an edge of the graph).
struct DependentUse {
  std::string object;  // dependent's id
  std::string kind;    // dependent's kind
  std::vector<std::string> columns;
  bool all_columns = false;
  std::vector<std::string> via;  // e.g. "from", "body", "trigger function"
};

struct Breakage {
  std::string object;
  std::string reason;
};

// The direct dependents that the change breaks, with why; appends the
// dependency-aware findings to change->findings.
std::vector<Breakage> BreakingDependents(ProposedChange* change, const std::vector<DependentUse>& dependents);

}  // namespace strata::sql
