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

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
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

// Catalogs of definition sets loaded before, by content: the SHA-256 of
// this program (its executable's size and modification time: another build
// may read catalogs differently), the shadow server (its connection string
// and version, asked once per process) and each definition's SQL, in order
// (labels are only for errors). A set's catalog is a function of these, so a
// hit is what loading the set again would give: a release's state, which
// never changes, is loaded once. Only successful loads are kept.
//
// In memory, the `capacity` most recently used catalogs; with `dir`, also
// as files there (<key in hex>.catalog, written whole and renamed into
// place, at most `files` of them, the least recently used go), so a new
// process finds what an earlier one loaded. A file that does not decode is
// a miss (and is replaced). Thread-safe: one mutex for the memory part;
// files are read and written outside it (a rename is atomic).
class CatalogCache {
 public:
  explicit CatalogCache(size_t capacity, std::string dir = "", size_t files = 64)
      : capacity_(capacity), dir_(std::move(dir)), max_files_(files) {}
  std::string KeyOf(const std::vector<LabelledSql>& definitions, const std::string& server);
  std::optional<Catalog> Find(const std::string& key);
  void Put(const std::string& key, const Catalog& catalog);
  uint64_t hits() const;  // from memory or disk
  uint64_t misses() const;

 private:
  std::string ServerVersion(const std::string& server);
  void Remember(const std::string& key, const Catalog& catalog);  // in memory
  std::string PathOf(const std::string& key) const;
  const size_t capacity_;
  const std::string dir_;
  const size_t max_files_;
  mutable absl::Mutex mu_;
  // Most recently used first; `index_` points into it.
  std::list<std::pair<std::string, std::shared_ptr<const Catalog>>> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, decltype(entries_)::iterator> index_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> server_versions_ ABSL_GUARDED_BY(mu_);
  uint64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

// Loads `definitions` into a new shadow database and returns its catalog.
// First every definition's CREATE statement, then the statements about the
// objects (constraints, comments, ...); a statement that fails because
// something it needs does not exist yet is retried after the others, round
// after round, until all succeeded or a round makes no progress. INVALID_ARGUMENT names the definition, its line and
// column and PostgreSQL's message when one cannot be loaded. The shadow is
// pooled when it can be (source.h: each statement under a savepoint, so a
// retried one leaves nothing behind); with `shadow.cache`, a set loaded
// before is not loaded again.
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
