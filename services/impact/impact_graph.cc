#include "impact/impact_graph.h"

#include <algorithm>
#include <deque>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "fmt/format.h"
#include "model/object_id.h"

namespace strata::impact {

namespace keys {
namespace {
std::string Keyed(char prefix, sql::RefClass cls, const std::string& qualified) {
  std::string out;
  out.reserve(3 + qualified.size());
  out.push_back(prefix);
  out.push_back('/');
  out.push_back(static_cast<char>('0' + static_cast<int>(cls)));
  out += qualified;
  return out;
}
}  // namespace
std::string Object(const std::string& id) { return "o/" + id; }
std::string Definition(const std::string& id) { return "s/" + id; }
std::string Names(sql::RefClass cls, const std::string& qualified) { return Keyed('n', cls, qualified); }
std::string Dependents(sql::RefClass cls, const std::string& qualified) { return Keyed('d', cls, qualified); }
}  // namespace keys

std::optional<std::pair<sql::RefClass, std::string>> NameOf(const std::string& object_id) {
  const size_t colon = object_id.find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto cls = sql::RefClassOfKind(object_id.substr(0, colon));
  if (!cls) return std::nullopt;
  std::string name = object_id.substr(colon + 1);
  if (*cls == sql::RefClass::kFunction) name = name.substr(0, name.find('('));
  return std::make_pair(*cls, name);
}

namespace {

std::string KindOf(const std::string& id) { return id.substr(0, id.find(':')); }

int ArgCount(const std::string& id) {
  const size_t open = id.find('(');
  if (open == std::string::npos || id.compare(open, 2, "()") == 0) return 0;
  // Types have no commas outside parentheses in canonical signatures except
  // between arguments: "numeric(12,2)" never appears (signatures drop modifiers).
  return 1 + static_cast<int>(std::count(id.begin() + static_cast<long>(open), id.end(), ','));
}

bool HasVia(const google::protobuf::RepeatedPtrField<std::string>& via, std::string_view v) {
  return std::find(via.begin(), via.end(), v) != via.end();
}

}  // namespace

void StoreModel(const sql::ObjectInfo& info, internal::ImpactObject* o) {
  o->clear_columns();
  for (const auto& c : info.columns) {
    auto* col = o->add_columns();
    col->set_name(c.name);
    col->set_type(c.type);
    col->set_not_null(c.not_null);
    col->set_has_default(c.has_default);
  }
  o->mutable_enum_labels()->Assign(info.enum_labels.begin(), info.enum_labels.end());
  o->mutable_arg_types()->Assign(info.arg_types.begin(), info.arg_types.end());
  o->set_return_type(info.return_type);
  o->set_language(info.language);
  o->set_index_table(info.index_table);
  o->set_index_concurrently(info.index_concurrently);
  o->clear_references();
  for (const auto& r : info.references) {
    auto* ref = o->add_references();
    ref->set_cls(static_cast<int>(r.cls));
    ref->set_schema(r.schema);
    ref->set_name(r.name);
    ref->set_nargs(r.nargs);
    ref->mutable_columns()->Assign(r.columns.begin(), r.columns.end());
    ref->set_all_columns(r.all_columns);
    ref->mutable_via()->Assign(r.via.begin(), r.via.end());
  }
  o->clear_foreign_keys();
  for (const auto& fk : info.foreign_keys) {
    auto* f = o->add_foreign_keys();
    f->set_name(fk.name);
    f->set_ref_schema(fk.ref_schema);
    f->set_ref_table(fk.ref_table);
  }
  o->mutable_notes()->Assign(info.notes.begin(), info.notes.end());
}

sql::ObjectInfo LoadModel(const std::string& id, const internal::ImpactObject& o) {
  sql::ObjectInfo info;
  if (auto parsed = model::ParseObjectId(id); parsed.ok()) info.id = *parsed;
  for (const auto& c : o.columns())
    info.columns.push_back({.name = c.name(), .type = c.type(), .not_null = c.not_null(), .has_default = c.has_default()});
  info.enum_labels.assign(o.enum_labels().begin(), o.enum_labels().end());
  info.arg_types.assign(o.arg_types().begin(), o.arg_types().end());
  info.return_type = o.return_type();
  info.language = o.language();
  info.index_table = o.index_table();
  info.index_concurrently = o.index_concurrently();
  for (const auto& r : o.references()) {
    sql::Reference ref;
    ref.cls = static_cast<sql::RefClass>(r.cls());
    ref.schema = r.schema();
    ref.name = r.name();
    ref.nargs = r.nargs();
    ref.columns.assign(r.columns().begin(), r.columns().end());
    ref.all_columns = r.all_columns();
    ref.via.assign(r.via().begin(), r.via().end());
    info.references.push_back(std::move(ref));
  }
  for (const auto& f : o.foreign_keys())
    info.foreign_keys.push_back({.name = f.name(), .ref_schema = f.ref_schema(), .ref_table = f.ref_table()});
  info.notes.assign(o.notes().begin(), o.notes().end());
  return info;
}

absl::StatusOr<std::optional<internal::ImpactObject>> GraphStore::Object(const std::string& id) const {
  auto v = get_(keys::Object(id));
  if (!v.ok()) return v.status();
  if (!*v) return std::nullopt;
  internal::ImpactObject o;
  if (!o.ParseFromString(**v)) return absl::DataLossError(fmt::format("unreadable impact record of {}", id));
  return o;
}

absl::StatusOr<std::vector<std::string>> GraphStore::Named(sql::RefClass cls, const std::string& qualified) const {
  auto v = get_(keys::Names(cls, qualified));
  if (!v.ok()) return v.status();
  if (!*v) return std::vector<std::string>{};
  internal::ImpactNames names;
  if (!names.ParseFromString(**v)) return absl::DataLossError(fmt::format("unreadable name index of {}", qualified));
  return std::vector<std::string>(names.ids().begin(), names.ids().end());
}

absl::StatusOr<internal::ImpactDependents> GraphStore::DependentsOfName(sql::RefClass cls,
                                                                        const std::string& qualified) const {
  internal::ImpactDependents d;
  auto v = get_(keys::Dependents(cls, qualified));
  if (!v.ok()) return v.status();
  if (*v && !d.ParseFromString(**v))
    return absl::DataLossError(fmt::format("unreadable dependents of {}", qualified));
  return d;
}

absl::StatusOr<std::vector<std::string>> GraphStore::Targets(const internal::ImpactReference& ref) const {
  const auto cls = static_cast<sql::RefClass>(ref.cls());
  const std::string qualified = ref.schema().empty() ? ref.name() : ref.schema() + "." + ref.name();
  auto ids = Named(cls, qualified);
  if (!ids.ok()) return ids;
  // A dropped object is no target: what still names it names nothing.
  std::erase_if(*ids, [this](const std::string& id) {
    auto o = Object(id);
    return o.ok() && *o && (*o)->dropped();
  });
  if (cls != sql::RefClass::kFunction || ids->size() <= 1 || ref.nargs() < 0) return ids;
  std::vector<std::string> matching;
  for (const auto& id : *ids)
    if (ArgCount(id) == ref.nargs()) matching.push_back(id);
  return matching.empty() ? *ids : matching;
}

absl::StatusOr<std::vector<internal::ImpactEdge>> GraphStore::DirectDependents(const std::string& id) const {
  auto name = NameOf(id);
  if (!name) return std::vector<internal::ImpactEdge>{};
  auto deps = DependentsOfName(name->first, name->second);
  if (!deps.ok()) return deps.status();
  std::vector<internal::ImpactEdge> out;
  bool overloaded = false;
  if (name->first == sql::RefClass::kFunction) {
    auto ids = Named(name->first, name->second);
    if (!ids.ok()) return ids.status();
    overloaded = ids->size() > 1;
  }
  const int nargs = ArgCount(id);
  for (auto& e : *deps->mutable_edges()) {
    if (e.source() == id) continue;
    if (overloaded && e.nargs() >= 0 && e.nargs() != nargs) continue;
    out.push_back(std::move(e));
  }
  return out;
}

sql::Catalog GraphStore::MakeCatalog() const {
  sql::Catalog c;
  c.exists = [this](sql::RefClass cls, const std::string& schema, const std::string& name) {
    auto ids = Named(cls, schema + "." + name);
    if (!ids.ok()) return false;
    for (const auto& id : *ids) {  // names stay when objects are dropped
      auto o = Object(id);
      if (o.ok() && *o && !(*o)->dropped()) return true;
    }
    return false;
  };
  c.columns = [this](const std::string& schema,
                     const std::string& name) -> std::optional<std::vector<std::string>> {
    auto ids = Named(sql::RefClass::kRelation, schema + "." + name);
    if (!ids.ok() || ids->empty()) return std::nullopt;
    auto o = Object(ids->front());
    if (!o.ok() || !*o || (*o)->latest_version() == 0 || (*o)->dropped() || !(*o)->analysis_error().empty())
      return std::nullopt;
    const std::string kind = (*o)->kind();
    if (kind == "sequence" || kind == "index") return std::nullopt;
    std::vector<std::string> cols;
    for (const auto& col : (*o)->columns()) cols.push_back(col.name());
    return cols;
  };
  return c;
}

absl::StatusOr<v1::DependencyTree> GraphStore::TreeOf(const std::string& id) const {
  v1::DependencyTree tree;
  tree.set_object(id);
  auto root = Object(id);
  if (!root.ok()) return root.status();
  if (!*root) return absl::NotFoundError(fmt::format("unknown object {}", id));
  tree.set_version((*root)->latest_version());
  tree.mutable_notes()->CopyFrom((*root)->notes());
  return tree;
}

absl::StatusOr<v1::DependencyTree> GraphStore::Dependencies(const std::string& id, uint32_t depth) const {
  auto started = TreeOf(id);
  if (!started.ok()) return started.status();
  v1::DependencyTree& tree = *started;
  absl::flat_hash_set<std::string> seen = {id};
  std::deque<std::pair<std::string, uint32_t>> queue = {{id, 0}};
  while (!queue.empty()) {
    // Plain variables, not a structured binding: lambdas below capture
    // them (clang 14 cannot capture bindings).
    const std::string current = queue.front().first;
    const uint32_t level = queue.front().second;
    queue.pop_front();
    if (depth && level >= depth) continue;
    auto o = Object(current);
    if (!o.ok()) return o.status();
    if (!*o) continue;
    for (const auto& ref : (*o)->references()) {
      auto targets = Targets(ref);
      if (!targets.ok()) return targets.status();
      const auto cls = static_cast<sql::RefClass>(ref.cls());
      // A node reached through `ref`.
      auto add_node = [&](const std::string& object, const std::string& kind) {
        v1::Dependency* d = tree.add_nodes();
        d->set_object(object);
        d->set_kind(kind);
        d->set_depth(level + 1);
        d->set_parent(current);
        d->mutable_columns()->CopyFrom(ref.columns());
        d->set_all_columns(ref.all_columns());
        d->mutable_via()->CopyFrom(ref.via());
        return d;
      };
      if (targets->empty()) {
        const std::string name = fmt::format("{}:{}.{}", sql::RefClassName(cls), ref.schema(), ref.name());
        if (seen.insert(name).second) add_node(name, sql::RefClassName(cls))->set_unknown(true);
        continue;
      }
      for (const auto& target : *targets) {
        if (target == current || !seen.insert(target).second) continue;
        auto t = Object(target);
        if (!t.ok()) return t.status();
        add_node(target, KindOf(target))->set_version(*t ? (*t)->latest_version() : 0);
        queue.push_back({target, level + 1});
      }
    }
  }
  return std::move(tree);
}

absl::StatusOr<std::vector<v1::Dependency>> GraphStore::DependentsOfSet(const std::vector<std::string>& ids,
                                                                        uint32_t depth) const {
  std::vector<v1::Dependency> out;
  absl::flat_hash_set<std::string> seen(ids.begin(), ids.end());
  std::deque<std::pair<std::string, uint32_t>> queue;
  for (const auto& id : ids) queue.push_back({id, 0});
  while (!queue.empty()) {
    // Plain variables, not a structured binding: lambdas below capture
    // them (clang 14 cannot capture bindings).
    const std::string current = queue.front().first;
    const uint32_t level = queue.front().second;
    queue.pop_front();
    if (depth && level >= depth) continue;
    // One read per object: the edges carry what a node shows.
    auto edges = DirectDependents(current);
    if (!edges.ok()) return edges.status();
    for (auto& e : *edges) {
      if (!seen.insert(e.source()).second) continue;
      v1::Dependency d;
      d.set_object(e.source());
      d.set_kind(KindOf(e.source()));
      d.set_depth(level + 1);
      d.set_parent(current);
      d.mutable_columns()->Swap(e.mutable_columns());
      d.set_all_columns(e.all_columns());
      d.mutable_via()->Swap(e.mutable_via());
      d.set_version(e.version());
      out.push_back(std::move(d));
      queue.push_back({e.source(), level + 1});
    }
  }
  return out;
}

absl::StatusOr<v1::DependencyTree> GraphStore::Dependents(const std::string& id, uint32_t depth) const {
  auto tree = TreeOf(id);
  if (!tree.ok()) return tree.status();
  auto nodes = DependentsOfSet({id}, depth);
  if (!nodes.ok()) return nodes.status();
  for (auto& n : *nodes) *tree->add_nodes() = std::move(n);
  return tree;
}

absl::StatusOr<sql::OrderInput> GraphStore::OrderInputOf(const std::string& id,
                                                         const internal::ImpactObject& o) const {
  sql::OrderInput in;
  in.id = id;
  in.kind = KindOf(id);
  auto parsed = model::ParseObjectId(id);
  if (parsed.ok() && !parsed->schema.empty()) in.depends_on.push_back("schema:" + parsed->schema);
  // PL/pgSQL bodies are not checked when the function is created.
  const bool soft_body = o.language() == "plpgsql";
  for (const auto& ref : o.references()) {
    auto targets = Targets(ref);
    if (!targets.ok()) return targets.status();
    const bool only_fk = ref.via_size() == 1 && ref.via(0) == "foreign key";
    const bool only_body = std::all_of(ref.via().begin(), ref.via().end(), [](const std::string& v) {
      return v == "body" || v == "call" || v == "from" || v == "writes" || v == "sequence";
    }) && HasVia(ref.via(), "body");
    for (const auto& t : *targets) {
      if (only_fk) {
        bool named = false;
        for (const auto& fk : o.foreign_keys())
          if (fk.ref_schema() == ref.schema() && fk.ref_table() == ref.name()) {
            in.foreign_keys.push_back({fk.name(), t});
            named = true;
          }
        if (!named) in.foreign_keys.push_back({"", t});
      } else if (only_body && soft_body) {
        in.soft_depends_on.push_back(t);
      } else {
        in.depends_on.push_back(t);
      }
    }
  }
  return in;
}

}  // namespace strata::impact
