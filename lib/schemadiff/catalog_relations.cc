// The catalog reader: extensions, schemas, types, relations and what belongs to them (see
// catalog_reader.h).
#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "schemadiff/catalog_reader.h"

namespace strata::schemadiff::catalog_internal {

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

}  // namespace strata::schemadiff::catalog_internal
