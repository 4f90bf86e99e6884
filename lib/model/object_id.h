// strata_model: names of the things Strata manages.
//
// An object id is "<kind>:<schema>.<name>", e.g. "table:sales.orders",
// "function:sales.total(integer)"; schemas and extensions have no schema part
// ("schema:sales"). Identifiers follow PostgreSQL: unquoted ones are folded to
// lower case, quoted ones keep their spelling. The canonical form quotes only
// identifiers that need it, so one object has exactly one id.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::model {

struct ObjectId {
  std::string kind;    // one of ObjectKinds(); empty in an unresolved reference
  std::string schema;  // empty for kinds "schema" and "extension"
  std::string name;    // for functions/procedures: "name(argtype,...)"

  // "schema.name" (or "name" for schema-less kinds).
  std::string QualifiedName() const;
  // "kind:schema.name".
  std::string ToString() const;
  // The event-log aggregate of this object: "object:" + ToString().
  std::string Aggregate() const;
  bool operator==(const ObjectId&) const = default;
};

// The kinds of object Strata versions.
const std::vector<std::string>& ObjectKinds();

// Parses a full id ("table:sales.orders"). INVALID_ARGUMENT names what is wrong.
absl::StatusOr<ObjectId> ParseObjectId(std::string_view text);

// Parses what a user typed: a full id, or a name without kind ("sales.orders",
// or "orders" meaning `default_schema`.orders). Without a kind, `kind` is empty
// and the caller resolves it against known objects.
absl::StatusOr<ObjectId> ParseObjectRef(std::string_view text,
                                        std::string_view default_schema = "public");

// Splits "a.b" at dots outside double quotes, folding unquoted parts to lower
// case and unquoting quoted ones ("Sales"."Order" -> Sales, Order).
absl::StatusOr<std::vector<std::string>> SplitIdentifiers(std::string_view text);

// An identifier as the canonical form spells it: quoted only when PostgreSQL
// would need the quotes (upper case, spaces, ...).
std::string QuoteIdentifier(std::string_view ident);

// The canonical spelling of a type name in a signature: lower case, SQL
// names for PostgreSQL's aliases ("int4" and "int" are "integer").
std::string CanonicalTypeName(std::string type);

// Parses an aggregate key "object:<id>" back into an id.
absl::StatusOr<ObjectId> ObjectIdFromAggregate(std::string_view aggregate);

}  // namespace strata::model
