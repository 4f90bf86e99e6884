#include "history/history_projection.h"

#include "absl/time/time.h"

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "fmt/format.h"
#include "history/audit.h"
#include "model/object_id.h"

namespace strata::history {

namespace keys {
namespace {
void PutBigEndian(std::string* out, uint64_t v, int bytes) {
  char buf[8];
  for (int i = 0; i < bytes; ++i) buf[i] = static_cast<char>((v >> (8 * (bytes - 1 - i))) & 0xff);
  out->append(buf, bytes);
}
uint64_t GetBigEndian(std::string_view in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | static_cast<unsigned char>(in[i]);
  return v;
}
}  // namespace
std::string Object(const std::string& id) { return "o/" + id; }
std::string VersionPrefix(const std::string& id) { return "v/" + id + std::string(1, '\0'); }
std::string Version(const std::string& id, uint64_t version) {
  return VersionPrefix(id) + fmt::format("{:020d}", version);
}
std::string AuditPartitionPrefix(int32_t partition) {
  std::string out = "a/";
  PutBigEndian(&out, static_cast<uint32_t>(partition), 4);
  return out;
}
std::string Audit(int32_t partition, int64_t offset) {
  std::string out = AuditPartitionPrefix(partition);
  PutBigEndian(&out, static_cast<uint64_t>(offset), 8);
  return out;
}
std::string ChainHead(int32_t partition) { return fmt::format("c/{:08d}", partition); }
std::string TaskVersion(const std::string& task, const std::string& id, uint64_t version) {
  return fmt::format("w/{}{}{}{}{:020d}", task, '\0', id, '\0', version);
}
std::string TaskPrefix(const std::string& task) { return "w/" + task + std::string(1, '\0'); }
std::string Baseline(const std::string& name) { return "B/" + name; }
std::string Day(std::string_view day) { return "d/" + std::string(day); }
std::string DayOf(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(t.seconds()), absl::UTCTimeZone());
}
std::string Facts(const std::string& aggregate) { return "F/" + aggregate; }

std::string TimeKey(int64_t time_ns) {
  std::string out;
  PutBigEndian(&out, static_cast<uint64_t>(std::max<int64_t>(time_ns, 0)), 8);
  return out;
}
std::string TimeSuffix(int64_t time_ns, int32_t partition, int64_t offset) {
  std::string out = TimeKey(time_ns);
  PutBigEndian(&out, static_cast<uint32_t>(partition), 4);
  PutBigEndian(&out, static_cast<uint64_t>(offset), 8);
  return out;
}
std::string AuditOfIndex(std::string_view index_key) {
  if (index_key.size() < kTimeSuffixSize) return "";
  std::string_view tail = index_key.substr(index_key.size() - 12);
  return Audit(static_cast<int32_t>(GetBigEndian(tail, 4)),
               static_cast<int64_t>(GetBigEndian(tail.substr(4), 8)));
}
}  // namespace keys

int64_t TimeNanos(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1'000'000'000 + t.nanos();
}

decide::AggregateFacts HistoryProjection::FactsOf(const internal::HistoryObject& o) {
  decide::AggregateFacts f;
  f.last_seq = o.last_seq();
  f.latest_version = o.latest_version();
  if (o.has_lock()) f.holder = o.lock().user();
  return f;
}

absl::StatusOr<HistoryProjection::Touched*> HistoryProjection::LoadObject(
    const std::string& id, projection::StateTxn& txn) {
  if (auto it = dirty_.find(id); it != dirty_.end()) return &it->second;
  Touched t;
  if (auto it = last_batch_.find(id); it != last_batch_.end()) {
    // As the previous commit wrote it: no read, no parse.
    t.object = std::move(it->second.object);
    last_batch_.erase(it);
  } else {
    auto stored = txn.Get(keys::Object(id));
    if (!stored.ok()) return stored.status();
    if (*stored && !t.object.ParseFromString(**stored))
      return absl::DataLossError(fmt::format("corrupt history state of {}", id));
  }
  t.stored_lock = t.object.has_lock();
  dirty_bytes_ += 256 + 2 * id.size();
  return &dirty_.emplace(id, std::move(t)).first->second;
}

absl::StatusOr<decide::AggregateFacts> HistoryProjection::BaselineFacts(
    const std::string& name, projection::StateTxn& txn) {
  auto stored = txn.Get(keys::Baseline(name));
  if (!stored.ok()) return stored.status();
  decide::AggregateFacts f;
  f.last_seq = *stored ? 1 : 0;
  return f;
}

absl::StatusOr<std::string> HistoryProjection::ChainHead(int32_t partition,
                                                         projection::StateTxn& txn) {
  if (auto it = chain_heads_.find(partition); it != chain_heads_.end()) return it->second;
  auto stored = txn.Get(keys::ChainHead(partition));
  if (!stored.ok()) return stored.status();
  std::string head = DigestOfHex(*stored ? **stored : GenesisHash());
  chain_heads_[partition] = head;
  return head;
}

absl::Status HistoryProjection::Apply(const v1::Event& event, const eventlog::Position& position,
                                      projection::StateTxn& txn) {
  const std::string& aggregate = event.aggregate();
  decide::Decision decision;
  Touched* touched = nullptr;
  std::optional<model::ObjectId> id;
  if (aggregate.rfind("object:", 0) == 0) {
    auto parsed = model::ObjectIdFromAggregate(aggregate);
    if (parsed.ok()) id = *parsed;
  }
  if (id) {
    auto loaded = LoadObject(id->ToString(), txn);
    if (!loaded.ok()) return loaded.status();
    touched = *loaded;
    decision = decide::Decide(event, FactsOf(touched->object));
  } else if (aggregate.rfind("baseline:", 0) == 0) {
    auto facts = BaselineFacts(aggregate.substr(9), txn);
    if (!facts.ok()) return facts.status();
    decision = decide::Decide(event, *facts);
  } else if (aggregate.rfind("data:", 0) == 0 || aggregate.rfind("policy:", 0) == 0) {
    // Reference data (deploy service) and the policy (lock service); their facts are kept
    // here so that the audit trail records the same outcome.
    auto stored = txn.Get(keys::Facts(aggregate));
    if (!stored.ok()) return stored.status();
    decide::AggregateFacts facts;
    if (*stored) {
      const std::vector<std::string> parts = absl::StrSplit(**stored, '\0');
      if (parts.size() == 3) {
        facts.last_seq = std::stoull(parts[0]);
        facts.tracked = parts[1] == "1";
        facts.latest_version = std::stoull(parts[2]);
      }
    }
    decision = decide::Decide(event, facts);
    if (decision.accepted()) {
      decide::Advance(event, &facts);
      txn.Put(keys::Facts(aggregate),
              fmt::format("{}{}{}{}{}", facts.last_seq, '\0', facts.tracked ? "1" : "0", '\0', facts.latest_version));
      // The policy's version and waivers, for `strata status`.
      if (event.has_policy_set()) txn.Put("P/yaml", event.policy_set().yaml());
      if (event.has_policy_waived()) {
        v1::Waiver w;
        w.set_object(event.policy_waived().object());
        w.set_rule(event.policy_waived().rule());
        w.set_reason(event.policy_waived().reason());
        w.set_user(event.actor().user());
        *w.mutable_time() = event.time();
        txn.Put("W/" + w.object() + std::string(1, '\0') + w.rule(), w.SerializeAsString());
      }
    }
  } else if (aggregate.rfind("env:", 0) == 0 || aggregate.rfind("release:", 0) == 0) {
    // Deployments are decided by the deploy service; the audit trail must
    // record the same outcome, so the facts are kept here too.
    auto stored = txn.Get(keys::Facts(aggregate));
    if (!stored.ok()) return stored.status();
    decide::AggregateFacts facts;
    if (*stored) {
      const size_t nul = (*stored)->find('\0');
      facts.last_seq = std::stoull((*stored)->substr(0, nul));
      if (nul != std::string::npos) facts.running_deployment = (*stored)->substr(nul + 1);
    }
    decision = decide::Decide(event, facts);
    if (decision.accepted()) {
      decide::Advance(event, &facts);
      txn.Put(keys::Facts(aggregate), fmt::format("{}{}{}", facts.last_seq, '\0', facts.running_deployment));
    }
  } else {
    decision = decide::Decide(event, {});
  }

  if (decision.accepted()) {
    if (touched) {
      ApplyObjectEvent(event, position, *touched, txn);
    } else if (event.has_baseline_created()) {
      const auto& bc = event.baseline_created();
      v1::Baseline b;
      b.set_name(bc.name());
      b.set_description(bc.description());
      b.set_user(event.actor().user());
      b.set_site(event.actor().site());
      *b.mutable_time() = event.time();
      *b.mutable_entries() = bc.entries();
      b.set_object_count(bc.entries_size());
      txn.Put(keys::Baseline(bc.name()), b.SerializeAsString());
      // The event id tells a waiting command whether its baseline won.
      txn.Put(keys::Baseline(bc.name()) + std::string(1, '\0') + "event", event.event_id());
    }
  }

  auto prev = ChainHead(position.partition, txn);
  if (!prev.ok()) return prev.status();
  internal::StoredAudit link = ChainLink(AuditRecordOf(event, position, decision), std::move(*prev));
  chain_heads_[position.partition] = link.hash();
  WriteAudit(link, event, txn);
  return absl::OkStatus();
}

void HistoryProjection::ApplyObjectEvent(const v1::Event& event,
                                         const eventlog::Position& position, Touched& touched,
                                         projection::StateTxn& txn) {
  internal::HistoryObject& o = touched.object;
  decide::AggregateFacts facts = FactsOf(o);
  decide::Advance(event, &facts);
  o.set_last_seq(facts.last_seq);
  const std::string id = event.aggregate().substr(7);
  switch (event.payload_case()) {
    case v1::Event::kCheckedOut: {
      v1::Lock* l = o.mutable_lock();
      l->set_object(id);
      l->set_user(event.actor().user());
      l->set_site(event.actor().site());
      *l->mutable_since() = event.time();
      l->set_reason(event.checked_out().reason());
      break;
    }
    case v1::Event::kCheckedIn: {
      const auto& ci = event.checked_in();
      o.set_latest_version(ci.version());
      o.set_latest_sha256(ci.definition_sha256());
      o.set_latest_dropped(ci.dropped());
      if (!ci.renamed_from().empty()) o.set_renamed_from_version(ci.version());
      if (!ci.keep_checked_out()) o.clear_lock();
      v1::Version v;
      v.set_object(id);
      v.set_version(ci.version());
      v.set_definition(ci.definition());
      v.set_definition_sha256(ci.definition_sha256());
      v.set_user(event.actor().user());
      v.set_site(event.actor().site());
      *v.mutable_time() = event.time();
      v.set_message(ci.message());
      v.set_partition(position.partition);
      v.set_offset(position.offset);
      v.set_event_id(event.event_id());
      v.set_dropped(ci.dropped());
      v.set_renamed_from(ci.renamed_from());
      v.set_renamed_to(ci.renamed_to());
      txn.PutBlind(keys::Version(id, ci.version()), v.SerializeAsString());
      txn.PutBlind("k/" + keys::TimeSuffix(TimeNanos(event.time()), position.partition, position.offset),
                   keys::Version(id, ci.version()));
      // The work item's versions (`strata task show`).
      if (!ci.task().empty()) txn.PutBlind(keys::TaskVersion(ci.task(), id, ci.version()), "");
      ++check_ins_per_day_[keys::DayOf(event.time())];
      break;
    }
    case v1::Event::kCheckOutUndone:
    case v1::Event::kLockForceReleased:
      o.clear_lock();
      break;
    default:
      break;
  }
}

void HistoryProjection::WriteAudit(const internal::StoredAudit& link, const v1::Event& event,
                                   projection::StateTxn& txn) {
  const v1::AuditRecord& r = link.record();
  const std::string suffix = keys::TimeSuffix(TimeNanos(event.time()), r.partition(), r.offset());
  // Append-only: nothing reads these back before the commit.
  std::string bytes = EncodeStoredAudit(link);
  dirty_bytes_ += 2 * bytes.size() + 4 * suffix.size() + 256;
  txn.PutBlind(keys::Audit(r.partition(), r.offset()), std::move(bytes));
  txn.PutBlind("t/" + suffix, "");
  txn.PutBlind("u/" + r.user() + std::string(1, '\0') + suffix, "");
  txn.PutBlind("j/" + r.object() + std::string(1, '\0') + suffix, "");
  txn.PutBlind("x/" + r.action() + std::string(1, '\0') + suffix, "");
  if (feed_ && feed_->watched()) feed_pending_.push_back(r);
}

absl::Status HistoryProjection::Flush(projection::StateTxn& txn) {
  for (const auto& [id, touched] : dirty_) {
    const internal::HistoryObject& o = touched.object;
    if (o.last_seq() == 0) continue;  // looked at, never changed
    txn.Put(keys::Object(id), o.SerializeAsString());
    if (o.has_lock()) {
      txn.Put("l/" + id, o.lock().SerializeAsString());
    } else if (touched.stored_lock) {
      txn.Delete("l/" + id);
    }
  }
  for (const auto& [partition, head] : chain_heads_) txn.Put(keys::ChainHead(partition), HexOfDigest(head));
  for (const auto& [day, count] : check_ins_per_day_) {
    auto stored = txn.Get(keys::Day(day));
    if (!stored.ok()) return stored.status();
    const uint64_t before = *stored ? std::stoull(**stored) : 0;
    txn.Put(keys::Day(day), std::to_string(before + count));
  }
  check_ins_per_day_.clear();
  return absl::OkStatus();
}

void HistoryProjection::BatchDone(bool committed) {
  // Objects are often touched again by the next events (a check-in follows
  // its check-out): keep the ones this commit wrote, and only those.
  last_batch_.clear();
  if (committed) last_batch_.swap(dirty_);
  dirty_.clear();
  chain_heads_.clear();
  check_ins_per_day_.clear();
  dirty_bytes_ = 0;
  if (committed && feed_ && !feed_pending_.empty()) feed_->Publish(std::move(feed_pending_));
  feed_pending_.clear();
}

}  // namespace strata::history
