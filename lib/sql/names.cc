// Names PostgreSQL defines itself, and the name spaces of object kinds.
#include <algorithm>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "sql/analyze.h"

namespace strata::sql {
namespace {

#include "sql/pg_catalog_names.inc"

template <size_t N>
absl::flat_hash_set<std::string_view> SetOf(const char* const (&names)[N]) {
  return absl::flat_hash_set<std::string_view>(std::begin(names), std::end(names));
}

}  // namespace

bool IsBuiltinFunction(std::string_view name) {
  static const auto* kSet = new absl::flat_hash_set<std::string_view>(SetOf(kBuiltinFunctions));
  return kSet->contains(name);
}

bool IsBuiltinType(std::string_view name) {
  static const auto* kSet = [] {
    auto* s = new absl::flat_hash_set<std::string_view>(SetOf(kBuiltinTypes));
    // Names the grammar accepts besides pg_type's own (they parse to pg_catalog types).
    for (std::string_view n : {"integer", "int", "smallint", "bigint", "real", "double precision",
                               "boolean", "character varying", "character", "decimal", "dec",
                               "serial", "bigserial", "smallserial", "serial4", "serial8", "serial2",
                               "timestamp with time zone", "timestamp without time zone",
                               "time with time zone", "time without time zone", "bit varying"})
      s->insert(n);
    return s;
  }();
  return kSet->contains(name);
}

bool IsBuiltinRelation(std::string_view schema, std::string_view name) {
  static const auto* kSet = new absl::flat_hash_set<std::string_view>(SetOf(kBuiltinRelations));
  if (schema.empty()) return kSet->contains("pg_catalog." + std::string(name));
  return kSet->contains(std::string(schema) + "." + std::string(name));
}

const char* RefClassName(RefClass c) {
  switch (c) {
    case RefClass::kRelation: return "relation";
    case RefClass::kType: return "type";
    case RefClass::kFunction: return "function";
    case RefClass::kSchema: return "schema";
    case RefClass::kExtension: return "extension";
  }
  return "?";
}

std::optional<RefClass> RefClassOfKind(std::string_view kind) {
  if (kind == "table" || kind == "view" || kind == "materialized_view" || kind == "sequence" ||
      kind == "index")
    return RefClass::kRelation;
  if (kind == "type" || kind == "domain") return RefClass::kType;
  if (kind == "function" || kind == "procedure") return RefClass::kFunction;
  if (kind == "schema") return RefClass::kSchema;
  if (kind == "extension") return RefClass::kExtension;
  return std::nullopt;
}

namespace {
std::string Key(RefClass cls, std::string_view qualified) { return std::string(RefClassName(cls)) + ":" + std::string(qualified); }
}  // namespace

std::optional<std::string> DependencyKeyOf(const model::ObjectId& id) {
  auto cls = RefClassOfKind(id.kind);
  if (!cls) return std::nullopt;
  std::string name = id.name;
  if (*cls == RefClass::kFunction) name = name.substr(0, name.find('('));
  if (*cls == RefClass::kSchema || *cls == RefClass::kExtension) return Key(*cls, name);
  return Key(*cls, id.schema.empty() ? name : id.schema + "." + name);
}

std::vector<std::string> DependencyKeys(const ObjectInfo& info) {
  std::vector<std::string> keys;
  for (const auto& r : info.references) keys.push_back(Key(r.cls, r.QualifiedName()));
  if (!info.index_table.empty()) keys.push_back(Key(RefClass::kRelation, info.index_table));
  if (!info.id.schema.empty() && info.id.kind != "schema" && info.id.kind != "extension")
    keys.push_back(Key(RefClass::kSchema, info.id.schema));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  if (auto self = DependencyKeyOf(info.id)) std::erase(keys, *self);
  return keys;
}

std::string Reference::QualifiedName() const { return schema.empty() ? name : absl::StrCat(schema, ".", name); }

const Column* ObjectInfo::FindColumn(std::string_view name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace strata::sql
