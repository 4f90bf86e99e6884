// The history service's projection: every record of the log, in RocksDB.
//
//   o/<object>                      facts for the accept rule and the head
//   v/<object>\0<version:20>        every version, with its definition
//   l/<object>                      current locks (for `strata status`)
//   a/<partition><offset>           the audit entry of every record, chained
//                                   (big-endian, 4 and 8 bytes: log order)
//   c/<partition:8>                 the last hash of each partition's chain
//   t/<time><p><o>                  audit index by time
//   u/<user>\0<time><p><o>          audit index by user
//   j/<object>\0<time><p><o>        audit index by object
//   x/<action>\0<time><p><o>        audit index by action
//   k/<time><p><o>                  accepted check-ins by time
// where <time><p><o> is big-endian: event time in ns (8 bytes), partition (4),
// offset (8), so index keys sort by time, then log position.
//   B/<name>                        baselines
//   w/<task>\0<object>\0<version:20> the versions checked in under a work item
//   P/yaml, W/<object>\0<rule>      the team's policy in force (its version is in the
//                                   facts of policy:team), its waivers
//   d/<YYYY-MM-DD>                  accepted check-ins that UTC day (decimal)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "decide/decide.h"
#include "history/audit_feed.h"
#include "projection/projection.h"
#include "strata/internal/history_state.pb.h"
#include "strata/v1/history.pb.h"

namespace rocksdb {
class DB;
}

namespace strata::history {

namespace keys {
std::string Object(const std::string& id);
std::string VersionPrefix(const std::string& id);
std::string Version(const std::string& id, uint64_t version);
std::string Audit(int32_t partition, int64_t offset);
std::string AuditPartitionPrefix(int32_t partition);
std::string ChainHead(int32_t partition);
std::string Baseline(const std::string& name);
std::string TaskVersion(const std::string& task, const std::string& id, uint64_t version);
std::string TaskPrefix(const std::string& task);
// Accept-rule facts of aggregates that are not objects or baselines (env,
// release: "<seq>\0<running deployment>"; data, policy: "<seq>\0<tracked>\0<version>").
std::string Facts(const std::string& aggregate);
std::string Day(std::string_view day);  // "d/2026-12-05"
std::string DayOf(const google::protobuf::Timestamp& t);  // "2026-12-05" (UTC)
// Index suffix shared by the t/, u/, j/, x/, k/ indexes, and its time part.
inline constexpr size_t kTimeSuffixSize = 20;
std::string TimeKey(int64_t time_ns);
std::string TimeSuffix(int64_t time_ns, int32_t partition, int64_t offset);
// The audit record key an index key points to.
std::string AuditOfIndex(std::string_view index_key);
}  // namespace keys

int64_t TimeNanos(const google::protobuf::Timestamp& t);

class HistoryProjection : public projection::Projection {
 public:
  // The storage layout (RunnerOptions::format_version); 2 added d/.
  static constexpr uint32_t kFormatVersion = 2;

  // Where committed audit records go while somebody watches (not owned;
  // set before the runner starts).
  void set_feed(AuditFeed* feed) { feed_ = feed; }

  absl::Status Apply(const v1::Event& event, const eventlog::Position& position,
                     projection::StateTxn& txn) override;
  absl::Status Flush(projection::StateTxn& txn) override;
  void BatchDone(bool committed) override;
  size_t UncommittedBytes() const override { return dirty_bytes_; }

  static decide::AggregateFacts FactsOf(const internal::HistoryObject& object);

 private:
  struct Touched {
    internal::HistoryObject object;
    bool stored_lock = false;
  };
  absl::StatusOr<Touched*> LoadObject(const std::string& id, projection::StateTxn& txn);
  absl::StatusOr<decide::AggregateFacts> BaselineFacts(const std::string& name,
                                                       projection::StateTxn& txn);
  absl::StatusOr<std::string> ChainHead(int32_t partition, projection::StateTxn& txn);
  void ApplyObjectEvent(const v1::Event& event, const eventlog::Position& position,
                        Touched& touched, projection::StateTxn& txn);
  void WriteAudit(const internal::StoredAudit& link, const v1::Event& event, projection::StateTxn& txn);

  // Node map: LoadObject hands out pointers that must survive later inserts.
  absl::node_hash_map<std::string, Touched> dirty_;
  // The objects of the last commit, as it wrote them (a cache; dropped when
  // a commit is discarded).
  absl::node_hash_map<std::string, Touched> last_batch_;
  std::unordered_map<int32_t, std::string> chain_heads_;  // raw digests
  std::unordered_map<std::string, uint64_t> check_ins_per_day_;  // this batch's
  AuditFeed* feed_ = nullptr;
  std::vector<v1::AuditRecord> feed_pending_;  // this batch's, while watched
  size_t dirty_bytes_ = 0;
};

}  // namespace strata::history
