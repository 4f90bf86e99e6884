#include "deploy/deploy_projection.h"

#include <algorithm>
#include <limits>
#include <memory>

#include "absl/strings/numbers.h"
#include "fmt/format.h"
#include "metrics/metrics.h"
#include "model/object_id.h"
#include "rocksdb/db.h"

namespace strata::deploy {

void DecisionBoard::Expect(const std::string& id) {
  absl::MutexLock l(&mu_);
  expected_[id] = std::nullopt;
}
void DecisionBoard::Forget(const std::string& id) {
  absl::MutexLock l(&mu_);
  expected_.erase(id);
}
void DecisionBoard::Publish(const std::string& id, const decide::Decision& d) {
  absl::MutexLock l(&mu_);
  if (auto it = expected_.find(id); it != expected_.end()) it->second = d;
}
std::optional<decide::Decision> DecisionBoard::Take(const std::string& id) {
  absl::MutexLock l(&mu_);
  auto it = expected_.find(id);
  if (it == expected_.end()) return std::nullopt;
  auto d = it->second;
  expected_.erase(it);
  return d;
}

namespace keys {
std::string Object(const std::string& id) { return "o/" + id; }
std::string Renames(const std::string& id, uint64_t version) {
  return fmt::format("C/{}{}{:020d}", id, '\0', version);
}
std::string Version(const std::string& id, uint64_t version) {
  return fmt::format("v/{}{}{:020d}", id, '\0', version);
}
std::string Baseline(const std::string& name) { return "b/" + name; }
std::string Environment(const std::string& name) { return "e/" + name; }
std::string EnvironmentObjects(const std::string& name) { return "E/" + name; }
std::string Release(const std::string& name) { return "r/" + name; }
std::string ReleaseEntries(const std::string& name) { return "q/" + name; }
std::string Deployment(const std::string& id) { return "D/" + id; }
std::string DeploymentDetail(const std::string& id) { return "X/" + id; }
std::string EnvironmentDeploymentsPrefix(const std::string& env) { return "d/" + env + std::string(1, '\0'); }
std::string LatestDeploymentOfRelease(const std::string& env, const std::string& release) {
  return "L/" + env + std::string(1, '\0') + release;
}
std::string Succeeded(const std::string& env, const std::string& release) {
  return "s/" + env + std::string(1, '\0') + release;
}
std::string DataTable(const std::string& qualified) { return "t/" + qualified; }
std::string TaskObject(const std::string& task, const std::string& id) {
  return "T/" + task + std::string(1, '\0') + id;
}
std::string VersionTask(const std::string& id, uint64_t version) {
  return fmt::format("K/{}{}{:020d}", id, '\0', version);
}
std::string DataVersion(const std::string& qualified, uint64_t version) {
  return fmt::format("R/{}{}{:020d}", qualified, '\0', version);
}
}  // namespace keys

namespace {

template <typename Message>
absl::StatusOr<std::optional<Message>> GetMessage(projection::StateTxn& txn, const std::string& key) {
  auto raw = txn.Get(key);
  if (!raw.ok()) return raw.status();
  if (!*raw) return std::optional<Message>();
  Message m;
  if (!m.ParseFromString(**raw)) return absl::DataLossError("corrupt deploy state at " + key);
  return std::optional<Message>(std::move(m));
}

template <typename Message>
absl::StatusOr<std::optional<Message>> ReadMessage(rocksdb::DB* db, const std::string& key) {
  std::string raw;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &raw);
  if (s.IsNotFound()) return std::optional<Message>();
  if (!s.ok()) return absl::InternalError(s.ToString());
  Message m;
  if (!m.ParseFromString(raw)) return absl::DataLossError("corrupt deploy state at " + key);
  return std::optional<Message>(std::move(m));
}

template <typename Message>
absl::StatusOr<std::vector<Message>> ReadAll(rocksdb::DB* db, const std::string& prefix) {
  std::vector<Message> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    Message m;
    if (!m.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
      return absl::DataLossError("corrupt deploy state at " + it->key().ToString());
    out.push_back(std::move(m));
  }
  return out;
}

bool IsObject(const std::string& aggregate) { return aggregate.rfind("object:", 0) == 0; }

metrics::Counter& ObjectScanCounter() {
  static metrics::Counter& c = metrics::Registry::Default().GetCounter(
      "strata_deploy_object_scans_total",
      "Reads of every object of the deploy projection, or of a slice of them (explicit requests, a guard found, "
      "the guard's periodic read-back; never per command)");
  return c;
}

// The object versions stored under `key` (none: empty).
absl::StatusOr<google::protobuf::RepeatedPtrField<v1::BaselineEntry>> GetEntries(projection::StateTxn& txn,
                                                                                 const std::string& key) {
  auto e = GetMessage<internal::Entries>(txn, key);
  if (!e.ok()) return e.status();
  if (!*e) return google::protobuf::RepeatedPtrField<v1::BaselineEntry>();
  return std::move(*(*e)->mutable_entries());
}

void PutEntries(projection::StateTxn& txn, const std::string& key,
                const google::protobuf::RepeatedPtrField<v1::BaselineEntry>& entries) {
  internal::Entries e;
  *e.mutable_entries() = entries;
  txn.Put(key, e.SerializeAsString());
}

}  // namespace

void DeployProjection::TrackObjectChanges(bool on) {
  if (!on) {
    tracking_.store(false);
    absl::MutexLock l(&changes_mu_);
    changes_.clear();
    changes_overflow_ = false;
    return;
  }
  tracking_.store(true);
}

ObjectChanges DeployProjection::TakeObjectChanges() {
  ObjectChanges out;
  {
    absl::MutexLock l(&changes_mu_);
    out.overflow = changes_overflow_;
    if (!out.overflow) out.ids.assign(changes_.begin(), changes_.end());
    changes_.clear();
    changes_overflow_ = false;
  }
  std::sort(out.ids.begin(), out.ids.end());
  return out;
}

void DeployProjection::BatchDone(bool committed) {
  bool notify = false;
  // Checked after the commit is durable (see TrackObjectChanges).
  if (committed && (!batch_objects_.empty() || batch_objects_overflow_) && tracking_.load()) {
    absl::MutexLock l(&changes_mu_);
    if (!changes_overflow_) {
      if (batch_objects_overflow_ || changes_.size() + batch_objects_.size() > max_tracked_changes_) {
        changes_overflow_ = true;
        changes_.clear();
      } else {
        changes_.insert(batch_objects_.begin(), batch_objects_.end());
      }
    }
    notify = true;
  }
  if (committed && batch_environments_) {
    env_generation_.fetch_add(1);
    notify = true;
  }
  batch_objects_.clear();
  batch_objects_overflow_ = false;
  batch_environments_ = false;
  if (notify && on_guard_change_) on_guard_change_();
}

void DeployProjection::Publish(const v1::Event& e, const decide::Decision& d) {
  if (board_) board_->Publish(e.event_id(), d);
}

absl::Status DeployProjection::Apply(const v1::Event& e, const eventlog::Position&, projection::StateTxn& txn) {
  if (e.seq() == 0) return absl::OkStatus();  // informational
  if (IsObject(e.aggregate())) return ApplyObject(e, txn);
  if (e.aggregate().rfind("env:", 0) == 0) return ApplyEnvironment(e, txn);
  if (e.aggregate().rfind("release:", 0) == 0) return ApplyRelease(e, txn);
  if (e.aggregate().rfind("baseline:", 0) == 0) return ApplyBaseline(e, txn);
  if (e.aggregate().rfind("data:", 0) == 0) return ApplyData(e, txn);
  if (e.aggregate().rfind("policy:", 0) == 0) return ApplyPolicy(e, txn);
  return absl::OkStatus();
}

// The policy (decided by the lock service): its latest file and the waivers,
// for findings at release creation and in plans.
absl::Status DeployProjection::ApplyPolicy(const v1::Event& e, projection::StateTxn& txn) {
  auto stored = txn.Get("Y/facts");
  if (!stored.ok()) return stored.status();
  decide::AggregateFacts facts;
  if (*stored) {
    const size_t nul = (*stored)->find('\0');
    if (nul == std::string::npos || !absl::SimpleAtoi((*stored)->substr(0, nul), &facts.last_seq) ||
        !absl::SimpleAtoi((*stored)->substr(nul + 1), &facts.latest_version))
      return absl::DataLossError("corrupt deploy state at Y/facts");
  }
  if (!decide::Decide(e, facts).accepted()) return absl::OkStatus();
  decide::Advance(e, &facts);
  txn.Put("Y/facts", fmt::format("{}{}{}", facts.last_seq, '\0', facts.latest_version));
  if (e.has_policy_set()) txn.Put("Y/policy", e.policy_set().SerializeAsString());
  if (e.has_policy_waived())
    txn.Put("Y/w/" + e.policy_waived().object() + std::string(1, '\0') + e.policy_waived().rule(),
            e.policy_waived().SerializeAsString());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::PolicySet>> DeployProjection::ReadPolicy(rocksdb::DB* db) {
  return ReadMessage<v1::PolicySet>(db, "Y/policy");
}

bool DeployProjection::Waived(rocksdb::DB* db, const std::string& object, const std::string& rule) {
  std::string ignored;
  return db->Get(rocksdb::ReadOptions(), "Y/w/" + object + std::string(1, '\0') + rule, &ignored).ok();
}

absl::Status DeployProjection::ApplyData(const v1::Event& e, projection::StateTxn& txn) {
  const std::string table = e.aggregate().substr(5);
  auto t = GetMessage<internal::DataTableState>(txn, keys::DataTable(table));
  if (!t.ok()) return t.status();
  internal::DataTableState state = t->value_or(internal::DataTableState());
  decide::AggregateFacts facts{.last_seq = state.last_seq(), .latest_version = state.latest_version(),
                               .tracked = state.tracked()};
  const decide::Decision d = decide::Decide(e, facts);
  Publish(e, d);
  if (!d.accepted()) return absl::OkStatus();
  state.set_last_seq(e.seq());
  switch (e.payload_case()) {
    case v1::Event::kDataTracked:
      state.set_tracked(true);
      *state.mutable_key() = e.data_tracked().key();
      break;
    case v1::Event::kDataUntracked:
      state.set_tracked(false);
      break;
    case v1::Event::kDataVersionStored: {
      const auto& v = e.data_version_stored();
      state.set_latest_version(v.version());
      state.set_latest_sha256(v.rows_sha256());
      state.set_row_count(v.row_count());
      internal::DataVersionRecord rec;
      *rec.mutable_stored() = v;
      rec.set_user(e.actor().user());
      rec.set_site(e.actor().site());
      *rec.mutable_time() = e.time();
      txn.PutBlind(keys::DataVersion(table, v.version()), rec.SerializeAsString());
      break;
    }
    default:
      break;
  }
  txn.Put(keys::DataTable(table), state.SerializeAsString());
  return absl::OkStatus();
}

absl::Status DeployProjection::ApplyObject(const v1::Event& e, projection::StateTxn& txn) {
  // Keyed by the canonical id, as the lock and history services key it.
  auto parsed = model::ObjectIdFromAggregate(e.aggregate());
  if (!parsed.ok()) {
    Publish(e, {decide::Verdict::kMalformed, std::string(parsed.status().message())});
    return absl::OkStatus();
  }
  const std::string id = parsed->ToString();
  auto o = GetMessage<internal::DeployObject>(txn, keys::Object(id));
  if (!o.ok()) return o.status();
  internal::DeployObject obj = o->value_or(internal::DeployObject());
  decide::AggregateFacts facts{.last_seq = obj.last_seq(), .holder = obj.holder(),
                               .latest_version = obj.latest_version()};
  const decide::Decision d = decide::Decide(e, facts);
  Publish(e, d);
  if (!d.accepted()) return absl::OkStatus();
  decide::Advance(e, &facts);
  obj.set_last_seq(facts.last_seq);
  if (facts.holder != obj.holder()) {
    if (facts.holder.empty()) {
      obj.clear_holder_site();
      obj.clear_held_since();
    } else {
      obj.set_holder_site(e.actor().site());
      *obj.mutable_held_since() = e.time();
    }
  }
  obj.set_holder(facts.holder);
  obj.set_latest_version(facts.latest_version);
  if (e.has_checked_in()) {
    obj.set_latest_sha256(e.checked_in().definition_sha256());
    obj.set_dropped(e.checked_in().dropped());
    txn.PutBlind(keys::Version(id, e.checked_in().version()), e.checked_in().definition());
    if (!e.checked_in().task().empty()) {
      // The work item's latest version of the object (versions only grow).
      txn.PutBlind(keys::TaskObject(e.checked_in().task(), id), std::to_string(e.checked_in().version()));
      txn.PutBlind(keys::VersionTask(id, e.checked_in().version()), e.checked_in().task());
    }
    if (!e.checked_in().renamed_columns().empty() || !e.checked_in().renamed_from().empty()) {
      v1::ObjectCheckedIn renames;
      *renames.mutable_renamed_columns() = e.checked_in().renamed_columns();
      renames.set_renamed_from(e.checked_in().renamed_from());
      renames.set_renamed_from_version(e.checked_in().renamed_from_version());
      txn.PutBlind(keys::Renames(id, e.checked_in().version()), renames.SerializeAsString());
    }
  }
  txn.Put(keys::Object(id), obj.SerializeAsString());
  // For the guard's feed. Kept whether or not it is tracked now: a commit
  // decides at its end (BatchDone), after the state is durable.
  if (!batch_objects_overflow_) {
    if (batch_objects_.size() < max_tracked_changes_) {
      batch_objects_.insert(id);
    } else {
      batch_objects_overflow_ = true;
      batch_objects_.clear();
    }
  }
  return absl::OkStatus();
}

absl::Status DeployProjection::ApplyBaseline(const v1::Event& e, projection::StateTxn& txn) {
  if (!e.has_baseline_created()) return absl::OkStatus();
  auto existing = txn.Get(keys::Baseline(e.baseline_created().name()));
  if (!existing.ok()) return existing.status();
  decide::AggregateFacts facts{.last_seq = *existing ? 1u : 0u};
  if (!decide::Decide(e, facts).accepted()) return absl::OkStatus();
  txn.Put(keys::Baseline(e.baseline_created().name()), e.baseline_created().SerializeAsString());
  return absl::OkStatus();
}

absl::Status DeployProjection::ApplyRelease(const v1::Event& e, projection::StateTxn& txn) {
  const std::string name = e.aggregate().substr(8);
  auto r = GetMessage<internal::ReleaseState>(txn, keys::Release(name));
  if (!r.ok()) return r.status();
  internal::ReleaseState state = r->value_or(internal::ReleaseState());
  decide::AggregateFacts facts{.last_seq = state.last_seq()};
  const decide::Decision d = decide::Decide(e, facts);
  Publish(e, d);
  if (!d.accepted()) return absl::OkStatus();
  state.set_last_seq(e.seq());
  v1::Release* rel = state.mutable_release();
  if (e.has_release_created()) {
    const auto& c = e.release_created();
    rel->set_name(c.name());
    rel->set_description(c.description());
    rel->set_user(e.actor().user());
    rel->set_site(e.actor().site());
    *rel->mutable_time() = e.time();
    PutEntries(txn, keys::ReleaseEntries(name), c.entries());
    *rel->mutable_changed() = c.changed();
    rel->set_base(c.base());
    *rel->mutable_data_scripts() = c.data_scripts();
    *rel->mutable_tasks() = c.tasks();
    rel->set_object_count(c.entries_size());
  } else if (e.has_release_approved()) {
    v1::Approval* a = rel->add_approvals();
    a->set_environment(e.release_approved().environment());
    a->set_comment(e.release_approved().comment());
    a->set_user(e.actor().user());
    *a->mutable_time() = e.time();
  }
  txn.Put(keys::Release(name), state.SerializeAsString());
  return absl::OkStatus();
}

absl::Status DeployProjection::ApplyEnvironment(const v1::Event& e, projection::StateTxn& txn) {
  const std::string name = e.aggregate().substr(4);
  auto s = GetMessage<internal::EnvironmentState>(txn, keys::Environment(name));
  if (!s.ok()) return s.status();
  internal::EnvironmentState state = s->value_or(internal::EnvironmentState());
  v1::Environment* env = state.mutable_environment();
  decide::AggregateFacts facts{.last_seq = state.last_seq(), .running_deployment = env->running_deployment()};
  const decide::Decision d = decide::Decide(e, facts);
  Publish(e, d);
  if (!d.accepted()) return absl::OkStatus();
  state.set_last_seq(e.seq());
  batch_environments_ = true;

  switch (e.payload_case()) {
    case v1::Event::kEnvironmentRegistered: {
      const auto& r = e.environment_registered();
      env->set_name(r.name());
      env->set_url(r.url());
      env->set_order(r.order());
      env->set_protected_(r.protected_());
      *env->mutable_deployers() = r.deployers();
      env->set_description(r.description());
      env->set_registered_by(e.actor().user());
      *env->mutable_registered_at() = e.time();
      break;
    }
    case v1::Event::kEnvironmentImported:
      PutEntries(txn, keys::EnvironmentObjects(name), e.environment_imported().entries());
      env->set_object_count(e.environment_imported().entries_size());
      break;
    case v1::Event::kDeploymentStarted: {
      const auto& st = e.deployment_started();
      internal::DeploymentRecord rec;
      v1::Deployment* dep = rec.mutable_deployment();
      dep->set_id(st.deployment_id());
      dep->set_environment(name);
      dep->set_release(st.release());
      dep->set_kind(st.kind());
      dep->set_rolls_back(st.rolls_back());
      dep->set_user(e.actor().user());
      dep->set_site(e.actor().site());
      *dep->mutable_started() = e.time();
      dep->set_status("running");
      dep->set_script_sha256(st.script_sha256());
      dep->set_drift_override(st.drift_override());
      rec.set_release_before(env->current_release());
      rec.set_backend_pid(st.backend_pid());
      internal::DeploymentDetail detail;
      auto before = GetEntries(txn, keys::EnvironmentObjects(name));
      if (!before.ok()) return before.status();
      *detail.mutable_before() = std::move(*before);
      *detail.mutable_after() = st.target();
      detail.set_script(st.script());
      detail.set_rollback_script(st.rollback_script());
      txn.Put(keys::Deployment(st.deployment_id()), rec.SerializeAsString());
      txn.Put(keys::DeploymentDetail(st.deployment_id()), detail.SerializeAsString());
      txn.Put(fmt::format("{}{:020d}", keys::EnvironmentDeploymentsPrefix(name), e.seq()), st.deployment_id());
      if (st.kind() == v1::DEPLOY) txn.Put(keys::LatestDeploymentOfRelease(name, st.release()), st.deployment_id());
      env->set_running_deployment(st.deployment_id());
      *env->mutable_last_deployment() = *dep;
      break;
    }
    case v1::Event::kDeploymentFinished: {
      const auto& f = e.deployment_finished();
      auto r = GetMessage<internal::DeploymentRecord>(txn, keys::Deployment(f.deployment_id()));
      if (!r.ok()) return r.status();
      env->clear_running_deployment();
      if (!*r) break;
      internal::DeploymentRecord rec = std::move(**r);
      v1::Deployment* dep = rec.mutable_deployment();
      dep->set_status(f.succeeded() ? "succeeded" : "failed");
      dep->set_duration_ms(f.duration_ms());
      dep->set_error(f.error());
      if (f.succeeded()) {
        auto detail = GetMessage<internal::DeploymentDetail>(txn, keys::DeploymentDetail(f.deployment_id()));
        if (!detail.ok()) return detail.status();
        const internal::DeploymentDetail after = detail->value_or(internal::DeploymentDetail());
        PutEntries(txn, keys::EnvironmentObjects(name), after.after());
        env->set_object_count(after.after_size());
        env->set_current_release(dep->release());
        if (dep->kind() == v1::DEPLOY) {
          txn.Put(keys::Succeeded(name, dep->release()), "");
        } else {
          auto undone = GetMessage<internal::DeploymentRecord>(txn, keys::Deployment(dep->rolls_back()));
          if (!undone.ok()) return undone.status();
          if (*undone) {
            (*undone)->mutable_deployment()->set_status("rolled back");
            txn.Put(keys::Deployment(dep->rolls_back()), (*undone)->SerializeAsString());
            // The release no longer counts as succeeded here (promotion gate).
            txn.Delete(keys::Succeeded(name, (*undone)->deployment().release()));
          }
        }
      }
      txn.Put(keys::Deployment(f.deployment_id()), rec.SerializeAsString());
      *env->mutable_last_deployment() = *dep;
      break;
    }
    default:
      break;
  }
  env->clear_state();  // kept under E/ (see the layout)
  txn.Put(keys::Environment(name), state.SerializeAsString());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<internal::DeployObject>> DeployProjection::ReadObject(rocksdb::DB* db,
                                                                                 const std::string& id) {
  return ReadMessage<internal::DeployObject>(db, keys::Object(id));
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> DeployProjection::ReadColumnRenames(
    rocksdb::DB* db, const std::string& id, uint64_t after, uint64_t up_to) {
  std::vector<std::pair<std::string, std::string>> renames;
  const std::string first = keys::Renames(id, after + 1), last = keys::Renames(id, up_to);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(first); it->Valid() && it->key().compare(last) <= 0; it->Next()) {
    v1::ObjectCheckedIn record;
    if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
      return absl::DataLossError("corrupt renames at " + it->key().ToString());
    for (const auto& r : record.renamed_columns()) renames.emplace_back(r.from(), r.to());
  }
  return renames;
}

std::vector<std::pair<std::string, std::string>> DeployProjection::ComposeColumnRenames(
    const std::vector<std::pair<std::string, std::string>>& renames) {
  // name at the start -> its name at the end, following each rename in turn.
  std::vector<std::pair<std::string, std::string>> chain;
  for (const auto& [from, to] : renames) {
    auto link = std::find_if(chain.begin(), chain.end(), [&f = from](const auto& c) { return c.second == f; });
    if (link != chain.end()) link->second = to;
    else chain.emplace_back(from, to);
  }
  std::erase_if(chain, [](const auto& c) { return c.first == c.second; });
  return chain;
}

absl::StatusOr<std::optional<DeployProjection::RenamedFrom>> DeployProjection::ReadRenamedFrom(
    rocksdb::DB* db, const std::string& id, uint64_t up_to) {
  const std::string first = keys::Renames(id, 0), last = keys::Renames(id, up_to);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  std::optional<RenamedFrom> found;
  for (it->Seek(first); it->Valid() && it->key().compare(last) <= 0; it->Next()) {
    v1::ObjectCheckedIn record;
    if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
      return absl::DataLossError("corrupt renames at " + it->key().ToString());
    if (record.renamed_from().empty()) continue;
    const std::string key = it->key().ToString();
    uint64_t version = 0;
    if (!absl::SimpleAtoi(key.substr(key.size() - 20), &version))
      return absl::DataLossError("corrupt renames key " + key);
    found = RenamedFrom{record.renamed_from(), record.renamed_from_version(), version};
  }
  return found;
}

absl::StatusOr<std::string> DeployProjection::ReadDefinition(rocksdb::DB* db, const std::string& id,
                                                             uint64_t version) {
  std::string sql;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), keys::Version(id, version), &sql);
  if (s.IsNotFound()) return absl::NotFoundError(fmt::format("{} has no version {}", id, version));
  if (!s.ok()) return absl::InternalError(s.ToString());
  return sql;
}

absl::StatusOr<std::optional<internal::EnvironmentState>> DeployProjection::ReadEnvironment(
    rocksdb::DB* db, const std::string& name, bool with_state) {
  auto env = ReadMessage<internal::EnvironmentState>(db, keys::Environment(name));
  if (!env.ok() || !*env || !with_state) return env;
  auto entries = ReadMessage<internal::Entries>(db, keys::EnvironmentObjects(name));
  if (!entries.ok()) return entries.status();
  if (*entries) *(*env)->mutable_environment()->mutable_state() = std::move(*(*entries)->mutable_entries());
  return env;
}

absl::StatusOr<std::vector<internal::EnvironmentState>> DeployProjection::ReadEnvironments(rocksdb::DB* db) {
  auto all = ReadAll<internal::EnvironmentState>(db, "e/");
  if (!all.ok()) return all.status();
  std::stable_sort(all->begin(), all->end(), [](const auto& a, const auto& b) {
    return a.environment().order() < b.environment().order();
  });
  return all;
}

absl::StatusOr<std::optional<internal::ReleaseState>> DeployProjection::ReadRelease(rocksdb::DB* db,
                                                                                  const std::string& name,
                                                                                  bool with_entries) {
  auto r = ReadMessage<internal::ReleaseState>(db, keys::Release(name));
  if (!r.ok() || !*r || !with_entries) return r;
  auto entries = ReadMessage<internal::Entries>(db, keys::ReleaseEntries(name));
  if (!entries.ok()) return entries.status();
  if (*entries) *(*r)->mutable_release()->mutable_entries() = std::move(*(*entries)->mutable_entries());
  return r;
}

absl::StatusOr<std::vector<internal::ReleaseState>> DeployProjection::ReadReleases(rocksdb::DB* db) {
  auto all = ReadAll<internal::ReleaseState>(db, "r/");
  if (!all.ok()) return all.status();
  std::stable_sort(all->begin(), all->end(), [](const auto& a, const auto& b) {
    const auto& ta = a.release().time();
    const auto& tb = b.release().time();
    return std::make_pair(ta.seconds(), ta.nanos()) > std::make_pair(tb.seconds(), tb.nanos());
  });
  return all;
}

absl::StatusOr<std::optional<internal::DeploymentRecord>> DeployProjection::ReadDeployment(rocksdb::DB* db,
                                                                                         const std::string& id,
                                                                                         bool with_detail) {
  auto rec = ReadMessage<internal::DeploymentRecord>(db, keys::Deployment(id));
  if (!rec.ok() || !*rec || !with_detail) return rec;
  auto detail = ReadMessage<internal::DeploymentDetail>(db, keys::DeploymentDetail(id));
  if (!detail.ok()) return detail.status();
  if (*detail) {
    internal::DeploymentDetail& d = **detail;
    *(*rec)->mutable_before() = std::move(*d.mutable_before());
    *(*rec)->mutable_after() = std::move(*d.mutable_after());
    (*rec)->mutable_deployment()->set_script(std::move(*d.mutable_script()));
    (*rec)->mutable_deployment()->set_rollback_script(std::move(*d.mutable_rollback_script()));
  }
  return rec;
}

absl::StatusOr<std::vector<internal::DeploymentRecord>> DeployProjection::ReadDeployments(rocksdb::DB* db,
                                                                                        const std::string& env,
                                                                                        size_t limit) {
  const std::string prefix = keys::EnvironmentDeploymentsPrefix(env);
  std::vector<internal::DeploymentRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(prefix + std::string(21, '\xff'));
  for (; it->Valid() && it->key().starts_with(prefix); it->Prev()) {
    auto rec = ReadMessage<internal::DeploymentRecord>(db, keys::Deployment(it->value().ToString()));
    if (!rec.ok()) return rec.status();
    if (*rec) out.push_back(std::move(**rec));
    if (limit && out.size() >= limit) break;
  }
  return out;
}

absl::StatusOr<std::map<std::string, internal::DeploymentRecord>> DeployProjection::ReadLatestDeployments(
    rocksdb::DB* db, const std::string& env) {
  const std::string prefix = keys::LatestDeploymentOfRelease(env, "");
  std::map<std::string, internal::DeploymentRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto rec = ReadMessage<internal::DeploymentRecord>(db, keys::Deployment(it->value().ToString()));
    if (!rec.ok()) return rec.status();
    if (*rec) out.emplace(it->key().ToString().substr(prefix.size()), std::move(**rec));
  }
  return out;
}

absl::StatusOr<std::optional<v1::BaselineCreated>> DeployProjection::ReadBaseline(rocksdb::DB* db,
                                                                                const std::string& name) {
  return ReadMessage<v1::BaselineCreated>(db, keys::Baseline(name));
}

absl::StatusOr<std::map<std::string, uint64_t>> DeployProjection::ReadTask(rocksdb::DB* db, const std::string& task) {
  std::map<std::string, uint64_t> out;
  const std::string prefix = "T/" + task + std::string(1, '\0');
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    uint64_t v = 0;
    if (!absl::SimpleAtoi(it->value().ToString(), &v))
      return absl::DataLossError("corrupt deploy state at " + it->key().ToString());
    out[it->key().ToString().substr(prefix.size())] = v;
  }
  return out;
}

std::string DeployProjection::TaskOfVersion(rocksdb::DB* db, const std::string& id, uint64_t version) {
  std::string task;
  if (!db->Get(rocksdb::ReadOptions(), keys::VersionTask(id, version), &task).ok()) return "";
  return task;
}

absl::StatusOr<std::optional<internal::DataTableState>> DeployProjection::ReadDataTable(rocksdb::DB* db,
                                                                                    const std::string& qualified) {
  return ReadMessage<internal::DataTableState>(db, keys::DataTable(qualified));
}

absl::StatusOr<std::map<std::string, internal::DataTableState>> DeployProjection::ReadDataTables(rocksdb::DB* db) {
  std::map<std::string, internal::DataTableState> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("t/"); it->Valid() && it->key().starts_with("t/"); it->Next()) {
    internal::DataTableState t;
    if (!t.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
      return absl::DataLossError("corrupt deploy state at " + it->key().ToString());
    out[it->key().ToString().substr(2)] = std::move(t);
  }
  return out;
}

absl::StatusOr<std::optional<internal::DataVersionRecord>> DeployProjection::ReadDataVersion(
    rocksdb::DB* db, const std::string& qualified, uint64_t version) {
  return ReadMessage<internal::DataVersionRecord>(db, keys::DataVersion(qualified, version));
}

bool DeployProjection::SucceededOn(rocksdb::DB* db, const std::string& env, const std::string& release) {
  std::string ignored;
  return db->Get(rocksdb::ReadOptions(), keys::Succeeded(env, release), &ignored).ok();
}

uint64_t DeployProjection::ObjectScans() { return static_cast<uint64_t>(ObjectScanCounter().value()); }

absl::StatusOr<std::map<std::string, DeployProjection::Head>> DeployProjection::ReadHeads(rocksdb::DB* db) {
  ObjectScanCounter().Increment();
  std::map<std::string, Head> heads;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("o/"); it->Valid() && it->key().starts_with("o/"); it->Next()) {
    internal::DeployObject o;
    if (!o.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
      return absl::DataLossError("corrupt deploy state at " + it->key().ToString());
    if (o.latest_version() == 0) continue;
    heads[it->key().ToString().substr(2)] = {o.latest_version(), o.latest_sha256(), o.dropped()};
  }
  return heads;
}

absl::StatusOr<std::map<std::string, internal::DeployObject>> DeployProjection::ReadObjects(rocksdb::DB* db) {
  bool done = false;
  return ReadObjectsAfter(db, "", std::numeric_limits<size_t>::max(), &done);
}

absl::StatusOr<std::map<std::string, internal::DeployObject>> DeployProjection::ReadObjectsAfter(
    rocksdb::DB* db, const std::string& after, size_t limit, bool* done) {
  ObjectScanCounter().Increment();
  std::map<std::string, internal::DeployObject> objects;
  *done = true;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  it->Seek(keys::Object(after));
  if (!after.empty() && it->Valid() && it->key() == rocksdb::Slice(keys::Object(after))) it->Next();
  for (; it->Valid() && it->key().starts_with("o/"); it->Next()) {
    if (objects.size() == limit) {
      *done = false;
      break;
    }
    internal::DeployObject o;
    if (!o.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
      return absl::DataLossError("corrupt deploy state at " + it->key().ToString());
    if (o.latest_version() == 0 && o.holder().empty()) continue;  // a reservation given up
    objects[it->key().ToString().substr(2)] = std::move(o);
  }
  return objects;
}

}  // namespace strata::deploy
