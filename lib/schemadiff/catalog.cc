#include "schemadiff/catalog.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace strata::schemadiff {
namespace {

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

uint32_t Oid(const Rows& r, int i, int c) { return static_cast<uint32_t>(r.number(i, c)); }

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

absl::Status Reader::ReadExtensions() {
  ASSIGN_ROWS(members,
              "SELECT d.classid, d.objid, quote_ident(e.extname) FROM pg_depend d "
              "JOIN pg_extension e ON e.oid = d.refobjid WHERE d.refclassid = 3079 AND d.deptype = 'e'");
  for (int i = 0; i < members.size(); ++i) {
    extension_of[{Oid(members, i, 0), Oid(members, i, 1)}] = "extension " + members.text(i, 2);
  }
  ASSIGN_ROWS(rows,
              "SELECT e.oid, quote_ident(e.extname), quote_ident(n.nspname) FROM pg_extension e "
              "JOIN pg_namespace n ON n.oid = e.extnamespace");
  for (int i = 0; i < rows.size(); ++i) {
    Object o{.kind = Kind::kExtension, .key = "extension " + rows.text(i, 1), .name = rows.text(i, 1)};
    o.signature = "schema " + rows.text(i, 2);
    o.create = {absl::StrCat("CREATE EXTENSION IF NOT EXISTS ", o.name, " WITH SCHEMA ", rows.text(i, 2))};
    o.drop = "DROP EXTENSION " + o.name;
    o.comment_on = "EXTENSION " + o.name;
    keys[{kPgExtension, Oid(rows, i, 0)}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadSchemas() {
  ASSIGN_ROWS(rows, absl::StrCat("SELECT n.oid, quote_ident(n.nspname) FROM pg_namespace n WHERE ", kUserNamespace));
  for (int i = 0; i < rows.size(); ++i) {
    if (IsExtensionMember(kPgNamespace, Oid(rows, i, 0))) continue;
    Object o{.kind = Kind::kSchema, .key = "schema " + rows.text(i, 1), .name = rows.text(i, 1)};
    o.create = {"CREATE SCHEMA " + o.name};
    o.drop = "DROP SCHEMA " + o.name;
    o.comment_on = "SCHEMA " + o.name;
    keys[{kPgNamespace, Oid(rows, i, 0)}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadTypes() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT t.oid, quote_ident(n.nspname) || '.' || quote_ident(t.typname), t.typtype, t.typarray, "
      "CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END, t.typnotnull, "
      "pg_get_expr(t.typdefaultbin, 0), "
      "CASE WHEN t.typcollation <> 0 AND t.typcollation <> COALESCE(bt.typcollation, 0) "
      "  THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END, t.typrelid, "
      "r.rngmultitypid, format_type(r.rngsubtype, NULL), "
      "CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::regproc::text END, "
      "CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::regproc::text END, "
      "CASE WHEN r.rngmultitypid <> 0 THEN format_type(r.rngmultitypid, NULL) END "
      "FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
      "LEFT JOIN pg_type bt ON bt.oid = t.typbasetype "
      "LEFT JOIN pg_collation co ON co.oid = t.typcollation LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace "
      "LEFT JOIN pg_range r ON r.rngtypid = t.oid "
      "WHERE ", kUserNamespace, " AND (t.typtype IN ('e', 'd', 'r') OR "
      "(t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))"));
  ASSIGN_ROWS(labels, "SELECT enumtypid, quote_literal(enumlabel) FROM pg_enum ORDER BY enumtypid, enumsortorder");
  std::map<uint32_t, std::vector<std::string>> enum_labels;
  for (int i = 0; i < labels.size(); ++i) enum_labels[Oid(labels, i, 0)].push_back(labels.text(i, 1));
  ASSIGN_ROWS(checks,
              "SELECT contypid, quote_ident(conname), pg_get_constraintdef(oid), oid FROM pg_constraint "
              "WHERE contypid <> 0 ORDER BY contypid, conname");
  std::map<uint32_t, std::vector<std::pair<std::string, std::string>>> domain_checks;
  for (int i = 0; i < checks.size(); ++i) {
    domain_checks[Oid(checks, i, 0)].emplace_back(checks.text(i, 1), checks.text(i, 2));
  }
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t oid = Oid(rows, i, 0);
    if (IsExtensionMember(kPgType, oid)) continue;
    Object o{.kind = Kind::kType, .key = "type " + rows.text(i, 1), .name = rows.text(i, 1)};
    o.subkind = rows.text(i, 2)[0];
    o.claims = {"type " + o.name};
    o.comment_on = (o.subkind == 'd' ? "DOMAIN " : "TYPE ") + o.name;
    keys[{kPgType, oid}] = o.key;
    if (uint32_t arr = Oid(rows, i, 3)) keys[{kPgType, arr}] = o.key;
    if (uint32_t multi = Oid(rows, i, 9)) keys[{kPgType, multi}] = o.key;
    if (uint32_t rel = Oid(rows, i, 8)) keys[{kPgClass, rel}] = o.key;
    o.drop = (o.subkind == 'd' ? "DROP DOMAIN " : "DROP TYPE ") + o.name;
    switch (o.subkind) {
      case 'e':
        o.labels = enum_labels[oid];
        o.signature = "enum (" + absl::StrJoin(o.labels, ", ") + ")";
        o.create = {absl::StrCat("CREATE TYPE ", o.name, " AS ENUM (", absl::StrJoin(o.labels, ", "), ")")};
        break;
      case 'd': {
        o.base_type = rows.text(i, 4);
        o.default_expr = rows.text(i, 6);
        o.not_null = rows.is_true(i, 5);
        o.checks = domain_checks[oid];
        std::string def = absl::StrCat("CREATE DOMAIN ", o.name, " AS ", rows.text(i, 4));
        if (!rows.text(i, 7).empty()) absl::StrAppend(&def, " COLLATE ", rows.text(i, 7));
        if (!rows.text(i, 6).empty()) absl::StrAppend(&def, " DEFAULT ", rows.text(i, 6));
        if (rows.is_true(i, 5)) absl::StrAppend(&def, " NOT NULL");
        for (const auto& [name, check] : domain_checks[oid]) {
          absl::StrAppend(&def, " CONSTRAINT ", name, " ", check);
        }
        o.signature = def;
        o.create = {def};
        break;
      }
      case 'r': {
        std::string def = absl::StrCat("CREATE TYPE ", o.name, " AS RANGE (SUBTYPE = ", rows.text(i, 10));
        if (!rows.text(i, 7).empty()) absl::StrAppend(&def, ", COLLATION = ", rows.text(i, 7));
        if (!rows.text(i, 11).empty()) absl::StrAppend(&def, ", SUBTYPE_DIFF = ", rows.text(i, 11));
        if (!rows.text(i, 12).empty()) absl::StrAppend(&def, ", CANONICAL = ", rows.text(i, 12));
        if (!rows.text(i, 13).empty()) absl::StrAppend(&def, ", MULTIRANGE_TYPE_NAME = ", rows.text(i, 13));
        def += ")";
        o.signature = def;
        o.create = {def};
        break;
      }
      case 'c':
        rel_qname[Oid(rows, i, 8)] = o.name;
        rel_kind[Oid(rows, i, 8)] = 'c';
        break;  // attributes arrive with the columns
    }
    Add(std::move(o));
  }
  for (int i = 0; i < checks.size(); ++i) {
    auto it = keys.find({kPgType, Oid(checks, i, 0)});
    if (it != keys.end()) keys[{kPgConstraint, Oid(checks, i, 3)}] = it->second;
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadRelations() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind, c.relpersistence, "
      "array_to_string(c.reloptions, ', '), c.relispartition, pg_get_expr(c.relpartbound, c.oid), "
      "CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END, c.relrowsecurity, c.relforcerowsecurity, "
      "c.reltype, quote_ident(n.nspname) "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i', 'I') AND ", kUserNamespace));
  ASSIGN_ROWS(parents,
              "SELECT i.inhrelid, i.inhparent FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
              "WHERE c.relkind IN ('r', 'p') ORDER BY i.inhrelid, i.inhseqno");
  std::map<uint32_t, std::vector<uint32_t>> parents_of;
  for (int i = 0; i < parents.size(); ++i) parents_of[Oid(parents, i, 0)].push_back(Oid(parents, i, 1));
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t oid = Oid(rows, i, 0);
    char relkind = rows.text(i, 2)[0];
    rel_qname[oid] = rows.text(i, 1);
    rel_kind[oid] = relkind;
    if (relkind == 'i' || relkind == 'I') continue;  // indexes come with ReadIndexes
    if (IsExtensionMember(kPgClass, oid)) continue;
    Object o{.name = rows.text(i, 1)};
    o.subkind = relkind;
    o.options = rows.text(i, 4);
    o.claims = {"rel " + o.name};
    switch (relkind) {
      case 'r':
      case 'p': {
        o.kind = Kind::kTable;
        o.key = "table " + o.name;
        o.claims.push_back("type " + o.name);
        o.persistence = rows.text(i, 3);
        o.row_security = rows.is_true(i, 8);
        o.force_row_security = rows.is_true(i, 9);
        o.drop = "DROP TABLE " + o.name;
        o.comment_on = "TABLE " + o.name;
        o.signature = absl::StrCat("relkind ", std::string(1, relkind), " persistence ", o.persistence);
        o.partition_key = rows.text(i, 7);
        if (relkind == 'p') absl::StrAppend(&o.signature, " partition by ", o.partition_key);
        break;
      }
      case 'v':
        o.kind = Kind::kView;
        o.key = "view " + o.name;
        o.claims.push_back("type " + o.name);
        o.drop = "DROP VIEW " + o.name;
        o.comment_on = "VIEW " + o.name;
        break;
      case 'm':
        o.kind = Kind::kMaterializedView;
        o.key = "materialized view " + o.name;
        o.claims.push_back("type " + o.name);
        o.drop = "DROP MATERIALIZED VIEW " + o.name;
        o.comment_on = "MATERIALIZED VIEW " + o.name;
        break;
      case 'S':
        o.kind = Kind::kSequence;
        o.key = "sequence " + o.name;
        o.drop = "DROP SEQUENCE " + o.name;
        o.comment_on = "SEQUENCE " + o.name;
        break;
    }
    keys[{kPgClass, oid}] = o.key;
    if (uint32_t rowtype = Oid(rows, i, 10)) keys[{kPgType, rowtype}] = o.key;
    if (o.kind == Kind::kTable) {
      o.is_partition = rows.is_true(i, 5);
      o.partition_bound = rows.text(i, 6);
    }
    Add(std::move(o));
  }
  for (const auto& [child, parents] : parents_of) {
    auto k = keys.find({kPgClass, child});
    if (k == keys.end()) continue;
    Object& o = catalog.objects.at(k->second);
    for (uint32_t parent : parents) {
      std::string pkey = "table " + rel_qname[parent];
      if (o.is_partition) o.partition_of = pkey;
      else o.inherits.push_back(pkey);
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string Column::Signature() const {
  std::string s = absl::StrCat(name, " ", type);
  if (!collation.empty()) absl::StrAppend(&s, " collate ", collation);
  if (not_null) s += " not null";
  if (generated) absl::StrAppend(&s, " generated (", default_expr, ")");
  else if (!default_expr.empty()) absl::StrAppend(&s, " default ", default_expr);
  if (identity) absl::StrAppend(&s, " identity ", std::string(1, identity), " (", identity_options, ")");
  if (statistics >= 0) absl::StrAppend(&s, " statistics ", statistics);
  return s;
}

namespace {

absl::Status Reader::ReadColumns() {
  ASSIGN_ROWS(identity,
              "SELECT d.refobjid, d.refobjsubid, d.objid, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, "
              "s.seqmin, s.seqmax, s.seqcache, s.seqcycle FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = d.objid "
              "WHERE d.classid = 1259 AND d.refclassid = 1259 AND d.deptype = 'i' AND d.refobjsubid > 0");
  std::map<std::pair<uint32_t, int>, std::string> identity_options;
  for (int i = 0; i < identity.size(); ++i) {
    identity_options[{Oid(identity, i, 0), static_cast<int>(identity.number(i, 1))}] = absl::StrCat(
        "START WITH ", identity.text(i, 4), " INCREMENT BY ", identity.text(i, 5),
        " MINVALUE ", identity.text(i, 6), " MAXVALUE ", identity.text(i, 7), " CACHE ", identity.text(i, 8),
        identity.is_true(i, 9) ? " CYCLE" : " NO CYCLE");
    skipped_relations.insert(Oid(identity, i, 2));
  }
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT a.attrelid, a.attnum, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), a.attnotnull, "
      "pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attislocal, "
      "CASE WHEN a.attcollation <> t.typcollation THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END, "
      "a.attstattarget, d.oid "
      "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
      "LEFT JOIN pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace "
      "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'c') AND ", kUserNamespace,
      " ORDER BY a.attrelid, a.attnum"));
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t rel = Oid(rows, i, 0);
    int attnum = static_cast<int>(rows.number(i, 1));
    column_names[{rel, attnum}] = rows.text(i, 2);
    auto k = keys.find({kPgClass, rel});
    if (k == keys.end()) continue;
    Object& o = catalog.objects.at(k->second);
    Column col{.name = rows.text(i, 2), .type = rows.text(i, 3)};
    col.collation = rows.text(i, 9);
    if (o.kind == Kind::kTable) {
      col.not_null = rows.is_true(i, 4);
      col.default_expr = rows.text(i, 5);
      col.identity = rows.text(i, 6).empty() ? 0 : rows.text(i, 6)[0];
      if (col.identity) col.identity_options = identity_options[{rel, attnum}];
      col.generated = !rows.text(i, 7).empty();
      col.local = rows.is_true(i, 8) && !o.is_partition;
      col.statistics = static_cast<int>(rows.number(i, 10));
      if (col.statistics < 0) col.statistics = -1;
      if (rows.at(i, 11)) {
        attrdef_table[Oid(rows, i, 11)] = o.key;
        attrdef_column[Oid(rows, i, 11)] = col.name;
      }
    }
    o.columns.push_back(std::move(col));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadSequences() {
  ASSIGN_ROWS(rows,
              "SELECT s.seqrelid, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, "
              "s.seqcache, s.seqcycle FROM pg_sequence s");
  ASSIGN_ROWS(owners,
              "SELECT d.objid, d.refobjid, quote_ident(a.attname) FROM pg_depend d "
              "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
              "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
              "WHERE d.classid = 1259 AND d.refclassid = 1259 AND d.deptype = 'a' AND d.refobjsubid > 0");
  std::map<uint32_t, std::pair<uint32_t, std::string>> owner_of;
  for (int i = 0; i < owners.size(); ++i) owner_of[Oid(owners, i, 0)] = {Oid(owners, i, 1), owners.text(i, 2)};
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t oid = Oid(rows, i, 0);
    auto k = keys.find({kPgClass, oid});
    if (k == keys.end()) continue;
    if (skipped_relations.count(oid)) {  // an identity column's sequence is part of the column
      catalog.objects.erase(k->second);
      keys.erase(k);
      continue;
    }
    Object& o = catalog.objects.at(k->second);
    o.sequence = {rows.text(i, 1), rows.text(i, 2), rows.text(i, 3), rows.text(i, 4), rows.text(i, 5),
                  rows.text(i, 6), rows.is_true(i, 7)};
    const SequenceOptions& s = o.sequence;
    std::string options = absl::StrCat(" AS ", s.type, " START WITH ", s.start, " INCREMENT BY ", s.increment,
                                       " MINVALUE ", s.min, " MAXVALUE ", s.max, " CACHE ", s.cache,
                                       s.cycle ? " CYCLE" : " NO CYCLE");
    o.signature = options;
    o.create = {"CREATE SEQUENCE " + o.name + options};
    auto own = owner_of.find(oid);
    if (own == owner_of.end()) continue;
    auto table = keys.find({kPgClass, own->second.first});
    if (table == keys.end()) continue;
    o.owned_by_table = table->second;
    o.owned_by_column = own->second.second;
    o.owned_by = rel_qname[own->second.first] + "." + own->second.second;
    Object owner{.kind = Kind::kSequenceOwner, .key = "owner of " + o.key, .name = o.name};
    owner.signature = "owned by " + o.owned_by;
    owner.create = {absl::StrCat("ALTER SEQUENCE ", o.name, " OWNED BY ", o.owned_by)};
    owner.drop = absl::StrCat("ALTER SEQUENCE ", o.name, " OWNED BY NONE");
    owner.parent = o.key;
    owner.deps = {{.on = o.key, .automatic = true}, {.on = o.owned_by_table, .on_column = o.owned_by_column}};
    Add(std::move(owner));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadConstraints() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT co.oid, co.conrelid, quote_ident(co.conname), co.contype, pg_get_constraintdef(co.oid), co.conindid, "
      "quote_ident(n.nspname) FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE co.conrelid <> 0 AND co.conparentid = 0 AND co.conislocal AND ", kUserNamespace));
  for (int i = 0; i < rows.size(); ++i) {
    auto table = keys.find({kPgClass, Oid(rows, i, 1)});
    if (table == keys.end()) continue;
    const Object& t = catalog.objects.at(table->second);
    Object o{.kind = Kind::kConstraint, .name = rows.text(i, 2)};
    o.key = absl::StrCat("constraint ", t.name, ".", o.name);
    o.subkind = rows.text(i, 3)[0];
    o.parent = t.key;
    o.signature = rows.text(i, 4);
    o.create = {absl::StrCat("ALTER TABLE ", t.name, " ADD CONSTRAINT ", o.name, " ", rows.text(i, 4))};
    o.drop = absl::StrCat("ALTER TABLE ", t.name, " DROP CONSTRAINT ", o.name);
    o.comment_on = absl::StrCat("CONSTRAINT ", o.name, " ON ", t.name);
    if (o.subkind == 'p' || o.subkind == 'u' || o.subkind == 'x') {
      o.claims = {absl::StrCat("rel ", rows.text(i, 6), ".", o.name)};
      if (uint32_t index = Oid(rows, i, 5)) keys[{kPgClass, index}] = o.key;
    }
    keys[{kPgConstraint, Oid(rows, i, 0)}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadIndexes() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT i.indexrelid, i.indrelid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
      "pg_get_indexdef(i.indexrelid), c.relispartition, "
      "(SELECT string_agg('ALTER COLUMN ' || a.attnum || ' SET STATISTICS ' || a.attstattarget, ', ' ORDER BY a.attnum) "
      "  FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget > 0) "
      "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE ", kUserNamespace, " AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid "
      "AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x'))"));
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t oid = Oid(rows, i, 0);
    if (rows.is_true(i, 4) || IsExtensionMember(kPgClass, oid)) continue;  // partitions of a partitioned index
    auto table = keys.find({kPgClass, Oid(rows, i, 1)});
    if (table == keys.end()) continue;
    Object o{.kind = Kind::kIndex, .key = "index " + rows.text(i, 2), .name = rows.text(i, 2)};
    o.parent = table->second;
    o.claims = {"rel " + o.name};
    std::string def = rows.text(i, 3);
    // A partitioned table's index is created for its partitions too.
    if (auto at = def.find(" ON ONLY "); at != std::string::npos) def.replace(at, 9, " ON ");
    o.create = {def};
    o.signature = def;
    if (!rows.text(i, 5).empty()) {
      o.create.push_back(absl::StrCat("ALTER INDEX ", o.name, " ", rows.text(i, 5)));
      absl::StrAppend(&o.signature, " ", rows.text(i, 5));
    }
    o.drop = "DROP INDEX " + o.name;
    o.comment_on = "INDEX " + o.name;
    keys[{kPgClass, oid}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadViews() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT c.oid, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind IN ('v', 'm') AND ", kUserNamespace));
  ASSIGN_ROWS(rules, "SELECT oid, ev_class FROM pg_rewrite");
  for (int i = 0; i < rules.size(); ++i) {
    auto view = keys.find({kPgClass, Oid(rules, i, 1)});
    if (view != keys.end()) keys[{kPgRewrite, Oid(rules, i, 0)}] = view->second;
  }
  for (int i = 0; i < rows.size(); ++i) {
    auto k = keys.find({kPgClass, Oid(rows, i, 0)});
    if (k == keys.end()) continue;
    Object& o = catalog.objects.at(k->second);
    std::string def = rows.text(i, 1);
    while (!def.empty() && (def.back() == ';' || def.back() == ' ' || def.back() == '\n')) def.pop_back();
    std::string with = o.options.empty() ? "" : " WITH (" + o.options + ")";
    std::string columns;
    for (const Column& c : o.columns) absl::StrAppend(&columns, columns.empty() ? "" : ", ", c.Signature());
    o.signature = absl::StrCat(with, " (", columns, ") AS", def);
    if (o.kind == Kind::kView) {
      o.create = {absl::StrCat("CREATE VIEW ", o.name, with, " AS\n", def)};
    } else {
      o.create = {absl::StrCat("CREATE MATERIALIZED VIEW ", o.name, with, " AS\n", def, "\n  WITH DATA")};
    }
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadFunctions() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT p.oid, quote_ident(n.nspname) || '.' || quote_ident(p.proname), "
      "pg_get_function_identity_arguments(p.oid), p.prokind, "
      "CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) END, pg_get_function_result(p.oid), "
      "array_to_string(p.proargnames, ',') || '|' || COALESCE(array_to_string(p.proargmodes, ','), ''), "
      "p.pronargdefaults, "
      "CASE WHEN p.prokind = 'a' THEN concat_ws(', ', 'SFUNC = ' || a.aggtransfn::regproc::text, "
      "  'STYPE = ' || format_type(a.aggtranstype, NULL), "
      "  CASE WHEN a.aggtransspace <> 0 THEN 'SSPACE = ' || a.aggtransspace END, "
      "  CASE WHEN a.aggfinalfn <> 0 THEN 'FINALFUNC = ' || a.aggfinalfn::regproc::text END, "
      "  CASE WHEN a.aggcombinefn <> 0 THEN 'COMBINEFUNC = ' || a.aggcombinefn::regproc::text END, "
      "  CASE WHEN a.aggserialfn <> 0 THEN 'SERIALFUNC = ' || a.aggserialfn::regproc::text END, "
      "  CASE WHEN a.aggdeserialfn <> 0 THEN 'DESERIALFUNC = ' || a.aggdeserialfn::regproc::text END, "
      "  CASE WHEN a.agginitval IS NOT NULL THEN 'INITCOND = ' || quote_literal(a.agginitval) END, "
      "  CASE WHEN a.aggsortop <> 0 THEN 'SORTOP = ' || a.aggsortop::regoperator::text END, "
      "  CASE WHEN p.proparallel = 's' THEN 'PARALLEL = SAFE' WHEN p.proparallel = 'r' THEN 'PARALLEL = RESTRICTED' END) END "
      "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid "
      "WHERE ", kUserNamespace,
      // Functions PostgreSQL made as part of another object (a range type's constructors).
      " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 1255 AND d.objid = p.oid AND d.deptype = 'i')"));
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t oid = Oid(rows, i, 0);
    if (IsExtensionMember(kPgProc, oid)) continue;
    char prokind = rows.text(i, 3)[0];
    std::string word = prokind == 'p' ? "PROCEDURE" : prokind == 'a' ? "AGGREGATE" : "FUNCTION";
    std::string signature = absl::StrCat(rows.text(i, 1), "(", rows.text(i, 2), ")");
    Object o{.kind = Kind::kFunction, .key = "function " + signature, .name = signature};
    o.subkind = prokind;
    o.claims = {"function " + signature};
    o.function_result = rows.text(i, 5);
    o.function_inputs = rows.text(i, 6);
    o.function_defaults = static_cast<int>(rows.number(i, 7));
    std::string def = rows.text(i, 4);
    if (prokind == 'a') {
      std::string args = rows.text(i, 2).empty() ? "*" : rows.text(i, 2);
      def = absl::StrCat("CREATE AGGREGATE ", rows.text(i, 1), "(", args, ") (", rows.text(i, 8), ")");
    }
    while (!def.empty() && (def.back() == '\n' || def.back() == ' ')) def.pop_back();
    o.signature = def;
    o.create = {def};
    o.drop = absl::StrCat("DROP ", word, " ", signature);
    o.comment_on = absl::StrCat(word, " ", signature);
    keys[{kPgProc, oid}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadTriggers() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT t.oid, t.tgrelid, quote_ident(t.tgname), pg_get_triggerdef(t.oid), t.tgenabled "
      "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND ", kUserNamespace));
  for (int i = 0; i < rows.size(); ++i) {
    auto table = keys.find({kPgClass, Oid(rows, i, 1)});
    if (table == keys.end()) continue;
    const std::string& tname = catalog.objects.at(table->second).name;
    Object o{.kind = Kind::kTrigger, .name = rows.text(i, 2)};
    o.key = absl::StrCat("trigger ", tname, ".", o.name);
    o.parent = table->second;
    o.create = {rows.text(i, 3)};
    char enabled = rows.text(i, 4)[0];
    const char* state = enabled == 'D' ? "DISABLE" : enabled == 'R' ? "ENABLE REPLICA" : enabled == 'A' ? "ENABLE ALWAYS" : nullptr;
    if (state) o.create.push_back(absl::StrCat("ALTER TABLE ", tname, " ", state, " TRIGGER ", o.name));
    o.signature = absl::StrJoin(o.create, "; ");
    o.drop = absl::StrCat("DROP TRIGGER ", o.name, " ON ", tname);
    o.comment_on = absl::StrCat("TRIGGER ", o.name, " ON ", tname);
    keys[{kPgTrigger, Oid(rows, i, 0)}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadPolicies() {
  ASSIGN_ROWS(rows,
              "SELECT p.oid, p.polrelid, quote_ident(p.polname), p.polpermissive, p.polcmd, "
              "CASE WHEN p.polroles = '{0}' THEN 'PUBLIC' ELSE (SELECT string_agg(quote_ident(r.rolname), ', ' "
              "ORDER BY r.rolname) FROM pg_roles r WHERE r.oid = ANY (p.polroles)) END, "
              "pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid) FROM pg_policy p");
  for (int i = 0; i < rows.size(); ++i) {
    auto table = keys.find({kPgClass, Oid(rows, i, 1)});
    if (table == keys.end()) continue;
    const std::string& tname = catalog.objects.at(table->second).name;
    Object o{.kind = Kind::kPolicy, .name = rows.text(i, 2)};
    o.key = absl::StrCat("policy ", tname, ".", o.name);
    o.parent = table->second;
    const std::string& cmd = rows.text(i, 4);
    const char* for_cmd = cmd == "r" ? "SELECT" : cmd == "a" ? "INSERT" : cmd == "w" ? "UPDATE" : cmd == "d" ? "DELETE" : "ALL";
    std::string def = absl::StrCat("CREATE POLICY ", o.name, " ON ", tname, " AS ",
                                   rows.is_true(i, 3) ? "PERMISSIVE" : "RESTRICTIVE", " FOR ", for_cmd, " TO ",
                                   rows.text(i, 5));
    if (rows.at(i, 6)) absl::StrAppend(&def, " USING (", rows.text(i, 6), ")");
    if (rows.at(i, 7)) absl::StrAppend(&def, " WITH CHECK (", rows.text(i, 7), ")");
    o.create = {def};
    o.signature = def;
    o.drop = absl::StrCat("DROP POLICY ", o.name, " ON ", tname);
    o.comment_on = absl::StrCat("POLICY ", o.name, " ON ", tname);
    keys[{kPgPolicy, Oid(rows, i, 0)}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

// A function as CREATE OPERATOR / TEXT SEARCH options name it: qualified, no arguments.
constexpr const char* kProcName =
    "(SELECT quote_ident(pn.nspname) || '.' || quote_ident(pp.proname) FROM pg_proc pp "
    "JOIN pg_namespace pn ON pn.oid = pp.pronamespace WHERE pp.oid = %s)";

std::string ProcName(const std::string& column) {
  std::string s = kProcName;
  s.replace(s.find("%s"), 2, column);
  return s;
}

absl::Status Reader::ReadOperators() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT o.oid, quote_ident(n.nspname) || '.' || o.oprname, "
      "CASE WHEN o.oprleft = 0 THEN 'NONE' ELSE format_type(o.oprleft, NULL) END, "
      "CASE WHEN o.oprright = 0 THEN 'NONE' ELSE format_type(o.oprright, NULL) END, ",
      ProcName("o.oprcode"), ", "
      "(SELECT 'OPERATOR(' || quote_ident(cn.nspname) || '.' || c.oprname || ')' FROM pg_operator c "
      "  JOIN pg_namespace cn ON cn.oid = c.oprnamespace WHERE c.oid = o.oprcom), "
      "(SELECT 'OPERATOR(' || quote_ident(cn.nspname) || '.' || c.oprname || ')' FROM pg_operator c "
      "  JOIN pg_namespace cn ON cn.oid = c.oprnamespace WHERE c.oid = o.oprnegate), ",
      ProcName("o.oprrest"), ", ", ProcName("o.oprjoin"), ", o.oprcanhash, o.oprcanmerge "
      "FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace WHERE ", kUserNamespace));
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t oid = Oid(rows, i, 0);
    if (IsExtensionMember(kPgOperator, oid)) continue;
    std::string args = absl::StrCat("(", rows.text(i, 2), ", ", rows.text(i, 3), ")");
    Object o{.kind = Kind::kOperator, .key = absl::StrCat("operator ", rows.text(i, 1), args), .name = rows.text(i, 1)};
    std::vector<std::string> opts = {"FUNCTION = " + rows.text(i, 4)};
    if (rows.text(i, 2) != "NONE") opts.push_back("LEFTARG = " + rows.text(i, 2));
    if (rows.text(i, 3) != "NONE") opts.push_back("RIGHTARG = " + rows.text(i, 3));
    if (rows.at(i, 5)) opts.push_back("COMMUTATOR = " + rows.text(i, 5));
    if (rows.at(i, 6)) opts.push_back("NEGATOR = " + rows.text(i, 6));
    if (rows.at(i, 7)) opts.push_back("RESTRICT = " + rows.text(i, 7));
    if (rows.at(i, 8)) opts.push_back("JOIN = " + rows.text(i, 8));
    if (rows.is_true(i, 9)) opts.push_back("HASHES");
    if (rows.is_true(i, 10)) opts.push_back("MERGES");
    o.signature = absl::StrJoin(opts, ", ");
    o.create = {absl::StrCat("CREATE OPERATOR ", o.name, " (", o.signature, ")")};
    o.drop = absl::StrCat("DROP OPERATOR ", o.name, " ", args);
    o.comment_on = absl::StrCat("OPERATOR ", o.name, " ", args);
    keys[{kPgOperator, oid}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadTextSearch() {
  ASSIGN_ROWS(parsers, absl::StrCat(
      "SELECT p.oid, quote_ident(n.nspname) || '.' || quote_ident(p.prsname), concat_ws(', ', "
      "'START = ' || ", ProcName("p.prsstart"), ", 'GETTOKEN = ' || ", ProcName("p.prstoken"),
      ", 'END = ' || ", ProcName("p.prsend"), ", 'LEXTYPES = ' || ", ProcName("p.prslextype"),
      ", 'HEADLINE = ' || ", ProcName("p.prsheadline"), ") "
      "FROM pg_ts_parser p JOIN pg_namespace n ON n.oid = p.prsnamespace WHERE ", kUserNamespace));
  ASSIGN_ROWS(dicts, absl::StrCat(
      "SELECT d.oid, quote_ident(n.nspname) || '.' || quote_ident(d.dictname), "
      "'TEMPLATE = ' || quote_ident(tn.nspname) || '.' || quote_ident(t.tmplname) || "
      "COALESCE(', ' || d.dictinitoption, '') FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace "
      "JOIN pg_ts_template t ON t.oid = d.dicttemplate JOIN pg_namespace tn ON tn.oid = t.tmplnamespace WHERE ",
      kUserNamespace));
  ASSIGN_ROWS(configs, absl::StrCat(
      "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.cfgname), "
      "quote_ident(pn.nspname) || '.' || quote_ident(p.prsname), "
      "(SELECT string_agg(m.alias || ' WITH ' || m.dicts, '; ' ORDER BY m.alias) FROM ("
      "  SELECT t.alias, string_agg(quote_ident(dn.nspname) || '.' || quote_ident(d.dictname), ', ' ORDER BY mm.mapseqno) AS dicts "
      "  FROM pg_ts_config_map mm JOIN ts_token_type(c.cfgparser) t ON t.tokid = mm.maptokentype "
      "  JOIN pg_ts_dict d ON d.oid = mm.mapdict JOIN pg_namespace dn ON dn.oid = d.dictnamespace "
      "  WHERE mm.mapcfg = c.oid GROUP BY t.alias) m) "
      "FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace JOIN pg_ts_parser p ON p.oid = c.cfgparser "
      "JOIN pg_namespace pn ON pn.oid = p.prsnamespace WHERE ", kUserNamespace));
  auto add = [&](const Rows& rows, int i, uint32_t classid, const std::string& word, std::vector<std::string> create) {
    uint32_t oid = Oid(rows, i, 0);
    if (IsExtensionMember(classid, oid)) return;
    Object o{.kind = Kind::kTextSearch, .name = rows.text(i, 1)};
    std::string lower = word;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    o.key = absl::StrCat(lower, " ", o.name);
    o.create = std::move(create);
    o.signature = absl::StrJoin(o.create, "; ");
    o.drop = absl::StrCat("DROP ", word, " ", o.name);
    o.comment_on = absl::StrCat(word, " ", o.name);
    keys[{classid, oid}] = o.key;
    Add(std::move(o));
  };
  for (int i = 0; i < parsers.size(); ++i) {
    add(parsers, i, kPgTsParser, "TEXT SEARCH PARSER",
        {absl::StrCat("CREATE TEXT SEARCH PARSER ", parsers.text(i, 1), " (", parsers.text(i, 2), ")")});
  }
  for (int i = 0; i < dicts.size(); ++i) {
    add(dicts, i, kPgTsDict, "TEXT SEARCH DICTIONARY",
        {absl::StrCat("CREATE TEXT SEARCH DICTIONARY ", dicts.text(i, 1), " (", dicts.text(i, 2), ")")});
  }
  for (int i = 0; i < configs.size(); ++i) {
    std::vector<std::string> create = {
        absl::StrCat("CREATE TEXT SEARCH CONFIGURATION ", configs.text(i, 1), " (PARSER = ", configs.text(i, 2), ")")};
    for (absl::string_view mapping : absl::StrSplit(configs.text(i, 3), "; ", absl::SkipEmpty())) {
      create.push_back(absl::StrCat("ALTER TEXT SEARCH CONFIGURATION ", configs.text(i, 1), " ADD MAPPING FOR ", mapping));
    }
    add(configs, i, kPgTsConfig, "TEXT SEARCH CONFIGURATION", std::move(create));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadComments() {
  ASSIGN_ROWS(rows, "SELECT classoid, objoid, objsubid, quote_literal(description) FROM pg_description");
  for (int i = 0; i < rows.size(); ++i) {
    auto k = keys.find({Oid(rows, i, 0), Oid(rows, i, 1)});
    if (k == keys.end()) continue;
    const Object& target = catalog.objects.at(k->second);
    if (target.comment_on.empty()) continue;
    int subid = static_cast<int>(rows.number(i, 2));
    Object o{.kind = Kind::kComment, .parent = target.key};
    o.comment_text = rows.text(i, 3);
    if (subid > 0) {
      std::string column = column_names[{Oid(rows, i, 1), subid}];
      o.key = absl::StrCat("comment on ", target.key, ".", column);
      o.comment_target = absl::StrCat("COLUMN ", target.name, ".", column);
      o.deps = {{.on = target.key, .on_column = column, .automatic = true}};
    } else {
      if (Oid(rows, i, 0) == kPgConstraint && target.kind == Kind::kType) continue;  // a domain's CHECK
      o.key = "comment on " + target.key;
      o.comment_target = target.comment_on;
      o.deps = {{.on = target.key, .automatic = true}};
    }
    o.name = o.comment_target;
    o.signature = o.comment_text;
    o.create = {absl::StrCat("COMMENT ON ", o.comment_target, " IS ", o.comment_text)};
    o.drop = absl::StrCat("COMMENT ON ", o.comment_target, " IS NULL");
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadDependencies() {
  ASSIGN_ROWS(rows,
              "SELECT classid, objid, objsubid, refclassid, refobjid, refobjsubid, deptype FROM pg_depend "
              "WHERE deptype IN ('n', 'a')");
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t classid = Oid(rows, i, 0), objid = Oid(rows, i, 1);
    uint32_t refclassid = Oid(rows, i, 3), refobjid = Oid(rows, i, 4);
    int subid = static_cast<int>(rows.number(i, 2)), refsubid = static_cast<int>(rows.number(i, 5));
    bool automatic = rows.text(i, 6) == "a";
    if (IsExtensionMember(classid, objid)) continue;
    // A sequence's OWNED BY is its owner object's dependency.
    if (classid == kPgClass && refclassid == kPgClass && automatic && refsubid > 0 && rel_kind[objid] == 'S') continue;
    std::string from, from_column;
    bool via_default = false;
    if (classid == kPgAttrdef) {
      auto t = attrdef_table.find(objid);
      if (t == attrdef_table.end()) continue;
      from = t->second;
      from_column = attrdef_column[objid];
      via_default = true;
    } else {
      auto k = keys.find({classid, objid});
      if (k == keys.end()) continue;
      from = k->second;
      if (classid == kPgClass && subid > 0) from_column = column_names[{objid, subid}];
    }
    std::string on, on_column;
    if (auto e = extension_of.find({refclassid, refobjid}); e != extension_of.end()) {
      on = e->second;
    } else if (refclassid == kPgAttrdef) {
      continue;
    } else {
      auto k = keys.find({refclassid, refobjid});
      if (k == keys.end()) continue;
      on = k->second;
      if (refclassid == kPgClass && refsubid > 0) on_column = column_names[{refobjid, refsubid}];
    }
    // Edges within one object are dropped (a view's rule, a composite type's
    // attributes), except a generated column's use of another column: the
    // differ must rebuild it when that column changes type.
    if (on == from && !(via_default && !on_column.empty())) continue;
    Object& o = catalog.objects.at(from);
    o.deps.push_back({.on = on, .on_column = on_column, .from_column = from_column, .via_default = via_default,
                      .automatic = automatic});
  }
  return absl::OkStatus();
}

}  // namespace

std::string ColumnDefinition(const Column& c) {
  std::string s = absl::StrCat(c.name, " ", c.type);
  if (!c.collation.empty()) absl::StrAppend(&s, " COLLATE ", c.collation);
  if (c.generated) {
    absl::StrAppend(&s, " GENERATED ALWAYS AS (", c.default_expr, ") STORED");
  } else if (!c.default_expr.empty()) {
    absl::StrAppend(&s, " DEFAULT ", c.default_expr);
  }
  if (c.identity) {
    absl::StrAppend(&s, c.identity == 'a' ? " GENERATED ALWAYS AS IDENTITY (" : " GENERATED BY DEFAULT AS IDENTITY (",
                    c.identity_options, ")");
  }
  if (c.not_null) s += " NOT NULL";
  return s;
}

std::vector<std::string> CreateTable(const Object& t, const Catalog& catalog) {
  std::vector<std::string> out;
  std::string head = absl::StrCat("CREATE ", t.persistence == "u" ? "UNLOGGED " : "", "TABLE ", t.name);
  if (!t.partition_of.empty()) {
    const Object* parent = catalog.Find(t.partition_of);
    out.push_back(absl::StrCat(head, " PARTITION OF ", parent ? parent->name : t.partition_of, " ",
                               t.partition_bound));
  } else {
    std::vector<std::string> cols;
    for (const Column& c : t.columns) {
      if (c.local) cols.push_back("    " + ColumnDefinition(c));
    }
    std::string def = absl::StrCat(head, " (\n", absl::StrJoin(cols, ",\n"), "\n)");
    if (!t.inherits.empty()) {
      std::vector<std::string> parents;
      for (const auto& p : t.inherits) parents.push_back(catalog.Find(p) ? catalog.Find(p)->name : p);
      absl::StrAppend(&def, " INHERITS (", absl::StrJoin(parents, ", "), ")");
    }
    if (t.subkind == 'p') absl::StrAppend(&def, " PARTITION BY ", t.partition_key);
    out.push_back(def);
  }
  if (!t.options.empty()) out.push_back(absl::StrCat("ALTER TABLE ", t.name, " SET (", t.options, ")"));
  for (const Column& c : t.columns) {
    if (c.statistics >= 0) {
      out.push_back(absl::StrCat("ALTER TABLE ", t.name, " ALTER COLUMN ", c.name, " SET STATISTICS ", c.statistics));
    }
  }
  if (t.row_security) out.push_back(absl::StrCat("ALTER TABLE ", t.name, " ENABLE ROW LEVEL SECURITY"));
  if (t.force_row_security) out.push_back(absl::StrCat("ALTER TABLE ", t.name, " FORCE ROW LEVEL SECURITY"));
  return out;
}

namespace {

// Signatures that need the columns (read after the objects themselves).
void Reader::FinishSignatures() {
  for (auto& [key, o] : catalog.objects) {
    if (o.kind == Kind::kType && o.subkind == 'c') {
      std::vector<std::string> attrs;
      for (const Column& c : o.columns) {
        attrs.push_back(c.name + " " + c.type + (c.collation.empty() ? "" : " COLLATE " + c.collation));
      }
      o.signature = "composite (" + absl::StrJoin(attrs, ", ") + ")";
      o.create = {absl::StrCat("CREATE TYPE ", o.name, " AS (", absl::StrJoin(attrs, ", "), ")")};
    }
    if (o.kind == Kind::kTable) {
      std::vector<std::string> cols;
      for (const Column& c : o.columns) cols.push_back(c.Signature());
      std::sort(cols.begin(), cols.end());  // column order is not part of the schema's meaning here
      absl::StrAppend(&o.signature, " columns (", absl::StrJoin(cols, ", "), ")");
      if (!o.options.empty()) absl::StrAppend(&o.signature, " with (", o.options, ")");
      if (!o.partition_of.empty()) absl::StrAppend(&o.signature, " partition of ", o.partition_of, " ", o.partition_bound);
      if (!o.inherits.empty()) absl::StrAppend(&o.signature, " inherits (", absl::StrJoin(o.inherits, ", "), ")");
      if (o.row_security) o.signature += " row security";
      if (o.force_row_security) o.signature += " force row security";
      o.create = CreateTable(o, catalog);
    }
    std::sort(o.deps.begin(), o.deps.end(), [](const Dependency& a, const Dependency& b) {
      return std::tie(a.on, a.on_column, a.from_column) < std::tie(b.on, b.on_column, b.from_column);
    });
  }
}

}  // namespace

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kSchema: return "schema";
    case Kind::kExtension: return "extension";
    case Kind::kType: return "type";
    case Kind::kSequence: return "sequence";
    case Kind::kSequenceOwner: return "sequence owner";
    case Kind::kTable: return "table";
    case Kind::kConstraint: return "constraint";
    case Kind::kIndex: return "index";
    case Kind::kView: return "view";
    case Kind::kMaterializedView: return "materialized view";
    case Kind::kFunction: return "function";
    case Kind::kTrigger: return "trigger";
    case Kind::kPolicy: return "policy";
    case Kind::kOperator: return "operator";
    case Kind::kTextSearch: return "text search object";
    case Kind::kComment: return "comment";
  }
  return "object";
}

const Object* Catalog::Find(const std::string& key) const {
  auto it = objects.find(key);
  return it == objects.end() ? nullptr : &it->second;
}

absl::StatusOr<Catalog> ReadCatalog(pg::Session& session, bool in_open_transaction) {
  // Empty search_path: every name PostgreSQL prints outside pg_catalog is
  // qualified, so both sides of a diff spell names the same way.
  // REPEATABLE READ: one snapshot for all the queries.
  RETURN_IF_ERROR(session.Exec(in_open_transaction ? "SET LOCAL search_path = ''"
                                                   : "SET search_path = ''; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  Reader reader{session};
  absl::Status s = reader.ReadExtensions();
  for (auto step : {&Reader::ReadSchemas, &Reader::ReadTypes, &Reader::ReadRelations, &Reader::ReadColumns,
                    &Reader::ReadSequences, &Reader::ReadConstraints, &Reader::ReadIndexes, &Reader::ReadViews,
                    &Reader::ReadFunctions, &Reader::ReadTriggers, &Reader::ReadPolicies, &Reader::ReadOperators,
                    &Reader::ReadTextSearch, &Reader::ReadComments, &Reader::ReadDependencies}) {
    if (!s.ok()) break;
    s = (reader.*step)();
  }
  if (s.ok()) {
    auto casts = session.Query("SELECT format_type(castsource, NULL), format_type(casttarget, NULL) FROM pg_cast");
    if (casts.ok()) {
      for (int i = 0; i < casts->size(); ++i) reader.catalog.casts.insert({casts->text(i, 0), casts->text(i, 1)});
    } else {
      s = casts.status();
    }
  }
  if (!in_open_transaction) (void)session.Exec("COMMIT");
  if (!s.ok()) return s;
  reader.FinishSignatures();
  return std::move(reader.catalog);
}

std::vector<std::string> Facts(const Catalog& catalog) {
  std::vector<std::string> facts;
  for (const auto& [key, o] : catalog.objects) facts.push_back(key + ": " + o.signature);
  return facts;
}

}  // namespace strata::schemadiff
