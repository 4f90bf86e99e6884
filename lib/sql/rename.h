// Renaming an object in its own definition: the text Strata stores for an
// object after `strata rename`, so that the renamed object's versions read
// like any other (CREATE TABLE sales.invoices ..., COMMENT ON TABLE
// sales.invoices ...).
//
// Contract:
//  * In every statement of the definition, the name of the object the
//    statement is about (the first name in it that spells `from`, schema-
//    qualified or, when `from`'s schema is the first of the search path,
//    unqualified; in COMMENT ON COLUMN the table part of "table.column") and
//    every REFERENCES naming `from` (a table's foreign keys to itself) are
//    replaced by `to`'s name. Nothing else changes: layout, comments, other
//    names and function bodies are kept byte for byte (a body that names
//    its own function is what `strata impact OBJ --rename` reports).
//  * A qualified name is replaced by a qualified one; an unqualified one
//    stays unqualified when `to` is in the same schema.
//  * INVALID_ARGUMENT when the definition does not parse, when `from` and
//    `to` differ in kind, or when the result does not define `to` (say,
//    the CREATE statement never names `from`).
//
// Thread-safety: a function, no shared state.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "model/object_id.h"
#include "sql/analyze.h"

namespace strata::sql {

// The same rewrite in the definition of another object that names `from`
// first in each statement (an index or a trigger ON the table): the names
// are replaced, nothing is checked about what the result defines.
absl::StatusOr<std::string> RenameReferences(std::string_view sql, const model::ObjectId& from,
                                             const model::ObjectId& to, const AnalyzeOptions& options = {});

// A schema renamed: in every dotted name of the text whose first part is
// `from_schema`, that part becomes `to_schema` (both spelled as ids spell
// identifiers, quoted when needed), and so in string constants cast to
// regclass, regtype, regproc or regprocedure ('sales.s'::regclass, as
// PostgreSQL writes column defaults). Other string constants and function
// bodies are kept byte for byte; unqualified names are left alone.
// INVALID_ARGUMENT when the text does not scan.
absl::StatusOr<std::string> RenameSchemaReferences(std::string_view sql, const std::string& from_schema,
                                                   const std::string& to_schema);

// The renamed definition with its analysis (what AnalyzeDefines says of it
// as a definition of `to`).
struct RenamedDefinition {
  std::string sql;
  ObjectInfo info;
};
absl::StatusOr<RenamedDefinition> RenameInDefinition(std::string_view sql, const model::ObjectId& from,
                                                     const model::ObjectId& to, const AnalyzeOptions& options = {});

}  // namespace strata::sql
