// Renames in a diff: hints that say an object (or a column) of FROM is an
// object of TO under another name, so the script renames it and keeps its
// rows instead of dropping and creating it; and, without hints, the renames
// the two catalogs suggest (same shape, one dropped and one created), which
// are only ever listed, never applied.
//
// How a hinted diff is computed: FROM is re-created in a shadow database,
// the RENAME statements run there (PostgreSQL rewrites the views, indexes,
// constraints and defaults that refer to the renamed object), and the
// renamed catalog is diffed against TO. The script is the RENAME statements
// followed by that diff; its rollback, the diff back followed by the RENAMEs
// back, in reverse order.
//
// Thread-safety: functions only, no shared state.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "schemadiff/catalog.h"
#include "schemadiff/diff.h"
#include "schemadiff/source.h"

namespace strata::schemadiff {

struct Rename {
  // table, view, materialized_view, sequence, function, procedure, type,
  // schema; or column (from: "schema.table.column" naming the table as it is
  // after the object renames; to: the new column name); or value, an enum
  // label (from: "schema.type.label", the type as it is after the object
  // renames; to: the new label).
  std::string kind;
  std::string from;  // "schema.name"; functions with their argument types: "s.f(integer)"; schemas: "name"
  std::string to;    // "schema.name" (another schema moves it); schemas and columns: the new name
};

// Parses "--rename KIND:FROM=TO" ("table:a.b=a.c"), "--rename-column
// S.T.C=NEW" ("a.c.x=y") and "--rename-value S.TYPE.LABEL=NEW" (the label is
// what follows the type's two names, dots included). INVALID_ARGUMENT says
// what the form is.
absl::StatusOr<Rename> ParseObjectRename(const std::string& text);
absl::StatusOr<Rename> ParseColumnRename(const std::string& text);
absl::StatusOr<Rename> ParseValueRename(const std::string& text);

// Renames where each object names its own FROM (as a deployment plans them)
// put in an order that runs: schema renames first; then the others, in order,
// an object in a renamed schema named as it is after that rename (FROM
// "sales.orders" with schema:sales=shop becomes "shop.orders") and left out
// when the schema rename alone moves it to TO; columns and labels as given.
std::vector<Rename> InSchemaOrder(const std::vector<Rename>& renames);

// The statements that perform the renames, in order, and those that undo them
// (to run in that order, after the rest of a rollback).
std::vector<std::string> RenameStatements(const std::vector<Rename>& renames);
std::vector<std::string> UndoRenameStatements(const std::vector<Rename>& renames);

// `from` with the renames applied, by PostgreSQL in a shadow database.
// INVALID_ARGUMENT when a rename does not apply (no such object or column),
// naming it.
absl::StatusOr<Catalog> ApplyRenames(const Catalog& from, const std::vector<Rename>& renames,
                                     const ShadowOptions& shadow);

// The plan from `from` to `to` with the renames: their statements first (or,
// reverse, the diff from `to` back to the renamed `from`, then the undoing
// statements). Counts renames as altered.
absl::StatusOr<Plan> DiffWithRenames(const Catalog& from, const Catalog& to, const std::vector<Rename>& renames,
                                     const ShadowOptions& shadow, const DiffOptions& options, bool reverse);

// Likely renames the diff from `from` to `to` would otherwise drop and
// create: a table or view dropped and one created with the same columns
// (names and types), and within a table kept by name, one column dropped
// and one added of the same type. Each as the hint that would apply it
// ("--rename table:a.b=a.c", "--rename-column a.t.x=y").
std::vector<std::string> SuggestRenames(const Catalog& from, const Catalog& to);

}  // namespace strata::schemadiff
