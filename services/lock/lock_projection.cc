#include "lock/lock_projection.h"

#include "absl/status/status.h"
#include "fmt/format.h"
#include "model/object_id.h"
#include "spdlog/spdlog.h"
#include "sql/analyze.h"
#include "rocksdb/db.h"

namespace strata::lock {
namespace {

std::string HeadKey(const std::string& id) { return "h/" + id; }
std::string LockKey(const std::string& id) { return "l/" + id; }
std::string NamePrefix(const std::string& qualified) { return "n/" + qualified + std::string(1, '\0'); }
std::string NameKey(const model::ObjectId& id) { return NamePrefix(id.QualifiedName()) + id.kind; }
std::string ReferencePrefix(const std::string& key) { return "r/" + key + std::string(1, '\0'); }

// What one touched object costs in memory: the map entry, the parsed
// messages' fixed part, and the strings that dominate (definition, message).
size_t MemoryEstimate(const std::string& key, const internal::ObjectState& s) {
  const v1::ObjectHead& h = s.head();
  return 512 + 3 * key.size() + h.definition().size() + h.last_check_in().message().size() +
         h.lock().reason().size();
}

google::protobuf::Timestamp Ts(const v1::Event& e) { return e.time(); }

void SetLock(const v1::Event& e, v1::ObjectHead* head) {
  v1::Lock* l = head->mutable_lock();
  l->set_object(head->object());
  l->set_user(e.actor().user());
  l->set_site(e.actor().site());
  *l->mutable_since() = Ts(e);
  l->set_reason(e.checked_out().reason());
  l->set_task(e.checked_out().task());
}

}  // namespace

void OutcomeBoard::Expect(const std::string& id) {
  absl::MutexLock lk(&mu_);
  expected_[id];
  size_ = expected_.size();
}
void OutcomeBoard::Forget(const std::string& id) {
  absl::MutexLock lk(&mu_);
  expected_.erase(id);
  size_ = expected_.size();
}
bool OutcomeBoard::IsExpected(const std::string& id) {
  if (size_.load(std::memory_order_relaxed) == 0) return false;
  absl::MutexLock lk(&mu_);
  return expected_.count(id) > 0;
}
void OutcomeBoard::Publish(const std::string& id, Outcome outcome) {
  absl::MutexLock lk(&mu_);
  auto it = expected_.find(id);
  if (it != expected_.end()) it->second = std::move(outcome);
}
std::optional<Outcome> OutcomeBoard::Take(const std::string& id) {
  absl::MutexLock lk(&mu_);
  auto it = expected_.find(id);
  if (it == expected_.end() || !it->second) return std::nullopt;
  std::optional<Outcome> out = std::move(it->second);
  expected_.erase(it);
  size_ = expected_.size();
  return out;
}

decide::AggregateFacts LockProjection::FactsOf(const internal::ObjectState& s) {
  decide::AggregateFacts f;
  f.last_seq = s.last_seq();
  if (s.head().has_lock()) f.holder = s.head().lock().user();
  f.latest_version = s.head().latest_version();
  return f;
}

absl::StatusOr<LockProjection::Touched*> LockProjection::Load(const std::string& key,
                                                            projection::StateTxn& txn) {
  auto it = dirty_.find(key);
  if (it != dirty_.end()) return &it->second;
  auto stored = txn.Get(HeadKey(key));
  if (!stored.ok()) return stored.status();
  Touched t;
  if (*stored && !t.state.ParseFromString(**stored))
    return absl::DataLossError(fmt::format("corrupt object state for {}", key));
  // Flush() keeps these index entries in step with the state.
  t.stored_lock = t.state.head().has_lock();
  t.stored_name = t.state.head().latest_version() > 0 || t.stored_lock;
  t.stored_references.assign(t.state.references().begin(), t.state.references().end());
  t.bytes = MemoryEstimate(key, t.state);
  dirty_bytes_ += t.bytes;
  return &dirty_.emplace(key, std::move(t)).first->second;
}

namespace {
std::string PolicyVersionKey(uint64_t version) { return fmt::format("p/{:020d}", version); }
std::string WaiverKey(const std::string& object, const std::string& rule) {
  return "w/" + object + std::string(1, '\0') + rule;
}
}  // namespace

absl::Status LockProjection::ApplyPolicy(const v1::Event& event, projection::StateTxn& txn) {
  auto stored = txn.Get("P/state");
  if (!stored.ok()) return stored.status();
  internal::PolicyState state;
  if (*stored && !state.ParseFromString(**stored)) return absl::DataLossError("corrupt policy state");
  decide::AggregateFacts facts;
  facts.last_seq = state.last_seq();
  facts.latest_version = state.latest_version();
  const decide::Decision decision = decide::Decide(event, facts);
  if (decision.accepted()) {
    decide::Advance(event, &facts);
    state.set_last_seq(facts.last_seq);
    state.set_latest_version(facts.latest_version);
    txn.Put("P/state", state.SerializeAsString());
    if (event.has_policy_set()) {
      batch_policy_set_ = true;
      const auto& p = event.policy_set();
      v1::PolicyVersion v;
      v.set_version(p.version());
      v.set_yaml(p.yaml());
      v.set_sha256(p.sha256());
      v.set_message(p.message());
      v.set_user(event.actor().user());
      v.set_site(event.actor().site());
      *v.mutable_time() = event.time();
      txn.Put(PolicyVersionKey(p.version()), v.SerializeAsString());
    } else if (event.has_policy_waived()) {
      const auto& w = event.policy_waived();
      v1::Waiver waiver;
      waiver.set_object(w.object());
      waiver.set_rule(w.rule());
      waiver.set_reason(w.reason());
      waiver.set_user(event.actor().user());
      *waiver.mutable_time() = event.time();
      txn.Put(WaiverKey(w.object(), w.rule()), waiver.SerializeAsString());
    }
  }
  if (!event.event_id().empty() && board_->IsExpected(event.event_id()))
    pending_.emplace_back(event.event_id(), Outcome{decision, std::nullopt});
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::PolicyVersion>> LockProjection::ReadPolicy(rocksdb::DB* db, uint64_t version,
                                                                            uint64_t* last_seq) {
  std::string raw;
  internal::PolicyState state;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), "P/state", &raw);
  if (s.ok() && !state.ParseFromString(raw)) return absl::DataLossError("corrupt policy state");
  if (!s.ok() && !s.IsNotFound()) return absl::InternalError(s.ToString());
  if (last_seq) *last_seq = state.last_seq();
  if (version == 0) version = state.latest_version();
  if (version == 0) return std::optional<v1::PolicyVersion>();
  s = db->Get(rocksdb::ReadOptions(), PolicyVersionKey(version), &raw);
  if (s.IsNotFound()) return std::optional<v1::PolicyVersion>();
  if (!s.ok()) return absl::InternalError(s.ToString());
  v1::PolicyVersion v;
  if (!v.ParseFromString(raw)) return absl::DataLossError("corrupt policy version");
  return std::optional<v1::PolicyVersion>(std::move(v));
}

uint64_t LockProjection::LatestPolicyVersion(rocksdb::DB* db) {
  std::string raw;
  internal::PolicyState state;
  if (!db->Get(rocksdb::ReadOptions(), "P/state", &raw).ok() || !state.ParseFromString(raw)) return 0;
  return state.latest_version();
}

std::vector<v1::Waiver> LockProjection::ReadWaivers(rocksdb::DB* db, const std::string& object) {
  std::vector<v1::Waiver> out;
  const std::string prefix = object.empty() ? "w/" : "w/" + object + std::string(1, '\0');
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    v1::Waiver w;
    if (w.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) out.push_back(std::move(w));
  }
  return out;
}

absl::Status LockProjection::Apply(const v1::Event& event, const eventlog::Position&,
                                   projection::StateTxn& txn) {
  if (event.aggregate().rfind("policy:", 0) == 0) return ApplyPolicy(event, txn);
  if (event.aggregate().rfind("object:", 0) != 0) return absl::OkStatus();  // not ours
  auto id = model::ObjectIdFromAggregate(event.aggregate());
  if (!id.ok()) return absl::OkStatus();  // malformed aggregate name: ignored by everyone
  const std::string key = id->ToString();
  auto loaded = Load(key, txn);
  if (!loaded.ok()) return loaded.status();
  Touched& touched = **loaded;
  internal::ObjectState& state = touched.state;

  decide::Decision decision = decide::Decide(event, FactsOf(state));
  if (decision.accepted()) {
    decide::AggregateFacts facts = FactsOf(state);
    decide::Advance(event, &facts);
    v1::ObjectHead* head = state.mutable_head();
    state.set_last_seq(facts.last_seq);
    if (head->object().empty()) {
      head->set_object(key);
      head->set_kind(id->kind);
      head->set_schema(id->schema);
      head->set_name(id->name);
    }
    switch (event.payload_case()) {
      case v1::Event::kCheckedOut:
        SetLock(event, head);
        break;
      case v1::Event::kCheckedIn: {
        const auto& ci = event.checked_in();
        head->set_latest_version(ci.version());
        head->set_definition(ci.definition());
        v1::CheckInInfo* info = head->mutable_last_check_in();
        info->set_version(ci.version());
        info->set_user(event.actor().user());
        info->set_site(event.actor().site());
        *info->mutable_time() = Ts(event);
        info->set_message(ci.message());
        info->set_definition_sha256(ci.definition_sha256());
        if (!ci.keep_checked_out()) head->clear_lock();
        head->set_dropped(ci.dropped());
        head->set_renamed_to(ci.renamed_to());
        if (!ci.renamed_from().empty()) {
          head->set_renamed_from(ci.renamed_from());
          head->set_renamed_from_version(ci.version());
        }
        state.clear_references();
        for (auto& k : ReferencesOf(event)) state.add_references(std::move(k));
        break;
      }
      case v1::Event::kCheckOutUndone:
      case v1::Event::kLockForceReleased:
        head->clear_lock();
        break;
      default:
        break;
    }
    const size_t bytes = MemoryEstimate(key, state);
    dirty_bytes_ = dirty_bytes_ - touched.bytes + bytes;
    touched.bytes = bytes;
  }

  if (!event.event_id().empty() && board_->IsExpected(event.event_id())) {
    Outcome o{decision, std::nullopt};
    if (state.head().latest_version() > 0 || state.head().has_lock()) o.head = state.head();
    pending_.emplace_back(event.event_id(), std::move(o));
  }
  return absl::OkStatus();
}

absl::Status LockProjection::Flush(projection::StateTxn& txn) {
  for (const auto& [key, touched] : dirty_) {
    const internal::ObjectState& state = touched.state;
    if (state.last_seq() == 0) continue;  // only looked at, never changed
    auto id = model::ParseObjectId(key);
    if (!id.ok()) continue;
    const v1::ObjectHead& head = state.head();
    txn.Put(HeadKey(key), state.SerializeAsString());
    if (head.has_lock()) {
      txn.Put(LockKey(key), head.lock().SerializeAsString());
    } else if (touched.stored_lock) {
      txn.Delete(LockKey(key));
    }
    // A reserved name (no version yet) whose lock is given up is freed, but
    // its state (seq) stays so that stale events for it keep losing.
    const bool named = head.latest_version() > 0 || head.has_lock();
    if (named && !touched.stored_name) {
      txn.Put(NameKey(*id), "");
    } else if (!named && touched.stored_name) {
      txn.Delete(NameKey(*id));
    }
    // Both lists are sorted: write only the difference.
    const auto& now = state.references();
    const auto& before = touched.stored_references;
    for (const auto& k : before)
      if (!std::binary_search(now.begin(), now.end(), k)) txn.Delete(ReferencePrefix(k) + key);
    for (const auto& k : now)
      if (!std::binary_search(before.begin(), before.end(), k)) txn.Put(ReferencePrefix(k) + key, "");
  }
  return absl::OkStatus();
}

std::vector<std::string> LockProjection::ReferencesOf(const v1::Event& event) const {
  const auto& ci = event.checked_in();
  if (ci.dropped()) return {};
  std::vector<std::string> keys;
  if (ci.has_references()) {
    keys.assign(ci.references().keys().begin(), ci.references().keys().end());
  } else if (!ci.definition().empty()) {
    auto info = sql::AnalyzeDefinition(ci.definition(), {.search_path = search_path_});
    if (!info.ok()) {
      spdlog::warn("lock projection: {} version {}: cannot read its references: {}", event.aggregate(), ci.version(),
                   std::string(info.status().message()));
      return {};
    }
    keys = sql::DependencyKeys(*info);
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

void LockProjection::BatchDone(bool committed) {
  dirty_.clear();
  dirty_bytes_ = 0;
  // Before the outcomes: whoever learns of the new version learns a policy exists.
  if (committed && batch_policy_set_) board_->NotePolicySet();
  batch_policy_set_ = false;
  if (committed)
    for (auto& [id, outcome] : pending_) board_->Publish(id, std::move(outcome));
  pending_.clear();
}

absl::StatusOr<std::optional<internal::ObjectState>> LockProjection::ReadObject(
    rocksdb::DB* db, const std::string& id) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), HeadKey(id), &value);
  if (s.IsNotFound()) return std::optional<internal::ObjectState>();
  if (!s.ok()) return absl::InternalError(fmt::format("read {}: {}", id, s.ToString()));
  internal::ObjectState state;
  if (!state.ParseFromString(value)) return absl::DataLossError(fmt::format("corrupt state of {}", id));
  return std::optional<internal::ObjectState>(std::move(state));
}

std::vector<std::string> LockProjection::KindsNamed(rocksdb::DB* db, const std::string& qualified) {
  std::vector<std::string> kinds;
  const std::string prefix = NamePrefix(qualified);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
    kinds.push_back(it->key().ToString().substr(prefix.size()));
  return kinds;
}

std::vector<std::string> LockProjection::ObjectsInSchema(rocksdb::DB* db, const std::string& schema) {
  return IdsWithNamePrefix(db, schema + ".");
}

std::vector<std::string> LockProjection::IdsWithNamePrefix(rocksdb::DB* db, const std::string& name_prefix) {
  std::vector<std::string> ids;
  const std::string prefix = "n/" + name_prefix;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string key = it->key().ToString();
    const size_t nul = key.find('\0', prefix.size());
    if (nul == std::string::npos) continue;
    ids.push_back(key.substr(nul + 1) + ":" + key.substr(2, nul - 2));
  }
  return ids;
}

std::vector<std::string> LockProjection::Dependents(rocksdb::DB* db, const std::string& key) {
  std::vector<std::string> ids;
  const std::string prefix = ReferencePrefix(key);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
    ids.push_back(it->key().ToString().substr(prefix.size()));
  return ids;
}

std::vector<v1::Lock> LockProjection::ReadLocks(rocksdb::DB* db) {
  std::vector<v1::Lock> locks;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("l/"); it->Valid() && it->key().starts_with("l/"); it->Next()) {
    v1::Lock l;
    if (l.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
      locks.push_back(std::move(l));
  }
  return locks;
}

}  // namespace strata::lock
