// The catalog reader of catalog.h, shared by its files; not a public header
// (nothing outside lib/schemadiff includes it).
//
//   catalog.cc           ReadCatalog (the order of the reads, one snapshot),
//                        signatures and CREATE TABLE, which need every column
//   catalog_relations.cc extensions, schemas, types, tables and their
//                        columns, sequences, constraints, indexes, views
//   catalog_routines.cc  functions, triggers, policies, operators, text
//                        search, comments, and the dependencies between all
//
// Thread-safety: a Reader is used by one thread, on one session.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "pg/pg.h"
#include "schemadiff/catalog.h"

namespace strata::schemadiff::catalog_internal {

using pg::Rows;

// Catalog OIDs of the system tables pg_depend and pg_description refer to;
// fixed by PostgreSQL (they are in its catalog headers, not assigned).
constexpr uint32_t kPgClass = 1259, kPgType = 1247, kPgProc = 1255, kPgNamespace = 2615,
                   kPgConstraint = 2606, kPgTrigger = 2620, kPgAttrdef = 2604, kPgRewrite = 2618,
                   kPgExtension = 3079, kPgOperator = 2617, kPgPolicy = 3256, kPgTsParser = 3601,
                   kPgTsDict = 3600, kPgTsConfig = 3602;

// Schemas that are PostgreSQL's own, and Strata's guard (services/deploy/guard.h),
// which is infrastructure in an environment, never one of its objects: not
// imported, not drift, never in a plan.
constexpr const char* kUserNamespace =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'strata_guard', 'strata_deploy') AND "
    "n.nspname !~ '^pg_(toast_)?temp_'";

using ObjRef = std::pair<uint32_t, uint32_t>;  // (classid, objid)

inline uint32_t Oid(const Rows& r, int i, int c) { return static_cast<uint32_t>(r.number(i, c)); }

// What the reader knows while it builds the model: which key each catalog
// row (classid, objid) stands for, and the column names of relations.
struct Reader {
  pg::Session& session;
  Catalog catalog;
  std::map<ObjRef, std::string> keys;            // catalog row -> object key
  std::map<ObjRef, std::string> extension_of;    // extension members -> "extension x"
  std::map<std::pair<uint32_t, int>, std::string> column_names;  // (relid, attnum) -> quoted name
  std::map<uint32_t, std::string> attrdef_table;  // attrdef oid -> table key
  std::map<uint32_t, std::string> attrdef_column;
  std::map<uint32_t, std::string> rel_qname;     // relation oid -> qualified name
  std::map<uint32_t, char> rel_kind;
  std::set<uint32_t> skipped_relations;          // partitions of indexes, identity sequences

  absl::StatusOr<Rows> Q(const std::string& sql) { return session.Query(sql); }
  Object& Add(Object o) {
    std::string key = o.key;
    return catalog.objects.insert_or_assign(key, std::move(o)).first->second;
  }
  bool IsExtensionMember(uint32_t classid, uint32_t objid) const {
    return extension_of.count({classid, objid}) > 0;
  }

  absl::Status ReadExtensions();
  absl::Status ReadSchemas();
  absl::Status ReadTypes();
  absl::Status ReadRelations();
  absl::Status ReadColumns();
  absl::Status ReadSequences();
  absl::Status ReadConstraints();
  absl::Status ReadIndexes();
  absl::Status ReadViews();
  absl::Status ReadFunctions();
  absl::Status ReadTriggers();
  absl::Status ReadPolicies();
  absl::Status ReadOperators();
  absl::Status ReadTextSearch();
  absl::Status ReadComments();
  absl::Status ReadDependencies();
  void FinishSignatures();
};

#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    if (absl::Status _s = (expr); !_s.ok()) return _s; \
  } while (0)
#define ASSIGN_ROWS(var, sql)                \
  auto var##_or = Q(sql);                    \
  if (!var##_or.ok()) return var##_or.status(); \
  const Rows& var = *var##_or;

}  // namespace strata::schemadiff::catalog_internal
