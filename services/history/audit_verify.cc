#include "history/audit_verify.h"

#include <map>
#include <unordered_map>

#include "decide/decide.h"
#include "fmt/format.h"
#include "history/audit.h"
#include "history/history_projection.h"
#include "model/object_id.h"
#include "rocksdb/db.h"

namespace strata::history {
namespace {

// The accept rule's facts, keyed as the projection keys them.
class FactsReplay {
 public:
  decide::Decision DecideAndAdvance(const v1::Event& e) {
    decide::AggregateFacts* facts = FactsFor(e.aggregate());
    decide::AggregateFacts none;
    decide::Decision d = decide::Decide(e, facts ? *facts : none);
    if (d.accepted() && facts) decide::Advance(e, facts);
    return d;
  }

 private:
  decide::AggregateFacts* FactsFor(const std::string& aggregate) {
    if (aggregate.rfind("object:", 0) == 0) {
      auto id = model::ObjectIdFromAggregate(aggregate);
      if (!id.ok()) return nullptr;
      return &facts_["object:" + id->ToString()];
    }
    if (aggregate.rfind("baseline:", 0) == 0 || aggregate.rfind("env:", 0) == 0 ||
        aggregate.rfind("release:", 0) == 0 || aggregate.rfind("data:", 0) == 0 ||
        aggregate.rfind("policy:", 0) == 0)
      return &facts_[aggregate];
    return nullptr;
  }
  std::unordered_map<std::string, decide::AggregateFacts> facts_;
};

struct Mismatch {
  int64_t offset;
  std::string problem;
};

std::string Describe(const v1::AuditEntry& stored, const v1::AuditEntry& expected) {
  const std::string stored_fields = CanonicalJson(stored.record());
  if (stored_fields != expected.canonical())
    return fmt::format("record altered: stored {} but the log says {}", stored_fields,
                       expected.canonical());
  if (stored.prev_hash() != expected.prev_hash())
    return fmt::format("chain broken: prev_hash {} should be {}", stored.prev_hash(),
                       expected.prev_hash());
  return fmt::format("hash altered: {} should be {}", stored.hash(), expected.hash());
}

}  // namespace

absl::StatusOr<v1::VerifyAuditResponse> VerifyAuditTrail(rocksdb::DB* db, eventlog::EventLog* log,
                                                         const std::vector<int64_t>& until,
                                                         absl::Duration timeout) {
  const int32_t partitions = log->partitions();
  auto reader = log->OpenReader(std::vector<int64_t>(partitions, 0));
  if (!reader.ok()) return reader.status();
  std::vector<int64_t> next(partitions, 0);
  std::vector<std::string> prev(partitions, GenesisHash());
  std::map<int32_t, Mismatch> first_bad;  // per partition
  FactsReplay replay;
  uint64_t checked = 0;
  auto done = [&] {
    for (int32_t p = 0; p < partitions; ++p)
      if (p < static_cast<int32_t>(until.size()) && next[p] < until[p]) return false;
    return true;
  };
  const absl::Time deadline = absl::Now() + timeout;
  v1::Event event;
  std::string stored_bytes;
  while (!done()) {
    if (absl::Now() > deadline)
      return absl::DeadlineExceededError("audit verification did not reach the end of the log in time");
    auto records = (*reader)->Poll(5000, absl::Milliseconds(100));
    if (!records.ok()) return records.status();
    for (const eventlog::Record& r : *records) {
      if (r.partition < 0 || r.partition >= partitions || r.offset != next[r.partition]) continue;
      next[r.partition] = r.offset + 1;
      if (r.partition >= static_cast<int32_t>(until.size()) || r.offset >= until[r.partition]) continue;
      event.Clear();
      // Garbage records are skipped by the projection runner: no audit record.
      if (!event.ParseFromString(r.value) || event.aggregate().empty() || event.aggregate() != r.key)
        continue;
      const decide::Decision d = replay.DecideAndAdvance(event);
      v1::AuditEntry expected =
          ChainEntry(AuditRecordOf(event, {r.partition, r.offset}, d), prev[r.partition]);
      prev[r.partition] = expected.hash();
      ++checked;
      if (first_bad.count(r.partition)) continue;
      rocksdb::Status s =
          db->Get(rocksdb::ReadOptions(), keys::Audit(r.partition, r.offset), &stored_bytes);
      std::optional<v1::AuditEntry> stored;
      if (s.IsNotFound()) {
        first_bad[r.partition] = {r.offset, "record missing"};
      } else if (!s.ok()) {
        return absl::InternalError(s.ToString());
      } else if (!(stored = DecodeStoredAudit(stored_bytes))) {
        first_bad[r.partition] = {r.offset, "stored record is not readable"};
      } else if (stored->SerializeAsString() != expected.SerializeAsString()) {
        first_bad[r.partition] = {r.offset, Describe(*stored, expected)};
      }
    }
  }
  v1::VerifyAuditResponse out;
  out.set_records_checked(checked);
  for (int32_t p = 0; p < partitions && first_bad.empty(); ++p) {
    if (next[p] == 0) continue;
    std::string head;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), keys::ChainHead(p), &head);
    if (s.IsNotFound()) head = GenesisHash();  // a partition of garbage only
    if (head != prev[p])
      first_bad[p] = {next[p] - 1, fmt::format("chain head of partition {} is {}, should be {}", p,
                                               head, prev[p])};
  }
  out.set_ok(first_bad.empty());
  if (!first_bad.empty()) {
    const auto& [p, m] = *first_bad.begin();
    out.set_bad_partition(p);
    out.set_bad_offset(m.offset);
    out.set_problem(m.problem);
  }
  return out;
}

}  // namespace strata::history
