// The impact service's dependency graph as stored in RocksDB, and the
// queries over it. Records (values are strata.internal protos):
//
//   o/<object id>                 ImpactObject: accept-rule facts and the
//                                 model of the latest version (columns,
//                                 signature, references)
//   s/<object id>                 the latest definition (SQL text), apart so
//                                 that walks read small records
//   n/<class><schema.name>        ImpactNames: the objects with that name
//                                 (several for function overloads)
//   d/<class><schema.name>        ImpactDependents: every object that
//                                 references that name, with the columns it
//                                 uses (reverse edges)
//
// <class> is one digit, sql::RefClass. Edges point at names, not ids, so a
// reference made before its target was checked in resolves as soon as it is.
// The same code reads the store through a projection transaction (while
// applying events) and through the database (answering queries).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sql/analyze.h"
#include "sql/order.h"
#include "strata/internal/impact_state.pb.h"
#include "strata/v1/impact.pb.h"

namespace strata::impact {

namespace keys {
std::string Object(const std::string& id);
std::string Definition(const std::string& id);
std::string Names(sql::RefClass cls, const std::string& qualified);
std::string Dependents(sql::RefClass cls, const std::string& qualified);
}  // namespace keys

// The name an object is referenced by: "schema.name" without a function's
// argument list; nullopt for objects nothing references (triggers).
std::optional<std::pair<sql::RefClass, std::string>> NameOf(const std::string& object_id);

// The model of a version, as the analysis produced it, and back.
void StoreModel(const sql::ObjectInfo& info, internal::ImpactObject* o);
sql::ObjectInfo LoadModel(const std::string& id, const internal::ImpactObject& o);

class GraphStore {
 public:
  // Reads one key: nullopt when absent.
  using Getter = std::function<absl::StatusOr<std::optional<std::string>>(const std::string& key)>;
  explicit GraphStore(Getter get) : get_(std::move(get)) {}

  absl::StatusOr<std::optional<internal::ImpactObject>> Object(const std::string& id) const;
  absl::StatusOr<std::vector<std::string>> Named(sql::RefClass cls, const std::string& qualified) const;
  absl::StatusOr<internal::ImpactDependents> DependentsOfName(sql::RefClass cls, const std::string& qualified) const;

  // The objects a reference points at (empty: unknown). A function call
  // matches the overloads with its number of arguments when there are several.
  absl::StatusOr<std::vector<std::string>> Targets(const internal::ImpactReference& ref) const;
  // The edges into an object (its direct dependents).
  absl::StatusOr<std::vector<internal::ImpactEdge>> DirectDependents(const std::string& id) const;

  // A catalog for the SQL analysis backed by this store (read errors count
  // as "not known").
  sql::Catalog MakeCatalog() const;

  // Breadth-first walks from `id`, to `depth` levels (0: all).
  absl::StatusOr<v1::DependencyTree> Dependencies(const std::string& id, uint32_t depth) const;
  absl::StatusOr<v1::DependencyTree> Dependents(const std::string& id, uint32_t depth) const;
  // Dependents of several objects (excluding them), to `depth` levels.
  absl::StatusOr<std::vector<v1::Dependency>> DependentsOfSet(const std::vector<std::string>& ids,
                                                              uint32_t depth) const;

  // The ordering input of a stored object: hard, soft (PL/pgSQL bodies) and
  // foreign-key dependencies as object ids.
  absl::StatusOr<sql::OrderInput> OrderInputOf(const std::string& id, const internal::ImpactObject& o) const;

 private:
  // A tree with the object's id, version and notes, and no nodes yet.
  absl::StatusOr<v1::DependencyTree> TreeOf(const std::string& id) const;

  Getter get_;
};

}  // namespace strata::impact
