#include "impact/impact_projection.h"

#include <algorithm>
#include <thread>

#include "fmt/format.h"
#include "model/object_id.h"
#include "sql/order.h"

namespace strata::impact {
namespace {

GraphStore StoreOver(projection::StateTxn& txn) {
  return GraphStore([&txn](const std::string& key) { return txn.Get(key); });
}

std::vector<std::string> ColumnNames(const internal::ImpactObject& o) {
  std::vector<std::string> out;
  for (const auto& c : o.columns()) out.push_back(c.name());
  return out;
}

std::string Qualified(const internal::ImpactReference& r) { return r.schema() + "." + r.name(); }

// A lost cascade is bounded: a schema's views nest a few levels deep.
constexpr size_t kMaxReanalyzed = 10'000;
// From this many check-ins in one commit on (a replay), definitions are
// parsed on the other cores, at most this many ahead of the analysis.
constexpr size_t kPrepareAheadFrom = 64;
constexpr size_t kPrepareWindow = 256;

}  // namespace

decide::AggregateFacts ImpactProjection::FactsOf(const internal::ImpactObject& o) {
  decide::AggregateFacts f;
  f.last_seq = o.last_seq();
  f.holder = o.holder();
  f.latest_version = o.latest_version();
  return f;
}

absl::Status ImpactProjection::Apply(const v1::Event& event, const eventlog::Position&,
                                     projection::StateTxn& txn) {
  constexpr std::string_view kPrefix = "object:";
  if (!std::string_view(event.aggregate()).starts_with(kPrefix)) return absl::OkStatus();
  const std::string id = event.aggregate().substr(kPrefix.size());
  GraphStore store = StoreOver(txn);
  auto loaded = store.Object(id);
  if (!loaded.ok()) return loaded.status();
  internal::ImpactObject o = loaded->value_or(internal::ImpactObject());
  decide::AggregateFacts facts = FactsOf(o);
  if (!decide::Decide(event, facts).accepted()) return absl::OkStatus();
  decide::Advance(event, &facts);
  o.set_last_seq(facts.last_seq);
  o.set_holder(facts.holder);
  o.set_latest_version(facts.latest_version);
  if (event.has_checked_in()) {
    const bool first = o.kind().empty();
    o.set_kind(id.substr(0, id.find(':')));
    txn.Put(keys::Definition(id), event.checked_in().definition());
    o.set_dropped(event.checked_in().dropped());
    if (first)
      if (absl::Status s = AddName(id, txn); !s.ok()) return s;
    if (pending_.insert(id).second) pending_order_.push_back(id);
    const auto& keys = event.checked_in().references().keys();
    pending_keys_[id].assign(keys.begin(), keys.end());
  }
  txn.Put(keys::Object(id), o.SerializeAsString());
  return absl::OkStatus();
}

absl::Status ImpactProjection::Flush(projection::StateTxn& txn) {
  const std::vector<std::string> ids = AnalysisOrder(std::move(pending_order_));
  GraphStore store = StoreOver(txn);
  // Parsing needs only the text: the other cores parse the definitions a
  // little ahead of the analysis, which needs what was analyzed before it
  // and runs here, in order. (A replay's commit holds up to 100,000s.)
  std::vector<std::string> definitions(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto stored = txn.Get(keys::Definition(ids[i]));
    if (!stored.ok()) return stored.status();
    definitions[i] = stored->value_or("");
  }
  const size_t workers = ids.size() >= kPrepareAheadFrom ? std::max(std::thread::hardware_concurrency(), 1u) - 1 : 0;
  sql::PrepareAhead ahead(std::vector<std::string_view>(definitions.begin(), definitions.end()),
                          std::min<size_t>(workers, 7), kPrepareWindow);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto o = store.Object(ids[i]);
    if (!o.ok()) return o.status();
    if (!*o) continue;
    sql::Prepared prepared = ahead.Take(i);
    absl::flat_hash_set<std::string> visited;
    if (absl::Status s = Analyze(ids[i], **o, txn, visited, std::move(prepared)); !s.ok()) return s;
  }
  for (auto& [key, cached] : dependents_) {
    if (!cached.changed) continue;
    if (cached.record.edges().empty()) txn.Delete(key);
    else txn.Put(key, cached.record.SerializeAsString());
    ++dependents_written_;
  }
  dependents_.clear();
  pending_.clear();
  pending_order_.clear();
  pending_keys_.clear();
  return absl::OkStatus();
}

std::vector<std::string> ImpactProjection::AnalysisOrder(std::vector<std::string> ids) const {
  // What others use first: the fewer dependents analyzed before what they
  // use, the fewer are analyzed again (a relation analyzed for the first
  // time or with new columns redoes its dependents). The result does not
  // depend on this order, only the cost. Objects among `ids` are ordered by
  // the names their definitions use (sql::OrderByDependency, as soft edges:
  // a cycle only loses the order), then by kind and id. Should that fail,
  // by kind, then in the order they arrived.
  absl::flat_hash_map<std::string, std::string> id_of_key;
  for (const auto& id : ids)
    if (auto parsed = model::ParseObjectId(id); parsed.ok())
      if (auto key = sql::DependencyKeyOf(*parsed)) id_of_key.emplace(*key, id);
  std::vector<sql::OrderInput> input;
  input.reserve(ids.size());
  for (const auto& id : ids) {
    sql::OrderInput in;
    in.id = id;
    in.kind = id.substr(0, id.find(':'));
    if (auto it = pending_keys_.find(id); it != pending_keys_.end())
      for (const auto& key : it->second)
        if (auto used = id_of_key.find(key); used != id_of_key.end() && used->second != id)
          in.soft_depends_on.push_back(used->second);
    input.push_back(std::move(in));
  }
  if (auto steps = sql::OrderByDependency(input); steps.ok()) {
    std::vector<std::string> out;
    out.reserve(ids.size());
    for (const auto& step : *steps)
      if (!step.split_constraint()) out.push_back(step.object);
    if (out.size() == ids.size()) return out;
  }
  std::stable_sort(ids.begin(), ids.end(), [](const std::string& a, const std::string& b) {
    return sql::KindRank(a.substr(0, a.find(':'))) < sql::KindRank(b.substr(0, b.find(':')));
  });
  return ids;
}

absl::Status ImpactProjection::Analyze(const std::string& id, internal::ImpactObject& o,
                                       projection::StateTxn& txn, absl::flat_hash_set<std::string>& visited,
                                       sql::Prepared prepared) {
  visited.insert(id);
  GraphStore store = StoreOver(txn);
  const std::vector<std::string> columns_before = ColumnNames(o);
  const bool had_model = !o.fingerprint().empty();
  if (absl::Status s = RemoveEdges(id, o, txn); !s.ok()) return s;
  if (o.dropped()) {
    StoreModel(sql::ObjectInfo{}, &o);
    o.clear_fingerprint();
    o.clear_analysis_error();
    txn.Put(keys::Object(id), o.SerializeAsString());
    return ReanalyzeDependents(id, txn, visited);
  }

  ++analyses_;
  o.set_fingerprint(prepared.fingerprint.ok() ? *prepared.fingerprint : "");
  const sql::Catalog catalog = store.MakeCatalog();
  absl::StatusOr<sql::ObjectInfo> info =
      prepared.definition.ok()
          ? sql::AnalyzePrepared(*prepared.definition, {.search_path = search_path_, .catalog = &catalog})
          : absl::StatusOr<sql::ObjectInfo>(prepared.definition.status());
  o.clear_analysis_error();
  if (info.ok() && info->id.ToString() != id) {
    info = absl::InvalidArgumentError(fmt::format("the definition defines {}, not {}", info->id.ToString(), id));
  }
  if (info.ok()) {
    StoreModel(*info, &o);
  } else {
    // Definitions checked in before the identity check existed may not
    // analyze; the object then stands alone in the graph.
    StoreModel(sql::ObjectInfo{}, &o);
    o.set_analysis_error(std::string(info.status().message()));
  }
  if (absl::Status s = AddEdges(id, o, txn); !s.ok()) return s;
  txn.Put(keys::Object(id), o.SerializeAsString());

  if (had_model && ColumnNames(o) == columns_before) return absl::OkStatus();
  return ReanalyzeDependents(id, txn, visited);
}

// What uses relation `id` is analyzed again: its columns changed, or it
// was dropped.
absl::Status ImpactProjection::ReanalyzeDependents(const std::string& id, projection::StateTxn& txn,
                                                   absl::flat_hash_set<std::string>& visited) {
  GraphStore store = StoreOver(txn);
  auto name = NameOf(id);
  if (!name || name->first != sql::RefClass::kRelation) return absl::OkStatus();
  auto deps = Dependents(name->first, name->second, txn);
  if (!deps.ok()) return deps.status();
  std::vector<std::string> sources;
  for (const auto& e : (*deps)->edges()) sources.push_back(e.source());  // sorted by source
  for (const auto& source : sources) {
    if (visited.contains(source) || visited.size() >= kMaxReanalyzed) continue;
    auto dependent = store.Object(source);
    if (!dependent.ok()) return dependent.status();
    if (!*dependent || (*dependent)->latest_version() == 0) continue;
    auto definition = txn.Get(keys::Definition(source));
    if (!definition.ok()) return definition.status();
    if (absl::Status s = Analyze(source, **dependent, txn, visited, sql::Prepare(definition->value_or("")));
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<internal::ImpactDependents*> ImpactProjection::Dependents(sql::RefClass cls,
                                                                         const std::string& qualified,
                                                                         projection::StateTxn& txn) {
  const std::string key = keys::Dependents(cls, qualified);
  if (auto it = dependents_.find(key); it != dependents_.end()) return &it->second.record;
  auto stored = StoreOver(txn).DependentsOfName(cls, qualified);
  if (!stored.ok()) return stored.status();
  return &dependents_.emplace(key, CachedDependents{std::move(*stored), false}).first->second.record;
}

// Edits the dependents record of each name `o` references with `change`
// (written at the end of Flush; deleted when it ends up empty).
template <typename Change>
absl::Status ImpactProjection::RewriteDependents(const internal::ImpactObject& o, projection::StateTxn& txn,
                                                 Change change) {
  for (const auto& ref : o.references()) {
    const auto cls = static_cast<sql::RefClass>(ref.cls());
    auto deps = Dependents(cls, Qualified(ref), txn);
    if (!deps.ok()) return deps.status();
    change(ref, (*deps)->mutable_edges());
    dependents_[keys::Dependents(cls, Qualified(ref))].changed = true;
  }
  return absl::OkStatus();
}

absl::Status ImpactProjection::RemoveEdges(const std::string& id, const internal::ImpactObject& o,
                                           projection::StateTxn& txn) {
  return RewriteDependents(o, txn, [&](const internal::ImpactReference&, auto* edges) {
    edges->erase(std::remove_if(edges->begin(), edges->end(),
                                [&](const internal::ImpactEdge& e) { return e.source() == id; }),
                 edges->end());
  });
}

absl::Status ImpactProjection::AddEdges(const std::string& id, const internal::ImpactObject& o,
                                        projection::StateTxn& txn) {
  return RewriteDependents(o, txn, [&](const internal::ImpactReference& ref, auto* edges) {
    // Kept sorted by source (the record is the same whatever the order of
    // events): inserted in place, not sorted again.
    const auto at = std::lower_bound(edges->begin(), edges->end(), id,
                                     [](const internal::ImpactEdge& e, const std::string& s) { return e.source() < s; });
    const int index = static_cast<int>(at - edges->begin());
    internal::ImpactEdge* e = edges->Add();
    e->set_source(id);
    e->set_version(o.latest_version());
    e->set_nargs(ref.nargs());
    *e->mutable_columns() = ref.columns();
    e->set_all_columns(ref.all_columns());
    *e->mutable_via() = ref.via();
    for (int i = edges->size() - 1; i > index; --i) edges->SwapElements(i, i - 1);
  });
}

absl::Status ImpactProjection::AddName(const std::string& id, projection::StateTxn& txn) {
  auto name = NameOf(id);
  if (!name) return absl::OkStatus();
  GraphStore store = StoreOver(txn);
  auto ids = store.Named(name->first, name->second);
  if (!ids.ok()) return ids.status();
  if (std::find(ids->begin(), ids->end(), id) != ids->end()) return absl::OkStatus();
  ids->push_back(id);
  std::sort(ids->begin(), ids->end());
  internal::ImpactNames names;
  names.mutable_ids()->Assign(ids->begin(), ids->end());
  txn.Put(keys::Names(name->first, name->second), names.SerializeAsString());
  return absl::OkStatus();
}

}  // namespace strata::impact
