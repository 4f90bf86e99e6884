// Dependency order of a set of objects: the order in which to create them,
// shared by impact analysis and deployment.
//
// Contract:
//  * Every object comes after the objects it depends on (within the set;
//    dependencies outside the set are ignored).
//  * Foreign keys that close a cycle (tables referencing each other) cannot
//    be created inline: those foreign keys become separate steps ("add the
//    constraint") after both tables, and the tables are created without them.
//    Only foreign keys inside a cycle are split out.
//  * Soft dependencies (e.g. a PL/pgSQL body calling another function, which
//    PostgreSQL does not check at CREATE time) order the objects when they
//    can and are ignored when they form a cycle.
//  * Any other cycle is FAILED_PRECONDITION naming it.
//  * Deterministic: among objects that may go next, the one of the earliest
//    kind (schemas, extensions, types, sequences, tables, functions, views,
//    ...) and then the smallest id goes first.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::sql {

struct OrderInput {
  std::string id;    // object id, e.g. "table:sales.orders"
  std::string kind;  // object kind, e.g. "table"
  std::vector<std::string> depends_on;       // hard dependencies (object ids)
  std::vector<std::string> soft_depends_on;  // may be ignored to break a cycle
  struct ForeignKeyEdge {
    std::string constraint;  // constraint name (may be empty)
    std::string references;  // the referenced table's object id
  };
  std::vector<ForeignKeyEdge> foreign_keys;
};

struct OrderStep {
  std::string object;
  // Empty: create the object. Otherwise: add this foreign key of `object`
  // (split out of a cycle) referencing `references`.
  std::string constraint;
  std::string references;
  bool split_constraint() const { return !references.empty(); }
};

absl::StatusOr<std::vector<OrderStep>> OrderByDependency(const std::vector<OrderInput>& objects);

// Rank of a kind in the creation order (schemas first).
int KindRank(const std::string& kind);

}  // namespace strata::sql
