// Object definitions as Strata versions them, to and from catalog models.
//
// Strata versions one definition per object (design.md): a CREATE statement
// plus statements about the same object (its constraints, comments, row
// security, sequence ownership). This component
//  * cuts a catalog model into such definitions (import of a live
//    environment, capture of one object's current definition);
//  * loads a set of definitions, in any order, into a shadow database and
//    reads its catalog (what an environment holding those versions looks
//    like), letting PostgreSQL itself say what depends on what;
//  * compares an expected catalog with a live one, object by object, in
//    words a DBA can act on (drift).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "schemadiff/catalog.h"
#include "schemadiff/source.h"

namespace strata::schemadiff {

// Whether Strata versions this kind of catalog object (directly, or as part
// of another object's definition). Operators, text search objects and
// aggregates are not managed: imports skip them and drift ignores them.
bool IsManaged(const Object& object, const Catalog& catalog);

struct ObjectDefinition {
  std::string object;  // Strata object id, e.g. "table:sales.orders"
  std::string sql;     // statements, each ending in ";\n"
};

struct CatalogDefinitions {
  std::vector<ObjectDefinition> objects;  // sorted by object id
  std::vector<std::string> skipped;       // "<catalog key>: why"
};

// One definition per managed object of `catalog` (the schema "public" and the
// extension plpgsql, which every database has, are left out). Strata ids come from analyzing each
// definition, so they are spelled as check-ins spell them.
CatalogDefinitions DefinitionsOf(const Catalog& catalog);

// A definition to load; `label` names it in errors ("table:sales.orders v3").
struct LabelledSql {
  std::string label;
  std::string sql;
};

// Loads `definitions` into a new shadow database and returns its catalog.
// First every definition's CREATE statement, then the statements about the
// objects (constraints, comments, ...); a statement that fails because
// something it needs does not exist yet is retried after the others, round
// after round, until all succeeded or a round makes no progress. INVALID_ARGUMENT names the definition, its line and
// column and PostgreSQL's message when one cannot be loaded.
absl::StatusOr<Catalog> LoadDefinitions(const std::vector<LabelledSql>& definitions,
                                        const ShadowOptions& shadow);

// Two sets at once (two shadows, in parallel).
absl::StatusOr<std::pair<Catalog, Catalog>> LoadDefinitionSets(const std::vector<LabelledSql>& a,
                                                               const std::vector<LabelledSql>& b,
                                                               const ShadowOptions& shadow);

// The managed objects in which `actual` differs from `expected`, one line
// each, e.g.
//   "table public.orders: column note (text) is there but not expected"
//   "index public.orders_by_day: expected but missing"
// Empty: no drift.
std::vector<std::string> DescribeDrift(const Catalog& expected, const Catalog& actual);

}  // namespace strata::schemadiff
